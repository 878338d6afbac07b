//! Schemathesis (PyPI) against the server's own `/openapi.json` with valid credentials: a
//! bounded number of generated requests per operation, every phase; no server error, and
//! every status, content type and body as the document says.

mod common;

use common::start_with_key;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs schemathesis (.venv, `bash .ci/run` makes it)"]
async fn the_openapi_document_holds_under_schemathesis() {
    let schemathesis =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/schemathesis");
    if !schemathesis.exists() {
        common::missing(&schemathesis.display().to_string());
    }
    // Schemathesis also sends requests without credentials on purpose: its failures must
    // not lock the address out of the rest of the run.
    let (server, key) = start_with_key("group1", "30m", |s| {
        s.gateway.auth_fail_burst = 1_000_000;
        s.gateway.auth_fail_rate = 1_000_000.0;
        s.gateway.throttle_burst = 1_000_000;
        s.gateway.throttle_rate = 1_000_000.0;
    })
    .await;
    let report = server.dir.path().join("schemathesis.json");
    let run = tokio::process::Command::new(&schemathesis)
        .arg("run")
        .arg(server.url("/openapi.json"))
        .args(["-H", &format!("x-api-key: {key}"), "-H", "x-group-name: group1"])
        .args(["--max-examples", "25", "--seed", "42", "--no-color"])
        .args(["--generation-database", "none", "--exclude-path", "/ws"])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--report", "json", "--report-json-path"])
        .arg(&report)
        .env("NO_COLOR", "1")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(600), run)
        .await
        .expect("schemathesis finished within 10 minutes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("passed"), "{stdout}");
    assert!(!stdout.contains("Rate limited"), "{stdout}");
    server.stop().await;
}
