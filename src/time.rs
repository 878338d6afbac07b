//! Time as the whole system sees it: UTC epoch milliseconds ([`Millis`]), human durations
//! (`30s`, `15m`, `1h`, `5d`) and the RFC 3339 text the APIs speak.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

static MADRID: std::sync::LazyLock<jiff::tz::TimeZone> = std::sync::LazyLock::new(|| {
    jiff::tz::TimeZone::get("Europe/Madrid")
        .expect("Europe/Madrid is in jiff's bundled tz database")
});

/// Madrid's time zone, from the tz database bundled in the binary (so DST is right on a
/// machine without tzdata). Every daily pattern and timetable runs on it.
pub fn madrid() -> &'static jiff::tz::TimeZone {
    &MADRID
}

/// An instant as UTC milliseconds since the Unix epoch. Stored and compared as an integer
/// everywhere; turned into text only at the edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Millis(pub i64);

impl Millis {
    pub const MIN: Millis = Millis(i64::MIN);
    pub const MAX: Millis = Millis(i64::MAX);

    /// The wall clock now.
    pub fn now() -> Self {
        Millis(jiff::Timestamp::now().as_millisecond())
    }

    pub fn as_i64(self) -> i64 {
        self.0
    }

    /// Rounds down to a multiple of `step_ms`.
    pub fn floor_to(self, step_ms: i64) -> Self {
        Millis(self.0.div_euclid(step_ms) * step_ms)
    }

    pub fn saturating_add(self, d: Duration) -> Self {
        Millis(self.0.saturating_add(d.as_millis()))
    }

    pub fn saturating_sub(self, d: Duration) -> Self {
        Millis(self.0.saturating_sub(d.as_millis()))
    }

    /// RFC 3339 in UTC with milliseconds and `Z`, e.g. `2026-11-25T08:00:00.000Z`.
    pub fn to_rfc3339(self) -> String {
        self.to_string()
    }

    /// The first and last instants a client may name, in either form: year 1 to the end of
    /// the range RFC 3339 text can be parsed in here (jiff stops late on 9999-12-30).
    pub fn accepted_range() -> (Millis, Millis) {
        // 0001-01-01T00:00:00Z and 9999-12-30T00:00:00Z.
        (Millis(-62_135_596_800_000), Millis(253_402_128_000_000))
    }

    /// Parses RFC 3339 (`Z` or an offset) or epoch milliseconds, in the same range.
    pub fn parse(s: &str) -> Result<Self, TimeError> {
        let s = s.trim();
        let err = || TimeError(s.chars().take(64).collect());
        let t = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
            s.parse::<i64>().map(Millis).map_err(|_| err())?
        } else {
            jiff::Timestamp::from_str(s)
                .map(|ts| Millis(ts.as_millisecond()))
                .map_err(|_| err())?
        };
        let (first, last) = Self::accepted_range();
        if t < first || t > last {
            return Err(err());
        }
        Ok(t)
    }
}

/// As [`Millis::to_rfc3339`].
impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f)
    }
}

impl Millis {
    fn write(self, out: &mut impl fmt::Write) -> fmt::Result {
        match jiff::Timestamp::from_millisecond(self.0) {
            Ok(_) => write_rfc3339(out, self.0.div_euclid(1000), self.0.rem_euclid(1000), 3),
            Err(_) => write!(out, "{}ms", self.0),
        }
    }

    /// Appends the text [`fmt::Display`] writes, without going through a formatter (a
    /// log line is written straight into its buffer).
    pub fn write_to(self, out: &mut Vec<u8>) {
        let _ = self.write(&mut TextOut(out));
    }
}

/// An instant as RFC 3339 UTC text with exactly six fractional digits (the access log's
/// `timestamp`, as tracing writes it).
pub struct Micros(pub jiff::Timestamp);

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f)
    }
}

impl Micros {
    fn write(&self, out: &mut impl fmt::Write) -> fmt::Result {
        let us = self.0.as_microsecond();
        write_rfc3339(out, us.div_euclid(1_000_000), us.rem_euclid(1_000_000), 6)
    }

    /// As [`Millis::write_to`].
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let _ = self.write(&mut TextOut(out));
    }
}

/// A byte buffer taking text.
struct TextOut<'a>(&'a mut Vec<u8>);

