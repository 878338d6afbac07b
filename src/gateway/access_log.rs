//! One JSON access-log line per request (SPEC §5 fields) and the request metrics. The
//! request id is set here (a client's own id is kept when it is short and plain). Secrets
//! never reach the log: no header is logged, and credential query values are redacted.

use std::borrow::Cow;
use std::cell::RefCell;
use std::io::Write as _;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method, header};
use axum::response::Response;
use rand::RngExt;
use tracing_appender::non_blocking::NonBlocking;
use tracing_subscriber::fmt::MakeWriter;

use super::{AuthFailure, Principal};
use crate::time::Millis;
use crate::web::ApiError;
use crate::web::around::Around;

/// Query parameters whose values are never logged.
const SECRET_PARAMS: [&str; 5] = ["api_key", "apikey", "key", "token", "x-api-key"];

/// Runs after routing: passes out which route matched, for the access log and metrics.
#[derive(Clone)]
pub struct TagRoute;

impl Around for TagRoute {
    type Kept = Option<MatchedPath>;

    fn before(&self, request: &mut Request) -> Result<Self::Kept, Response> {
        Ok(request.extensions().get::<MatchedPath>().cloned())
    }

    fn after(route: Self::Kept, mut response: Response) -> Response {
        if let Some(route) = route {
            response.extensions_mut().insert(route);
        }
        response
    }
}

/// Whether a client's `x-request-id` is kept as the request's id.
pub(super) fn usable_client_id(s: &[u8]) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
}

/// A new request id: 16 hex digits.
pub(super) fn new_id() -> String {
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

/// Whether a query parameter's name (as sent) names a credential. Names are compared once
/// decoded (`api%5Fkey` is `api_key`), so no spelling slips through.
fn is_secret(raw_name: &str) -> bool {
    form_urlencoded::parse(raw_name.as_bytes())
        .next()
        .is_some_and(|(name, _)| SECRET_PARAMS.iter().any(|s| name.eq_ignore_ascii_case(s)))
}

/// A query parameter's name as sent (`name=value` or a bare `name`).
fn param_name(pair: &str) -> &str {
    pair.split_once('=').map_or(pair, |(k, _)| k)
}

/// The path with credential values in its query replaced by `REDACTED`.
pub fn redacted_path(uri: &axum::http::Uri) -> Cow<'_, str> {
    redacted(uri.path_and_query().map_or("/", |p| p.as_str()))
}

/// A request target (path and query) with credential values in its query replaced.
pub(super) fn redacted(whole: &str) -> Cow<'_, str> {
    let Some((path, query)) = whole.split_once('?') else {
        return Cow::Borrowed(whole);
    };
    if !query.split('&').any(|pair| is_secret(param_name(pair))) {
        return Cow::Borrowed(whole);
    }
    let parts: Vec<String> = query
        .split('&')
        .map(|pair| {
            let raw_name = param_name(pair);
            if is_secret(raw_name) {
                format!("{raw_name}=REDACTED")
            } else {
                pair.to_string()
            }
        })
        .collect();
    Cow::Owned(format!("{path}?{}", parts.join("&")))
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

/// The access log's tracing target: `RUST_LOG` filters the lines by it.
const TARGET: &str = "madbus::access";

/// Where JSON access-log lines go when the process logs JSON: straight to the log writer,
/// without tracing's per-field formatting (a fifth of a cheap request's time). Unset, lines
/// go through `tracing` (readable lines on a terminal, and tests).
static JSON_LINES: OnceLock<NonBlocking> = OnceLock::new();

/// Sends JSON access-log lines to `out` (the writer of the process's JSON log lines).
pub fn write_json_access_lines_to(out: NonBlocking) {
    let _ = JSON_LINES.set(out);
}

/// A batching thread hands its lines over once this many bytes are waiting, if it has not
/// gone idle first.
const BATCH_BYTES: usize = 16 * 1024;

