//! One JSON access-log line per request (SPEC §5 fields) and the request metrics. The
//! request id is set here (a client's own id is kept when it is short and plain). Secrets
//! never reach the log: no header is logged, and credential query values are redacted.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use rand::RngExt;

use super::{AuthFailure, Principal};
use crate::time::Millis;
use crate::web::ApiError;

/// Query parameters whose values are never logged.
const SECRET_PARAMS: [&str; 5] = ["api_key", "apikey", "key", "token", "x-api-key"];

/// The matched route (e.g. `/bus-position/{bus_id}`), passed out to the access log.
#[derive(Debug, Clone)]
pub struct RouteKey(pub String);

/// Runs after routing: records which route matched.
pub async fn tag_route(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let mut response = next.run(request).await;
    if let Some(route) = route {
        response.extensions_mut().insert(RouteKey(route));
    }
    response
}

fn usable_client_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    ok.then(|| s.to_string())
}

fn new_id() -> String {
    crate::hex::encode(&rand::rng().random::<[u8; 8]>())
}

fn protocol(v: axum::http::Version) -> &'static str {
    use axum::http::Version;
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP",
    }
}

/// The path with credential values in its query replaced by `REDACTED`. Names are compared
/// once decoded (`api%5Fkey` is `api_key`), so no spelling slips through.
pub fn redacted_path(uri: &axum::http::Uri) -> String {
    let Some(query) = uri.query() else {
        return uri.path().to_string();
    };
    let parts: Vec<String> = query
        .split('&')
        .map(|pair| {
            let raw_name = pair.split_once('=').map_or(pair, |(k, _)| k);
            let name = form_urlencoded::parse(raw_name.as_bytes())
                .next()
                .map(|(k, _)| k.into_owned())
                .unwrap_or_default();
            if SECRET_PARAMS.iter().any(|s| name.eq_ignore_ascii_case(s)) {
                format!("{raw_name}=REDACTED")
            } else {
                pair.to_string()
            }
        })
        .collect();
    format!("{}?{}", uri.path(), parts.join("&"))
}

/// The method as a metric label: one of the standard methods, else `other`, so no request
/// can add a series.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    const KNOWN: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::PATCH, "PATCH"),
        (Method::HEAD, "HEAD"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::CONNECT, "CONNECT"),
        (Method::TRACE, "TRACE"),
    ];
    KNOWN
        .iter()
        .find(|(m, _)| m == method)
        .map_or("other", |(_, label)| label)
}

pub async fn access_log(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_time = Millis::now();
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(usable_client_id)
        .unwrap_or_else(new_id);
    let id_value = HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("-"));
    request
        .headers_mut()
        .insert("x-request-id", id_value.clone());
    let method = request.method().clone();
    let path = redacted_path(request.uri());
    let protocol = protocol(request.version());
    let claimed_group = request
        .headers()
        .get("x-group-name")
        .and_then(|v| v.to_str().ok())
        .filter(|g| crate::network::id::check_id(g).is_ok())
        .map(str::to_string);
    let ip = super::auth::client_ip(&request)
        .map(|ip| ip.to_string())
        .unwrap_or_default();

    let mut response = next.run(request).await;
    response.headers_mut().insert("x-request-id", id_value);

    let latency = started.elapsed();
    let status = response.status().as_u16();
    let ext = response.extensions();
    let route = ext
        .get::<RouteKey>()
        .map_or("$default".to_string(), |r| r.0.clone());
    let group = ext
        .get::<Principal>()
        .map(|p| p.group.clone())
        .or(claimed_group);
    let error = ext.get::<ApiError>().map(|e| e.message.clone());
    let authorizer = ext.get::<AuthFailure>().map(|f| f.0);
    let length = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .or_else(|| axum::body::HttpBody::size_hint(response.body()).exact());
    // Routes are the router's templates (or `$default`), methods a fixed set: bounded.
    let route_key = format!("{} {route}", method_label(&method));

    metrics::counter!("madbus_http_requests_total", "route" => route_key.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!("madbus_http_request_duration_seconds", "route" => route_key.clone())
        .record(latency.as_secs_f64());

    tracing::info!(
        target: "madbus::access",
        requestId = %id,
        ip = %ip,
        requestTime = %request_time,
        httpMethod = %method,
        routeKey = %route_key,
        path = %path,
        status,
        protocol = %protocol,
        responseLength = length,
        latencyMs = (latency.as_secs_f64() * 100_000.0).round() / 100.0,
        groupName = group.as_deref(),
        errorMessage = error.as_deref(),
        authorizerError = authorizer,
        "request"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted() {
        let uri: axum::http::Uri = "/ws?api_key=mbk_1_secret&group_name=g&API_KEY=x&mode=latest"
            .parse()
            .unwrap();
        assert_eq!(
            redacted_path(&uri),
            "/ws?api_key=REDACTED&group_name=g&API_KEY=REDACTED&mode=latest"
        );
        let uri: axum::http::Uri =
            "/lines?api%5Fkey=s1&api%5fKey=s2&a%70i_key=s3&api_key=s4&api+key=x"
                .parse()
                .unwrap();
        let shown = redacted_path(&uri);
        assert!(
            !shown.contains("s1")
                && !shown.contains("s2")
                && !shown.contains("s3")
                && !shown.contains("s4"),
            "{shown}"
        );
        assert!(shown.ends_with("api+key=x"), "{shown}");
    }
}
