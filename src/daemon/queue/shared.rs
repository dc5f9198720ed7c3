//! A cluster node's queue: every job is a row of the cluster's database,
//! queued by whichever node claimed or activated it, taken by any live
//! node in owners' turns, ended by the node that ran it (`cluster/` is the
//! database's side). A database failure is logged once per outage, by the
//! first task to meet it; the heartbeat says when it is back.

use std::sync::Arc;
use std::time::Duration;

use super::record::record_of;
use super::{Jobs, MinuteClaim};
use crate::clock::{Clock, SystemClock, log_datetime};
use crate::cluster::lease::Timing;
use crate::cluster::{Cluster, Lost, Settings};
use crate::engine::Job;
use crate::engine::queue::{Limits, Refusal};
use crate::history::{Change, Claim};
use crate::outcome::{Failure, JobResult};

use super::super::journal::Log;

/// How often a cluster node looks for queued jobs when nothing woke it.
pub const TAKE_POLL: Duration = Duration::from_millis(250);

/// The first wait before a job's end is written again after a failure; it doubles up to 10 s.
const END_RETRY: Duration = Duration::from_secs(1);

/// The cluster settings of `config`, if it names a database.
pub fn settings(config: &crate::config::Config) -> Option<Settings> {
    let url = config.cluster_database.as_ref()?.0.clone();
    Some(Settings {
        url,
        name: config.node_name.clone().unwrap_or_else(crate::host::short_name),
        timing: Timing { interval: Duration::from_secs_f64(config.heartbeat_interval), timeout: config.node_timeout() },
    })
}

/// A cluster node's queue.
pub struct SharedQueue {
    cluster: Arc<Cluster>,
    log: Log,
}

impl SharedQueue {
    /// The queue of `cluster`'s node.
    pub fn new(cluster: Arc<Cluster>, log: Log) -> SharedQueue {
        SharedQueue { cluster, log }
    }

