//! Remote execution against real OpenSSH servers on loopback addresses:
//! 127.0.0.11 and .12 serve SSH, .13 drops packets (an nftables rule, so
//! connections time out, until the test lifts it: an sshd listens behind
//! it), .14 has nothing listening (refused).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::bounded::Bounded;
use crate::daemon_util::{RunningDaemon, eventually};
use crate::root_util::{RootSetup, TestUser, run};
use crate::sshd_util::{DropRule, Sshd, give_keys};

/// A test user, an sshd on .11 and .12, a drop rule for .13, and a root daemon.
struct Remote {
    sshd: Sshd,
    drop_rule: Option<DropRule>,
    user: TestUser,
    daemon: RunningDaemon,
    _setup: RootSetup,
}

impl Remote {
    fn start(extra_config: &str) -> Remote {
        let setup = RootSetup::new(&[], &format!("command_spawn_timeout = 2\n{extra_config}"));
        let user = TestUser::create("s", &setup.homes());
        std::fs::write(setup.dir.path().join("etc/hcron.allow"), format!("{}\n", user.name)).unwrap();
        let sshd = Sshd::start(&setup.dir.path().join("sshd"), &["127.0.0.11", "127.0.0.12", "127.0.0.13"], &user, "AcceptEnv HCRON_*\n");
        let port = sshd.port;
        let aliases: String = [11, 12, 13, 14]
            .map(|n| format!("Host h{n}\n  HostName 127.0.0.{n}\n  Port {port}\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n"))
            .concat();
        give_keys(&user, &aliases);
        let drop_rule = Some(DropRule::add(&user.name, "127.0.0.13", port));
        let daemon = setup.start();
        Remote { sshd, drop_rule, user, daemon, _setup: setup }
    }

    fn event(&self, name: &str, host: &str, command: &str, extra: &str) {
        self.user.event(name, &format!("as_user=\nhost={host}\ncommand={command}\nnotify_email=\nnotify_message=\n{extra}"));
    }

    fn activate(&self, event: &str) {
        let (_, err, code) = self.daemon.hcron_as(self.user.as_ids(), &["activate", event]);
        assert_eq!(code, 0, "{err}");
    }

    fn reload(&self) {
        let (_, err, code) = self.daemon.hcron_as(self.user.as_ids(), &["reload"]);
        assert_eq!(code, 0, "{err}");
    }

    /// Waits for the `n`th `done` line of `event`.
    fn wait_done(&self, event: &str, n: usize, limit: Duration) -> String {
        let done = || self.daemon.log_lines("done", event);
        assert!(eventually(limit, || done().len() >= n), "no done #{n} for {event}:\n{}", self.daemon.log_text());
        done()[n - 1].clone()
    }

    fn execute_lines(&self, event: &str) -> Vec<String> {
        self.daemon.log_lines("execute", event)
    }

    /// This user's history of `event`.
    fn history(&self, event: &str) -> Vec<serde_json::Value> {
        self.daemon.history(self.user.as_ids(), &[event])
    }

    /// How many connections sshd has accepted so far.
    fn connections(&self) -> usize {
        self.sshd.connections()
    }

    /// The row of `host` in `hcron info hosts`.
    fn host_row(&self, host: &str) -> String {
        let (out, err, code) = self.daemon.hcron_as(self.user.as_ids(), &["info", "hosts"]);
        assert_eq!(code, 0, "{err}");
        out.lines().find(|l| l.starts_with(&format!("{host} "))).unwrap_or_else(|| panic!("no {host} in {out}")).to_owned()
    }

    fn file(&self, name: &str) -> PathBuf {
        self.user.home.join(name)
    }

    fn lift_drop_rule(&mut self) {
        self.drop_rule = None;
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        let _ = Command::new("pkill").args(["-u", &self.user.name]).output_bounded();
    }
}

/// The `offline until` time of a row of `hcron info hosts` (host, state, failures, date, time, ...).
fn offline_until(row: &str) -> jiff::civil::DateTime {
    let fields: Vec<&str> = row.split_whitespace().collect();
    format!("{}T{}", fields[3], fields[4]).parse().unwrap_or_else(|e| panic!("{e}: {row}"))
}

