//! The stateless fast path of `/mcp` answers exactly as rmcp does. The same 2026-07-28
//! requests go to one server twice: plain (the fast path takes them) and with an allowed
//! `Origin` header (which the fast path leaves to rmcp); status, content type and body must
//! be the same. The server's own counters show which path answered each. A test binary of
//! its own, so no other test moves those counters.

mod common;

use common::{TestServer, add_key, test_settings};
use serde_json::{Value, json};

const GROUP: &str = "g";
const ORIGIN: &str = "https://app.example.org";

struct Answer {
    status: u16,
    content_type: String,
    body: Value,
}

async fn send(
    server: &TestServer,
    key: &str,
    id: Value,
    method: &str,
    params: Value,
    origin: bool,
) -> Answer {
    let mut params = params;
    params["_meta"] = meta();
    let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    let mut request = server
        .mcp_post(key, GROUP)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method)
        .json(&body);
    if let Some(name) = params["name"].as_str() {
        request = request.header("mcp-name", name);
    }
    if origin {
        request = request.header("origin", ORIGIN);
    }
    let r = request.send().await.unwrap();
    Answer {
        status: r.status().as_u16(),
        content_type: r.headers()["content-type"].to_str().unwrap().to_string(),
        body: r.json().await.unwrap(),
    }
}

/// The per-request `_meta` the 2026-07-28 revision asks for.
fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "diff", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}
    })
}

/// `madbus_mcp_requests_total` by path: (fast, rmcp).
async fn paths(server: &TestServer, key: &str) -> (u64, u64) {
    let text = server
        .get("/metrics", key, GROUP)
        .await
        .text()
        .await
        .unwrap();
    let count = |path: &str| {
        let prefix = format!("madbus_mcp_requests_total{{path=\"{path}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map_or(0, |v| v.trim().parse().unwrap())
    };
    (count("fast"), count("rmcp"))
}

/// Every leaf replaced by its JSON type: the shape of an answer whose values move with the
/// clock (predictions, the feed header's time).
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(items) => Value::Array(items.iter().take(1).map(shape).collect()),
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        Value::Bool(_) => json!("bool"),
        Value::Null => Value::Null,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_path_answers_as_rmcp_does() {
    let dir = tempfile::tempdir().unwrap();
    let key = add_key(dir.path(), GROUP, |_| {}).await;
    let mut settings = test_settings(dir.path(), "2h");
    settings.gateway.throttle_burst = 10_000;
    settings.gateway.cors_origins = vec![ORIGIN.into()];
    let server = TestServer::start(dir, settings).await;
    let t0 = (server.live.status().sim.sim_time.unwrap().0 - 30 * 60_000) / 60_000 * 60_000;
    let (from, to) = (t0 - 10 * 60_000, t0);

    // (method, params, whether its values move with the clock)
    let cases = [
        ("tools/list", json!({}), false),
        (
            "tools/call",
            json!({"name": "query_bus_position", "arguments": {"bus_id": "B001"}}),
            true,
        ),
        (
            "tools/call",
            json!({"name": "query_bus_position", "arguments": {"bus_id": "B002", "timestamp": t0}}),
            false,
        ),
        (
            "tools/call",
            json!({"name": "query_sensor_data", "arguments": {"entity_type": "bus", "entity_id": "B001", "timestamp": t0}}),
            false,
        ),
        (
            "tools/call",
            json!({"name": "query_line_buses", "arguments": {"line_id": "L1", "timestamp": t0}}),
            false,
        ),
        (
            "tools/call",
            json!({"name": "query_time_range", "arguments": {"data_type": "bus_position",
                "entity_id": "B001", "start_time": from, "end_time": to, "limit": 5}}),
            false,
        ),
        (
            "tools/call",
            json!({"name": "query_people_count", "arguments": {"stop_id": "S003"}}),
            true,
        ),
        (
            "tools/call",
            json!({"name": "list_lines", "arguments": {}}),
            true,
        ),
        (
            "tools/call",
            json!({"name": "get_stop_arrivals", "arguments": {"stop_id": "S003"}}),
            true,
        ),
        (
            "tools/call",
            json!({"name": "get_vehicle_positions", "arguments": {"line_id": "L1"}}),
            true,
        ),
        // Tool errors, and a call with no arguments at all.
        (
            "tools/call",
            json!({"name": "query_bus_position", "arguments": {"bus_id": "B999"}}),
            false,
        ),
        (
            "tools/call",
            json!({"name": "query_people_count", "arguments": {"stop_id": "S001", "colour": "red"}}),
            false,
        ),
        ("tools/call", json!({"name": "query_bus_position"}), false),
    ];
    let before = paths(&server, &key).await;
    for (i, (method, params, moving)) in cases.iter().enumerate() {
        for id in [json!(i), json!(format!("req-{i}"))] {
            let fast = send(&server, &key, id.clone(), method, params.clone(), false).await;
            let rmcp = send(&server, &key, id.clone(), method, params.clone(), true).await;
            let what = format!("{method} {params}");
            assert_eq!(fast.status, 200, "{what}: {}", fast.body);
            assert_eq!(fast.status, rmcp.status, "{what}");
            assert_eq!(fast.content_type, rmcp.content_type, "{what}");
            assert_eq!(fast.body["id"], id, "{what}");
            if *moving {
                assert_eq!(shape(&fast.body), shape(&rmcp.body), "{what}");
            } else {
                assert_eq!(fast.body, rmcp.body, "{what}");
            }
        }
    }
    let after = paths(&server, &key).await;
    let n = 2 * cases.len() as u64;
    assert_eq!(
        after.0 - before.0,
        n,
        "every plain request took the fast path"
    );
    assert_eq!(
        after.1 - before.1,
        n,
        "every request with an Origin went to rmcp"
    );

    // What the fast path leaves to rmcp still gets rmcp's answer: an unknown tool, and a
    // request without the per-request `_meta`.
    let unknown = send(
        &server,
        &key,
        json!(99),
        "tools/call",
        json!({"name": "no_such_tool", "arguments": {}}),
        false,
    )
    .await;
    assert_eq!(unknown.body["error"]["code"], -32602, "{}", unknown.body);
    let after_unusual = paths(&server, &key).await;
    assert_eq!(after_unusual.0, after.0, "an unknown tool is rmcp's");
    assert_eq!(after_unusual.1, after.1 + 1);

    // So is a request with a member the fast path does not read, whatever rmcp makes of it.
    let extra = server
        .mcp_post(&key, GROUP)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/list")
        .json(&json!({"jsonrpc": "2.0", "id": 100, "method": "tools/list",
            "params": {"_meta": meta()}, "extra": true}))
        .send()
        .await
        .unwrap();
    assert!(extra.status().as_u16() < 500, "{}", extra.status());
    let after_extra = paths(&server, &key).await;
    assert_eq!(after_extra.0, after.0, "an unknown member is rmcp's");
    assert_eq!(after_extra.1, after.1 + 2);
    server.stop().await;
}
