//! The one query layer. REST, WebSocket, MCP and GTFS all ask here; none talks to the store
//! directly. Latest values come from the live state in memory (the store when the live
//! state has none yet); as-of from sealed history in memory or the store; range and line
//! snapshots from the store.

pub mod arrivals;
pub mod export;
mod form;
mod history;
pub mod metadata;
mod transit;
pub mod views;

use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;

pub use form::{DEFAULT_LIMIT, FormError, MAX_LIMIT, QueryForm, limit_schema};
use history::Row;
pub use history::describe_metrics;
pub use metadata::{BusSummary, LineDetail, LineSummary, StopOnLine, StopView};
pub use transit::StaticFeed;
use views::{Answer, BusPositionView, LineSnapshotView, PageView, PeopleCountView, SensorView};

use crate::feed::{Feed, Phase, Subscriber};
use crate::live::{Kept, LiveState};
use crate::network::{BusId, Network};
use crate::sim::{BusPosition, EntityType, PeopleCount, SensorReading};
use crate::store::{RangeQuery, Record, Series, Store, StoreError};
use crate::time::Millis;

/// Why a query has no answer. Messages are for clients: they name what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    /// The simulator is still making the history: any answer would be about another time.
    #[error("{0}")]
    NotReady(String),
    /// Internal; never shown to clients.
    #[error("store failed: {0}")]
    Store(#[from] StoreError),
    /// Internal; never shown to clients.
    #[error("{0}")]
    Internal(String),
}

impl From<FormError> for QueryError {
    fn from(e: FormError) -> Self {
        QueryError::BadRequest(e.0)
    }
}

/// The kinds of entity an id can name, for checks and messages.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Stop,
    Bus,
    Line,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::Stop => "Stop",
            Kind::Bus => "Bus",
            Kind::Line => "Line",
        }
    }
}

#[derive(Clone)]
pub struct Query {
    network: Arc<Network>,
    store: Arc<dyn Store>,
    live: Arc<LiveState>,
    feed: Arc<dyn Feed>,
    gtfs_static: transit::StaticCache,
    history: Arc<history::History>,
}

impl Query {
    pub fn new(
        network: Arc<Network>,
        store: Arc<dyn Store>,
        live: Arc<LiveState>,
        feed: Arc<dyn Feed>,
    ) -> Self {
        Self {
            network,
            store,
            live,
            feed,
            gtfs_static: Default::default(),
            history: Default::default(),
        }
    }

    pub fn network(&self) -> &Network {
        &self.network
    }

    /// Live events from now on (a bounded ring: see [`crate::feed`]).
    pub fn subscribe(&self) -> Subscriber {
        self.feed.subscribe()
    }

    /// The index of line `line_id`, checked as any id from a request.
    pub fn line_index(&self, line_id: &str) -> Result<usize, QueryError> {
        self.check(Kind::Line, "line_id", line_id)
    }

    /// Checks an id from a request: malformed is a 400 naming `param`, unknown is a 404.
    fn check(&self, kind: Kind, param: &str, raw: &str) -> Result<usize, QueryError> {
        if let Err(e) = crate::network::id::check_id(raw) {
            return Err(QueryError::BadRequest(format!(
                "Invalid {param} {raw:?}: it {e}"
            )));
        }
        let found = match kind {
            Kind::Stop => self.network.stop_index(raw),
            Kind::Bus => self.network.bus_index(raw),
            Kind::Line => self.network.line_index(raw),
        };
        found.ok_or_else(|| QueryError::NotFound(format!("{} {raw} not found", kind.noun())))
    }

    /// Refuses time-series questions until the simulator is live: during the backfill the
    /// store holds only part of the history and "latest" is in the past.
    fn ready(&self) -> Result<(), QueryError> {
        match self.live.phase() {
            Phase::Live | Phase::Stopped => Ok(()),
            Phase::Starting | Phase::Standby => Err(QueryError::NotReady(
                "madbus is starting (waiting for the simulator); the data is not ready yet".into(),
            )),
            Phase::Backfilling { done } => Err(QueryError::NotReady(format!(
                "madbus is backfilling its history ({:.1} % done); the data is not ready yet",
                done * 100.0
            ))),
        }
    }

