//! The ledger and the cluster (issue 14), release build, as root (the
//! PostgreSQL server runs as `postgres`).
//!
//! `cargo bench --bench cluster`. Targets: the takeover after `kill -9` of
//! the leader with the default settings, median and worst of 10, within
//! 10 s; 10,000 events due in the same minute on 3 nodes (`command=true`,
//! local), all started within 5 s of the boundary and spread over the
//! nodes; the ledger's cost on a single node under 10 % of the
//! 1,000-jobs-in-a-minute benchmark (`--bench daemon`).

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use hcron::history::{Change, Claim, HistoryWriter, JobRecord, Retention};
use jiff::ToSpan;

#[path = "../tests/pg_util.rs"]
#[allow(dead_code)]
mod pg_util;
mod support;

/// Runs every part, or those named in the arguments (`ledger`, `takeover`, `due`).
fn main() {
    let named: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wanted = |part: &str| named.is_empty() || named.iter().any(|n| n == part);
    if wanted("ledger") {
        ledger_cost();
    }
    if wanted("takeover") {
        takeover(&pg_util::PgServer::start());
    }
    if wanted("due") {
        ten_thousand_due(Some(&pg_util::PgServer::start()), 3);
        ten_thousand_due(None, 1);
    }
}

/// One job's queued record, as the clock makes it.
fn record(n: usize) -> JobRecord {
    JobRecord {
        id: format!("{:x}", 0x1000_0000 + n),
        group: format!("{:x}", 0x1000_0000 + n),
        parent: format!("{:x}", 0x1000_0000 + n),
        user: "bench".into(),
        event: format!("/d{:04}/e", n),
        trigger: "clock".into(),
        chain: format!("/d{:04}/e", n),
        scheduled: "2030-01-01 10:00:00.000000".into(),
        queued: "2030-01-01 10:00:00.000000".into(),
        result: "queued".into(),
        ..JobRecord::default()
    }
}

/// The single node's minute of 1,000 jobs: queued records written without
/// the ledger (the writer's batch, as before it) against one claim that
/// writes the slots, the records and the watermark in one transaction.
fn ledger_cost() {
    const JOBS: usize = 1_000;
    const ROUNDS: usize = 20;
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite");
        let records: Vec<JobRecord> = (0..JOBS).map(|n| record(round * JOBS + n)).collect();
        let mut writer = HistoryWriter::start(&path, Retention::default()).unwrap();
        let started = Instant::now();
        for record in &records {
            writer.record(Change::Queued(Box::new(record.clone())));
        }
        writer.close();
        without.push(started.elapsed());
        let dir = tempfile::tempdir().unwrap();
        let writer = HistoryWriter::start(&dir.path().join("history.sqlite"), Retention::default()).unwrap();
        let started = Instant::now();
        let claim = runtime.block_on(writer.claim("2030-01-01 10:00".into(), records)).unwrap().unwrap();
        with.push(started.elapsed());
        assert_eq!(claim, Claim::Claimed(vec![true; JOBS]));
    }
    let (without, with) = (median(&mut without), median(&mut with));
    let extra = with.saturating_sub(without);
    // The same 1,000 jobs' minute in `--bench daemon`: the last started 1.01 s after the boundary (BENCHMARKS.md).
    let minute = Duration::from_millis(1010);
    println!(
        "single node, {JOBS} jobs in a minute: records without the ledger {:.1} ms, the ledger's claim (slots, records, watermark) {:.1} ms \
         (median of {ROUNDS}); exactly-once adds {:.1} ms; the whole claim is {:.1} % of the {:.2} s it takes to start them",
        ms(without),
        ms(with),
        ms(extra),
        with.as_secs_f64() / minute.as_secs_f64() * 100.0,
        minute.as_secs_f64()
    );
}

/// A node's configuration on `pg` with the default heartbeat settings.
fn node_config(dir: &Path, pg: &pg_util::PgServer, n: usize, extra: &str) -> std::path::PathBuf {
    let path = dir.join(format!("n{n}.toml"));
    std::fs::write(&path, format!("cluster_database = \"{}\"\nnode_name = \"n{n}\"\n{extra}", pg.url())).unwrap();
    path
}

/// Starts node `n` on the tree `events`.
fn start(dir: &Path, events: &Path, config: &Path, n: usize) -> Child {
    support::standalone(events, &dir.join(format!("state{n}")), &["--config".as_ref(), config.as_os_str()])
}

/// The leading node's name and the epoch, by the database's clock.
fn leader(pg: &pg_util::PgServer) -> Option<(usize, i64)> {
    let row = pg.psql(
        "SELECT n.name || ' ' || l.epoch FROM hcron_leader l JOIN hcron_nodes n ON n.id = l.holder WHERE l.expires > now() AND n.dead IS NULL",
    );
    let (name, epoch) = row.trim().split_once(' ')?;
    Some((name.strip_prefix('n')?.parse().ok()?, epoch.parse().ok()?))
}

