//! What every outward web interface (REST, the WebSocket feed, MCP over HTTP) and the
//! gateway in front of them share: the state handlers reach and the one error type. It sits
//! below them all, so none of them imports another.

pub mod around;
mod error;

use std::sync::Arc;
use std::time::Instant;

pub use error::{ApiError, ErrorKind, NOT_READY_RETRY_S, RenderErrors, STORE_AWAY};

use crate::feed::Feed;
use crate::live::LiveState;
use crate::network::Network;
use crate::query::Query;
use crate::store::Store;

/// What every handler can reach. Cloned for every layer that takes state on every request,
/// so it is one reference count: cloning the parts (a dozen counts, and the cancellation
/// token's lock) showed at the top of a request's profile once connections ran on every
/// core at once (BENCHMARKS.md).
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl From<AppParts> for AppState {
    fn from(parts: AppParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct AppParts {
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
