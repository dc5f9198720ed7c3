//! The subcommands that need the daemon: reload, unload, activate, get,
//! info, history.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, ValueEnum};

use super::client::{ask, try_ask};
use crate::config::Config;
use crate::control::{Request, Response};

/// The configuration file option shared by these commands.
#[derive(Debug, Args)]
pub struct ConfigArg {
    /// Configuration file [default: /etc/hcron/hcron.toml, else /etc/hcron/hcron.conf].
    #[arg(short, long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Give up after this many seconds without reaching a scheduler [default: $HCRON_TIMEOUT, else 86400].
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
}

impl ConfigArg {
    fn load(&self) -> anyhow::Result<Config> {
        Ok(Config::find(self.config.as_deref())?)
    }

    /// Asks the daemon `request` (see [`ask`]).
    fn ask(&self, config: &Config, request: &Request) -> anyhow::Result<Response> {
        ask(config, request, self.timeout)
    }
}

/// `hcron reload`: the daemon re-reads the caller's tree and says what it found.
pub fn reload(args: ConfigArg) -> anyhow::Result<ExitCode> {
    let config = args.load()?;
    match args.ask(&config, &Request::Reload)? {
        Response::Loaded(counts) => {
            println!("{}", reloaded(&config, &counts));
            Ok(ExitCode::SUCCESS)
        }
        other => bail!("unexpected answer: {other:?}"),
    }
}

/// What a reload found, for the user.
pub(super) fn reloaded(config: &Config, c: &crate::control::Counts) -> String {
    format!(
        "Reloaded for servername ({}): {} events, {} accepted, {} rejected ({} templates).",
        config.server_name(),
        c.events,
        c.accepted,
        c.rejected,
        c.templates
    )
}

/// `hcron unload`.
pub fn unload(args: ConfigArg) -> anyhow::Result<ExitCode> {
    let config = args.load()?;
    args.ask(&config, &Request::Unload)?;
    println!("Unloaded events for servername ({}).", config.server_name());
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `hcron activate`.
#[derive(Debug, Args)]
pub struct ActivateArgs {
    /// The event's absolute name, e.g. `/a/b`.
    event: String,
    #[command(flatten)]
    config: ConfigArg,
}

/// `hcron activate EVENT`: says what was queued (the original said nothing).
pub fn activate(args: ActivateArgs) -> anyhow::Result<ExitCode> {
    let event = args.event.clone();
    match args.config.ask(&args.config.load()?, &Request::Activate { event: args.event })? {
        Response::Activated { job } => println!("queued job {job} for event {event}"),
        other => anyhow::bail!("unexpected answer from the daemon: {other:?}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// What `hcron get` tells.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Item {
    /// `yes` when the daemon schedules the caller's events.
    Allowed,
    /// This host's fully qualified name.
    Fqdn,
    /// The server name.
    Servername,
}

/// Arguments of `hcron get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// What to print.
    item: Item,
    #[command(flatten)]
    config: ConfigArg,
}

/// `hcron get allowed|fqdn|servername`.
pub fn get(args: GetArgs) -> anyhow::Result<ExitCode> {
    let config = args.config.load()?;
    let text = match args.item {
        Item::Fqdn => crate::host::fqdn(),
        Item::Servername => config.server_name(),
        Item::Allowed => match try_ask(&config, &Request::Allowed)? {
            Some(Response::Allowed { allowed: true }) => "yes".into(),
            _ => "no".into(),
        },
    };
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `hcron info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// `hosts`: every remote host's health instead; `nodes`: the cluster's nodes.
    #[arg(value_parser = ["hosts", "nodes"])]
    what: Option<String>,
    #[command(flatten)]
    config: ConfigArg,
}

/// `hcron info [hosts|nodes]`: the daemon's state, its hosts' health, or its cluster's nodes.
pub fn info(args: InfoArgs) -> anyhow::Result<ExitCode> {
    let config = args.config.load()?;
    if args.what.as_deref() == Some("nodes") {
        let Response::Nodes { nodes } = args.config.ask(&config, &Request::Nodes)? else { bail!("unexpected answer") };
        println!("{:<16} {:<8} {:>9}  {:>6}  {:>7}  {:<19}  id", "node", "role", "last beat", "epoch", "running", "joined (UTC)");
        for node in nodes {
            let epoch = node.epoch.map_or("-".to_owned(), |e| e.to_string());
            let beat = format!("{:.1}s ago", node.beat_age);
            println!("{:<16} {:<8} {beat:>9}  {epoch:>6}  {:>7}  {:<19}  {}", node.name, node.role, node.running, node.started, node.id);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.what.is_some() {
        let Response::Hosts { hosts } = args.config.ask(&config, &Request::Hosts)? else { bail!("unexpected answer") };
        let time = |t: Option<jiff::Timestamp>| {
            t.map_or("-".to_owned(), |t| t.to_zoned(jiff::tz::TimeZone::system()).strftime("%Y-%m-%d %H:%M:%S").to_string())
        };
        println!("{:<24} {:<8} {:>8}  {:<19}  {:<19}  last error", "host", "state", "failures", "offline until", "last success");
        for host in hosts {
            let state = match (host.offline_until.is_some(), host.probing) {
                (_, true) => "probing",
                (true, false) => "offline",
                (false, false) => "online",
            };
            let error = host.last_error.as_deref().unwrap_or("-");
            println!(
                "{:<24} {state:<8} {:>8}  {:<19}  {:<19}  {error}",
                host.host,
                host.failures,
                time(host.offline_until),
                time(host.last_success)
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Response::Info(info) = args.config.ask(&config, &Request::Info)? else { bail!("unexpected answer") };
    println!("servername:   {}", info.server_name);
    println!("uptime:       {} s", info.uptime);
    println!("users:        {}", info.users);
    println!("events:       {}", info.events);
    println!("jobs queued:  {}", info.queued);
    println!("jobs running: {}", info.running);
    println!("next minute:  {}", info.next_minute);
    println!("role:         {}", info.role);
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `hcron history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only this event's jobs.
    event: Option<String>,
    /// Only jobs scheduled at or after this local time, `YYYY-MM-DD[THH:MM[:SS]]`.
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    config: ConfigArg,
}

/// `hcron history`: the caller's own jobs.
pub fn history(args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let request = Request::History { event: args.event, since: args.since };
    let Response::History { jobs } = args.config.ask(&args.config.load()?, &request)? else { bail!("unexpected answer") };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&jobs)?);
        return Ok(ExitCode::SUCCESS);
    }
    for job in jobs {
        let rv = job.rv.map_or("-".to_owned(), |rv| rv.to_string());
        let host = job.host.unwrap_or_else(|| "-".into());
        let next = if job.next.is_empty() { String::new() } else { format!(" -> {}", job.next) };
        let exit = job.exit_status.map(|s| format!("  exit={s}")).unwrap_or_default();
        let node = job.node.map(|n| format!("  node={n}")).unwrap_or_default();
        println!("{}  {}  {}  {}  host={host}  rv={rv}{exit}{node}  {}{next}", job.scheduled, job.id, job.trigger, job.event, job.result);
        for (name, text) in [("stdout", &job.stdout), ("stderr", &job.stderr)] {
            for line in text.as_deref().unwrap_or_default().lines() {
                println!("    {name}: {line}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