#[test]
fn a_job_runs_as_the_user_on_the_remote_and_reuses_the_connection() {
    let remote = Remote::start("");
    remote.event("run", "h11", &format!("id > {}", remote.file("remote_ran").display()), "");
    remote.reload();
    remote.activate("/run");
    let done = remote.wait_done("/run", 1, Duration::from_secs(10));
    assert!(done.contains("nexteventtype=None"), "{done}");
    assert!(eventually(Duration::from_secs(5), || remote.file("remote_ran").exists()), "{}", remote.daemon.log_text());
    let text = std::fs::read_to_string(remote.file("remote_ran")).unwrap();
    assert!(text.starts_with(&format!("uid={}({})", remote.user.uid, remote.user.name)), "{text}");
    assert!(remote.execute_lines("/run")[0].contains("host=h11") && remote.execute_lines("/run")[0].contains("|rv=0"));

    // The master connection stays; killing it does not fail the next job.
    let masters = Path::new(&remote._setup.dir.path()).join("run/ssh").join(&remote.user.name);
    let socket = std::fs::read_dir(&masters).unwrap().filter_map(Result::ok).find(|e| e.path().extension().is_none()).unwrap().path();
    assert!(std::os::unix::net::UnixStream::connect(&socket).is_ok(), "a live master");
    let check = Command::new("ssh")
        .args(["-O", "check", "-o"])
        .arg(format!("ControlPath={}", socket.display()))
        .arg("h11")
        .output_bounded()
        .unwrap();
    let pid: i32 =
        String::from_utf8_lossy(&check.stderr).split("pid=").nth(1).unwrap().trim_end_matches([')', '\n', '\r']).parse().unwrap();
    run("kill", &["-9", &pid.to_string()]);
    std::fs::remove_file(remote.file("remote_ran")).unwrap();
    remote.activate("/run");
    let done = remote.wait_done("/run", 2, Duration::from_secs(10));
    assert!(eventually(Duration::from_secs(5), || remote.file("remote_ran").exists()), "{done}");
    assert!(remote.execute_lines("/run")[1].contains("|rv=0"));
    assert_eq!(remote.connections(), 2, "a new master for the killed one");
}

#[test]
fn jobs_share_one_master_connection_unless_ssh_control_persist_is_zero() {
    for (persist, expected) in [("", 1), ("ssh_control_persist = 0\n", 4)] {
        let remote = Remote::start(persist);
        remote.event("run", "h11", &format!("echo $HCRON_JOB_ID >> {}", remote.file("ran").display()), "exec_wait=yes\n");
        remote.reload();
        // Two one after the other, then two at once.
        for n in 1..=2 {
            remote.activate("/run");
            remote.wait_done("/run", n, Duration::from_secs(10));
        }
        remote.activate("/run");
        remote.activate("/run");
        remote.wait_done("/run", 4, Duration::from_secs(10));
        assert!(remote.execute_lines("/run").iter().all(|l| l.contains("|rv=0")), "{}", remote.daemon.log_text());
        // Each job's id reached it (its HCRON_* variables are sent, and accepted here).
        let ran = std::fs::read_to_string(remote.file("ran")).unwrap();
        let mut ids: Vec<String> = remote.history("/run").iter().map(|job| job["id"].as_str().unwrap().to_owned()).collect();
        let mut seen: Vec<String> = ran.lines().map(str::to_owned).collect();
        ids.sort();
        seen.sort();
        assert_eq!(seen, ids, "{ran}");
        assert_eq!(remote.connections(), expected, "connections accepted by sshd with {persist:?}");
        // A refused host is a connection failure, with or without a master (ssh's 255).
        remote.event("refused", "h14", "true", "");
        remote.reload();
        remote.activate("/refused");
        remote.wait_done("/refused", 1, Duration::from_secs(10));
        let result = remote.history("/refused")[0]["result"].as_str().unwrap().to_owned();
        assert!(result.starts_with("failure: cannot reach host (h14): "), "{persist:?}: {result}");
    }
}

