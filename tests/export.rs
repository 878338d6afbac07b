//! Bulk exports over real HTTP, read by pandas (CSV, NDJSON) and pyarrow (Parquet): their
//! rows are the paged REST range's rows for the same filter and window, value for value;
//! gzip when asked; clear errors for bad requests; `madbus export` writes the same file.

mod common;

use common::{TestServer, python_script, python_with, start_with_key};
use madbus::time::Millis;
use serde_json::{Value, json};

const GROUP: &str = "export";

async fn start() -> (TestServer, String) {
    start_with_key(GROUP, "1h", |s| s.gateway.throttle_burst = 10_000).await
}

/// A recorded window: the 20 minutes ending 10 minutes before the simulator's clock.
fn window(server: &TestServer) -> (String, String) {
    let now = server.live.status().sim.sim_time.unwrap().0;
    let to = (now - 10 * 60_000).div_euclid(60_000) * 60_000;
    (
        Millis(to - 20 * 60_000).to_rfc3339(),
        Millis(to).to_rfc3339(),
    )
}

/// Every item of a REST range, following the cursors.
async fn rest_range(server: &TestServer, key: &str, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page_path = match &cursor {
            Some(c) => format!("{path}&limit=100&cursor={c}"),
            None => format!("{path}&limit=100"),
        };
        let r = server.get(&page_path, key, GROUP).await;
        assert_eq!(r.status(), 200, "{page_path}");
        let page: Value = r.json().await.unwrap();
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return items,
        }
    }
}

/// The export's value for a REST field: lists as the export writes them, times as text
/// (CSV, NDJSON) or epoch ms (Parquet).
fn same(field: &str, rest: &Value, exported: &Value) -> bool {
    match (rest, exported) {
        (Value::String(t), Value::Number(ms)) if field == "time" => {
            Millis::parse(t).unwrap().0 == ms.as_i64().unwrap()
        }
        (Value::Array(list), Value::String(text)) => {
            let joined: Vec<String> = list
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    w => format!(
                        "{}:{}:{}",
                        w["line_id"].as_str().unwrap(),
                        w["direction"],
                        w["count"]
                    ),
                })
                .collect();
            joined.join(",") == *text
        }
        (Value::Array(list), Value::Null) => list.is_empty(),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python pandas and pyarrow (.venv)"]
async fn exports_are_the_rest_ranges() {
    let py = python_with("pandas, pyarrow");
    let (server, key) = start().await;
    let (from, to) = window(&server);
    let cases = [
        ("bus_positions", "bus_id=B001", "/bus-position/B001"),
        ("people_count", "stop_id=S003", "/people-count/S003"),
        ("sensors", "bus_id=B002", "/sensors/bus/B002"),
        ("sensors", "stop_id=S001", "/sensors/stop/S001"),
    ];
    let mut requests = Vec::new();
    for (series, filter, _) in cases {
        for format in ["csv", "ndjson", "parquet"] {
            requests.push(format!(
                "/export/{series}?from={from}&to={to}&{filter}&format={format}"
            ));
        }
    }
    let report = python_script(
        &py,
        "export_check.py",
        json!({
            "base_url": server.url(""),
            "headers": {"x-api-key": key, "x-group-name": GROUP},
            "requests": requests,
        }),
    )
    .await;
    for (series, filter, rest_path) in cases {
        let rest = rest_range(&server, &key, &format!("{rest_path}?from={from}&to={to}")).await;
        assert!(rest.len() > 10, "{rest_path}: {} rows", rest.len());
        for format in ["csv", "ndjson", "parquet"] {
            let path = format!("/export/{series}?from={from}&to={to}&{filter}&format={format}");
            let got = &report[&path];
            assert_eq!(got["status"], 200, "{path}: {got}");
            if format != "parquet" {
                assert_eq!(got["content_encoding"], "gzip", "{path}");
            }
            let rows = got["rows"].as_array().unwrap();
            assert_eq!(rows.len(), rest.len(), "{path}: rows");
            for (r, e) in rest.iter().zip(rows) {
                for (field, value) in r.as_object().unwrap() {
                    assert!(
                        same(field, value, &e[field]),
                        "{path}: {field} is {} in the export, {value} in REST\n{e}\n{r}",
                        e[field]
                    );
                }
            }
        }
        // Parquet keeps types: times are UTC timestamps.
        let parquet =
            &report[&format!("/export/{series}?from={from}&to={to}&{filter}&format=parquet")];
        assert_eq!(parquet["types"]["time"], "datetime64[ms, UTC]", "{parquet}");
    }
    server.stop().await;
}

