//! The real daemon in standalone mode, driven by the real client.

use std::time::Duration;

use crate::bounded::Bounded;
use crate::daemon_util::{RunningDaemon, eventually};

/// An event run only on demand or by chains, writing `text` to `file`.
fn writer(file: &std::path::Path, extra: &str) -> String {
    format!(
        "as_user=\nhost=localhost\ncommand=echo $HCRON_EVENT_NAME $HCRON_TRIGGER_NAME > {}; id >> {}\nnotify_email=\nnotify_message=\n{extra}",
        file.display(),
        file.display()
    )
}

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("events")).unwrap();
        Setup { dir }
    }

    fn events(&self) -> std::path::PathBuf {
        self.dir.path().join("events")
    }

    fn out(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn event(&self, name: &str, content: &str) {
        let path = self.events().join(name.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    fn start(&self) -> RunningDaemon {
        RunningDaemon::standalone(&self.events(), &self.dir.path().join("state"), &[])
    }

    /// `/block`: a command that keeps its slot for `seconds`.
    fn blocker(&self, seconds: u32) {
        self.event("block", &format!("as_user=\nhost=localhost\ncommand=sleep {seconds}\nexec_wait=yes\nnotify_email=\nnotify_message=\n"));
    }

    /// The configuration file [`Setup::start_configured`] writes.
    fn config(&self) -> std::path::PathBuf {
        self.dir.path().join("hcron.toml")
    }

    /// Starts the daemon with `config` as its `hcron.toml`.
    fn start_configured(&self, config: &str) -> RunningDaemon {
        std::fs::write(self.config(), config).unwrap();
        let config = self.config();
        RunningDaemon::standalone(&self.events(), &self.dir.path().join("state"), &["--config", config.to_str().unwrap()])
    }
}

/// Starts `/block` (see [`Setup::blocker`]) and waits until it runs.
fn occupy(daemon: &RunningDaemon) {
    assert_eq!(daemon.hcron(&["activate", "/block"]).2, 0);
    assert!(eventually(Duration::from_secs(5), || !daemon.log_lines("activate", "/block").is_empty()), "{}", daemon.log_text());
}

#[test]
fn on_demand_activation_runs_the_command_as_the_user() {
    let setup = Setup::new();
    setup.event("write", &writer(&setup.out("ran"), ""));
    let daemon = setup.start();
    let (out, err, code) = daemon.hcron(&["activate", "/write"]);
    assert_eq!((err.as_str(), code), ("", 0));
    // It says what was queued: the job id the log and the history carry.
    let job =
        out.strip_prefix("queued job ").and_then(|rest| rest.strip_suffix(" for event /write\n")).unwrap_or_else(|| panic!("{out:?}"));
    assert!(eventually(Duration::from_secs(5), || std::fs::read_to_string(setup.out("ran")).is_ok_and(|t| t.contains("uid="))));
    let text = std::fs::read_to_string(setup.out("ran")).unwrap();
    assert!(text.starts_with("/write ondemand\n"), "{text}");
    assert!(text.contains(&format!("uid={}(", nix::unistd::getuid())), "{text}");
    let log = daemon.log_text();
    assert!(log.contains("|trigger|") && log.contains("triggername=ondemand"), "{log}");
    assert!(log.lines().any(|l| l.contains("|activate|") && l.contains(&format!("|jobid={job}|"))), "{job}: {log}");
    assert!(log.lines().any(|l| l.contains("|execute|") && l.contains("eventname=/write") && l.contains("|rv=0")), "{log}");
    let (_, err, code) = daemon.hcron(&["activate", "/nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("no event (/nope)"), "{err}");
    assert!(daemon.stop().success());
}

#[test]
fn tree_edits_are_live_within_two_seconds_and_reload_prints_counts() {
    let setup = Setup::new();
    setup.event("first", &writer(&setup.out("first"), ""));
    setup.event("yearly", &writer(&setup.out("yearly"), "when_month=1\nwhen_day=1\nwhen_hour=0\nwhen_minute=0\nwhen_dow=*\n"));
    let daemon = setup.start();
    let (out, _, code) = daemon.hcron(&["reload"]);
    assert_eq!(code, 0);
    assert!(out.ends_with(": 2 events, 1 accepted, 1 rejected (0 templates).\n"), "{out}");
    setup.event("added", &writer(&setup.out("added"), "when_month=*\nwhen_day=*\nwhen_hour=*\nwhen_minute=*\nwhen_dow=*\n"));
    let live = eventually(Duration::from_secs(2), || daemon.hcron(&["list", "--show-status"]).0.contains("accepted:/added"));
    assert!(live, "not live within 2 s: {}", daemon.hcron(&["list", "--show-all"]).0);
    std::fs::remove_file(setup.events().join("first")).unwrap();
    assert!(eventually(Duration::from_secs(2), || !daemon.hcron(&["list"]).0.contains("/first")));
    assert!(daemon.stop().success());
}

#[test]
fn chains_run_through_the_daemon() {
    let setup = Setup::new();
    setup.event("a/start", &writer(&setup.out("start"), "next_event=second\n"));
    setup.event("a/second", &writer(&setup.out("second"), ""));
    // A loopback address with nothing listening: ssh is refused, the job fails and its failover runs.
    setup.event("a/remote", &writer(&setup.out("never"), "failover_event=../fo\n").replace("host=localhost", "host=127.0.0.14"));
    setup.event("fo", &writer(&setup.out("fo"), ""));
    let daemon = setup.start();
    assert_eq!(daemon.hcron(&["activate", "/a/start"]).2, 0);
    assert_eq!(daemon.hcron(&["activate", "/a/remote"]).2, 0);
    // The file exists from the redirection on: wait for what is written into it.
    let wrote = |name: &str, text: &str| std::fs::read_to_string(setup.out(name)).is_ok_and(|t| t.starts_with(text));
    assert!(
        eventually(Duration::from_secs(5), || wrote("second", "/a/second next\n") && wrote("fo", "/fo failover\n")),
        "{}",
        daemon.log_text()
    );
    assert!(!setup.out("never").exists());
    let log = daemon.log_text();
    assert!(log.lines().any(|l| l.contains("|execute|") && l.contains("host=127.0.0.14") && l.contains("|rv=255")), "{log}");
    let jobs = daemon.history(None, &[]);
    let by_event = |e: &str| jobs.iter().find(|j| j["event"] == e).unwrap_or_else(|| panic!("no {e} in {jobs:?}")).clone();
    assert_eq!(by_event("/a/start")["next"], "/a/second");
    assert_eq!(by_event("/a/start")["rv"], 0);
    assert!(by_event("/a/remote")["result"].as_str().unwrap().starts_with("failure: "));
    assert_eq!(by_event("/a/remote")["next"], "/fo");
    assert_eq!(by_event("/fo")["trigger"], "failover");
    assert_eq!(by_event("/a/second")["chain"], "/a/start:/a/second");
    assert!(daemon.stop().success());
}

#[test]
fn one_daemon_at_a_time_and_sigterm_exits_cleanly() {
    let setup = Setup::new();
    let daemon = setup.start();
    let second = std::process::Command::new(env!("CARGO_BIN_EXE_hcron-scheduler"))
        .args(["--standalone", "--events"])
        .arg(setup.events())
        .arg("--state-dir")
        .arg(setup.dir.path().join("state"))
        .output_bounded()
        .unwrap();
    assert_eq!(second.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&second.stderr).contains("another hcron-scheduler is running"));
    assert!(std::os::unix::net::UnixStream::connect(&daemon.socket).is_ok(), "the first keeps its socket");
    let pid_file = daemon.pid_file.clone();
    assert!(daemon.stop().success());
    assert!(!pid_file.exists());
}

#[test]
fn sigterm_lets_a_running_job_finish_and_records_its_end() {
    let setup = Setup::new();
    let out = setup.out("finished");
    setup.event(
        "slow",
        &format!("as_user=\nhost=localhost\ncommand=sleep 1; touch {}\nexec_wait=yes\nnotify_email=\nnotify_message=\n", out.display()),
    );
    let daemon = setup.start();
    assert_eq!(daemon.hcron(&["activate", "/slow"]).2, 0);
    assert!(eventually(Duration::from_secs(5), || !daemon.log_lines("activate", "/slow").is_empty()), "{}", daemon.log_text());
    let log = daemon.log.clone();
    assert!(daemon.stop().success(), "SIGTERM while the job runs");
    assert!(out.exists(), "the job ran to its end before the daemon exited");
    let log = std::fs::read_to_string(log).unwrap();
    let done = log.lines().find(|l| l.contains("|done|") && l.contains("eventname=/slow")).unwrap_or_else(|| panic!("{log}"));
    assert!(done.contains("nexteventtype=None"), "{done}");
    let unsettled = hcron::history::unsettled(&setup.dir.path().join("state/history.sqlite")).unwrap();
    assert!(unsettled.is_empty(), "every job recorded as finished: {unsettled:?}");
}

#[test]
fn garbage_on_the_socket_gets_an_error_and_the_daemon_keeps_serving() {
    use std::io::{Read, Write};
    let setup = Setup::new();
    let daemon = setup.start();
    let connect = || {
        let stream = std::os::unix::net::UnixStream::connect(&daemon.socket).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        stream
    };
    let mut stream = connect();
    stream.write_all(b"\x00\x00\x00\x05hello").unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    assert!(String::from_utf8_lossy(&answer).contains(r#""response":"error""#), "{answer:?}");
    let mut stream = connect();
    stream.write_all(&[0xff, 0xff, 0xff, 0xff]).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    assert!(String::from_utf8_lossy(&answer).contains("larger than"));
    assert_eq!(daemon.hcron(&["info"]).2, 0);
    assert!(daemon.stop().success());
}

#[test]
fn get_servername_and_info_say_what_the_daemon_runs() {
    let setup = Setup::new();
    setup.event("a", &writer(&setup.out("a"), ""));
    setup.event("b", &format!("{}when_month=*\nwhen_day=*\nwhen_hour=*\nwhen_minute=*\nwhen_dow=*\n", writer(&setup.out("b"), "")));
    setup.event("c", "no equals sign\n");
    let daemon = setup.start_configured("server_name = \"testserver\"\n");
    assert_eq!(daemon.hcron(&["get", "servername", "-c", setup.config().to_str().unwrap()]), ("testserver\n".into(), String::new(), 0));
    let (out, err, code) = daemon.hcron(&["info"]);
    assert_eq!(code, 0, "{err}");
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::trim))
            .unwrap_or_else(|| panic!("no {name} in {out}"))
            .to_owned()
    };
    assert_eq!(field("servername"), "testserver");
    assert_eq!((field("users"), field("events")), ("1".into(), "3".into()), "{out}");
    assert_eq!((field("jobs queued"), field("jobs running")), ("0".into(), "0".into()));
    let uptime: u64 = field("uptime").trim_end_matches(" s").parse().unwrap();
    assert!(uptime < 60, "{out}");
    // The next minute to process: the coming minute boundary, in local time.
    let next = jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", field("next minute")).unwrap_or_else(|e| panic!("{e}: {out}"));
    let now = jiff::Zoned::now().datetime();
    let ahead = next.duration_since(now).as_secs_f64();
    assert!((0.0..=61.0).contains(&ahead) && next.second() == 0, "{next} is not the next minute after {now}");
    assert!(daemon.stop().success());
}

#[test]
fn an_unloaded_user_stays_unloaded_through_edits_until_a_reload() {
    let setup = Setup::new();
    setup.event("a", &writer(&setup.out("a"), ""));
    let daemon = setup.start();
    assert_eq!(daemon.hcron(&["list"]).0, "/a\n");
    let (out, _, code) = daemon.hcron(&["unload"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("Unloaded events for servername ("), "{out}");
    assert_eq!(daemon.hcron(&["list"]).0, "");
    let (_, err, code) = daemon.hcron(&["activate", "/a"]);
    assert!(code != 0 && !err.is_empty(), "nothing to activate once unloaded");
    // An edit is noticed and left: the tree stays unloaded until the user reloads.
    let loads = daemon.log_text().matches("|load-events|").count();
    setup.event("b", &writer(&setup.out("b"), ""));
    let left = "changed while unloaded: not loaded until hcron reload";
    assert!(eventually(Duration::from_secs(5), || daemon.log_text().contains(left)), "{}", daemon.log_text());
    assert_eq!(daemon.hcron(&["list"]).0, "");
    assert_eq!(daemon.log_text().matches("|load-events|").count(), loads, "{}", daemon.log_text());
    assert_eq!(daemon.hcron(&["reload"]).2, 0);
    assert!(eventually(Duration::from_secs(5), || daemon.hcron(&["list"]).0 == "/a\n/b\n"), "{}", daemon.log_text());
    assert!(daemon.log_text().matches("|load-events|").count() > loads);
    assert!(daemon.stop().success());
}

#[test]
fn a_chain_runs_its_target_as_the_tree_says_after_a_reload() {
    let setup = Setup::new();
    setup.event("a", &writer(&setup.out("a"), "next_event=b\n"));
    setup.event("b", &writer(&setup.out("old"), ""));
    let daemon = setup.start();
    // The tree is watched from its first load on.
    assert!(eventually(Duration::from_secs(5), || daemon.log_text().contains("|load-events|")), "{}", daemon.log_text());
    // b now writes elsewhere (the same size: only its times and content
    // differ from the version just read), and the edit is live.
    setup.event("b", &writer(&setup.out("new"), ""));
    assert!(eventually(Duration::from_secs(5), || daemon.log_text().matches("|load-events|").count() >= 2), "{}", daemon.log_text());
    assert_eq!(daemon.hcron(&["activate", "/a"]).2, 0);
    assert!(eventually(Duration::from_secs(5), || setup.out("new").exists()), "{}", daemon.log_text());
    assert!(!setup.out("old").exists(), "the chain ran the definition of before the edit");
    assert!(daemon.stop().success());
}

#[test]
fn a_running_parent_keeps_its_own_chain_and_its_target_runs_as_edited_while_it_ran() {
    let setup = Setup::new();
    let (started, go) = (setup.out("started"), setup.out("go"));
    let parent = |next: &str| {
        format!(
            "as_user=\nhost=localhost\ncommand=touch {}; while [ ! -e {} ]; do sleep 0.05; done\nexec_wait=yes\nnotify_email=\nnotify_message=\nnext_event={next}\n",
            started.display(),
            go.display()
        )
    };
    setup.event("a", &parent("b"));
    setup.event("b", &writer(&setup.out("old"), ""));
    setup.event("c", &writer(&setup.out("c"), ""));
    let daemon = setup.start();
    assert!(eventually(Duration::from_secs(5), || daemon.log_text().contains("|load-events|")), "{}", daemon.log_text());
    assert_eq!(daemon.hcron(&["activate", "/a"]).2, 0);
    assert!(eventually(Duration::from_secs(10), || started.exists()), "a did not start: {}", daemon.log_text());
    // While a runs: its own chain now says c, and b writes elsewhere; both edits are live.
    setup.event("a", &parent("c"));
    setup.event("b", &writer(&setup.out("new"), ""));
    assert!(eventually(Duration::from_secs(5), || daemon.log_text().matches("|load-events|").count() >= 2), "{}", daemon.log_text());
    std::fs::write(&go, "").unwrap();
    // a follows the next_event it was queued with (b), and b runs as the tree says now.
    assert!(eventually(Duration::from_secs(10), || setup.out("new").exists()), "{}", daemon.log_text());
    assert!(!setup.out("old").exists(), "the chain ran b as it was when a was queued");
    assert!(!setup.out("c").exists(), "a followed the next_event of its edited definition");
    assert!(daemon.stop().success());
}

#[test]
fn a_bad_configuration_fails_at_start_naming_the_key() {
    let setup = Setup::new();
    let config = setup.dir.path().join("hcron.toml");
    std::fs::write(&config, "max_symlinkz = 3\n").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hcron-scheduler"))
        .args(["--standalone", "--config"])
        .arg(&config)
        .arg("--events")
        .arg(setup.events())
        .arg("--state-dir")
        .arg(setup.dir.path().join("state"))
        .output_bounded()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("max_symlinkz") && err.contains("hcron.toml"), "{err}");
}

#[test]
fn the_clock_wakes_right_after_the_minute() {
    let setup = Setup::new();
    setup.event("tick", &writer(&setup.out("tick"), "when_month=*\nwhen_day=*\nwhen_hour=*\nwhen_minute=*\nwhen_dow=*\n"));
    let daemon = setup.start();
    assert!(eventually(Duration::from_secs(65), || daemon.log_text().contains("|queue|")), "no clock job within a minute");
    let log = daemon.log_text();
    let trigger = log.lines().find(|l| l.contains("|trigger|") && l.contains("triggername=clock")).unwrap();
    let stamp: jiff::civil::DateTime = trigger.split('|').next().unwrap().parse().unwrap();
    let late_ms = stamp.second() as i64 * 1000 + (stamp.subsec_nanosecond() / 1_000_000) as i64;
    assert!(late_ms < 50, "woke {late_ms} ms after the minute: {trigger}");
    let queue = log.lines().find(|l| l.contains("|queue|")).unwrap();
    let minute = stamp.strftime("%Y-%m-%d %H:%M:00").to_string();
    assert!(queue.contains(&format!("schedtime={minute}|")), "{queue}");
    assert!(eventually(Duration::from_secs(5), || setup.out("tick").exists()));
    assert!(daemon.stop().success());
}

#[test]
fn after_a_stall_across_two_minutes_the_daemon_catches_up_within_max_catchup_minutes() {
    // decisions 14 through the daemon: stopped (SIGSTOP) across two minute boundaries, a daemon
    // runs both minutes in order on waking; with max_catchup_minutes = 0 (set by SIGHUP) only the
    // current one, and the skipped one is logged as missed.
    let every_minute = "when_month=*\nwhen_day=*\nwhen_hour=*\nwhen_minute=*\nwhen_dow=*\n";
    let (catching, strict) = (Setup::new(), Setup::new());
    for setup in [&catching, &strict] {
        setup.event("tick", &writer(&setup.out("tick"), every_minute));
    }
    // Far enough from a boundary that neither daemon processes a minute before it is stopped.
    let second = || jiff::Zoned::now().second();
    assert!(eventually(Duration::from_secs(15), || second() < 50));
    let daemons = [catching.start(), strict.start_configured("max_catchup_minutes = 60\n")];
    // The strict one is given its limit by SIGHUP: the reloaded value is the one used.
    std::fs::write(strict.config(), "max_catchup_minutes = 0\n").unwrap();
    daemons[1].signal(libc::SIGHUP);
    assert!(
        eventually(Duration::from_secs(5), || daemons[1].log_text().contains("received signal to reload.")),
        "{}",
        daemons[1].log_text()
    );
    assert!(eventually(Duration::from_secs(5), || daemons[1].log_text().matches("|load-events|").count() >= 2));
    for daemon in &daemons {
        assert!(eventually(Duration::from_secs(5), || daemon.log_text().contains("|sleep|")), "{}", daemon.log_text());
        daemon.signal(libc::SIGSTOP);
    }
    let now = jiff::Zoned::now().datetime();
    assert!(now.second() < 58, "stopped too late in the minute: {now}");
    let first = now.with().second(0).subsec_nanosecond(0).build().unwrap().checked_add(jiff::ToSpan::minute(1)).unwrap();
    let second_minute = first.checked_add(jiff::ToSpan::minute(1)).unwrap();
    // Held stopped until a second past the second boundary.
    let resume = second_minute.checked_add(jiff::ToSpan::second(1)).unwrap();
    assert!(eventually(Duration::from_secs(125), || jiff::Zoned::now().datetime() >= resume));
    for daemon in &daemons {
        daemon.signal(libc::SIGCONT);
    }
    let schedtimes = |daemon: &RunningDaemon| -> Vec<String> {
        daemon
            .log_lines("queue", "/tick")
            .iter()
            .filter_map(|l| l.split("schedtime=").nth(1)?.split('|').next().map(str::to_string))
            .collect()
    };
    let minute = |m: jiff::civil::DateTime| m.strftime("%Y-%m-%d %H:%M:00").to_string();
    let [catching_daemon, strict_daemon] = daemons;
    assert!(eventually(Duration::from_secs(5), || schedtimes(&catching_daemon).len() == 2), "{}", catching_daemon.log_text());
    assert_eq!(schedtimes(&catching_daemon), [minute(first), minute(second_minute)], "both, oldest first");
    // The minute caught up is said to be behind, by more than a minute; the current one is not.
    let behind = |daemon: &RunningDaemon| -> Vec<f64> {
        let log = daemon.log_text();
        log.split("behind schedule (").skip(1).map(|rest| rest.split("s)").next().unwrap().parse().unwrap()).collect()
    };
    let late = behind(&catching_daemon);
    assert!(late.len() == 1 && late[0] >= 60.0, "{late:?}: {}", catching_daemon.log_text());
    assert!(eventually(Duration::from_secs(5), || !schedtimes(&strict_daemon).is_empty()), "{}", strict_daemon.log_text());
    assert_eq!(schedtimes(&strict_daemon), [minute(second_minute)], "only the current minute");
    assert_eq!(behind(&strict_daemon), Vec::<f64>::new(), "the current minute is on time");
    let missed = format!("missed 1 minute(s) from {} to {}: more than max_catchup_minutes (0) behind", minute(first), minute(first));
    assert!(strict_daemon.log_text().contains(&missed), "{}", strict_daemon.log_text());
    assert!(catching_daemon.stop().success() && strict_daemon.stop().success());
}

#[test]
fn sighup_reloads_and_a_slow_start_raises_an_alarm() {
    let setup = Setup::new();
    setup.event("slow", &writer(&setup.out("slow"), "failover_event=fo\n"));
    setup.event("fo", &writer(&setup.out("fo"), ""));
    // A timeout of zero seconds: no start can make it.
    let daemon = setup.start_configured("command_spawn_timeout = 0\n");
    let config = setup.config();
    assert_eq!(daemon.hcron(&["activate", "/slow"]).2, 0);
    // Wait for the job's end: its done line is written after the alarm and the execute line.
    assert!(eventually(Duration::from_secs(5), || daemon.log_text().contains("|done|")), "{}", daemon.log_text());
    let log = daemon.log_text();
    let alarm = log.lines().find(|l| l.contains("|alarm|")).unwrap();
    assert!(alarm.contains("eventname=/slow") && alarm.contains("message=execute timeout expired (0)"), "{alarm}");
    assert!(log.lines().any(|l| l.contains("|execute|") && l.contains("eventname=/slow") && l.contains("|rv=125")), "{log}");
    assert!(log.contains("nexteventnames=/fo|nexteventtype=failover"), "{log}");
    assert!(eventually(Duration::from_secs(5), || daemon.log_text().matches("|alarm|").count() == 2), "the failover cannot start either");
    assert!(!setup.out("slow").exists() && !setup.out("fo").exists(), "a zero budget starts nothing");

    // SIGHUP re-reads the configuration and every tree.
    std::fs::write(&config, "command_spawn_timeout = 15\n").unwrap();
    let loads = daemon.log_text().matches("|load-events|").count();
    daemon.signal(libc::SIGHUP);
    assert!(eventually(Duration::from_secs(5), || daemon.log_text().matches("|load-events|").count() > loads), "{}", daemon.log_text());
    // Only the re-read configuration lets a start happen at all.
    let started = eventually(Duration::from_secs(10), || {
        daemon.hcron(&["activate", "/fo"]);
        eventually(Duration::from_millis(500), || setup.out("fo").exists())
    });
    assert!(started, "starts work again with the new timeout: {}", daemon.log_text());
    assert!(daemon.stop().success());
}

#[test]
fn sighup_applies_the_engine_limits_and_names_the_keys_that_wait_for_a_restart() {
    let setup = Setup::new();
    setup.event("a", &writer(&setup.out("a"), "next_event=b\n"));
    setup.event("b", &writer(&setup.out("b"), "next_event=c\n"));
    setup.event("c", &writer(&setup.out("c"), ""));
    let daemon = setup.start_configured("max_chain_events = 2\n");
    assert_eq!(daemon.hcron(&["activate", "/a"]).2, 0);
    assert!(
        eventually(Duration::from_secs(5), || daemon.log_text().contains("event chain limit (2) reached at (/c).")),
        "{}",
        daemon.log_text()
    );
    // The limit is logged when /b's job ends, which (no exec_wait) may be before its command has written.
    assert!(eventually(Duration::from_secs(5), || setup.out("b").exists()), "{}", daemon.log_text());
    assert!(!setup.out("c").exists() && daemon.log_lines("queue", "/c").is_empty(), "{}", daemon.log_text());

    std::fs::write(setup.config(), "max_chain_events = 3\nserver_name = \"elsewhere\"\n").unwrap();
    let reloads = daemon.log_text().matches("received signal to reload.").count();
    daemon.signal(libc::SIGHUP);
    let warning = "configuration key (server_name) changed: it takes effect at the next start";
    assert!(eventually(Duration::from_secs(5), || daemon.log_text().contains(warning)), "{}", daemon.log_text());
    assert_eq!(daemon.log_text().matches("received signal to reload.").count(), reloads + 1);
    assert!(!daemon.log_text().contains("(max_chain_events) changed"), "applied, not deferred");
    assert_eq!(daemon.hcron(&["activate", "/a"]).2, 0);
    assert!(eventually(Duration::from_secs(5), || setup.out("c").exists()), "the chain goes one further: {}", daemon.log_text());
    assert!(daemon.stop().success());
}

#[test]
fn use_syslog_sends_each_log_line_to_the_syslog_socket_and_finds_it_again() {
    let setup = Setup::new();
    setup.event("a", &writer(&setup.out("a"), ""));
    let path = setup.dir.path().join("log.sock");
    let daemon = setup.start_configured(&format!("use_syslog = true\nsyslog_socket = \"{}\"\n", path.display()));
    // No syslog daemon at start: its messages are lost, nothing else.
    assert_eq!(daemon.hcron(&["activate", "/a"]).2, 0);
    assert!(eventually(Duration::from_secs(5), || daemon.log_lines("done", "/a").len() == 1), "{}", daemon.log_text());
    // One starts: the next lines reach it.
    let syslog = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    syslog.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(daemon.hcron(&["activate", "/a"]).2, 0);
    let prefix = format!(" hcron-scheduler[{}]: ", daemon.pid());
    let mut received = Vec::new();
    let mut buffer = vec![0; 65536];
    while !received.iter().any(|m: &String| m.contains("|done|")) {
        let n = syslog.recv(&mut buffer).unwrap_or_else(|e| panic!("no done line by syslog ({e}): {received:?}"));
        received.push(String::from_utf8(buffer[..n].to_vec()).unwrap());
    }
    let log = daemon.log_text();
    for message in &received {
        assert!(message.starts_with("<30>"), "facility daemon, level info: {message}");
        let (stamp, line) = message[4..].split_once(&prefix).unwrap_or_else(|| panic!("{message}"));
        assert!(jiff::fmt::strtime::parse("%b %e %H:%M:%S", stamp).is_ok(), "an RFC 3164 time stamp: {stamp:?}");
        assert!(log.lines().any(|l| l == line), "a line of the log: {line}");
    }
    assert_eq!(received.iter().filter(|m| m.contains("|queue|")).count(), 1, "only what followed: {received:?}");
    assert!(daemon.stop().success());
}

#[test]
fn past_max_queued_jobs_per_user_an_activation_is_refused_and_a_chained_job_dropped_and_recorded() {
    let setup = Setup::new();
    // The one slot's job chains /chained when it ends, while /queued still waits.
    setup.event("block", "as_user=\nhost=localhost\ncommand=sleep 2\nexec_wait=yes\nnext_event=/chained\nnotify_email=\nnotify_message=\n");
    for name in ["queued", "refused", "chained"] {
        setup.event(name, &writer(&setup.out(name), ""));
    }
    let daemon = setup.start_configured("max_activated_events = 1\nmax_queued_jobs_per_user = 1\n");
    occupy(&daemon);
    assert_eq!(daemon.hcron(&["activate", "/queued"]).2, 0);
    let user = hcron::account::Account::current().unwrap().name;
    let (out, err, code) = daemon.hcron(&["activate", "/refused"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(&format!(
            "user ({user}) has 1 job(s) queued, as many as max_queued_jobs_per_user allows: event (/refused) not activated"
        )),
        "{err}"
    );
    assert!(eventually(Duration::from_secs(10), || setup.out("queued").exists()), "the queued job runs once the slot frees");
    let log = daemon.log_text();
    let dropped = format!("job queue of user ({user}) full (max_queued_jobs_per_user = 1): job for event (/chained) dropped");
    assert!(log.contains(&dropped), "{log}");
    assert_eq!(daemon.history(None, &["/chained"])[0]["result"], "dropped: user queue full");
    assert!(daemon.history(None, &["/refused"]).is_empty(), "a refused activation leaves no record");
    assert!(!setup.out("refused").exists() && !setup.out("chained").exists());
    assert!(daemon.stop().success());
}

#[test]
fn past_max_queued_jobs_a_job_is_dropped_logged_and_recorded() {
    // decisions.md 13: max_queued_jobs works.
    let setup = Setup::new();
    setup.blocker(2);
    setup.event("queued", &writer(&setup.out("queued"), ""));
    setup.event("dropped", &writer(&setup.out("dropped"), ""));
    let daemon = setup.start_configured("max_activated_events = 1\nmax_queued_jobs = 1\n");
    occupy(&daemon);
    assert_eq!(daemon.hcron(&["activate", "/queued"]).2, 0);
    assert_eq!(daemon.hcron(&["activate", "/dropped"]).2, 0);
    let log = daemon.log_text();
    assert!(log.contains("job queue full (1): job for event (/dropped) dropped"), "{log}");
    assert_eq!(daemon.history(None, &["/dropped"])[0]["result"], "dropped: queue full");
    assert!(eventually(Duration::from_secs(10), || setup.out("queued").exists()), "the queued job runs once the slot frees");
    assert!(!setup.out("dropped").exists());
    assert!(daemon.stop().success());
}

#[test]
fn status_lines_count_the_jobs_every_two_seconds_while_any_is_queued_or_running_and_stop_when_idle() {
    // §16's status entry: one slot, two jobs of 3 s and 6 s. While the
    // first runs the second waits; then it runs (for three periods, two
    // lines at least); then a last line says both are done, and the daemon
    // says nothing more while idle.
    let setup = Setup::new();
    setup.event("a", "as_user=\nhost=localhost\ncommand=sleep 3\nexec_wait=yes\nnotify_email=\nnotify_message=\n");
    setup.event("b", "as_user=\nhost=localhost\ncommand=sleep 6\nexec_wait=yes\nnotify_email=\nnotify_message=\n");
    let daemon = setup.start_configured("max_activated_events = 1\n");
    let counts = || -> Vec<String> {
        let keys = ["ndone", "nqueued", "nrunning", "ntotal", "nworkers"];
        let field = |line: &str, key: &str| line.split('|').find_map(|f| f.strip_prefix(&format!("{key}="))).unwrap_or("?").to_owned();
        let lines = daemon.log_text();
        lines.lines().filter(|l| l.contains("|status|")).map(|l| keys.map(|k| field(l, k)).join(" ")).collect()
    };
    assert_eq!(daemon.hcron(&["activate", "/a"]).2, 0);
    assert_eq!(daemon.hcron(&["activate", "/b"]).2, 0);
    assert!(eventually(Duration::from_secs(30), || daemon.log_lines("done", "/b").len() == 1), "{}", daemon.log_text());
    let last = "2 0 0 2 1";
    assert!(eventually(Duration::from_secs(10), || counts().last().map(String::as_str) == Some(last)), "{:?}", counts());
    let seen = counts();
    // done, queued, running, in all, workers: first /a runs and /b waits, then /b runs.
    let lines_of = |counts: &str| seen.iter().filter(|c| *c == counts).count();
    assert!(lines_of("0 1 1 2 1") >= 1 && lines_of("1 0 1 2 1") >= 2, "{seen:?}");
    let first_idle = seen.iter().position(|c| c == last).unwrap();
    assert_eq!(first_idle, seen.len() - 1, "one line once idle: {seen:?}");
    // Idle: the status period is 2 s, so a daemon that kept logging would
    // have written again within 5 s.
    assert!(!eventually(Duration::from_secs(5), || counts().len() > seen.len()), "status lines while idle: {:?}", counts());
    assert!(daemon.stop().success());
}

#[test]
fn an_expired_job_runs_nothing_and_fails_over() {
    // decisions.md, fixed 7, through the daemon rather than the simulation.
    let setup = Setup::new();
    setup.event("late", &writer(&setup.out("late"), "when_expire=-1\nfailover_event=fo\n"));
    setup.event("fo", &writer(&setup.out("fo"), ""));
    let daemon = setup.start();
    assert_eq!(daemon.hcron(&["activate", "/late"]).2, 0);
    assert!(eventually(Duration::from_secs(5), || setup.out("fo").exists()), "{}", daemon.log_text());
    assert!(!setup.out("late").exists(), "an expired job runs nothing");
    assert_eq!(daemon.log_lines("expire", "/late").len(), 1, "{}", daemon.log_text());
    assert!(daemon.log_lines("execute", "/late").is_empty());
    assert_eq!(daemon.history(None, &["/late"])[0]["result"], "failure: expired");
    assert!(daemon.stop().success());
}

#[test]
fn a_job_that_waits_past_a_positive_when_expire_expires_and_one_within_it_runs() {
    // §9.5: seconds since the scheduled time. One slot, taken for 3 s: the
    // job allowed 1 s expires, the one allowed a minute runs.
    let setup = Setup::new();
    setup.blocker(3);
    setup.event("late", &writer(&setup.out("late"), "when_expire=1\nfailover_event=fo\n"));
    setup.event("patient", &writer(&setup.out("patient"), "when_expire=00:01:00\n"));
    setup.event("fo", &writer(&setup.out("fo"), ""));
    let daemon = setup.start_configured("max_activated_events = 1\n");
    occupy(&daemon);
    assert_eq!(daemon.hcron(&["activate", "/late"]).2, 0);
    assert_eq!(daemon.hcron(&["activate", "/patient"]).2, 0);
    assert!(eventually(Duration::from_secs(15), || setup.out("fo").exists() && setup.out("patient").exists()), "{}", daemon.log_text());
    assert!(!setup.out("late").exists(), "expired: never run");
    assert_eq!(daemon.log_lines("expire", "/late").len(), 1, "{}", daemon.log_text());
    assert!(daemon.log_lines("expire", "/patient").is_empty());
    assert_eq!(daemon.history(None, &["/late"])[0]["result"], "failure: expired");
    assert!(daemon.stop().success());
}

#[test]
fn a_waited_for_local_command_succeeds_by_its_exit_status_within_its_timeout_and_its_output_is_cut() {
    let setup = Setup::new();
    let head = "as_user=\nhost=localhost\nnotify_email=\nnotify_message=\nexec_wait=yes\n";
    setup.event("fails", &format!("{head}command=echo 0123456789abcdef; echo oops >&2; exit 3\nnext_event=never\nfailover_event=fo\n"));
    setup.event("works", &format!("{head}command=echo fine\nnext_event=next\nfailover_event=never\n"));
    setup.event("slow", &format!("{head}command=sleep 30\nexec_timeout=1\nfailover_event=fo2\n"));
    for name in ["fo", "fo2", "next", "never"] {
        setup.event(name, &writer(&setup.out(name), ""));
    }
    let daemon = setup.start_configured("exec_output_limit = 10\n");
    for event in ["/fails", "/works", "/slow"] {
        assert_eq!(daemon.hcron(&["activate", event]).2, 0);
    }
    let all = || ["fo", "fo2", "next"].iter().all(|n| setup.out(n).exists());
    assert!(eventually(Duration::from_secs(15), all), "{}", daemon.log_text());
    assert!(!setup.out("never").exists(), "{}", daemon.log_text());
    let fails = &daemon.history(None, &["/fails"])[0];
    assert_eq!(fails["exit_status"], 3, "{fails}");
    assert_eq!(fails["stdout"], "0123456789\n[... 7 more bytes not kept]", "cut at exec_output_limit: {fails}");
    assert_eq!(fails["stderr"], "oops\n", "{fails}");
    assert!(fails["result"].as_str().unwrap().starts_with("failure"), "{fails}");
    let works = &daemon.history(None, &["/works"])[0];
    assert_eq!(
        (works["exit_status"].clone(), works["stdout"].clone(), works["result"].clone()),
        (0.into(), "fine\n".into(), "success".into())
    );
    let slow = &daemon.history(None, &["/slow"])[0];
    assert!(slow["result"].as_str().unwrap().starts_with("failure"), "{slow}");
    let (started, finished) = (slow["started"].as_str().unwrap(), slow["finished"].as_str().unwrap());
    let seconds = |t: &str| jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S%.f", t).unwrap();
    let took = seconds(finished).duration_since(seconds(started)).as_secs_f64();
    assert!((1.0..10.0).contains(&took), "killed after its second, not its thirty: {took} s");
    assert!(daemon.stop().success());
}

#[test]
fn the_configured_fan_out_and_recipient_limits_hold_in_the_daemon() {
    let setup = Setup::new();
    setup.event("fan", &writer(&setup.out("fan"), "next_event=t1:t2:t3\n"));
    setup.event("two", &writer(&setup.out("two"), "next_event=t1:t2\n"));
    for n in 1..=3 {
        setup.event(&format!("t{n}"), &writer(&setup.out(&format!("t{n}")), ""));
    }
    setup.event("mail", "as_user=\nhost=localhost\ncommand=true\nnotify_email=a@x,b@x,c@x\nnotify_message=hello\n");
    let daemon = setup.start_configured("max_next_events = 2\nmax_email_notifications = 2\n");
    assert_eq!(daemon.hcron(&["activate", "/fan"]).2, 0);
    let limit = "next event limit (2) reached at (/t1:/t2:/t3).";
    assert!(eventually(Duration::from_secs(5), || daemon.log_text().contains(limit)), "{}", daemon.log_text());
    assert!(!setup.out("t1").exists(), "all or nothing");
    assert_eq!(daemon.hcron(&["activate", "/two"]).2, 0);
    assert!(eventually(Duration::from_secs(5), || setup.out("t1").exists() && setup.out("t2").exists()), "{}", daemon.log_text());
    assert_eq!(daemon.hcron(&["activate", "/mail"]).2, 0);
    let limited = "event (/mail) email notification recipients from (3) to (2)";
    assert!(eventually(Duration::from_secs(5), || daemon.log_text().contains(limited)), "{}", daemon.log_text());
    // The recipients are cut before the lines of the messages are written.
    assert!(eventually(Duration::from_secs(5), || daemon.log_lines("notify-email", "/mail").len() >= 2), "{}", daemon.log_text());
    let sent: Vec<String> = daemon.log_lines("notify-email", "/mail");
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent[0].contains("addrs=a@x") && sent[1].contains("addrs=b@x"), "{sent:?}");
    assert!(daemon.stop().success());
}

#[test]
fn the_readme_terminals_work_with_home_anywhere() {
    // HOME is not the passwd entry's home: both programs must use it.
    let setup = Setup::new();
    setup.event("write", &writer(&setup.out("ran"), ""));
    let home = setup.dir.path().join("elsewhere");
    std::fs::create_dir(&home).unwrap();
    let daemon = RunningDaemon::standalone_at_home(&setup.events(), &home);
    let client = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_hcron"))
            .args(args)
            .env("HOME", &home)
            .env_remove("HCRON_SOCKET")
            .output_bounded()
            .unwrap();
        (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned(), output.status.code())
    };
    let (out, err, code) = client(&["activate", "/write"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.starts_with("queued job ") && out.ends_with(" for event /write\n"), "{out}");
    assert!(eventually(Duration::from_secs(5), || setup.out("ran").exists()));
    // The start-up says where everything is.
    let log = daemon.log_text();
    let state = daemon.socket.parent().unwrap();
    let said = log.lines().find(|l| l.contains("standalone: events")).unwrap_or_else(|| panic!("{log}"));
    for place in [state.join("hcron.log"), state.join("mailbox/new"), state.join("history.sqlite"), state.join("control.sock")] {
        assert!(said.contains(&place.display().to_string()), "{place:?} not in {said}");
    }
    assert!(state.starts_with(&home), "{state:?}");
    assert!(daemon.stop().success());
}

#[test]
fn a_tree_past_max_events_per_user_is_logged_once_with_the_limit_and_its_size() {
    // decisions 2: one message for the user, not one per event.
    let setup = Setup::new();
    for name in ["a", "b", "c", "d"] {
        setup.event(name, &writer(&setup.out(name), ""));
    }
    let daemon = setup.start_configured("max_events_per_user = 2\n");
    assert!(eventually(Duration::from_secs(5), || daemon.log_text().contains("|load-events|")), "{}", daemon.log_text());
    let log = daemon.log_text();
    let said: Vec<&str> = log.lines().filter(|l| l.contains("max_events_per_user")).collect();
    assert_eq!(said.len(), 1, "{log}");
    assert!(said[0].contains("|type=error") && said[0].contains("4 events, more than max_events_per_user (2): the last 2"), "{}", said[0]);
    let (_, err, code) = daemon.hcron(&["activate", "/d"]);
    assert_eq!(code, 1, "an event past the limit is not loaded: {err}");
    assert!(daemon.stop().success());
}

#[test]
fn a_command_that_cannot_be_started_fails_with_why_waited_for_or_not() {
    let setup = Setup::new();
    // A NUL byte cannot go into an argument of execve.
    for (name, wait) in [("left", "no"), ("waited", "yes")] {
        setup.event(name, &format!("as_user=\nhost=localhost\ncommand=echo a\0b\nexec_wait={wait}\nnotify_email=\nnotify_message=\n"));
    }
    let daemon = setup.start();
    for event in ["/left", "/waited"] {
        assert_eq!(daemon.hcron(&["activate", event]).2, 0);
    }
    let results = || -> Vec<String> {
        let mut results: Vec<String> = daemon.history(None, &[]).iter().map(|j| format!("{} {}", j["event"], j["result"])).collect();
        results.sort();
        results
    };
    let why = "failure: cannot start the command: NUL in a command or its environment";
    let expected = [format!("\"/left\" \"{why}\""), format!("\"/waited\" \"{why}\"")];
    assert!(eventually(Duration::from_secs(5), || results() == expected), "{:?}\n{}", results(), daemon.log_text());
}

#[test]
fn a_waited_for_command_s_output_is_read_for_a_moment_after_it_ends_and_no_longer() {
    let setup = Setup::new();
    // The shell ends at once; what it started writes 50 ms later, and a
    // sleep keeps the output open for 4 s.
    let command = "echo early; (sleep 0.05; echo late) & sleep 4.5 &";
    setup.event("bg", &format!("as_user=\nhost=localhost\ncommand={command}\nexec_wait=yes\nnotify_email=\nnotify_message=\n"));
    let daemon = setup.start();
    assert_eq!(daemon.hcron(&["activate", "/bg"]).2, 0);
    assert!(eventually(Duration::from_secs(10), || daemon.log_lines("done", "/bg").len() == 1), "{}", daemon.log_text());
    let job = &daemon.history(None, &["/bg"])[0];
    assert_eq!(job["stdout"], "early\nlate\n", "{job}");
    let seconds = |t: &serde_json::Value| jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S%.f", t.as_str().unwrap()).unwrap();
    let took = seconds(&job["finished"]).duration_since(seconds(&job["started"])).as_secs_f64();
    assert!(took < 3.0, "the job waited for the sleep that kept its output open: {took} s");
}

#[test]
fn a_history_of_a_newer_schema_refuses_the_start_and_says_its_version() {
    let setup = Setup::new();
    let state = setup.dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let history = state.join("history.sqlite");
    hcron::history::open(&history).unwrap().pragma_update(None, "user_version", 7).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hcron-scheduler"))
        .args(["--standalone", "--events"])
        .arg(setup.events())
        .arg("--state-dir")
        .arg(&state)
        .output_bounded()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{err}");
    assert!(err.contains("the job history has schema version 7, which this hcron-scheduler (schema version 1) does not know"), "{err}");
}
