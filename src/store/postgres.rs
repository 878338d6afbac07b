//! The shared store: PostgreSQL, for a simulator and API processes on several machines.
//! The same contract as SQLite (`tests/store_contract.rs` runs against both). Writes are one
//! transaction per batch, one binary COPY per series, idempotent (rows already stored, as
//! in a retried batch, are kept: such a series goes through a staging table and `ON CONFLICT
//! DO NOTHING` on (entity, time)), with the world state in the same transaction. A large
//! batch (a backfill's) sends half its rows through a second transaction committed just
//! before: rows may be stored ahead of the world state, never the world state ahead of rows.
//! Migrations run under an advisory lock, so whoever starts first applies them.
//! One simulator writes at a time: it holds a session advisory lock on a connection of its
//! own (released by PostgreSQL when that connection goes, kill -9 or a lost machine
//! included: keepalives notice within seconds) and a fencing epoch that every write checks,
//! so a simulator that lost the lock can never write after another took over.
//! Every statement is a fixed string with bound parameters.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::{BufMut, BytesMut};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures_util::SinkExt;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use super::{
    ApiKeyRecord, Batch, Checkpoint, Page, RangeQuery, Record, Series, Store, StoreError,
    WriteStats,
};
use crate::network::{BusId, Id};
use crate::sim::{
    BusArrival, BusPosition, DoorStatus, EntityType, LineWaiting, PeopleCount, SensorReading,
};
use crate::time::Millis;

/// Connections kept at most.
const POOL_SIZE: usize = 16;
/// Connecting, waiting for a pooled connection, and each statement are bounded.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const STATEMENT_TIMEOUT_MS: u64 = 30_000;
/// `pg_advisory_xact_lock` key under which migrations run ("madbus" in ASCII, roughly).
const MIGRATION_LOCK: i64 = 0x6d61_6462_7573;
/// `pg_try_advisory_lock` key the writing simulator holds.
const WRITER_LOCK: i64 = 0x6d61_6462_7577;
/// How often the writer checks the connection that holds its lock.
const LEASE_CHECK: Duration = Duration::from_secs(1);
/// The epoch of a store that holds no lease; -1 once its lease is lost to another
/// simulator; -2 while the connection holding the lock is being re-made (writes wait).
const NO_LEASE: i64 = 0;
const LOST_LEASE: i64 = -1;
const RETAKING_LEASE: i64 = -2;

/// Schema migrations, applied in order; `madbus_schema.version` records how many ran.
const MIGRATIONS: &[&str] = &[
    // 1: the four series, the saved world and the API keys. Ids compare bytewise (`C`
    // collation: they are ASCII). Each series has only its primary key (entity, time):
    // as-of, ranges, spans and pruning all use it.
    "CREATE TABLE bus_positions (
        bus_id TEXT COLLATE \"C\" NOT NULL, t BIGINT NOT NULL, line_id TEXT NOT NULL,
        latitude DOUBLE PRECISION NOT NULL, longitude DOUBLE PRECISION NOT NULL,
        speed_kmh DOUBLE PRECISION NOT NULL, direction SMALLINT NOT NULL,
        passenger_count BIGINT NOT NULL, next_stop_id TEXT NOT NULL,
        distance_to_next_stop_m DOUBLE PRECISION NOT NULL, at_stop BOOLEAN NOT NULL,
        PRIMARY KEY (bus_id, t));
     CREATE TABLE people_count (
        stop_id TEXT COLLATE \"C\" NOT NULL, t BIGINT NOT NULL, count BIGINT NOT NULL,
        line_ids TEXT NOT NULL, PRIMARY KEY (stop_id, t));
     CREATE TABLE sensors (
        entity_type TEXT COLLATE \"C\" NOT NULL, entity_id TEXT COLLATE \"C\" NOT NULL,
        t BIGINT NOT NULL, temperature DOUBLE PRECISION NOT NULL,
        humidity DOUBLE PRECISION NOT NULL, co2_level DOUBLE PRECISION, door_status TEXT,
        PRIMARY KEY (entity_type, entity_id, t));
     CREATE TABLE bus_arrivals (
        bus_id TEXT COLLATE \"C\" NOT NULL, t BIGINT NOT NULL, line_id TEXT NOT NULL,
        stop_id TEXT NOT NULL, direction SMALLINT NOT NULL, boarded BIGINT NOT NULL,
        alighted BIGINT NOT NULL, passengers_after BIGINT NOT NULL,
        waiting_after BIGINT NOT NULL, PRIMARY KEY (bus_id, t));
     CREATE TABLE world_state (
        id INTEGER PRIMARY KEY CHECK (id = 1), t BIGINT NOT NULL, state TEXT NOT NULL);
     CREATE TABLE api_keys (
        id TEXT PRIMARY KEY, group_name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,
        created_at BIGINT NOT NULL, expires_at BIGINT, revoked_at BIGINT);",
    // 2: the writer's fencing epoch, moved on by each simulator that takes the store.
    "CREATE TABLE madbus_writer (id INTEGER PRIMARY KEY CHECK (id = 1), epoch BIGINT NOT NULL);
     INSERT INTO madbus_writer (id, epoch) VALUES (1, 0);",
    // 3: trips, service and the people waiting by line, direction and giving up.
    "ALTER TABLE bus_positions ADD COLUMN in_service BOOLEAN NOT NULL DEFAULT TRUE,
        ADD COLUMN trip_id TEXT, ADD COLUMN delay_s BIGINT;
     ALTER TABLE people_count ADD COLUMN waiting TEXT NOT NULL DEFAULT '',
        ADD COLUMN gave_up BIGINT NOT NULL DEFAULT 0;
     ALTER TABLE bus_arrivals ADD COLUMN trip_id TEXT, ADD COLUMN delay_s BIGINT;",
];

