//! `hcron` where the scheduler is not: over SSH, as the user, to scheduler
//! hosts with backup servers. One real sshd listens on several loopback
//! addresses, each leading (sshd's `SetEnv` of `HCRON_SOCKET`) to its own
//! root `hcron-scheduler`: .21 to daemon A, .22 to daemon B, .25 to no
//! scheduler at all. .23 drops packets (an nftables rule: connections time
//! out) and on .24 nothing listens (refused).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::bounded::Bounded;
use crate::daemon_util::{RunningDaemon, eventually};
use crate::root_util::{RootSetup, TestUser};
use crate::sshd_util::{DropRule, Sshd, give_keys};

/// A user on a workstation and two scheduler hosts.
struct Site {
    sshd: Sshd,
    _timing_out: DropRule,
    user: TestUser,
    a: RunningDaemon,
    b: RunningDaemon,
    setups: [RootSetup; 2],
}

/// What a run of `hcron` gave: standard output, standard error, exit code, how long it took.
struct Ran {
    out: String,
    err: String,
    code: i32,
    took: Duration,
}

impl Site {
    fn start() -> Site {
        let setups = [RootSetup::new(&[], ""), RootSetup::new(&[], "")];
        let user = TestUser::create("r", &setups[0].homes());
        for setup in &setups {
            std::fs::write(setup.dir.path().join("etc/hcron.allow"), format!("{}\n", user.name)).unwrap();
        }
        user.event("e", &on_demand("true"));
        let (a, b) = (setups[0].start(), setups[1].start());
        // The relay is the hcron under test, found on the PATH sshd sets.
        let bin = Path::new(env!("CARGO_BIN_EXE_hcron")).parent().unwrap().display().to_string();
        let behind = |address: &str, socket: &Path| {
            format!("Match LocalAddress {address}\n  SetEnv HCRON_SOCKET={} PATH={bin}:/usr/bin:/bin\n", socket.display())
        };
        let matches = [behind("127.0.0.21", &a.socket), behind("127.0.0.22", &b.socket), behind("127.0.0.25", Path::new("/nonexistent/s"))];
        let sshd_dir = setups[0].dir.path().join("sshd");
        let sshd = Sshd::start(&sshd_dir, &["127.0.0.21", "127.0.0.22", "127.0.0.23", "127.0.0.25"], &user, &matches.concat());
        // The tree's server name is an alias of host A.
        let alias = format!("Host testserver\n  HostName 127.0.0.21\n  Port {}\n", sshd.port);
        give_keys(
            &user,
            &format!("{alias}Host 127.0.0.* testserver\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n"),
        );
        let timing_out = DropRule::add(&user.name, "127.0.0.23", sshd.port);
        Site { sshd, _timing_out: timing_out, user, a, b, setups }
    }

    /// `127.0.0.N:port`.
    fn server(&self, n: u8) -> String {
        format!("127.0.0.{n}:{}", self.sshd.port)
    }

    /// A hostfile of the user's with these servers.
    fn hostfile(&self, servers: &[u8]) -> PathBuf {
        let path = self.user.home.join("hostfile");
        let lines: String = servers.iter().map(|n| format!("{}\n", self.server(*n))).collect();
        std::fs::write(&path, format!("# backups\n{lines}")).unwrap();
        path
    }

    /// `hcron ARGS` as the user, in a clean environment with `env` added.
    fn hcron(&self, env: &[(&str, &str)], args: &[&str]) -> Ran {
        self.run_as_user(env!("CARGO_BIN_EXE_hcron"), args, env)
    }

    /// `hcron ARGS` as the user on a terminal (script(1) gives it one): what the terminal showed.
    fn hcron_on_terminal(&self, env: &[(&str, &str)], args: &[&str]) -> Ran {
        let line = std::iter::once(env!("CARGO_BIN_EXE_hcron")).chain(args.iter().copied()).collect::<Vec<_>>().join(" ");
        self.run_as_user("script", &["-qec", &line, "/dev/null"], &[env, &[("SHELL", "/bin/sh")]].concat())
    }

