//! The `hcron` command: parse, run, print any error once.

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

fn main() -> ExitCode {
    // Output cut short (`hcron history | head -1`) ends the program quietly,
    // as it does every Unix tool: Rust ignores SIGPIPE, which turns the
    // write into an error (or a panic in println!).
    // SAFETY: restoring the default disposition before any thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
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
