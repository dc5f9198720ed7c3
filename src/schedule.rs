//! Which events fire in a minute, without testing every event: an index by
//! (hour, minute) for events that fire in few slots of the day, plus a
//! short list of "dense" events tested every minute.
//!
//! An event selecting at most [`MAX_SLOTS`] (hour, minute) pairs is listed
//! under each; the rest (e.g. every five minutes) are dense, and fire so
//! often that testing them each minute costs about what running them does.

use jiff::civil::DateTime;

use crate::event::when::{Field, Minute, Schedule};
use crate::tree::Tree;

/// Slots of the day an event may occupy before it counts as dense.
pub const MAX_SLOTS: usize = 60;

/// Events of one tree by the minutes of the day they may fire in.
///
/// Entries carry a copy of the event's schedule, so that a minute's
/// candidates are tested in one sequential pass over the slot instead of a
/// jump to each event.
#[derive(Debug, Default)]
pub struct ScheduleIndex {
    /// `hour * 60 + minute` → events (index in tree order, schedule).
    slots: Vec<Vec<(u32, Schedule)>>,
    /// Events tested every minute (in tree order).
    dense: Vec<(u32, Schedule)>,
}

impl ScheduleIndex {
    /// Indexes the accepted events of `tree`.
    pub fn new(tree: &Tree) -> ScheduleIndex {
        let mut index = ScheduleIndex { slots: vec![Vec::new(); 24 * 60], dense: Vec::new() };
        for (i, event) in tree.events().iter().enumerate() {
            let Some(&schedule) = event.schedule() else { continue };
            let entry = (i as u32, schedule);
            let (hours, minutes) = (schedule.set(Field::Hour), schedule.set(Field::Minute));
            if (hours.count_ones() * minutes.count_ones()) as usize > MAX_SLOTS {
                index.dense.push(entry);
                continue;
            }
            for hour in (0..24).filter(|h| hours & (1 << h) != 0) {
                for minute in (0..60).filter(|m| minutes & (1 << m) != 0) {
                    index.slots[hour * 60 + minute].push(entry);
                }
            }
        }
        index
    }

    /// Indices into the tree's events of the events due at `time`, in tree order.
    pub fn due(&self, time: &DateTime) -> impl Iterator<Item = usize> + '_ {
        let minute = minute_of(time);
        let slot = self.slots.get(usize::from(minute.hour) * 60 + usize::from(minute.minute)).map_or(&[][..], Vec::as_slice);
        merge(matching(slot, minute), matching(&self.dense, minute))
    }
}

/// Indices of the entries whose schedule selects `minute`.
fn matching(entries: &[(u32, Schedule)], minute: Minute) -> impl Iterator<Item = u32> + '_ {
    entries.iter().filter(move |(_, schedule)| schedule.matches(&minute)).map(|&(i, _)| i)
}

/// Two ascending sequences as one ascending sequence.
fn merge(a: impl Iterator<Item = u32>, b: impl Iterator<Item = u32>) -> impl Iterator<Item = usize> {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    std::iter::from_fn(move || {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x <= y => a.next(),
            (_, Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, None) => None,
        };
        next.map(|i| i as usize)
    })
}

/// The first `count` minutes strictly after `after` that `schedule`
/// selects, up to the end of 2050 (the last year a schedule can name).
/// Days are tested first, so a rare schedule costs at most ~9,000 day tests.
pub fn next_times(schedule: &Schedule, after: DateTime, count: usize) -> Vec<DateTime> {
    let hours: Vec<i8> = (0..24).filter(|h| schedule.set(Field::Hour) & (1 << h) != 0).collect();
    let minutes: Vec<i8> = (0..60).filter(|m| schedule.set(Field::Minute) & (1 << m) != 0).collect();
    let (hours, minutes) = (&hours, &minutes);
    let days = std::iter::successors(Some(after.date()), |day| day.tomorrow().ok()).take_while(|day| day.year() <= 2050);
    days.filter(|day| day_matches(schedule, *day))
        .flat_map(move |day| {
            hours.iter().flat_map(move |&hour| {
                minutes.iter().map(move |&minute| day.to_datetime(jiff::civil::Time::new(hour, minute, 0, 0).expect("valid")))
            })
        })
        .filter(|time| *time > after)
        .take(count)
        .collect()
}

