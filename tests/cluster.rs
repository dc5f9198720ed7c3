//! Several real `hcron-scheduler` nodes on one real PostgreSQL (started
//! here with initdb and pg_ctl on 127.0.0.1), on a scaled minute (one
//! second per minute) with heartbeats of at most a second and a node
//! timeout of two (generous enough for a loaded CI machine). Every slot of an event that fires every minute
//! is checked in the ledger and the history: none twice, none skipped
//! unless logged as missed.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use jiff::civil::DateTime;

use crate::bounded::Bounded;
use crate::daemon_util::{RunningDaemon, eventually};
use crate::ledger::{assert_each_minute_once, missed_ranges, parse_time};
use crate::pg_util::PgServer;

/// `/tick` every minute, `command=true`.
const EVERY_MINUTE: &str = "as_user=\nhost=localhost\ncommand=true\nnotify_email=\nnotify_message=\nwhen_month=*\nwhen_day=*\nwhen_hour=*\nwhen_minute=*\nwhen_dow=*\n";

/// The node timeout the configuration below makes: 1 s × 2.
const NODE_TIMEOUT: Duration = Duration::from_secs(2);

/// A database, a shared tree and the nodes' state directories.
struct Cluster {
    pg: PgServer,
    dir: tempfile::TempDir,
    anchor: i64,
    nodes: Vec<Option<RunningDaemon>>,
}

impl Cluster {
    /// `count` nodes, not started; `extra` is added to each one's configuration.
    fn new(count: usize, extra: &str) -> Cluster {
        let pg = PgServer::start();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("events")).unwrap();
        std::fs::write(dir.path().join("events/tick"), EVERY_MINUTE).unwrap();
        for n in 0..count {
            let config = format!(
                "cluster_database = \"{}\"\nnode_name = \"n{n}\"\nheartbeat_interval = 1\nheartbeat_timeout_factor = 2\n{extra}",
                pg.url()
            );
            std::fs::write(dir.path().join(format!("n{n}.toml")), config).unwrap();
        }
        Cluster { pg, dir, anchor: jiff::Timestamp::now().as_second(), nodes: (0..count).map(|_| None).collect() }
    }

    fn state(&self, n: usize) -> PathBuf {
        self.dir.path().join(format!("state{n}"))
    }

    /// Starts node `n`.
    fn start(&mut self, n: usize) {
        self.start_with(n, &[]);
    }

    /// Starts node `n` with environment variables `env`.
    fn start_with(&mut self, n: usize, env: &[(&str, &str)]) {
        self.start_on(n, &self.dir.path().join("events"), env);
    }

    /// Starts node `n` on the tree `events`, with environment variables `env`.
    fn start_on(&mut self, n: usize, events: &std::path::Path, env: &[(&str, &str)]) {
        let config = self.dir.path().join(format!("n{n}.toml"));
        let anchor = self.anchor;
        let daemon = RunningDaemon::standalone_with(events, &self.state(n), &["--config", config.to_str().unwrap()], |command| {
            command.env("HCRON_TEST_MINUTE", format!("1@{anchor}")).envs(env.iter().copied());
        });
        self.nodes[n] = Some(daemon);
    }

    fn node(&self, n: usize) -> &RunningDaemon {
        self.nodes[n].as_ref().expect("started")
    }

    /// The name of the node that leads now (by the database's clock), if any.
    fn leader(&self) -> Option<usize> {
        let name = self
            .pg
            .psql("SELECT n.name FROM hcron_leader l JOIN hcron_nodes n ON n.id = l.holder WHERE l.expires > now() AND n.dead IS NULL");
        name.trim().strip_prefix('n').and_then(|n| n.parse().ok())
    }

    /// The leader's epoch.
    fn epoch(&self) -> i64 {
        self.pg.psql("SELECT epoch FROM hcron_leader").trim().parse().unwrap()
    }

    /// Waits for a leader and returns it.
    fn wait_for_leader(&self) -> usize {
        let mut leader = None;
        assert!(
            eventually(Duration::from_secs(20), || {
                leader = self.tables_exist().then(|| self.leader()).flatten();
                leader.is_some()
            }),
            "no node leads"
        );
        leader.unwrap()
    }

    fn tables_exist(&self) -> bool {
        self.pg.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'hcron_leader'").trim() == "1"
    }

    /// The ledger's minutes of `/tick`, oldest first.
    fn slots(&self) -> Vec<DateTime> {
        self.pg.psql("SELECT minute FROM hcron_slots WHERE event = '/tick' ORDER BY minute").lines().map(parse_time).collect()
    }

    /// Waits until the ledger holds `count` more slots than now.
    fn wait_for_slots(&self, more: usize) {
        let target = self.slots().len() + more;
        assert!(eventually(Duration::from_secs(60), || self.slots().len() >= target), "the ledger stopped at {} slots", self.slots().len());
    }

    /// `/slow` (`sleep SECONDS`, a number no other test's command uses,
    /// waited for, `extra` lines added) failing over to `/recover`, which
    /// writes its trigger to the file returned.
    fn slow_with_failover(&self, seconds: &str, extra: &str) -> PathBuf {
        let (events, recovered) = (self.dir.path().join("events"), self.dir.path().join("recovered"));
        let slow = format!(
            "as_user=\nhost=localhost\ncommand=exec sleep {seconds}\nexec_wait=yes\n{extra}failover_event=recover\nnotify_email=\nnotify_message=\n"
        );
        std::fs::write(events.join("slow"), slow).unwrap();
        let recover = format!(
            "as_user=\nhost=localhost\ncommand=echo $HCRON_TRIGGER_NAME > {}\nnotify_email=\nnotify_message=\n",
            recovered.display()
        );
        std::fs::write(events.join("recover"), recover).unwrap();
        recovered
    }

    /// The node, other than `except`, that runs `/slow`, waited for.
    fn running_slow(&self, except: Option<usize>) -> usize {
        let mut node = None;
        let found = eventually(Duration::from_secs(15), || {
            let names = self.pg.psql(
                "SELECT n.name FROM hcron_jobs j JOIN hcron_nodes n ON n.id = j.node WHERE j.event = '/slow' AND j.result = 'running'",
            );
            node = names.lines().filter_map(|name| name.strip_prefix('n')?.parse::<usize>().ok()).find(|n| Some(*n) != except);
            node.is_some()
        });
        assert!(found, "/slow does not run on a node other than {except:?}");
        node.unwrap()
    }

    /// Kills node `n` with SIGKILL.
    fn crash(&mut self, n: usize) {
        self.nodes[n].take().expect("running").crash();
    }

    /// Stops every node, then checks the ledger and the history: each
    /// minute once or logged as missed; each clock job of the history in
    /// the ledger, once, and ended.
    fn stop_and_check(mut self) -> Vec<DateTime> {
        // Every job taken and ended first (a dead node's running ones are lost once it is buried).
        let unsettled = || self.pg.psql("SELECT count(*) FROM hcron_jobs WHERE result IN ('queued', 'running')").trim().to_owned();
        assert!(eventually(Duration::from_secs(30), || unsettled() == "0"), "{} jobs still queued or running", unsettled());
        for node in self.nodes.iter_mut().filter_map(Option::take) {
            node.stop();
        }
        let logs: String =
            (0..self.nodes.len()).map(|n| std::fs::read_to_string(self.state(n).join("hcron.log")).unwrap_or_default()).collect();
        let slots = self.slots();
        assert_each_minute_once(&slots, &missed_ranges(&logs));
        let jobs: Vec<(DateTime, String)> = self
            .pg
            .psql("SELECT scheduled || '|' || result FROM hcron_jobs WHERE trigger = 'clock' ORDER BY scheduled")
            .lines()
            .map(|line| {
                let (scheduled, result) = line.split_once('|').unwrap();
                (parse_time(scheduled), result.to_owned())
            })
            .collect();
        let scheduled: Vec<DateTime> = jobs.iter().map(|(s, _)| *s).collect();
        assert_eq!(scheduled, slots, "one clock job per slot");
        // `command=true` succeeds, unless its node was killed while it ran.
        let unfinished: Vec<_> = jobs.iter().filter(|(_, r)| r != "success" && !r.starts_with("failure: lost: node ")).collect();
        assert!(unfinished.is_empty(), "clock jobs that did not end well: {unfinished:?}");
        slots
    }
}

