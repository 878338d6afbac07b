//! The bus network: lines, their ordered stops and their buses, loaded from a YAML file
//! (`data/lines.yaml` by default) and validated before anything runs on it.

pub mod geo;
pub mod id;
mod load;
mod places;
pub mod timetable;

use std::collections::HashMap;

pub use geo::{LatLon, Polyline};
pub use id::{BusId, Id, IdError, LineId, StopId};
pub use load::{Issue, LoadError, Loaded, Severity, load_file, parse_str};
pub use places::Place;
pub use timetable::{DayType, Departure, Timetable, TripKey};

/// The default network, shipped inside the binary so `madbus serve` runs from anywhere.
pub const DEFAULT_NETWORK_YAML: &str = include_str!("../../data/lines.yaml");
/// The name used for the embedded default in messages.
pub const DEFAULT_NETWORK_NAME: &str = "data/lines.yaml (built in)";

/// Cruise speed between stops when a line does not set `cruise_speed_kmh`.
pub const DEFAULT_CRUISE_SPEED_KMH: f64 = 20.0;

#[derive(Debug, Clone)]
pub struct Stop {
    pub id: StopId,
    pub name: String,
    pub position: LatLon,
    /// True when the stop ends at least one of its lines.
    pub is_terminal: bool,
    /// People per minute at the busiest hour of a weekday.
    pub base_arrival_rate: f64,
    /// Every line serving this physical stop, in file order.
    pub line_ids: Vec<LineId>,
}

#[derive(Debug, Clone)]
pub struct Bus {
    pub id: BusId,
    /// Index into [`Network::lines`].
    pub line: usize,
    pub capacity: u32,
    /// Fraction of the round trip: 0 is the first stop, 0.5 the last, 1 the first again.
    pub initial_position: f64,
}

#[derive(Debug, Clone)]
pub struct Line {
    pub id: LineId,
    pub name: String,
    pub color: Option<String>,
    pub cruise_speed_kmh: f64,
    /// When buses leave each terminal; None: all day at the headway the fleet gives.
    pub timetable: Option<Timetable>,
    /// Indices into [`Network::stops`], in direction-0 order.
    pub stops: Vec<usize>,
    /// Distance of each stop along `route`, increasing.
    pub stop_offsets_m: Vec<f64>,
    /// Indices into [`Network::buses`].
    pub buses: Vec<usize>,
    /// The path buses follow: the line's `shape` if given, else the stops in order.
    pub route: Polyline,
}

impl Line {
    /// Index into `stops` of terminal `end` (0: the first stop, 1: the last).
    pub fn terminal(&self, end: u8) -> usize {
        if end == 0 { 0 } else { self.stops.len() - 1 }
    }

    /// Length of one direction, first stop to last, in metres.
    pub fn length_m(&self) -> f64 {
        self.stop_offsets_m.last().copied().unwrap_or(0.0) - self.stop_offsets_m[0]
    }
}

/// A validated network. Built only by the loader, so every index in it is valid.
#[derive(Debug, Clone)]
pub struct Network {
    pub lines: Vec<Line>,
    pub stops: Vec<Stop>,
    pub buses: Vec<Bus>,
    line_index: HashMap<LineId, usize>,
    stop_index: HashMap<StopId, usize>,
    bus_index: HashMap<BusId, usize>,
    places: Vec<Place>,
    /// Index into `places` of each stop.
    place_of: Vec<usize>,
}

impl Network {
    fn new(lines: Vec<Line>, stops: Vec<Stop>, buses: Vec<Bus>) -> Self {
        let line_index = lines
            .iter()
            .enumerate()
            .map(|(i, l)| (l.id.clone(), i))
            .collect();
        let stop_index = stops
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), i))
            .collect();
        let bus_index = buses
            .iter()
            .enumerate()
            .map(|(i, b)| (b.id.clone(), i))
            .collect();
        let places = places::group(&stops);
        let mut place_of = vec![0; stops.len()];
        for (p, place) in places.iter().enumerate() {
            for &s in &place.stops {
                place_of[s] = p;
            }
        }
        Self {
            lines,
            stops,
            buses,
            line_index,
            stop_index,
            bus_index,
            places,
            place_of,
        }
    }

    /// Every place (one or several stops a person calls one place), in the order of its
    /// first stop.
    pub fn places(&self) -> &[Place] {
        &self.places
    }

    /// The index into [`Self::places`] of stop index `stop`.
    pub fn place_of(&self, stop: usize) -> usize {
        self.place_of[stop]
    }

    /// The built-in default network.
    pub fn default_network() -> Self {
        parse_str(DEFAULT_NETWORK_YAML, DEFAULT_NETWORK_NAME)
            .expect("the built-in network is valid (checked by tests)")
            .network
    }

    pub fn line(&self, id: &str) -> Option<&Line> {
        self.line_index.get(id).map(|&i| &self.lines[i])
    }
    pub fn stop(&self, id: &str) -> Option<&Stop> {
        self.stop_index.get(id).map(|&i| &self.stops[i])
    }
    pub fn bus(&self, id: &str) -> Option<&Bus> {
        self.bus_index.get(id).map(|&i| &self.buses[i])
    }
    pub fn line_index(&self, id: &str) -> Option<usize> {
        self.line_index.get(id).copied()
    }
    pub fn stop_index(&self, id: &str) -> Option<usize> {
        self.stop_index.get(id).copied()
    }
    pub fn bus_index(&self, id: &str) -> Option<usize> {
        self.bus_index.get(id).copied()
    }

    /// A one-screen description, used by `check-config` and the server's start-up log.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "{} lines, {} stops, {} buses\n",
            self.lines.len(),
            self.stops.len(),
            self.buses.len()
        );
        for l in &self.lines {
            out.push_str(&format!(
                "  {:<6} {:<40} {:>2} stops {:>2} buses  route {:>6.0} m\n",
                l.id.as_str(),
                l.name,
                l.stops.len(),
                l.buses.len(),
                l.length_m()
            ));
        }
        out
    }
}
