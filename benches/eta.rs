//! How good the arrival predictions are: over a simulated weekday on the default network,
//! every 2 minutes every stop's predictions are taken from the buses' positions (as the
//! API makes them) and compared with when each bus really got there. Prints the mean
//! absolute error and the bias (predicted minus actual: positive = predicted too late) by
//! horizon and by hour. Run: `cargo bench --bench eta`.

use std::collections::HashMap;
use std::sync::Arc;

use madbus::network::Network;
use madbus::query::arrivals::predict;
use madbus::sim::profile::MadridClock;
use madbus::sim::{SimConfig, World};
use madbus::time::Millis;

struct Prediction {
    key: (String, String, u8),
    made: Millis,
    eta: Millis,
}

fn main() {
    let net = Arc::new(Network::default_network());
    // Monday 2026-11-23, 05:30 Madrid, for 19 hours.
    let start = Millis::parse("2026-11-23T04:30:00Z").unwrap();
    let mut world = World::new(Arc::clone(&net), SimConfig::default(), start);
    let mut actual: HashMap<(String, String, u8), Vec<Millis>> = HashMap::new();
    let mut predictions = Vec::new();
    for _ in 0..19 * 3_600 {
        let rec = world.step();
        for a in &rec.arrivals {
            let key = (a.bus_id.to_string(), a.stop_id.to_string(), a.direction);
            actual.entry(key).or_default().push(a.time);
        }
        let now = world.time();
        if now.0 % 120_000 == 0 {
            let positions = world.positions();
            for s in 0..net.stops.len() {
                for p in predict(&net, s, &positions, now) {
                    predictions.push(Prediction {
                        key: (p.bus_id, net.stops[s].id.to_string(), p.direction),
                        made: now,
                        eta: Millis::parse(&p.eta).unwrap(),
                    });
                }
            }
        }
    }
    let horizons = [(0, 5), (5, 10), (10, 20), (20, 40)];
    let mut by_horizon = vec![Vec::new(); horizons.len()];
    let mut by_hour: Vec<Vec<f64>> = vec![Vec::new(); 24];
    let mut clock = MadridClock::default();
    for p in &predictions {
        let Some(times) = actual.get(&p.key) else {
            continue;
        };
        let Some(&arrived) = times.iter().find(|t| **t >= p.made) else {
            continue;
        };
        let horizon_min = (arrived.0 - p.made.0) as f64 / 60_000.0;
        let error_s = (p.eta.0 - arrived.0) as f64 / 1000.0;
        if let Some(h) = horizons
            .iter()
            .position(|(a, b)| (f64::from(*a)..f64::from(*b)).contains(&horizon_min))
        {
            by_horizon[h].push(error_s);
            if horizon_min < 20.0 {
                by_hour[clock.local(p.made).hour as usize].push(error_s);
            }
        }
    }
    let stats = |v: &[f64]| {
        let n = v.len().max(1) as f64;
        (
            v.iter().map(|e| e.abs()).sum::<f64>() / n,
            v.iter().sum::<f64>() / n,
            v.len(),
        )
    };
    println!("horizon (min)  MAE (s)  bias (s)  predictions");
    for ((a, b), v) in horizons.iter().zip(&by_horizon) {
        let (mae, bias, n) = stats(v);
        println!("{a:>5}-{b:<5}   {mae:>7.0}  {bias:>8.0}  {n:>10}");
    }
    let all: Vec<f64> = by_horizon[..3].concat();
    let (mae, bias, n) = stats(&all);
    println!("0-20 min       {mae:>7.0}  {bias:>8.0}  {n:>10}");
    println!("\nhour (Madrid), horizons up to 20 min: MAE (s)  bias (s)");
    for (h, v) in by_hour.iter().enumerate().filter(|(_, v)| !v.is_empty()) {
        let (mae, bias, _) = stats(v);
        println!("{h:02}:00          {mae:>7.0}  {bias:>8.0}");
    }
}
