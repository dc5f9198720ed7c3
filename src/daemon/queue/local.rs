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
use crate::outcome::{Failure, JobResult};
use crate::state_files::{create_dirs, make_private};

use super::super::journal::Log;

/// The failure of a job whose run the previous daemon did not see end.
pub const LOST: &str = "the scheduler stopped while the job ran";

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

    /// Records `job` as started now.
    pub fn started(&self, job: &Job) {
        self.record(Change::Started { id: job.id.to_string(), at: now() });
    }

    /// Records a change in the history.
    fn record(&self, change: Change) {
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
                self.record(Change::ended(job.id.to_string(), now(), refusal.result(), String::new()));
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
                    record.result = refusal.result();
                    record.finished = Some(now());
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
        // Which running jobs were runs again comes with them: one query, not one a record.
        let (records, reruns) = match crate::history::settling(&self.path) {
            Ok(read) => read,
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
        let failure = Failure::Lost(LOST.to_owned());
        for record in records {
            let job = jobs.rebuild(&record);
            match (&record.result, job) {
                (JobResult::Running, Some(job)) => {
                    lost += 1;
                    let again = reruns.contains(&record.id);
                    let next = jobs.lost(&job, failure.clone(), again);
                    self.record(Change::ended(record.id.clone(), at.clone(), JobResult::Failure(failure.clone()), chained_names(&next)));
                    chained.extend(next);
                }
                (JobResult::Running, None) => {
                    lost += 1;
                    self.record(Change::ended(record.id.clone(), at.clone(), JobResult::Failure(failure.clone()), String::new()));
                }
                (JobResult::Queued, Some(job)) if now.duration_since(&job.queued).unsigned_abs() <= max_age => {
                    requeued += 1;
                    // Recorded already: queued again as it was, limits aside.
                    self.jobs().push(job);
                }
                _ => {
                    gone += 1;
                    self.record(Change::ended(record.id.clone(), at.clone(), JobResult::Dropped(NOT_RUN.to_owned()), String::new()));
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::daemon::journal::{ActivityLog, DaemonJournal, LogTarget};
    use crate::tree::Tree;

    /// A queue on a new history in `dir`, logging to `dir/log`.
    fn queue(dir: &Path) -> LocalQueue {
        let log = ActivityLog::open(&LogTarget { file: Some(dir.join("log")), stderr: false, syslog: None }).unwrap();
        let spool = crate::mail::Spool::new(&dir.join("spool"));
        let journal = DaemonJournal { log, spool, mail_from: None, sender: Arc::default() };
        LocalQueue::open(&dir.join("history.sqlite"), Retention::default(), Log::new(journal)).unwrap()
    }

    fn job(id: u64, owner: &str, event: &str) -> Job {
        let now = SystemClock.now();
        Job {
            id: JobId(id),
            group: JobId(id),
            parent: JobId(id),
            owner: owner.into(),
            tree: Arc::new(Tree::default()),
            event: event.into(),
            trigger: crate::engine::TriggerName::Clock,
            origin: "hcron-scheduler".into(),
            chain: vec![event.into()],
            scheduled: now.clone(),
            queued: now,
        }
    }

    fn ids(jobs: &[Job]) -> Vec<u64> {
        jobs.iter().map(|j| j.id.0).collect()
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    /// The result of job `id` in the history at `dir`, once written.
    fn result(queue: &LocalQueue, id: u64, owner: &str) -> Option<(String, bool)> {
        queue.history.lock().unwrap().close();
        let jobs = crate::history::query(&queue.path, owner, None, None).unwrap();
        jobs.into_iter().find(|j| j.id == format!("{id:x}")).map(|j| (j.result.to_string(), j.finished.is_some()))
    }

    #[test]
    fn a_minute_s_free_jobs_are_logged_queued_in_turns_and_those_past_the_limits_dropped_and_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let queue = queue(dir.path());
        let limits = Limits { total: 3, per_owner: 2 };
        let jobs = vec![job(1, "a", "/x"), job(2, "a", "/y"), job(3, "a", "/z"), job(4, "b", "/x")];
        let mut logged = Vec::new();
        let (claim, dropped) =
            runtime().block_on(queue.claim("2030-01-01 10:00", jobs, limits, |claimed: &[Job]| logged = ids(claimed))).unwrap();
        assert!(matches!(claim, MinuteClaim::Queued));
        assert_eq!(logged, [1, 2, 3, 4], "every free job is logged as queued first");
        assert_eq!(dropped.iter().map(|(j, r)| (j.id.0, *r)).collect::<Vec<_>>(), [(3, Refusal::OwnerFull(2))]);
        assert_eq!(queue.len(), 3);
        // The owners take turns: a (never served, first by name), b, then a again.
        assert_eq!(ids(&queue.take(2)), [1, 4]);
        assert_eq!(ids(&queue.take(5)), [2]);
        assert!(queue.take(5).is_empty());
        // The same minute again: planned already, nothing logged or queued.
        let again = runtime().block_on(queue.claim("2030-01-01 10:00", vec![job(5, "a", "/x")], limits, |_: &[Job]| panic!("logged")));
        assert!(matches!(again, Ok((MinuteClaim::AlreadyPlanned(last), dropped)) if last == "2030-01-01 10:00" && dropped.is_empty()));
        assert_eq!(queue.len(), 0);
        assert_eq!(result(&queue, 3, "a"), Some(("dropped: user queue full".into(), true)));
        assert_eq!(result(&queue, 1, "a"), Some(("queued".into(), false)));
        assert_eq!(queue.watermark().unwrap(), Some(jiff::civil::date(2030, 1, 1).at(10, 0, 0, 0)), "the ledger's last minute");
        let records = crate::history::query(&queue.path, "a", None, None).unwrap();
        let dropped = records.iter().find(|r| r.id == "3").unwrap();
        let end = dropped.finished.as_deref().unwrap();
        assert!(jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S%.f", end).is_ok(), "dropped at a time: {end}");
    }

    #[test]
    fn an_activation_past_its_owner_s_limit_is_refused_unrecorded_and_past_the_total_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let queue = queue(dir.path());
        let limits = Limits { total: 2, per_owner: 1 };
        let mut logged = 0;
        assert!(queue.activate(job(1, "a", "/x"), limits, |_: &Job| logged += 1).unwrap().is_empty());
        let refused = queue.activate(job(2, "a", "/x"), limits, |_: &Job| logged += 1).unwrap_err();
        assert_eq!(refused, "user (a) has 1 job(s) queued, as many as max_queued_jobs_per_user allows: event (/x) not activated");
        assert_eq!(logged, 1, "a refused activation is not logged as queued");
        assert!(queue.activate(job(3, "b", "/x"), limits, |_: &Job| logged += 1).unwrap().is_empty());
        let dropped = queue.activate(job(4, "c", "/x"), limits, |_: &Job| logged += 1).unwrap();
        assert_eq!(dropped.iter().map(|(j, r)| (j.id.0, *r)).collect::<Vec<_>>(), [(4, Refusal::Full(2))]);
        assert_eq!((queue.len(), logged), (2, 3));
        assert_eq!(result(&queue, 2, "a"), None);
        assert_eq!(result(&queue, 4, "c"), Some(("dropped: queue full".into(), true)));
    }

    #[test]
    fn a_job_s_end_is_recorded_and_what_it_chained_queued_under_the_limits() {
        let dir = tempfile::tempdir().unwrap();
        let queue = queue(dir.path());
        let limits = Limits { total: 10, per_owner: 1 };
        assert!(queue.activate(job(1, "a", "/x"), limits, |_: &Job| {}).unwrap().is_empty());
        let parent = queue.take(1).remove(0);
        queue.started(&parent);
        let end = Change::ended(parent.id.to_string(), now(), "success".into(), "/n:/m".into());
        let dropped = queue.finish(end, vec![job(2, "a", "/n"), job(3, "a", "/m")], limits);
        assert_eq!(dropped.iter().map(|(j, r)| (j.id.0, *r)).collect::<Vec<_>>(), [(3, Refusal::OwnerFull(1))]);
        assert_eq!(ids(&queue.take(5)), [2]);
        assert_eq!(result(&queue, 1, "a"), Some(("success".into(), true)));
        assert_eq!(result(&queue, 3, "a"), Some(("dropped: user queue full".into(), true)));
    }

    /// The daemon's side, as settling asks it: jobs of owner `a` only, a
    /// lost job chains `/failover`.
    struct Known;

    impl Jobs for Known {
        fn rebuild(&self, record: &JobRecord) -> Option<Job> {
            let queued = SystemClock.now().checked_sub(jiff::SignedDuration::from_mins(30)).unwrap();
            let id = u64::from_str_radix(&record.id, 16).unwrap();
            (record.user == "a").then(|| Job { queued, ..job(id, "a", &record.event) })
        }
        fn lost(&self, job: &Job, why: Failure, again: bool) -> Vec<Job> {
            assert!(why.is_lost() && !again, "{why}");
            vec![crate::engine::Job { id: JobId(job.id.0 + 100), ..self::job(0, "a", "/failover") }]
        }
    }

    #[test]
    fn a_previous_run_s_running_jobs_are_lost_and_followed_and_its_queued_ones_run_when_recent() {
        let dir = tempfile::tempdir().unwrap();
        {
            let before = queue(dir.path());
            let limits = Limits { total: 10, per_owner: 10 };
            for (id, owner) in [(1, "a"), (2, "a"), (3, "b"), (4, "a")] {
                before.activate(job(id, owner, "/x"), limits, |_: &Job| {}).unwrap();
            }
            // 1 and 3 run when the daemon dies; 2 and 4 wait.
            for running in before.take(2) {
                before.started(&running);
            }
            before.close();
        }
        let queue = queue(dir.path());
        let dropped = queue.settle(&Known, Duration::from_secs(3600), Limits { total: 10, per_owner: 10 });
        assert!(dropped.is_empty());
        // 2 and 4 run again; 1's failover is queued; 3 is lost too, though its owner is gone.
        assert_eq!(ids(&queue.take(10)), [2, 4, 101]);
        assert_eq!(result(&queue, 1, "a"), Some((format!("failure: lost: {LOST}"), true)));
        assert_eq!(result(&queue, 3, "b"), Some((format!("failure: lost: {LOST}"), true)));
        let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
        assert!(
            log.contains("previous run settled: 2 job(s) lost while running, 2 queued job(s) run now, 0 too old or gone, not run"),
            "{log}"
        );
        // What was settled is not settled again; what was queued again still is.
        let next = self::queue(dir.path());
        assert!(next.settle(&Known, Duration::from_secs(3600), Limits::NONE).is_empty());
        let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
        assert!(log.contains("previous run settled: 0 job(s) lost while running, 3 queued job(s) run now, 0 too old or gone"), "{log}");
        // Queued too long ago: recorded as not run.
        let late = self::queue(dir.path());
        late.settle(&Known, Duration::ZERO, Limits::NONE);
        assert!(late.take(10).is_empty());
        assert_eq!(result(&late, 2, "a"), Some((format!("dropped: {NOT_RUN}"), true)));
        let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
        assert!(
            log.contains("previous run settled: 0 job(s) lost while running, 0 queued job(s) run now, 3 too old or gone, not run"),
            "{log}"
        );
    }
}
