//! Scheduled times: when a trip is planned to reach each stop, from the expected running
//! time of each leg at the hour it leaves (as planners set running times by time of day)
//! and the expected dwells. Pure functions of the network, so every process (the simulator,
//! an API replica predicting arrivals, `check-config`) computes the same schedule.

use super::motion::{FREE_FLOW_OVER_CRUISE, expected_leg_s};
use super::profile::{self, LocalTime, MadridClock};
use super::world::{DWELL_FIXED_S, DWELL_PER_BOARDING_S};
use crate::network::{DayType, Line, Timetable, TripKey};
use crate::time::Millis;

/// Boardings at a stop in the busiest hour, as planned.
const PLANNED_BOARDINGS_AT_PEAK: f64 = 5.0;
/// Driving takes this much longer than [`expected_leg_s`]'s closed form (speed changes
/// between blocks, the spread of speeds): measured with `cargo bench --bench eta`.
const RUNNING_MARGIN: f64 = 1.05;

/// The free-flow speed (m/s) of a line at a traffic factor.
pub fn free_speed_mps(line: &Line, traffic: f64) -> f64 {
    line.cruise_speed_kmh / 3.6 * FREE_FLOW_OVER_CRUISE * traffic
}

/// The dwell (s) planned at a stop at this local time.
pub fn planned_dwell_s(local: &LocalTime) -> f64 {
    DWELL_FIXED_S
        + DWELL_PER_BOARDING_S * PLANNED_BOARDINGS_AT_PEAK * profile::demand_multiplier(local)
}

/// The expected time (s) from leaving stop index `from` to reaching the next stop in
/// `direction`, at `local` time.
pub fn leg_s(line: &Line, from: usize, direction: u8, local: &LocalTime) -> f64 {
    let to = if direction == 0 { from + 1 } else { from - 1 };
    let d = (line.stop_offsets_m[to] - line.stop_offsets_m[from]).abs();
    RUNNING_MARGIN * expected_leg_s(d, free_speed_mps(line, profile::traffic_factor(local)))
}

/// Scheduled arrival at each stop of a trip leaving terminal `end` at `departure`, in the
/// order the trip serves them (the first is the departure itself).
pub fn trip_schedule(
    line: &Line,
    end: u8,
    departure: Millis,
    clock: &mut MadridClock,
) -> Vec<Millis> {
    let local = clock.local(departure);
    let n = line.stops.len();
    let dwell = planned_dwell_s(&local);
    let mut t = departure.0 as f64;
    let mut out = Vec::with_capacity(n);
    out.push(departure);
    for i in 0..n - 1 {
        let from = if end == 0 { i } else { n - 1 - i };
        t += dwell * 1000.0 + leg_s(line, from, end, &local) * 1000.0;
        out.push(Millis(t.round() as i64));
    }
    out
}

/// The schedule of a trip named by its id, when the id belongs to `line`.
pub fn schedule_of(line: &Line, trip_id: &str, clock: &mut MadridClock) -> Option<Vec<Millis>> {
    let key = TripKey::parse(trip_id).filter(|k| k.line_id == line.id.as_str())?;
    Some(trip_schedule(line, key.end, key.departure(), clock))
}

/// A weekday at 11:00: the traffic an all-day headway is planned for.
const NORMAL_HOUR: LocalTime = LocalTime {
    hour: 11.0,
    weekday: 2,
    day_of_year: 320,
    day: DayType::Weekday,
};

/// The timetable a line runs: its own, or for a file without one, service all day every
/// headway its fleet gives at normal traffic (in whole minutes, as a timetable says it).
pub fn timetable_of(line: &Line) -> std::borrow::Cow<'_, Timetable> {
    match &line.timetable {
        Some(t) => std::borrow::Cow::Borrowed(t),
        None => {
            let cycle = cycle_s(line, super::world::MIN_LAYOVER_S, &NORMAL_HOUR);
            let headway_min = (cycle / line.buses.len() as f64 / 60.0).round() as u32;
            std::borrow::Cow::Owned(Timetable::all_day(
                headway_min * 60,
                super::world::MIN_LAYOVER_S as u32,
            ))
        }
    }
}

/// The one-way running time (s) of a line at normal traffic.
pub fn one_way_s(line: &Line) -> f64 {
    (cycle_s(line, 0.0, &NORMAL_HOUR)) / 2.0
}

/// A round trip (s) at `local` time: both directions, planned dwells and the minimum
/// layover at each end.
pub fn cycle_s(line: &Line, min_layover_s: f64, local: &LocalTime) -> f64 {
    let n = line.stops.len();
    let dwell = planned_dwell_s(local);
    let one_way = |direction: u8| -> f64 {
        (0..n - 1)
            .map(|i| {
                let from = if direction == 0 { i } else { n - 1 - i };
                leg_s(line, from, direction, local) + dwell
            })
            .sum()
    };
    one_way(0) + one_way(1) + 2.0 * min_layover_s
}

/// Buses a timetable needs at its busiest: the most of cycle time over headway across
/// the periods of each day type, with the time and day it happens.
pub fn fleet_needed(line: &Line, timetable: &Timetable) -> Option<(u32, DayType, u32)> {
    let mut best: Option<(u32, DayType, u32)> = None;
    for day in DayType::ALL {
        let service = timetable.day(day);
        for &start in &service.departures[0] {
            let Some(h) = timetable.headway_at(day, start) else {
                continue;
            };
            let local = LocalTime {
                hour: f64::from(start % 86_400) / 3_600.0,
                weekday: match day {
                    DayType::Weekday => 2,
                    DayType::Saturday => 5,
                    DayType::Sunday => 6,
                },
                day_of_year: 320,
                day,
            };
            let cycle = cycle_s(line, f64::from(timetable.min_layover_s), &local);
            let needed = (cycle / f64::from(h)).ceil() as u32;
            if best.is_none_or(|(n, _, _)| needed > n) {
                best = Some((needed, day, start));
            }
        }
    }
    best
}
