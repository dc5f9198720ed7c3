//! Loading a synthetic tree: events per second and peak memory.
//!
//! `cargo bench --bench load [-- EVENTS...]` (default 10000 and 100000).
//! Target (issue 2): 100,000 events loaded and validated in under 1 s,
//! under 150 MiB peak RSS, on a 2-core machine.

use std::time::{Duration, Instant};

use hcron::config::Config;
use hcron::tree::{LocalFs, load};

fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![10_000, 100_000] } else { sizes };
    for size in sizes {
        let dir = tempfile::tempdir().expect("temporary directory");
        let started = Instant::now();
        hcron::synth::generate(dir.path(), size).expect("generate the tree");
        let generated = started.elapsed();
        let config = Config::default();
        let mut options = config.tree_options(config.load_context());
        options.max_events = size * 2;
        let before = peak_rss_kib();
        let mut times: Vec<Duration> = Vec::new();
        let mut count = 0;
        for _ in 0..5 {
            let started = Instant::now();
            let loaded = load(&LocalFs, dir.path(), &options).expect("load");
            times.push(started.elapsed());
            count = loaded.tree.events().len();
            drop(loaded);
        }
        times.sort();
        let best = times[0].as_secs_f64();
        let median = times[2].as_secs_f64();
        let peak = peak_rss_kib();
        println!(
            "load {count} events: best {best:.3} s, median {median:.3} s, {:.0} events/s; peak RSS {:.1} MiB (before loading {:.1} MiB); generated in {:.1} s",
            count as f64 / median,
            peak as f64 / 1024.0,
            before as f64 / 1024.0,
            generated.as_secs_f64()
        );
    }
}

/// The process's peak resident set size (VmHWM), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0)
}
