//! Time, injectable so tests can expire leases and sessions on demand.

use std::sync::Mutex;

use chrono::{DateTime, Duration, DurationRound, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// Now, in UTC, to the millisecond (stored timestamps compare as text on
    /// SQLite, so every timestamp has the same precision).
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        truncate(Utc::now())
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// Starts at the current system time.
    pub fn new() -> Self {
        ManualClock(Mutex::new(truncate(Utc::now())))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: std::time::Duration) {
        let by = Duration::from_std(by).unwrap_or(Duration::zero());
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn truncate(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::milliseconds(1)).unwrap_or(t)
}

/// A `since` that could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is neither a time (2026-05-01T12:00:00Z, 2026-05-01 12:00, 2026-05-01) nor an age (90s, 30m, 2h, 7d)")]
pub struct SinceError(String);

/// A lower bound in time as people give one: an instant (RFC 3339, or a
/// date and time in UTC, or a date meaning its midnight UTC) or an age
/// back from `now` (`30m`, `2h`, `7d`, `90s`, `1w`).
///
/// # Errors
/// [`SinceError`] when `s` is neither.
pub fn parse_since(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, SinceError> {
    let t = s.trim();
    let err = || SinceError(s.to_owned());
    if let Some(unit) = t.chars().last().filter(|c| c.is_ascii_alphabetic()) {
        let number = &t[..t.len() - unit.len_utf8()];
        if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) {
            let n: i64 = number.parse().map_err(|_| err())?;
            let age = match unit {
                's' => Duration::try_seconds(n),
                'm' => Duration::try_minutes(n),
                'h' => Duration::try_hours(n),
                'd' => Duration::try_days(n),
                'w' => Duration::try_weeks(n),
                _ => None,
            }
            .ok_or_else(err)?;
            return now.checked_sub_signed(age).map(truncate).ok_or_else(err);
        }
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(t) {
        return Ok(truncate(t.with_timezone(&Utc)));
    }
    for f in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(n) = chrono::NaiveDateTime::parse_from_str(t, f) {
            return Ok(truncate(n.and_utc()));
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|n| n.and_utc()).ok_or_else(err);
    }
    Err(err())
}

#[cfg(test)]
mod since_tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn since_takes_an_age_or_an_instant_and_refuses_anything_else() {
        let now = Utc.with_ymd_and_hms(2026, 5, 10, 12, 0, 0).unwrap();
        assert_eq!(parse_since("30m", now), Ok(now - Duration::minutes(30)));
        assert_eq!(parse_since("2h", now), Ok(now - Duration::hours(2)));
        assert_eq!(parse_since("7d", now), Ok(now - Duration::days(7)));
        assert_eq!(parse_since(" 90s ", now), Ok(now - Duration::seconds(90)));
        assert_eq!(parse_since("1w", now), Ok(now - Duration::weeks(1)));
        let noon = Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap();
        assert_eq!(parse_since("2026-05-01T12:00:00Z", now), Ok(noon));
        assert_eq!(parse_since("2026-05-01T14:00:00+02:00", now), Ok(noon));
        assert_eq!(parse_since("2026-05-01 12:00", now), Ok(noon));
        assert_eq!(parse_since("2026-05-01", now), Ok(noon - Duration::hours(12)));
        for bad in ["", "soon", "m", "-5m", "5y", "5 m", "2026-13-01", "99999999999999999999d"] {
            let e = parse_since(bad, now).unwrap_err();
            assert!(e.to_string().contains("neither a time"), "{bad:?}: {e}");
        }
    }
}
