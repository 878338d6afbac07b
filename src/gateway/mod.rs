//! The gateway layer in front of every route (SPEC §5): per-group API keys (401 missing,
//! 403 refused), throttling per key and of repeated failures per address, CORS, request
//! ids, a JSON access log line per request, Prometheus metrics, body and time limits.

mod access_log;
mod auth;
mod cors;
pub mod fast_lane;
pub use cors::origin_allowed;
pub mod keys;
pub mod metrics;
pub mod server;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::Router;
use governor::clock::DefaultClock;
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

use crate::web::around::AroundLayer;

pub use access_log::write_json_access_lines_to;
pub use auth::AuthFailure;
pub use fast_lane::FastLane;
pub use keys::{KeyRing, Principal};
pub use server::ServerLimits;

type KeyedLimiter<K> =
    RateLimiter<K, DashMapStateStore<K>, DefaultClock, StateInformationMiddleware>;

/// Addresses tracked for failed logins at most; past this, new addresses are refused.
const MAX_TRACKED_ADDRESSES: usize = 100_000;

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Allowed CORS origins; `*` allows any.
    pub cors_origins: Vec<String>,
    /// Requests a key may make at once, and per second after that.
    pub throttle_burst: u32,
    pub throttle_rate: f64,
    /// Failed authentications an address may make at once, and per second after that.
    pub auth_fail_burst: u32,
    pub auth_fail_rate: f64,
    pub body_limit_bytes: usize,
    pub request_timeout: std::time::Duration,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            cors_origins: vec!["*".into()],
            throttle_burst: 2_000,
            throttle_rate: 500.0,
            auth_fail_burst: 20,
            auth_fail_rate: 1.0,
            body_limit_bytes: 64 * 1024,
            request_timeout: std::time::Duration::from_secs(30),
        }
    }
}

fn quota(burst: u32, per_second: f64) -> Result<Quota, String> {
    let burst = NonZeroU32::new(burst).ok_or("a burst must be at least 1")?;
    if !(per_second.is_finite() && per_second > 0.0) {
        return Err(format!(
            "a rate must be above 0 per second, got {per_second}"
        ));
    }
    let period = std::time::Duration::from_secs_f64(1.0 / per_second);
    Quota::with_period(period)
        .map(|q| q.allow_burst(burst))
        .ok_or_else(|| format!("rate {per_second}/s is too high"))
}

/// The gateway's shared state.
pub struct Gateway {
    pub keys: KeyRing,
    config: GatewayConfig,
    per_key: KeyedLimiter<Arc<str>>,
    failures: KeyedLimiter<IpAddr>,
    /// Addresses over their failure budget, and until when.
    blocked: dashmap::DashMap<IpAddr, std::time::Instant>,
    cors: tower_http::cors::CorsLayer,
}

impl Gateway {
    pub fn new(keys: KeyRing, config: GatewayConfig) -> Result<Self, String> {
        let per_key = RateLimiter::dashmap(quota(config.throttle_burst, config.throttle_rate)?)
            .with_middleware::<StateInformationMiddleware>();
        let failures = RateLimiter::dashmap(quota(config.auth_fail_burst, config.auth_fail_rate)?)
            .with_middleware::<StateInformationMiddleware>();
        let cors = cors::layer(&config.cors_origins)?;
        Ok(Self {
            keys,
            config,
            per_key,
            failures,
            blocked: dashmap::DashMap::new(),
            cors,
        })
    }

    /// How much longer `ip` is refused for failing to authenticate, if it is.
    fn blocked_for(&self, ip: IpAddr) -> Option<std::time::Duration> {
        let until = *self.blocked.get(&ip)?;
        until.checked_duration_since(std::time::Instant::now())
    }

    /// Refuses `ip` for `wait` without looking at its keys.
    fn block(&self, ip: IpAddr, wait: std::time::Duration) {
        if self.blocked.len() < MAX_TRACKED_ADDRESSES {
            self.blocked.insert(ip, std::time::Instant::now() + wait);
        }
    }

    /// Drops limiter entries that are back to full, so their memory stays bounded.
    pub fn housekeeping(&self) {
        self.per_key.retain_recent();
        self.failures.retain_recent();
        let now = std::time::Instant::now();
        self.blocked.retain(|_, until| *until > now);
    }

    /// Wraps `routes` (public and protected, with `protect` already applied to the latter)
    /// in the gateway's layers, the first listed running first. They go around the router
    /// as one stack rather than on each route: a per-route layer is a boxed service of its
    /// own, and each middleware cloned every box below it on every request.
    pub fn wrap(self: &Arc<Self>, routes: Router) -> impl server::App {
        let routes = routes.layer(AroundLayer(access_log::TagRoute));
        tower::ServiceBuilder::new()
            .layer(AroundLayer(access_log::AccessLog))
            .layer(AroundLayer(cors::PreflightNoContent))
            .layer(self.cors.clone())
            .layer(AroundLayer(crate::web::RenderErrors))
            .layer(tower_http::limit::RequestBodyLimitLayer::new(
                self.config.body_limit_bytes,
            ))
            .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                self.config.request_timeout,
            ))
            .service(routes)
    }

    /// The fast lane for the routes of `shortcut` (see [`fast_lane`]).
    pub fn fast_lane(self: &Arc<Self>, shortcut: Box<dyn fast_lane::Shortcut>) -> FastLane {
        FastLane::new(Arc::clone(self), shortcut)
    }

    /// The auth and throttling middleware for protected routes.
    pub fn protect<S: Clone + Send + Sync + 'static>(
        self: &Arc<Self>,
        routes: Router<S>,
    ) -> Router<S> {
        routes.route_layer(AroundLayer(auth::Authenticate(Arc::clone(self))))
    }
}