pub struct PostgresStore {
    pool: Pool,
    config: tokio_postgres::Config,
    /// The epoch of this store's writer lease ([`NO_LEASE`], [`LOST_LEASE`]).
    epoch: Arc<AtomicI64>,
}

/// A database error as the store reports it: its code and message, never its detail (which
/// can quote row values, key hashes among them).
fn backend(e: impl Into<PgError>) -> StoreError {
    match e.into() {
        PgError::Pg(e) => match e.as_db_error() {
            Some(db) => {
                StoreError::Backend(format!("PostgreSQL {}: {}", db.code().code(), db.message()))
            }
            None => StoreError::Backend(format!("PostgreSQL: {e}")),
        },
        PgError::Pool(e) => StoreError::Backend(format!("PostgreSQL pool: {e}")),
    }
}

enum PgError {
    Pg(tokio_postgres::Error),
    Pool(deadpool_postgres::PoolError),
}

impl From<tokio_postgres::Error> for PgError {
    fn from(e: tokio_postgres::Error) -> Self {
        PgError::Pg(e)
    }
}

impl From<deadpool_postgres::PoolError> for PgError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        PgError::Pool(e)
    }
}

/// `postgres://user:password@host/db` without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match url
        .split_once("://")
        .and_then(|(s, rest)| Some((s, rest.split_once('@')?)))
    {
        Some((scheme, (user, host))) => {
            let user = user.split_once(':').map_or(user, |(u, _)| u);
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_string(),
    }
}

impl PostgresStore {
    /// Begins a write transaction, refused once this simulator's lease is lost. The epoch
    /// row is held (shared) until commit: a simulator taking over waits for this write,
    /// and any write after its takeover sees the new epoch.
    async fn begin_fenced<'c>(
        &self,
        client: &'c mut deadpool_postgres::Client,
    ) -> Result<deadpool_postgres::Transaction<'c>, StoreError> {
        let tx = client.transaction().await.map_err(backend)?;
        let mine = match self.epoch.load(Ordering::SeqCst) {
            LOST_LEASE => return Err(StoreError::Fenced),
            RETAKING_LEASE => {
                return Err(StoreError::Backend(
                    "the connection holding the writer lock was lost; taking the lock back".into(),
                ));
            }
            NO_LEASE => return Ok(tx),
            mine => mine,
        };
        let current: i64 = tx
            .query_one(
                "SELECT epoch FROM madbus_writer WHERE id = 1 FOR SHARE",
                &[],
            )
            .await
            .map_err(backend)?
            .get(0);
        if current != mine {
            return Err(StoreError::Fenced);
        }
        Ok(tx)
    }

    /// Connects and brings the schema up to date (under a lock: the first to start does it).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let store = Self::pool(url)?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without changing anything; the schema must be current.
    pub async fn connect_read_only(url: &str) -> Result<Self, StoreError> {
        let store = Self::pool(url)?;
        let client = store.pool.get().await.map_err(backend)?;
        let exists: bool = client
            .query_one("SELECT to_regclass('madbus_schema') IS NOT NULL", &[])
            .await
            .map_err(backend)?
            .get(0);
        let version = if exists { version(&client).await? } else { 0 };
        let known = MIGRATIONS.len() as i64;
        if version < known {
            return Err(StoreError::Backend(format!(
                "the store at {} is at schema version {version}, older than this madbus \
                 ({known}): start `madbus serve` on it once to upgrade it",
                redact(url)
            )));
        }
        check_version(version)?;
        Ok(store)
    }

    fn pool(url: &str) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
            StoreError::Backend(format!("{} is not a PostgreSQL URL: {e}", redact(url)))
        })?;
        config
            .connect_timeout(CONNECT_TIMEOUT)
            .keepalives_idle(Duration::from_secs(30))
            .application_name("madbus")
            // No JIT: every statement here is a short index walk, which compiling only slows
            // (the hourly prune took 40-100 ms with it, under 1 ms without).
            .options(format!(
                "-c statement_timeout={STATEMENT_TIMEOUT_MS} -c jit=off"
            ));
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Backend(format!("PostgreSQL pool: {e}")))?;
        Ok(Self {
            pool,
            config,
            epoch: Arc::new(AtomicI64::new(NO_LEASE)),
        })
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.pool.get().await.map_err(backend)?;
        let tx = client.transaction().await.map_err(backend)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(backend)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS madbus_schema (version INTEGER NOT NULL)")
            .await
            .map_err(backend)?;
        let current: Option<i32> = tx
            .query_opt("SELECT version FROM madbus_schema", &[])
            .await
            .map_err(backend)?
            .map(|r| r.get(0));
        if current.is_none() {
            tx.execute("INSERT INTO madbus_schema (version) VALUES (0)", &[])
                .await
                .map_err(backend)?;
        }
        let version = i64::from(current.unwrap_or(0));
        check_version(version)?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.batch_execute(sql).await.map_err(backend)?;
            let next = (i + 1) as i32;
            tx.execute("UPDATE madbus_schema SET version = $1", &[&next])
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }
}

