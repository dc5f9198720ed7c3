//! `hcron conv`: crontab to events and back (§17, decisions 15).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::conv::{to_crontab, to_events};

/// Arguments of `hcron conv`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("direction").required(true).args(["to_events", "to_crontab"]))]
pub struct ConvArgs {
    /// Crontab to events: `HOST CRONTAB DIR`.
    #[arg(long)]
    to_events: bool,
    /// Events to crontab: `CRONTAB DIR`.
    #[arg(long)]
    to_crontab: bool,
    /// notify_email of the generated events.
    #[arg(long, value_name = "ADDR", default_value = "")]
    mail: String,
    /// The remote shell in front of each generated command.
    #[arg(long, value_name = "SH", default_value = "ssh")]
    remoteshell: String,
    /// `HOST CRONTAB DIR` or `CRONTAB DIR`; `-` for the crontab is standard input or output.
    #[arg(required = true, num_args = 2..=3)]
    operands: Vec<String>,
}

/// Converts; exit status 1 when anything could not be converted.
pub fn run(args: ConvArgs) -> anyhow::Result<ExitCode> {
    let problems = if args.to_events {
        let [host, crontab, dir] =
            <[String; 3]>::try_from(args.operands).map_err(|_| anyhow::anyhow!("--to-events takes HOST CRONTAB DIR"))?;
        let text = read(&crontab)?;
        let (files, problems) = to_events(&text, &host, &args.mail);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {dir}"))?;
        for file in files {
            let path = Path::new(&dir).join(&file.name);
            std::fs::write(&path, file.content).with_context(|| format!("cannot write {}", path.display()))?;
        }
        problems
    } else {
        let [crontab, dir] = <[String; 2]>::try_from(args.operands).map_err(|_| anyhow::anyhow!("--to-crontab takes CRONTAB DIR"))?;
        let mut files = Vec::new();
        collect(Path::new(&dir), Path::new(&dir), &mut files)?;
        let (text, problems) = to_crontab(&files, &args.remoteshell);
        match crontab.as_str() {
            "-" => std::io::stdout().write_all(text.as_bytes())?,
            path => std::fs::write(path, text).with_context(|| format!("cannot write {path}"))?,
        }
        problems
    };
    for problem in &problems {
        eprintln!("error: {problem}");
    }
    Ok(if problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn read(path: &str) -> anyhow::Result<String> {
    let mut text = String::new();
    match path {
        "-" => {
            std::io::stdin().read_to_string(&mut text)?;
        }
        path => text = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?,
    }
    Ok(text)
}

/// Every regular file below `dir`, as (`/relative/path`, content), sorted.
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, String)>) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?.filter_map(|e| Some(e.ok()?.path())).collect();
    entries.sort();
    for path in entries {
        let kind = std::fs::symlink_metadata(&path)?.file_type();
        if kind.is_dir() {
            collect(root, &path, files)?;
        } else if kind.is_file() {
            let name = format!("/{}", path.strip_prefix(root).unwrap_or(&path).display());
            files.push((name, std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?));
        }
    }
    Ok(())
}
