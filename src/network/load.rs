//! Reading and validating a network file. Every problem is collected (not only the first),
//! each naming the file, the YAML line, the bus line and the field.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;

use super::geo::{LatLon, Polyline};
use super::id::Id;
use super::timetable::{DayService, DayType, Timetable, parse_service_time};
use super::{Bus, DEFAULT_CRUISE_SPEED_KMH, Line, Network, Stop};

/// How far (metres) a stop may lie from its line's `shape` before the file is rejected.
const MAX_STOP_OFFSET_FROM_SHAPE_M: f64 = 150.0;
/// Parser limits: about 40 times the default budget, enough for a city of 5,000 lines,
/// still bounded so a hostile file cannot exhaust memory.
const MAX_YAML_NODES: usize = 10_000_000;
const MAX_YAML_EVENTS: usize = 40_000_000;

/// How far apart (metres) two definitions of one shared stop may be.
const MAX_SHARED_STOP_MISMATCH_M: f64 = 25.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about a network file.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub severity: Severity,
    pub file: String,
    /// 1-based line in the YAML file, when known.
    pub row: Option<u64>,
    /// The bus line the finding is about, when there is one.
    pub line_id: Option<String>,
    /// The stop or bus inside that line, e.g. `stop S003` or `bus #2`.
    pub entity: Option<String>,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{kind}: {}", self.file)?;
        if let Some(row) = self.row {
            write!(f, ":{row}")?;
        }
        if let Some(l) = &self.line_id {
            write!(f, ": line {l}")?;
        }
        if let Some(e) = &self.entity {
            write!(f, ", {e}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ", field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A network that loaded, with any warnings found on the way.
#[derive(Debug)]
pub struct Loaded {
    pub network: Network,
    pub warnings: Vec<Issue>,
}

/// A file that did not load: every error, and the warnings too.
#[derive(Debug)]
pub struct LoadError {
    pub issues: Vec<Issue>,
}

impl LoadError {
    pub fn errors(&self) -> impl Iterator<Item = &Issue> {
        self.issues.iter().filter(|i| i.severity == Severity::Error)
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for i in &self.issues {
            writeln!(f, "{i}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

pub fn load_file(path: &Path) -> Result<Loaded, LoadError> {
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => parse_str(&text, &name),
        Err(e) => Err(LoadError {
            issues: vec![Issue {
                severity: Severity::Error,
                file: name,
                row: None,
                line_id: None,
                entity: None,
                field: None,
                message: format!("cannot read the file: {e}"),
            }],
        }),
    }
}

// Raw shapes: every field optional so that a missing one is reported with the others
// instead of aborting the parse. Unknown keys land in `extra` and are warned about.
#[derive(Deserialize)]
struct RawFile {
    lines: Option<Vec<Spanned<RawLine>>>,
    #[serde(flatten)]
    extra: BTreeMap<String, IgnoredAny>,
}

#[derive(Deserialize)]
struct RawLine {
    line_id: Option<String>,
    name: Option<String>,
    stops: Option<Vec<Spanned<RawStop>>>,
    buses: Option<Vec<Spanned<RawBus>>>,
    color: Option<String>,
    cruise_speed_kmh: Option<f64>,
    /// `[[lat, lon], ...]`: the street path, when it is not a straight line between stops.
    shape: Option<Vec<[f64; 2]>>,
    timetable: Option<Spanned<RawTimetable>>,
    #[serde(flatten)]
    extra: BTreeMap<String, IgnoredAny>,
}

#[derive(Deserialize)]
struct RawTimetable {
    min_layover_min: Option<f64>,
    weekday: Option<RawDay>,
    saturday: Option<RawDay>,
    sunday: Option<RawDay>,
    #[serde(flatten)]
    extra: BTreeMap<String, IgnoredAny>,
}

/// One day type: headways (`first`, `last`, `every`) or explicit `departures`.
#[derive(Deserialize)]
struct RawDay {
    /// First departure from the first stop and from the last stop.
    first: Option<[String; 2]>,
    last: Option<[String; 2]>,
    /// `[from, minutes]`: the headway from that time on.
    every: Option<Vec<(String, f64)>>,
    /// Departures from the first stop and from the last stop.
    departures: Option<[Vec<String>; 2]>,
    #[serde(flatten)]
    extra: BTreeMap<String, IgnoredAny>,
}

#[derive(Deserialize)]
struct RawStop {
    stop_id: Option<String>,
    name: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    is_terminal: Option<bool>,
    base_arrival_rate: Option<f64>,
    #[serde(flatten)]
    extra: BTreeMap<String, IgnoredAny>,
}

#[derive(Deserialize)]
struct RawBus {
    bus_id: Option<String>,
    capacity: Option<i64>,
    initial_position: Option<f64>,
    #[serde(flatten)]
    extra: BTreeMap<String, IgnoredAny>,
}

/// Collects issues with the context (file, row, line, entity) filled in.
struct Report<'a> {
    file: &'a str,
    issues: Vec<Issue>,
}

#[derive(Clone, Default)]
struct Ctx {
    row: Option<u64>,
    line_id: Option<String>,
    entity: Option<String>,
}

impl Report<'_> {
    fn push(&mut self, severity: Severity, ctx: &Ctx, field: Option<&str>, message: String) {
        self.issues.push(Issue {
            severity,
            file: self.file.to_string(),
            row: ctx.row,
            line_id: ctx.line_id.clone(),
            entity: ctx.entity.clone(),
            field: field.map(str::to_string),
            message,
        });
    }
    fn error(&mut self, ctx: &Ctx, field: &str, message: impl Into<String>) {
        self.push(Severity::Error, ctx, Some(field), message.into());
    }
    fn unknown_keys(&mut self, ctx: &Ctx, extra: &BTreeMap<String, IgnoredAny>) {
        for key in extra.keys() {
            self.push(
                Severity::Warning,
                ctx,
                Some(key),
                "unknown key, ignored".to_string(),
            );
        }
    }
    /// Reports a missing field and returns the value when present.
    fn required<T: Clone>(&mut self, ctx: &Ctx, field: &str, v: &Option<T>) -> Option<T> {
        if v.is_none() {
            self.error(ctx, field, "is missing");
        }
        v.clone()
    }
    fn id<K>(&mut self, ctx: &Ctx, field: &str, v: &Option<String>) -> Option<Id<K>> {
        let s = self.required(ctx, field, v)?;
        match Id::parse(&s) {
            Ok(id) => Some(id),
            Err(e) => {
                self.error(ctx, field, format!("{s:?} is not a valid id: it {e}"));
                None
            }
        }
    }
}

/// Parses and validates a network file's text; `file` names it in messages.
pub fn parse_str(text: &str, file: &str) -> Result<Loaded, LoadError> {
    let mut report = Report {
        file,
        issues: Vec::new(),
    };
    // Both structs are non-exhaustive: start from the defaults and raise two limits.
    let mut budget = serde_saphyr::Budget::default();
    budget.max_nodes = MAX_YAML_NODES;
    budget.max_events = MAX_YAML_EVENTS;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    let raw: RawFile = match serde_saphyr::from_str_with_options(text, options) {
        Ok(raw) => raw,
        Err(e) => {
            report.push(
                Severity::Error,
                &Ctx::default(),
                None,
                format!("not a valid network file: {e}"),
            );
            return Err(LoadError {
                issues: report.issues,
            });
        }
    };
    let network = build(raw, &mut report);
    let failed = report.issues.iter().any(|i| i.severity == Severity::Error);
    match network {
        Some(network) if !failed => Ok(Loaded {
            network,
            warnings: report.issues,
        }),
        _ => Err(LoadError {
            issues: report.issues,
        }),
    }
}

fn build(raw: RawFile, report: &mut Report) -> Option<Network> {
    report.unknown_keys(&Ctx::default(), &raw.extra);
    let Some(raw_lines) = raw.lines else {
        report.error(
            &Ctx::default(),
            "lines",
            "is missing: the file needs a top-level `lines:` list",
        );
        return None;
    };
    if raw_lines.is_empty() {
        report.error(
            &Ctx::default(),
            "lines",
            "is empty: a network needs at least one line",
        );
    }

    let mut lines = Vec::new();
    let mut stops: Vec<Stop> = Vec::new();
    let mut stop_index: HashMap<String, usize> = HashMap::new();
    let mut buses: Vec<Bus> = Vec::new();
    let mut seen_lines: HashMap<String, u64> = HashMap::new();
    let mut seen_buses: HashMap<String, String> = HashMap::new();
    let mut ok = true;

    for (li, spanned) in raw_lines.iter().enumerate() {
        let rl = &spanned.value;
        let line_row = spanned.referenced.line();
        let row = Some(line_row);
        let mut ctx = Ctx {
            row,
            line_id: rl.line_id.clone().or_else(|| Some(format!("#{}", li + 1))),
            entity: None,
        };
        report.unknown_keys(&ctx, &rl.extra);
        let line_id = report.id(&ctx, "line_id", &rl.line_id);
        if let Some(id) = &line_id
            && let Some(first_row) = seen_lines.insert(id.to_string(), line_row)
        {
            report.error(
                &ctx,
                "line_id",
                format!("duplicate line id {id} (first defined at line {first_row})"),
            );
        }
        let name = report.required(&ctx, "name", &rl.name);
        let cruise = rl.cruise_speed_kmh.unwrap_or(DEFAULT_CRUISE_SPEED_KMH);
        if !(cruise.is_finite() && cruise > 0.0 && cruise <= 120.0) {
            report.error(
                &ctx,
                "cruise_speed_kmh",
                format!("{cruise} must be in (0, 120] km/h"),
            );
        }

        let raw_stops = rl.stops.as_deref().unwrap_or_default();
        if rl.stops.is_none() {
            report.error(&ctx, "stops", "is missing");
        } else if raw_stops.len() < 2 {
            report.error(
                &ctx,
                "stops",
                format!("has {} stop(s); a line needs at least 2", raw_stops.len()),
            );
        }
        let raw_buses = rl.buses.as_deref().unwrap_or_default();
        if raw_buses.is_empty() {
            report.error(
                &ctx,
                "buses",
                "is missing or empty; a line needs at least 1 bus",
            );
        }

        let line_index = lines.len();
        let mut line_stops = Vec::new();
        let mut in_line: HashSet<String> = HashSet::new();
        for (si, s) in raw_stops.iter().enumerate() {
            let rs = &s.value;
            ctx.row = Some(s.referenced.line());
            ctx.entity = Some(match &rs.stop_id {
                Some(id) => format!("stop {id}"),
                None => format!("stop #{}", si + 1),
            });
            report.unknown_keys(&ctx, &rs.extra);
            let stop = parse_stop(report, &ctx, rs, si, raw_stops.len());
            let Some(stop) = stop else {
                ok = false;
                continue;
            };
            if !in_line.insert(stop.id.to_string()) {
                report.error(
                    &ctx,
                    "stop_id",
                    format!("stop {} appears twice in this line", stop.id),
                );
                continue;
            }
            let index = match stop_index.get(stop.id.as_str()) {
                Some(&existing) => {
                    let known = &mut stops[existing];
                    let apart = super::geo::haversine_m(known.position, stop.position);
                    if apart > MAX_SHARED_STOP_MISMATCH_M {
                        report.error(
                            &ctx,
                            "latitude",
                            format!(
                                "stop {} is shared with line {} but its coordinates are {apart:.0} m away from there",
                                stop.id, known.line_ids[0]
                            ),
                        );
                    }
                    known.is_terminal |= stop.is_terminal;
                    existing
                }
                None => {
                    stop_index.insert(stop.id.to_string(), stops.len());
                    stops.push(stop);
                    stops.len() - 1
                }
            };
            if let Some(id) = &line_id {
                stops[index].line_ids.push(id.clone());
            }
            line_stops.push(index);
        }
        ctx.entity = None;
        ctx.row = row;

        let mut line_buses = Vec::new();
        for (bi, b) in raw_buses.iter().enumerate() {
            let rb = &b.value;
            ctx.row = Some(b.referenced.line());
            ctx.entity = Some(match &rb.bus_id {
                Some(id) => format!("bus {id}"),
                None => format!("bus #{}", bi + 1),
            });
            report.unknown_keys(&ctx, &rb.extra);
            let Some(bus) = parse_bus(report, &ctx, rb, line_index) else {
                ok = false;
                continue;
            };
            let here = ctx.line_id.clone().unwrap_or_default();
            if let Some(other) = seen_buses.insert(bus.id.to_string(), here) {
                report.error(
                    &ctx,
                    "bus_id",
                    format!("duplicate bus id {} (also in line {other})", bus.id),
                );
                continue;
            }
            line_buses.push(buses.len());
            buses.push(bus);
        }
        ctx.entity = None;
        ctx.row = row;

        let (Some(line_id), Some(name)) = (line_id, name) else {
            ok = false;
            continue;
        };
        if line_stops.len() < 2 || line_stops.len() != raw_stops.len() {
            ok = false;
            continue;
        }
        let Some((route, offsets)) =
            route_for(report, &ctx, rl.shape.as_deref(), &line_stops, &stops)
        else {
            ok = false;
            continue;
        };
        let timetable = match &rl.timetable {
            Some(t) => {
                ctx.row = Some(t.referenced.line());
                let parsed = parse_timetable(report, &ctx, &t.value);
                ctx.row = row;
                match parsed {
                    Some(t) => Some(t),
                    None => {
                        ok = false;
                        continue;
                    }
                }
            }
            None => None,
        };
        lines.push(Line {
            id: line_id,
            name,
            color: rl.color.clone(),
            cruise_speed_kmh: cruise,
            timetable,
            stops: line_stops,
            stop_offsets_m: offsets,
            buses: line_buses,
            route,
        });
    }
    ok.then(|| Network::new(lines, stops, buses))
}

fn parse_stop(
    report: &mut Report,
    ctx: &Ctx,
    rs: &RawStop,
    index: usize,
    count: usize,
) -> Option<Stop> {
    let id = report.id(ctx, "stop_id", &rs.stop_id);
    let name = report.required(ctx, "name", &rs.name);
    let lat = report.required(ctx, "latitude", &rs.latitude);
    let lon = report.required(ctx, "longitude", &rs.longitude);
    let terminal = report.required(ctx, "is_terminal", &rs.is_terminal);
    let rate = report.required(ctx, "base_arrival_rate", &rs.base_arrival_rate);
    let mut ok = true;
    if let Some(lat) = lat.filter(|v| !(v.is_finite() && (-90.0..=90.0).contains(v))) {
        report.error(
            ctx,
            "latitude",
            format!("{lat} is out of range (-90 to 90)"),
        );
        ok = false;
    }
    if let Some(lon) = lon.filter(|v| !(v.is_finite() && (-180.0..=180.0).contains(v))) {
        report.error(
            ctx,
            "longitude",
            format!("{lon} is out of range (-180 to 180)"),
        );
        ok = false;
    }
    if let Some(rate) = rate.filter(|v| !(v.is_finite() && *v >= 0.0)) {
        report.error(
            ctx,
            "base_arrival_rate",
            format!("{rate} is negative; people per minute must be >= 0"),
        );
        ok = false;
    }
    let ends_line = index == 0 || index + 1 == count;
    if ends_line && terminal == Some(false) {
        let which = if index == 0 { "first" } else { "last" };
        report.error(
            ctx,
            "is_terminal",
            format!("is false but this is the line's {which} stop; it must be a terminal"),
        );
        ok = false;
    }
    if !ok {
        return None;
    }
    Some(Stop {
        id: id?,
        name: name?,
        position: LatLon::new(lat?, lon?),
        is_terminal: terminal?,
        base_arrival_rate: rate?,
        line_ids: Vec::new(),
    })
}

fn parse_bus(report: &mut Report, ctx: &Ctx, rb: &RawBus, line: usize) -> Option<Bus> {
    let id = report.id(ctx, "bus_id", &rb.bus_id);
    let capacity = report.required(ctx, "capacity", &rb.capacity);
    let position = report.required(ctx, "initial_position", &rb.initial_position);
    let mut ok = true;
    if let Some(c) = capacity.filter(|c| !(1..=10_000).contains(c)) {
        report.error(
            ctx,
            "capacity",
            format!("{c} must be a whole number from 1 to 10000"),
        );
        ok = false;
    }
    if let Some(p) = position.filter(|p| !(p.is_finite() && (0.0..=1.0).contains(p))) {
        report.error(
            ctx,
            "initial_position",
            format!("{p} must be a fraction of the route from 0 to 1"),
        );
        ok = false;
    }
    if !ok {
        return None;
    }
    Some(Bus {
        id: id?,
        line,
        capacity: u32::try_from(capacity?).ok()?,
        initial_position: position?,
    })
}

/// The default shortest rest at a terminal.
const DEFAULT_MIN_LAYOVER_MIN: f64 = 3.0;

fn parse_timetable(report: &mut Report, ctx: &Ctx, raw: &RawTimetable) -> Option<Timetable> {
    report.unknown_keys(ctx, &raw.extra);
    let layover = raw.min_layover_min.unwrap_or(DEFAULT_MIN_LAYOVER_MIN);
    let mut ok = true;
    if !(layover.is_finite() && (0.0..=120.0).contains(&layover)) {
        report.error(
            ctx,
            "timetable.min_layover_min",
            format!("{layover} must be from 0 to 120 minutes"),
        );
        ok = false;
    }
    let mut days: [DayService; 3] = Default::default();
    for (day, raw_day) in DayType::ALL
        .iter()
        .zip([&raw.weekday, &raw.saturday, &raw.sunday])
    {
        let Some(raw_day) = raw_day else { continue };
        let field = format!("timetable.{}", day.as_str());
        report.unknown_keys(ctx, &raw_day.extra);
        match parse_day(raw_day) {
            Ok(service) => days[*day as usize] = service,
            Err(message) => {
                report.error(ctx, &field, message);
                ok = false;
            }
        }
    }
    if ok && days.iter().all(|d| d.departures.iter().all(Vec::is_empty)) {
        report.error(
            ctx,
            "timetable",
            "has no departures: give `weekday`, `saturday` or `sunday`",
        );
        ok = false;
    }
    ok.then(|| Timetable {
        min_layover_s: (layover * 60.0).round() as u32,
        days,
        all_day: false,
    })
}

fn parse_day(raw: &RawDay) -> Result<DayService, String> {
    let times = |list: &[String]| -> Result<Vec<u32>, String> {
        list.iter().map(|s| parse_service_time(s)).collect()
    };
    match (&raw.departures, &raw.first, &raw.last, &raw.every) {
        (Some(lists), None, None, None) => {
            let mut departures: [Vec<u32>; 2] = Default::default();
            for (end, list) in lists.iter().enumerate() {
                let mut v = times(list)?;
                if v.windows(2).any(|w| w[1] <= w[0]) {
                    return Err(format!(
                        "departures from terminal {} are not in increasing order",
                        end + 1
                    ));
                }
                v.shrink_to_fit();
                departures[end] = v;
            }
            Ok(DayService {
                departures,
                headways: Vec::new(),
            })
        }
        (None, Some(first), Some(last), Some(every)) => {
            let mut headways = Vec::with_capacity(every.len());
            for (from, minutes) in every {
                let from = parse_service_time(from)?;
                if !(minutes.is_finite() && (1.0..=240.0).contains(minutes)) {
                    return Err(format!("headway {minutes} must be from 1 to 240 minutes"));
                }
                if headways.last().is_some_and(|&(f, _)| from <= f) {
                    return Err("`every` times are not in increasing order".into());
                }
                headways.push((from, (minutes * 60.0).round() as u32));
            }
            let mut departures: [Vec<u32>; 2] = Default::default();
            for end in 0..2 {
                let (a, b) = (
                    parse_service_time(&first[end])?,
                    parse_service_time(&last[end])?,
                );
                if b < a {
                    return Err(format!(
                        "the last departure {} is before the first {}",
                        last[end], first[end]
                    ));
                }
                if headways.first().is_none_or(|(f, _)| *f > a) {
                    return Err(format!(
                        "`every` must start at or before the first departure {}",
                        first[end]
                    ));
                }
                let mut t = a;
                while t <= b {
                    departures[end].push(t);
                    let h = headways
                        .iter()
                        .rev()
                        .find(|(f, _)| *f <= t)
                        .map_or(headways[0].1, |&(_, h)| h);
                    t += h;
                }
            }
            Ok(DayService {
                departures,
                headways,
            })
        }
        _ => Err(
            "give either `first`, `last` and `every`, or `departures` (two lists, one per terminal)"
                .into(),
        ),
    }
}

/// The line's path and each stop's distance along it.
fn route_for(
    report: &mut Report,
    ctx: &Ctx,
    shape: Option<&[[f64; 2]]>,
    line_stops: &[usize],
    stops: &[Stop],
) -> Option<(Polyline, Vec<f64>)> {
    let stop_points: Vec<LatLon> = line_stops.iter().map(|&s| stops[s].position).collect();
    let Some(shape) = shape else {
        let route = Polyline::new(stop_points);
        let offsets = (0..line_stops.len())
            .map(|i| route.vertex_distance_m(i))
            .collect();
        return Some((route, offsets));
    };
    if shape.len() < 2 {
        report.error(ctx, "shape", "needs at least 2 points");
        return None;
    }
    if let Some(p) = shape
        .iter()
        .find(|[lat, lon]| !((-90.0..=90.0).contains(lat) && (-180.0..=180.0).contains(lon)))
    {
        report.error(
            ctx,
            "shape",
            format!("point {p:?} is out of range; points are [latitude, longitude]"),
        );
        return None;
    }
    let route = Polyline::new(
        shape
            .iter()
            .map(|[lat, lon]| LatLon::new(*lat, *lon))
            .collect(),
    );
    let mut offsets = Vec::with_capacity(stop_points.len());
    let mut from = 0.0;
    for (i, p) in stop_points.iter().enumerate() {
        let (d, off) = route.project(*p, from);
        if off > MAX_STOP_OFFSET_FROM_SHAPE_M {
            report.error(
                ctx,
                "shape",
                format!(
                    "stop {} is {off:.0} m from the shape (after the previous stop); at most {MAX_STOP_OFFSET_FROM_SHAPE_M} m",
                    stops[line_stops[i]].id
                ),
            );
            return None;
        }
        offsets.push(d);
        from = d;
    }
    Some((route, offsets))
}
