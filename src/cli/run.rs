//! `hcron run`: the simulator's command line, with the original's
//! arguments, messages and exit statuses (§16.1).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

use crate::config::Config;
use crate::engine::Settings;
use crate::simulate::{Options, Subject, simulate};
use crate::tree::{LocalFs, load};

/// The usage text `-h` prints.
const USAGE: &str = "\
usage: hcron run [-c <conf>] [-d <delay>] [--fail-events <name>[:...]]
        [--show-all|--show-email|--show-event] <eventsdir> <start> <end>

Simulate the events of <eventsdir> (a directory named 'events') over the
minutes <start> <= t < <end>, given as YYYYMMDD[hh[mm]]. Nothing is executed
and no mail is sent; every activation succeeds except those of the events
named with --fail-events, which fail and follow their failover_event.

Options:
  -c <conf>            configuration (TOML, or the original's hcron.conf)
  -d <delay>           seconds to pause between simulated minutes
  --fail-events <name>[:...]
                       events (absolute names) whose activations fail
  --show-event         print each activated event's fields
  --show-email         print each notification
  --show-all           both
";

/// Arguments of `hcron run`.
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Print the usage (and exit 1, as the original).
    #[arg(short = 'h', long = "help")]
    help: bool,
    /// Configuration file [default: the simulator's own].
    #[arg(short = 'c', value_name = "CONF")]
    config: Option<PathBuf>,
    /// Seconds to pause between simulated minutes (negative: none, as in the original).
    #[arg(short = 'd', value_name = "DELAY", allow_negative_numbers = true)]
    delay: Option<f64>,
    /// Events whose activations fail, `:`-separated absolute names.
    #[arg(long, value_name = "NAME[:NAME...]")]
    fail_events: Option<String>,
    /// Print each activated event's fields.
    #[arg(long)]
    show_event: bool,
    /// Print each notification.
    #[arg(long)]
    show_email: bool,
    /// Both --show-event and --show-email.
    #[arg(long)]
    show_all: bool,
    /// The events directory (its name must be `events`).
    eventsdir: Option<PathBuf>,
    /// First simulated minute, YYYYMMDD[hh[mm]].
    start: Option<String>,
    /// Minute after the last simulated one, YYYYMMDD[hh[mm]].
    end: Option<String>,
}

/// A message and exit status 1, as the original ends.
fn fail(message: &str) -> anyhow::Result<ExitCode> {
    eprintln!("error: {message}");
    Ok(ExitCode::FAILURE)
}

/// Runs the simulation.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    if args.help {
        print!("{USAGE}");
        return Ok(ExitCode::FAILURE);
    }
    let (Some(dir), Some(start), Some(end)) = (&args.eventsdir, &args.start, &args.end) else {
        return fail("bad/missing argument");
    };
    let (Some(start), Some(end)) = (parse_time(start), parse_time(end)) else {
        return fail("bad/missing argument");
    };
    // The original's max(0, delay): a negative delay (or NaN) pauses for nothing.
    let delay = args.delay.map(|delay| delay.max(0.0));
    let delay = match delay.map(Duration::try_from_secs_f64).transpose() {
        Ok(delay) => delay,
        Err(_) => return fail("bad/missing argument"),
    };
    if start > end {
        return fail(&format!("start time ({}) is after end time ({})", python_str(start), python_str(end)));
    }
    let config = match &args.config {
        Some(path) => Config::read(path)?,
        // The package's `hcron-run.conf` allowed the local host and logged
        // to standard output, which the simulation does whatever the
        // configuration says; its 5000 events per user were never enforced,
        // and are not here either (decisions 2): the defaults, then.
        None => Config::default(),
    };
    config.warnings.iter().for_each(|w| eprintln!("warning: {w}"));
    if dir.file_name().is_none_or(|name| name != "events") {
        return fail("no events found/loaded");
    }
    let server_name =
        dir.canonicalize().ok().and_then(|d| Some(d.parent()?.file_name()?.to_string_lossy().into_owned())).unwrap_or_default();
    let mut options = config.tree_options(crate::event::LoadContext { host_name: crate::host::fqdn(), server_name: server_name.clone() });
    // decisions 2: only a limit set in hcron.toml is enforced by the simulator.
    options.max_events = config.max_events_per_user.unwrap_or(usize::MAX);
    let Ok(loaded) = load(&LocalFs, dir, &options) else {
        return fail("no events found/loaded");
    };
    if loaded.tree.events().is_empty() {
        return fail("no events found/loaded");
    }
    let owner = nix::unistd::User::from_uid(nix::unistd::getuid()).ok().flatten().context("cannot find the current user")?.name;
    let settings = Settings {
        max_chain_events: config.max_chain_events as usize,
        max_next_events: config.max_next_events as usize,
        max_email_notifications: config.max_email_notifications as usize,
        fqdn: options.context.host_name.clone(),
        server_name,
    };
    let show = Options {
        show_event: args.show_event || args.show_all,
        show_email: args.show_email || args.show_all,
        fail: args.fail_events.iter().flat_map(|names| names.split(':')).map(str::to_owned).collect(),
        delay,
    };
    let subject = Subject { owner: Arc::from(owner), tree: Arc::new(loaded.tree) };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let tz = TimeZone::try_system().unwrap_or(TimeZone::UTC);
    simulate(&subject, settings, &tz, start, end, &show, &mut out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `YYYYMMDD`, `YYYYMMDDhh` or `YYYYMMDDhhmm`; missing digits are zeros.
fn parse_time(text: &str) -> Option<DateTime> {
    if !(8..=12).contains(&text.len()) || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = format!("{text:0<12}");
    let number = |range: std::ops::Range<usize>| digits[range].parse::<i16>().ok();
    let hour = number(8..10)? as i8;
    let minute = number(10..12)? as i8;
    DateTime::new(number(0..4)?, number(4..6)? as i8, number(6..8)? as i8, hour, minute, 0, 0).ok()
}

/// Python's `str(datetime)`.
fn python_str(time: DateTime) -> String {
    crate::clock::log_datetime(&time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("20200101").unwrap().to_string(), "2020-01-01T00:00:00");
        assert_eq!(parse_time("2020010112").unwrap().to_string(), "2020-01-01T12:00:00");
        assert_eq!(parse_time("202001011230").unwrap().to_string(), "2020-01-01T12:30:00");
        assert_eq!(parse_time("202001011").unwrap().to_string(), "2020-01-01T10:00:00");
        for bad in ["2020010", "2020013100000", "20201301", "2020a101", "202001012500"] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }
}
