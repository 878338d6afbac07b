//! Predicted arrivals at a stop: for each bus in service of each line serving it, its first
//! call there by [`crate::sim::forecast`], with the trip's scheduled time at the stop and
//! the delay that makes.

use serde::Serialize;

use crate::network::{Line, Network};
use crate::sim::BusPosition;
use crate::sim::forecast::{Call, calls, held_trips};
use crate::sim::profile::MadridClock;
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
    let held = held_trips(positions);
    let mut out: Vec<PredictedArrival> = positions
        .iter()
        .filter(|p| p.in_service)
        .filter_map(|p| {
            let line = net.line(p.line_id.as_str())?;
            let k = line.stops.iter().position(|&s| s == stop)?;
            let call = calls(net, line, p, now, &held)?.find(|c| c.stop == k && !c.ends_trip)?;
            Some(prediction(net, line, p, &call, now, &mut clock))
        })
        .collect();
    out.sort_by(|a, b| a.eta_seconds.total_cmp(&b.eta_seconds));
    out
}

fn prediction(
    net: &Network,
    line: &Line,
    p: &BusPosition,
    call: &Call,
    now: Millis,
    clock: &mut MadridClock,
) -> PredictedArrival {
    let eta = Millis(call.at.round() as i64);
    let scheduled = call.scheduled(line, clock);
    let towards = line.stops[line.terminal(1 - call.direction)];
    PredictedArrival {
        bus_id: p.bus_id.to_string(),
        line_id: line.id.to_string(),
        direction: call.direction,
        towards_stop_id: net.stops[towards].id.to_string(),
        trip_id: call.trip.as_ref().map(|k| k.to_string()),
        eta_seconds: ((eta.0 - now.0) as f64 / 1000.0).max(0.0).round(),
        predicted: eta.to_rfc3339(),
        eta: eta.to_rfc3339(),
        scheduled: scheduled.map(Millis::to_rfc3339),
        delay_s: scheduled.map(|s| ((eta.0 - s.0) as f64 / 1000.0).round() as i64),
        distance: call.distance_m.round(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// B001 in service heading for its line's third stop, with no trip yet.
    fn b001(net: &Network, now: Millis) -> BusPosition {
        let bus = &net.buses[net.bus_index("B001").unwrap()];
        let line = &net.lines[bus.line];
        let next = &net.stops[line.stops[2]];
        BusPosition {
            bus_id: bus.id.clone(),
            line_id: line.id.clone(),
            time: now,
            latitude: next.position.lat,
            longitude: next.position.lon,
            speed_kmh: 20.0,
            direction: 0,
            passenger_count: 10,
            next_stop_id: next.id.clone(),
            distance_to_next_stop_m: 200.0,
            at_stop: false,
            in_service: true,
            trip_id: None,
            delay_s: None,
        }
    }

    /// A bus with no trip yet (it starts mid-route until it first turns round) is
    /// predicted without a schedule on its way; once round, on the trip it will take.
    #[test]
    fn a_bus_without_a_trip_has_a_schedule_only_after_turning_round() {
        let net = Network::default_network();
        let now = Millis::parse("2026-11-24T09:00:00Z").unwrap();
        let line = &net.lines[net.buses[net.bus_index("B001").unwrap()].line];
        let positions = [b001(&net, now)];

        let ahead = predict(&net, line.stops[2], &positions, now);
        let [a] = &ahead[..] else {
            panic!("one prediction: {ahead:?}")
        };
        assert_eq!((&a.trip_id, &a.scheduled, a.delay_s), (&None, &None, None));
        assert_eq!(a.direction, 0);

        let behind = predict(&net, line.stops[1], &positions, now);
        let [b] = &behind[..] else {
            panic!("one prediction: {behind:?}")
        };
        assert_eq!(b.direction, 1, "after turning round");
        assert!(b.trip_id.is_some(), "{b:?}");
        let predicted = Millis::parse(&b.predicted).unwrap();
        let scheduled =
            Millis::parse(b.scheduled.as_deref().expect("the trip's schedule")).unwrap();
        let delay = ((predicted.0 - scheduled.0) as f64 / 1000.0).round() as i64;
        assert_eq!(b.delay_s, Some(delay));
    }
}
