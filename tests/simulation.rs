//! The world over a simulated day on the default network: geometry, coherence of people,
//! loads, doors and CO2, and determinism.

use std::collections::HashMap;
use std::sync::Arc;

use madbus::network::Network;
use madbus::sim::profile::{self, MadridClock};
use madbus::sim::{
    BusArrival, BusPosition, DWELL_FIXED_S, DWELL_PER_ALIGHTING_S, DoorStatus, MAX_LAYOVER_S,
    MIN_LAYOVER_S, Records, SensorReading, SimConfig, World,
};
use madbus::time::Millis;
use sha2::{Digest, Sha256};

/// Monday 2026-11-23 at 06:00 Madrid time (05:00 UTC).
const START: &str = "2026-11-23T05:00:00Z";

fn start() -> Millis {
    Millis::parse(START).unwrap()
}

fn run(config: SimConfig, seconds: i64) -> (World, Records) {
    let mut world = World::new(Arc::new(Network::default_network()), config, start());
    let mut all = Records::default();
    for _ in 0..seconds * 1000 / config.tick_ms {
        world.step_into(&mut all);
    }
    (world, all)
}

fn by_bus<T: Clone>(items: &[T], id: impl Fn(&T) -> &str) -> HashMap<String, Vec<T>> {
    let mut map: HashMap<String, Vec<T>> = HashMap::new();
    for it in items {
        map.entry(id(it).to_string()).or_default().push(it.clone());
    }
    map
}

/// Checks that a bus's arrivals go round its line: direction 0 serves every stop first to
/// last, direction 1 last to first, and each terminal turns the bus round. Returns the
/// number of complete round trips.
fn assert_round_trips(net: &Network, arrivals: &[BusArrival]) -> usize {
    let line = net.line(arrivals[0].line_id.as_str()).unwrap();
    let order: Vec<&str> = line
        .stops
        .iter()
        .map(|&s| net.stops[s].id.as_str())
        .collect();
    let n = order.len();
    let index = |a: &BusArrival| order.iter().position(|s| *s == a.stop_id.as_str()).unwrap();
    let mut trips = 0;
    for pair in arrivals.windows(2) {
        let (k, d) = (index(&pair[0]), pair[0].direction);
        let expected = match (d, k) {
            (0, k) if k + 1 < n => (k + 1, 0),
            (0, _) => (n - 1, 1),
            (_, 0) => (0, 0),
            (_, k) => (k - 1, 1),
        };
        assert_eq!(
            (index(&pair[1]), pair[1].direction),
            expected,
            "bus {} went from {} (dir {d}) to {} (dir {}) at {}",
            pair[0].bus_id,
            order[k],
            pair[1].stop_id,
            pair[1].direction,
            pair[1].time
        );
        assert!(pair[1].time > pair[0].time);
        if expected.1 != d {
            // Turning round: everyone got off, then the bus laid over before boarding again.
            assert_eq!(pair[0].passengers_after, 0);
            assert_eq!(pair[0].boarded, 0);
            let dwell_s = DWELL_FIXED_S + DWELL_PER_ALIGHTING_S * f64::from(pair[0].alighted);
            let layover_s = (pair[1].time.0 - pair[0].time.0) as f64 / 1000.0 - dwell_s;
            assert!(
                (MIN_LAYOVER_S - 0.01..=MAX_LAYOVER_S + 0.01).contains(&layover_s),
                "bus {} laid over {layover_s} s at {}",
                pair[0].bus_id,
                pair[0].stop_id
            );
        }
        if (index(&pair[1]), pair[1].direction) == (0, 0) {
            trips += 1;
        }
    }
    trips
}

