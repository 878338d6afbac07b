//! The network file: the default and the original format load; every validation rule has a
//! failing example with the message it must give; `check-config` reports them.

mod common;

use std::process::Command;

use madbus::network::{self, Network, Severity};

#[test]
fn default_network_has_the_madrid_facts() {
    let net = Network::default_network();
    // Nine day lines and a night line; Moncloa is one stop for the five lines there.
    assert_eq!(net.lines.len(), 10);
    assert_eq!(net.stops.len(), 48);
    assert_eq!(net.buses.len(), 76);
    let moncloa = net.stop("S101").unwrap();
    let ids: Vec<&str> = moncloa.line_ids.iter().map(|l| l.as_str()).collect();
    assert_eq!(ids, ["L2", "L46", "L82", "L132", "N1"]);
    assert!(net.stop("S401").is_none() && net.stop("S801").is_none());
    assert_eq!(net.line("L82").unwrap().name, "Moncloa - Plaza de Castilla");
    // Every line has a timetable and the fleet it needs.
    for line in &net.lines {
        let t = line.timetable.as_ref().unwrap();
        let (needed, _, _) = madbus::sim::schedule::fleet_needed(line, t).unwrap();
        assert!(line.buses.len() as u32 >= needed, "line {}", line.id);
        let weekday = &t.day(network::DayType::Weekday).departures[0];
        if line.id.as_str() == "N1" {
            assert_eq!(weekday[0], 23 * 3600 + 55 * 60);
        } else {
            assert_eq!(
                (weekday[0], *weekday.last().unwrap() / 3600),
                (6 * 3600, 23)
            );
            let peak = t.headway_at(network::DayType::Weekday, 8 * 3600).unwrap();
            assert!(
                (240..=720).contains(&peak),
                "line {} every {peak} s",
                line.id
            );
        }
    }
    // The headway now: the day lines' at 08:00, none at 03:00, the búho's after midnight
    // (Monday night's service, on Tuesday's date).
    let at = |s: &str| madbus::time::Millis::parse(s).unwrap();
    let timetable = |id: &str| net.line(id).unwrap().timetable.clone().unwrap();
    assert_eq!(
        timetable("L1").headway_now(at("2026-11-30T08:00:00+01:00")),
        timetable("L1").headway_at(network::DayType::Weekday, 8 * 3600)
    );
    assert_eq!(
        timetable("L1").headway_now(at("2026-12-01T03:00:00+01:00")),
        None
    );
    assert_eq!(
        timetable("N1").headway_now(at("2026-12-01T01:00:00+01:00")),
        Some(35 * 60)
    );
    let l1 = net.line("L1").unwrap();
    assert_eq!(l1.name, "Plaza de Castilla - Atocha");
    let s001 = net.stop("S001").unwrap();
    assert_eq!((s001.position.lat, s001.position.lon), (40.4657, -3.6886));
    assert_eq!(s001.base_arrival_rate, 2.5);
    assert_eq!(net.bus("B002").unwrap().initial_position, 0.33);
    // Route lengths are Haversine sums: L1 is about 6.75 km.
    assert!((l1.length_m() - 6752.0).abs() < 5.0, "{}", l1.length_m());
}

#[test]
fn default_network_matches_the_reference_table() {
    // The table's faults, fixed in data/lines.yaml: Moncloa's four ids are one stop (S101,
    // at the interchange), and L82 is named after its ends.
    let moncloa = ["S101", "S401", "S501", "S801"];
    let tsv = common::fixture("madrid-network.tsv");
    let net = Network::default_network();
    let text = std::fs::read_to_string(tsv).unwrap();
    for row in text.lines().skip(1) {
        let f: Vec<&str> = row.split('\t').collect();
        let line = net
            .line(f[1])
            .unwrap_or_else(|| panic!("line {} missing", f[1]));
        if f[1] == "L82" {
            assert_eq!(line.name, "Moncloa - Plaza de Castilla");
        } else {
            assert_eq!(line.name, f[2]);
        }
        if f[0] == "stop" && moncloa.contains(&f[3]) {
            let s = net.stop("S101").unwrap();
            assert!(s.line_ids.iter().any(|l| l.as_str() == f[1]));
            assert_eq!(s.name, "Moncloa");
            continue;
        }
        if f[0] == "stop" {
            let s = net
                .stop(f[3])
                .unwrap_or_else(|| panic!("stop {} missing", f[3]));
            assert_eq!(s.name, f[4]);
            assert_eq!(s.position.lat, f[5].parse::<f64>().unwrap());
            assert_eq!(s.position.lon, f[6].parse::<f64>().unwrap());
            // Cibeles also ends the night line.
            let ends_n1 = s.line_ids.iter().any(|l| l.as_str() == "N1");
            assert!(s.is_terminal == (f[7] == "true") || ends_n1, "{}", f[3]);
            assert_eq!(s.base_arrival_rate, f[8].parse::<f64>().unwrap());
        } else {
            let b = net
                .bus(f[3])
                .unwrap_or_else(|| panic!("bus {} missing", f[3]));
            assert_eq!(b.capacity, f[9].parse::<u32>().unwrap());
            assert_eq!(b.initial_position, f[10].parse::<f64>().unwrap());
            assert_eq!(net.lines[b.line].id.as_str(), f[1]);
        }
    }
}

