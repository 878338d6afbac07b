//! Core benchmarks (issue: Core). Run with `cargo bench --bench core`; figures go to
//! BENCHMARKS.md. Every timing is reported with a baseline measured in the same run.
//!
//! 1. The real 5-day backfill of the default network at default cadence: `Application`
//!    on an empty data dir, from build until the simulator runs live. Baselines: the same
//!    5 days simulated with no store; SQLite's raw insert rate on this machine (the same
//!    number of narrow rows into a plain table, one prepared statement, one transaction);
//!    the raw insert of the same rows (the store's columns and row writer, tables
//!    without a key, one transaction), the baseline; and the same insert into the
//!    store's own keyed tables, which splits the gap into SQLite's keyed insert and what
//!    the simulator and the write pipeline add.
//!    With `MADBUS_BENCH_30D=1`, a 30-day backfill follows and a second 5-day one after it;
//!    the 30 days are reported against the mean of the two 5-day runs, corrected for the
//!    machine's speed (the performance issue's goal: at most 6.5x the time for 6x the rows).
//! 2. The simulation alone on a generated network of 10,000 buses and 50,000 stops: CPU
//!    time per simulated second, against the per-bus cost on the default network.

mod common;

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use madbus::network::{self, Network};
use madbus::sim::{Records, SimConfig, World};
use madbus::time::{Duration, Millis};

/// CPU time of the calling thread (the simulation runs on this thread alone).
fn cpu_time() -> StdDuration {
    common::schedstat_cpu(std::path::Path::new("/proc/thread-self")).unwrap_or_default()
}

fn dir_size(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// A backfill run: wall and simulation CPU seconds, rows, bytes.
struct Run {
    wall: f64,
    sim_cpu: f64,
    rows: u64,
    bytes: u64,
}

/// Backfills `span` into `dir`, which the caller removes when it no longer needs the store.
fn backfill(rt: &tokio::runtime::Runtime, span: &str, dir: &tempfile::TempDir) -> Run {
    let common::Backfilled { wall, sim_cpu } = common::backfill(rt, dir.path(), span);
    Run {
        wall,
        sim_cpu,
        rows: count_rows(dir.path()),
        bytes: dir_size(dir.path()),
    }
}

/// The 30-day backfill against 5-day ones run just before and just after it (a 30-day run
/// takes minutes, over which a shared machine's speed drifts). The simulation thread does the
/// same work per row in every run, so its CPU time per row says how fast the machine was;
/// the goal's figure is the wall-time ratio divided by that one.
fn report_30_days(before: &Run, month: &Run, after: &Run) {
    let per_row = |r: &Run| r.sim_cpu / r.rows as f64;
    let mean_wall = (before.wall + after.wall) / 2.0;
    let mean_per_row = (per_row(before) + per_row(after)) / 2.0;
    println!("### 30-day backfill against the 5-day one, same run\n");
    println!("| measure | 5 days, before | 30 days | 5 days, after |\n|---|---|---|---|");
    println!(
        "| wall time (build to live) | {:.2} s | {:.2} s | {:.2} s |",
        before.wall, month.wall, after.wall
    );
    println!(
        "| rows written | {} | {} | {} |",
        before.rows, month.rows, after.rows
    );
    println!(
        "| simulation thread CPU per million rows | {:.3} s | {:.3} s | {:.3} s |",
        per_row(before) * 1e6,
        per_row(month) * 1e6,
        per_row(after) * 1e6
    );
    println!(
        "| database size | {:.0} MB | {:.0} MB | {:.0} MB |\n",
        before.bytes as f64 / 1e6,
        month.bytes as f64 / 1e6,
        after.bytes as f64 / 1e6
    );
    println!("| 30 days / 5 days, wall time | ratio |\n|---|---|");
    println!(
        "| against the run before | {:.2}x |",
        month.wall / before.wall
    );
    println!(
        "| against the run after | {:.2}x |",
        month.wall / after.wall
    );
    println!("| against their mean | {:.2}x |", month.wall / mean_wall);
    println!(
        "| against their mean, for the machine's speed (simulation CPU per row: 30 days {:.2}x the 5 days') | {:.2}x (goal <= 6.5x) |\n",
        per_row(month) / mean_per_row,
        month.wall / mean_wall / (per_row(month) / mean_per_row)
    );
}

/// The raw insert of the same rows: 5 days simulated an hour at a time, each hour's records
/// inserted by the store's own row writer, with the store's writer settings, into tables of
/// the store's columns, one transaction. Only the inserts and the commit are timed. Without
/// `keyed` the tables have no key (appended rowid tables: the baseline); with it they
/// are the store's own tables, keys included, which says how much of the backfill is
/// SQLite's keyed insert.
/// Returns (seconds, rows).
fn insert_same_rows(store_dir: &std::path::Path, keyed: bool) -> (f64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("raw.db")).unwrap();
    conn.execute_batch(madbus::store::SQLITE_WRITER_SETTINGS)
        .unwrap();
    conn.execute(
        "ATTACH DATABASE ?1 AS store",
        [store_dir.join("madbus.db").to_str().unwrap()],
    )
    .unwrap();
    for t in ["bus_positions", "people_count", "sensors", "bus_arrivals"] {
        let create = if keyed {
            conn.query_row(
                "SELECT sql FROM store.sqlite_master WHERE name = ?1",
                [t],
                |r| r.get(0),
            )
            .unwrap()
        } else {
            format!("CREATE TABLE main.{t} AS SELECT * FROM store.{t} WHERE 0")
        };
        conn.execute_batch(&create).unwrap();
    }
    conn.execute_batch("DETACH DATABASE store").unwrap();
    let mut world = world_five_days_ago();
    let mut inserting = StdDuration::ZERO;
    let mut rows = 0;
    conn.execute_batch("BEGIN").unwrap();
    for _hour in 0..5 * 24 {
        let mut buf = Records::default();
        for _ in 0..3600 {
            world.step_into(&mut buf);
        }
        let started = Instant::now();
        rows += madbus::store::sqlite_insert_rows(&conn, &buf).unwrap();
        inserting += started.elapsed();
    }
    let started = Instant::now();
    conn.execute_batch("COMMIT").unwrap();
    inserting += started.elapsed();
    (inserting.as_secs_f64(), rows)
}

