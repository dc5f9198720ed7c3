//! The job queue: one type, two stores, chosen once at start-up. A single
//! node keeps its queue in memory, its ledger and history in SQLite
//! ([`local`]); a cluster node keeps all three in PostgreSQL, shared with
//! every node ([`shared`]). Everything the daemon does with jobs goes
//! through [`JobQueue`]: claiming a minute, queueing an activation or what
//! a job chained, taking jobs to run, ending them, settling what a
//! previous run or a dead node left, and answering history queries. This
//! file is the one place the store is matched; the rules of limits and
//! turns are [`crate::engine::queue`]'s, the same for both.

mod local;
pub(super) mod record;
mod shared;

use std::sync::Arc;
use std::time::Duration;

use crate::cluster::{Cluster, NodeState, Notice};
use crate::engine::queue::{Limits, Refusal};
use crate::engine::{Job, JobIds};
use crate::history::{Change, JobRecord, Retention};
use crate::outcome::Failure;

use super::Setup;
use super::journal::Log;
pub(super) use local::LocalQueue;
pub(super) use shared::SharedQueue;
pub(super) use shared::settings as cluster_settings;

/// The result of a queued job dropped because the scheduler stopped
/// before it ran, too long ago to run now.
pub const NOT_RUN: &str = "the scheduler stopped before it ran";

/// What the queue asks of the daemon: the job a record stands for
/// (against its owner's tree as loaded now), and the chain of a lost job.
pub(super) trait Jobs: Send + Sync {
    /// The job of `record` against its owner's tree now; none when the
    /// owner or the event is gone.
    fn rebuild(&self, record: &JobRecord) -> Option<Job>;
    /// The failure of `job`, lost for `why`, completed (its
    /// `failover_event`, or with `on_lost=rerun` the job once more unless
    /// `again`): what it chains, logged as queued.
    fn lost(&self, job: &Job, why: Failure, again: bool) -> Vec<Job>;
}

/// What became of a minute's claim.
#[derive(Debug)]
pub(super) enum MinuteClaim {
    /// The minute is the ledger's now; its jobs whose slot was free are
    /// queued, but for those `limits` dropped.
    Queued,
    /// The ledger had planned this minute or a later one (the one given).
    AlreadyPlanned(String),
    /// (A cluster.) This node does not lead: nothing was claimed.
    Fenced,
}

/// What a backend's claim of a minute gives: the claim, and the jobs the
/// limits dropped (logged and recorded by then), each with why.
type Claim = Result<(MinuteClaim, Vec<(Job, Refusal)>), String>;

/// The jobs of `jobs` whose slot was `free`.
fn free_of(jobs: Vec<Job>, free: Vec<bool>) -> Vec<Job> {
    jobs.into_iter().zip(free).filter_map(|(job, free)| free.then_some(job)).collect()
}

/// Logs the jobs the limits dropped, each with why.
fn say_dropped(log: &Log, dropped: &[(Job, Refusal)]) {
    for (job, refusal) in dropped {
        log.message(&job.owner, &refusal.dropped(&job.owner, &job.event), "error");
    }
}

/// The job queue and its store.
pub(super) enum JobQueue {
    /// A single node's.
    Local(Box<LocalQueue>),
    /// A cluster's, in its database.
    Shared(Arc<SharedQueue>),
}

/// What a cluster node's membership runs: its heartbeat and what other
/// nodes tell it.
pub(super) struct Membership {
    /// The node's side of the cluster.
    pub queue: Arc<SharedQueue>,
    /// Where the other nodes' notices arrive.
    pub notices: tokio::sync::mpsc::UnboundedReceiver<Notice>,
}

impl JobQueue {
    /// The queue of `setup`: a cluster's when its configuration names a
    /// database (which then holds every job: no SQLite history is opened),
    /// else a single node's on the history at `setup.history`.
    /// A cluster's database is migrated to this build's schema first (a
    /// schema this build does not know refuses the start); one that cannot
    /// be reached now is migrated by the heartbeat once it can.
    pub async fn open(setup: &Setup, log: &Log) -> anyhow::Result<(JobQueue, Option<Membership>)> {
        match shared::settings(&setup.config) {
            Some(settings) => {
                let (cluster, notices) = Cluster::new(settings);
                if cluster.prepare().await.map_err(anyhow::Error::msg)?.is_none() {
                    log.message("", "the cluster database cannot be reached at start-up: its schema is checked once it can", "warning");
                }
                let queue = Arc::new(SharedQueue::new(Arc::new(cluster), log.clone()));
                Ok((JobQueue::Shared(queue.clone()), Some(Membership { queue, notices })))
            }
            None => Ok((
                JobQueue::Local(Box::new(LocalQueue::open(&setup.history, super::configure::retention(&setup.config), log.clone())?)),
                None,
            )),
        }
    }

