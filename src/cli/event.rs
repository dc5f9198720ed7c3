//! `hcron event`: create or edit event files, validate them as `hcron
//! check` does, offer to edit again when one is rejected (as `crontab -e`
//! does), then ask the daemon to reload.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use super::client::try_ask;
use crate::check::check;
use crate::config::Config;
use crate::control::{Request, Response};
use crate::event::Severity;
use crate::tree::{LocalFs, load};

/// Arguments of `hcron event`.
#[derive(Debug, Args)]
pub struct EventArgs {
    /// Create missing files only; do not open an editor.
    #[arg(short = 'c')]
    create_only: bool,
    /// Reload without asking.
    #[arg(short = 'y')]
    yes: bool,
    /// Event files to create or edit.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Configuration file (`-c` is the original's "create only").
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
}

/// Creates, edits, validates, reloads.
pub fn run(args: EventArgs) -> anyhow::Result<ExitCode> {
    let config = Config::find(args.config.as_deref())?;
    for path in &args.paths {
        if !path.exists() {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            }
            std::fs::write(path, crate::event::blank_event()).with_context(|| format!("cannot create {}", path.display()))?;
        }
    }
    let mut valid = true;
    if !args.create_only {
        loop {
            edit(&args.paths)?;
            valid = report(&config, &args.paths)?;
            if valid || !ask("Edit again (y/n)? ")? {
                break;
            }
        }
    }
    if args.yes || ask("Reload events (y/n)? ")? {
        match try_ask(&config, &Request::Reload)? {
            Some(Response::Loaded(counts)) => println!("{}", super::daemon_commands::reloaded(&config, &counts)),
            Some(Response::Error { message }) => anyhow::bail!("{message}"),
            _ => println!("No hcron-scheduler answered; the events load when it starts (or now, if it watches the tree)."),
        }
    } else {
        println!("Reload deferred.");
    }
    Ok(if valid { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Opens `$VISUAL`, else `$EDITOR`, else `vi`, on the files.
fn edit(paths: &[PathBuf]) -> anyhow::Result<()> {
    let editor = std::env::var("VISUAL").or_else(|_| std::env::var("EDITOR")).unwrap_or_else(|_| "vi".into());
    let status = std::process::Command::new("/bin/sh").arg("-c").arg(format!("{editor} \"$@\"")).arg("hcron-event").args(paths).status()?;
    anyhow::ensure!(status.success(), "the editor ({editor}) failed: {status}");
    Ok(())
}

/// Checks each file within its tree (its nearest `events` ancestor);
/// prints what is wrong; true when nothing is an error.
fn report(config: &Config, paths: &[PathBuf]) -> anyhow::Result<bool> {
    let mut valid = true;
    for path in paths {
        let path = std::path::absolute(path)?;
        let root = path
            .ancestors()
            .skip(1)
            .find(|a| a.file_name().is_some_and(|n| n == "events"))
            .unwrap_or(path.parent().unwrap_or(Path::new("/")));
        let options = config.tree_options(config.load_context());
        let loaded = load(&LocalFs, root, &options).with_context(|| format!("cannot read {}", root.display()))?;
        let name: Arc<str> = format!("/{}", path.strip_prefix(root).unwrap_or(&path).display()).into();
        for d in check(&loaded, &options.context, Some(std::slice::from_ref(&name))) {
            valid &= d.severity != Severity::Error;
            let at = d.lineno.map(|n| format!(":{n}")).unwrap_or_default();
            let reason = d.reason.map(|r| format!("{r}: ")).unwrap_or_default();
            println!("{}{}{at}: {}: {reason}{}", root.display(), d.path, d.severity.as_str(), d.message);
        }
    }
    Ok(valid)
}

/// Asks a yes/no question on the terminal; no answer is no.
fn ask(question: &str) -> anyhow::Result<bool> {
    print!("{question}");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