fn count_rows(dir: &std::path::Path) -> u64 {
    let conn = rusqlite::Connection::open(dir.join("madbus.db")).unwrap();
    ["bus_positions", "people_count", "sensors", "bus_arrivals"]
        .iter()
        .map(|t| {
            conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap() as u64
        })
        .sum()
}

/// The default network's world, as a 5-day backfill starts it.
fn world_five_days_ago() -> World {
    let net = Arc::new(Network::default_network());
    let start = Millis::now().saturating_sub(Duration::from_secs(5 * 86_400));
    World::new(net, SimConfig::default(), start)
}

fn sim_only_5d() -> (f64, usize) {
    let mut world = world_five_days_ago();
    let started = Instant::now();
    let mut rows = 0;
    let mut buf = Records::default();
    for _ in 0..5 * 86_400 {
        world.step_into(&mut buf);
        rows += buf.len();
        buf = Records::default();
    }
    (started.elapsed().as_secs_f64(), rows)
}

fn raw_sqlite_insert(rows: u64) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = rusqlite::Connection::open(dir.path().join("raw.db")).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         CREATE TABLE raw (id TEXT NOT NULL, t INTEGER NOT NULL, a REAL, b REAL, c INTEGER);",
    )
    .unwrap();
    let started = Instant::now();
    let tx = conn.transaction().unwrap();
    {
        let mut st = tx
            .prepare("INSERT INTO raw VALUES (?1, ?2, ?3, ?4, ?5)")
            .unwrap();
        for i in 0..rows as i64 {
            st.execute(rusqlite::params!["B001", i, 40.4, -3.7, i % 80])
                .unwrap();
        }
    }
    tx.commit().unwrap();
    started.elapsed().as_secs_f64()
}

/// A network of `lines` lines, each with `stops` stops on a 10 km corridor and `buses` buses.
fn generated_network(lines: usize, stops: usize, buses: usize) -> Network {
    let mut y = String::from("lines:\n");
    for l in 0..lines {
        let (lat0, lon0) = (40.0 + (l / 40) as f64 * 0.01, -4.0 + (l % 40) as f64 * 0.01);
        y.push_str(&format!(
            "  - line_id: G{l}\n    name: generated {l}\n    stops:\n"
        ));
        for s in 0..stops {
            let terminal = s == 0 || s + 1 == stops;
            y.push_str(&format!(
                "      - {{ stop_id: G{l}S{s}, name: s, latitude: {:.6}, longitude: {lon0:.6}, is_terminal: {terminal}, base_arrival_rate: 1.5 }}\n",
                lat0 + s as f64 * 0.0018
            ));
        }
        y.push_str("    buses:\n");
        for b in 0..buses {
            y.push_str(&format!(
                "      - {{ bus_id: G{l}B{b}, capacity: 80, initial_position: {:.3} }}\n",
                b as f64 / buses as f64
            ));
        }
    }
    network::parse_str(&y, "generated").unwrap().network
}

