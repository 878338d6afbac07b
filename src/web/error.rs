//! One error type for every HTTP answer that is not a success. Handlers return
//! [`ApiError`]; [`RenderErrors`] writes the body `{"error", "message", "request_id"}` for
//! every error response, including those made by axum and tower layers (405, 413, 408), so
//! clients always see the same schema. Internal errors are logged, never shown.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::around::Around;
use crate::query::QueryError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    NotAcceptable,
    RequestTimeout,
    PayloadTooLarge,
    UnsupportedMediaType,
    TooManyRequests,
    InternalServerError,
    ServiceUnavailable,
}

impl ErrorKind {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::InternalServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "BadRequest",
            ErrorKind::Unauthorized => "Unauthorized",
            ErrorKind::Forbidden => "Forbidden",
            ErrorKind::NotFound => "NotFound",
            ErrorKind::MethodNotAllowed => "MethodNotAllowed",
            ErrorKind::NotAcceptable => "NotAcceptable",
            ErrorKind::UnsupportedMediaType => "UnsupportedMediaType",
            ErrorKind::RequestTimeout => "RequestTimeout",
            ErrorKind::PayloadTooLarge => "PayloadTooLarge",
            ErrorKind::TooManyRequests => "TooManyRequests",
            ErrorKind::InternalServerError => "InternalServerError",
            ErrorKind::ServiceUnavailable => "ServiceUnavailable",
        }
    }

    /// The kind for a status made outside our handlers, and a message for it.
    fn for_status(status: StatusCode) -> (Self, &'static str) {
        match status {
            StatusCode::UNAUTHORIZED => (ErrorKind::Unauthorized, "Unauthorized"),
            StatusCode::FORBIDDEN => (ErrorKind::Forbidden, "Forbidden"),
            StatusCode::NOT_FOUND => (ErrorKind::NotFound, "Not found"),
            StatusCode::METHOD_NOT_ALLOWED => (
                ErrorKind::MethodNotAllowed,
                "Method not allowed on this route",
            ),
            StatusCode::NOT_ACCEPTABLE => (
                ErrorKind::NotAcceptable,
                "Not acceptable: send Accept: application/json, text/event-stream",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                ErrorKind::UnsupportedMediaType,
                "Unsupported media type: send Content-Type: application/json",
            ),
            StatusCode::REQUEST_TIMEOUT => (ErrorKind::RequestTimeout, "The request took too long"),
            StatusCode::PAYLOAD_TOO_LARGE => {
                (ErrorKind::PayloadTooLarge, "The request body is too large")
            }
            StatusCode::TOO_MANY_REQUESTS => (ErrorKind::TooManyRequests, "Too many requests"),
            StatusCode::SERVICE_UNAVAILABLE => {
                (ErrorKind::ServiceUnavailable, "Service unavailable")
            }
            s if s.is_server_error() => (ErrorKind::InternalServerError, "Internal server error"),
            _ => (ErrorKind::BadRequest, "Bad request"),
        }
    }
}

/// An error answer: its kind and the message shown to the client.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    /// Fields a route's clients expect beside the common ones (e.g. `"success": false`).
    pub extra: Vec<(&'static str, serde_json::Value)>,
    /// Seconds after which a retry may succeed (`Retry-After`).
    pub retry_after: Option<u64>,
}

/// When a client should ask again while the history is being made.
pub const NOT_READY_RETRY_S: u64 = 5;

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            extra: Vec::new(),
            retry_after: None,
        }
    }
    /// Says when a retry may succeed (`Retry-After`, in seconds).
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
    /// 503 with `Retry-After`.
    pub fn unavailable(message: impl Into<String>, retry_after_s: u64) -> Self {
        Self::new(ErrorKind::ServiceUnavailable, message).retry_after(retry_after_s)
    }
    pub fn with_field(mut self, name: &'static str, value: serde_json::Value) -> Self {
        self.extra.push((name, value));
        self
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    /// Logs the cause; the client sees only that something failed.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(ErrorKind::InternalServerError, "Internal server error")
    }
}

/// What a client is told when the store does not answer (the cause is logged).
pub const STORE_AWAY: &str = "The store is not answering; try again shortly";

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::BadRequest(m) => ApiError::bad_request(m),
            QueryError::NotFound(m) => ApiError::not_found(m),
            QueryError::NotReady(m) => ApiError::unavailable(m, NOT_READY_RETRY_S),
            QueryError::Store(e @ crate::store::StoreError::Backend(_)) => {
                tracing::error!(error = %e, "the store did not answer");
                ApiError::unavailable(STORE_AWAY, NOT_READY_RETRY_S)
            }
            QueryError::Store(e) => ApiError::internal(e),
            QueryError::Internal(e) => ApiError::internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The body is written by `RenderErrors`, which knows the request id.
        let mut response = self.kind.status().into_response();
        if let Some(s) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        response.extensions_mut().insert(self);
        response
    }
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Gives every error response the one schema, with the request's id.
#[derive(Clone)]
pub struct RenderErrors;

impl Around for RenderErrors {
    /// The request's id header, kept by reference count: most answers are not errors.
    type Kept = Option<HeaderValue>;

    fn before(&self, request: &mut Request) -> Result<Self::Kept, Response> {
        Ok(request.headers().get("x-request-id").cloned())
    }

    fn after(id: Self::Kept, response: Response) -> Response {
        render_error(
            id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or(""),
            response,
        )
    }
}

fn render_error(id: &str, response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let error = match response.extensions().get::<ApiError>() {
        Some(e) => e.clone(),
        // A handler's own JSON answer (the health report, a JSON-RPC error) is kept.
        None if is_json(&response) => return response,
        None => {
            let (kind, message) = ErrorKind::for_status(status);
            ApiError::new(kind, message)
        }
    };
    let (mut parts, _) = response.into_parts();
    let mut body = json!({"error": error.kind.name(), "message": error.message, "request_id": id});
    for (name, value) in &error.extra {
        body[*name] = value.clone();
    }
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // The body is new: neither the old length nor a compression layer's encoding holds.
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_ENCODING);
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        // The body was left unread, so the connection cannot carry another request: say so,
        // or a client may send its next request on a socket about to close.
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    parts.extensions.insert(error);
    Response::from_parts(parts, Body::from(body.to_string()))
}
