//! Daily patterns on Madrid local time: passenger demand, traffic and weather. Pure
//! functions of a [`LocalTime`], which [`MadridClock`] derives from a UTC instant with the
//! tz database bundled in the binary (so DST is right on a machine without tzdata).

use std::f64::consts::PI;

use crate::network::DayType;
use crate::time::{Millis, madrid};

/// Local calendar facts of one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalTime {
    /// Hour of the local day with its fraction, `0.0..24.0`.
    pub hour: f64,
    /// Monday = 0 .. Sunday = 6.
    pub weekday: u8,
    /// 1..=366.
    pub day_of_year: u16,
    /// The service the date gets (public holidays run as Sundays).
    pub day: DayType,
}

impl LocalTime {
    /// Weekends and public holidays: the quieter demand and traffic tables.
    pub fn is_weekend(&self) -> bool {
        self.day != DayType::Weekday
    }
}

/// Converts UTC instants to Madrid local time, caching the offset per UTC hour (Madrid's
/// offset only changes on a whole UTC hour, so the cache is exact).
#[derive(Debug, Clone, Default)]
pub struct MadridClock {
    cached: Option<(i64, i64, u8, u16, DayType)>, // (utc hour, offset ms, weekday, day of year, day type)
}

impl MadridClock {
    pub fn local(&mut self, t: Millis) -> LocalTime {
        let utc_hour = t.0.div_euclid(3_600_000);
        let (offset_ms, weekday, day_of_year, day) = match self.cached {
            Some((h, o, w, d, t)) if h == utc_hour => (o, w, d, t),
            _ => {
                let ts = jiff::Timestamp::from_millisecond(utc_hour * 3_600_000)
                    .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
                let zoned = ts.to_zoned_datetime(madrid().clone());
                let offset_ms = i64::from(madrid().to_offset(ts).seconds()) * 1000;
                let w = zoned.weekday().to_monday_zero_offset() as u8;
                let d = zoned.day_of_year() as u16;
                let t = DayType::of(zoned.date());
                self.cached = Some((utc_hour, offset_ms, w, d, t));
                (offset_ms, w, d, t)
            }
        };
        let local_ms = (t.0 + offset_ms).rem_euclid(86_400_000);
        LocalTime {
            hour: local_ms as f64 / 3_600_000.0,
            weekday,
            day_of_year,
            day,
        }
    }
}

/// Linear interpolation in an hourly table (wrapping at midnight).
fn hourly(table: &[f64; 24], hour: f64) -> f64 {
    let h = hour.rem_euclid(24.0);
    let i = h.floor() as usize % 24;
    let f = h - h.floor();
    table[i] * (1.0 - f) + table[(i + 1) % 24] * f
}

const DEMAND_WEEKDAY: [f64; 24] = [
    0.08, 0.05, 0.03, 0.03, 0.05, 0.15, 0.45, 0.85, 1.00, 0.80, 0.60, 0.55, //
    0.60, 0.65, 0.60, 0.55, 0.70, 0.90, 0.95, 0.75, 0.50, 0.35, 0.25, 0.15,
];
const DEMAND_WEEKEND: [f64; 24] = [
    0.14, 0.12, 0.08, 0.05, 0.03, 0.04, 0.08, 0.15, 0.25, 0.35, 0.45, 0.52, //
    0.58, 0.58, 0.55, 0.50, 0.50, 0.52, 0.52, 0.48, 0.40, 0.32, 0.24, 0.18,
];
/// The largest value either demand table takes.
pub const MAX_DEMAND: f64 = 1.0;

/// Multiplier of a stop's `base_arrival_rate` (the weekday peak rate): morning and evening
/// peaks on weekdays, a flatter and quieter day at weekends.
pub fn demand_multiplier(local: &LocalTime) -> f64 {
    let table = if local.is_weekend() {
        &DEMAND_WEEKEND
    } else {
        &DEMAND_WEEKDAY
    };
    hourly(table, local.hour)
}

