//! What the outward interfaces show: the stored records with the API's field names and
//! RFC 3339 times. REST, WebSocket and MCP all serialise these same views.

use serde::Serialize;

use crate::sim::{BusArrival, BusPosition, PeopleCount, SensorReading};

fn round(x: f64, places: i32) -> f64 {
    let k = 10f64.powi(places);
    (x * k).round() / k
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct BusPositionView {
    pub bus_id: String,
    pub line_id: String,
    pub time: String,
    pub latitude: f64,
    pub longitude: f64,
    /// km/h.
    pub speed: f64,
    pub direction: u8,
    pub passenger_count: u32,
    pub next_stop_id: String,
    /// Metres.
    pub distance_to_next_stop: f64,
    pub at_stop: bool,
}

impl From<&BusPosition> for BusPositionView {
    fn from(p: &BusPosition) -> Self {
        Self {
            bus_id: p.bus_id.to_string(),
            line_id: p.line_id.to_string(),
            time: p.time.to_rfc3339(),
            latitude: round(p.latitude, 7),
            longitude: round(p.longitude, 7),
            speed: round(p.speed_kmh, 2),
            direction: p.direction,
            passenger_count: p.passenger_count,
            next_stop_id: p.next_stop_id.to_string(),
            distance_to_next_stop: round(p.distance_to_next_stop_m, 2),
            at_stop: p.at_stop,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct PeopleCountView {
    pub stop_id: String,
    pub time: String,
    pub count: u32,
    pub line_ids: Vec<String>,
}

impl From<&PeopleCount> for PeopleCountView {
    fn from(p: &PeopleCount) -> Self {
        Self {
            stop_id: p.stop_id.to_string(),
            time: p.time.to_rfc3339(),
            count: p.count,
            line_ids: p.line_ids.iter().map(|l| l.to_string()).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct SensorView {
    pub entity_type: &'static str,
    pub entity_id: String,
    pub time: String,
    /// °C.
    pub temperature: f64,
    /// %.
    pub humidity: f64,
    /// ppm; buses only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub co2_level: Option<f64>,
    /// `open` or `closed`; buses only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub door_status: Option<&'static str>,
}

impl From<&SensorReading> for SensorView {
    fn from(s: &SensorReading) -> Self {
        Self {
            entity_type: s.entity_type.as_str(),
            entity_id: s.entity_id.to_string(),
            time: s.time.to_rfc3339(),
            temperature: s.temperature,
            humidity: s.humidity,
            co2_level: s.co2_level,
            door_status: s.door_status.map(|d| d.as_str()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct BusArrivalView {
    pub bus_id: String,
    pub line_id: String,
    pub stop_id: String,
    pub time: String,
    pub direction: u8,
    pub boarded: u32,
    pub alighted: u32,
    pub passengers_after: u32,
    pub waiting_after: u32,
}

impl From<&BusArrival> for BusArrivalView {
    fn from(a: &BusArrival) -> Self {
        Self {
            bus_id: a.bus_id.to_string(),
            line_id: a.line_id.to_string(),
            stop_id: a.stop_id.to_string(),
            time: a.time.to_rfc3339(),
            direction: a.direction,
            boarded: a.boarded,
            alighted: a.alighted,
            passengers_after: a.passengers_after,
            waiting_after: a.waiting_after,
        }
    }
}

/// Every bus of a line at one time.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct LineSnapshotView {
    pub line_id: String,
    pub time: String,
    pub buses: Vec<BusPositionView>,
}

/// One page of a range query.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct PageView<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A single row (latest, as-of) or a page (range).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Answer<T> {
    One(T),
    Page(PageView<T>),
}