    /// `program ARGS` as the user, in a clean environment with `env` added.
    fn run_as_user(&self, program: &str, args: &[&str], env: &[(&str, &str)]) -> Ran {
        let mut command = Command::new(program);
        command.args(args).env_clear().env("HOME", &self.user.home).env("PATH", "/usr/bin:/bin").env("USER", &self.user.name);
        // A test that breaks fails in seconds, not after a day of retries.
        command.env("HCRON_TIMEOUT", "20").envs(env.iter().copied()).uid(self.user.uid).gid(self.user.gid).current_dir(&self.user.home);
        let start = Instant::now();
        let output = command.output_bounded().unwrap();
        let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
        Ran { out: text(output.stdout), err: text(output.stderr), code: output.status.code().unwrap_or(-1), took: start.elapsed() }
    }

    /// How many times `event` was queued by daemon A and by daemon B.
    fn queued(&self, event: &str) -> (usize, usize) {
        (self.a.log_lines("queue", event).len(), self.b.log_lines("queue", event).len())
    }
}

/// An event that runs `command` on this host when activated, and never by the clock (February 31st).
fn on_demand(command: &str) -> String {
    format!(
        "as_user=\nhost=localhost\ncommand={command}\nnotify_email=\nnotify_message=\nwhen_month=2\nwhen_day=31\nwhen_hour=0\nwhen_minute=0\nwhen_dow=*\n"
    )
}

impl Drop for Site {
    fn drop(&mut self) {
        // The user's master connections.
        let _ = Command::new("pkill").args(["-u", &self.user.name]).output_bounded();
    }
}

