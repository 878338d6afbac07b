//! The live map page in headless Chromium (Debian's, driven by playwright-core): with a key
//! in localStorage it draws the 9 lines fitted to the window, the 51 stops with their waiting
//! counts and the buses in service, a panel of every line (hiding one hides its buses), a
//! Madrid clock; the buses move between two screenshots, and a click on a bus shows its trip
//! and sensors at Madrid time.

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
    // One marker per place: the fixture's stops under several ids at one spot are one.
    let stops: Value = server
        .get("/stops", &key, "viewers")
        .await
        .json()
        .await
        .unwrap();
    let mut places: Vec<&str> = (stops.as_array().unwrap().iter())
        .map(|s| s["place_id"].as_str().unwrap())
        .collect();
    places.sort();
    places.dedup();
    assert!(places.len() < 51, "{} places", places.len());
    let first = &report["first"];
    assert_eq!(first["lines"], 9);
    assert_eq!(first["stops"], places.len());
    assert_eq!(first["buses"].as_object().unwrap().len(), 24);
    assert_eq!(
        first["busMarkers"], first["inService"],
        "every bus in service is drawn"
    );
    assert!(first["inService"].as_u64().unwrap() >= 18, "{first}");
    // The network fills the map: most of its width or of its height.
    let extent = &first["extent"];
    assert!(
        extent["width"].as_f64().unwrap() > 0.6 || extent["height"].as_f64().unwrap() > 0.6,
        "the network is drawn small: {extent}"
    );
    // The line panel lists every line with its headway (all day in this network).
    let panel = first["panel"].as_array().unwrap();
    assert_eq!(panel.len(), 9, "{panel:?}");
    assert!(
        panel.iter().all(|l| l.as_str().unwrap().contains("every")),
        "{panel:?}"
    );
    // Hiding L1 takes its path and its buses off the map, and only them.
    let hidden = &report["hidden"];
    let l1 = report["l1Buses"].as_array().unwrap().len() as u64;
    assert!(l1 >= 2);
    assert_eq!(hidden["l1Drawn"], 0, "{hidden}");
    assert_eq!(hidden["l1Line"], 0, "{hidden}");
    assert!(
        hidden["othersDrawn"].as_u64().unwrap() >= first["busMarkers"].as_u64().unwrap() - l1,
        "{hidden}"
    );
    let clock = first["clock"].as_str().unwrap();
    assert!(
        clock.starts_with("Madrid ") && clock.contains('×'),
        "{clock}"
    );
    assert!(
        first["status"].as_str().unwrap().starts_with("live"),
        "{first}"
    );
    let counts = first["counts"].as_array().unwrap();
    assert_eq!(counts.len(), places.len());
    // Labels only where they fit: none overlaps another, and most still show.
    assert_eq!(first["overlaps"], 0, "{first}");
    assert!(
        first["visibleLabels"].as_u64().unwrap() >= counts.len() as u64 / 2,
        "{first}"
    );
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
        popup.contains("Bus B001") && popup.contains("ppm") && popup.contains("trip"),
        "{popup}"
    );
    let madrid = report["madrid"].as_str().unwrap();
    assert!(
        popup.contains(madrid),
        "the popup shows Madrid time {madrid}: {popup}"
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
