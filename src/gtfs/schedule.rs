//! The GTFS static feed of a network over a window of service days: agency, stops (with a
//! parent station for each place of several stops), routes, trips, stop_times, shapes,
//! calendar_dates and feed_info, zipped.
//!
//! Ids are the API's: `route_id` is the line id, `stop_id` the stop id and `trip_id` the
//! dated trip id the simulator reports (`L1_20261130_0_0730`), so positions, stop visits and
//! GTFS-Realtime join on them. Because every trip is one day's trip, each service day is a
//! service of its own (`service_id` = `YYYYMMDD`, one `calendar_dates.txt` row), and
//! holidays are already in the day's timetable: no `calendar.txt` is needed.

use std::io::{Seek, Write};

use jiff::civil::Date;

use crate::network::{DayType, LatLon, Line, Network, TripKey, timetable::service_instant};
use crate::sim::profile::MadridClock;
use crate::sim::schedule::{timetable_of, trip_schedule};
use crate::time::Millis;

/// The longest window a feed covers (a request asks for at most this many days).
pub const MAX_DAYS: u16 = 31;
/// The window when none is asked for: yesterday (its trips run past midnight) and two weeks
/// on (validators expect a week of service ahead, weekends included).
pub const DEFAULT_DAYS: u16 = 15;

const AGENCY_ID: &str = "MADBUS";
/// RFC 2606 reserves this name for examples: a simulated city has no real agency site.
const PUBLISHER_URL: &str = "https://example.com/madbus";

/// The service days a feed covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceWindow {
    pub first: Date,
    pub days: u16,
}

impl ServiceWindow {
    /// The default window around the local date of `now`.
    pub fn around(now: Millis) -> Self {
        let today = crate::network::timetable::local_date(now);
        Self {
            first: today.yesterday().unwrap_or(today),
            days: DEFAULT_DAYS,
        }
    }

    /// A window from an ISO date and a day count, checked (messages name the parameter).
    pub fn parse(first: &str, days: u16) -> Result<Self, String> {
        let first: Date = first
            .parse()
            .map_err(|_| format!("Invalid from {first:?}: use a date such as 2026-11-30"))?;
        if !(1..=MAX_DAYS).contains(&days) {
            return Err(format!("Invalid days {days}: use 1 to {MAX_DAYS}"));
        }
        Ok(Self { first, days })
    }

    pub fn dates(self) -> impl Iterator<Item = Date> {
        self.first
            .series(jiff::Span::new().days(1))
            .take(self.days.into())
    }

    pub fn last(self) -> Date {
        self.dates().last().unwrap_or(self.first)
    }
}

