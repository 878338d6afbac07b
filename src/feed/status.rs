//! What the simulator says about itself: its phase and clock, sent on the feed beside the
//! events so that a process without a simulator knows whether the data is ready.

use std::sync::RwLock;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::time::Millis;

/// What the simulator is doing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "lowercase")]
pub enum Phase {
    Starting,
    /// Waiting to take over: another simulator writes the store.
    Standby,
    /// Generating history as fast as possible; `done` of 0..=1.
    Backfilling {
        done: f64,
    },
    /// Following the (possibly accelerated) clock.
    Live,
    Stopped,
}

/// The simulator's state as published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimStatus {
    #[serde(flatten)]
    pub phase: Phase,
    pub sim_time: Option<Millis>,
    /// The last store error, cleared by the next successful write.
    pub store_error: Option<String>,
    /// The network the simulator runs (see [`crate::sim::network_fingerprint`]).
    pub network: String,
}

/// A simulator status as last known, with when it last made progress (wall clock).
#[derive(Debug, Clone)]
pub struct Status {
    pub sim: SimStatus,
    pub last_progress: Instant,
}

/// The latest [`SimStatus`], shared between a writer (the simulator, or whoever reads the
/// feed) and readers (health, the query layer), with a wake-up on every phase change.
pub struct StatusCell {
    status: RwLock<Status>,
    /// Bumped on each change worth telling: watchers never miss one.
    changes: tokio::sync::watch::Sender<u64>,
}

impl StatusCell {
    pub fn new(network: String) -> Self {
        Self {
            status: RwLock::new(Status {
                sim: SimStatus {
                    phase: Phase::Starting,
                    sim_time: None,
                    store_error: None,
                    network,
                },
                last_progress: Instant::now(),
            }),
            changes: tokio::sync::watch::Sender::new(0),
        }
    }

    pub fn get(&self) -> Status {
        self.status
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The phase alone (without copying the rest).
    pub fn phase(&self) -> Phase {
        self.status
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .sim
            .phase
    }

    /// Completes once the phase satisfies `until` (at once if it does).
    async fn until(&self, until: impl Fn(Phase) -> bool) {
        // Subscribed before the phase is read, so a change cannot be missed.
        let mut changes = self.changes.subscribe();
        while !until(self.phase()) {
            if changes.changed().await.is_err() {
                return;
            }
        }
    }

    /// Completes once the simulator runs live (at once if it already does).
    pub async fn until_live(&self) {
        self.until(|p| p == Phase::Live).await
    }

    /// Ticks on every change of phase or store error (not of the clock alone).
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Applies `update` (which says whether it changed more than the phase or clock);
    /// wakes waiters on a phase change or that other change.
    fn update(&self, update: impl FnOnce(&mut SimStatus) -> bool) {
        let mut s = self.status.write().unwrap_or_else(|p| p.into_inner());
        let (phase, time) = (std::mem::discriminant(&s.sim.phase), s.sim.sim_time);
        let other = update(&mut s.sim);
        let phase_changed = std::mem::discriminant(&s.sim.phase) != phase;
        if phase_changed || s.sim.sim_time != time {
            s.last_progress = Instant::now();
        }
        drop(s);
        if phase_changed || other {
            self.changes.send_modify(|n| *n += 1);
        }
    }

    /// Takes a status received from the feed.
    pub fn replace(&self, status: SimStatus) {
        self.update(|s| {
            let other = s.store_error != status.store_error || s.network != status.network;
            *s = status;
            other
        });
    }

    pub fn set_progress(&self, phase: Phase, sim_time: Millis) {
        self.update(|s| {
            s.phase = phase;
            s.sim_time = Some(sim_time);
            false
        });
    }

    pub fn set_phase(&self, phase: Phase) {
        self.update(|s| {
            s.phase = phase;
            false
        });
    }

    pub fn set_store_error(&self, error: Option<String>) {
        self.update(|s| {
            let changed = s.store_error != error;
            s.store_error = error;
            changed
        });
    }
}
