//! The fast lane (`gateway::fast_lane`) over real sockets: its answers are the router's, it
//! hands every other request to the router with the bytes it read, and the gateway's rules
//! (keys, throttling, the access log) hold for what it answers.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration as StdDuration;

use common::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The lane's counter is the process's: tests that answer through the lane in this process
/// take turns, so each sees only its own answers counted.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One answer read off a socket.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A GET of `target` with the two auth headers and `extra` header lines.
fn get(target: &str, key: &str, group: &str, extra: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nhost: test\r\nx-api-key: {key}\r\nx-group-name: {group}\r\n{extra}\r\n"
    )
}

/// Writes `parts` one by one (a short pause between them), then reads `count` answers.
async fn exchange(addr: SocketAddr, parts: &[&str], count: usize) -> Vec<Answer> {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
        socket.write_all(part.as_bytes()).await.unwrap();
    }
    let mut read = Vec::new();
    let mut answers = Vec::new();
    while answers.len() < count {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        if let Ok(httparse::Status::Complete(head)) = response.parse(&read) {
            let headers: BTreeMap<String, String> = response
                .headers
                .iter()
                .map(|h| {
                    let value = String::from_utf8(h.value.to_vec()).unwrap();
                    (h.name.to_ascii_lowercase(), value)
                })
                .collect();
            let length: usize = headers["content-length"].parse().unwrap();
            if read.len() >= head + length {
                answers.push(Answer {
                    status: response.code.unwrap(),
                    headers,
                    body: read[head..head + length].to_vec(),
                });
                read.drain(..head + length);
                continue;
            }
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = tokio::time::timeout(StdDuration::from_secs(10), socket.read(&mut chunk))
            .await
            .expect("an answer within 10 s")
            .unwrap();
        assert!(n > 0, "closed after {} answers", answers.len());
        read.extend_from_slice(&chunk[..n]);
    }
    answers
}

/// The fast lane's answers so far, from `/metrics`.
async fn lane_answers(s: &TestServer, key: &str, group: &str) -> u64 {
    let text = s.get("/metrics", key, group).await.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("madbus_http_fast_lane_answers_total "))
        .map_or(0, |n| n.trim().parse().unwrap())
}

/// Headers that differ from one answer to the next.
const PER_ANSWER: [&str; 3] = ["date", "x-request-id", "ratelimit-remaining"];

