//! Several schedulers on one PostgreSQL database: each node registers and
//! beats; one leads (a row with a holder, an epoch and an expiry by the
//! database's clock) and claims each minute's slots, fenced by its epoch;
//! every node takes queued jobs (`FOR UPDATE SKIP LOCKED`) up to its own
//! `max_activated_events`. This module is the database's side; the daemon's
//! side (the beat task, who plans, who takes) is `daemon/node.rs`.

pub mod lease;
mod sql;

pub use crate::control::NodeState;
pub use sql::SCHEMA_VERSION;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio_postgres::{Client, NoTls};

use crate::engine::queue::{Limits, Refusal};
use crate::history::{Change, Claim, JobRecord};
use crate::outcome::JobResult;
use lease::{Lease, Timing};

/// Jobs that the queue's limits dropped, by id, each with why.
pub type Dropped = Vec<(String, Refusal)>;

/// What a node is started with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The database (`cluster_database`).
    pub url: String,
    /// The node's name (`node_name`).
    pub name: String,
    /// Heartbeat interval and node timeout.
    pub timing: Timing,
}

/// What a beat found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Beat {
    /// The node is (again) a member under a new id and number; `last_id`
    /// is the largest job id the database holds. `again`: it had been
    /// declared dead (a pause, a lost connection) and everything it held
    /// is gone. `other_zones`: live nodes (name, zone) whose time zone is
    /// not this node's (minutes are local civil times: all must share one).
    Registered { number: u64, last_id: Option<u64>, again: bool, other_zones: Vec<(String, String)> },
    /// Beaten: nothing changed.
    Alive,
}

/// The node's leadership after a beat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leadership {
    /// It leads under `epoch`; `taken`: since this beat, with `watermark`
    /// the last minute the ledger planned (a ledger minute).
    Leading { epoch: i64, taken: bool, watermark: Option<String> },
    /// Another node leads (or nobody, for a moment); `lost`: this node led
    /// until this beat.
    Following { lost: bool },
}

/// What one heartbeat found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Membership.
    pub beat: Beat,
    /// Leadership.
    pub leadership: Leadership,
    /// Nodes this beat declared dead, by name.
    pub buried: Vec<String>,
    /// Jobs that were running on dead nodes, now ended as lost (their
    /// `result` says so): the caller follows their failover, or runs them
    /// again.
    pub lost: Vec<Lost>,
    /// The database failed since the last beat that reached it: it is back.
    pub recovered: bool,
}

/// A job lost with its node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lost {
    /// Its record, ended.
    pub record: JobRecord,
    /// It was itself a job run again after a loss: it is not run again.
    pub again: bool,
}

/// A node's membership, as this process knows it.
#[derive(Debug)]
struct Member {
    id: String,
    registered: bool,
    lease: Lease,
    epoch: Option<i64>,
    /// Since when every beat succeeded: only a node that has beaten
    /// through a whole timeout declares others dead, so that after an
    /// outage of the database (when nobody could beat) the first node back
    /// does not take every other for dead.
    beating_since: Option<Instant>,
}

/// What another node (or this one) told every node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Jobs were queued: worth taking at once.
    Jobs,
    /// A node was asked to reload a user's tree, or this node listens
    /// anew and may have missed such a notice: [`Cluster::reloads_asked`]
    /// says which.
    Reloads,
}

/// One node's connection to the cluster.
pub struct Cluster {
    settings: Settings,
    /// Where the heartbeat connection's notifications go.
    notices: tokio::sync::mpsc::UnboundedSender<Notice>,
    member: Mutex<Member>,
    /// The heartbeat's own connection, so that work never delays a beat.
    beat_client: tokio::sync::Mutex<Option<Client>>,
    /// Claims, queueing, taking jobs, mail, queries.
    work_client: tokio::sync::Mutex<Option<Client>>,
    /// Ending jobs, in batches.
    end_client: tokio::sync::Mutex<Option<Client>>,
    /// Ends waiting for the next batch.
    ending: Mutex<Vec<Ending>>,
    /// No failure since the last heartbeat that reached the database: an
    /// outage is said once in the log, by whoever meets it first.
    reachable: std::sync::atomic::AtomicBool,
    /// Told at every beat that renewed the lease.
    beaten: tokio::sync::Notify,
    /// When this process made the node: reloads asked since then are read.
    made: Instant,
    /// The last reload read ([`Cluster::reloads_asked`]); none before the first.
    reloads_read: tokio::sync::Mutex<Option<i64>>,
}

/// A job's end waiting to be written.
struct Ending {
    end: Change,
    chained: Vec<JobRecord>,
    limits: Limits,
    reply: tokio::sync::oneshot::Sender<Result<Option<Dropped>, Error>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("name", &self.settings.name).field("member", &self.member).finish()
    }
}

