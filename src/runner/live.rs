//! The latest state in memory: what `latest` queries answer from without touching the
//! store, and what health reports about the simulator.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Instant;

use crate::sim::{BusPosition, PeopleCount, Records, SensorReading};
use crate::time::Millis;

/// What the simulator is doing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    Starting,
    /// Generating history as fast as possible; `done` of 0..=1.
    Backfilling {
        done: f64,
    },
    /// Following the (possibly accelerated) clock.
    Live,
    Stopped,
}

#[derive(Debug, Clone)]
pub struct Status {
    pub phase: Phase,
    pub sim_time: Option<Millis>,
    /// When the simulator last made progress (wall clock).
    pub last_progress: Instant,
    /// The last store error, cleared by the next successful write.
    pub store_error: Option<String>,
}

#[derive(Default)]
struct Latest {
    positions: HashMap<String, BusPosition>,
    people: HashMap<String, PeopleCount>,
    sensors: HashMap<(String, &'static str), SensorReading>,
}

pub struct LiveState {
    latest: RwLock<Latest>,
    status: RwLock<Status>,
    /// Woken whenever the phase changes.
    phase_changed: tokio::sync::Notify,
}

impl Default for LiveState {
    fn default() -> Self {
        Self {
            latest: RwLock::default(),
            status: RwLock::new(Status {
                phase: Phase::Starting,
                sim_time: None,
                last_progress: Instant::now(),
                store_error: None,
            }),
            phase_changed: tokio::sync::Notify::new(),
        }
    }
}

impl LiveState {
    /// Takes in the newest records (only the last of each entity is kept).
    pub fn absorb(&self, records: &Records) {
        let mut latest = self.latest.write().unwrap_or_else(|p| p.into_inner());
        for p in &records.positions {
            latest.positions.insert(p.bus_id.to_string(), p.clone());
        }
        for p in &records.people {
            latest.people.insert(p.stop_id.to_string(), p.clone());
        }
        for s in &records.sensors {
            latest
                .sensors
                .insert((s.entity_id.to_string(), s.entity_type.as_str()), s.clone());
        }
    }

    pub fn position(&self, bus_id: &str) -> Option<BusPosition> {
        let latest = self.latest.read().unwrap_or_else(|p| p.into_inner());
        latest.positions.get(bus_id).cloned()
    }

    pub fn people(&self, stop_id: &str) -> Option<PeopleCount> {
        let latest = self.latest.read().unwrap_or_else(|p| p.into_inner());
        latest.people.get(stop_id).cloned()
    }

    pub fn sensor(&self, kind: crate::sim::EntityType, id: &str) -> Option<SensorReading> {
        let latest = self.latest.read().unwrap_or_else(|p| p.into_inner());
        latest
            .sensors
            .get(&(id.to_string(), kind.as_str()))
            .cloned()
    }

    pub fn status(&self) -> Status {
        self.status
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// What the simulator is doing (without copying the rest of the status).
    pub fn phase(&self) -> Phase {
        self.status.read().unwrap_or_else(|p| p.into_inner()).phase
    }

    /// Completes once the simulator runs live (at once if it already does).
    pub async fn until_live(&self) {
        loop {
            // Registered before the phase is read, so the change cannot be missed.
            let changed = self.phase_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.phase() == Phase::Live {
                return;
            }
            changed.await;
        }
    }

    pub(crate) fn set_progress(&self, phase: Phase, sim_time: Millis) {
        let mut s = self.status.write().unwrap_or_else(|p| p.into_inner());
        let changed = std::mem::discriminant(&s.phase) != std::mem::discriminant(&phase);
        s.phase = phase;
        s.sim_time = Some(sim_time);
        s.last_progress = Instant::now();
        drop(s);
        if changed {
            self.phase_changed.notify_waiters();
        }
    }

    pub(crate) fn set_phase(&self, phase: Phase) {
        self.status.write().unwrap_or_else(|p| p.into_inner()).phase = phase;
        self.phase_changed.notify_waiters();
    }

    pub(crate) fn set_store_error(&self, error: Option<String>) {
        self.status
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .store_error = error;
    }
}
