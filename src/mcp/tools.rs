//! The MCP tools of SPEC §4: one catalogue and one dispatcher, shared by the Streamable HTTP
//! and stdio servers and by the checklist's plain HTTP contract (`POST /mcp/call-tool`).
//! Every tool answers through the query layer, so its data is the REST data.
//!
//! Argument problems (a malformed or unknown id, a bad time, start not before end, too wide
//! a range, an unknown argument) are tool errors with a message an assistant can act on;
//! only an unknown tool name is a protocol error.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use rmcp::handler::server::common::{schema_for_output, schema_for_type};
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, DeserializeOwned, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::gtfs::realtime::{self, RealtimeFeed};
use crate::query::metadata::StopArrivalsView;
use crate::query::views::{Answer, BusPositionView, LineSnapshotView, PeopleCountView, SensorView};
use crate::query::{FormError, LineSummary, MAX_LIMIT, Query, QueryError, QueryForm};
use crate::time::{Duration, Millis};

/// The widest window `query_time_range` accepts. Pages bound each answer; this bounds how
/// far an assistant can wander through history in one query.
pub const MAX_RANGE: Duration = Duration::from_secs(31 * 86_400);

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("Unknown tool {0:?}: list the tools for their names")]
    UnknownTool(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    NotReady(String),
    /// Logged where it happened; callers see only that the tool failed.
    #[error("Internal error: the tool failed; try again later")]
    Internal,
}

impl From<QueryError> for ToolError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::BadRequest(m) => ToolError::BadRequest(m),
            QueryError::NotFound(m) => ToolError::NotFound(m),
            QueryError::NotReady(m) => ToolError::NotReady(m),
            QueryError::Store(e @ crate::store::StoreError::Backend(_)) => {
                tracing::error!(error = %e, "the store did not answer");
                ToolError::NotReady(crate::web::STORE_AWAY.into())
            }
            QueryError::Store(e) => {
                tracing::error!(error = %e, "tool query failed");
                ToolError::Internal
            }
            QueryError::Internal(e) => {
                tracing::error!(error = %e, "tool query failed");
                ToolError::Internal
            }
        }
    }
}

impl From<FormError> for ToolError {
    fn from(e: FormError) -> Self {
        ToolError::BadRequest(e.0)
    }
}

/// A tool's answer: a JSON object (MCP `structuredContent`, described by the tool's output
/// schema) whose rows (the plain HTTP contract's `data`) are either the object itself or the
/// array under one of its keys.
#[derive(Debug, Clone)]
pub struct ToolOutput {
    pub structured: Value,
    rows_key: Option<&'static str>,
}

impl ToolOutput {
    /// One record: it is both the object and the only row.
    fn one(view: impl Serialize) -> Self {
        Self {
            structured: to_json(view),
            rows_key: None,
        }
    }

    /// An object whose rows are the array under `rows_key`.
    fn with_rows(object: impl Serialize, rows_key: &'static str) -> Self {
        Self {
            structured: to_json(object),
            rows_key: Some(rows_key),
        }
    }

    /// The rows, for the plain HTTP contract.
    pub fn into_rows(self) -> Vec<Value> {
        match self.rows_key {
            None => vec![self.structured],
            Some(key) => match self.structured {
                Value::Object(mut map) => match map.remove(key) {
                    Some(Value::Array(rows)) => rows,
                    _ => Vec::new(),
                },
                _ => Vec::new(),
            },
        }
    }
}

fn to_json(v: impl Serialize) -> Value {
    serde_json::to_value(v).expect("views serialise to JSON")
}

// ---- arguments ---------------------------------------------------------------------------

const MODE_DOC: &str =
    "`latest` (the default): the current value. Leave it out when giving `timestamp`.";
const TIMESTAMP_DOC: &str = "A past time: the last record at or before it is returned. RFC 3339 \
     (`2026-11-29T08:30:00Z` or with an offset such as `+01:00`) or epoch milliseconds. Leave \
     it out for the current value.";

/// The only mode; a past value is asked for with `timestamp`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Mode {
    Latest,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum EntityKind {
    Bus,
    Stop,
}

