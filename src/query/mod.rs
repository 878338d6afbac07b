//! The one query layer. REST, WebSocket, MCP and GTFS all ask here; none talks to the store
//! directly. Latest values come from the live state in memory (the store when the live
//! state has none yet); as-of, range and line snapshots come from the store.

pub mod arrivals;
pub mod export;
mod form;
pub mod metadata;
mod transit;
pub mod views;

use std::sync::Arc;

pub use form::{DEFAULT_LIMIT, FormError, MAX_LIMIT, QueryForm, limit_schema};
pub use metadata::{BusSummary, LineDetail, LineSummary, StopOnLine, StopView};
pub use transit::StaticFeed;
use views::{Answer, BusPositionView, LineSnapshotView, PageView, PeopleCountView, SensorView};

use crate::feed::{Feed, Phase, Subscriber};
use crate::live::LiveState;
use crate::network::{BusId, Network};
use crate::sim::{BusPosition, EntityType};
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

    /// Runs one of the three forms on a series, viewing rows with `view`.
    async fn series<V>(
        &self,
        series: Series,
        id: &str,
        what: &str,
        form: QueryForm,
        live: Option<Record>,
        view: fn(&Record) -> Option<V>,
    ) -> Result<Answer<V>, QueryError> {
        self.ready()?;
        let no_data = |at: Option<Millis>| {
            QueryError::NotFound(match at {
                Some(t) => format!("No data for {what} {id} at or before {t}"),
                None => format!("No data yet for {what} {id}"),
            })
        };
        let one = |row: Option<Record>, at| {
            row.as_ref()
                .and_then(view)
                .map(Answer::One)
                .ok_or_else(|| no_data(at))
        };
        match form {
            QueryForm::Latest => match live {
                Some(row) => one(Some(row), None),
                None => one(self.store.latest(series, id).await?, None),
            },
            QueryForm::AsOf(t) => one(self.store.as_of(series, id, t).await?, Some(t)),
            QueryForm::Range {
                from,
                to,
                limit,
                cursor,
            } => {
                let page = self
                    .store
                    .range(RangeQuery {
                        series,
                        id: id.to_string(),
                        from,
                        to,
                        limit,
                        after: cursor,
                    })
                    .await?;
                Ok(Answer::Page(PageView {
                    items: page.rows.iter().filter_map(view).collect(),
                    next_cursor: page.next_cursor.map(|c| c.encode()),
                }))
            }
        }
    }

    pub async fn people_count(
        &self,
        stop_id: &str,
        form: QueryForm,
    ) -> Result<Answer<PeopleCountView>, QueryError> {
        self.check(Kind::Stop, "stop_id", stop_id)?;
        let live = self.memory(|live| live.people(stop_id)).map(Record::People);
        self.series(
            Series::PeopleCount,
            stop_id,
            "stop",
            form,
            live,
            |r| match r {
                Record::People(p) => Some(p.into()),
                _ => None,
            },
        )
        .await
    }

    pub async fn sensors(
        &self,
        entity_type: &str,
        entity_id: &str,
        form: QueryForm,
    ) -> Result<Answer<SensorView>, QueryError> {
        let kind = EntityType::parse(entity_type).ok_or_else(|| {
            QueryError::BadRequest(format!(
                "Invalid entity_type {entity_type:?}: use `bus` or `stop`"
            ))
        })?;
        let (check, what) = match kind {
            EntityType::Bus => (Kind::Bus, "bus"),
            EntityType::Stop => (Kind::Stop, "stop"),
        };
        self.check(check, "entity_id", entity_id)?;
        let live = self
            .memory(|live| live.sensor(kind, entity_id))
            .map(Record::Sensor);
        self.series(
            Series::Sensors(kind),
            entity_id,
            what,
            form,
            live,
            |r| match r {
                Record::Sensor(s) => Some(s.into()),
                _ => None,
            },
        )
        .await
    }

    pub async fn bus_position(
        &self,
        bus_id: &str,
        form: QueryForm,
    ) -> Result<Answer<BusPositionView>, QueryError> {
        self.check(Kind::Bus, "bus_id", bus_id)?;
        let live = self
            .memory(|live| live.position(bus_id))
            .map(Record::Position);
        self.series(
            Series::BusPositions,
            bus_id,
            "bus",
            form,
            live,
            |r| match r {
                Record::Position(p) => Some(p.into()),
                _ => None,
            },
        )
        .await
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