    /// The ids jobs start from: after the largest the history holds (a
    /// cluster node gets its own when it joins).
    pub fn ids(&self) -> anyhow::Result<JobIds> {
        match self {
            JobQueue::Local(local) => local.ids(),
            JobQueue::Shared(_) => Ok(JobIds::default()),
        }
    }

    /// The last minute the ledger planned, to plan from at start-up (a
    /// cluster's leader plans from its ledger's when it starts leading).
    pub fn watermark(&self) -> anyhow::Result<Option<jiff::civil::DateTime>> {
        match self {
            JobQueue::Local(local) => local.watermark(),
            JobQueue::Shared(_) => Ok(None),
        }
    }

    /// Whether this node plans minutes now (a cluster's leader only).
    pub fn may_plan(&self) -> bool {
        match self {
            JobQueue::Local(_) => true,
            JobQueue::Shared(shared) => shared.cluster().leading().is_some(),
        }
    }

    /// Claims `minute` (a ledger minute) for the clock jobs `jobs`: those
    /// whose slot was free are passed to `logged` (to log them as queued
    /// before any can be taken), then queued under `limits`, the dropped
    /// ones logged and recorded. An error has been logged once for the
    /// outage it belongs to.
    pub async fn claim(&self, minute: &str, jobs: Vec<Job>, limits: Limits, logged: impl FnOnce(&[Job])) -> Result<MinuteClaim, String> {
        let (claimed, dropped) = match self {
            JobQueue::Local(local) => local.claim(minute, jobs, limits, logged).await?,
            JobQueue::Shared(shared) => shared.claim(minute, jobs, limits, logged).await?,
        };
        self.say_dropped(&dropped);
        Ok(claimed)
    }

    /// Queues `job` (an activation), logged by `logged` before it can be
    /// taken; refused when its owner has `limits.per_owner` jobs queued
    /// (past the total it is dropped, logged and recorded).
    pub async fn activate(&self, job: Job, limits: Limits, logged: impl FnOnce(&Job)) -> Result<(), String> {
        let dropped = match self {
            JobQueue::Local(local) => local.activate(job, limits, logged),
            JobQueue::Shared(shared) => shared.activate(job, limits, logged).await,
        }?;
        self.say_dropped(&dropped);
        Ok(())
    }

    /// Marks `job` started (a cluster's job was marked when taken).
    pub fn started(&self, job: &Job) {
        if let JobQueue::Local(local) = self {
            local.started(job);
        }
    }

    /// Takes up to `count` jobs to run, in owners' turns.
    pub async fn take(&self, count: usize, jobs: &dyn Jobs) -> Vec<Job> {
        match self {
            JobQueue::Local(local) => local.take(count),
            JobQueue::Shared(shared) => shared.take(count, jobs).await,
        }
    }

    /// How long the dispatcher may wait for a wake-up before it looks for
    /// jobs again (none: it is woken whenever a job is queued).
    pub fn poll(&self) -> Option<Duration> {
        match self {
            JobQueue::Local(_) => None,
            JobQueue::Shared(_) => Some(shared::TAKE_POLL),
        }
    }

    /// Records a job's `end` and queues what it `chained` under `limits`
    /// (nothing when a cluster had taken the job for lost meanwhile).
    pub async fn finish(&self, end: Change, chained: Vec<Job>, limits: Limits) {
        let dropped = match self {
            JobQueue::Local(local) => local.finish(end, chained, limits),
            JobQueue::Shared(shared) => shared.finish(end, chained, limits).await,
        };
        self.say_dropped(&dropped);
    }

    /// Settles what a previous run left queued or running (a single node's
    /// start; a cluster's jobs are the database's, whose lost ones the
    /// heartbeat follows): call it once the trees are loaded, before the
    /// clock and the dispatcher start.
    pub fn settle(&self, jobs: &dyn Jobs, max_age: Duration, limits: Limits) {
        if let JobQueue::Local(local) = self {
            let dropped = local.settle(jobs, max_age, limits);
            self.say_dropped(&dropped);
        }
    }

