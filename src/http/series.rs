//! The time-series routes: people counts, sensors, bus positions and line snapshots, each
//! with the three query forms (latest, as-of, range).

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;

use crate::query::QueryForm;
use crate::query::views::LineSnapshotView;
use crate::web::ApiError;
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/people-count/{stop_id}", get(people_count))
        .route("/sensors/{entity_type}/{entity_id}", get(sensors))
        .route("/bus-position/{bus_id}", get(bus_position))
        .route("/bus-position/line/{line_id}", get(line_buses))
}

/// The request's query form, parsed straight from its query string: axum's `Query` went
/// through serde for two or three pairs (4 % of a latest request's CPU).
struct Form(QueryForm);

impl<S: Send + Sync> FromRequestParts<S> for Form {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        QueryForm::from_query(parts.uri.query().unwrap_or_default())
            .map(Form)
            .map_err(|e| ApiError::bad_request(e.0))
    }
}

/// A JSON body written already (by the query layer).
struct JsonBody(Bytes);

impl IntoResponse for JsonBody {
    fn into_response(self) -> Response {
        let json = HeaderValue::from_static("application/json");
        ([(header::CONTENT_TYPE, json)], self.0).into_response()
    }
}

async fn people_count(
    State(s): State<AppState>,
    Path(stop_id): Path<String>,
    Form(form): Form,
) -> Result<JsonBody, ApiError> {
    Ok(JsonBody(s.query.people_count(&stop_id)?.json(form).await?))
}

async fn sensors(
    State(s): State<AppState>,
    Path((entity_type, entity_id)): Path<(String, String)>,
    Form(form): Form,
) -> Result<JsonBody, ApiError> {
    let series = s.query.sensors(&entity_type, &entity_id)?;
    Ok(JsonBody(series.json(form).await?))
}

async fn bus_position(
    State(s): State<AppState>,
    Path(bus_id): Path<String>,
    Form(form): Form,
) -> Result<JsonBody, ApiError> {
    Ok(JsonBody(s.query.bus_position(&bus_id)?.json(form).await?))
}

async fn line_buses(
    State(s): State<AppState>,
    Path(line_id): Path<String>,
    Form(form): Form,
) -> Result<Json<LineSnapshotView>, ApiError> {
    Ok(Json(s.query.line_buses(&line_id, form).await?))
}
