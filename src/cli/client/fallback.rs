//! The order and timing of attempts at the servers (the seed's backup
//! servers): the primary; after the retry delay the primary again, then
//! each backup in file order; after the delay again the primary and the
//! backups; and so on until the timeout has passed. Pure: the clock and
//! the attempt are the caller's.

use std::time::{Duration, Instant};

/// Time as the attempts see it.
pub trait Waiting {
    /// Now.
    fn now(&self) -> Instant;
    /// Waits `duration`.
    fn sleep(&mut self, duration: Duration);
}

/// The real clock.
pub struct RealTime;

impl Waiting for RealTime {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep(&mut self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// When attempts are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// The wait before each round after the first.
    pub retry: Duration,
    /// No attempt starts this long after the first.
    pub timeout: Duration,
}

/// A failed attempt, as reported while the attempts go on.
#[derive(Debug, PartialEq, Eq)]
pub struct Failed<'a, S> {
    /// The server that could not be reached.
    pub server: &'a S,
    /// Why.
    pub why: &'a str,
    /// The next attempt: its server and how long until it starts; `None`
    /// when this was the last.
    pub next: Option<(&'a S, Duration)>,
}

/// Every server that was tried, how often, and its last failure, in the
/// order first tried.
#[derive(Debug, PartialEq, Eq)]
pub struct Exhausted<S> {
    /// (server, attempts, last failure).
    pub tried: Vec<(S, u32, String)>,
    /// From the first attempt to the giving up.
    pub elapsed: Duration,
}

/// Tries `primary` and `backups` in the seed's order until `attempt`
/// succeeds or `timing.timeout` has passed; `attempt` is told how much of
/// the timeout is left, `report` hears of each failure.
pub fn run<S: Clone + PartialEq, T>(
    primary: &S,
    backups: &[S],
    timing: Timing,
    clock: &mut impl Waiting,
    mut attempt: impl FnMut(&S, Duration) -> Result<T, String>,
    mut report: impl FnMut(Failed<'_, S>),
) -> Result<T, Exhausted<S>> {
    let start = clock.now();
    let deadline = start + timing.timeout;
    let mut tried: Vec<(S, u32, String)> = Vec::new();
    let later: Vec<&S> = std::iter::once(primary).chain(backups).collect();
    let mut round: Vec<&S> = vec![primary];
    loop {
        for (i, server) in round.iter().enumerate() {
            let why = match attempt(server, deadline.saturating_duration_since(clock.now())) {
                Ok(answer) => return Ok(answer),
                Err(why) => why,
            };
            match tried.iter_mut().find(|(s, ..)| s == *server) {
                Some(entry) => {
                    entry.1 += 1;
                    entry.2.clone_from(&why);
                }
                None => tried.push(((*server).clone(), 1, why.clone())),
            }
            let (next, wait) = match round.get(i + 1) {
                Some(next) => (*next, Duration::ZERO),
                None => (primary, timing.retry),
            };
            let in_time = clock.now() + wait < deadline;
            report(Failed { server, why: &why, next: in_time.then_some((next, wait)) });
            if !in_time {
                return Err(Exhausted { tried, elapsed: clock.now() - start });
            }
        }
        clock.sleep(timing.retry);
        round.clone_from(&later);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock that moves only when slept or when an attempt takes time.
    struct Fake {
        now: std::cell::Cell<Instant>,
    }

    impl Waiting for &Fake {
        fn now(&self) -> Instant {
            self.now.get()
        }

        fn sleep(&mut self, duration: Duration) {
            self.now.set(self.now.get() + duration);
        }
    }

    type Outcome = Result<&'static str, Exhausted<&'static str>>;

    /// The attempts made (server, seconds since the start), the reports
    /// (server, next server, its wait in seconds) and the outcome, with
    /// the server `answers` names answering from its attempt number on and
    /// each attempt taking `cost`.
    fn attempts(
        backups: &[&'static str],
        retry: u64,
        timeout: u64,
        cost: Duration,
        answers: Option<(&str, usize)>,
    ) -> (Vec<(&'static str, f64)>, Vec<String>, Outcome) {
        let start = Instant::now();
        let clock = Fake { now: start.into() };
        let timing = Timing { retry: Duration::from_secs(retry), timeout: Duration::from_secs(timeout) };
        let (mut made, mut reports) = (Vec::new(), Vec::new());
        let outcome = run(
            &"p",
            backups,
            timing,
            &mut &clock,
            |server, left| {
                let at = clock.now.get() - start;
                // A clock that never moves (a retry delay not slept) would loop for ever.
                assert!(made.len() < 1000, "{} attempts: the clock does not move", made.len());
                assert_eq!(left, Duration::from_secs(timeout).saturating_sub(at), "the time left, told to the attempt");
                made.push((*server, at.as_secs_f64()));
                clock.now.set(clock.now.get() + cost);
                match answers {
                    Some((by, from)) if *server == by && made.len() >= from => Ok(*server),
                    _ => Err(format!("{server} down")),
                }
            },
            |failed| reports.push(format!("{}: {} -> {:?}", failed.server, failed.why, failed.next.map(|(s, w)| (*s, w.as_secs())))),
        );
        (made, reports, outcome)
    }

    #[test]
    fn the_primary_twice_a_retry_apart_and_only_then_the_backups_in_order() {
        let (made, reports, outcome) = attempts(&["b1", "b2"], 10, 100, Duration::ZERO, Some(("b2", 1)));
        assert_eq!(made, [("p", 0.0), ("p", 10.0), ("b1", 10.0), ("b2", 10.0)]);
        assert_eq!(outcome.unwrap(), "b2");
        assert_eq!(reports, ["p: p down -> Some((\"p\", 10))", "p: p down -> Some((\"b1\", 0))", "b1: b1 down -> Some((\"b2\", 0))"]);
    }

    #[test]
    fn an_answer_ends_the_attempts_at_once() {
        let (made, reports, outcome) = attempts(&["b1"], 10, 100, Duration::ZERO, Some(("p", 1)));
        assert_eq!((made, reports.len(), outcome.unwrap()), (vec![("p", 0.0)], 0, "p"));
        let (made, _, outcome) = attempts(&["b1"], 10, 100, Duration::ZERO, Some(("p", 2)));
        assert_eq!((made, outcome.unwrap()), (vec![("p", 0.0), ("p", 10.0)], "p"));
    }

    #[test]
    fn rounds_repeat_the_primary_and_the_backups_until_the_timeout() {
        let (made, reports, outcome) = attempts(&["b1"], 10, 35, Duration::ZERO, None);
        let at: Vec<(&str, f64)> = [("p", 0.0), ("p", 10.0), ("b1", 10.0), ("p", 20.0), ("b1", 20.0), ("p", 30.0), ("b1", 30.0)].into();
        assert_eq!(made, at);
        assert_eq!(reports.last().unwrap(), "b1: b1 down -> None", "the last failure says no attempt follows");
        let exhausted = outcome.unwrap_err();
        assert_eq!(exhausted.tried, [("p", 4, "p down".to_owned()), ("b1", 3, "b1 down".to_owned())]);
        assert_eq!(exhausted.elapsed, Duration::from_secs(30), "the last round began at 30 s");
    }

    #[test]
    fn no_round_starts_at_or_past_the_deadline() {
        let (made, ..) = attempts(&[], 10, 30, Duration::ZERO, None);
        assert_eq!(made, [("p", 0.0), ("p", 10.0), ("p", 20.0)], "a round due exactly at the deadline is not made");
        let (made, ..) = attempts(&[], 10, 31, Duration::ZERO, None);
        assert_eq!(made.len(), 4);
        // Attempts that take time count against the timeout.
        let (made, ..) = attempts(&["b1"], 10, 30, Duration::from_secs(4), None);
        assert_eq!(made, [("p", 0.0), ("p", 14.0), ("b1", 18.0)]);
    }

    #[test]
    fn a_zero_timeout_is_one_attempt_at_the_primary() {
        let (made, reports, outcome) = attempts(&["b1", "b2"], 10, 0, Duration::ZERO, None);
        assert_eq!(made, [("p", 0.0)]);
        assert_eq!(reports, ["p: p down -> None"]);
        assert_eq!(outcome.unwrap_err().tried, [("p", 1, "p down".to_owned())]);
    }

    #[test]
    fn within_a_round_the_next_backup_comes_at_once_even_near_the_deadline() {
        // The deadline falls during the round: the backups after it are still
        // tried when their start is before it.
        let (made, ..) = attempts(&["b1", "b2"], 10, 12, Duration::from_secs(1), None);
        assert_eq!(made, [("p", 0.0), ("p", 11.0)], "b1 would start at 12, the deadline");
        let (made, ..) = attempts(&["b1", "b2"], 10, 13, Duration::from_secs(1), None);
        assert_eq!(made, [("p", 0.0), ("p", 11.0), ("b1", 12.0)]);
    }
}
