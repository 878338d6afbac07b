//! The real server on port 0: backfill hands over to real time with no gap and no
//! duplicate, a restart resumes the saved world and backfills the downtime, and the binary
//! stops cleanly on SIGTERM with everything written.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration as StdDuration, Instant};

use madbus::app::{Application, Settings};
use madbus::live::LiveState;
use madbus::network::geo::{LatLon, haversine_m};
use madbus::sim::BusPosition;
use madbus::store::{RangeQuery, Record, Series, SqliteStore, Store};
use madbus::time::{Duration, Millis};
use tokio::sync::oneshot;

struct Running {
    addr: SocketAddr,
    live: std::sync::Arc<LiveState>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start(settings: Settings) -> Running {
    let app = Application::build(settings).await.expect("the app builds");
    let addr = app.local_addr();
    let live = app.live();
    let (stop, rx) = oneshot::channel();
    let task = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    Running {
        addr,
        live,
        stop,
        task,
    }
}

impl Running {
    /// Waits until the simulator runs live, then lets it run `extra` longer.
    async fn live_for(&self, extra: StdDuration) -> Millis {
        tokio::time::timeout(StdDuration::from_secs(60), self.live.until_live())
            .await
            .unwrap_or_else(|_| panic!("never caught up: {:?}", self.live.status()));
        let handover = self.live.status().sim.sim_time.unwrap();
        tokio::time::sleep(extra).await;
        handover
    }

