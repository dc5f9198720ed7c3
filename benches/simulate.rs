//! Simulating a day: `hcron run` over 1,440 minutes of a synthetic tree
//! where every accepted event fires once a day and 2% chain to another.
//!
//! `cargo bench --bench simulate [-- EVENTS...]` (default 10000 and 100000).
//! Targets (issue 3): a day of 10,000 events in under 0.2 s, of 100,000
//! in under 2 s, output written to a sink; a minute in which nothing fires
//! under 10 µs with 100,000 events loaded.

use std::sync::Arc;
use std::time::Instant;

use hcron::config::Config;
use hcron::engine::Settings;
use hcron::simulate::{Options, Subject, simulate};
use hcron::tree::{LocalFs, load};
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![10_000, 100_000] } else { sizes };
    for size in sizes {
        let dir = tempfile::tempdir().expect("temporary directory");
        hcron::synth::generate(dir.path(), size).expect("generate the tree");
        let config = Config::default();
        let mut options = config.tree_options(config.load_context());
        options.max_events = size * 2;
        let started = Instant::now();
        let tree = Arc::new(load(&LocalFs, dir.path(), &options).expect("load").tree);
        let loading = started.elapsed().as_secs_f64();
        let subject = Subject { owner: "bench".into(), tree };
        let settings = Settings {
            max_chain_events: 5,
            max_next_events: 8,
            max_email_notifications: 16,
            fqdn: "h.example.com".into(),
            server_name: "s".into(),
        };
        let day = |start: &str, end: &str| {
            let (start, end): (DateTime, DateTime) = (start.parse().unwrap(), end.parse().unwrap());
            let mut sink = CountingSink::default();
            let started = Instant::now();
            simulate(&subject, settings.clone(), &TimeZone::UTC, start, end, &Options::default(), &mut sink).expect("simulate");
            (started.elapsed().as_secs_f64(), sink.lines)
        };
        let runs: Vec<(f64, usize)> = (0..3).map(|_| day("2020-01-01T00:00", "2020-01-02T00:00")).collect();
        let best = runs.iter().map(|r| r.0).fold(f64::INFINITY, f64::min);
        let jobs = runs[0].1;
        // 2051 is past the schedules' range: every minute is looked up, nothing
        // fires. A one-minute run measures the set-up (indexing the tree),
        // which the day's run minus it leaves out.
        let best_of = |end: &str| (0..5).map(|_| day("2051-01-01T00:00", end).0).fold(f64::INFINITY, f64::min);
        let quiet = (best_of("2051-01-02T00:00") - best_of("2051-01-01T00:01")) * 1440.0 / 1439.0;
        println!(
            "simulate a day of {size} events: {best:.3} s ({:.0} log lines/s, {jobs} lines), plus {loading:.3} s to load; a minute with nothing due: {:.2} µs",
            jobs as f64 / best,
            quiet / 1440.0 * 1e6
        );
    }
}

/// Counts lines and throws them away.
#[derive(Default)]
struct CountingSink {
    lines: usize,
}

impl std::io::Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.lines += buf.iter().filter(|&&b| b == b'\n').count();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
