//! The `hcron` command: parse, run, print any error once.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match hcron::cli::run(hcron::cli::Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