async fn version(client: &deadpool_postgres::Client) -> Result<i64, StoreError> {
    let row = client
        .query_opt("SELECT version FROM madbus_schema", &[])
        .await
        .map_err(backend)?;
    Ok(row.map_or(0, |r| i64::from(r.get::<_, i32>(0))))
}

fn check_version(version: i64) -> Result<(), StoreError> {
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::TooNew {
            found: version,
            known,
        });
    }
    Ok(())
}

/// How a series is laid out: its table, columns, key and row decoder. All fixed strings.
struct Layout {
    table: &'static str,
    columns: &'static str,
    /// Condition on `$1` (and `$2`, the entity kind, for sensors).
    key: &'static str,
    /// Parameters the key takes.
    key_params: usize,
    decode: fn(&Row) -> Result<Record, StoreError>,
}

fn layout(series: Series) -> Layout {
    match series {
        Series::BusPositions => Layout {
            table: "bus_positions",
            columns: POSITION_COLUMNS,
            key: "bus_id = $1",
            key_params: 1,
            decode: |r| decode_position(r).map(Record::Position),
        },
        Series::PeopleCount => Layout {
            table: "people_count",
            columns: "stop_id, t, count, line_ids, waiting, gave_up",
            key: "stop_id = $1",
            key_params: 1,
            decode: |r| {
                let lines: &str = r.get(3);
                Ok(Record::People(PeopleCount {
                    stop_id: id(r.get(0))?,
                    time: Millis(r.get(1)),
                    count: count(r.get(2))?,
                    line_ids: (lines.split(',').filter(|s| !s.is_empty()))
                        .map(id)
                        .collect::<Result<Vec<_>, _>>()?
                        .into(),
                    waiting: {
                        let text: &str = r.get(4);
                        LineWaiting::parse_list(text).ok_or_else(|| corrupt("waiting", text))?
                    },
                    gave_up: count(r.get(5))?,
                }))
            },
        },
        Series::Sensors(_) => Layout {
            table: "sensors",
            columns: "entity_type, entity_id, t, temperature, humidity, co2_level, door_status",
            key: "entity_id = $1 AND entity_type = $2",
            key_params: 2,
            decode: |r| {
                let kind: &str = r.get(0);
                let door: Option<&str> = r.get(6);
                let entity_id: &str = r.get(1);
                Ok(Record::Sensor(SensorReading {
                    entity_type: EntityType::parse(kind)
                        .ok_or_else(|| corrupt("entity_type", kind))?,
                    entity_id: entity_id.into(),
                    time: Millis(r.get(2)),
                    temperature: r.get(3),
                    humidity: r.get(4),
                    co2_level: r.get(5),
                    door_status: door
                        .map(|d| DoorStatus::parse(d).ok_or_else(|| corrupt("door_status", d)))
                        .transpose()?,
                }))
            },
        },
        Series::BusArrivals => Layout {
            table: "bus_arrivals",
            columns: "bus_id, t, line_id, stop_id, direction, boarded, alighted, passengers_after, waiting_after, trip_id, delay_s",
            key: "bus_id = $1",
            key_params: 1,
            decode: |r| {
                Ok(Record::Arrival(BusArrival {
                    bus_id: id(r.get(0))?,
                    time: Millis(r.get(1)),
                    line_id: id(r.get(2))?,
                    stop_id: id(r.get(3))?,
                    direction: direction(r.get(4))?,
                    boarded: count(r.get(5))?,
                    alighted: count(r.get(6))?,
                    passengers_after: count(r.get(7))?,
                    waiting_after: count(r.get(8))?,
                    trip_id: r.get::<_, Option<&str>>(9).map(Arc::from),
                    delay_s: delay(r.get(10))?,
                }))
            },
        },
    }
}

