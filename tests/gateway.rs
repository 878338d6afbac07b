//! The gateway, over real HTTP against the real server: the checklist's auth and CORS
//! answers, per-key throttling, throttling of repeated failures, request ids, limits,
//! metrics, and no secret in any log line.

mod common;

use std::process::Command;
use std::time::Duration as StdDuration;

use common::{TestServer, add_key, test_settings};
use madbus::time::Millis;

async fn error_of(r: reqwest::Response) -> (u16, serde_json::Value) {
    let status = r.status().as_u16();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body["request_id"],
        id.as_str(),
        "the error names the request id"
    );
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_rules() {
    let dir = tempfile::tempdir().unwrap();
    let good = add_key(dir.path(), "group1", |_| {}).await;
    let other = add_key(dir.path(), "group2", |_| {}).await;
    let revoked = add_key(dir.path(), "group1", |r| r.revoked_at = Some(Millis(1))).await;
    let expired = add_key(dir.path(), "group1", |r| r.expires_at = Some(Millis(1))).await;
    let settings = test_settings(dir.path(), "10m");
    let s = TestServer::start(dir, settings).await;
    let path = "/bus-position/B001?mode=latest";

    let r = s
        .client
        .get(s.url(path))
        .header("x-group-name", "group1")
        .send()
        .await
        .unwrap();
    let (status, body) = error_of(r).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("Unauthorized"))
    );
    assert!(
        body["message"].as_str().unwrap().contains("x-api-key"),
        "{body}"
    );

    let r = s
        .client
        .get(s.url(path))
        .header("x-api-key", &good)
        .send()
        .await
        .unwrap();
    let (status, body) = error_of(r).await;
    assert_eq!(status, 401);
    assert!(
        body["message"].as_str().unwrap().contains("x-group-name"),
        "{body}"
    );

    let r = s
        .client
        .get(s.url(path))
        .header("x-api-key", "")
        .header("x-group-name", "group1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "an empty key is a missing key");

    for (key, group, why) in [
        ("invalid-key", "group1", "invalid"),
        (revoked.as_str(), "group1", "revoked"),
        (expired.as_str(), "group1", "expired"),
        (other.as_str(), "group1", "another group's key"),
    ] {
        let (status, body) = error_of(s.get(path, key, group).await).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (403, Some("Forbidden")),
            "{why}: {body}"
        );
    }

    let ok = s.get(path, &good, "group1").await;
    assert_eq!(ok.status(), 200);
    assert!(ok.headers().contains_key("x-request-id"));
    assert_eq!(ok.headers()["ratelimit-limit"], "2000");
    let ok = s.get(path, &other, "group2").await;
    assert_eq!(ok.status(), 200);

    // Public routes need nothing.
    assert_eq!(
        s.client
            .get(s.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Metrics are protected, and count what happened.
    assert_eq!(
        s.client
            .get(s.url("/metrics"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let metrics = s
        .get("/metrics", &good, "group1")
        .await
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("madbus_http_requests_total"), "{metrics}");
    assert!(metrics.contains("madbus_auth_failures_total"), "{metrics}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_key_mode() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path(), "10m");
    settings.shared_key = Some("the-shared-secret".into());
    let s = TestServer::start(dir, settings).await;
    for group in ["group1", "anything"] {
        assert_eq!(
            s.get("/buses", "the-shared-secret", group).await.status(),
            200
        );
    }
    assert_eq!(
        s.get("/buses", "the-shared-secrets", "group1")
            .await
            .status(),
        403
    );
    // No demo key is made when a shared key is configured.
    assert!(!s.dir.path().join(madbus::app::DEMO_KEY_FILE).exists());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_makes_a_private_demo_key() {
    let dir = tempfile::tempdir().unwrap();
    let settings = test_settings(dir.path(), "10m");
    let s = TestServer::start(dir, settings).await;
    let file = s.dir.path().join(madbus::app::DEMO_KEY_FILE);
    let text = std::fs::read_to_string(&file).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let key = text
        .lines()
        .find_map(|l| l.strip_prefix("x-api-key: "))
        .unwrap();
    assert_eq!(s.get("/lines", key, "demo").await.status(), 200);
    assert_eq!(s.get("/lines", key, "other").await.status(), 403);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_preflight_and_origins() {
    let dir = tempfile::tempdir().unwrap();
    let settings = test_settings(dir.path(), "10m");
    let s = TestServer::start(dir, settings).await;
    let preflight = |path: &str, origin: &str| {
        s.client
            .request(reqwest::Method::OPTIONS, s.url(path))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "x-api-key,x-group-name")
            .send()
    };
    for path in ["/mcp/list-tools", "/bus-position/B001", "/health"] {
        let r = preflight(path, "https://example.com").await.unwrap();
        assert_eq!(r.status(), 204, "{path}");
        let h = r.headers();
        assert_eq!(h["access-control-allow-origin"], "*");
        let methods = h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .to_lowercase();
        for m in ["get", "post", "options"] {
            assert!(methods.contains(m), "{methods}");
        }
        let allowed = h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_lowercase();
        for name in [
            "x-api-key",
            "x-group-name",
            "content-type",
            "authorization",
            "mcp-session-id",
            "mcp-protocol-version",
        ] {
            assert!(allowed.contains(name), "{name} not in {allowed}");
        }
        assert!(h.contains_key("access-control-max-age"));
        assert!(
            h["vary"]
                .to_str()
                .unwrap()
                .to_lowercase()
                .contains("origin")
        );
    }
    s.stop().await;

    // A configured list: listed origins are granted, others are not.
    let dir = tempfile::tempdir().unwrap();
    let key = add_key(dir.path(), "g", |_| {}).await;
    let mut settings = test_settings(dir.path(), "10m");
    settings.gateway.cors_origins = vec!["https://viz.example.org".into()];
    let s = TestServer::start(dir, settings).await;
    let r = preflight_to(&s, "https://viz.example.org").await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://viz.example.org"
    );
    let r = preflight_to(&s, "https://evil.example.com").await;
    assert!(!r.headers().contains_key("access-control-allow-origin"));
    // Actual requests carry the grant too, errors included (so browsers can read them).
    let r = s
        .client
        .get(s.url("/lines"))
        .header("Origin", "https://viz.example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://viz.example.org"
    );
    let r = s
        .client
        .get(s.url("/lines"))
        .header("Origin", "https://evil.example.com")
        .header("x-api-key", &key)
        .header("x-group-name", "g")
        .send()
        .await
        .unwrap();
    assert!(!r.headers().contains_key("access-control-allow-origin"));
    s.stop().await;
}

async fn preflight_to(s: &TestServer, origin: &str) -> reqwest::Response {
    s.client
        .request(reqwest::Method::OPTIONS, s.url("/lines"))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_per_key_and_of_failures() {
    let dir = tempfile::tempdir().unwrap();
    let key = add_key(dir.path(), "g", |_| {}).await;
    let other = add_key(dir.path(), "g", |_| {}).await;
    let mut settings = test_settings(dir.path(), "10m");
    settings.gateway.throttle_burst = 5;
    settings.gateway.throttle_rate = 2.0;
    settings.gateway.auth_fail_burst = 3;
    settings.gateway.auth_fail_rate = 0.5;
    let s = TestServer::start(dir, settings).await;

    for i in 0..5 {
        let r = s.get("/buses", &key, "g").await;
        assert_eq!(r.status(), 200, "request {i} of the burst");
        assert_eq!(
            r.headers()["ratelimit-remaining"],
            (4 - i).to_string().as_str()
        );
    }
    let r = s.get("/buses", &key, "g").await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    assert_eq!(r.headers()["ratelimit-remaining"], "0");
    let (_, body) = error_of(r).await;
    assert_eq!(body["error"], "TooManyRequests");
    // Another key has its own bucket.
    assert_eq!(s.get("/buses", &other, "g").await.status(), 200);
    // The bucket refills at the rate (2/s): one more after half a second.
    tokio::time::sleep(StdDuration::from_millis(600)).await;
    assert_eq!(s.get("/buses", &key, "g").await.status(), 200);
    assert_eq!(s.get("/buses", &key, "g").await.status(), 429);

    // Repeated failures from one address: after the burst of 3, 429 even with a bad key.
    for _ in 0..3 {
        assert_eq!(s.get("/buses", "wrong", "g").await.status(), 403);
    }
    let r = s.get("/buses", "wrong", "g").await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // Over its failure budget, the address is refused without its key being looked at, so
    // a guesser learns nothing by mixing in the right key.
    let r = s.get("/buses", &other, "g").await;
    assert_eq!(r.status(), 429, "a valid key from a blocked address");
    let (_, body) = error_of(r).await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("failed authentications"),
        "{body}"
    );
    // Once the budget refills, the valid key works again.
    tokio::time::sleep(StdDuration::from_millis(retry * 1000 + 100)).await;
    assert_eq!(s.get("/buses", &other, "g").await.status(), 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_unknown_routes() {
    let dir = tempfile::tempdir().unwrap();
    let key = add_key(dir.path(), "g", |_| {}).await;
    let settings = test_settings(dir.path(), "10m");
    let s = TestServer::start(dir, settings).await;
    let big = vec![b'x'; 200 * 1024];
    let r = s
        .client
        .post(s.url("/lines"))
        .header("x-api-key", &key)
        .header("x-group-name", "g")
        .body(big)
        .send()
        .await
        .unwrap();
    // The unread body ends the connection, and the answer says so (no reuse race).
    assert_eq!(r.headers()["connection"], "close");
    let (status, body) = error_of(r).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("PayloadTooLarge"))
    );
    let r = s
        .client
        .post(s.url("/lines"))
        .header("x-api-key", &key)
        .header("x-group-name", "g")
        .send()
        .await
        .unwrap();
    let (status, body) = error_of(r).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (405, Some("MethodNotAllowed"))
    );
    let (status, body) = error_of(s.get("/no/such/route", &key, "g").await).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("NotFound")));
    // A client's own plain request id is kept; a strange one is replaced.
    let r = s
        .client
        .get(s.url("/health"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    let r = s
        .client
        .get(s.url("/health"))
        .header("x-request-id", "a b\"c")
        .send()
        .await
        .unwrap();
    assert_ne!(r.headers()["x-request-id"], "a b\"c");
    s.stop().await;
}

/// The real binary, its whole output captured: keys made with `madbus keys`, sent in
/// headers and in query strings, valid and invalid; none may appear in any line.
#[test]
fn no_secret_in_any_log_line() {
    let bin = env!("CARGO_BIN_EXE_madbus");
    let dir = tempfile::tempdir().unwrap();
    let mut output = Vec::new();
    let mut key_for = |group: &str| {
        let out = Command::new(bin)
            .args(["keys", "create", "--group", group, "--data-dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success());
        output.push(String::from_utf8_lossy(&out.stderr).to_string());
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let key = key_for("group1");
    let other = key_for("group2");
    let bogus = "mbk_00000000_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    let server = common::ServerProcess::spawn(dir.path(), &["--backfill", "10m"]);
    let addr = server.addr.clone();
    common::block_on(async {
        let c = reqwest::Client::new();
        let base = format!("http://{addr}");
        for (k, g) in [
            (&key, "group1"),
            (&other, "group1"),
            (&bogus.to_string(), "group1"),
        ] {
            let _ = c
                .get(format!("{base}/bus-position/B001?mode=latest"))
                .header("x-api-key", k)
                .header("x-group-name", g)
                .send()
                .await;
            let _ = c
                .get(format!(
                    "{base}/bus-position/B001?mode=latest&api_key={k}&group_name={g}"
                ))
                .send()
                .await;
            let _ = c
                .get(format!("{base}/ws?api_key={k}&group_name={g}"))
                .send()
                .await;
            let _ = c
                .get(format!("{base}/lines?API_KEY={k}"))
                .header("x-group-name", g)
                .send()
                .await;
        }
    });
    let (exit, mut lines) = server.terminate();
    assert!(exit.success());
    lines.extend(output);
    let access: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("\"routeKey\""))
        .collect();
    assert!(
        access.len() >= 12,
        "expected an access line per request, got {}",
        access.len()
    );
    assert!(
        access.iter().any(|l| l.contains("api_key=REDACTED")),
        "query keys are shown redacted"
    );
    for secret in [&key, &other, &bogus.to_string()] {
        let secret_part = &secret[13..];
        for line in &lines {
            assert!(!line.contains(secret_part), "a key leaked into: {line}");
        }
    }
}

/// Access lines are written apart from tracing's formatting, but `RUST_LOG` still decides
/// whether there are any.
#[test]
fn rust_log_turns_access_lines_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::ServerProcess::spawn_logging(
        dir.path(),
        &["--backfill", "10m"],
        "info,madbus::access=off",
    );
    let livez = format!("http://{}/livez", server.addr);
    let status = common::block_on(async { reqwest::get(&livez).await.unwrap().status() });
    assert_eq!(status, 200);
    let (exit, lines) = server.terminate();
    assert!(exit.success());
    assert!(
        lines.iter().any(|l| l.contains("\"listening\"")),
        "other info lines stay on"
    );
    let access: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("\"routeKey\""))
        .collect();
    assert!(
        access.is_empty(),
        "access lines despite RUST_LOG: {access:?}"
    );
}

/// Access lines come out while the server runs, not only when it stops: a connection thread
/// keeps its lines until it goes idle (or has a full batch), then hands them over.
#[test]
fn access_lines_come_out_while_the_server_runs() {
    const REQUESTS: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let mut server =
        common::ServerProcess::spawn_logging(dir.path(), &["--backfill", "10m"], "info");
    let url = format!("http://{}/livez", server.addr);
    common::block_on(async {
        // One client: the requests share a keep-alive connection, so one thread.
        let client = reqwest::Client::new();
        for i in 0..REQUESTS {
            let r = client
                .get(&url)
                .header("x-request-id", format!("batch-{i}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
    });
    let id = |i: usize| format!("\"requestId\":\"batch-{i}\"");
    server.read_until(StdDuration::from_secs(10), |lines| {
        (0..REQUESTS).all(|i| lines.iter().any(|l| l.contains(&id(i))))
    });
    let (exit, lines) = server.terminate();
    assert!(exit.success());
    for i in 0..REQUESTS {
        let n = lines.iter().filter(|l| l.contains(&id(i))).count();
        assert_eq!(n, 1, "request {i} has {n} access lines");
    }
}