#[test]
fn every_command_reaches_the_scheduler_over_ssh_through_one_shared_connection() {
    let site = Site::start();
    let primary = site.server(21);
    let env = [("HCRON_HOST", primary.as_str())];
    let ran = site.hcron(&env, &["reload"]);
    assert_eq!(ran.code, 0, "{}", ran.err);
    assert!(
        ran.out.contains(": 1 events, 1 accepted, 0 rejected (0 templates)."),
        "{} {}",
        ran.out,
        site.hcron(&env, &["list", "--show-all"]).out
    );
    let ran = site.hcron(&env, &["activate", "/e"]);
    assert!(ran.code == 0 && ran.out.starts_with("queued job ") && ran.out.ends_with(" for event /e\n"), "{} {}", ran.out, ran.err);
    assert_eq!(site.queued("/e"), (1, 0), "daemon A queued it, as the user");
    let ran = site.hcron(&env, &["list", "--show-status"]);
    assert_eq!((ran.out.as_str(), ran.code), ("accepted:/e\n", 0), "{}", ran.err);
    // One attempt at the primary needs no hostfile: a missing one is not read.
    let missing = [("HCRON_HOSTFILE", "/nonexistent"), ("HCRON_HOSTFILE_POLICY", "all")];
    let ran = site.hcron(&[&env[..], &missing].concat(), &["list", "--show-status"]);
    assert_eq!((ran.out.as_str(), ran.code), ("accepted:/e\n", 0), "{}", ran.err);
    let ran = site.hcron(&[&env[..], &missing].concat(), &["info"]);
    assert!(ran.code == 1 && ran.err.contains("cannot read the hostfile /nonexistent (HCRON_HOSTFILE)"), "{}", ran.err);
    let ran = site.hcron(&env, &["get", "allowed"]);
    assert_eq!((ran.out.as_str(), ran.code), ("yes\n", 0), "the daemon's answer, not a guess: {}", ran.err);
    let ran = site.hcron(&env, &["info"]);
    assert!(ran.out.contains("servername:   testserver\n") && ran.out.contains("users:        1\n"), "{} {}", ran.out, ran.err);
    assert!(eventually(Duration::from_secs(10), || site.hcron(&env, &["history", "/e"]).out.contains(" success")), "no job in the history");
    assert_eq!(site.sshd.connections(), 1, "the commands shared one master connection");
    // Without HCRON_HOST (nor a configuration here), the server the tree names.
    let ran = site.hcron(&[], &["activate", "/e"]);
    assert_eq!((ran.code, site.queued("/e")), (0, (2, 0)), "{}", ran.err);
    // A daemon listening on this host is asked directly, whatever the server name.
    let b_config = site.setups[1].dir.path().join("etc/hcron.toml");
    let ran = site.hcron(&[], &["activate", "/e", "--config", b_config.to_str().unwrap()]);
    assert_eq!((ran.code, site.queued("/e")), (0, (2, 1)), "{}", ran.err);
    // Every server of the list, the primary first.
    let hostfile = site.hostfile(&[22, 24]);
    let ran = site.hcron(&[("HCRON_HOST", &primary), ("HCRON_HOSTFILE", hostfile.to_str().unwrap())], &["servers"]);
    let rows: Vec<Vec<&str>> = ran.out.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 3, "{}", ran.out);
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        [rows[0][0], rows[0][1], rows[0][2], rows[0][5], rows[0][6], rows[0][7]],
        [&primary, "(primary)", "yes", version, "single", "testserver"]
    );
    assert_eq!([rows[1][0], rows[1][1], rows[1][4], rows[1][5]], [site.server(22).as_str(), "yes", version, "single"]);
    assert_eq!(&rows[2][..2], [site.server(24).as_str(), "no"]);
    for row in &rows[..2] {
        let rtt: f64 = row[if row[1] == "(primary)" { 3 } else { 2 }].parse().unwrap();
        assert!(rtt > 0.0 && rtt < 1000.0 && row.contains(&"ms"), "a round trip over a warm connection, in ms: {row:?}");
    }
    assert!(ran.out.lines().last().unwrap().contains("Connection refused"), "{}", ran.out);
    assert_eq!(ran.code, 0);
    // An edit here is live at once through a reload from here: the answer
    // counts it, though the daemon's watcher would wait out its debounce.
    site.user.event("f", &on_demand("true"));
    let ran = site.hcron(&env, &["reload"]);
    assert!(ran.out.contains(": 2 events, 2 accepted, 0 rejected"), "{} {}", ran.out, ran.err);
}

#[test]
fn an_unreachable_primary_is_tried_again_after_the_delay_then_the_backups() {
    let site = Site::start();
    let hostfile = site.hostfile(&[22]);
    let hostfile = hostfile.to_str().unwrap();
    // Refused, timing out, or reached with no scheduler behind it: each is unreachable.
    for (n, primary) in [24, 23, 25].into_iter().enumerate() {
        let primary = site.server(primary);
        let env = [
            ("HCRON_HOST", primary.as_str()),
            ("HCRON_HOSTFILE", hostfile),
            ("HCRON_HOSTFILE_POLICY", "all"),
            ("HCRON_RETRY", "1"),
            ("HCRON_CONNECT_TIMEOUT", "1"),
        ];
        let ran = site.hcron(&env, &["activate", "/e"]);
        assert_eq!(ran.code, 0, "{primary}: {}", ran.err);
        assert_eq!(site.queued("/e"), (0, n + 1), "{primary}: the backup answered");
        assert!(ran.took >= Duration::from_secs(1), "{primary}: the primary was tried again after HCRON_RETRY, took {:?}", ran.took);
        assert_eq!(ran.err, "", "nothing said off a terminal");
    }
    // On a terminal each failed attempt is said, with when the next one comes.
    let primary = site.server(24);
    let env = [("HCRON_HOST", primary.as_str()), ("HCRON_HOSTFILE", hostfile), ("HCRON_HOSTFILE_POLICY", "all"), ("HCRON_RETRY", "1")];
    let ran = site.hcron_on_terminal(&env, &["activate", "/e"]);
    assert_eq!(ran.code, 0, "{}{}", ran.out, ran.err);
    let said: Vec<&str> = ran.out.lines().collect();
    let refused = format!("hcron: {primary}: ssh: connect to host 127.0.0.24 port {}: Connection refused; trying ", site.sshd.port);
    assert!(
        said[0].starts_with(&refused) && said[0].contains(&format!("{primary} again at ")) && said[0].ends_with(" (in 1 s)"),
        "{said:?}"
    );
    assert_eq!(said[1], format!("{refused}{} now", site.server(22)), "{said:?}");
    assert!(said[2].starts_with("queued job "), "{said:?}");
}

