//! GTFS and GTFS-Realtime over real HTTP: the static feed checked by the GTFS validator from
//! PyPI and loaded by partridge; each realtime feed parsed by the official
//! `gtfs-realtime-bindings`, its ids found in the static feed, its vehicles where the REST
//! API puts the same bus at the same time, its JSON the same message; conditional requests.

mod common;

use common::{TestServer, python_script, python_with, start_with_key};
use serde_json::{Value, json};

const GROUP: &str = "gtfs";

/// The default network (its timetables, parent stations and night line) with 20 minutes
/// of history, its timetables running round the clock so that buses are in service
/// whatever the hour the test runs at. The network file lives as long as what is returned.
async fn start() -> (TestServer, String, tempfile::TempPath) {
    let network = round_the_clock();
    let (server, key) = start_with_key(GROUP, "20m", |s| {
        s.network_file = Some(network.to_path_buf());
        s.gateway.throttle_burst = 10_000;
    })
    .await;
    (server, key, network)
}

/// `data/lines.yaml` with each day of each timetable running from 00:00 to 23:59 at its
/// first headway (as JSON, which the YAML loader reads). Removed when the process ends.
fn round_the_clock() -> tempfile::TempPath {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/lines.yaml");
    let mut network: Value = serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap())
        .expect("data/lines.yaml is YAML");
    let mut timetables = 0;
    for line in network["lines"].as_array_mut().unwrap() {
        let Some(timetable) = line.get_mut("timetable") else {
            continue;
        };
        for day in ["weekday", "saturday", "sunday"] {
            let service = &mut timetable[day];
            let headway = service["every"][0][1].clone();
            service["first"] = json!(["00:00", "00:00"]);
            service["last"] = json!(["23:59", "23:59"]);
            service["every"] = json!([["00:00", headway]]);
        }
        timetables += 1;
    }
    assert_eq!(
        timetables, 10,
        "every line of the default network has a timetable"
    );
    let mut file = tempfile::NamedTempFile::with_suffix(".yaml").unwrap();
    serde_json::to_writer(&mut file, &network).unwrap();
    file.into_temp_path()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python gtfs-realtime-bindings, gtfs-validator and partridge (.venv)"]
