//! `GET /health`: public; 200 when every component works, 503 naming the one that does not,
//! or 503 `starting` until the simulator is live. Whatever the role, it reports the store,
//! the simulator (its own, or as the feed last told it) and the feed (connected; in a
//! process that serves, the age of the newest message, stale past [`STALE_AFTER`]).
//! `GET /livez`: 200 while the process is up.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::feed::Phase;
use crate::live::STALE_AFTER;
use crate::web::AppState;

/// The simulator counts as stalled when it has made no progress for this long.
const STALL_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/livez", get(livez))
}

/// For container runtimes and orchestrators: the process answers.
async fn livez() -> Json<Value> {
    Json(json!({"status": "alive"}))
}

async fn health(State(state): State<AppState>) -> Response {
    let status = state.live.status();
    let last_progress = status.last_progress;
    let status = status.sim;
    let store = match (state.store.ping().await, &status.store_error) {
        (Err(e), _) => json!({"status": "unhealthy", "error": e.to_string()}),
        (Ok(()), Some(e)) => json!({"status": "unhealthy", "error": e}),
        (Ok(()), None) => json!({"status": "ok"}),
    };
    let sim_time = status.sim_time.map(|t| t.to_rfc3339());
    // This process's own simulator waits for another's lease, and no simulator has spoken
    // on the feed: say so (a process that serves stays 503 until the data flows).
    let local_standby = (state.simulator.as_ref()).is_some_and(|s| s.phase() == Phase::Standby);
    let phase = match status.phase {
        Phase::Starting if local_standby => Phase::Standby,
        phase => phase,
    };
    let serves = state.live.follows_feed();
    let simulator = match phase {
        Phase::Starting => json!({"status": "ok", "phase": "starting", "progress": 0.0}),
        Phase::Standby => json!({"status": "ok", "phase": "standby"}),
        Phase::Backfilling { done } => json!({
            "status": "ok", "phase": "backfilling",
            "progress": (done * 1000.0).round() / 1000.0, "sim_time": sim_time
        }),
        Phase::Live if last_progress.elapsed() > STALL_AFTER => json!({
            "status": "unhealthy", "phase": "live", "sim_time": sim_time,
            "error": format!("no progress for {} s", last_progress.elapsed().as_secs())
        }),
        Phase::Live => json!({"status": "ok", "phase": "live", "sim_time": sim_time}),
        Phase::Stopped => json!({"status": "unhealthy", "phase": "stopped", "sim_time": sim_time}),
    };
    let feed = feed(&state);
    let healthy = [&store, &simulator, &feed]
        .iter()
        .all(|c| c["status"] == "ok");
    let starting = match phase {
        Phase::Starting | Phase::Backfilling { .. } => true,
        Phase::Standby => serves,
        Phase::Live | Phase::Stopped => false,
    };
    let word = match (healthy, starting) {
        (false, _) => "unhealthy",
        (true, true) => "starting",
        (true, false) => "healthy",
    };
    let mut body = json!({
        "status": word,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": state.started.elapsed().as_secs(),
        "components": {"store": store, "simulator": simulator, "feed": feed},
    });
    if starting {
        body["phase"] = simulator["phase"].clone();
        body["progress"] = simulator.get("progress").cloned().unwrap_or(json!(0.0));
    }
    let code = if word == "healthy" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut response = (code, Json(body)).into_response();
    if starting {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(crate::web::NOT_READY_RETRY_S),
        );
    }
    response
}

fn feed(state: &AppState) -> Value {
    let transport = state.feed.state();
    let mut feed =
        json!({"status": "ok", "kind": transport.kind, "connected": transport.connected});
    if !transport.connected {
        feed["status"] = json!("unhealthy");
        feed["error"] = json!("not connected; reconnecting");
    }
    if state.live.follows_feed() {
        let seen = state.live.feed_seen();
        let age = seen.last_message.map(|t| t.elapsed());
        feed["last_message_age_s"] = json!(age.map(|a| (a.as_secs_f64() * 10.0).round() / 10.0));
        if seen.interrupted {
            feed["status"] = json!("unhealthy");
            feed["error"] = json!("interrupted; reconnecting");
        } else if age.is_some_and(|a| a > STALE_AFTER) {
            feed["status"] = json!("unhealthy");
            feed["error"] = json!(format!(
                "stale: nothing from the simulator for over {} s",
                STALE_AFTER.as_secs()
            ));
        }
    }
    feed
}
