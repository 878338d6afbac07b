//! WebSocket fan-out: N clients subscribed to every line of a release `madbus serve` at
//! `--speed 60` (`MADBUS_WS_SPEED`), N raised step by step. For each N: the p99 delivery lag of position events
//! (event time to receipt) over a sample of clients, messages delivered per second, clients
//! dropped, and the servers' resident memory.
//!
//! Topologies (`MADBUS_WS_TOPOLOGIES`, default `single,node`), each with the same clients:
//! - `single`: one process (`--role all`, the in-process feed);
//! - `node`: the baseline, the usual minimal broadcast server on npm's `ws`
//!   (`bench/node/ws_broadcast.mjs`), which takes the same messages from one subscription to
//!   the same madbus and sends each to every client;
//! - `nats`: a simulator and two API processes joined by a real nats-server, the clients
//!   split between the two API processes.
//!
//! Modes (`MADBUS_WS_MODES`, default `per-bus,batched`): one `bus.position.updated` message
//! per bus, or the opt-in `batched` subscription (one `bus.positions` message per line and
//! step); the Node baseline relays whichever its upstream subscription gets.
//!
//! Run with `bash bench/ws.sh` (it raises the open-file limit and installs the baseline's
//! npm packages first). Loopback only.
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

/// The simulator's speed (`MADBUS_WS_SPEED`, default 60): 12 steps a second at 60.
fn speed() -> f64 {
    static SPEED: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *SPEED.get_or_init(|| std::env::var("MADBUS_WS_SPEED").map_or(60.0, |s| s.parse().unwrap()))
}
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