const POSITION_COLUMNS: &str = "bus_id, t, line_id, latitude, longitude, speed_kmh, direction, \
     passenger_count, next_stop_id, distance_to_next_stop_m, at_stop, in_service, trip_id, delay_s";

fn decode_position(r: &Row) -> Result<BusPosition, StoreError> {
    Ok(BusPosition {
        bus_id: id(r.get(0))?,
        time: Millis(r.get(1)),
        line_id: id(r.get(2))?,
        latitude: r.get(3),
        longitude: r.get(4),
        speed_kmh: r.get(5),
        direction: direction(r.get(6))?,
        passenger_count: count(r.get(7))?,
        next_stop_id: id(r.get(8))?,
        distance_to_next_stop_m: r.get(9),
        at_stop: r.get(10),
        in_service: r.get(11),
        trip_id: r.get::<_, Option<&str>>(12).map(Arc::from),
        delay_s: delay(r.get(13))?,
    })
}

fn delay(v: Option<i64>) -> Result<Option<i32>, StoreError> {
    v.map(|n| i32::try_from(n).map_err(|_| corrupt("delay_s", &n.to_string())))
        .transpose()
}

fn corrupt(field: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("bad {field} {value:?}"))
}

fn id<K>(s: &str) -> Result<Id<K>, StoreError> {
    Id::parse(s).map_err(|_| corrupt("id", s))
}

fn count(n: i64) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| corrupt("count", &n.to_string()))
}

fn direction(n: i16) -> Result<u8, StoreError> {
    u8::try_from(n).map_err(|_| corrupt("direction", &n.to_string()))
}

/// The key's parameters for `id` (and the kind, for sensors).
fn key_values(series: Series, id: &str) -> Vec<String> {
    match series {
        Series::Sensors(kind) => vec![id.to_string(), kind.as_str().to_string()],
        _ => vec![id.to_string()],
    }
}

/// Rows as parameter lists: `key` values first, then `rest`.
fn params<'a>(key: &'a [String], rest: &[&'a (dyn ToSql + Sync)]) -> Vec<&'a (dyn ToSql + Sync)> {
    let mut out: Vec<&'a (dyn ToSql + Sync)> =
        key.iter().map(|k| k as &(dyn ToSql + Sync)).collect();
    out.extend_from_slice(rest);
    out
}

/// One row in PostgreSQL's binary COPY format: each field its length and big-endian bytes.
/// Encoded by hand into one buffer: the generic writer's per-field calls cost more than the
/// server's insert.
struct CopyRow<'a>(&'a mut BytesMut);

impl CopyRow<'_> {
    fn text(&mut self, s: &str) {
        self.0.put_i32(s.len() as i32);
        self.0.put_slice(s.as_bytes());
    }
    fn int8(&mut self, v: i64) {
        self.0.put_i32(8);
        self.0.put_i64(v);
    }
    fn int2(&mut self, v: i16) {
        self.0.put_i32(2);
        self.0.put_i16(v);
    }
    fn float8(&mut self, v: f64) {
        self.0.put_i32(8);
        self.0.put_f64(v);
    }
    fn boolean(&mut self, v: bool) {
        self.0.put_i32(1);
        self.0.put_u8(u8::from(v));
    }
    fn null(&mut self) {
        self.0.put_i32(-1);
    }
    fn opt_text(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.text(s),
            None => self.null(),
        }
    }
    fn opt_int8(&mut self, v: Option<i64>) {
        match v {
            Some(v) => self.int8(v),
            None => self.null(),
        }
    }
}

/// Deletes the rows of `table` older than `$1`, one primary-key range per entity; the
/// entities are found by hopping along the key (a skip scan). Nothing scans a table, so a
/// prune with nothing to delete costs one index probe per entity, and only the rows deleted
/// are locked (writers and readers of newer rows never wait).
fn prune_sql(table: &str, key: &[&str]) -> String {
    let cols = key.join(", ");
    let outer = key
        .iter()
        .map(|k| format!("ids.{k}"))
        .collect::<Vec<_>>()
        .join(", ");
    let matches = (key.iter().map(|k| format!("d.{k} = ids.{k}")))
        .collect::<Vec<_>>()
        .join(" AND ");
    // `OFFSET 0` keeps the planner from merging the per-entity lookups into one scan of
    // the whole table; the rows found are deleted by their row ids.
    format!(
        "WITH RECURSIVE ids({cols}) AS (
             (SELECT {cols} FROM {table} ORDER BY {cols} LIMIT 1)
             UNION ALL
             SELECT n.* FROM ids CROSS JOIN LATERAL (
                 SELECT {cols} FROM {table} WHERE ({cols}) > ({outer})
                 ORDER BY {cols} LIMIT 1) n)
         DELETE FROM {table} WHERE ctid = ANY(ARRAY(
             SELECT d.ctid FROM ids CROSS JOIN LATERAL (
                 SELECT ctid FROM {table} d WHERE {matches} AND d.t < $1 OFFSET 0) d))"
    )
}