impl Cluster {
    /// A node that has not reached the database yet, and where what other
    /// nodes tell it arrives (once its heartbeat connection listens).
    pub fn new(settings: Settings) -> (Cluster, tokio::sync::mpsc::UnboundedReceiver<Notice>) {
        let (notices, received) = tokio::sync::mpsc::unbounded_channel();
        let cluster = Cluster {
            settings,
            notices,
            member: Mutex::new(Member { id: new_id(), registered: false, lease: Lease::default(), epoch: None, beating_since: None }),
            beat_client: tokio::sync::Mutex::new(None),
            work_client: tokio::sync::Mutex::new(None),
            end_client: tokio::sync::Mutex::new(None),
            ending: Mutex::new(Vec::new()),
            reachable: std::sync::atomic::AtomicBool::new(true),
            beaten: tokio::sync::Notify::new(),
            made: Instant::now(),
            reloads_read: tokio::sync::Mutex::new(None),
        };
        (cluster, received)
    }

    /// The node's settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn member(&self) -> std::sync::MutexGuard<'_, Member> {
        self.member.lock().expect("never poisoned: nothing panics under it")
    }

    /// This node's id now (a new one after it was declared dead).
    pub fn id(&self) -> String {
        self.member().id.clone()
    }

    /// The epoch this node leads under, if it does.
    pub fn leading(&self) -> Option<i64> {
        self.member().epoch
    }

    /// Whether the node's lease holds by its own monotonic clock: past it,
    /// it starts nothing (others may have declared it dead).
    pub fn alive(&self) -> bool {
        self.member().lease.holds(Instant::now())
    }

    /// Whether the node is alive now or becomes so within `bound` (a node
    /// just started has not beaten yet; one whose database is down stays
    /// dead).
    pub async fn alive_within(&self, bound: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + bound;
        loop {
            let beaten = self.beaten.notified();
            tokio::pin!(beaten);
            beaten.as_mut().enable();
            if self.alive() {
                return true;
            }
            if tokio::time::timeout_at(deadline, beaten).await.is_err() {
                return self.alive();
            }
        }
    }

    /// The error of a failed call: news when it is the first since the
    /// database last answered a beat (whoever meets it says so in the log).
    fn failed(&self, kind: ErrorKind, message: String) -> Error {
        let news = self.reachable.swap(false, std::sync::atomic::Ordering::Relaxed);
        Error { kind, message, news }
    }

    /// Stops leading under `epoch` (a claim found it fenced).
    pub fn fenced(&self, epoch: i64) {
        let mut member = self.member();
        if member.epoch == Some(epoch) {
            member.epoch = None;
        }
    }

    /// One heartbeat, with `running` jobs: registers the node when it is not
    /// a member, beats, takes or renews the leadership, and declares dead
    /// the nodes past their timeout (ending their running jobs as lost). An
    /// error (the database cannot be reached) leaves the lease to run out.
    pub async fn beat(&self, running: usize, now: &str) -> Result<Report, Error> {
        let sent = Instant::now();
        let timeout = self.settings.timing.timeout;
        let mut guard = self.beat_client.lock().await;
        let listens_anew = guard.as_ref().is_none_or(Client::is_closed);
        let result = self
            .within(timeout, async {
                let client: &mut Client = connected(&mut guard, &self.settings, timeout, Some(&self.notices)).await?;
                let (id, registered, may_bury) = {
                    let member = self.member();
                    (member.id.clone(), member.registered, member.beating_since.is_some_and(|since| since.elapsed() >= timeout))
                };
                let beat = if !registered {
                    self.register(client, &id, false).await?
                } else if client.execute(sql::BEAT, &[&id, &(running as i32)]).await? == 0 {
                    let id = {
                        let mut member = self.member();
                        member.lease.lost();
                        member.registered = false;
                        member.id = new_id();
                        member.id.clone()
                    };
                    self.register(client, &id, true).await?
                } else {
                    Beat::Alive
                };
                let id = self.member().id.clone();
                let lease_ms = timeout.as_millis() as f64;
                let epoch: Option<i64> = client.query_opt(sql::LEAD, &[&id, &lease_ms]).await?.map(|row| row.get(0));
                let watermark: Option<String> = match epoch {
                    Some(_) => client.query_opt(sql::WATERMARK, &[]).await?.map(|row| row.get(0)),
                    None => None,
                };
                let (mut buried, mut lost) = (Vec::new(), Vec::new());
                if may_bury {
                    buried = client.query(sql::BURY, &[&id]).await?.iter().map(|row| row.get(0)).collect();
                    let (before, after) = lost_with_node();
                    lost = client
                        .query(sql::LOSE, &[&now, &crate::outcome::LOST_LIKE, &before, &after])
                        .await?
                        .iter()
                        .map(|row| Lost { record: JobRecord { result: JobResult::parse(row.get(9)), ..taken(row) }, again: row.get(10) })
                        .collect();
                }
                Ok::<_, Failure>((beat, epoch, watermark, buried, lost))
            })
            .await;
        let (beat, epoch, watermark, buried, lost) = match result {
            Ok(done) => done,
            Err(error) => {
                *guard = None;
                self.member().beating_since = None;
                return Err(error);
            }
        };
        let recovered = !self.reachable.swap(true, std::sync::atomic::Ordering::Relaxed);
        let mut member = self.member();
        member.lease.renewed(sent, &self.settings.timing);
        member.beating_since.get_or_insert(sent);
        let before = member.epoch;
        member.epoch = epoch;
        self.beaten.notify_waiters();
        if listens_anew {
            // What was asked while nothing listened here is in the table.
            let _ = self.notices.send(Notice::Reloads);
        }
        let leadership = match epoch {
            Some(epoch) => Leadership::Leading { epoch, taken: before != Some(epoch), watermark },
            None => Leadership::Following { lost: before.is_some() },
        };
        Ok(Report { beat, leadership, buried, lost, recovered })
    }

    /// At start-up: brings the database's schema to this build's version
    /// (once, whichever nodes start together); an error when the schema is
    /// one this build does not know (a newer build made it), `Ok(None)`
    /// when the database cannot be reached now (the heartbeat migrates
    /// once it can), else the version found.
    pub async fn prepare(&self) -> Result<Option<i32>, Error> {
        let mut slot = None;
        let timeout = self.settings.timing.timeout;
        let result = tokio::time::timeout(timeout, async {
            let client = connected(&mut slot, &self.settings, timeout, None).await?;
            migrate(client).await
        })
        .await;
        match result {
            Ok(Ok(found)) => Ok(Some(found)),
            Ok(Err(Failure::Version(found))) => Err(Error { kind: ErrorKind::Version(found), message: version_message(found), news: true }),
            Ok(Err(Failure::Database(_))) | Err(_) => Ok(None),
        }
    }

    /// What `hcron-scheduler --check-config` says of the database: its
    /// schema version (none: new, or made before versions were kept) and
    /// its live nodes, the leader marked; read only.
    pub async fn survey(&self) -> Result<(Option<i32>, Vec<String>), Error> {
        let mut slot = None;
        let timeout = self.settings.timing.timeout;
        self.within(timeout, async {
            let client = connected(&mut slot, &self.settings, timeout, None).await?;
            let version = match client.query_opt("SELECT to_regclass('hcron_schema') IS NOT NULL", &[]).await?.map(|row| row.get(0)) {
                Some(true) => client.query_opt(sql::VERSION, &[]).await?.map(|row| row.get(0)),
                _ => None,
            };
            let live = match client.query_opt("SELECT to_regclass('hcron_nodes') IS NOT NULL", &[]).await?.map(|row| row.get(0)) {
                Some(true) => client.query(sql::LIVE_NODES, &[]).await?.iter().map(|row| row.get(0)).collect(),
                _ => Vec::new(),
            };
            Ok::<_, Failure>((version, live))
        })
        .await
    }

    /// Migrates the schema if needed and registers `id`.
    async fn register(&self, client: &mut Client, id: &str, again: bool) -> Result<Beat, Failure> {
        migrate(client).await?;
        let timeout_ms = self.settings.timing.timeout.as_millis() as i64;
        let zone = time_zone();
        let number: i32 = client.query_one(sql::REGISTER, &[&id, &self.settings.name, &timeout_ms, &zone]).await?.get(0);
        let last_id: Option<String> = client.query_opt(sql::LAST_ID, &[]).await?.map(|row| row.get(0));
        let other_zones = client.query(sql::OTHER_ZONES, &[&id, &zone]).await?.iter().map(|row| (row.get(0), row.get(1))).collect();
        self.member().registered = true;
        Ok(Beat::Registered {
            number: number as u64,
            last_id: last_id.and_then(|id| u64::from_str_radix(&id, 16).ok()),
            again,
            other_zones,
        })
    }

    /// Claims `minute`'s slots for the clock jobs `jobs` under `epoch`, in
    /// one transaction with their records (queued under `limits`, or
    /// dropped) and the watermark (see ARCHITECTURE.md).
    pub async fn claim(&self, epoch: i64, minute: &str, jobs: &[JobRecord], limits: &Limits) -> Result<(Claim, Dropped), Error> {
        let id = self.id();
        self.work(async move |client: &mut Client| {
            let transaction = client.transaction().await?;
            if transaction.query_opt(sql::FENCE, &[&id, &epoch]).await?.is_none() {
                return Ok((Claim::Fenced, Vec::new()));
            }
            if let Some(last) = transaction.query_opt(sql::WATERMARK, &[]).await?.map(|row| row.get::<_, String>(0))
                && last.as_str() >= minute
            {
                return Ok((Claim::AlreadyPlanned(last), Vec::new()));
            }
            let column = |f: fn(&JobRecord) -> &String| jobs.iter().map(f).cloned().collect::<Vec<String>>();
            let (owners, events, ids) = (column(|j| &j.user), column(|j| &j.event), column(|j| &j.id));
            let claimed: std::collections::HashSet<String> = transaction
                .query(sql::CLAIM_SLOTS, &[&owners, &events, &minute, &ids, &epoch, &id])
                .await?
                .into_iter()
                .map(|row| row.get(0))
                .collect();
            let free: Vec<bool> = jobs.iter().map(|j| claimed.contains(&j.id)).collect();
            let records: Vec<JobRecord> = jobs.iter().filter(|j| claimed.contains(&j.id)).cloned().collect();
            let dropped = queue(&transaction, &records, limits).await?;
            transaction.execute(sql::ADVANCE, &[&minute, &epoch]).await?;
            transaction.commit().await?;
            Ok((Claim::Claimed(free), dropped))
        })
        .await
    }

    /// Queues `jobs` for any node to take, under `limits` (those past them
    /// recorded as dropped, and returned).
    pub async fn queue(&self, jobs: Vec<JobRecord>, limits: &Limits) -> Result<Dropped, Error> {
        self.work(async move |client: &mut Client| {
            let transaction = client.transaction().await?;
            let dropped = queue(&transaction, &jobs, limits).await?;
            transaction.commit().await?;
            Ok(dropped)
        })
        .await
    }

    /// Queues an activation: refused (nothing recorded) when its owner has
    /// as many jobs queued as `limits` allow; past the total it is dropped.
    pub async fn activate(&self, job: &JobRecord, limits: &Limits) -> Result<Result<Dropped, Refusal>, Error> {
        self.work(async move |client: &mut Client| {
            let transaction = client.transaction().await?;
            let (_, counts) = queued_counts(&transaction, std::slice::from_ref(job)).await?;
            if let Err(refusal) = limits.owner_room(counts.get(&job.user).copied().unwrap_or(0)) {
                return Ok(Err(refusal));
            }
            let dropped = queue(&transaction, std::slice::from_ref(job), limits).await?;
            transaction.commit().await?;
            Ok(Ok(dropped))
        })
        .await
    }

    /// Takes up to `count` queued jobs in owners' turns, marking them
    /// running on this node since `started` (their queued records are
    /// returned); none when the node's lease has run out.
    pub async fn take(&self, count: usize, started: &str) -> Result<Vec<JobRecord>, Error> {
        if count == 0 || !self.alive() {
            return Ok(Vec::new());
        }
        let id = self.id();
        self.work(async move |client: &mut Client| {
            let rows = client.query(sql::TAKE, &[&id, &(count as i64), &started]).await?;
            Ok(rows.iter().map(|row| JobRecord { result: JobResult::Running, ..taken(row) }).collect())
        })
        .await
    }

    /// Gives `job`, taken by this node, back to the queue for another node
    /// (this one does not know its event yet): `Some(first)` when given
    /// back, `first` the first time a node did; none when the first time
    /// was more than `bound` ago (the job is still this node's, to fail).
    pub async fn give_back(&self, job: &JobRecord, bound: Duration) -> Result<Option<bool>, Error> {
        let (id, seconds) = (self.id(), bound.as_secs_f64());
        self.work(async move |client: &mut Client| {
            let transaction = client.transaction().await?;
            let first = transaction.query_opt(sql::GIVE_BACK, &[&job.id, &id, &seconds]).await?.map(|row| row.get(0));
            if first.is_some() {
                transaction.execute(sql::JOBS_QUEUED, &[]).await?;
            }
            transaction.commit().await?;
            Ok(first)
        })
        .await
    }

    /// Records `end` (a [`Change::Finished`]) and queues what the job
    /// chained under `limits`, in one transaction: those dropped are
    /// returned; none when the job was no longer this node's (declared
    /// lost meanwhile): then nothing is queued. Ends that come together are
    /// written together (a group commit: whoever gets the connection writes
    /// every end waiting), so a node ending thousands of jobs a minute
    /// spends a transaction per batch, not per job.
    pub async fn finish(&self, end: &Change, chained: &[JobRecord], limits: &Limits) -> Result<Option<Dropped>, Error> {
        if !matches!(end, Change::Finished { .. }) {
            return Err(Error { kind: ErrorKind::Query, message: "not a job's end".into(), news: false });
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        let ending = Ending { end: end.clone(), chained: chained.to_vec(), limits: *limits, reply };
        self.ending.lock().expect("never poisoned").push(ending);
        {
            let mut client = self.end_client.lock().await;
            let batch = std::mem::take(&mut *self.ending.lock().expect("never poisoned"));
            if !batch.is_empty() {
                let id = self.id();
                let result = self.on(&mut client, async |client: &mut Client| end_all(client, &id, &batch).await).await;
                for (n, ending) in batch.into_iter().enumerate() {
                    let answer = result.as_ref().map(|(ended, dropped)| {
                        ended[n].then(|| dropped.iter().filter(|(id, _)| ending.chained.iter().any(|j| j.id == *id)).cloned().collect())
                    });
                    let _ = ending.reply.send(answer.map_err(Clone::clone));
                }
            }
        }
        answer.await.unwrap_or_else(|_| Err(Error { kind: ErrorKind::Query, message: "the end was never written".into(), news: false }))
    }

    /// The jobs of `owner` on every node, as `hcron history` asks
    /// (optionally of one event, since a time), oldest first.
    pub async fn history(&self, owner: &str, event: Option<&str>, since: Option<&str>) -> Result<Vec<JobRecord>, Error> {
        self.work(async move |client: &mut Client| {
            let rows = client.query(sql::HISTORY, &[&owner, &event, &since]).await?;
            Ok(rows
                .iter()
                .map(|row| JobRecord {
                    started: row.get(9),
                    finished: row.get(10),
                    host: row.get(11),
                    rv: row.get(12),
                    result: JobResult::parse(row.get(13)),
                    next: row.get(14),
                    exit_status: row.get(15),
                    stdout: row.get(16),
                    stderr: row.get(17),
                    node: row.get(18),
                    ..taken(row)
                })
                .collect())
        })
        .await
    }

    /// The cluster's nodes, alive or dead within the hour.
    pub async fn nodes(&self) -> Result<Vec<NodeState>, Error> {
        self.work(async move |client: &mut Client| {
            let rows = client.query(sql::NODES, &[]).await?;
            Ok(rows
                .iter()
                .map(|row| {
                    let (dead, leads): (bool, Option<bool>) = (row.get(4), row.get(5));
                    let leads = leads.unwrap_or(false) && !dead;
                    NodeState {
                        name: row.get(0),
                        id: row.get(1),
                        number: row.get(2),
                        role: if dead {
                            "dead"
                        } else if leads {
                            "leader"
                        } else {
                            "follower"
                        }
                        .into(),
                        beat_age: row.get(3),
                        epoch: leads.then(|| row.get(6)),
                        running: row.get(7),
                        started: row.get(8),
                    }
                })
                .collect())
        })
        .await
    }

    /// Puts a notification (`message`, opaque to the cluster) in the shared
    /// spool, first tried at `next_attempt` (Unix seconds).
    pub async fn spool_mail(&self, message: &str, next_attempt: i64) -> Result<(), Error> {
        self.work(async move |client: &mut Client| client.execute(sql::SPOOL_MAIL, &[&message, &next_attempt]).await.map(drop)).await
    }

    /// Takes the oldest notification due at `now` (Unix seconds) that no
    /// live node is delivering: its id and its message; none while this
    /// node's lease has run out.
    pub async fn take_mail(&self, now: i64) -> Result<Option<(i64, String)>, Error> {
        if !self.alive() {
            return Ok(None);
        }
        let id = self.id();
        let row = self.work(async move |client: &mut Client| client.query_opt(sql::TAKE_MAIL, &[&id, &now]).await).await?;
        Ok(row.map(|row| (row.get(0), row.get(1))))
    }

    /// Ends an attempt at notification `id`: delivered (`message` none),
    /// to try again at `next` as `message` now says, or refused for good
    /// (`next` none).
    pub async fn end_mail(&self, id: i64, message: Option<&str>, next: Option<i64>) -> Result<(), Error> {
        self.work(async move |client: &mut Client| match message {
            None => client.execute(sql::MAIL_DELIVERED, &[&id]).await.map(drop),
            Some(message) => client.execute(sql::MAIL_LATER, &[&id, &message, &next]).await.map(drop),
        })
        .await
    }

    /// When the earliest notification not failed is due (Unix seconds).
    pub async fn next_mail(&self) -> Result<Option<i64>, Error> {
        self.work(async move |client: &mut Client| Ok(client.query_one(sql::NEXT_MAIL, &[]).await?.get(0))).await
    }

    /// Tells every node to reload `user`'s tree (this one reloaded it already).
    pub async fn reload(&self, user: &str) -> Result<(), Error> {
        let id = self.id();
        self.work(async move |client: &mut Client| client.execute(sql::RELOAD, &[&id, &user]).await.map(drop)).await
    }

    /// The users whose reload other nodes asked since the last call, each
    /// once; the first call reads those asked since this node was made (a
    /// reload asked while it loaded its trees, before it listened).
    pub async fn reloads_asked(&self) -> Result<Vec<String>, Error> {
        let mut read = self.reloads_read.lock().await;
        let (id, lifetime) = (self.id(), self.made.elapsed().as_secs_f64());
        let since = *read;
        let (last, users) = self
            .work(async move |client: &mut Client| {
                let mark = match since {
                    Some(mark) => mark,
                    None => client.query_one(sql::RELOAD_MARK, &[&lifetime]).await?.get(0),
                };
                let rows = client.query(sql::RELOADS, &[&mark, &id]).await?;
                let last = rows.iter().map(|row| row.get::<_, i64>(1)).max().unwrap_or(mark);
                Ok((last, rows.iter().map(|row| row.get(0)).collect::<Vec<String>>()))
            })
            .await?;
        *read = Some(last);
        Ok(users)
    }

    /// Shares a change of a host's health: offline for `offline_for` from
    /// now (by the database's clock), or back (`None`).
    pub async fn host_changed(&self, host: &str, offline_for: Option<Duration>) -> Result<(), Error> {
        self.work(async move |client: &mut Client| match offline_for {
            Some(period) => client.execute(sql::HOST_OFFLINE, &[&host, &period.as_secs_f64()]).await.map(drop),
            None => client.execute(sql::HOST_ONLINE, &[&host]).await.map(drop),
        })
        .await
    }

    /// Every shared host record: the host, and how long it stays offline
    /// (`Some(None)`: offline, its period over, a probe due; `None`: online).
    pub async fn hosts(&self) -> Result<Vec<(String, Option<Option<Duration>>)>, Error> {
        self.work(async move |client: &mut Client| {
            let rows = client.query(sql::HOSTS, &[]).await?;
            Ok(rows
                .iter()
                .map(|row| {
                    let (remaining, offline): (Option<f64>, bool) = (row.get(1), row.get(2));
                    (row.get(0), offline.then(|| remaining.map(Duration::from_secs_f64)))
                })
                .collect())
        })
        .await
    }

    /// Jobs queued in the cluster, waiting for any node.
    pub async fn queued(&self) -> Result<usize, Error> {
        self.work(async move |client: &mut Client| Ok(client.query_one(sql::QUEUED, &[]).await?.get::<_, i64>(0).max(0) as usize)).await
    }

    /// Applies `retention` to the cluster's history (ended jobs older than
    /// its age, past its count per user; `before` is the oldest end kept,
    /// a local time as ends are written) and drops what no fence needs any
    /// more; the number of jobs deleted. The leader does it, hourly.
    pub async fn prune(&self, before: Option<String>, per_user: Option<usize>) -> Result<u64, Error> {
        self.work(async move |client: &mut Client| {
            let mut deleted = 0;
            if let Some(before) = &before {
                deleted += client.execute(sql::PRUNE_AGE, &[before]).await?;
            }
            if let Some(keep) = per_user {
                deleted += client.execute(sql::PRUNE_COUNT, &[&(keep as i64)]).await?;
            }
            client.batch_execute(sql::PRUNE_FENCES).await?;
            Ok(deleted)
        })
        .await
    }

    /// A clean stop: the leadership is given up and the node leaves, so
    /// that another leads at once.
    pub async fn leave(&self) {
        let id = self.id();
        let _ = self
            .work(async move |client: &mut Client| {
                client.execute(sql::RESIGN, &[&id]).await?;
                client.execute(sql::DEPART, &[&id]).await
            })
            .await;
    }

    /// Runs `operation` on the work connection (made if needed), within the
    /// node timeout; a failure drops the connection, to be made again.
    async fn work<T>(&self, operation: impl AsyncFnOnce(&mut Client) -> Result<T, tokio_postgres::Error>) -> Result<T, Error> {
        let mut guard = self.work_client.lock().await;
        self.on(&mut guard, operation).await
    }

    /// Runs `operation` on the connection in `slot` (made if needed), as [`Cluster::work`].
    async fn on<T>(
        &self,
        slot: &mut Option<Client>,
        operation: impl AsyncFnOnce(&mut Client) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, Error> {
        let timeout = self.settings.timing.timeout;
        let result = self
            .within(timeout, async {
                let client = connected(slot, &self.settings, timeout, None).await?;
                operation(client).await
            })
            .await;
        if result.is_err() {
            *slot = None;
        }
        result
    }
}

/// Writes the ends of `batch` (jobs run by node `node`) and queues what
/// the ended ones chained (under the newest ending's limits), in one
/// transaction; for each, whether it ended; and the chained jobs dropped.
async fn end_all(client: &mut Client, node: &str, batch: &[Ending]) -> Result<(Vec<bool>, Dropped), tokio_postgres::Error> {
    let ends: Vec<_> = batch
        .iter()
        .filter_map(|e| match &e.end {
            Change::Finished { id, at, host, rv, result, next, exit_status, stdout, stderr } => {
                Some((id, at, host, rv, result, next, exit_status, stdout, stderr))
            }
            _ => None,
        })
        .collect();
    let ids: Vec<&String> = ends.iter().map(|e| e.0).collect();
    let ats: Vec<&String> = ends.iter().map(|e| e.1).collect();
    let hosts: Vec<&Option<String>> = ends.iter().map(|e| e.2).collect();
    let rvs: Vec<&Option<i32>> = ends.iter().map(|e| e.3).collect();
    let results: Vec<String> = ends.iter().map(|e| e.4.to_string()).collect();
    let nexts: Vec<&String> = ends.iter().map(|e| e.5).collect();
    let statuses: Vec<&Option<i32>> = ends.iter().map(|e| e.6).collect();
    let stdouts: Vec<&Option<String>> = ends.iter().map(|e| e.7).collect();
    let stderrs: Vec<&Option<String>> = ends.iter().map(|e| e.8).collect();
    let transaction = client.transaction().await?;
    let ended: std::collections::HashSet<String> = transaction
        .query(sql::FINISH, &[&node, &ids, &ats, &hosts, &rvs, &results, &nexts, &statuses, &stdouts, &stderrs])
        .await?
        .into_iter()
        .map(|row| row.get(0))
        .collect();
    let ended: Vec<bool> = ids.iter().map(|id| ended.contains(*id)).collect();
    let chained: Vec<JobRecord> =
        batch.iter().zip(&ended).filter(|(_, ended)| **ended).flat_map(|(e, _)| e.chained.iter().cloned()).collect();
    let limits = batch.last().map_or(Limits::NONE, |e| e.limits);
    let dropped = queue(&transaction, &chained, &limits).await?;
    transaction.commit().await?;
    Ok((ended, dropped))
}

/// The result of a job lost with a dead node, as the text before and after
/// the node's name (`LOSE` puts each one's name between): `outcome`'s
/// text, written nowhere else.
fn lost_with_node() -> (String, String) {
    const NAME: &str = "\u{0}";
    let lost = crate::outcome::Failure::Lost(format!("node {NAME} died while the job ran"));
    let text = JobResult::Failure(lost).to_string();
    let (before, after) = text.split_once(NAME).expect("the name is in the text");
    (before.to_owned(), after.to_owned())
}

/// A job's queued record from a row of `id, grp, parent, owner, event,
/// trigger, chain, scheduled, queued`.
fn taken(row: &tokio_postgres::Row) -> JobRecord {
    JobRecord {
        id: row.get(0),
        group: row.get(1),
        parent: row.get(2),
        user: row.get(3),
        event: row.get(4),
        trigger: row.get(5),
        chain: row.get(6),
        scheduled: row.get(7),
        queued: row.get(8),
        ..JobRecord::default()
    }
}

/// Queues `jobs` in `transaction` under `limits` (the rule is
/// `engine::queue`'s, the counts the database's, taken under the queue's
/// lock): those admitted are queued (every node is told on commit), the
/// others recorded as dropped now and returned.
async fn queue(
    transaction: &tokio_postgres::Transaction<'_>,
    jobs: &[JobRecord],
    limits: &Limits,
) -> Result<Dropped, tokio_postgres::Error> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let (mut total, mut counts) = queued_counts(transaction, jobs).await?;
    let now = crate::clock::log_datetime(&jiff::Zoned::now().datetime());
    let (mut dropped, mut results, mut finished) = (Vec::new(), Vec::new(), Vec::new());
    let mut added: std::collections::BTreeMap<&str, i32> = std::collections::BTreeMap::new();
    for job in jobs {
        let of_owner = counts.entry(job.user.clone()).or_default();
        match limits.admit(total, *of_owner) {
            Ok(()) => {
                total += 1;
                *of_owner += 1;
                *added.entry(&job.user).or_default() += 1;
                results.push(JobResult::Queued.to_string());
                finished.push(None);
            }
            Err(refusal) => {
                results.push(refusal.result().to_string());
                finished.push(Some(now.clone()));
                dropped.push((job.id.clone(), refusal));
            }
        }
    }
    if !added.is_empty() {
        transaction.execute(sql::JOBS_QUEUED, &[]).await?;
        let (owners, counts): (Vec<&str>, Vec<i32>) = added.into_iter().unzip();
        transaction.execute(sql::COUNT_QUEUED, &[&owners, &counts]).await?;
    }
    let column = |f: fn(&JobRecord) -> &String| jobs.iter().map(f).cloned().collect::<Vec<String>>();
    let columns = [
        column(|j| &j.id),
        column(|j| &j.group),
        column(|j| &j.parent),
        column(|j| &j.user),
        column(|j| &j.event),
        column(|j| &j.trigger),
        column(|j| &j.chain),
        column(|j| &j.scheduled),
        column(|j| &j.queued),
    ];
    let mut parameters: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = columns.iter().map(|c| c as _).collect();
    parameters.push(&results);
    parameters.push(&finished);
    transaction.execute(sql::QUEUE, &parameters).await?;
    Ok(dropped)
}

