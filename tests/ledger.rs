//! The single node's ledger: each scheduled minute once, across stops,
//! crashes and a clock stepped back, on a scaled minute
//! (`HCRON_TEST_MINUTE`: one second of real time per minute).

use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::civil::DateTime;

use crate::daemon_util::{RunningDaemon, eventually};

/// Every minute, `command=true`.
const EVERY_MINUTE: &str = "as_user=\nhost=localhost\ncommand=true\nnotify_email=\nnotify_message=\nwhen_month=*\nwhen_day=*\nwhen_hour=*\nwhen_minute=*\nwhen_dow=*\n";

/// A standalone node's tree, configuration and state.
pub struct Node {
    dir: tempfile::TempDir,
}

impl Node {
    /// A tree with `/tick` firing every minute; `config` is its `hcron.toml`.
    pub fn new(config: &str) -> Node {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("events")).unwrap();
        std::fs::write(dir.path().join("events/tick"), EVERY_MINUTE).unwrap();
        std::fs::write(dir.path().join("hcron.toml"), config).unwrap();
        Node { dir }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Starts the daemon with a minute of `seconds` real seconds from `anchor` (Unix time).
    pub fn start(&self, seconds: f64, anchor: i64) -> RunningDaemon {
        let config = self.dir.path().join("hcron.toml");
        let extra = ["--config", config.to_str().unwrap()];
        RunningDaemon::standalone_with(&self.dir.path().join("events"), &self.state(), &extra, |command| {
            command.env("HCRON_TEST_MINUTE", format!("{seconds}@{anchor}"));
        })
    }

    /// The scheduled minutes of `/tick`'s clock jobs in the history, in id order.
    pub fn scheduled(&self) -> Vec<DateTime> {
        column(&self.state().join("history.sqlite"), "SELECT scheduled FROM jobs WHERE trigger = 'clock' ORDER BY queued, id")
    }

    /// The ledger's minutes of `/tick`.
    fn slots(&self) -> Vec<DateTime> {
        column(&self.state().join("history.sqlite"), "SELECT minute FROM slots ORDER BY minute")
    }
}

/// The first column of `query` read as times.
fn column(path: &Path, query: &str) -> Vec<DateTime> {
    let Ok(connection) = rusqlite::Connection::open(path) else { return Vec::new() };
    let Ok(mut statement) = connection.prepare(query) else { return Vec::new() };
    let texts: Vec<String> = statement.query_map([], |row| row.get(0)).unwrap().map(Result::unwrap).collect();
    texts.iter().map(|t| parse_time(t)).collect()
}

