//! The connection loop in front of the router (SPEC §5 "Limits"): a cap on open sockets
//! (WebSockets included), a header-read timeout, an idle keep-alive timeout, bounded headers,
//! and a graceful stop that answers what is in flight (with `Connection: close`) and waits
//! for every socket up to a drain deadline.
//!
//! hyper 1's own header timeout also runs while a keep-alive connection is idle, so it
//! cannot give the two timeouts separately: each connection is watched here instead. When
//! every place under the cap is taken, connections with no request under way get only
//! [`PRESSURE_TIMEOUT`], so a flood of idle sockets cannot keep real clients out for long.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use bytes::{Buf, BytesMut};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::fast_lane::{FastLane, Left};

/// Sockets kept free for the store, logs and the process itself.
const RESERVED_FDS: u64 = 256;
/// Both timeouts while the connection cap is reached.
const PRESSURE_TIMEOUT: Duration = Duration::from_secs(1);
/// Repeated accept errors and cap warnings are logged at most this often.
const WARN_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// A request head must be complete this long after its first byte (or after the
    /// connection opens).
    pub header_read_timeout: Duration,
    /// A keep-alive connection with no request under way is closed after this long.
    pub idle_timeout: Duration,
    /// Open sockets at most, WebSockets included; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Largest request head (request line and headers); larger gets 431.
    pub max_header_bytes: usize,
    /// How long a stop waits for requests in flight and open sockets.
    pub drain_timeout: Duration,
    /// Threads that serve connections, each with its own event loop.
    pub connection_threads: usize,
    /// Whether plain GETs of the series take the fast lane (`gateway::fast_lane`).
    pub fast_lane: bool,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 20_000,
            max_header_bytes: 32 * 1024,
            drain_timeout: Duration::from_secs(5),
            connection_threads: one_per_core(),
            fast_lane: true,
        }
    }
}

/// The default number of connection threads.
pub fn one_per_core() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// What answers each request: the router inside the gateway's layers.
pub trait App:
    tower::Service<
        axum::extract::Request,
        Response = axum::response::Response,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + Sync
    + 'static
{
}

impl<T> App for T where
    T: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// Serves `app` on `listener` until `shutdown` is cancelled, then drains.
pub async fn serve(
    listener: TcpListener,
    app: impl App,
    lane: Option<Arc<FastLane>>,
    limits: ServerLimits,
    shutdown: CancellationToken,
) {
    let max = effective_max_connections(limits.max_connections);
    let sockets = Arc::new(Semaphore::new(max));
    let pressure = Arc::new(Pressure::default());
    let shared = Arc::new(Shared {
        limits: limits.clone(),
        pressure: Arc::clone(&pressure),
        lane,
    });
    let mut threads = match ConnectionThreads::start(limits.connection_threads.max(1)) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the connection threads; connections run on the main runtime");
            None
        }
    };
    let mut warned_at: Option<Instant> = None;
    let mut warn = |message: &str, error: Option<&std::io::Error>| {
        if warned_at.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
            warned_at = Some(Instant::now());
            tracing::warn!(
                error = error.map(tracing::field::display),
                max_connections = max,
                "{message}"
            );
        }
    };
    loop {
        let permit = match Arc::clone(&sockets).try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                warn(
                    "connection cap reached; idle connections are cut short",
                    None,
                );
                pressure.set(true);
                let p = tokio::select! {
                    p = Arc::clone(&sockets).acquire_owned() => p.expect("the semaphore is never closed"),
                    () = shutdown.cancelled() => break,
                };
                pressure.set(false);
                p
            }
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = shutdown.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors or memory: back off rather than spin.
                warn("accepting a connection failed", Some(&e));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        // Taken off this runtime's reactor, to be registered with its thread's.
        let stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, %peer, "dropping a connection that cannot move");
                continue;
            }
        };
        let task = connection(
            stream,
            peer,
            permit,
            app.clone(),
            Arc::clone(&shared),
            shutdown.clone(),
        );
        match threads.as_mut() {
            Some(t) => t.spawn(task),
            None => drop(tokio::spawn(task)),
        }
    }
    drop(listener);
    // Every socket gives its permit back when it closes, WebSockets included.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    match tokio::time::timeout(limits.drain_timeout, sockets.acquire_many(all)).await {
        Ok(_) => tracing::info!("every connection is closed"),
        Err(_) => tracing::warn!(
            open = max - sockets.available_permits(),
            "connections still open at the drain deadline are cut"
        ),
    }
    if let Some(t) = threads {
        t.stop().await;
    }
}