fn tables(pg: &pg_util::PgServer) -> bool {
    pg.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'hcron_leader'").trim() == "1"
}

/// Kill -9 of the leader of three nodes, ten times: until another node
/// leads (default settings: beats of at most 2 s, dead after 6 s).
fn takeover(pg: &pg_util::PgServer) {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events");
    std::fs::create_dir_all(&events).unwrap();
    let configs: Vec<_> = (0..3).map(|n| node_config(dir.path(), pg, n, "")).collect();
    let mut nodes: Vec<Child> = (0..3).map(|n| start(dir.path(), &events, &configs[n], n)).collect();
    support::wait_for(Duration::from_secs(30), || tables(pg) && leader(pg).is_some());
    let mut times = Vec::new();
    for _ in 0..10 {
        let (old, epoch) = leader(pg).unwrap();
        nodes[old].kill().unwrap();
        let _ = nodes[old].wait();
        let killed = Instant::now();
        support::wait_for(Duration::from_secs(30), || leader(pg).is_some_and(|(n, e)| n != old && e > epoch));
        times.push(killed.elapsed());
        nodes[old] = start(dir.path(), &events, &configs[old], old);
        // Settled: the new node has joined before the next round.
        support::wait_for(Duration::from_secs(30), || pg.psql("SELECT count(*) FROM hcron_nodes WHERE dead IS NULL").trim() == "3");
    }
    stop(nodes);
    let worst = *times.iter().max().unwrap();
    println!(
        "takeover after kill -9 of the leader (3 nodes, heartbeat_interval 2, factor 3: dead after 6 s): median {:.2} s, worst {:.2} s of 10",
        median(&mut times).as_secs_f64(),
        worst.as_secs_f64()
    );
}

/// 10,000 events due in one minute on `count` nodes of a cluster on `pg`,
/// or on one single node (no `pg`, for comparison on the same cores): when
/// the minute was claimed, when the last job started, and where they ran.
fn ten_thousand_due(pg: Option<&pg_util::PgServer>, count: usize) {
    const DUE: usize = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events");
    let now = jiff::Zoned::now().datetime();
    let due = now.checked_add(80.seconds()).unwrap().with().second(0).subsec_nanosecond(0).build().unwrap();
    for d in 0..DUE / 100 {
        let sub = events.join(format!("d{d:03}"));
        std::fs::create_dir_all(&sub).unwrap();
        for e in 0..100 {
            let text = format!(
                "as_user=\nhost=localhost\ncommand=true\nnotify_email=\nnotify_message=\nwhen_month=*\nwhen_day=*\nwhen_hour={}\nwhen_minute={}\nwhen_dow=*\n",
                due.hour(),
                due.minute()
            );
            std::fs::write(sub.join(format!("e{e:02}")), text).unwrap();
        }
    }
    // One user: the per-user bound raised with the global one.
    let extra = "max_activated_events = 100\nmax_queued_jobs = 100000\nmax_queued_jobs_per_user = 100000\n";
    let configs: Vec<_> = (0..count)
        .map(|n| match pg {
            Some(pg) => node_config(dir.path(), pg, n, extra),
            None => {
                let path = dir.path().join("single.toml");
                std::fs::write(&path, extra).unwrap();
                path
            }
        })
        .collect();
    let nodes: Vec<Child> = (0..count).map(|n| start(dir.path(), &events, &configs[n], n)).collect();
    let logs = || -> Vec<String> {
        (0..count).map(|n| std::fs::read_to_string(dir.path().join(format!("state{n}/hcron.log"))).unwrap_or_default()).collect()
    };
    let executes = |logs: &[String]| -> usize { logs.iter().map(|log| log.matches("|execute|").count()).sum() };
    support::wait_for(Duration::from_secs(200), || executes(&logs()) >= DUE);
    stop(nodes);
    let logs = logs();
    let stamps = |kind: &str| -> Vec<jiff::civil::DateTime> {
        logs.iter().flat_map(|log| log.lines().filter(move |l| l.contains(kind)).map(support::stamp).collect::<Vec<_>>()).collect()
    };
    let after = |t: &jiff::civil::DateTime| t.duration_since(due).as_secs_f64();
    let claimed = stamps("|work|").into_iter().filter(|t| *t >= due).min().unwrap();
    let last = stamps("|execute|").into_iter().max().unwrap();
    let per_node: Vec<usize> = logs.iter().map(|log| log.matches("|execute|").count()).collect();
    let what = if pg.is_some() { format!("{count} nodes of a cluster") } else { "a single node (no cluster)".to_owned() };
    println!(
        "{DUE} due on {what}: claimed {:.3} s after the boundary ({:.0} claims/s), last started {:.3} s after it; started per node {per_node:?}",
        after(&claimed),
        DUE as f64 / after(&claimed).max(0.001),
        after(&last)
    );
}

fn stop(nodes: Vec<Child>) {
    for mut node in nodes {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(node.id() as i32, libc::SIGTERM) };
        let _ = node.wait();
    }
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