/// `YYYY-MM-DD HH:MM[:SS[.ffffff]]`.
pub fn parse_time(text: &str) -> DateTime {
    let text = text.trim().replacen(' ', "T", 1);
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// The ranges of "missed N minute(s) from A to B" messages in `log`.
pub fn missed_ranges(log: &str) -> Vec<(DateTime, DateTime, i64)> {
    log.lines()
        .filter_map(|line| {
            let rest = &line[line.find("message=missed ")? + "message=missed ".len()..];
            let (count, rest) = rest.split_once(" minute(s) from ")?;
            let (first, rest) = rest.split_once(" to ")?;
            let last = rest.split(':').take(3).collect::<Vec<_>>().join(":");
            Some((parse_time(first), parse_time(&last), count.parse().ok()?))
        })
        .collect()
}

/// Every minute from the first scheduled to the last is either scheduled
/// exactly once or inside a range logged as missed; nothing else.
pub fn assert_each_minute_once(scheduled: &[DateTime], missed: &[(DateTime, DateTime, i64)]) {
    let mut seen = std::collections::BTreeMap::new();
    for minute in scheduled {
        *seen.entry(*minute).or_insert(0) += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "minutes run more than once: {twice:?}");
    let (Some(first), Some(last)) = (seen.keys().next().copied(), seen.keys().last().copied()) else { panic!("nothing ran") };
    let mut minute = first;
    let mut skipped = Vec::new();
    while minute <= last {
        let in_missed = missed.iter().any(|(a, b, _)| *a <= minute && minute <= *b);
        match (seen.contains_key(&minute), in_missed) {
            (true, true) => panic!("{minute} ran and was logged as missed"),
            (false, false) => skipped.push(minute),
            _ => {}
        }
        minute = minute.checked_add(jiff::ToSpan::minute(1)).unwrap();
    }
    assert!(skipped.is_empty(), "minutes neither run nor logged as missed: {skipped:?}");
    for (a, b, count) in missed {
        let span = a.until(*b).unwrap().total(jiff::Unit::Minute).unwrap() as i64 + 1;
        assert_eq!(span, *count, "a missed range's count is its length: {a} to {b}");
    }
}

fn unix_now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Waits until `node` has `count` clock jobs in its history.
fn wait_for(node: &Node, count: usize) {
    assert!(eventually(Duration::from_secs(30), || node.scheduled().len() >= count), "{} clock jobs, not {count}", node.scheduled().len());
}

#[test]
fn a_restarted_node_runs_each_minute_it_was_down_once_and_logs_what_is_beyond_max_catchup() {
    let node = Node::new("max_catchup_minutes = 3\n");
    let anchor = unix_now();
    let daemon = node.start(1.0, anchor);
    wait_for(&node, 3);
    // A crash, down for about six minutes: three are caught up, the rest missed.
    daemon.crash();
    let before = node.scheduled().len();
    std::thread::sleep(Duration::from_secs(6));
    let daemon = node.start(1.0, anchor);
    wait_for(&node, before + 5);
    let log = daemon.log_text();
    assert_eq!(missed_ranges(&log).len(), 1, "one gap beyond max_catchup_minutes, said once: {log}");
    assert!(daemon.hcron(&["info"]).0.contains("role:         single"));
    let (_, err, code) = daemon.hcron(&["info", "nodes"]);
    assert!(code != 0 && err.contains("a single node: no cluster_database is set"), "{code}: {err}");
    // A clean stop and a start within max_catchup_minutes: all caught up.
    daemon.stop();
    let before = node.scheduled().len();
    std::thread::sleep(Duration::from_millis(2500));
    let daemon = node.start(1.0, anchor);
    wait_for(&node, before + 4);
    daemon.stop();
    let log = std::fs::read_to_string(node.state().join("hcron.log")).unwrap();
    let missed = missed_ranges(&log);
    assert_eq!(missed.len(), 1, "the clean stop's minutes were all caught up: {missed:?}");
    let scheduled = node.scheduled();
    assert_each_minute_once(&scheduled, &missed);
    let mut in_order = scheduled.clone();
    in_order.sort();
    assert_eq!(scheduled, in_order, "minutes run in order, the caught-up ones too");
    assert_eq!(node.slots(), in_order, "the ledger holds exactly the minutes run");
}

#[test]
fn a_clock_stepped_back_across_a_restart_never_runs_a_minute_again() {
    let node = Node::new("");
    let first_anchor = unix_now() - 20;
    // From 20 s before now: scheduled time is 20 minutes ahead of the real time.
    let daemon = node.start(1.0, first_anchor);
    wait_for(&node, 2);
    daemon.stop();
    let last = *node.scheduled().last().unwrap();
    // Anchored at now, scheduled time is the real time: about 20 minutes back.
    let daemon = node.start(1.0, unix_now());
    std::thread::sleep(Duration::from_secs(3));
    let count = node.scheduled().len();
    assert!(
        node.scheduled().iter().all(|m| *m <= last),
        "nothing is scheduled until the clock passes the ledger's last minute {last}: {:?}",
        node.scheduled()
    );
    drop(daemon);
    // From the first anchor again: the clock is ahead once more, scheduling resumes after the last minute.
    let daemon = node.start(1.0, first_anchor);
    wait_for(&node, count + 1);
    daemon.stop();
    let scheduled = node.scheduled();
    assert_each_minute_once(&scheduled, &missed_ranges(&std::fs::read_to_string(node.state().join("hcron.log")).unwrap()));
    assert_eq!(scheduled[count - 1], last);
}

#[test]
fn minutes_with_nothing_due_write_no_status_line() {
    // §16: status lines while jobs are queued or running, and none while
    // idle. On a minute of one second, an idle daemon claims five minutes
    // in five seconds, and none of them is activity.
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events");
    std::fs::create_dir_all(&events).unwrap();
    std::fs::write(events.join("never"), EVERY_MINUTE.replace("when_day=*", "when_day=31").replace("when_month=*", "when_month=2"))
        .unwrap();
    let anchor = unix_now();
    let daemon = RunningDaemon::standalone_with(&events, &dir.path().join("state"), &[], |command| {
        command.env("HCRON_TEST_MINUTE", format!("1@{anchor}"));
    });
    let clock_ticks = || daemon.log_text().lines().filter(|l| l.contains("|trigger|") && l.contains("triggername=clock")).count();
    assert!(eventually(Duration::from_secs(20), || clock_ticks() >= 6), "{}", daemon.log_text());
    let status: Vec<String> = daemon.log_text().lines().filter(|l| l.contains("|status|")).map(str::to_owned).collect();
    assert!(status.is_empty(), "status lines while idle: {status:?}");
    assert!(daemon.stop().success());
}
