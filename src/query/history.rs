//! Sealed history in memory, for as-of answers. Rows are written in time order, so a
//! stretch of an entity's series that ends before what the store holds for sure
//! ([`Stored::until`]) can no longer change until retention prunes it. Such a stretch is
//! read whole on its third miss (a question that comes back once or twice costs point
//! reads, as without this) and kept in a cache bounded by weight. Answers older than what the
//! writer has promised to keep ([`Stored::kept_from`]), and every answer while that is
//! unknown, come from the store.
//!
//! A kept stretch holds its rows' answers, written once as JSON when it is read: an as-of
//! answer from memory is then served as bytes, as the latest is (building the view and
//! writing its JSON was most of what as-of cost beyond latest).

use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use super::QueryError;
use crate::feed::Stored;
use crate::sim::Record;
use crate::store::{RangeQuery, Series, Store};
use crate::time::Millis;

/// One stretch: a simulated minute (12 positions of a bus at the default cadence). Short,
/// so that reading one costs about two point reads: history asked at scattered times
/// (over a whole fleet) gets no slower than without memory.
const STRETCH_MS: i64 = 60 * 1_000;
/// Memory for kept stretches: about 28 bus-days of positions (a bus position's answer is
/// about 290 bytes of JSON).
pub const DEFAULT_BUDGET_BYTES: u64 = 128 << 20;
/// What a kept stretch costs besides its rows, for the weight: the cache's entry, the
/// `Arc` and the shared buffer's header.
const STRETCH_OVERHEAD_BYTES: usize = 96;
/// A row's answer, for sizing the cache before anything is kept.
const TYPICAL_ANSWER_BYTES: usize = 300;
/// Slots of the doorkeeper that counts misses.
const DOORKEEPER_SLOTS: usize = 1 << 14;
/// Misses of a stretch before it is read whole: a read costs about two point reads, and
/// pays only if the stretch is asked for a few more times.
const MISSES_BEFORE_READ: u64 = 2;
/// Rows per range read while reading a stretch.
const READ_PAGE: usize = 1_000;

pub fn describe_metrics() {
    metrics::describe_counter!(
        "madbus_history_stretches_read_total",
        "Stretches of history read from the store to be kept in memory for as-of answers"
    );
    metrics::describe_gauge!(
        "madbus_history_memory_bytes",
        "Memory the stretches of history kept for as-of answers take (by their weight)"
    );
}

/// Which stretch: of which series, of which entity (its index in the network), when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct StretchKey {
    series: Series,
    entity: u32,
    stretch: i64,
}

/// Writes a row's answer, the JSON of its view, at the end of `out`; false when the row
/// has no view (so no answer).
pub trait Render: Fn(&Record, &mut Vec<u8>) -> Result<bool, QueryError> + Sync {}

impl<F: Fn(&Record, &mut Vec<u8>) -> Result<bool, QueryError> + Sync> Render for F {}

/// The answers of one stretch's rows in time order, after the row before it (the answer
/// for times before the stretch's first row): their times apart (a search touches no
/// answer), and their JSON one after another in one buffer.
pub struct Stretch {
    times: Box<[Millis]>,
    /// Where each row's answer ends in `json` (an empty one: the row has none).
    ends: Box<[u32]>,
    json: Bytes,
}