    /// The node's side of the cluster.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    pub(super) fn log(&self) -> &Log {
        &self.log
    }

    /// A call to the database failed: said once per outage, by the first
    /// task to meet it.
    pub fn failed(&self, error: &crate::cluster::Error) {
        if error.is_news() {
            let text = format!(
                "the cluster database failed: {error}; running jobs go on, nothing new starts until it answers again (retrying with back-off)"
            );
            self.log.message("", &text, "error");
        }
    }

    /// Claims `minute` under this node's epoch; its jobs are queued in the
    /// same transaction.
    pub async fn claim(&self, minute: &str, jobs: Vec<Job>, limits: Limits, logged: impl FnOnce(&[Job])) -> super::Claim {
        let Some(epoch) = self.cluster.leading() else { return Ok((MinuteClaim::Fenced, Vec::new())) };
        let records: Vec<_> = jobs.iter().map(record_of).collect();
        let (claim, dropped) = match self.cluster.claim(epoch, minute, &records, &limits).await {
            Ok(claimed) => claimed,
            Err(error) => {
                self.failed(&error);
                return Err(error.to_string());
            }
        };
        match claim {
            Claim::Claimed(free) => {
                let claimed = super::free_of(jobs, free);
                logged(&claimed);
                Ok((MinuteClaim::Queued, matched(claimed, dropped)))
            }
            Claim::AlreadyPlanned(last) => Ok((MinuteClaim::AlreadyPlanned(last), Vec::new())),
            Claim::Fenced => {
                // Not the leader until a beat says so again: the minute loop waits.
                self.cluster.fenced(epoch);
                Ok((MinuteClaim::Fenced, Vec::new()))
            }
        }
    }

    /// Waits for this node's first beat (up to the node timeout): job ids
    /// need its number.
    pub async fn ready(&self) -> Result<(), String> {
        let timeout = self.cluster.settings().timing.timeout;
        if self.cluster.alive_within(timeout).await {
            return Ok(());
        }
        let seconds = timeout.as_secs_f64();
        Err(format!("this node is not a live member of the cluster now (no heartbeat of its reached the database within {seconds:.1}s)"))
    }

    /// Queues an activation in the database.
    pub async fn activate(&self, job: Job, limits: Limits, logged: impl FnOnce(&Job)) -> Result<Vec<(Job, Refusal)>, String> {
        match self.cluster.activate(&record_of(&job), &limits).await {
            Ok(Ok(dropped)) => {
                logged(&job);
                Ok(matched(vec![job], dropped))
            }
            Ok(Err(refusal)) => Err(refusal.refused(&job.owner, &job.event)),
            Err(error) => {
                self.failed(&error);
                Err(format!("cannot queue the job in the cluster database: {error}"))
            }
        }
    }

    /// How long a job whose event no node taking it knows stays queued
    /// (from the first time a node gave it back): a reload reaches every
    /// live node within a beat, so three node timeouts leave room for a
    /// node whose tree lags; past it the job fails.
    fn lag_bound(&self) -> Duration {
        self.cluster.settings().timing.timeout * 3
    }

    /// Takes up to `count` queued jobs; one whose event this node has not
    /// loaded (its tree lags behind a reload, or the event is gone) goes
    /// back to the queue for a node that knows it, and fails once
    /// [`SharedQueue::lag_bound`] has passed since it first went back.
    pub async fn take(&self, count: usize, jobs: &dyn Jobs) -> Vec<Job> {
        let records = match self.cluster.take(count, &now()).await {
            Ok(records) => records,
            Err(error) => {
                self.failed(&error);
                return Vec::new();
            }
        };
        let mut taken = Vec::new();
        for record in records {
            match jobs.rebuild(&record) {
                Some(job) => taken.push(job),
                None => self.unknown(&record).await,
            }
        }
        taken
    }

    /// A job taken whose event this node does not know: back to the queue,
    /// or failed once the bound has passed.
    async fn unknown(&self, record: &crate::history::JobRecord) {
        let (name, bound) = (&self.cluster.settings().name, self.lag_bound());
        let what = format!("job {} of event ({}) of user ({})", record.id, record.event, record.user);
        // The job is this node's until the database has it back.
        match self.retried(|| self.cluster.give_back(record, bound)).await {
            Some(first) => {
                if first {
                    let text = format!(
                        "{what} is not loaded on node {name}: back in the queue for a node that knows it (it fails if none takes it within {:.1}s)",
                        bound.as_secs_f64()
                    );
                    self.log.message(&record.user, &text, "warning");
                }
            }
            None => {
                let why = JobResult::Failure(Failure::Other(format!(
                    "event ({}) of user ({}) is not loaded on node {name}, nor on any node that took the job within {:.1}s",
                    record.event,
                    record.user,
                    bound.as_secs_f64()
                )));
                self.log.message(&record.user, &format!("{what}: {why}"), "error");
                self.end(Change::ended(record.id.clone(), now(), why, String::new()), Vec::new(), &Limits::NONE).await;
            }
        }
    }

    /// Records a job's end and queues what it chained.
    pub async fn finish(&self, end: Change, chained: Vec<Job>, limits: Limits) -> Vec<(Job, Refusal)> {
        let records = chained.iter().map(record_of).collect();
        let dropped = self.end(end, records, &limits).await;
        matched(chained, dropped)
    }

    /// Writes `end` and queues `chained` in the database, retrying while it
    /// cannot be reached; the ids of the chained jobs `limits` dropped.
    async fn end(&self, end: Change, chained: Vec<crate::history::JobRecord>, limits: &Limits) -> Vec<(String, Refusal)> {
        match self.retried(|| self.cluster.finish(&end, &chained, limits)).await {
            Some(dropped) => dropped,
            None => {
                let Change::Finished { id, .. } = &end else { return Vec::new() };
                let text =
                    format!("job {id} ended after this node was taken for dead: its end is not recorded and nothing it chained is queued");
                self.log.message("", &text, "warning");
                Vec::new()
            }
        }
    }

    /// `operation` until it reaches the database, with back-off (a job is
    /// this node's to end until the database has its end).
    async fn retried<T, F: Future<Output = Result<T, crate::cluster::Error>>>(&self, operation: impl Fn() -> F) -> T {
        let mut delay = END_RETRY;
        loop {
            match operation().await {
                Ok(value) => return value,
                Err(error) => {
                    self.failed(&error);
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    /// Shares this node's changes of hosts' health with the other nodes.
    pub async fn share_hosts(&self, changes: &[(String, crate::exec::health::Change)]) {
        for (host, change) in changes {
            let offline_for = match change {
                crate::exec::health::Change::Offline(until) => {
                    Some(until.duration_since(jiff::Timestamp::now()).try_into().unwrap_or(Duration::ZERO))
                }
                crate::exec::health::Change::Online => None,
            };
            if let Err(error) = self.cluster.host_changed(host, offline_for).await {
                self.failed(&error);
            }
        }
    }

    /// Jobs queued in the cluster; none when the database cannot say.
    pub async fn queued(&self) -> Option<usize> {
        self.cluster.queued().await.ok()
    }

    /// Jobs lost with a dead node: each one's failure is completed here,
    /// as a single node settles a previous run, so that its
    /// `failover_event` (or, with `on_lost=rerun`, the job once more) runs
    /// on a live node.
    pub async fn follow_lost(&self, lost: Vec<Lost>, jobs: &dyn Jobs, limits: Limits) {
        let mut chained = Vec::new();
        for Lost { record, again } in &lost {
            let Some(why) = record.result.failure() else { continue };
            let text = format!("job {} of event ({}) {why}", record.id, record.event);
            self.log.message(&record.user, &text, "warning");
            let Some(job) = jobs.rebuild(record) else { continue };
            chained.extend(jobs.lost(&job, why.clone(), *again));
        }
        let records = chained.iter().map(record_of).collect();
        match self.cluster.queue(records, &limits).await {
            Ok(dropped) => super::say_dropped(&self.log, &matched(chained, dropped)),
            Err(error) => {
                let text = format!("cannot queue what {} lost job(s) chained: {error}", lost.len());
                self.log.message("", &text, "error");
            }
        }
    }
}

/// The jobs of `jobs` among `dropped` (by id), each with why.
fn matched(jobs: Vec<Job>, dropped: Vec<(String, Refusal)>) -> Vec<(Job, Refusal)> {
    if dropped.is_empty() {
        return Vec::new();
    }
    let mut why: std::collections::HashMap<String, Refusal> = dropped.into_iter().collect();
    jobs.into_iter().filter_map(|job| why.remove(&job.id.to_string()).map(|refusal| (job, refusal))).collect()
}

/// The time now, as the cluster's records write it.
fn now() -> String {
    log_datetime(&SystemClock.now().datetime())
}
