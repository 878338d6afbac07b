//! `GET /openapi.json`: the OpenAPI 3.1 description of exactly what is served. Schemas are
//! strict (every field listed, no others allowed) and the tests validate every response
//! they see against this document, so it cannot drift from the code unnoticed.

use std::sync::OnceLock;

use axum::Json;
use axum::routing::get;
use serde_json::{Value, json};

use crate::web::AppState;

pub fn router() -> axum::Router<AppState> {
    axum::Router::new().route("/openapi.json", get(|| async { Json(document().clone()) }))
}

fn object(required: &[&str], properties: Value) -> Value {
    json!({"type": "object", "required": required, "properties": properties, "additionalProperties": false})
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn time() -> Value {
    json!({"type": "string", "format": "date-time", "description": "RFC 3339, UTC, milliseconds, `Z`"})
}

fn page_of(item: &str) -> Value {
    object(
        &["items", "next_cursor"],
        json!({
            "items": {"type": "array", "items": reference(item)},
            "next_cursor": {"type": ["string", "null"], "description": "Pass as `cursor` for the next page; null on the last"},
        }),
    )
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn error_responses(codes: &[&str]) -> serde_json::Map<String, Value> {
    codes
        .iter()
        .map(|c| {
            (
                c.to_string(),
                json!({"$ref": format!("#/components/responses/{c}")}),
            )
        })
        .collect()
}

fn path_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": description,
           "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}})
}

/// A protected GET with its parameters and 200 schema, plus the usual errors.
fn get_op(summary: &str, params: Vec<Value>, ok: Value, errors: &[&str]) -> Value {
    let mut responses = error_responses(errors);
    responses.insert("200".into(), json_response("OK", ok));
    json!({"get": {"summary": summary, "parameters": params, "responses": responses,
                   "security": [{"ApiKey": [], "GroupName": []}]}})
}

/// The three query forms of the time-series routes.
fn form_params(with_range: bool) -> Vec<Value> {
    let t = |name: &str, d: &str| {
        json!({"name": name, "in": "query", "description": d,
               "schema": {"type": "string", "description": "RFC 3339 (Z or offset) or epoch milliseconds"}})
    };
    let mut p = vec![
        json!({"name": "mode", "in": "query", "description": "`latest`: the newest value",
               "schema": {"type": "string", "enum": ["latest"]}}),
        json!({"name": "latest", "in": "query", "description": "Bare `latest`, same as mode=latest",
               "allowEmptyValue": true, "schema": {"type": "string"}}),
        t("timestamp", "As-of: the last value at or before T"),
    ];
    if with_range {
        p.extend([
            t("from", "Range start (inclusive), with `to`"),
            t("to", "Range end (inclusive), with `from`"),
            json!({"name": "limit", "in": "query", "description": "Rows per page",
                   "schema": crate::query::limit_schema()}),
            json!({"name": "cursor", "in": "query", "description": "`next_cursor` of the previous page",
                   "schema": {"type": "string"}}),
        ]);
    }
    p
}

fn series(summary: &str, params: Vec<Value>, item: &str, page: &str) -> Value {
    let mut all = params;
    all.extend(form_params(true));
    get_op(
        summary,
        all,
        json!({"oneOf": [reference(item), reference(page)]}),
        &["400", "401", "403", "404", "429", "500", "503"],
    )
}

/// The MCP routes: the checklist's plain HTTP contract and Streamable HTTP.
fn mcp_schemas() -> Value {
    let string = json!({"type": "string"});
    json!({
        "ContractError": object(&["success", "error", "message", "request_id"], json!({
            "success": {"const": false},
            "error": {"type": "string", "enum": ["BadRequest", "NotFound", "InternalServerError", "ServiceUnavailable"]},
            "message": string, "request_id": string})),
        "JsonRpcError": object(&["jsonrpc", "id", "error"], json!({
            "jsonrpc": {"const": "2.0"}, "id": {"type": "null"},
            "error": object(&["code", "message"], json!({
                "code": {"type": "integer", "enum": [-32700, -32600], "description": "-32700 parse error, -32600 invalid request"},
                "message": string}))})),
        "ToolList": object(&["tools"], json!({"tools": {"type": "array", "items": {
            "type": "object", "required": ["name", "description", "inputSchema"],
            "properties": {"name": string, "title": string, "description": string,
                "inputSchema": {"type": "object"}, "outputSchema": {"type": "object"},
                "annotations": {"type": "object"}}}}})),
        "ToolCall": object(&["tool"], json!({"tool": {"type": "string", "description": "A name from /mcp/list-tools"},
            "arguments": {"type": "object", "description": "As the tool's inputSchema says"}})),
        "ToolAnswer": object(&["success", "tool", "count", "data", "timestamp"], json!({
            "success": {"const": true}, "tool": string,
            "count": {"type": "integer", "minimum": 0, "description": "rows in `data`"},
            "data": {"type": "array", "items": {"type": "object"}}, "timestamp": time(),
            "next_cursor": {"type": ["string", "null"], "description": "query_time_range: pass as `cursor` for the next page"}})),
    })
}

fn mcp_paths() -> Value {
    let security = json!([{"ApiKey": [], "GroupName": []}]);
    let responses = |(code, ok): (&str, Value), errors: &[&str], contract: &[&str]| {
        let mut r = error_responses(errors);
        r.insert(code.into(), ok);
        for code in contract {
            let schema = reference("ContractError");
            r.insert(
                code.to_string(),
                json_response("Failed: the message says why", schema),
            );
        }
        r
    };
    let body = |schema: Value| json!({"required": true, "content": {"application/json": {"schema": schema}}});
    let mut mcp_responses = responses(
        (
            "200",
            json_response("A JSON-RPC response", json!({"type": "object"})),
        ),
        &["401", "403", "406", "413", "415", "429", "500"],
        &[],
    );
    mcp_responses.insert(
        "400".into(),
        json_response(
            "Not one JSON-RPC 2.0 message (parse error, batch, no method), or a transport header is wrong",
            json!({"oneOf": [reference("JsonRpcError"), reference("Error")]}),
        ),
    );
    json!({
        "/": {"get": {"summary": "The live map page", "security": [],
            "responses": {"200": {"description": "HTML", "content": {"text/html": {}}}}}},
        "/map-config.json": {"get": {"summary": "The map page's optional tile layer", "security": [],
            "responses": {"200": json_response("OK", json!({"type": "object", "required": ["tile_url", "tile_attribution"],
                "properties": {"tile_url": {"type": ["string", "null"]}, "tile_attribution": {"type": ["string", "null"]}}}))}}},
        "/assets/{file}": {"get": {"summary": "What the map page loads: map.js, map.css, leaflet.js, leaflet.css, uplot.js, uplot.css", "security": [],
            "parameters": [{"name": "file", "in": "path", "required": true,
                "schema": {"type": "string", "enum": ["map.js", "map.css", "leaflet.js", "leaflet.css", "uplot.js", "uplot.css"]}}],
            "responses": {"200": {"description": "JavaScript or CSS"}, "404": {"$ref": "#/components/responses/404"}}}},
        "/mcp/list-tools": {"post": {
            "summary": "The MCP tools (the deployment checklist's plain HTTP contract)",
            "security": security,
            "responses": responses(("200", json_response("OK", reference("ToolList"))), &["401", "403", "429", "500"], &[])}},
        "/mcp/call-tool": {"post": {
            "summary": "Call an MCP tool (the deployment checklist's plain HTTP contract)",
            "security": security,
            "requestBody": body(reference("ToolCall")),
            "responses": responses(("200", json_response("The tool's rows", reference("ToolAnswer"))), &["401", "403", "413", "429"], &["400", "404", "500", "503"])}},
        "/ws": {"get": {
            "summary": "The WebSocket live feed (upgrade). Browsers may pass the key as `api_key` and `group_name` query parameters. Send {\"action\": \"subscribe\", \"line_ids\": [...], \"topics\": [positions, arrivals, people, sensors]}; receive an ack, a snapshot per line, then `bus.position.updated`, `bus.arrival`, `people.count.updated`, `sensor.updated` events as {\"type\", \"data\"} with the REST fields.",
            "security": security,
            "responses": responses(("101", json!({"description": "Switching to the WebSocket protocol"})), &["400", "401", "403", "429"], &[])}},
        "/mcp": {"post": {
            "summary": "MCP Streamable HTTP: JSON-RPC 2.0, revision 2026-07-28 (stateless) and the initialize handshake of 2025-11-25 and 2025-06-18",
            "security": security,
            "requestBody": body(json!({"type": "object"})),
            "responses": mcp_responses}},
    })
}

/// Bulk exports.
fn export_paths() -> Value {
    use crate::export::{ExportSeries, Format};
    let mut responses = error_responses(&["400", "401", "403", "404", "429", "500", "503"]);
    responses.insert("200".into(), json!({
        "description": "The rows, streamed: entity by entity, each oldest first. Columns as the REST views name them; lists as text (`line_ids` `L1,L2`; `waiting` `L1:0:3,...`); gzip with Accept-Encoding: gzip",
        "content": Format::ALL.iter().map(|f| (f.content_type().to_string(), json!({}))).collect::<serde_json::Map<_, _>>()}));
    let time = |name: &str, d: &str| {
        json!({"name": name, "in": "query", "required": true, "description": d,
        "schema": {"type": "string", "description": "RFC 3339 (Z or offset) or epoch milliseconds"}})
    };
    let id = |name: &str, d: &str| {
        json!({"name": name, "in": "query", "description": d,
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}})
    };
    json!({
        "/export/{series}": {"get": {
            "summary": "A series as CSV, NDJSON or Parquet, for analysts (any window, streamed in bounded memory)",
            "security": [{"ApiKey": [], "GroupName": []}],
            "parameters": [
                {"name": "series", "in": "path", "required": true,
                 "schema": {"type": "string", "enum": ExportSeries::ALL.map(|s| s.name())}},
                time("from", "Window start (inclusive)"),
                time("to", "Window end (inclusive), after `from`"),
                {"name": "format", "in": "query", "schema": {"type": "string", "enum": Format::ALL.map(|f| f.name()), "default": "csv"}},
                id("line_id", "Only the buses (and stops) of this line"),
                id("bus_id", "Only this bus (bus_positions, sensors, bus_arrivals)"),
                id("stop_id", "Only this stop (people_count, sensors, bus_arrivals)")],
            "responses": responses}},
    })
}