const TRAFFIC_WEEKDAY: [f64; 24] = [
    1.15, 1.15, 1.15, 1.15, 1.15, 1.10, 0.95, 0.72, 0.65, 0.72, 0.85, 0.85, //
    0.82, 0.80, 0.80, 0.82, 0.78, 0.70, 0.68, 0.75, 0.88, 1.00, 1.08, 1.12,
];
const TRAFFIC_WEEKEND: [f64; 24] = [
    1.10, 1.12, 1.15, 1.15, 1.15, 1.15, 1.12, 1.08, 1.00, 0.95, 0.90, 0.88, //
    0.85, 0.85, 0.88, 0.90, 0.90, 0.88, 0.88, 0.90, 0.95, 1.00, 1.05, 1.08,
];
/// The smallest value either traffic table takes (the slowest rush hour).
pub const MIN_TRAFFIC: f64 = 0.65;

/// Speed multiplier from traffic: below 1 in rush hours, above 1 at night.
pub fn traffic_factor(local: &LocalTime) -> f64 {
    let table = if local.is_weekend() {
        &TRAFFIC_WEEKEND
    } else {
        &TRAFFIC_WEEKDAY
    };
    hourly(table, local.hour)
}

/// Seasonal phase: 0 in mid-January (coldest), 1 in mid-July (warmest).
pub fn warmth(local: &LocalTime) -> f64 {
    0.5 - 0.5 * (2.0 * PI * (f64::from(local.day_of_year) - 18.0) / 365.25).cos()
}

/// Shape of the day: -1 at 06:00, +1 at 15:30, smooth in between.
pub fn diurnal(hour: f64) -> f64 {
    const MIN_H: f64 = 6.0;
    const MAX_H: f64 = 15.5;
    if (MIN_H..MAX_H).contains(&hour) {
        -(PI * (hour - MIN_H) / (MAX_H - MIN_H)).cos()
    } else {
        let since_max = (hour - MAX_H).rem_euclid(24.0);
        (PI * since_max / (24.0 - (MAX_H - MIN_H))).cos()
    }
}

/// Madrid's normal daily mean temperature (about 6 °C in January, 25 °C in July) and
/// half its daily range, wider in summer.
pub fn temperature_normals(local: &LocalTime) -> (f64, f64) {
    let w = warmth(local);
    (6.0 + 19.0 * w, 4.5 + 3.0 * w)
}

/// Outdoor temperature in °C on a clear day of normal weather.
pub fn outdoor_temperature(local: &LocalTime) -> f64 {
    let (mean, amplitude) = temperature_normals(local);
    mean + amplitude * diurnal(local.hour)
}

/// Madrid's normal dew point (°C): about 2 °C in January, 9 °C in July, so relative
/// humidity is about 75 % on winter days and 35 % on summer ones.
pub fn dew_point_normal(local: &LocalTime) -> f64 {
    2.0 + 7.0 * warmth(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diurnal_extremes() {
        assert!((diurnal(6.0) + 1.0).abs() < 1e-9);
        assert!((diurnal(15.5) - 1.0).abs() < 1e-9);
        for h in 0..24 {
            let d = diurnal(f64::from(h));
            assert!((-1.0..=1.0).contains(&d));
        }
    }

    #[test]
    fn temperature_peaks_mid_afternoon() {
        let day = |hour| LocalTime {
            hour,
            weekday: 2,
            day_of_year: 200,
            day: DayType::Weekday,
        };
        let temps: Vec<f64> = (0..24)
            .map(|h| outdoor_temperature(&day(f64::from(h))))
            .collect();
        let (imin, _) = temps
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1))
            .unwrap();
        let (imax, _) = temps
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap();
        assert_eq!(imin, 6);
        assert!((15..=16).contains(&imax), "{imax}");
        let winter = LocalTime {
            day_of_year: 15,
            ..day(15.0)
        };
        assert!(outdoor_temperature(&winter) < outdoor_temperature(&day(15.0)) - 10.0);
    }
}
