//! WebSocket fan-out: N clients subscribed to every line of a release `madbus serve` at
//! `--speed 60`, N raised step by step. For each N: the p99 delivery lag of position events
//! (event time to receipt) over a sample of clients, messages delivered per second, clients
//! dropped, and the server's resident memory. Goal: 5,000 clients with p99 lag < 100 ms.
//!
//! Run with `bash bench/ws.sh` (it raises the open-file limit first). Loopback only.
//!
//! Lag without a shared clock: the server maps simulated time to wall time as
//! `wall = anchor + sim / speed`, so `receipt - sim / speed` is the lag plus a constant. The
//! smallest value seen in the run (at the lightest load) stands for that constant; the lag of
//! each event is its excess over it (so the figures slightly understate, by that one lag).

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

const SPEED: f64 = 60.0;
/// About this many clients per level record every event's lag; the others only count.
const SAMPLED: usize = 100;
const WARMUP: Duration = Duration::from_secs(3);
const WINDOW: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Stats {
    messages: AtomicU64,
    dropped: AtomicU64,
    /// (receipt, receipt - sim / speed), both in ms.
    offsets: Mutex<Vec<(f64, f64)>>,
}

fn wall_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

/// The `time` of an event's data, in epoch ms.
fn event_time(text: &str) -> Option<f64> {
    let start = text.find("\"time\":\"")? + 8;
    let end = start + text[start..].find('"')?;
    let ts: jiff::Timestamp = text[start..end].parse().ok()?;
    Some(ts.as_millisecond() as f64)
}

async fn client(addr: String, key: String, lines: Vec<String>, sampled: bool, stats: Arc<Stats>) {
    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("x-api-key", key.parse().unwrap());
    request
        .headers_mut()
        .insert("x-group-name", "bench".parse().unwrap());
    // Small buffers, as the server has: thousands of clients live in this process too.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(4096);
    let connected = tokio_tungstenite::connect_async_with_config(request, Some(config), false);
    let Ok((mut ws, _)) = connected.await else {
        stats.dropped.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let subscribe = serde_json::json!({"action": "subscribe", "line_ids": lines});
    if ws
        .send(Message::Text(subscribe.to_string().into()))
        .await
        .is_err()
    {
        stats.dropped.fetch_add(1, Ordering::Relaxed);
        return;
    }
    // Counted locally and added now and then: one shared counter bumped a million times a
    // second would cost this load generator more than the server.
    let mut unreported = 0u64;
    while let Some(Ok(msg)) = ws.next().await {
        match msg {
            Message::Text(text) => {
                unreported += 1;
                if unreported == 64 {
                    stats.messages.fetch_add(unreported, Ordering::Relaxed);
                    unreported = 0;
                }
                if sampled
                    && text.starts_with(r#"{"type":"bus.position.updated""#)
                    && let Some(sim) = event_time(&text)
                {
                    let now = wall_ms();
                    stats.offsets.lock().unwrap().push((now, now - sim / SPEED));
                }
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    stats.dropped.fetch_add(1, Ordering::Relaxed);
}

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

struct Server {
    child: Child,
    addr: String,
    key: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server() -> Server {
    let bin = env!("CARGO_BIN_EXE_madbus");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin)
        .args(["keys", "create", "--group", "bench", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let port = 18098;
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(bin)
        .args([
            "serve",
            "--bind",
            &addr,
            "--backfill",
            "10m",
            "--speed",
            "60",
        ])
        .args([
            "--ws-max-per-key",
            "100000",
            "--ws-max-connections",
            "100000",
        ])
        .args([
            "--throttle-burst",
            "1000000000",
            "--throttle-rate",
            "1000000000",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let health = Command::new("curl")
            .args(["-sf", &format!("http://{addr}/health")])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains(r#""phase":"live""#))
            .unwrap_or(false);
        if health {
            break;
        }
        assert!(Instant::now() < deadline, "the server never went live");
        std::thread::sleep(Duration::from_millis(200));
    }
    Server {
        child,
        addr,
        key,
        _dir: dir,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let levels: Vec<usize> = std::env::var("MADBUS_WS_LEVELS")
        .unwrap_or_else(|_| "100,1000,2000,3000,4000,5000,6000".into())
        .split(',')
        .map(|n| n.trim().parse().unwrap())
        .collect();
    let server = start_server();
    let pid = server.child.id();
    let lines: Vec<String> = madbus::network::Network::default_network()
        .lines
        .iter()
        .map(|l| l.id.to_string())
        .collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stats = Arc::new(Stats::default());
    let idle_rss = rss_mb(pid);
    println!(
        "## WebSocket fan-out ({} cores, --speed 60, every line, positions + arrivals)\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("Server idle: {idle_rss:.0} MB resident.\n");
    println!(
        "| clients | p50 lag | p99 lag | max lag | messages/s delivered | per client/s | clients dropped | server RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut open = 0usize;
    let mut rows = Vec::new();
    for level in levels {
        // Open the new clients, a few hundred at a time.
        while open < level {
            let batch = (level - open).min(250);
            let handshakes: Vec<_> = (0..batch)
                .map(|i| {
                    let sampled = (open + i).is_multiple_of((level / SAMPLED).max(1));
                    rt.spawn(client(
                        server.addr.clone(),
                        server.key.clone(),
                        lines.clone(),
                        sampled,
                        Arc::clone(&stats),
                    ))
                })
                .collect();
            open += batch;
            drop(handshakes);
            std::thread::sleep(Duration::from_millis(200));
        }
        std::thread::sleep(WARMUP);
        let from = wall_ms();
        let before = stats.messages.load(Ordering::Relaxed);
        std::thread::sleep(WINDOW);
        let to = wall_ms();
        let delivered = stats.messages.load(Ordering::Relaxed) - before;
        let dropped = stats.dropped.load(Ordering::Relaxed);
        let rss = rss_mb(pid);
        let offsets = stats.offsets.lock().unwrap().clone();
        rows.push((level, from, to, delivered, dropped, rss));
        let floor = offsets.iter().map(|o| o.1).fold(f64::INFINITY, f64::min);
        let mut lags: Vec<f64> = offsets
            .iter()
            .filter(|(at, _)| (from..to).contains(at))
            .map(|(_, off)| off - floor)
            .collect();
        lags.sort_by(f64::total_cmp);
        let per_s = delivered as f64 / ((to - from) / 1000.0);
        println!(
            "| {level} | {:.1} ms | {:.1} ms | {:.1} ms | {:.0} | {:.0} | {dropped} | {rss:.0} MB |",
            percentile(&lags, 0.5),
            percentile(&lags, 0.99),
            lags.last().copied().unwrap_or(f64::NAN),
            per_s,
            per_s / level as f64,
        );
        if percentile(&lags, 0.99) > 1000.0 || dropped > 0 {
            println!("\n(stopped: the lag passed a second or clients were dropped)");
            break;
        }
    }
    drop(rt);
}
