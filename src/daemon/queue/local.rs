//! A single node's queue: the jobs in memory, in owners' turns, and in the
//! SQLite history and ledger (written by the history's own thread, so that
//! no task waits on the disk). Settling a previous run is here too (the
//! single node's half of "nothing lost"): a job that was running has an
//! unknown end, so it is `lost`, a failure whose `failover_event` is
//! followed; a job that was queued runs now when it was queued at most
//! `max_catchup_minutes` ago (the rule the clock applies to minutes it
//! missed), otherwise it is recorded as not run.
//!
//! The queue's lock is a leaf but for the log: nothing else is locked
//! while it is held, and nothing the queue asks of the daemon ([`Jobs`])
//! is asked under it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;

use super::record::{chained_names, record_of};
use super::{Jobs, MinuteClaim, NOT_RUN};
use crate::clock::{Clock, SystemClock, log_datetime};
use crate::engine::queue::{FairQueue, Limits, Refusal};
use crate::engine::{Job, JobId, JobIds};
use crate::history::{Change, Claim, HistoryWriter, JobRecord, Retention};
use crate::state_files::{create_dirs, make_private};

use super::super::journal::Log;

/// The failure of a job whose run the previous daemon did not see end.
pub const LOST: &str = "lost: the scheduler stopped while the job ran";

/// A single node's queue.
pub struct LocalQueue {
    path: PathBuf,
    jobs: Mutex<FairQueue<Job>>,
    history: Mutex<HistoryWriter>,
    log: Log,
    /// The last claim failed: said once, until one succeeds.
    failing: AtomicBool,
}

impl LocalQueue {
    /// The queue on the history at `path` (its directory made, its files
    /// made private), keeping what `retention` keeps.
    pub fn open(path: &Path, retention: Retention, log: Log) -> anyhow::Result<LocalQueue> {
        if let Some(dir) = path.parent() {
            create_dirs(dir, 0o700).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let file = PathBuf::from(format!("{}{suffix}", path.display()));
            make_private(&file).with_context(|| format!("cannot make {} private", file.display()))?;
        }
        let history = HistoryWriter::start(path, retention).with_context(|| format!("cannot open the job history {}", path.display()))?;
        Ok(LocalQueue { path: path.to_owned(), jobs: Mutex::default(), history: Mutex::new(history), log, failing: AtomicBool::new(false) })
    }