/// Threads that run connections, each with a single-threaded runtime of its own (nginx's
/// model): a connection stays on the thread it was given, so no task moves between cores
/// and no wake-up crosses them (BENCHMARKS.md measures it against one work-stealing runtime).
struct ConnectionThreads {
    runtimes: Vec<tokio::runtime::Handle>,
    threads: Vec<std::thread::JoinHandle<()>>,
    next: usize,
    stop: CancellationToken,
}

impl ConnectionThreads {
    fn start(count: usize) -> std::io::Result<Self> {
        let mut started = Self {
            runtimes: Vec::with_capacity(count),
            threads: Vec::with_capacity(count),
            next: 0,
            stop: CancellationToken::new(),
        };
        for i in 0..count {
            if let Err(e) = started.start_one(i) {
                started.stop.cancel();
                return Err(e);
            }
        }
        Ok(started)
    }

    fn start_one(&mut self, i: usize) -> std::io::Result<()> {
        let (runtime_tx, runtime_rx) = std::sync::mpsc::sync_channel(1);
        let until = self.stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("madbus-http-{i}"))
            .spawn(move || {
                // Built and dropped here: dropping the runtime at the end drops the
                // connections still on it (a runtime may not be dropped in async code).
                super::access_log::batch_lines();
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .on_thread_park(super::access_log::write_out_lines)
                    .build()
                {
                    Ok(runtime) => {
                        let _ = runtime_tx.send(Ok(runtime.handle().clone()));
                        runtime.block_on(until.cancelled());
                        drop(runtime);
                        super::access_log::write_out_lines();
                    }
                    Err(e) => {
                        let _ = runtime_tx.send(Err(e));
                    }
                }
            })?;
        let runtime = runtime_rx
            .recv()
            .map_err(|_| std::io::Error::other("a connection thread ended as it started"))??;
        self.runtimes.push(runtime);
        self.threads.push(thread);
        Ok(())
    }

    /// Runs `task` on the next thread in turn.
    fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.runtimes[self.next].spawn(task);
        self.next = (self.next + 1) % self.runtimes.len();
    }

    async fn stop(self) {
        self.stop.cancel();
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }
}

/// The cap, lowered to what the process may open (after raising its soft limit).
fn effective_max_connections(wanted: usize) -> usize {
    let Some(limit) = raise_fd_limit() else {
        return wanted.max(1);
    };
    let fit = limit.saturating_sub(RESERVED_FDS).max(1) as usize;
    if fit < wanted {
        tracing::warn!(
            wanted,
            open_files_limit = limit,
            using = fit,
            "--max-connections is above what the open-files limit allows; lowering it"
        );
    }
    wanted.min(fit).max(1)
}

/// Raises the soft open-files limit to the hard one; returns the limit now in force.
#[cfg(unix)]
fn raise_fd_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return None;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    Some(lim.rlim_cur)
}

#[cfg(not(unix))]
fn raise_fd_limit() -> Option<u64> {
    None
}

/// Why a connection was closed by its watch.
#[derive(Debug, Clone, Copy)]
enum Expired {
    HeaderRead,
    Idle,
}

/// What one connection is doing, shared by its socket, its requests and its watch.
struct Watch {
    opened: Instant,
    /// Milliseconds after `opened` of the last byte read or written.
    last_activity: AtomicU64,
    /// Milliseconds after `opened` + 1 when a request head began arriving; 0: none is.
    head_since: AtomicU64,
    in_flight: AtomicUsize,
}

impl Watch {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            last_activity: AtomicU64::new(0),
            // A new connection owes its first request head at once.
            head_since: AtomicU64::new(1),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn now(&self) -> u64 {
        self.opened.elapsed().as_millis() as u64
    }

