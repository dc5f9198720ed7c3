//! `hcron show-log`: the activity log read back (§16), filtered by time,
//! type, user and event, with each job's queued values under its
//! `activate` line and a `stats` entry after its `done` line.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use regex::Regex;

use super::client::try_ask;
use super::daemon_commands::ConfigArg;
use crate::config::Config;
use crate::control::{Request, Response};
use crate::log::{ParsedLine, parse_line};

/// Arguments of `hcron show-log`.
#[derive(Debug, Args)]
pub struct ShowLogArgs {
    /// Only entries whose event name matches this regular expression.
    #[arg(short = 'e', value_name = "REGEX")]
    event: Option<String>,
    /// The log file [default: the configured log_path].
    #[arg(short = 'f', value_name = "LOGFILE")]
    file: Option<PathBuf>,
    /// Indent chained jobs under the jobs that queued them.
    #[arg(long)]
    show_jobtree: bool,
    /// Only these entry types, comma-separated.
    #[arg(long, value_name = "TYPE[,...]", value_delimiter = ',')]
    show_types: Vec<String>,
    /// Only these users, comma-separated.
    #[arg(short = 'u', value_name = "USER[,...]", value_delimiter = ',')]
    users: Vec<String>,
    /// First minute shown, `YYYY-MM-DDTHH:MM` (a prefix such as `YYYY-MM-DD` works).
    start: String,
    /// Minute after the last one shown (excluded).
    end: Option<String>,
    #[command(flatten)]
    config: ConfigArg,
}

/// Prints the selected entries.
pub fn run(args: ShowLogArgs) -> anyhow::Result<ExitCode> {
    let text = match &args.file {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("cannot read the log {}", path.display()))?,
        None => configured_log(&args)?,
    };
    let event = args.event.as_deref().map(Regex::new).transpose().context("bad regular expression for -e")?;
    let mut queued: HashMap<String, ParsedLine> = HashMap::new();
    let mut activated: HashMap<String, String> = HashMap::new();
    let mut out = std::io::stdout().lock();
    for entry in text.lines().filter_map(parse_line) {
        let value = |key: &str| entry.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        if entry.kind == "queue"
            && let Some(id) = value("jobid")
        {
            queued.insert(id, entry.clone());
        }
        let minute = entry.time.get(..16).unwrap_or(&entry.time);
        let in_range = minute >= args.start.as_str() && args.end.as_deref().is_none_or(|end| minute < end);
        let wanted = in_range
            && (args.show_types.is_empty() || args.show_types.contains(&entry.kind))
            && (args.users.is_empty() || args.users.contains(&entry.user))
            && event.as_ref().is_none_or(|re| value("eventname").is_some_and(|e| re.is_match(&e)));
        if !wanted {
            continue;
        }
        let depth = if args.show_jobtree { value("eventchain").map_or(0, |c| c.matches(':').count()) } else { 0 };
        let indent = "    ".repeat(depth);
        writeln!(out, "{indent}{} {} {} {}", entry.time, entry.kind, entry.user, dict(&entry.fields))?;
        let id = value("jobid").unwrap_or_default();
        match entry.kind.as_str() {
            "activate" | "expire" => {
                activated.insert(id.clone(), entry.time.clone());
                if let Some(queue) = queued.get(&id) {
                    writeln!(out, "{indent}    queue {}", dict(&queue.fields))?;
                }
            }
            "done" => {
                let seconds =
                    |from: Option<&String>| from.and_then(|t| seconds_between(t, &entry.time)).map_or("None".into(), |s| format!("{s:.6}"));
                let queued_at = queued.get(&id).map(|q| &q.time);
                let stats = [("elapsed", seconds(queued_at)), ("executetime", seconds(activated.get(&id)))];
                let wait =
                    queued_at.zip(activated.get(&id)).and_then(|(q, a)| seconds_between(q, a)).map_or("None".into(), |s| format!("{s:.6}"));
                let fields: Vec<(String, String)> = stats.into_iter().chain([("waittime", wait)]).map(|(k, v)| (k.to_owned(), v)).collect();
                writeln!(out, "{indent}{} stats {} {}", entry.time, entry.user, dict(&fields))?;
            }
            _ => {}
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The configured log, or the caller's own lines of it from the daemon
/// when the file cannot be read here (the root daemon's log is root's).
fn configured_log(args: &ShowLogArgs) -> anyhow::Result<String> {
    let config = Config::find(args.config.config.as_deref())?;
    let path = match &config.log_path {
        Some(path) if !path.is_empty() => PathBuf::from("/var/log/hcron").join(path),
        _ => anyhow::bail!("the log goes to standard output in this configuration: name a file with -f"),
    };
    let error = match std::fs::read_to_string(&path) {
        Ok(text) => return Ok(text),
        Err(error) => error,
    };
    match try_ask(&config, &Request::Log { since: args.start.clone() })? {
        Some(Response::Log { lines, truncated }) => {
            if truncated {
                eprintln!("warning: only your newest log entries are shown: the daemon left older ones out");
            }
            Ok(lines.join("\n"))
        }
        Some(Response::Error { message }) => {
            anyhow::bail!("cannot read the log {} ({error}), nor ask the daemon: {message}", path.display())
        }
        _ => Err(error).with_context(|| format!("cannot read the log {}", path.display())),
    }
}

/// Python's repr of a dict of strings: `{'key': 'value', ...}`.
fn dict(fields: &[(String, String)]) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'").replace('\n', "\\n"));
    let items: Vec<String> = fields.iter().map(|(k, v)| format!("{}: {}", quote(k), quote(v))).collect();
    format!("{{{}}}", items.join(", "))
}

/// Seconds between two log timestamps.
fn seconds_between(from: &str, to: &str) -> Option<f64> {
    let (from, to): (jiff::civil::DateTime, jiff::civil::DateTime) = (from.parse().ok()?, to.parse().ok()?);
    Some(to.duration_since(from).as_secs_f64())
}
