//! The time-series store behind one interface ([`Store`]). SQLite is the embedded default;
//! other implementations (PostgreSQL) must pass the same contract tests
//! (`tests/store_contract.rs`).

mod sqlite;

use async_trait::async_trait;

pub use sqlite::SqliteStore;

use crate::network::BusId;
use crate::sim::{BusArrival, BusPosition, EntityType, PeopleCount, Records, SensorReading};
use crate::time::Millis;

/// One of the recorded series, with the entity kind it is keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Series {
    BusPositions,
    PeopleCount,
    Sensors(EntityType),
    BusArrivals,
}

/// One stored record.
#[derive(Debug, Clone, PartialEq)]
pub enum Row {
    Position(BusPosition),
    People(PeopleCount),
    Sensor(SensorReading),
    Arrival(BusArrival),
}

impl Row {
    pub fn time(&self) -> Millis {
        match self {
            Row::Position(r) => r.time,
            Row::People(r) => r.time,
            Row::Sensor(r) => r.time,
            Row::Arrival(r) => r.time,
        }
    }
}

/// Where the next page of a range starts: opaque to clients, checked when parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(Millis);

impl Cursor {
    pub fn after(t: Millis) -> Self {
        Cursor(t)
    }
    pub fn time(self) -> Millis {
        self.0
    }
    pub fn encode(self) -> String {
        format!("t{}", self.0.0)
    }
    pub fn decode(s: &str) -> Option<Self> {
        let digits = s.strip_prefix('t')?;
        if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().map(|ms| Cursor(Millis(ms)))
    }
}

#[derive(Debug, Clone)]
pub struct RangeQuery {
    pub series: Series,
    pub id: String,
    /// Inclusive.
    pub from: Millis,
    /// Inclusive.
    pub to: Millis,
    pub limit: usize,
    /// Continue after this cursor (from the previous page).
    pub after: Option<Cursor>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub rows: Vec<Row>,
    /// Present when more rows match.
    pub next_cursor: Option<Cursor>,
}

/// The saved world: the simulation state (opaque JSON) and its time.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub time: Millis,
    pub state_json: String,
}

/// What one write carries: the records of one or more steps and the world state after them,
/// written atomically so a restart resumes exactly where the saved records end.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub records: Records,
    pub checkpoint: Option<Checkpoint>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Rows newly stored (a retried batch stores none).
    pub rows_written: u64,
}

/// An API key as stored: only its SHA-256 hash, never the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Short public id (part of the key), for listing and revoking.
    pub id: String,
    pub group: String,
    /// Hex SHA-256 of the whole key.
    pub hash: String,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store I/O failed: {0}")]
    Backend(String),
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    #[error("the store schema is version {found}, newer than this madbus understands ({known})")]
    TooNew { found: i64, known: i64 },
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Writes a batch idempotently: rows already stored are left as they are.
    async fn write(&self, batch: Batch) -> Result<WriteStats, StoreError>;

    /// The last saved world state, if any.
    async fn checkpoint(&self) -> Result<Option<Checkpoint>, StoreError>;

    /// The last row of `id` with time <= `at` (an index seek).
    async fn as_of(&self, series: Series, id: &str, at: Millis) -> Result<Option<Row>, StoreError>;

    /// Rows of `id` in `from..=to`, ascending, one page at a time.
    async fn range(&self, query: RangeQuery) -> Result<Page, StoreError>;

    /// The position of each of `bus_ids` as of `at` (buses with no data are left out).
    async fn line_snapshot(
        &self,
        bus_ids: &[BusId],
        at: Millis,
    ) -> Result<Vec<BusPosition>, StoreError>;

    /// Deletes rows older than `before`; returns how many.
    async fn prune(&self, before: Millis) -> Result<u64, StoreError>;

    /// Times of the oldest and newest bus position stored.
    async fn time_span(&self) -> Result<Option<(Millis, Millis)>, StoreError>;

    /// Stores a new API key record (its id must be new).
    async fn insert_key(&self, key: ApiKeyRecord) -> Result<(), StoreError>;

    /// Every API key record, oldest first.
    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError>;

    /// Marks a key revoked at `at`; false when no such key is active.
    async fn revoke_key(&self, id: &str, at: Millis) -> Result<bool, StoreError>;

    /// Makes every active key of `group` except `keep` expire at `at` (or earlier if it
    /// already would); returns how many changed. Used by rotation with a grace period.
    async fn expire_group_keys(
        &self,
        group: &str,
        keep: &str,
        at: Millis,
    ) -> Result<u64, StoreError>;

    /// A cheap check that the store answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// The newest row of `id`.
    async fn latest(&self, series: Series, id: &str) -> Result<Option<Row>, StoreError> {
        self.as_of(series, id, Millis::MAX).await
    }
}
