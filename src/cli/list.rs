//! `hcron list`: one line per event, in the formats of §4.1.

use std::fmt::Display;
use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use super::client::try_ask;
use super::tree_args::TreeArgs;
use crate::config::Config;
use crate::control::{Listed, Request, Response};
use crate::event::Event;
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
    let daemon = if args.next { None } else { daemon_view(&args)? };
    let local = if daemon.is_none() { Some(args.tree.load()?) } else { None };
    let mut rows: Vec<Row<'_>> = match (&daemon, &local) {
        (Some(listed), _) => listed.iter().map(Row::Daemon).collect(),
        (None, Some(tree)) => tree.loaded.tree.events().iter().map(Row::Tree).collect(),
        (None, None) => unreachable!("the tree is loaded when no daemon answers"),
    };
    rows.retain(|row| fnmatch(&args.pattern, row.name()));
    // A stable sort: it finds the sorted runs a tree's order is made of (its
    // files, then its links) and merges them, far faster than starting over.
    rows.sort_by(|a, b| a.name().cmp(b.name()));
    let now = crate::clock::Clock::now(&crate::clock::SystemClock).datetime();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    for row in &rows {
        row.write(&mut out, &args)?;
        match row {
            Row::Tree(event) if args.next && event.is_accepted() => writeln!(out, "  next: {}", super::next::describe(event, now, 1))?,
            _ => writeln!(out)?,
        }
    }
    out.flush()?;
    // A process about to exit need not free a big tree piece by piece.
    std::mem::forget(rows);
    std::mem::forget(local);
    Ok(ExitCode::SUCCESS)
}

/// One event to list, as the daemon sent it or as the tree loaded.
enum Row<'a> {
    Daemon(&'a Listed),
    Tree(&'a Event),
}

impl Row<'_> {
    fn name(&self) -> &str {
        match self {
            Row::Daemon(listed) => &listed.name,
            Row::Tree(event) => event.name(),
        }
    }

    /// Writes the listing line (§4.1) without its end.
    fn write(&self, out: &mut impl Write, args: &ListArgs) -> std::io::Result<()> {
        match self {
            Row::Daemon(Listed { name, status, kind, reason }) => write_line(out, args, name, status, kind, reason),
            Row::Tree(event) => {
                let status = if event.is_accepted() { "accepted" } else { "rejected" };
                write_line(out, args, event.name(), status, &event.kind(), &event.reason())
            }
        }
    }
}

/// One listing line (§4.1) without its end.
fn write_line(
    out: &mut impl Write,
    args: &ListArgs,
    name: &str,
    status: &str,
    kind: &dyn Display,
    reason: &dyn Display,
) -> std::io::Result<()> {
    if args.legacy_status {
        return match status {
            "accepted" => write!(out, "accepted::{name}"),
            _ => write!(out, "rejected:{reason}:{name}"),
        };
    }
    match (args.show_status, args.show_all) {
        (_, true) => write!(out, "{status}:{kind}:{reason}:{name}"),
        (true, false) => write!(out, "{status}:{name}"),
        (false, false) => write!(out, "{name}"),
    }
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
