//! The `hcron` command: parse, run, print any error once.

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

fn main() -> ExitCode {
    let cli = match hcron::cli::Cli::try_parse_from(hcron::cli::legacy_arguments(std::env::args_os().collect())) {
        Ok(cli) => cli,
        Err(error) if matches!(error.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => error.exit(),
        Err(error) => {
            // The original's words, then what exactly was wrong.
            eprintln!("error: bad/missing argument");
            let detail = error.render().to_string();
            let first = detail.lines().next().unwrap_or_default();
            eprintln!("  ({})", first.trim_start_matches("error: "));
            return ExitCode::FAILURE;
        }
    };
    match hcron::cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
