//! The time-series routes: people counts, sensors, bus positions and line snapshots, each
//! with the three query forms (latest, as-of, range).

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;

use crate::query::views::{BusPositionView, LineSnapshotView, PeopleCountView, SensorView};
use crate::query::{EntitySeries, Query, QueryError, QueryForm};
use crate::sim::{BusPosition, PeopleCount, SensorReading};
use crate::web::ApiError;
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    SERIES
        .iter()
        .fold(Router::new(), |router, route| {
            let find = route.find;
            router.route(
                route.template,
                get(
                    move |State(s): State<AppState>,
                          Path(params): Path<Vec<String>>,
                          Form(form): Form| async move {
                        let params: Vec<&str> = params.iter().map(String::as_str).collect();
                        Ok::<_, ApiError>(JsonBody(find(&s.query, &params)?.json(form).await?))
                    },
                ),
            )
        })
        .route("/bus-position/line/{line_id}", get(line_buses))
}

/// One entity's series, of any kind.
enum Found<'q> {
    People(EntitySeries<'q, PeopleCount, PeopleCountView>),
    Sensors(EntitySeries<'q, SensorReading, SensorView>),
    Position(EntitySeries<'q, BusPosition, BusPositionView>),
}

impl Found<'_> {
    async fn json(self, form: QueryForm) -> Result<Bytes, QueryError> {
        match self {
            Found::People(s) => s.json(form).await,
            Found::Sensors(s) => s.json(form).await,
            Found::Position(s) => s.json(form).await,
        }
    }
}

/// A series route: its template, and how it finds the series from the path's parameters
/// (in the template's order).
struct SeriesRoute {
    template: &'static str,
    find: for<'q> fn(&'q Query, &[&'q str]) -> Result<Found<'q>, QueryError>,
}

/// The entity series routes. The router and [`series_answer`] both read this table,
/// so the fast lane answers exactly the routes the router has.
const SERIES: [SeriesRoute; 3] = [
    SeriesRoute {
        template: "/people-count/{stop_id}",
        find: |q, p| q.people_count(p[0]).map(Found::People),
    },
    SeriesRoute {
        template: "/sensors/{entity_type}/{entity_id}",
        find: |q, p| q.sensors(p[0], p[1]).map(Found::Sensors),
    },
    SeriesRoute {
        template: "/bus-position/{bus_id}",
        find: |q, p| q.bus_position(p[0]).map(Found::Position),
    },
];

/// Most parameters a series template has.
const MAX_PARAMS: usize = 2;

/// The parameters of `path` if it matches `template`: literal segments equal, each
/// `{param}` segment non-empty. A path with an escape (`%`) does not match: the router
/// decodes it, and such paths are left to the router.
fn matches<'p>(template: &str, path: &'p str) -> Option<([&'p str; MAX_PARAMS], usize)> {
    let mut params = [""; MAX_PARAMS];
    let mut count = 0;
    let mut segments = path.split('/');
    for expected in template.split('/') {
        let segment = segments.next()?;
        if expected.starts_with('{') {
            if segment.is_empty() || count == MAX_PARAMS {
                return None;
            }
            params[count] = segment;
            count += 1;
        } else if segment != expected {
            return None;
        }
    }
    // Literal segments are the template's, so only the parameters can hold an escape.
    let escaped = params[..count].iter().any(|p| p.contains('%'));
    (segments.next().is_none() && !escaped).then_some((params, count))
}

/// A GET of a series route, for the gateway's fast lane: the route's template and its
/// answer to come, the same JSON the router would answer (`None` from it: an error, which
/// the router answers). `None` at once when the router would refuse the request before
/// reading anything (another route, an unknown id, a bad query form).
pub fn series_answer<'a>(
    query: &'a Query,
    path: &'a str,
    query_string: &str,
) -> Option<(
    &'static str,
    impl Future<Output = Option<Bytes>> + Send + 'a,
)> {
    let form = QueryForm::from_query(query_string).ok()?;
    let (route, found) = SERIES.iter().find_map(|route| {
        let (params, count) = matches(route.template, path)?;
        Some((route.template, (route.find)(query, &params[..count]).ok()?))
    })?;
    Some((route, async move { found.json(form).await.ok() }))
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

async fn line_buses(
    State(s): State<AppState>,
    Path(line_id): Path<String>,
    Form(form): Form,
) -> Result<Json<LineSnapshotView>, ApiError> {
    Ok(Json(s.query.line_buses(&line_id, form).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_templates_as_the_router_does() {
        let bus = "/bus-position/{bus_id}";
        let sensors = "/sensors/{entity_type}/{entity_id}";
        let found = |template, path| matches(template, path).map(|(p, n)| p[..n].to_vec());
        assert_eq!(found(bus, "/bus-position/B001"), Some(vec!["B001"]));
        assert_eq!(found(bus, "/bus-position/line"), Some(vec!["line"]));
        assert_eq!(
            found(sensors, "/sensors/bus/B001"),
            Some(vec!["bus", "B001"])
        );
        for path in [
            "/bus-position/",
            "/bus-position",
            "/bus-position/B001/",
            "/bus-position/line/L1",
            "/bus-position//B001",
            "/bus-position/B%30",
            "/Bus-position/B001",
            "bus-position/B001",
        ] {
            assert_eq!(found(bus, path), None, "{path}");
        }
    }
}