#[test]
fn with_every_server_down_the_command_fails_after_the_timeout_naming_each_attempt() {
    let site = Site::start();
    let hostfile = site.hostfile(&[23, 25]);
    let primary = site.server(24);
    let env = [
        ("HCRON_HOST", primary.as_str()),
        ("HCRON_HOSTFILE", hostfile.to_str().unwrap()),
        ("HCRON_HOSTFILE_POLICY", "all"),
        ("HCRON_RETRY", "1"),
        ("HCRON_TIMEOUT", "1000"),
        ("HCRON_CONNECT_TIMEOUT", "1"),
    ];
    let ran = site.hcron(&env, &["reload", "--timeout", "3"]);
    assert_eq!(ran.code, 1);
    assert!(ran.took >= Duration::from_secs(2) && ran.took < Duration::from_secs(10), "took {:?}", ran.took);
    let err = ran.err.trim_end();
    assert!(err.starts_with("error: no hcron-scheduler could be reached in "), "{err}");
    let port = site.sshd.port;
    let tried: Vec<&str> = err.split_once("; tried ").unwrap().1.split("; ").collect();
    assert_eq!(tried.len(), 3, "{err}");
    assert!(tried[0].starts_with(&format!("{primary}: ")) && tried[0].ends_with(&format!("port {port}: Connection refused")), "{err}");
    assert!(tried[1].starts_with(&format!("{}: ", site.server(23))) && tried[1].contains("timed out"), "{err}");
    let nothing = format!("{}: 1 attempt, last: no hcron-scheduler is listening at /nonexistent/s", site.server(25));
    assert!(tried[2].starts_with(&nothing), "{err}");
    // The primary at 0 s and 1 s, the backups right after it; a third
    // round would start past the timeout.
    assert!(tried[0].contains(": 2 attempts, last: ") && tried[1].contains(": 1 attempt, last: "), "{err}");
    assert_eq!(site.queued("/e"), (0, 0));
}

