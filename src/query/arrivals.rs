//! Predicted arrivals at a stop. For each bus in service of each line serving it: the
//! expected time of the rest of its leg and of every leg and dwell ahead at the hour it will
//! drive them (the running-time model the timetables are planned with); a bus resting at a
//! terminal leaves at its trip's scheduled time; one that must turn round first rests its
//! minimum layover and takes the next trip from the far terminal. Each prediction carries
//! the trip's scheduled time at the stop and the delay that makes.

use serde::Serialize;

use crate::network::{Line, Network, TripKey};
use crate::sim::motion::{ACCEL_MPS2, BRAKE_MPS2, expected_leg_s};
use crate::sim::profile::MadridClock;
use crate::sim::schedule::{self, free_speed_mps, leg_s, planned_dwell_s};
use crate::sim::{BusPosition, DWELL_FIXED_S};
use crate::time::Millis;

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct PredictedArrival {
    pub bus_id: String,
    pub line_id: String,
    /// The direction the bus will serve the stop in.
    pub direction: u8,
    /// The terminal that direction runs to.
    pub towards_stop_id: String,
    /// The trip it will serve the stop on, when known.
    pub trip_id: Option<String>,
    pub eta_seconds: f64,
    /// The predicted arrival (RFC 3339).
    pub predicted: String,
    /// The same as `predicted` (kept for clients of the first API).
    pub eta: String,
    /// The trip's scheduled time at the stop, when known.
    pub scheduled: Option<String>,
    /// Predicted minus scheduled, in seconds.
    pub delay_s: Option<i64>,
    /// Metres along the route.
    pub distance: f64,
}

/// Predictions for stop `stop` from the buses' latest positions, soonest first.
pub fn predict(
    net: &Network,
    stop: usize,
    positions: &[BusPosition],
    now: Millis,
) -> Vec<PredictedArrival> {
    let mut clock = MadridClock::default();
    // Trips buses already hold: one that turns round takes the next trip nobody holds.
    let held: std::collections::HashSet<&str> = positions
        .iter()
        .filter_map(|p| p.trip_id.as_deref())
        .collect();
    let mut out: Vec<PredictedArrival> = positions
        .iter()
        .filter(|p| p.in_service)
        .filter_map(|p| {
            let line = net.line(p.line_id.as_str())?;
            let k = line.stops.iter().position(|&s| s == stop)?;
            predict_one(net, line, k, p, now, &held, &mut clock)
        })
        .collect();
    out.sort_by(|a, b| a.eta_seconds.total_cmp(&b.eta_seconds));
    out
}

fn predict_one(
    net: &Network,
    line: &Line,
    k: usize,
    p: &BusPosition,
    now: Millis,
    held: &std::collections::HashSet<&str>,
    clock: &mut MadridClock,
) -> Option<PredictedArrival> {
    let n = line.stops.len();
    let last = n - 1;
    let j = line
        .stops
        .iter()
        .position(|&s| net.stops[s].id == p.next_stop_id)?;
    let trip = p.trip_id.as_deref().and_then(TripKey::parse);
    // A bus resting at a terminal before its trip leaves at the trip's time at the earliest.
    let resting = trip.as_ref().filter(|t| {
        p.at_stop
            && p.distance_to_next_stop_m == 0.0
            && j == line.terminal(t.end)
            && t.end != p.direction
    });
    let (mut t, mut at, mut direction, mut trip) = match resting {
        Some(key) => {
            let leaves = key.departure().max(now);
            (leaves.0 as f64, j, key.end, Some(key.clone()))
        }
        None => {
            // The rest of the current leg (or the dwell under way at the stop).
            let local = clock.local(now);
            let d = p.distance_to_next_stop_m;
            let v = free_speed_mps(line, crate::sim::profile::traffic_factor(&local));
            let rest_s = if p.at_stop {
                DWELL_FIXED_S
            } else {
                remaining_leg_s(d, p.speed_kmh / 3.6, v)
            };
            (now.0 as f64 + rest_s * 1000.0, j, p.direction, trip)
        }
    };
    let mut distance = p.distance_to_next_stop_m;
    // Walk stop to stop until the bus serves `k` (at most once round the line).
    for _ in 0..2 * n + 2 {
        let ends_here = (direction == 0 && at == last) || (direction == 1 && at == 0);
        if at == k && !ends_here {
            break;
        }
        if ends_here {
            // Turn round: everyone off, the minimum layover, then the next trip from here.
            let timetable = schedule::timetable_of(line);
            let ready = t + (DWELL_FIXED_S + f64::from(timetable.min_layover_s)) * 1000.0;
            let end = u8::from(at != 0);
            let key_of = |d: crate::network::Departure| TripKey {
                line_id: line.id.to_string(),
                date: d.date,
                end,
                secs: d.secs,
            };
            let mut next = timetable.next_departure(end, Millis(ready as i64 - 1));
            while let Some(d) = next
                && held.contains(key_of(d).to_string().as_str())
            {
                next = timetable.next_departure(end, d.at);
            }
            let leaves = next.map_or(ready, |d| (d.at.0 as f64).max(ready));
            trip = next.map(key_of);
            t = leaves;
            direction = end;
            continue;
        }
        let local = clock.local(Millis(t as i64));
        let next = if direction == 0 { at + 1 } else { at - 1 };
        t += (planned_dwell_s(&local) + leg_s(line, at, direction, &local)) * 1000.0;
        distance += (line.stop_offsets_m[next] - line.stop_offsets_m[at]).abs();
        at = next;
    }
    let eta = Millis(t.round() as i64);
    let scheduled = trip.as_ref().and_then(|key| {
        let times = schedule::trip_schedule(line, key.end, key.departure(), clock);
        let served = if key.end == 0 { k } else { last - k };
        (key.end == direction)
            .then(|| times.get(served).copied())
            .flatten()
    });
    let towards = if direction == 0 {
        line.stops[last]
    } else {
        line.stops[0]
    };
    Some(PredictedArrival {
        bus_id: p.bus_id.to_string(),
        line_id: line.id.to_string(),
        direction,
        towards_stop_id: net.stops[towards].id.to_string(),
        trip_id: trip.map(|k| k.to_string()),
        eta_seconds: ((eta.0 - now.0) as f64 / 1000.0).max(0.0).round(),
        predicted: eta.to_rfc3339(),
        eta: eta.to_rfc3339(),
        scheduled: scheduled.map(Millis::to_rfc3339),
        delay_s: scheduled.map(|s| ((eta.0 - s.0) as f64 / 1000.0).round() as i64),
        distance: distance.round(),
    })
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
