//! The `hcron` command: argument definitions (the help text is their doc
//! comments) and one file per subcommand.

mod check;
mod list;
mod run;
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
}

/// Runs a parsed command line; the binary prints the error, if any, once.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::List(args) => list::run(args),
        Command::Check(args) => check::run(args),
        Command::Run(args) => run::run(args),
    }
}
