//! The running slots: at most `max_activated_events` jobs run at once on
//! this node, none start once the daemon stops, and the counts the
//! `status` lines show.

use std::sync::Mutex;

/// The slots and their counts.
#[derive(Debug)]
pub struct Slots(Mutex<Counts>);

#[derive(Debug, Default)]
struct Counts {
    limit: usize,
    running: usize,
    done: u64,
    /// Something was queued or ended since the last `status` line, or is
    /// still queued or running: cleared by a `status` line only once
    /// nothing is (so after the last job one more line, then silence).
    active: bool,
    stopping: bool,
}

/// What a `status` line shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Jobs ended since the start.
    pub done: u64,
    /// Jobs running now.
    pub running: usize,
    /// The limit.
    pub workers: usize,
}

impl Slots {
    /// `limit` slots (at least one).
    pub fn new(limit: u32) -> Slots {
        Slots(Mutex::new(Counts { limit: limit.max(1) as usize, ..Counts::default() }))
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.0.lock().expect("the slots' lock is never poisoned: nothing panics under it")
    }

    /// A new limit (a reloaded configuration): running jobs go on.
    pub fn set_limit(&self, limit: u32) {
        self.counts().limit = limit.max(1) as usize;
    }

    /// Slots free now: none once stopping.
    pub fn free(&self) -> usize {
        let counts = self.counts();
        if counts.stopping { 0 } else { counts.limit.saturating_sub(counts.running) }
    }

    /// `count` jobs start.
    pub fn acquire(&self, count: usize) {
        self.counts().running += count;
    }

    /// A job ended: its slot is free.
    pub fn release(&self) {
        let mut counts = self.counts();
        counts.running = counts.running.saturating_sub(1);
        counts.done += 1;
        counts.active = true;
    }

    /// Jobs running now.
    pub fn running(&self) -> usize {
        self.counts().running
    }

    /// Something was queued: the next `status` line is due.
    pub fn touch(&self) {
        self.counts().active = true;
    }

    /// No job starts from now on.
    pub fn stop(&self) {
        self.counts().stopping = true;
    }

    /// Whether the daemon is stopping.
    pub fn stopping(&self) -> bool {
        self.counts().stopping
    }

    /// What the next `status` line shows, with `queued` jobs waiting; none
    /// when nothing happened since the last line.
    pub fn status(&self, queued: usize) -> Option<Status> {
        let mut counts = self.counts();
        if !counts.active {
            return None;
        }
        counts.active = counts.running > 0 || queued > 0;
        Some(Status { done: counts.done, running: counts.running, workers: counts.limit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_free_up_to_the_limit_and_none_once_stopping() {
        let slots = Slots::new(0);
        assert!(!slots.stopping());
        assert_eq!(slots.free(), 1, "at least one slot");
        slots.set_limit(3);
        slots.acquire(2);
        assert_eq!((slots.free(), slots.running()), (1, 2));
        slots.release();
        assert_eq!((slots.free(), slots.running()), (2, 1));
        slots.set_limit(1);
        assert_eq!(slots.free(), 0, "a lower limit lets the running go on");
        slots.stop();
        slots.release();
        assert!(slots.stopping());
        assert_eq!(slots.free(), 0);
    }

    #[test]
    fn status_lines_go_on_while_anything_is_queued_or_running_then_one_more() {
        let slots = Slots::new(4);
        assert_eq!(slots.status(0), None, "nothing happened");
        slots.touch();
        assert_eq!(slots.status(1), Some(Status { done: 0, running: 0, workers: 4 }));
        assert!(slots.status(1).is_some(), "still queued");
        slots.acquire(1);
        assert!(slots.status(0).is_some(), "running");
        assert!(slots.status(0).is_some(), "still running");
        slots.release();
        assert_eq!(slots.status(0), Some(Status { done: 1, running: 0, workers: 4 }), "the line after the last job");
        assert_eq!(slots.status(0), None, "then silence");
    }
}