impl Stretch {
    /// Reads the rows in `start..end` of `id`, and the one before, and writes their answers.
    async fn read(
        store: &dyn Store,
        series: Series,
        id: &str,
        (start, end): (i64, i64),
        render: &impl Render,
    ) -> Result<Self, QueryError> {
        let mut rows: Vec<Record> = (store.as_of(series, id, Millis(start - 1)).await?)
            .into_iter()
            .collect();
        let mut after = None;
        loop {
            let page = store
                .range(RangeQuery {
                    series,
                    id: id.to_string(),
                    from: Millis(start),
                    to: Millis(end - 1),
                    limit: READ_PAGE,
                    after,
                })
                .await?;
            rows.extend(page.rows);
            match page.next_cursor {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }
        let mut json = Vec::with_capacity(rows.len() * TYPICAL_ANSWER_BYTES);
        let mut ends = Vec::with_capacity(rows.len());
        for row in &rows {
            let before = json.len();
            if !render(row, &mut json)? {
                json.truncate(before);
            }
            let end = u32::try_from(json.len())
                .map_err(|_| QueryError::Internal("a stretch's answers passed 4 GB".into()))?;
            ends.push(end);
        }
        json.shrink_to_fit();
        metrics::counter!("madbus_history_stretches_read_total").increment(1);
        Ok(Self {
            times: rows.iter().map(Record::time).collect(),
            ends: ends.into_boxed_slice(),
            json: Bytes::from(json),
        })
    }

    /// The last row at or before `at`: its time and answer.
    fn at(&self, at: Millis) -> Option<(Millis, Bytes)> {
        let i = self.times.partition_point(|&t| t <= at).checked_sub(1)?;
        let start = i.checked_sub(1).map_or(0, |j| self.ends[j] as usize);
        Some((self.times[i], self.json.slice(start..self.ends[i] as usize)))
    }
}

/// A row as found: its answer kept in memory (a view of a shared buffer, not a copy), or
/// the record read from the store.
pub enum Row {
    /// The JSON of the row's answer.
    Kept(Bytes),
    Stored(Record),
}

#[derive(Clone)]
struct ByMemory;

impl quick_cache::Weighter<StretchKey, Arc<Stretch>> for ByMemory {
    fn weight(&self, _: &StretchKey, stretch: &Arc<Stretch>) -> u64 {
        let per_row = size_of::<Millis>() + size_of::<u32>();
        let rows = stretch.times.len() * per_row;
        (size_of::<Stretch>() + STRETCH_OVERHEAD_BYTES + rows + stretch.json.len()) as u64
    }
}

/// Sealed stretches of history kept in memory, within a budget of bytes.
pub struct History {
    stretches: quick_cache::sync::Cache<StretchKey, Arc<Stretch>, ByMemory>,
    /// Fingerprints of stretches missed, with their misses in the low bits, one per slot (a
    /// newer stretch takes the slot).
    missed: Box<[AtomicU64]>,
    fingerprints: std::hash::RandomState,
}

impl Default for History {
    fn default() -> Self {
        Self::new(DEFAULT_BUDGET_BYTES)
    }
}

impl History {
    pub fn new(budget_bytes: u64) -> Self {
        let per_row = TYPICAL_ANSWER_BYTES + size_of::<Millis>() + size_of::<u32>();
        let per_stretch = (STRETCH_OVERHEAD_BYTES + 13 * per_row) as u64;
        Self {
            stretches: quick_cache::sync::Cache::with_weighter(
                (budget_bytes / per_stretch).max(1) as usize,
                budget_bytes,
                ByMemory,
            ),
            missed: (0..DOORKEEPER_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            fingerprints: std::hash::RandomState::new(),
        }
    }

    /// The last row of the entity (`entity`, its index, named `id`) with time <= `at`: its
    /// answer from memory (as `render` wrote it) when its stretch is sealed by `stored` and
    /// the row is one the store keeps, else the record from the store.
    pub async fn as_of(
        &self,
        store: &dyn Store,
        stored: Option<Stored>,
        series: Series,
        (entity, id): (usize, &str),
        at: Millis,
        render: &impl Render,
    ) -> Result<Option<Row>, QueryError> {
        if let (Some(stored), Ok(entity)) = (stored, u32::try_from(entity)) {
            let stretch = at.0.div_euclid(STRETCH_MS);
            let start = stretch * STRETCH_MS;
            let end = start.saturating_add(STRETCH_MS);
            if end <= stored.until.0 {
                let key = StretchKey {
                    series,
                    entity,
                    stretch,
                };
                if let Some(stretch) = self.sealed(store, key, id, (start, end), render).await?
                    && let Some((time, json)) = stretch.at(at)
                    && time >= stored.kept_from
                {
                    // An empty answer: the row has no view, so there is no answer.
                    return Ok((!json.is_empty()).then_some(Row::Kept(json)));
                }
            }
        }
        Ok(store.as_of(series, id, at).await?.map(Row::Stored))
    }

    /// The stretch of `key`, from memory, or read now if it missed often enough; `None`
    /// until then.
    async fn sealed(
        &self,
        store: &dyn Store,
        key: StretchKey,
        id: &str,
        span: (i64, i64),
        render: &impl Render,
    ) -> Result<Option<Arc<Stretch>>, QueryError> {
        if let Some(stretch) = self.stretches.get(&key) {
            return Ok(Some(stretch));
        }
        if !self.missed_enough(&key) {
            return Ok(None);
        }
        // Concurrent misses of one stretch wait for a single read.
        match self.stretches.get_value_or_guard_async(&key).await {
            Ok(stretch) => Ok(Some(stretch)),
            Err(guard) => {
                let stretch = Arc::new(Stretch::read(store, key.series, id, span, render).await?);
                let _ = guard.insert(Arc::clone(&stretch));
                metrics::gauge!("madbus_history_memory_bytes").set(self.stretches.weight() as f64);
                Ok(Some(stretch))
            }
        }
    }

    /// Whether `key` missed [`MISSES_BEFORE_READ`] times recently; counts this miss.
    fn missed_enough(&self, key: &StretchKey) -> bool {
        // Races between requests lose a count now and then: harmless.
        let fingerprint = self.fingerprints.hash_one(key) & !0b11;
        let slot = &self.missed[(fingerprint >> 2) as usize % self.missed.len()];
        let old = slot.load(Ordering::Relaxed);
        let misses = if old & !0b11 == fingerprint {
            old & 0b11
        } else {
            0
        };
        if misses >= MISSES_BEFORE_READ {
            return true;
        }
        slot.store(fingerprint | (misses + 1), Ordering::Relaxed);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::Network;
    use crate::sim::{EntityType, Records, SimConfig, World};
    use crate::store::{Batch, SqliteStore, Store};
    use crate::views::{BusPositionView, PeopleCountView, SensorView};

    const START: &str = "2026-11-23T07:00:00Z";

    /// `minutes` of the default network from [`START`], a step a second.
    fn run(minutes: i64) -> (Arc<Network>, Records) {
        let network = Arc::new(Network::default_network());
        let start = Millis::parse(START).unwrap();
        let mut world = World::new(Arc::clone(&network), SimConfig::default(), start);
        let mut records = Records::default();
        for _ in 0..minutes * 60 {
            world.step_into(&mut records);
        }
        (network, records)
    }

    /// A store in a temporary dir (kept while the store is used).
    fn empty_store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        (dir, store)
    }

    /// A store holding `minutes` of the default network.
    async fn filled(minutes: i64) -> (tempfile::TempDir, SqliteStore, Arc<Network>) {
        let (dir, store) = empty_store();
        let (network, records) = run(minutes);
        write(&store, records).await;
        (dir, store, network)
    }

    async fn write(store: &SqliteStore, records: Records) {
        let batch = Batch {
            records,
            checkpoint: None,
        };
        store.write(Arc::new(batch)).await.unwrap();
    }

    /// What the query layer keeps for a record: its view's JSON.
    fn render(record: &Record, out: &mut Vec<u8>) -> Result<bool, QueryError> {
        let written = match record {
            Record::Position(p) => serde_json::to_writer(out, &BusPositionView::from(p)),
            Record::People(p) => serde_json::to_writer(out, &PeopleCountView::from(p)),
            Record::Sensor(s) => serde_json::to_writer(out, &SensorView::from(s)),
            Record::Arrival(_) => return Ok(false),
        };
        written
            .map(|()| true)
            .map_err(|e| QueryError::Internal(e.to_string()))
    }

    /// A row's answer as JSON, however it was found.
    fn answer(row: Option<Row>) -> Option<Vec<u8>> {
        row.map(|row| match row {
            Row::Kept(json) => json.to_vec(),
            Row::Stored(record) => {
                let mut out = Vec::new();
                render(&record, &mut out).unwrap();
                out
            }
        })
    }

    /// The view read back from kept JSON is the record's own (what MCP answers with).
    fn reads_back(record: &Record, json: &[u8]) -> bool {
        match record {
            Record::Position(p) => {
                serde_json::from_slice::<BusPositionView>(json).unwrap() == p.into()
            }
            Record::People(p) => {
                serde_json::from_slice::<PeopleCountView>(json).unwrap() == p.into()
            }
            Record::Sensor(s) => serde_json::from_slice::<SensorView>(json).unwrap() == s.into(),
            Record::Arrival(_) => false,
        }
    }

    /// B002's position at or before `t`, as `history` answers it.
    async fn b002(
        history: &History,
        store: &SqliteStore,
        bus: usize,
        stored: Option<Stored>,
        t: Millis,
    ) -> Option<Vec<u8>> {
        let row = history.as_of(
            store,
            stored,
            Series::BusPositions,
            (bus, "B002"),
            t,
            &render,
        );
        answer(row.await.unwrap())
    }

    /// B002's position at or before `t` in the store.
    async fn stored_b002(store: &SqliteStore, t: Millis) -> Option<Vec<u8>> {
        let row = store.as_of(Series::BusPositions, "B002", t).await.unwrap();
        answer(row.map(Row::Stored))
    }

    fn at(minutes: f64) -> Millis {
        Millis(Millis::parse(START).unwrap().0 + (minutes * 60_000.0) as i64)
    }

    /// The series asked about: positions and sensors of a bus, the count at a stop.
    fn entities(network: &Network) -> Vec<(Series, usize, String)> {
        let bus = network.bus_index("B002").unwrap();
        let stop = network.lines[0].stops[3];
        vec![
            (Series::BusPositions, bus, "B002".into()),
            (Series::Sensors(EntityType::Bus), bus, "B002".into()),
            (
                Series::PeopleCount,
                stop,
                network.stops[stop].id.to_string(),
            ),
        ]
    }

    /// Asked four times (two misses, a read, a hit), every answer is the store's record's,
    /// and reads back as its view: at rows, between them, before all of them, across
    /// stretch edges.
    #[tokio::test]
    async fn answers_are_the_stores() {
        let (_dir, store, network) = filled(45).await;
        let stored = Some(Stored {
            until: at(45.0),
            kept_from: at(-60.0),
        });
        let history = History::default();
        for (series, entity, id) in entities(&network) {
            let mut t = at(-0.5);
            while t <= at(45.0) {
                let record = store.as_of(series, &id, t).await.unwrap();
                let expected = answer(record.clone().map(Row::Stored));
                for round in 0..4 {
                    let got = history
                        .as_of(&store, stored, series, (entity, &id), t, &render)
                        .await
                        .unwrap();
                    let kept = matches!(got, Some(Row::Kept(_)));
                    let got = answer(got);
                    let asked = format!("{series:?} {id} at {t}, round {round}");
                    assert_eq!(got, expected, "{asked}");
                    if round == 3
                        && t < at(45.0)
                        && let Some(record) = &record
                    {
                        assert!(kept, "{asked}: from memory");
                        assert!(reads_back(record, &got.unwrap()), "{asked}");
                    }
                }
                t = Millis(t.0 + 1_700);
            }
        }
        // 46 sealed stretches of each series (the first, before any row, holds none); the
        // one the clock is in is not kept.
        assert_eq!(history.stretches.len(), 3 * 46);
    }

    /// A stretch the store may still add to is not kept: later rows show at once.
    #[tokio::test]
    async fn open_stretches_come_from_the_store() {
        let (_dir, store) = empty_store();
        let (network, mut records) = run(25);
        let later = Records {
            positions: (records.positions)
                .extract_if(.., |p| p.time > at(15.0))
                .collect(),
            ..Records::default()
        };
        write(&store, records).await;
        let history = History::default();
        let bus = network.bus_index("B002").unwrap();
        let ask = async |stored, t| b002(&history, &store, bus, stored, t).await;
        let row_at = async |t| stored_b002(&store, t).await;
        let sealed = |until| {
            Some(Stored {
                until,
                kept_from: at(-60.0),
            })
        };
        let (at_9, at_15) = (row_at(at(9.0)).await, row_at(at(15.0)).await);
        for _ in 0..4 {
            assert_eq!(ask(sealed(at(15.0)), at(19.0)).await, at_15);
            assert_eq!(ask(None, at(9.0)).await, at_9);
        }
        assert_eq!(history.stretches.len(), 0, "nothing sealed was asked for");
        write(&store, later).await;
        let at_19 = row_at(at(19.0)).await;
        assert_ne!(at_19, at_15);
        assert_eq!(ask(sealed(at(25.0)), at(19.0)).await, at_19);
    }

    /// Rows older than what the writer promises to keep come from the store, which may
    /// have pruned them, even when their stretch is in memory.
    #[tokio::test]
    async fn rows_the_writer_may_prune_come_from_the_store() {
        let (_dir, store, network) = filled(25).await;
        let history = History::default();
        let bus = network.bus_index("B002").unwrap();
        let ask = async |kept_from, t| {
            let stored = Some(Stored {
                until: at(25.0),
                kept_from,
            });
            b002(&history, &store, bus, stored, t).await
        };
        let row_at = async |t| stored_b002(&store, t).await;
        let (at_4, at_6) = (row_at(at(4.0)).await, row_at(at(6.0)).await);
        assert!(at_4.is_some());
        for _ in 0..4 {
            assert_eq!(ask(at(-60.0), at(4.0)).await, at_4);
        }
        assert_eq!(history.stretches.len(), 1);
        store.prune(at(5.0)).await.unwrap();
        assert_eq!(ask(at(5.0), at(4.0)).await, None);
        assert_eq!(ask(at(5.0), at(6.0)).await, at_6);
    }
}
