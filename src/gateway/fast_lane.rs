//! The fast lane: a connection's plain `GET`s of the entity series routes (latest, as-of,
//! range), answered through the query layer without building a request for the router,
//! whose path spent 1.6-2x nginx's CPU per request, all of it in user space
//! (BENCHMARKS.md). It does the gateway's whole work for them: the same key check and
//! throttle ([`Gateway::check`], [`Gateway::take`]), request id, CORS headers, access-log
//! line and metrics.
//!
//! It answers only what succeeds, and only requests of one plain shape: HTTP/1.1, no body,
//! no `Origin`, `Upgrade`, `Expect` or `Connection` other than `keep-alive`, a target the
//! shortcut knows, credentials the gateway accepts. At the first request it does not
//! answer, or one it cannot parse, the connection goes to hyper and the router for good,
//! with every byte not yet answered: the router then answers as it always has (errors,
//! 401/403/429, 431 for a head too large, 503 past the request timeout). Until then nothing
//! has changed for that request: the key's budget is taken only for an answer given.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::Gateway;
use super::access_log::{Answered, new_id, usable_client_id};
use crate::time::Millis;

/// The routes the lane answers.
pub trait Shortcut: Send + Sync + 'static {
    /// For a GET of `path` with `query`: the route's template and its answer to come, the
    /// JSON the router would answer (`None` from it: the router answers). `None` at once
    /// leaves the request to the router; nothing may be read before the key is checked.
    fn find<'a>(&'a self, path: &'a str, query: &'a str) -> Option<(&'static str, Pending<'a>)>;
}

/// An answer's JSON to come.
pub type Pending<'a> = std::pin::Pin<Box<dyn Future<Output = Option<Bytes>> + Send + 'a>>;

/// Headers at most in a request the lane parses (hyper's limit too; more goes to hyper).
const MAX_HEADERS: usize = 100;
/// Answers are written once this many bytes wait (or no complete request is left).
const OUT_BATCH: usize = 64 * 1024;

/// The fast lane of every connection.
pub struct FastLane {
    gateway: Arc<Gateway>,
    shortcut: Box<dyn Shortcut>,
    /// The lines the gateway's CORS layer adds to an answer for a request without `Origin`.
    cors: Vec<u8>,
}

/// How the lane left a connection.
pub enum Left {
    /// Closed: by the client, an error, `Connection: close`, or a stop.
    Closed,
    /// To hyper, with the bytes not yet answered.
    ToRouter(BytesMut),
}

/// One step over the bytes read so far.
enum Step {
    /// A request answered into the output: the bytes it took, and whether to close after.
    Answered { used: usize, close: bool },
    /// The head is not all here yet.
    Incomplete,
    /// Not the lane's: the router answers this and everything after it.
    NotMine,
}

impl FastLane {
    /// The lane for `gateway`.
    pub(super) fn new(gateway: Arc<Gateway>, shortcut: Box<dyn Shortcut>) -> Self {
        let cors = cors_lines(&gateway.cors);
        Self {
            gateway,
            shortcut,
            cors,
        }
    }

    /// Serves `io` until it closes or a request is not the lane's. A head still incomplete
    /// at `max_head` bytes goes to hyper (which answers 431). Each request with a whole head
    /// holds what `begin_request` returns while it is looked at and answered (the
    /// connection's watch then counts it as under way, not idle).
    pub(super) async fn serve<IO: AsyncRead + AsyncWrite + Unpin, G>(
        &self,
        io: &mut IO,
        ip: IpAddr,
        max_head: usize,
        begin_request: impl Fn() -> G,
        shutdown: &CancellationToken,
    ) -> Left {
        let mut read = BytesMut::with_capacity(4096);
        let mut out = Vec::with_capacity(4096);
        // Made once: a new one per read registers with the token each time.
        let mut stopping = std::pin::pin!(shutdown.cancelled());
        loop {
            // The complete requests read so far are answered, then written at once (up to
            // a batch's worth: pipelined small requests must not make a large output).
            let mut step = Step::Incomplete;
            while !read.is_empty() && out.len() < OUT_BATCH {
                step = self
                    .step(&read, ip, &begin_request, shutdown, &mut out)
                    .await;
                match step {
                    Step::Answered { used, close } => {
                        read.advance(used);
                        if close {
                            break;
                        }
                    }
                    Step::Incomplete | Step::NotMine => break,
                }
            }
            if !out.is_empty() {
                if io.write_all(&out).await.is_err() {
                    return Left::Closed;
                }
                out.clear();
            }
            match step {
                Step::Answered { close: true, .. } => {
                    let _ = io.shutdown().await;
                    return Left::Closed;
                }
                Step::NotMine => return Left::ToRouter(read),
                // The batch was full: more requests may be waiting.
                Step::Answered { .. } if !read.is_empty() => continue,
                _ if read.len() >= max_head => return Left::ToRouter(read),
                _ => {}
            }
            tokio::select! {
                biased;
                () = &mut stopping, if read.is_empty() => return Left::Closed,
                n = io.read_buf(&mut read) => match n {
                    Ok(0) | Err(_) => return Left::Closed,
                    Ok(_) => {}
                },
            }
        }
    }