/// A record that COPY writes to its table, its fields in the table's column order and types.
trait Copied: Sync {
    const TABLE: &'static str;
    const FIELDS: i16;
    fn encode(&self, row: &mut CopyRow<'_>);
}

impl<T: Copied> Copied for &T {
    const TABLE: &'static str = T::TABLE;
    const FIELDS: i16 = T::FIELDS;
    fn encode(&self, row: &mut CopyRow<'_>) {
        (**self).encode(row)
    }
}

impl Copied for BusPosition {
    const TABLE: &'static str = "bus_positions";
    const FIELDS: i16 = 14;
    fn encode(&self, row: &mut CopyRow<'_>) {
        row.text(self.bus_id.as_str());
        row.int8(self.time.0);
        row.text(self.line_id.as_str());
        row.float8(self.latitude);
        row.float8(self.longitude);
        row.float8(self.speed_kmh);
        row.int2(i16::from(self.direction));
        row.int8(i64::from(self.passenger_count));
        row.text(self.next_stop_id.as_str());
        row.float8(self.distance_to_next_stop_m);
        row.boolean(self.at_stop);
        row.boolean(self.in_service);
        row.opt_text(self.trip_id.as_deref());
        row.opt_int8(self.delay_s.map(i64::from));
    }
}

impl Copied for PeopleCount {
    const TABLE: &'static str = "people_count";
    const FIELDS: i16 = 6;
    fn encode(&self, row: &mut CopyRow<'_>) {
        row.text(self.stop_id.as_str());
        row.int8(self.time.0);
        row.int8(i64::from(self.count));
        let lines = (self.line_ids.iter().map(|l| l.as_str()))
            .collect::<Vec<_>>()
            .join(",");
        row.text(&lines);
        row.text(&LineWaiting::encode_list(&self.waiting));
        row.int8(i64::from(self.gave_up));
    }
}

impl Copied for SensorReading {
    const TABLE: &'static str = "sensors";
    const FIELDS: i16 = 7;
    fn encode(&self, row: &mut CopyRow<'_>) {
        row.text(self.entity_type.as_str());
        row.text(&self.entity_id);
        row.int8(self.time.0);
        row.float8(self.temperature);
        row.float8(self.humidity);
        match self.co2_level {
            Some(v) => row.float8(v),
            None => row.null(),
        }
        match self.door_status {
            Some(d) => row.text(d.as_str()),
            None => row.null(),
        }
    }
}

impl Copied for BusArrival {
    const TABLE: &'static str = "bus_arrivals";
    const FIELDS: i16 = 11;
    fn encode(&self, row: &mut CopyRow<'_>) {
        row.text(self.bus_id.as_str());
        row.int8(self.time.0);
        row.text(self.line_id.as_str());
        row.text(self.stop_id.as_str());
        row.int2(i16::from(self.direction));
        for n in [
            self.boarded,
            self.alighted,
            self.passengers_after,
            self.waiting_after,
        ] {
            row.int8(i64::from(n));
        }
        row.opt_text(self.trip_id.as_deref());
        row.opt_int8(self.delay_s.map(i64::from));
    }
}

/// Bytes sent to the server at a time.
const COPY_CHUNK: usize = 256 * 1024;

/// COPYs `rows` into `table` (binary format); the rows copied.
async fn copy_into<R: Copied>(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    rows: &[R],
) -> Result<u64, tokio_postgres::Error> {
    let sink = tx
        .copy_in::<_, bytes::Bytes>(&format!("COPY {table} FROM STDIN BINARY"))
        .await?;
    futures_util::pin_mut!(sink);
    let mut buf = BytesMut::with_capacity(COPY_CHUNK + 4096);
    // Signature, flags, header extension length.
    buf.put_slice(b"PGCOPY\n\xff\r\n\0");
    buf.put_i32(0);
    buf.put_i32(0);
    for record in rows {
        buf.put_i16(R::FIELDS);
        record.encode(&mut CopyRow(&mut buf));
        if buf.len() >= COPY_CHUNK {
            sink.as_mut().send(buf.split().freeze()).await?;
        }
    }
    buf.put_i16(-1);
    sink.as_mut().send(buf.freeze()).await?;
    sink.finish().await
}

/// Writes one series' rows, keeping rows already stored: COPY straight into the table (the
/// usual case: all are new), in a savepoint; when some are already there (a retried batch),
/// through a staging table and `INSERT ... ON CONFLICT DO NOTHING`. The rows newly stored.
async fn copy_series<R: Copied>(
    tx: &mut deadpool_postgres::Transaction<'_>,
    rows: &[R],
) -> Result<u64, StoreError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let savepoint = tx.transaction().await.map_err(backend)?;
    match copy_into(&savepoint, R::TABLE, rows).await {
        Ok(n) => {
            savepoint.commit().await.map_err(backend)?;
            return Ok(n);
        }
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
            savepoint.rollback().await.map_err(backend)?;
        }
        Err(e) => return Err(backend(e)),
    }
    let stage = format!("stage_{}", R::TABLE);
    tx.batch_execute(&format!(
        "CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {}) ON COMMIT DELETE ROWS",
        R::TABLE
    ))
    .await
    .map_err(backend)?;
    copy_into(tx, &stage, rows).await.map_err(backend)?;
    let sql = format!(
        "INSERT INTO {} SELECT * FROM {stage} ON CONFLICT DO NOTHING",
        R::TABLE
    );
    let n = tx.execute(&sql, &[]).await.map_err(backend)?;
    tx.batch_execute(&format!("TRUNCATE {stage}"))
        .await
        .map_err(backend)?;
    Ok(n)
}

