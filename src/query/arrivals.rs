//! Predicted arrivals at a stop: for each bus of each line serving it, the distance along
//! the route to its next visit of the stop (turning round at a terminal if it must), over
//! its recent speed, plus the dwells and layover on the way.

use serde::Serialize;

use crate::network::{Line, Network};
use crate::sim::{BusPosition, MIN_LAYOVER_S};
use crate::time::Millis;

/// Average seconds a bus spends at each stop it passes on the way.
const AVG_DWELL_S: f64 = 20.0;
/// Below this (km/h) the reported speed says little (dwelling, starting): use the cruise.
const MIN_USEFUL_SPEED_KMH: f64 = 5.0;
/// Share of the cruise speed assumed when the bus's own speed is not useful.
const TYPICAL_SHARE_OF_CRUISE: f64 = 0.75;

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct PredictedArrival {
    pub bus_id: String,
    pub line_id: String,
    /// The direction the bus will serve the stop in.
    pub direction: u8,
    /// The terminal that direction runs to.
    pub towards_stop_id: String,
    pub eta_seconds: f64,
    pub eta: String,
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
    let mut out = Vec::new();
    for p in positions {
        let Some(line) = net.line(p.line_id.as_str()) else {
            continue;
        };
        let Some(k) = line.stops.iter().position(|&s| s == stop) else {
            continue;
        };
        let Some(j) = line
            .stops
            .iter()
            .position(|&s| net.stops[s].id == p.next_stop_id)
        else {
            continue;
        };
        let (distance, passed, turns) = route_to(line, p, j, k);
        let speed_kmh = if p.speed_kmh >= MIN_USEFUL_SPEED_KMH {
            p.speed_kmh
        } else {
            line.cruise_speed_kmh * TYPICAL_SHARE_OF_CRUISE
        };
        let mut eta_s = distance / (speed_kmh / 3.6) + passed as f64 * AVG_DWELL_S;
        if turns {
            eta_s += MIN_LAYOVER_S + AVG_DWELL_S;
        }
        let direction = if turns { 1 - p.direction } else { p.direction };
        let towards = if direction == 0 {
            *line.stops.last().expect("lines have stops")
        } else {
            line.stops[0]
        };
        out.push(PredictedArrival {
            bus_id: p.bus_id.to_string(),
            line_id: line.id.to_string(),
            direction,
            towards_stop_id: net.stops[towards].id.to_string(),
            eta_seconds: eta_s.round(),
            eta: Millis(now.0 + (eta_s * 1000.0) as i64).to_rfc3339(),
            distance: distance.round(),
        });
    }
    out.sort_by(|a, b| a.eta_seconds.total_cmp(&b.eta_seconds));
    out
}

/// Distance along the route from the bus (heading for stop index `j`) to stop index `k`,
/// the stops passed on the way, and whether it turns round at a terminal first.
fn route_to(line: &Line, p: &BusPosition, j: usize, k: usize) -> (f64, usize, bool) {
    let off = &line.stop_offsets_m;
    let last = off.len() - 1;
    let d = p.distance_to_next_stop_m;
    if p.direction == 0 {
        let pos = off[j] - d;
        if k >= j {
            (off[k] - pos, k - j, false)
        } else {
            (
                (off[last] - pos) + (off[last] - off[k]),
                (last - j) + (last - k),
                true,
            )
        }
    } else {
        let pos = off[j] + d;
        if k <= j {
            (pos - off[k], j - k, false)
        } else {
            ((pos - off[0]) + (off[k] - off[0]), j + k, true)
        }
    }
}
