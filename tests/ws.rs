//! The WebSocket live feed with a real client (tokio-tungstenite): subscribe, snapshot,
//! events of the subscribed lines only, adding and removing lines, bad messages, the
//! handshake's 401/403, query-parameter auth, and a slow consumer that is dropped while the
//! server's memory stays bounded.

mod common;

use std::time::{Duration, Instant};

use common::{ServerProcess, TestServer, add_key, test_settings};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

const GROUP: &str = "group1";

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn start(speed: f64) -> (TestServer, String) {
    let dir = tempfile::tempdir().unwrap();
    let key = add_key(dir.path(), GROUP, |_| {}).await;
    let mut settings = test_settings(dir.path(), "10m");
    settings.speed = speed;
    (TestServer::start(dir, settings).await, key)
}

fn ws_url(addr: &str, query: &str) -> String {
    format!("ws://{addr}/ws{query}")
}

/// The handshake request with the two auth headers.
fn authed(addr: &str, key: &str) -> tungstenite::handshake::client::Request {
    let mut request = ws_url(addr, "").into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert("x-api-key", key.parse().unwrap());
    headers.insert("x-group-name", GROUP.parse().unwrap());
    request
}

/// Connects with the two auth headers.
async fn connect(addr: &str, key: &str) -> Ws {
    tokio_tungstenite::connect_async(authed(addr, key))
        .await
        .unwrap()
        .0
}

