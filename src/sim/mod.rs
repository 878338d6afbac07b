//! The simulation: one coherent world advanced by a pure step. See SPEC §2.

pub mod forecast;
pub mod motion;
pub mod people;
pub mod profile;
pub mod records;
pub mod schedule;
pub mod weather;
mod world;

pub use records::{
    BusArrival, BusPosition, DoorStatus, EntityType, LineWaiting, PeopleCount, Record, Records,
    SensorReading,
};
pub use world::{
    DWELL_FIXED_S, DWELL_PER_ALIGHTING_S, DWELL_PER_BOARDING_S, MIN_LAYOVER_S, PARK_AFTER_S,
    PULL_OUT_LEAD_S, StopTotals, World, WorldState, network_fingerprint,
};

/// How the world is stepped and recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimConfig {
    pub seed: u64,
    /// Simulated time per step.
    pub tick_ms: i64,
    /// Bus positions are recorded at multiples of this.
    pub position_every_ms: i64,
    /// People counts and sensors are recorded at multiples of this.
    pub sample_every_ms: i64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            tick_ms: 1_000,
            position_every_ms: 5_000,
            sample_every_ms: 60_000,
        }
    }
}

impl SimConfig {
    /// Checks that the cadences are whole numbers of ticks, so records fall on step ends.
    pub fn validate(&self) -> Result<(), String> {
        if self.tick_ms <= 0 {
            return Err("the tick must be positive".into());
        }
        for (name, every) in [
            ("position interval", self.position_every_ms),
            ("sample interval", self.sample_every_ms),
        ] {
            if every <= 0 || every % self.tick_ms != 0 {
                return Err(format!(
                    "the {name} ({every} ms) must be a positive multiple of the tick ({} ms)",
                    self.tick_ms
                ));
            }
        }
        Ok(())
    }
}