/// Writes the feed for `window` as a zip archive into `out`.
pub fn write_zip<W: Write + Seek>(
    net: &Network,
    window: ServiceWindow,
    out: W,
) -> Result<W, zip::result::ZipError> {
    let mut zip = zip::ZipWriter::new(out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut table =
        |name: &str, fill: &dyn Fn(&mut csv::Writer<&mut dyn Write>) -> csv::Result<()>| {
            zip.start_file(name, options)?;
            let mut writer = csv::Writer::from_writer(&mut zip as &mut dyn Write);
            fill(&mut writer).map_err(std::io::Error::other)?;
            writer.flush()?;
            Ok::<_, zip::result::ZipError>(())
        };
    table("agency.txt", &|w| agency(w))?;
    table("stops.txt", &|w| stops(w, net))?;
    table("routes.txt", &|w| routes(w, net))?;
    table("shapes.txt", &|w| shapes(w, net))?;
    table("trips.txt", &|w| trips(w, net, window))?;
    table("stop_times.txt", &|w| stop_times(w, net, window))?;
    table("calendar_dates.txt", &|w| calendar_dates(w, net, window))?;
    table("feed_info.txt", &|w| feed_info(w, window))?;
    zip.finish()
}

type Csv<'a> = csv::Writer<&'a mut dyn Write>;

fn agency(w: &mut Csv) -> csv::Result<()> {
    w.write_record([
        "agency_id",
        "agency_name",
        "agency_url",
        "agency_timezone",
        "agency_lang",
    ])?;
    w.write_record([
        AGENCY_ID,
        "Madbus (simulated city buses)",
        PUBLISHER_URL,
        "Europe/Madrid",
        "es",
    ])
}

/// Stops, then one station per place of several stops (its place id, `STATION_` and its
/// first stop's id).
fn stops(w: &mut Csv, net: &Network) -> csv::Result<()> {
    w.write_record([
        "stop_id",
        "stop_name",
        "stop_lat",
        "stop_lon",
        "location_type",
        "parent_station",
    ])?;
    let mut row = |id: &str, name: &str, at: LatLon, location_type: &str, parent: &str| {
        let (lat, lon) = (coordinate(at.lat), coordinate(at.lon));
        w.write_record([id, name, &lat, &lon, location_type, parent])
    };
    // A place of several stops is a station; its stops name it as their parent.
    let station = |p: &&crate::network::Place| p.stops.len() > 1;
    for (s, stop) in net.stops.iter().enumerate() {
        let place = &net.places()[net.place_of(s)];
        let parent = if station(&place) {
            place.id.as_str()
        } else {
            ""
        };
        row(stop.id.as_str(), &stop.name, stop.position, "0", parent)?;
    }
    for place in net.places().iter().filter(station) {
        row(&place.id, &place.name, place.position, "1", "")?;
    }
    Ok(())
}

fn coordinate(x: f64) -> String {
    format!("{x:.6}")
}

fn routes(w: &mut Csv, net: &Network) -> csv::Result<()> {
    w.write_record([
        "route_id",
        "agency_id",
        "route_short_name",
        "route_long_name",
        "route_type",
        "route_color",
        "route_text_color",
    ])?;
    for line in &net.lines {
        let color = line.color.as_deref().and_then(hex_color);
        let text = color.map(text_color).unwrap_or_default();
        w.write_record([
            line.id.as_str(),
            AGENCY_ID,
            line.id.as_str(),
            &line.name,
            "3",
            color.unwrap_or_default(),
            text,
        ])?;
    }
    Ok(())
}

/// `RRGGBB` from `#RRGGBB` or `RRGGBB` (None for any other way of writing a colour).
fn hex_color(c: &str) -> Option<&str> {
    let hex = c.strip_prefix('#').unwrap_or(c);
    (hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// Black or white, whichever reads better on `hex` (WCAG relative luminance).
fn text_color(hex: &str) -> &'static str {
    let channel = |i: usize| {
        let c = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0)) / 255.0;
        if c <= 0.039_28 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let luminance = 0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4);
    if luminance > 0.179 {
        "000000"
    } else {
        "FFFFFF"
    }
}

fn shape_id(line: &Line, direction: u8) -> String {
    format!("{}_{direction}", line.id)
}

/// Metres along direction `direction` of a point `offset_m` along the line's route.
fn along(line: &Line, direction: u8, offset_m: f64) -> f64 {
    if direction == 0 {
        offset_m
    } else {
        line.route.length_m() - offset_m
    }
}

fn shapes(w: &mut Csv, net: &Network) -> csv::Result<()> {
    w.write_record([
        "shape_id",
        "shape_pt_lat",
        "shape_pt_lon",
        "shape_pt_sequence",
        "shape_dist_traveled",
    ])?;
    for line in &net.lines {
        let points = line.route.points();
        for direction in 0..2u8 {
            let id = shape_id(line, direction);
            for k in 0..points.len() {
                let i = if direction == 0 {
                    k
                } else {
                    points.len() - 1 - k
                };
                w.write_record([
                    id.as_str(),
                    &coordinate(points[i].lat),
                    &coordinate(points[i].lon),
                    &(k + 1).to_string(),
                    &format!(
                        "{:.1}",
                        along(line, direction, line.route.vertex_distance_m(i))
                    ),
                ])?;
            }
        }
    }
    Ok(())
}

/// Every trip of the window, in date, line, terminal and time order.
fn each_trip(net: &Network, window: ServiceWindow) -> impl Iterator<Item = (&Line, TripKey)> + '_ {
    window.dates().flat_map(move |date| {
        net.lines.iter().flat_map(move |line| {
            let timetable = timetable_of(line);
            let service = timetable.day(DayType::of(date)).clone();
            (0..2u8).flat_map(move |end| {
                service.departures[usize::from(end)]
                    .clone()
                    .into_iter()
                    .map(move |secs| {
                        let key = TripKey {
                            line_id: line.id.to_string(),
                            date,
                            end,
                            secs,
                        };
                        (line, key)
                    })
            })
        })
    })
}