/// Rows in a batch from which half go through a second connection.
const SPLIT_ROWS: usize = 20_000;

/// Writes rows of the four series in `tx`; the rows newly stored.
async fn copy_rows(
    tx: &mut deadpool_postgres::Transaction<'_>,
    positions: &[&BusPosition],
    people: &[PeopleCount],
    sensors: &[SensorReading],
    arrivals: &[BusArrival],
) -> Result<u64, StoreError> {
    Ok(copy_series(tx, positions).await?
        + copy_series(tx, people).await?
        + copy_series(tx, sensors).await?
        + copy_series(tx, arrivals).await?)
}

#[async_trait]
impl Store for PostgresStore {
    async fn write(&self, batch: Arc<Batch>) -> Result<WriteStats, StoreError> {
        let r = &batch.records;
        let positions = r.positions_by_key();
        let mut client = self.pool.get().await.map_err(backend)?;
        let mut tx = self.begin_fenced(&mut client).await?;
        let written = if r.len() < SPLIT_ROWS {
            copy_rows(&mut tx, &positions, &r.people, &r.sensors, &r.arrivals).await?
        } else {
            // One server backend inserts about 250,000 rows a second: a large batch goes
            // half through a second connection, committed first. Its rows may be stored
            // ahead of the checkpoint (a retry keeps them), never the checkpoint ahead of
            // rows. Positions split by key, so the two halves touch different index pages.
            let mut other = self.pool.get().await.map_err(backend)?;
            let mut first = self.begin_fenced(&mut other).await?;
            let (a, b) = positions.split_at(positions.len() / 2);
            let (wa, wb) = tokio::join!(
                copy_rows(&mut first, a, &r.people, &[], &[]),
                copy_rows(&mut tx, b, &[], &r.sensors, &r.arrivals),
            );
            let (wa, wb) = (wa?, wb?);
            first.commit().await.map_err(backend)?;
            wa + wb
        };
        if let Some(cp) = &batch.checkpoint {
            tx.execute(
                "INSERT INTO world_state (id, t, state) VALUES (1, $1, $2)
                 ON CONFLICT (id) DO UPDATE SET t = excluded.t, state = excluded.state",
                &[&cp.time.0, &cp.state_json],
            )
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(WriteStats {
            rows_written: written,
        })
    }

    async fn checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        let client = self.pool.get().await.map_err(backend)?;
        let row = client
            .query_opt("SELECT t, state FROM world_state WHERE id = 1", &[])
            .await
            .map_err(backend)?;
        Ok(row.map(|r| Checkpoint {
            time: Millis(r.get(0)),
            state_json: r.get(1),
        }))
    }

    async fn as_of(
        &self,
        series: Series,
        id: &str,
        at: Millis,
    ) -> Result<Option<Record>, StoreError> {
        let l = layout(series);
        let sql = format!(
            "SELECT {} FROM {} WHERE {} AND t <= ${} ORDER BY t DESC LIMIT 1",
            l.columns,
            l.table,
            l.key,
            l.key_params + 1
        );
        let client = self.pool.get().await.map_err(backend)?;
        let st = client.prepare_cached(&sql).await.map_err(backend)?;
        let key = key_values(series, id);
        let row = client
            .query_opt(&st, &params(&key, &[&at.0]))
            .await
            .map_err(backend)?;
        row.as_ref().map(l.decode).transpose()
    }

