//! What the daemon benchmarks share: starting the real daemon, reading its
//! memory, waiting for it, reading its log's times.
// Each benchmark uses a part of it.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use std::path::Path;
use std::process::{Child, Command, Stdio};

/// `hcron-scheduler --standalone --events EVENTS --state-dir STATE [EXTRA...]`, quiet.
pub fn standalone(events: &Path, state: &Path, extra: &[&std::ffi::OsStr]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_hcron-scheduler"))
        .arg("--standalone")
        .args(extra)
        .arg("--events")
        .arg(events)
        .arg("--state-dir")
        .arg(state)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start hcron-scheduler")
}

/// A memory figure of `pid` from `/proc/<pid>/status` (`VmRSS:`, `VmHWM:`), in KiB.
pub fn kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the daemon's status");
    status.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0)
}

/// Polls `condition` every 50 ms; panics after `limit`.
pub fn wait_for(limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The time of an activity log line.
pub fn stamp(line: &str) -> jiff::civil::DateTime {
    line.split('|').next().unwrap().parse().unwrap()
}