    async fn stop(self) {
        self.stop.send(()).unwrap();
        self.task.await.unwrap().expect("clean stop");
    }
}

fn settings(dir: &Path, backfill: &str, speed: f64, position_every_ms: i64) -> Settings {
    let mut s = Settings::new(dir.to_path_buf());
    s.network_file = Some(common::all_day_network());
    s.bind = "127.0.0.1:0".parse().unwrap();
    s.backfill = backfill.parse::<Duration>().unwrap();
    s.speed = speed;
    s.sim.position_every_ms = position_every_ms;
    s
}

/// Every stored position of every bus, in time order.
async fn all_positions(dir: &Path) -> HashMap<String, Vec<BusPosition>> {
    let store = SqliteStore::open(dir).unwrap();
    let net = common::all_day();
    let mut out = HashMap::new();
    for bus in &net.buses {
        let page = store
            .range(RangeQuery {
                series: Series::BusPositions,
                id: bus.id.to_string(),
                from: Millis::MIN,
                to: Millis::MAX,
                limit: 1_000_000,
                after: None,
            })
            .await
            .unwrap();
        let list = page
            .rows
            .into_iter()
            .map(|r| match r {
                Record::Position(p) => p,
                other => panic!("not a position: {other:?}"),
            })
            .collect();
        out.insert(bus.id.to_string(), list);
    }
    out
}

fn assert_continuous(series: &HashMap<String, Vec<BusPosition>>, every_ms: i64) {
    for (bus, list) in series {
        assert!(list.len() > 10, "bus {bus} has {} positions", list.len());
        for w in list.windows(2) {
            assert_eq!(
                w[1].time.0 - w[0].time.0,
                every_ms,
                "bus {bus}: {} then {} (a gap or a duplicate)",
                w[0].time,
                w[1].time
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_then_real_time_without_gap_or_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let started = Millis::now();
    let app = start(settings(dir.path(), "20m", 60.0, 5_000)).await;

    let client = reqwest::Client::new();
    let url = format!("http://{}/health", app.addr);
    let handover = app.live_for(StdDuration::from_secs(3)).await;
    let health = client.get(&url).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["status"], "healthy", "{body}");
    assert_eq!(body["components"]["simulator"]["phase"], "live", "{body}");
    assert_eq!(body["components"]["store"]["status"], "ok", "{body}");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    app.stop().await;

    let series = all_positions(dir.path()).await;
    assert_continuous(&series, 5_000);
    for list in series.values() {
        // Backfill began 20 minutes before the start, and live ran past the handover.
        assert!(
            list[0].time.0 <= started.0 - 19 * 60_000,
            "first at {}",
            list[0].time
        );
        assert!(list.last().unwrap().time.0 >= handover.0 + 60_000);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_and_backfills_the_downtime() {
    let dir = tempfile::tempdir().unwrap();
    let first = start(settings(dir.path(), "2m", 1.0, 1_000)).await;
    first.live_for(StdDuration::from_millis(1_500)).await;
    first.stop().await;
    let before: HashMap<String, BusPosition> = all_positions(dir.path())
        .await
        .into_iter()
        .map(|(k, v)| (k, v.last().unwrap().clone()))
        .collect();

    tokio::time::sleep(StdDuration::from_secs(3)).await;
    let restarted_at = Millis::now();
    let second = start(settings(dir.path(), "2m", 1.0, 1_000)).await;
    second.live_for(StdDuration::from_millis(1_500)).await;
    second.stop().await;

    let series = all_positions(dir.path()).await;
    let net = common::all_day();
    // One second apart from the first backfill through the downtime to the end.
    assert_continuous(&series, 1_000);
    for (bus, list) in &series {
        assert!(
            list.last().unwrap().time >= restarted_at,
            "bus {bus} did not reach the restart"
        );
        let last = &before[bus];
        let next = list
            .iter()
            .find(|p| p.time.0 == last.time.0 + 1_000)
            .unwrap();
        let moved = haversine_m(
            LatLon::new(last.latitude, last.longitude),
            LatLon::new(next.latitude, next.longitude),
        );
        // At most a second of driving: the bus went on from where it was.
        assert!(
            moved < 15.0,
            "bus {bus} jumped {moved:.0} m across the restart"
        );
        // Same direction, unless the second fell on the turn at a terminal.
        let line = &net.lines[net.line_index(last.line_id.as_str()).unwrap()];
        let at_terminal = |p: &BusPosition| {
            [line.stops[0], *line.stops.last().unwrap()]
                .iter()
                .any(|&s| {
                    haversine_m(LatLon::new(p.latitude, p.longitude), net.stops[s].position) < 1.0
                })
        };
        assert!(
            next.direction == last.direction || at_terminal(last) || at_terminal(next),
            "bus {bus} changed direction across the restart away from a terminal: {last:?} then {next:?}"
        );
    }
    // Buses do not all sit at their initial positions after the restart.
    let fresh = madbus::sim::World::new(
        std::sync::Arc::new(net),
        madbus::sim::SimConfig::default(),
        Millis::now(),
    )
    .positions();
    let unchanged = fresh
        .iter()
        .filter(|f| {
            let p = series[f.bus_id.as_str()].last().unwrap();
            haversine_m(
                LatLon::new(p.latitude, p.longitude),
                LatLon::new(f.latitude, f.longitude),
            ) < 1.0
        })
        .count();
    assert!(
        unchanged < 5,
        "{unchanged} buses are back at their initial positions"
    );
}

#[test]
fn the_binary_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::ServerProcess::spawn(dir.path(), &["--backfill", "10m"]);
    server.wait_live(StdDuration::from_secs(30));
    let (exit, log) = server.terminate();
    let all = log.join("\n");
    assert!(exit.success(), "exit {exit:?}\n{all}");
    assert!(all.contains("store writer finished"), "{all}");
    assert!(all.contains("stopped cleanly"), "{all}");
}

/// The demo key a first start writes to the data dir.
fn demo_key(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join(madbus::app::DEMO_KEY_FILE)).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("x-api-key: "))
        .unwrap()
        .to_string()
}

#[test]
fn sigterm_answers_requests_in_flight_and_says_goodbye_to_websockets() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let server = common::ServerProcess::spawn(dir.path(), &["--backfill", "10m"]);
    server.wait_live(StdDuration::from_secs(30));
    let key = demo_key(dir.path());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut ws = rt.block_on(async {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut r = format!("ws://{}/ws", server.addr)
            .into_client_request()
            .unwrap();
        r.headers_mut().insert("x-api-key", key.parse().unwrap());
        r.headers_mut()
            .insert("x-group-name", "demo".parse().unwrap());
        tokio_tungstenite::connect_async(r).await.unwrap().0
    });
    // A request whose body is still arriving when the signal comes.
    let body = br#"{"tool": "list_lines", "arguments": {}}"#;
    let mut s = std::net::TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(StdDuration::from_secs(10)))
        .unwrap();
    write!(
        s,
        "POST /mcp/call-tool HTTP/1.1\r\nHost: x\r\nx-api-key: {key}\r\nx-group-name: demo\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(&body[..10]).unwrap();
    std::thread::sleep(StdDuration::from_millis(200));
    let signalled = Instant::now();
    server.signal("TERM");
    std::thread::sleep(StdDuration::from_millis(300));
    s.write_all(&body[10..]).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let head = answer.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{answer}");
    assert!(head.contains("connection: close"), "{answer}");
    // The WebSocket client is told the server is going away.
    let code = rt.block_on(async {
        use futures_util::StreamExt;
        while let Some(m) = ws.next().await {
            if let Ok(tokio_tungstenite::tungstenite::Message::Close(Some(frame))) = m {
                return Some(u16::from(frame.code));
            }
        }
        None
    });
    assert_eq!(code, Some(1001));
    let (exit, log) = server.wait();
    assert!(exit.success(), "exit {exit:?}\n{}", log.join("\n"));
    assert!(
        signalled.elapsed() < StdDuration::from_secs(5),
        "took {:?} to stop",
        signalled.elapsed()
    );
}

/// Runs `madbus serve` with `extra` flags to its end (these refuse to start).
fn serve_once(bind: &str, data: &Path, extra: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_madbus"))
        .args(["serve", "--bind", bind])
        .args(extra)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap()
}

#[test]
fn a_server_that_cannot_start_changes_no_file() {
    // The port is taken: nothing is created in the data dir.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = serve_once(&taken.local_addr().unwrap().to_string(), &data, &[]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("binding"),
        "{out:?}"
    );
    assert!(
        !data.join("madbus.db").exists(),
        "the store was created before the bind"
    );

