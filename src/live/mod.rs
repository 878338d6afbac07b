//! The live read model: the latest record of every entity and the simulator's status, as
//! the feed last told them. Every process that serves fills one with [`follow`]: primed
//! from the store's newest rows, then kept current by the feed, so "latest" answers come
//! from memory whichever process runs the simulator.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use crate::feed::{FeedMessage, Phase, RecvError, Status, StatusCell, Stored, Subscriber};
use crate::network::Network;
use crate::sim::{BusPosition, EntityType, PeopleCount, Record, SensorReading};
use crate::store::{Series, Store};

pub use crate::feed::STALE_AFTER;

#[derive(Default)]
struct Latest {
    positions: HashMap<String, Arc<Kept<BusPosition>>>,
    people: HashMap<String, Arc<Kept<PeopleCount>>>,
    /// By entity kind (bus, stop), then id.
    sensors: [HashMap<String, Arc<Kept<SensorReading>>>; 2],
}

/// An entity's newest record as memory keeps it, with its JSON answer once asked for: a
/// record changes once per recording interval, and is asked for far more often than that.
/// A newer record replaces the whole entry, so the JSON never outlives its record.
#[derive(Debug)]
pub struct Kept<R> {
    pub record: R,
    json: OnceLock<Bytes>,
}

impl<R> Kept<R> {
    fn new(record: R) -> Arc<Self> {
        Arc::new(Self {
            record,
            json: OnceLock::new(),
        })
    }

    /// The record's JSON, written by `render` the first time it is asked for.
    pub fn json<E>(&self, render: impl FnOnce(&R) -> Result<Bytes, E>) -> Result<Bytes, E> {
        if let Some(json) = self.json.get() {
            return Ok(json.clone());
        }
        let json = render(&self.record)?;
        Ok(self.json.get_or_init(|| json).clone())
    }
}

/// What this process last heard from the feed.
#[derive(Debug, Clone, Copy)]
pub struct FeedSeen {
    pub last_message: Option<Instant>,
    pub interrupted: bool,
}

pub struct LiveState {
    latest: RwLock<Latest>,
    status: Arc<StatusCell>,
    /// Filled by [`follow`] (otherwise memory is never current).
    following: bool,
    seen: RwLock<FeedSeen>,
}

/// Keeps `record` if it is the newest of its entity.
fn absorb_one(latest: &mut Latest, record: &Record) {
    match record {
        Record::Position(p) => keep_newer(&mut latest.positions, p.bus_id.as_str(), p, |r| r.time),
        Record::People(p) => keep_newer(&mut latest.people, p.stop_id.as_str(), p, |r| r.time),
        Record::Sensor(s) => keep_newer(
            &mut latest.sensors[kind_index(s.entity_type)],
            &s.entity_id,
            s,
            |r| r.time,
        ),
        Record::Arrival(_) => {}
    }
}

fn kind_index(kind: EntityType) -> usize {
    match kind {
        EntityType::Bus => 0,
        EntityType::Stop => 1,
    }
}

/// Keeps the entry of `key` at the newer of itself and `record` (the store and the feed may
/// disagree on order while priming); the key is copied only for a new entity.
fn keep_newer<R: Clone>(
    map: &mut HashMap<String, Arc<Kept<R>>>,
    key: &str,
    record: &R,
    time: impl Fn(&R) -> crate::time::Millis,
) {
    match map.get_mut(key) {
        Some(old) if time(&old.record) > time(record) => {}
        Some(old) => *old = Kept::new(record.clone()),
        None => {
            map.insert(key.to_string(), Kept::new(record.clone()));
        }
    }
}

impl LiveState {
    /// A read model to be filled from the feed by [`follow`], for `network`.
    pub fn new(network: &Network) -> Self {
        Self::build(
            Arc::new(StatusCell::new(crate::sim::network_fingerprint(network))),
            true,
        )
    }

    /// No feed: the simulator's own status (a process that only simulates).
    pub fn of_simulator(status: Arc<StatusCell>) -> Self {
        Self::build(status, false)
    }

    /// No feed and no simulator: what is stored is all there is (a read-only process
    /// beside the files), so the data counts as ready and answers come from the store.
    pub fn settled(network: &Network) -> Self {
        let live = Self::build(
            Arc::new(StatusCell::new(crate::sim::network_fingerprint(network))),
            false,
        );
        live.status.set_phase(Phase::Stopped);
        live
    }

    fn build(status: Arc<StatusCell>, following: bool) -> Self {
        Self {
            latest: RwLock::default(),
            status,
            following,
            seen: RwLock::new(FeedSeen {
                last_message: None,
                interrupted: false,
            }),
        }
    }