#[test]
fn original_format_loads_unchanged() {
    let path = common::fixture("lines-original-format.yaml");
    let loaded = network::load_file(&path).expect("the original file loads");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let net = loaded.network;
    assert_eq!(
        (net.lines.len(), net.stops.len(), net.buses.len()),
        (9, 51, 24)
    );
}

const GOOD_LINE: &str = r#"
  - line_id: L1
    name: One
    stops:
      - { stop_id: A, name: a, latitude: 40.40, longitude: -3.70, is_terminal: true, base_arrival_rate: 1.0 }
      - { stop_id: B, name: b, latitude: 40.41, longitude: -3.70, is_terminal: true, base_arrival_rate: 1.0 }
    buses:
      - { bus_id: X1, capacity: 80, initial_position: 0.0 }
"#;

/// Loads `body` (the text under `lines:`) and returns every error message.
fn errors_of(body: &str) -> Vec<String> {
    let text = format!("lines:{body}");
    match network::parse_str(&text, "test.yaml") {
        Ok(_) => Vec::new(),
        Err(e) => e.errors().map(|i| i.to_string()).collect(),
    }
}

fn assert_error(body: &str, expected: &str) {
    let errors = errors_of(body);
    assert!(
        errors.iter().any(|e| e.contains(expected)),
        "expected an error containing {expected:?}, got {errors:#?}"
    );
}

#[test]
fn a_good_file_has_no_errors() {
    assert!(errors_of(GOOD_LINE).is_empty());
}

#[test]
fn duplicate_line_id() {
    assert_error(
        &format!("{GOOD_LINE}{}", GOOD_LINE.replace("X1", "X2")),
        "test.yaml:10: line L1, field `line_id`: duplicate line id L1 (first defined at line 2)",
    );
}

#[test]
fn duplicate_bus_id() {
    assert_error(
        &format!("{GOOD_LINE}{}", GOOD_LINE.replace("L1", "L2")),
        "line L2, bus X1, field `bus_id`: duplicate bus id X1 (also in line L1)",
    );
}

#[test]
fn fewer_than_two_stops() {
    let body = GOOD_LINE.replace(
        "      - { stop_id: B, name: b, latitude: 40.41, longitude: -3.70, is_terminal: true, base_arrival_rate: 1.0 }\n",
        "",
    );
    assert_error(
        &body,
        "line L1, field `stops`: has 1 stop(s); a line needs at least 2",
    );
}

#[test]
fn no_bus() {
    let body = GOOD_LINE.replace(
        "      - { bus_id: X1, capacity: 80, initial_position: 0.0 }\n",
        "",
    );
    assert_error(
        &body,
        "line L1, field `buses`: is missing or empty; a line needs at least 1 bus",
    );
}

#[test]
fn latitude_out_of_range() {
    assert_error(
        &GOOD_LINE.replace("latitude: 40.40", "latitude: 95.0"),
        "line L1, stop A, field `latitude`: 95 is out of range (-90 to 90)",
    );
}

