//! The real server on port 0: backfill hands over to real time with no gap and no
//! duplicate, a restart resumes the saved world and backfills the downtime, and the binary
//! stops cleanly on SIGTERM with everything written.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration as StdDuration, Instant};

use madbus::app::{Application, Settings};
use madbus::network::geo::{LatLon, haversine_m};
use madbus::runner::{LiveState, Phase};
use madbus::sim::BusPosition;
use madbus::store::{RangeQuery, Row, Series, SqliteStore, Store};
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
        let deadline = Instant::now() + StdDuration::from_secs(60);
        while self.live.status().phase != Phase::Live {
            assert!(
                Instant::now() < deadline,
                "never caught up: {:?}",
                self.live.status()
            );
            tokio::time::sleep(StdDuration::from_millis(20)).await;
        }
        let handover = self.live.status().sim_time.unwrap();
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
    s.bind = "127.0.0.1:0".parse().unwrap();
    s.backfill = backfill.parse::<Duration>().unwrap();
    s.speed = speed;
    s.sim.position_every_ms = position_every_ms;
    s
}

/// Every stored position of every bus, in time order.
async fn all_positions(dir: &Path) -> HashMap<String, Vec<BusPosition>> {
    let store = SqliteStore::open(dir).unwrap();
    let net = madbus::network::Network::default_network();
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
                Row::Position(p) => p,
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
    let net = madbus::network::Network::default_network();
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
    let url = format!("http://{}/health", server.addr);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let deadline = Instant::now() + StdDuration::from_secs(30);
    loop {
        let body = rt.block_on(async { reqwest::get(&url).await?.text().await });
        if body
            .as_deref()
            .is_ok_and(|b| b.contains("\"phase\":\"live\""))
        {
            break;
        }
        assert!(Instant::now() < deadline, "never went live: {body:?}");
        std::thread::sleep(StdDuration::from_millis(50));
    }
    let (exit, log) = server.terminate();
    let all = log.join("\n");
    assert!(exit.success(), "exit {exit:?}\n{all}");
    assert!(all.contains("store writer finished"), "{all}");
    assert!(all.contains("stopped cleanly"), "{all}");
}
