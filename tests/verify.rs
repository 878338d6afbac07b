//! `madbus verify`, the real binary: every check passes against a healthy server, and each
//! check fails (exit code non-zero) against a server set up wrong in the way it guards
//! against. Wrong setups madbus cannot be configured into (a CORS grant without
//! x-group-name, a 500 for a bad key, an unhealthy health answer) come from a small
//! stand-in proxy in front of a real server that breaks just that one thing.

mod common;

use std::net::SocketAddr;
use std::process::Output;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::{TestServer, add_key, test_settings};
use serde_json::{Value, json};

const GROUP: &str = "group1";

async fn start(
    backfill: &str,
    tweak: impl FnOnce(&mut madbus::app::Settings),
) -> (TestServer, String) {
    let dir = tempfile::tempdir().unwrap();
    let key = add_key(dir.path(), GROUP, |_| {}).await;
    let mut settings = test_settings(dir.path(), backfill);
    settings.speed = 60.0;
    settings.gateway.throttle_burst = 100_000;
    settings.gateway.throttle_rate = 100_000.0;
    tweak(&mut settings);
    (TestServer::start(dir, settings).await, key)
}

/// Runs `madbus verify --endpoint URL --group GROUP ARGS...` with the key in the environment.
async fn verify(endpoint: &str, key: &str, args: &[&str]) -> Output {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_madbus"))
        .args(["verify", "--endpoint", endpoint, "--group", GROUP])
        .args(args)
        .env("MADBUS_API_KEY", key)
        .output();
    tokio::time::timeout(std::time::Duration::from_secs(120), run)
        .await
        .expect("verify finished within 2 minutes")
        .unwrap()
}

fn report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The one check of a `--only` JSON report, which must have failed with exit code 1.
fn failed_check(out: &Output, name: &str) -> Value {
    let r = report(out);
    assert_eq!(out.status.code(), Some(1), "{r}");
    assert_eq!(r["passed"], false);
    let check = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {r}"))
        .clone();
    assert_eq!(check["passed"], false, "{check}");
    assert!(
        check["expected"].is_string() && check["seen"].is_string(),
        "{check}"
    );
    check
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_check_passes_against_a_healthy_server() {
    let (server, key) = start("2h", |_| {}).await;
    let endpoint = server.url("");
    let out = verify(
        &endpoint,
        &key,
        &["--min-history", "1h", "--requests", "300"],
    )
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.matches(" ✔ ").count(), 12, "{text}");
    assert!(text.contains("12 checks: 12 passed, 0 failed"), "{text}");

    let out = verify(
        &endpoint,
        &key,
        &["--min-history", "1h", "--requests", "300", "--json"],
    )
    .await;
    assert!(out.status.success());
    let r = report(&out);
    assert_eq!(r["passed"], true);
    let checks = r["checks"].as_array().unwrap();
    let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    let all: Vec<&str> = madbus::verify::CHECKS.iter().map(|c| c.0).collect();
    assert_eq!(names, all);
    for c in checks {
        assert_eq!(c["passed"], true, "{c}");
        assert!(!c["figure"].as_str().unwrap().is_empty(), "{c}");
        assert!(c["step"].is_string() && c["duration_ms"].is_number(), "{c}");
    }
    let load = &checks[10]["figure"];
    for measure in ["req/s", "p50", "p90", "p99", "[200] x300"] {
        assert!(load.as_str().unwrap().contains(measure), "{load}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_fails_the_load_test() {
    let (server, key) = start("10m", |s| {
        s.gateway.throttle_burst = 5;
        s.gateway.throttle_rate = 1.0;
    })
    .await;
    let out = verify(
        &server.url(""),
        &key,
        &["--only", "load-test", "--requests", "50", "--json"],
    )
    .await;
    let check = failed_check(&out, "load-test");
    assert!(
        check["seen"].as_str().unwrap().contains("throttled (429)"),
        "{check}"
    );
    assert!(
        check["figure"].as_str().unwrap().contains("[429]"),
        "{check}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_history_fails() {
    let (server, key) = start("10m", |_| {}).await;
    let out = verify(&server.url(""), &key, &["--only", "history", "--json"]).await;
    let check = failed_check(&out, "history");
    assert_eq!(check["expected"], "at least 5d 0h 0m");
    // The same server passes with a requirement it meets.
    let out = verify(
        &server.url(""),
        &key,
        &["--only", "history", "--min-history", "5m"],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    server.stop().await;
}

/// What the stand-in breaks.
#[derive(Clone, Copy)]
enum Fault {
    /// The preflight grants x-api-key but not x-group-name.
    CorsWithoutGroupHeader,
    /// A bad key gets 500 (the original system's defect).
    ServerErrorForBadKey,
    /// /health says unhealthy.
    Unhealthy,
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    client: reqwest::Client,
    fault: Fault,
}

async fn forward(State(p): State<Proxy>, request: Request) -> Response {
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let bad_key = request
        .headers()
        .get("x-api-key")
        .is_some_and(|k| k == "invalid-key");
    match p.fault {
        Fault::Unhealthy if path == "/health" => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"status": "unhealthy"})),
            )
                .into_response();
        }
        Fault::ServerErrorForBadKey if bad_key => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response();
        }
        _ => {}
    }
    let mut upstream = p
        .client
        .request(request.method().clone(), format!("{}{path}", p.upstream));
    for (name, value) in request.headers() {
        if name != "host" {
            upstream = upstream.header(name, value);
        }
    }
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap();
    let answer = upstream.body(body).send().await.unwrap();
    let mut response = Response::builder().status(answer.status().as_u16());
    for (name, value) in answer.headers() {
        if matches!(p.fault, Fault::CorsWithoutGroupHeader)
            && name == "access-control-allow-headers"
        {
            response = response.header(name, "x-api-key,content-type");
        } else {
            response = response.header(name, value);
        }
    }
    response
        .body(Body::from(answer.bytes().await.unwrap()))
        .unwrap()
}

