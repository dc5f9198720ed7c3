//! The real daemon under load (standalone mode, release build).
//!
//! `cargo bench --bench daemon`. Targets (issue 4): with 100,000 events
//! loaded of which 1,000 fire in the same minute (local `true`), the last
//! of those has started within 2 s of the minute boundary; idle with
//! 100,000 events, under 1% CPU and under 200 MiB RSS; a tree edit is live
//! under 1 s after the debounce (300 ms).

use std::path::Path;
use std::time::{Duration, Instant};

use jiff::ToSpan;
use jiff::civil::DateTime;

mod support;

const EVENTS: usize = 100_000;
const DUE: usize = 1_000;

fn main() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (events, state) = (dir.path().join("events"), dir.path().join("state"));
    let now = jiff::Zoned::now().datetime();
    // The first minute boundary at least 20 s away leaves time to load.
    let due = now.checked_add(80.seconds()).unwrap().with().second(0).subsec_nanosecond(0).build().unwrap();
    let idle_month = (now.month() % 12 + 6) % 12 + 1;
    for d in 0..EVENTS / 100 {
        let sub = events.join(format!("d{d:04}"));
        std::fs::create_dir_all(&sub).unwrap();
        for e in 0..100 {
            let (month, hour, minute) = if e == 0 { (now.month(), due.hour(), due.minute()) } else { (idle_month, 3, 15) };
            let text = format!(
                "as_user=\nhost=localhost\ncommand=true\nnotify_email=\nnotify_message=\nwhen_month={month}\nwhen_day=*\nwhen_hour={hour}\nwhen_minute={minute}\nwhen_dow=*\n"
            );
            std::fs::write(sub.join(format!("e{e:02}")), text).unwrap();
        }
    }
    let config = dir.path().join("hcron.toml");
    std::fs::write(&config, "max_events_per_user = 200000\n").unwrap();
    let mut daemon = support::standalone(&events, &state, &["--config".as_ref(), config.as_os_str()]);
    let log = state.join("hcron.log");
    support::wait_for(Duration::from_secs(150), || count(&log, "|execute|") >= DUE);
    let text = std::fs::read_to_string(&log).unwrap();
    let executes: Vec<DateTime> = text.lines().filter(|l| l.contains("|execute|")).map(support::stamp).collect();
    let last = executes.iter().max().unwrap();
    let first = executes.iter().min().unwrap();
    println!(
        "{DUE} due of {EVENTS} loaded: first started {:.3} s, last {:.3} s after the minute boundary",
        first.duration_since(due).as_secs_f64(),
        last.duration_since(due).as_secs_f64()
    );

    // Idle: a whole minute tick included, nothing due.
    std::thread::sleep(Duration::from_secs(2));
    let pid = daemon.id();
    let (cpu_before, at) = (cpu_ticks(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(65));
    let cpu = (cpu_ticks(pid) - cpu_before) as f64 / ticks_per_second() / at.elapsed().as_secs_f64() * 100.0;
    println!("idle with {EVENTS} events: {cpu:.2}% CPU, {:.1} MiB RSS", support::kib(pid, "VmRSS:") as f64 / 1024.0);

    // A tree edit until live: the next load-events line.
    let loads = count(&log, "|load-events|");
    let edited = Instant::now();
    std::fs::write(events.join("d0000/e50"), "as_user=\nhost=localhost\ncommand=false\n").unwrap();
    support::wait_for(Duration::from_secs(30), || count(&log, "|load-events|") > loads);
    let live = edited.elapsed().as_secs_f64() - 0.3;
    println!("tree edit to live: {live:.3} s after the debounce");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let _ = daemon.wait();
}

fn count(log: &Path, marker: &str) -> usize {
    std::fs::read_to_string(log).map(|t| t.matches(marker).count()).unwrap_or(0)
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf with a valid name.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as f64 }
}
