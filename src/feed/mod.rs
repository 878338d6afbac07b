//! The live feed: what the simulator records while it runs live, as events for the
//! WebSocket clients (SPEC §4). Each event is serialised once, with the REST field names,
//! and shared by every client; a client only filters by line and topic. The channel is a
//! bounded ring: a client that falls behind misses events and is told, memory never grows.

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::network::Network;
use crate::sim::{EntityType, Records};
use crate::views::{BusArrivalView, BusPositionView, PeopleCountView, SensorView};

/// Batches kept for clients that are behind. At `--speed 60` a batch is about one simulated
/// second, published every 17 ms: a client may fall about 4 s behind before it lags.
pub const RING: usize = 256;

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
}

/// One event, ready to send: `{"type": ..., "data": {REST fields}}`.
#[derive(Debug, Clone)]
pub struct Event {
    pub topic: Topic,
    /// Indices (into the network's lines) of the lines the event concerns.
    pub lines: Box<[u32]>,
    pub json: Utf8Bytes,
}

/// The events of one step (or a few), in the order they happened.
#[derive(Debug, Default)]
pub struct Batch {
    pub events: Vec<Event>,
}

#[derive(Serialize)]
struct Envelope<'a, T> {
    r#type: &'static str,
    data: &'a T,
}

fn event<T: Serialize>(topic: Topic, lines: Box<[u32]>, data: &T) -> Event {
    let json = serde_json::to_string(&Envelope {
        r#type: topic.event_type(),
        data,
    })
    .expect("views serialise to JSON");
    Event {
        topic,
        lines,
        json: json.into(),
    }
}

/// The live feed's sending side; clients subscribe through the query layer.
#[derive(Clone)]
pub struct Feed {
    network: Arc<Network>,
    tx: broadcast::Sender<Arc<Batch>>,
}

/// Describes the feed's metrics (once a recorder is installed).
pub fn describe_metrics() {
    metrics::describe_counter!("madbus_events_published_total", "Live events published");
}

impl Feed {
    pub fn new(network: Arc<Network>) -> Self {
        let (tx, _) = broadcast::channel(RING);
        Self { network, tx }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Batch>> {
        self.tx.subscribe()
    }

    /// Clients listening now.
    pub fn receivers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Publishes what was just recorded. Cheap when nobody listens.
    pub fn publish(&self, records: &Records) {
        if self.tx.receiver_count() == 0 || records.is_empty() {
            return;
        }
        let batch = self.events(records);
        let n = batch.events.len() as u64;
        if n > 0 && self.tx.send(Arc::new(batch)).is_ok() {
            metrics::counter!("madbus_events_published_total").increment(n);
        }
    }

    fn line(&self, id: &str) -> Box<[u32]> {
        self.network
            .line_index(id)
            .map(|i| vec![i as u32])
            .unwrap_or_default()
            .into()
    }

    fn stop_lines(&self, stop_id: &str) -> Box<[u32]> {
        let Some(stop) = self.network.stop_index(stop_id) else {
            return Box::default();
        };
        self.network.stops[stop]
            .line_ids
            .iter()
            .filter_map(|l| self.network.line_index(l.as_str()))
            .map(|i| i as u32)
            .collect()
    }

    fn events(&self, records: &Records) -> Batch {
        let mut events = Vec::with_capacity(records.len());
        for p in &records.positions {
            let view = BusPositionView::from(p);
            events.push(event(Topic::Positions, self.line(&view.line_id), &view));
        }
        for a in &records.arrivals {
            let view = BusArrivalView::from(a);
            events.push(event(Topic::Arrivals, self.line(&view.line_id), &view));
        }
        for p in &records.people {
            let view = PeopleCountView::from(p);
            events.push(event(Topic::People, self.stop_lines(&view.stop_id), &view));
        }
        for s in &records.sensors {
            let lines = match s.entity_type {
                EntityType::Bus => self
                    .network
                    .bus_index(&s.entity_id)
                    .map(|b| vec![self.network.buses[b].line as u32].into())
                    .unwrap_or_default(),
                EntityType::Stop => self.stop_lines(&s.entity_id),
            };
            events.push(event(Topic::Sensors, lines, &SensorView::from(s)));
        }
        Batch { events }
    }
}
