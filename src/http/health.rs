//! `GET /health`: public; 200 when every component works, 503 naming the one that does not.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;
use crate::runner::Phase;

/// The simulator counts as stalled when it has made no progress for this long.
const STALL_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let status = state.live.status();
    let store = match (state.store.ping().await, &status.store_error) {
        (Err(e), _) => json!({"status": "unhealthy", "error": e.to_string()}),
        (Ok(()), Some(e)) => json!({"status": "unhealthy", "error": e}),
        (Ok(()), None) => json!({"status": "ok"}),
    };
    let sim_time = status.sim_time.map(|t| t.to_rfc3339());
    let simulator = match status.phase {
        Phase::Starting => json!({"status": "ok", "phase": "starting"}),
        Phase::Backfilling { done } => json!({
            "status": "ok", "phase": "backfilling",
            "progress": (done * 1000.0).round() / 1000.0, "sim_time": sim_time
        }),
        Phase::Live if status.last_progress.elapsed() > STALL_AFTER => json!({
            "status": "unhealthy", "phase": "live", "sim_time": sim_time,
            "error": format!("no progress for {} s", status.last_progress.elapsed().as_secs())
        }),
        Phase::Live => json!({"status": "ok", "phase": "live", "sim_time": sim_time}),
        Phase::Stopped => json!({"status": "unhealthy", "phase": "stopped", "sim_time": sim_time}),
    };
    let feed = json!({"status": "ok", "kind": "in-process"});
    let healthy = [&store, &simulator, &feed]
        .iter()
        .all(|c| c["status"] == "ok");
    let body = json!({
        "status": if healthy { "healthy" } else { "unhealthy" },
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": state.started.elapsed().as_secs(),
        "components": {"store": store, "simulator": simulator, "feed": feed},
    });
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}
