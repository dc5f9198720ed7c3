//! Settling what a previous run left unfinished, at start-up (the single
//! node's half of "nothing lost"). A job that was running has an unknown
//! end: it is `lost`, a failure, so its `failover_event` is followed and a
//! failure notification sent as its event asks. A job that was queued runs
//! now when it was queued at most `max_catchup_minutes` ago (the rule the
//! clock applies to minutes it missed), otherwise it is recorded as not run.

use std::sync::Arc;
use std::time::Duration;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;

use super::runner::{chained_names, enqueue};
use super::{Daemon, State};
use crate::clock::{Clock, SystemClock, local, log_datetime};
use crate::engine::{Job, JobId, TriggerName};
use crate::history::{Change, JobRecord};

/// The failure of a job whose run the previous daemon did not see end.
pub const LOST: &str = "lost: the scheduler stopped while the job ran";

/// The result of a queued job too old to run when the scheduler started again.
pub const NOT_RUN: &str = "dropped: the scheduler stopped before it ran";

impl Daemon {
    /// Settles every job the history holds as queued or running: call it
    /// after the trees are loaded, before the clock and the dispatcher start.
    pub(super) fn settle_previous_run(self: &Arc<Self>) {
        let records = match crate::history::unsettled(&self.setup.history) {
            Ok(records) => records,
            Err(error) => {
                self.log.message("", &format!("cannot read the job history to settle the previous run: {error}"), "error");
                return;
            }
        };
        if records.is_empty() {
            return;
        }
        let now = SystemClock.now();
        let mut state = self.lock();
        let state = &mut *state;
        let max_age = Duration::from_secs(u64::from(state.config.max_catchup_minutes) * 60);
        let (mut lost, mut requeued, mut dropped) = (0, 0, 0);
        let at = log_datetime(&now.datetime());
        for record in records {
            let job = rebuild(&record, state);
            match (record.result.as_str(), job) {
                ("running", Some(job)) => {
                    lost += 1;
                    let again = crate::history::is_rerun(&self.setup.history, &record).unwrap_or(false);
                    let chained = state.engine.lost(&job, LOST.to_owned(), again, &mut *self.log.journal());
                    let next = chained_names(&chained);
                    self.record(Change::ended(record.id.clone(), at.clone(), format!("failure: {LOST}"), next));
                    for job in chained {
                        enqueue(self, state, job);
                    }
                }
                ("running", None) => {
                    lost += 1;
                    self.record(Change::ended(record.id.clone(), at.clone(), format!("failure: {LOST}"), String::new()));
                }
                ("queued", Some(job)) if now.duration_since(&job.queued).unsigned_abs() <= max_age => {
                    requeued += 1;
                    state.queue.push_back(job);
                    state.active = true;
                }
                _ => {
                    dropped += 1;
                    self.record(Change::ended(record.id.clone(), at.clone(), NOT_RUN.to_owned(), String::new()));
                }
            }
        }
        let text = format!(
            "previous run settled: {lost} job(s) lost while running, {requeued} queued job(s) run now, {dropped} too old or gone, not run"
        );
        self.log.message("", &text, "warning");
        self.wake.notify_one();
    }
}

/// The job of `record` against its owner's events as loaded now; `None`
/// when the owner or the event is gone or the record cannot be read back.
pub(super) fn rebuild(record: &JobRecord, state: &State) -> Option<Job> {
    let user = state.users.get(&record.user)?;
    user.tree.get(&record.event)?;
    let id = |hex: &str| u64::from_str_radix(hex, 16).ok().map(JobId);
    let tz = TimeZone::system();
    let time = |text: &str| text.replacen(' ', "T", 1).parse::<DateTime>().ok().map(|t| local(&tz, t));
    Some(Job {
        id: id(&record.id)?,
        group: id(&record.group)?,
        parent: id(&record.parent)?,
        owner: user.owner.clone(),
        tree: user.tree.clone(),
        event: record.event.as_str().into(),
        trigger: TriggerName::from_name(&record.trigger)?,
        origin: "hcron-scheduler".into(),
        chain: record.chain.split(':').map(Into::into).collect(),
        scheduled: time(&record.scheduled)?,
        queued: time(&record.queued)?,
    })
}