/// This thread's JSON lines not yet handed to the log writer.
#[derive(Default)]
struct ThreadLines {
    buffer: Vec<u8>,
    /// Kept until the thread goes idle or the batch is full, rather than handed over one by
    /// one: each hand-over may wake the writer thread and costs it a `write`.
    batched: bool,
}

impl ThreadLines {
    fn write_out(&mut self) {
        if let Some(out) = JSON_LINES.get()
            && !self.buffer.is_empty()
        {
            // The writer queues whole lines and never drops them (see `init_logging`).
            let _ = out.make_writer().write_all(&self.buffer);
            self.buffer.clear();
        }
    }
}

impl Drop for ThreadLines {
    fn drop(&mut self) {
        self.write_out();
    }
}

thread_local! {
    static LINES: RefCell<ThreadLines> = RefCell::default();
}

/// Makes this thread batch its access-log lines; it must call [`write_out_lines`] whenever
/// it goes idle (the connection threads do, from their runtime's park hook).
pub fn batch_lines() {
    LINES.with_borrow_mut(|lines| lines.batched = true);
}

/// Hands this thread's waiting access-log lines to the log writer.
pub fn write_out_lines() {
    // Not during the thread's teardown (the lines' own drop writes them then).
    let _ = LINES.try_with(|lines| lines.borrow_mut().write_out());
}

/// One request's access-log line (SPEC §5), borrowed from the request and its response.
struct Line<'a> {
    request_id: &'a str,
    ip: Option<IpAddr>,
    request_time: Millis,
    method: &'a Method,
    route_key: &'a str,
    path: &'a str,
    status: u16,
    protocol: &'static str,
    response_length: Option<u64>,
    latency_ms: f64,
    group: Option<&'a str>,
    error: Option<&'a str>,
    authorizer: Option<&'static str>,
}

impl Line<'_> {
    fn emit(&self) {
        if !tracing::enabled!(target: TARGET, tracing::Level::INFO) {
            return;
        }
        if JSON_LINES.get().is_none() {
            return self.trace();
        }
        LINES.with_borrow_mut(|lines| {
            self.write_json(jiff::Timestamp::now(), &mut lines.buffer);
            if !lines.batched || lines.buffer.len() >= BATCH_BYTES {
                lines.write_out();
            }
        });
    }

    /// The same line as an event, for tracing's own formatting.
    fn trace(&self) {
        tracing::info!(
            target: TARGET,
            requestId = self.request_id,
            ip = %DisplayIp(self.ip),
            requestTime = %self.request_time,
            httpMethod = self.method.as_str(),
            routeKey = self.route_key,
            path = self.path,
            status = self.status,
            protocol = self.protocol,
            responseLength = self.response_length,
            latencyMs = self.latency_ms,
            groupName = self.group,
            errorMessage = self.error,
            authorizerError = self.authorizer,
            "request"
        );
    }

    /// The line as tracing-subscriber's flattened JSON writes it (same members, same order),
    /// so the fast path changes nothing a log reader sees.
    fn write_json(&self, now: jiff::Timestamp, out: &mut Vec<u8>) {
        // Written piece by piece rather than with `write!`: the formatting machinery was
        // half of this function's time. Numbers and strings go through serde_json.
        let name = |out: &mut Vec<u8>, name: &str| {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
        };
        let string = |out: &mut Vec<u8>, field: &str, value: &str| {
            name(out, field);
            // Writing a string into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, value);
        };
        out.extend_from_slice(br#"{"timestamp":""#);
        crate::time::Micros(now).write_to(out);
        out.extend_from_slice(br#"","level":"INFO","message":"request""#);
        string(out, "requestId", self.request_id);
        name(out, "ip");
        write_ip(self.ip, out);
        name(out, "requestTime");
        out.push(b'"');
        self.request_time.write_to(out);
        out.push(b'"');
        string(out, "httpMethod", self.method.as_str());
        string(out, "routeKey", self.route_key);
        string(out, "path", self.path);
        name(out, "status");
        let _ = serde_json::to_writer(&mut *out, &self.status);
        string(out, "protocol", self.protocol);
        if let Some(length) = self.response_length {
            name(out, "responseLength");
            let _ = serde_json::to_writer(&mut *out, &length);
        }
        name(out, "latencyMs");
        let _ = serde_json::to_writer(&mut *out, &self.latency_ms);
        for (field, value) in [
            ("groupName", self.group),
            ("errorMessage", self.error),
            ("authorizerError", self.authorizer),
        ] {
            if let Some(value) = value {
                string(out, field, value);
            }
        }
        string(out, "target", TARGET);
        out.extend_from_slice(b"}\n");
    }
}

/// [`DisplayIp`]'s text, quoted; an IPv4 address (the usual case) without the formatter.
fn write_ip(ip: Option<IpAddr>, out: &mut Vec<u8>) {
    out.push(b'"');
    if let Some(IpAddr::V4(v4)) = ip {
        for (i, octet) in v4.octets().into_iter().enumerate() {
            if i > 0 {
                out.push(b'.');
            }
            let _ = serde_json::to_writer(&mut *out, &octet);
        }
    } else {
        let _ = write!(out, "{}", DisplayIp(ip));
    }
    out.push(b'"');
}

/// An address as the log shows it: empty when unknown.
struct DisplayIp(Option<IpAddr>);

impl std::fmt::Display for DisplayIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => Ok(()),
        }
    }
}

