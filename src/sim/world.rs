//! One world state and its step. `World::step` is pure: no clock, no I/O. It advances the
//! state by one tick and returns what was recorded, so the same network, seed and start
//! time always give the same records, and a saved [`WorldState`] resumes exactly.
//!
//! Buses run trips from a timetable (or, for a file without one, every headway the fleet
//! gives, all day): a bus that reaches a terminal rests at least the minimum layover and
//! leaves on the next trip from there; one with no trip soon parks out of service, and
//! parked buses are called up (driving empty to the other terminal if needed) before
//! their trips.

use std::sync::Arc;

use rand::{RngExt, SeedableRng, rngs::ChaCha8Rng};
use rand_distr::{Binomial, Distribution, Normal, Poisson};
use serde::{Deserialize, Serialize};

use super::SimConfig;
use super::motion::{self, MAX_RED_S, P_RED, STEP_S, Signal};
use super::people::Queue;
use super::profile::{self, MadridClock};
use super::records::{
    BusArrival, BusPosition, DoorStatus, EntityType, LineWaiting, PeopleCount, Records,
    SensorReading,
};
use super::schedule;
use super::weather::{self, Weather};
use crate::network::{Departure, LineId, Network, Timetable, TripKey};
use crate::time::Millis;

/// Seconds a bus spends at a stop before counting passengers (doors, kneeling).
pub const DWELL_FIXED_S: f64 = 6.0;
/// Seconds per boarding passenger (fare payment at the front door).
pub const DWELL_PER_BOARDING_S: f64 = 2.5;
/// Seconds per alighting passenger.
pub const DWELL_PER_ALIGHTING_S: f64 = 1.2;
/// Shortest layover at a terminal for a file without a timetable.
pub const MIN_LAYOVER_S: f64 = 180.0;
/// A bus whose next trip leaves later than this after it could parks out of service.
pub const PARK_AFTER_S: i64 = 40 * 60;
/// Parked buses are called up this long before their trip.
pub const PULL_OUT_LEAD_S: i64 = 10 * 60;
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
    /// Out of service at the terminal `next_stop`, waiting to be called up.
    Parked { since: Millis },
    /// In service at the terminal `next_stop`, doors open, until its trip leaves.
    Layover { until: Millis },
    /// Driving towards `next_stop` (empty, when out of service).
    Moving,
    /// Stopped at a red light.
    Held { until: Millis },
    /// Doors open at `next_stop`; at the end of a trip everyone has got off by `until`.
    Dwelling { until: Millis, end_of_trip: bool },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Trip {
    id: Arc<str>,
    /// 0: from the first stop; 1: from the last.
    end: u8,
    /// Scheduled time at each stop in the order the trip serves them.
    schedule: Vec<Millis>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct BusState {
    /// 0: first stop to last; 1: last to first.
    direction: u8,
    /// Distance along the line's route from its start, in metres.
    position_m: f64,
    /// Index into the line's stops of the stop being approached, served or rested at.
    next_stop: usize,
    passengers: u32,
    phase: Phase,
    in_service: bool,
    trip: Option<Trip>,
    delay_ms: Option<i64>,
    /// This bus's lasting speed variation (driver, vehicle).
    speed_factor: f64,
    /// Variation for the current block between two traffic lights.
    block_factor: f64,
    /// m/s.
    speed: f64,
    /// Traffic lights ahead on this leg, nearest first.
    signals: Vec<Signal>,
    co2: f64,
    cabin_c: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StopState {
    /// One per (line, direction) boarding here: see `World::queues`.
    queues: Vec<Queue>,
    /// People arrivals and departures have been drawn up to this time.
    accrued_to: Millis,
    arrived_total: u64,
    boarded_total: u64,
    gave_up_total: u64,
    gave_up_since_record: u32,
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
    /// Per line, the scheduled time of the last trip taken from each end.
    taken: Vec<[Option<Millis>; 2]>,
    weather: Weather,
}

/// A stop's people and how they explain its count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopTotals {
    pub waiting: u32,
    pub arrived: u64,
    pub boarded: u64,
    pub gave_up: u64,
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
        feed(if line.timetable.is_some() { "t" } else { "-" });
    }
    format!("{h:016x}")
}

