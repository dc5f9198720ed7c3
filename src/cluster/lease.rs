//! The timing of heartbeats and leases, pure so that it is tested
//! without a database.
//!
//! Liveness is judged by the database's clock (`now()` in every statement
//! that beats, takes or claims), never by comparing node clocks. A node also
//! keeps a local bound on its own life: a lease it renewed at instant `t`
//! (taken before the statement was sent) lasts until `t + timeout` by its
//! monotonic clock, which counts a pause (SIGSTOP, a VM frozen) too. Past
//! that bound the node starts nothing until a beat succeeds again: the
//! others may have declared it dead meanwhile.

use std::time::{Duration, Instant};

/// The heartbeat settings of one node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// Longest time between two beats.
    pub interval: Duration,
    /// How long a node may go without a beat before it is dead.
    pub timeout: Duration,
}

impl Timing {
    /// The wait before the next beat: at a point between half the interval
    /// and the interval picked by `random` (any u64), so that nodes started
    /// together do not beat together.
    pub fn next_beat(&self, random: u64) -> Duration {
        let half = self.interval / 2;
        let spread = half.as_nanos() as u64;
        half + Duration::from_nanos(if spread == 0 { 0 } else { random % (spread + 1) })
    }
}

/// What a node knows of its own life.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lease {
    until: Option<Instant>,
}

impl Lease {
    /// A beat sent at `sent` succeeded: alive until `sent + timeout`.
    pub fn renewed(&mut self, sent: Instant, timing: &Timing) {
        let until = sent + timing.timeout;
        self.until = Some(self.until.map_or(until, |u| u.max(until)));
    }

    /// A beat failed or found the node declared dead: nothing more is started.
    pub fn lost(&mut self) {
        self.until = None;
    }

    /// Whether the node may start something at `now`.
    pub fn holds(&self, now: Instant) -> bool {
        self.until.is_some_and(|until| now < until)
    }
}

/// A random u64 (the std hasher's random keys, a new one per call).
pub fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing() -> Timing {
        Timing { interval: Duration::from_secs(2), timeout: Duration::from_secs(6) }
    }

    #[test]
    fn beats_come_between_half_the_interval_and_the_interval() {
        let timing = timing();
        assert_eq!(timing.next_beat(0), Duration::from_secs(1));
        assert_eq!(timing.next_beat(1_000_000_000), Duration::from_secs(2));
        assert_eq!(timing.next_beat(1_000_000_001), Duration::from_secs(1), "wraps within the spread");
        assert_eq!(timing.next_beat(500_000_000), Duration::from_millis(1500));
        for n in 0..1000 {
            let beat = timing.next_beat(random().wrapping_add(n));
            assert!((Duration::from_secs(1)..=Duration::from_secs(2)).contains(&beat), "{beat:?}");
        }
        let tiny = Timing { interval: Duration::from_nanos(1), timeout: Duration::from_nanos(3) };
        assert_eq!(tiny.next_beat(u64::MAX), Duration::ZERO);
    }

    #[test]
    fn a_lease_lasts_a_timeout_from_the_beat_s_sending_and_only_grows() {
        let timing = timing();
        let start = Instant::now();
        let mut lease = Lease::default();
        assert!(!lease.holds(start), "nothing before the first beat");
        lease.renewed(start, &timing);
        assert!(lease.holds(start + Duration::from_millis(5999)));
        assert!(!lease.holds(start + Duration::from_secs(6)), "a paused node wakes up without it");
        lease.renewed(start - Duration::from_secs(1), &timing);
        assert!(lease.holds(start + Duration::from_millis(5999)), "an older beat answered late does not shorten it");
        lease.lost();
        assert!(!lease.holds(start));
    }

    #[test]
    fn random_numbers_differ() {
        assert_ne!(random(), random());
    }
}