    fn say_dropped(&self, dropped: &[(Job, Refusal)]) {
        say_dropped(self.log(), dropped);
    }

    fn log(&self) -> &Log {
        match self {
            JobQueue::Local(local) => local.log(),
            JobQueue::Shared(shared) => shared.log(),
        }
    }

    /// Jobs queued, as `hcron info` shows them (a cluster's: every node's;
    /// none when its database cannot say).
    pub async fn queued(&self) -> Option<usize> {
        match self {
            JobQueue::Local(local) => Some(local.len()),
            JobQueue::Shared(shared) => shared.queued().await,
        }
    }

    /// Jobs this process holds queued (a cluster node: none, they are the database's).
    pub fn held(&self) -> usize {
        match self {
            JobQueue::Local(local) => local.len(),
            JobQueue::Shared(_) => 0,
        }
    }

    /// `single`, `leader` or `follower`.
    pub fn role(&self) -> &'static str {
        match self {
            JobQueue::Local(_) => "single",
            JobQueue::Shared(shared) if shared.cluster().leading().is_some() => "leader",
            JobQueue::Shared(_) => "follower",
        }
    }

    /// The cluster's nodes; an error for a single node.
    pub async fn nodes(&self) -> Result<Vec<NodeState>, String> {
        match self {
            JobQueue::Local(_) => Err("this scheduler is a single node: no cluster_database is set".into()),
            JobQueue::Shared(shared) => {
                shared.cluster().nodes().await.map_err(|e| format!("cannot read the nodes from the cluster database: {e}"))
            }
        }
    }

    /// `user`'s jobs, as `hcron history` asks (optionally of one event,
    /// since a time), oldest first; a cluster's from every node.
    pub async fn history(&self, user: String, event: Option<String>, since: Option<String>) -> Result<Vec<JobRecord>, String> {
        match self {
            JobQueue::Local(local) => local.history(user, event, since).await,
            JobQueue::Shared(shared) => shared
                .cluster()
                .history(&user, event.as_deref(), since.as_deref())
                .await
                .map_err(|e| format!("cannot read the job history from the cluster database: {e}")),
        }
    }

    /// Whether this node may queue jobs now: a cluster node just started
    /// waits for its first heartbeat (up to the node timeout).
    pub async fn ready(&self) -> Result<(), String> {
        match self {
            JobQueue::Local(_) => Ok(()),
            JobQueue::Shared(shared) => shared.ready().await,
        }
    }

    /// Tells the other nodes of this node's changes of hosts' health (a
    /// single node has nobody to tell).
    pub async fn share_hosts(&self, changes: &[(String, crate::exec::health::Change)]) {
        if let JobQueue::Shared(shared) = self {
            shared.share_hosts(changes).await;
        }
    }

    /// Tells the other nodes that `user`'s tree was reloaded here.
    pub async fn reloaded(&self, user: &str) -> Result<(), String> {
        match self {
            JobQueue::Local(_) => Ok(()),
            JobQueue::Shared(shared) => shared.cluster().reload(user).await.map_err(|e| e.to_string()),
        }
    }

    /// What the history keeps from now on (a cluster's leader applies the
    /// configuration's at its hourly prune).
    pub fn retain(&self, retention: Retention) {
        if let JobQueue::Local(local) = self {
            local.retain(retention);
        }
    }

    /// The probe gate of host health: in a cluster one node probes a host.
    pub fn probes(&self) -> Option<Arc<dyn crate::exec::ProbeGate>> {
        match self {
            JobQueue::Local(_) => None,
            JobQueue::Shared(shared) => Some(shared.cluster().clone() as Arc<dyn crate::exec::ProbeGate>),
        }
    }

    /// Where notifications wait for the sender: the local spool, and in a
    /// cluster the database's, which any node delivers.
    pub fn mail_store(&self, spool: crate::mail::Spool) -> crate::mail::Store {
        match self {
            JobQueue::Local(_) => crate::mail::Store::Local(spool),
            JobQueue::Shared(shared) => crate::mail::Store::Shared(spool, shared.cluster().clone()),
        }
    }

    /// A clean stop: a single node writes what it recorded; a cluster node
    /// gives up its leadership and leaves.
    pub async fn close(&self) {
        match self {
            JobQueue::Local(local) => local.close(),
            JobQueue::Shared(shared) => shared.cluster().leave().await,
        }
    }
}
