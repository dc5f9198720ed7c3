//! The `hcron-scheduler` daemon: parse, run, print any error once.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match hcron::daemon::main(hcron::daemon::Args::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("hcron-scheduler: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