    /// Answers the first request in `read` into `out`, if it is the lane's.
    async fn step<G>(
        &self,
        read: &[u8],
        ip: IpAddr,
        begin_request: &impl Fn() -> G,
        shutdown: &CancellationToken,
        out: &mut Vec<u8>,
    ) -> Step {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        let used = match request.parse(read) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Step::Incomplete,
            Err(_) => return Step::NotMine,
        };
        let _under_way = begin_request();
        match self.answer(&request, ip, shutdown, out).await {
            Some(close) => Step::Answered { used, close },
            None => Step::NotMine,
        }
    }

    /// Writes the answer to `request` into `out`, if the lane may give it; whether the
    /// connection closes after it (the server is stopping).
    async fn answer(
        &self,
        request: &httparse::Request<'_, '_>,
        ip: IpAddr,
        shutdown: &CancellationToken,
        out: &mut Vec<u8>,
    ) -> Option<bool> {
        let started = Instant::now();
        let request_time = Millis::now();
        if request.method? != "GET" || request.version? != 1 {
            return None;
        }
        let target = request.path?;
        if !target.starts_with('/') || !target.bytes().all(plain_target_byte) {
            return None;
        }
        let Plain {
            key,
            group,
            request_id,
        } = plain_headers(request.headers)?;
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let (route, pending) = self.shortcut.find(path, query)?;
        // As the router: the key first (nothing is read for a caller without one), the
        // answer, then one from the key's budget, so that a request the router ends up
        // answering was not counted here.
        let principal = self.gateway.check(ip, key, group, false).ok()?;
        let limit = self.gateway.config.request_timeout;
        let body = tokio::time::timeout(limit, pending).await.ok()??;
        let accepted = self.gateway.take(principal).ok()?;
        let fresh;
        let request_id = match request_id {
            Some(id) => id,
            None => {
                fresh = new_id();
                &fresh
            }
        };

        out.extend_from_slice(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n");
        for (name, value) in accepted.rate_limit_headers() {
            header_line(
                out,
                name.as_bytes(),
                itoa::Buffer::new().format(value).as_bytes(),
            );
        }
        header_line(
            out,
            b"content-length",
            itoa::Buffer::new().format(body.len()).as_bytes(),
        );
        out.extend_from_slice(&self.cors);
        header_line(out, b"x-request-id", request_id.as_bytes());
        let closing = shutdown.is_cancelled();
        if closing {
            out.extend_from_slice(b"connection: close\r\n");
        }
        out.extend_from_slice(b"date: ");
        http_date(request_time, out);
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(&body);

        Answered {
            request_id,
            ip,
            started,
            request_time,
            route,
            target,
            length: body.len(),
            group: &accepted.principal.group,
        }
        .log();
        super::metrics::count_fast_lane_answer();
        Some(closing)
    }
}

/// The headers of a request the lane may answer.
struct Plain<'a> {
    key: Option<&'a str>,
    group: Option<&'a str>,
    request_id: Option<&'a str>,
}

/// The credentials and request id of a plain request (the first header of each name, as
/// the router reads them); `None` if a header asks for more than the lane does.
fn plain_headers<'a>(headers: &[httparse::Header<'a>]) -> Option<Plain<'a>> {
    // The first of each, once seen: `Some(None)` when it was empty or unusable.
    let (mut key, mut group, mut request_id) = (None, None, None);
    for h in headers {
        let name = h.name;
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        if is("x-api-key") {
            if key.is_none() {
                key = Some(Some(header_text(h.value)?).filter(|v| !v.is_empty()));
            }
        } else if is("x-group-name") {
            if group.is_none() {
                group = Some(Some(header_text(h.value)?).filter(|v| !v.is_empty()));
            }
        } else if is("x-request-id") {
            if request_id.is_none() {
                request_id = Some(
                    usable_client_id(h.value)
                        .then(|| std::str::from_utf8(h.value).ok())
                        .flatten(),
                );
            }
        } else if is("content-length") {
            if h.value.trim_ascii() != b"0" {
                return None;
            }
        } else if is("connection") {
            if !h.value.trim_ascii().eq_ignore_ascii_case(b"keep-alive") {
                return None;
            }
        } else if is("transfer-encoding") || is("origin") || is("upgrade") || is("expect") {
            return None;
        }
    }
    Some(Plain {
        key: key.flatten(),
        group: group.flatten(),
        request_id: request_id.flatten(),
    })
}

