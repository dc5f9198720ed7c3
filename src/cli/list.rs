//! `hcron list`: one line per event, in the formats of §4.1.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use super::client::try_ask;
use super::tree_args::TreeArgs;
use crate::config::Config;
use crate::control::{Listed, Request, Response};
use crate::event::glob::fnmatch;

/// Arguments of `hcron list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Prefix each name with `accepted:` or `rejected:`.
    #[arg(long, conflicts_with = "show_all")]
    show_status: bool,
    /// Prefix each name with its status, type and reason.
    #[arg(long)]
    show_all: bool,
    /// Add when each accepted event fires next (reads the tree, not the daemon).
    #[arg(long)]
    next: bool,
    /// The original `hcron-info -es` form: `accepted::/name`, `rejected:<reason>:/name`.
    #[arg(long, hide = true)]
    legacy_status: bool,
    /// Shell-style pattern matched against whole names (`*` matches `/` too).
    #[arg(default_value = "*")]
    pattern: String,
    #[command(flatten)]
    tree: TreeArgs,
}

/// Lists the events: the daemon's view when it runs and no tree is named,
/// else the tree's as it loads now.
pub fn run(args: ListArgs) -> anyhow::Result<ExitCode> {
    let mut next = std::collections::HashMap::new();
    let rows = match daemon_view(&args)? {
        Some(rows) if !args.next => rows,
        _ => {
            let loaded = args.tree.load()?;
            let now = crate::clock::Clock::now(&crate::clock::SystemClock).datetime();
            for event in loaded.loaded.tree.events().iter().filter(|e| e.is_accepted() && args.next) {
                next.insert(event.name().to_string(), super::next::describe(event, now, 1));
            }
            loaded.loaded.tree.events().iter().map(Listed::from).collect()
        }
    };
    let mut rows: Vec<Listed> = rows.into_iter().filter(|e| fnmatch(&args.pattern, &e.name)).collect();
    rows.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    for row in rows {
        match next.get(&row.name) {
            Some(when) => writeln!(out, "{}  next: {when}", line(&row, &args))?,
            None => writeln!(out, "{}", line(&row, &args))?,
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The daemon's listing, when no tree is named and a daemon answers.
fn daemon_view(args: &ListArgs) -> anyhow::Result<Option<Vec<Listed>>> {
    if args.tree.events.is_some() {
        return Ok(None);
    }
    let config = Config::find(args.tree.config.as_deref())?;
    match try_ask(&config, &Request::List)? {
        Some(Response::Events { events }) => Ok(Some(events)),
        Some(Response::Error { message }) => anyhow::bail!("{message}"),
        _ => Ok(None),
    }
}

/// One listing line (§4.1).
fn line(row: &Listed, args: &ListArgs) -> String {
    let Listed { name, status, kind, reason } = row;
    if args.legacy_status {
        return match status.as_str() {
            "accepted" => format!("accepted::{name}"),
            _ => format!("rejected:{reason}:{name}"),
        };
    }
    match (args.show_status, args.show_all) {
        (_, true) => format!("{status}:{kind}:{reason}:{name}"),
        (true, false) => format!("{status}:{name}"),
        (false, false) => name.clone(),
    }
}
