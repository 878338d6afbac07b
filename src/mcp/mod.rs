//! MCP (SPEC §4): Streamable HTTP at `/mcp` (rmcp, stateless: the 2026-07-28 revision and
//! the older `initialize` handshakes), the checklist's plain HTTP contract
//! (`/mcp/list-tools`, `/mcp/call-tool`), and stdio (`madbus mcp`). All of them serve the
//! one catalogue of [`tools`] over the query layer; the gateway's auth, CORS, throttling and
//! access log run in front of every HTTP route.

mod contract;
mod fast;
mod jsonrpc;
pub mod remote;
pub mod server;
pub mod tools;

use std::sync::Arc;

use axum::Router;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

pub use server::McpServer;

use crate::query::Query;
use crate::web::AppState;

/// The `Host` values `/mcp` answers by default: loopback only, against DNS rebinding. A
/// server behind a proxy or in a container lists its public names (`--allowed-hosts`).
pub const DEFAULT_ALLOWED_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

#[derive(Debug, Clone)]
pub struct McpHttpConfig {
    /// Host names (or `host:port`) accepted on `/mcp`; `*` accepts any.
    pub allowed_hosts: Vec<String>,
    /// Browser origins accepted on `/mcp` (the CORS setting); `*` accepts any.
    pub allowed_origins: Vec<String>,
    pub max_body_bytes: usize,
}

fn any(list: &[String]) -> bool {
    list.iter().any(|v| v.trim() == "*")
}

/// `/mcp` and the plain HTTP contract routes; `shutdown` ends open MCP streams.
pub fn router(
    query: Query,
    config: &McpHttpConfig,
    shutdown: CancellationToken,
) -> Router<AppState> {
    let mut http = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_max_request_body_bytes(config.max_body_bytes)
        .with_cancellation_token(shutdown);
    http = if any(&config.allowed_hosts) {
        http.disable_allowed_hosts()
    } else {
        http.with_allowed_hosts(config.allowed_hosts.iter().map(|h| h.trim().to_string()))
    };
    http = if any(&config.allowed_origins) {
        http.disable_allowed_origins()
    } else {
        http.with_allowed_origins(config.allowed_origins.iter().map(|o| o.trim().to_string()))
            .enforce_origin_validation()
    };
    let gate = Arc::new(jsonrpc::Gate {
        max_body: config.max_body_bytes,
        query: query.clone(),
        hosts: fast::Hosts::new(&config.allowed_hosts, any(&config.allowed_hosts)),
    });
    let rmcp = Arc::new(StreamableHttpService::new(
        move || Ok(McpServer::new(query.clone())),
        Arc::new(LocalSessionManager::default()),
        http,
    ));
    // The route clones its service for every request; rmcp's (and its configuration's
    // strings) is cloned only for the requests the fast path leaves to it.
    let service = tower::service_fn(move |request| {
        let rmcp = StreamableHttpService::clone(&rmcp);
        tower::ServiceExt::oneshot(rmcp, request)
    });
    let checked = tower::ServiceBuilder::new()
        .layer(axum::middleware::from_fn(move |req, next| {
            jsonrpc::check_body(Arc::clone(&gate), req, next)
        }))
        .service(service);
    contract::router().route_service("/mcp", checked)
}
