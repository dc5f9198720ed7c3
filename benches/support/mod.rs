//! What the daemon benchmarks share: starting the real daemon, reading its memory.

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
