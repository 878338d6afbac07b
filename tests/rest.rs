//! Every REST route over real HTTP: values agree with the store the simulation wrote, the
//! three query forms and paging, every 400/404 rule, and every response matches
//! /openapi.json.

mod common;

use common::{OpenApi, TestServer, add_key, test_settings};
use madbus::query::views::{BusPositionView, PeopleCountView};
use madbus::store::{RangeQuery, Record, Series, SqliteStore, Store};
use madbus::time::Millis;
use serde_json::Value;

struct Api {
    server: TestServer,
    key: String,
    openapi: OpenApi,
}

impl Api {
    async fn start(backfill: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = add_key(dir.path(), "group1", |_| {}).await;
        let mut settings = test_settings(dir.path(), backfill);
        settings.gateway.throttle_burst = 10_000;
        let server = TestServer::start(dir, settings).await;
        let openapi = OpenApi::fetch(&server).await;
        Self {
            server,
            key,
            openapi,
        }
    }

    /// GET `path` (an instance of `template`), checked against the document.
    async fn get(&self, template: &str, path: &str) -> (u16, Value) {
        let r = self.server.get(path, &self.key, "group1").await;
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        self.openapi.check(template, status, &body);
        (status, body)
    }

    async fn ok(&self, template: &str, path: &str) -> Value {
        let (status, body) = self.get(template, path).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    fn store(&self) -> SqliteStore {
        SqliteStore::open(self.server.dir.path()).unwrap()
    }

    /// Every stored position of `bus_id`, as REST shows them, oldest first.
    async fn positions_of(&self, bus_id: &str) -> Vec<Value> {
        let query = RangeQuery {
            series: Series::BusPositions,
            id: bus_id.into(),
            from: Millis::MIN,
            to: Millis::MAX,
            limit: 100_000,
            after: None,
        };
        (self.store().range(query).await.unwrap().rows.iter())
            .map(|r| match r {
                Record::Position(p) => serde_json::to_value(BusPositionView::from(p)).unwrap(),
                other => panic!("{other:?}"),
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_series_agree_with_the_store() {
    let api = Api::start("30m").await;
    let store = api.store();
    let expected = api.positions_of("B002").await;
    assert!(
        expected.len() > 300,
        "30 minutes at 5 s: {}",
        expected.len()
    );

    // Latest.
    let latest = api
        .ok("/bus-position/{bus_id}", "/bus-position/B002?mode=latest")
        .await;
    assert_eq!(latest["bus_id"], "B002");
    assert_eq!(latest["line_id"], "L1");
    let bare = api
        .ok("/bus-position/{bus_id}", "/bus-position/B002?latest")
        .await;
    assert_eq!(bare["bus_id"], "B002");

    // As-of exactly at a record, between two, in epoch ms and with an offset, before all.
    let rec = &expected[100];
    let t = Millis::parse(rec["time"].as_str().unwrap()).unwrap();
    let at = api
        .ok(
            "/bus-position/{bus_id}",
            &format!(
                "/bus-position/B002?timestamp={}",
                rec["time"].as_str().unwrap()
            ),
        )
        .await;
    assert_eq!(&at, rec);
    let between = api
        .ok(
            "/bus-position/{bus_id}",
            &format!("/bus-position/B002?timestamp={}", t.0 + 2_500),
        )
        .await;
    assert_eq!(&between, rec);
    let local = jiff::Timestamp::from_millisecond(t.0 + 1_000)
        .unwrap()
        .to_zoned_datetime(jiff::tz::TimeZone::fixed(jiff::tz::offset(2)))
        .strftime("%Y-%m-%dT%H:%M:%S%.3f%:z")
        .to_string();
    let offset = api
        .ok(
            "/bus-position/{bus_id}",
            &format!("/bus-position/B002?timestamp={}", local.replace('+', "%2B")),
        )
        .await;
    assert_eq!(&offset, rec, "{local}");
    let first = Millis::parse(expected[0]["time"].as_str().unwrap()).unwrap();
    let (status, body) = api
        .get(
            "/bus-position/{bus_id}",
            &format!("/bus-position/B002?timestamp={}", first.0 - 1),
        )
        .await;
    assert_eq!(status, 404);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("No data for bus B002"),
        "{body}"
    );

    // Range pages cover every row exactly once, in order.
    let (from, to) = (&expected[10]["time"], &expected[250]["time"]);
    let mut got = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!(
            "/bus-position/B002?from={}&to={}&limit=13",
            from.as_str().unwrap(),
            to.as_str().unwrap()
        );
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = api.ok("/bus-position/{bus_id}", &path).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 13);
        got.extend(items.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(got, expected[10..=250].to_vec());

    // Line snapshot: every bus of L1, each as its own as-of says.
    let snap = api
        .ok(
            "/bus-position/line/{line_id}",
            &format!("/bus-position/line/L1?timestamp={}", t.0 + 2_000),
        )
        .await;
    assert_eq!(snap["line_id"], "L1");
    let buses: Vec<&str> = snap["buses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["bus_id"].as_str().unwrap())
        .collect();
    assert_eq!(buses, ["B001", "B002", "B003"]);
    for b in snap["buses"].as_array().unwrap() {
        let id = b["bus_id"].as_str().unwrap();
        let one = api
            .ok(
                "/bus-position/{bus_id}",
                &format!("/bus-position/{id}?timestamp={}", t.0 + 2_000),
            )
            .await;
        assert_eq!(&one, b);
    }
    let latest_line = api
        .ok(
            "/bus-position/line/{line_id}",
            "/bus-position/line/L2?mode=latest",
        )
        .await;
    assert_eq!(latest_line["buses"].as_array().unwrap().len(), 4);

    // People counts and sensors, against the store.
    let people = api
        .ok("/people-count/{stop_id}", "/people-count/S003?mode=latest")
        .await;
    let stored = match store
        .latest(Series::PeopleCount, "S003")
        .await
        .unwrap()
        .unwrap()
    {
        Record::People(p) => serde_json::to_value(PeopleCountView::from(&p)).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(people, stored);
    assert_eq!(people["line_ids"], serde_json::json!(["L1"]));
    let page = api
        .ok(
            "/people-count/{stop_id}",
            &format!("/people-count/S003?from={}&to={}", first.0, Millis::now().0),
        )
        .await;
    assert!(page["items"].as_array().unwrap().len() >= 29);
    let bus = api
        .ok(
            "/sensors/{entity_type}/{entity_id}",
            "/sensors/bus/B101?mode=latest",
        )
        .await;
    assert!(bus["co2_level"].as_f64().unwrap() >= 420.0);
    assert!(["open", "closed"].contains(&bus["door_status"].as_str().unwrap()));
    let stop = api
        .ok(
            "/sensors/{entity_type}/{entity_id}",
            "/sensors/stop/S101?mode=latest",
        )
        .await;
    assert!(
        stop.get("co2_level").is_none() && stop.get("door_status").is_none(),
        "{stop}"
    );
    let old = api
        .ok(
            "/sensors/{entity_type}/{entity_id}",
            &format!("/sensors/stop/S101?timestamp={}", first.0 + 120_000),
        )
        .await;
    assert!(Millis::parse(old["time"].as_str().unwrap()).unwrap().0 <= first.0 + 120_000);
    api.server.stop().await;
}

/// As-of answers over the sealed part of the history come from memory once asked twice
/// (`madbus_history_stretches_read_total` counts the reads): every one, asked three times, is
/// the store's row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_of_from_memory_agrees_with_the_store() {
    let api = Api::start("40m").await;
    let expected = api.positions_of("B003").await;
    for (i, row) in expected.iter().enumerate().step_by(3) {
        let t = Millis::parse(row["time"].as_str().unwrap()).unwrap();
        // At the row, and between it and the next (5 s apart).
        for at in [t.0, t.0 + 4_999] {
            for round in 0..3 {
                let path = format!("/bus-position/B003?timestamp={at}");
                let got = api.ok("/bus-position/{bus_id}", &path).await;
                assert_eq!(&got, row, "row {i}, round {round}: {path}");
            }
        }
    }
    let metrics = (api.server.get("/metrics", &api.key, "group1").await)
        .text()
        .await
        .unwrap();
    let read: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("madbus_history_stretches_read_total "))
        .unwrap_or_else(|| panic!("no stretches read:\n{metrics}"))
        .parse()
        .unwrap();
    assert!(read >= 3.0, "{read} stretches read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_and_unknown_ids() {
    let api = Api::start("10m").await;
    let cases: &[(&str, &str, u16, &str)] = &[
        (
            "/bus-position/{bus_id}",
            "/bus-position/B999?mode=latest",
            404,
            "Bus B999 not found",
        ),
        (
            "/people-count/{stop_id}",
            "/people-count/S999?mode=latest",
            404,
            "Stop S999 not found",
        ),
        (
            "/bus-position/line/{line_id}",
            "/bus-position/line/L99?mode=latest",
            404,
            "Line L99 not found",
        ),
        (
            "/sensors/{entity_type}/{entity_id}",
            "/sensors/bus/S001?mode=latest",
            404,
            "Bus S001 not found",
        ),
        ("/lines/{line_id}", "/lines/L99", 404, "Line L99 not found"),
        (
            "/stops/{stop_id}",
            "/stops/S999",
            404,
            "Stop S999 not found",
        ),
        (
            "/stops/{stop_id}/arrivals",
            "/stops/S999/arrivals",
            404,
            "Stop S999 not found",
        ),
        (
            "/bus-position/{bus_id}",
            "/bus-position/S001'%20OR%20'1'='1?mode=latest",
            400,
            "Invalid bus_id",
        ),
        (
            "/people-count/{stop_id}",
            "/people-count/S001%3B%20DROP%20TABLE%20people_count?mode=latest",
            400,
            "Invalid stop_id",
        ),
        (
            "/stops/{stop_id}",
            &format!("/stops/{}", "S".repeat(65)),
            400,
            "Invalid stop_id",
        ),
        (
            "/bus-position/{bus_id}",
            "/bus-position/B001",
            400,
            "Missing query form",
        ),
        (
            "/bus-position/{bus_id}",
            "/bus-position/B001?timestamp=yesterday",
            400,
            "Invalid `timestamp`",
        ),
        (
            "/bus-position/{bus_id}",
            "/bus-position/B001?mode=earliest",
            400,
            "Invalid mode",
        ),
        (
            "/bus-position/{bus_id}",
            "/bus-position/B001?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
            400,
            "is not before",
        ),
        (
            "/bus-position/{bus_id}",
            "/bus-position/B001?from=2026-01-01T00:00:00Z",
            400,
            "Missing parameter `to`",
        ),
        (
            "/bus-position/{bus_id}",
            "/bus-position/B001?from=1&to=2&limit=0",
            400,
            "Invalid limit",
        ),
        (
            "/bus-position/{bus_id}",
            "/bus-position/B001?from=1&to=2&cursor=abc",
            400,
            "Invalid cursor",
        ),
        (
            "/sensors/{entity_type}/{entity_id}",
            "/sensors/train/T1?mode=latest",
            400,
            "Invalid entity_type",
        ),
        (
            "/bus-position/line/{line_id}",
            "/bus-position/line/L1?from=1&to=2",
            400,
            "takes mode=latest or timestamp",
        ),
    ];
    for (template, path, status, needle) in cases {
        let (got, body) = api.get(template, path).await;
        assert_eq!(got, *status, "{path}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(needle),
            "{path}: {body}"
        );
        let kind = if *status == 400 {
            "BadRequest"
        } else {
            "NotFound"
        };
        assert_eq!(body["error"], kind);
    }
    // The store still answers normally after the hostile ids.
    api.ok("/bus-position/{bus_id}", "/bus-position/B001?mode=latest")
        .await;
    api.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_metadata_and_arrivals() {
    // An hour of history: every bus has reached a terminal and holds a trip (a bus of a
    // line without a timetable starts mid-route with none until it first turns round).
    let api = Api::start("1h").await;
    let lines = api.ok("/lines", "/lines").await;
    assert_eq!(lines.as_array().unwrap().len(), 9);
    let l1 = api.ok("/lines/{line_id}", "/lines/L1").await;
    assert_eq!(l1["stops"].as_array().unwrap().len(), 7);
    assert_eq!(l1["buses"].as_array().unwrap().len(), 3);
    assert_eq!(l1["geometry"]["geometry"]["type"], "LineString");
    assert_eq!(
        l1["geometry"]["geometry"]["coordinates"][0],
        serde_json::json!([-3.6886, 40.4657])
    );
    assert_eq!(
        api.ok("/stops", "/stops").await.as_array().unwrap().len(),
        51
    );
    let s = api.ok("/stops/{stop_id}", "/stops/S001").await;
    assert_eq!(
        (s["name"].as_str(), s["is_terminal"].as_bool()),
        (Some("Plaza de Castilla"), Some(true))
    );
    assert_eq!(
        api.ok("/buses", "/buses").await.as_array().unwrap().len(),
        24
    );

    let arrivals = api
        .ok("/stops/{stop_id}/arrivals", "/stops/S003/arrivals")
        .await;
    let list = arrivals["arrivals"].as_array().unwrap();
    assert_eq!(list.len(), 3, "one prediction per L1 bus: {arrivals}");
    let etas: Vec<f64> = list
        .iter()
        .map(|a| a["eta_seconds"].as_f64().unwrap())
        .collect();
    assert!(
        etas.windows(2).all(|w| w[0] <= w[1]),
        "soonest first: {etas:?}"
    );
    // A round trip of L1 takes well under three hours.
    assert!(etas.iter().all(|&e| e < 3.0 * 3600.0), "{etas:?}");
    for a in list {
        let time = |k: &str| a[k].as_str().map(|t| t.parse::<jiff::Timestamp>().unwrap());
        assert_eq!(a["predicted"], a["eta"], "{a}");
        let (predicted, scheduled) = (time("predicted").unwrap(), time("scheduled"));
        let scheduled = scheduled.unwrap_or_else(|| panic!("every trip has a schedule: {a}"));
        assert_eq!(
            a["delay_s"].as_i64(),
            Some((predicted - scheduled).as_secs_f64().round() as i64),
            "delay is predicted minus scheduled: {a}"
        );
    }

    // Health is documented too, and every documented path answers.
    let r = api
        .server
        .client
        .get(api.server.url("/health"))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    api.openapi
        .check("/health", status, &r.json().await.unwrap());
    for template in api.openapi.paths().into_iter().filter(|p| p != "/ws") {
        let path = template
            .replace("{bus_id}", "B001")
            .replace("{stop_id}", "S001")
            .replace("{line_id}", "L1")
            .replace("{entity_type}", "bus")
            .replace("{entity_id}", "B001")
            .replace("{file}", "map.js")
            .replace("{feed}", "vehicle-positions")
            .replace("{series}", "sensors");
        // Exports need a window; every other route takes (or ignores) mode=latest.
        let query = if template.starts_with("/export") {
            let now = api.server.live.status().sim.sim_time.unwrap();
            format!(
                "from={}&to={}",
                Millis(now.0 - 60_000).to_rfc3339(),
                now.to_rfc3339()
            )
        } else {
            "mode=latest".into()
        };
        let r = api
            .server
            .get(&format!("{path}?{query}"), &api.key, "group1")
            .await;
        assert_eq!(r.status(), 200, "documented {template} is served");
    }
    api.server.stop().await;
}
