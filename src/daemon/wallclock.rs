//! The wall clock the minute loop reads: the system's, or, for tests
//! only, a faster one, so that a test of many minutes across several
//! processes (restarts, a cluster's nodes) takes seconds.
//!
//! `HCRON_TEST_MINUTE=SECONDS@ANCHOR` makes every SECONDS of real time
//! one minute of scheduled time from the Unix time ANCHOR on: scheduled
//! time is `ANCHOR + (now - ANCHOR) × 60 / SECONDS`. Every process given
//! the same value agrees on the minute, as nodes reading one real clock
//! do. Only the minute loop's time is scaled; log times, job times and
//! time-outs stay real.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp, Zoned};

/// The variable that scales the minute (tests only).
pub const TEST_MINUTE: &str = "HCRON_TEST_MINUTE";

/// The minute loop's clock.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MinuteClock {
    /// Scheduled seconds per real second, from the anchor.
    scale: Option<(Timestamp, f64)>,
}

impl MinuteClock {
    /// The system clock, or the scaled one [`TEST_MINUTE`] asks for; an
    /// error names what is wrong with its value.
    pub fn from_env() -> Result<MinuteClock, String> {
        match std::env::var(TEST_MINUTE) {
            Err(_) => Ok(MinuteClock::default()),
            Ok(value) => MinuteClock::parse(&value).ok_or_else(|| format!("{TEST_MINUTE}={value}: expected SECONDS@UNIX_TIME")),
        }
    }

    /// `SECONDS@ANCHOR` as in the module's comment.
    fn parse(value: &str) -> Option<MinuteClock> {
        let (seconds, anchor) = value.split_once('@')?;
        let seconds: f64 = seconds.parse().ok().filter(|s: &f64| s.is_finite() && *s > 0.0)?;
        let anchor = Timestamp::from_second(anchor.parse().ok()?).ok()?;
        Some(MinuteClock { scale: Some((anchor, 60.0 / seconds)) })
    }

    /// Whether the minute is scaled (worth a warning in the log).
    pub fn is_scaled(&self) -> bool {
        self.scale.is_some()
    }

    /// The scheduled time now, in the system's time zone.
    pub fn now(&self) -> Zoned {
        self.at(Timestamp::now())
    }

    fn at(&self, real: Timestamp) -> Zoned {
        let scheduled = match self.scale {
            None => real,
            Some((anchor, factor)) => {
                let since = real.duration_since(anchor).as_secs_f64() * factor;
                anchor.checked_add(SignedDuration::from_secs_f64(since)).unwrap_or(Timestamp::MAX)
            }
        };
        scheduled.to_zoned(jiff::tz::TimeZone::system())
    }

    /// The real time that `scheduled` of scheduled time takes.
    pub fn real(&self, scheduled: Duration) -> Duration {
        match self.scale {
            None => scheduled,
            Some((_, factor)) => scheduled.div_f64(factor),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unscaled_is_the_system_clock() {
        let clock = MinuteClock::default();
        assert!(!clock.is_scaled());
        let real = Timestamp::from_second(1_700_000_000).unwrap();
        assert_eq!(clock.at(real).timestamp(), real);
        assert_eq!(clock.real(Duration::from_secs(7)), Duration::from_secs(7));
    }

    #[test]
    fn a_second_per_minute_runs_sixty_times_faster_from_the_anchor() {
        let clock = MinuteClock::parse("1@1700000000").unwrap();
        assert!(clock.is_scaled());
        let anchor = Timestamp::from_second(1_700_000_000).unwrap();
        assert_eq!(clock.at(anchor).timestamp(), anchor, "the anchor is where both agree");
        let later = Timestamp::from_second(1_700_000_010).unwrap();
        assert_eq!(clock.at(later).timestamp(), Timestamp::from_second(1_700_000_600).unwrap(), "10 s are 10 minutes");
        assert_eq!(clock.real(Duration::from_secs(60)), Duration::from_secs(1));
        let half = MinuteClock::parse("0.5@1700000000").unwrap();
        assert_eq!(half.real(Duration::from_secs(60)), Duration::from_millis(500));
    }

    #[test]
    fn now_is_the_system_clock_scaled_from_the_anchor() {
        let before = Timestamp::now();
        let unscaled = MinuteClock::default().now().timestamp();
        assert!(unscaled >= before && unscaled.duration_since(before) < SignedDuration::from_secs(5), "{unscaled}");
        let anchor = before.as_second() - 10;
        let scaled = MinuteClock::parse(&format!("1@{anchor}")).unwrap().now().timestamp().as_second();
        assert!((anchor + 600..anchor + 900).contains(&scaled), "10 s after the anchor are 10 minutes: {}", scaled - anchor);
    }

    #[test]
    fn a_bad_value_is_refused() {
        for bad in ["", "1", "@1700000000", "0@1700000000", "-1@1700000000", "inf@1", "x@1", "1@x", "1@99999999999999"] {
            assert_eq!(MinuteClock::parse(bad), None, "{bad}");
        }
    }
}
