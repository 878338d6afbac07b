//! Records as the world outside the process sees them: the API's field names and RFC 3339
//! times. REST, WebSocket, MCP and the NATS live feed all carry these same views; a process
//! that receives one from the feed turns it back into its record with `TryFrom`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::network::LineId;
use crate::network::id::{IdError, check_id};
use crate::sim::{
    BusArrival, BusPosition, DoorStatus, EntityType, LineWaiting, PeopleCount, SensorReading,
};
use crate::time::Millis;

/// Why a view does not make a record (a field that no madbus would have sent).
#[derive(Debug, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ViewError {
    field: &'static str,
    reason: String,
}

fn id<K>(field: &'static str, value: &str) -> Result<crate::network::id::Id<K>, ViewError> {
    crate::network::id::Id::parse(value).map_err(|e: IdError| ViewError {
        field,
        reason: format!("{value:?} {e}"),
    })
}

fn time(value: &str) -> Result<Millis, ViewError> {
    Millis::parse(value).map_err(|e| ViewError {
        field: "time",
        reason: e.to_string(),
    })
}

fn round(x: f64, places: i32) -> f64 {
    let k = 10f64.powi(places);
    (x * k).round() / k
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// True while the doors are open at a stop (dwelling, or resting at a terminal).
    pub at_stop: bool,
    /// False while parked or driving empty between terminals.
    #[serde(default = "yes")]
    pub in_service: bool,
    /// The trip it runs, or is about to start at a terminal.
    #[serde(default)]
    pub trip_id: Option<String>,
    /// Seconds behind its schedule (negative: ahead).
    #[serde(default)]
    pub delay_s: Option<i32>,
}

fn yes() -> bool {
    true
}

/// People waiting at a stop for one line in one direction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LineWaitingView {
    pub line_id: String,
    pub direction: u8,
    pub count: u32,
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
            in_service: p.in_service,
            trip_id: p.trip_id.as_deref().map(str::to_string),
            delay_s: p.delay_s,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PeopleCountView {
    pub stop_id: String,
    pub time: String,
    pub count: u32,
    pub line_ids: Vec<String>,
    /// `count` by line and direction.
    #[serde(default)]
    pub waiting: Vec<LineWaitingView>,
    /// People who gave up waiting since the previous record.
    #[serde(default)]
    pub gave_up: u32,
}

