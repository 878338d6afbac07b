//! The HTTP surface. One router per resource, merged into the app.

mod health;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;

use crate::network::Network;
use crate::runner::LiveState;
use crate::store::Store;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub network: Arc<Network>,
    pub store: Arc<dyn Store>,
    pub live: Arc<LiveState>,
    pub started: Instant,
}

pub fn router(state: AppState) -> Router {
    Router::new().merge(health::router()).with_state(state)
}
