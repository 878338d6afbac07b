//! The body of a `POST /mcp`, checked before rmcp sees it: a body that is not one JSON-RPC
//! 2.0 message gets 400 with the JSON-RPC error for it (-32700 parse error, -32600 invalid
//! request), where rmcp would answer 415 for all of them.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::fast::{self, Hosts};
use crate::query::Query;

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;

/// A JSON-RPC error answer with no id (the request's could not be read).
fn error(code: i64, message: String) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}});
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Why `body` is not one JSON-RPC 2.0 message, as a JSON-RPC error code and message.
pub fn problem(body: &[u8]) -> Option<(i64, String)> {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        // serde_json refuses nesting deeper than 128 and numbers out of range here.
        Err(e) => return Some((PARSE_ERROR, format!("Parse error: {e}"))),
    };
    let Value::Object(message) = value else {
        let what = if value.is_array() {
            "batches are not supported: send one JSON-RPC message per request"
        } else {
            "the body must be one JSON-RPC 2.0 message (an object)"
        };
        return Some((INVALID_REQUEST, format!("Invalid request: {what}")));
    };
    if message.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Some((
            INVALID_REQUEST,
            "Invalid request: \"jsonrpc\" must be \"2.0\"".into(),
        ));
    }
    let is_request = message.get("method").is_some_and(Value::is_string);
    let is_response = message.contains_key("result") || message.contains_key("error");
    if !is_request && !is_response {
        return Some((
            INVALID_REQUEST,
            "Invalid request: a message needs a string \"method\" (or is a response)".into(),
        ));
    }
    None
}

/// What `POST /mcp` needs before rmcp: the body limit, and for the fast path the query
/// layer and the hosts rmcp allows.
pub struct Gate {
    pub max_body: usize,
    pub query: Query,
    pub hosts: Hosts,
}

pub async fn check_body(gate: std::sync::Arc<Gate>, request: Request, next: Next) -> Response {
    let max_body = gate.max_body;
    let json_post = request.method() == Method::POST
        && request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
    if !json_post {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, max_body).await {
        Ok(b) => b,
        Err(_) => {
            return crate::web::ApiError::new(
                crate::web::ErrorKind::PayloadTooLarge,
                format!("The request body is larger than {max_body} bytes"),
            )
            .into_response();
        }
    };
    // A request the fast path can read is a well-formed JSON-RPC request: one parse.
    if let Some(plain) = fast::plain(&parts, &bytes, &gate.hosts) {
        metrics::counter!("madbus_mcp_requests_total", "path" => "fast").increment(1);
        return fast::answer(&gate.query, plain).await;
    }
    if let Some((code, message)) = problem(&bytes) {
        return error(code, message);
    }
    metrics::counter!("madbus_mcp_requests_total", "path" => "rmcp").increment(1);
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn any_body_is_checked_without_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = problem(&body);
        }

        #[test]
        fn json_shaped_bodies_are_checked_without_panic(body in "[\\[\\]{}\":,0-9a-z.eE+-]{0,200}") {
            let _ = problem(body.as_bytes());
        }
    }

    #[test]
    fn bad_bodies_are_named() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        for (body, code) in [
            ("nope", PARSE_ERROR),
            ("{\"x\": 1e400}", PARSE_ERROR),
            (deep.as_str(), PARSE_ERROR),
            (
                "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]",
                INVALID_REQUEST,
            ),
            ("42", INVALID_REQUEST),
            (
                "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}",
                INVALID_REQUEST,
            ),
            ("{\"jsonrpc\":\"2.0\",\"id\":1}", INVALID_REQUEST),
        ] {
            assert_eq!(problem(body.as_bytes()).map(|p| p.0), Some(code), "{body}");
        }
        assert_eq!(
            problem(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"),
            None
        );
    }
}
