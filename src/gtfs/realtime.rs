//! GTFS-Realtime 2.0 feeds built from the buses' latest positions: vehicle positions, trip
//! updates (the forecast's times at every stop left on each trip) and alerts. Every id is
//! the static feed's (see [`super::schedule`]).

use std::collections::HashSet;
use std::sync::LazyLock;

use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};

use super::proto::{
    self, FeedEntity, FeedHeader, FeedMessage, TripDescriptor, TripUpdate, VehicleDescriptor,
    VehiclePosition, trip_update, vehicle_position,
};
use crate::network::{Line, Network, TripKey};
use crate::sim::BusPosition;
use crate::sim::forecast::{calls, held_trips};
use crate::sim::profile::MadridClock;
use crate::time::Millis;

/// The three feeds, as their routes name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RealtimeFeed {
    VehiclePositions,
    TripUpdates,
    Alerts,
}

impl RealtimeFeed {
    pub const ALL: [RealtimeFeed; 3] = [
        RealtimeFeed::VehiclePositions,
        RealtimeFeed::TripUpdates,
        RealtimeFeed::Alerts,
    ];

    pub fn path_name(self) -> &'static str {
        match self {
            RealtimeFeed::VehiclePositions => "vehicle-positions",
            RealtimeFeed::TripUpdates => "trip-updates",
            RealtimeFeed::Alerts => "alerts",
        }
    }
}

/// A bus this close to its next stop is arriving there (`INCOMING_AT`).
const INCOMING_M: f64 = 50.0;
/// The share of a bus's capacity that is seats (a 12 m EMT bus: about 25 of 80-90 places).
const SEATED_SHARE: f64 = 0.3;

/// The feed `kind` for the buses at `positions` (in their order), as of `now`.
pub fn build(
    kind: RealtimeFeed,
    net: &Network,
    positions: &[BusPosition],
    now: Millis,
) -> FeedMessage {
    let entity = match kind {
        RealtimeFeed::VehiclePositions => positions
            .iter()
            .filter(|p| p.in_service)
            .filter_map(|p| {
                Some(FeedEntity {
                    id: p.bus_id.to_string(),
                    vehicle: Some(vehicle(net, net.line(p.line_id.as_str())?, p)),
                    ..Default::default()
                })
            })
            .collect(),
        RealtimeFeed::TripUpdates => {
            let held = held_trips(positions);
            let mut clock = MadridClock::default();
            positions
                .iter()
                .filter(|p| p.in_service)
                .filter_map(|p| {
                    let line = net.line(p.line_id.as_str())?;
                    let update = trip_update(net, line, p, now, &held, &mut clock)?;
                    Some(FeedEntity {
                        id: update.trip.trip_id.clone()?,
                        trip_update: Some(update),
                        ..Default::default()
                    })
                })
                .collect()
        }
        RealtimeFeed::Alerts => Vec::new(),
    };
    FeedMessage {
        header: FeedHeader {
            gtfs_realtime_version: "2.0".into(),
            incrementality: Some(proto::feed_header::Incrementality::FullDataset as i32),
            timestamp: Some(seconds(now)),
            ..Default::default()
        },
        entity,
    }
}

fn seconds(t: Millis) -> u64 {
    u64::try_from(t.0.div_euclid(1000)).unwrap_or(0)
}

/// The descriptor of a trip instance.
fn trip_descriptor(key: &TripKey) -> TripDescriptor {
    let start = crate::network::timetable::service_instant(key.date, key.secs);
    TripDescriptor {
        trip_id: Some(key.to_string()),
        route_id: Some(key.line_id.clone()),
        direction_id: Some(key.end.into()),
        start_time: Some(super::schedule::gtfs_time(key.date, start)),
        start_date: Some(key.date.strftime("%Y%m%d").to_string()),
        schedule_relationship: Some(proto::trip_descriptor::ScheduleRelationship::Scheduled as i32),
        ..Default::default()
    }
}

fn vehicle_descriptor(p: &BusPosition) -> VehicleDescriptor {
    VehicleDescriptor {
        id: Some(p.bus_id.to_string()),
        label: Some(p.bus_id.to_string()),
        ..Default::default()
    }
}

/// 1-based position of stop index `stop` on a trip leaving terminal `end`.
fn stop_sequence(line: &Line, end: u8, stop: usize) -> u32 {
    let k = if end == 0 {
        stop
    } else {
        line.stops.len() - 1 - stop
    };
    k as u32 + 1
}

