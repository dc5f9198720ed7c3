//! `hcron check`: what is wrong with a tree, at a glance or as JSON.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use serde_json::json;

use super::tree_args::TreeArgs;
use crate::check::{Diagnostic, check};
use crate::event::{Kind, Severity};
use crate::tree::Tree;

/// Arguments of `hcron check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Print a JSON document instead of text.
    #[arg(long)]
    json: bool,
    /// Events to check, by name (`/a/b`) or by path to their file; default: the whole tree.
    #[arg(value_name = "EVENT")]
    names: Vec<String>,
    #[command(flatten)]
    tree: TreeArgs,
}

/// Checks the tree; exit status 1 when anything is an error.
pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let loaded = args.tree.load()?;
    let tree = &loaded.loaded.tree;
    let mut unknown = Vec::new();
    let only: Option<Vec<Arc<str>>> = (!args.names.is_empty()).then(|| {
        args.names
            .iter()
            .map(|arg| {
                let name = event_name(&loaded.root, arg);
                if tree.get(&name).is_none() {
                    unknown.push(arg.clone());
                }
                Arc::from(name)
            })
            .collect()
    });
    let mut diagnostics = check(&loaded.loaded, &loaded.options.context, only.as_deref());
    for arg in unknown {
        diagnostics.push(Diagnostic {
            severity: Severity::Error,
            event: None,
            path: event_name(&loaded.root, &arg),
            lineno: None,
            reason: None,
            message: "no such event in the tree".into(),
            text: None,
        });
    }
    let errors = diagnostics.iter().filter(|d| d.severity == Severity::Error).count();
    let root = loaded.root.display().to_string();
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{:#}", to_json(&root, tree, &diagnostics))?;
    } else {
        for diagnostic in &diagnostics {
            write!(out, "{}", render(&root, diagnostic))?;
        }
        writeln!(out, "{}", summary(tree, &diagnostics))?;
    }
    Ok(if errors == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The event name an argument stands for: a path to a file inside the
/// tree, or a name with or without its leading `/`.
fn event_name(root: &Path, arg: &str) -> String {
    let as_path = Path::new(arg);
    if let (Ok(file), Ok(root)) = (std::path::absolute(as_path), std::path::absolute(root))
        && let Ok(relative) = file.strip_prefix(&root)
        && as_path.exists()
    {
        return format!("/{}", relative.display());
    }
    if arg.starts_with('/') { arg.to_owned() } else { format!("/{arg}") }
}

/// `events/a/b:3: error: /a/b: bad when_* setting: when_minute: ...` and the line below.
fn render(root: &str, d: &Diagnostic) -> String {
    let mut text = format!("{root}{}", d.path);
    if let Some(lineno) = d.lineno {
        text += &format!(":{lineno}");
    }
    text += &format!(": {}: ", d.severity.as_str());
    if let Some(event) = d.event.as_deref().filter(|e| *e != d.path) {
        text += &format!("{event}: ");
    }
    if let Some(reason) = &d.reason {
        text += &format!("{reason}: ");
    }
    text += &d.message;
    text.push('\n');
    if let Some(line) = &d.text {
        text += &format!("    | {line}\n");
    }
    text
}

fn summary(tree: &Tree, diagnostics: &[Diagnostic]) -> String {
    let count = |kind| tree.events().iter().filter(|e| e.kind() == kind).count();
    let (total, accepted, templates) = (tree.events().len(), count(Kind::Normal), count(Kind::Template));
    let errors = diagnostics.iter().filter(|d| d.severity == Severity::Error).count();
    let warnings = diagnostics.len() - errors;
    format!(
        "{total} events: {accepted} accepted, {templates} templates, {} rejected; {errors} errors, {warnings} warnings",
        total - accepted - templates
    )
}

fn to_json(root: &str, tree: &Tree, diagnostics: &[Diagnostic]) -> serde_json::Value {
    let events: Vec<_> = tree
        .events()
        .iter()
        .map(|e| {
            json!({
                "name": &**e.name(),
                "status": if e.is_accepted() { "accepted" } else { "rejected" },
                "type": e.kind().to_string(),
                "reason": e.reason().to_string(),
            })
        })
        .collect();
    let diagnostics: Vec<_> = diagnostics
        .iter()
        .map(|d| {
            json!({
                "severity": d.severity.as_str(),
                "event": d.event.as_deref(),
                "path": &d.path,
                "line": d.lineno,
                "reason": d.reason,
                "message": &d.message,
                "text": d.text,
            })
        })
        .collect();
    let errors = diagnostics.iter().filter(|d| d["severity"] == "error").count();
    json!({
        "root": root,
        "events": events,
        "diagnostics": diagnostics,
        "errors": errors,
        "warnings": diagnostics.len() - errors,
    })
}