fn steady_headers(a: &Answer) -> BTreeMap<&str, &str> {
    a.headers
        .iter()
        .filter(|(k, _)| !PER_ANSWER.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lane_answers_as_the_router_does() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (s, key) = common::start_with_key("lane", "10m", |_| {}).await;
    let plain = get("/bus-position/B001?mode=latest", &key, "lane", "");
    // The same question with an escape in the id: the router decodes it, the lane leaves it.
    let escaped = get("/bus-position/B%30%30%31?mode=latest", &key, "lane", "");

    let before = lane_answers(&s, &key, "lane").await;
    // A new record may land between the two: ask again until both see the same one.
    let mut same = false;
    for _ in 0..5 {
        let lane = exchange(s.addr, &[&plain], 1).await.remove(0);
        let router = exchange(s.addr, &[&escaped], 1).await.remove(0);
        assert_eq!(lane.status, 200, "{lane:?}");
        assert_eq!(router.status, 200, "{router:?}");
        assert_eq!(steady_headers(&lane), steady_headers(&router));
        for name in PER_ANSWER {
            assert!(
                !lane.header(name).is_empty(),
                "the lane's answer has {name}"
            );
        }
        assert_eq!(lane.json()["bus_id"], "B001");
        if lane.body == router.body {
            same = true;
            break;
        }
    }
    assert!(same, "the lane and the router never gave the same body");
    let lane_count = lane_answers(&s, &key, "lane").await - before;
    assert!(lane_count >= 1, "the plain GETs took the lane");

    // As-of (from the store, then from memory once the minute is read on its third miss)
    // and a range: the lane's bytes are the router's.
    let latest = exchange(s.addr, &[&plain], 1).await.remove(0).json();
    let now = madbus::time::Millis::parse(latest["time"].as_str().unwrap()).unwrap();
    let at = now.0 - 5 * 60_000;
    let as_of = |id: &str| {
        get(
            &format!("/bus-position/{id}?timestamp={at}"),
            &key,
            "lane",
            "",
        )
    };
    let range = |id: &str| {
        let target = format!("/bus-position/{id}?from={at}&to={}", at + 60_000);
        get(&target, &key, "lane", "")
    };
    let before = lane_answers(&s, &key, "lane").await;
    let mut answers = Vec::new();
    for (by_lane, by_router) in [
        (as_of("B001"), as_of("B%30%30%31")),
        (as_of("B001"), as_of("B%30%30%31")),
        (as_of("B001"), as_of("B%30%30%31")),
        (range("B001"), range("B%30%30%31")),
    ] {
        let lane = exchange(s.addr, &[&by_lane], 1).await.remove(0);
        let router = exchange(s.addr, &[&by_router], 1).await.remove(0);
        assert_eq!(lane.status, 200, "{lane:?}");
        assert_eq!(lane.body, router.body);
        assert_eq!(steady_headers(&router), steady_headers(&lane));
        answers.push(lane.json());
    }
    assert_eq!(lane_answers(&s, &key, "lane").await - before, 4);
    assert_eq!(
        answers[0], answers[2],
        "as-of from the store and from memory"
    );
    assert!(answers[3]["items"].as_array().is_some_and(|i| i.len() >= 2));

    // The other series routes, and the same answers over reqwest's pooled connection.
    for target in [
        "/sensors/bus/B001?mode=latest",
        "/people-count/S001?mode=latest",
    ] {
        let lane = exchange(s.addr, &[&get(target, &key, "lane", "")], 1).await;
        let routed = s.get(&target.replace('1', "%31"), &key, "lane").await;
        assert_eq!(lane[0].status, 200, "{target}: {:?}", lane[0]);
        assert_eq!(routed.status(), 200, "{target}");
        let routed: serde_json::Value = routed.json().await.unwrap();
        let keys =
            |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&lane[0].json()), keys(&routed), "{target}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_lane_does_not_answer_goes_to_the_router() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (s, key) = common::start_with_key("lane", "10m", |_| {}).await;
    let plain = get("/bus-position/B001?mode=latest", &key, "lane", "");
    let mine = get(
        "/bus-position/B001?mode=latest",
        &key,
        "lane",
        "x-request-id: mine-1\r\n",
    );
    let lines = get("/lines", &key, "lane", "");

    // Pipelined in one write: two for the lane, then one for the router, and everything
    // after that goes to the router too, in order.
    let before = lane_answers(&s, &key, "lane").await;
    let batch = format!("{plain}{mine}{lines}{plain}");
    let answers = exchange(s.addr, &[&batch], 4).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [200, 200, 200, 200]);
    assert_eq!(answers[1].header("x-request-id"), "mine-1");
    assert_eq!(answers[0].json()["bus_id"], "B001");
    assert!(answers[2].json().as_array().is_some(), "the lines list");
    assert_eq!(answers[3].json()["bus_id"], "B001");
    assert_eq!(lane_answers(&s, &key, "lane").await - before, 2);

    // Many pipelined at once: answered in order, written in batches.
    let many = exchange(s.addr, &[&plain.repeat(200)], 200).await;
    assert!(
        many.iter()
            .all(|a| a.status == 200 && a.json()["bus_id"] == "B001")
    );

    // A head that arrives in pieces is still the lane's.
    let before = lane_answers(&s, &key, "lane").await;
    let (head, tail) = plain.split_at(20);
    let answers = exchange(s.addr, &[head, tail], 1).await;
    assert_eq!(answers[0].status, 200);
    assert_eq!(lane_answers(&s, &key, "lane").await - before, 1);

    // Refusals are the router's, as before the lane.
    let before = lane_answers(&s, &key, "lane").await;
    let refused = [
        (
            get("/bus-position/B001?mode=latest", "mbk_0_nope", "lane", ""),
            403,
        ),
        (
            get("/bus-position/B001?mode=latest", &key, "other", ""),
            403,
        ),
        (
            "GET /bus-position/B001?mode=latest HTTP/1.1\r\nx-group-name: lane\r\n\r\n".into(),
            401,
        ),
        (get("/bus-position/B999?mode=latest", &key, "lane", ""), 404),
        (
            get(
                "/bus-position/B001?timestamp=2000-01-01T00:00:00Z",
                &key,
                "lane",
                "",
            ),
            404,
        ),
        (get("/bus-position/B001", &key, "lane", ""), 400),
        (get("/bus-position/B001?mode=soon", &key, "lane", ""), 400),
    ];
    for (request, status) in &refused {
        let answer = exchange(s.addr, &[request], 1).await.remove(0);
        assert_eq!(answer.status, *status, "{request}: {answer:?}");
        assert!(answer.json()["message"].is_string(), "{answer:?}");
    }
    // A browser's request and a closing one are the router's, answered as always.
    let closing = get(
        "/bus-position/B001?mode=latest",
        &key,
        "lane",
        "connection: close\r\n",
    );
    let browser = get(
        "/bus-position/B001?mode=latest",
        &key,
        "lane",
        "origin: https://maps.example\r\n",
    );
    for request in [&closing, &browser] {
        let answer = exchange(s.addr, &[request], 1).await.remove(0);
        assert_eq!(answer.status, 200, "{request}");
    }
    assert_eq!(lane_answers(&s, &key, "lane").await - before, 0);

    // A head past the limit still gets the router's 431.
    let huge = get(
        "/bus-position/B001?mode=latest",
        &key,
        "lane",
        &format!("x-padding: {}\r\n", "a".repeat(40_000)),
    );
    let answer = exchange(s.addr, &[&huge], 1).await.remove(0);
    assert_eq!(answer.status, 431);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lane_keeps_to_the_keys_budget() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (s, key) = common::start_with_key("lane", "10m", |settings| {
        settings.gateway.throttle_burst = 3;
        settings.gateway.throttle_rate = 0.01;
    })
    .await;
    let plain = get("/bus-position/B001?mode=latest", &key, "lane", "");
    let batch = plain.repeat(5);
    let answers = exchange(s.addr, &[&batch], 5).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    let remaining: Vec<&str> = answers[..3]
        .iter()
        .map(|a| a.header("ratelimit-remaining"))
        .collect();
    assert_eq!(remaining, ["2", "1", "0"]);
    assert_eq!(answers[3].header("ratelimit-limit"), "3");
    assert!(!answers[3].header("retry-after").is_empty());
    s.stop().await;
}

