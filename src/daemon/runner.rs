//! The daemon's work: the minute loop, the dispatcher, running one job,
//! and the `status` lines. The jobs themselves are the queue's
//! (`queue/`): nothing here knows which store holds them.

use std::sync::Arc;
use std::time::Duration;

use super::Daemon;
use super::journal::stamped;
use super::minutes::Plan;
use super::queue::record::{chained_names, rebuild};
use super::queue::{Jobs, MinuteClaim};
use jiff::Zoned;

use crate::clock::{Clock, SystemClock, local, log_datetime};
use crate::engine::queue::Limits;
use crate::engine::{Failure, Job, UserEvents};
use crate::exec::Execution;
use crate::history::{Change, JobRecord, ledger_minute, parse_ledger_minute};
use crate::outcome::JobResult;
use crate::tree::Tree;

/// Longest single sleep: the wall clock is looked at again at least this
/// often, so that a clock step is noticed.
const MAX_SLEEP: Duration = Duration::from_secs(60);

impl Daemon {
    /// Processes each minute once, on time (decisions 14), each claimed in
    /// the ledger before any of its jobs is queued.
    pub(super) async fn clock_loop(self: Arc<Self>) {
        let origin: Arc<str> = "hcron-scheduler".into();
        let clock = self.setup.minute_clock;
        // The ledger's back-off while its claims fail.
        let mut failing: Option<Duration> = None;
        loop {
            if !self.queue.may_plan() {
                // Only a cluster's leader plans; the beat task says when this node leads.
                let _ = tokio::time::timeout(MAX_SLEEP, self.leadership.notified()).await;
                continue;
            }
            let now = clock.now();
            // Read at each wake: a reloaded configuration applies to the next catch-up.
            let (plan, max_catchup) = {
                let state = self.lock();
                let max_catchup = state.config.max_catchup_minutes;
                (state.planner.plan(now.datetime(), max_catchup), max_catchup)
            };
            let (minutes, missed) = match plan {
                Plan::Wait { until } => {
                    let target = local(now.time_zone(), until);
                    let wait = clock.real(now.duration_until(&target).unsigned_abs()).min(MAX_SLEEP);
                    self.log.entry(stamped("sleep", "").field("sleeptime", format!("{:.3}", wait.as_secs_f64())));
                    // A millisecond past the boundary, so that the minute has begun.
                    tokio::time::sleep(wait + Duration::from_millis(1)).await;
                    continue;
                }
                Plan::Run { minutes, missed } => (minutes, missed),
            };
            if let Some((first, last, count)) = missed {
                let mut state = self.lock();
                let text = format!(
                    "missed {count} minute(s) from {} to {}: more than max_catchup_minutes ({max_catchup}) behind",
                    log_datetime(&first),
                    log_datetime(&last)
                );
                self.log.message("", &text, "warning");
                state.planner.done(last);
            }
            let current = *minutes.last().expect("a run has minutes");
            for minute in minutes {
                let behind = (minute != current).then(|| now.datetime().duration_since(minute));
                match self.claim_minute(local(now.time_zone(), minute), behind, &origin, failing.is_some()).await {
                    Claimed::Queued => failing = None,
                    Claimed::Stopping => return,
                    Claimed::NotLeading => break,
                    Claimed::Failed => {
                        // The queue has said why, once for the outage.
                        let delay = failing.map_or(LEDGER_RETRY, |d| (d * 2).min(MAX_SLEEP));
                        failing = Some(delay);
                        tokio::time::sleep(delay).await;
                        break;
                    }
                }
            }
        }
    }