#[test]
fn geometry_round_trips_terminals_and_polyline() {
    let (world, rec) = run(SimConfig::default(), 86_400);
    let net = world.network().clone();
    let arrivals = by_bus(&rec.arrivals, |a| a.bus_id.as_str());
    assert_eq!(arrivals.len(), 24, "every bus serves stops");
    for (bus, list) in &arrivals {
        let trips = assert_round_trips(&net, list);
        assert!(
            trips >= 5,
            "bus {bus} made only {trips} round trips in a day"
        );
    }
    // Every position lies on the line's path; the direction only flips at a terminal.
    for (bus, list) in by_bus(&rec.positions, |p| p.bus_id.as_str()) {
        let line = net.line(list[0].line_id.as_str()).unwrap();
        let ends = [line.stops[0], *line.stops.last().unwrap()].map(|s| net.stops[s].id.clone());
        for p in &list {
            let off = line
                .route
                .distance_to_m(madbus::network::LatLon::new(p.latitude, p.longitude));
            assert!(off < 1.0, "bus {bus} is {off} m off its line at {}", p.time);
        }
        for w in list.windows(2) {
            if w[0].direction != w[1].direction {
                assert!(
                    ends.contains(&w[1].next_stop_id),
                    "bus {bus} turned at {}",
                    w[1].next_stop_id
                );
                assert_eq!(w[1].distance_to_next_stop_m, 0.0);
            }
        }
    }
}