/// Takes the queue's lock for the rest of `transaction`, then the jobs
/// queued in all and of each owner of `jobs`.
async fn queued_counts(
    transaction: &tokio_postgres::Transaction<'_>,
    jobs: &[JobRecord],
) -> Result<(usize, std::collections::HashMap<String, usize>), tokio_postgres::Error> {
    transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&sql::QUEUE_LOCK]).await?;
    let mut owners: Vec<&str> = jobs.iter().map(|j| j.user.as_str()).collect();
    owners.sort_unstable();
    owners.dedup();
    let counts = transaction
        .query(sql::OWNERS_QUEUED, &[&owners])
        .await?
        .iter()
        .map(|row| (row.get::<_, String>(0), row.get::<_, i32>(1).max(0) as usize))
        .collect();
    let total = transaction.query_one(sql::QUEUED, &[]).await?.get::<_, i64>(0).max(0) as usize;
    Ok((total, counts))
}

/// The connection in `slot` to the database of `settings`, made if there is none or it closed. With
/// `notices` it listens, and what other nodes tell goes there; either way
/// a task drives it to its end.
async fn connected<'a>(
    slot: &'a mut Option<Client>,
    settings: &Settings,
    timeout: Duration,
    notices: Option<&tokio::sync::mpsc::UnboundedSender<Notice>>,
) -> Result<&'a mut Client, tokio_postgres::Error> {
    if slot.as_ref().is_none_or(Client::is_closed) {
        let mut config: tokio_postgres::Config = settings.url.parse()?;
        // The node's name, so that pg_stat_activity says whose connection it
        // is. A transaction left idle for a node timeout (its node stopped or
        // frozen in the middle) is ended by the server, so that the row locks
        // it holds (the leader's, a job's) never stall the live nodes.
        config
            .connect_timeout(timeout)
            .application_name(format!("hcron-scheduler {}", settings.name))
            .options(format!("-c idle_in_transaction_session_timeout={}", timeout.as_millis()));
        let (client, mut connection) = config.connect(NoTls).await?;
        let listener = notices.cloned();
        tokio::spawn(async move {
            while let Some(Ok(message)) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                if let (Some(listener), tokio_postgres::AsyncMessage::Notification(notification)) = (&listener, message) {
                    // Without a receiver the connection is still driven to its end.
                    let _ = listener.send(notice(&notification));
                }
            }
        });
        if notices.is_some() {
            client.batch_execute(sql::LISTEN).await?;
        }
        *slot = Some(client);
    }
    Ok(slot.as_mut().expect("just made"))
}

