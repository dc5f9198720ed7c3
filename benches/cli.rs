//! The command line on big trees, as a user runs it, default settings.
//!
//! `cargo bench --bench cli`. Targets (issue 10): `hcron list --show-all
//! --events` on a 100,000-event tree accepts every valid event in under 1 s
//! and 150 MiB; a day of `hcron run` on 10,000 events fires each of them.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

fn main() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = dir.path().join("hcron.toml");
    std::fs::write(&config, "").expect("an empty hcron.toml: the defaults");

    let big = dir.path().join("big/events");
    hcron::synth::generate(&big, 100_000).expect("generate the tree");
    let (seconds, peak_mib, out) =
        measure(Command::new(env!("CARGO_BIN_EXE_hcron")).arg("list").arg("--show-all").arg("--events").arg(&big).arg("-c").arg(&config));
    let accepted = out.lines().filter(|l| l.starts_with("accepted:")).count();
    let valid = valid_events(&big);
    println!(
        "hcron list --show-all --events (100,000-event tree): {seconds:.3} s, peak RSS {peak_mib:.1} MiB, {accepted} of {valid} valid events accepted (target < 1 s, < 150 MiB, all)"
    );

    let day = dir.path().join("day/events");
    hcron::synth::generate(&day, 10_000).expect("generate the tree");
    let (seconds, _, out) = measure(Command::new(env!("CARGO_BIN_EXE_hcron")).arg("run").arg(&day).arg("20200101").arg("20200102"));
    let fired: std::collections::HashSet<&str> = out
        .lines()
        .filter(|l| l.contains("|activate|") && l.contains("|triggername=clock|"))
        .filter_map(|l| l.split('|').find_map(|f| f.strip_prefix("eventname=")))
        .collect();
    let valid = valid_events(&day);
    println!(
        "hcron run, a day of a 10,000-event tree: {seconds:.3} s, {} of {valid} valid events fired by the clock (target: all)",
        fired.len()
    );
}

/// The accepted events of a synthetic tree: every file and link but the
/// templates and the shared include file.
fn valid_events(root: &Path) -> usize {
    let mut count = 0;
    for dir in std::fs::read_dir(root).expect("read the tree").flatten() {
        if dir.file_name() != "common" {
            count += std::fs::read_dir(dir.path()).expect("read a directory").flatten().filter(|e| e.file_name() != "_tmpl").count();
        }
    }
    count
}

/// Runs `command` to its end: wall time, the child's peak RSS, its output.
fn measure(command: &mut Command) -> (f64, f64, String) {
    let started = Instant::now();
    let mut child = command.stdout(Stdio::piped()).spawn().expect("start hcron");
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().expect("piped"), &mut out).expect("read the output");
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child, whose pid we hold.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let seconds = started.elapsed().as_secs_f64();
    assert!(pid > 0 && std::process::ExitStatus::from_raw(status).success(), "hcron failed");
    (seconds, usage.ru_maxrss as f64 / 1024.0, out)
}