/// The GTFS static feed (public) and the GTFS-Realtime feeds.
fn gtfs_paths() -> Value {
    let not_modified = json!({"description": "Not modified: the client's copy (If-None-Match or If-Modified-Since) is current"});
    let mut realtime = error_responses(&["400", "401", "403", "404", "429", "500", "503"]);
    realtime.insert("200".into(), json!({
        "description": "A GTFS-Realtime 2.0 FeedMessage (FULL_DATASET), with ETag and Last-Modified",
        "content": {
            "application/x-protobuf": {},
            "application/json": {"schema": {"type": "object", "required": ["header"],
                "description": "The same message in the protobuf JSON mapping (format=json)"}}}}));
    realtime.insert("304".into(), not_modified.clone());
    let mut static_feed = error_responses(&["400", "500"]);
    static_feed.insert("200".into(), json!({
        "description": "A GTFS zip: agency, stops (with parent stations), routes, trips, stop_times, shapes, calendar_dates, feed_info; ids are the API's",
        "content": {"application/zip": {}}}));
    static_feed.insert("304".into(), not_modified);
    json!({
        "/gtfs/static.zip": {"get": {
            "summary": "The GTFS static feed of the network's timetables (public)",
            "security": [],
            "parameters": [
                {"name": "from", "in": "query", "description": "First service day (default: yesterday in Madrid)",
                 "schema": {"type": "string", "format": "date"}},
                {"name": "days", "in": "query", "description": "Service days covered",
                 "schema": {"type": "integer", "minimum": 1, "maximum": crate::gtfs::schedule::MAX_DAYS,
                            "default": crate::gtfs::schedule::DEFAULT_DAYS}}],
            "responses": static_feed}},
        "/gtfs-rt/{feed}": {"get": {
            "summary": "A GTFS-Realtime feed of the live state: vehicle positions, trip updates or alerts",
            "security": [{"ApiKey": [], "GroupName": []}],
            "parameters": [
                {"name": "feed", "in": "path", "required": true,
                 "schema": {"type": "string", "enum": crate::gtfs::realtime::RealtimeFeed::ALL.map(|f| f.path_name())}},
                {"name": "format", "in": "query", "description": "protobuf (the default) or json",
                 "schema": {"type": "string", "enum": ["protobuf", "pb", "json"]}},
                {"name": "line_id", "in": "query", "description": "Only this line's buses and trips",
                 "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}}],
            "responses": realtime}},
    })
}

pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(build)
}

fn build() -> Value {
    let number = json!({"type": "number"});
    let string = json!({"type": "string"});
    let ids = json!({"type": "array", "items": {"type": "string"}});
    let component = json!({"type": "object", "required": ["status"], "properties": {"status": {"type": "string", "enum": ["ok", "unhealthy"]}}});
    let schemas = json!({
        "Error": object(&["error", "message", "request_id"], json!({
            "error": {"type": "string", "enum": ["BadRequest", "Unauthorized", "Forbidden", "NotFound",
                "MethodNotAllowed", "NotAcceptable", "RequestTimeout", "PayloadTooLarge", "UnsupportedMediaType",
                "TooManyRequests", "InternalServerError", "ServiceUnavailable"]},
            "message": string, "request_id": string})),
        "Health": object(&["status", "version", "uptime_s", "components"], json!({
            "status": {"type": "string", "enum": ["healthy", "unhealthy", "starting"],
                "description": "`starting` (503) until the simulator is live: the history is still being made"},
            "phase": {"type": "string", "enum": ["starting", "backfilling"], "description": "While starting"},
            "progress": {"type": "number", "minimum": 0, "maximum": 1, "description": "While starting: the share of the backfill done"},
            "version": string, "uptime_s": {"type": "integer", "minimum": 0},
            "components": {"type": "object", "required": ["store", "simulator", "feed"],
                "properties": {"store": component, "simulator": component, "feed": component}}})),
        "BusPosition": object(&["bus_id", "line_id", "time", "latitude", "longitude", "speed", "direction",
                "passenger_count", "next_stop_id", "distance_to_next_stop", "at_stop", "in_service", "trip_id", "delay_s"], json!({
            "bus_id": string, "line_id": string, "time": time(),
            "latitude": number, "longitude": number,
            "speed": {"type": "number", "minimum": 0, "description": "km/h"},
            "direction": {"type": "integer", "enum": [0, 1], "description": "0: first stop to last; 1: back"},
            "passenger_count": {"type": "integer", "minimum": 0},
            "next_stop_id": string,
            "distance_to_next_stop": {"type": "number", "minimum": 0, "description": "metres"},
            "at_stop": {"type": "boolean", "description": "true while the doors are open at a stop: dwelling, or resting at a terminal before a trip"},
            "in_service": {"type": "boolean", "description": "false while parked or driving empty between terminals"},
            "trip_id": {"type": ["string", "null"], "description": "the trip it runs (or will start, at a terminal): LINE_YYYYMMDD_END_HHMM"},
            "delay_s": {"type": ["integer", "null"], "description": "seconds behind the trip's schedule as of its last stop (negative: ahead)"}})),
        "BusPositionPage": page_of("BusPosition"),
        "PeopleCount": object(&["stop_id", "time", "count", "line_ids", "waiting", "gave_up"], json!({
            "stop_id": string, "time": time(), "count": {"type": "integer", "minimum": 0}, "line_ids": ids,
            "waiting": {"type": "array", "description": "count by line and direction",
                "items": object(&["line_id", "direction", "count"], json!({
                    "line_id": string, "direction": {"type": "integer", "enum": [0, 1]},
                    "count": {"type": "integer", "minimum": 0}}))},
            "gave_up": {"type": "integer", "minimum": 0, "description": "people who gave up waiting since the previous record"}})),
        "PeopleCountPage": page_of("PeopleCount"),
        "Sensor": object(&["entity_type", "entity_id", "time", "temperature", "humidity"], json!({
            "entity_type": {"type": "string", "enum": ["bus", "stop"]}, "entity_id": string, "time": time(),
            "temperature": {"type": "number", "description": "°C"},
            "humidity": {"type": "number", "description": "%"},
            "co2_level": {"type": "number", "description": "ppm; buses only"},
            "door_status": {"type": "string", "enum": ["open", "closed"], "description": "buses only"}})),
        "SensorPage": page_of("Sensor"),
        "LineSnapshot": object(&["line_id", "time", "buses"], json!({
            "line_id": string, "time": time(), "buses": {"type": "array", "items": reference("BusPosition")}})),
        "LineSummary": object(&["line_id", "name", "color", "length_m", "stop_ids", "bus_ids", "headway_s"], json!({
            "line_id": string, "name": string, "color": {"type": ["string", "null"]},
            "length_m": number, "stop_ids": ids, "bus_ids": ids,
            "headway_s": {"type": ["integer", "null"], "minimum": 0, "description": "the timetable's headway now, seconds; null when the line is not running"}})),
        "StopOnLine": object(&["stop_id", "name", "latitude", "longitude", "is_terminal", "distance_along_m"], json!({
            "stop_id": string, "name": string, "latitude": number, "longitude": number,
            "is_terminal": {"type": "boolean"}, "distance_along_m": number})),
        "Bus": object(&["bus_id", "line_id", "capacity"], json!({
            "bus_id": string, "line_id": string, "capacity": {"type": "integer", "minimum": 1}})),
        "LineDetail": object(&["line_id", "name", "color", "length_m", "cruise_speed_kmh", "stops", "buses", "geometry"], json!({
            "line_id": string, "name": string, "color": {"type": ["string", "null"]},
            "length_m": number, "cruise_speed_kmh": number,
            "stops": {"type": "array", "items": reference("StopOnLine")},
            "buses": {"type": "array", "items": reference("Bus")},
            "geometry": {"type": "object", "description": "GeoJSON Feature with a LineString of [longitude, latitude]",
                "required": ["type", "geometry", "properties"],
                "properties": {"type": {"const": "Feature"},
                    "geometry": {"type": "object", "required": ["type", "coordinates"],
                        "properties": {"type": {"const": "LineString"},
                            "coordinates": {"type": "array", "items": {"type": "array", "items": number, "minItems": 2, "maxItems": 2}}}},
                    "properties": {"type": "object"}}}})),
        "Stop": object(&["stop_id", "name", "latitude", "longitude", "is_terminal", "base_arrival_rate", "line_ids", "place_id", "place_name"], json!({
            "stop_id": string, "name": string, "latitude": number, "longitude": number,
            "is_terminal": {"type": "boolean"},
            "base_arrival_rate": {"type": "number", "description": "people per minute at the weekday peak"},
            "line_ids": ids,
            "place_id": {"type": "string", "description": "the stop's own id, or for stops that are one place the GTFS parent station's (STATION_...)"},
            "place_name": string})),
        "PredictedArrival": object(&["bus_id", "line_id", "direction", "towards_stop_id", "trip_id", "eta_seconds", "predicted", "eta", "scheduled", "delay_s", "distance"], json!({
            "bus_id": string, "line_id": string, "direction": {"type": "integer", "enum": [0, 1]},
            "towards_stop_id": string,
            "trip_id": {"type": ["string", "null"], "description": "the trip it will serve the stop on"},
            "eta_seconds": {"type": "number", "minimum": 0}, "predicted": time(), "eta": time(),
            "scheduled": {"type": ["string", "null"], "format": "date-time", "description": "the trip's scheduled time at the stop"},
            "delay_s": {"type": ["integer", "null"], "description": "predicted minus scheduled, seconds"},
            "distance": {"type": "number", "minimum": 0, "description": "metres along the route"}})),
        "StopArrivals": object(&["stop_id", "time", "arrivals"], json!({
            "stop_id": string, "time": time(),
            "arrivals": {"type": "array", "items": reference("PredictedArrival")}})),
    });
    let error = |d: &str| json_response(d, reference("Error"));
    let mut too_many = error("Throttled");
    too_many["headers"] =
        json!({"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}});
    let mut unavailable = error(
        "Not ready (the history is still being made) or a component is down; retry after Retry-After",
    );
    unavailable["headers"] = too_many["headers"].clone();
    let responses = json!({
        "406": error("Not acceptable: /mcp answers only clients that accept application/json and text/event-stream"),
        "413": error("The request body is too large (--max-body)"),
        "415": error("Unsupported media type: send Content-Type: application/json"),
        "503": unavailable,
        "400": error("Bad request: a malformed id or time, or no valid query form"),
        "401": error("Missing x-api-key or x-group-name"),
        "403": error("Unknown, revoked or expired key, or a key of another group"),
        "404": error("Unknown id, or no data at that time"),
        "429": too_many,
        "500": error("Internal error (details are logged, not shown)"),
    });
    let stop = path_param("stop_id", "A stop id, e.g. S001");
    let bus = path_param("bus_id", "A bus id, e.g. B001");
    let line = path_param("line_id", "A line id, e.g. L1");
    let common = ["401", "403", "429", "500"];
    let with_404 = ["400", "401", "403", "404", "429", "500"];
    let with_503 = ["400", "401", "403", "404", "429", "500", "503"];
    let list = |item: &str| json!({"type": "array", "items": reference(item)});
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "madbus",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Real-time city-bus data: people at stops, sensors, bus positions, network metadata. Every route except /health and /openapi.json needs the x-api-key and x-group-name headers.",
        },
        "components": {
            "schemas": schemas,
            "responses": responses,
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "GroupName": {"type": "apiKey", "in": "header", "name": "x-group-name"},
            },
        },
        "paths": {
            "/health": {"get": {"summary": "Health of the store, the simulator and the feed", "security": [],
                "responses": {"200": json_response("Healthy", reference("Health")),
                              "503": json_response("Unhealthy, or starting (backfilling)", reference("Health"))}}},
            "/livez": {"get": {"summary": "200 while the process is up (for container runtimes)", "security": [],
                "responses": {"200": json_response("Alive", object(&["status"], json!({"status": {"const": "alive"}})))}}},
            "/openapi.json": {"get": {"summary": "This document", "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "security": [{"ApiKey": [], "GroupName": []}],
                "responses": {"200": {"description": "Prometheus text", "content": {"text/plain": {}}},
                              "401": {"$ref": "#/components/responses/401"}, "403": {"$ref": "#/components/responses/403"}}}},
            "/people-count/{stop_id}": series("People waiting at a stop", vec![stop.clone()], "PeopleCount", "PeopleCountPage"),
            "/sensors/{entity_type}/{entity_id}": series("Sensor readings of a bus or a stop", vec![
                json!({"name": "entity_type", "in": "path", "required": true, "schema": {"type": "string", "enum": ["bus", "stop"]}}),
                path_param("entity_id", "A bus id or a stop id, as entity_type says"),
            ], "Sensor", "SensorPage"),
            "/bus-position/{bus_id}": series("Position and load of a bus", vec![bus], "BusPosition", "BusPositionPage"),
            "/bus-position/line/{line_id}": get_op("Every bus of a line (latest or as of T)",
                { let mut p = vec![line.clone()]; p.extend(form_params(false)); p },
                reference("LineSnapshot"), &with_503),
            "/lines": get_op("All lines", vec![], list("LineSummary"), &common),
            "/lines/{line_id}": get_op("A line with its stops, buses and GeoJSON geometry", vec![line], reference("LineDetail"), &with_404),
            "/stops": get_op("All stops", vec![], list("Stop"), &common),
            "/stops/{stop_id}": get_op("A stop", vec![stop.clone()], reference("Stop"), &with_404),
            "/stops/{stop_id}/arrivals": get_op("Predicted arrivals at a stop, soonest first", vec![stop], reference("StopArrivals"), &with_503),
            "/buses": get_op("All buses", vec![], list("Bus"), &common),
        },
    });
    let merge = |into: &mut Value, from: Value| {
        if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
            into.extend(from);
        }
    };
    merge(&mut doc["components"]["schemas"], mcp_schemas());
    merge(&mut doc["paths"], mcp_paths());
    merge(&mut doc["paths"], gtfs_paths());
    merge(&mut doc["paths"], export_paths());
    doc
}
