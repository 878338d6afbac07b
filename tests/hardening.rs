//! What an outsider tried against the server (issue: hardening), each against the real
//! server over real sockets: idle and slow connections, junk methods and paths against the
//! metrics, credentials in query strings, bad JSON-RPC bodies, WebSocket protocol faults,
//! the Origin of a WebSocket, readiness during the backfill, and bounded headers.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration as StdDuration, Instant};

use common::{TestServer, add_key, start_with_key, test_settings};
use serde_json::Value;

/// The server answers `/health` after an attack; then it is stopped.
async fn still_healthy(server: TestServer) {
    let r = server
        .client
        .get(server.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the server stopped answering");
    server.stop().await;
}

/// A raw socket to the server, with a read deadline.
fn socket(server: &TestServer) -> TcpStream {
    let s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(StdDuration::from_secs(20)))
        .unwrap();
    s
}

/// Reads until the server closes; returns what it sent and how long that took.
fn read_to_close(mut s: TcpStream) -> (Vec<u8>, StdDuration) {
    let started = Instant::now();
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (all, started.elapsed()),
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (all, started.elapsed());
            }
            Err(e) => panic!("the server kept the socket open past the read deadline: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_connections_are_closed() {
    let (server, _) = start_with_key("g", "10m", |s| {
        s.server.header_read_timeout = StdDuration::from_secs(1);
        s.server.idle_timeout = StdDuration::from_secs(2);
    })
    .await;

    let checks = tokio::task::spawn_blocking({
        let addr = server.addr;
        move || {
            let server_addr = addr;
            let open = || {
                let s = TcpStream::connect(server_addr).unwrap();
                s.set_read_timeout(Some(StdDuration::from_secs(20)))
                    .unwrap();
                s
            };
            // A socket that never sends anything owes its request head within the header
            // timeout.
            let (_, took) = read_to_close(open());
            assert!(
                took < StdDuration::from_secs(4),
                "silent socket open {took:?}"
            );

            // Headers one byte at a time are cut off at the header timeout.
            let mut slow = open();
            let started = Instant::now();
            let mut cut = false;
            for b in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: 1234567890\r\n" {
                if slow.write_all(&[*b]).is_err() {
                    cut = true;
                    break;
                }
                std::thread::sleep(StdDuration::from_millis(250));
            }
            assert!(
                cut || started.elapsed() < StdDuration::from_secs(4),
                "slow headers were never cut"
            );
            drop(slow);

            // A keep-alive connection is answered, then closed once idle.
            let mut kept = open();
            kept.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let (answer, took) = read_to_close(kept);
            let text = String::from_utf8_lossy(&answer);
            assert!(text.starts_with("HTTP/1.1 200"), "{text}");
            assert!(
                took >= StdDuration::from_millis(1500) && took < StdDuration::from_secs(5),
                "an idle keep-alive connection lived {took:?}"
            );
        }
    });
    checks.await.unwrap();
    still_healthy(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_holds_and_frees() {
    // The default timeouts (10 s for a request head): at the cap, idle connections get 1 s.
    let (server, _) = start_with_key("g", "10m", |s| s.server.max_connections = 4).await;
    let addr = server.addr;
    tokio::task::spawn_blocking(move || {
        // Four silent sockets take every place; a fifth waits, then gets in once the
        // others are cut short, long before their 10 s are up.
        let hogs: Vec<_> = (0..4).map(|_| TcpStream::connect(addr).unwrap()).collect();
        std::thread::sleep(StdDuration::from_millis(200));
        let started = Instant::now();
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(StdDuration::from_secs(10)))
            .unwrap();
        s.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let waited = started.elapsed();
        assert!(
            waited >= StdDuration::from_millis(500),
            "the fifth connection was served at once: no cap"
        );
        assert!(
            waited < StdDuration::from_secs(4),
            "idle sockets kept a client out for {waited:?}"
        );
        drop(hogs);
    })
    .await
    .unwrap();
    server.stop().await;
}