impl EntityKind {
    fn as_str(self) -> &'static str {
        match self {
            EntityKind::Bus => "bus",
            EntityKind::Stop => "stop",
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum DataType {
    PeopleCount,
    Sensors,
    BusPosition,
}

impl DataType {
    fn as_str(self) -> &'static str {
        match self {
            DataType::PeopleCount => "people_count",
            DataType::Sensors => "sensors",
            DataType::BusPosition => "bus_position",
        }
    }
}

/// A time argument: RFC 3339 text or epoch milliseconds, as a JSON string or integer.
#[derive(Debug, Clone)]
struct TimeArg(String);

impl<'de> Deserialize<'de> for TimeArg {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = TimeArg;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an RFC 3339 time or epoch milliseconds")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TimeArg, E> {
                Ok(TimeArg(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<TimeArg, E> {
                Ok(TimeArg(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<TimeArg, E> {
                Ok(TimeArg(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Rows per page; its schema is the one the parser enforces
/// ([`crate::query::limit_schema`]), so the two cannot disagree.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(transparent)]
struct PageLimit(u32);

impl JsonSchema for PageLimit {
    fn schema_name() -> Cow<'static, str> {
        "PageLimit".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        Schema::try_from(crate::query::limit_schema()).expect("an object is a schema")
    }
}

impl JsonSchema for TimeArg {
    fn schema_name() -> Cow<'static, str> {
        "Time".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": ["string", "integer"],
            "examples": ["2026-11-29T08:30:00Z", 1795941000000_i64]
        })
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PeopleCountArgs {
    /// The stop id, e.g. `S001` (`list_lines` gives each line's stop ids).
    stop_id: String,
    #[schemars(description = MODE_DOC)]
    mode: Option<Mode>,
    #[schemars(description = TIMESTAMP_DOC)]
    timestamp: Option<TimeArg>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SensorArgs {
    /// `bus` (temperature, humidity, CO2, doors) or `stop` (temperature, humidity).
    entity_type: EntityKind,
    /// The bus id (e.g. `B001`) or stop id (e.g. `S001`).
    entity_id: String,
    #[schemars(description = MODE_DOC)]
    mode: Option<Mode>,
    #[schemars(description = TIMESTAMP_DOC)]
    timestamp: Option<TimeArg>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct BusPositionArgs {
    /// The bus id, e.g. `B001` (`list_lines` gives each line's bus ids).
    bus_id: String,
    #[schemars(description = MODE_DOC)]
    mode: Option<Mode>,
    #[schemars(description = TIMESTAMP_DOC)]
    timestamp: Option<TimeArg>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct LineBusesArgs {
    /// The line id, e.g. `L1`.
    line_id: String,
    #[schemars(description = TIMESTAMP_DOC)]
    timestamp: Option<TimeArg>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct TimeRangeArgs {
    /// Which series: `people_count` (a stop), `sensors` (a bus or a stop) or `bus_position`.
    data_type: DataType,
    /// The stop id or bus id the series is about.
    entity_id: String,
    /// For `sensors` only, when an id could be either: `bus` or `stop` (found from the id
    /// otherwise).
    entity_type: Option<EntityKind>,
    /// Start of the window (inclusive): RFC 3339 or epoch milliseconds.
    start_time: TimeArg,
    /// End of the window (inclusive), after `start_time`, at most 31 days later.
    end_time: TimeArg,
    /// Rows per page. Rows come oldest first.
    limit: Option<PageLimit>,
    /// The `next_cursor` of the previous page, to read the next one.
    cursor: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct StopArrivalsArgs {
    /// The stop id, e.g. `S001`.
    stop_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct VehiclePositionsArgs {
    /// Only the buses of this line, e.g. `L1` (all lines when left out).
    line_id: Option<String>,
}

// ---- outputs that are not views of their own ---------------------------------------------

/// A GTFS-Realtime `FeedMessage` in the protobuf JSON mapping (what
/// `/gtfs-rt/vehicle-positions?format=json` answers).
#[derive(Debug, Serialize)]
#[serde(transparent)]
struct GtfsRealtimeJson(Value);

impl JsonSchema for GtfsRealtimeJson {
    fn schema_name() -> Cow<'static, str> {
        "GtfsRealtimeFeedMessage".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "description": "A GTFS-Realtime 2.0 FeedMessage (protobuf JSON: camelCase fields, enum names, 64-bit integers as strings)",
            "properties": {
                "header": {"type": "object", "properties": {
                    "gtfsRealtimeVersion": {"type": "string"},
                    "incrementality": {"type": "string"},
                    "timestamp": {"type": "string", "description": "POSIX seconds"}}},
                "entity": {"type": "array", "items": {"type": "object", "properties": {
                    "id": {"type": "string"},
                    "vehicle": {"type": "object", "description": "trip, vehicle, position, currentStopSequence, stopId, currentStatus, timestamp, occupancyStatus, occupancyPercentage"}}}}
            },
            "required": ["header"]
        })
    }
}

#[derive(Debug, Serialize, JsonSchema)]
struct LinesOutput {
    count: usize,
    lines: Vec<LineSummary>,
}

/// The rows of one page, of whichever series was asked for.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
enum RangeItems {
    PeopleCount(Vec<PeopleCountView>),
    Sensors(Vec<SensorView>),
    BusPosition(Vec<BusPositionView>),
}

#[derive(Debug, Serialize, JsonSchema)]
struct TimeRangeOutput {
    data_type: &'static str,
    entity_id: String,
    /// Rows in this page.
    count: usize,
    /// Oldest first.
    items: RangeItems,
    /// Pass back as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

// ---- the catalogue -----------------------------------------------------------------------

/// The tools: each with its description and schemas beside the function that answers it.
struct Catalog {
    tools: Vec<Tool>,
    runs: Vec<Run>,
}

type Run = Box<
    dyn Fn(Query, JsonObject) -> Pin<Box<dyn Future<Output = Result<ToolOutput, ToolError>> + Send>>
        + Send
        + Sync,
>;

fn the_catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let entries = vec![
            entry::<PeopleCountArgs, PeopleCountView, _, _>(
                "query_people_count",
                "People waiting at a stop",
                "How many people are waiting at a bus stop, now (default) or at a past \
                 `timestamp`. Returns {stop_id, time, count, line_ids}. Counts are recorded \
                 every minute of simulated time.",
                people_count,
            ),
            entry::<SensorArgs, SensorView, _, _>(
                "query_sensor_data",
                "Sensor readings of a bus or a stop",
                "Temperature (°C) and humidity (%) at a stop or on a bus, plus CO2 (ppm) and \
                 door status (open while dwelling at a stop) for buses; now (default) or at a \
                 past `timestamp`. Readings are recorded every minute of simulated time.",
                sensor_data,
            ),
            entry::<BusPositionArgs, BusPositionView, _, _>(
                "query_bus_position",
                "Position and load of a bus",
                "Where a bus is: latitude, longitude, speed (km/h), direction (0 outbound, 1 \
                 back), passenger_count, next_stop_id, distance_to_next_stop (m), at_stop; now \
                 (default) or at a past `timestamp`. Positions are recorded every 5 s.",
                bus_position,
            ),
            entry::<LineBusesArgs, LineSnapshotView, _, _>(
                "query_line_buses",
                "Every bus of a line",
                "A snapshot of every bus on one line (positions and loads), now or at a past \
                 `timestamp`. Use it to see how a whole line is doing at once.",
                line_buses,
            ),
            entry::<TimeRangeArgs, TimeRangeOutput, _, _>(
                "query_time_range",
                "History of one stop or bus",
                "The records of one series (people_count, sensors or bus_position) of one \
                 entity between start_time and end_time (at most 31 days apart), oldest first, \
                 one page of `limit` rows at a time: pass `next_cursor` back as `cursor` for \
                 the next page.",
                time_range,
            ),
            entry::<NoArgs, LinesOutput, _, _>(
                "list_lines",
                "The bus network",
                "Every line with its name, colour, length (m), stop ids in route order and \
                 bus ids. Start here to find the ids the other tools take.",
                list_lines,
            ),
            entry::<StopArrivalsArgs, StopArrivalsView, _, _>(
                "get_stop_arrivals",
                "Predicted arrivals at a stop",
                "The buses coming to a stop, soonest first: bus, line, direction, ETA (seconds \
                 and time) and distance along the route (m), predicted from the buses' latest \
                 positions and speeds and the stops on the way.",
                stop_arrivals,
            ),
            entry::<VehiclePositionsArgs, GtfsRealtimeJson, _, _>(
                "get_vehicle_positions",
                "Every bus in service, as GTFS-Realtime",
                "The GTFS-Realtime vehicle positions feed as JSON (the same message as \
                 /gtfs-rt/vehicle-positions): for each bus in service its trip (trip_id, \
                 route_id, direction, start date and time), position, bearing, speed (m/s), \
                 next stop and whether it is stopped at it, and occupancy. Optionally of one \
                 line.",
                vehicle_positions,
            ),
        ];
        let (tools, runs) = entries.into_iter().unzip();
        Catalog { tools, runs }
    })
}

/// Every tool, as `tools/list` shows it.
pub fn catalog() -> &'static [Tool] {
    &the_catalog().tools
}

/// A tool whose arguments are `A` and whose structured output is `O`, answered by `run`.
fn entry<A, O, F, Fut>(
    name: &'static str,
    title: &'static str,
    description: &'static str,
    run: F,
) -> (Tool, Run)
where
    A: DeserializeOwned + JsonSchema + Send + 'static,
    O: JsonSchema + 'static,
    F: Fn(Query, A) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<ToolOutput, ToolError>> + Send + 'static,
{
    let tool = tool::<A, O>(name, title, description);
    let run: Run = Box::new(move |query, arguments| {
        Box::pin(async move { run(query, args(name, arguments)?).await })
    });
    (tool, run)
}

fn tool<A: JsonSchema + 'static, O: JsonSchema + 'static>(
    name: &'static str,
    title: &'static str,
    description: &'static str,
) -> Tool {
    Tool::new(name, description, portable(&schema_for_type::<A>(), true))
        .with_title(title)
        .with_raw_output_schema(portable(&schema_for_output::<O>(), false))
        .with_annotations(
            ToolAnnotations::with_title(title)
                .read_only(true)
                .destructive(false)
                .idempotent(true)
                .open_world(false),
        )
}

/// JSON Schema `format`s every validator knows; schemars also writes `uint32` and the like,
/// which validators warn about and ignore.
const STANDARD_FORMATS: [&str; 4] = ["date-time", "date", "time", "uri"];

/// A generated schema in its most portable spelling, for every client and model provider:
/// `anyOf` of single types rather than a `type` array, no non-standard `format`, and for
/// inputs (`optional_is_absent`) no `null` branch: an optional argument is left out.
fn portable(schema: &JsonObject, optional_is_absent: bool) -> Arc<JsonObject> {
    fn walk(v: &mut Value, drop_null: bool) {
        match v {
            Value::Object(map) => walk_object(map, drop_null),
            Value::Array(items) => items.iter_mut().for_each(|child| walk(child, drop_null)),
            _ => {}
        }
    }
    fn walk_object(map: &mut JsonObject, drop_null: bool) {
        if map
            .get("format")
            .and_then(Value::as_str)
            .is_some_and(|f| !STANDARD_FORMATS.contains(&f))
        {
            map.remove("format");
        }
        if let Some(Value::Array(types)) = map.get("type").cloned() {
            map.remove("type");
            let branches = types.into_iter().map(|t| serde_json::json!({ "type": t }));
            map.insert("anyOf".into(), Value::Array(branches.collect()));
        }
        if drop_null && let Some(Value::Array(branches)) = map.get_mut("anyOf") {
            branches.retain(|b| b.get("type") != Some(&Value::from("null")));
            if let [Value::Object(only)] = branches.as_slice() {
                let only = only.clone();
                map.remove("anyOf");
                map.extend(only);
            }
        }
        map.values_mut().for_each(|child| walk(child, drop_null));
    }
    let mut map = schema.clone();
    walk_object(&mut map, optional_is_absent);
    Arc::new(map)
}

/// The tool named `name`, if there is one.
pub fn find(name: &str) -> Option<&'static Tool> {
    catalog().iter().find(|t| t.name == name)
}

// ---- the dispatcher ----------------------------------------------------------------------

fn args<A: DeserializeOwned>(tool: &str, arguments: JsonObject) -> Result<A, ToolError> {
    serde_json::from_value(Value::Object(arguments))
        .map_err(|e| ToolError::BadRequest(format!("Invalid arguments for {tool}: {e}")))
}

/// Latest, or as of `timestamp`.
fn point(mode: Option<Mode>, timestamp: Option<TimeArg>) -> Result<QueryForm, ToolError> {
    match (mode, timestamp) {
        (Some(Mode::Latest), Some(_)) => Err(ToolError::BadRequest(
            "Give either mode=latest or a timestamp, not both".into(),
        )),
        (_, None) => Ok(QueryForm::Latest),
        (None, Some(t)) => Ok(QueryForm::as_of("timestamp", &t.0)?),
    }
}

fn single<T: Serialize>(answer: Answer<T>) -> ToolOutput {
    match answer {
        Answer::One(v) => ToolOutput::one(v),
        Answer::Page(p) => ToolOutput::with_rows(p, "items"),
    }
}

fn page_items<T>(answer: Answer<T>) -> (Vec<T>, Option<String>) {
    match answer {
        Answer::One(v) => (vec![v], None),
        Answer::Page(p) => (p.items, p.next_cursor),
    }
}

/// Runs tool `name` with `arguments` through the query layer.
pub async fn call(
    query: &Query,
    name: &str,
    arguments: JsonObject,
) -> Result<ToolOutput, ToolError> {
    let catalog = the_catalog();
    let i = (catalog.tools.iter().position(|t| t.name == name))
        .ok_or_else(|| ToolError::UnknownTool(name.to_string()))?;
    (catalog.runs[i])(query.clone(), arguments).await
}

async fn people_count(query: Query, a: PeopleCountArgs) -> Result<ToolOutput, ToolError> {
    let form = point(a.mode, a.timestamp)?;
    Ok(single(query.people_count(&a.stop_id)?.answer(form).await?))
}

async fn sensor_data(query: Query, a: SensorArgs) -> Result<ToolOutput, ToolError> {
    let form = point(a.mode, a.timestamp)?;
    let series = query.sensors(a.entity_type.as_str(), &a.entity_id)?;
    Ok(single(series.answer(form).await?))
}

async fn bus_position(query: Query, a: BusPositionArgs) -> Result<ToolOutput, ToolError> {
    let form = point(a.mode, a.timestamp)?;
    Ok(single(query.bus_position(&a.bus_id)?.answer(form).await?))
}

async fn line_buses(query: Query, a: LineBusesArgs) -> Result<ToolOutput, ToolError> {
    let form = point(None, a.timestamp)?;
    let snapshot = query.line_buses(&a.line_id, form).await?;
    Ok(ToolOutput::with_rows(snapshot, "buses"))
}

async fn list_lines(query: Query, _: NoArgs) -> Result<ToolOutput, ToolError> {
    let lines = query.lines();
    Ok(ToolOutput::with_rows(
        LinesOutput {
            count: lines.len(),
            lines,
        },
        "lines",
    ))
}

async fn stop_arrivals(query: Query, a: StopArrivalsArgs) -> Result<ToolOutput, ToolError> {
    let view = query.stop_arrivals(&a.stop_id).await?;
    Ok(ToolOutput::with_rows(view, "arrivals"))
}

async fn vehicle_positions(query: Query, a: VehiclePositionsArgs) -> Result<ToolOutput, ToolError> {
    let feed = query
        .realtime(RealtimeFeed::VehiclePositions, a.line_id.as_deref())
        .await?;
    Ok(ToolOutput::with_rows(
        GtfsRealtimeJson(realtime::to_json(&feed)),
        "entity",
    ))
}

async fn time_range(query: Query, a: TimeRangeArgs) -> Result<ToolOutput, ToolError> {
    let limit = a.limit.map(|n| n.0.to_string());
    let form = QueryForm::range(
        ("start_time", &a.start_time.0),
        ("end_time", &a.end_time.0),
        limit.as_deref(),
        a.cursor.as_deref(),
    )?;
    if let QueryForm::Range { from, to, .. } = form
        && to.0 - from.0 > MAX_RANGE.as_millis()
    {
        return Err(ToolError::BadRequest(format!(
            "The range {from} .. {to} is too large: at most {MAX_RANGE} per query; \
             narrow it, and page through it with `limit` (up to {MAX_LIMIT}) and `cursor`"
        )));
    }
    let id = a.entity_id.as_str();
    let (count, items, next_cursor) = match a.data_type {
        DataType::PeopleCount => {
            let (rows, next) = page_items(query.people_count(id)?.answer(form).await?);
            (rows.len(), RangeItems::PeopleCount(rows), next)
        }
        DataType::BusPosition => {
            let (rows, next) = page_items(query.bus_position(id)?.answer(form).await?);
            (rows.len(), RangeItems::BusPosition(rows), next)
        }
        DataType::Sensors => {
            let kind = match a.entity_type {
                Some(k) => k,
                None => sensor_kind(&query, id)?,
            };
            let (rows, next) = page_items(query.sensors(kind.as_str(), id)?.answer(form).await?);
            (rows.len(), RangeItems::Sensors(rows), next)
        }
    };
    Ok(ToolOutput::with_rows(
        TimeRangeOutput {
            data_type: a.data_type.as_str(),
            entity_id: a.entity_id,
            count,
            items,
            next_cursor,
        },
        "items",
    ))
}

/// Whether a sensors id names a bus or a stop, when the caller did not say.
fn sensor_kind(query: &Query, id: &str) -> Result<EntityKind, ToolError> {
    let net = query.network();
    match (net.bus_index(id).is_some(), net.stop_index(id).is_some()) {
        (true, false) => Ok(EntityKind::Bus),
        (false, true) => Ok(EntityKind::Stop),
        (true, true) => Err(ToolError::BadRequest(format!(
            "{id} is both a bus and a stop: give entity_type `bus` or `stop`"
        ))),
        // Let the query layer name what is wrong with the id.
        (false, false) => Ok(EntityKind::Stop),
    }
}

/// The time a tool answered, for the plain HTTP contract.
pub fn answered_at() -> String {
    Millis::now().to_rfc3339()
}