#[test]
fn longitude_out_of_range() {
    assert_error(
        &GOOD_LINE.replace(
            "longitude: -3.70, is_terminal: true, base_arrival_rate: 1.0 }\n      - { stop_id: B",
            "longitude: -190, is_terminal: true, base_arrival_rate: 1.0 }\n      - { stop_id: B",
        ),
        "line L1, stop A, field `longitude`: -190 is out of range (-180 to 180)",
    );
}

#[test]
fn negative_rate() {
    assert_error(
        &GOOD_LINE.replacen("base_arrival_rate: 1.0", "base_arrival_rate: -0.5", 1),
        "line L1, stop A, field `base_arrival_rate`: -0.5 is negative; people per minute must be >= 0",
    );
}

#[test]
fn capacity_zero() {
    assert_error(
        &GOOD_LINE.replace("capacity: 80", "capacity: 0"),
        "line L1, bus X1, field `capacity`: 0 must be a whole number from 1 to 10000",
    );
}

#[test]
fn first_and_last_stops_must_be_terminals() {
    assert_error(
        &GOOD_LINE.replacen("is_terminal: true", "is_terminal: false", 1),
        "line L1, stop A, field `is_terminal`: is false but this is the line's first stop; it must be a terminal",
    );
    let last = GOOD_LINE.replace(
        "latitude: 40.41, longitude: -3.70, is_terminal: true",
        "latitude: 40.41, longitude: -3.70, is_terminal: false",
    );
    assert_error(
        &last,
        "stop B, field `is_terminal`: is false but this is the line's last stop",
    );
}

#[test]
fn initial_position_outside_the_route() {
    assert_error(
        &GOOD_LINE.replace("initial_position: 0.0", "initial_position: 1.5"),
        "bus X1, field `initial_position`: 1.5 must be a fraction of the route from 0 to 1",
    );
}

#[test]
fn malformed_id() {
    assert_error(
        &GOOD_LINE.replace("stop_id: A", "stop_id: \"A'; DROP TABLE x\""),
        "field `stop_id`: \"A'; DROP TABLE x\" is not a valid id: it contains '\\''",
    );
}

#[test]
fn missing_field() {
    assert_error(
        &GOOD_LINE.replace("name: a, ", ""),
        "line L1, stop A, field `name`: is missing",
    );
}

#[test]
fn shared_stop_with_other_coordinates() {
    let other = GOOD_LINE
        .replace("L1", "L2")
        .replace("X1", "X2")
        .replace("latitude: 40.40", "latitude: 40.50");
    assert_error(
        &format!("{GOOD_LINE}{other}"),
        "line L2, stop A, field `latitude`: stop A is shared with line L1 but its coordinates are",
    );
}

#[test]
fn shared_stop_is_one_stop_of_several_lines() {
    let other = GOOD_LINE.replace("L1", "L2").replace("X1", "X2");
    let loaded = network::parse_str(&format!("lines:{GOOD_LINE}{other}"), "t.yaml").unwrap();
    let a = loaded.network.stop("A").unwrap();
    let ids: Vec<&str> = a.line_ids.iter().map(|l| l.as_str()).collect();
    assert_eq!(ids, ["L1", "L2"]);
    assert_eq!(loaded.network.stops.len(), 2);
}

#[test]
fn unknown_keys_are_warnings() {
    let text = format!(
        "lines:{}",
        GOOD_LINE.replace("    name: One\n", "    name: One\n    colour: red\n")
    );
    let loaded = network::parse_str(&text, "t.yaml").expect("warnings do not fail the load");
    let w = &loaded.warnings[0];
    assert_eq!(w.severity, Severity::Warning);
    assert_eq!(
        w.to_string(),
        "warning: t.yaml:2: line L1, field `colour`: unknown key, ignored"
    );
}

#[test]
fn shape_places_stops_along_it() {
    let shaped = GOOD_LINE.replace(
        "    stops:",
        "    shape: [[40.40, -3.70], [40.405, -3.69], [40.41, -3.70]]\n    stops:",
    );
    let net = network::parse_str(&format!("lines:{shaped}"), "t.yaml")
        .unwrap()
        .network;
    let line = net.line("L1").unwrap();
    assert_eq!(line.route.points().len(), 3);
    // The path goes out east and back, so it is longer than the straight 1.1 km.
    assert!(line.length_m() > 1_500.0, "{}", line.length_m());
    let far = GOOD_LINE.replace(
        "    stops:",
        "    shape: [[41.0, -3.0], [41.1, -3.0]]\n    stops:",
    );
    assert_error(&far, "line L1, field `shape`: stop A is");
}