/// Whether `schedule` selects `day` by its year, month, day and weekday.
fn day_matches(schedule: &Schedule, day: jiff::civil::Date) -> bool {
    let probe = minute_of(&day.to_datetime(jiff::civil::Time::midnight()));
    [
        (Field::Year, i64::from(probe.year)),
        (Field::Month, i64::from(probe.month)),
        (Field::Day, i64::from(probe.day)),
        (Field::Dow, i64::from(probe.dow)),
    ]
    .iter()
    .all(|&(field, value)| schedule.selects(field, value))
}

/// The fields of a local time that schedules are matched against.
pub fn minute_of(time: &DateTime) -> Minute {
    Minute {
        year: time.year().into(),
        month: time.month() as u8,
        day: time.day() as u8,
        hour: time.hour() as u8,
        minute: time.minute() as u8,
        dow: time.weekday().to_sunday_zero_offset() as u8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(fields: [&str; 6]) -> Schedule {
        let mut sets = [0; 6];
        for (i, field) in Field::ALL.iter().enumerate() {
            sets[i] = crate::event::when::parse_field(*field, fields[i]).unwrap().0;
        }
        Schedule::new(sets)
    }

    #[track_caller]
    fn check(fields: [&str; 6], after: &str, count: usize, want: &[&str]) {
        let got: Vec<String> =
            next_times(&schedule(fields), after.parse().unwrap(), count).iter().map(|t| t.strftime("%Y-%m-%d %H:%M").to_string()).collect();
        assert_eq!(got, want, "{fields:?}");
    }

    #[test]
    fn next_times_from_crontab_examples() {
        // crontab(5): "5 0 * * *", "15 14 1 * *", "0 22 * * 1-5", "23 0-23/2 * * *", "5 4 * * sun".
        check(["*", "*", "*", "0", "5", "*"], "2024-12-31T23:59", 2, &["2025-01-01 00:05", "2025-01-02 00:05"]);
        check(["*", "*", "1", "14", "15", "*"], "2025-01-01T14:15", 2, &["2025-02-01 14:15", "2025-03-01 14:15"]);
        check(["*", "*", "*", "22", "0", "1-5"], "2025-01-03T22:00", 2, &["2025-01-06 22:00", "2025-01-07 22:00"]);
        check(["*", "*", "*", "0-23/2", "23", "*"], "2025-01-01T21:00", 3, &["2025-01-01 22:23", "2025-01-02 00:23", "2025-01-02 02:23"]);
        check(["*", "*", "*", "4", "5", "0"], "2025-01-01T00:00", 1, &["2025-01-05 04:05"]);
    }

    #[test]
    fn leap_days_rare_days_and_never() {
        check(["*", "2", "29", "0", "0", "*"], "2021-01-01T00:00", 2, &["2024-02-29 00:00", "2028-02-29 00:00"]);
        check(["*", "*", "13", "0", "0", "5"], "2026-01-01T00:00", 2, &["2026-02-13 00:00", "2026-03-13 00:00"]);
        check(["*", "2", "30", "0", "0", "*"], "2020-01-01T00:00", 1, &[]);
        check(["2050", "12", "31", "23", "59", "*"], "2050-12-31T23:58", 2, &["2050-12-31 23:59"]);
    }

    #[test]
    fn merge_keeps_order() {
        assert_eq!(merge([1, 4, 9].into_iter(), [2, 3, 10].into_iter()).collect::<Vec<_>>(), [1, 2, 3, 4, 9, 10]);
        assert_eq!(merge([].into_iter(), [5].into_iter()).collect::<Vec<_>>(), [5]);
    }
}