/// Milliseconds to the microsecond, as the log shows a latency (most answers take tens of
/// microseconds: at 10 µs their percentiles were one or two steps apart).
fn latency_ms(latency: std::time::Duration) -> f64 {
    (latency.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// A request the fast lane answered with 200: what it shows the log and metrics.
pub(super) struct Answered<'a> {
    pub request_id: &'a str,
    pub ip: IpAddr,
    pub started: Instant,
    pub request_time: Millis,
    pub route: &'a str,
    /// The request target as sent (credentials are redacted here).
    pub target: &'a str,
    pub length: usize,
    pub group: &'a str,
}

impl Answered<'_> {
    /// Records the request's metrics and writes its line, as [`AccessLog`] does for the
    /// router's answers.
    pub fn log(&self) {
        let latency = self.started.elapsed();
        let route_key = super::metrics::record_request("GET", self.route, 200, latency);
        Line {
            request_id: self.request_id,
            ip: Some(self.ip),
            request_time: self.request_time,
            method: &Method::GET,
            route_key: &route_key,
            path: &redacted(self.target),
            status: 200,
            protocol: "HTTP/1.1",
            response_length: Some(self.length as u64),
            latency_ms: latency_ms(latency),
            group: Some(self.group),
            error: None,
            authorizer: None,
        }
        .emit();
    }
}

/// Writes one access-log line per request and records its metrics.
#[derive(Clone)]
pub struct AccessLog;

/// What the log keeps of a request while it is answered.
pub struct Pending {
    started: Instant,
    request_time: Millis,
    id: HeaderValue,
    method: Method,
    // Both are reference counted: kept whole until the line is written.
    uri: axum::http::Uri,
    claimed_group: Option<HeaderValue>,
    protocol: &'static str,
    ip: Option<IpAddr>,
}

impl Around for AccessLog {
    type Kept = Pending;

    fn before(&self, request: &mut Request) -> Result<Pending, Response> {
        let started = Instant::now();
        let id = request
            .headers()
            .get("x-request-id")
            .filter(|v| usable_client_id(v.as_bytes()))
            .cloned()
            .unwrap_or_else(|| HeaderValue::try_from(new_id()).expect("hex is a header value"));
        request.headers_mut().insert("x-request-id", id.clone());
        Ok(Pending {
            started,
            request_time: Millis::now(),
            id,
            method: request.method().clone(),
            uri: request.uri().clone(),
            claimed_group: request.headers().get("x-group-name").cloned(),
            protocol: protocol(request.version()),
            ip: super::auth::client_ip(request),
        })
    }