/// The number of `madbus_http_requests_total` series in a /metrics text.
fn request_series(metrics: &str) -> usize {
    metrics
        .lines()
        .filter(|l| l.starts_with("madbus_http_requests_total{"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_methods_and_paths_add_no_metric_series() {
    let (server, key) = start_with_key("g", "10m", |_| {}).await;
    let metrics = || async {
        server
            .get("/metrics", &key, "g")
            .await
            .text()
            .await
            .unwrap()
    };
    let before = request_series(&metrics().await);
    for i in 0..300 {
        let method = format!("JUNK{i:05}ZZ");
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = server
            .client
            .request(method, server.url(&format!("/no/such/path/{i}")))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{}", r.status());
    }
    let after = metrics().await;
    let added = request_series(&after) - before;
    assert!(
        added <= 4,
        "300 junk requests added {added} series:\n{}",
        after
            .lines()
            .filter(|l| l.starts_with("madbus_http_requests_total{"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        after.contains("route=\"other $default\""),
        "junk is counted as `other`"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_credentials_only_on_the_websocket() {
    let (server, key) = start_with_key("g", "10m", |_| {}).await;
    for query in [
        format!("api_key={key}&group_name=g"),
        format!("api%5Fkey={key}&group%5Fname=g"),
    ] {
        let r = server
            .client
            .get(server.url(&format!("/lines?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "REST took credentials from {query}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["message"], "Missing x-api-key header");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_or_malformed_group_names_are_400() {
    let (server, key) = start_with_key("g", "10m", |_| {}).await;
    for group in ["x".repeat(10_000), "a b".into(), "g;drop".into()] {
        let r = server.get("/lines", &key, &group).await;
        assert_eq!(r.status(), 400, "group {:?}", &group[..group.len().min(20)]);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "BadRequest");
        assert!(
            body["message"].as_str().unwrap().contains("x-group-name"),
            "{body}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_have_one_range_in_both_forms() {
    let (server, key) = start_with_key("g", "10m", |_| {}).await;
    let (_, last) = madbus::time::Millis::accepted_range();
    // The last accepted instant, in both forms: accepted (404: no data then is fine).
    for t in [
        last.to_rfc3339(),
        last.0.to_string(),
        "9999-06-01T00:00:00Z".into(),
    ] {
        let r = server
            .get(&format!("/bus-position/B001?timestamp={t}"), &key, "g")
            .await;
        assert_eq!(r.status(), 200, "{t}: the newest row at or before it");
    }
    // One past it, in both forms: 400 naming the range.
    for t in [
        (last.0 + 1).to_string(),
        "9999-12-31T23:59:59Z".into(),
        i64::MAX.to_string(),
    ] {
        let r = server
            .get(&format!("/bus-position/B001?timestamp={t}"), &key, "g")
            .await;
        assert_eq!(r.status(), 400, "{t}");
        let body: Value = r.json().await.unwrap();
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(&last.to_rfc3339()), "{message}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_bad_bodies_get_jsonrpc_errors() {
    let (server, key) = start_with_key("g", "10m", |_| {}).await;
    let openapi = common::OpenApi::fetch(&server).await;
    let post = |body: String, accept: &'static str| {
        server
            .client
            .post(server.url("/mcp"))
            .header("x-api-key", &key)
            .header("x-group-name", "g")
            .header("content-type", "application/json")
            .header("accept", accept)
            .body(body)
    };
    let both = "application/json, text/event-stream";
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    for (body, code) in [
        ("not json".to_string(), -32700),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":1e400}}"#.into(),
            -32700,
        ),
        (deep, -32700),
        (
            r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#.into(),
            -32600,
        ),
    ] {
        let r = post(body.clone(), both).send().await.unwrap();
        assert_eq!(r.status(), 400, "{}", &body[..body.len().min(40)]);
        let answer: Value = r.json().await.unwrap();
        assert_eq!(answer["error"]["code"], code, "{answer}");
        assert_eq!(answer["jsonrpc"], "2.0");
        openapi.check_op("post", "/mcp", 400, &answer);
    }
    // Without the Accept the transport needs: 406, documented, in the error schema.
    let r = post(
        r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#.into(),
        "text/html",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 406);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["error"], "NotAcceptable");
    openapi.check_op("post", "/mcp", 406, &answer);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_during_the_backfill() {
    let dir = tempfile::tempdir().unwrap();
    let key = add_key(dir.path(), "g", |_| {}).await;
    // Long enough to still be backfilling when asked.
    let settings = test_settings(dir.path(), "20d");
    let app = madbus::app::Application::build(settings).await.unwrap();
    let addr = app.local_addr();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    let client = reqwest::Client::new();
    let url = |p: &str| format!("http://{addr}{p}");
    tokio::time::sleep(StdDuration::from_millis(300)).await;

    let r = client.get(url("/livez")).send().await.unwrap();
    assert_eq!(r.status(), 200, "alive while backfilling");
    let r = client.get(url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let health: Value = r.json().await.unwrap();
    assert_eq!(health["status"], "starting", "{health}");
    assert!(
        health["phase"] == "backfilling" || health["phase"] == "starting",
        "{health}"
    );
    assert!(health["progress"].as_f64().is_some(), "{health}");

    for path in [
        "/bus-position/B001?mode=latest",
        "/bus-position/B001?timestamp=2026-01-01T00:00:00Z",
        "/people-count/S001?mode=latest",
        "/bus-position/line/L1?mode=latest",
        "/stops/S001/arrivals",
    ] {
        let r = client
            .get(url(path))
            .header("x-api-key", &key)
            .header("x-group-name", "g")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503, "{path}");
        assert!(r.headers().contains_key("retry-after"), "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "ServiceUnavailable", "{body}");
        assert!(
            body["message"].as_str().unwrap().contains("backfilling")
                || body["message"].as_str().unwrap().contains("starting"),
            "{body}"
        );
    }
    // The network itself does not depend on the history.
    let r = client
        .get(url("/lines"))
        .header("x-api-key", &key)
        .header("x-group-name", "g")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_origin_follows_the_cors_list() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let (server, key) = start_with_key("g", "10m", |s| {
        s.gateway.cors_origins = vec!["https://maps.example.org".into()];
    })
    .await;
    let request = |origin: Option<&str>| {
        let mut r = format!("ws://{}/ws", server.addr)
            .into_client_request()
            .unwrap();
        let h = r.headers_mut();
        h.insert("x-api-key", key.parse().unwrap());
        h.insert("x-group-name", "g".parse().unwrap());
        if let Some(o) = origin {
            h.insert("origin", o.parse().unwrap());
        }
        r
    };
    let status = |r| async {
        match tokio_tungstenite::connect_async(r).await {
            Ok((mut ws, resp)) => {
                let _ = ws.close(None).await;
                resp.status().as_u16()
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(status(request(Some("https://evil.example"))).await, 403);
    assert_eq!(status(request(Some("https://maps.example.org"))).await, 101);
    assert_eq!(status(request(None)).await, 101, "not a browser: no Origin");
    server.stop().await;
}

/// Opens a WebSocket by hand (so faulty frames can be sent) and returns the socket after
/// the 101.
fn raw_websocket(server: &TestServer, key: &str) -> TcpStream {
    let mut s = socket(server);
    write!(
        s,
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         x-api-key: {key}\r\nx-group-name: g\r\n\r\n",
        server.addr
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s
}

/// A client frame: FIN, `opcode`, masked with a zero mask unless `unmasked`.
fn frame(opcode: u8, payload: &[u8], unmasked: bool) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    let mask_bit = if unmasked { 0 } else { 0x80 };
    match payload.len() {
        n if n < 126 => f.push(mask_bit | n as u8),
        n if n <= 0xFFFF => {
            f.push(mask_bit | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(mask_bit | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if !unmasked {
        f.extend_from_slice(&[0, 0, 0, 0]);
    }
    f.extend_from_slice(payload);
    f
}

/// The close code of the first close frame the server sends.
fn close_code(mut s: TcpStream) -> Option<u16> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
        // Server frames are unmasked; skip any that are not a close.
        let mut i = 0;
        while i + 2 <= all.len() {
            let opcode = all[i] & 0x0F;
            let (len, head) = match all[i + 1] & 0x7F {
                126 if i + 4 <= all.len() => {
                    (u16::from_be_bytes([all[i + 2], all[i + 3]]) as usize, 4)
                }
                127 if i + 10 <= all.len() => (
                    u64::from_be_bytes(all[i + 2..i + 10].try_into().unwrap()) as usize,
                    10,
                ),
                126 | 127 => break,
                n => (n as usize, 2),
            };
            if i + head + len > all.len() {
                break;
            }
            if opcode == 0x8 && len >= 2 {
                return Some(u16::from_be_bytes([all[i + head], all[i + head + 1]]));
            }
            i += head + len;
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_protocol_faults_close_with_their_codes() {
    let (server, key) = start_with_key("g", "10m", |_| {}).await;
    let cases: [(&str, Vec<u8>, u16); 4] = [
        (
            "a message over 16 KiB",
            frame(0x1, &vec![b'a'; 20_000], false),
            1009,
        ),
        (
            "invalid UTF-8 text",
            frame(0x1, &[0xC3, 0x28, 0xFF], false),
            1007,
        ),
        ("an unmasked frame", frame(0x1, b"{}", true), 1002),
        ("a reserved opcode", frame(0x3, b"", false), 1002),
    ];
    for (what, bytes, expected) in cases {
        let mut s = raw_websocket(&server, &key);
        s.write_all(&bytes).unwrap();
        let code = tokio::task::spawn_blocking(move || close_code(s))
            .await
            .unwrap();
        assert_eq!(code, Some(expected), "{what}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_are_refused() {
    let (server, _) = start_with_key("g", "10m", |_| {}).await;
    let mut s = socket(&server);
    let big = "a".repeat(64 * 1024);
    write!(s, "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n").unwrap_or(());
    let (answer, _) = read_to_close(s);
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 431"),
        "{text}"
    );
    still_healthy(server).await;
}