fn service_id(date: Date) -> String {
    date.strftime("%Y%m%d").to_string()
}

fn trips(w: &mut Csv, net: &Network, window: ServiceWindow) -> csv::Result<()> {
    w.write_record([
        "route_id",
        "service_id",
        "trip_id",
        "trip_headsign",
        "direction_id",
        "shape_id",
    ])?;
    for (line, key) in each_trip(net, window) {
        let towards = line.stops[line.terminal(1 - key.end)];
        w.write_record([
            line.id.as_str(),
            &service_id(key.date),
            &key.to_string(),
            &net.stops[towards].name,
            &key.end.to_string(),
            &shape_id(line, key.end),
        ])?;
    }
    Ok(())
}

/// `HH:MM:SS` of an instant on service day `date` (hours past 24 after midnight).
pub fn gtfs_time(date: Date, t: Millis) -> String {
    let secs = ((t.0 - service_instant(date, 0).0) as f64 / 1000.0)
        .round()
        .max(0.0) as u64;
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

fn stop_times(w: &mut Csv, net: &Network, window: ServiceWindow) -> csv::Result<()> {
    w.write_record([
        "trip_id",
        "arrival_time",
        "departure_time",
        "stop_id",
        "stop_sequence",
        "shape_dist_traveled",
    ])?;
    let mut clock = MadridClock::default();
    for (line, key) in each_trip(net, window) {
        let trip_id = key.to_string();
        let times = trip_schedule(line, key.end, key.departure(), &mut clock);
        let n = line.stops.len();
        for (k, t) in times.iter().enumerate() {
            let i = if key.end == 0 { k } else { n - 1 - k };
            let time = gtfs_time(key.date, *t);
            w.write_record([
                trip_id.as_str(),
                &time,
                &time,
                net.stops[line.stops[i]].id.as_str(),
                &(k + 1).to_string(),
                &format!("{:.1}", along(line, key.end, line.stop_offsets_m[i])),
            ])?;
        }
    }
    Ok(())
}

fn calendar_dates(w: &mut Csv, net: &Network, window: ServiceWindow) -> csv::Result<()> {
    w.write_record(["service_id", "date", "exception_type"])?;
    for date in window.dates() {
        let runs = net.lines.iter().any(|l| {
            let t = timetable_of(l);
            t.day(DayType::of(date))
                .departures
                .iter()
                .any(|d| !d.is_empty())
        });
        if runs {
            w.write_record([service_id(date), service_id(date), "1".into()])?;
        }
    }
    Ok(())
}

fn feed_info(w: &mut Csv, window: ServiceWindow) -> csv::Result<()> {
    w.write_record([
        "feed_publisher_name",
        "feed_publisher_url",
        "feed_lang",
        "feed_start_date",
        "feed_end_date",
        "feed_version",
        "feed_contact_url",
    ])?;
    w.write_record([
        "madbus".to_string(),
        PUBLISHER_URL.to_string(),
        "es".to_string(),
        service_id(window.first),
        service_id(window.last()),
        format!(
            "madbus {} {}+{}d",
            env!("CARGO_PKG_VERSION"),
            service_id(window.first),
            window.days
        ),
        PUBLISHER_URL.to_string(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_and_times() {
        assert_eq!(hex_color("#00AAFF"), Some("00AAFF"));
        assert_eq!(hex_color("teal"), None);
        assert_eq!(text_color("FFFF00"), "000000");
        assert_eq!(text_color("1F3A93"), "FFFFFF");
        let date = Date::constant(2026, 11, 30);
        assert_eq!(
            gtfs_time(date, service_instant(date, 25 * 3600 + 61)),
            "25:01:01"
        );
    }

    #[test]
    fn windows_are_checked() {
        assert!(
            ServiceWindow::parse("2026-11-30", 0)
                .unwrap_err()
                .contains("days")
        );
        assert!(
            ServiceWindow::parse("30/11/2026", 3)
                .unwrap_err()
                .contains("from")
        );
        let w = ServiceWindow::parse("2026-12-30", 5).unwrap();
        assert_eq!(w.last(), Date::constant(2027, 1, 3));
    }
}