/// Who queues at a stop: `(line index, direction)` for each of its queues.
type QueueKey = (usize, u8);
/// Per line and stop position: the queue index there for each direction.
type QueueIndex = Vec<Vec<[Option<usize>; 2]>>;

pub struct World {
    net: Arc<Network>,
    config: SimConfig,
    state: WorldState,
    rng: ChaCha8Rng,
    clock: MadridClock,
    /// Per line: its timetable, or the all-day one its fleet gives.
    timetables: Vec<Timetable>,
    /// Per line and end: the next trip not yet taken (a cache of `taken`).
    next_trip: Vec<[Option<Departure>; 2]>,
    /// Per line: the expected one-way time at normal traffic (ms), for calling buses up.
    one_way_ms: Vec<i64>,
    /// Per stop: who each of its queues is for.
    queues: Vec<Vec<QueueKey>>,
    /// Per line and stop position: the queue index at that stop for each direction.
    queue_at: QueueIndex,
    /// Shared `line_ids` of each stop, so records clone a pointer.
    stop_lines: Vec<Arc<[LineId]>>,
    /// A fixed temperature offset per stop (shade, asphalt, traffic), °C.
    stop_site_c: Vec<f64>,
    /// Per line: whether any of its buses is in service (people only come for those).
    running: Vec<bool>,
}

impl World {
    /// A fresh world at `start` (rounded down to the tick). Buses of a timetabled line wait
    /// parked at its terminals; the others start in service at their initial positions.
    pub fn new(net: Arc<Network>, config: SimConfig, start: Millis) -> Self {
        let start = start.floor_to(config.tick_ms);
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let per_bus = Normal::<f64>::new(1.0, 0.06).expect("valid normal");
        let buses = net
            .buses
            .iter()
            .map(|bus| {
                let line = &net.lines[bus.line];
                let parked_at = line.timetable.as_ref().map(|_| {
                    let f = bus.initial_position;
                    if (0.25..0.75).contains(&f) {
                        line.stops.len() - 1
                    } else {
                        0
                    }
                });
                let (direction, position_m, next_stop, phase) = match parked_at {
                    Some(k) => (
                        u8::from(k == 0),
                        line.stop_offsets_m[k],
                        k,
                        Phase::Parked { since: start },
                    ),
                    None => {
                        let (direction, position_m) = place(line, bus.initial_position);
                        let next = upcoming_stop(&line.stop_offsets_m, direction, position_m);
                        (direction, position_m, next, Phase::Moving)
                    }
                };
                BusState {
                    direction,
                    position_m,
                    next_stop,
                    passengers: 0,
                    phase,
                    in_service: parked_at.is_none(),
                    trip: None,
                    delay_ms: None,
                    speed_factor: per_bus.sample(&mut rng).clamp(0.85, 1.15),
                    block_factor: 1.0,
                    speed: 0.0,
                    signals: Vec::new(),
                    co2: CO2_OUTDOOR,
                    cabin_c: f64::NAN,
                }
            })
            .collect();
        let (queues, _) = queue_layout(&net);
        let stops = queues
            .iter()
            .map(|q| StopState {
                queues: vec![Queue::default(); q.len()],
                accrued_to: start,
                arrived_total: 0,
                boarded_total: 0,
                gave_up_total: 0,
                gave_up_since_record: 0,
            })
            .collect();
        let state = WorldState {
            time: start,
            network_fingerprint: network_fingerprint(&net),
            rng: String::new(),
            buses,
            stops,
            taken: vec![[None, None]; net.lines.len()],
            weather: Weather::default(),
        };
        let mut world = Self::assemble(net, config, state, rng);
        // Cabins start at the outside temperature.
        let outside = world.outdoor(start).temperature;
        for bus in &mut world.state.buses {
            bus.cabin_c = outside;
        }
        world
    }