async fn send(ws: &mut Ws, message: Value) {
    ws.send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

/// The next JSON message (pings and pongs skipped), within 10 s.
async fn next(ws: &mut Ws) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = tokio::time::timeout(left, ws.next())
            .await
            .expect("a message within 10 s")
            .expect("the connection is open")
            .unwrap();
        match msg {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// The next message that is not an event.
async fn next_reply(ws: &mut Ws) -> Value {
    loop {
        let m = next(ws).await;
        if m.get("data").is_none() {
            return m;
        }
    }
}

/// Events read for `span`.
async fn events_for(ws: &mut Ws, span: Duration) -> Vec<Value> {
    let end = Instant::now() + span;
    let mut out = Vec::new();
    while Instant::now() < end {
        let left = end.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => out.push(serde_json::from_str(&t).unwrap()),
            Ok(Some(Ok(_))) => {}
            Ok(other) => panic!("the connection ended: {other:?}"),
            Err(_) => break,
        }
    }
    out
}

fn line_of(event: &Value) -> &str {
    event["data"]["line_id"].as_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_snapshot_events_and_unsubscribe() {
    let (server, key) = start(60.0).await;
    let addr = server.addr.to_string();
    let mut ws = connect(&addr, &key).await;

    send(&mut ws, json!({"action": "subscribe", "line_ids": ["L1"]})).await;
    let ack = next(&mut ws).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["action"], "subscribe");
    assert_eq!(ack["line_ids"], json!(["L1"]));
    assert_eq!(ack["added"], json!(["L1"]));
    assert_eq!(ack["topics"], json!(["positions", "arrivals"]));
    let snapshot = next_reply(&mut ws).await;
    assert_eq!(snapshot["type"], "snapshot", "{snapshot}");
    assert_eq!(snapshot["line_id"], "L1");
    let mut buses: Vec<&str> = snapshot["buses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["bus_id"].as_str().unwrap())
        .collect();
    buses.sort();
    assert_eq!(buses, ["B001", "B002", "B003"]);

    // At 60x, a position of every bus every 5 simulated seconds: 12 a second each.
    let events = events_for(&mut ws, Duration::from_secs(2)).await;
    let positions: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "bus.position.updated")
        .collect();
    assert!(positions.len() >= 20, "{} position events", positions.len());
    assert!(
        events.iter().all(|e| line_of(e) == "L1"),
        "only L1: {events:?}"
    );
    // The REST field names.
    let p = &positions[0]["data"];
    for field in [
        "bus_id",
        "line_id",
        "time",
        "latitude",
        "longitude",
        "speed",
        "direction",
        "passenger_count",
        "next_stop_id",
        "distance_to_next_stop",
        "at_stop",
    ] {
        assert!(p.get(field).is_some(), "{field} missing: {p}");
    }
    // Arrivals happen too (a bus reaches a stop every few simulated minutes; all of a
    // line's buses can be laying over at once, so allow a quarter of an hour).
    let mut arrived = false;
    for _ in 0..15 {
        let events = events_for(&mut ws, Duration::from_secs(1)).await;
        if events.iter().any(|e| e["type"] == "bus.arrival") {
            arrived = true;
            break;
        }
    }
    assert!(arrived, "no arrival in 15 minutes of simulated time");

    // Subscribing L2 adds it; L1 stays.
    send(&mut ws, json!({"action": "subscribe", "line_ids": ["L2"]})).await;
    let ack = next_reply(&mut ws).await;
    assert_eq!(ack["line_ids"], json!(["L1", "L2"]), "{ack}");
    assert_eq!(ack["added"], json!(["L2"]));
    let snapshot = next_reply(&mut ws).await;
    assert_eq!(snapshot["line_id"], "L2");
    let events = events_for(&mut ws, Duration::from_secs(2)).await;
    for line in ["L1", "L2"] {
        assert!(events.iter().any(|e| line_of(e) == line), "no {line} event");
    }
    assert!(events.iter().all(|e| ["L1", "L2"].contains(&line_of(e))));

    // Unsubscribing L1: after the ack, no L1 event.
    send(
        &mut ws,
        json!({"action": "unsubscribe", "line_ids": ["L1"]}),
    )
    .await;
    let ack = next_reply(&mut ws).await;
    assert_eq!(ack["action"], "unsubscribe", "{ack}");
    assert_eq!(ack["line_ids"], json!(["L2"]));
    assert_eq!(ack["removed"], json!(["L1"]));
    let events = events_for(&mut ws, Duration::from_secs(2)).await;
    assert!(!events.is_empty());
    assert!(
        events.iter().all(|e| line_of(e) == "L2"),
        "L1 after unsubscribe"
    );

    // Topics: people counts of the stops of L2 only.
    send(
        &mut ws,
        json!({"action": "subscribe", "topics": ["people"]}),
    )
    .await;
    let ack = next_reply(&mut ws).await;
    assert_eq!(ack["topics"], json!(["people"]), "{ack}");
    let events = events_for(&mut ws, Duration::from_secs(3)).await;
    assert!(!events.is_empty(), "a count a simulated minute");
    for e in &events {
        assert_eq!(e["type"], "people.count.updated");
        assert!(
            e["data"]["line_ids"]
                .as_array()
                .unwrap()
                .contains(&json!("L2")),
            "{e}"
        );
    }

    // Mistakes get an error message; the connection stays open.
    ws.send(Message::Text("{not json".into())).await.unwrap();
    let error = next_reply(&mut ws).await;
    assert_eq!(error["type"], "error");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("Invalid message"),
        "{error}"
    );
    send(&mut ws, json!({"action": "dance"})).await;
    let error = next_reply(&mut ws).await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("unknown variant `dance`"),
        "{error}"
    );
    send(&mut ws, json!({"action": "subscribe", "line_ids": ["L3", "L99", "bad id!"], "topics": ["positions", "weather"]})).await;
    let ack = next_reply(&mut ws).await;
    assert_eq!(
        ack["line_ids"],
        json!(["L2", "L3"]),
        "the valid one is added: {ack}"
    );
    assert_eq!(ack["topics"], json!(["positions"]));
    let error = next_reply(&mut ws).await;
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["invalid_line_ids"], json!(["L99", "bad id!"]));
    assert_eq!(error["invalid_topics"], json!(["weather"]));
    send(&mut ws, json!({"action": "ping"})).await;
    let pong = next_reply(&mut ws).await;
    assert_eq!(
        pong["type"], "snapshot",
        "the L3 snapshot comes first: {pong}"
    );
    let pong = next_reply(&mut ws).await;
    assert_eq!(pong["action"], "ping", "{pong}");
    assert!(pong["server_time"].is_string());
    ws.close(None).await.unwrap();
    server.stop().await;
}