    // A store from a newer madbus is refused before its journal mode is changed.
    std::fs::create_dir_all(&data).unwrap();
    let db = data.join("madbus.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = DELETE; CREATE TABLE t (x); PRAGMA user_version = 999;",
        )
        .unwrap();
    }
    let before = std::fs::read(&db).unwrap();
    let out = serve_once("127.0.0.1:0", &data, &[]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("newer"),
        "{out:?}"
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the newer store was changed"
    );
    assert!(!data.join("madbus.db-wal").exists());
}

#[test]
fn connection_threads_must_be_at_least_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = serve_once("127.0.0.1:0", dir.path(), &["--http-threads", "0"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--http-threads"),
        "{out:?}"
    );
    assert!(!dir.path().join("madbus.db").exists());
}

/// `PRAGMA integrity_check` of the store in `dir`.
fn integrity(dir: &Path) -> String {
    let conn = rusqlite::Connection::open(dir.join("madbus.db")).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

/// Restarts on `dir` until live, stops cleanly, then checks the store: intact, and every
/// bus's positions every 5 s with no gap or duplicate.
fn restart_and_check(dir: &Path) {
    let server = common::ServerProcess::spawn(dir, &[]);
    server.wait_live(StdDuration::from_secs(120));
    let (exit, log) = server.terminate();
    assert!(exit.success(), "{}", log.join("\n"));
    assert_eq!(integrity(dir), "ok");
    let rt = tokio::runtime::Runtime::new().unwrap();
    assert_continuous(&rt.block_on(all_positions(dir)), 5_000);
}

#[test]
fn kill_9_during_the_backfill_and_while_live_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::ServerProcess::spawn(dir.path(), &["--backfill", "1d"]);
    std::thread::sleep(StdDuration::from_millis(1500));
    server.signal("KILL");
    let _ = server.wait();
    restart_and_check(dir.path());

    let server = common::ServerProcess::spawn(dir.path(), &[]);
    server.wait_live(StdDuration::from_secs(60));
    std::thread::sleep(StdDuration::from_secs(2));
    server.signal("KILL");
    let _ = server.wait();
    restart_and_check(dir.path());
}

