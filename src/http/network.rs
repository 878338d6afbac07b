//! Network metadata routes: lines (with GeoJSON), stops, predicted arrivals, buses.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};

use crate::query::metadata::{BusSummary, LineDetail, LineSummary, StopArrivalsView, StopView};
use crate::web::ApiError;
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/lines", get(lines))
        .route("/lines/{line_id}", get(line))
        .route("/stops", get(stops))
        .route("/stops/{stop_id}", get(stop))
        .route("/stops/{stop_id}/arrivals", get(arrivals))
        .route("/buses", get(buses))
}

async fn lines(State(s): State<AppState>) -> Json<Vec<LineSummary>> {
    Json(s.query.lines())
}

async fn line(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<LineDetail>, ApiError> {
    Ok(Json(s.query.line(&id)?))
}

async fn stops(State(s): State<AppState>) -> Json<Vec<StopView>> {
    Json(s.query.stops())
}

async fn stop(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<StopView>, ApiError> {
    Ok(Json(s.query.stop(&id)?))
}

async fn arrivals(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<StopArrivalsView>, ApiError> {
    Ok(Json(s.query.stop_arrivals(&id).await?))
}

async fn buses(State(s): State<AppState>) -> Json<Vec<BusSummary>> {
    Json(s.query.buses())
}