impl From<&PeopleCount> for PeopleCountView {
    fn from(p: &PeopleCount) -> Self {
        Self {
            stop_id: p.stop_id.to_string(),
            time: p.time.to_rfc3339(),
            count: p.count,
            line_ids: p.line_ids.iter().map(|l| l.to_string()).collect(),
            waiting: (p.waiting.iter())
                .map(|w| LineWaitingView {
                    line_id: w.line_id.to_string(),
                    direction: w.direction,
                    count: w.count,
                })
                .collect(),
            gave_up: p.gave_up,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SensorView {
    pub entity_type: EntityType,
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
    pub door_status: Option<DoorStatus>,
}

impl From<&SensorReading> for SensorView {
    fn from(s: &SensorReading) -> Self {
        Self {
            entity_type: s.entity_type,
            entity_id: s.entity_id.to_string(),
            time: s.time.to_rfc3339(),
            temperature: s.temperature,
            humidity: s.humidity,
            co2_level: s.co2_level,
            door_status: s.door_status,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
    #[serde(default)]
    pub trip_id: Option<String>,
    /// Seconds behind the schedule at this stop (negative: ahead).
    #[serde(default)]
    pub delay_s: Option<i32>,
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
            trip_id: a.trip_id.as_deref().map(str::to_string),
            delay_s: a.delay_s,
        }
    }
}

impl TryFrom<&BusPositionView> for BusPosition {
    type Error = ViewError;
    fn try_from(v: &BusPositionView) -> Result<Self, ViewError> {
        Ok(Self {
            bus_id: id::<_>("bus_id", &v.bus_id)?,
            line_id: id::<_>("line_id", &v.line_id)?,
            time: time(&v.time)?,
            latitude: v.latitude,
            longitude: v.longitude,
            speed_kmh: v.speed,
            direction: v.direction,
            passenger_count: v.passenger_count,
            next_stop_id: id::<_>("next_stop_id", &v.next_stop_id)?,
            distance_to_next_stop_m: v.distance_to_next_stop,
            at_stop: v.at_stop,
            in_service: v.in_service,
            trip_id: v.trip_id.as_deref().map(Arc::from),
            delay_s: v.delay_s,
        })
    }
}

impl TryFrom<&PeopleCountView> for PeopleCount {
    type Error = ViewError;
    fn try_from(v: &PeopleCountView) -> Result<Self, ViewError> {
        Ok(Self {
            stop_id: id::<_>("stop_id", &v.stop_id)?,
            time: time(&v.time)?,
            count: v.count,
            line_ids: (v.line_ids.iter())
                .map(|l| id::<_>("line_ids", l))
                .collect::<Result<Arc<[LineId]>, _>>()?,
            waiting: (v.waiting.iter())
                .map(|w| {
                    Ok(LineWaiting {
                        line_id: id::<_>("waiting.line_id", &w.line_id)?,
                        direction: w.direction,
                        count: w.count,
                    })
                })
                .collect::<Result<Arc<[LineWaiting]>, ViewError>>()?,
            gave_up: v.gave_up,
        })
    }
}

impl TryFrom<&SensorView> for SensorReading {
    type Error = ViewError;
    fn try_from(v: &SensorView) -> Result<Self, ViewError> {
        check_id(&v.entity_id).map_err(|e| ViewError {
            field: "entity_id",
            reason: format!("{:?} {e}", v.entity_id),
        })?;
        Ok(Self {
            entity_type: v.entity_type,
            entity_id: Arc::from(v.entity_id.as_str()),
            time: time(&v.time)?,
            temperature: v.temperature,
            humidity: v.humidity,
            co2_level: v.co2_level,
            door_status: v.door_status,
        })
    }
}

impl TryFrom<&BusArrivalView> for BusArrival {
    type Error = ViewError;
    fn try_from(v: &BusArrivalView) -> Result<Self, ViewError> {
        Ok(Self {
            bus_id: id::<_>("bus_id", &v.bus_id)?,
            line_id: id::<_>("line_id", &v.line_id)?,
            stop_id: id::<_>("stop_id", &v.stop_id)?,
            time: time(&v.time)?,
            direction: v.direction,
            boarded: v.boarded,
            alighted: v.alighted,
            passengers_after: v.passengers_after,
            waiting_after: v.waiting_after,
            trip_id: v.trip_id.as_deref().map(Arc::from),
            delay_s: v.delay_s,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::{BusId, StopId};

    /// A view read back is the record it was made from (up to the view's rounding).
    #[test]
    fn views_turn_back_into_records() {
        let p = BusPosition {
            bus_id: BusId::parse("B001").unwrap(),
            line_id: LineId::parse("L1").unwrap(),
            time: Millis(1_780_000_000_000),
            latitude: 40.4,
            longitude: -3.7,
            speed_kmh: 21.5,
            direction: 1,
            passenger_count: 30,
            next_stop_id: StopId::parse("S001").unwrap(),
            distance_to_next_stop_m: 120.25,
            at_stop: false,
            in_service: true,
            trip_id: Some(Arc::from("L1_20261123_0_0730")),
            delay_s: Some(-12),
        };
        let json = serde_json::to_string(&BusPositionView::from(&p)).unwrap();
        let back: BusPositionView = serde_json::from_str(&json).unwrap();
        assert_eq!(BusPosition::try_from(&back).unwrap(), p);
        let s = SensorReading {
            entity_type: EntityType::Bus,
            entity_id: Arc::from("B001"),
            time: Millis(1_780_000_000_000),
            temperature: 21.0,
            humidity: 40.0,
            co2_level: Some(800.0),
            door_status: Some(DoorStatus::Open),
        };
        let json = serde_json::to_string(&SensorView::from(&s)).unwrap();
        assert!(
            json.contains(r#""entity_type":"bus""#) && json.contains(r#""door_status":"open""#)
        );
        let back: SensorView = serde_json::from_str(&json).unwrap();
        assert_eq!(SensorReading::try_from(&back).unwrap(), s);
        let c = PeopleCount {
            stop_id: StopId::parse("S001").unwrap(),
            time: Millis(1_780_000_000_000),
            count: 5,
            line_ids: Arc::from([LineId::parse("L1").unwrap()]),
            waiting: Arc::from([
                LineWaiting {
                    line_id: LineId::parse("L1").unwrap(),
                    direction: 0,
                    count: 2,
                },
                LineWaiting {
                    line_id: LineId::parse("L1").unwrap(),
                    direction: 1,
                    count: 3,
                },
            ]),
            gave_up: 1,
        };
        let json = serde_json::to_string(&PeopleCountView::from(&c)).unwrap();
        let back: PeopleCountView = serde_json::from_str(&json).unwrap();
        assert_eq!(PeopleCount::try_from(&back).unwrap(), c);
        assert_eq!(
            LineWaiting::parse_list(&LineWaiting::encode_list(&c.waiting)).as_deref(),
            Some(&c.waiting[..])
        );
        let bad = BusPositionView {
            bus_id: "B 1".into(),
            ..BusPositionView::from(&p)
        };
        let e = BusPosition::try_from(&bad).unwrap_err().to_string();
        assert!(e.starts_with("bus_id:"), "{e}");
    }
}