    fn jobs(&self) -> std::sync::MutexGuard<'_, FairQueue<Job>> {
        self.jobs.lock().expect("the queue's lock is never poisoned: nothing panics under it")
    }

    /// Records a change in the history.
    pub fn record(&self, change: Change) {
        self.history.lock().expect("history lock").record(change);
    }

    pub(super) fn log(&self) -> &Log {
        &self.log
    }

    /// Ids after the largest the history holds.
    pub fn ids(&self) -> anyhow::Result<JobIds> {
        let last = crate::history::last_id(&self.path).with_context(|| format!("cannot read the job history {}", self.path.display()))?;
        Ok(JobIds::after(JobId(last.unwrap_or(0))))
    }

    /// The ledger's last minute.
    pub fn watermark(&self) -> anyhow::Result<Option<jiff::civil::DateTime>> {
        let last = crate::history::watermark(&self.path).with_context(|| format!("cannot read the ledger in {}", self.path.display()))?;
        Ok(last.and_then(|last| crate::history::parse_ledger_minute(&last)))
    }

    /// Claims `minute` in the history's ledger, then queues its free jobs.
    pub async fn claim(&self, minute: &str, jobs: Vec<Job>, limits: Limits, logged: impl FnOnce(&[Job])) -> super::Claim {
        let answer = self.history.lock().expect("history lock").claim(minute.to_owned(), jobs.iter().map(record_of).collect());
        let claim = match answer.await {
            Ok(claim) => claim.map_err(|e| e.to_string()),
            Err(_) => Err("the history writer has stopped".into()),
        };
        let free = match claim {
            Ok(Claim::Claimed(free)) => free,
            Ok(Claim::AlreadyPlanned(last)) => return Ok((MinuteClaim::AlreadyPlanned(last), Vec::new())),
            Ok(Claim::Fenced) => return Ok((MinuteClaim::Fenced, Vec::new())),
            Err(error) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    let text = format!(
                        "cannot claim minute {minute} in the ledger: {error}; no clock job starts until a claim succeeds (retrying with back-off, then catching up)"
                    );
                    self.log.message("", &text, "error");
                }
                return Err(error);
            }
        };
        self.failing.store(false, Ordering::Relaxed);
        let claimed = super::free_of(jobs, free);
        let mut queue = self.jobs();
        logged(&claimed);
        let mut dropped = Vec::new();
        for job in claimed {
            if let Err((job, refusal)) = queue.admit(job, &limits) {
                self.record(Change::ended(job.id.to_string(), now(), refusal.result().into(), String::new()));
                dropped.push((job, refusal));
            }
        }
        Ok((MinuteClaim::Queued, dropped))
    }

    /// Queues an activation, refused past its owner's limit.
    pub fn activate(&self, job: Job, limits: Limits, logged: impl FnOnce(&Job)) -> Result<Vec<(Job, Refusal)>, String> {
        let mut queue = self.jobs();
        limits.owner_room(queue.of_owner(&job.owner)).map_err(|refusal| refusal.refused(&job.owner, &job.event))?;
        logged(&job);
        Ok(self.enqueue(&mut queue, vec![job], &limits))
    }

    /// Records `jobs` as queued and queues those `limits` admit; the others
    /// are recorded as dropped, and returned.
    fn enqueue(&self, queue: &mut FairQueue<Job>, jobs: Vec<Job>, limits: &Limits) -> Vec<(Job, Refusal)> {
        let mut dropped = Vec::new();
        for job in jobs {
            let mut record = record_of(&job);
            match queue.admit(job, limits) {
                Ok(()) => self.record(Change::Queued(Box::new(record))),
                Err((job, refusal)) => {
                    record.result = refusal.result().into();
                    self.record(Change::Queued(Box::new(record)));
                    dropped.push((job, refusal));
                }
            }
        }
        dropped
    }

    /// Up to `count` jobs, in owners' turns.
    pub fn take(&self, count: usize) -> Vec<Job> {
        let mut queue = self.jobs();
        std::iter::from_fn(|| queue.pop()).take(count).collect()
    }

    /// Records `end` and queues what the job chained.
    pub fn finish(&self, end: Change, chained: Vec<Job>, limits: Limits) -> Vec<(Job, Refusal)> {
        self.record(end);
        let mut queue = self.jobs();
        self.enqueue(&mut queue, chained, &limits)
    }

    /// Jobs queued.
    pub fn len(&self) -> usize {
        self.jobs().len()
    }

    /// `user`'s jobs from the history.
    pub async fn history(&self, user: String, event: Option<String>, since: Option<String>) -> Result<Vec<JobRecord>, String> {
        let path = self.path.clone();
        match tokio::task::spawn_blocking(move || crate::history::query(&path, &user, event.as_deref(), since.as_deref())).await {
            Ok(Ok(jobs)) => Ok(jobs),
            Ok(Err(e)) => Err(format!("cannot read the job history: {e}")),
            Err(e) => Err(format!("cannot read the job history: {e}")),
        }
    }

    /// Settles every job the history holds as queued or running.
    pub fn settle(&self, jobs: &dyn Jobs, max_age: Duration, limits: Limits) -> Vec<(Job, Refusal)> {
        let records = match crate::history::unsettled(&self.path) {
            Ok(records) => records,
            Err(error) => {
                self.log.message("", &format!("cannot read the job history to settle the previous run: {error}"), "error");
                return Vec::new();
            }
        };
        if records.is_empty() {
            return Vec::new();
        }
        let now = SystemClock.now();
        let at = log_datetime(&now.datetime());
        let (mut lost, mut requeued, mut gone) = (0, 0, 0);
        let mut chained = Vec::new();
        for record in records {
            let job = jobs.rebuild(&record);
            match (record.result.as_str(), job) {
                ("running", Some(job)) => {
                    lost += 1;
                    let again = crate::history::is_rerun(&self.path, &record).unwrap_or(false);
                    let next = jobs.lost(&job, LOST.to_owned(), again);
                    self.record(Change::ended(record.id.clone(), at.clone(), format!("failure: {LOST}"), chained_names(&next)));
                    chained.extend(next);
                }
                ("running", None) => {
                    lost += 1;
                    self.record(Change::ended(record.id.clone(), at.clone(), format!("failure: {LOST}"), String::new()));
                }
                ("queued", Some(job)) if now.duration_since(&job.queued).unsigned_abs() <= max_age => {
                    requeued += 1;
                    // Recorded already: queued again as it was, limits aside.
                    self.jobs().push(job);
                }
                _ => {
                    gone += 1;
                    self.record(Change::ended(record.id.clone(), at.clone(), NOT_RUN.to_owned(), String::new()));
                }
            }
        }
        let text = format!(
            "previous run settled: {lost} job(s) lost while running, {requeued} queued job(s) run now, {gone} too old or gone, not run"
        );
        self.log.message("", &text, "warning");
        let mut queue = self.jobs();
        self.enqueue(&mut queue, chained, &limits)
    }

    /// Keeps what `retention` keeps from now on.
    pub fn retain(&self, retention: Retention) {
        self.history.lock().expect("history lock").retain(retention);
    }

    /// Writes everything recorded so far.
    pub fn close(&self) {
        self.history.lock().expect("history lock").close();
    }
}

/// The time now, as the history writes it.
fn now() -> String {
    log_datetime(&SystemClock.now().datetime())
}
