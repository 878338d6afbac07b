//! The live map page at `/` and what it loads (SPEC §4: public). Everything is compiled into
//! the binary, Leaflet included (vendored from npm, BSD-2-Clause), so the page works with no
//! internet; map tiles are drawn only when `--map-tiles` names a tile server.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::AppState;

/// The map's optional tile layer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MapConfig {
    /// e.g. `https://tile.openstreetmap.org/{z}/{x}/{y}.png`
    pub tile_url: Option<String>,
    pub tile_attribution: Option<String>,
}

/// Scripts and styles only from here; the feed and the API on this origin; tiles anywhere.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data: https: http:; connect-src 'self' ws: wss:; frame-ancestors 'none'";

struct Asset {
    body: &'static str,
    content_type: &'static str,
}

const INDEX: Asset = Asset {
    body: include_str!("../../assets/index.html"),
    content_type: "text/html; charset=utf-8",
};
const MAP_JS: Asset = Asset {
    body: include_str!("../../assets/map.js"),
    content_type: "text/javascript; charset=utf-8",
};
const MAP_CSS: Asset = Asset {
    body: include_str!("../../assets/map.css"),
    content_type: "text/css; charset=utf-8",
};
const LEAFLET_JS: Asset = Asset {
    body: include_str!("../../assets/vendor/leaflet/leaflet.js"),
    content_type: "text/javascript; charset=utf-8",
};
const LEAFLET_CSS: Asset = Asset {
    body: include_str!("../../assets/vendor/leaflet/leaflet.css"),
    content_type: "text/css; charset=utf-8",
};

impl IntoResponse for &'static Asset {
    fn into_response(self) -> Response {
        let mut response = self.body.into_response();
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { &INDEX }))
        .route("/assets/map.js", get(|| async { &MAP_JS }))
        .route("/assets/map.css", get(|| async { &MAP_CSS }))
        .route("/assets/leaflet.js", get(|| async { &LEAFLET_JS }))
        .route("/assets/leaflet.css", get(|| async { &LEAFLET_CSS }))
        .route("/map-config.json", get(map_config))
}

async fn map_config(State(state): State<AppState>) -> Json<MapConfig> {
    Json(state.map.as_ref().clone())
}
