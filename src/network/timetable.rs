//! A line's timetable: which days it runs and when buses leave each terminal. Times are
//! seconds after the service day's local midnight (past 24:00 for a night line's small
//! hours, as GTFS writes them); a service day's instants follow GTFS ("noon minus 12 h"),
//! so a timetable means the same on the days clocks change.

use std::fmt;

use jiff::civil::Date;

use crate::time::{Millis, madrid};

/// The kind of service a date gets. Public holidays run the Sunday service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DayType {
    Weekday,
    Saturday,
    Sunday,
}

impl DayType {
    pub const ALL: [DayType; 3] = [DayType::Weekday, DayType::Saturday, DayType::Sunday];

    pub fn as_str(self) -> &'static str {
        match self {
            DayType::Weekday => "weekday",
            DayType::Saturday => "saturday",
            DayType::Sunday => "sunday",
        }
    }

    /// The service a date in Madrid gets.
    pub fn of(date: Date) -> Self {
        if is_holiday(date) {
            return DayType::Sunday;
        }
        match date.weekday() {
            jiff::civil::Weekday::Saturday => DayType::Saturday,
            jiff::civil::Weekday::Sunday => DayType::Sunday,
            _ => DayType::Weekday,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Public holidays in the city of Madrid: national, regional and local fixed dates, and
/// Maundy Thursday and Good Friday.
pub fn is_holiday(date: Date) -> bool {
    const FIXED: [(i8, i8); 12] = [
        (1, 1),   // Año Nuevo
        (1, 6),   // Reyes
        (5, 1),   // Fiesta del Trabajo
        (5, 2),   // Comunidad de Madrid
        (5, 15),  // San Isidro
        (8, 15),  // Asunción
        (10, 12), // Fiesta Nacional
        (11, 1),  // Todos los Santos
        (11, 9),  // Almudena
        (12, 6),  // Constitución
        (12, 8),  // Inmaculada
        (12, 25), // Navidad
    ];
    if FIXED.contains(&(date.month(), date.day())) {
        return true;
    }
    let easter = easter_sunday(date.year());
    [-3, -2]
        .iter()
        .any(|&d| easter.checked_add(jiff::Span::new().days(d)).ok() == Some(date))
}

/// Gregorian Easter Sunday (the anonymous Gregorian algorithm).
fn easter_sunday(year: i16) -> Date {
    let y = i32::from(year);
    let a = y % 19;
    let b = y / 100;
    let c = y % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    Date::new(year, month as i8, day as i8).unwrap_or(Date::constant(2000, 4, 23))
}

/// The local date in Madrid of an instant.
pub fn local_date(t: Millis) -> Date {
    jiff::Timestamp::from_millisecond(t.0)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned_datetime(madrid().clone())
        .date()
}

/// The instant `secs` after the start of service day `date` (GTFS: noon minus 12 hours).
pub fn service_instant(date: Date, secs: u32) -> Millis {
    let noon = date
        .at(12, 0, 0, 0)
        .to_zoned_datetime(madrid().clone())
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(0);
    Millis(noon - 12 * 3_600_000 + i64::from(secs) * 1000)
}

/// One day type's service.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DayService {
    /// Departures from each terminal (0: the first stop, 1: the last), ascending seconds.
    pub departures: [Vec<u32>; 2],
    /// `(from, headway)` in seconds, ascending, when the file gave headways.
    pub headways: Vec<(u32, u32)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Timetable {
    /// The shortest time a bus rests at a terminal between two trips.
    pub min_layover_s: u32,
    /// Per [`DayType`]; empty departures mean no service that day.
    pub days: [DayService; 3],
    /// True for the timetable made for a file without one (service all day).
    pub all_day: bool,
}

/// A departure from a terminal: the first stop of a trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Departure {
    pub date: Date,
    /// Seconds after the service day's start.
    pub secs: u32,
    /// 0: from the first stop (direction 0); 1: from the last.
    pub end: u8,
    pub at: Millis,
}

impl Timetable {
    /// Service every `headway_s` from each terminal all day, every day (the second
    /// terminal half a headway later), for files that give no timetable.
    pub fn all_day(headway_s: u32, min_layover_s: u32) -> Self {
        let headway_s = headway_s.max(60);
        let every = |offset: u32| (0..).map(move |k| offset + k * headway_s);
        let day = DayService {
            departures: [
                every(0).take_while(|&s| s < 86_400).collect(),
                every(headway_s / 2).take_while(|&s| s < 86_400).collect(),
            ],
            headways: vec![(0, headway_s)],
        };
        Self {
            min_layover_s,
            days: [day.clone(), day.clone(), day],
            all_day: true,
        }
    }

    pub fn day(&self, t: DayType) -> &DayService {
        &self.days[t.index()]
    }

    /// The first departure from terminal `end` strictly after `after`.
    pub fn next_departure(&self, end: u8, after: Millis) -> Option<Departure> {
        // A service day can reach into the next calendar day: start the day before.
        let first = local_date(after).yesterday().ok()?;
        let mut date = first;
        for _ in 0..10 {
            let list = &self.day(DayType::of(date)).departures[usize::from(end)];
            let from = service_instant(date, 0);
            let i = list.partition_point(|&s| Millis(from.0 + i64::from(s) * 1000) <= after);
            if let Some(&secs) = list.get(i) {
                return Some(Departure {
                    date,
                    secs,
                    end,
                    at: Millis(from.0 + i64::from(secs) * 1000),
                });
            }
            date = date.tomorrow().ok()?;
        }
        None
    }

    /// The headway in force at `secs` of a day type (None: no service then).
    pub fn headway_at(&self, day: DayType, secs: u32) -> Option<u32> {
        let service = self.day(day);
        if self.all_day {
            // Past the day's last departure, the next day's first is less than a headway
            // away: the line never stops.
            return service.headways.first().map(|&(_, h)| h);
        }
        let deps = &service.departures[0];
        if deps.is_empty() || secs < deps[0] || secs > *deps.last()? {
            return None;
        }
        if let Some(&(_, h)) = service
            .headways
            .iter()
            .rev()
            .find(|(from, _)| *from <= secs)
        {
            return Some(h);
        }
        let i = deps
            .partition_point(|&s| s <= secs)
            .clamp(1, deps.len() - 1);
        Some(deps[i] - deps[i - 1])
    }

    /// The headway in force at instant `now` (None: no service then), on the service day
    /// that is running: yesterday's runs past midnight.
    pub fn headway_now(&self, now: Millis) -> Option<u32> {
        let today = local_date(now);
        [today, today.yesterday().ok()?]
            .into_iter()
            .find_map(|date| {
                let secs = u32::try_from((now.0 - service_instant(date, 0).0) / 1000).ok()?;
                self.headway_at(DayType::of(date), secs)
            })
    }

    /// The shortest headway of any day (what the fleet must cover).
    pub fn peak_headway_s(&self) -> Option<u32> {
        self.days
            .iter()
            .flat_map(|d| {
                d.departures
                    .iter()
                    .flat_map(|list| list.windows(2).map(|w| w[1] - w[0]))
            })
            .min()
    }
}

/// `HH:MM` or `HH:MM:SS`, hours up to 29 (a service day's small hours).
pub fn parse_service_time(s: &str) -> Result<u32, String> {
    let parts: Vec<&str> = s.trim().split(':').collect();
    let nums: Option<Vec<u32>> = parts.iter().map(|p| p.parse::<u32>().ok()).collect();
    match nums.as_deref() {
        Some([h, m]) | Some([h, m, 0]) if *h < 30 && *m < 60 => Ok(h * 3600 + m * 60),
        Some([h, m, sec]) if *h < 30 && *m < 60 && *sec < 60 => Ok(h * 3600 + m * 60 + sec),
        _ => Err(format!(
            "{s:?} is not a time of the service day (HH:MM or HH:MM:SS, hours 0-29)"
        )),
    }
}

/// `HH:MM` (or `HH:MM:SS` when there are seconds) of a service-day time.
pub fn format_service_time(secs: u32) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if s == 0 {
        format!("{h:02}:{m:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// A trip's id: `LINE_YYYYMMDD_END_HHMM[SS]`, naming the line, the service day, the
/// terminal it leaves from and its scheduled departure, so any process can rebuild its
/// schedule from the network file alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TripKey {
    pub line_id: String,
    pub date: Date,
    pub end: u8,
    pub secs: u32,
}

impl fmt::Display for TripKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hms = format_service_time(self.secs).replace(':', "");
        write!(
            f,
            "{}_{}_{}_{hms}",
            self.line_id,
            self.date.strftime("%Y%m%d"),
            self.end
        )
    }
}