    async fn range(&self, q: RangeQuery) -> Result<Page, StoreError> {
        let l = layout(q.series);
        let n = l.key_params;
        let sql = format!(
            "SELECT {} FROM {} WHERE {} AND t >= ${} AND t <= ${} AND t > ${} ORDER BY t ASC LIMIT ${}",
            l.columns,
            l.table,
            l.key,
            n + 1,
            n + 2,
            n + 3,
            n + 4
        );
        let (after, fetch) = (q.after_ms(), q.fetch());
        let client = self.pool.get().await.map_err(backend)?;
        let st = client.prepare_cached(&sql).await.map_err(backend)?;
        let key = key_values(q.series, &q.id);
        let rows = client
            .query(&st, &params(&key, &[&q.from.0, &q.to.0, &after, &fetch]))
            .await
            .map_err(backend)?;
        let rows = rows.iter().map(l.decode).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::of(rows, q.limit))
    }

    async fn line_snapshot(
        &self,
        bus_ids: &[BusId],
        at: Millis,
    ) -> Result<Vec<BusPosition>, StoreError> {
        let ids: Vec<&str> = bus_ids.iter().map(|b| b.as_str()).collect();
        let client = self.pool.get().await.map_err(backend)?;
        // One index seek per bus, in the order asked.
        let sql = format!(
            "SELECT p.* FROM unnest($1::text[]) WITH ORDINALITY AS b(id, n)
             CROSS JOIN LATERAL (SELECT {POSITION_COLUMNS} FROM bus_positions
                 WHERE bus_id = b.id AND t <= $2 ORDER BY t DESC LIMIT 1) p
             ORDER BY b.n"
        );
        let st = client.prepare_cached(&sql).await.map_err(backend)?;
        let rows = client.query(&st, &[&ids, &at.0]).await.map_err(backend)?;
        rows.iter().map(decode_position).collect()
    }

    async fn prune(&self, before: Millis) -> Result<u64, StoreError> {
        let client = self.pool.get().await.map_err(backend)?;
        let mut deleted = 0u64;
        for (table, key) in [
            ("bus_positions", &["bus_id"][..]),
            ("people_count", &["stop_id"]),
            ("sensors", &["entity_type", "entity_id"]),
            ("bus_arrivals", &["bus_id"]),
        ] {
            let st = (client.prepare_cached(&prune_sql(table, key)).await).map_err(backend)?;
            deleted += client.execute(&st, &[&before.0]).await.map_err(backend)?;
        }
        Ok(deleted)
    }

    async fn time_span(&self) -> Result<Option<(Millis, Millis)>, StoreError> {
        let client = self.pool.get().await.map_err(backend)?;
        // Each bus's first and last row by its primary key, the buses found by hopping
        // along that key (a skip scan): no table scan, no extra index.
        let row = client
            .query_one(
                "WITH RECURSIVE ids(id) AS (
                     SELECT min(bus_id) FROM bus_positions
                     UNION ALL
                     SELECT (SELECT min(bus_id) FROM bus_positions WHERE bus_id > ids.id)
                     FROM ids WHERE ids.id IS NOT NULL)
                 SELECT min((SELECT min(t) FROM bus_positions p WHERE p.bus_id = ids.id)),
                        max((SELECT max(t) FROM bus_positions p WHERE p.bus_id = ids.id))
                 FROM ids WHERE ids.id IS NOT NULL",
                &[],
            )
            .await
            .map_err(backend)?;
        let (lo, hi): (Option<i64>, Option<i64>) = (row.get(0), row.get(1));
        Ok(lo.zip(hi).map(|(lo, hi)| (Millis(lo), Millis(hi))))
    }

    async fn insert_key(&self, key: ApiKeyRecord) -> Result<(), StoreError> {
        let client = self.pool.get().await.map_err(backend)?;
        client
            .execute(
                "INSERT INTO api_keys (id, group_name, hash, created_at, expires_at, revoked_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &key.id,
                    &key.group,
                    &key.hash,
                    &key.created_at.0,
                    &key.expires_at.map(|t| t.0),
                    &key.revoked_at.map(|t| t.0),
                ],
            )
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let client = self.pool.get().await.map_err(backend)?;
        let rows = client
            .query(
                "SELECT id, group_name, hash, created_at, expires_at, revoked_at
                 FROM api_keys ORDER BY created_at, id",
                &[],
            )
            .await
            .map_err(backend)?;
        Ok(rows
            .iter()
            .map(|r| ApiKeyRecord {
                id: r.get(0),
                group: r.get(1),
                hash: r.get(2),
                created_at: Millis(r.get(3)),
                expires_at: r.get::<_, Option<i64>>(4).map(Millis),
                revoked_at: r.get::<_, Option<i64>>(5).map(Millis),
            })
            .collect())
    }

    async fn revoke_key(&self, id: &str, at: Millis) -> Result<bool, StoreError> {
        let client = self.pool.get().await.map_err(backend)?;
        let n = client
            .execute(
                "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                &[&id, &at.0],
            )
            .await
            .map_err(backend)?;
        Ok(n > 0)
    }

    async fn expire_group_keys(
        &self,
        group: &str,
        keep: &str,
        at: Millis,
    ) -> Result<u64, StoreError> {
        let client = self.pool.get().await.map_err(backend)?;
        client
            .execute(
                "UPDATE api_keys SET expires_at = LEAST(COALESCE(expires_at, $3), $3)
                 WHERE group_name = $1 AND id <> $2 AND revoked_at IS NULL",
                &[&group, &keep, &at.0],
            )
            .await
            .map_err(backend)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let client = self.pool.get().await.map_err(backend)?;
        client.query_one("SELECT 1", &[]).await.map_err(backend)?;
        Ok(())
    }

    async fn try_lease_writer(&self) -> Result<Option<super::WriterLease>, StoreError> {
        let Some(lock) = lock_connection(&self.config).await? else {
            return Ok(None);
        };
        // Waits for the previous writer's write in flight, then fences it out.
        let epoch: i64 = (self.pool.get().await.map_err(backend)?)
            .query_one(
                "UPDATE madbus_writer SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch",
                &[],
            )
            .await
            .map_err(backend)?
            .get(0);
        self.epoch.store(epoch, Ordering::SeqCst);
        let lost = tokio_util::sync::CancellationToken::new();
        let watch = tokio::spawn(keep_lease(
            lock,
            self.config.clone(),
            self.pool.clone(),
            Arc::clone(&self.epoch),
            lost.clone(),
        ));
        Ok(Some(super::WriterLease::new(lost, HeldLock { watch })))
    }
}