async fn client(
    addr: String,
    key: String,
    lines: Vec<String>,
    batched: bool,
    sampled: bool,
    stats: Arc<Stats>,
) {
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
    let subscribe =
        serde_json::json!({"action": "subscribe", "line_ids": lines, "batched": batched});
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
                // `bus.position.updated`, or `bus.positions` (its first bus's time).
                if sampled
                    && text.starts_with(r#"{"type":"bus.position"#)
                    && let Some(sim) = event_time(&text)
                {
                    let now = wall_ms();
                    stats
                        .offsets
                        .lock()
                        .unwrap()
                        .push((now, now - sim / speed()));
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

/// The processes under test (killed when dropped) and where clients connect.
struct Servers {
    children: Vec<Child>,
    client_addrs: Vec<String>,
    key: String,
    _dir: tempfile::TempDir,
}

impl Drop for Servers {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Servers {
    fn rss_mb(&self) -> f64 {
        self.children.iter().map(|c| rss_mb(c.id())).sum()
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Topology {
    /// One process: simulator, feed and clients.
    Single,
    /// The Node.js `ws` broadcast baseline in front of one madbus process.
    Node,
    /// A simulator and two API processes over nats-server.
    Nats,
}

impl Topology {
    fn name(self) -> &'static str {
        match self {
            Topology::Single => "single",
            Topology::Node => "node",
            Topology::Nats => "nats",
        }
    }
}

fn line_ids() -> Vec<String> {
    (madbus::network::Network::default_network().lines.iter())
        .map(|l| l.id.to_string())
        .collect()
}

fn serve(bin: &str, dir: &std::path::Path, addr: &str, args: &[&str]) -> Child {
    Command::new(bin)
        .args(["serve", "--bind", addr])
        .args(args)
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
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

fn wait_live(addr: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let health = Command::new("curl")
            .args(["-sf", &format!("http://{addr}/health")])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains(r#""phase":"live""#))
            .unwrap_or(false);
        if health {
            return;
        }
        assert!(Instant::now() < deadline, "{addr} never went live");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn start_servers(topology: Topology, batched: bool) -> Servers {
    let bin = env!("CARGO_BIN_EXE_madbus");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin)
        .args(["keys", "create", "--group", "bench", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let speed = speed().to_string();
    let sim_args = ["--backfill", "10m", "--speed", speed.as_str()];
    let (children, client_addrs) = match topology {
        Topology::Single => {
            let addr = "127.0.0.1:18098".to_string();
            (vec![serve(bin, dir.path(), &addr, &sim_args)], vec![addr])
        }
        Topology::Node => {
            let upstream = "127.0.0.1:18098";
            let madbus = serve(bin, dir.path(), upstream, &sim_args);
            wait_live(upstream);
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/node/ws_broadcast.mjs");
            let lines = serde_json::to_string(&line_ids()).unwrap();
            let mut node = Command::new("node")
                .arg(script)
                .args([
                    &format!("ws://{upstream}/ws"),
                    &key,
                    "bench",
                    "18102",
                    &lines,
                ])
                .arg(batched.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("node (bash bench/ws.sh installs the baseline's packages)");
            let mut ready = String::new();
            let stdout = node.stdout.take().unwrap();
            std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut ready).unwrap();
            assert_eq!(ready.trim(), "ready", "the Node baseline did not start");
            // The baseline answers no /health: its upstream is checked above.
            return Servers {
                children: vec![madbus, node],
                client_addrs: vec!["127.0.0.1:18102".to_string()],
                key,
                _dir: dir,
            };
        }
        Topology::Nats => {
            let nats = Command::new("nats-server")
                .args(["-a", "127.0.0.1", "-p", "18422"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("nats-server (Debian package nats-server)");
            std::thread::sleep(Duration::from_millis(500));
            let feed = ["--feed", "nats://127.0.0.1:18422"];
            let sim = [&sim_args[..], &["--role", "simulator"], &feed].concat();
            let mut children = vec![nats, serve(bin, dir.path(), "127.0.0.1:18099", &sim)];
            wait_live("127.0.0.1:18099");
            let api = [&["--role", "api"][..], &feed].concat();
            let addrs = vec!["127.0.0.1:18100".to_string(), "127.0.0.1:18101".to_string()];
            for addr in &addrs {
                children.push(serve(bin, dir.path(), addr, &api));
            }
            (children, addrs)
        }
    };
    for addr in &client_addrs {
        wait_live(addr);
    }
    Servers {
        children,
        client_addrs,
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

/// One level's figures.
struct Row {
    level: usize,
    p99: f64,
    rss: f64,
}

fn list(var: &str, default: &str) -> Vec<String> {
    (std::env::var(var)
        .unwrap_or_else(|_| default.into())
        .split(','))
    .map(|t| t.trim().to_string())
    .collect()
}

fn main() {
    let levels: Vec<usize> = list("MADBUS_WS_LEVELS", "1000,5000,10000")
        .iter()
        .map(|n| n.parse().unwrap())
        .collect();
    let topologies: Vec<Topology> = list("MADBUS_WS_TOPOLOGIES", "single,node")
        .iter()
        .map(|t| match t.as_str() {
            "single" => Topology::Single,
            "node" => Topology::Node,
            "nats" => Topology::Nats,
            other => panic!("unknown topology {other:?}: single, node or nats"),
        })
        .collect();
    let modes: Vec<bool> = list("MADBUS_WS_MODES", "per-bus,batched")
        .iter()
        .map(|m| match m.as_str() {
            "per-bus" => false,
            "batched" => true,
            other => panic!("unknown mode {other:?}: per-bus or batched"),
        })
        .collect();
    let mut results = Vec::new();
    for &batched in &modes {
        for &topology in &topologies {
            results.push((topology, batched, run(topology, batched, &levels)));
        }
    }
    println!("\n## Against the first topology, same mode, same run\n");
    println!("| mode | topology | clients | p99 lag | ratio of p99 lags (first / this) | RSS |");
    println!("|---|---|---|---|---|---|");
    for &batched in &modes {
        let of_mode: Vec<_> = results.iter().filter(|r| r.1 == batched).collect();
        let Some((first, _, base)) = of_mode.first() else {
            continue;
        };
        for (topology, _, rows) in &of_mode[1..] {
            for row in rows {
                let Some(b) = base.iter().find(|b| b.level == row.level) else {
                    continue;
                };
                println!(
                    "| {} | {} vs {} | {} | {:.1} ms vs {:.1} ms | {:.2} | {:.0} MB vs {:.0} MB |",
                    if batched { "batched" } else { "per-bus" },
                    first.name(),
                    topology.name(),
                    row.level,
                    b.p99,
                    row.p99,
                    b.p99 / row.p99,
                    b.rss,
                    row.rss,
                );
            }
        }
    }
}

fn run(topology: Topology, batched: bool, levels: &[usize]) -> Vec<Row> {
    let servers = start_servers(topology, batched);
    let lines = line_ids();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stats = Arc::new(Stats::default());
    let idle_rss = servers.rss_mb();
    let name = match topology {
        Topology::Single => "one process (in-process feed)",
        Topology::Node => "the Node.js `ws` broadcast baseline in front of one madbus process",
        Topology::Nats => "simulator + 2 API processes over NATS, clients split between them",
    };
    println!(
        "\n## WebSocket fan-out: {name} ({} cores, --speed {}, every line, positions + arrivals, {})\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        speed(),
        if batched { "batched" } else { "per-bus" }
    );
    println!("Servers idle: {idle_rss:.0} MB resident.\n");
    println!(
        "| clients | p50 lag | p99 lag | max lag | messages/s delivered | per client/s | clients dropped | servers' RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut open = 0usize;
    let mut rows = Vec::new();
    for &level in levels {
        // Open the new clients, a few hundred at a time, spread over the API processes.
        while open < level {
            let batch = (level - open).min(250);
            let handshakes: Vec<_> = (0..batch)
                .map(|i| {
                    let n = open + i;
                    let sampled = n.is_multiple_of((level / SAMPLED).max(1));
                    let addr = &servers.client_addrs[n % servers.client_addrs.len()];
                    rt.spawn(client(
                        addr.clone(),
                        servers.key.clone(),
                        lines.clone(),
                        batched,
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
        let rss = servers.rss_mb();
        let offsets = stats.offsets.lock().unwrap().clone();
        let floor = offsets.iter().map(|o| o.1).fold(f64::INFINITY, f64::min);
        let mut lags: Vec<f64> = offsets
            .iter()
            .filter(|(at, _)| (from..to).contains(at))
            .map(|(_, off)| off - floor)
            .collect();
        lags.sort_by(f64::total_cmp);
        let per_s = delivered as f64 / ((to - from) / 1000.0);
        let p99 = percentile(&lags, 0.99);
        println!(
            "| {level} | {:.1} ms | {p99:.1} ms | {:.1} ms | {:.0} | {:.0} | {dropped} | {rss:.0} MB |",
            percentile(&lags, 0.5),
            lags.last().copied().unwrap_or(f64::NAN),
            per_s,
            per_s / level as f64,
        );
        rows.push(Row { level, p99, rss });
        if p99 > 5000.0 || dropped > 0 {
            println!("\n(stopped: the lag passed 5 s or clients were dropped)");
            break;
        }
    }
    drop(rt);
    rows
}