    /// The clock jobs of `minute`: due, claimed in the ledger, then logged
    /// and queued (those whose slot was free). `behind`: how late a minute
    /// caught up is; `recovered`: the ledger failed before this claim.
    async fn claim_minute(&self, minute: Zoned, behind: Option<jiff::SignedDuration>, origin: &Arc<str>, recovered: bool) -> Claimed {
        if self.slots.stopping() {
            // A stopping daemon queues nothing it will not run.
            return Claimed::Stopping;
        }
        let (jobs, elapsed, limits) = {
            let started = std::time::Instant::now();
            let schedules = self.users.schedules();
            let users: Vec<UserEvents<'_>> =
                schedules.iter().map(|u| UserEvents { owner: &u.owner, tree: &u.tree, index: &u.index }).collect();
            let mut state = self.lock();
            let state = &mut *state;
            let jobs = state.engine.due(&minute, origin, &users);
            (jobs, started.elapsed(), limits(&state.config))
        };
        let key = ledger_minute(&minute.datetime());
        let due = !jobs.is_empty();
        let logged = |claimed: &[Job]| {
            if recovered {
                self.log.message("", &format!("the ledger is back: scheduling from minute {key}"), "info");
            }
            if let Some(behind) = behind {
                let text = format!("behind schedule ({:.3}s), sheduling immediately", behind.as_secs_f64());
                self.log.message("", &text, "info");
            }
            self.log.entry(stamped("trigger", "").field("triggername", "clock").field("triggerorigin", origin));
            self.lock().engine.log_tick(claimed, elapsed, &mut *self.log.journal());
        };
        match self.queue.claim(&key, jobs, limits, logged).await {
            Ok(MinuteClaim::Queued) => {}
            Ok(MinuteClaim::Fenced) => {
                let text = format!("minute {key} not scheduled: this node no longer leads the cluster");
                self.log.message("", &text, "warning");
                return Claimed::NotLeading;
            }
            Ok(MinuteClaim::AlreadyPlanned(last)) => {
                let text = format!("minute {key} not scheduled: the ledger has planned up to {last} already");
                self.log.message("", &text, "warning");
                self.lock().planner.done(parse_ledger_minute(&last).unwrap_or(minute.datetime()));
                return Claimed::Queued;
            }
            Err(_) => return Claimed::Failed,
        }
        self.lock().planner.done(minute.datetime());
        // A minute with nothing due is no activity: an idle daemon writes no
        // status line (§16).
        if due {
            self.slots.touch();
        }
        self.wake.notify_one();
        Claimed::Queued
    }

    /// Starts queued jobs while fewer than `max_activated_events` run,
    /// when woken (a job queued or ended here) or, where the queue asks
    /// for it, at each poll.
    pub(super) async fn dispatch(self: Arc<Self>) {
        loop {
            loop {
                let free = self.slots.free();
                if free == 0 {
                    break;
                }
                let jobs = self.queue.take(free, &*self).await;
                if jobs.is_empty() {
                    break;
                }
                self.slots.acquire(jobs.len());
                for job in jobs {
                    tokio::spawn(self.clone().run_job(job));
                }
            }
            match self.queue.poll() {
                Some(poll) => drop(tokio::time::timeout(poll, self.wake.notified()).await),
                None => self.wake.notified().await,
            }
        }
    }

    /// One job, from activation to its chained jobs.
    async fn run_job(self: Arc<Self>, job: Job) {
        let account = self.users.get(&job.owner).map(|u| u.account);
        let (activation, exec) = {
            let mut state = self.lock();
            let state = &mut *state;
            let activation = state.engine.activate(&job, &mut *self.log.journal());
            (activation, state.exec.clone())
        };
        self.queue.started(&job);
        let (activation, execution) = match activation {
            Err(failure) => (None, Execution::ended(failure)),
            Ok(activation) => {
                let execution = if let Some(expired) = activation.expiry() {
                    Execution::ended(expired)
                } else if let Some(account) = account.or_else(|| crate::account::Account::by_name(&job.owner)) {
                    crate::exec::execute(&exec, &job, &activation, &account).await
                } else {
                    Execution::refused(format!("no such user ({})", job.owner))
                };
                self.log_execution(&job, &execution);
                self.queue.share_hosts(&execution.changes).await;
                (Some(activation), execution)
            }
        };
        let outcome = execution.outcome();
        let result = JobResult::from(outcome.clone());
        let current = self.users.get(&job.owner).map_or_else(|| Arc::new(Tree::default()), |u| u.tree);
        let (chained, limits) = {
            let mut state = self.lock();
            let state = &mut *state;
            let chained = state.engine.complete(&job, activation.as_ref(), outcome, &current, &mut *self.log.journal());
            (chained, limits(&state.config))
        };
        let next = chained_names(&chained);
        let last = execution.attempts.last();
        let end = Change::Finished {
            id: job.id.to_string(),
            at: log_datetime(&SystemClock.now().datetime()),
            host: last.map(|s| s.host.clone()),
            rv: last.map(|s| s.rv),
            result,
            next,
            exit_status: execution.finished.as_ref().and_then(|f| f.status),
            stdout: execution.finished.as_ref().map(|f| f.stdout.clone()),
            stderr: execution.finished.as_ref().map(|f| f.stderr.clone()),
        };
        self.queue.finish(end, chained, limits).await;
        // Its slot frees once its end and chain are the queue's: a stop
        // waits for both.
        self.slots.release();
        self.wake.notify_one();
    }

