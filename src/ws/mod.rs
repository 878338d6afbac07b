//! `GET /ws`: the WebSocket live feed (SPEC §4). The gateway has already checked the key
//! (headers, or `api_key` / `group_name` query parameters for browsers) before the upgrade;
//! here the connection caps are enforced and each client gets a [`session`].

mod protocol;
mod session;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Extension;
use axum::Router;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::gateway::Principal;
use crate::web::{ApiError, AppState, ErrorKind};

pub use protocol::ServerMessage;

const READ_BUFFER: usize = 4 * 1024;
/// Events are written through this buffer; a step's events (about 8 KiB for the default
/// network) go out in one or two writes.
const WRITE_BUFFER: usize = 16 * 1024;
/// What may wait for one client that does not read: a second or so of every line's events.
/// Past it the client is dropped, so 10,000 stalled clients hold 2.5 GiB at most.
const MAX_WRITE_BUFFER: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub struct WsConfig {
    /// Open connections one key (of one group) may hold.
    pub max_per_key: usize,
    /// Open connections in all.
    pub max_connections: usize,
    /// Largest message a client may send, in bytes.
    pub max_message_bytes: usize,
    /// A ping is sent this often; a client silent for three of them is dropped.
    pub heartbeat: Duration,
    /// A client that cannot take a write for this long is dropped.
    pub send_timeout: Duration,
    /// Browser origins allowed to open a connection (the CORS list; `*` for any).
    pub allowed_origins: Vec<String>,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            max_per_key: 100,
            max_connections: 10_000,
            max_message_bytes: 16 * 1024,
            heartbeat: Duration::from_secs(20),
            send_timeout: Duration::from_secs(10),
            allowed_origins: vec!["*".into()],
        }
    }
}

/// The connection caps and who holds what.
pub struct Connections {
    config: WsConfig,
    open: Mutex<HashMap<(String, String), usize>>,
}

/// One open connection, released when dropped.
pub struct Slot {
    connections: Arc<Connections>,
    holder: (String, String),
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .connections
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.holder) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.holder);
            }
        }
        let total: usize = open.values().sum();
        metrics::gauge!("madbus_websocket_clients").set(total as f64);
    }
}

impl Connections {
    pub fn new(config: WsConfig) -> Arc<Self> {
        Arc::new(Self {
            config,
            open: Mutex::default(),
        })
    }

    pub fn config(&self) -> &WsConfig {
        &self.config
    }

    /// A slot for `who`, or why there is none.
    fn acquire(self: &Arc<Self>, who: &Principal) -> Result<Slot, String> {
        let holder = (who.key_id.to_string(), who.group.to_string());
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let total: usize = open.values().sum();
        if total >= self.config.max_connections {
            return Err(format!(
                "The server holds its maximum of {} WebSocket connections; retry later",
                self.config.max_connections
            ));
        }
        let mine = open.entry(holder.clone()).or_default();
        if *mine >= self.config.max_per_key {
            return Err(format!(
                "This key already holds its maximum of {} WebSocket connections",
                self.config.max_per_key
            ));
        }
        *mine += 1;
        metrics::gauge!("madbus_websocket_clients").set((total + 1) as f64);
        Ok(Slot {
            connections: Arc::clone(self),
            holder,
        })
    }
}

/// Describes the WebSocket interface's metrics (once a recorder is installed).
pub fn describe_metrics() {
    metrics::describe_gauge!("madbus_websocket_clients", "Connected WebSocket clients");
}

/// `GET /ws`, holding its connection caps.
pub fn router(config: WsConfig) -> Router<AppState> {
    let connections = Connections::new(config);
    Router::new()
        .route("/ws", get(upgrade))
        .layer(Extension(connections))
}

async fn upgrade(
    State(state): State<AppState>,
    Extension(connections): Extension<Arc<Connections>>,
    Extension(who): Extension<Principal>,
    headers: axum::http::HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let origin = headers.get(axum::http::header::ORIGIN);
    if !crate::gateway::origin_allowed(&connections.config().allowed_origins, origin) {
        let shown = origin.and_then(|o| o.to_str().ok()).unwrap_or("?");
        return ApiError::new(
            ErrorKind::Forbidden,
            format!("Origin {shown:?} is not allowed to open the live feed"),
        )
        .into_response();
    }
    let slot = match connections.acquire(&who) {
        Ok(slot) => slot,
        Err(message) => return ApiError::new(ErrorKind::TooManyRequests, message).into_response(),
    };
    let config = connections.config().clone();
    let max = config.max_message_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        // Clients send small actions; the default 128 KiB read buffer per connection is
        // most of the memory of thousands of clients.
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        // Bounds what is buffered for a client that does not read.
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .on_upgrade(move |socket| session::run(socket, state, config, slot))
}
