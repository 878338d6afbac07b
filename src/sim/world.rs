//! One world state and its step. `World::step` is pure: no clock, no I/O. It advances the
//! state by one tick and returns what was recorded, so the same network, seed and start
//! time always give the same records, and a saved [`WorldState`] resumes exactly.

use std::sync::Arc;

use rand::{RngExt, SeedableRng, rngs::ChaCha8Rng};
use rand_distr::{Binomial, Distribution, Normal, Poisson};
use serde::{Deserialize, Serialize};

use super::SimConfig;
use super::profile::{self, LocalTime, MadridClock};
use super::records::{
    BusArrival, BusPosition, DoorStatus, EntityType, PeopleCount, Records, SensorReading,
};
use crate::network::{LineId, Network};
use crate::time::Millis;

/// Seconds a bus spends at a stop before counting passengers (doors, kneeling).
pub const DWELL_FIXED_S: f64 = 6.0;
/// Seconds per boarding passenger (fare payment at the front door).
pub const DWELL_PER_BOARDING_S: f64 = 2.5;
/// Seconds per alighting passenger.
pub const DWELL_PER_ALIGHTING_S: f64 = 1.2;
/// Shortest layover at a terminal (driver's break, timetable recovery).
pub const MIN_LAYOVER_S: f64 = 180.0;
/// Longest layover: headway regulation never holds a bus longer.
pub const MAX_LAYOVER_S: f64 = 720.0;
/// Share of passengers alighting at an intermediate stop: uniform in this range.
const ALIGHT_SHARE: (f64, f64) = (0.20, 0.40);
/// Outdoor CO2 in ppm.
const CO2_OUTDOOR: f64 = 420.0;
/// CO2 added per person on board (driver included), ppm per second.
const CO2_PER_PERSON_PPM_S: f64 = 0.06;
/// Air exchange rates (1/s): ventilation with doors closed, and with doors open.
const AIR_EXCHANGE_CLOSED: f64 = 1.0 / 600.0;
const AIR_EXCHANGE_OPEN: f64 = 1.0 / 60.0;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
enum Phase {
    /// Driving towards `next_stop`.
    Moving,
    /// Doors open at `next_stop` until `until`; then it leaves, or lays over when `layover`.
    Dwelling { until: Millis, layover: bool },
    /// Doors closed at a terminal until `until`; then it serves the stop in its new direction.
    Layover { until: Millis },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct BusState {
    /// 0: first stop to last; 1: last to first.
    direction: u8,
    /// Distance along the line's route from its start, in metres.
    position_m: f64,
    /// Index into the line's stops of the stop being approached or served.
    next_stop: usize,
    passengers: u32,
    phase: Phase,
    /// This bus's lasting speed variation (driver, vehicle).
    speed_factor: f64,
    /// Variation for the current leg between two stops.
    leg_factor: f64,
    co2: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StopState {
    waiting: u32,
    /// People arrivals have been drawn up to this time.
    accrued_to: Millis,
    arrived_total: u64,
    boarded_total: u64,
}

/// Everything needed to resume a world: saved with the data, restored after a restart.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorldState {
    pub time: Millis,
    /// Identifies the network the state belongs to (see [`network_fingerprint`]).
    pub network_fingerprint: String,
    rng: String,
    buses: Vec<BusState>,
    stops: Vec<StopState>,
    /// Per line, the last departure from each end (first stop, last stop).
    departures: Vec<[Option<Millis>; 2]>,
    /// City-wide temperature anomaly (°C), a slow random walk.
    weather: f64,
}

/// A short hash of the network's structure, to tell whether a saved state fits it.
pub fn network_fingerprint(net: &Network) -> String {
    // FNV-1a: stable across Rust versions, unlike the std hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |s: &str| {
        for b in s.bytes().chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for line in &net.lines {
        feed(line.id.as_str());
        for &s in &line.stops {
            feed(net.stops[s].id.as_str());
        }
        for &b in &line.buses {
            feed(net.buses[b].id.as_str());
        }
    }
    format!("{h:016x}")
}

pub struct World {
    net: Arc<Network>,
    config: SimConfig,
    state: WorldState,
    rng: ChaCha8Rng,
    clock: MadridClock,
    /// Target time between departures from a terminal, per line (ms).
    headway_ms: Vec<i64>,
    /// Shared `line_ids` of each stop, so records clone a pointer.
    stop_lines: Vec<Arc<[LineId]>>,
}

impl World {
    /// A fresh world at `start` (rounded down to the tick), buses at their initial positions.
    pub fn new(net: Arc<Network>, config: SimConfig, start: Millis) -> Self {
        let start = start.floor_to(config.tick_ms);
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let per_bus = Normal::<f64>::new(1.0, 0.06).expect("valid normal");
        let buses = net
            .buses
            .iter()
            .map(|bus| {
                let line = &net.lines[bus.line];
                let (direction, position_m) = place(line, bus.initial_position);
                BusState {
                    direction,
                    position_m,
                    next_stop: upcoming_stop(&line.stop_offsets_m, direction, position_m),
                    passengers: 0,
                    phase: Phase::Moving,
                    speed_factor: per_bus.sample(&mut rng).clamp(0.85, 1.15),
                    leg_factor: 1.0,
                    co2: CO2_OUTDOOR,
                }
            })
            .collect();
        let stops = net
            .stops
            .iter()
            .map(|_| StopState {
                waiting: 0,
                accrued_to: start,
                arrived_total: 0,
                boarded_total: 0,
            })
            .collect();
        let state = WorldState {
            time: start,
            network_fingerprint: network_fingerprint(&net),
            rng: String::new(),
            buses,
            stops,
            departures: vec![[None, None]; net.lines.len()],
            weather: 0.0,
        };
        Self::assemble(net, config, state, rng)
    }