async fn feeds_read_by_the_tools_of_their_users() {
    let py = python_with("partridge, google.transit.gtfs_realtime_pb2, gtfs_validator");
    let (server, key, _network) = start().await;
    let work = tempfile::tempdir().unwrap();
    let report = python_script(
        &py,
        "gtfs_check.py",
        json!({
            "base_url": server.url(""),
            "headers": {"x-api-key": key, "x-group-name": GROUP},
            "work_dir": work.path(),
        }),
    )
    .await;

    // The validator: no errors (the warnings README.md explains are the only ones).
    let notices = report["validator"].as_array().unwrap();
    let errors: Vec<&Value> = notices
        .iter()
        .filter(|n| n["severity"] == "ERROR")
        .collect();
    assert!(errors.is_empty(), "validator errors: {errors:?}");
    let accepted = ["feed_expiration_date30_days"];
    let other: Vec<&Value> = notices
        .iter()
        .filter(|n| !accepted.contains(&n["code"].as_str().unwrap()))
        .filter(|n| n["severity"] != "INFO")
        .collect();
    assert!(
        other.is_empty(),
        "warnings the README does not explain: {other:?}"
    );

    // partridge loads every table: 10 routes, 48 stops, both directions' shapes.
    let p = &report["partridge"];
    assert_eq!(p["routes"], 10, "{p}");
    assert_eq!(p["stops"], 48, "{p}");
    assert_eq!(p["shapes"], 20, "{p}");
    assert_eq!(p["service_dates"], 15, "{p}");
    assert!(p["trips"].as_u64().unwrap() > 15 * 1000, "{p}");

    // Route colours from the network file.
    assert_eq!(
        report["route_colors"]["L1"], "CC6677",
        "{}",
        report["route_colors"]
    );
    assert_eq!(report["route_colors"]["N1"], "1B1B3A");

    // One station per place of several stops.
    let stations = &report["stations"];
    assert_eq!(
        stations["STATION_S106"],
        json!(["S106", "S204", "S405", "S705"]),
        "Sol"
    );
    assert_eq!(
        stations["STATION_S001"],
        json!(["S001", "S306", "S505"]),
        "Plaza de Castilla"
    );
    assert_eq!(stations.as_object().unwrap().len(), 12, "{stations}");

    for name in ["vehicle-positions", "trip-updates", "alerts"] {
        let feed = &report[name];
        assert_eq!(feed["version"], "2.0", "{name}");
        assert_eq!(feed["incrementality"], "FULL_DATASET", "{name}");
        assert_eq!(
            feed["missing_from_static"],
            json!([]),
            "{name}: ids the static feed lacks"
        );
        assert_eq!(
            feed["json_same"], true,
            "{name}: ?format=json is the same message"
        );
        assert_eq!(feed["if_none_match_status"], 304, "{name}");
        assert_eq!(feed["if_modified_since_status"], 304, "{name}");
    }

    // Vehicles: every bus in service, where REST puts it at the same time.
    let vehicles = report["vehicle-positions"]["entities"].as_array().unwrap();
    assert!(vehicles.len() > 10, "buses in service: {}", vehicles.len());
    for v in vehicles {
        let (bus, t) = (
            v["bus_id"].as_str().unwrap(),
            v["timestamp"].as_i64().unwrap(),
        );
        let at = madbus::time::Millis(t * 1000 + 999).to_rfc3339();
        let r = server
            .get(&format!("/bus-position/{bus}?timestamp={at}"), &key, GROUP)
            .await;
        assert_eq!(r.status(), 200, "{bus} at {at}");
        let rest: Value = r.json().await.unwrap();
        let d = madbus::network::geo::haversine_m(
            madbus::network::LatLon {
                lat: v["latitude"].as_f64().unwrap(),
                lon: v["longitude"].as_f64().unwrap(),
            },
            madbus::network::LatLon {
                lat: rest["latitude"].as_f64().unwrap(),
                lon: rest["longitude"].as_f64().unwrap(),
            },
        );
        assert!(d < 30.0, "{bus}: {d:.1} m from its REST position");
        assert_eq!(v["trip_id"], rest["trip_id"], "{bus}");
        assert_eq!(v["stop_id"], rest["next_stop_id"], "{bus}");
        let status = v["status"].as_str().unwrap();
        assert_eq!(
            status == "STOPPED_AT",
            rest["at_stop"] == true,
            "{bus}: {v}"
        );
        assert!(v["occupancy_percentage"].as_u64().unwrap() <= 100, "{v}");
        assert!(
            (0.0..360.0).contains(&v["bearing"].as_f64().unwrap()),
            "{v}"
        );
    }

    // Trip updates: one per trip under way, stops in order, times in order and not before
    // the feed's time.
    let header_t = report["trip-updates"]["timestamp"].as_i64().unwrap();
    let updates = report["trip-updates"]["entities"].as_array().unwrap();
    assert!(updates.len() > 10, "{}", updates.len());
    for u in updates {
        let stops = u["updates"].as_array().unwrap();
        assert!(!stops.is_empty(), "{u}");
        let seq: Vec<i64> = stops
            .iter()
            .map(|s| s["stop_sequence"].as_i64().unwrap())
            .collect();
        assert!(seq.windows(2).all(|w| w[1] == w[0] + 1), "{u}");
        let times: Vec<i64> = stops
            .iter()
            .map(|s| s["arrival"].as_i64().unwrap())
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{u}");
        assert!(times[0] >= header_t - 1, "{u}");
        let last = stops.last().unwrap();
        assert!(
            last["departure"].is_null(),
            "no departure after the last stop: {u}"
        );
    }
    let checked = report["trip-updates"]["delays_checked"].as_u64().unwrap();
    assert!(
        checked > 50,
        "delays checked against the static feed: {checked}"
    );
    assert_eq!(report["alerts"]["entities"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn routes_errors_and_conditional_requests() {
    let (server, key, _network) = start().await;
    let client = &server.client;

    // The static feed is public, a zip, with a validator that 304s.
    let r = client
        .get(server.url("/gtfs/static.zip"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/zip");
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let zip = r.bytes().await.unwrap();
    assert_eq!(&zip[..2], b"PK");
    let again = client
        .get(server.url("/gtfs/static.zip"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let three_days = client
        .get(server.url("/gtfs/static.zip?from=2026-12-01&days=3"))
        .send()
        .await
        .unwrap();
    assert_eq!(three_days.status(), 200);
    assert!(three_days.bytes().await.unwrap().len() < zip.len());
    for (query, needle) in [
        ("days=0", "days"),
        ("days=99", "days"),
        ("days=two", "days"),
        ("from=yesterday", "from"),
    ] {
        let r = client
            .get(server.url(&format!("/gtfs/static.zip?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{query}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["message"].as_str().unwrap().contains(needle),
            "{query}: {body}"
        );
    }

    // Realtime feeds are behind the gateway.
    let r = client
        .get(server.url("/gtfs-rt/vehicle-positions"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = server.get("/gtfs-rt/vehicle-positions", &key, GROUP).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-protobuf");
    assert!(r.headers().contains_key("last-modified"));
    let r = server
        .get(
            "/gtfs-rt/vehicle-positions?format=json&line_id=L27",
            &key,
            GROUP,
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let entities = body["entity"].as_array().unwrap();
    assert!(!entities.is_empty());
    assert!(
        entities
            .iter()
            .all(|e| e["vehicle"]["trip"]["routeId"] == "L27"),
        "{body}"
    );
    for (path, status, needle) in [
        ("/gtfs-rt/buses", 404, "vehicle-positions"),
        ("/gtfs-rt/alerts?format=xml", 400, "format"),
        ("/gtfs-rt/trip-updates?line_id=L999", 404, "L999"),
        ("/gtfs-rt/trip-updates?line_id=L%27", 400, "line_id"),
    ] {
        let r = server.get(path, &key, GROUP).await;
        assert_eq!(r.status(), status, "{path}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["message"].as_str().unwrap().contains(needle),
            "{path}: {body}"
        );
    }
    server.stop().await;
}
