//! Property tests for every parser that takes outside input: whatever arrives, it is
//! refused with a message or accepted, never a panic; and over HTTP every refusal is a 4xx
//! with the error JSON, never a 5xx.

mod common;

use madbus::query::QueryForm;
use madbus::store::Cursor;
use madbus::time::Millis;
use proptest::prelude::*;

/// Text with the characters that tend to break parsers.
fn nasty() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,80}",
        "[0-9T:.+\\-Z]{0,40}",
        "[a-z_=&%0-9]{0,60}",
        Just("9999-12-31T23:59:59Z".to_string()),
        Just(i64::MAX.to_string()),
        Just("-".repeat(30)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn times_parse_or_refuse_within_the_range(s in nasty()) {
        if let Ok(t) = Millis::parse(&s) {
            let (first, last) = Millis::accepted_range();
            prop_assert!(first <= t && t <= last);
            // What is accepted prints, and reads back the same.
            prop_assert_eq!(Millis::parse(&t.to_rfc3339()), Ok(t));
        }
    }

    #[test]
    fn epoch_milliseconds_and_rfc3339_agree(ms in -62_135_596_800_000i64..253_402_128_000_000) {
        let t = Millis(ms);
        prop_assert_eq!(Millis::parse(&ms.to_string()), Ok(t));
        prop_assert_eq!(Millis::parse(&t.to_rfc3339()), Ok(t));
    }

    #[test]
    fn query_forms_parse_or_refuse(pairs in proptest::collection::vec((nasty(), nasty()), 0..6)) {
        let _ = QueryForm::parse(&pairs);
    }

    #[test]
    fn cursors_decode_or_refuse(s in nasty()) {
        if let Some(c) = Cursor::decode(&s) {
            prop_assert_eq!(Cursor::decode(&c.encode()), Some(c));
        }
    }

    #[test]
    fn ids_and_group_names_check_or_refuse(s in nasty()) {
        let ok = madbus::network::id::check_id(&s).is_ok();
        prop_assert_eq!(ok, !s.is_empty() && s.len() <= 64
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
    }

    #[test]
    fn network_files_load_or_list_errors(yaml in prop_oneof![
        ".{0,200}",
        Just("lines:\n  - line_id: L1\n    name: x\n    stops: []\n    buses: []\n".to_string()),
        "lines:\n  - line_id: [A-Z0-9]{0,3}\n    name: .{0,5}\n    stops: \\[.{0,20}\\]\n",
    ]) {
        let _ = madbus::network::parse_str(&yaml, "prop.yaml");
    }
}

/// One request that must not be a 5xx, and when it fails must carry the error JSON.
async fn check(server: &common::TestServer, key: &str, path: &str, group: &str) {
    let r = server
        .client
        .get(server.url(path))
        .header("x-api-key", key)
        .header("x-group-name", group)
        .send()
        .await;
    // reqwest refuses some URLs and headers itself; the server never saw them.
    let Ok(r) = r else { return };
    let status = r.status();
    assert!(
        !status.is_server_error(),
        "{path} (group {group:?}) -> {status}"
    );
    if status.is_client_error() {
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        assert!(
            body["error"].is_string() && body["message"].is_string(),
            "{path} -> {status} without the error JSON: {body}"
        );
    }
}

#[test]
fn http_refusals_are_4xx_with_the_error_json() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (server, key) = rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let key = common::add_key(dir.path(), "g", |_| {}).await;
        let settings = common::test_settings(dir.path(), "10m");
        (common::TestServer::start(dir, settings).await, key)
    });
    let segment = "[A-Za-z0-9_%.~-]{0,70}";
    let query = "[a-z_=&%0-9:TZ.+-]{0,80}";
    let routes = prop_oneof![
        Just("/bus-position/"),
        Just("/people-count/"),
        Just("/sensors/bus/"),
        Just("/sensors/stop/"),
        Just("/bus-position/line/"),
        Just("/stops/"),
        Just("/lines/"),
    ];
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(300));
    runner
        .run(
            &(
                routes,
                segment,
                query,
                prop_oneof![Just("g".to_string()), "[ -~]{0,80}"],
            ),
            |(route, id, q, group)| {
                rt.block_on(check(&server, &key, &format!("{route}{id}?{q}"), &group));
                Ok(())
            },
        )
        .unwrap();
    rt.block_on(server.stop());
}
