//! The world over a simulated weekday on the default network (timetables, night service,
//! holding, people who give up, weather) and on the original network file (all-day
//! service), plus determinism pinned by a golden hash.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use madbus::network::{Network, TripKey};
use madbus::sim::motion::{ACCEL_MPS2, BRAKE_MPS2};
use madbus::sim::people::PATIENCE_SCALE_S;
use madbus::sim::profile::{self, MadridClock};
use madbus::sim::{
    BusArrival, BusPosition, DWELL_FIXED_S, DWELL_PER_ALIGHTING_S, DoorStatus, EntityType, Records,
    SimConfig, World,
};
use madbus::time::Millis;
use sha2::{Digest, Sha256};

/// Monday 2026-11-23 at 03:00 Madrid time (02:00 UTC): a whole service day follows.
const MONDAY_0300: &str = "2026-11-23T02:00:00Z";

fn at(s: &str) -> Millis {
    Millis::parse(s).unwrap()
}

fn run(net: Network, config: SimConfig, start: Millis, seconds: i64) -> (World, Records) {
    let mut world = World::new(Arc::new(net), config, start);
    let mut all = Records::default();
    for _ in 0..seconds * 1000 / config.tick_ms {
        world.step_into(&mut all);
    }
    (world, all)
}

fn original() -> Network {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/lines-original-format.yaml"
    );
    madbus::network::load_file(std::path::Path::new(path))
        .unwrap()
        .network
}

struct Day {
    net: Arc<Network>,
    rec: Records,
    /// Per stop: (time, count, totals) at every people record.
    samples: Vec<Vec<(Millis, u32, madbus::sim::StopTotals)>>,
}

/// One simulated weekday of the default network, shared by the tests below.
static DAY: LazyLock<Day> = LazyLock::new(|| {
    let config = SimConfig::default();
    let mut world = World::new(
        Arc::new(Network::default_network()),
        config,
        at(MONDAY_0300),
    );
    let net = world.network().clone();
    let mut rec = Records::default();
    let mut samples = vec![Vec::new(); net.stops.len()];
    for _ in 0..86_400 {
        let before = rec.people.len();
        world.step_into(&mut rec);
        for p in &rec.people[before..] {
            let i = net.stop_index(p.stop_id.as_str()).unwrap();
            samples[i].push((p.time, p.count, world.stop_totals(i)));
        }
    }
    Day { net, rec, samples }
});

fn local_hour(clock: &mut MadridClock, t: Millis) -> f64 {
    clock.local(t).hour
}

fn by<T: Clone>(items: &[T], key: impl Fn(&T) -> String) -> HashMap<String, Vec<T>> {
    let mut map: HashMap<String, Vec<T>> = HashMap::new();
    for it in items {
        map.entry(key(it)).or_default().push(it.clone());
    }
    map
}

#[test]
fn day_lines_sleep_and_the_night_line_runs() {
    let day = &*DAY;
    let mut clock = MadridClock::default();
    let night = |clock: &mut MadridClock, t| {
        let h = local_hour(clock, t);
        (0.5..5.5).contains(&h)
    };
    let mut night_visits = 0;
    for p in &day.rec.positions {
        if night(&mut clock, p.time) && p.line_id.as_str() != "N1" {
            assert!(!p.in_service, "{} in service at {}", p.bus_id, p.time);
        }
    }
    for a in &day.rec.arrivals {
        if night(&mut clock, a.time) {
            assert_eq!(
                a.line_id.as_str(),
                "N1",
                "a day line served a stop at {}",
                a.time
            );
            night_visits += 1;
        }
    }
    assert!(
        night_visits > 50,
        "the night line made {night_visits} stop visits"
    );
    // Stop visits per hour: the afternoon peak has many more than the small hours.
    let visits = |from: f64, to: f64, clock: &mut MadridClock| {
        (day.rec.arrivals.iter())
            .filter(|a| (from..to).contains(&local_hour(clock, a.time)))
            .count()
    };
    let (peak, small) = (visits(17.0, 18.0, &mut clock), visits(2.0, 3.0, &mut clock));
    assert!(peak > 8 * small, "17:00 had {peak} visits, 02:00 {small}");
}

