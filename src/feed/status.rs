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
    /// What the store holds for sure; absent until the first batch is written (and from
    /// simulators that predate it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<Stored>,
}

/// What the store holds for sure, as the simulator's writer last said: every row up to
/// `until` is written, and rows from `kept_from` on stay for at least [`Stored::HOLD`] of
/// wall time after the writer said so (it counts the clock's speed in).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    pub until: Millis,
    pub kept_from: Millis,
}

impl Stored {
    /// Three times [`super::STALE_AFTER`]: a reader that heard the feed within that still
    /// holds a status young enough to count on.
    pub const HOLD: std::time::Duration = std::time::Duration::from_secs(30);

    /// What a writer says after storing everything up to `until`, pruning `retention`
    /// behind it, with the clock running at `speed` simulated seconds per second.
    pub fn after_write(until: Millis, retention: crate::time::Duration, speed: f64) -> Self {
        let hold = crate::time::Duration::from_millis(
            (Self::HOLD.as_millis() as f64 * speed).min(i64::MAX as f64) as i64,
        );
        Self {
            until,
            kept_from: until.saturating_sub(retention).saturating_add(hold),
        }
    }
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
                    stored: None,
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

    /// What the store holds for sure (see [`Stored`]); wakes no one: the periodic status
    /// carries it.
    pub fn set_stored(&self, stored: Stored) {
        self.update(|s| {
            s.stored = Some(stored);
            false
        });
    }

    /// What the store holds for sure, without copying the rest of the status.
    pub fn stored(&self) -> Option<Stored> {
        self.status
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .sim
            .stored
    }

    pub fn set_store_error(&self, error: Option<String>) {
        self.update(|s| {
            let changed = s.store_error != error;
            s.store_error = error;
            changed
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    /// The promise covers [`Stored::HOLD`] of wall time at the clock's speed.
    #[test]
    fn what_is_kept_counts_the_clock_speed_in() {
        let until = Millis(1_000_000_000_000);
        let month = Duration::from_secs(30 * 86_400);
        let at = |speed| Stored::after_write(until, month, speed).kept_from.0;
        assert_eq!(at(1.0), until.0 - month.as_millis() + 30_000);
        assert_eq!(at(60.0), until.0 - month.as_millis() + 30 * 60_000);
        assert_eq!(Stored::after_write(until, month, 1.0).until, until);
    }

    /// It travels with the status, and a status without it (an older simulator) still reads.
    #[test]
    fn stored_travels_and_may_be_absent() {
        let cell = StatusCell::new("net".into());
        let stored = Stored {
            until: Millis(2_000),
            kept_from: Millis(1_000),
        };
        cell.set_stored(stored);
        let status = cell.get().sim;
        let json = serde_json::to_string(&status).unwrap();
        let back: SimStatus = serde_json::from_str(&json).unwrap();
        assert_eq!(back.stored, Some(stored));
        let older = r#"{"phase":"live","sim_time":5,"store_error":null,"network":"net"}"#;
        assert_eq!(
            serde_json::from_str::<SimStatus>(older).unwrap().stored,
            None
        );
    }
}
