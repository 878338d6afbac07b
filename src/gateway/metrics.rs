//! Prometheus metrics: one recorder for the process, rendered at `GET /metrics`. Each part
//! describes its own metrics (the runner, the feed, the WebSocket interface); the gateway's
//! are described here.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets in seconds: sub-millisecond API answers up to slow store writes.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Installs the process-wide recorder once and returns its handle.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("seconds".into()), &BUCKETS)
            .expect("buckets are not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first; ours then stays unused.
        let _ = metrics::set_global_recorder(recorder);
        describe();
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_histogram};
    describe_counter!(
        "madbus_http_requests_total",
        "HTTP requests by route and status"
    );
    describe_histogram!(
        "madbus_http_request_duration_seconds",
        "HTTP request latency by route"
    );
    describe_counter!(
        "madbus_auth_failures_total",
        "Refused authentications by reason"
    );
    describe_counter!(
        "madbus_throttled_requests_total",
        "Requests refused with 429, by scope"
    );
}

/// `GET /metrics`.
pub async fn render() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle().render(),
    )
}
