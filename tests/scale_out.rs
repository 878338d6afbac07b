//! Roles and the NATS feed with real processes: one `--role simulator` and two `--role api`
//! on one data dir and one real nats-server. Events reach a WebSocket client on a replica
//! within 2 s of the simulator writing them; REST on both replicas agrees with the store;
//! `madbus verify` passes against each; losing a replica or NATS itself is survived.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{NatsServer, ServerProcess, add_key};
use futures_util::{SinkExt, StreamExt};
use madbus::store::{Series, SqliteStore, Store};
use madbus::views::BusPositionView;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

const GROUP: &str = "group1";

async fn health(addr: &str) -> (u16, Value) {
    let r = reqwest::get(format!("http://{addr}/health")).await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

/// Polls `/health` until `done` holds (within `within`).
async fn wait_health(addr: &str, within: Duration, done: impl Fn(u16, &Value) -> bool) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = health(addr).await;
        if done(status, &body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{addr}: {status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn get(addr: &str, path: &str, key: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .header("x-api-key", key)
        .header("x-group-name", GROUP)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

/// What a WebSocket client received, with when.
#[derive(Default)]
struct Received {
    positions: HashMap<(String, String), Instant>,
    notices: Vec<(String, Instant)>,
}

/// Subscribes to every line's positions on `addr` and records what arrives until dropped.
async fn watch(
    addr: &str,
    key: &str,
    lines: Vec<String>,
) -> (Arc<Mutex<Received>>, tokio::task::JoinHandle<()>) {
    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("x-api-key", key.parse().unwrap());
    request
        .headers_mut()
        .insert("x-group-name", GROUP.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let subscribe = json!({"action": "subscribe", "line_ids": lines, "topics": ["positions"]});
    ws.send(Message::Text(subscribe.to_string().into()))
        .await
        .unwrap();
    let received = Arc::new(Mutex::new(Received::default()));
    let sink = Arc::clone(&received);
    let task = tokio::spawn(async move {
        while let Some(Ok(message)) = ws.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            let v: Value = serde_json::from_str(&text).unwrap();
            let mut r = sink.lock().unwrap();
            match v["type"].as_str().unwrap_or_default() {
                "bus.position.updated" => {
                    let key = (
                        v["data"]["bus_id"].as_str().unwrap().to_string(),
                        v["data"]["time"].as_str().unwrap().to_string(),
                    );
                    r.positions.entry(key).or_insert_with(Instant::now);
                }
                t @ ("feed.interrupted" | "feed.resumed") => {
                    r.notices.push((t.to_string(), Instant::now()))
                }
                _ => {}
            }
        }
    });
    (received, task)
}

/// The newest stored position of each bus.
async fn stored_latest(store: &SqliteStore, buses: &[String]) -> HashMap<String, BusPositionView> {
    let mut out = HashMap::new();
    for id in buses {
        if let Some(madbus::store::Record::Position(p)) =
            store.latest(Series::BusPositions, id).await.unwrap()
        {
            out.insert(id.clone(), BusPositionView::from(&p));
        }
    }
    out
}

/// A key made with `madbus keys create --store STORE`, once it works on the API process at
/// `addr` (keys are reloaded every second).
async fn new_key(store: &str, addr: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_madbus"))
        .args(["keys", "create", "--group", GROUP, "--store", store])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let deadline = Instant::now() + Duration::from_secs(5);
    while get(addr, "/lines", &key).await.0 != 200 {
        assert!(
            Instant::now() < deadline,
            "the new key never worked on the API process"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    key
}

async fn verify(addr: &str, key: &str) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_madbus"))
        .args([
            "verify",
            "--endpoint",
            &format!("http://{addr}"),
            "--group",
            GROUP,
        ])
        .args(["--min-history", "15m", "--requests", "300"])
        .env("MADBUS_API_KEY", key)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "verify against {addr} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs nats-server"]
async fn one_simulator_feeds_api_replicas_over_nats() {
    let mut nats = NatsServer::start();
    let feed = nats.url();
    let dir = tempfile::tempdir().unwrap();
    let key = add_key(dir.path(), GROUP, |_| {}).await;
    let sim_args = [
        "--role",
        "simulator",
        "--feed",
        &feed,
        "--backfill",
        "20m",
        "--speed",
        "5",
    ];
    let sim = ServerProcess::spawn(dir.path(), &sim_args);
    let body = wait_health(&sim.addr, Duration::from_secs(60), |s, _| s == 200).await;
    assert_eq!(body["components"]["feed"]["kind"], "nats", "{body}");
    // The simulator serves health and metrics only.
    assert_eq!(get(&sim.addr, "/buses", &key).await.0, 404);

    let api_args = ["--role", "api", "--feed", &feed];
    let api1 = ServerProcess::spawn(dir.path(), &api_args);
    let api2 = ServerProcess::spawn(dir.path(), &api_args);
    for api in [&api1, &api2] {
        let body = wait_health(&api.addr, Duration::from_secs(20), |s, _| s == 200).await;
        assert_eq!(body["components"]["simulator"]["phase"], "live", "{body}");
        assert!(
            body["components"]["feed"]["last_message_age_s"]
                .as_f64()
                .unwrap()
                < 2.0,
            "{body}"
        );
    }
    let (_, buses) = get(&api1.addr, "/buses", &key).await;
    let buses: Vec<String> = buses
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["bus_id"].as_str().unwrap().to_string())
        .collect();
    let (_, lines) = get(&api1.addr, "/lines", &key).await;
    let lines: Vec<String> = lines
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["line_id"].as_str().unwrap().to_string())
        .collect();
    assert!(buses.len() > 10 && lines.len() > 5);

    // A client on replica 2 gets every bus's positions within 2 s of their being stored.
    let (received, reader) = watch(&api2.addr, &key, lines.clone()).await;
    let store = SqliteStore::open_read_only(dir.path()).unwrap();
    let mut stored: HashMap<(String, String), Instant> = HashMap::new();
    // Rows stored before the client subscribed are not owed to it.
    let before: Vec<(String, String)> = (stored_latest(&store, &buses).await.into_iter())
        .map(|(bus, p)| (bus, p.time))
        .collect();
    let watch_until = Instant::now() + Duration::from_secs(8);
    while Instant::now() < watch_until {
        for (bus, p) in stored_latest(&store, &buses).await {
            stored.entry((bus, p.time)).or_insert_with(Instant::now);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    {
        let got = received.lock().unwrap();
        for bus in &buses {
            assert!(
                got.positions.keys().any(|(b, _)| b == bus),
                "no position of {bus} on replica 2"
            );
        }
        let checked = (stored.iter())
            .filter(|(row, seen)| seen.elapsed() > Duration::from_secs(2) && !before.contains(row));
        let mut n = 0;
        for ((bus, time), seen) in checked {
            let at = got.positions.get(&(bus.clone(), time.clone()));
            let at = at.unwrap_or_else(|| panic!("replica 2 never sent {bus} at {time}"));
            assert!(
                at.saturating_duration_since(*seen) <= Duration::from_secs(2),
                "{bus} at {time} came late"
            );
            n += 1;
        }
        assert!(
            n > 2 * buses.len(),
            "only {n} stored positions were checked"
        );
    }

    // Both replicas answer latest from the same state (within a step of each other).
    for bus in buses.iter().take(5) {
        let path = format!("/bus-position/{bus}?mode=latest");
        let (s1, a) = get(&api1.addr, &path, &key).await;
        let (s2, b) = get(&api2.addr, &path, &key).await;
        assert_eq!((s1, s2), (200, 200), "{a} {b}");
        let t = |v: &Value| {
            madbus::time::Millis::parse(v["time"].as_str().unwrap())
                .unwrap()
                .0
        };
        assert!((t(&a) - t(&b)).abs() <= 10_000, "{a} vs {b}");
    }

    verify(&api1.addr, &key).await;
    verify(&api2.addr, &key).await;

    // Losing replica 1 leaves replica 2 as it was.
    api1.signal("KILL");
    let before = received.lock().unwrap().positions.len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        received.lock().unwrap().positions.len() > before,
        "replica 2's client stopped getting events"
    );
    assert_eq!(health(&api2.addr).await.0, 200);

    // NATS away for 5 s: replica 2 says so, keeps serving REST, and resumes by itself.
    let port = nats.port;
    nats.stop();
    let body = wait_health(&api2.addr, Duration::from_secs(10), |s, _| s == 503).await;
    assert_eq!(body["components"]["feed"]["status"], "unhealthy", "{body}");
    let (status, _) = get(
        &api2.addr,
        &format!("/bus-position/{}?mode=latest", buses[0]),
        &key,
    )
    .await;
    assert_eq!(
        status, 200,
        "REST answers from the store while the feed is down"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let during = received.lock().unwrap().positions.len();
    let _nats = NatsServer::start_on(port);
    wait_health(&api2.addr, Duration::from_secs(15), |s, _| s == 200).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    {
        let got = received.lock().unwrap();
        let kinds: Vec<&str> = got.notices.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            kinds,
            ["feed.interrupted", "feed.resumed"],
            "the client is told"
        );
        assert!(
            got.positions.len() > during,
            "positions flow again after NATS is back"
        );
    }

    // Once the simulator stops, what replica 2 answers is what is stored.
    let (status, _) = sim.terminate();
    assert!(status.success());
    wait_health(&api2.addr, Duration::from_secs(10), |_, b| {
        b["components"]["simulator"]["phase"] == "stopped"
    })
    .await;
    let stored = stored_latest(&store, &buses).await;
    for bus in &buses {
        let (status, answer) = get(
            &api2.addr,
            &format!("/bus-position/{bus}?mode=latest"),
            &key,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(answer, serde_json::to_value(&stored[bus]).unwrap(), "{bus}");
    }
    // With no simulator at all, the client is told within the staleness bound.
    let deadline = Instant::now() + madbus::feed::STALE_AFTER + Duration::from_secs(5);
    while received.lock().unwrap().notices.len() < 3 {
        assert!(
            Instant::now() < deadline,
            "no notice that the simulator went quiet"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(received.lock().unwrap().notices[2].0, "feed.interrupted");
    reader.abort();
    let (status, log) = api2.terminate();
    assert!(status.success(), "{}", log.join("\n"));
}

#[test]
fn an_api_process_needs_a_feed_that_reaches_the_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_madbus"))
        .args([
            "serve",
            "--role",
            "api",
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--role api needs --feed nats://"), "{err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_madbus"))
        .args(["serve", "--feed", "kafka://x", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("not a feed: write nats://HOST:PORT"),
        "{err}"
    );
}

/// The same topology on PostgreSQL: the simulator writes it, an API process reads it, and a
/// key made with `madbus keys --store postgres://...` works on the API process within a
/// second or two.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs nats-server and PostgreSQL"]
async fn the_roles_share_a_postgresql_store() {
    let nats = NatsServer::start();
    let url = common::PgCluster::get().database().await;
    let dir = tempfile::tempdir().unwrap();
    let feed = nats.url();
    let store = ["--store", url.as_str(), "--feed", feed.as_str()];
    let sim_args = [
        &store[..],
        &["--role", "simulator", "--backfill", "20m", "--speed", "5"],
    ]
    .concat();
    // A data dir that does not exist yet: on PostgreSQL it only receives the demo key file.
    let data = dir.path().join("not-yet");
    let sim = ServerProcess::spawn(&data, &sim_args);
    wait_health(&sim.addr, Duration::from_secs(60), |s, _| s == 200).await;
    let api = ServerProcess::spawn(dir.path(), &[&store[..], &["--role", "api"]].concat());
    wait_health(&api.addr, Duration::from_secs(20), |s, _| s == 200).await;
    assert!(
        data.join(madbus::app::DEMO_KEY_FILE).exists(),
        "the demo key file"
    );
    assert!(
        !data.join("madbus.db").exists() && !dir.path().join("madbus.db").exists(),
        "nothing is written to a SQLite file"
    );
    // The simulator made the demo key in PostgreSQL; a new key works on the API process.
    let key = new_key(&url, &api.addr).await;
    let (status, latest) = get(&api.addr, "/bus-position/B001?mode=latest", &key).await;
    assert_eq!(status, 200, "{latest}");
    let to = latest["time"].as_str().unwrap().to_string();
    let from = madbus::time::Millis(madbus::time::Millis::parse(&to).unwrap().0 - 15 * 60_000);
    let path = format!(
        "/bus-position/B001?from={}&to={to}&limit=1000",
        from.to_rfc3339()
    );
    let (status, page) = get(&api.addr, &path, &key).await;
    assert_eq!(status, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    assert!(
        items.len() >= 15 * 60 / 5 - 1,
        "15 minutes of positions: {}",
        items.len()
    );
    let (status, log) = sim.terminate();
    assert!(status.success(), "{}", log.join("\n"));
    let (status, log) = api.terminate();
    assert!(status.success(), "{}", log.join("\n"));
}

/// Every bus's positions in the store, checked to follow each other every `every_ms` from
/// the first to the last: no gap, no duplicate. Returns the newest time.
async fn assert_continuous(store: &dyn Store, buses: &[&str], every_ms: i64) -> i64 {
    let mut newest = 0;
    for bus in buses {
        let page = store
            .range(madbus::store::RangeQuery {
                series: Series::BusPositions,
                id: bus.to_string(),
                from: madbus::time::Millis(0),
                to: madbus::time::Millis::MAX,
                limit: 1_000_000,
                after: None,
            })
            .await
            .unwrap();
        let times: Vec<i64> = page.rows.iter().map(|r| r.time().0).collect();
        assert!(times.len() > 10, "{bus}: {} rows", times.len());
        for pair in times.windows(2) {
            assert_eq!(
                pair[1] - pair[0],
                every_ms,
                "{bus}: a gap or a duplicate at {}",
                pair[0]
            );
        }
        newest = newest.max(*times.last().unwrap());
    }
    newest
}

async fn phase(addr: &str) -> String {
    let (_, body) = health(addr).await;
    body["components"]["simulator"]["phase"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The whole topology on PostgreSQL and NATS: two simulators (one writes, the other waits)
/// and two API processes. kill -9 the writer: the standby is live within 10 s, regenerating
/// what was not written, and clients on both API processes keep receiving; `madbus verify`
/// passes against each API process. Then cut the writer's lock connection: it stops writing,
/// and exactly one simulator writes afterwards. History stays continuous throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs nats-server and PostgreSQL"]
async fn a_standby_simulator_takes_over_without_a_gap() {
    let nats = NatsServer::start();
    let feed = nats.url();
    let url = common::PgCluster::get().database().await;
    let dir = tempfile::tempdir().unwrap();
    let shared = ["--store", url.as_str(), "--feed", feed.as_str()];
    let args = [
        &shared[..],
        &["--role", "simulator", "--backfill", "20m", "--speed", "5"],
    ]
    .concat();
    let a = ServerProcess::spawn(dir.path(), &args);
    wait_health(&a.addr, Duration::from_secs(60), |s, b| {
        s == 200 && b["components"]["simulator"]["phase"] == "live"
    })
    .await;
    let b = ServerProcess::spawn(dir.path(), &args);
    // A standby is healthy (200).
    wait_health(&b.addr, Duration::from_secs(20), |s, b| {
        s == 200 && b["components"]["simulator"]["phase"] == "standby"
    })
    .await;
    assert_eq!(phase(&a.addr).await, "live", "one writer at a time");
    let api_args = [&shared[..], &["--role", "api"]].concat();
    let apis = [
        ServerProcess::spawn(dir.path(), &api_args),
        ServerProcess::spawn(dir.path(), &api_args),
    ];
    for api in &apis {
        wait_health(&api.addr, Duration::from_secs(20), |s, _| s == 200).await;
    }
    let key = new_key(&url, &apis[1].addr).await;
    let (_, buses) = get(&apis[0].addr, "/buses", &key).await;
    let buses: Vec<String> = (buses.as_array().unwrap().iter())
        .map(|b| b["bus_id"].as_str().unwrap().to_string())
        .collect();
    let buses: Vec<&str> = buses.iter().map(String::as_str).collect();
    let (_, lines) = get(&apis[0].addr, "/lines", &key).await;
    let lines: Vec<String> = (lines.as_array().unwrap().iter())
        .map(|l| l["line_id"].as_str().unwrap().to_string())
        .collect();
    let mut watchers = Vec::new();
    for api in &apis {
        watchers.push(watch(&api.addr, &key, lines.clone()).await);
    }

    let store = madbus::store::PostgresStore::connect(&url).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = assert_continuous(&store, &buses, 5_000).await;

    // The writer dies: the standby takes over within seconds and fills the interval.
    a.signal("KILL");
    let took_over = Instant::now();
    wait_health(&b.addr, Duration::from_secs(10), |s, b| {
        s == 200 && b["components"]["simulator"]["phase"] == "live"
    })
    .await;
    eprintln!("standby live {:?} after the kill", took_over.elapsed());
    let counts: Vec<usize> = (watchers.iter())
        .map(|(r, _)| r.lock().unwrap().positions.len())
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    for ((received, _), before) in watchers.iter().zip(counts) {
        let now = received.lock().unwrap().positions.len();
        assert!(
            now > before,
            "a client stopped receiving after the takeover"
        );
    }
    let after = assert_continuous(&store, &buses, 5_000).await;
    assert!(
        after > before + 10_000,
        "the new writer writes: {before} -> {after}"
    );
    for api in &apis {
        wait_health(&api.addr, Duration::from_secs(10), |s, _| s == 200).await;
        verify(&api.addr, &key).await;
    }

    // A third simulator waits; the writer's lock connection is cut (a stand-in for a
    // network partition): it stops writing, and exactly one simulator writes afterwards.
    let c = ServerProcess::spawn(dir.path(), &args);
    wait_health(&c.addr, Duration::from_secs(20), |_, b| {
        b["components"]["simulator"]["phase"] == "standby"
    })
    .await;
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let cut = client
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'madbus-writer'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(cut.get::<_, i64>(0), 1, "one writer lock connection");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let phases = (phase(&b.addr).await, phase(&c.addr).await);
        let live = [&phases.0, &phases.1]
            .iter()
            .filter(|p| p.as_str() == "live")
            .count();
        let standby = [&phases.0, &phases.1]
            .iter()
            .filter(|p| p.as_str() == "standby")
            .count();
        if live == 1 && standby == 1 && Instant::now() > deadline - Duration::from_secs(15) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "phases after the cut: {phases:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let last = assert_continuous(&store, &buses, 5_000).await;
    assert!(last > after, "someone writes after the cut");
    let (_, b_log) = b.terminate();
    assert!(
        (b_log.iter()).any(|l| l.contains("lost the connection that holds the writer lock")),
        "the cut writer says so"
    );
    let (status, log) = c.terminate();
    assert!(status.success(), "{}", log.join("\n"));
    for (_, reader) in watchers {
        reader.abort();
    }
}

/// On one machine the SQLite store's writer lock (an OS file lock) does the same: a second
/// simulator on the data dir waits, and takes over when the first is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_simulator_on_one_data_dir_waits_its_turn() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--role", "simulator", "--backfill", "10m", "--speed", "5"];
    let a = ServerProcess::spawn(dir.path(), &args);
    wait_health(&a.addr, Duration::from_secs(60), |s, _| s == 200).await;
    let b = ServerProcess::spawn(dir.path(), &args);
    wait_health(&b.addr, Duration::from_secs(20), |_, b| {
        b["components"]["simulator"]["phase"] == "standby"
    })
    .await;
    a.signal("KILL");
    wait_health(&b.addr, Duration::from_secs(20), |s, b| {
        s == 200 && b["components"]["simulator"]["phase"] == "live"
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let store = SqliteStore::open_read_only(dir.path()).unwrap();
    assert_continuous(&store, &["B001", "B201"], 5_000).await;
    // A whole `serve` (role all) on the same data dir waits too; it has no data to serve
    // (its in-process feed has no simulator), so it answers 503 and says why.
    let c = ServerProcess::spawn(dir.path(), &["--backfill", "10m"]);
    let body = wait_health(&c.addr, Duration::from_secs(20), |_, b| {
        b["components"]["simulator"]["phase"] == "standby"
    })
    .await;
    assert_eq!(health(&c.addr).await.0, 503, "{body}");
    let _ = c.terminate();
    let (status, log) = b.terminate();
    assert!(status.success(), "{}", log.join("\n"));
}

/// PostgreSQL away for 30 s (a relay in front of it is cut): the API process answers
/// latest from memory, history with 503 and Retry-After, and `/health` names the store; the
/// simulator keeps stepping and holds its rows; once the store is back they are written in
/// order: history has no gap and no duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs nats-server and PostgreSQL"]
async fn a_store_outage_loses_nothing() {
    let nats = NatsServer::start();
    let cluster = common::PgCluster::get();
    let direct = cluster.database().await;
    let relay = common::Relay::start(cluster.port).await;
    let via_relay = direct.replace(&format!(":{}/", cluster.port), &format!(":{}/", relay.port));
    let dir = tempfile::tempdir().unwrap();
    let feed = nats.url();
    let common_args = ["--store", via_relay.as_str(), "--feed", feed.as_str()];
    let sim = ServerProcess::spawn(
        dir.path(),
        &[
            &common_args[..],
            &["--role", "simulator", "--backfill", "10m", "--speed", "5"],
        ]
        .concat(),
    );
    wait_health(&sim.addr, Duration::from_secs(60), |s, _| s == 200).await;
    let api = ServerProcess::spawn(dir.path(), &[&common_args[..], &["--role", "api"]].concat());
    wait_health(&api.addr, Duration::from_secs(20), |s, _| s == 200).await;
    let key = new_key(&direct, &api.addr).await;

    relay.cut();
    let outage = Instant::now();
    let body = wait_health(&api.addr, Duration::from_secs(15), |s, _| s == 503).await;
    assert_eq!(body["components"]["store"]["status"], "unhealthy", "{body}");
    let mut latest_times = Vec::new();
    while outage.elapsed() < Duration::from_secs(30) {
        let (status, latest) = get(&api.addr, "/bus-position/B001?mode=latest", &key).await;
        assert_eq!(status, 200, "latest comes from memory: {latest}");
        latest_times.push(latest["time"].as_str().unwrap().to_string());
        let r = reqwest::Client::new()
            .get(format!(
                "http://{}/bus-position/B001?timestamp=2020-01-01T00:00:00Z",
                api.addr
            ))
            .header("x-api-key", &key)
            .header("x-group-name", GROUP)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503, "history needs the store");
        assert!(r.headers().contains_key("retry-after"));
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    latest_times.dedup();
    assert!(
        latest_times.len() > 5,
        "the simulator kept stepping: {latest_times:?}"
    );
    let (_, sim_health) = health(&sim.addr).await;
    assert_eq!(
        sim_health["components"]["store"]["status"], "unhealthy",
        "{sim_health}"
    );

    relay.mend();
    wait_health(&sim.addr, Duration::from_secs(30), |s, _| s == 200).await;
    wait_health(&api.addr, Duration::from_secs(30), |s, _| s == 200).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let store = madbus::store::PostgresStore::connect(&direct)
        .await
        .unwrap();
    let newest = assert_continuous(&store, &["B001", "B101", "B301"], 5_000).await;
    let last_seen = madbus::time::Millis::parse(latest_times.last().unwrap())
        .unwrap()
        .0;
    assert!(
        newest >= last_seen,
        "what was shown live during the outage is stored"
    );
    let (status, log) = sim.terminate();
    assert!(status.success(), "{}", log.join("\n"));
    let _ = api.terminate();
}