impl fmt::Write for TextOut<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// RFC 3339 text of the instant `second` (a valid timestamp's whole seconds) plus
/// `fraction`, printed with `digits` digits. The text of the last few seconds is kept per
/// thread: a request writes its own time and its record's, which fall in one of a few
/// seconds, and jiff's printer was a few per cent of a cheap request.
fn write_rfc3339(
    out: &mut impl fmt::Write,
    second: i64,
    fraction: i64,
    digits: usize,
) -> fmt::Result {
    const KEPT: usize = 4;
    thread_local! {
        /// (second, its text without the `Z`), and the slot to replace next.
        static RECENT: std::cell::RefCell<([(i64, String); KEPT], usize)> =
            std::cell::RefCell::new((std::array::from_fn(|_| (i64::MIN, String::new())), 0));
    }
    let mut tail = [b'.', b'0', b'0', b'0', b'0', b'0', b'0', b'Z'];
    let mut rest = fraction;
    for d in tail[1..=digits].iter_mut().rev() {
        *d = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    tail[digits + 1] = b'Z';
    let tail = std::str::from_utf8(&tail[..digits + 2]).map_err(|_| fmt::Error)?;
    RECENT.with_borrow_mut(|(recent, next)| {
        let i = match recent.iter().position(|(s, _)| *s == second) {
            Some(i) => i,
            None => {
                let i = *next;
                *next = (i + 1) % KEPT;
                let (s, text) = &mut recent[i];
                text.clear();
                let ts = jiff::Timestamp::from_second(second).map_err(|_| fmt::Error)?;
                fmt::Write::write_fmt(text, format_args!("{ts:.0}"))?;
                text.pop(); // the `Z`, written after the fraction
                *s = second;
                i
            }
        };
        out.write_str(&recent[i].1)?;
        out.write_str(tail)
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeError(pub String);

impl fmt::Display for TimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (first, last) = Millis::accepted_range();
        write!(
            f,
            "{:?} is not a time: use RFC 3339 (2026-11-25T08:00:00Z or with an offset) or epoch \
             milliseconds, from {first} ({}) to {last} ({})",
            self.0, first.0, last.0
        )
    }
}

impl std::error::Error for TimeError {}

/// A non-negative span of time written `500ms`, `30s`, `15m`, `1h` or `5d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(i64);

impl Duration {
    pub const fn from_millis(ms: i64) -> Self {
        Duration(ms)
    }
    pub const fn from_secs(s: i64) -> Self {
        Duration(s * 1000)
    }
    pub const fn as_millis(self) -> i64 {
        self.0
    }
    pub fn as_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0 as u64)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a duration: write a whole number and a unit, e.g. 500ms, 30s, 15m, 1h or 5d")]
pub struct DurationError(pub String);

impl FromStr for Duration {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || DurationError(s.to_string());
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
        let (num, unit) = t.split_at(split);
        let n: i64 = num.parse().map_err(|_| err())?;
        let scale = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(err()),
        };
        n.checked_mul(scale).map(Duration).ok_or_else(err)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        for (unit, scale) in [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
        ] {
            if ms != 0 && ms % scale == 0 {
                return write!(f, "{}{unit}", ms / scale);
            }
        }
        write!(f, "{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!("5d".parse::<Duration>().unwrap().as_millis(), 432_000_000);
        assert_eq!("30s".parse::<Duration>().unwrap(), Duration::from_secs(30));
        assert_eq!("250ms".parse::<Duration>().unwrap().as_millis(), 250);
        for bad in ["", "5", "d", "5 days", "-1s", "1.5h"] {
            assert!(bad.parse::<Duration>().is_err(), "{bad}");
        }
        assert_eq!(Duration::from_secs(3600).to_string(), "1h");
        assert_eq!(Duration::from_millis(1500).to_string(), "1500ms");
    }

    #[test]
    fn times() {
        let t = Millis::parse("2026-03-29T01:00:00.250Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-03-29T01:00:00.250Z");
        assert_eq!(Millis::parse("2026-03-29T03:00:00.250+02:00").unwrap(), t);
        assert_eq!(Millis::parse(&t.0.to_string()).unwrap(), t);
        assert!(Millis::parse("yesterday").is_err());
        assert!(Millis::parse("2026-13-01T00:00:00Z").is_err());
    }

    #[test]
    fn text_of_the_same_second_then_the_next() {
        // The seconds' text is reused within a second and made again after it.
        for start in [1_780_000_000_000i64, -1_500, 0] {
            for ms in [
                start,
                start + 1,
                start + 999,
                start + 1000,
                start - 1,
                start,
            ] {
                let ts = jiff::Timestamp::from_millisecond(ms).unwrap();
                assert_eq!(Millis(ms).to_rfc3339(), format!("{ts:.3}"), "{ms}");
                assert_eq!(Micros(ts).to_string(), format!("{ts:.6}"), "{ms}");
                let mut out = b"x".to_vec();
                Millis(ms).write_to(&mut out);
                Micros(ts).write_to(&mut out);
                assert_eq!(out, format!("x{ts:.3}{ts:.6}").into_bytes(), "{ms}");
            }
        }
    }

    #[test]
    fn both_ends_print_and_parse_in_both_forms() {
        let (first, last) = Millis::accepted_range();
        for t in [first, last] {
            let text = t.to_rfc3339();
            assert!(!text.ends_with("ms"), "{text}");
            assert_eq!(Millis::parse(&text), Ok(t));
            assert_eq!(Millis::parse(&t.0.to_string()), Ok(t));
        }
        assert!(Millis::parse(&(last.0 + 1).to_string()).is_err());
        assert!(Millis::parse(&(first.0 - 1).to_string()).is_err());
        assert!(Millis::parse("9999-12-31T23:59:59Z").is_err());
    }

    proptest::proptest! {
        /// Over the whole accepted range, the text is what `strftime` makes of the same
        /// instant: always three fractional digits, four-digit years.
        #[test]
        fn prints_as_strftime_does(ms in Millis::accepted_range().0.0..=Millis::accepted_range().1.0) {
            let ts = jiff::Timestamp::from_millisecond(ms).unwrap();
            let expected = ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
            proptest::prop_assert_eq!(Millis(ms).to_rfc3339(), expected);
        }

        /// Microsecond text is jiff's own six-digit RFC 3339, over the same range.
        #[test]
        fn micros_print_as_jiff_does(us in Millis::accepted_range().0.0 * 1000..=Millis::accepted_range().1.0 * 1000) {
            let ts = jiff::Timestamp::from_microsecond(us).unwrap();
            proptest::prop_assert_eq!(Micros(ts).to_string(), format!("{ts:.6}"));
        }
    }
}
