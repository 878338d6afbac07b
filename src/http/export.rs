//! `GET /export/{series}?from=T&to=T[&format=csv|ndjson|parquet][&line_id][&bus_id][&stop_id]`:
//! a series as a file, streamed a page at a time (a few pages in flight at most, whatever the
//! window), gzip-compressed when the client accepts it.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query as QueryString, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use tower_http::compression::CompressionLayer;

use crate::export::{Encoder, ExportSeries, Format};
use crate::query::export::{ExportRequest, ExportRows};
use crate::time::Millis;
use crate::web::{ApiError, AppState};

/// Encoded pages waiting for a slow client, at most.
const PAGES_IN_FLIGHT: usize = 2;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/export/{series}", get(export))
        .layer(CompressionLayer::new().gzip(true))
}

#[derive(serde::Deserialize)]
struct Params {
    from: Option<String>,
    to: Option<String>,
    format: Option<String>,
    line_id: Option<String>,
    bus_id: Option<String>,
    stop_id: Option<String>,
}

fn time(name: &str, value: Option<String>) -> Result<Millis, ApiError> {
    let value = value.ok_or_else(|| {
        ApiError::bad_request(format!(
            "Missing parameter `{name}`: exports take from=T&to=T"
        ))
    })?;
    Millis::parse(&value).map_err(|e| ApiError::bad_request(format!("Invalid `{name}`: {e}")))
}

async fn export(
    State(s): State<AppState>,
    Path(series): Path<String>,
    QueryString(p): QueryString<Params>,
) -> Result<Response, ApiError> {
    let series = ExportSeries::parse(&series).ok_or_else(|| {
        ApiError::not_found(format!(
            "No series {series:?} to export: use bus_positions, people_count, sensors or bus_arrivals"
        ))
    })?;
    let format = match p.format.as_deref() {
        None => Format::Csv,
        Some(f) => Format::parse(f).ok_or_else(|| {
            ApiError::bad_request(format!("Invalid format {f:?}: use csv, ndjson or parquet"))
        })?,
    };
    let mut rows = s.query.export(ExportRequest {
        series,
        from: time("from", p.from)?,
        to: time("to", p.to)?,
        line_id: p.line_id,
        bus_id: p.bus_id,
        stop_id: p.stop_id,
    })?;
    let mut encoder = Encoder::new(series, format).map_err(ApiError::internal)?;
    // The first page before answering, so a failing store is an error status, not a cut file.
    let first = rows.next_page().await?;
    let head = match &first {
        Some(page) => encoder.page(page).map_err(ApiError::internal)?,
        None => Vec::new(),
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(PAGES_IN_FLIGHT);
    tokio::spawn(stream_rest(first.is_some(), rows, encoder, head, tx));
    let mut response = Body::from_stream(tokio_stream(rx)).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}.{}\"",
        series.name(),
        format.name()
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// Sends `head`, then every other page, then the end of the file. A failure cuts the body
/// (the client sees an incomplete transfer, never a file that looks whole).
async fn stream_rest(
    more: bool,
    mut rows: ExportRows,
    mut encoder: Encoder,
    head: Vec<u8>,
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let result: Result<(), String> = async {
        let send = |bytes: Vec<u8>| {
            let tx = tx.clone();
            async move {
                if bytes.is_empty() {
                    return Ok(());
                }
                tx.send(Ok(Bytes::from(bytes)))
                    .await
                    .map_err(|_| "the client left".to_string())
            }
        };
        send(head).await?;
        if more {
            while let Some(page) = rows.next_page().await.map_err(|e| e.to_string())? {
                send(encoder.page(&page).map_err(|e| e.to_string())?).await?;
            }
        }
        send(encoder.finish().map_err(|e| e.to_string())?).await
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "export stopped");
        let _ = tx.send(Err(std::io::Error::other(e))).await;
    }
}

fn tokio_stream(
    mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