/// CPU milliseconds per simulated second, over `seconds` after a one-minute warm-up.
fn sim_cpu_per_second(net: Network, seconds: usize) -> f64 {
    let start = Millis::parse("2026-11-23T07:00:00Z").unwrap();
    let mut world = World::new(Arc::new(net), SimConfig::default(), start);
    for _ in 0..60 {
        world.step();
    }
    let cpu = cpu_time();
    for _ in 0..seconds {
        std::hint::black_box(world.step());
    }
    (cpu_time() - cpu).as_secs_f64() * 1000.0 / seconds as f64
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "## Core benchmarks ({} cores)\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let five_dir = tempfile::tempdir().unwrap();
    let five = backfill(&rt, "5d", &five_dir);
    let (wall, rows, bytes) = (five.wall, five.rows, five.bytes);
    let (sim_s, sim_rows) = sim_only_5d();
    let raw_s = raw_sqlite_insert(rows);
    // The baselines take the store's schema from it; then it goes.
    let (same_s, same_rows) = insert_same_rows(five_dir.path(), false);
    let (keyed_s, keyed_rows) = insert_same_rows(five_dir.path(), true);
    drop(five_dir);
    println!("### 5-day backfill, default network, default cadence\n");
    println!("| measure | value |\n|---|---|");
    println!("| backfill wall time (build to live) | {wall:.2} s (goal <= 10 s) |");
    println!("| rows written | {rows} |");
    println!("| rows/s | {:.0} |", rows as f64 / wall);
    println!("| database size | {:.0} MB |", bytes as f64 / 1e6);
    println!("| baseline: simulation alone, 5 days ({sim_rows} records) | {sim_s:.2} s |");
    println!(
        "| baseline: raw SQLite insert of {rows} rows | {raw_s:.2} s ({:.0} rows/s) |",
        rows as f64 / raw_s
    );
    println!(
        "| backfill / raw SQLite insert time | {:.2}x |",
        wall / raw_s
    );
    println!(
        "| baseline: raw insert of the same rows ({same_rows}, the store's columns, no key) | {same_s:.2} s ({:.0} rows/s) |",
        same_rows as f64 / same_s
    );
    println!(
        "| backfill / raw insert of the same rows | {:.2}x (goal <= 2x) |",
        wall / same_s
    );
    println!(
        "| keyed insert of the same rows ({keyed_rows}, the store's tables and keys) | {keyed_s:.2} s; {:.2}x the raw insert |",
        keyed_s / same_s
    );
    println!(
        "| backfill / keyed insert of the same rows (what simulating and the pipeline add) | {:.2}x |",
        wall / keyed_s
    );
    println!(
        "| backfill / simulation alone time | {:.2}x |\n",
        wall / sim_s
    );
    if std::env::var_os("MADBUS_BENCH_30D").is_some() {
        // Each store (3.8 GB for 30 days) goes before the next run writes.
        let month = backfill(&rt, "30d", &tempfile::tempdir().unwrap());
        let after = backfill(&rt, "5d", &tempfile::tempdir().unwrap());
        report_30_days(&five, &month, &after);
    }

    let small = sim_cpu_per_second(Network::default_network(), 86_400);
    let large = sim_cpu_per_second(generated_network(1_000, 50, 10), 1_800);
    println!("### Simulation alone, 10,000 buses and 50,000 stops\n");
    println!("| measure | value |\n|---|---|");
    println!(
        "| CPU per simulated second (10,000 buses, 50,000 stops) | {large:.2} ms (goal <= 100 ms) |"
    );
    println!(
        "| times faster than real time at 1 Hz | {:.0}x (goal >= 10x) |",
        1000.0 / large
    );
    println!("| baseline: CPU per simulated second, default network (24 buses) | {small:.4} ms |");
    println!(
        "| cost per bus-second, large / default network | {:.2}x |",
        (large / 10_000.0) / (small / 24.0)
    );
}