#[test]
fn refused_and_timed_out_hosts_fail_over_and_go_offline() {
    let mut remote = Remote::start("host_offline_timeout = 4\n");
    let failover = "failover_event=/fo\n";
    remote.event("refused", "h14", "true", failover);
    remote.event("dropped", "h13", "true", failover);
    remote.event("fo", "h11", &format!("echo $HCRON_EVENT_CHAIN >> {}", remote.file("fo").display()), "");
    remote.reload();

    let started = Instant::now();
    remote.activate("/refused");
    let done = remote.wait_done("/refused", 1, Duration::from_secs(10));
    assert!(started.elapsed() < Duration::from_secs(2), "refused fails fast");
    assert!(done.contains("nexteventnames=/fo|nexteventtype=failover"), "{done}");
    assert!(remote.execute_lines("/refused")[0].contains("|rv=255"));

    // Three timeouts put .13 offline.
    for n in 1..=3 {
        let started = Instant::now();
        remote.activate("/dropped");
        remote.wait_done("/dropped", n, Duration::from_secs(10));
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(1900) && took < Duration::from_secs(6), "attempt {n} took {took:?}");
    }
    let log = remote.daemon.log_text();
    assert!(log.lines().any(|l| l.contains("|host-offline|") && l.contains("host=h13")), "{log}");
    assert!(log.lines().any(|l| l.contains("|alarm|") && l.contains("execute timeout expired (2)")), "{log}");
    assert!(eventually(Duration::from_secs(5), || std::fs::read_to_string(remote.file("fo")).is_ok_and(|t| t.lines().count() == 4)));

    // Offline: the next job fails at once, with the reason.
    let started = Instant::now();
    remote.activate("/dropped");
    let done = remote.wait_done("/dropped", 4, Duration::from_secs(5));
    assert!(started.elapsed() < Duration::from_secs(1), "an offline host does not wait on a timeout");
    assert!(done.contains("nexteventtype=failover"), "{done}");
    assert!(remote.daemon.log_text().contains("host (h13) host offline until "));
    let jobs = remote.history("/dropped");
    assert!(jobs.last().unwrap()["result"].as_str().unwrap().starts_with("failure: host offline until "), "{jobs:?}");

    // Host health survives a SIGHUP: re-reading the configuration keeps each host's state.
    let before = remote.host_row("h13");
    assert!(before.contains(" offline "), "{before}");
    let reloads = remote.daemon.log_text().matches("received signal to reload.").count();
    remote.daemon.signal(libc::SIGHUP);
    assert!(eventually(Duration::from_secs(5), || remote.daemon.log_text().matches("received signal to reload.").count() > reloads));
    assert_eq!(remote.host_row("h13"), before, "the same state, failures and offline time");

    // After the offline period, with the rule lifted, the probe brings it back.
    remote.lift_drop_rule();
    // `offline until` is shown to the second: past it once a second later.
    let until = offline_until(&before);
    let past = until.checked_add(jiff::ToSpan::second(1)).unwrap();
    assert!(eventually(Duration::from_secs(10), || jiff::Zoned::now().datetime() >= past), "offline until {until}");
    remote.activate("/dropped");
    let done = remote.wait_done("/dropped", 5, Duration::from_secs(10));
    assert!(done.contains("nexteventtype=None"), "the probe succeeded: {done}");
    assert!(remote.daemon.log_text().lines().any(|l| l.contains("|host-online|") && l.contains("host=h13")));
}

#[test]
fn host_health_thresholds_changed_by_sighup_apply_to_the_next_failure() {
    let remote = Remote::start("host_attempts_count = 100\nhost_offline_timeout = 60\n");
    remote.event("refused", "h14", "true", "");
    remote.reload();
    for n in 1..=2 {
        remote.activate("/refused");
        remote.wait_done("/refused", n, Duration::from_secs(10));
    }
    assert!(remote.host_row("h14").contains(" online "), "two of a hundred failures: {}", remote.host_row("h14"));
    let config = remote._setup.dir.path().join("etc/hcron.toml");
    let written = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        written.replace("host_attempts_count = 100\nhost_offline_timeout = 60", "host_attempts_count = 3\nhost_offline_timeout = 600"),
    )
    .unwrap();
    let reloads = remote.daemon.log_text().matches("received signal to reload.").count();
    remote.daemon.signal(libc::SIGHUP);
    assert!(eventually(Duration::from_secs(5), || remote.daemon.log_text().matches("received signal to reload.").count() > reloads));
    remote.activate("/refused");
    remote.wait_done("/refused", 3, Duration::from_secs(10));
    let row = remote.host_row("h14");
    assert!(row.contains(" offline ") && row.contains(" 3 "), "the third failure reaches the new count: {row}");
    // Offline for the new period: about ten minutes from now, not one.
    let until = offline_until(&row);
    let left = jiff::Zoned::now().datetime().until(until).unwrap().total(jiff::Unit::Second).unwrap();
    assert!((500.0..=601.0).contains(&left), "offline for {left} s more: {row}");
}

#[test]
fn remote_commands_that_fail_or_time_out_after_connecting_hold_nothing_against_the_host() {
    let remote = Remote::start("host_attempts_count = 2\nhost_offline_timeout = 600\n");
    remote.event("three", "h12", "exit 3", "exec_wait=yes\n");
    remote.event("slow", "h12", "sleep 30", "exec_wait=yes\nexec_timeout=1\n");
    remote.event("ok", "h12", "true", "exec_wait=yes\n");
    remote.reload();
    // Twice host_attempts_count of each: a non-zero exit, the job's own timeout.
    for (event, result) in [("/three", "failure: exit status 3"), ("/slow", "failure: timeout")] {
        for n in 1..=4 {
            remote.activate(event);
            remote.wait_done(event, n, Duration::from_secs(15));
        }
        let results: Vec<_> = remote.history(event).iter().map(|job| job["result"].clone()).collect();
        assert_eq!(results, vec![serde_json::json!(result); 4], "{event}");
    }
    let row = remote.host_row("h12");
    let fields: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(fields[1..3], ["online", "0"], "{row}");
    remote.activate("/ok");
    remote.wait_done("/ok", 1, Duration::from_secs(15));
    assert_eq!(remote.history("/ok")[0]["result"], "success");
}

