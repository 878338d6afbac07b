//! The HTTP surface: one router per resource, merged, behind the error renderer. The
//! gateway (keys, CORS, throttling, access log) wraps it in `crate::gateway`.

mod assets;
mod error;
mod health;
mod network;
pub mod openapi;
mod series;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::http::{Method, Uri};

pub use assets::MapConfig;
pub use error::{ApiError, ErrorKind, NOT_READY_RETRY_S, render_errors, request_id};

use crate::network::Network;
use crate::query::Query;
use crate::runner::LiveState;
use crate::store::Store;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub network: Arc<Network>,
    pub store: Arc<dyn Store>,
    pub live: Arc<LiveState>,
    pub query: Query,
    pub started: Instant,
    /// WebSocket connection caps.
    pub ws: Arc<crate::ws::Connections>,
    /// The map page's optional tiles.
    pub map: Arc<MapConfig>,
    /// Cancelled when the server stops: long-lived connections (WebSocket, MCP streams) end.
    pub closing: tokio_util::sync::CancellationToken,
}

/// Routes anyone may call.
pub fn public_routes() -> Router<AppState> {
    health::router()
        .merge(openapi::router())
        .merge(assets::router())
}

/// Routes that need an API key.
pub fn protected_routes() -> Router<AppState> {
    Router::new()
        .merge(series::router())
        .merge(network::router())
        .merge(crate::ws::router())
        .route(
            "/metrics",
            axum::routing::get(crate::gateway::metrics::render),
        )
}

/// The answer for a path no route matches.
pub async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("No route {method} {}", uri.path()))
}
