//! Madrid's weather: the daily cycle and the season (see [`profile`](super::profile)), air
//! masses that stay for days, moist and dry spells, a few wet days, and what the cabin of a
//! bus makes of it with its heating or air conditioning.

use rand::{Rng, RngExt};
use rand_distr::{Distribution, Exp, StandardNormal};
use serde::{Deserialize, Serialize};

use super::profile::{self, LocalTime};

/// Air-mass temperature anomaly: an Ornstein-Uhlenbeck process (°C, correlation time).
const FRONT_SD_C: f64 = 3.0;
const FRONT_TAU_S: f64 = 3.0 * 86_400.0;
/// Dew-point anomaly: moist and dry spells, independent of the temperature.
const MOISTURE_SD_C: f64 = 2.5;
const MOISTURE_TAU_S: f64 = 2.0 * 86_400.0;
/// Mean length of a wet spell.
const RAIN_SPELL_H: f64 = 5.0;
/// Cloud cover follows the weather within a few hours.
const CLOUD_TAU_S: f64 = 3.0 * 3_600.0;

/// Cabin set points: heating below, air conditioning above (°C), and how fast the HVAC
/// brings the cabin there; a parked bus drifts to the outdoor temperature.
const HEAT_TO_C: f64 = 20.0;
const COOL_TO_C: f64 = 25.0;
const HVAC_TAU_S: f64 = 300.0;
const PARKED_TAU_S: f64 = 3_600.0;
/// Open doors let the outside in.
const DOORS_TAU_S: f64 = 900.0;
/// Warmth and moisture people bring in (°C per person at equilibrium).
const HEAT_PER_PERSON_C: f64 = 0.03;
const DEW_PER_PERSON_C: f64 = 0.04;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Weather {
    front_c: f64,
    moisture_c: f64,
    rain_left_h: f64,
    cloud: f64,
}

/// The air outside at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outdoor {
    pub temperature: f64,
    pub dew_point: f64,
    pub raining: bool,
}

/// Rain days a month in Madrid by season: about 6 in winter, 2 in July (AEMET normals).
fn rain_days_per_month(local: &LocalTime) -> f64 {
    2.0 + 4.0 * (1.0 - profile::warmth(local))
}

fn ou<R: Rng>(x: f64, sd: f64, tau_s: f64, dt_s: f64, rng: &mut R) -> f64 {
    let decay = (-dt_s / tau_s).exp();
    let z: f64 = StandardNormal.sample(rng);
    x * decay + sd * (1.0 - decay * decay).sqrt() * z
}

impl Weather {
    /// Moves the weather on by `dt_s`.
    pub fn advance<R: Rng>(&mut self, local: &LocalTime, dt_s: f64, rng: &mut R) {
        self.front_c = ou(self.front_c, FRONT_SD_C, FRONT_TAU_S, dt_s, rng);
        self.moisture_c = ou(self.moisture_c, MOISTURE_SD_C, MOISTURE_TAU_S, dt_s, rng);
        let dt_h = dt_s / 3_600.0;
        if self.rain_left_h > 0.0 {
            self.rain_left_h = (self.rain_left_h - dt_h).max(0.0);
        } else {
            // Spells start more often in moist air.
            let per_hour = rain_days_per_month(local) / 30.0 / 24.0 * (self.moisture_c / 2.0).exp();
            if rng.random::<f64>() < per_hour * dt_h {
                self.rain_left_h = Exp::new(1.0 / RAIN_SPELL_H)
                    .map(|e| e.sample(rng))
                    .unwrap_or(RAIN_SPELL_H);
            }
        }
        let target = if self.rain_left_h > 0.0 {
            0.9
        } else {
            (0.3 + 0.12 * self.moisture_c).clamp(0.0, 0.8)
        };
        self.cloud = target + (self.cloud - target) * (-dt_s / CLOUD_TAU_S).exp();
    }

    /// The air at `local` time: clouds flatten the daily cycle, rain cools and saturates.
    pub fn outdoor(&self, local: &LocalTime) -> Outdoor {
        let (mean, amplitude) = profile::temperature_normals(local);
        let raining = self.rain_left_h > 0.0;
        let temperature = mean
            + amplitude * (1.0 - 0.6 * self.cloud) * profile::diurnal(local.hour)
            + self.front_c
            - if raining { 1.5 } else { 0.0 };
        let dry = profile::dew_point_normal(local) + self.moisture_c;
        let dew_point = if raining {
            temperature - 0.8
        } else {
            dry.min(temperature - 0.5)
        };
        Outdoor {
            temperature,
            dew_point,
            raining,
        }
    }
}

/// Relative humidity (%) of air at `temperature` with `dew_point` (Magnus formula).
pub fn relative_humidity(temperature: f64, dew_point: f64) -> f64 {
    let e = |t: f64| (17.625 * t / (243.04 + t)).exp();
    (100.0 * e(dew_point) / e(temperature)).clamp(5.0, 100.0)
}

/// The cabin temperature after `dt_s`: heated or cooled to its set point in service,
/// drifting to the outside when parked, pulled outside while the doors are open.
pub fn cabin_temperature(
    cabin: f64,
    outside: f64,
    in_service: bool,
    doors_open: bool,
    people: u32,
    dt_s: f64,
) -> f64 {
    let relax = |x: f64, target: f64, tau: f64| target + (x - target) * (-dt_s / tau).exp();
    if !in_service {
        return relax(cabin, outside, PARKED_TAU_S);
    }
    let target = outside.clamp(HEAT_TO_C, COOL_TO_C) + HEAT_PER_PERSON_C * f64::from(people);
    let x = relax(cabin, target, HVAC_TAU_S);
    if doors_open {
        relax(x, outside, DOORS_TAU_S)
    } else {
        x
    }
}

/// The cabin's dew point: the outside air plus what the people on board breathe out.
pub fn cabin_dew_point(outside_dew_point: f64, people: u32) -> f64 {
    outside_dew_point + DEW_PER_PERSON_C * f64::from(people)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humidity_and_cabin() {
        assert!((relative_humidity(10.0, 10.0) - 100.0).abs() < 1e-9);
        let rh = relative_humidity(10.5, 5.0);
        assert!((65.0..72.0).contains(&rh), "{rh}");
        // A cold morning: the heating brings the cabin to about 20 °C within half an hour.
        let mut c = 4.0;
        for _ in 0..1_800 {
            c = cabin_temperature(c, 4.0, true, false, 20, 1.0);
        }
        assert!((19.5..21.5).contains(&c), "{c}");
        for _ in 0..(4 * 3_600) {
            c = cabin_temperature(c, 4.0, false, false, 0, 1.0);
        }
        assert!(c < 5.0, "{c}");
    }
}
