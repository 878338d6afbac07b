//! What every outward web interface (REST, the WebSocket feed, MCP over HTTP) and the
//! gateway in front of them share: the state handlers reach and the one error type. It sits
//! below them all, so none of them imports another.

mod error;

use std::sync::Arc;
use std::time::Instant;

pub use error::{ApiError, ErrorKind, NOT_READY_RETRY_S, STORE_AWAY, render_errors, request_id};

use crate::feed::Feed;
use crate::live::LiveState;
use crate::network::Network;
use crate::query::Query;
use crate::store::Store;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub network: Arc<Network>,
    pub store: Arc<dyn Store>,
    pub live: Arc<LiveState>,
    /// This process's own simulator's status (when its role simulates).
    pub simulator: Option<Arc<crate::feed::StatusCell>>,
    pub feed: Arc<dyn Feed>,
    pub query: Query,
    pub started: Instant,
    /// Cancelled when the server stops: long-lived connections (WebSocket, MCP streams) end.
    pub closing: tokio_util::sync::CancellationToken,
}
