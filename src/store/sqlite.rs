//! The embedded store: one SQLite file in the data directory, WAL mode, one writer
//! connection and a small pool of read-only connections (readers never block the writer).
//! Every statement is a fixed string with bound parameters.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, ToSql, Transaction, named_params, params,
};

use super::{
    ApiKeyRecord, Batch, Checkpoint, Page, RangeQuery, Record, Series, Store, StoreError,
    WriteStats,
};
use crate::network::{BusId, Id};
use crate::sim::{
    BusArrival, BusPosition, DoorStatus, EntityType, LineWaiting, PeopleCount, Records,
    SensorReading,
};
use crate::time::Millis;

pub const DB_FILE: &str = "madbus.db";
/// Locked (an OS file lock) by the simulator that writes the store: released when its
/// process ends, however it ends.
pub const WRITER_LOCK_FILE: &str = "madbus.writer.lock";
/// Read connections: at most this many queries run at once, each on a connection kept
/// open (opening one parses the schema, which cost more than the query it served).
const READ_POOL: usize = 8;

/// The writer connection's settings. Public for the backfill benchmark, whose baselines
/// insert with them. A WAL checkpoint every 64 MB rather than every 4 MB: a backfill copies
/// pages into the database file a tenth as often (10-15 % faster); the file shrinks back after.
pub const WRITER_SETTINGS: &str = "PRAGMA journal_mode = WAL;
     PRAGMA synchronous = NORMAL;
     PRAGMA busy_timeout = 5000;
     PRAGMA cache_size = -65536;
     PRAGMA wal_autocheckpoint = 16384;
     PRAGMA journal_size_limit = 67108864;";

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    // 1: the four series and the saved world.
    "CREATE TABLE bus_positions (
        bus_id TEXT NOT NULL, t INTEGER NOT NULL, line_id TEXT NOT NULL,
        latitude REAL NOT NULL, longitude REAL NOT NULL, speed_kmh REAL NOT NULL,
        direction INTEGER NOT NULL, passenger_count INTEGER NOT NULL,
        next_stop_id TEXT NOT NULL, distance_to_next_stop_m REAL NOT NULL, at_stop INTEGER NOT NULL,
        PRIMARY KEY (bus_id, t)) WITHOUT ROWID;
     CREATE TABLE people_count (
        stop_id TEXT NOT NULL, t INTEGER NOT NULL, count INTEGER NOT NULL, line_ids TEXT NOT NULL,
        PRIMARY KEY (stop_id, t)) WITHOUT ROWID;
     CREATE TABLE sensors (
        entity_type TEXT NOT NULL, entity_id TEXT NOT NULL, t INTEGER NOT NULL,
        temperature REAL NOT NULL, humidity REAL NOT NULL, co2_level REAL, door_status TEXT,
        PRIMARY KEY (entity_type, entity_id, t)) WITHOUT ROWID;
     CREATE TABLE bus_arrivals (
        bus_id TEXT NOT NULL, t INTEGER NOT NULL, line_id TEXT NOT NULL, stop_id TEXT NOT NULL,
        direction INTEGER NOT NULL, boarded INTEGER NOT NULL, alighted INTEGER NOT NULL,
        passengers_after INTEGER NOT NULL, waiting_after INTEGER NOT NULL,
        PRIMARY KEY (bus_id, t)) WITHOUT ROWID;
     CREATE TABLE world_state (
        id INTEGER PRIMARY KEY CHECK (id = 1), t INTEGER NOT NULL, state TEXT NOT NULL);",
    // 2: API keys, hashed.
    "CREATE TABLE api_keys (
        id TEXT PRIMARY KEY, group_name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL, expires_at INTEGER, revoked_at INTEGER);",
    // 3: trips, service and the people waiting by line, direction and giving up.
    "ALTER TABLE bus_positions ADD COLUMN in_service INTEGER NOT NULL DEFAULT 1;
     ALTER TABLE bus_positions ADD COLUMN trip_id TEXT;
     ALTER TABLE bus_positions ADD COLUMN delay_s INTEGER;
     ALTER TABLE people_count ADD COLUMN waiting TEXT NOT NULL DEFAULT '';
     ALTER TABLE people_count ADD COLUMN gave_up INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE bus_arrivals ADD COLUMN trip_id TEXT;
     ALTER TABLE bus_arrivals ADD COLUMN delay_s INTEGER;",
];