#[test]
fn peak_headways_follow_the_timetable() {
    let day = &*DAY;
    let net = &day.net;
    let mut clock = MadridClock::default();
    for (l, line) in net
        .lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.id.as_str() != "N1")
    {
        let mid = net.stops[line.stops[line.stops.len() / 2]].id.clone();
        let mut times: Vec<Millis> = (day.rec.arrivals.iter())
            .filter(|a| a.line_id == line.id && a.stop_id == mid && a.direction == 0)
            .filter(|a| (7.5..9.5).contains(&local_hour(&mut clock, a.time)))
            .map(|a| a.time)
            .collect();
        times.sort();
        let gaps: Vec<f64> = times
            .windows(2)
            .map(|w| (w[1].0 - w[0].0) as f64 / 60_000.0)
            .collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let planned = f64::from(
            madbus::network::Timetable::headway_at(
                line.timetable.as_ref().unwrap(),
                madbus::network::DayType::Weekday,
                8 * 3600 + 1800,
            )
            .unwrap(),
        ) / 60.0;
        assert!(
            (mean / planned - 1.0).abs() <= 0.25,
            "line {} (#{l}) ran every {mean:.1} min at {mid} in the peak, planned {planned}",
            line.id
        );
    }
}

#[test]
fn buses_leave_terminals_by_the_timetable() {
    let day = &*DAY;
    let (mut on_time, mut late) = (0, 0);
    for list in by(&day.rec.arrivals, |a| a.bus_id.to_string()).values() {
        for (i, a) in list.iter().enumerate() {
            let Some(trip) = a.trip_id.as_deref().and_then(TripKey::parse) else {
                continue;
            };
            let line = day.net.line(&trip.line_id).unwrap();
            let origin = if trip.end == 0 {
                line.stops[0]
            } else {
                *line.stops.last().unwrap()
            };
            if a.stop_id != day.net.stops[origin].id || a.direction != trip.end {
                continue;
            }
            // The trip's first stop: never before its time.
            let scheduled = trip.departure();
            let delay = a.time.0 - scheduled.0;
            assert_eq!(a.delay_s, Some(((delay as f64) / 1000.0).round() as i32));
            assert!(
                delay >= 0,
                "{} left {} early on {}",
                a.bus_id,
                -delay,
                trip.line_id
            );
            if delay <= 1_000 {
                on_time += 1;
                continue;
            }
            late += 1;
            // Late only after a late arrival: the previous trip ended less than the
            // minimum layover (plus the dwell) before the scheduled time.
            let min_layover = i64::from(line.timetable.as_ref().unwrap().min_layover_s) * 1000;
            let prev = &list[i - 1];
            let ready = prev.time.0
                + ((DWELL_FIXED_S + DWELL_PER_ALIGHTING_S * f64::from(prev.alighted)) * 1000.0)
                    as i64
                + min_layover;
            assert!(
                ready >= scheduled.0 && (a.time.0 - ready).abs() <= 1_000,
                "{} left {} ms late on {} though it was ready at {}",
                a.bus_id,
                delay,
                a.trip_id.as_deref().unwrap(),
                Millis(ready)
            );
        }
    }
    assert!(
        on_time > 1_000 && on_time > 4 * late,
        "{on_time} on time, {late} late"
    );
}

#[test]
fn buses_of_a_line_do_not_travel_in_pairs() {
    let day = &*DAY;
    let block_ms = 3 * 3_600_000;
    for (line, list) in by(&day.rec.positions, |p| p.line_id.to_string()) {
        // (block, bus a, bus b) -> samples within 100 m; (block) -> samples.
        let mut close: HashMap<(i64, String, String), u32> = HashMap::new();
        let mut samples: HashMap<i64, u32> = HashMap::new();
        for (t, at_t) in by(&list, |p| p.time.0.to_string()) {
            let t: i64 = t.parse().unwrap();
            let block = t / block_ms;
            *samples.entry(block).or_default() += 1;
            let moving: Vec<&BusPosition> =
                at_t.iter().filter(|p| p.in_service && !p.at_stop).collect();
            for (i, a) in moving.iter().enumerate() {
                for b in &moving[i + 1..] {
                    let d = madbus::network::geo::haversine_m(
                        madbus::network::LatLon::new(a.latitude, a.longitude),
                        madbus::network::LatLon::new(b.latitude, b.longitude),
                    );
                    if a.direction == b.direction && d < 100.0 {
                        let key = (block, a.bus_id.to_string(), b.bus_id.to_string());
                        *close.entry(key).or_default() += 1;
                    }
                }
            }
        }
        for ((block, a, b), n) in close {
            let share = f64::from(n) / f64::from(samples[&block]);
            assert!(
                share <= 0.10,
                "line {line}: {a} and {b} within 100 m for {:.0} % of block {block}",
                share * 100.0
            );
        }
    }
}

