//! The daemon's work: the minute loop, the job queue and its dispatcher,
//! running one job, and the `status` lines.

use std::sync::Arc;
use std::time::Duration;

use super::minutes::Plan;
use super::journal::stamped;
use super::{Daemon, State};
use jiff::Zoned;

use crate::clock::{Clock, SystemClock, local, log_datetime};
use crate::engine::{Job, Outcome, TriggerName, UserEvents};
use crate::exec::Execution;
use crate::history::{Change, Claim, JobRecord, ledger_minute, parse_ledger_minute};
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
            if let Some(cluster) = &self.cluster
                && cluster.leading().is_none()
            {
                // Only the leader plans; the beat task says when this node leads.
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
                    Claimed::Failed(error) => {
                        let delay = failing.map_or(LEDGER_RETRY, |d| (d * 2).min(MAX_SLEEP));
                        match &self.cluster {
                            Some(cluster) => self.database_failed(cluster, &error),
                            None if failing.is_none() => {
                                let text = format!(
                                    "cannot claim minute {} in the ledger: {error}; no clock job starts until a claim succeeds (retrying with back-off, then catching up)",
                                    log_datetime(&minute)
                                );
                                self.log.message("", &text, "error");
                            }
                            None => {}
                        }
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
        let (jobs, elapsed) = {
            let mut state = self.lock();
            let state = &mut *state;
            if state.stopping {
                // A stopping daemon queues nothing it will not run.
                return Claimed::Stopping;
            }
            let started = std::time::Instant::now();
            let users: Vec<UserEvents<'_>> =
                state.users.values().map(|u| UserEvents { owner: &u.owner, tree: &u.tree, index: &u.index }).collect();
            let jobs = state.engine.due(&minute, origin, &users);
            (jobs, started.elapsed())
        };
        let key = ledger_minute(&minute.datetime());
        let free = match self.claim(&key, jobs.iter().map(record_of).collect()).await {
            Ok(Claim::Claimed(free)) => free,
            Ok(Claim::Fenced) => {
                let text = format!("minute {key} not scheduled: this node no longer leads the cluster");
                self.log.message("", &text, "warning");
                return Claimed::NotLeading;
            }
            Ok(Claim::AlreadyPlanned(last)) => {
                let mut state = self.lock();
                let text = format!("minute {key} not scheduled: the ledger has planned up to {last} already");
                self.log.message("", &text, "warning");
                state.planner.done(parse_ledger_minute(&last).unwrap_or(minute.datetime()));
                return Claimed::Queued;
            }
            Err(error) => return Claimed::Failed(error),
        };
        let mut state = self.lock();
        let state = &mut *state;
        if recovered {
            self.log.message("", &format!("the ledger is back: scheduling from minute {key}"), "info");
        }
        if let Some(behind) = behind {
            let text = format!("behind schedule ({:.3}s), sheduling immediately", behind.as_secs_f64());
            self.log.message("", &text, "info");
        }
        let trigger = state.engine.entry("trigger", "").field("triggername", "clock").field("triggerorigin", origin);
        self.log.entry(trigger);
        let claimed: Vec<Job> = jobs.into_iter().zip(free).filter_map(|(job, free)| free.then_some(job)).collect();
        state.engine.log_tick(&claimed, elapsed, &mut *self.log.journal());
        // A cluster's claimed jobs are queued in the database, for any node to take.
        for job in claimed.into_iter().filter(|_| self.cluster.is_none()) {
            if !queue_full(self, state, &job) {
                push(state, job);
            } else {
                self.record(dropped(&job));
            }
        }
        state.planner.done(minute.datetime());
        self.wake.notify_one();
        Claimed::Queued
    }

    /// Claims `minute`'s slots for `jobs` in the ledger: the history's
    /// (a single node), or the cluster's under this node's epoch.
    async fn claim(&self, minute: &str, jobs: Vec<JobRecord>) -> Result<Claim, String> {
        match &self.cluster {
            Some(cluster) => match cluster.leading() {
                Some(epoch) => {
                    let claim = cluster.claim(epoch, minute, &jobs).await;
                    if matches!(claim, Ok(Claim::Fenced)) {
                        // Not the leader until a beat says so again: the minute loop waits.
                        cluster.fenced(epoch);
                    }
                    claim
                }
                None => Ok(Claim::Fenced),
            },
            None => {
                let answer = self.history.lock().expect("history lock").claim(minute.to_owned(), jobs);
                match answer.await {
                    Ok(claim) => claim.map_err(|e| e.to_string()),
                    Err(_) => Err("the history writer has stopped".into()),
                }
            }
        }
    }

    /// Queues an on-demand activation of `event` for `user` (§13; an
    /// unknown or rejected event is an error for the caller); in a cluster,
    /// once the database has it.
    pub(super) async fn activate(&self, user: &str, event: &str) -> Result<String, String> {
        if let Some(cluster) = &self.cluster {
            // A node just started gets the time of its first beat.
            let timeout = cluster.settings().timing.timeout;
            if !cluster.alive_within(timeout).await {
                let seconds = timeout.as_secs_f64();
                return Err(format!(
                    "this node is not a live member of the cluster now (no heartbeat of its reached the database within {seconds:.1}s)"
                ));
            }
        }
        let job = self.activation(user, event)?;
        let id = job.id.to_string();
        if let Some(cluster) = &self.cluster {
            cluster.queue(vec![record_of(&job)]).await.map_err(|e| format!("cannot queue the job in the cluster database: {e}"))?;
        }
        {
            let mut state = self.lock();
            let state = &mut *state;
            state.engine.log_queued(&job, &mut *self.log.journal());
            if self.cluster.is_none() {
                enqueue(self, state, job);
            }
        }
        self.wake.notify_one();
        Ok(id)
    }

    /// The job of an on-demand activation, its trigger logged.
    fn activation(&self, user: &str, event: &str) -> Result<Job, String> {
        let mut state = self.lock();
        let state = &mut *state;
        if state.stopping {
            return Err("the scheduler is stopping: nothing new is queued".into());
        }
        let Some(events) = state.users.get(user) else {
            return Err(format!("no events are loaded for user ({user})"));
        };
        let Some(found) = events.tree.get(event) else {
            return Err(format!("no event ({event}) in the events of user ({user})"));
        };
        if found.definition().is_none() {
            return Err(format!("event ({event}) is rejected ({}) and cannot be activated", found.reason()));
        }
        let (owner, tree, name) = (events.owner.clone(), events.tree.clone(), found.name().clone());
        let origin: Arc<str> = format!("{user}@{}", self.setup.server_name).into();
        let trigger = state.engine.entry("trigger", user).field("triggername", "ondemand").field("triggerorigin", &origin);
        self.log.entry(trigger);
        let now = state.engine.clock().now();
        Ok(state.engine.root_job(&owner, &tree, name, TriggerName::OnDemand, origin, now))
    }

    /// Starts queued jobs while fewer than `max_activated_events` run.
    pub(super) async fn dispatch(self: Arc<Self>) {
        if let Some(cluster) = self.cluster.clone() {
            return self.take_from_cluster(cluster).await;
        }
        loop {
            loop {
                let job = {
                    let mut state = self.lock();
                    let limit = state.config.max_activated_events.max(1) as usize;
                    if state.stopping || state.running >= limit {
                        None
                    } else {
                        let job = state.queue.pop_front();
                        state.running += usize::from(job.is_some());
                        job
                    }
                };
                let Some(job) = job else { break };
                tokio::spawn(self.clone().run_job(job));
            }
            self.wake.notified().await;
        }
    }

    /// A cluster node's dispatcher: takes queued jobs from the database
    /// while fewer than `max_activated_events` run here, when woken (a job
    /// queued or ended here) or every [`TAKE_POLL`].
    async fn take_from_cluster(self: Arc<Self>, cluster: Arc<crate::cluster::Cluster>) {
        loop {
            let free = {
                let state = self.lock();
                let limit = state.config.max_activated_events.max(1) as usize;
                if state.stopping { 0 } else { limit.saturating_sub(state.running) }
            };
            match cluster.take(free, &log_datetime(&SystemClock.now().datetime())).await {
                Ok(records) => {
                    for record in records {
                        let job = {
                            let mut state = self.lock();
                            let job = super::settle::rebuild(&record, &state);
                            state.running += usize::from(job.is_some());
                            job
                        };
                        match job {
                            Some(job) => {
                                tokio::spawn(self.clone().run_job(job));
                            }
                            None => self.clone().not_here(&cluster, record).await,
                        }
                    }
                }
                Err(error) => self.database_failed(&cluster, &error),
            }
            let _ = tokio::time::timeout(TAKE_POLL, self.wake.notified()).await;
        }
    }

    /// A job taken whose event this node has not loaded: it fails here,
    /// with why, rather than wait for a node that knows it.
    async fn not_here(self: Arc<Self>, cluster: &crate::cluster::Cluster, record: JobRecord) {
        let why = format!("failure: event ({}) of user ({}) is not loaded on node {}", record.event, record.user, cluster.settings().name);
        self.log.message(&record.user, &why, "error");
        let end = Change::ended(record.id.clone(), log_datetime(&SystemClock.now().datetime()), why, String::new());
        self.end_in_cluster(cluster, &end, &[]).await;
    }

    /// Records a job's end and queues what it chained in the cluster's
    /// database, retrying while it cannot be reached.
    async fn end_in_cluster(&self, cluster: &crate::cluster::Cluster, end: &Change, chained: &[JobRecord]) {
        let mut delay = LEDGER_RETRY;
        loop {
            match cluster.finish(end, chained).await {
                Ok(true) => return,
                Ok(false) => {
                    let Change::Finished { id, .. } = end else { return };
                    let text = format!(
                        "job {id} ended after this node was taken for dead: its end is not recorded and nothing it chained is queued"
                    );
                    self.log.message("", &text, "warning");
                    return;
                }
                Err(_) => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    /// One job, from activation to its chained jobs.
    async fn run_job(self: Arc<Self>, job: Job) {
        let (activation, exec, account) = {
            let mut state = self.lock();
            let state = &mut *state;
            let activation = state.engine.activate(&job, &mut *self.log.journal());
            let account = state.users.get(&*job.owner).map(|u| u.account.clone());
            (activation, state.exec.clone(), account)
        };
        if self.cluster.is_none() {
            // A cluster's job was marked running when this node took it.
            self.record(Change::Started { id: job.id.to_string(), at: log_datetime(&SystemClock.now().datetime()) });
        }
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
                if let Some(cluster) = &self.cluster {
                    self.share_hosts(cluster, &execution.changes).await;
                }
                (Some(activation), execution)
            }
        };
        let outcome = execution.outcome();
        let result = match &outcome {
            Outcome::Success => "success".to_owned(),
            Outcome::Failure(why) => format!("failure: {why}"),
        };
        let chained = {
            let mut state = self.lock();
            let state = &mut *state;
            let current = state.users.get(&*job.owner).map_or_else(|| Arc::new(Tree::default()), |u| u.tree.clone());
            let chained = state.engine.complete(&job, activation.as_ref(), outcome, &current, &mut *self.log.journal());
            state.running -= 1;
            state.done += 1;
            state.active = true;
            chained
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
        match &self.cluster {
            Some(cluster) => self.end_in_cluster(cluster, &end, &chained.iter().map(record_of).collect::<Vec<_>>()).await,
            None => {
                self.record(end);
                let mut state = self.lock();
                for job in chained {
                    enqueue(&self, &mut state, job);
                }
            }
        }
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
            let mut state = self.lock();
            if state.active {
                state.active = state.running > 0 || !state.queue.is_empty();
                let (done, queued, running) = (state.done, state.queue.len(), state.running);
                let workers = state.config.max_activated_events;
                let entry = state
                    .engine
                    .entry("status", "")
                    .field("ndone", done)
                    .field("nqueued", queued)
                    .field("nrunning", running)
                    .field("ntotal", done + (queued + running) as u64)
                    .field("nworkers", workers);
                self.log.entry(entry);
            }
        }
    }

    /// Records a change in the job history.
    pub(super) fn record(&self, change: Change) {
        self.history.lock().expect("history lock").record(change);
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
    /// The ledger failed: nothing was claimed.
    Failed(String),
}

/// How often a cluster node looks for queued jobs when nothing woke it.
const TAKE_POLL: Duration = Duration::from_millis(250);

/// The first wait after a failed claim; it doubles up to [`MAX_SLEEP`].
const LEDGER_RETRY: Duration = Duration::from_secs(1);

/// The result of a job dropped because the queue was full.
const QUEUE_FULL: &str = "dropped: queue full";

/// Puts `job` on the queue and in the history; past `max_queued_jobs` it is
/// dropped, logged and recorded as dropped.
pub(super) fn enqueue(daemon: &Daemon, state: &mut State, job: Job) {
    let mut record = record_of(&job);
    let full = queue_full(daemon, state, &job);
    if full {
        record.result = QUEUE_FULL.into();
    }
    daemon.record(Change::Queued(Box::new(record)));
    if !full {
        push(state, job);
    }
}

/// Whether the queue has no room for `job` (logged when so).
fn queue_full(daemon: &Daemon, state: &mut State, job: &Job) -> bool {
    let full = state.queue.len() >= state.config.max_queued_jobs;
    if full {
        let text = format!("job queue full ({}): job for event ({}) dropped", state.config.max_queued_jobs, job.event);
        daemon.log.message(&job.owner, &text, "error");
    }
    full
}

fn push(state: &mut State, job: Job) {
    state.queue.push_back(job);
    state.active = true;
}

/// The end of a recorded job dropped because the queue was full.
fn dropped(job: &Job) -> Change {
    Change::ended(job.id.to_string(), log_datetime(&SystemClock.now().datetime()), QUEUE_FULL.into(), String::new())
}

/// The history's `next` of a job: the events it chained, `:`-joined.
pub(super) fn chained_names(chained: &[Job]) -> String {
    chained.iter().map(|j| &*j.event).collect::<Vec<_>>().join(":")
}

pub(super) fn record_of(job: &Job) -> JobRecord {
    JobRecord {
        id: job.id.to_string(),
        group: job.group.to_string(),
        parent: job.parent.to_string(),
        user: job.owner.to_string(),
        event: job.event.to_string(),
        trigger: job.trigger.to_string(),
        chain: job.chain_text(),
        scheduled: log_datetime(&job.scheduled.datetime()),
        queued: log_datetime(&job.queued.datetime()),
        result: "queued".into(),
        ..JobRecord::default()
    }
}