    /// Takes in records (only the newest of each entity is kept; arrivals are not), under
    /// one lock.
    pub fn absorb<'a>(&self, records: impl IntoIterator<Item = &'a Record>) {
        let mut latest = self.latest.write().unwrap_or_else(|p| p.into_inner());
        for record in records {
            absorb_one(&mut latest, record);
        }
    }

    /// Whether memory is current: this process follows a feed that is connected and has
    /// spoken within [`STALE_AFTER`]. When not, "latest" comes from the store.
    pub fn current(&self) -> bool {
        let seen = self.feed_seen();
        self.following
            && !seen.interrupted
            && seen.last_message.is_some_and(|t| t.elapsed() < STALE_AFTER)
    }

    /// What the store holds for sure (see [`Stored`]), when memory is current: a status
    /// heard longer ago may be older than [`Stored::HOLD`].
    pub fn stored(&self) -> Option<Stored> {
        self.current().then(|| self.status.stored()).flatten()
    }

    pub fn position(&self, bus_id: &str) -> Option<Arc<Kept<BusPosition>>> {
        let latest = self.latest.read().unwrap_or_else(|p| p.into_inner());
        latest.positions.get(bus_id).cloned()
    }

    pub fn people(&self, stop_id: &str) -> Option<Arc<Kept<PeopleCount>>> {
        let latest = self.latest.read().unwrap_or_else(|p| p.into_inner());
        latest.people.get(stop_id).cloned()
    }

    pub fn sensor(&self, kind: EntityType, id: &str) -> Option<Arc<Kept<SensorReading>>> {
        let latest = self.latest.read().unwrap_or_else(|p| p.into_inner());
        latest.sensors[kind_index(kind)].get(id).cloned()
    }

    /// The simulator's status as last heard.
    pub fn status(&self) -> Status {
        self.status.get()
    }

    pub fn phase(&self) -> Phase {
        self.status.phase()
    }

    /// Completes once the simulator runs live (at once if it already does).
    pub async fn until_live(&self) {
        self.status.until_live().await
    }

    /// Whether [`follow`] fills this (else there is no feed to report on).
    pub fn follows_feed(&self) -> bool {
        self.following
    }

    pub fn feed_seen(&self) -> FeedSeen {
        *self.seen.read().unwrap_or_else(|p| p.into_inner())
    }

    fn heard(&self, interrupted: bool) {
        *self.seen.write().unwrap_or_else(|p| p.into_inner()) = FeedSeen {
            last_message: Some(Instant::now()),
            interrupted,
        };
    }

    /// Loads the newest stored record of every entity; false when the store failed.
    async fn prime(&self, store: &dyn Store, network: &Network) -> bool {
        let buses = network.buses.iter().map(|b| b.id.as_str());
        let stops = network.stops.iter().map(|s| s.id.as_str());
        let wanted = (buses.clone().map(|id| (Series::BusPositions, id)))
            .chain(stops.clone().map(|id| (Series::PeopleCount, id)))
            .chain(buses.map(|id| (Series::Sensors(EntityType::Bus), id)))
            .chain(stops.map(|id| (Series::Sensors(EntityType::Stop), id)));
        for (series, id) in wanted {
            match store.latest(series, id).await {
                Ok(Some(record)) => self.absorb([&record]),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cannot load the latest records from the store");
                    return false;
                }
            }
        }
        true
    }
}

/// Fills `live` until `stop`: first from the store's newest rows, then from the feed; again
/// from the store whenever events may have been missed (the simulator went live, the feed
/// came back, this process fell behind).
pub async fn follow(
    live: Arc<LiveState>,
    mut feed: Subscriber,
    store: Arc<dyn Store>,
    network: Arc<Network>,
    stop: CancellationToken,
) {
    live.prime(&*store, &network).await;
    let own_network = crate::sim::network_fingerprint(&network);
    let mut warned_network = false;
    loop {
        let message = tokio::select! {
            m = feed.recv() => m,
            () = stop.cancelled() => return,
        };
        let missed = match message {
            Ok(FeedMessage::Events(batch)) => {
                live.heard(false);
                live.absorb(batch.events.iter().map(|e| &e.record));
                false
            }
            Ok(FeedMessage::Status(status)) => {
                live.heard(false);
                if status.network != own_network && !warned_network {
                    warned_network = true;
                    tracing::error!(
                        simulator = %status.network, here = %own_network,
                        "the simulator runs another network than this process: ids may not match"
                    );
                }
                let was_live = live.phase() == Phase::Live;
                live.status.replace((*status).clone());
                !was_live && status.phase == Phase::Live
            }
            Ok(FeedMessage::Interrupted(_)) => {
                live.heard(true);
                false
            }
            Ok(FeedMessage::Resumed) => {
                live.heard(false);
                true
            }
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "the read model fell behind the feed");
                true
            }
            Err(RecvError::Closed) => return,
        };
        if missed {
            live.prime(&*store, &network).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::{BusId, LineId, StopId};
    use crate::time::Millis;

    fn position(time: i64, passengers: u32) -> Record {
        Record::Position(BusPosition {
            bus_id: BusId::parse("B001").unwrap(),
            line_id: LineId::parse("L1").unwrap(),
            time: Millis(time),
            latitude: 40.4,
            longitude: -3.7,
            speed_kmh: 20.0,
            direction: 0,
            passenger_count: passengers,
            next_stop_id: StopId::parse("S001").unwrap(),
            distance_to_next_stop_m: 100.0,
            at_stop: false,
            in_service: true,
            trip_id: None,
            delay_s: None,
        })
    }

    fn json_of(live: &LiveState) -> String {
        let kept = live.position("B001").unwrap();
        let json = kept.json(|p| Ok::<_, ()>(Bytes::from(p.passenger_count.to_string())));
        String::from_utf8(json.unwrap().to_vec()).unwrap()
    }

    /// The JSON kept for a record is that record's: a newer record brings its own, an older
    /// one (from the store, after the feed) changes nothing.
    #[test]
    fn kept_json_follows_the_newest_record() {
        let live = LiveState::of_simulator(Arc::new(StatusCell::new("test".into())));
        live.absorb([&position(1_000, 7)]);
        assert_eq!(json_of(&live), "7");
        assert_eq!(json_of(&live), "7");
        live.absorb([&position(2_000, 9)]);
        assert_eq!(json_of(&live), "9");
        live.absorb([&position(1_500, 8)]);
        assert_eq!(json_of(&live), "9");
    }
}