#[test]
fn a_killed_leader_is_replaced_within_twice_the_node_timeout_and_no_minute_runs_twice_or_is_skipped() {
    let mut cluster = Cluster::new(3, "");
    for n in 0..3 {
        cluster.start(n);
    }
    let leader = cluster.wait_for_leader();
    cluster.wait_for_slots(4);
    let epoch = cluster.epoch();
    cluster.crash(leader);
    let killed = Instant::now();
    let mut next = None;
    assert!(
        eventually(Duration::from_secs(10), || {
            next = cluster.leader().filter(|n| *n != leader);
            next.is_some()
        }),
        "no other node leads"
    );
    let takeover = killed.elapsed();
    assert!(takeover <= NODE_TIMEOUT * 2, "took {takeover:?} to take over");
    assert!(cluster.epoch() > epoch, "a new leader has a new epoch");
    cluster.wait_for_slots(4);
    // `hcron info nodes` on the new leader: the dead one, the leader under the new epoch, the follower.
    let next = next.unwrap();
    let (out, err, code) = cluster.node(next).hcron(&["info", "nodes"]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<Vec<String>> = out.lines().skip(1).map(|l| l.split_whitespace().map(str::to_owned).collect()).collect();
    let row = |n: usize| rows.iter().find(|r| r[0] == format!("n{n}")).unwrap_or_else(|| panic!("no n{n}: {out}")).clone();
    assert_eq!(row(leader)[1], "dead", "{out}");
    assert_eq!((row(next)[1].as_str(), row(next)[4].clone()), ("leader", cluster.epoch().to_string()), "{out}");
    let follower = 3 - leader - next;
    assert_eq!((row(follower)[1].as_str(), row(follower)[4].as_str()), ("follower", "-"), "{out}");
    let age: f64 = row(follower)[2].trim_end_matches('s').parse().unwrap();
    assert!(age < NODE_TIMEOUT.as_secs_f64(), "a live node beat within the timeout: {out}");
    // The jobs ran on the nodes alive, not only on the leader.
    let nodes = cluster.pg.psql("SELECT count(DISTINCT node) FROM hcron_jobs");
    assert!(nodes.trim().parse::<u32>().unwrap() >= 2, "jobs ran on {nodes} node(s)");
    cluster.stop_and_check();
}

#[test]
fn a_leader_stopped_past_its_lease_starts_nothing_under_its_old_epoch_when_it_wakes() {
    let mut cluster = Cluster::new(2, "");
    cluster.start(0);
    assert_eq!(cluster.wait_for_leader(), 0);
    cluster.start(1);
    cluster.wait_for_slots(3);
    let old = cluster.epoch();
    cluster.node(0).signal(libc::SIGSTOP);
    assert!(eventually(Duration::from_secs(10), || cluster.leader() == Some(1)), "node 1 did not take over");
    cluster.wait_for_slots(3);
    let taken_over = cluster.pg.psql(&format!("SELECT min(minute) FROM hcron_slots WHERE epoch > {old}"));
    cluster.node(0).signal(libc::SIGCONT);
    cluster.wait_for_slots(4);
    let late = cluster.pg.psql(&format!("SELECT count(*) FROM hcron_slots WHERE epoch = {old} AND minute >= '{}'", taken_over.trim()));
    assert_eq!(late.trim(), "0", "a slot claimed under the old epoch after the takeover");
    let log = cluster.node(0).log_text();
    assert!(log.matches("not scheduled: this node no longer leads").count() <= 1, "a fenced claim is not tried again and again: {log}");
    assert!(
        log.contains("no longer leads the cluster"),
        "the woken node knows it does not lead: {}",
        log.lines().filter(|l| l.contains("message=")).collect::<Vec<_>>().join("\n")
    );
    cluster.stop_and_check();
}

#[test]
fn a_database_restart_mid_run_runs_the_minutes_it_was_down_once_each() {
    let mut cluster = Cluster::new(2, "");
    cluster.start(0);
    cluster.start(1);
    cluster.wait_for_leader();
    cluster.wait_for_slots(3);
    let before = cluster.slots().len();
    cluster.pg.stop();
    let down = Instant::now();
    // Once its lease has run out, a node refuses an activation it could not queue.
    let mut answer = String::new();
    let refused = eventually(Duration::from_secs(6), || {
        let (out, err, code) = cluster.node(0).hcron(&["activate", "/tick"]);
        answer = format!("{code}: {out}{err}");
        code != 0 && err.contains("not a live member of the cluster")
    });
    assert!(refused, "{answer}");
    std::thread::sleep(Duration::from_secs(6).saturating_sub(down.elapsed()));
    cluster.pg.restart();
    cluster.wait_for_leader();
    // Six minutes of outage, caught up once the database is back (each claim its own transaction).
    let target = before + 9;
    assert!(eventually(Duration::from_secs(60), || cluster.slots().len() >= target), "stuck at {} slots", cluster.slots().len());
    let logs: String = (0..2).map(|n| cluster.node(n).log_text()).collect::<Vec<_>>().join("\n");
    assert!(missed_ranges(&logs).is_empty(), "nothing is missed within max_catchup_minutes");
    // Each node says so once, and that it is back once.
    for n in 0..2 {
        let log = cluster.node(n).log_text();
        let said = |text: &str| log.matches(text).count();
        let messages = || log.lines().filter(|l| l.contains("cluster database")).collect::<Vec<_>>().join("\n");
        assert_eq!(said("the cluster database failed"), 1, "node {n}: {}", messages());
        assert_eq!(said("the cluster database is reachable again"), 1, "node {n}: {}", messages());
        assert_eq!(said("cannot take jobs") + said("cannot claim minute"), 0, "node {n}: the same outage, said again");
    }
    cluster.stop_and_check();
}

#[test]
fn after_every_node_was_down_one_node_runs_each_missed_minute_once_and_logs_the_rest() {
    let mut cluster = Cluster::new(2, "max_catchup_minutes = 2\n");
    cluster.start(0);
    cluster.start(1);
    cluster.wait_for_leader();
    cluster.wait_for_slots(3);
    cluster.crash(0);
    cluster.crash(1);
    std::thread::sleep(Duration::from_secs(5));
    cluster.start(1);
    cluster.wait_for_slots(4);
    let log = cluster.node(1).log_text();
    assert_eq!(missed_ranges(&log).len(), 1, "the minutes beyond max_catchup_minutes are logged as missed, once");
    cluster.stop_and_check();
}

#[test]
fn a_node_killed_with_a_job_running_loses_it_and_a_live_node_follows_its_failover() {
    let mut cluster = Cluster::new(2, "");
    let recovered = cluster.slow_with_failover("60.5", "");
    // The job of a node killed with SIGKILL runs on.
    let _jobs = crate::hostile::KillAll(&["sleep", "60.5"]);
    cluster.start(0);
    cluster.start(1);
    cluster.wait_for_leader();
    let (out, err, code) = cluster.node(0).hcron(&["activate", "/slow"]);
    assert_eq!(code, 0, "{out}{err}");
    let victim = cluster.running_slow(None);
    let name = format!("n{victim}");
    cluster.crash(victim);
    assert!(eventually(Duration::from_secs(15), || recovered.exists()), "the failover event did not run");
    assert_eq!(std::fs::read_to_string(&recovered).unwrap().trim(), "failover");
    let result = cluster.pg.psql("SELECT result FROM hcron_jobs WHERE event = '/slow'");
    assert_eq!(result.trim(), format!("failure: lost: node {name} died while the job ran"));
    let survivor = cluster.node(1 - victim).log_text();
    assert!(survivor.contains(&format!("node {name} is dead")), "the survivor says who died");
    let recover = cluster.pg.psql("SELECT trigger || ' ' || result || ' ' || chain FROM hcron_jobs WHERE event = '/recover'");
    assert_eq!(recover.trim(), "failover success /slow:/recover");
    // `hcron history` on the survivor shows the dead node's job too.
    let history = cluster.node(1 - victim).history(None, &[]);
    let ended: Vec<(String, String)> = history
        .iter()
        .filter(|j| j["trigger"] != "clock")
        .map(|j| (j["event"].as_str().unwrap().to_owned(), j["result"].as_str().unwrap().to_owned()))
        .collect();
    let lost = format!("failure: lost: node {name} died while the job ran");
    assert_eq!(ended, [("/slow".to_owned(), lost), ("/recover".to_owned(), "success".to_owned())], "{history:?}");
}

#[test]
fn an_activation_sent_before_a_node_s_first_beat_waits_for_it() {
    let mut cluster = Cluster::new(1, "");
    // The schema's lock, held by another session for a second: the node's first beat waits for it.
    let lock = "SELECT pg_advisory_lock(114776330956288), pg_sleep(1)";
    let holder = cluster.pg.psql_in_background(lock);
    let held = || cluster.pg.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted").trim() == "1";
    assert!(eventually(Duration::from_secs(5), held), "the lock was not taken");
    cluster.start(0);
    let (out, err, code) = cluster.node(0).hcron(&["activate", "/tick"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(crate::bounded::finish_bounded(holder, "psql holding the lock").status.success());
    let ran = || cluster.pg.psql("SELECT count(*) FROM hcron_jobs WHERE trigger = 'ondemand' AND result = 'success'").trim() == "1";
    assert!(eventually(Duration::from_secs(10), ran), "the activation did not run");
}

#[test]
fn a_lost_job_with_on_lost_rerun_runs_once_more_on_a_live_node_then_fails_over_if_lost_again() {
    let mut cluster = Cluster::new(3, "");
    let recovered = cluster.slow_with_failover("60.75", "on_lost=rerun\n");
    let _jobs = crate::hostile::KillAll(&["sleep", "60.75"]);
    for n in 0..3 {
        cluster.start(n);
    }
    cluster.wait_for_leader();
    let (out, err, code) = cluster.node(0).hcron(&["activate", "/slow"]);
    assert_eq!(code, 0, "{out}{err}");
    let first = cluster.running_slow(None);
    cluster.crash(first);
    let second = cluster.running_slow(Some(first));
    assert!(!recovered.exists(), "a job run again does not fail over");
    cluster.crash(second);
    assert!(eventually(Duration::from_secs(15), || recovered.exists()), "lost again, it did not fail over");
    let rows = cluster.pg.psql("SELECT result FROM hcron_jobs WHERE event = '/slow' ORDER BY seq");
    let results: Vec<&str> = rows.lines().collect();
    assert_eq!(results.len(), 2, "run twice, never a third time: {rows}");
    assert!(results.iter().all(|r| r.starts_with("failure: lost: node ")), "{rows}");
    let parents = cluster
        .pg
        .psql("SELECT count(*) FROM hcron_jobs a JOIN hcron_jobs b ON b.parent = a.id AND b.id <> a.id WHERE a.event = '/slow' AND b.event = '/slow'");
    assert_eq!(parents.trim(), "1", "the job run again names the lost one as its parent");
}

#[test]
fn mail_spooled_by_a_node_that_dies_is_delivered_by_another_once() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mail =
        format!("mail_transport = \"smtp\"\nsmtp_server = \"127.0.0.1\"\nsmtp_port = {port}\nmail_retry_initial = 1\nmail_retry_max = 1\n");
    let mut cluster = Cluster::new(2, &mail);
    std::fs::write(cluster.dir.path().join("events/mailer"), crate::mail::mailer("ops@example.com", "from a node")).unwrap();
    cluster.start(0);
    cluster.start(1);
    cluster.wait_for_leader();
    assert_eq!(cluster.node(0).hcron(&["activate", "/mailer"]).2, 0);
    // The SMTP server is down: the message waits in the database after a failed attempt.
    let attempted = || cluster.pg.psql("SELECT count(*) FROM hcron_mail WHERE message::json->>'attempts' <> '0'").trim() == "1";
    assert!(eventually(Duration::from_secs(15), attempted), "no attempt at the message");
    let ran_on = cluster.pg.psql("SELECT n.name FROM hcron_jobs j JOIN hcron_nodes n ON n.id = j.node WHERE j.event = '/mailer'");
    let spooler: usize = ran_on.trim().strip_prefix('n').unwrap().parse().unwrap();
    cluster.crash(spooler);
    let sink = crate::mail::SmtpSink::start(port, &cluster.dir.path().join("received"));
    // Once the shared spool is empty nothing can send it again.
    assert!(
        eventually(Duration::from_secs(20), || cluster.pg.psql("SELECT count(*) FROM hcron_mail").trim() == "0"),
        "never delivered: {}",
        cluster.node(1 - spooler).log_text()
    );
    let received = sink.messages();
    assert_eq!(received.len(), 1, "delivered once");
    assert!(received[0].contains("from a node"));
    assert!(cluster.node(1 - spooler).log_text().contains("email to (ops@example.com) for event (/mailer) delivered"));
}

#[test]
fn a_hundred_kill_9_of_random_nodes_during_a_long_run_run_no_minute_twice_and_skip_none() {
    let mut cluster = Cluster::new(3, "");
    for n in 0..3 {
        cluster.start(n);
    }
    cluster.wait_for_leader();
    let started = Instant::now();
    let mut seed = jiff::Timestamp::now().as_nanosecond() as u64 | 1;
    let mut random = move |below: u64| {
        // xorshift64: enough to pick a node and a pause.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    let mut killed = [0; 3];
    for _ in 0..100 {
        let victim = random(3) as usize;
        cluster.crash(victim);
        killed[victim] += 1;
        std::thread::sleep(Duration::from_millis(100 + random(900)));
        cluster.start(victim);
    }
    cluster.wait_for_slots(3);
    let seconds = started.elapsed().as_secs() as usize;
    let slots = cluster.stop_and_check();
    // A minute a second: the ledger covers the run but for the last takeover.
    assert!(slots.len() + 10 >= seconds, "{} minutes in {seconds} s", slots.len());
    assert!(killed.iter().all(|k| *k > 10), "every node was killed often: {killed:?}");
}

#[test]
fn the_leader_alone_prunes_the_cluster_s_history_when_it_starts_leading_and_then_hourly() {
    let mut cluster = Cluster::new(2, "history_max_age_days = 1\n");
    let old = |pg: &PgServer, ids: &str| {
        let rows: Vec<String> = ids
            .chars()
            .map(|id| {
                format!(
                    "('old{id}', 'old{id}', 'old{id}', 'zed', '/e', 'clock', '/e', '2000-01-01 00:00:00.000000', \
                     '2000-01-01 00:00:00.000000', '2000-01-01 00:00:01.000000', 'success', '')"
                )
            })
            .collect();
        pg.psql(&format!(
            "INSERT INTO hcron_jobs (id, grp, parent, owner, event, trigger, chain, scheduled, queued, finished, result, next) VALUES {}",
            rows.join(", ")
        ));
    };
    let left = |pg: &PgServer| pg.psql("SELECT count(*) FROM hcron_jobs WHERE owner = 'zed'").trim().to_owned();
    cluster.start(0);
    cluster.wait_for_leader();
    assert!(cluster.nodes[0].take().unwrap().stop().success());
    old(&cluster.pg, "abc");
    // Leading again: the first beat as leader prunes.
    cluster.start(0);
    cluster.node(0).assert_logs_within(Duration::from_secs(20), "pruned 3 job(s) from the cluster's history");
    assert_eq!(left(&cluster.pg), "0");
    // Old rows again: the leader's next prune is an hour away, and a follower never prunes.
    old(&cluster.pg, "def");
    cluster.start(1);
    cluster.node(1).assert_logs_within(Duration::from_secs(10), "joined the cluster");
    std::thread::sleep(NODE_TIMEOUT * 2);
    assert_eq!(left(&cluster.pg), "3", "pruned again within the hour: {}{}", cluster.node(0).log_text(), cluster.node(1).log_text());
    assert!(!cluster.node(1).log_text().contains("pruned"), "a follower pruned: {}", cluster.node(1).log_text());
}

#[test]
fn a_reload_asked_of_one_node_reaches_every_node() {
    let mut cluster = Cluster::new(2, "tree_poll_interval = 3600\n");
    let events = cluster.dir.path().join("events");
    // Never fires (February 31st): only its status matters.
    std::fs::write(events.join("once"), EVERY_MINUTE.replace("when_month=*", "when_month=2").replace("when_day=*", "when_day=31")).unwrap();
    // Old enough that a load does not read it again for being recent.
    std::thread::sleep(Duration::from_millis(200));
    cluster.start(0);
    cluster.start(1);
    cluster.wait_for_leader();
    let status = |n: usize| cluster.node(n).hcron(&["list", "--show-status"]).0;
    assert!(status(1).contains("accepted:/once"), "{}", status(1));
    // An edit no watcher hears of (another NFS client's), and a poll an hour away.
    crate::hostile::rewrite_unseen(&events.join("once"), "command=", "cxmmand=");
    let (out, err, code) = cluster.node(0).hcron(&["reload"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(eventually(Duration::from_secs(5), || status(1).contains("rejected:/once")), "node 1 did not reload: {}", status(1));
    // A reload asked while node 1 does not listen (its connections cut
    // while it is stopped): it finds it when it listens again.
    cluster.node(1).signal(libc::SIGSTOP);
    cluster.pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'hcron-scheduler n1'");
    crate::hostile::rewrite_unseen(&events.join("once"), "cxmmand=", "command=");
    let (out, err, code) = cluster.node(0).hcron(&["reload"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(status(0).contains("accepted:/once"), "{}", status(0));
    cluster.node(1).signal(libc::SIGCONT);
    assert!(
        eventually(Duration::from_secs(10), || status(1).contains("accepted:/once")),
        "node 1 missed the reload asked while it did not listen: {}",
        status(1)
    );
}

#[test]
fn a_host_one_node_puts_offline_is_offline_on_every_node() {
    let mut cluster = Cluster::new(2, "host_attempts_count = 1\nhost_offline_timeout = 3600\n");
    // Nothing listens on 127.0.0.41: every connection is refused.
    std::fs::write(cluster.dir.path().join("events/remote"), "as_user=\nhost=127.0.0.41\ncommand=true\nnotify_email=\nnotify_message=\n")
        .unwrap();
    cluster.start(0);
    cluster.start(1);
    cluster.wait_for_leader();
    assert_eq!(cluster.node(0).hcron(&["activate", "/remote"]).2, 0);
    let offline = |n: usize| {
        let (out, _, _) = cluster.node(n).hcron(&["info", "hosts"]);
        out.lines().any(|l| l.starts_with("127.0.0.41") && l.split_whitespace().nth(1) == Some("offline"))
    };
    assert!(eventually(Duration::from_secs(10), || offline(0) && offline(1)), "{}", cluster.node(1).hcron(&["info", "hosts"]).0);
    // Whichever node takes the next jobs, they fail at once without trying the host.
    for _ in 0..4 {
        assert_eq!(cluster.node(1).hcron(&["activate", "/remote"]).2, 0);
    }
    let settled =
        || cluster.pg.psql("SELECT count(*) FROM hcron_jobs WHERE event = '/remote' AND result NOT IN ('queued', 'running')").trim() == "5";
    assert!(eventually(Duration::from_secs(10), settled));
    let results = cluster.pg.psql("SELECT result FROM hcron_jobs WHERE event = '/remote' ORDER BY seq");
    let results: Vec<&str> = results.lines().collect();
    assert!(results[1..].iter().all(|r| r.starts_with("failure: host offline until")), "{results:?}");
    let tried: usize = (0..2).map(|n| cluster.node(n).log_lines("execute", "/remote").len()).sum();
    assert_eq!(tried, 1, "only the first job tried the host");
}

#[test]
fn hcron_info_on_any_node_counts_the_jobs_queued_for_every_node() {
    let mut cluster = Cluster::new(2, "max_activated_events = 1\n");
    std::fs::write(
        cluster.dir.path().join("events/busy"),
        "as_user=\nhost=localhost\ncommand=sleep 30\nexec_wait=yes\nexec_timeout=10\nnotify_email=\nnotify_message=\n",
    )
    .unwrap();
    cluster.start(0);
    cluster.start(1);
    cluster.wait_for_leader();
    for _ in 0..5 {
        assert_eq!(cluster.node(0).hcron(&["activate", "/busy"]).2, 0);
    }
    // Three of /busy wait behind the two running, and /tick's minutes behind them: every node counts them all.
    let queued = |n: usize| {
        let info = cluster.node(n).hcron(&["info"]).0;
        info.lines().find_map(|l| l.strip_prefix("jobs queued:")).is_some_and(|count| count.trim().parse::<usize>().unwrap() >= 3)
    };
    assert!(eventually(Duration::from_secs(10), || queued(0) && queued(1)), "{}", cluster.node(1).hcron(&["info"]).0);
    // Each says its role.
    let leader = cluster.wait_for_leader();
    let role = |n: usize| cluster.node(n).hcron(&["info"]).0.lines().find(|l| l.starts_with("role:")).unwrap_or_default().to_owned();
    assert_eq!(role(leader), "role:         leader");
    assert_eq!(role(1 - leader), "role:         follower");
}

#[test]
fn the_cluster_s_queue_is_held_to_max_queued_jobs_and_each_user_to_max_queued_jobs_per_user() {
    // Each node runs one job; both run /hold, so what is activated waits.
    let mut cluster = Cluster::new(2, "max_activated_events = 1\nmax_queued_jobs = 2\n");
    std::fs::remove_file(cluster.dir.path().join("events/tick")).unwrap();
    let n1 = cluster.dir.path().join("n1.toml");
    let strict = std::fs::read_to_string(&n1).unwrap().replace("max_queued_jobs = 2", "max_queued_jobs = 5\nmax_queued_jobs_per_user = 2");
    std::fs::write(&n1, strict).unwrap();
    let events = cluster.dir.path().join("events");
    std::fs::write(
        events.join("hold"),
        "as_user=\nhost=localhost\ncommand=exec sleep 4.75\nexec_wait=yes\nnotify_email=\nnotify_message=\n",
    )
    .unwrap();
    for name in ["queued", "dropped", "refused"] {
        std::fs::write(events.join(name), "as_user=\nhost=localhost\ncommand=true\nnotify_email=\nnotify_message=\n").unwrap();
    }
    let _jobs = crate::hostile::KillAll(&["sleep", "4.75"]);
    cluster.start(0);
    cluster.start(1);
    cluster.wait_for_leader();
    for _ in 0..2 {
        assert_eq!(cluster.node(0).hcron(&["activate", "/hold"]).2, 0);
    }
    let count = |sql: &str| cluster.pg.psql(sql).trim().to_owned();
    let running = || count("SELECT count(*) FROM hcron_jobs WHERE event = '/hold' AND result = 'running'");
    assert!(eventually(Duration::from_secs(10), || running() == "2"), "both nodes run /hold: {}", running());
    for _ in 0..2 {
        assert_eq!(cluster.node(0).hcron(&["activate", "/queued"]).2, 0);
    }
    // Node 0 is held to max_queued_jobs = 2: the third is dropped, logged and recorded.
    assert_eq!(cluster.node(0).hcron(&["activate", "/dropped"]).2, 0);
    assert_eq!(count("SELECT result FROM hcron_jobs WHERE event = '/dropped'"), "dropped: queue full");
    assert!(cluster.node(0).log_text().contains("job queue full (2): job for event (/dropped) dropped"), "{}", cluster.node(0).log_text());
    // Node 1 is held to max_queued_jobs_per_user = 2: its activation is refused, unrecorded.
    let (out, err, code) = cluster.node(1).hcron(&["activate", "/refused"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("as many as max_queued_jobs_per_user allows: event (/refused) not activated"), "{err}");
    assert_eq!(count("SELECT count(*) FROM hcron_jobs WHERE event = '/refused'"), "0");
    // The queued ones run once /hold ends, and the counts the limits read go back to nothing.
    let done = || count("SELECT count(*) FROM hcron_jobs WHERE event = '/queued' AND result = 'success'");
    assert!(eventually(Duration::from_secs(20), || done() == "2"), "the queued jobs ran: {}", done());
    assert_eq!(count("SELECT coalesce(sum(queued), 0) FROM hcron_queues"), "0");
    // Every job was the database's: neither node made a SQLite history.
    for n in 0..2 {
        let state = cluster.state(n);
        assert!(state.join("hcron-scheduler.pid").exists(), "node {n}'s state directory holds its pid lock");
        assert!(!state.join("history.sqlite").exists(), "node {n} opened a SQLite history");
    }
}

#[test]
fn a_node_whose_tree_lags_gives_a_job_back_for_a_node_that_knows_it_and_fails_it_only_past_the_bound() {
    // Node 1's tree lacks what node 0's has (a reload that has not reached
    // it yet): node 0 runs one job at a time, so node 1 takes the others first.
    let mut cluster = Cluster::new(2, "max_activated_events = 1\n");
    let events = cluster.dir.path().join("events");
    let lagging = cluster.dir.path().join("lagging");
    std::fs::create_dir_all(&lagging).unwrap();
    std::fs::copy(events.join("tick"), lagging.join("tick")).unwrap();
    let hold =
        |seconds: &str| format!("as_user=\nhost=localhost\ncommand=exec sleep {seconds}\nexec_wait=yes\nnotify_email=\nnotify_message=\n");
    std::fs::write(events.join("hold"), hold("3.25")).unwrap();
    std::fs::write(events.join("long"), hold("14.25")).unwrap();
    for name in ["soon", "never"] {
        std::fs::write(events.join(name), "as_user=\nhost=localhost\ncommand=true\nnotify_email=\nnotify_message=\n").unwrap();
    }
    let _jobs = crate::hostile::KillAll(&["sleep", "14.25"]);
    cluster.start(0);
    cluster.start_on(1, &lagging, &[]);
    cluster.wait_for_leader();
    let result =
        |event: &str| cluster.pg.psql(&format!("SELECT result || ' ' || coalesce(node, '') FROM hcron_jobs WHERE event = '{event}'"));
    let node_id = |n: usize| cluster.pg.psql(&format!("SELECT id FROM hcron_nodes WHERE name = 'n{n}' AND dead IS NULL")).trim().to_owned();
    let on = |event: &str| result(event).trim().split(' ').nth(1).map(str::to_owned);
    assert_eq!(cluster.node(0).hcron(&["activate", "/hold"]).2, 0);
    assert!(eventually(Duration::from_secs(10), || result("/hold").starts_with("running")), "{}", result("/hold"));
    // /soon waits for node 0: node 1 gives it back, however often it takes it.
    assert_eq!(cluster.node(0).hcron(&["activate", "/soon"]).2, 0);
    assert!(eventually(Duration::from_secs(15), || result("/soon").starts_with("success")), "{}", result("/soon"));
    assert_eq!(on("/soon"), Some(node_id(0)), "it ran where it is known");
    let log = cluster.node(1).log_text();
    assert!(log.contains("of event (/soon) of user (") && log.contains("is not loaded on node n1: back in the queue"), "{log}");
    // /never waits past the bound (three node timeouts, 6 s here) behind /long: it fails, with why.
    assert_eq!(cluster.node(0).hcron(&["activate", "/long"]).2, 0);
    assert!(eventually(Duration::from_secs(10), || result("/long").starts_with("running")), "{}", result("/long"));
    assert_eq!(cluster.node(0).hcron(&["activate", "/never"]).2, 0);
    let failed = || result("/never").starts_with("failure: event (/never) of user (");
    assert!(eventually(Duration::from_secs(12), failed), "{}", result("/never"));
    assert!(result("/never").contains("is not loaded on node n1, nor on any node that took the job within 6.0s"), "{}", result("/never"));
    assert!(result("/long").starts_with("running"), "it failed while node 0 was still busy: {}", result("/long"));
}

#[test]
fn check_config_says_the_cluster_database_s_schema_version_and_live_nodes() {
    let mut cluster = Cluster::new(1, "");
    let config = cluster.dir.path().join("n0.toml");
    let check = || {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_hcron-scheduler"))
            .args(["--standalone", "--check-config", "--config"])
            .arg(&config)
            .output_bounded()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        (output.status.success(), text)
    };
    let (ok, text) = check();
    assert!(ok, "{text}");
    let known = hcron::cluster::SCHEMA_VERSION;
    assert!(text.contains(&format!("cluster database: no schema version yet (made at the first start: version {known})")), "{text}");
    assert!(text.contains("live nodes: none") && text.contains("configuration OK"), "{text}");
    cluster.start(0);
    cluster.wait_for_leader();
    let (ok, text) = check();
    assert!(ok, "{text}");
    assert!(text.contains(&format!("cluster database: schema version {known} (this hcron-scheduler: {known})")), "{text}");
    assert!(text.contains("live nodes: n0 (leader)"), "{text}");
    cluster.pg.psql("UPDATE hcron_schema SET version = 99");
    let (ok, text) = check();
    assert!(!ok && text.contains("the cluster database has schema version 99, newer than this hcron-scheduler knows"), "{text}");
    cluster.pg.stop();
    let (ok, text) = check();
    assert!(!ok && text.contains("cannot reach the cluster database"), "{text}");
}

#[test]
fn a_node_in_another_time_zone_is_told_that_every_node_must_share_one() {
    let mut cluster = Cluster::new(2, "");
    cluster.start_with(0, &[("TZ", "Europe/Paris")]);
    cluster.wait_for_leader();
    cluster.start_with(1, &[("TZ", "America/New_York")]);
    let warned = || cluster.node(1).log_text().contains("node n0 runs in time zone Europe/Paris, this node in another");
    assert!(eventually(Duration::from_secs(10), warned), "{}", cluster.node(1).log_text());
    assert!(!cluster.node(0).log_text().contains("must share one time zone"), "alone when it joined, node 0 was told nothing");
}

#[test]
fn a_node_taken_for_dead_kills_the_jobs_it_still_runs_when_it_wakes() {
    let mut cluster = Cluster::new(2, "");
    let recovered = cluster.slow_with_failover("60.25", "");
    let _jobs = crate::hostile::KillAll(&["sleep", "60.25"]);
    cluster.start(0);
    cluster.start(1);
    cluster.wait_for_leader();
    assert_eq!(cluster.node(0).hcron(&["activate", "/slow"]).2, 0);
    let sleeper = cluster.running_slow(None);
    let running = || crate::hostile::processes(&["sleep", "60.25"]);
    assert!(eventually(Duration::from_secs(5), || running().len() == 1), "the job's process: {}", cluster.node(sleeper).log_text());
    // Stopped past its timeout: the other node records the job as lost and runs its failover.
    cluster.node(sleeper).signal(libc::SIGSTOP);
    assert!(eventually(Duration::from_secs(15), || recovered.exists()), "no failover while the node was stopped");
    assert_eq!(running().len(), 1, "the stopped node's job still runs");
    cluster.node(sleeper).signal(libc::SIGCONT);
    assert!(eventually(Duration::from_secs(10), || running().is_empty()), "the woken node did not kill the job it lost");
    let log = cluster.node(sleeper).log_text();
    assert!(log.contains("1 waited-for job(s) killed: the cluster took this node for dead"), "{log}");
    let result = cluster.pg.psql("SELECT result FROM hcron_jobs WHERE event = '/slow'");
    assert!(result.trim().starts_with("failure: lost: node "), "its end is the lost one, not the kill: {result}");
}

/// The cluster's database side driven directly: node handles on one real
/// database, heartbeats by hand, so that each fence is met on purpose.
mod fences {
    use std::time::Duration;

    use hcron::cluster::lease::Timing;
    use hcron::cluster::{Beat, Cluster, Leadership, Settings};
    use hcron::engine::queue::Limits;
    use hcron::history::{Change, Claim, JobRecord};
    use hcron::outcome::JobResult;

    use crate::pg_util::PgServer;

    /// The lease of a node below.
    const LEASE: Duration = Duration::from_secs(1);

    /// Longer than a lease.
    const PAST_LEASE: Duration = Duration::from_millis(1300);

    /// A node whose lease runs out a second after its last beat.
    fn node(pg: &PgServer, name: &str) -> Cluster {
        let timing = Timing { interval: Duration::from_millis(300), timeout: LEASE };
        Cluster::new(Settings { url: pg.url(), name: name.into(), timing }).0
    }

    fn job(id: &str, event: &str) -> JobRecord {
        JobRecord {
            id: id.into(),
            group: id.into(),
            parent: id.into(),
            user: "alice".into(),
            event: event.into(),
            trigger: "clock".into(),
            chain: event.into(),
            scheduled: "2030-01-01 10:00:00.000000".into(),
            queued: "2030-01-01 10:00:00.000000".into(),
            result: "queued".into(),
            ..JobRecord::default()
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    async fn epoch_of(node: &Cluster) -> i64 {
        match node.beat(0, "now").await.unwrap().leadership {
            Leadership::Leading { epoch, .. } => epoch,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_claim_under_an_epoch_that_is_no_longer_the_leader_s_writes_nothing() {
        let pg = PgServer::start();
        runtime().block_on(async {
            let (a, b) = (node(&pg, "a"), node(&pg, "b"));
            let first = epoch_of(&a).await;
            assert!(matches!(b.beat(0, "now").await.unwrap().leadership, Leadership::Following { lost: false }));
            assert_eq!(a.claim(first, "2030-01-01 10:00", &[job("10", "/e")], &Limits::NONE).await.unwrap().0, Claim::Claimed(vec![true]));
            // a pauses past its lease; b takes over under the next epoch.
            tokio::time::sleep(PAST_LEASE).await;
            let second = epoch_of(&b).await;
            assert_eq!(second, first + 1);
            assert_eq!(a.claim(first, "2030-01-01 10:01", &[job("11", "/e")], &Limits::NONE).await.unwrap().0, Claim::Fenced);
            // The epoch that leads now, claimed by a node that does not hold it: only the holder is wrong.
            assert_eq!(
                a.claim(second, "2030-01-01 10:01", &[job("11", "/e")], &Limits::NONE).await.unwrap().0,
                Claim::Fenced,
                "not the holder"
            );
            assert_eq!(b.claim(second, "2030-01-01 10:01", &[job("12", "/e")], &Limits::NONE).await.unwrap().0, Claim::Claimed(vec![true]));
            // b, beating through a whole timeout, took a for dead: a's beat joins again, and it follows.
            let report = a.beat(0, "now").await.unwrap();
            assert!(matches!(report.beat, Beat::Registered { again: true, .. }), "{report:?}");
            assert_eq!(report.leadership, Leadership::Following { lost: true });
        });
        assert_eq!(pg.psql("SELECT string_agg(job || '@' || epoch, ',' ORDER BY minute) FROM hcron_slots").trim(), "10@1,12@2");
        assert_eq!(pg.psql("SELECT string_agg(id, ',' ORDER BY id) FROM hcron_jobs").trim(), "10,12", "nothing of the fenced claim");
    }

    #[test]
    fn a_leader_whose_lease_ran_out_claims_nothing_until_it_beats_and_then_under_a_new_epoch() {
        let pg = PgServer::start();
        runtime().block_on(async {
            let a = node(&pg, "a");
            let first = epoch_of(&a).await;
            a.queue(vec![job("q", "/q")], &Limits::NONE).await.unwrap();
            tokio::time::sleep(PAST_LEASE).await;
            assert!(!a.alive(), "its own clock says the lease ran out");
            assert_eq!(
                a.claim(first, "2030-01-01 10:00", &[job("10", "/e")], &Limits::NONE).await.unwrap().0,
                Claim::Fenced,
                "nobody took over, still fenced"
            );
            assert_eq!(a.take(5, "now").await.unwrap(), Vec::new(), "nor takes a job");
            let report = a.beat(0, "now").await.unwrap();
            assert_eq!(report.leadership, Leadership::Leading { epoch: first + 1, taken: true, watermark: None });
            // The same holder, its lease held again: only the epoch is old.
            assert_eq!(
                a.claim(first, "2030-01-01 10:00", &[job("10", "/e")], &Limits::NONE).await.unwrap().0,
                Claim::Fenced,
                "a claim made under its older epoch is refused"
            );
            assert_eq!(
                a.claim(first + 1, "2030-01-01 10:00", &[job("10", "/e")], &Limits::NONE).await.unwrap().0,
                Claim::Claimed(vec![true])
            );
            let taken: Vec<String> = a.take(5, "now").await.unwrap().into_iter().map(|j| j.id).collect();
            assert_eq!(taken, ["q", "10"], "beating again, it takes them, oldest first");
        });
    }

    #[test]
    fn a_node_frozen_inside_a_claim_holds_no_lock_past_its_timeout() {
        let pg = PgServer::start();
        runtime().block_on(async {
            let (a, b) = (node(&pg, "a"), node(&pg, "b"));
            let first = epoch_of(&a).await;
            let (observer, connection) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(connection);
            let idle = "SELECT count(*) FROM pg_stat_activity s JOIN pg_locks l ON l.pid = s.pid
                WHERE s.application_name = 'hcron-scheduler a' AND s.state = 'idle in transaction'
                  AND l.relation = 'hcron_leader'::regclass AND l.mode = 'RowShareLock'";
            // a's claim is polled a moment at a time until it is seen inside its
            // transaction (the leader's row locked), then never again: a frozen node.
            let minutes: Vec<String> = (0..50).map(|m| format!("2030-01-01 10:{m:02}")).collect();
            let jobs: Vec<[JobRecord; 1]> = (0..50).map(|m| [job(&m.to_string(), "/e")]).collect();
            let mut frozen = None;
            for (minute, jobs) in minutes.iter().zip(&jobs) {
                let mut claim = Box::pin(a.claim(first, minute, jobs, &Limits::NONE));
                loop {
                    if tokio::time::timeout(Duration::from_micros(200), &mut claim).await.is_ok() {
                        break;
                    }
                    if observer.query_one(idle, &[]).await.unwrap().get::<_, i64>(0) == 1 {
                        frozen = Some(claim);
                        break;
                    }
                }
                if frozen.is_some() {
                    break;
                }
            }
            assert!(frozen.is_some(), "a's claim was never caught inside its transaction");
            // Past a's timeout its transaction is ended by the server: b's beat is not stalled by its lock.
            tokio::time::sleep(PAST_LEASE).await;
            let report = b.beat(0, "now").await.expect("b's beat is not held up by the frozen node's locks");
            assert_eq!(report.leadership, Leadership::Leading { epoch: first + 1, taken: true, watermark: None });
            drop(frozen);
        });
    }

    #[test]
    fn a_job_s_end_is_written_with_what_it_chained_and_read_back_by_any_node() {
        let pg = PgServer::start();
        runtime().block_on(async {
            let (a, b) = (node(&pg, "a"), node(&pg, "b"));
            a.beat(0, "t").await.unwrap();
            b.beat(0, "t").await.unwrap();
            a.queue(vec![job("10", "/e")], &Limits::NONE).await.unwrap();
            let taken = a.take(1, "2030-01-01 10:00:01.000000").await.unwrap();
            assert_eq!(
                taken,
                [JobRecord { result: JobResult::Running, ..job("10", "/e") }],
                "the queued record, every field of it, running"
            );
            let end = |id: &str| Change::Finished {
                id: id.into(),
                at: "2030-01-01 10:00:02.000000".into(),
                host: Some("h".into()),
                rv: Some(0),
                result: "success".into(),
                next: "/n".into(),
                exit_status: Some(0),
                stdout: Some("out".into()),
                stderr: Some(String::new()),
            };
            assert!(b.finish(&end("10"), &[job("11", "/n")], &Limits::NONE).await.unwrap().is_none(), "not b's job to end");
            assert!(a.finish(&end("10"), &[job("11", "/n")], &Limits::NONE).await.unwrap().is_some());
            let history = b.history("alice", None, None).await.unwrap();
            let ended = history.iter().find(|j| j.id == "10").unwrap();
            assert_eq!(
                (ended.started.as_deref(), ended.finished.as_deref(), ended.result.clone(), ended.next.as_str()),
                (Some("2030-01-01 10:00:01.000000"), Some("2030-01-01 10:00:02.000000"), JobResult::Success, "/n")
            );
            assert_eq!(
                (ended.host.as_deref(), ended.rv, ended.exit_status, ended.stdout.as_deref(), ended.stderr.as_deref()),
                (Some("h"), Some(0), Some(0), Some("out"), Some(""))
            );
            let chained: Vec<&str> = history.iter().filter(|j| j.result == JobResult::Queued).map(|j| j.id.as_str()).collect();
            assert_eq!(chained, ["11"], "what it chained is queued, once");
            let nodes: Vec<Option<&str>> = history.iter().map(|j| j.node.as_deref()).collect();
            assert_eq!(nodes, [Some("a"), None], "the node that ran it, and none for a queued job");
        });
    }

    #[test]
    fn the_watermark_and_the_slots_refuse_a_minute_twice() {
        let pg = PgServer::start();
        runtime().block_on(async {
            let a = node(&pg, "a");
            let epoch = epoch_of(&a).await;
            assert_eq!(a.claim(epoch, "2030-01-01 10:05", &[job("1", "/e")], &Limits::NONE).await.unwrap().0, Claim::Claimed(vec![true]));
            for minute in ["2030-01-01 10:05", "2030-01-01 09:59"] {
                let claim = a.claim(epoch, minute, &[job("2", "/e")], &Limits::NONE).await.unwrap().0;
                assert_eq!(claim, Claim::AlreadyPlanned("2030-01-01 10:05".into()), "{minute}");
            }
            // A slot written by hand for a later minute (a claim of another node, say) is not claimed again.
            pg.psql("INSERT INTO hcron_slots VALUES ('alice', '/e', '2030-01-01 10:06', 'x', 0, 'other')");
            let claim = a.claim(epoch, "2030-01-01 10:06", &[job("3", "/e"), job("4", "/f")], &Limits::NONE).await.unwrap().0;
            assert_eq!(claim, Claim::Claimed(vec![false, true]));
        });
        assert_eq!(pg.psql("SELECT string_agg(id, ',' ORDER BY id) FROM hcron_jobs").trim(), "1,4");
    }

    #[test]
    fn one_node_probes_a_host_whose_offline_period_is_over() {
        use hcron::exec::ProbeGate;
        let pg = PgServer::start();
        runtime().block_on(async {
            let (a, b) = (node(&pg, "a"), node(&pg, "b"));
            a.beat(0, "now").await.unwrap();
            b.beat(0, "now").await.unwrap();
            a.host_changed("h", Some(Duration::from_secs(3600))).await.unwrap();
            let hosts = b.hosts().await.unwrap();
            assert!(
                matches!(hosts.as_slice(), [(h, Some(Some(left)))] if h == "h" && *left > Duration::from_secs(3590) && *left <= Duration::from_secs(3600)),
                "another node sees it offline for the hour, by the database's clock: {hosts:?}"
            );
            assert!(!a.probe("h").await && !b.probe("h").await, "still offline: nobody probes");
            a.host_changed("h", Some(Duration::ZERO)).await.unwrap();
            assert!(b.probe("h").await, "the first to ask probes");
            assert!(!a.probe("h").await, "and no other");
            assert!(b.probe("h").await, "the prober may ask again");
            b.host_changed("h", Some(Duration::from_secs(60))).await.unwrap();
            assert!(!a.probe("h").await, "the probe failed: offline again");
            b.host_changed("h", None).await.unwrap();
            assert_eq!(a.hosts().await.unwrap(), [("h".to_owned(), None)], "back, for every node");
            assert!(a.probe("never-seen").await, "a host without a record may be probed");
        });
    }

    #[test]
    fn the_history_is_pruned_by_age_and_count_and_what_no_fence_needs_goes() {
        let pg = PgServer::start();
        runtime().block_on(async {
            let a = node(&pg, "a");
            let epoch = epoch_of(&a).await;
            assert_eq!(a.claim(epoch, "2030-01-03 10:00", &[job("1", "/e")], &Limits::NONE).await.unwrap().0, Claim::Claimed(vec![true]));
        });
        let ended = |id: &str, owner: &str, scheduled: &str, finished: &str, result: &str| {
            format!(
                "INSERT INTO hcron_jobs (id, grp, parent, owner, event, trigger, chain, scheduled, queued, finished, result, next)
                 VALUES ('{id}', '{id}', '{id}', '{owner}', '/e', 'clock', '/e', '{scheduled}', '{scheduled}', {finished}, '{result}', '')"
            )
        };
        for sql in [
            ended("old", "alice", "2020-01-01 00:00:00", "'2020-01-01 00:00:01'", "success"),
            ended("a1", "alice", "2030-01-01 00:00:01", "'2030-01-01 00:00:02'", "success"),
            ended("a2", "alice", "2030-01-01 00:00:02", "'2030-01-01 00:00:03'", "failure: x"),
            ended("a3", "alice", "2030-01-01 00:00:03", "'2030-01-01 00:00:04'", "success"),
            ended("b1", "bob", "2030-01-01 00:00:01", "'2030-01-01 00:00:02'", "success"),
            ended("q", "alice", "2019-01-01 00:00:00", "NULL", "queued"),
            "INSERT INTO hcron_slots VALUES ('alice', '/e', '2030-01-02 09:59', 'x', 1, 'n'), ('alice', '/e', '2030-01-02 10:00', 'y', 1, 'n')".into(),
            "INSERT INTO hcron_nodes (id, name, number, timeout_ms, dead) VALUES ('gone', 'gone', 70, 1, now() - interval '2 days')".into(),
        ] {
            pg.psql(&sql);
        }
        let deleted = runtime().block_on(node(&pg, "b").prune(Some("2025-01-01 00:00:00.000000".into()), Some(2))).unwrap();
        assert_eq!(deleted, 2, "the old one, and alice's third newest ended");
        let ids = pg.psql("SELECT string_agg(id, ',' ORDER BY id) FROM hcron_jobs");
        assert_eq!(ids.trim(), "1,a2,a3,b1,q", "never a queued or running job");
        let slots = pg.psql("SELECT string_agg(minute, ',' ORDER BY minute) FROM hcron_slots");
        assert_eq!(slots.trim(), "2030-01-02 10:00,2030-01-03 10:00", "a day behind the watermark is kept");
        assert_eq!(pg.psql("SELECT count(*) FROM hcron_nodes WHERE id = 'gone'").trim(), "0");
    }

    #[test]
    fn a_job_running_on_a_node_gone_from_the_table_is_lost_too() {
        let pg = PgServer::start();
        runtime().block_on(async {
            let a = node(&pg, "a");
            a.beat(0, "t0").await.unwrap();
            // Its node stopped cleanly long ago and was pruned, its job still marked running.
            pg.psql(
                "INSERT INTO hcron_jobs (id, grp, parent, owner, event, trigger, chain, scheduled, queued, result, next, node)
                 VALUES ('v', 'v', 'v', 'alice', '/e', 'clock', '/e', 's', 'q', 'running', '', 'vanished')",
            );
            tokio::time::sleep(PAST_LEASE).await;
            let report = a.beat(0, "t1").await.unwrap();
            let lost: Vec<(&str, String)> = report.lost.iter().map(|l| (l.record.id.as_str(), l.record.result.to_string())).collect();
            assert_eq!(lost, [("v", "failure: lost: node vanished died while the job ran".into())]);
            assert!(report.lost[0].record.result.failure().is_some_and(|f| f.is_lost()), "of the lost kind");
        });
    }

    #[test]
    fn an_outage_is_news_once_its_end_once_and_the_heartbeat_keeps_its_connection() {
        let pg = PgServer::start();
        let backends =
            || pg.psql("SELECT string_agg(pid::text, ',' ORDER BY pid) FROM pg_stat_activity WHERE application_name = 'hcron-scheduler a'");
        runtime().block_on(async {
            let a = node(&pg, "a");
            assert!(!a.beat(0, "t").await.unwrap().recovered, "no outage yet");
            let first = backends();
            assert!(!first.trim().is_empty(), "the node's connection names it");
            assert!(!a.beat(0, "t").await.unwrap().recovered);
            assert_eq!(backends(), first, "one connection for every beat");
            pg.stop();
            let error = a.beat(0, "t").await.unwrap_err();
            assert!(error.is_news() && error.kind == hcron::cluster::ErrorKind::Outage, "the first to meet the outage says so: {error:?}");
            let again = a.queued().await.unwrap_err();
            assert!(!again.is_news() && again.kind == hcron::cluster::ErrorKind::Outage, "and no one after it: {again:?}");
            pg.restart();
            assert!(a.beat(0, "t").await.unwrap().recovered, "back, said once");
            assert!(!a.beat(0, "t").await.unwrap().recovered);
        });
    }

    #[test]
    fn nodes_taking_at_once_never_take_the_same_job() {
        let pg = PgServer::start();
        let taken = runtime().block_on(async {
            let nodes: Vec<std::sync::Arc<Cluster>> = (0..3).map(|n| std::sync::Arc::new(node(&pg, &format!("n{n}")))).collect();
            for node in &nodes {
                node.beat(0, "now").await.unwrap();
            }
            let jobs: Vec<JobRecord> = (0..300).map(|n| job(&format!("{n:x}"), &format!("/e{n}"))).collect();
            nodes[0].queue(jobs, &Limits::NONE).await.unwrap();
            let mut takes = tokio::task::JoinSet::new();
            for node in nodes {
                takes.spawn(async move {
                    let mut mine = Vec::new();
                    loop {
                        let batch = node.take(7, "now").await.unwrap();
                        if batch.is_empty() {
                            return mine;
                        }
                        mine.extend(batch.into_iter().map(|j| j.id));
                    }
                });
            }
            takes.join_all().await
        });
        let mut every: Vec<&String> = taken.iter().flatten().collect();
        let count = every.len();
        every.sort();
        every.dedup();
        assert_eq!((count, every.len()), (300, 300), "each job taken once");
        assert!(
            taken.iter().filter(|mine| !mine.is_empty()).count() >= 2,
            "the work was shared: {:?}",
            taken.iter().map(Vec::len).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_node_without_beats_is_declared_dead_only_by_one_that_beat_through_a_timeout_and_its_jobs_are_lost() {
        let pg = PgServer::start();
        runtime().block_on(async {
            let (a, c) = (node(&pg, "a"), node(&pg, "c"));
            c.beat(0, "now").await.unwrap();
            c.queue(vec![job("10", "/e")], &Limits::NONE).await.unwrap();
            assert_eq!(c.take(1, "t0").await.unwrap().len(), 1);
            // c stops beating, past its timeout. a, just arrived (a database back
            // after an outage looks the same), has not beaten through a whole
            // timeout: it buries nobody.
            tokio::time::sleep(PAST_LEASE).await;
            let report = a.beat(0, "t1").await.unwrap();
            assert!(report.buried.is_empty() && report.lost.is_empty(), "{report:?}");
            let mut buried = false;
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let report = a.beat(0, "t2").await.unwrap();
                if !report.buried.is_empty() {
                    assert_eq!(report.buried, ["c"]);
                    assert_eq!(report.lost.len(), 1);
                    assert_eq!(report.lost[0].record.id, "10");
                    assert_eq!(report.lost[0].record.result.to_string(), "failure: lost: node c died while the job ran");
                    assert!(!report.lost[0].again, "a job queued as such is not a run again");
                    buried = true;
                    break;
                }
            }
            assert!(buried, "a beat through a timeout and never took c for dead");
            // c wakes: its end of the lost job is refused, and it joins again under a new id.
            let end = Change::Finished {
                id: "10".into(),
                at: "t3".into(),
                host: None,
                rv: Some(0),
                result: "success".into(),
                next: String::new(),
                exit_status: None,
                stdout: None,
                stderr: None,
            };
            let old = c.id();
            let report = c.beat(0, "t3").await.unwrap();
            assert!(matches!(report.beat, Beat::Registered { again: true, .. }), "{report:?}");
            assert_ne!(c.id(), old);
            assert!(c.finish(&end, &[job("11", "/next")], &Limits::NONE).await.unwrap().is_none(), "not its job any more");
        });
        assert_eq!(pg.psql("SELECT result FROM hcron_jobs WHERE id = '10'").trim(), "failure: lost: node c died while the job ran");
        assert_eq!(pg.psql("SELECT count(*) FROM hcron_jobs WHERE id = '11'").trim(), "0", "nothing chained by the zombie");
    }

    fn owned(id: &str, owner: &str) -> JobRecord {
        JobRecord { user: owner.into(), ..job(id, "/e") }
    }

    #[test]
    fn queued_jobs_are_taken_in_owners_turns_however_many_one_owner_queued() {
        let pg = PgServer::start();
        runtime().block_on(async {
            let a = node(&pg, "a");
            a.beat(0, "now").await.unwrap();
            let flood: Vec<JobRecord> = (0..5).map(|n| owned(&format!("f{n}"), "flood")).collect();
            a.queue(flood, &Limits::NONE).await.unwrap();
            a.queue(vec![owned("o0", "other"), owned("o1", "other")], &Limits::NONE).await.unwrap();
            let ids = |taken: Vec<JobRecord>| {
                let mut ids: Vec<String> = taken.into_iter().map(|j| j.id).collect();
                ids.sort();
                ids
            };
            // Neither was served: both give their oldest.
            assert_eq!(ids(a.take(2, "t").await.unwrap()), ["f0", "o0"]);
            // Both were served once; one slot: by name, then the other's turn.
            assert_eq!(ids(a.take(1, "t").await.unwrap()), ["f1"]);
            assert_eq!(ids(a.take(1, "t").await.unwrap()), ["o1"]);
            // Only flood is left: it takes every slot.
            assert_eq!(ids(a.take(5, "t").await.unwrap()), ["f2", "f3", "f4"]);
            assert!(a.take(5, "t").await.unwrap().is_empty());
        });
        assert_eq!(pg.psql("SELECT string_agg(owner || '=' || queued, ',' ORDER BY owner) FROM hcron_queues").trim(), "flood=0,other=0");
    }

    #[test]
    fn limits_drop_what_passes_them_and_an_activation_past_its_owner_s_is_refused_unrecorded() {
        let pg = PgServer::start();
        runtime().block_on(async {
            let a = node(&pg, "a");
            a.beat(0, "now").await.unwrap();
            let limits = Limits { total: 3, per_owner: 2 };
            let dropped = a.queue(vec![owned("a0", "alice"), owned("a1", "alice"), owned("a2", "alice")], &limits).await.unwrap();
            assert_eq!(dropped, [("a2".to_owned(), hcron::engine::queue::Refusal::OwnerFull(2))]);
            let dropped = a.queue(vec![owned("b0", "bob"), owned("b1", "bob")], &limits).await.unwrap();
            assert_eq!(dropped, [("b1".to_owned(), hcron::engine::queue::Refusal::Full(3))]);
            let refused = a.activate(&owned("a3", "alice"), &Limits { total: 10, per_owner: 2 }).await.unwrap();
            assert_eq!(refused, Err(hcron::engine::queue::Refusal::OwnerFull(2)));
            let refused = a.activate(&owned("b2", "bob"), &limits).await.unwrap();
            assert_eq!(refused, Ok(vec![("b2".to_owned(), hcron::engine::queue::Refusal::Full(3))]), "past the total: dropped");
            assert_eq!(a.queued().await.unwrap(), 3);
        });
        let results = pg.psql("SELECT string_agg(id || ' ' || result || ' ' || (finished IS NOT NULL), ',' ORDER BY id) FROM hcron_jobs");
        assert_eq!(
            results.trim(),
            "a0 queued false,a1 queued false,a2 dropped: user queue full true,b0 queued false,b1 dropped: queue full true,b2 dropped: queue full true"
        );
    }

    #[test]
    fn a_database_of_the_schema_before_versions_is_migrated_once_keeping_every_record() {
        let pg = PgServer::start();
        pg.psql(include_str!("fixtures/schemas/cluster-0.sql"));
        let before = pg.psql("SELECT string_agg(to_jsonb(j)::text, '\n' ORDER BY id) FROM hcron_jobs j");
        runtime().block_on(async {
            // Three nodes starting at once: one migrates, the others find it done.
            let nodes = [node(&pg, "a"), node(&pg, "b"), node(&pg, "c")];
            let found = futures_join3(nodes[0].prepare(), nodes[1].prepare(), nodes[2].prepare()).await;
            let mut found: Vec<Option<i32>> = found.into_iter().map(Result::unwrap).collect();
            found.sort();
            assert_eq!(found, [Some(0), Some(hcron::cluster::SCHEMA_VERSION), Some(hcron::cluster::SCHEMA_VERSION)]);
        });
        assert_eq!(pg.psql("SELECT version FROM hcron_schema").trim(), hcron::cluster::SCHEMA_VERSION.to_string());
        let after = pg.psql("SELECT string_agg((to_jsonb(j) - 'unknown_since')::text, '\n' ORDER BY id) FROM hcron_jobs j");
        assert_eq!(after, before, "every job as it was");
        for (table, rows) in
            [("hcron_nodes", 2), ("hcron_slots", 1), ("hcron_watermark", 1), ("hcron_hosts", 1), ("hcron_mail", 1), ("hcron_reloads", 1)]
        {
            assert_eq!(pg.psql(&format!("SELECT count(*) FROM {table}")).trim(), rows.to_string(), "{table}");
        }
        assert_eq!(pg.psql("SELECT epoch FROM hcron_leader").trim(), "7");
        // The owners' counts are those of the jobs queued.
        assert_eq!(pg.psql("SELECT string_agg(owner || '=' || queued, ',' ORDER BY owner) FROM hcron_queues").trim(), "alice=2,bob=1");
    }

    #[test]
    fn a_database_of_a_newer_schema_is_refused_with_its_version_and_left_alone() {
        let pg = PgServer::start();
        runtime().block_on(async {
            node(&pg, "a").prepare().await.unwrap();
        });
        pg.psql("UPDATE hcron_schema SET version = 99");
        runtime().block_on(async {
            let error = node(&pg, "b").prepare().await.unwrap_err().to_string();
            assert!(error.contains("the cluster database has schema version 99, which this hcron-scheduler (schema version"), "{error}");
            let beat = node(&pg, "c").beat(0, "now").await.unwrap_err();
            assert_eq!(beat.kind, hcron::cluster::ErrorKind::Version(99));
            assert!(beat.to_string().contains("schema version 99"), "a first beat finds it too: {beat}");
        });
        assert_eq!(pg.psql("SELECT version FROM hcron_schema").trim(), "99");
        assert_eq!(pg.psql("SELECT count(*) FROM hcron_nodes").trim(), "0", "nobody registered");
    }

    /// The three outputs of three futures run together.
    async fn futures_join3<T>(a: impl Future<Output = T>, b: impl Future<Output = T>, c: impl Future<Output = T>) -> [T; 3] {
        let (a, b, c) = tokio::join!(a, b, c);
        [a, b, c]
    }
}
