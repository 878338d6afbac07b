//! How a bus drives between two stops: it accelerates, runs at a speed that varies from
//! block to block, stops at red lights and brakes into the stop. The same model gives the
//! expected running time, used for timetables' scheduled times and arrival predictions.

use serde::{Deserialize, Serialize};

/// Comfortable acceleration and braking of a city bus (m/s²).
pub const ACCEL_MPS2: f64 = 1.0;
pub const BRAKE_MPS2: f64 = 1.2;
/// Traffic lights every this many metres on central Madrid streets.
pub const SIGNAL_SPACING_M: f64 = 300.0;
/// Chance that a bus meets a light red, and the longest red it waits out (s): arriving at
/// a random moment of a 90 s cycle with 50 s of red.
pub const P_RED: f64 = 0.4;
pub const MAX_RED_S: f64 = 50.0;
/// Free-flow speed over the line's cruise speed: lights and ramps bring the mean running
/// speed between stops back to about the cruise speed.
pub const FREE_FLOW_OVER_CRUISE: f64 = 1.3;
/// Block-to-block speed variation (standard deviation of the factor).
pub const BLOCK_SPREAD: f64 = 0.12;
/// Integration step (s): small enough that braking into a stop is smooth.
pub const STEP_S: f64 = 1.0;

/// A traffic light ahead on the current leg, at a route offset; red for `red_ms` when the
/// bus gets there (0: green).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub at_m: f64,
    pub red_ms: i64,
}

/// Where the signals of a leg from `from_m` to `to_m` stand: evenly spaced.
pub fn signal_offsets(from_m: f64, to_m: f64) -> impl Iterator<Item = f64> {
    let d = (to_m - from_m).abs();
    let n = (d / SIGNAL_SPACING_M).floor() as usize;
    (1..=n).map(move |k| from_m + (to_m - from_m) * k as f64 / (n + 1) as f64)
}

/// The expected time (s) to drive `distance_m` from a stop to the next at free-flow speed
/// `v_mps`: cruising, the ramps at both ends and the red lights on the way.
pub fn expected_leg_s(distance_m: f64, v_mps: f64) -> f64 {
    if distance_m <= 0.0 {
        return 0.0;
    }
    let v = v_mps.max(0.5);
    let ramps = v / (2.0 * ACCEL_MPS2) + v / (2.0 * BRAKE_MPS2);
    let signals = (distance_m / SIGNAL_SPACING_M).floor();
    // Short legs never reach the free-flow speed: the ramps then cost less.
    let ramp_share = (distance_m / (v * v / ACCEL_MPS2)).min(1.0);
    distance_m / v + ramps * ramp_share + signals * P_RED * (MAX_RED_S / 2.0 + ramps)
}

/// The next speed (m/s) after `dt_s`: towards `target`, braking evenly to stop exactly at
/// a hold `to_hold_m` ahead once that needs about the comfortable deceleration.
pub fn next_speed(v: f64, target: f64, to_hold_m: f64, dt_s: f64) -> f64 {
    if to_hold_m <= 1e-6 {
        return 0.0;
    }
    let needed = v * v / (2.0 * to_hold_m);
    if needed >= 0.95 * BRAKE_MPS2 {
        return (v - needed * dt_s).max(0.0);
    }
    let towards = if v < target {
        (v + ACCEL_MPS2 * dt_s).min(target)
    } else {
        (v - BRAKE_MPS2 * dt_s).max(target)
    };
    // Never so fast that stopping in what is left after this step needs harder braking:
    // when even keeping the speed would, start braking evenly now.
    let left = (to_hold_m - (v + towards) / 2.0 * dt_s).max(0.0);
    let cap = (2.0 * 0.95 * BRAKE_MPS2 * left).sqrt();
    if cap >= towards {
        towards
    } else if cap >= v {
        cap
    } else {
        (v - needed * dt_s).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives a leg with the integration the world uses, all lights green, and compares
    /// with the expected time without lights.
    #[test]
    fn the_expected_time_matches_the_integration() {
        for (d, v) in [(900.0, 7.0), (300.0, 8.0), (2_000.0, 5.0)] {
            let (mut pos, mut speed, mut t) = (0.0, 0.0, 0.0);
            while pos < d {
                let next = next_speed(speed, v, d - pos, STEP_S);
                let ds = (speed + next) / 2.0 * STEP_S;
                if ds >= d - pos {
                    t += STEP_S * (d - pos) / ds;
                    break;
                }
                pos += ds;
                speed = next;
                t += STEP_S;
            }
            let signals = (d / SIGNAL_SPACING_M).floor() * P_RED;
            let ramps = v / (2.0 * ACCEL_MPS2) + v / (2.0 * BRAKE_MPS2);
            let expected = expected_leg_s(d, v) - signals * (MAX_RED_S / 2.0 + ramps);
            assert!(
                (t / expected - 1.0).abs() < 0.08,
                "{d} m at {v} m/s: driven {t:.1} s, expected {expected:.1} s"
            );
        }
    }
}
