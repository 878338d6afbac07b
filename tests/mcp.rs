//! MCP over real transports: the official Python SDK (`mcp` 2.3) over Streamable HTTP, in
//! both the 2026-07-28 stateless revision and the older `initialize` handshake, and over
//! stdio (local data and a remote proxy); the gateway in front of `/mcp`; Host and Origin
//! checks; and the deployment checklist's plain HTTP contract. Every tool's data is
//! compared with the REST answer for the same entity and time.

mod common;

use common::{OpenApi, TestServer, add_key, mcp_client, python, test_settings};
use madbus::time::Millis;
use serde_json::{Value, json};

const GROUP: &str = "group1";

/// A server with 2 hours of history and a key of `GROUP` (plus one of `group2`).
async fn start() -> (TestServer, String) {
    let (server, key, _) = start_with_other_group().await;
    (server, key)
}

async fn start_with_other_group() -> (TestServer, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let key = add_key(dir.path(), GROUP, |_| {}).await;
    let other = add_key(dir.path(), "group2", |_| {}).await;
    let mut settings = test_settings(dir.path(), "2h");
    settings.gateway.throttle_burst = 10_000;
    (TestServer::start(dir, settings).await, key, other)
}

async fn rest(server: &TestServer, key: &str, path: &str) -> Value {
    let r = server.get(path, key, GROUP).await;
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

/// A recorded past time (a whole minute, half an hour before the simulator's clock), as
/// epoch ms.
fn past(server: &TestServer) -> i64 {
    (server.live.status().sim.sim_time.unwrap().0 - 30 * 60_000).div_euclid(60_000) * 60_000
}

fn call(report: &Value, i: usize) -> &Value {
    &report["calls"][i]
}

fn structured(report: &Value, i: usize) -> &Value {
    let c = call(report, i);
    assert_eq!(c["is_error"], false, "call {i}: {c}");
    &c["structured"]
}

fn tool_error(report: &Value, i: usize, needle: &str) {
    let c = call(report, i);
    assert_eq!(c["is_error"], true, "call {i} should fail: {c}");
    let text = c["text"][0].as_str().unwrap();
    assert!(text.contains(needle), "call {i}: {text:?} lacks {needle:?}");
}

const TOOLS: [&str; 8] = [
    "query_people_count",
    "query_sensor_data",
    "query_bus_position",
    "query_line_buses",
    "query_time_range",
    "list_lines",
    "get_stop_arrivals",
    "get_vehicle_positions",
];

/// Every tool listed, with input and output schemas that are valid JSON Schema objects, a
/// description and the read-only annotation.
fn assert_tools(tools: &Value) {
    let names: Vec<&str> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, TOOLS);
    for t in tools.as_array().unwrap() {
        let name = &t["name"];
        assert!(t["description"].as_str().unwrap().len() > 40, "{name}");
        assert_eq!(t["annotations"]["readOnlyHint"], true, "{name}");
        for key in ["inputSchema", "outputSchema"] {
            let schema = &t[key];
            assert_eq!(schema["type"], "object", "{name} {key}");
            jsonschema::validator_for(schema)
                .unwrap_or_else(|e| panic!("{name} {key} is not a valid schema: {e}"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python mcp (.venv)"]
async fn python_sdk_over_streamable_http() {
    let py = python();
    let (server, key) = start().await;
    let t0 = past(&server);
    let (from, to) = (t0 - 10 * 60_000, t0);
    let calls = json!([
        ["query_bus_position", {"bus_id": "B001"}],
        ["query_bus_position", {"bus_id": "B002", "timestamp": t0}],
        ["query_people_count", {"stop_id": "S003", "mode": "latest"}],
        ["query_sensor_data", {"entity_type": "bus", "entity_id": "B001",
            "timestamp": Millis(t0).to_rfc3339()}],
        ["query_sensor_data", {"entity_type": "stop", "entity_id": "S001"}],
        ["query_line_buses", {"line_id": "L1", "timestamp": t0}],
        ["query_time_range", {"data_type": "bus_position", "entity_id": "B001",
            "start_time": from, "end_time": to, "limit": 5}],
        ["query_time_range", {"data_type": "sensors", "entity_id": "S002",
            "start_time": from, "end_time": to}],
        ["list_lines", {}],
        ["get_stop_arrivals", {"stop_id": "S003"}],
        // Tool errors: the model gets a message it can act on.
        ["query_bus_position", {"bus_id": "B999"}],
        ["query_bus_position", {"bus_id": "B001", "timestamp": "yesterday"}],
        ["query_time_range", {"data_type": "people_count", "entity_id": "S001",
            "start_time": to, "end_time": from}],
        ["query_time_range", {"data_type": "people_count", "entity_id": "S001",
            "start_time": "2026-01-01T00:00:00Z", "end_time": "2026-03-01T00:00:00Z"}],
        ["query_people_count", {"stop_id": "S001", "colour": "red"}],
        ["query_people_count", {"stop_id": "S001' OR '1'='1"}],
        // A protocol error: no such tool.
        ["no_such_tool", {}],
        ["get_vehicle_positions", {"line_id": "L1"}],
    ]);
    for (mode, version) in [("auto", "2026-07-28"), ("legacy", "2025-11-25")] {
        let report = mcp_client(
            &py,
            json!({
                "transport": "http",
                "url": server.url("/mcp"),
                "headers": {"x-api-key": key, "x-group-name": GROUP},
                "mode": mode,
                "calls": calls,
            }),
        )
        .await;
        assert!(report["connect_error"].is_null(), "{mode}: {report}");
        assert_eq!(report["protocol_version"], version);
        assert_eq!(report["server_name"], "madbus");
        assert_tools(&report["tools"]);

        // Each answer is the REST answer for the same entity and time.
        let latest = structured(&report, 0);
        let at = latest["time"].as_str().unwrap();
        let same = rest(&server, &key, &format!("/bus-position/B001?timestamp={at}")).await;
        assert_eq!(*latest, same);
        let asof = rest(&server, &key, &format!("/bus-position/B002?timestamp={t0}")).await;
        assert_eq!(*structured(&report, 1), asof);
        let people = structured(&report, 2);
        let at = people["time"].as_str().unwrap();
        let same = rest(&server, &key, &format!("/people-count/S003?timestamp={at}")).await;
        assert_eq!(*people, same);
        let bus_sensors = rest(&server, &key, &format!("/sensors/bus/B001?timestamp={t0}")).await;
        assert_eq!(*structured(&report, 3), bus_sensors);
        assert!(bus_sensors["co2_level"].is_number());
        let stop_sensors = structured(&report, 4);
        let at = stop_sensors["time"].as_str().unwrap();
        let same = rest(&server, &key, &format!("/sensors/stop/S001?timestamp={at}")).await;
        assert_eq!(*stop_sensors, same);
        let line = rest(
            &server,
            &key,
            &format!("/bus-position/line/L1?timestamp={t0}"),
        )
        .await;
        assert_eq!(*structured(&report, 5), line);
        let page = structured(&report, 6);
        let rest_page = rest(
            &server,
            &key,
            &format!("/bus-position/B001?from={from}&to={to}&limit=5"),
        )
        .await;
        assert_eq!(page["items"], rest_page["items"]);
        assert_eq!(page["next_cursor"], rest_page["next_cursor"]);
        assert_eq!(page["count"], 5);
        assert_eq!(page["data_type"], "bus_position");
        let sensors_page = structured(&report, 7);
        let rest_page = rest(
            &server,
            &key,
            &format!("/sensors/stop/S002?from={from}&to={to}"),
        )
        .await;
        assert_eq!(sensors_page["items"], rest_page["items"]);
        assert_eq!(
            sensors_page["count"], 11,
            "one reading a minute over 10 minutes, ends included"
        );
        let lines = structured(&report, 8);
        assert_eq!(lines["lines"], rest(&server, &key, "/lines").await);
        assert_eq!(lines["count"], 9);
        let arrivals = structured(&report, 9);
        assert_eq!(arrivals["stop_id"], "S003");
        let rest_arrivals = rest(&server, &key, "/stops/S003/arrivals").await;
        let buses = |v: &Value| {
            let mut ids: Vec<String> = v["arrivals"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["bus_id"].as_str().unwrap().to_string())
                .collect();
            ids.sort();
            ids
        };
        assert!(!buses(arrivals).is_empty());
        assert_eq!(buses(arrivals), buses(&rest_arrivals));

        tool_error(&report, 10, "Bus B999 not found");
        tool_error(&report, 11, "Invalid `timestamp`");
        tool_error(&report, 12, "start_time");
        tool_error(&report, 12, "is not before end_time");
        tool_error(&report, 13, "too large");
        tool_error(&report, 14, "unknown field `colour`");
        tool_error(&report, 15, "Invalid stop_id");
        let unknown = &call(&report, 16)["rpc_error"];
        assert_eq!(unknown["code"], -32602, "{report}");
        assert!(
            unknown["message"]
                .as_str()
                .unwrap()
                .contains("no_such_tool")
        );
        // The GTFS-Realtime feed of one line, as /gtfs-rt/vehicle-positions?format=json.
        let vehicles = structured(&report, 17);
        let feed = rest(
            &server,
            &key,
            "/gtfs-rt/vehicle-positions?format=json&line_id=L1",
        )
        .await;
        let ids = |v: &Value| -> Vec<String> {
            v["entity"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    assert_eq!(e["vehicle"]["trip"]["routeId"], "L1", "{e}");
                    e["id"].as_str().unwrap().to_string()
                })
                .collect()
        };
        assert!(!ids(vehicles).is_empty(), "{vehicles}");
        assert_eq!(ids(vehicles), ids(&feed));
        assert_eq!(vehicles["header"]["gtfsRealtimeVersion"], "2.0");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python mcp (.venv)"]
async fn the_gateway_answers_before_mcp() {
    let py = python();
    let (server, key, other) = start_with_other_group().await;
    let cases = [
        (json!({}), 401),
        (json!({"x-api-key": key}), 401),
        (json!({"x-group-name": GROUP}), 401),
        (
            json!({"x-api-key": "invalid-key", "x-group-name": GROUP}),
            403,
        ),
        (json!({"x-api-key": other, "x-group-name": GROUP}), 403),
    ];
    for (headers, status) in cases {
        for mode in ["auto", "legacy"] {
            let report = mcp_client(
                &py,
                json!({"transport": "http", "url": server.url("/mcp"), "headers": headers, "mode": mode}),
            )
            .await;
            assert!(report["connect_error"].is_string(), "{headers}: {report}");
            let statuses = report["statuses"].as_array().unwrap();
            assert!(!statuses.is_empty(), "{report}");
            assert!(
                statuses.iter().all(|s| *s == status),
                "{headers} {mode}: {statuses:?}"
            );
        }
    }
    // The same answers to a raw request, with the one error schema.
    let r = server
        .client
        .post(server.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(&initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "Unauthorized");
    assert_eq!(body["message"], "Missing x-api-key header");
    server.stop().await;
}

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"}}})
}

/// POSTs an `initialize` to /mcp with a valid key and the given extra headers.
async fn raw_initialize(server: &TestServer, key: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = server.mcp_post(key, GROUP).json(&initialize());
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_and_origin_checks() {
    // Defaults: loopback hosts, any origin.
    let (server, key) = start().await;
    let (status, body) = raw_initialize(&server, &key, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["serverInfo"]["name"], "madbus");
    let (status, body) = raw_initialize(&server, &key, &[("host", "evil.example")]).await;
    assert_eq!(status, 403, "DNS rebinding guard: {body}");
    assert_eq!(body["error"], "Forbidden");
    let (status, _) = raw_initialize(&server, &key, &[("origin", "https://any.example")]).await;
    assert_eq!(status, 200, "CORS origins `*` accept any origin");
    server.stop().await;

    // A deployment behind a proxy: its public name, and one allowed browser origin.
    let dir = tempfile::tempdir().unwrap();
    let key = add_key(dir.path(), GROUP, |_| {}).await;
    let mut settings = test_settings(dir.path(), "10m");
    settings.allowed_hosts = vec!["bus.example.org".into()];
    settings.gateway.cors_origins = vec!["https://app.example.org".into()];
    let server = TestServer::start(dir, settings).await;
    let host = [("host", "bus.example.org")];
    assert_eq!(raw_initialize(&server, &key, &host).await.0, 200);
    assert_eq!(
        raw_initialize(&server, &key, &[]).await.0,
        403,
        "127.0.0.1 is not listed"
    );
    let good = [
        ("host", "bus.example.org"),
        ("origin", "https://app.example.org"),
    ];
    assert_eq!(raw_initialize(&server, &key, &good).await.0, 200);
    let bad = [
        ("host", "bus.example.org"),
        ("origin", "https://evil.example"),
    ];
    let (status, body) = raw_initialize(&server, &key, &bad).await;
    assert_eq!(status, 403, "{body}");
    server.stop().await;
}

async fn post(
    server: &TestServer,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Value) {
    let mut request = server
        .client
        .post(server.url(path))
        .header("content-type", "application/json")
        .body(body.to_string());
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let body = r.json().await.unwrap();
    OpenApi::fetch(server)
        .await
        .check_op("post", path, status, &body);
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checklist_http_contract() {
    let (server, key) = start().await;
    let auth = [("x-api-key", key.as_str()), ("x-group-name", GROUP)];

    // Post-Deployment Verification 5: valid credentials, the tools.
    let (status, body) = post(&server, "/mcp/list-tools", &auth, "").await;
    assert_eq!(status, 200, "{body}");
    assert_tools(&body["tools"]);

    // 6: authorization failures.
    for (headers, status, message) in [
        (
            vec![("x-group-name", GROUP)],
            401,
            "Missing x-api-key header",
        ),
        (
            vec![("x-api-key", key.as_str())],
            401,
            "Missing x-group-name header",
        ),
        (
            vec![("x-api-key", "invalid-key"), ("x-group-name", GROUP)],
            403,
            "Invalid API key for this group",
        ),
    ] {
        let (got, body) = post(&server, "/mcp/list-tools", &headers, "").await;
        assert_eq!(got, status, "{body}");
        assert_eq!(body["message"], message);
    }

    // 7: CORS preflight.
    let r = server
        .client
        .request(reqwest::Method::OPTIONS, server.url("/mcp/list-tools"))
        .header("origin", "https://example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "x-api-key,x-group-name")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let h = |name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_lowercase())
            .unwrap_or_default()
    };
    assert!(!h("access-control-allow-origin").is_empty());
    assert!(h("access-control-allow-methods").contains("post"));
    assert!(h("access-control-allow-headers").contains("x-api-key"));
    assert!(h("access-control-allow-headers").contains("x-group-name"));

    // call-tool: the REST data, as {success, count, data, timestamp}.
    let t0 = past(&server);
    let body =
        json!({"tool": "query_bus_position", "arguments": {"bus_id": "B001", "timestamp": t0}});
    let (status, answer) = post(&server, "/mcp/call-tool", &auth, &body.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["success"], true);
    assert_eq!(answer["count"], 1);
    let same = rest(&server, &key, &format!("/bus-position/B001?timestamp={t0}")).await;
    assert_eq!(answer["data"][0], same);
    Millis::parse(answer["timestamp"].as_str().unwrap()).unwrap();
    let body = json!({"tool": "query_line_buses", "arguments": {"line_id": "L2"}});
    let (status, answer) = post(&server, "/mcp/call-tool", &auth, &body.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(answer["count"], answer["data"].as_array().unwrap().len());
    assert!(answer["count"].as_u64().unwrap() >= 2, "{answer}");
    let body = json!({"tool": "query_time_range", "arguments": {"data_type": "people_count",
        "entity_id": "S001", "start_time": t0 - 3_600_000, "end_time": t0, "limit": 10}});
    let (status, answer) = post(&server, "/mcp/call-tool", &auth, &body.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(answer["count"], 10);
    assert!(answer["next_cursor"].is_string(), "paged: {answer}");

    // Failures: success false, the one error schema, the right status.
    for (body, status, needle) in [
        (
            json!({"tool": "query_bus_position", "arguments": {"bus_id": "B999"}}).to_string(),
            404,
            "Bus B999 not found",
        ),
        (
            json!({"tool": "query_bus_position", "arguments": {"bus_id": "B 1"}}).to_string(),
            400,
            "Invalid bus_id",
        ),
        (
            json!({"tool": "query_people_count", "arguments": {"stop_id": "S001", "timestamp": "noon"}})
                .to_string(),
            400,
            "Invalid `timestamp`",
        ),
        (json!({"tool": "drop_tables"}).to_string(), 404, "Unknown tool"),
        ("{not json".to_string(), 400, "Invalid body"),
        (json!({"arguments": {}}).to_string(), 400, "missing field `tool`"),
    ] {
        let (got, answer) = post(&server, "/mcp/call-tool", &auth, &body).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert_eq!(answer["success"], false);
        assert!(answer["request_id"].is_string());
        let message = answer["message"].as_str().unwrap();
        assert!(message.contains(needle), "{body}: {message}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python mcp (.venv)"]
async fn stdio_local_and_remote() {
    let py = python();
    let (server, key) = start().await;
    let t0 = past(&server);
    let calls = json!([
        ["query_bus_position", {"bus_id": "B003", "timestamp": t0}],
        ["query_line_buses", {"line_id": "L1"}],
        ["query_people_count", {"stop_id": "S999"}],
    ]);
    let expected = rest(&server, &key, &format!("/bus-position/B003?timestamp={t0}")).await;
    let bin = env!("CARGO_BIN_EXE_madbus");
    let path = std::env::var("PATH").unwrap_or_default();
    let data_dir = server.dir.path().to_str().unwrap();
    let plans = [
        // The local data dir, read-only, beside the running server.
        json!({"transport": "stdio", "command": bin, "calls": calls,
            "args": ["mcp", "--data-dir", data_dir], "env": {"PATH": path}}),
        // A remote madbus, the key in the environment.
        json!({"transport": "stdio", "command": bin, "calls": calls,
            "args": ["mcp", "--remote", server.url(""), "--group", GROUP],
            "env": {"PATH": path, "MADBUS_API_KEY": key}}),
    ];
    for plan in plans {
        let report = mcp_client(&py, plan.clone()).await;
        assert!(report["connect_error"].is_null(), "{plan}: {report}");
        assert_tools(&report["tools"]);
        assert_eq!(*structured(&report, 0), expected, "{plan}");
        let line = structured(&report, 1);
        assert_eq!(line["line_id"], "L1");
        assert_eq!(line["buses"].as_array().unwrap().len(), 3);
        tool_error(&report, 2, "Stop S999 not found");
    }
    server.stop().await;
}

#[test]
fn stdio_without_data_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_madbus"))
        .args(["mcp", "--data-dir"])
        .arg(dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "stdout is the protocol's only");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("run `madbus serve`"), "{stderr}");
    assert!(
        !dir.path().join("madbus.db").exists(),
        "read-only: nothing created"
    );
}

/// `v` with every number as an f64.
fn as_f64(v: &Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(items) => items.iter().map(as_f64).collect(),
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), as_f64(v))).collect(),
        other => other.clone(),
    }
}

/// Runs the MCP Inspector CLI with `args`; returns its exit status, stdout and stderr.
async fn inspector(
    (cli, path): &(std::path::PathBuf, std::ffi::OsString),
    catalog: &std::path::Path,
    args: &[&str],
) -> (std::process::ExitStatus, Value, String) {
    let out = tokio::process::Command::new(cli)
        .arg("--cli")
        .args(args)
        .env("PATH", path)
        .env("MCP_CATALOG_PATH", catalog)
        .stdin(std::process::Stdio::null())
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), out)
        .await
        .expect("the Inspector finished within 2 minutes")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let stdout = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the Inspector printed no JSON ({e}): {}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status, stdout, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the MCP Inspector (tests/node)"]
async fn mcp_inspector_cli_lists_and_calls() {
    let inspector_cli = common::mcp_inspector();
    let (server, key) = start().await;
    let catalog = server.dir.path().join("inspector-catalog.json");
    let url = server.url("/mcp");
    let key_header = format!("x-api-key: {key}");
    let group_header = format!("x-group-name: {GROUP}");
    let http = [
        url.as_str(),
        "--transport",
        "http",
        "--header",
        &key_header,
        "--header",
        &group_header,
    ];

    // --strict fails (exit 6) on any tool schema a client could not use.
    let args = [&http[..], &["--method", "tools/list", "--strict"]].concat();
    let (status, listed, stderr) = inspector(&inspector_cli, &catalog, &args).await;
    assert!(status.success(), "{stderr}");
    assert!(!stderr.contains("Warning"), "portable schemas: {stderr}");
    assert_tools(&listed["tools"]);

    let args = [
        &http[..],
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "query_bus_position",
        ],
        &["--tool-arg", "bus_id=B002"],
    ]
    .concat();
    let (status, called, stderr) = inspector(&inspector_cli, &catalog, &args).await;
    assert!(status.success(), "{stderr}");
    let position = &called["structuredContent"];
    assert_eq!(position["bus_id"], "B002", "{called}");
    let at = position["time"].as_str().unwrap();
    let same = rest(&server, &key, &format!("/bus-position/B002?timestamp={at}")).await;
    // JavaScript writes 0.0 as 0: compare numbers as numbers.
    assert_eq!(as_f64(position), as_f64(&same));

    // stdio, on the local data.
    let bin = env!("CARGO_BIN_EXE_madbus");
    let data_dir = server.dir.path().to_str().unwrap();
    let args = [bin, "mcp", "--data-dir", data_dir, "--method", "tools/list"];
    let (status, listed, stderr) = inspector(&inspector_cli, &catalog, &args).await;
    assert!(status.success(), "{stderr}");
    assert_tools(&listed["tools"]);
    server.stop().await;
}
