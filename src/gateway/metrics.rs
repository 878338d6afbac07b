//! Prometheus metrics: one recorder for the process, rendered at `GET /metrics`. Each part
//! describes its own metrics (the runner, the feed, the WebSocket interface); the gateway's
//! are described here.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
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
        "madbus_http_fast_lane_answers_total",
        "Requests answered by the fast lane, without the router (also in the route's counts)"
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

/// One route's request metrics, registered once per thread: a registry lookup hashes
/// every label and allocates on each request.
struct RouteMetrics {
    /// The `route` label: the method and the router's template, e.g. `GET /lines`.
    key: Rc<str>,
    duration: metrics::Histogram,
    by_status: Vec<(u16, metrics::Counter)>,
}

impl RouteMetrics {
    fn new(method: &'static str, route: &str) -> Self {
        let key: Rc<str> = format!("{method} {route}").into();
        let duration = metrics::histogram!(
            "madbus_http_request_duration_seconds", "route" => key.to_string()
        );
        Self {
            key,
            duration,
            by_status: Vec::new(),
        }
    }

    /// The request counter for `status`, registered on first use.
    fn requests(&mut self, status: u16) -> &metrics::Counter {
        let i = match self.by_status.iter().position(|(s, _)| *s == status) {
            Some(i) => i,
            None => {
                let counter = metrics::counter!(
                    "madbus_http_requests_total",
                    "route" => self.key.to_string(),
                    "status" => status.to_string()
                );
                self.by_status.push((status, counter));
                self.by_status.len() - 1
            }
        };
        &self.by_status[i].1
    }
}

/// A thread's route metrics. Methods and route templates come from fixed sets, so this
/// stays small.
#[derive(Default)]
struct RouteTable {
    /// By method, then route template: where the route's metrics are.
    index: HashMap<&'static str, HashMap<Box<str>, usize>>,
    routes: Vec<RouteMetrics>,
}

impl RouteTable {
    /// The metrics of `method route`, registered on first use (one lookup otherwise).
    fn get(&mut self, method: &'static str, route: &str) -> &mut RouteMetrics {
        let known = self.index.get(method).and_then(|r| r.get(route)).copied();
        let i = known.unwrap_or_else(|| {
            self.routes.push(RouteMetrics::new(method, route));
            let i = self.routes.len() - 1;
            self.index
                .entry(method)
                .or_default()
                .insert(route.into(), i);
            i
        });
        &mut self.routes[i]
    }
}

thread_local! {
    static ROUTES: RefCell<RouteTable> = RefCell::default();
}

/// Counts one request and records its latency; returns the route's label (`GET /lines`).
pub fn record_request(
    method: &'static str,
    route: &str,
    status: u16,
    latency: std::time::Duration,
) -> Rc<str> {
    ROUTES.with_borrow_mut(|table| {
        let stats = table.get(method, route);
        stats.duration.record(latency.as_secs_f64());
        stats.requests(status).increment(1);
        Rc::clone(&stats.key)
    })
}

/// Counts a request the fast lane answered (beside its route's metrics).
pub fn count_fast_lane_answer() {
    thread_local! {
        static ANSWERS: metrics::Counter = metrics::counter!("madbus_http_fast_lane_answers_total");
    }
    ANSWERS.with(|answers| answers.increment(1));
}

/// `GET /metrics`.
pub async fn render() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle().render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_handles_count_every_request() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let latency = std::time::Duration::from_millis(2);
        metrics::with_local_recorder(&recorder, || {
            for status in [200, 200, 404] {
                let key = record_request("GET", "/cache-test", status, latency);
                assert_eq!(&*key, "GET /cache-test");
            }
            record_request("POST", "/cache-test", 200, latency);
        });
        let text = handle.render();
        for series in [
            r#"madbus_http_requests_total{route="GET /cache-test",status="200"} 2"#,
            r#"madbus_http_requests_total{route="GET /cache-test",status="404"} 1"#,
            r#"madbus_http_requests_total{route="POST /cache-test",status="200"} 1"#,
            r#"madbus_http_request_duration_seconds_count{route="GET /cache-test"} 3"#,
        ] {
            assert!(text.contains(series), "{series} in {text}");
        }
    }
}