/// A connection of its own holding the writer lock, or `None` when another holds it.
async fn lock_connection(
    config: &tokio_postgres::Config,
) -> Result<Option<LockConnection>, StoreError> {
    let (client, connection) = config.connect(NoTls).await.map_err(backend)?;
    let connection = tokio::spawn(connection);
    let lock = LockConnection { client, connection };
    // The server drops a session whose peer vanished within about 8 s, releasing the lock.
    lock.client
        .batch_execute(
            "SET application_name = 'madbus-writer';
             SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 1;
             SET tcp_keepalives_count = 3;",
        )
        .await
        .map_err(backend)?;
    let held: bool = lock
        .client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&WRITER_LOCK])
        .await
        .map_err(backend)?
        .get(0);
    Ok(held.then_some(lock))
}

struct LockConnection {
    client: tokio_postgres::Client,
    connection: tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
}

impl Drop for LockConnection {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

/// Watches the lock's connection. When it goes (an outage, a cut), writes wait while the
/// lock is taken back on a new connection; if another simulator wrote in between (the
/// epoch moved), or holds the lock, the lease is lost: writes are fenced for good.
async fn keep_lease(
    mut lock: LockConnection,
    config: tokio_postgres::Config,
    pool: Pool,
    epoch: Arc<AtomicI64>,
    lost: tokio_util::sync::CancellationToken,
) {
    loop {
        let mut tick = tokio::time::interval(LEASE_CHECK);
        loop {
            tick.tick().await;
            let check = tokio::time::timeout(LEASE_CHECK * 3, lock.client.simple_query("SELECT 1"));
            if !matches!(check.await, Ok(Ok(_))) {
                break;
            }
        }
        let mine = epoch.swap(RETAKING_LEASE, Ordering::SeqCst);
        drop(lock);
        tracing::warn!("lost the connection that holds the writer lock; taking it back");
        lock = loop {
            tokio::time::sleep(LEASE_CHECK).await;
            match retake(&config, &pool, mine).await {
                Ok(Some((retaken, next))) => {
                    epoch.store(next, Ordering::SeqCst);
                    break retaken;
                }
                Ok(None) => {
                    epoch.store(LOST_LEASE, Ordering::SeqCst);
                    tracing::error!("another simulator has taken the store over");
                    lost.cancel();
                    return;
                }
                Err(e) => tracing::debug!(error = %e, "the writer lock cannot be taken back yet"),
            }
        };
        tracing::info!("took the writer lock back; writes resume");
    }
}

/// The lock on a new connection and the epoch moved on from `mine`, or `None` when another
/// simulator holds the lock or has written since.
async fn retake(
    config: &tokio_postgres::Config,
    pool: &Pool,
    mine: i64,
) -> Result<Option<(LockConnection, i64)>, StoreError> {
    let Some(lock) = lock_connection(config).await? else {
        return Ok(None);
    };
    let next = (pool.get().await.map_err(backend)?)
        .query_opt(
            "UPDATE madbus_writer SET epoch = epoch + 1 WHERE id = 1 AND epoch = $1 RETURNING epoch",
            &[&mine],
        )
        .await
        .map_err(backend)?;
    Ok(next.map(|r| (lock, r.get(0))))
}

/// The lock's watcher, which owns its connection: dropping it closes the connection, which
/// releases the lock.
struct HeldLock {
    watch: tokio::task::JoinHandle<()>,
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        self.watch.abort();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            super::redact("postgres://madbus:s3cret@db:5432/madbus"),
            "postgres://madbus@db:5432/madbus"
        );
        assert_eq!(
            super::redact("postgres://db/madbus"),
            "postgres://db/madbus"
        );
    }
}