/// A stand-in on port 0 in front of `server`, with one fault.
async fn stand_in(server: &TestServer, fault: Fault) -> SocketAddr {
    let proxy = Proxy {
        upstream: server.url(""),
        client: reqwest::Client::new(),
        fault,
    };
    let app = axum::Router::new().fallback(forward).with_state(proxy);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misconfigured_gateways_fail_their_checks() {
    let (server, key) = start("10m", |_| {}).await;
    for (fault, check, needle) in [
        (
            Fault::CorsWithoutGroupHeader,
            "cors",
            "x-group-name in Access-Control-Allow-Headers",
        ),
        (Fault::ServerErrorForBadKey, "auth-invalid-key", "500"),
        (Fault::Unhealthy, "health", "503"),
    ] {
        let addr = stand_in(&server, fault).await;
        let endpoint = format!("http://{addr}");
        let out = verify(&endpoint, &key, &["--only", check, "--json"]).await;
        let result = failed_check(&out, check);
        let said = format!("{} / {}", result["expected"], result["seen"]);
        assert!(said.contains(needle), "{check}: {said}");
        // The stand-in passes every other check of its kind: only its fault fails.
        let others = ["health", "auth-valid", "auth-invalid-key", "cors"]
            .into_iter()
            .filter(|c| *c != check)
            .collect::<Vec<_>>()
            .join(",");
        let out = verify(&endpoint, &key, &["--only", &others]).await;
        assert!(
            out.status.success(),
            "{check}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_mistakes_are_named() {
    let out = verify("http://127.0.0.1:9", "k", &["--only", "colour"]).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown check \"colour\"") && stderr.contains("load-test"),
        "{stderr}"
    );
    // Nothing listens: every check fails, saying so.
    let out = verify(
        "http://127.0.0.1:9",
        "k",
        &["--only", "health,auth-valid", "--json"],
    )
    .await;
    let r = report(&out);
    assert_eq!(out.status.code(), Some(1));
    for c in r["checks"].as_array().unwrap() {
        assert!(c["seen"].as_str().unwrap().contains("no answer"), "{c}");
    }
}

#[test]
fn local_mode_proves_a_fresh_install() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_madbus"))
        .args(["verify", "--local", "--requests", "300"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("12 checks: 12 passed, 0 failed"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defaults_pass_twice_and_still_stop_a_runaway_client() {
    let dir = tempfile::tempdir().unwrap();
    let key = add_key(dir.path(), GROUP, |_| {}).await;
    // `madbus serve`'s defaults (only the history is shorter, to keep the test quick).
    let settings = test_settings(dir.path(), "2h");
    let server = TestServer::start(dir, settings).await;
    let endpoint = server.url("");
    for run in 1..=2 {
        let out = verify(&endpoint, &key, &["--min-history", "1h"]).await;
        assert!(
            out.status.success(),
            "run {run} of verify on defaults failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // A client in a tight loop is still held to the per-key rate.
    let throttled = futures_util::future::join_all((0..10).map(|_| async {
        let mut n = 0;
        for _ in 0..400 {
            if server.get("/buses", &key, GROUP).await.status() == 429 {
                n += 1;
            }
        }
        n
    }))
    .await;
    let throttled: u32 = throttled.iter().sum();
    assert!(
        throttled > 0,
        "4,000 requests in a burst were never throttled"
    );
    server.stop().await;
}