    /// A latest value from memory, when memory is current (else the store answers).
    fn memory<T>(&self, get: impl FnOnce(&LiveState) -> Option<T>) -> Option<T> {
        if self.live.current() {
            get(&self.live)
        } else {
            None
        }
    }

    /// The simulated time now (the newest the live state has seen).
    pub fn now(&self) -> Millis {
        self.live.status().sim.sim_time.unwrap_or_else(Millis::now)
    }

    pub fn people_count<'q>(
        &'q self,
        stop_id: &'q str,
    ) -> Result<EntitySeries<'q, PeopleCount, PeopleCountView>, QueryError> {
        let entity = self.check(Kind::Stop, "stop_id", stop_id)?;
        Ok(EntitySeries {
            query: self,
            series: Series::PeopleCount,
            entity,
            id: stop_id,
            what: "stop",
            live: self.memory(|live| live.people(stop_id)),
            view: |r| match r {
                Record::People(p) => Some(p.into()),
                _ => None,
            },
        })
    }

    pub fn sensors<'q>(
        &'q self,
        entity_type: &str,
        entity_id: &'q str,
    ) -> Result<EntitySeries<'q, SensorReading, SensorView>, QueryError> {
        let kind = EntityType::parse(entity_type).ok_or_else(|| {
            QueryError::BadRequest(format!(
                "Invalid entity_type {entity_type:?}: use `bus` or `stop`"
            ))
        })?;
        let (check, what) = match kind {
            EntityType::Bus => (Kind::Bus, "bus"),
            EntityType::Stop => (Kind::Stop, "stop"),
        };
        let entity = self.check(check, "entity_id", entity_id)?;
        Ok(EntitySeries {
            query: self,
            series: Series::Sensors(kind),
            entity,
            id: entity_id,
            what,
            live: self.memory(|live| live.sensor(kind, entity_id)),
            view: |r| match r {
                Record::Sensor(s) => Some(s.into()),
                _ => None,
            },
        })
    }

    pub fn bus_position<'q>(
        &'q self,
        bus_id: &'q str,
    ) -> Result<EntitySeries<'q, BusPosition, BusPositionView>, QueryError> {
        let entity = self.check(Kind::Bus, "bus_id", bus_id)?;
        Ok(EntitySeries {
            query: self,
            series: Series::BusPositions,
            entity,
            id: bus_id,
            what: "bus",
            live: self.memory(|live| live.position(bus_id)),
            view: |r| match r {
                Record::Position(p) => Some(p.into()),
                _ => None,
            },
        })
    }

    /// Every bus of a line, latest or as of a time (a range is not a snapshot).
    pub async fn line_buses(
        &self,
        line_id: &str,
        form: QueryForm,
    ) -> Result<LineSnapshotView, QueryError> {
        let line = &self.network.lines[self.check(Kind::Line, "line_id", line_id)?];
        self.ready()?;
        let ids: Vec<_> = line
            .buses
            .iter()
            .map(|&b| self.network.buses[b].id.clone())
            .collect();
        let (positions, time) = match form {
            QueryForm::Latest => {
                let latest = self.latest_positions(&ids).await?;
                let newest = latest.iter().map(|p| p.time).max();
                (latest, newest)
            }
            QueryForm::AsOf(t) => (self.store.line_snapshot(&ids, t).await?, Some(t)),
            QueryForm::Range { .. } => {
                return Err(QueryError::BadRequest(
                    "The line endpoint takes mode=latest or timestamp=T; for a range, query each bus".into(),
                ));
            }
        };
        let time = match (time, positions.is_empty()) {
            (Some(t), false) => t,
            _ => {
                return Err(QueryError::NotFound(format!(
                    "No data for line {line_id} at that time"
                )));
            }
        };
        Ok(LineSnapshotView {
            line_id: line.id.to_string(),
            time: time.to_rfc3339(),
            buses: positions.iter().map(BusPositionView::from).collect(),
        })
    }

    pub fn lines(&self) -> Vec<LineSummary> {
        let now = self.now();
        self.network
            .lines
            .iter()
            .map(|l| LineSummary::of(&self.network, l, now))
            .collect()
    }

    pub fn line(&self, line_id: &str) -> Result<LineDetail, QueryError> {
        let i = self.check(Kind::Line, "line_id", line_id)?;
        Ok(LineDetail::of(&self.network, &self.network.lines[i]))
    }

    pub fn stop(&self, stop_id: &str) -> Result<StopView, QueryError> {
        let i = self.check(Kind::Stop, "stop_id", stop_id)?;
        Ok(StopView::of(&self.network, i))
    }

    pub fn stops(&self) -> Vec<StopView> {
        (0..self.network.stops.len())
            .map(|s| StopView::of(&self.network, s))
            .collect()
    }

    pub fn buses(&self) -> Vec<BusSummary> {
        self.network
            .buses
            .iter()
            .map(|b| BusSummary::of(&self.network, b))
            .collect()
    }

    /// The latest position of each of `bus_ids`: from memory, or from the store when the
    /// live state lacks some (before the first record, or in a read-only process).
    async fn latest_positions(&self, bus_ids: &[BusId]) -> Result<Vec<BusPosition>, QueryError> {
        let live: Vec<_> = bus_ids
            .iter()
            .filter_map(|id| self.memory(|live| live.position(id.as_str())))
            .map(|kept| kept.record.clone())
            .collect();
        if live.len() == bus_ids.len() {
            return Ok(live);
        }
        Ok(self.store.line_snapshot(bus_ids, Millis::MAX).await?)
    }

    /// The latest positions of the buses `pick` chooses, and the newest of their times (the
    /// simulated clock when there is none).
    async fn latest_of(
        &self,
        pick: impl Fn(&crate::network::Bus) -> bool,
    ) -> Result<(Vec<BusPosition>, Millis), QueryError> {
        let ids: Vec<BusId> = (self.network.buses.iter())
            .filter(|b| pick(b))
            .map(|b| b.id.clone())
            .collect();
        let positions = self.latest_positions(&ids).await?;
        let now = (positions.iter().map(|p| p.time).max()).unwrap_or_else(|| self.now());
        Ok((positions, now))
    }

    /// Predicted arrivals at a stop from the latest positions, soonest first.
    pub async fn stop_arrivals(
        &self,
        stop_id: &str,
    ) -> Result<metadata::StopArrivalsView, QueryError> {
        let stop = self.check(Kind::Stop, "stop_id", stop_id)?;
        self.ready()?;
        let lines = &self.network.stops[stop].line_ids;
        let (positions, now) = self
            .latest_of(|b| lines.contains(&self.network.lines[b.line].id))
            .await?;
        Ok(metadata::StopArrivalsView {
            stop_id: stop_id.to_string(),
            time: now.to_rfc3339(),
            arrivals: arrivals::predict(&self.network, stop, &positions, now),
        })
    }
}