#[test]
fn several_stops_in_one_step_and_nothing_lost() {
    // Two-minute steps: a bus passes several stops within a step, and the time left after
    // each dwell carries on, so it covers the same ground as with one-second steps.
    let coarse = SimConfig {
        tick_ms: 120_000,
        position_every_ms: 120_000,
        sample_every_ms: 120_000,
        ..SimConfig::default()
    };
    let (world, rec) = run(coarse, 86_400);
    let (_, fine) = run(SimConfig::default(), 86_400);
    let net = world.network().clone();
    let mut multi = 0;
    for list in by_bus(&rec.arrivals, |a| a.bus_id.as_str()).values() {
        assert_round_trips(&net, list);
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

#[test]
fn coherence_over_a_day() {
    let config = SimConfig::default();
    let mut world = World::new(Arc::new(Network::default_network()), config, start());
    let net = world.network().clone();
    let mut rec = Records::default();
    // Per stop: (time, count, arrived_total) at every people record.
    let mut samples: Vec<Vec<(Millis, u32, u64)>> = vec![Vec::new(); net.stops.len()];
    for _ in 0..86_400 {
        let before = rec.people.len();
        world.step_into(&mut rec);
        for p in &rec.people[before..] {
            let i = net.stop_index(p.stop_id.as_str()).unwrap();
            samples[i].push((p.time, p.count, world.stop_totals(i).1));
        }
    }

    // People: arrived - boarded = change of the count, between every two records.
    let mut boarded: Vec<Vec<(Millis, u32)>> = vec![Vec::new(); net.stops.len()];
    for a in &rec.arrivals {
        boarded[net.stop_index(a.stop_id.as_str()).unwrap()].push((a.time, a.boarded));
    }
    let mut clock = MadridClock::default();
    for (i, list) in samples.iter().enumerate() {
        let stop = &net.stops[i];
        for w in list.windows(2) {
            let arrived = (w[1].2 - w[0].2) as i64;
            let gone: i64 = boarded[i]
                .iter()
                .filter(|(t, _)| *t > w[0].0 && *t <= w[1].0)
                .map(|(_, n)| i64::from(*n))
                .sum();
            assert_eq!(
                i64::from(w[1].1) - i64::from(w[0].1),
                arrived - gone,
                "stop {} between {} and {}",
                stop.id,
                w[0].0,
                w[1].0
            );
        }
        // Bounded: never more than a worst-case round trip of peak arrivals on each of the
        // line's buses (a stop is served at least once per round trip per bus unless full),
        // and at night the queue is cleared down to what one headway brings.
        let line = net.line(stop.line_ids[0].as_str()).unwrap();
        let slowest_mps = line.cruise_speed_kmh / 3.6 * profile::MIN_TRAFFIC * 0.85 * 0.7;
        let round_trip_min = (2.0 * line.length_m() / slowest_mps
            + 2.0 * MAX_LAYOVER_S
            + 2.0 * line.stops.len() as f64 * 60.0)
            / 60.0;
        let bound = stop.base_arrival_rate * profile::MAX_DEMAND * round_trip_min * 2.0;
        let night_bound = stop.base_arrival_rate * 0.08 * round_trip_min + 10.0;
        for &(t, count, _) in list {
            assert!(
                f64::from(count) <= bound,
                "stop {} has {count} waiting at {t}, over the bound {bound:.0}",
                stop.id
            );
            let local = clock.local(t);
            if (3.0..5.0).contains(&local.hour) {
                assert!(
                    f64::from(count) <= night_bound,
                    "stop {} still has {count} waiting at {t} (night bound {night_bound:.0})",
                    stop.id
                );
            }
        }
    }

    // Buses carry people all day: from 20 minutes in, and in every hour from 07 to 22.
    let mean_load = |from: i64, to: i64| {
        let v: Vec<u32> = rec
            .positions
            .iter()
            .filter(|p| p.time.0 >= start().0 + from * 60_000 && p.time.0 < start().0 + to * 60_000)
            .map(|p| p.passenger_count)
            .collect();
        f64::from(v.iter().sum::<u32>()) / v.len() as f64
    };
    assert!(
        mean_load(20, 40) > 3.0,
        "buses empty after 20 minutes: {}",
        mean_load(20, 40)
    );
    for hour in 1..17 {
        let m = mean_load(hour * 60, hour * 60 + 60);
        assert!(m > 5.0, "mean load {m:.1} in local hour {}", hour + 6);
    }
    let peak = mean_load(2 * 60, 3 * 60); // 08:00-09:00 local
    let late = mean_load(17 * 60, 18 * 60); // 23:00-24:00 local
    assert!(
        peak > 2.0 * late,
        "peak {peak:.1} vs late evening {late:.1}"
    );

    // Doors are open exactly while a bus is at a stop; CO2 follows the load.
    let positions: HashMap<(String, Millis), &BusPosition> = rec
        .positions
        .iter()
        .map(|p| ((p.bus_id.to_string(), p.time), p))
        .collect();
    let bus_sensors: Vec<&SensorReading> = rec
        .sensors
        .iter()
        .filter(|s| s.co2_level.is_some())
        .collect();
    let (mut open, mut pairs) = (0, Vec::new());
    for s in &bus_sensors {
        let p = positions[&(s.entity_id.to_string(), s.time)];
        assert_eq!(
            s.door_status == Some(DoorStatus::Open),
            p.at_stop,
            "{} at {}",
            s.entity_id,
            s.time
        );
        open += usize::from(p.at_stop);
        pairs.push((f64::from(p.passenger_count), s.co2_level.unwrap()));
    }
    assert!(open > 100, "doors were open in only {open} samples");
    let r = pearson(&pairs);
    assert!(r > 0.6, "CO2 and passengers correlate only {r:.2}");
    let co2_of = |lo: f64, hi: f64| {
        let v: Vec<f64> = pairs
            .iter()
            .filter(|(n, _)| (lo..hi).contains(n))
            .map(|p| p.1)
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    assert!(co2_of(40.0, 100.0) > co2_of(0.0, 5.0) + 500.0);
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
    let mut world = World::new(Arc::new(Network::default_network()), config, start());
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

#[test]
fn determinism() {
    assert_eq!(fingerprint(42, 10_000), fingerprint(42, 10_000));
    assert_ne!(fingerprint(42, 10_000), fingerprint(43, 10_000));
}

#[test]
fn a_saved_world_resumes_exactly() {
    let net = Arc::new(Network::default_network());
    let mut a = World::new(Arc::clone(&net), SimConfig::default(), start());
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
    // A state from another network is refused.
    let other = madbus::network::parse_str(
        "lines:\n  - line_id: Z\n    name: z\n    stops:\n      - { stop_id: A, name: a, latitude: 40.4, longitude: -3.7, is_terminal: true, base_arrival_rate: 1 }\n      - { stop_id: B, name: b, latitude: 40.41, longitude: -3.7, is_terminal: true, base_arrival_rate: 1 }\n    buses:\n      - { bus_id: Q, capacity: 10, initial_position: 0 }\n",
        "t.yaml",
    )
    .unwrap()
    .network;
    assert!(World::resume(Arc::new(other), SimConfig::default(), a.save()).is_err());
}
