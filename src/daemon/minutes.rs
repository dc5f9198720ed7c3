//! Which minutes to process when the daemon wakes (decisions 14), as a pure
//! state machine over local wall-clock minutes, so that clock steps are
//! tested with a manual clock.
//!
//! Every minute is processed at most once, in order: a minute counts as
//! processed once the caller says so ([`MinutePlanner::done`], after the
//! ledger committed its claim), so a minute whose claim failed is planned
//! again. A forward step or a
//! stall runs the skipped minutes, the most recent `max_catchup` of them
//! (older ones are logged as missed: after a long outage, the last hour
//! matters more than the first one); a backward step of any size waits
//! until the next unprocessed minute comes round again. Minutes are civil
//! local times, so a spring-forward gap is caught up right after the change
//! and a fall-back hour is processed only the first time.

use jiff::ToSpan;
use jiff::civil::DateTime;

/// What to do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Nothing is due: wait until the local time `until` (the next minute's start).
    Wait {
        /// The next unprocessed minute.
        until: DateTime,
    },
    /// Process these minutes, oldest first; the last is the current one.
    Run {
        /// The minutes to process.
        minutes: Vec<DateTime>,
        /// Skipped minutes not run: first, last and how many.
        missed: Option<(DateTime, DateTime, i64)>,
    },
}

/// The next unprocessed minute.
#[derive(Debug, Clone)]
pub struct MinutePlanner {
    next: DateTime,
}

impl MinutePlanner {
    /// Starts after the minute of `now` (as the original without `--immediate`).
    pub fn new(now: DateTime) -> MinutePlanner {
        MinutePlanner { next: after(floor(now)) }
    }

    /// Starts after `last`, the last minute the ledger says was planned
    /// (a restart: the minutes since are caught up), or as [`MinutePlanner::new`]
    /// without one. A `last` ahead of `now` (the clock went back since)
    /// waits for the minute after it.
    pub fn resume(last: Option<DateTime>, now: DateTime) -> MinutePlanner {
        match last {
            Some(last) => MinutePlanner { next: after(floor(last)) },
            None => MinutePlanner::new(now),
        }
    }

    /// The next minute that will be processed.
    pub fn next(&self) -> DateTime {
        self.next
    }

    /// What to do at local time `now`, running at most the last
    /// `max_catchup` of the skipped minutes. Nothing is marked processed:
    /// the caller marks each minute [`done`](MinutePlanner::done) (and the
    /// last missed one, once logged).
    pub fn plan(&self, now: DateTime, max_catchup: u32) -> Plan {
        let max_catchup = i64::from(max_catchup);
        let current = floor(now);
        if current < self.next {
            return Plan::Wait { until: self.next };
        }
        let behind = minutes_between(self.next, current);
        let (first, missed) = if behind > max_catchup {
            let first = current.checked_sub(max_catchup.minutes()).expect("in range");
            let last_missed = first.checked_sub(1.minute()).expect("in range");
            (first, Some((self.next, last_missed, behind - max_catchup)))
        } else {
            (self.next, None)
        };
        let minutes = (0..=minutes_between(first, current)).map(|m| first.checked_add(m.minutes()).expect("in range")).collect();
        Plan::Run { minutes, missed }
    }

    /// Marks every minute up to `minute` processed.
    pub fn done(&mut self, minute: DateTime) {
        self.next = self.next.max(after(minute));
    }
}

/// The minute after `minute`.
fn after(minute: DateTime) -> DateTime {
    minute.checked_add(1.minute()).expect("in range")
}

/// The start of the minute of `time`.
pub fn floor(time: DateTime) -> DateTime {
    time.with().second(0).subsec_nanosecond(0).build().expect("valid")
}

