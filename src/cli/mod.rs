//! The `hcron` command: argument definitions (the help text is their doc
//! comments) and one file per subcommand.

mod check;
mod client;
mod conv;
mod daemon_commands;
mod doc;
mod event;
mod list;
mod next;
mod relay;
mod run;
mod servers;
mod show_log;
mod tree_args;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// hcron: events in files, run on schedule.
#[derive(Debug, Parser)]
#[command(name = "hcron", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the events of a tree, with their status, type and reason.
    List(list::ListArgs),
    /// Report every event that is not accepted and what loads but will not work as written.
    Check(check::CheckArgs),
    /// Simulate the events of a tree over a period: nothing runs, the log shows what would.
    Run(run::RunArgs),
    /// Ask the daemon to re-read your events now.
    Reload(daemon_commands::ConfigArg),
    /// Ask the daemon to stop scheduling your events until the next reload.
    Unload(daemon_commands::ConfigArg),
    /// Ask the daemon to run one of your events now.
    Activate(daemon_commands::ActivateArgs),
    /// Print whether you are allowed, this host's name, or the server name.
    Get(daemon_commands::GetArgs),
    /// Print the daemon's state, or with `hosts` every remote host's health.
    Info(daemon_commands::InfoArgs),
    /// Print your jobs: when, which event, where, how they ended.
    History(daemon_commands::HistoryArgs),
    /// Print each scheduler server you may reach, whether it answers and how fast.
    Servers(daemon_commands::ConfigArg),
    /// Pass one request from standard input to this host's daemon (run by hcron over SSH).
    #[command(hide = true)]
    Relay(daemon_commands::ConfigArg),
    /// Print the activity log between two times, filtered.
    ShowLog(show_log::ShowLogArgs),
    /// Print when events fire next, or why they never will.
    Next(next::NextArgs),
    /// Convert a crontab into events, or events into a crontab.
    Conv(conv::ConvArgs),
    /// Create or edit event files, check them, and reload.
    Event(event::EventArgs),
    /// Print an HTML page describing a tree.
    Doc(doc::DocArgs),
    /// Print the version.
    Version,
    /// Print a completion script for a shell (bash, zsh, fish, ...).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Runs a parsed command line; the binary prints the error, if any, once.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::List(args) => list::run(args),
        Command::Check(args) => check::run(args),
        Command::Run(args) => run::run(args),
        Command::Reload(args) => daemon_commands::reload(args),
        Command::Unload(args) => daemon_commands::unload(args),
        Command::Activate(args) => daemon_commands::activate(args),
        Command::Get(args) => daemon_commands::get(args),
        Command::Info(args) => daemon_commands::info(args),
        Command::History(args) => daemon_commands::history(args),
        Command::Servers(args) => servers::run(args),
        Command::Relay(args) => relay::run(args),
        Command::ShowLog(args) => show_log::run(args),
        Command::Next(args) => next::run(args),
        Command::Conv(args) => conv::run(args),
        Command::Event(args) => event::run(args),
        Command::Doc(args) => doc::run(args),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "hcron", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Version => {
            println!("{}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The command line as `hcron` understands it: the original's separate
/// programs (`hcron-reload`, `hcron-info -es`, ...) become subcommands
/// (decisions 19); the deprecated ones say so on standard error.
pub fn legacy_arguments(argv: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let program = argv.first().and_then(|p| std::path::Path::new(p).file_name()).and_then(|n| n.to_str()).unwrap_or("hcron").to_owned();
    let mut rest: Vec<std::ffi::OsString> = argv.into_iter().skip(1).collect();
    let sub = match program.as_str() {
        "hcron-reload" => "reload",
        "hcron-activate" => "activate",
        "hcron-info" if rest.first().is_some_and(|a| a == "-es") => {
            rest.remove(0);
            rest.insert(0, "--legacy-status".into());
            "list"
        }
        "hcron-info" => "info",
        "hcron-run" | "hcron-event" | "hcron-conv" => {
            let sub = &program["hcron-".len()..];
            eprintln!("warning: {program} is deprecated; use \"hcron {sub}\"");
            sub
        }
        _ => return std::iter::once(std::ffi::OsString::from(program)).chain(rest).collect(),
    };
    ["hcron".into(), sub.into()].into_iter().chain(rest).collect()
}

#[cfg(test)]
mod tests {
    use super::legacy_arguments;

    #[track_caller]
    fn check(argv: &[&str], want: &[&str]) {
        let got = legacy_arguments(argv.iter().map(Into::into).collect());
        assert_eq!(got, want.iter().map(std::ffi::OsString::from).collect::<Vec<_>>());
    }

    #[test]
    fn legacy_names_become_subcommands() {
        check(&["/usr/bin/hcron", "list"], &["hcron", "list"]);
        check(&["/usr/bin/hcron-reload"], &["hcron", "reload"]);
        check(&["hcron-activate", "/a/b"], &["hcron", "activate", "/a/b"]);
        check(&["hcron-info", "-es"], &["hcron", "list", "--legacy-status"]);
        check(&["hcron-info"], &["hcron", "info"]);
        check(&["hcron-run", "events", "20200101", "20200102"], &["hcron", "run", "events", "20200101", "20200102"]);
        check(&["hcron-event", "-c", "x"], &["hcron", "event", "-c", "x"]);
    }
}
