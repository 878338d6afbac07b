//! Exports: every record of a series in a time window, for the entities a filter picks,
//! read a page at a time (entity by entity, each oldest first) so memory stays bounded
//! whatever the window.

use std::sync::Arc;

use super::{Kind, Query, QueryError};
use crate::export::ExportSeries;
use crate::sim::{EntityType, Record};
use crate::store::{Cursor, RangeQuery, Series, Store};
use crate::time::Millis;

/// Rows read from the store at a time.
pub const EXPORT_PAGE_ROWS: usize = 10_000;

/// What to export; ids are checked by [`Query::export`].
#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub series: ExportSeries,
    pub from: Millis,
    pub to: Millis,
    pub line_id: Option<String>,
    pub bus_id: Option<String>,
    pub stop_id: Option<String>,
}

/// The rows of an export, page by page.
pub struct ExportRows {
    store: Arc<dyn Store>,
    /// What is left to read: (series, entity id), in order.
    entities: std::collections::VecDeque<(Series, String)>,
    from: Millis,
    to: Millis,
    after: Option<Cursor>,
    /// Bus arrivals are kept by bus: a stop filter picks rows.
    only_stop: Option<String>,
    total: usize,
}

impl ExportRows {
    /// The share of the entities read so far (for progress bars).
    pub fn progress(&self) -> f64 {
        1.0 - self.entities.len() as f64 / self.total.max(1) as f64
    }

    /// The next page, or None when the export is complete.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Record>>, QueryError> {
        while let Some((series, id)) = self.entities.front().cloned() {
            let page = self
                .store
                .range(RangeQuery {
                    series,
                    id,
                    from: self.from,
                    to: self.to,
                    limit: EXPORT_PAGE_ROWS,
                    after: self.after,
                })
                .await?;
            self.after = page.next_cursor;
            if page.next_cursor.is_none() {
                self.entities.pop_front();
            }
            let mut rows = page.rows;
            if let Some(stop) = &self.only_stop {
                rows.retain(|r| matches!(r, Record::Arrival(a) if a.stop_id.as_str() == stop));
            }
            if !rows.is_empty() {
                return Ok(Some(rows));
            }
        }
        Ok(None)
    }
}

impl Query {
    /// Plans an export: checks the window and the filters (a filter that does not apply to
    /// the series is a bad request, not ignored).
    pub fn export(&self, req: ExportRequest) -> Result<ExportRows, QueryError> {
        self.ready()?;
        if req.from >= req.to {
            return Err(QueryError::BadRequest(format!(
                "Invalid range: from ({}) is not before to ({})",
                req.from, req.to
            )));
        }
        let net = &self.network;
        let line = req
            .line_id
            .as_deref()
            .map(|id| self.check(Kind::Line, "line_id", id))
            .transpose()?;
        let bus = req
            .bus_id
            .as_deref()
            .map(|id| self.check(Kind::Bus, "bus_id", id))
            .transpose()?;
        let stop = req
            .stop_id
            .as_deref()
            .map(|id| self.check(Kind::Stop, "stop_id", id))
            .transpose()?;
        let refuse = |filter: &str| {
            Err(QueryError::BadRequest(format!(
                "{filter} does not apply to {}",
                req.series.name()
            )))
        };
        // The buses and stops the filters leave.
        let buses: Vec<usize> = (0..net.buses.len())
            .filter(|&b| bus.is_none_or(|x| x == b))
            .filter(|&b| line.is_none_or(|l| net.buses[b].line == l))
            .filter(|&b| stop.is_none_or(|s| net.lines[net.buses[b].line].stops.contains(&s)))
            .collect();
        let stops: Vec<usize> = (0..net.stops.len())
            .filter(|&s| stop.is_none_or(|x| x == s))
            .filter(|&s| line.is_none_or(|l| net.lines[l].stops.contains(&s)))
            .collect();
        let bus_ids = |series: Series| {
            buses
                .iter()
                .map(move |&b| (series, net.buses[b].id.to_string()))
        };
        let stop_ids = |series: Series| {
            stops
                .iter()
                .map(move |&s| (series, net.stops[s].id.to_string()))
        };
        let entities = match req.series {
            ExportSeries::BusPositions if stop.is_some() => return refuse("stop_id"),
            ExportSeries::BusPositions => bus_ids(Series::BusPositions).collect(),
            ExportSeries::PeopleCount if bus.is_some() => return refuse("bus_id"),
            ExportSeries::PeopleCount => stop_ids(Series::PeopleCount).collect(),
            ExportSeries::BusArrivals => bus_ids(Series::BusArrivals).collect(),
            ExportSeries::Sensors if bus.is_some() && stop.is_some() => {
                return Err(QueryError::BadRequest(
                    "Give bus_id or stop_id for sensors, not both: a reading is of one".into(),
                ));
            }
            ExportSeries::Sensors => {
                let of_buses = stop.is_none();
                let of_stops = bus.is_none();
                let mut all: std::collections::VecDeque<_> = std::collections::VecDeque::new();
                if of_buses {
                    all.extend(bus_ids(Series::Sensors(EntityType::Bus)));
                }
                if of_stops {
                    all.extend(stop_ids(Series::Sensors(EntityType::Stop)));
                }
                all
            }
        };
        Ok(ExportRows {
            store: self.store.clone(),
            total: entities.len(),
            entities,
            from: req.from,
            to: req.to,
            after: None,
            only_stop: match req.series {
                ExportSeries::BusArrivals => req.stop_id,
                _ => None,
            },
        })
    }
}