    /// Resumes a saved state. Fails when the state was made for another network.
    pub fn resume(net: Arc<Network>, config: SimConfig, state: WorldState) -> Result<Self, String> {
        if state.network_fingerprint != network_fingerprint(&net)
            || state.buses.len() != net.buses.len()
            || state.stops.len() != net.stops.len()
        {
            return Err("the saved world was made for a different network file".into());
        }
        let bytes =
            crate::hex::decode::<49>(&state.rng).ok_or("the saved random state is corrupt")?;
        let rng = ChaCha8Rng::deserialize_state(&bytes);
        Ok(Self::assemble(net, config, state, rng))
    }

    fn assemble(net: Arc<Network>, config: SimConfig, state: WorldState, rng: ChaCha8Rng) -> Self {
        let headway_ms = net
            .lines
            .iter()
            .map(|line| {
                let cruise = line.cruise_speed_kmh / 3.6;
                let driving = 2.0 * line.length_m() / cruise;
                let dwelling = 2.0 * line.stops.len() as f64 * (DWELL_FIXED_S + 15.0);
                let round_trip = driving + dwelling + 2.0 * MIN_LAYOVER_S;
                (round_trip * 1000.0 / line.buses.len() as f64) as i64
            })
            .collect();
        let stop_lines = net
            .stops
            .iter()
            .map(|s| Arc::from(s.line_ids.clone()))
            .collect();
        Self {
            net,
            config,
            state,
            rng,
            clock: MadridClock::default(),
            headway_ms,
            stop_lines,
        }
    }

    pub fn time(&self) -> Millis {
        self.state.time
    }

