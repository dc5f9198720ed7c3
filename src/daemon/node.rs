//! A cluster node's heartbeat task: beats at a random point of each
//! interval, takes the leadership when it is free, and turns what a beat
//! finds into the daemon's state (job ids, the planner of a new leader) and
//! log lines. The database's side is `cluster/`.

use std::sync::Arc;
use std::time::Duration;

use super::Daemon;
use super::queue::SharedQueue;
use crate::clock::{Clock, SystemClock};
use crate::cluster::lease::random;
use crate::cluster::{Beat, Cluster, Leadership, Notice};
use crate::engine::{JobId, JobIds};
use crate::history::parse_ledger_minute;

/// The longest wait between two attempts to reach a database that failed.
const MAX_RETRY: Duration = Duration::from_secs(10);

impl Daemon {
    /// Beats until the daemon stops; the first beat at once.
    pub(super) async fn heartbeat(self: Arc<Self>, shared: Arc<SharedQueue>) {
        let cluster = shared.cluster().clone();
        let timing = cluster.settings().timing;
        let mut retry: Option<Duration> = None;
        let mut pruned: Option<std::time::Instant> = None;
        loop {
            let running = self.slots.running();
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
                        let limits = super::runner::limits(&self.lock().config);
                        shared.follow_lost(report.lost, &*self, limits).await;
                        self.wake.notify_one();
                    }
                    self.adopt_hosts(&cluster).await;
                    if cluster.leading().is_some() && pruned.is_none_or(|at| at.elapsed() >= crate::history::PRUNE_EVERY) {
                        self.prune(&shared).await;
                        pruned = Some(std::time::Instant::now());
                    }
                    timing.next_beat(random())
                }
                Err(error) => {
                    shared.failed(&error);
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
    async fn prune(&self, shared: &SharedQueue) {
        let retention = super::configure::retention(&self.lock().config);
        match shared.cluster().prune(retention.max_age.map(crate::history::cutoff), retention.max_per_user).await {
            Ok(0) => {}
            Ok(deleted) => self.log.message("", &format!("pruned {deleted} job(s) from the cluster's history"), "info"),
            Err(error) => shared.failed(&error),
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

    /// What other nodes tell this one: queued jobs wake the dispatcher; a
    /// reload asked of another node reloads that user here too.
    pub(super) async fn listen(self: Arc<Self>, shared: Arc<SharedQueue>, mut notices: tokio::sync::mpsc::UnboundedReceiver<Notice>) {
        while let Some(notice) = notices.recv().await {
            match notice {
                Notice::Jobs => self.wake.notify_one(),
                Notice::Reloads => match shared.cluster().reloads_asked().await {
                    Ok(users) => {
                        for user in users {
                            if let Err(error) = self.reload(&user).await {
                                let text = format!("cannot reload user ({user}) as another node asked: {error}");
                                self.log.message(&user, &text, "error");
                            }
                        }
                    }
                    Err(error) => shared.failed(&error),
                },
            }
        }
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