/// One entity's series, its id checked, ready to answer in any form: rows from the store,
/// and the newest record from memory when memory is current.
pub struct EntitySeries<'q, R, V> {
    query: &'q Query,
    series: Series,
    /// The entity's index in the network (of its kind).
    entity: usize,
    id: &'q str,
    /// Names the entity in messages.
    what: &'static str,
    live: Option<Arc<Kept<R>>>,
    view: fn(&Record) -> Option<V>,
}

impl<R, V> EntitySeries<'_, R, V>
where
    V: Serialize + serde::de::DeserializeOwned + for<'r> From<&'r R>,
{
    /// The answer in `form`, as views.
    pub async fn answer(self, form: QueryForm) -> Result<Answer<V>, QueryError> {
        self.query.ready()?;
        match form {
            QueryForm::Latest => match &self.live {
                Some(kept) => Ok(Answer::One(V::from(&kept.record))),
                None => {
                    let row = self.query.store.latest(self.series, self.id).await?;
                    self.one(row.as_ref(), None).map(Answer::One)
                }
            },
            QueryForm::AsOf(t) => self.found(self.as_of(t).await?, t).map(Answer::One),
            QueryForm::Range {
                from,
                to,
                limit,
                cursor,
            } => {
                let page = (self.query.store)
                    .range(RangeQuery {
                        series: self.series,
                        id: self.id.to_string(),
                        from,
                        to,
                        limit,
                        after: cursor,
                    })
                    .await?;
                Ok(Answer::Page(PageView {
                    items: page.rows.iter().filter_map(self.view).collect(),
                    next_cursor: page.next_cursor.map(|c| c.encode()),
                }))
            }
        }
    }

    /// The answer in `form`, as JSON. The latest from memory is written once per record and
    /// then served as it is (serialising it was a tenth of a latest request's CPU time), and
    /// so is an as-of from kept history.
    pub async fn json(self, form: QueryForm) -> Result<Bytes, QueryError> {
        match (form, &self.live) {
            (QueryForm::Latest, Some(kept)) => {
                self.query.ready()?;
                kept.json(|record| to_json(&Answer::One(V::from(record))))
            }
            (QueryForm::AsOf(t), _) => {
                self.query.ready()?;
                match self.as_of(t).await? {
                    Some(Row::Kept(json)) => Ok(json),
                    row => to_json(&Answer::One(self.found(row, t)?)),
                }
            }
            (form, _) => to_json(&self.answer(form).await?),
        }
    }

    /// The row at or before `t`: its answer from kept history (written as [`to_json`]
    /// writes it), or its record from the store.
    async fn as_of(&self, t: Millis) -> Result<Option<Row>, QueryError> {
        let view = self.view;
        let render = move |record: &Record, out: &mut Vec<u8>| match view(record) {
            Some(one) => write_json(out, &Answer::One(one)).map(|()| true),
            None => Ok(false),
        };
        let stored = self.query.live.stored();
        (self.query.history)
            .as_of(
                &*self.query.store,
                stored,
                self.series,
                (self.entity, self.id),
                t,
                &render,
            )
            .await
    }

    /// The view of the row found at or before `t`.
    fn found(&self, row: Option<Row>, t: Millis) -> Result<V, QueryError> {
        match row {
            Some(Row::Kept(json)) => serde_json::from_slice(&json)
                .map_err(|e| QueryError::Internal(format!("cannot read a kept answer: {e}"))),
            Some(Row::Stored(record)) => self.one(Some(&record), Some(t)),
            None => self.one(None, Some(t)),
        }
    }

    /// The view of `record`; none is a 404 (at or before `at`, or at all).
    fn one(&self, record: Option<&Record>, at: Option<Millis>) -> Result<V, QueryError> {
        record.and_then(self.view).ok_or_else(|| {
            let (what, id) = (self.what, self.id);
            QueryError::NotFound(match at {
                Some(t) => format!("No data for {what} {id} at or before {t}"),
                None => format!("No data yet for {what} {id}"),
            })
        })
    }
}

fn to_json(value: &impl Serialize) -> Result<Bytes, QueryError> {
    // One answer is about 300 bytes: no regrowth from empty on the way there.
    let mut out = Vec::with_capacity(512);
    write_json(&mut out, value).map(|()| Bytes::from(out))
}

fn write_json(out: &mut Vec<u8>, value: &impl Serialize) -> Result<(), QueryError> {
    serde_json::to_writer(out, value)
        .map_err(|e| QueryError::Internal(format!("cannot write JSON: {e}")))
}