/// What a notification on one of [`sql::LISTEN`]'s channels says.
fn notice(notification: &tokio_postgres::Notification) -> Notice {
    match notification.channel() {
        "hcron_jobs" => Notice::Jobs,
        _ => Notice::Reloads,
    }
}

/// What a node's call to the database met.
#[derive(Debug)]
enum Failure {
    /// The database's own error, or no connection.
    Database(tokio_postgres::Error),
    /// The schema is not one this build knows.
    Version(i32),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(error: tokio_postgres::Error) -> Failure {
        Failure::Database(error)
    }
}

/// What a call to the cluster's database met.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    /// What kind of failure.
    pub kind: ErrorKind,
    message: String,
    news: bool,
}

/// The kinds of [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No connection, or no answer within the node timeout: an outage.
    Outage,
    /// The database answered with an error: a statement failed.
    Query,
    /// The schema has this version, one this build does not know.
    Version(i32),
}

impl Error {
    /// Whether this is the first failure since the database last answered
    /// a beat: an outage (or a failing statement) is said once, by whoever
    /// meets it first.
    pub fn is_news(&self) -> bool {
        self.news
    }
}

/// The message of a schema version this build does not know.
fn version_message(found: i32) -> String {
    format!(
        "the cluster database has schema version {found}, which this hcron-scheduler (schema version {}) does not know: run the hcron-scheduler that made it",
        sql::SCHEMA_VERSION
    )
}

