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

    #[test]
    fn merge_keeps_order() {
        assert_eq!(merge([1, 4, 9].into_iter(), [2, 3, 10].into_iter()).collect::<Vec<_>>(), [1, 2, 3, 4, 9, 10]);
        assert_eq!(merge([].into_iter(), [5].into_iter()).collect::<Vec<_>>(), [5]);
    }
}