#[test]
fn host_lists_fail_over_between_hosts() {
    let remote = Remote::start("host_attempts_count = 1\nhost_offline_timeout = 60\n");
    remote.event("list", "h13,h11", &format!("touch {}", remote.file("list_ran").display()), "");
    remote.event("both", "h13,h14", "true", "failover_event=/fo\n");
    remote.event("fo", "h11", "true", "");
    remote.reload();

    // Both hosts tried, both fail: then, and only then, the failover.
    remote.activate("/both");
    let done = remote.wait_done("/both", 1, Duration::from_secs(10));
    assert!(done.contains("nexteventnames=/fo|nexteventtype=failover"), "{done}");
    let executes = remote.execute_lines("/both");
    assert!(executes.len() == 2 && executes[0].contains("host=h13") && executes[1].contains("host=h14"), "{executes:?}");

    // Both offline now: the one that comes back first (h13, offline earlier) is tried.
    remote.activate("/both");
    remote.wait_done("/both", 2, Duration::from_secs(10));
    let log = remote.daemon.log_text();
    assert!(log.contains("all hosts of (h13,h14) are offline; trying (h13), the first to come back"), "{log}");
    assert_eq!(remote.execute_lines("/both").len(), 3);

    // h13 offline is skipped; the job runs on h11 and says so.
    remote.activate("/list");
    remote.wait_done("/list", 1, Duration::from_secs(10));
    let executes = remote.execute_lines("/list");
    assert!(executes.len() == 1 && executes[0].contains("host=h11") && executes[0].contains("|rv=0"), "{executes:?}");
    assert!(eventually(Duration::from_secs(5), || remote.file("list_ran").exists()));
    assert_eq!(remote.history("/list")[0]["host"], "h11");

    let row = |host: &str| remote.host_row(host);
    assert!(row("h11").contains(" online "), "{}", row("h11"));
    assert!(row("h13").contains(" offline ") && row("h13").contains("timed out"), "{}", row("h13"));
    assert!(row("h14").contains(" offline ") && row("h14").contains("refused"), "{}", row("h14"));
}

#[test]
fn exec_wait_records_the_exit_status_and_output_and_enforces_the_timeout() {
    let remote = Remote::start("");
    remote.event("three", "h12", "echo out; echo err >&2; exit 3", "exec_wait=yes\nfailover_event=/fo\n");
    remote.event("slow", "h12", "sleep 30", "exec_wait=yes\nexec_timeout=2\n");
    remote.event("fo", "h11", "true", "");
    remote.reload();
    remote.activate("/three");
    let done = remote.wait_done("/three", 1, Duration::from_secs(10));
    assert!(done.contains("nexteventtype=failover"), "{done}");
    let job = &remote.history("/three")[0];
    assert_eq!(
        (job["exit_status"].as_i64(), job["stdout"].as_str(), job["stderr"].as_str()),
        (Some(3), Some("out\n"), Some("err\n")),
        "{job}"
    );
    assert_eq!(job["result"], "failure: exit status 3");
    let (text, _, code) = remote.daemon.hcron_as(remote.user.as_ids(), &["history", "/three"]);
    assert_eq!(code, 0);
    assert!(text.contains("exit=3") && text.contains("\n    stdout: out\n") && text.contains("\n    stderr: err\n"), "{text}");

    let started = Instant::now();
    remote.activate("/slow");
    remote.wait_done("/slow", 1, Duration::from_secs(15));
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(5), "killed near 2 s, took {took:?}");
    let execute = remote.execute_lines("/slow")[0].clone();
    assert!(execute.contains("|rv=125"), "{execute}");
    // The job's own timeout: no alarm (that is for a start that took too
    // long) and nothing held against the host.
    assert_eq!(remote.history("/slow")[0]["result"], "failure: timeout");
    for event in ["/three", "/slow"] {
        assert_eq!(remote.daemon.log_lines("alarm", event), Vec::<String>::new(), "{event}");
    }
    let sleeping = || Command::new("pgrep").args(["-u", &remote.user.name, "-f", "sleep 30"]).output_bounded().unwrap().stdout;
    assert!(eventually(Duration::from_secs(3), || sleeping().is_empty()), "the remote command was killed too");
}
