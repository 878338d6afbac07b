//! Daily patterns follow Madrid local time across both DST changes, with no system tz
//! database (the binary bundles its own). One test in its own process, so pointing TZDIR
//! nowhere cannot race another thread.

use madbus::sim::profile::{MadridClock, demand_multiplier, traffic_factor};
use madbus::time::Millis;

fn at(s: &str) -> Millis {
    Millis::parse(s).unwrap()
}

#[test]
fn daily_multiplier_follows_local_hours_across_dst() {
    // SAFETY: the only test in this binary, run before anything reads the environment.
    unsafe {
        std::env::set_var("TZDIR", "/nonexistent");
        std::env::set_var("TZ", "UTC");
    }
    let mut clock = MadridClock::default();
    let mut hour = |s: &str| clock.local(at(s)).hour;

    // Spring forward on Sunday 2026-03-29 at 01:00 UTC: 02:00 CET becomes 03:00 CEST.
    assert_eq!(hour("2026-03-29T00:59:00Z"), 1.0 + 59.0 / 60.0);
    assert_eq!(hour("2026-03-29T01:00:00Z"), 3.0);
    // Fall back on Sunday 2026-10-25 at 01:00 UTC: 03:00 CEST becomes 02:00 CET.
    assert_eq!(hour("2026-10-25T00:59:00Z"), 2.0 + 59.0 / 60.0);
    assert_eq!(hour("2026-10-25T01:00:00Z"), 2.0);

    // 08:30 local on a weekday is the morning peak whatever the UTC offset: 07:30 UTC in
    // winter time, 06:30 UTC in summer time.
    let mut clock = MadridClock::default();
    let mut demand = |s: &str| demand_multiplier(&clock.local(at(s)));
    let peak = demand("2026-03-27T07:30:00Z"); // Friday, CET
    assert_eq!(demand("2026-03-30T06:30:00Z"), peak); // Monday, CEST
    assert_eq!(demand("2026-10-23T06:30:00Z"), peak); // Friday, CEST
    assert_eq!(demand("2026-10-26T07:30:00Z"), peak); // Monday, CET
    // The same UTC instant an hour apart in local time gives a different multiplier.
    assert_ne!(demand("2026-03-30T07:30:00Z"), peak);
    assert!(peak >= 0.85, "{peak}");
    // Night is quiet, weekends are quieter at peak time.
    assert!(demand("2026-03-30T01:00:00Z") < 0.1);
    assert!(demand("2026-03-28T07:30:00Z") < peak / 2.0); // Saturday

    let mut clock = MadridClock::default();
    let rush = traffic_factor(&clock.local(at("2026-07-01T06:30:00Z"))); // 08:30 CEST
    let night = traffic_factor(&clock.local(at("2026-07-01T01:00:00Z"))); // 03:00 CEST
    assert!(rush < 0.75 && night > 1.1, "{rush} {night}");
}
