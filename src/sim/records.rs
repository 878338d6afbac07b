//! What one simulation step produces: the four time series of SPEC §3.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::network::{BusId, LineId, StopId};
use crate::time::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EntityType {
    Bus,
    Stop,
}

impl EntityType {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityType::Bus => "bus",
            EntityType::Stop => "stop",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "bus" => Some(EntityType::Bus),
            "stop" => Some(EntityType::Stop),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DoorStatus {
    Open,
    Closed,
}

impl DoorStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DoorStatus::Open => "open",
            DoorStatus::Closed => "closed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(DoorStatus::Open),
            "closed" => Some(DoorStatus::Closed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct BusPosition {
    pub bus_id: BusId,
    pub line_id: LineId,
    pub time: Millis,
    pub latitude: f64,
    pub longitude: f64,
    pub speed_kmh: f64,
    pub direction: u8,
    pub passenger_count: u32,
    pub next_stop_id: StopId,
    pub distance_to_next_stop_m: f64,
    /// At a stop with the doors open: dwelling, or resting at a terminal before a trip.
    pub at_stop: bool,
    /// False while parked or driving empty between terminals.
    pub in_service: bool,
    /// The trip the bus runs (or is about to start, at a terminal).
    pub trip_id: Option<Arc<str>>,
    /// Seconds behind the trip's schedule (negative: ahead), as of its last stop.
    pub delay_s: Option<i32>,
}

/// People waiting at a stop for one line in one direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineWaiting {
    pub line_id: LineId,
    pub direction: u8,
    pub count: u32,
}

impl LineWaiting {
    /// `L1:0:3,L27:1:0`: how the stores keep a breakdown in one text column.
    pub fn encode_list(list: &[LineWaiting]) -> String {
        let mut out = String::with_capacity(list.len() * 10);
        for (i, w) in list.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(w.line_id.as_str());
            out.push(':');
            out.push(char::from(b'0' + w.direction.min(1)));
            out.push(':');
            out.push_str(&w.count.to_string());
        }
        out
    }

    /// The reverse of [`encode_list`](Self::encode_list); None for text it cannot make.
    pub fn parse_list(text: &str) -> Option<Arc<[LineWaiting]>> {
        text.split(',')
            .filter(|s| !s.is_empty())
            .map(|item| {
                let mut parts = item.rsplitn(3, ':');
                let count = parts.next()?.parse().ok()?;
                let direction = parts.next()?.parse::<u8>().ok().filter(|d| *d < 2)?;
                let line_id = LineId::parse(parts.next()?).ok()?;
                Some(LineWaiting {
                    line_id,
                    direction,
                    count,
                })
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PeopleCount {
    pub stop_id: StopId,
    pub time: Millis,
    pub count: u32,
    pub line_ids: Arc<[LineId]>,
    /// `count` by line and direction.
    pub waiting: Arc<[LineWaiting]>,
    /// People who gave up waiting since the previous record.
    pub gave_up: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SensorReading {
    pub entity_type: EntityType,
    /// A bus id or a stop id, as `entity_type` says.
    pub entity_id: Arc<str>,
    pub time: Millis,
    pub temperature: f64,
    pub humidity: f64,
    /// Buses only.
    pub co2_level: Option<f64>,
    /// Buses only.
    pub door_status: Option<DoorStatus>,
}

/// A bus serving a stop: alighting, then boarding.
#[derive(Debug, Clone, PartialEq)]
pub struct BusArrival {
    pub bus_id: BusId,
    pub line_id: LineId,
    pub stop_id: StopId,
    pub time: Millis,
    /// The direction the bus serves the stop in (after turning round at a terminal).
    pub direction: u8,
    pub boarded: u32,
    pub alighted: u32,
    pub passengers_after: u32,
    /// People still waiting at the stop, every line and direction.
    pub waiting_after: u32,
    pub trip_id: Option<Arc<str>>,
    /// Seconds behind the trip's schedule at this stop (negative: ahead).
    pub delay_s: Option<i32>,
}

/// One record of any series (a stored row, a live event).
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Position(BusPosition),
    People(PeopleCount),
    Sensor(SensorReading),
    Arrival(BusArrival),
}

impl Record {
    pub fn time(&self) -> Millis {
        match self {
            Record::Position(r) => r.time,
            Record::People(r) => r.time,
            Record::Sensor(r) => r.time,
            Record::Arrival(r) => r.time,
        }
    }
}

/// Everything recorded by one or more steps, in time order within each series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Records {
    pub positions: Vec<BusPosition>,
    pub people: Vec<PeopleCount>,
    pub sensors: Vec<SensorReading>,
    pub arrivals: Vec<BusArrival>,
}

impl Records {
    pub fn len(&self) -> usize {
        self.positions.len() + self.people.len() + self.sensors.len() + self.arrivals.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn append(&mut self, other: &mut Records) {
        self.positions.append(&mut other.positions);
        self.people.append(&mut other.people);
        self.sensors.append(&mut other.sensors);
        self.arrivals.append(&mut other.arrivals);
    }
    /// The positions in key order (bus, then time): stores write them so, so consecutive
    /// rows land on the same index pages.
    pub fn positions_by_key(&self) -> Vec<&BusPosition> {
        let mut positions: Vec<&BusPosition> = self.positions.iter().collect();
        positions.sort_unstable_by_key(|p| (p.bus_id.as_str(), p.time.0));
        positions
    }
}
