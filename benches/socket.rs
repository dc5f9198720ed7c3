//! The control socket under a memory attack (issue 11): 100 connections
//! that each announce the largest frame the protocol allows and send 1 MiB
//! of it. `cargo bench --bench socket` prints the daemon's idle and peak
//! resident memory and their ratio (goal: under 2).

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (events, state) = (dir.path().join("events"), dir.path().join("state"));
    hcron::synth::generate(&events, 1000).expect("generate a tree");
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_hcron-scheduler"))
        .args(["--standalone", "--events"])
        .arg(&events)
        .arg("--state-dir")
        .arg(&state)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start hcron-scheduler");
    let socket = state.join("control.sock");
    let started = Instant::now();
    while UnixStream::connect(&socket).is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "the daemon did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(1));
    let idle = kib(daemon.id(), "VmRSS:");
    let payload = vec![b'x'; 1 << 20];
    let mut held = Vec::new();
    for _ in 0..100 {
        let Ok(mut stream) = UnixStream::connect(&socket) else { continue };
        stream.set_write_timeout(Some(Duration::from_secs(2))).expect("timeout");
        let _ = stream.write_all(&hcron::control::MAX_FRAME.to_be_bytes());
        let _ = stream.write_all(&payload);
        held.push(stream);
    }
    std::thread::sleep(Duration::from_secs(1));
    let peak = kib(daemon.id(), "VmHWM:");
    println!(
        "control socket, 100 connections announcing {} MiB frames: idle {:.1} MiB, peak {:.1} MiB, ratio {:.2} (goal < 2)",
        hcron::control::MAX_FRAME >> 20,
        idle as f64 / 1024.0,
        peak as f64 / 1024.0,
        peak as f64 / idle as f64
    );
    drop(held);
    let _ = daemon.kill();
    let _ = daemon.wait();
}

/// A memory figure of `pid` from /proc, in KiB.
fn kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the daemon's status");
    let line = status.lines().find_map(|l| l.strip_prefix(key)).expect("the figure");
    line.trim().trim_end_matches("kB").trim().parse().expect("a number")
}