#[test]
fn people_are_conserved_and_queues_stay_plausible() {
    let day = &*DAY;
    let net = &day.net;
    let mut boarded: Vec<Vec<(Millis, u32)>> = vec![Vec::new(); net.stops.len()];
    for a in &day.rec.arrivals {
        boarded[net.stop_index(a.stop_id.as_str()).unwrap()].push((a.time, a.boarded));
    }
    let mut gave_up = 0;
    let mean_patience_min = PATIENCE_SCALE_S / 60.0 * 0.893; // Γ(1 + 1/3)
    for (i, list) in day.samples.iter().enumerate() {
        let stop = &net.stops[i];
        for w in list.windows(2) {
            let (a, b) = (&w[0].2, &w[1].2);
            let gone: u64 = (boarded[i].iter())
                .filter(|(t, _)| *t > w[0].0 && *t <= w[1].0)
                .map(|(_, n)| u64::from(*n))
                .sum();
            assert_eq!(b.boarded - a.boarded, gone, "stop {}", stop.id);
            assert_eq!(
                i64::from(w[1].1) - i64::from(w[0].1),
                (b.arrived - a.arrived) as i64 - gone as i64 - (b.gave_up - a.gave_up) as i64,
                "stop {} between {} and {}",
                stop.id,
                w[0].0,
                w[1].0
            );
        }
        gave_up += list.last().unwrap().2.gave_up;
        // Even with no bus at all, a queue cannot outgrow the peak arrivals over a mean
        // patience (with room for Poisson noise).
        let bound = stop.base_arrival_rate * profile::MAX_DEMAND * mean_patience_min * 1.5 + 15.0;
        let worst = list.iter().map(|s| s.1).max().unwrap();
        assert!(
            f64::from(worst) <= bound,
            "stop {} had {worst} waiting, over the bound {bound:.0}",
            stop.id
        );
    }
    assert!(gave_up > 0, "nobody ever gave up");
    // The breakdown adds up.
    for p in &day.rec.people {
        assert_eq!(p.waiting.iter().map(|w| w.count).sum::<u32>(), p.count);
    }
    let given_up: u32 = day.rec.people.iter().map(|p| p.gave_up).sum();
    let boarded_total: u64 = day
        .samples
        .iter()
        .map(|s| s.last().unwrap().2.boarded)
        .sum();
    assert!(
        f64::from(given_up) < 0.1 * boarded_total as f64,
        "{given_up} gave up, {boarded_total} boarded"
    );
}

#[test]
fn doors_co2_and_layovers() {
    let day = &*DAY;
    let positions: HashMap<(String, Millis), &BusPosition> = (day.rec.positions.iter())
        .map(|p| ((p.bus_id.to_string(), p.time), p))
        .collect();
    let mut pairs = Vec::new();
    for s in day
        .rec
        .sensors
        .iter()
        .filter(|s| s.entity_type == EntityType::Bus)
    {
        let p = positions[&(s.entity_id.to_string(), s.time)];
        assert_eq!(s.door_status == Some(DoorStatus::Open), p.at_stop);
        if p.in_service {
            pairs.push((f64::from(p.passenger_count), s.co2_level.unwrap()));
        } else {
            assert_eq!(p.passenger_count, 0);
            assert!(!p.at_stop);
        }
    }
    let r = pearson(&pairs);
    assert!(r > 0.6, "CO2 and passengers correlate only {r:.2}");
    // Resting at a terminal: at the stop with the doors open, the old direction, the
    // terminal as next stop, and the trip it will run.
    let layovers: Vec<&BusPosition> = (day.rec.positions.iter())
        .filter(|p| p.at_stop && p.distance_to_next_stop_m == 0.0 && p.speed_kmh == 0.0)
        .filter(|p| {
            let line = day.net.line(p.line_id.as_str()).unwrap();
            let last = day.net.stops[*line.stops.last().unwrap()].id.clone();
            p.next_stop_id == last
                && p.direction == 0
                && p.trip_id.as_deref().is_some_and(|t| t.contains("_1_"))
        })
        .collect();
    assert!(layovers.len() > 100, "{} layover samples", layovers.len());
}

