//! `hcron list`: one line per event, in the formats of §4.1.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use super::tree_args::TreeArgs;
use crate::event::{Event, glob::fnmatch};

/// Arguments of `hcron list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Prefix each name with `accepted:` or `rejected:`.
    #[arg(long, conflicts_with = "show_all")]
    show_status: bool,
    /// Prefix each name with its status, type and reason.
    #[arg(long)]
    show_all: bool,
    /// Shell-style pattern matched against whole names (`*` matches `/` too).
    #[arg(default_value = "*")]
    pattern: String,
    #[command(flatten)]
    tree: TreeArgs,
}

/// Lists the events of the tree.
pub fn run(args: ListArgs) -> anyhow::Result<ExitCode> {
    let loaded = args.tree.load()?;
    let mut events: Vec<&Event> = loaded.loaded.tree.events().iter().filter(|e| fnmatch(&args.pattern, e.name())).collect();
    events.sort_unstable_by(|a, b| a.name().cmp(b.name()));
    let mut out = std::io::stdout().lock();
    for event in events {
        writeln!(out, "{}", line(event, args.show_status, args.show_all))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One listing line.
pub fn line(event: &Event, show_status: bool, show_all: bool) -> String {
    let status = if event.is_accepted() { "accepted" } else { "rejected" };
    match (show_status, show_all) {
        (_, true) => format!("{status}:{}:{}:{}", event.kind(), event.reason(), event.name()),
        (true, false) => format!("{status}:{}", event.name()),
        (false, false) => event.name().to_string(),
    }
}
