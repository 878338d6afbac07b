//! Live events: what a step recorded, each serialised once as the WebSocket clients receive
//! it (`{"type": ..., "data": {REST fields}}`). An event names its entities by id, so it
//! means the same in every process; the line set a client filters on is worked out from
//! those ids in the process that holds the event.

use std::sync::OnceLock;

use axum::extract::ws::Utf8Bytes;
use serde::{Deserialize, Serialize};

use crate::network::Network;
use crate::sim::{EntityType, Record, Records};
use crate::views::{BusArrivalView, BusPositionView, PeopleCountView, SensorView, ViewError};

/// What a client can subscribe to, besides lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    Positions = 0,
    Arrivals = 1,
    People = 2,
    Sensors = 3,
}

impl Topic {
    /// Its place in [`Topic::ALL`], for per-topic flags.
    pub fn index(self) -> usize {
        self as usize
    }

    pub const ALL: [Topic; 4] = [
        Topic::Positions,
        Topic::Arrivals,
        Topic::People,
        Topic::Sensors,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Positions => "positions",
            Topic::Arrivals => "arrivals",
            Topic::People => "people",
            Topic::Sensors => "sensors",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Topic::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The `type` of this topic's events.
    pub fn event_type(self) -> &'static str {
        match self {
            Topic::Positions => "bus.position.updated",
            Topic::Arrivals => "bus.arrival",
            Topic::People => "people.count.updated",
            Topic::Sensors => "sensor.updated",
        }
    }

    fn of(record: &Record) -> Self {
        match record {
            Record::Position(_) => Topic::Positions,
            Record::Arrival(_) => Topic::Arrivals,
            Record::People(_) => Topic::People,
            Record::Sensor(_) => Topic::Sensors,
        }
    }
}

/// One event, ready to send.
#[derive(Debug, Clone)]
pub struct Event {
    pub topic: Topic,
    /// Indices into this process's network lines of the lines the event concerns (worked
    /// out from the ids in `record`; never sent anywhere).
    pub lines: Box<[u32]>,
    /// `{"type": ..., "data": {REST fields}}`, exactly as clients receive it.
    pub json: Utf8Bytes,
    pub record: Record,
}

/// The events of one step (or a few), in the order they happened.
#[derive(Debug, Default)]
pub struct Batch {
    pub events: Vec<Event>,
    /// Per line, one `bus.positions` frame of its positions; made at the first ask.
    line_positions: OnceLock<Box<[Option<Utf8Bytes>]>>,
}

/// Every position of one line in a batch, as one message (the opt-in `batched` feed).
#[derive(Serialize)]
struct LinePositions<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    line_id: &'a str,
    data: Vec<BusPositionView>,
}

/// An event as serialised: the type names its data.
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
enum Wire {
    #[serde(rename = "bus.position.updated")]
    Position(BusPositionView),
    #[serde(rename = "bus.arrival")]
    Arrival(BusArrivalView),
    #[serde(rename = "people.count.updated")]
    People(PeopleCountView),
    #[serde(rename = "sensor.updated")]
    Sensor(SensorView),
}

impl Wire {
    fn of(record: &Record) -> Self {
        match record {
            Record::Position(p) => Wire::Position(p.into()),
            Record::Arrival(a) => Wire::Arrival(a.into()),
            Record::People(p) => Wire::People(p.into()),
            Record::Sensor(s) => Wire::Sensor(s.into()),
        }
    }

    fn record(&self) -> Result<Record, ViewError> {
        Ok(match self {
            Wire::Position(v) => Record::Position(v.try_into()?),
            Wire::Arrival(v) => Record::Arrival(v.try_into()?),
            Wire::People(v) => Record::People(v.try_into()?),
            Wire::Sensor(v) => Record::Sensor(v.try_into()?),
        })
    }
}

/// Why an event received from elsewhere was not taken.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not an event: {0}")]
    Json(#[from] serde_json::Error),
    #[error("bad field {0}")]
    Field(#[from] ViewError),
}

impl Event {
    /// The event for `record`, serialised.
    pub fn of(network: &Network, record: Record) -> Self {
        let json = serde_json::to_string(&Wire::of(&record)).expect("views serialise to JSON");
        Self::with_json(network, record, json.into())
    }

    /// The event for a serialised one received from another process.
    pub fn decode(network: &Network, json: Utf8Bytes) -> Result<Self, DecodeError> {
        let record = serde_json::from_str::<Wire>(json.as_str())?.record()?;
        Ok(Self::with_json(network, record, json))
    }

    fn with_json(network: &Network, record: Record, json: Utf8Bytes) -> Self {
        Self {
            topic: Topic::of(&record),
            lines: lines_of(network, &record),
            json,
            record,
        }
    }

    /// About a stop (so possibly several lines) rather than a bus.
    pub fn about_stop(&self) -> bool {
        matches!(&self.record, Record::People(_))
            || matches!(&self.record, Record::Sensor(s) if s.entity_type == EntityType::Stop)
    }
}

/// The lines (indices in `network`) a record concerns.
fn lines_of(network: &Network, record: &Record) -> Box<[u32]> {
    let line = |id: &str| network.line_index(id).map(|i| i as u32);
    let stop_lines = |stop_id: &str| -> Box<[u32]> {
        let Some(stop) = network.stop_index(stop_id) else {
            return Box::default();
        };
        (network.stops[stop].line_ids.iter())
            .filter_map(|l| line(l.as_str()))
            .collect()
    };
    match record {
        Record::Position(p) => line(p.line_id.as_str()).into_iter().collect(),
        Record::Arrival(a) => line(a.line_id.as_str()).into_iter().collect(),
        Record::People(p) => stop_lines(p.stop_id.as_str()),
        Record::Sensor(s) => match s.entity_type {
            EntityType::Bus => (network.bus_index(&s.entity_id))
                .map(|b| network.buses[b].line as u32)
                .into_iter()
                .collect(),
            EntityType::Stop => stop_lines(&s.entity_id),
        },
    }
}

impl Batch {
    /// The events of what was just recorded, in time order within each series.
    pub fn of(network: &Network, records: &Records) -> Self {
        let records = (records.positions.iter().cloned().map(Record::Position))
            .chain(records.arrivals.iter().cloned().map(Record::Arrival))
            .chain(records.people.iter().cloned().map(Record::People))
            .chain(records.sensors.iter().cloned().map(Record::Sensor));
        Batch {
            events: records.map(|r| Event::of(network, r)).collect(),
            ..Batch::default()
        }
    }

    /// For each line of `network` (by index), the `bus.positions` message of this batch's
    /// positions on it, oldest first; `None` where it has none. Serialised once, whatever
    /// the number of clients.
    pub fn line_positions(&self, network: &Network) -> &[Option<Utf8Bytes>] {
        self.line_positions.get_or_init(|| {
            let mut per_line: Vec<Vec<BusPositionView>> = vec![Vec::new(); network.lines.len()];
            for event in &self.events {
                if let Record::Position(p) = &event.record {
                    for &line in &event.lines {
                        per_line[line as usize].push(p.into());
                    }
                }
            }
            let frame = |i: usize, data| {
                let message = LinePositions {
                    kind: "bus.positions",
                    line_id: network.lines[i].id.as_str(),
                    data,
                };
                serde_json::to_string(&message).expect("views serialise to JSON")
            };
            (per_line.into_iter().enumerate())
                .map(|(i, data)| (!data.is_empty()).then(|| frame(i, data).into()))
                .collect()
        })
    }
}
