//! Export benchmarks (issue: open transit data). Run with `cargo bench --bench export`.
//!
//! On a 5-day store of the default network:
//! 1. Throughput: every bus position exported as CSV, NDJSON and Parquet (query layer and
//!    encoder, bytes discarded) against the baseline of the same pages read from the store
//!    alone, in the same run.
//! 2. Memory: a `madbus serve` process streams the whole 5-day CSV export over HTTP to a
//!    client that reads it; its resident memory is sampled before and during the transfer.

mod common;

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use madbus::export::{Encoder, ExportSeries, Format};
use madbus::network::Network;
use madbus::query::Query;
use madbus::query::export::ExportRequest;
use madbus::store::{SqliteStore, Store};
use madbus::time::Millis;

fn backfill(rt: &tokio::runtime::Runtime, dir: &std::path::Path) -> (Millis, Millis) {
    common::backfill(rt, dir, "5d");
    let store = SqliteStore::open(dir).unwrap();
    rt.block_on(store.time_span()).unwrap().unwrap()
}

fn query(dir: &std::path::Path) -> Query {
    let network = Arc::new(Network::default_network());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir).unwrap());
    let live = Arc::new(madbus::live::LiveState::settled(&network));
    let feed = Arc::new(madbus::feed::LocalFeed::new());
    Query::new(network, store, live, feed)
}

/// Rows and seconds to read every bus position, encoding each page with `format` (None:
/// read only).
fn export(
    rt: &tokio::runtime::Runtime,
    q: &Query,
    span: (Millis, Millis),
    format: Option<Format>,
) -> (u64, u64, f64) {
    rt.block_on(async {
        let started = Instant::now();
        let mut rows = q
            .export(ExportRequest {
                series: ExportSeries::BusPositions,
                from: span.0,
                to: span.1,
                line_id: None,
                bus_id: None,
                stop_id: None,
            })
            .unwrap();
        let mut encoder = format.map(|f| Encoder::new(ExportSeries::BusPositions, f).unwrap());
        let (mut count, mut bytes) = (0u64, 0u64);
        while let Some(page) = rows.next_page().await.unwrap() {
            count += page.len() as u64;
            if let Some(e) = encoder.as_mut() {
                bytes += e.page(&page).unwrap().len() as u64;
            }
        }
        if let Some(e) = encoder {
            bytes += e.finish().unwrap().len() as u64;
        }
        (count, bytes, started.elapsed().as_secs_f64())
    })
}

fn rss_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// Serves the data dir from a `madbus serve` process and downloads the 5-day CSV export:
/// (RSS before, peak RSS during, bytes downloaded, seconds).
fn served_export(
    rt: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    span: (Millis, Millis),
) -> (u64, u64, u64, f64) {
    use std::io::{BufRead, BufReader};
    let key = rt.block_on(async {
        let store = SqliteStore::open(dir).unwrap();
        let new = madbus::gateway::keys::generate("bench", Millis::now(), None);
        store.insert_key(new.record).await.unwrap();
        new.key
    });
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_madbus"))
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("the server logs").unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["message"] == "listening" {
            break v["addr"].as_str().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let result = rt.block_on(async {
        let client = reqwest::Client::new();
        // Until live (it regenerates the minutes since the backfill ended).
        while client
            .get(format!("http://{addr}/health"))
            .send()
            .await
            .map(|r| r.status() != 200)
            .unwrap_or(true)
        {
            tokio::time::sleep(StdDuration::from_millis(200)).await;
        }
        tokio::time::sleep(StdDuration::from_secs(2)).await;
        let before = rss_kb(pid, "VmRSS:");
        let peak = Arc::new(std::sync::atomic::AtomicU64::new(before));
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sampler = {
            let (peak, done) = (peak.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    peak.fetch_max(rss_kb(pid, "VmRSS:"), std::sync::atomic::Ordering::Relaxed);
                    std::thread::sleep(StdDuration::from_millis(50));
                }
            })
        };
        let started = Instant::now();
        let mut r = client
            .get(format!(
                "http://{addr}/export/bus_positions?from={}&to={}&format=csv",
                span.0.to_rfc3339(),
                span.1.to_rfc3339()
            ))
            .header("x-api-key", &key)
            .header("x-group-name", "bench")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let mut bytes = 0u64;
        while let Some(chunk) = r.chunk().await.unwrap() {
            bytes += chunk.len() as u64;
        }
        let secs = started.elapsed().as_secs_f64();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        sampler.join().unwrap();
        (
            before,
            peak.load(std::sync::atomic::Ordering::Relaxed),
            bytes,
            secs,
        )
    });
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    eprintln!("backfilling 5 days of the default network...");
    let span = backfill(&rt, dir.path());
    let q = query(dir.path());
    let (rows, _, read_s) = export(&rt, &q, span, None);
    println!("bus positions over 5 days: {rows} rows");
    println!("\nexport of every bus position (rows/s; ratio to reading the same pages):");
    println!(
        "  store range scan only   {:>10.0} rows/s  1.00x",
        rows as f64 / read_s
    );
    for format in Format::ALL {
        let (n, bytes, s) = export(&rt, &q, span, Some(format));
        assert_eq!(n, rows);
        println!(
            "  {:<8} {:>8.1} MB {:>10.0} rows/s  {:.2}x",
            format.name(),
            bytes as f64 / 1e6,
            n as f64 / s,
            read_s / s
        );
    }
    let (before, peak, bytes, secs) = served_export(&rt, dir.path(), span);
    println!(
        "\nserved 5-day CSV export: {:.0} MB in {secs:.1} s; server RSS {:.0} MB before, peak {:.0} MB during (+{:.0} MB)",
        bytes as f64 / 1e6,
        before as f64 / 1024.0,
        peak as f64 / 1024.0,
        (peak.saturating_sub(before)) as f64 / 1024.0
    );
}
