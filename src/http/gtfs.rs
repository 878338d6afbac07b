//! GTFS routes: the static feed (public, like the OpenAPI document: it describes the
//! network, not its data) and the three GTFS-Realtime feeds (behind the gateway), in
//! protobuf or, with `?format=json`, the same message as protobuf JSON. Every answer has an
//! `ETag` and `Last-Modified` and honours `If-None-Match` / `If-Modified-Since`.

use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Path, Query as QueryString, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;

use crate::gtfs::realtime::{self, RealtimeFeed};
use crate::gtfs::schedule::{DEFAULT_DAYS, ServiceWindow};
use crate::web::{ApiError, AppState};

pub fn public_router() -> Router<AppState> {
    Router::new().route("/gtfs/static.zip", get(static_feed))
}

pub fn router() -> Router<AppState> {
    Router::new().route("/gtfs-rt/{feed}", get(realtime_feed))
}

#[derive(serde::Deserialize)]
struct StaticParams {
    from: Option<String>,
    days: Option<String>,
}

async fn static_feed(
    State(s): State<AppState>,
    QueryString(p): QueryString<StaticParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let window = match (&p.from, &p.days) {
        (None, None) => None,
        (from, days) => {
            let days = match days {
                None => DEFAULT_DAYS,
                Some(d) => d.parse().map_err(|_| {
                    ApiError::bad_request(format!("Invalid days {d:?}: a whole number of days"))
                })?,
            };
            let first = match from {
                Some(f) => f.clone(),
                None => ServiceWindow::around(s.query.now()).first.to_string(),
            };
            Some(ServiceWindow::parse(&first, days).map_err(ApiError::bad_request)?)
        }
    };
    let feed = s.query.gtfs_static(window).await?;
    let mut response = conditional(&headers, feed.zip, &feed.digest, None, "application/zip");
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"madbus-gtfs.zip\""),
    );
    Ok(response)
}

#[derive(serde::Deserialize)]
struct RealtimeParams {
    format: Option<String>,
    line_id: Option<String>,
}

async fn realtime_feed(
    State(s): State<AppState>,
    Path(feed): Path<String>,
    QueryString(p): QueryString<RealtimeParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let kind = RealtimeFeed::ALL
        .into_iter()
        .find(|k| k.path_name() == feed)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "No GTFS-Realtime feed {feed:?}: use vehicle-positions, trip-updates or alerts"
            ))
        })?;
    let json = match p.format.as_deref() {
        None | Some("protobuf") | Some("pb") => false,
        Some("json") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid format {other:?}: use protobuf (the default) or json"
            )));
        }
    };
    let message = s.query.realtime(kind, p.line_id.as_deref()).await?;
    let modified =
        SystemTime::UNIX_EPOCH + Duration::from_secs(message.header.timestamp.unwrap_or(0));
    let (body, content_type) = if json {
        let body = serde_json::to_vec(&realtime::to_json(&message)).map_err(ApiError::internal)?;
        (body, "application/json")
    } else {
        (
            prost::Message::encode_to_vec(&message),
            "application/x-protobuf",
        )
    };
    let digest = crate::hex::digest(&body);
    Ok(conditional(
        &headers,
        body.into(),
        &digest,
        Some(modified),
        content_type,
    ))
}

/// The answer with its validators, or 304 when the client's copy is current: by
/// `If-None-Match` when given (it wins), else by `If-Modified-Since`.
fn conditional(
    headers: &HeaderMap,
    body: Bytes,
    digest: &str,
    modified: Option<SystemTime>,
    content_type: &'static str,
) -> Response {
    let etag = format!("\"{digest}\"");
    let unchanged = match headers.get(header::IF_NONE_MATCH) {
        Some(tags) => tags.to_str().is_ok_and(|tags| {
            tags.split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == etag || t == "*")
        }),
        None => match (modified, headers.get(header::IF_MODIFIED_SINCE)) {
            (Some(m), Some(since)) => since
                .to_str()
                .ok()
                .and_then(|s| httpdate::parse_http_date(s).ok())
                .is_some_and(|since| m <= since),
            _ => false,
        },
    };
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type)], body).into_response()
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if let Some(m) = modified
        && let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(m))
    {
        h.insert(header::LAST_MODIFIED, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