    pub fn network(&self) -> &Arc<Network> {
        &self.net
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// A copy of the state to save; resuming from it continues exactly from here.
    pub fn save(&self) -> WorldState {
        let mut state = self.state.clone();
        state.rng = crate::hex::encode(&self.rng.serialize_state());
        state
    }

    /// People waiting at stop `i` now, and the totals that explain the count:
    /// `(waiting, arrived_total, boarded_total)`.
    pub fn stop_totals(&self, i: usize) -> (u32, u64, u64) {
        let s = &self.state.stops[i];
        (s.waiting, s.arrived_total, s.boarded_total)
    }

    /// Advances one tick and returns what was recorded during it.
    pub fn step(&mut self) -> Records {
        let mut out = Records::default();
        self.step_into(&mut out);
        out
    }

    /// Advances one tick, appending what was recorded to `out`.
    pub fn step_into(&mut self, out: &mut Records) {
        let t0 = self.state.time;
        let t1 = Millis(t0.0 + self.config.tick_ms);
        let local = self.clock.local(t0);
        let traffic = profile::traffic_factor(&local);
        for b in 0..self.state.buses.len() {
            self.advance_bus(b, t0, t1, traffic, out);
        }
        let dt_s = self.config.tick_ms as f64 / 1000.0;
        for bus in &mut self.state.buses {
            let doors_open = matches!(bus.phase, Phase::Dwelling { .. });
            let k = if doors_open {
                AIR_EXCHANGE_OPEN
            } else {
                AIR_EXCHANGE_CLOSED
            };
            let people = f64::from(bus.passengers + 1);
            let equilibrium = CO2_OUTDOOR + CO2_PER_PERSON_PPM_S * people / k;
            bus.co2 = equilibrium + (bus.co2 - equilibrium) * (-k * dt_s).exp();
        }
        self.state.time = t1;
        if t1.0 % self.config.position_every_ms == 0 {
            self.record_positions(t1, out);
        }
        if t1.0 % self.config.sample_every_ms == 0 {
            let local = self.clock.local(t1);
            self.record_samples(t1, &local, out);
        }
    }

    fn advance_bus(&mut self, b: usize, t0: Millis, t1: Millis, traffic: f64, out: &mut Records) {
        let line_ix = self.net.buses[b].line;
        let mut now = t0.0 as f64;
        loop {
            let bus = &self.state.buses[b];
            match bus.phase {
                Phase::Dwelling { until, .. } | Phase::Layover { until } if until > t1 => return,
                Phase::Dwelling { until, layover } => {
                    now = until.0 as f64;
                    if layover {
                        let wait = self.layover_until(line_ix, b, until);
                        self.state.buses[b].phase = Phase::Layover { until: wait };
                    } else {
                        self.depart(b);
                    }
                }
                Phase::Layover { until } => {
                    now = until.0 as f64;
                    let end = usize::from(self.state.buses[b].next_stop != 0);
                    self.state.departures[line_ix][end] = Some(until);
                    self.serve_stop(b, until, out);
                }
                Phase::Moving => {
                    let line = &self.net.lines[line_ix];
                    let target = line.stop_offsets_m[bus.next_stop];
                    let distance = (target - bus.position_m).abs();
                    let speed = self.speed_mps(b, traffic);
                    let needed_ms = distance / speed * 1000.0;
                    if now + needed_ms <= t1.0 as f64 {
                        now += needed_ms;
                        self.state.buses[b].position_m = target;
                        self.serve_stop(b, Millis(now.round() as i64), out);
                    } else {
                        let travelled = speed * (t1.0 as f64 - now) / 1000.0;
                        let bus = &mut self.state.buses[b];
                        bus.position_m += if bus.direction == 0 {
                            travelled
                        } else {
                            -travelled
                        };
                        return;
                    }
                }
            }
        }
    }

    fn speed_mps(&self, b: usize, traffic: f64) -> f64 {
        let bus = &self.state.buses[b];
        let line = &self.net.lines[self.net.buses[b].line];
        line.cruise_speed_kmh / 3.6 * traffic * bus.speed_factor * bus.leg_factor
    }

    /// The bus has reached its `next_stop` at `at`: people alight, then board.
    fn serve_stop(&mut self, b: usize, at: Millis, out: &mut Records) {
        let net = Arc::clone(&self.net);
        let bus_spec = &net.buses[b];
        let line = &net.lines[bus_spec.line];
        let bus = &self.state.buses[b];
        let k = bus.next_stop;
        let stop_ix = line.stops[k];
        let last = line.stops.len() - 1;
        let at_end = (bus.direction == 0 && k == last) || (bus.direction == 1 && k == 0);
        let direction = bus.direction;
        let on_board = bus.passengers;

        self.accrue(stop_ix, at);
        let alighted = if at_end {
            on_board
        } else {
            let share = self.rng.random_range(ALIGHT_SHARE.0..ALIGHT_SHARE.1);
            Binomial::new(u64::from(on_board), share)
                .map(|d| d.sample(&mut self.rng) as u32)
                .unwrap_or(0)
        };
        let after_alighting = on_board - alighted;
        // At the end of a direction everyone leaves and nobody boards: boarding happens when
        // the bus serves the stop again in its new direction, after the layover.
        let boarded = if at_end {
            0
        } else {
            let free = bus_spec.capacity.saturating_sub(after_alighting);
            self.state.stops[stop_ix].waiting.min(free)
        };
        let stop = &mut self.state.stops[stop_ix];
        stop.waiting -= boarded;
        stop.boarded_total += u64::from(boarded);
        let waiting_after = stop.waiting;

        let dwell_s = DWELL_FIXED_S
            + DWELL_PER_BOARDING_S * f64::from(boarded)
            + DWELL_PER_ALIGHTING_S * f64::from(alighted);
        let bus = &mut self.state.buses[b];
        bus.passengers = after_alighting + boarded;
        bus.phase = Phase::Dwelling {
            until: Millis(at.0 + (dwell_s * 1000.0) as i64),
            layover: at_end,
        };
        if at_end {
            bus.direction = 1 - bus.direction;
        }
        out.arrivals.push(BusArrival {
            bus_id: bus_spec.id.clone(),
            line_id: line.id.clone(),
            stop_id: net.stops[stop_ix].id.clone(),
            time: at,
            direction,
            boarded,
            alighted,
            passengers_after: bus.passengers,
            waiting_after,
        });
    }

    /// When a bus that finished alighting at a terminal at `ready` leaves again: after the
    /// minimum layover, held so departures keep the line's headway, within the maximum.
    fn layover_until(&self, line_ix: usize, b: usize, ready: Millis) -> Millis {
        let end = usize::from(self.state.buses[b].next_stop != 0);
        let earliest = ready.0 + (MIN_LAYOVER_S * 1000.0) as i64;
        let latest = ready.0 + (MAX_LAYOVER_S * 1000.0) as i64;
        let regulated = self.state.departures[line_ix][end]
            .map_or(earliest, |last| last.0 + self.headway_ms[line_ix]);
        Millis(regulated.clamp(earliest, latest))
    }

    fn depart(&mut self, b: usize) {
        let leg = Normal::<f64>::new(1.0, 0.12)
            .expect("valid normal")
            .sample(&mut self.rng);
        let bus = &mut self.state.buses[b];
        bus.phase = Phase::Moving;
        bus.leg_factor = leg.clamp(0.7, 1.3);
        bus.next_stop = if bus.direction == 0 {
            bus.next_stop + 1
        } else {
            bus.next_stop - 1
        };
    }

    /// Draws the people who reached stop `s` since it was last brought up to date: a Poisson
    /// process whose rate follows the local hour (sums of Poisson draws are Poisson, so
    /// drawing lazily is exact and keeps the step cheap on large networks).
    fn accrue(&mut self, s: usize, to: Millis) {
        let from = self.state.stops[s].accrued_to;
        if to <= from {
            return;
        }
        let mid = Millis(from.0 + (to.0 - from.0) / 2);
        let local = self.clock.local(mid);
        let minutes = (to.0 - from.0) as f64 / 60_000.0;
        let lambda =
            self.net.stops[s].base_arrival_rate * profile::demand_multiplier(&local) * minutes;
        let arrived = if lambda > 0.0 {
            Poisson::new(lambda)
                .map(|p| p.sample(&mut self.rng) as u32)
                .unwrap_or(0)
        } else {
            0
        };
        let stop = &mut self.state.stops[s];
        stop.waiting += arrived;
        stop.arrived_total += u64::from(arrived);
        stop.accrued_to = to;
    }

    /// Where every bus is now (also between recording instants).
    pub fn positions(&mut self) -> Vec<BusPosition> {
        let at = self.state.time;
        let traffic = profile::traffic_factor(&self.clock.local(at));
        self.positions_at(at, traffic)
    }

    fn positions_at(&self, at: Millis, traffic: f64) -> Vec<BusPosition> {
        self.state
            .buses
            .iter()
            .enumerate()
            .map(|(b, bus)| {
                let spec = &self.net.buses[b];
                let line = &self.net.lines[spec.line];
                let p = line.route.point_at(bus.position_m);
                let speed_kmh = if bus.phase == Phase::Moving {
                    self.speed_mps(b, traffic) * 3.6
                } else {
                    0.0
                };
                BusPosition {
                    bus_id: spec.id.clone(),
                    line_id: line.id.clone(),
                    time: at,
                    latitude: p.lat,
                    longitude: p.lon,
                    speed_kmh,
                    direction: bus.direction,
                    passenger_count: bus.passengers,
                    next_stop_id: self.net.stops[line.stops[bus.next_stop]].id.clone(),
                    distance_to_next_stop_m: (line.stop_offsets_m[bus.next_stop] - bus.position_m)
                        .abs(),
                    at_stop: matches!(bus.phase, Phase::Dwelling { .. }),
                }
            })
            .collect()
    }

    fn record_positions(&mut self, at: Millis, out: &mut Records) {
        let mut positions = self.positions();
        debug_assert!(positions.iter().all(|p| p.time == at));
        out.positions.append(&mut positions);
    }

    fn record_samples(&mut self, at: Millis, local: &LocalTime, out: &mut Records) {
        let noise = Normal::<f64>::new(0.0, 0.15)
            .expect("valid normal")
            .sample(&mut self.rng);
        self.state.weather = (0.98 * self.state.weather + noise).clamp(-4.0, 4.0);
        let outdoor = profile::outdoor_temperature(local) + self.state.weather;
        for s in 0..self.net.stops.len() {
            self.accrue(s, at);
            let stop = &self.net.stops[s];
            // Small fixed differences between sites (shade, traffic), from the index.
            let site = ((s * 37) % 11) as f64 * 0.1 - 0.5;
            let temperature = outdoor + site;
            out.people.push(PeopleCount {
                stop_id: stop.id.clone(),
                time: at,
                count: self.state.stops[s].waiting,
                line_ids: Arc::clone(&self.stop_lines[s]),
            });
            out.sensors.push(SensorReading {
                entity_type: EntityType::Stop,
                entity_id: Arc::from(stop.id.as_str()),
                time: at,
                temperature: round2(temperature),
                humidity: round2(profile::humidity(local, temperature)),
                co2_level: None,
                door_status: None,
            });
        }
        for (b, bus) in self.state.buses.iter().enumerate() {
            let doors_open = matches!(bus.phase, Phase::Dwelling { .. });
            // Cabins run warmer than outside, and warmer still when full.
            let temperature = outdoor + 1.5 + 0.03 * f64::from(bus.passengers);
            out.sensors.push(SensorReading {
                entity_type: EntityType::Bus,
                entity_id: Arc::from(self.net.buses[b].id.as_str()),
                time: at,
                temperature: round2(temperature),
                humidity: round2(profile::humidity(local, temperature)),
                co2_level: Some(bus.co2.round()),
                door_status: Some(if doors_open {
                    DoorStatus::Open
                } else {
                    DoorStatus::Closed
                }),
            });
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Direction and route distance for a fraction of the round trip.
fn place(line: &crate::network::Line, fraction: f64) -> (u8, f64) {
    let start = line.stop_offsets_m[0];
    let length = line.length_m();
    if fraction < 0.5 {
        (0, start + 2.0 * fraction * length)
    } else {
        (1, start + (2.0 - 2.0 * fraction) * length)
    }
}

/// The first stop at or ahead of `position_m` in `direction`.
fn upcoming_stop(offsets: &[f64], direction: u8, position_m: f64) -> usize {
    const EPS: f64 = 1e-6;
    if direction == 0 {
        offsets
            .iter()
            .position(|&o| o >= position_m - EPS)
            .unwrap_or(offsets.len() - 1)
    } else {
        offsets
            .iter()
            .rposition(|&o| o <= position_m + EPS)
            .unwrap_or(0)
    }
}
