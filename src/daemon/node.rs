//! A cluster node's heartbeat task: beats at a random point of each
//! interval, takes the leadership when it is free, and turns what a beat
//! finds into the daemon's state (job ids, the planner of a new leader) and
//! log lines. The database's side is `cluster/`.

use std::sync::Arc;
use std::time::Duration;

use super::Daemon;
use crate::clock::{Clock, SystemClock};
use crate::cluster::lease::{Timing, random};
use crate::cluster::{Beat, Cluster, Leadership, Lost, Notice, Settings};
use crate::engine::{JobId, JobIds};
use crate::history::parse_ledger_minute;

/// The longest wait between two attempts to reach a database that failed.
const MAX_RETRY: Duration = Duration::from_secs(10);

/// The cluster settings of `config`, if it names a database.
pub(super) fn settings(config: &crate::config::Config) -> Option<Settings> {
    let url = config.cluster_database.as_ref()?.0.clone();
    Some(Settings {
        url,
        name: config.node_name.clone().unwrap_or_else(crate::host::short_name),
        timing: Timing { interval: Duration::from_secs_f64(config.heartbeat_interval), timeout: config.node_timeout() },
    })
}

impl Daemon {
    /// Beats until the daemon stops; the first beat at once.
    pub(super) async fn heartbeat(self: Arc<Self>, cluster: Arc<Cluster>) {
        let timing = cluster.settings().timing;
        let mut retry: Option<Duration> = None;
        let mut pruned: Option<std::time::Instant> = None;
        loop {
            let running = self.lock().running;
            let now = crate::clock::log_datetime(&SystemClock.now().datetime());
            let wait = match cluster.beat(running, &now).await {
                Ok(report) => {
                    retry = None;
                    if report.recovered {
                        self.log.message("", "the cluster database is reachable again", "info");
                    }
                    self.joined(&cluster, report.beat);
                    self.lead(&cluster, report.leadership);
                    for name in report.buried {
                        let text = format!("node {name} is dead: no heartbeat for {:.1}s", timing.timeout.as_secs_f64());
                        self.log.message("", &text, "warning");
                    }
                    if !report.lost.is_empty() {
                        self.follow_lost(&cluster, report.lost).await;
                    }
                    self.adopt_hosts(&cluster).await;
                    if cluster.leading().is_some() && pruned.is_none_or(|at| at.elapsed() >= crate::history::PRUNE_EVERY) {
                        self.prune(&cluster).await;
                        pruned = Some(std::time::Instant::now());
                    }
                    timing.next_beat(random())
                }
                Err(error) => {
                    self.database_failed(&cluster, &error);
                    let delay = retry.map_or(timing.interval / 2, |d| (d * 2).min(MAX_RETRY));
                    retry = Some(delay);
                    delay
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// The leader's hourly pruning of the cluster's history, by the
    /// configuration's retention (as the single node's history writer).
    async fn prune(&self, cluster: &Cluster) {
        let retention = super::configure::retention(&self.lock().config);
        match cluster.prune(retention.max_age.map(crate::history::cutoff), retention.max_per_user).await {
            Ok(0) => {}
            Ok(deleted) => self.log.message("", &format!("pruned {deleted} job(s) from the cluster's history"), "info"),
            Err(error) => self.database_failed(cluster, &error),
        }
    }

    /// A call to the cluster's database failed: said once per outage, by
    /// the first task to meet it (the heartbeat says when it is back).
    pub(super) fn database_failed(&self, cluster: &Cluster, error: &str) {
        if cluster.outage() {
            let text = format!(
                "the cluster database failed: {error}; running jobs go on, nothing new starts until it answers again (retrying with back-off)"
            );
            self.log.message("", &text, "error");
        }
    }

    /// Takes in what the other nodes know of hosts' health: a host offline
    /// on one node is offline on all.
    async fn adopt_hosts(&self, cluster: &Cluster) {
        let Ok(hosts) = cluster.hosts().await else { return };
        let now = jiff::Timestamp::now();
        let health = self.lock().exec.health.clone();
        let mut health = health.lock().expect("health lock");
        for (host, offline) in hosts {
            let until = offline.map(|remaining| remaining.map_or(now, |r| now + jiff::SignedDuration::try_from(r).unwrap_or_default()));
            health.adopt(&host, until);
        }
    }

    /// Shares this node's changes of hosts' health with the others.
    pub(super) async fn share_hosts(&self, cluster: &Cluster, changes: &[(String, crate::exec::health::Change)]) {
        for (host, change) in changes {
            let offline_for = match change {
                crate::exec::health::Change::Offline(until) => {
                    Some(until.duration_since(jiff::Timestamp::now()).try_into().unwrap_or(Duration::ZERO))
                }
                crate::exec::health::Change::Online => None,
            };
            if let Err(error) = cluster.host_changed(host, offline_for).await {
                self.database_failed(cluster, &error);
            }
        }
    }

    /// What other nodes tell this one: queued jobs wake the dispatcher; a
    /// reload asked of another node reloads that user here too.
    pub(super) async fn listen(self: Arc<Self>, cluster: Arc<Cluster>, mut notices: tokio::sync::mpsc::UnboundedReceiver<Notice>) {
        while let Some(notice) = notices.recv().await {
            match notice {
                Notice::Jobs => self.wake.notify_one(),
                Notice::Reloads => match cluster.reloads_asked().await {
                    Ok(users) => {
                        for user in users {
                            if let Err(error) = self.reload(&user).await {
                                let text = format!("cannot reload user ({user}) as another node asked: {error}");
                                self.log.message(&user, &text, "error");
                            }
                        }
                    }
                    Err(error) => self.database_failed(&cluster, &error),
                },
            }
        }
    }

    /// Jobs lost with a dead node: each one's failure is completed here, as
    /// the single node settles a previous run (`settle.rs`), so that its
    /// `failover_event` (or, with `on_lost=rerun`, the job once more) runs on
    /// a live node.
    async fn follow_lost(&self, cluster: &Cluster, lost: Vec<Lost>) {
        let mut queued = Vec::new();
        {
            let mut state = self.lock();
            let state = &mut *state;
            for Lost { record, again } in &lost {
                let why = record.result.strip_prefix("failure: ").unwrap_or(&record.result).to_owned();
                let text = format!("job {} of event ({}) {why}", record.id, record.event);
                self.log.message(&record.user, &text, "warning");
                let Some(job) = super::settle::rebuild(record, state) else { continue };
                queued.extend(state.engine.lost(&job, why, *again, &mut *self.log.journal()));
            }
        }
        let records = queued.iter().map(super::runner::record_of).collect();
        if let Err(error) = cluster.queue(records).await {
            let text = format!("cannot queue what {} lost job(s) chained: {error}", lost.len());
            self.log.message("", &text, "error");
        }
        self.wake.notify_one();
    }

    /// What a beat said of membership: a (new) number means new job ids.
    fn joined(&self, cluster: &Cluster, beat: Beat) {
        let Beat::Registered { number, last_id, again, other_zones } = beat else { return };
        let mut state = self.lock();
        if again {
            // Its running jobs were recorded as lost and followed by another node (seed 004).
            let cancelled = state.exec.cancels.cancel_all();
            if cancelled > 0 {
                let text = format!("{cancelled} waited-for job(s) killed: the cluster took this node for dead and recorded them as lost");
                self.log.message("", &text, "warning");
            }
        }
        state.engine.set_ids(JobIds::shared(JobId(last_id.unwrap_or(0)), number));
        let name = &cluster.settings().name;
        let text = if again {
            format!("node {name} was taken for dead by the cluster (a pause or a lost connection): joined again as number {number}")
        } else {
            format!("node {name} joined the cluster as number {number}")
        };
        self.log.message("", &text, if again { "warning" } else { "info" });
        for (other, zone) in other_zones {
            let text = format!(
                "node {other} runs in time zone {zone}, this node in another: scheduled minutes are local times, every node must share one time zone"
            );
            self.log.message("", &text, "error");
        }
    }

    /// What a beat said of leadership: a new leader plans from the minute
    /// after the ledger's last one.
    fn lead(&self, cluster: &Cluster, leadership: Leadership) {
        let name = &cluster.settings().name;
        match leadership {
            Leadership::Leading { epoch, taken: true, watermark } => {
                let now = self.setup.minute_clock.now().datetime();
                let last = watermark.as_deref().and_then(parse_ledger_minute);
                let mut state = self.lock();
                state.planner = super::MinutePlanner::resume(last, now);
                let since = last.map_or("now".to_owned(), |l| crate::clock::log_datetime(&l));
                let text = format!("node {name} leads the cluster (epoch {epoch}): planning from the minute after {since}");
                self.log.message("", &text, "info");
                drop(state);
                self.leadership.notify_one();
            }
            Leadership::Following { lost: true } => {
                let text = format!("node {name} no longer leads the cluster");
                self.log.message("", &text, "warning");
            }
            Leadership::Leading { .. } | Leadership::Following { .. } => {}
        }
    }
}