/// Runs `sh -c command`; true when it succeeded.
fn sh(command: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", command])
        .status()
        .is_ok_and(|s| s.success())
}

/// A temporary directory with a tmpfs of `size` mounted on it, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            sh(&format!(
                "mount -t tmpfs -o size={size} tmpfs {}",
                dir.path().display()
            )),
            "mounting a tmpfs needs root"
        );
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        sh(&format!("umount {}", self.dir.path().display()));
    }
}

#[test]
#[ignore = "needs root, to mount a small tmpfs"]
fn a_full_disk_at_shutdown_leaves_no_gap() {
    let dir = SmallDisk::mount("20m");
    let mount = dir.path().display().to_string();
    let server = common::ServerProcess::spawn(dir.path(), &["--backfill", "2d"]);
    // Wait until the disk is full and writes fail.
    let deadline = Instant::now() + StdDuration::from_secs(60);
    while !sh(&format!(
        "[ $(df --output=avail -k {mount} | tail -1) -lt 1024 ]"
    )) {
        assert!(Instant::now() < deadline, "the disk never filled");
        std::thread::sleep(StdDuration::from_millis(100));
    }
    std::thread::sleep(StdDuration::from_millis(1000));
    let (exit, log) = server.terminate();
    let all = log.join("\n");
    assert!(
        !exit.success(),
        "a stop that could not write everything exited 0:\n{all}"
    );
    assert!(all.contains("could not be written"), "{all}");
    assert!(sh(&format!("mount -o remount,size=400m {mount}")));
    restart_and_check(dir.path());
}

#[test]
#[ignore = "needs root, to mount a small tmpfs"]
fn a_full_disk_while_live_turns_health_503_and_recovers() {
    let dir = SmallDisk::mount("64m");
    let server = common::ServerProcess::spawn(dir.path(), &["--backfill", "10m", "--speed", "600"]);
    server.wait_live(StdDuration::from_secs(60));
    let health = || {
        let (status, body) = common::get(&format!("http://{}/health", server.addr)).unwrap();
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        let expected = if body["status"] == "healthy" {
            200
        } else {
            503
        };
        assert_eq!(status, expected, "{body}");
        body
    };
    // Fill the disk: the next writes fail.
    let filler = dir.path().join("filler");
    sh(&format!(
        "dd if=/dev/zero of={} bs=1M 2>/dev/null",
        filler.display()
    ));
    let deadline = Instant::now() + StdDuration::from_secs(60);
    let sick = loop {
        let h = health();
        if h["status"] == "unhealthy" {
            break h;
        }
        assert!(
            Instant::now() < deadline,
            "health never noticed the full disk: {h}"
        );
        std::thread::sleep(StdDuration::from_millis(200));
    };
    assert_eq!(sick["components"]["store"]["status"], "unhealthy", "{sick}");
    assert!(sick["components"]["store"]["error"].is_string(), "{sick}");
    // Space returns: it recovers by itself, and writes everything it held back.
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + StdDuration::from_secs(60);
    while health()["status"] != "healthy" {
        assert!(Instant::now() < deadline, "never recovered: {}", health());
        std::thread::sleep(StdDuration::from_millis(200));
    }
    let (exit, log) = server.terminate();
    assert!(exit.success(), "{}", log.join("\n"));
    assert_eq!(integrity(dir.path()), "ok");
    let rt = tokio::runtime::Runtime::new().unwrap();
    assert_continuous(&rt.block_on(all_positions(dir.path())), 5_000);
}