#[test]
fn backups_serve_only_the_commands_of_jobs_unless_the_policy_is_all() {
    let site = Site::start();
    let hostfile = site.hostfile(&[22]);
    let hostfile = hostfile.to_str().unwrap();
    let primary = site.server(24);
    let base = [("HCRON_HOST", primary.as_str()), ("HCRON_HOSTFILE", hostfile), ("HCRON_RETRY", "0.2"), ("HCRON_TIMEOUT", "1")];
    let ran = site.hcron(&base, &["activate", "/e"]);
    assert_eq!(ran.code, 1, "the task policy keeps a user's own command to the primary");
    assert!(ran.err.contains(&format!("tried {primary}: ")) && !ran.err.contains(&site.server(22)), "{}", ran.err);
    let ran = site.hcron(&[&base[..], &[("HCRON_JOB_ID", "7")]].concat(), &["activate", "/e"]);
    assert_eq!((ran.code, site.queued("/e")), (0, (0, 1)), "{}", ran.err);
    let ran = site.hcron(&[&base[..], &[("HCRON_HOSTFILE_POLICY", "all")]].concat(), &["activate", "/e"]);
    assert_eq!((ran.code, site.queued("/e")), (0, (0, 2)), "{}", ran.err);
    // A real job of daemon A's, whose command activates an event: the
    // daemon gives it HCRON_JOB_ID, so its hcron uses the backup, from the
    // conventional ~/.hcron/hostfile (a job's environment is clean).
    std::fs::copy(hostfile, site.user.home.join(".hcron/hostfile")).unwrap();
    let command = format!("HCRON_HOST={primary} HCRON_RETRY=0.2 HCRON_TIMEOUT=5 {} activate /t", env!("CARGO_BIN_EXE_hcron"));
    site.user.event("job", &on_demand(&command));
    site.user.event("t", &on_demand("true"));
    let a_socket = site.a.socket.to_str().unwrap().to_owned();
    for daemon in ["a", "b"] {
        let socket = if daemon == "a" { a_socket.clone() } else { site.b.socket.to_str().unwrap().to_owned() };
        let ran = site.hcron(&[("HCRON_SOCKET", &socket)], &["reload"]);
        assert_eq!(ran.code, 0, "{}", ran.err);
    }
    let ran = site.hcron(&[("HCRON_SOCKET", &a_socket)], &["activate", "/job"]);
    assert_eq!(ran.code, 0, "{}", ran.err);
    assert!(eventually(Duration::from_secs(10), || site.queued("/t") == (0, 1)), "{}", site.a.log_text());
}

#[test]
fn an_answer_even_an_error_is_final_and_never_falls_back() {
    let site = Site::start();
    let hostfile = site.hostfile(&[22]);
    let primary = site.server(21);
    let env = [("HCRON_HOST", primary.as_str()), ("HCRON_HOSTFILE", hostfile.to_str().unwrap()), ("HCRON_HOSTFILE_POLICY", "all")];
    let ran = site.hcron(&env, &["activate", "/nope"]);
    assert_eq!(ran.code, 1);
    assert!(ran.err.contains("/nope") && !ran.err.contains("could be reached"), "{}", ran.err);
    assert!(ran.took < Duration::from_secs(10), "no retry delay was waited: {:?}", ran.took);
    assert!(!site.b.log_text().contains("/nope"), "the backup never heard of it");
}

#[test]
fn a_connection_that_hangs_is_given_up_when_the_timeout_passes() {
    let site = Site::start();
    let primary = site.server(23);
    // ssh's own connect timeout (10 s) is cut to what is left of --timeout.
    let ran = site.hcron(&[("HCRON_HOST", primary.as_str())], &["info", "--timeout", "3"]);
    assert_eq!(ran.code, 1);
    assert!(ran.took >= Duration::from_millis(2500) && ran.took < Duration::from_secs(8), "took {:?}: {}", ran.took, ran.err);
    assert!(ran.err.contains(&format!("tried {primary}: 1 attempt, last: ")) && ran.err.contains("timed out"), "{}", ran.err);
}

#[test]
fn output_cut_short_ends_quietly_after_an_answer_over_ssh() {
    // hcron ignores SIGPIPE while it talks to ssh, and must take the
    // default back: `hcron list | head -1` then ends without a word.
    let site = Site::start();
    hcron::synth::generate(&site.user.events().join("many"), 3000).unwrap();
    crate::root_util::run("chown", &["-R", &format!("{0}:{0}", site.user.name), site.user.events().to_str().unwrap()]);
    let primary = site.server(21);
    let env = [("HCRON_HOST", primary.as_str())];
    assert_eq!(site.hcron(&env, &["reload"]).code, 0);
    let err = site.user.home.join("err");
    let script = format!("{} list --show-all 2>{} | head -1", env!("CARGO_BIN_EXE_hcron"), err.display());
    let ran = site.run_as_user("sh", &["-c", &script], &env);
    assert_eq!(ran.out, "accepted:normal:passed:/e\n", "the first line of the daemon's listing");
    assert_eq!(std::fs::read_to_string(&err).unwrap(), "", "hcron list | head -1");
}
