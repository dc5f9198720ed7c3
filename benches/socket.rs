//! The control socket under a memory attack (issue 11): 100 connections
//! that each announce the largest frame the protocol allows and send 1 MiB
//! of it. `cargo bench --bench socket` prints the daemon's idle and peak
//! resident memory and their ratio (goal: under 2).

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

mod support;

fn main() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (events, state) = (dir.path().join("events"), dir.path().join("state"));
    hcron::synth::generate(&events, 1000).expect("generate a tree");
    let mut daemon = support::standalone(&events, &state, &[]);
    let socket = state.join("control.sock");
    let started = Instant::now();
    while UnixStream::connect(&socket).is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "the daemon did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(1));
    let idle = support::kib(daemon.id(), "VmRSS:");
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
    let peak = support::kib(daemon.id(), "VmHWM:");
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