    /// Resumes a saved state. Fails when the state was made for another network.
    pub fn resume(net: Arc<Network>, config: SimConfig, state: WorldState) -> Result<Self, String> {
        let (queues, _) = queue_layout(&net);
        if state.network_fingerprint != network_fingerprint(&net)
            || state.buses.len() != net.buses.len()
            || state.stops.len() != net.stops.len()
            || state
                .stops
                .iter()
                .zip(&queues)
                .any(|(s, q)| s.queues.len() != q.len())
        {
            return Err("the saved world was made for a different network file".into());
        }
        let bytes =
            crate::hex::decode::<49>(&state.rng).ok_or("the saved random state is corrupt")?;
        let rng = ChaCha8Rng::deserialize_state(&bytes);
        Ok(Self::assemble(net, config, state, rng))
    }

    fn assemble(net: Arc<Network>, config: SimConfig, state: WorldState, rng: ChaCha8Rng) -> Self {
        let clock = MadridClock::default();
        let timetables: Vec<Timetable> = (net.lines.iter())
            .map(|line| schedule::timetable_of(line).into_owned())
            .collect();
        let one_way_ms = (net.lines.iter())
            .map(|line| (schedule::one_way_s(line) * 1000.0) as i64)
            .collect();
        let next_trip = state
            .taken
            .iter()
            .zip(&timetables)
            .map(|(taken, t)| {
                [0, 1].map(|end| {
                    t.next_departure(
                        end,
                        taken[usize::from(end)].unwrap_or(Millis(state.time.0 - 1)),
                    )
                })
            })
            .collect();
        let (queues, queue_at) = queue_layout(&net);
        let stop_lines = net
            .stops
            .iter()
            .map(|s| Arc::from(s.line_ids.clone()))
            .collect();
        // Sites differ by up to about ±1.2 °C, fixed per stop (hashed from its id).
        let stop_site_c = net
            .stops
            .iter()
            .map(|s| {
                let h = s.id.as_str().bytes().fold(2_166_136_261u32, |h, b| {
                    (h ^ u32::from(b)).wrapping_mul(16_777_619)
                });
                f64::from(h % 1_000) / 1_000.0 * 2.4 - 1.2
            })
            .collect();
        let running = net
            .lines
            .iter()
            .map(|line| line.buses.iter().any(|&b| state.buses[b].in_service))
            .collect();
        Self {
            net,
            config,
            state,
            rng,
            clock,
            timetables,
            next_trip,
            one_way_ms,
            queues,
            queue_at,
            stop_lines,
            stop_site_c,
            running,
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

    /// The timetable line `i` runs (its own, or the all-day one its fleet gives).
    pub fn timetable(&self, i: usize) -> &Timetable {
        &self.timetables[i]
    }

    /// A copy of the state to save; resuming from it continues exactly from here.
    pub fn save(&self) -> WorldState {
        let mut state = self.state.clone();
        state.rng = crate::hex::encode(&self.rng.serialize_state());
        state
    }

    /// People waiting at stop `i` now, and the totals that explain the count.
    pub fn stop_totals(&self, i: usize) -> StopTotals {
        let s = &self.state.stops[i];
        StopTotals {
            waiting: s.queues.iter().map(Queue::len).sum(),
            arrived: s.arrived_total,
            boarded: s.boarded_total,
            gave_up: s.gave_up_total,
        }
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
        self.call_up(t0);
        let local = self.clock.local(t0);
        let traffic = profile::traffic_factor(&local);
        for b in 0..self.state.buses.len() {
            self.advance_bus(b, t0, t1, traffic, out);
        }
        let dt_s = self.config.tick_ms as f64 / 1000.0;
        let outside = self.outdoor(t0).temperature;
        for bus in &mut self.state.buses {
            let doors_open = doors_open(bus.phase);
            let k = if doors_open {
                AIR_EXCHANGE_OPEN
            } else {
                AIR_EXCHANGE_CLOSED
            };
            let crew = u32::from(!matches!(bus.phase, Phase::Parked { .. }));
            let people = f64::from(bus.passengers + crew);
            let equilibrium = CO2_OUTDOOR + CO2_PER_PERSON_PPM_S * people / k;
            bus.co2 = equilibrium + (bus.co2 - equilibrium) * (-k * dt_s).exp();
            bus.cabin_c = weather::cabin_temperature(
                bus.cabin_c,
                outside,
                bus.in_service,
                doors_open,
                bus.passengers,
                dt_s,
            );
        }
        self.state.time = t1;
        if t1.0 % self.config.position_every_ms == 0 {
            self.record_positions(t1, out);
        }
        if t1.0 % self.config.sample_every_ms == 0 {
            let local = self.clock.local(t1);
            let dt_s = self.config.sample_every_ms as f64 / 1000.0;
            self.state.weather.advance(&local, dt_s, &mut self.rng);
            self.record_samples(t1, out);
        }
    }

    fn outdoor(&mut self, at: Millis) -> weather::Outdoor {
        let local = self.clock.local(at);
        self.state.weather.outdoor(&local)
    }

    /// Calls parked buses up for trips about to leave their terminal, sending one empty
    /// from the other terminal when none waits there and the line has no bus in service.
    fn call_up(&mut self, now: Millis) {
        for l in 0..self.net.lines.len() {
            self.running[l] =
                (self.net.lines[l].buses.iter()).any(|&b| self.state.buses[b].in_service);
            for end in 0..2u8 {
                let Some(dep) = self.next_trip[l][usize::from(end)] else {
                    continue;
                };
                let lead = dep.at.0 - now.0;
                if lead > PULL_OUT_LEAD_S * 1000 + self.one_way_ms[l] {
                    continue;
                }
                let line = &self.net.lines[l];
                let terminal = line.terminal(end);
                let parked_here = self.parked_at(l, terminal);
                if lead <= PULL_OUT_LEAD_S * 1000 {
                    if let Some(b) = parked_here
                        && let Some(dep) = self.take_trip(l, end, now)
                    {
                        self.begin_layover(b, dep, now);
                    }
                    continue;
                }
                if parked_here.is_some() || self.coming_to(l, end) {
                    continue;
                }
                // Nobody will be there in time: send a spare from the other terminal, if
                // that one can do without it.
                let other = line.terminal(1 - end);
                let spare = line
                    .buses
                    .iter()
                    .filter(|&&b| {
                        let bus = &self.state.buses[b];
                        matches!(bus.phase, Phase::Parked { .. }) && bus.next_stop == other
                    })
                    .count();
                let other_soon = self.next_trip[l][usize::from(1 - end)]
                    .is_some_and(|d| d.at.0 - now.0 < 2 * self.one_way_ms[l]);
                if (spare >= 2 || (spare == 1 && !other_soon))
                    && let Some(b) = self.parked_at(l, other)
                {
                    self.deadhead(b, terminal);
                }
            }
        }
    }

    /// Whether a bus of line `l` is on its way to terminal `end` (driving there, or resting
    /// at the other terminal before a trip that ends there).
    fn coming_to(&self, l: usize, end: u8) -> bool {
        // Direction 0 ends at end 1, direction 1 at end 0.
        self.net.lines[l].buses.iter().any(|&b| {
            let bus = &self.state.buses[b];
            match bus.phase {
                Phase::Parked { .. } => false,
                Phase::Layover { .. } => bus.trip.as_ref().is_some_and(|t| t.end == 1 - end),
                _ => bus.direction == 1 - end,
            }
        })
    }

    /// The bus parked longest at stop index `terminal` of line `l`.
    fn parked_at(&self, l: usize, terminal: usize) -> Option<usize> {
        self.net.lines[l]
            .buses
            .iter()
            .filter_map(|&b| match self.state.buses[b].phase {
                Phase::Parked { since } if self.state.buses[b].next_stop == terminal => {
                    Some((since, b))
                }
                _ => None,
            })
            .min()
            .map(|(_, b)| b)
    }

    /// Takes the next trip from `end` for a bus ready at `ready`: when it is late for
    /// several, the latest one due (the earlier ones had no bus: cancelled). None when the
    /// next trip leaves too long after `ready` (the bus parks).
    fn take_trip(&mut self, l: usize, end: u8, ready: Millis) -> Option<Departure> {
        let e = usize::from(end);
        let mut dep = self.next_trip[l][e]?;
        while let Some(next) = self.timetables[l].next_departure(end, dep.at)
            && next.at <= ready
        {
            dep = next;
        }
        if dep.at.0 - ready.0 > PARK_AFTER_S * 1000 {
            return None;
        }
        self.state.taken[l][e] = Some(dep.at);
        self.next_trip[l][e] = self.timetables[l].next_departure(end, dep.at);
        Some(dep)
    }

    fn begin_layover(&mut self, b: usize, dep: Departure, ready: Millis) {
        let line = &self.net.lines[self.net.buses[b].line];
        let key = TripKey {
            line_id: line.id.to_string(),
            date: dep.date,
            end: dep.end,
            secs: dep.secs,
        };
        let schedule = schedule::trip_schedule(line, dep.end, dep.at, &mut self.clock);
        let leaves = dep.at.max(ready);
        let bus = &mut self.state.buses[b];
        bus.in_service = true;
        bus.delay_ms = Some(leaves.0 - dep.at.0);
        bus.trip = Some(Trip {
            id: Arc::from(key.to_string()),
            end: dep.end,
            schedule,
        });
        bus.phase = Phase::Layover { until: leaves };
    }

    fn deadhead(&mut self, b: usize, terminal: usize) {
        let line = &self.net.lines[self.net.buses[b].line];
        let bus = &mut self.state.buses[b];
        bus.direction = u8::from(terminal == 0);
        bus.next_stop = terminal;
        bus.phase = Phase::Moving;
        bus.speed = 0.0;
        let (from, to) = (bus.position_m, line.stop_offsets_m[terminal]);
        self.draw_signals(b, from, to);
    }

    fn advance_bus(&mut self, b: usize, t0: Millis, t1: Millis, traffic: f64, out: &mut Records) {
        let mut now = t0.0 as f64;
        loop {
            match self.state.buses[b].phase {
                Phase::Parked { .. } => return,
                Phase::Layover { until }
                | Phase::Held { until }
                | Phase::Dwelling { until, .. }
                    if until > t1 =>
                {
                    return;
                }
                Phase::Layover { until } => {
                    now = until.0 as f64;
                    let bus = &mut self.state.buses[b];
                    if let Some(trip) = &bus.trip {
                        bus.direction = trip.end;
                    }
                    self.serve_stop(b, until, out);
                }
                Phase::Held { until } => {
                    now = until.0 as f64;
                    self.state.buses[b].phase = Phase::Moving;
                }
                Phase::Dwelling {
                    until,
                    end_of_trip: true,
                } => {
                    now = until.0 as f64;
                    self.end_trip(b, until);
                }
                Phase::Dwelling { until, .. } => {
                    now = until.0 as f64;
                    self.depart(b);
                }
                Phase::Moving => {
                    if !self.drive(b, &mut now, t1, traffic, out) {
                        return;
                    }
                }
            }
        }
    }

    /// Integrates the bus's motion from `now` up to `t1`, or until it reaches its next
    /// stop or a red light (then returns true, its phase changed).
    fn drive(
        &mut self,
        b: usize,
        now: &mut f64,
        t1: Millis,
        traffic: f64,
        out: &mut Records,
    ) -> bool {
        let line_ix = self.net.buses[b].line;
        let free = schedule::free_speed_mps(&self.net.lines[line_ix], traffic);
        loop {
            let left_s = (t1.0 as f64 - *now) / 1000.0;
            if left_s <= 1e-9 {
                return false;
            }
            let dt = left_s.min(STEP_S);
            let line = &self.net.lines[line_ix];
            let bus = &self.state.buses[b];
            let sign = if bus.direction == 0 { 1.0 } else { -1.0 };
            let stop_at = line.stop_offsets_m[bus.next_stop];
            // The nearest hold ahead: a red light, else the stop.
            let red = bus.signals.iter().find(|s| s.red_ms > 0).copied();
            let hold_at = red.map_or(stop_at, |s| s.at_m);
            let to_hold = (hold_at - bus.position_m) * sign;
            let target = free * bus.speed_factor * bus.block_factor;
            let v0 = bus.speed;
            let v1 = motion::next_speed(v0, target, to_hold, dt);
            let ds = (v0 + v1) / 2.0 * dt;
            if ds >= to_hold - 1e-6 {
                let used = if ds > 0.0 {
                    dt * (to_hold / ds).max(0.0)
                } else {
                    0.0
                };
                *now += used * 1000.0;
                let at = Millis(now.round() as i64);
                self.pass_signals(b, hold_at, sign);
                let bus = &mut self.state.buses[b];
                bus.position_m = hold_at;
                bus.speed = 0.0;
                match red {
                    Some(s) => {
                        bus.signals.retain(|x| x.at_m != s.at_m);
                        bus.phase = Phase::Held {
                            until: Millis(at.0 + s.red_ms),
                        };
                    }
                    None if bus.in_service => self.serve_stop(b, at, out),
                    None => self.park(b, at),
                }
                return true;
            }
            *now += dt * 1000.0;
            let pos = self.state.buses[b].position_m + ds * sign;
            self.pass_signals(b, pos, sign);
            let bus = &mut self.state.buses[b];
            bus.position_m = pos;
            bus.speed = v1;
        }
    }

    /// Drops the (green) lights the bus has passed on its way to `pos`; each starts a new
    /// block with its own speed.
    fn pass_signals(&mut self, b: usize, pos: f64, sign: f64) {
        let passed = self.state.buses[b]
            .signals
            .iter()
            .take_while(|s| (s.at_m - pos) * sign <= 1e-9 && s.red_ms == 0)
            .count();
        if passed > 0 {
            let f = block_factor(&mut self.rng);
            let bus = &mut self.state.buses[b];
            bus.signals.drain(..passed);
            bus.block_factor = f;
        }
    }

    fn draw_signals(&mut self, b: usize, from: f64, to: f64) {
        let signals: Vec<Signal> = motion::signal_offsets(from, to)
            .map(|at_m| {
                let red = self.rng.random::<f64>() < P_RED;
                let red_ms = if red {
                    (self.rng.random::<f64>() * MAX_RED_S * 1000.0) as i64
                } else {
                    0
                };
                Signal { at_m, red_ms }
            })
            .collect();
        let f = block_factor(&mut self.rng);
        let bus = &mut self.state.buses[b];
        bus.signals = signals;
        bus.block_factor = f;
    }

    /// The bus has reached its `next_stop` at `at`: people alight, then board.
    fn serve_stop(&mut self, b: usize, at: Millis, out: &mut Records) {
        let net = Arc::clone(&self.net);
        let bus_spec = &net.buses[b];
        let line_ix = bus_spec.line;
        let line = &net.lines[line_ix];
        let bus = &self.state.buses[b];
        let k = bus.next_stop;
        let stop_ix = line.stops[k];
        let last = line.stops.len() - 1;
        let direction = bus.direction;
        let at_end = (direction == 0 && k == last) || (direction == 1 && k == 0);
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
        let boarded = match self.queue_at[line_ix][k][usize::from(direction)] {
            Some(q) if !at_end => {
                let free = bus_spec.capacity.saturating_sub(after_alighting);
                self.state.stops[stop_ix].queues[q].board(free)
            }
            _ => 0,
        };
        let stop = &mut self.state.stops[stop_ix];
        stop.boarded_total += u64::from(boarded);
        let waiting_after = stop.queues.iter().map(Queue::len).sum();

        let dwell_s = DWELL_FIXED_S
            + DWELL_PER_BOARDING_S * f64::from(boarded)
            + DWELL_PER_ALIGHTING_S * f64::from(alighted);
        let bus = &mut self.state.buses[b];
        bus.passengers = after_alighting + boarded;
        bus.phase = Phase::Dwelling {
            until: Millis(at.0 + (dwell_s * 1000.0) as i64),
            end_of_trip: at_end,
        };
        // Delay against the schedule at this stop (the trip serves it `served` stops in).
        if let Some(trip) = &bus.trip {
            let served = if trip.end == 0 { k } else { last - k };
            if let Some(s) = trip.schedule.get(served) {
                bus.delay_ms = Some(at.0 - s.0);
            }
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
            trip_id: bus.trip.as_ref().map(|t| Arc::clone(&t.id)),
            delay_s: bus.delay_ms.map(delay_s),
        });
    }

    /// Everyone is off at the end of a trip at `ready`: the bus takes its next trip from
    /// this terminal after the minimum layover, or parks.
    fn end_trip(&mut self, b: usize, at: Millis) {
        let l = self.net.buses[b].line;
        let bus = &mut self.state.buses[b];
        bus.trip = None;
        let end = u8::from(bus.next_stop != 0);
        let ready = Millis(at.0 + i64::from(self.timetables[l].min_layover_s) * 1000);
        match self.take_trip(l, end, ready) {
            Some(dep) => self.begin_layover(b, dep, ready),
            None => self.park(b, at),
        }
    }

    fn park(&mut self, b: usize, at: Millis) {
        let bus = &mut self.state.buses[b];
        bus.in_service = false;
        bus.trip = None;
        bus.delay_ms = None;
        bus.passengers = 0;
        bus.speed = 0.0;
        bus.phase = Phase::Parked { since: at };
    }

    /// Leaves a stop for the next one in the bus's direction.
    fn depart(&mut self, b: usize) {
        let line = &self.net.lines[self.net.buses[b].line];
        let bus = &mut self.state.buses[b];
        bus.phase = Phase::Moving;
        bus.speed = 0.0;
        bus.next_stop = if bus.direction == 0 {
            bus.next_stop + 1
        } else {
            bus.next_stop - 1
        };
        let (from, to) = (bus.position_m, line.stop_offsets_m[bus.next_stop]);
        self.draw_signals(b, from, to);
    }

    /// Draws the people who reached stop `s` since it was last brought up to date, and
    /// those who gave up meanwhile: Poisson arrivals whose rate follows the local hour
    /// (sums of Poisson draws are Poisson, so drawing lazily is exact and cheap).
    fn accrue(&mut self, s: usize, to: Millis) {
        let from = self.state.stops[s].accrued_to;
        if to <= from {
            return;
        }
        let mid = Millis(from.0 + (to.0 - from.0) / 2);
        let local = self.clock.local(mid);
        let minutes = (to.0 - from.0) as f64 / 60_000.0;
        let n = self.queues[s].len().max(1) as f64;
        let lambda =
            self.net.stops[s].base_arrival_rate * profile::demand_multiplier(&local) * minutes / n;
        let stop = &mut self.state.stops[s];
        for (q, &(l, _)) in stop.queues.iter_mut().zip(&self.queues[s]) {
            let gone = q.give_up(from, to, &mut self.rng);
            stop.gave_up_total += u64::from(gone);
            stop.gave_up_since_record += gone;
            let arrived = if lambda > 0.0 && self.running[l] {
                Poisson::new(lambda)
                    .map(|p| p.sample(&mut self.rng) as u32)
                    .unwrap_or(0)
            } else {
                0
            };
            q.push(mid, arrived);
            stop.arrived_total += u64::from(arrived);
        }
        stop.accrued_to = to;
    }

    /// Where every bus is now (also between recording instants).
    pub fn positions(&mut self) -> Vec<BusPosition> {
        let at = self.state.time;
        self.state
            .buses
            .iter()
            .enumerate()
            .map(|(b, bus)| {
                let spec = &self.net.buses[b];
                let line = &self.net.lines[spec.line];
                let p = line.route.point_at(bus.position_m);
                BusPosition {
                    bus_id: spec.id.clone(),
                    line_id: line.id.clone(),
                    time: at,
                    latitude: p.lat,
                    longitude: p.lon,
                    speed_kmh: if bus.phase == Phase::Moving {
                        bus.speed * 3.6
                    } else {
                        0.0
                    },
                    direction: bus.direction,
                    passenger_count: bus.passengers,
                    next_stop_id: self.net.stops[line.stops[bus.next_stop]].id.clone(),
                    distance_to_next_stop_m: (line.stop_offsets_m[bus.next_stop] - bus.position_m)
                        .abs(),
                    at_stop: doors_open(bus.phase),
                    in_service: bus.in_service,
                    trip_id: bus.trip.as_ref().map(|t| Arc::clone(&t.id)),
                    delay_s: bus.delay_ms.map(delay_s),
                }
            })
            .collect()
    }

    fn record_positions(&mut self, at: Millis, out: &mut Records) {
        let mut positions = self.positions();
        debug_assert!(positions.iter().all(|p| p.time == at));
        out.positions.append(&mut positions);
    }

    fn record_samples(&mut self, at: Millis, out: &mut Records) {
        let air = self.outdoor(at);
        let noise = Normal::<f64>::new(0.0, 0.25).expect("valid normal");
        for s in 0..self.net.stops.len() {
            self.accrue(s, at);
            let stop = &mut self.state.stops[s];
            let waiting: Arc<[LineWaiting]> = self.queues[s]
                .iter()
                .zip(&stop.queues)
                .map(|(&(l, direction), q)| LineWaiting {
                    line_id: self.net.lines[l].id.clone(),
                    direction,
                    count: q.len(),
                })
                .collect();
            let gave_up = std::mem::take(&mut stop.gave_up_since_record);
            out.people.push(PeopleCount {
                stop_id: self.net.stops[s].id.clone(),
                time: at,
                count: waiting.iter().map(|w| w.count).sum(),
                line_ids: Arc::clone(&self.stop_lines[s]),
                waiting,
                gave_up,
            });
            let temperature = air.temperature + self.stop_site_c[s] + noise.sample(&mut self.rng);
            out.sensors.push(SensorReading {
                entity_type: EntityType::Stop,
                entity_id: Arc::from(self.net.stops[s].id.as_str()),
                time: at,
                temperature: round2(temperature),
                humidity: round2(weather::relative_humidity(temperature, air.dew_point)),
                co2_level: None,
                door_status: None,
            });
        }
        for (b, bus) in self.state.buses.iter().enumerate() {
            let dew = weather::cabin_dew_point(air.dew_point, bus.passengers);
            out.sensors.push(SensorReading {
                entity_type: EntityType::Bus,
                entity_id: Arc::from(self.net.buses[b].id.as_str()),
                time: at,
                temperature: round2(bus.cabin_c),
                humidity: round2(weather::relative_humidity(bus.cabin_c, dew)),
                co2_level: Some(bus.co2.round()),
                door_status: Some(if doors_open(bus.phase) {
                    DoorStatus::Open
                } else {
                    DoorStatus::Closed
                }),
            });
        }
    }
}

fn doors_open(phase: Phase) -> bool {
    matches!(phase, Phase::Dwelling { .. } | Phase::Layover { .. })
}

fn delay_s(ms: i64) -> i32 {
    (ms as f64 / 1000.0).round() as i32
}

fn block_factor(rng: &mut ChaCha8Rng) -> f64 {
    Normal::<f64>::new(1.0, motion::BLOCK_SPREAD)
        .expect("valid normal")
        .sample(rng)
        .clamp(0.7, 1.3)
}

/// Who queues where: per stop, its `(line, direction)` queues; per line and stop
/// position, the queue index for each direction (none where a direction only alights).
fn queue_layout(net: &Network) -> (Vec<Vec<QueueKey>>, QueueIndex) {
    let mut queues: Vec<Vec<QueueKey>> = vec![Vec::new(); net.stops.len()];
    let queue_at = net
        .lines
        .iter()
        .enumerate()
        .map(|(l, line)| {
            let last = line.stops.len() - 1;
            line.stops
                .iter()
                .enumerate()
                .map(|(k, &s)| {
                    [0u8, 1].map(|d| {
                        let boards = if d == 0 { k < last } else { k > 0 };
                        boards.then(|| {
                            queues[s].push((l, d));
                            queues[s].len() - 1
                        })
                    })
                })
                .collect()
        })
        .collect();
    (queues, queue_at)
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
