//! Network metadata views: lines (with GeoJSON geometry), stops, buses.

use serde::Serialize;
use serde_json::{Value, json};

use super::arrivals::PredictedArrival;
use crate::network::{Bus, Line, Network};

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct LineSummary {
    pub line_id: String,
    pub name: String,
    pub color: Option<String>,
    /// One direction, first stop to last, in metres.
    pub length_m: f64,
    pub stop_ids: Vec<String>,
    pub bus_ids: Vec<String>,
    /// The timetable's headway now, in seconds (null: the line is not running now).
    pub headway_s: Option<u32>,
}

impl LineSummary {
    /// The line as of `now` (the simulated clock).
    pub fn of(net: &Network, l: &Line, now: crate::time::Millis) -> Self {
        Self {
            line_id: l.id.to_string(),
            name: l.name.clone(),
            color: l.color.clone(),
            length_m: l.length_m().round(),
            headway_s: crate::sim::schedule::timetable_of(l).headway_now(now),
            stop_ids: l
                .stops
                .iter()
                .map(|&s| net.stops[s].id.to_string())
                .collect(),
            bus_ids: l
                .buses
                .iter()
                .map(|&b| net.buses[b].id.to_string())
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct StopOnLine {
    pub stop_id: String,
    pub name: String,
    pub latitude: f64,
    pub longitude: f64,
    pub is_terminal: bool,
    /// Distance from the line's first stop along its route, in metres.
    pub distance_along_m: f64,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct LineDetail {
    pub line_id: String,
    pub name: String,
    pub color: Option<String>,
    pub length_m: f64,
    pub cruise_speed_kmh: f64,
    pub stops: Vec<StopOnLine>,
    pub buses: Vec<BusSummary>,
    /// A GeoJSON Feature: the route as a LineString ([longitude, latitude] pairs).
    pub geometry: Value,
}

impl LineDetail {
    pub fn of(net: &Network, l: &Line) -> Self {
        let start = l.stop_offsets_m[0];
        Self {
            line_id: l.id.to_string(),
            name: l.name.clone(),
            color: l.color.clone(),
            length_m: l.length_m().round(),
            cruise_speed_kmh: l.cruise_speed_kmh,
            stops: l
                .stops
                .iter()
                .zip(&l.stop_offsets_m)
                .map(|(&s, off)| {
                    let stop = &net.stops[s];
                    StopOnLine {
                        stop_id: stop.id.to_string(),
                        name: stop.name.clone(),
                        latitude: stop.position.lat,
                        longitude: stop.position.lon,
                        is_terminal: stop.is_terminal,
                        distance_along_m: (off - start).round(),
                    }
                })
                .collect(),
            buses: l
                .buses
                .iter()
                .map(|&b| BusSummary::of(net, &net.buses[b]))
                .collect(),
            geometry: json!({
                "type": "Feature",
                "properties": {"line_id": l.id.as_str(), "name": l.name, "color": l.color},
                "geometry": {
                    "type": "LineString",
                    "coordinates": l.route.points().iter().map(|p| [p.lon, p.lat]).collect::<Vec<_>>(),
                },
            }),
        }
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct StopView {
    pub stop_id: String,
    pub name: String,
    pub latitude: f64,
    pub longitude: f64,
    pub is_terminal: bool,
    /// People per minute at the weekday peak.
    pub base_arrival_rate: f64,
    pub line_ids: Vec<String>,
    /// The place the stop is part of: its own id, or for stops that are one place (an
    /// interchange, the same spot under several ids) the GTFS parent station's id.
    pub place_id: String,
    pub place_name: String,
}

impl StopView {
    pub fn of(net: &Network, stop: usize) -> Self {
        let s = &net.stops[stop];
        let place = &net.places()[net.place_of(stop)];
        Self {
            place_id: place.id.clone(),
            place_name: place.name.clone(),
            stop_id: s.id.to_string(),
            name: s.name.clone(),
            latitude: s.position.lat,
            longitude: s.position.lon,
            is_terminal: s.is_terminal,
            base_arrival_rate: s.base_arrival_rate,
            line_ids: s.line_ids.iter().map(|l| l.to_string()).collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct BusSummary {
    pub bus_id: String,
    pub line_id: String,
    pub capacity: u32,
}

impl BusSummary {
    pub fn of(net: &Network, b: &Bus) -> Self {
        Self {
            bus_id: b.id.to_string(),
            line_id: net.lines[b.line].id.to_string(),
            capacity: b.capacity,
        }
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct StopArrivalsView {
    pub stop_id: String,
    /// The simulated time the predictions start from.
    pub time: String,
    pub arrivals: Vec<PredictedArrival>,
}
