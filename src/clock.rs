//! Time as the engine sees it: a [`Clock`] to ask (nothing else reads the
//! wall clock), and the original's formats for dates in variables and logs.

use jiff::Zoned;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

/// Where the engine gets "now" from: the real clock in the daemon, the
/// simulated minute in `hcron run`.
pub trait Clock {
    /// The current instant, in the scheduler's time zone.
    fn now(&self) -> Zoned;
}

/// The system's clock, in its time zone.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Zoned {
        Zoned::now()
    }
}

/// A clock that says what it was last set to.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: std::cell::RefCell<Zoned>,
}

impl ManualClock {
    /// A clock showing `now`.
    pub fn new(now: Zoned) -> ManualClock {
        ManualClock { now: std::cell::RefCell::new(now) }
    }

    /// Moves the clock to `now`.
    pub fn set(&self, now: Zoned) {
        *self.now.borrow_mut() = now;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Zoned {
        self.now.borrow().clone()
    }
}

/// A local wall-clock time as an instant in `tz`. Times skipped by a
/// daylight-saving change map forward, repeated ones to their first
/// occurrence (cron's rule, decisions 14).
pub fn local(tz: &TimeZone, time: DateTime) -> Zoned {
    tz.to_ambiguous_zoned(time).compatible().unwrap_or_else(|_| time.to_zoned(TimeZone::UTC).expect("in range"))
}

/// `YYYY:MM:DD:HH:MM:SS:WW:D` (§6.5): `WW` is the week of the year with
/// weeks starting on Monday (`00` before the first Monday), `D` the weekday
/// with Sunday = 0.
pub fn hcron_datetime(time: &DateTime) -> String {
    let sunday_zero = time.weekday().to_sunday_zero_offset();
    let monday_zero = time.weekday().to_monday_zero_offset();
    let week = (i32::from(time.day_of_year()) - 1 + 7 - i32::from(monday_zero)) / 7;
    format!("{}:{week:02}:{sunday_zero}", numeric(time, ':', ':'))
}

/// A log line's timestamp: `YYYY-MM-DDTHH:MM:SS[.ffffff]`, microseconds
/// only when not zero (§15).
pub fn log_timestamp(time: &DateTime) -> String {
    numeric(time, 'T', '-') + &micros(time)
}

/// A date in a log value: `YYYY-MM-DD HH:MM:SS[.ffffff]`.
pub fn log_datetime(time: &DateTime) -> String {
    numeric(time, ' ', '-') + &micros(time)
}

/// `YYYY?MM?DD<between>HH:MM:SS` with `?` the date separator.
fn numeric(time: &DateTime, between: char, date: char) -> String {
    let (y, mo, d, h, mi, s) = (time.year(), time.month(), time.day(), time.hour(), time.minute(), time.second());
    format!("{y:04}{date}{mo:02}{date}{d:02}{between}{h:02}:{mi:02}:{s:02}")
}

/// `.ffffff`, or nothing when the microseconds are zero.
fn micros(time: &DateTime) -> String {
    match time.subsec_nanosecond() / 1000 {
        0 => String::new(),
        micros => format!(".{micros:06}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hcron_datetime_matches_the_spec_example() {
        // §6.5 and §19 scenario 49: 2020-01-01 12:01 in Toronto.
        let tz = TimeZone::get("America/Toronto").unwrap();
        let at = local(&tz, "2020-01-01T12:01".parse().unwrap());
        assert_eq!(hcron_datetime(&at.datetime()), "2020:01:01:12:01:00:00:3");
        assert_eq!(hcron_datetime(&at.with_time_zone(TimeZone::UTC).datetime()), "2020:01:01:17:01:00:00:3");
        assert_eq!(at.timestamp().as_second(), 1_577_898_060);
    }

    #[test]
    fn week_numbers_start_on_monday() {
        for (date, week) in [("2020-01-05", "00"), ("2020-01-06", "01"), ("2020-12-31", "52"), ("2018-01-01", "01"), ("2024-12-30", "53")] {
            let time: DateTime = format!("{date}T00:00").parse().unwrap();
            assert_eq!(&hcron_datetime(&time)[20..22], week, "{date}");
        }
    }

    #[test]
    fn log_formats() {
        let time: DateTime = "2020-01-01T00:00:00".parse().unwrap();
        assert_eq!(log_timestamp(&time), "2020-01-01T00:00:00");
        let time: DateTime = "2020-01-01T00:00:00.25".parse().unwrap();
        assert_eq!(log_datetime(&time), "2020-01-01 00:00:00.250000");
    }

    #[test]
    fn daylight_saving_gaps_map_forward() {
        let tz = TimeZone::get("America/Toronto").unwrap();
        let skipped = local(&tz, "2020-03-08T02:30".parse().unwrap());
        assert_eq!(skipped.datetime().to_string(), "2020-03-08T03:30:00");
    }
}