    fn on_read(&self) {
        let now = self.now();
        self.last_activity.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let _ =
                self.head_since
                    .compare_exchange(0, now + 1, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    fn on_write(&self) {
        self.last_activity.store(self.now(), Ordering::Relaxed);
    }

    fn begin_request(self: &Arc<Self>) -> RequestGuard {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(0, Ordering::Release);
        RequestGuard(Arc::clone(self))
    }

    /// When the connection expires, and why; `None` while a request is being answered.
    fn deadline(&self, limits: &ServerLimits, pressed: bool) -> Option<(Instant, Expired)> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let at = |ms: u64, after: Duration| {
            let after = if pressed {
                after.min(PRESSURE_TIMEOUT)
            } else {
                after
            };
            self.opened + Duration::from_millis(ms) + after
        };
        Some(match self.head_since.load(Ordering::Acquire) {
            0 => (
                at(
                    self.last_activity.load(Ordering::Relaxed),
                    limits.idle_timeout,
                ),
                Expired::Idle,
            ),
            since => (
                at(since - 1, limits.header_read_timeout),
                Expired::HeaderRead,
            ),
        })
    }
}

/// A request being answered; its connection is not idle.
struct RequestGuard(Arc<Watch>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.on_write();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Whether the connection cap is reached, and a wake-up for every watch when that changes.
#[derive(Default)]
struct Pressure {
    on: std::sync::atomic::AtomicBool,
    changed: tokio::sync::Notify,
}

impl Pressure {
    fn set(&self, on: bool) {
        if self.on.swap(on, Ordering::AcqRel) != on {
            self.changed.notify_waiters();
        }
    }
}

/// Completes when the connection has expired.
async fn expiry(watch: &Watch, limits: &ServerLimits, pressure: &Pressure) -> Expired {
    loop {
        // Registered before the flag is read, so no change is missed.
        let changed = pressure.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let pressed = pressure.on.load(Ordering::Acquire);
        let wait = match watch.deadline(limits, pressed) {
            Some((at, why)) if at <= Instant::now() => return why,
            Some((at, _)) => at,
            None => Instant::now() + limits.header_read_timeout.min(limits.idle_timeout),
        };
        tokio::select! {
            () = tokio::time::sleep_until(wait.into()) => {}
            () = changed => {}
        }
    }
}

/// What every connection reads.
struct Shared {
    limits: ServerLimits,
    pressure: Arc<Pressure>,
    lane: Option<Arc<FastLane>>,
}

async fn connection(
    stream: std::net::TcpStream,
    peer: SocketAddr,
    permit: OwnedSemaphorePermit,
    app: impl App,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) {
    let Shared {
        limits,
        pressure,
        lane,
    } = &*shared;
    let stream = match TcpStream::from_std(stream) {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(error = %e, %peer, "dropping a connection that cannot be registered");
            return;
        }
    };
    let watch = Arc::new(Watch::new());
    let mut io = Watched {
        inner: stream,
        watch: Arc::clone(&watch),
        unread: BytesMut::new(),
        _permit: permit,
    };
    let max_head = limits.max_header_bytes.max(8192);
    if let Some(lane) = lane {
        let begin_request = || watch.begin_request();
        let served = lane.serve(&mut io, peer.ip(), max_head, begin_request, &shutdown);
        tokio::select! {
            left = served => match left {
                Left::Closed => return,
                Left::ToRouter(bytes) => io.unread = bytes,
            },
            why = expiry(&watch, limits, pressure) => {
                tracing::debug!(reason = ?why, %peer, "closing a connection");
                return;
            }
        }
    }
    let requests = Arc::clone(&watch);
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let guard = requests.begin_request();
        let answer = app.clone().oneshot(request.map(axum::body::Body::new));
        async move {
            let response = answer.await;
            drop(guard);
            response
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        // Both timeouts are this module's (see the module comment): hyper's is off, so it
        // needs no timer.
        .header_read_timeout(None)
        .max_buf_size(max_head)
        .max_headers(100);
    let conn = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                return;
            }
            why = expiry(&watch, limits, pressure) => {
                tracing::debug!(reason = ?why, %peer, "closing a connection");
                return;
            }
            () = shutdown.cancelled(), if !stopping => {
                // Requests in flight are answered (with `Connection: close`); an idle
                // connection closes now.
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// A socket that tells its watch when bytes move, and holds its place under the cap for
/// as long as it is open (after an upgrade too).
struct Watched {
    inner: TcpStream,
    watch: Arc<Watch>,
    /// Bytes read already (by the fast lane) and not answered: read again first.
    unread: BytesMut,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.unread.is_empty() {
            let n = self.unread.len().min(buf.remaining());
            buf.put_slice(&self.unread[..n]);
            self.unread.advance(n);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.watch.on_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.watch.on_write();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.watch.on_write();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