#[test]
fn every_error_is_listed_not_only_the_first() {
    let body = GOOD_LINE
        .replace("latitude: 40.40", "latitude: 95.0")
        .replace("capacity: 80", "capacity: 0");
    assert_eq!(errors_of(&body).len(), 2, "{:#?}", errors_of(&body));
}

#[test]
fn syntax_errors_name_the_place() {
    let errors = errors_of("\n  - line_id: [1\n");
    assert!(
        errors[0].starts_with("error: test.yaml: not a valid network file"),
        "{errors:?}"
    );
    assert!(errors[0].contains("line 2"), "{errors:?}");
}

#[test]
fn check_config_command() {
    let bin = env!("CARGO_BIN_EXE_madbus");
    let ok = Command::new(bin).args(["check-config"]).output().unwrap();
    assert!(ok.status.success());
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(out.contains("10 lines, 48 stops, 76 buses"), "{out}");
    assert!(out.contains("L1") && out.contains("6752 m"), "{out}");
    assert!(
        out.contains("weekday 06:00-23:30")
            && out.contains("needs 11 buses (weekday 07:56, every 7 min), has 12"),
        "{out}"
    );
    assert!(!out.contains("warning"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    let body = GOOD_LINE
        .replace("latitude: 40.40", "latitude: 95.0")
        .replace("capacity: 80", "capacity: 0");
    std::fs::write(&bad, format!("lines:{body}")).unwrap();
    let failed = Command::new(bin)
        .arg("check-config")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(1));
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(
        err.contains("field `latitude`") && err.contains("field `capacity`"),
        "{err}"
    );
    assert!(err.contains("bad.yaml: 2 error(s)"), "{err}");
}

const TIMETABLE: &str = r#"
    timetable:
      weekday:
        first: ["06:00", "06:10"]
        last: ["22:00", "22:10"]
        every: [["06:00", 5]]
"#;

#[test]
fn timetables_load_and_their_errors_are_named() {
    let long = GOOD_LINE.replace(
        "latitude: 40.41, longitude: -3.70",
        "latitude: 40.50, longitude: -3.70",
    );
    let body = long.replacen("    stops:", &format!("{}    stops:", &TIMETABLE[1..]), 1);
    let loaded = network::parse_str(&format!("lines:{body}"), "t.yaml").unwrap();
    let t = loaded.network.lines[0].timetable.clone().unwrap();
    let weekday = &t.day(network::DayType::Weekday).departures;
    assert_eq!(weekday[0].len(), 16 * 12 + 1);
    assert_eq!(weekday[1][0], 6 * 3600 + 600);
    assert!(t.day(network::DayType::Sunday).departures[0].is_empty());
    // A fleet of one cannot keep a 5-minute headway on 11 km: check-config warns.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("short.yaml");
    std::fs::write(&file, format!("lines:{body}")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_madbus"))
        .arg("check-config")
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("warning: line L1 is") && text.contains("short"),
        "{text}"
    );

    for (bad, message) in [
        (
            TIMETABLE.replace("[\"06:00\", 5]", "[\"06:00\", 0]"),
            "headway 0 must be from 1 to 240 minutes",
        ),
        (
            TIMETABLE.replace("\"22:00\"", "\"05:00\""),
            "the last departure 05:00 is before the first 06:00",
        ),
        (
            TIMETABLE.replace("\"06:10\"", "\"6h\""),
            "\"6h\" is not a time of the service day",
        ),
        (
            TIMETABLE.replace("every: [[\"06:00\", 5]]", "every: [[\"07:00\", 5]]"),
            "`every` must start at or before the first departure",
        ),
        (
            TIMETABLE.replace("        every: [[\"06:00\", 5]]\n", ""),
            "give either `first`, `last` and `every`, or `departures`",
        ),
    ] {
        let body = GOOD_LINE.replacen("    stops:", &format!("{}    stops:", &bad[1..]), 1);
        let errors = errors_of(&body);
        assert!(
            errors
                .iter()
                .any(|e| e.contains("field `timetable.weekday`") && e.contains(message)),
            "{message}: {errors:?}"
        );
    }
}
