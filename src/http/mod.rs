//! The HTTP surface: one router per resource, merged, behind the error renderer. The
//! gateway (keys, CORS, throttling, access log) wraps it in `crate::gateway`.

mod assets;
mod export;
mod gtfs;
mod health;
mod network;
pub mod openapi;
mod series;

use axum::Router;
use axum::http::{Method, Uri};

pub use assets::MapConfig;
pub use series::series_answer;

use crate::web::{ApiError, AppState};

/// `/health` and `/livez`: all a process that only simulates serves in public.
pub fn health_routes() -> Router<AppState> {
    health::router()
}

/// Routes anyone may call.
pub fn public_routes(map: MapConfig) -> Router<AppState> {
    health::router()
        .merge(openapi::router())
        .merge(gtfs::public_router())
        .merge(assets::router(map))
}

/// REST routes that need an API key (the app merges the WebSocket, MCP and metrics routes
/// beside them).
pub fn protected_routes() -> Router<AppState> {
    Router::new()
        .merge(series::router())
        .merge(network::router())
        .merge(gtfs::router())
        .merge(export::router())
}

/// The answer for a path no route matches.
pub async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("No route {method} {}", uri.path()))
}
