//! The time-series store behind one interface ([`Store`]). SQLite is the embedded default;
//! PostgreSQL is shared by processes on several machines. Both pass the same contract tests
//! (`tests/store_contract.rs`).

mod postgres;
mod sqlite;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

pub use postgres::PostgresStore;
pub use sqlite::{
    SqliteStore, WRITER_SETTINGS as SQLITE_WRITER_SETTINGS, insert_rows as sqlite_insert_rows,
};

use crate::network::BusId;
pub use crate::sim::Record;
use crate::sim::{BusPosition, EntityType, Records};
use crate::time::Millis;

/// Which store to use, parsed once at the edge from `--store` (`sqlite:DIR` or
/// `postgres://...`; without it, the SQLite file in `--data-dir`). The one place that names
/// an implementation.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// The embedded store: `madbus.db` in this directory.
    Sqlite(PathBuf),
    /// A PostgreSQL database, `postgres://user:password@host:port/db` (libpq's URL form).
    Postgres(String),
}

/// Shown without a password.
impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoreUrl({self})")
    }
}

impl StoreUrl {
    /// `--store` when given, else the SQLite store in `data_dir`.
    pub fn choose(store: Option<StoreUrl>, data_dir: &Path) -> Self {
        store.unwrap_or_else(|| StoreUrl::Sqlite(data_dir.to_path_buf()))
    }

    /// Opens (creating and migrating if needed) the store.
    pub async fn open(&self) -> Result<Arc<dyn Store>, StoreError> {
        Ok(match self {
            StoreUrl::Sqlite(dir) => Arc::new(SqliteStore::open(dir)?),
            StoreUrl::Postgres(url) => Arc::new(PostgresStore::connect(url).await?),
        })
    }

    /// Opens an existing store for reading only: nothing is created or changed.
    pub async fn open_read_only(&self) -> Result<Arc<dyn Store>, StoreError> {
        Ok(match self {
            StoreUrl::Sqlite(dir) => Arc::new(SqliteStore::open_read_only(dir)?),
            StoreUrl::Postgres(url) => Arc::new(PostgresStore::connect_read_only(url).await?),
        })
    }
}

impl std::str::FromStr for StoreUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some(("sqlite", dir)) if !dir.is_empty() => Ok(StoreUrl::Sqlite(PathBuf::from(dir))),
            Some(("postgres" | "postgresql", rest)) if rest.starts_with("//") && rest.len() > 2 => {
                Ok(StoreUrl::Postgres(s.to_string()))
            }
            _ => Err(format!(
                "{:?} is not a store: write sqlite:DIR or postgres://USER@HOST/DB",
                postgres::redact(s)
            )),
        }
    }
}

impl std::fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreUrl::Sqlite(dir) => write!(f, "sqlite:{}", dir.display()),
            StoreUrl::Postgres(url) => f.write_str(&postgres::redact(url)),
        }
    }
}

/// One of the recorded series, with the entity kind it is keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Series {
    BusPositions,
    PeopleCount,
    Sensors(EntityType),
    BusArrivals,
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

impl RangeQuery {
    /// The time rows must be after: the cursor's, or the beginning.
    pub fn after_ms(&self) -> i64 {
        self.after.map_or(i64::MIN, |c| c.time().0)
    }

    /// Rows to fetch: one more than the page, to tell whether another page follows.
    pub fn fetch(&self) -> i64 {
        self.limit.saturating_add(1) as i64
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub rows: Vec<Record>,
    /// Present when more rows match.
    pub next_cursor: Option<Cursor>,
}

impl Page {
    /// The page from up to [`RangeQuery::fetch`] rows in time order.
    pub fn of(mut rows: Vec<Record>, limit: usize) -> Self {
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|r| Cursor::after(r.time()))
        } else {
            None
        };
        Page { rows, next_cursor }
    }
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
    /// Another simulator has taken the store over: this one must not write again.
    #[error("another simulator has taken over the store; this one no longer writes")]
    Fenced,
}

/// The right to write the store as its one simulator, held until dropped. While it is
/// held no other simulator gets one; once [`WriterLease::lost`] completes (the database
/// connection that held it is gone), another may, and this one's writes fail with
/// [`StoreError::Fenced`].
pub struct WriterLease {
    lost: tokio_util::sync::CancellationToken,
    _held: Box<dyn std::any::Any + Send + Sync>,
}

impl WriterLease {
    pub(crate) fn new(
        lost: tokio_util::sync::CancellationToken,
        held: impl std::any::Any + Send + Sync,
    ) -> Self {
        Self {
            lost,
            _held: Box::new(held),
        }
    }

    /// Completes when the lease is lost.
    pub async fn lost(&self) {
        self.lost.cancelled().await
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Writes a batch idempotently: rows already stored are left as they are. Shared, so a
    /// writer that retries keeps its batch without copying it.
    async fn write(&self, batch: Arc<Batch>) -> Result<WriteStats, StoreError>;

    /// The last saved world state, if any.
    async fn checkpoint(&self) -> Result<Option<Checkpoint>, StoreError>;

    /// The last row of `id` with time <= `at` (an index seek).
    async fn as_of(
        &self,
        series: Series,
        id: &str,
        at: Millis,
    ) -> Result<Option<Record>, StoreError>;

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

    /// The writer lease if no other simulator holds it now (`None`: try again later). From
    /// then on this store's writes are fenced: they fail once another simulator has taken a
    /// newer lease.
    async fn try_lease_writer(&self) -> Result<Option<WriterLease>, StoreError>;

    /// The newest row of `id`.
    async fn latest(&self, series: Series, id: &str) -> Result<Option<Record>, StoreError> {
        self.as_of(series, id, Millis::MAX).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls_parse_or_say_what_to_write() {
        assert_eq!(
            "sqlite:/var/lib/madbus".parse::<StoreUrl>(),
            Ok(StoreUrl::Sqlite(PathBuf::from("/var/lib/madbus")))
        );
        let url = StoreUrl::Sqlite(PathBuf::from("data"));
        assert_eq!(url.to_string().parse::<StoreUrl>(), Ok(url));
        for bad in [
            "",
            "sqlite:",
            "mysql://x",
            "/just/a/path",
            "postgres:",
            "postgres://",
        ] {
            let e = bad.parse::<StoreUrl>().unwrap_err();
            assert!(e.contains("sqlite:DIR or postgres://"), "{bad}: {e}");
        }
        let pg = "postgres://madbus:secret@db:5432/madbus"
            .parse::<StoreUrl>()
            .unwrap();
        assert_eq!(
            pg,
            StoreUrl::Postgres("postgres://madbus:secret@db:5432/madbus".into())
        );
        assert_eq!(pg.to_string(), "postgres://madbus@db:5432/madbus");
        assert!(!format!("{pg:?}").contains("secret"));
        assert_eq!(
            StoreUrl::choose(None, Path::new("d")),
            StoreUrl::Sqlite(PathBuf::from("d"))
        );
    }
}