#[test]
fn movement_accelerates_brakes_and_varies() {
    let day = &*DAY;
    for list in by(&day.rec.positions, |p| p.bus_id.to_string())
        .values()
        .take(20)
    {
        for w in list.windows(2) {
            // 5 s apart: no more than the bus can brake or accelerate. A bus that stops
            // inside its last one-second step reads 0 from that step on: allow one step.
            let dv = (w[1].speed_kmh - w[0].speed_kmh) / 3.6 / 5.0;
            let slack = 6.0 / 5.0;
            assert!(
                dv <= ACCEL_MPS2 * slack && dv >= -BRAKE_MPS2 * slack,
                "{} changed speed by {dv:.2} m/s²",
                w[0].bus_id
            );
        }
    }
    let moving: Vec<f64> = (day.rec.positions.iter())
        .filter(|p| p.in_service && !p.at_stop && p.speed_kmh > 0.0)
        .map(|p| p.speed_kmh)
        .collect();
    let slow = moving.iter().filter(|v| **v < 8.0).count() as f64 / moving.len() as f64;
    assert!(
        slow > 0.05,
        "only {:.1} % of moving samples under 8 km/h",
        slow * 100.0
    );
    let mean = moving.iter().sum::<f64>() / moving.len() as f64;
    assert!(
        (12.0..28.0).contains(&mean),
        "mean moving speed {mean:.1} km/h"
    );
}

#[test]
fn weather_is_weather_and_cabins_are_comfortable() {
    // A week at one-minute steps: fronts and moist spells need days.
    let config = SimConfig {
        tick_ms: 60_000,
        position_every_ms: 60_000,
        sample_every_ms: 60_000,
        ..SimConfig::default()
    };
    let (_, rec) = run(
        Network::default_network(),
        config,
        at(MONDAY_0300),
        7 * 86_400,
    );
    let stops: Vec<(f64, f64)> = (rec.sensors.iter())
        .filter(|s| s.entity_type == EntityType::Stop)
        .map(|s| (s.temperature, s.humidity))
        .collect();
    let r = pearson(&stops);
    assert!(r.abs() < 0.95, "humidity follows temperature: r = {r:.3}");
    assert!(
        r < -0.2,
        "humidity should still fall as it warms: r = {r:.3}"
    );
    // Stops differ at one moment by more than a degree somewhere.
    let spread = by(
        &rec.sensors
            .iter()
            .filter(|s| s.entity_type == EntityType::Stop)
            .cloned()
            .collect::<Vec<_>>(),
        |s| s.time.0.to_string(),
    )
    .values()
    .map(|v| {
        let t: Vec<f64> = v.iter().map(|s| s.temperature).collect();
        t.iter().cloned().fold(f64::MIN, f64::max) - t.iter().cloned().fold(f64::MAX, f64::min)
    })
    .sum::<f64>()
        / (7.0 * 1440.0);
    assert!(
        spread > 1.0,
        "stops read within {spread:.2} °C of each other"
    );
}

#[test]
fn cabins_are_heated_in_service() {
    let day = &*DAY;
    let positions: HashMap<(String, Millis), &BusPosition> = (day.rec.positions.iter())
        .map(|p| ((p.bus_id.to_string(), p.time), p))
        .collect();
    let cabin: Vec<f64> = (day.rec.sensors.iter())
        .filter(|s| s.entity_type == EntityType::Bus)
        .filter(|s| {
            positions
                .get(&(s.entity_id.to_string(), s.time))
                .is_some_and(|p| p.in_service && !p.at_stop)
        })
        .map(|s| s.temperature)
        .collect();
    let comfortable = cabin.iter().filter(|t| (17.0..=27.0).contains(*t)).count() as f64;
    assert!(
        comfortable / cabin.len() as f64 > 0.95,
        "{:.1} % of cabin readings in service are comfortable",
        100.0 * comfortable / cabin.len() as f64
    );
}

#[test]
fn the_original_file_runs_all_day() {
    let (world, rec) = run(original(), SimConfig::default(), at(MONDAY_0300), 4 * 3_600);
    let net = world.network().clone();
    let arrivals = by(&rec.arrivals, |a| a.bus_id.to_string());
    assert_eq!(arrivals.len(), 24, "every bus serves stops, at night too");
    assert!(rec.positions.iter().all(|p| p.in_service));
    for list in arrivals.values() {
        assert_round_trips(&net, list);
        assert!(list.iter().skip(20).all(|a| a.trip_id.is_some()));
    }
}