pub struct SqliteStore {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    readers: Arc<ReaderPool>,
}

/// Idle read connections, and one permit per connection that may be in use.
struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<tokio::sync::Semaphore>,
}

impl ReaderPool {
    fn new(path: PathBuf) -> Arc<Self> {
        Arc::new(Self {
            path,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(tokio::sync::Semaphore::new(READ_POOL)),
        })
    }

    /// Runs `f` on an idle connection (opened if none is), holding one of the permits.
    fn run<T>(
        &self,
        _permit: tokio::sync::OwnedSemaphorePermit,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match idle {
            Some(c) => c,
            None => open_reader(&self.path)?,
        };
        let result = f(&conn).map_err(backend);
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(conn);
        result
    }
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `data_dir` and brings its schema up to date.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| backend(format!("cannot create {}: {e}", data_dir.display())))?;
        let path = data_dir.join(DB_FILE);
        let mut conn = Connection::open(&path).map_err(backend)?;
        // Refuse a newer store before changing anything in it (journal mode included).
        schema_version(&conn)?;
        conn.execute_batch(WRITER_SETTINGS).map_err(backend)?;
        keep_plans(&conn)?;
        migrate(&mut conn)?;
        Ok(Self {
            readers: ReaderPool::new(path.clone()),
            path,
            writer: Arc::new(Mutex::new(conn)),
        })
    }

    /// Opens an existing store for reading only (beside a running server, say): every
    /// write fails, and nothing is created or migrated.
    pub fn open_read_only(data_dir: &Path) -> Result<Self, StoreError> {
        let path = data_dir.join(DB_FILE);
        if !path.exists() {
            return Err(backend(format!(
                "no madbus store at {}: run `madbus serve` with this --data-dir first",
                path.display()
            )));
        }
        let conn = open_reader(&path)?;
        let (version, known) = schema_version(&conn)?;
        if version < known {
            return Err(backend(format!(
                "the store at {} is at schema version {version}, older than this madbus \
                 ({known}): start `madbus serve` once to upgrade it",
                path.display()
            )));
        }
        Ok(Self {
            readers: ReaderPool::new(path.clone()),
            path,
            writer: Arc::new(Mutex::new(conn)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a pooled read-only connection, off the async runtime.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let pool = Arc::clone(&self.readers);
        let permit = Arc::clone(&pool.permits)
            .acquire_owned()
            .await
            .map_err(backend)?;
        tokio::task::spawn_blocking(move || pool.run(permit, f))
            .await
            .map_err(backend)?
    }

    /// Runs a point read (one index seek, a few microseconds) on the calling thread when
    /// a connection is idle: handing it to the blocking pool and back cost more than the
    /// read (as-of went from 0.54x to 0.70x of latest's requests/s).
    async fn point_read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        match Arc::clone(&self.readers.permits).try_acquire_owned() {
            Ok(permit) => self.readers.run(permit, f),
            Err(_) => self.read(f).await,
        }
    }
}

impl SqliteStore {
    /// Runs `f` on the writer connection, off the async runtime.
    async fn write_with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let writer = Arc::clone(&self.writer);
        tokio::task::spawn_blocking(move || {
            let conn = writer.lock().unwrap_or_else(|p| p.into_inner());
            f(&conn).map_err(backend)
        })
        .await
        .map_err(backend)?
    }
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(backend)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(backend)?;
    // Point reads copy pages from the memory map instead of a `pread` each. The file
    // never shrinks (no VACUUM), so a mapped page cannot vanish under a reader.
    conn.execute_batch("PRAGMA mmap_size = 1073741824;")
        .map_err(backend)?;
    keep_plans(&conn)?;
    Ok(conn)
}

/// Plans stay as prepared whatever values are bound. Without this, SQLite marks the
/// entity key of every `WHERE id = ? AND t <= ?` statement as plan-changing, and since
/// rusqlite clears bindings when a cached statement goes back to its cache, every query
/// was compiled again (a fifth of an as-of request's CPU time).
fn keep_plans(conn: &Connection) -> Result<(), StoreError> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map(drop)
    .map_err(backend)
}