fn vehicle(net: &Network, line: &Line, p: &BusPosition) -> VehiclePosition {
    use vehicle_position::{OccupancyStatus, VehicleStopStatus};
    let trip = p.trip_id.as_deref().and_then(TripKey::parse);
    let next = line
        .stops
        .iter()
        .position(|&s| net.stops[s].id == p.next_stop_id);
    // The trip's order of stops: at a terminal before a trip, the next stop is its first.
    let sequence = match (&trip, next) {
        (Some(key), Some(stop)) => Some(stop_sequence(line, key.end, stop)),
        (None, Some(stop)) => Some(stop_sequence(line, p.direction, stop)),
        _ => None,
    };
    let status = if p.at_stop {
        VehicleStopStatus::StoppedAt
    } else if p.distance_to_next_stop_m <= INCOMING_M {
        VehicleStopStatus::IncomingAt
    } else {
        VehicleStopStatus::InTransitTo
    };
    let load = f64::from(p.passenger_count)
        / f64::from(net.bus(p.bus_id.as_str()).map_or(1, |b| b.capacity.max(1)));
    let occupancy = match load {
        l if l <= 0.0 => OccupancyStatus::Empty,
        l if l < SEATED_SHARE / 2.0 => OccupancyStatus::ManySeatsAvailable,
        l if l < SEATED_SHARE => OccupancyStatus::FewSeatsAvailable,
        l if l < 0.8 => OccupancyStatus::StandingRoomOnly,
        l if l < 1.0 => OccupancyStatus::CrushedStandingRoomOnly,
        _ => OccupancyStatus::Full,
    };
    VehiclePosition {
        trip: trip.as_ref().map(trip_descriptor),
        vehicle: Some(vehicle_descriptor(p)),
        position: Some(proto::Position {
            latitude: p.latitude as f32,
            longitude: p.longitude as f32,
            bearing: next.map(|stop| bearing(line, p, stop) as f32),
            speed: Some((p.speed_kmh / 3.6) as f32),
            ..Default::default()
        }),
        current_stop_sequence: sequence,
        stop_id: Some(p.next_stop_id.to_string()),
        current_status: Some(status as i32),
        timestamp: Some(seconds(p.time)),
        occupancy_status: Some(occupancy as i32),
        occupancy_percentage: Some((load * 100.0).round() as u32),
        ..Default::default()
    }
}

/// Degrees clockwise from north of the route where the bus is, the way it is going.
fn bearing(line: &Line, p: &BusPosition, next: usize) -> f64 {
    let ahead = if p.direction == 0 { 1.0 } else { -1.0 };
    let offset = line.stop_offsets_m[next] - ahead * p.distance_to_next_stop_m;
    let (a, b) = (
        line.route.point_at(offset - ahead * 10.0),
        line.route.point_at(offset + ahead * 10.0),
    );
    let (lat1, lat2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlon = (b.lon - a.lon).to_radians();
    let y = dlon.sin() * lat2.cos();
    let x = lat1.cos() * lat2.sin() - lat1.sin() * lat2.cos() * dlon.cos();
    y.atan2(x).to_degrees().rem_euclid(360.0)
}

/// The forecast of every stop left on the bus's trip.
fn trip_update(
    net: &Network,
    line: &Line,
    p: &BusPosition,
    now: Millis,
    held: &HashSet<&str>,
    clock: &mut MadridClock,
) -> Option<TripUpdate> {
    use trip_update::{StopTimeEvent, StopTimeUpdate, stop_time_update::ScheduleRelationship};
    let key = p.trip_id.as_deref().and_then(TripKey::parse)?;
    // The trip's schedule once, not once per stop.
    let schedule = crate::sim::schedule::trip_schedule(line, key.end, key.departure(), clock);
    let mut updates = Vec::new();
    for call in calls(net, line, p, now, held)? {
        if call.trip.as_ref() != Some(&key) {
            break;
        }
        let at = Millis(call.at.round() as i64);
        let k = stop_sequence(line, key.end, call.stop) as usize - 1;
        let scheduled = (call.direction == key.end)
            .then(|| schedule.get(k).copied())
            .flatten();
        let delay = scheduled.map(|s| ((at.0 - s.0) as f64 / 1000.0).round() as i32);
        let event = StopTimeEvent {
            delay,
            time: Some(seconds(at) as i64),
            ..Default::default()
        };
        updates.push(StopTimeUpdate {
            stop_sequence: Some(stop_sequence(line, key.end, call.stop)),
            stop_id: Some(net.stops[line.stops[call.stop]].id.to_string()),
            arrival: Some(event),
            departure: (!call.ends_trip).then_some(event),
            schedule_relationship: Some(ScheduleRelationship::Scheduled as i32),
            ..Default::default()
        });
        if call.ends_trip {
            break;
        }
    }
    Some(TripUpdate {
        trip: trip_descriptor(&key),
        vehicle: Some(vehicle_descriptor(p)),
        delay: updates.first().and_then(|u| u.arrival.as_ref()?.delay),
        timestamp: Some(seconds(p.time)),
        stop_time_update: updates,
        ..Default::default()
    })
}

static MESSAGE: LazyLock<MessageDescriptor> = LazyLock::new(|| {
    DescriptorPool::decode(proto::DESCRIPTORS)
        .ok()
        .and_then(|pool| pool.get_message_by_name("transit_realtime.FeedMessage"))
        .expect("the build script's GTFS-Realtime descriptors decode")
});

/// The message in the protobuf JSON mapping (the field names and enum names that
/// `google.protobuf.json_format` writes and reads).
pub fn to_json(message: &FeedMessage) -> serde_json::Value {
    let bytes = prost::Message::encode_to_vec(message);
    DynamicMessage::decode(MESSAGE.clone(), bytes.as_slice())
        .ok()
        .and_then(|m| serde_json::to_value(&m).ok())
        .unwrap_or(serde_json::Value::Null)
}
