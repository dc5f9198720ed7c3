//! A real `hcron-scheduler` process for tests, and the `hcron` client
//! pointed at it.

use crate::bounded::Bounded;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Polls `condition` every 20 ms until it holds or `limit` passes.
pub fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running daemon; killed if the test ends without stopping it.
pub struct RunningDaemon {
    child: Option<Child>,
    /// Its control socket.
    pub socket: PathBuf,
    /// Its log file.
    pub log: PathBuf,
    /// Its pid file.
    pub pid_file: PathBuf,
}

impl RunningDaemon {
    /// `hcron-scheduler --standalone --events EVENTS --state-dir STATE [EXTRA...]`.
    pub fn standalone(events: &Path, state: &Path, extra: &[&str]) -> RunningDaemon {
        RunningDaemon::standalone_with_env(events, state, extra, &[])
    }

    /// As [`RunningDaemon::standalone`], with environment variables set for the daemon (and what it runs).
    pub fn standalone_with_env(events: &Path, state: &Path, extra: &[&str], env: &[(&str, &Path)]) -> RunningDaemon {
        RunningDaemon::standalone_with(events, state, extra, |command| {
            command.envs(env.iter().copied());
        })
    }

    /// As [`RunningDaemon::standalone`], with the command changed by `customize` first.
    pub fn standalone_with(events: &Path, state: &Path, extra: &[&str], customize: impl FnOnce(&mut Command)) -> RunningDaemon {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hcron-scheduler"));
        command.args(["--standalone", "--events"]).arg(events).arg("--state-dir").arg(state).args(extra);
        customize(&mut command);
        RunningDaemon::start(command, state.join("control.sock"), state.join("hcron.log"), state.join("hcron-scheduler.pid"))
    }

    /// Kills the daemon with SIGKILL and waits for it: a crash.
    pub fn crash(mut self) {
        let mut child = self.child.take().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }

    /// `hcron-scheduler --standalone --events EVENTS` with `HOME=home` and no
    /// state directory named: the README's first terminal, HOME anywhere.
    pub fn standalone_at_home(events: &Path, home: &Path) -> RunningDaemon {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hcron-scheduler"));
        command.args(["--standalone", "--events"]).arg(events).env("HOME", home);
        let child = command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start hcron-scheduler");
        let state = || std::fs::read_dir(home.join(".hcron")).ok()?.flatten().map(|e| e.path()).find(|p| p.join("control.sock").exists());
        let mut found = None;
        assert!(
            eventually(Duration::from_secs(10), || {
                found = state();
                found.is_some()
            }),
            "no socket under {}/.hcron",
            home.display()
        );
        let state = found.unwrap();
        RunningDaemon {
            child: Some(child),
            socket: state.join("control.sock"),
            log: state.join("hcron.log"),
            pid_file: state.join("hcron-scheduler.pid"),
        }
    }

    /// `hcron-scheduler --config CONFIG` (root mode) with the given paths.
    /// `customize` changes the command first.
    pub fn root_with(config: &Path, socket: PathBuf, log: PathBuf, customize: impl FnOnce(&mut Command)) -> RunningDaemon {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hcron-scheduler"));
        command.arg("--config").arg(config);
        customize(&mut command);
        let pid = socket.parent().unwrap().parent().unwrap().join("lib/hcron-scheduler.pid");
        RunningDaemon::start(command, socket, log, pid)
    }

    fn start(mut command: Command, socket: PathBuf, log: PathBuf, pid_file: PathBuf) -> RunningDaemon {
        let child = command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start hcron-scheduler");
        let daemon = RunningDaemon { child: Some(child), socket, log, pid_file };
        assert!(
            eventually(Duration::from_secs(10), || std::os::unix::net::UnixStream::connect(&daemon.socket).is_ok()),
            "the daemon did not listen on {}",
            daemon.socket.display()
        );
        daemon
    }

    /// Runs `hcron ARGS...` against this daemon.
    pub fn hcron(&self, args: &[&str]) -> (String, String, i32) {
        self.hcron_as(None, args)
    }

    /// Runs `hcron ARGS...` as the user `uid:gid` (root tests).
    pub fn hcron_as(&self, user: Option<(u32, u32)>, args: &[&str]) -> (String, String, i32) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hcron"));
        command.args(args).env("HCRON_SOCKET", &self.socket).env("HOME", "/nonexistent");
        if let Some((uid, gid)) = user {
            use std::os::unix::process::CommandExt;
            command.uid(uid).gid(gid);
        }
        let output: Output = command.output_bounded().unwrap();
        let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
        (text(output.stdout), text(output.stderr), output.status.code().unwrap_or(-1))
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends `signal` to the daemon.
    pub fn signal(&self, signal: i32) {
        let pid = self.child.as_ref().unwrap().id();
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid as i32, signal) };
    }

    /// The activity log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Fails the test, showing the log, unless the log says `text` within `limit`.
    pub fn assert_logs_within(&self, limit: Duration, text: &str) {
        assert!(eventually(limit, || self.log_text().contains(text)), "no {text:?} within {limit:?}: {}", self.log_text());
    }

    /// The log lines of `kind` (`done`, `execute`, ...) for `event` so far.
    pub fn log_lines(&self, kind: &str, event: &str) -> Vec<String> {
        let (kind, event) = (format!("|{kind}|"), format!("eventname={event}"));
        // The field is followed by another, or ends the line.
        let of_event = |l: &str| l.split('|').any(|field| field == event);
        self.log_text().lines().filter(|l| l.contains(&kind) && of_event(l)).map(str::to_owned).collect()
    }

    /// `hcron history ARGS... --json` as `user`, parsed; panics on output
    /// that is not a JSON list.
    pub fn history(&self, user: Option<(u32, u32)>, args: &[&str]) -> Vec<serde_json::Value> {
        let args: Vec<&str> = ["history"].iter().chain(args).chain(&["--json"]).copied().collect();
        let (out, err, _) = self.hcron_as(user, &args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("history is not JSON ({e}): {out}{err}"))
    }

    /// SIGTERM, then the exit status (within 15 s).
    pub fn stop(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the daemon did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RunningDaemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The time of a log line: its first field.
pub fn line_time(line: &str) -> jiff::civil::DateTime {
    let stamp = line.split('|').next().unwrap_or_default();
    stamp.parse().unwrap_or_else(|e| panic!("not a log line ({e}): {line}"))
}

/// Seconds from the log line `earlier` to the log line `later`.
pub fn seconds_between(earlier: &str, later: &str) -> f64 {
    line_time(later).duration_since(line_time(earlier)).as_secs_f64()
}