/// Subscribes `ws` to L1 and L2 (batched or not) and reads the ack and both snapshots.
async fn subscribe_two_lines(ws: &mut Ws, batched: bool) {
    let message = json!({"action": "subscribe", "line_ids": ["L1", "L2"], "batched": batched});
    send(ws, message).await;
    let ack = next_reply(ws).await;
    assert_eq!(ack["batched"], batched, "{ack}");
    for _ in 0..2 {
        assert_eq!(next_reply(ws).await["type"], "snapshot");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_positions_are_the_same_positions_in_fewer_messages() {
    let (server, key) = start(60.0).await;
    let addr = server.addr.to_string();
    let mut per_bus = connect(&addr, &key).await;
    let mut batched = connect(&addr, &key).await;
    subscribe_two_lines(&mut per_bus, false).await;
    subscribe_two_lines(&mut batched, true).await;
    let (singles, frames) = tokio::join!(
        events_for(&mut per_bus, Duration::from_secs(3)),
        events_for(&mut batched, Duration::from_secs(3))
    );

    let key_of = |p: &Value| (p["bus_id"].to_string(), p["time"].to_string());
    let seen: std::collections::HashMap<_, _> = singles
        .iter()
        .filter(|e| e["type"] == "bus.position.updated")
        .map(|e| (key_of(&e["data"]), e["data"].clone()))
        .collect();
    assert!(seen.len() >= 20, "{} single positions", seen.len());
    let times: Vec<&str> = seen.values().map(|p| p["time"].as_str().unwrap()).collect();
    let (first, last) = (times.iter().min().unwrap(), times.iter().max().unwrap());

    let mut in_frames = 0;
    let mut compared = 0;
    for frame in &frames {
        assert_ne!(frame["type"], "bus.position.updated", "batched: {frame}");
        if frame["type"] != "bus.positions" {
            assert_eq!(frame["type"], "bus.arrival", "{frame}");
            continue;
        }
        let line = frame["line_id"].as_str().unwrap();
        assert!(["L1", "L2"].contains(&line), "{frame}");
        for p in frame["data"].as_array().unwrap() {
            assert_eq!(
                p["line_id"], line,
                "a frame holds its line's buses: {frame}"
            );
            in_frames += 1;
            let t = p["time"].as_str().unwrap();
            // Not the last step: the per-bus reader's time may have run out half-way
            // through its messages.
            if (*first..*last).contains(&t) {
                assert_eq!(seen.get(&key_of(p)), Some(p), "the same position both ways");
                compared += 1;
            }
        }
    }
    assert!(compared >= 10, "{compared} positions compared");
    let messages = frames
        .iter()
        .filter(|f| f["type"] == "bus.positions")
        .count();
    assert!(
        messages * 2 <= in_frames,
        "{messages} messages for {in_frames} positions: several buses per message"
    );

    // Back to one message per bus.
    send(
        &mut batched,
        json!({"action": "subscribe", "batched": false}),
    )
    .await;
    assert_eq!(next_reply(&mut batched).await["batched"], false);
    let events = events_for(&mut batched, Duration::from_secs(1)).await;
    assert!(events.iter().any(|e| e["type"] == "bus.position.updated"));
    assert!(events.iter().all(|e| e["type"] != "bus.positions"));
    server.stop().await;
}

/// The handshake's HTTP status, when it is refused.
async fn refused(request: tungstenite::handshake::client::Request) -> u16 {
    match tokio_tungstenite::connect_async(request).await {
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("refused otherwise: {e}"),
        Ok(_) => panic!("the handshake was accepted"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handshake_is_authenticated() {
    let (server, key) = start(1.0).await;
    let addr = server.addr.to_string();
    let url = ws_url(&addr, "");
    assert_eq!(
        refused(url.clone().into_client_request().unwrap()).await,
        401
    );
    let mut request = url.clone().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("x-api-key", "invalid-key".parse().unwrap());
    request
        .headers_mut()
        .insert("x-group-name", GROUP.parse().unwrap());
    assert_eq!(refused(request).await, 403);
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("x-api-key", key.parse().unwrap());
    assert_eq!(refused(request).await, 401, "no group");
    let bad = ws_url(&addr, &format!("?api_key=x{key}&group_name={GROUP}"));
    assert_eq!(refused(bad.into_client_request().unwrap()).await, 403);

    // Browsers: the key in the query string.
    let url = ws_url(&addr, &format!("?api_key={key}&group_name={GROUP}"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    send(&mut ws, json!({"action": "ping"})).await;
    assert_eq!(next(&mut ws).await["action"], "ping");
    server.stop().await;
}

#[test]
fn query_parameter_keys_stay_out_of_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let key = rt.block_on(add_key(dir.path(), GROUP, |_| {}));
    let server = ServerProcess::spawn(dir.path(), &["--backfill", "5m"]);
    rt.block_on(async {
        // The plain name, a percent-encoded one, and the key given twice.
        for query in [
            format!("?api_key={key}&group_name={GROUP}"),
            format!("?api%5Fkey={key}&group%5fname={GROUP}"),
            format!("?api_key={key}&api_key={key}&group_name={GROUP}"),
        ] {
            let url = ws_url(&server.addr, &query);
            let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
            send(&mut ws, json!({"action": "ping"})).await;
            assert_eq!(next(&mut ws).await["action"], "ping");
            ws.close(None).await.unwrap();
        }
        // REST does not take them, and does not log them either.
        let r = reqwest::get(format!(
            "http://{}/lines?api%5Fkey={key}&group_name={GROUP}",
            server.addr
        ))
        .await
        .unwrap();
        assert_eq!(r.status(), 401);
    });
    let (status, log) = server.terminate();
    assert!(status.success());
    let secret = key.rsplit('_').next().unwrap();
    assert!(log.iter().all(|l| !l.contains(secret)), "a key in the log");
    assert!(
        log.iter().any(|l| l.contains("/ws?api_key=REDACTED")),
        "the handshake is logged, redacted"
    );
    assert!(log.iter().any(|l| l.contains("/ws?api%5Fkey=REDACTED")));
    assert!(log.iter().any(|l| l.contains("/lines?api%5Fkey=REDACTED")));
}

/// The resident memory of process `pid`, in kB.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_slow_consumer_is_dropped_and_memory_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let key = rt.block_on(add_key(dir.path(), GROUP, |_| {}));
    let server = ServerProcess::spawn(
        dir.path(),
        &[
            "--backfill",
            "10m",
            "--speed",
            "600",
            "--ws-send-timeout",
            "2s",
        ],
    );
    let pid = server.pid();
    let ended = rt.block_on(async {
        // A small receive buffer, so the server's writes back up quickly.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let stream = socket.connect(server.addr.parse().unwrap()).await.unwrap();
        let (mut ws, _) = tokio_tungstenite::client_async(
            authed(&server.addr, &key),
            tokio_tungstenite::MaybeTlsStream::Plain(stream),
        )
        .await
        .unwrap();
        let every_line: Vec<String> = common::all_day()
            .lines
            .iter()
            .map(|l| l.id.to_string())
            .collect();
        let topics = ["positions", "arrivals", "people", "sensors"];
        send(
            &mut ws,
            json!({"action": "subscribe", "line_ids": every_line, "topics": topics}),
        )
        .await;
        // Wait for the server to be live and the baseline to settle, then stop reading.
        let baseline = rss_kb(pid);
        let mut peak = baseline;
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            peak = peak.max(rss_kb(pid));
        }
        assert!(
            peak < baseline + 64 * 1024,
            "the server grew from {baseline} kB to {peak} kB for one stalled client"
        );
        // Read again: what was buffered, then the server's close.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, ws.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => {
                    break frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                }
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_)) | None) => break None,
                Err(_) => panic!("the stalled client was never dropped"),
            }
        }
    });
    if let Some((code, reason)) = &ended {
        assert_eq!(*code, 1013, "{reason}");
        assert!(reason.contains("Too slow"), "{reason}");
    }
    let (status, log) = server.terminate();
    assert!(status.success());
    assert!(
        log.iter()
            .any(|l| l.contains("closing a websocket client") && l.contains("Too slow")),
        "the server says why it dropped the client"
    );
}