    /// The log lines of an execution: refusal, host changes, alarms, one
    /// `execute` line per attempt, notes.
    fn log_execution(&self, job: &Job, execution: &Execution) {
        let mut state = self.lock();
        let state = &mut *state;
        let owner = &*job.owner;
        if let Some(refusal) = &execution.refusal {
            let text = format!("handle_job ({refusal})");
            self.log.message(owner, &text, "error");
        }
        for note in &execution.notes {
            self.log.message(owner, note, "warning");
        }
        for alarm in &execution.alarms {
            let entry = state.engine.job_entry("alarm", job).field("message", alarm).field("pid", "None");
            self.log.entry(entry);
        }
        for spawned in &execution.attempts {
            let entry = state
                .engine
                .job_entry("execute", job)
                .field("asuser", &spawned.as_user)
                .field("elapsed", format!("{:.6}", spawned.elapsed))
                .field("host", &spawned.host)
                .field("pid", spawned.pid.map_or("None".to_owned(), |p| p.to_string()))
                .field("rv", spawned.rv);
            self.log.entry(entry);
        }
        for (host, change) in &execution.changes {
            let entry = match change {
                crate::exec::health::Change::Offline(until) => {
                    let until = until.to_zoned(jiff::tz::TimeZone::system()).datetime();
                    state.engine.entry("host-offline", "").field("host", host).field("until", log_datetime(&until))
                }
                crate::exec::health::Change::Online => state.engine.entry("host-online", "").field("host", host),
            };
            self.log.entry(entry);
        }
    }

    /// Logs a `status` line every 2 s while anything is queued or running.
    pub(super) async fn status_loop(self: Arc<Self>) {
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let queued = self.queue.held();
            if let Some(status) = self.slots.status(queued) {
                let entry = stamped("status", "")
                    .field("ndone", status.done)
                    .field("nqueued", queued)
                    .field("nrunning", status.running)
                    .field("ntotal", status.done + (queued + status.running) as u64)
                    .field("nworkers", status.workers);
                self.log.entry(entry);
            }
        }
    }
}

/// The queue's limits in `config`.
pub(super) fn limits(config: &crate::config::Config) -> Limits {
    Limits { total: config.max_queued_jobs, per_owner: config.max_queued_jobs_per_user }
}

impl Jobs for Daemon {
    fn rebuild(&self, record: &JobRecord) -> Option<Job> {
        let user = self.users.get(&record.user)?;
        rebuild(record, &user.owner, &user.tree)
    }

    fn lost(&self, job: &Job, why: Failure, again: bool) -> Vec<Job> {
        self.lock().engine.lost(job, why, again, &mut *self.log.journal())
    }
}

/// What became of a minute's claim.
enum Claimed {
    /// Its jobs are queued (or it was planned already).
    Queued,
    /// (A cluster.) This node does not lead: nothing was claimed.
    NotLeading,
    /// The daemon is stopping: nothing was claimed.
    Stopping,
    /// The ledger failed (the queue has logged why): nothing was claimed.
    Failed,
}

/// The first wait after a failed claim; it doubles up to [`MAX_SLEEP`].
const LEDGER_RETRY: Duration = Duration::from_secs(1);
