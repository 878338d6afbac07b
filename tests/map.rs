//! The live map page in headless Chromium (Debian's, driven by playwright-core): with a key
//! in localStorage it draws the 9 lines, the 51 stops with their waiting counts and the 24
//! buses, the buses move between two screenshots, and a click on a bus shows its sensors.

mod common;

use std::path::PathBuf;

use common::{TestServer, add_key, chromium, test_settings};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and playwright-core (tests/node)"]
async fn the_map_draws_the_network_and_moves_the_buses() {
    let chromium = chromium();
    let dir = tempfile::tempdir().unwrap();
    let key = add_key(dir.path(), "viewers", |_| {}).await;
    let mut settings = test_settings(dir.path(), "30m");
    settings.speed = 60.0;
    let server = TestServer::start(dir, settings).await;

    // The page is public, and strict about where scripts come from.
    let page = server.client.get(server.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(page.text().await.unwrap().contains("/assets/leaflet.js"));

    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let (shot1, shot2) = (shots.join("map-1.png"), shots.join("map-2.png"));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node/map_check.mjs");
    let out = tokio::process::Command::new("node")
        .arg(&script)
        .args([&server.url("/"), &key, "viewers"])
        .args([&shot1, &shot2])
        .env("CHROMIUM", &chromium)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), out)
        .await
        .expect("the browser finished within 2 minutes")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the browser run failed:\n{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no report ({e}):\n{}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });

    assert_eq!(
        report["errors"],
        serde_json::json!([]),
        "the page logged errors"
    );
    let first = &report["first"];
    assert_eq!(first["lines"], 9);
    assert_eq!(first["stops"], 51);
    assert_eq!(first["busMarkers"], 24);
    assert!(
        first["status"].as_str().unwrap().starts_with("live"),
        "{first}"
    );
    let counts = first["counts"].as_array().unwrap();
    assert_eq!(counts.len(), 51);
    assert!(
        counts
            .iter()
            .all(|c| c.as_str().unwrap().parse::<u32>().is_ok()),
        "every stop shows its waiting count: {counts:?}"
    );
    // Three seconds at 60x are three simulated minutes: most buses have moved.
    let second = &report["second"];
    let moved = first["buses"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(id, at)| second["buses"][id.as_str()] != **at)
        .count();
    assert!(moved >= 12, "only {moved} of 24 buses moved");
    let popup = report["popup"].as_str().unwrap();
    assert!(
        popup.contains("Bus B001") && popup.contains("ppm"),
        "{popup}"
    );
    for shot in [shot1, shot2] {
        assert!(
            std::fs::metadata(&shot).unwrap().len() > 10_000,
            "{} is empty",
            shot.display()
        );
    }
    server.stop().await;
}