/// A header's value as text, trimmed, when the router would read it as text (visible
/// ASCII and tabs, as `HeaderValue::to_str`); `None` leaves the request to the router.
fn header_text(value: &[u8]) -> Option<&str> {
    value
        .iter()
        .all(|&b| b == b'\t' || (32..127).contains(&b))
        .then(|| std::str::from_utf8(value).ok())
        .flatten()
        .map(str::trim)
}

/// Bytes a target may have for the lane: unreserved, sub-delimiters, `/`, `?`, `:`, `@` and
/// `%`. Anything rarer goes to the router, which decides what it means.
fn plain_target_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b)
}

fn header_line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The `Date` header's value at `now`, formatted once per second per thread.
fn http_date(now: Millis, out: &mut Vec<u8>) {
    use std::cell::RefCell;
    thread_local! {
        static LAST: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
    }
    let second = now.0.div_euclid(1000);
    LAST.with_borrow_mut(|(at, text)| {
        if *at != second {
            *at = second;
            let since_epoch = std::time::Duration::from_secs(second.max(0).unsigned_abs());
            *text = httpdate::fmt_http_date(std::time::UNIX_EPOCH + since_epoch);
        }
        out.extend_from_slice(text.as_bytes());
    });
}

/// The header lines `cors` adds to an answer for a GET without `Origin`, found by running
/// it once: the lane's answers carry exactly what the router's do.
fn cors_lines(cors: &tower_http::cors::CorsLayer) -> Vec<u8> {
    use std::task::{Context, Poll, Waker};
    use tower::{Layer, Service};
    let inner = tower::service_fn(|_: axum::extract::Request| async {
        Ok::<_, std::convert::Infallible>(axum::response::Response::new(axum::body::Body::empty()))
    });
    let mut service = cors.layer(inner);
    let request = axum::extract::Request::new(axum::body::Body::empty());
    let mut future = std::pin::pin!(service.call(request));
    let mut lines = Vec::new();
    // tower-http's answer for a request without `Origin` is ready at once.
    if let Poll::Ready(Ok(response)) = future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        for (name, value) in response.headers() {
            header_line(&mut lines, name.as_str().as_bytes(), value.as_bytes());
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::DuplexStream;

    const KEY: &str = "a-shared-key";

    /// Answers `GET /x` with `{}`, once `gate` lets it.
    struct Fixed {
        gate: Arc<tokio::sync::Semaphore>,
    }

    impl Shortcut for Fixed {
        fn find<'a>(&'a self, path: &'a str, _: &'a str) -> Option<(&'static str, Pending<'a>)> {
            (path == "/x").then(|| {
                let answer: Pending<'a> = Box::pin(async {
                    self.gate.acquire().await.ok()?.forget();
                    Some(Bytes::from_static(b"{}"))
                });
                ("/x", answer)
            })
        }
    }

    /// A lane over a store in `dir` whose answers each wait for a permit of `gate`.
    fn lane(dir: &std::path::Path, gate: &Arc<tokio::sync::Semaphore>) -> FastLane {
        let store = Arc::new(crate::store::SqliteStore::open(dir).unwrap());
        let keys = super::super::KeyRing::new(store, Some(KEY));
        let gateway = Gateway::new(keys, super::super::GatewayConfig::default()).unwrap();
        let gate = Arc::clone(gate);
        FastLane::new(Arc::new(gateway), Box::new(Fixed { gate }))
    }

    fn open_gate() -> Arc<tokio::sync::Semaphore> {
        Arc::new(tokio::sync::Semaphore::new(
            tokio::sync::Semaphore::MAX_PERMITS,
        ))
    }

    fn plain(extra: &str) -> String {
        format!("GET /x HTTP/1.1\r\nx-api-key: {KEY}\r\nx-group-name: g\r\n{extra}\r\n")
    }

    /// Runs the lane on one end of a pipe; the other end and the lane's end result.
    fn serving(
        lane: FastLane,
        stop: &CancellationToken,
    ) -> (DuplexStream, tokio::task::JoinHandle<Left>) {
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        let stop = stop.clone();
        let ip = IpAddr::from([127, 0, 0, 1]);
        let task =
            tokio::spawn(async move { lane.serve(&mut server, ip, 8192, || (), &stop).await });
        (client, task)
    }

    async fn read_some(client: &mut DuplexStream) -> String {
        let mut buf = vec![0; 64 * 1024];
        let n = client.read(&mut buf).await.unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[tokio::test]
    async fn answers_then_hands_over_the_rest_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let stop = CancellationToken::new();
        let (mut client, task) = serving(lane(dir.path(), &open_gate()), &stop);
        let rest = "POST /x HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}";
        let sent = format!("{}{rest}", plain("x-request-id: r1\r\n"));
        client.write_all(sent.as_bytes()).await.unwrap();
        let answer = read_some(&mut client).await;
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        for line in [
            "content-length: 2",
            "x-request-id: r1",
            "ratelimit-limit: 2000",
        ] {
            assert!(
                answer.contains(&format!("{line}\r\n")),
                "{line} in {answer}"
            );
        }
        assert!(answer.ends_with("\r\n\r\n{}"), "{answer}");
        assert!(!answer.contains("connection: close"), "{answer}");
        match task.await.unwrap() {
            Left::ToRouter(unread) => assert_eq!(&unread[..], rest.as_bytes()),
            Left::Closed => panic!("closed instead of handing over"),
        }
    }

    #[tokio::test]
    async fn a_stop_closes_an_idle_connection_and_answers_with_close() {
        let dir = tempfile::tempdir().unwrap();
        let stop = CancellationToken::new();
        let (mut client, task) = serving(lane(dir.path(), &open_gate()), &stop);
        client.write_all(plain("").as_bytes()).await.unwrap();
        assert!(read_some(&mut client).await.starts_with("HTTP/1.1 200 OK"));
        stop.cancel();
        assert!(matches!(task.await.unwrap(), Left::Closed));

        // A request being answered when the stop comes is answered, with
        // `connection: close`, then the connection closes.
        let stop = CancellationToken::new();
        let shut = Arc::new(tokio::sync::Semaphore::new(0));
        let (mut client, task) = serving(lane(dir.path(), &shut), &stop);
        client.write_all(plain("").as_bytes()).await.unwrap();
        tokio::task::yield_now().await;
        stop.cancel();
        shut.add_permits(1);
        let answer = read_some(&mut client).await;
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        assert!(answer.contains("connection: close\r\n"), "{answer}");
        assert!(matches!(task.await.unwrap(), Left::Closed));
    }

    fn parsed<'h, 'b>(
        raw: &'b [u8],
        headers: &'h mut [httparse::Header<'b>],
    ) -> httparse::Request<'h, 'b> {
        let mut request = httparse::Request::new(headers);
        assert!(request.parse(raw).unwrap().is_complete());
        request
    }

    #[test]
    fn only_plain_heads_are_the_lanes() {
        let plain = b"GET / HTTP/1.1\r\nx-api-key:  k1 \r\nX-Group-Name: g\r\nx-api-key: k2\r\n\
                      x-request-id: my-id\r\nconnection: Keep-Alive\r\ncontent-length: 0\r\n\r\n";
        let mut h = [httparse::EMPTY_HEADER; 16];
        let p = plain_headers(parsed(plain, &mut h).headers).unwrap();
        assert_eq!(
            (p.key, p.group, p.request_id),
            (Some("k1"), Some("g"), Some("my-id"))
        );

        for extra in [
            "origin: https://a.example",
            "connection: close",
            "connection: upgrade",
            "upgrade: websocket",
            "transfer-encoding: chunked",
            "content-length: 5",
            "expect: 100-continue",
            "x-api-key: caf\u{e9}",
        ] {
            let raw = format!("GET / HTTP/1.1\r\n{extra}\r\n\r\n");
            let mut h = [httparse::EMPTY_HEADER; 16];
            assert!(
                plain_headers(parsed(raw.as_bytes(), &mut h).headers).is_none(),
                "{extra}"
            );
        }
        // An unusable client id is replaced, not refused; an empty key is a missing one.
        let raw = b"GET / HTTP/1.1\r\nx-request-id: a b\r\nx-request-id: ok\r\n\
                    x-api-key: \r\nx-api-key: k\r\n\r\n";
        let mut h = [httparse::EMPTY_HEADER; 16];
        let p = plain_headers(parsed(raw, &mut h).headers).unwrap();
        assert_eq!((p.key, p.request_id), (None, None));
    }

    #[test]
    fn dates_are_httpdate_text() {
        let mut out = Vec::new();
        http_date(Millis::now(), &mut out);
        let text = String::from_utf8(out).unwrap();
        let parsed = httpdate::parse_http_date(&text).unwrap();
        let age = std::time::SystemTime::now().duration_since(parsed).unwrap();
        assert!(age.as_secs() <= 2, "{text}");
    }

    #[test]
    fn cors_lines_are_the_layers() {
        let any = cors_lines(&super::super::cors::layer(&["*".into()]).unwrap());
        let any = String::from_utf8(any).unwrap();
        assert!(any.contains("access-control-allow-origin: *\r\n"), "{any}");
        assert!(any.contains("vary: origin"), "{any}");
        assert!(
            any.contains("access-control-expose-headers: x-request-id"),
            "{any}"
        );
        let listed = cors_lines(&super::super::cors::layer(&["https://a.example".into()]).unwrap());
        let listed = String::from_utf8(listed).unwrap();
        assert!(!listed.contains("allow-origin"), "{listed}");
        assert!(listed.contains("vary: origin"), "{listed}");
    }
}