/// The lane's access-log line is the router's for the same request, but for what differs
/// per request (the real binary, its log captured).
#[test]
fn the_lanes_log_lines_are_the_routers() {
    let bin = env!("CARGO_BIN_EXE_madbus");
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(bin)
        .args(["keys", "create", "--group", "lane", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let mut server =
        common::ServerProcess::spawn_logging(dir.path(), &["--backfill", "10m"], "info");
    server.wait_live(StdDuration::from_secs(60));
    let addr: SocketAddr = server.addr.parse().unwrap();
    common::block_on(async {
        for (target, id) in [
            ("/bus-position/B001?mode=latest&api_key=x", "by-lane"),
            (
                "/bus-position/B%30%30%31?mode=latest&api_key=x",
                "by-router",
            ),
        ] {
            let request = get(target, &key, "lane", &format!("x-request-id: {id}\r\n"));
            let answer = exchange(addr, &[&request], 1).await.remove(0);
            assert_eq!(answer.status, 200, "{answer:?}");
        }
    });
    let line_of = |lines: &[String], id: &str| {
        lines
            .iter()
            .find(|l| l.contains(&format!("\"requestId\":\"{id}\"")))
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
    };
    server.read_until(StdDuration::from_secs(10), |lines| {
        line_of(lines, "by-lane").is_some() && line_of(lines, "by-router").is_some()
    });
    let (exit, lines) = server.terminate();
    assert!(exit.success());
    let mut lane = line_of(&lines, "by-lane").unwrap();
    let mut router = line_of(&lines, "by-router").unwrap();
    assert_eq!(
        lane["path"],
        "/bus-position/B001?mode=latest&api_key=REDACTED"
    );
    for field in ["timestamp", "requestId", "requestTime", "latencyMs", "path"] {
        assert!(lane[field] != serde_json::Value::Null, "{field} in {lane}");
        lane.as_object_mut().unwrap().remove(field);
        router.as_object_mut().unwrap().remove(field);
    }
    assert_eq!(lane, router);
}