/// The store's schema version and the newest this madbus knows; a newer store is an error.
fn schema_version(conn: &Connection) -> Result<(i64, i64), StoreError> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(backend)?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::TooNew {
            found: version,
            known,
        });
    }
    Ok((version, known))
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let (version, _) = schema_version(conn)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction().map_err(backend)?;
        tx.execute_batch(sql).map_err(backend)?;
        // PRAGMA takes no bound parameters; the value is our own integer.
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
    }
    Ok(())
}

fn write_batch(tx: &Transaction, batch: &Batch) -> rusqlite::Result<u64> {
    let written = insert_rows(tx, &batch.records)?;
    if let Some(cp) = &batch.checkpoint {
        tx.prepare_cached(
            "INSERT INTO world_state (id, t, state) VALUES (1, ?1, ?2)
             ON CONFLICT (id) DO UPDATE SET t = excluded.t, state = excluded.state",
        )?
        .execute(params![cp.time.0, cp.state_json])?;
    }
    Ok(written)
}

/// Inserts `records` into the four series tables of `conn`; returns the rows written. Public
/// for the backfill benchmark's baseline, which runs it on tables of the same columns
/// without keys (the same rows, bound the same way).
pub fn insert_rows(conn: &Connection, records: &Records) -> rusqlite::Result<u64> {
    let mut written = 0u64;
    {
        let mut st = conn.prepare_cached(
            "INSERT OR IGNORE INTO bus_positions VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )?;
        for p in records.positions_by_key() {
            written += st.execute(params![
                p.bus_id.as_str(),
                p.time.0,
                p.line_id.as_str(),
                p.latitude,
                p.longitude,
                p.speed_kmh,
                p.direction,
                p.passenger_count,
                p.next_stop_id.as_str(),
                p.distance_to_next_stop_m,
                p.at_stop,
                p.in_service,
                p.trip_id.as_deref(),
                p.delay_s,
            ])? as u64;
        }
    }
    {
        let mut st = conn
            .prepare_cached("INSERT OR IGNORE INTO people_count VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
        for p in &records.people {
            let lines = p
                .line_ids
                .iter()
                .map(|l| l.as_str())
                .collect::<Vec<_>>()
                .join(",");
            written += st.execute(params![
                p.stop_id.as_str(),
                p.time.0,
                p.count,
                lines,
                LineWaiting::encode_list(&p.waiting),
                p.gave_up
            ])? as u64;
        }
    }
    {
        let mut st = conn
            .prepare_cached("INSERT OR IGNORE INTO sensors VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?;
        for s in &records.sensors {
            written += st.execute(params![
                s.entity_type.as_str(),
                &*s.entity_id,
                s.time.0,
                s.temperature,
                s.humidity,
                s.co2_level,
                s.door_status.map(DoorStatus::as_str),
            ])? as u64;
        }
    }
    {
        let mut st = conn.prepare_cached(
            "INSERT OR IGNORE INTO bus_arrivals VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        for a in &records.arrivals {
            written += st.execute(params![
                a.bus_id.as_str(),
                a.time.0,
                a.line_id.as_str(),
                a.stop_id.as_str(),
                a.direction,
                a.boarded,
                a.alighted,
                a.passengers_after,
                a.waiting_after,
                a.trip_id.as_deref(),
                a.delay_s,
            ])? as u64;
        }
    }
    Ok(written)
}

/// How a series is laid out: its table, key columns and row decoder. All fixed strings.
struct Layout {
    columns: &'static str,
    table: &'static str,
    /// Condition on `:id` (and `:kind` for sensors).
    key: &'static str,
    /// The row of the entity at or before `:at`: written out at compile time, since an
    /// as-of is a hot path and this text is also the statement cache's key.
    as_of: &'static str,
    decode: fn(&rusqlite::Row) -> rusqlite::Result<Record>,
}

/// A [`Layout`] from its columns, table and key condition (literals).
macro_rules! layout {
    (columns: $columns:literal, table: $table:literal, key: $key:literal, decode: $decode:expr $(,)?) => {
        Layout {
            columns: $columns,
            table: $table,
            key: $key,
            as_of: concat!(
                "SELECT ",
                $columns,
                " FROM ",
                $table,
                " WHERE ",
                $key,
                " AND t <= :at ORDER BY t DESC LIMIT 1"
            ),
            decode: $decode,
        }
    };
}

fn layout(series: Series) -> Layout {
    match series {
        Series::BusPositions => layout! {
            columns: "bus_id, t, line_id, latitude, longitude, speed_kmh, direction, passenger_count, next_stop_id, distance_to_next_stop_m, at_stop, in_service, trip_id, delay_s",
            table: "bus_positions",
            key: "bus_id = :id",
            decode: |r| decode_position(r).map(Record::Position),
        },
        Series::PeopleCount => layout! {
            columns: "stop_id, t, count, line_ids, waiting, gave_up",
            table: "people_count",
            key: "stop_id = :id",
            decode: |r| {
                let lines: String = r.get(3)?;
                let line_ids = lines
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(parse_id)
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(Record::People(PeopleCount {
                    stop_id: parse_id(&r.get::<_, String>(0)?)?,
                    time: Millis(r.get(1)?),
                    count: r.get(2)?,
                    line_ids: line_ids.into(),
                    waiting: {
                        let text: String = r.get(4)?;
                        LineWaiting::parse_list(&text).ok_or_else(|| corrupt("waiting", &text))?
                    },
                    gave_up: r.get(5)?,
                }))
            },
        },
        Series::Sensors(_) => layout! {
            columns: "entity_type, entity_id, t, temperature, humidity, co2_level, door_status",
            table: "sensors",
            key: "entity_id = :id AND entity_type = :kind",
            decode: |r| {
                let kind: String = r.get(0)?;
                let door: Option<String> = r.get(6)?;
                Ok(Record::Sensor(SensorReading {
                    entity_type: EntityType::parse(&kind)
                        .ok_or_else(|| corrupt("entity_type", &kind))?,
                    entity_id: r.get::<_, String>(1)?.into(),
                    time: Millis(r.get(2)?),
                    temperature: r.get(3)?,
                    humidity: r.get(4)?,
                    co2_level: r.get(5)?,
                    door_status: door
                        .map(|d| DoorStatus::parse(&d).ok_or_else(|| corrupt("door_status", &d)))
                        .transpose()?,
                }))
            },
        },
        Series::BusArrivals => layout! {
            columns: "bus_id, t, line_id, stop_id, direction, boarded, alighted, passengers_after, waiting_after, trip_id, delay_s",
            table: "bus_arrivals",
            key: "bus_id = :id",
            decode: |r| {
                Ok(Record::Arrival(BusArrival {
                    bus_id: parse_id(&r.get::<_, String>(0)?)?,
                    time: Millis(r.get(1)?),
                    line_id: parse_id(&r.get::<_, String>(2)?)?,
                    stop_id: parse_id(&r.get::<_, String>(3)?)?,
                    direction: r.get(4)?,
                    boarded: r.get(5)?,
                    alighted: r.get(6)?,
                    passengers_after: r.get(7)?,
                    waiting_after: r.get(8)?,
                    trip_id: r.get::<_, Option<String>>(9)?.map(Arc::from),
                    delay_s: r.get(10)?,
                }))
            },
        },
    }
}

fn decode_position(r: &rusqlite::Row) -> rusqlite::Result<BusPosition> {
    Ok(BusPosition {
        bus_id: parse_id(&r.get::<_, String>(0)?)?,
        time: Millis(r.get(1)?),
        line_id: parse_id(&r.get::<_, String>(2)?)?,
        latitude: r.get(3)?,
        longitude: r.get(4)?,
        speed_kmh: r.get(5)?,
        direction: r.get(6)?,
        passenger_count: r.get(7)?,
        next_stop_id: parse_id(&r.get::<_, String>(8)?)?,
        distance_to_next_stop_m: r.get(9)?,
        at_stop: r.get(10)?,
        in_service: r.get(11)?,
        trip_id: r.get::<_, Option<String>>(12)?.map(Arc::from),
        delay_s: r.get(13)?,
    })
}

fn corrupt(field: &str, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("bad {field} {value:?}").into(),
    )
}

fn parse_id<K>(s: &str) -> rusqlite::Result<Id<K>> {
    Id::parse(s).map_err(|_| corrupt("id", s))
}

/// Named parameters for a series' key, followed by `rest`.
fn key_params<'a>(
    series: Series,
    id: &'a dyn ToSql,
    rest: &[(&'static str, &'a dyn ToSql)],
) -> Vec<(&'static str, &'a dyn ToSql)> {
    let mut out: Vec<(&'static str, &'a dyn ToSql)> = vec![(":id", id)];
    if let Series::Sensors(kind) = series {
        out.push((":kind", kind_str(kind)));
    }
    out.extend_from_slice(rest);
    out
}

fn kind_str(kind: EntityType) -> &'static &'static str {
    match kind {
        EntityType::Bus => &"bus",
        EntityType::Stop => &"stop",
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn write(&self, batch: Arc<Batch>) -> Result<WriteStats, StoreError> {
        let writer = Arc::clone(&self.writer);
        tokio::task::spawn_blocking(move || {
            let mut conn = writer.lock().unwrap_or_else(|p| p.into_inner());
            let tx = conn.transaction().map_err(backend)?;
            let rows_written = write_batch(&tx, &batch).map_err(backend)?;
            tx.commit().map_err(backend)?;
            Ok(WriteStats { rows_written })
        })
        .await
        .map_err(backend)?
    }

    async fn checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        self.write_with(|conn| {
            conn.query_row("SELECT t, state FROM world_state WHERE id = 1", [], |r| {
                Ok(Checkpoint {
                    time: Millis(r.get(0)?),
                    state_json: r.get(1)?,
                })
            })
            .optional()
        })
        .await
    }

    async fn as_of(
        &self,
        series: Series,
        id: &str,
        at: Millis,
    ) -> Result<Option<Record>, StoreError> {
        let id = id.to_string();
        self.point_read(move |conn| {
            let l = layout(series);
            let mut st = conn.prepare_cached(l.as_of)?;
            st.query_row(&*key_params(series, &id, &[(":at", &at.0)]), |r| {
                (l.decode)(r)
            })
            .optional()
        })
        .await
    }

    async fn range(&self, q: RangeQuery) -> Result<Page, StoreError> {
        self.read(move |conn| {
            let l = layout(q.series);
            let sql = format!(
                "SELECT {} FROM {} WHERE {} AND t >= :from AND t <= :to AND t > :after ORDER BY t ASC LIMIT :fetch",
                l.columns, l.table, l.key
            );
            let (after, fetch) = (q.after_ms(), q.fetch());
            let mut st = conn.prepare_cached(&sql)?;
            let rows = st
                .query_map(
                    &*key_params(
                        q.series,
                        &q.id,
                        &[(":from", &q.from.0), (":to", &q.to.0), (":after", &after), (":fetch", &fetch)],
                    ),
                    |r| (l.decode)(r),
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Page::of(rows, q.limit))
        })
        .await
    }

    async fn line_snapshot(
        &self,
        bus_ids: &[BusId],
        at: Millis,
    ) -> Result<Vec<BusPosition>, StoreError> {
        let ids: Vec<String> = bus_ids.iter().map(|b| b.to_string()).collect();
        self.read(move |conn| {
            let l = layout(Series::BusPositions);
            let sql = format!(
                "SELECT {} FROM bus_positions WHERE bus_id = ?1 AND t <= ?2 ORDER BY t DESC LIMIT 1",
                l.columns
            );
            let mut st = conn.prepare_cached(&sql)?;
            let mut out = Vec::with_capacity(ids.len());
            for id in &ids {
                if let Some(p) = st.query_row(params![id, at.0], decode_position).optional()? {
                    out.push(p);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn prune(&self, before: Millis) -> Result<u64, StoreError> {
        let writer = Arc::clone(&self.writer);
        tokio::task::spawn_blocking(move || {
            let mut conn = writer.lock().unwrap_or_else(|p| p.into_inner());
            let tx = conn.transaction().map_err(backend)?;
            let mut deleted = 0u64;
            for (table, id) in [
                ("bus_positions", "bus_id"),
                ("people_count", "stop_id"),
                ("bus_arrivals", "bus_id"),
            ] {
                let sql = prune_sql(table, id, "1");
                deleted += tx
                    .prepare_cached(&sql)
                    .and_then(|mut st| st.execute(named_params! {":before": before.0}))
                    .map_err(backend)? as u64;
            }
            let sql = prune_sql("sensors", "entity_id", "entity_type = :kind");
            for kind in ["bus", "stop"] {
                deleted += tx
                    .prepare_cached(&sql)
                    .and_then(|mut st| {
                        st.execute(named_params! {":before": before.0, ":kind": kind})
                    })
                    .map_err(backend)? as u64;
            }
            tx.commit().map_err(backend)?;
            Ok(deleted)
        })
        .await
        .map_err(backend)?
    }

    async fn time_span(&self) -> Result<Option<(Millis, Millis)>, StoreError> {
        self.read(|conn| {
            conn.query_row("SELECT min(t), max(t) FROM bus_positions", [], |r| {
                let (lo, hi): (Option<i64>, Option<i64>) = (r.get(0)?, r.get(1)?);
                Ok(lo.zip(hi).map(|(lo, hi)| (Millis(lo), Millis(hi))))
            })
        })
        .await
    }

    async fn insert_key(&self, key: ApiKeyRecord) -> Result<(), StoreError> {
        self.write_with(move |conn| {
            conn.execute(
                "INSERT INTO api_keys (id, group_name, hash, created_at, expires_at, revoked_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    key.id,
                    key.group,
                    key.hash,
                    key.created_at.0,
                    key.expires_at.map(|t| t.0),
                    key.revoked_at.map(|t| t.0)
                ],
            )
            .map(|_| ())
        })
        .await
    }

    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.read(|conn| {
            let mut st = conn.prepare_cached(
                "SELECT id, group_name, hash, created_at, expires_at, revoked_at
                 FROM api_keys ORDER BY created_at, id",
            )?;
            st.query_map([], |r| {
                Ok(ApiKeyRecord {
                    id: r.get(0)?,
                    group: r.get(1)?,
                    hash: r.get(2)?,
                    created_at: Millis(r.get(3)?),
                    expires_at: r.get::<_, Option<i64>>(4)?.map(Millis),
                    revoked_at: r.get::<_, Option<i64>>(5)?.map(Millis),
                })
            })?
            .collect()
        })
        .await
    }

    async fn revoke_key(&self, id: &str, at: Millis) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.write_with(move |conn| {
            conn.execute(
                "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id, at.0],
            )
            .map(|n| n > 0)
        })
        .await
    }

    async fn expire_group_keys(
        &self,
        group: &str,
        keep: &str,
        at: Millis,
    ) -> Result<u64, StoreError> {
        let (group, keep) = (group.to_string(), keep.to_string());
        self.write_with(move |conn| {
            conn.execute(
                "UPDATE api_keys SET expires_at = min(coalesce(expires_at, ?3), ?3)
                 WHERE group_name = ?1 AND id != ?2 AND revoked_at IS NULL",
                params![group, keep, at.0],
            )
            .map(|n| n as u64)
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| conn.query_row("SELECT 1", [], |_| Ok(())))
            .await
    }

    async fn try_lease_writer(&self) -> Result<Option<super::WriterLease>, StoreError> {
        let path = self.path.with_file_name(WRITER_LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| backend(format!("cannot open {}: {e}", path.display())))?;
        match file.try_lock() {
            // On one machine the lock lasts as long as the process: it is never lost.
            Ok(()) => Ok(Some(super::WriterLease::new(
                tokio_util::sync::CancellationToken::new(),
                file,
            ))),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(backend(format!("cannot lock {}: {e}", path.display())))
            }
        }
    }
}

/// Deletes the rows of `table` older than `:before` with one primary-key range per entity.
/// The entities are found by hopping along the key (a skip scan), so pruning never scans a
/// whole table. `scope` narrows the key's leading columns (`1` when there are none).
fn prune_sql(table: &str, id: &str, scope: &str) -> String {
    format!(
        "WITH RECURSIVE ids(id) AS (
             SELECT min({id}) FROM {table} WHERE {scope}
             UNION ALL
             SELECT (SELECT min({id}) FROM {table} WHERE {scope} AND {id} > ids.id)
             FROM ids WHERE ids.id IS NOT NULL)
         DELETE FROM {table}
         WHERE {scope} AND {id} IN (SELECT id FROM ids WHERE id IS NOT NULL) AND t < :before"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cached read is compiled once, whatever ids and times it is asked with.
    #[tokio::test]
    async fn cached_reads_are_not_compiled_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        for (i, id) in ["B001", "B002", "B003", "B001"].into_iter().enumerate() {
            let at = Millis(1_000 * i as i64);
            store.as_of(Series::BusPositions, id, at).await.unwrap();
        }
        let conn = store.readers.idle.lock().unwrap().pop().unwrap();
        let st = conn
            .prepare_cached(layout(Series::BusPositions).as_of)
            .unwrap();
        assert_eq!(st.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }
}
