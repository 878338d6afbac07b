//! Where a bus will be: from its latest position, each stop it will call at and when,
//! by the running-time model the timetables are planned with (the rest of its leg, then
//! every leg and dwell at the hour it will drive them). A bus resting at a terminal leaves
//! at its trip's scheduled time; one that must turn round rests its minimum layover and
//! takes the next trip from there that no other bus holds. Pure, so an API replica
//! forecasts exactly as the simulator's process does.

use std::collections::HashSet;

use super::motion::{ACCEL_MPS2, BRAKE_MPS2, expected_leg_s};
use super::profile::{MadridClock, traffic_factor};
use super::schedule::{free_speed_mps, leg_s, planned_dwell_s, timetable_of, trip_schedule};
use super::{BusPosition, DWELL_FIXED_S};
use crate::network::{Departure, Line, Network, TripKey};
use crate::time::Millis;

/// A stop call ahead of a bus.
#[derive(Debug, Clone)]
pub struct Call {
    /// Index into the line's `stops`.
    pub stop: usize,
    /// The direction the bus serves it in.
    pub direction: u8,
    /// The trip it serves it on, when known.
    pub trip: Option<TripKey>,
    /// When (epoch ms): the arrival, or for a trip's first stop the departure.
    pub at: f64,
    /// Metres along the route from the bus.
    pub distance_m: f64,
    /// The last stop of its trip (the bus turns round after it).
    pub ends_trip: bool,
}

/// The stop calls ahead of a bus in service, first its next stop; once round the line at
/// most. None when the position names no stop of its line.
pub fn calls<'a>(
    net: &'a Network,
    line: &'a Line,
    p: &BusPosition,
    now: Millis,
    held: &'a HashSet<&'a str>,
) -> Option<Calls<'a>> {
    let mut clock = MadridClock::default();
    let next = line
        .stops
        .iter()
        .position(|&s| net.stops[s].id == p.next_stop_id)?;
    let trip = p.trip_id.as_deref().and_then(TripKey::parse);
    // A bus resting at a terminal before its trip leaves at the trip's time at the earliest.
    let resting = trip.as_ref().filter(|t| {
        p.at_stop
            && p.distance_to_next_stop_m == 0.0
            && next == line.terminal(t.end)
            && t.end != p.direction
    });
    let (at, direction) = match resting {
        Some(key) => (key.departure().max(now).0 as f64, key.end),
        None => {
            // The rest of the current leg (or the dwell under way at the stop).
            let v = free_speed_mps(line, traffic_factor(&clock.local(now)));
            let rest_s = if p.at_stop {
                DWELL_FIXED_S
            } else {
                remaining_leg_s(p.distance_to_next_stop_m, p.speed_kmh / 3.6, v)
            };
            (now.0 as f64 + rest_s * 1000.0, p.direction)
        }
    };
    Some(Calls {
        line,
        held,
        clock,
        call: Some(Call {
            stop: next,
            direction,
            trip,
            at,
            distance_m: p.distance_to_next_stop_m,
            ends_trip: ends_at(line, direction, next),
        }),
        left: 2 * line.stops.len() + 2,
    })
}

/// Trips buses already hold: one that turns round takes the next trip nobody holds.
pub fn held_trips(positions: &[BusPosition]) -> HashSet<&str> {
    positions
        .iter()
        .filter_map(|p| p.trip_id.as_deref())
        .collect()
}

impl Call {
    /// The scheduled time of this call on its trip, when it has one.
    pub fn scheduled(&self, line: &Line, clock: &mut MadridClock) -> Option<Millis> {
        let key = self.trip.as_ref().filter(|k| k.end == self.direction)?;
        let times = trip_schedule(line, key.end, key.departure(), clock);
        let served = if key.end == 0 {
            self.stop
        } else {
            line.stops.len() - 1 - self.stop
        };
        times.get(served).copied()
    }
}

fn ends_at(line: &Line, direction: u8, stop: usize) -> bool {
    stop == line.terminal(1 - direction)
}

pub struct Calls<'a> {
    line: &'a Line,
    held: &'a HashSet<&'a str>,
    clock: MadridClock,
    /// The call to yield next.
    call: Option<Call>,
    left: usize,
}

impl Iterator for Calls<'_> {
    type Item = Call;

    fn next(&mut self) -> Option<Call> {
        let call = self.call.take()?;
        if self.left > 0 {
            self.left -= 1;
            self.call = Some(self.after(&call));
        }
        Some(call)
    }
}

impl Calls<'_> {
    /// The call after `c`: the next stop, or after the last, the same stop as the first of
    /// the next trip.
    fn after(&mut self, c: &Call) -> Call {
        let line = self.line;
        if c.ends_trip {
            // Everyone off, the minimum layover, then the next trip nobody holds.
            let timetable = timetable_of(line);
            let ready = c.at + (DWELL_FIXED_S + f64::from(timetable.min_layover_s)) * 1000.0;
            let end = 1 - c.direction;
            let key_of = |d: Departure| TripKey {
                line_id: line.id.to_string(),
                date: d.date,
                end,
                secs: d.secs,
            };
            let mut next = timetable.next_departure(end, Millis(ready as i64 - 1));
            while let Some(d) = next
                && self.held.contains(key_of(d).to_string().as_str())
            {
                next = timetable.next_departure(end, d.at);
            }
            return Call {
                stop: c.stop,
                direction: end,
                trip: next.map(key_of),
                at: next.map_or(ready, |d| (d.at.0 as f64).max(ready)),
                distance_m: c.distance_m,
                ends_trip: false,
            };
        }
        let local = self.clock.local(Millis(c.at as i64));
        let to = if c.direction == 0 {
            c.stop + 1
        } else {
            c.stop - 1
        };
        Call {
            stop: to,
            direction: c.direction,
            trip: c.trip.clone(),
            at: c.at
                + (planned_dwell_s(&local) + leg_s(line, c.stop, c.direction, &local)) * 1000.0,
            distance_m: c.distance_m
                + (line.stop_offsets_m[to] - line.stop_offsets_m[c.stop]).abs(),
            ends_trip: ends_at(line, c.direction, to),
        }
    }
}

/// The expected time (s) for the last `d` metres of a leg by a bus now at `v0` m/s whose
/// free-flow speed is `v`: what a whole leg of that length takes, less the start ramp it
/// has already done when it is moving.
fn remaining_leg_s(d: f64, v0: f64, v: f64) -> f64 {
    let whole = expected_leg_s(d, v);
    let start_ramp = v / (2.0 * ACCEL_MPS2);
    let stop_ramp = v / (2.0 * BRAKE_MPS2);
    if v0 > 1.0 {
        (whole - start_ramp * (v0 / v).min(1.0)).max(d / v.max(0.5) + stop_ramp * 0.5)
    } else {
        whole
    }
}
