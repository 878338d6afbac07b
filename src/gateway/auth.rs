//! Authentication and throttling of protected routes. Both headers are required (401 naming
//! the missing one); a refused key is 403 whatever the reason (the reason goes to the access
//! log only). Failures count against the caller's address; accepted requests against the
//! key's token bucket, with `RateLimit-*` headers and `Retry-After` on 429.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};

use super::{Gateway, MAX_TRACKED_ADDRESSES, Principal};
use crate::time::Millis;
use crate::web::around::Around;
use crate::web::{ApiError, ErrorKind};

/// Why authentication failed, for the access log's `authorizerError`.
#[derive(Debug, Clone)]
pub struct AuthFailure(pub &'static str);

/// The peer address, when the server was started with connect info.
pub fn client_ip(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn seconds_until(wait: std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

fn too_many(message: String, retry_after: u64, limit: Option<u32>) -> Response {
    let mut response = ApiError::new(ErrorKind::TooManyRequests, message)
        .retry_after(retry_after)
        .into_response();
    let h = response.headers_mut();
    if let Some(limit) = limit {
        h.insert("ratelimit-limit", HeaderValue::from(limit));
        h.insert("ratelimit-remaining", HeaderValue::from(0u32));
        h.insert("ratelimit-reset", HeaderValue::from(retry_after));
    }
    response
}

/// Routes where a browser cannot send headers, so credentials may come in the query.
const QUERY_CREDENTIAL_ROUTES: [&str; 1] = ["/ws"];
/// Longer keys are refused without hashing them.
const MAX_KEY_LEN: usize = 256;

/// A refused request: its status kind, the client's message and the log's reason.
type Refused = (ErrorKind, String, &'static str);

/// The key and group a request presents, from its headers (or, on the routes that allow
/// it, its query), not yet checked; and whether the query could have held them.
fn presented(request: &Request) -> (Option<Cow<'_, str>>, Option<Cow<'_, str>>, bool) {
    let headers = request.headers();
    let query_allowed = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .is_some_and(|p| QUERY_CREDENTIAL_ROUTES.contains(&p.as_str()));
    let query: Vec<(String, String)> = if query_allowed {
        axum::extract::Query::try_from_uri(request.uri())
            .map(|q| q.0)
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let from_query = |name: &str| {
        query
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| Cow::Owned(v.clone()))
    };
    let key = header(headers, "x-api-key")
        .map(Cow::Borrowed)
        .or_else(|| from_query("api_key"));
    let group = header(headers, "x-group-name")
        .map(Cow::Borrowed)
        .or_else(|| from_query("group_name"));
    (key, group, query_allowed)
}

/// Checks the shape of presented credentials (not yet against the keys).
fn credentials<'a>(
    key: Option<&'a str>,
    group: Option<&'a str>,
    query_allowed: bool,
) -> Result<(&'a str, &'a str), Refused> {
    let unauthorized = |what: &str, reason| {
        let hint = if query_allowed {
            format!("Missing {what} header (or query parameter)")
        } else {
            format!("Missing {what} header")
        };
        (ErrorKind::Unauthorized, hint, reason)
    };
    let key = key.ok_or_else(|| unauthorized("x-api-key", "missing x-api-key"))?;
    let group = group.ok_or_else(|| unauthorized("x-group-name", "missing x-group-name"))?;
    if let Err(e) = crate::network::id::check_id(group) {
        return Err((
            ErrorKind::BadRequest,
            format!("Invalid x-group-name: it {e}"),
            "malformed x-group-name",
        ));
    }
    if key.len() > MAX_KEY_LEN {
        return Err((
            ErrorKind::Forbidden,
            "Invalid API key for this group".into(),
            "oversized key",
        ));
    }
    Ok((key, group))
}

/// An accepted request's principal and its key's remaining burst.
pub struct Accepted {
    pub principal: Principal,
    burst: u32,
    remaining: u32,
}

impl Accepted {
    /// The `RateLimit-*` headers an accepted request's answer carries.
    pub fn rate_limit_headers(&self) -> [(&'static str, u32); 2] {
        [
            ("ratelimit-limit", self.burst),
            ("ratelimit-remaining", self.remaining),
        ]
    }
}

/// Why [`Gateway::admit`] did not accept a request.
pub enum Denied {
    /// The address is over its failure budget for this long.
    Blocked(std::time::Duration),
    /// The credentials are missing, malformed or refused.
    Refused(Refused),
    /// The key is over its budget until then.
    Throttled(
        Principal,
        governor::NotUntil<governor::clock::QuantaInstant>,
    ),
}

impl Gateway {
    /// Checks a request's credentials and its key's budget. Nothing changes unless the
    /// request is accepted (then it takes one from its key's budget): a refusal's counts,
    /// metrics and answer are [`Gateway::deny`]'s.
    pub(super) fn admit(
        &self,
        ip: IpAddr,
        key: Option<&str>,
        group: Option<&str>,
        query_allowed: bool,
    ) -> Result<Accepted, Denied> {
        self.take(self.check(ip, key, group, query_allowed)?)
    }

    /// [`Gateway::admit`]'s first half: whose the credentials are. Changes nothing.
    pub(super) fn check(
        &self,
        ip: IpAddr,
        key: Option<&str>,
        group: Option<&str>,
        query_allowed: bool,
    ) -> Result<Principal, Denied> {
        // An address over its failure budget is refused before its key is even looked at, so
        // guessing does not get faster by sending the right key now and then.
        if let Some(wait) = self.blocked_for(ip) {
            return Err(Denied::Blocked(wait));
        }
        credentials(key, group, query_allowed)
            .and_then(|(key, group)| {
                self.keys.verify(key, group, Millis::now()).map_err(|why| {
                    (
                        ErrorKind::Forbidden,
                        "Invalid API key for this group".to_string(),
                        why.as_str(),
                    )
                })
            })
            .map_err(Denied::Refused)
    }

    /// [`Gateway::admit`]'s second half: one from the key's budget, if it has one left (a
    /// refusal takes nothing).
    pub(super) fn take(&self, principal: Principal) -> Result<Accepted, Denied> {
        let burst = self.config.throttle_burst;
        match self.per_key.check_key(&principal.key_id) {
            Ok(snapshot) => Ok(Accepted {
                principal,
                burst,
                remaining: snapshot.remaining_burst_capacity(),
            }),
            Err(not_until) => Err(Denied::Throttled(principal, not_until)),
        }
    }

    /// The answer to a denied request from `ip`, after counting its failure.
    fn deny(&self, ip: IpAddr, denied: Denied) -> Response {
        match denied {
            Denied::Blocked(wait) => {
                metrics::counter!("madbus_throttled_requests_total", "scope" => "address")
                    .increment(1);
                let wait = seconds_until(wait);
                let mut response = too_many(
                    format!(
                        "Too many failed authentications from this address; retry after {wait} s"
                    ),
                    wait,
                    None,
                );
                response
                    .extensions_mut()
                    .insert(AuthFailure("address over its failure budget"));
                response
            }
            Denied::Refused((kind, message, reason)) => {
                metrics::counter!("madbus_auth_failures_total", "reason" => reason).increment(1);
                let mut response = if self.failures.len() >= MAX_TRACKED_ADDRESSES {
                    too_many(
                        "Too many failed authentications; retry later".into(),
                        60,
                        None,
                    )
                } else {
                    match self.failures.check_key(&ip) {
                        Ok(_) => ApiError::new(kind, message).into_response(),
                        Err(not_until) => {
                            metrics::counter!("madbus_throttled_requests_total", "scope" => "address")
                                .increment(1);
                            let wait = not_until.wait_time_from(DefaultClock::default().now());
                            self.block(ip, wait);
                            let wait = seconds_until(wait);
                            too_many(
                                format!("Too many failed authentications; retry after {wait} s"),
                                wait,
                                None,
                            )
                        }
                    }
                };
                response.extensions_mut().insert(AuthFailure(reason));
                response
            }
            Denied::Throttled(principal, not_until) => {
                metrics::counter!("madbus_throttled_requests_total", "scope" => "key").increment(1);
                let burst = self.config.throttle_burst;
                let wait = seconds_until(not_until.wait_time_from(DefaultClock::default().now()));
                let mut response = too_many(
                    format!(
                        "Rate limit of {burst} requests exceeded for this key; retry after {wait} s"
                    ),
                    wait,
                    Some(burst),
                );
                response.extensions_mut().insert(principal);
                response
            }
        }
    }
}

/// Authenticates and throttles each request to a protected route.
#[derive(Clone)]
pub struct Authenticate(pub Arc<Gateway>);

impl Around for Authenticate {
    type Kept = Accepted;

    fn before(&self, request: &mut Request) -> Result<Accepted, Response> {
        let ip = client_ip(request).unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let (key, group, query_allowed) = presented(request);
        let admitted = self
            .0
            .admit(ip, key.as_deref(), group.as_deref(), query_allowed);
        match admitted {
            Ok(accepted) => {
                request.extensions_mut().insert(accepted.principal.clone());
                Ok(accepted)
            }
            Err(denied) => Err(self.0.deny(ip, denied)),
        }
    }

    fn after(accepted: Accepted, mut response: Response) -> Response {
        let h = response.headers_mut();
        for (name, value) in accepted.rate_limit_headers() {
            h.insert(name, HeaderValue::from(value));
        }
        response.extensions_mut().insert(accepted.principal);
        response
    }
}