/// A database error with its cause (tokio-postgres's own text is terse).
fn describe(error: &tokio_postgres::Error) -> String {
    match std::error::Error::source(error) {
        Some(source) => format!("{error}: {source}"),
        None => error.to_string(),
    }
}

impl Cluster {
    /// `operation` within `timeout`; an error says what failed.
    async fn within<T, E: Into<Failure>>(
        &self,
        timeout: Duration,
        operation: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, Error> {
        match tokio::time::timeout(timeout, operation).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(failure)) => Err(match failure.into() {
                // A database error has a SQLSTATE; anything else is the connection's.
                Failure::Database(error) if error.code().is_some() => self.failed(ErrorKind::Query, describe(&error)),
                Failure::Database(error) => self.failed(ErrorKind::Outage, describe(&error)),
                Failure::Version(found) => self.failed(ErrorKind::Version(found), version_message(found)),
            }),
            Err(_) => Err(self.failed(ErrorKind::Outage, format!("no answer within {:.1}s", timeout.as_secs_f64()))),
        }
    }
}

/// Brings the database's schema to [`sql::SCHEMA_VERSION`] in one
/// transaction, under the schema's advisory lock; the version found.
async fn migrate(client: &mut Client) -> Result<i32, Failure> {
    let transaction = client.transaction().await?;
    transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&sql::SCHEMA_LOCK]).await?;
    transaction.batch_execute(sql::VERSION_TABLE).await?;
    let found: i32 = transaction.query_opt(sql::VERSION, &[]).await?.map_or(0, |row| row.get(0));
    let steps = usize::try_from(found).ok().and_then(|from| sql::MIGRATIONS.get(from..)).ok_or(Failure::Version(found))?;
    for step in steps {
        transaction.batch_execute(step).await?;
    }
    if !steps.is_empty() {
        transaction.execute(sql::SET_VERSION, &[&sql::SCHEMA_VERSION]).await?;
    }
    transaction.commit().await?;
    Ok(found)
}

/// This machine's time zone, by name when it has one.
fn time_zone() -> String {
    let zone = jiff::tz::TimeZone::system();
    zone.iana_name().map_or_else(|| format!("{:?}", zone), str::to_owned)
}

/// A new node id: random, so that a restarted or re-registered node is
/// never taken for its previous life.
fn new_id() -> String {
    format!("{:016x}{:08x}", lease::random(), std::process::id())
}

/// How long a node holds the probe of a host before another may take it
/// (sooner when the node dies).
const PROBE_LEASE: Duration = Duration::from_secs(300);

impl crate::exec::ProbeGate for Cluster {
    /// One node probes a host: the first to ask once its period is over.
    /// When the database cannot say, this node probes (one probe too many
    /// is better than a host never tried again).
    fn probe<'a>(&'a self, host: &'a str) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'a>> {
        Box::pin(async move {
            let id = self.id();
            let seconds = PROBE_LEASE.as_secs_f64();
            self.work(async move |client: &mut Client| client.query_opt(sql::CLAIM_PROBE, &[&host, &id, &seconds]).await)
                .await
                .map_or(true, |row| row.is_some())
        })
    }
}
