//! CORS per SPEC §5, on tower-http's layer: configurable origins, the full preflight
//! (methods, the auth and MCP headers, max age), `Vary: Origin`, and 204 for preflights.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::web::around::Around;

const ALLOWED_HEADERS: [&str; 9] = [
    "x-api-key",
    "x-group-name",
    "content-type",
    "authorization",
    "mcp-session-id",
    "mcp-protocol-version",
    "mcp-method",
    "mcp-name",
    "last-event-id",
];
const EXPOSED_HEADERS: [&str; 6] = [
    "x-request-id",
    "retry-after",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "mcp-session-id",
];
/// How long browsers may cache a preflight answer.
const MAX_AGE: std::time::Duration = std::time::Duration::from_secs(86_400);

pub fn layer(origins: &[String]) -> Result<CorsLayer, String> {
    let allow_origin = if origins.iter().any(|o| o.trim() == "*") {
        AllowOrigin::any()
    } else {
        let list = origins
            .iter()
            .map(|o| {
                HeaderValue::from_str(o.trim())
                    .map_err(|_| format!("CORS origin {o:?} is not a valid header value"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if list.is_empty() {
            return Err("give at least one CORS origin, or *".into());
        }
        AllowOrigin::list(list)
    };
    let names = |list: &[&'static str]| {
        list.iter()
            .map(|h| HeaderName::from_static(h))
            .collect::<Vec<_>>()
    };
    Ok(CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers(names(&ALLOWED_HEADERS))
        .expose_headers(names(&EXPOSED_HEADERS))
        .max_age(MAX_AGE)
        .vary([
            header::ORIGIN,
            header::ACCESS_CONTROL_REQUEST_METHOD,
            header::ACCESS_CONTROL_REQUEST_HEADERS,
        ]))
}

/// tower-http answers every OPTIONS request itself with 200; a preflight answer has no
/// content, so say 204.
#[derive(Clone)]
pub struct PreflightNoContent;

impl Around for PreflightNoContent {
    /// Whether the request is a preflight.
    type Kept = bool;

    fn before(&self, request: &mut Request) -> Result<bool, Response> {
        Ok(request.method() == Method::OPTIONS)
    }

    fn after(preflight: bool, mut response: Response) -> Response {
        if preflight && response.status() == StatusCode::OK {
            *response.status_mut() = StatusCode::NO_CONTENT;
        }
        response
    }
}

/// Whether a request's `Origin` may use a route that checks it itself (the WebSocket
/// handshake, which CORS does not cover): no `Origin` (not a browser), `*`, or a listed one.
pub fn origin_allowed(origins: &[String], origin: Option<&HeaderValue>) -> bool {
    let Some(origin) = origin else { return true };
    origins.iter().any(|o| {
        let o = o.trim();
        o == "*" || origin.as_bytes() == o.as_bytes()
    })
}