#[tokio::test]
async fn bad_requests_and_the_command_line() {
    let (server, key) = start().await;
    let (_, to) = window(&server);
    // 45 minutes: a few buses of L1 at one stop.
    let from = Millis(Millis::parse(&to).unwrap().0 - 45 * 60_000).to_rfc3339();
    for (query, status, needle) in [
        (
            format!("/export/buses?from={from}&to={to}"),
            404,
            "bus_positions",
        ),
        (format!("/export/sensors?to={to}"), 400, "from"),
        (
            format!("/export/sensors?from={to}&to={from}"),
            400,
            "not before",
        ),
        (
            format!("/export/sensors?from={from}&to={to}&format=xlsx"),
            400,
            "format",
        ),
        (
            format!("/export/bus_positions?from={from}&to={to}&stop_id=S001"),
            400,
            "stop_id",
        ),
        (
            format!("/export/people_count?from={from}&to={to}&bus_id=B001"),
            400,
            "bus_id",
        ),
        (
            format!("/export/sensors?from={from}&to={to}&bus_id=B001&stop_id=S001"),
            400,
            "not both",
        ),
        (
            format!("/export/bus_positions?from={from}&to={to}&line_id=L99"),
            404,
            "L99",
        ),
        (
            format!("/export/bus_positions?from=soon&to={to}"),
            400,
            "from",
        ),
    ] {
        let r = server.get(&query, &key, GROUP).await;
        assert_eq!(r.status(), status, "{query}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["message"].as_str().unwrap().contains(needle),
            "{query}: {body}"
        );
    }
    let r = server
        .client
        .get(server.url(&format!("/export/sensors?from={from}&to={to}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "exports are behind the gateway");
    // An error asked for with gzip is the plain JSON error (the body is not compressed).
    let r = server
        .client
        .get(server.url(&format!("/export/sensors?from={to}&to={from}")))
        .header("x-api-key", &key)
        .header("x-group-name", GROUP)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("content-encoding").is_none());
    let body: Value = r.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("not before"));

    // A whole line's bus arrivals at one stop, over HTTP and from the command line.
    let path = format!("/export/bus_arrivals?from={from}&to={to}&line_id=L1&stop_id=S003");
    let r = server.get(&path, &key, GROUP).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let http = r.text().await.unwrap();
    let lines: Vec<&str> = http.lines().collect();
    assert!(
        lines[0].starts_with("bus_id,line_id,stop_id,time,"),
        "{}",
        lines[0]
    );
    assert!(lines.len() > 3, "arrivals at S003 in 45 minutes: {http}");
    assert!(lines[1..].iter().all(|l| l.contains(",L1,S003,")), "{http}");
    let out = server.dir.path().join("arrivals.csv");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_madbus"))
        .args(["export", "bus_arrivals", "--from", &from, "--to", &to])
        .args(["--line-id", "L1", "--stop-id", "S003", "--out"])
        .arg(&out)
        .arg("--data-dir")
        .arg(server.dir.path())
        .arg("--network")
        .arg(common::all_day_network())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), http);
    server.stop().await;
}

/// A long export outlives the request timeout: the timeout bounds the wait for the answer's
/// head, not a body streamed to a slow reader.
#[tokio::test]
async fn a_slow_reader_gets_the_whole_export() {
    let (server, key) = start_with_key(GROUP, "1h", |s| {
        s.gateway.request_timeout = std::time::Duration::from_secs(1);
    })
    .await;
    // A minute back: the rows up to it are written by now (the live state runs ahead).
    let now = Millis(server.live.status().sim.sim_time.unwrap().0 - 60_000);
    let path = format!(
        "/export/bus_positions?from={}&to={}",
        Millis(now.0 - 3_600_000).to_rfc3339(),
        now.to_rfc3339()
    );
    let fast = server.get(&path, &key, GROUP).await.text().await.unwrap();
    let mut slow = server.get(&path, &key, GROUP).await;
    assert_eq!(slow.status(), 200);
    let mut body = slow.chunk().await.unwrap().unwrap().to_vec();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    while let Some(chunk) = slow.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
    }
    let slow = String::from_utf8(body).unwrap();
    let rows = fast.lines().count();
    assert!(
        rows > 24 * 600,
        "an hour of 24 buses every 5 s: {rows} lines"
    );
    assert_eq!(slow.lines().count(), rows);
    assert_eq!(slow, fast);
    server.stop().await;
}
