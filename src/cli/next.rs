//! `hcron next`: when events fire next, or why they never will.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use super::tree_args::TreeArgs;
use crate::clock::{Clock, SystemClock};
use crate::event::Event;
use crate::schedule::next_times;

/// Arguments of `hcron next`.
#[derive(Debug, Args)]
pub struct NextArgs {
    /// Events, by name (`/a/b`); default: every accepted event.
    #[arg(value_name = "EVENT")]
    names: Vec<String>,
    /// How many times to show per event.
    #[arg(long, default_value_t = 1)]
    count: usize,
    #[command(flatten)]
    tree: TreeArgs,
}

/// Prints `name: time, time, ...` per event, or why it never fires.
pub fn run(args: NextArgs) -> anyhow::Result<ExitCode> {
    let loaded = args.tree.load()?;
    let tree = &loaded.loaded.tree;
    let now = SystemClock.now().datetime();
    let mut out = std::io::stdout().lock();
    let mut missing = false;
    let events: Vec<&Event> = if args.names.is_empty() {
        tree.events().iter().filter(|e| e.is_accepted()).collect()
    } else {
        args.names
            .iter()
            .filter_map(|name| {
                let name = if name.starts_with('/') { name.clone() } else { format!("/{name}") };
                let found = tree.get(&name);
                if found.is_none() {
                    eprintln!("error: no event ({name}) in {}", loaded.root.display());
                    missing = true;
                }
                found
            })
            .collect()
    };
    for event in events {
        writeln!(out, "{}: {}", event.name(), describe(event, now, args.count))?;
    }
    Ok(if missing { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// The next `count` times of `event` after `now`, or why there are none.
pub fn describe(event: &Event, now: jiff::civil::DateTime, count: usize) -> String {
    let Some(schedule) = event.schedule() else {
        return format!("never: not scheduled ({}: {})", event.kind(), event.reason());
    };
    let times = next_times(schedule, now, count);
    if times.is_empty() {
        return "never: no minute until the end of 2050 matches every when_* field".into();
    }
    times.iter().map(|t| t.strftime("%Y-%m-%d %H:%M").to_string()).collect::<Vec<_>>().join(", ")
}