impl TripKey {
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.rsplitn(4, '_');
        let hms = parts.next()?;
        let end = parts.next()?.parse::<u8>().ok().filter(|e| *e < 2)?;
        let date = parts.next()?;
        let line_id = parts.next()?.to_string();
        if date.len() != 8 || !(hms.len() == 4 || hms.len() == 6) {
            return None;
        }
        let num = |r: std::ops::Range<usize>, s: &str| s.get(r)?.parse::<i32>().ok();
        let date = Date::new(
            num(0..4, date)? as i16,
            num(4..6, date)? as i8,
            num(6..8, date)? as i8,
        )
        .ok()?;
        let (h, m) = (num(0..2, hms)? as u32, num(2..4, hms)? as u32);
        let sec = if hms.len() == 6 {
            num(4..6, hms)? as u32
        } else {
            0
        };
        (h < 30 && m < 60 && sec < 60).then_some(Self {
            line_id,
            date,
            end,
            secs: h * 3600 + m * 60 + sec,
        })
    }

    pub fn departure(&self) -> Millis {
        service_instant(self.date, self.secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holidays_and_day_types() {
        assert_eq!(DayType::of(Date::constant(2026, 11, 23)), DayType::Weekday);
        assert_eq!(DayType::of(Date::constant(2026, 11, 28)), DayType::Saturday);
        assert_eq!(DayType::of(Date::constant(2026, 12, 8)), DayType::Sunday);
        // Easter 2026 is 5 April: Good Friday 3 April.
        assert_eq!(easter_sunday(2026), Date::constant(2026, 4, 5));
        assert!(is_holiday(Date::constant(2026, 4, 3)));
        assert!(!is_holiday(Date::constant(2026, 4, 6)));
    }

    #[test]
    fn trip_keys_round_trip() {
        let k = TripKey {
            line_id: "N_1".into(),
            date: Date::constant(2026, 11, 23),
            end: 1,
            secs: 25 * 3600 + 15 * 60,
        };
        assert_eq!(k.to_string(), "N_1_20261123_1_2515");
        assert_eq!(TripKey::parse(&k.to_string()), Some(k));
        assert_eq!(TripKey::parse("L1_2026112_0_0600"), None);
        assert_eq!(parse_service_time("25:30"), Ok(91_800));
        assert!(parse_service_time("6h").is_err());
    }

    #[test]
    fn departures_cross_midnight_and_day_types() {
        let day = DayService {
            departures: [vec![23 * 3600, 25 * 3600], vec![]],
            headways: vec![],
        };
        let t = Timetable {
            min_layover_s: 180,
            days: [day, DayService::default(), DayService::default()],
            all_day: false,
        };
        // Monday 23 November 2026, 23:30 Madrid (22:30 UTC): the next is 01:00 on Tuesday.
        let after = Millis::parse("2026-11-23T22:30:00Z").unwrap();
        let d = t.next_departure(0, after).unwrap();
        assert_eq!(d.at, Millis::parse("2026-11-24T00:00:00Z").unwrap());
        assert_eq!(d.date, Date::constant(2026, 11, 23));
        // Friday's last departure, then nothing until Monday 23:00.
        let after = Millis::parse("2026-11-28T00:00:01Z").unwrap();
        let d = t.next_departure(0, after).unwrap();
        assert_eq!(d.date, Date::constant(2026, 11, 30));
    }

    #[test]
    fn all_day_service_runs_through_midnight() {
        let t = Timetable::all_day(1_500, 180);
        let last = *t.day(DayType::Weekday).departures[0].last().unwrap();
        assert!(last < 86_000, "the test needs a gap before midnight");
        for secs in [0, 3_600, last, last + 1, 86_399] {
            assert_eq!(
                t.headway_at(DayType::Weekday, secs),
                Some(1_500),
                "at {secs} s"
            );
        }
        // 23:50 Madrid on a Monday, after the day's last departure (23:20).
        let late = Millis::parse("2026-11-23T22:50:00Z").unwrap();
        assert_eq!(t.headway_now(late), Some(1_500));
    }
}