/// A bus's arrivals go round its line: direction 0 serves every stop first to last,
/// direction 1 last to first, turning round at each terminal.
fn assert_round_trips(net: &Network, arrivals: &[BusArrival]) {
    let line = net.line(arrivals[0].line_id.as_str()).unwrap();
    let order: Vec<&str> = line
        .stops
        .iter()
        .map(|&s| net.stops[s].id.as_str())
        .collect();
    let n = order.len();
    let index = |a: &BusArrival| order.iter().position(|s| *s == a.stop_id.as_str()).unwrap();
    for pair in arrivals.windows(2) {
        let (k, d) = (index(&pair[0]), pair[0].direction);
        let expected = match (d, k) {
            (0, k) if k + 1 < n => (k + 1, 0),
            (0, _) => (n - 1, 1),
            (_, 0) => (0, 0),
            (_, k) => (k - 1, 1),
        };
        assert_eq!((index(&pair[1]), pair[1].direction), expected, "{:?}", pair);
        assert!(pair[1].time > pair[0].time);
    }
}

#[test]
fn several_stops_in_one_step_and_nothing_lost() {
    let coarse = SimConfig {
        tick_ms: 120_000,
        position_every_ms: 120_000,
        sample_every_ms: 120_000,
        ..SimConfig::default()
    };
    let (_, rec) = run(original(), coarse, at(MONDAY_0300), 86_400);
    let (_, fine) = run(original(), SimConfig::default(), at(MONDAY_0300), 86_400);
    let mut multi = 0;
    for list in by(&rec.arrivals, |a| a.bus_id.to_string()).values() {
        multi += list
            .windows(2)
            .filter(|w| (w[0].time.0 - 1) / 120_000 == (w[1].time.0 - 1) / 120_000)
            .count();
    }
    assert!(multi > 100, "only {multi} steps served two stops or more");
    let (a, b) = (rec.arrivals.len() as f64, fine.arrivals.len() as f64);
    assert!(
        (a / b - 1.0).abs() < 0.05,
        "coarse steps served {a} stops, fine ones {b}"
    );
}

fn pearson(pairs: &[(f64, f64)]) -> f64 {
    let n = pairs.len() as f64;
    let (mx, my) = (
        pairs.iter().map(|p| p.0).sum::<f64>() / n,
        pairs.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let cov: f64 = pairs.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let vx: f64 = pairs.iter().map(|(x, _)| (x - mx).powi(2)).sum();
    let vy: f64 = pairs.iter().map(|(_, y)| (y - my).powi(2)).sum();
    cov / (vx * vy).sqrt()
}

/// A hash of the first `n` records of a world (all four series, in step order).
fn fingerprint(seed: u64, n: usize) -> String {
    let config = SimConfig {
        seed,
        ..SimConfig::default()
    };
    // 08:00 Madrid: the peak service runs.
    let mut world = World::new(
        Arc::new(Network::default_network()),
        config,
        at("2026-11-23T07:00:00Z"),
    );
    let mut hasher = Sha256::new();
    let mut seen = 0;
    while seen < n {
        let r = world.step();
        let items = r
            .positions
            .iter()
            .map(|p| format!("{p:?}"))
            .chain(r.people.iter().map(|p| format!("{p:?}")))
            .chain(r.sensors.iter().map(|p| format!("{p:?}")))
            .chain(r.arrivals.iter().map(|p| format!("{p:?}")));
        for s in items.take(n - seen) {
            hasher.update(s.as_bytes());
            seen += 1;
        }
    }
    format!("{:x}", hasher.finalize())
}

/// The golden hash of the default network's first records: a change to the simulation
/// that changes it must be meant (then update it here, and say why in the commit).
const GOLDEN: &str = "97a30a8cebf33806b6586ebb371a7aec5f8b3592d5d224e83f1eeddc4357f627";

#[test]
fn determinism_and_the_golden_records() {
    let a = fingerprint(42, 20_000);
    assert_eq!(a, fingerprint(42, 20_000));
    assert_ne!(a, fingerprint(43, 20_000));
    assert_eq!(a, GOLDEN, "the simulation's records changed");
}

#[test]
fn a_saved_world_resumes_exactly() {
    let net = Arc::new(Network::default_network());
    let mut a = World::new(
        Arc::clone(&net),
        SimConfig::default(),
        at("2026-11-23T06:30:00Z"),
    );
    for _ in 0..3_000 {
        a.step();
    }
    let json = serde_json::to_string(&a.save()).unwrap();
    let mut b = World::resume(
        Arc::clone(&net),
        SimConfig::default(),
        serde_json::from_str(&json).unwrap(),
    )
    .unwrap();
    for _ in 0..3_000 {
        assert_eq!(a.step(), b.step());
    }
    assert!(World::resume(Arc::new(original()), SimConfig::default(), a.save()).is_err());
}