/// Whole minutes from `a` to `b` (b >= a).
fn minutes_between(a: DateTime, b: DateTime) -> i64 {
    a.until(b).map(|span| span.total(jiff::Unit::Minute).unwrap_or(0.0) as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime {
        text.parse().unwrap()
    }

    fn minutes(plan: &Plan) -> Vec<String> {
        match plan {
            Plan::Run { minutes, .. } => minutes.iter().map(|m| m.strftime("%H:%M").to_string()).collect(),
            Plan::Wait { .. } => Vec::new(),
        }
    }

    /// Plans at `now` and marks what the plan runs done, as a claim that commits.
    fn step(planner: &mut MinutePlanner, now: DateTime, max_catchup: u32) -> Plan {
        let plan = planner.plan(now, max_catchup);
        if let Plan::Run { minutes, .. } = &plan {
            planner.done(*minutes.last().unwrap());
        }
        plan
    }

    #[test]
    fn each_minute_once_on_time() {
        let mut planner = MinutePlanner::new(at("2020-01-01T10:00:20"));
        assert_eq!(step(&mut planner, at("2020-01-01T10:00:59.9"), 60), Plan::Wait { until: at("2020-01-01T10:01") });
        assert_eq!(minutes(&step(&mut planner, at("2020-01-01T10:01:00.01"), 60)), ["10:01"]);
        assert_eq!(step(&mut planner, at("2020-01-01T10:01:30"), 60), Plan::Wait { until: at("2020-01-01T10:02") }, "never twice");
        assert_eq!(minutes(&step(&mut planner, at("2020-01-01T10:02:00"), 60)), ["10:02"]);
    }

    #[test]
    fn forward_step_runs_the_skipped_minutes_in_order() {
        let mut planner = MinutePlanner::new(at("2020-01-01T10:00:00"));
        assert_eq!(minutes(&step(&mut planner, at("2020-01-01T10:01:00"), 60)), ["10:01"]);
        let plan = step(&mut planner, at("2020-01-01T10:05:00.2"), 60);
        assert_eq!(minutes(&plan), ["10:02", "10:03", "10:04", "10:05"]);
        assert!(matches!(plan, Plan::Run { missed: None, .. }));
    }

    #[test]
    fn backward_step_of_a_minute_waits() {
        let mut planner = MinutePlanner::new(at("2020-01-01T10:00:00"));
        assert_eq!(minutes(&step(&mut planner, at("2020-01-01T10:01:00"), 60)), ["10:01"]);
        assert_eq!(step(&mut planner, at("2020-01-01T10:00:10"), 60), Plan::Wait { until: at("2020-01-01T10:02") });
        assert_eq!(step(&mut planner, at("2020-01-01T10:01:59"), 60), Plan::Wait { until: at("2020-01-01T10:02") });
        assert_eq!(minutes(&step(&mut planner, at("2020-01-01T10:02:00"), 60)), ["10:02"]);
    }

    #[test]
    fn backward_step_of_two_days_never_runs_early() {
        let mut planner = MinutePlanner::new(at("2020-01-03T10:00:00"));
        assert_eq!(minutes(&step(&mut planner, at("2020-01-03T10:01:00"), 60)), ["10:01"]);
        for now in ["2020-01-01T10:01:00", "2020-01-02T00:00:00", "2020-01-03T10:01:59"] {
            assert_eq!(step(&mut planner, at(now), 60), Plan::Wait { until: at("2020-01-03T10:02") }, "{now}");
        }
        assert_eq!(minutes(&step(&mut planner, at("2020-01-03T10:02:00"), 60)), ["10:02"]);
    }

    #[test]
    fn a_long_stall_runs_the_last_hour_and_reports_the_rest() {
        let mut planner = MinutePlanner::new(at("2020-01-01T10:00:00"));
        let plan = step(&mut planner, at("2020-01-01T13:00:30"), 60);
        let ran = minutes(&plan);
        assert_eq!(ran.len(), 61, "60 skipped minutes and the current one");
        assert_eq!((ran[0].as_str(), ran[60].as_str()), ("12:00", "13:00"));
        let Plan::Run { missed: Some((first, last, count)), .. } = plan else { panic!("{plan:?}") };
        assert_eq!((first, last, count), (at("2020-01-01T10:01"), at("2020-01-01T11:59"), 119));
        assert_eq!(minutes(&step(&mut planner, at("2020-01-01T13:01:00"), 60)), ["13:01"]);
    }

    #[test]
    fn exactly_max_catchup_minutes_behind_runs_them_all_and_misses_none() {
        let mut planner = MinutePlanner::new(at("2020-01-01T10:00:00"));
        let plan = step(&mut planner, at("2020-01-01T10:04:00"), 3);
        assert_eq!(minutes(&plan), ["10:01", "10:02", "10:03", "10:04"]);
        assert!(matches!(plan, Plan::Run { missed: None, .. }), "{plan:?}");
        let plan = step(&mut planner, at("2020-01-01T10:09:00"), 3);
        assert_eq!(minutes(&plan), ["10:06", "10:07", "10:08", "10:09"]);
        assert!(matches!(plan, Plan::Run { missed: Some((_, _, 1)), .. }), "one behind that: {plan:?}");
    }

    #[test]
    fn no_catch_up_at_all() {
        let mut planner = MinutePlanner::new(at("2020-01-01T10:00:00"));
        assert_eq!(minutes(&step(&mut planner, at("2020-01-01T10:03:00"), 0)), ["10:03"]);
    }

    #[test]
    fn a_minute_not_marked_done_is_planned_again_and_done_never_goes_back() {
        let mut planner = MinutePlanner::new(at("2020-01-01T10:00:00"));
        assert_eq!(minutes(&planner.plan(at("2020-01-01T10:01:00"), 60)), ["10:01"]);
        assert_eq!(minutes(&planner.plan(at("2020-01-01T10:02:00"), 60)), ["10:01", "10:02"], "its claim failed: planned again");
        planner.done(at("2020-01-01T10:01"));
        assert_eq!(planner.next(), at("2020-01-01T10:02"));
        planner.done(at("2020-01-01T09:00"));
        assert_eq!(planner.next(), at("2020-01-01T10:02"), "never back");
    }

    #[test]
    fn resuming_after_the_ledger_s_last_minute_catches_up_or_waits() {
        let planner = MinutePlanner::resume(Some(at("2020-01-01T09:57")), at("2020-01-01T10:00:05"));
        let plan = planner.plan(at("2020-01-01T10:00:05"), 60);
        assert_eq!(minutes(&plan), ["09:58", "09:59", "10:00"], "the minutes since the last planned one");
        let planner = MinutePlanner::resume(Some(at("2020-01-01T11:00")), at("2020-01-01T10:00:05"));
        assert_eq!(planner.plan(at("2020-01-01T10:00:05"), 60), Plan::Wait { until: at("2020-01-01T11:01") }, "the clock went back");
        let planner = MinutePlanner::resume(None, at("2020-01-01T10:00:05"));
        assert_eq!(planner.next(), at("2020-01-01T10:01"), "a new ledger starts after now");
    }
}
