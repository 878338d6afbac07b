//! The live map page at `/` and what it loads (SPEC §4: public). Everything is compiled into
//! the binary, Leaflet included (vendored from npm, BSD-2-Clause), so the page works with no
//! internet; map tiles are drawn only when `--map-tiles` names a tile server.

use std::sync::Arc;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::web::AppState;

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

/// The files the page is made of: path, content type, body.
const ASSETS: [(&str, &str, &str); 7] = [
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("../../assets/index.html"),
    ),
    (
        "/assets/map.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/map.js"),
    ),
    (
        "/assets/map.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/map.css"),
    ),
    (
        "/assets/leaflet.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/vendor/leaflet/leaflet.js"),
    ),
    (
        "/assets/leaflet.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/vendor/leaflet/leaflet.css"),
    ),
    (
        "/assets/uplot.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/vendor/uplot/uPlot.iife.min.js"),
    ),
    (
        "/assets/uplot.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/vendor/uplot/uPlot.min.css"),
    ),
];

fn serve(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
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

/// The page and its assets; `/map-config.json` answers `map`.
pub fn router(map: MapConfig) -> Router<AppState> {
    let map = Arc::new(map);
    ASSETS
        .iter()
        .fold(Router::new(), |router, &(path, content_type, body)| {
            router.route(path, get(move || async move { serve(content_type, body) }))
        })
        .route(
            "/map-config.json",
            get(move || async move { Json(map.as_ref().clone()) }),
        )
}