    fn after(pending: Pending, mut response: Response) -> Response {
        let Pending {
            started,
            request_time,
            id,
            method,
            uri,
            claimed_group,
            protocol,
            ip,
        } = pending;
        response.headers_mut().insert("x-request-id", id.clone());
        let latency = started.elapsed();
        let status = response.status().as_u16();
        let ext = response.extensions();
        let route = ext
            .get::<MatchedPath>()
            .map_or("$default", MatchedPath::as_str);
        let route_key =
            super::metrics::record_request(method_label(&method), route, status, latency);
        let length = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .or_else(|| axum::body::HttpBody::size_hint(response.body()).exact());
        Line {
            // Client ids are checked to be plain text, and ours are hex.
            request_id: id.to_str().unwrap_or("-"),
            ip,
            request_time,
            method: &method,
            route_key: &route_key,
            path: &redacted_path(&uri),
            status,
            protocol,
            response_length: length,
            latency_ms: latency_ms(latency),
            group: ext.get::<Principal>().map(|p| &*p.group).or_else(|| {
                let claimed = claimed_group.as_ref()?.to_str().ok()?;
                crate::network::id::check_id(claimed)
                    .is_ok()
                    .then_some(claimed)
            }),
            error: ext.get::<ApiError>().map(|e| e.message.as_str()),
            authorizer: ext.get::<AuthFailure>().map(|f| f.0),
        }
        .emit();
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_is_logged_to_the_microsecond() {
        use std::time::Duration;
        assert_eq!(latency_ms(Duration::from_nanos(12_345)), 0.012);
        assert_eq!(latency_ms(Duration::from_nanos(12_500)), 0.013);
        assert_eq!(latency_ms(Duration::from_micros(1_500)), 1.5);
        assert_eq!(latency_ms(Duration::from_secs(2)), 2000.0);
    }

    /// The line tracing-subscriber writes for `line` with the process's JSON settings.
    fn traced(line: &Line) -> String {
        #[derive(Clone, Default)]
        struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Captured {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || line.trace());
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    /// Everything after the timestamp, which differs between two writes.
    fn after_timestamp(line: &str) -> &str {
        let (head, rest) = line.split_once("\",").unwrap();
        assert!(head.starts_with(r#"{"timestamp":"20"#), "{line}");
        rest
    }

    #[test]
    fn json_lines_are_the_ones_tracing_writes() {
        let method = Method::POST;
        let full = Line {
            request_id: "abc-1",
            ip: Some(IpAddr::from([10, 0, 0, 7])),
            request_time: Millis(1_764_500_000_123),
            method: &method,
            route_key: "POST /mcp",
            path: "/mcp?x=\"quoted\"&api_key=REDACTED",
            status: 429,
            protocol: "HTTP/1.1",
            response_length: Some(1234),
            latency_ms: 12.5,
            group: Some("group-1"),
            error: Some("Rate limit \"exceeded\"\n\tcafé \u{1}"),
            authorizer: Some("unknown key"),
        };
        let bare = Line {
            ip: None,
            response_length: None,
            latency_ms: 0.0,
            group: None,
            error: None,
            authorizer: None,
            ..full
        };
        let v6 = Line {
            ip: Some(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)),
            ..full
        };
        for line in [full, bare, v6] {
            let mut ours = Vec::new();
            let now = jiff::Timestamp::from_microsecond(1_764_500_000_123_456).unwrap();
            line.write_json(now, &mut ours);
            let ours = String::from_utf8(ours).unwrap();
            assert!(
                ours.starts_with(r#"{"timestamp":"2025-11-30T10:53:20.123456Z","#),
                "{ours}"
            );
            let theirs = traced(&line);
            assert_eq!(after_timestamp(&ours), after_timestamp(&theirs));
            serde_json::from_str::<serde_json::Value>(&ours).expect("valid JSON");
        }
    }

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
