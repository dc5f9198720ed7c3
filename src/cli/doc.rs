//! `hcron doc`: one HTML page describing a tree (§16): contents, a summary
//! table, a section per event with its raw fields (last assignment wins,
//! nothing substituted), and indexes by contact, host, label, chains, ...

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use regex::Regex;

use crate::config::Config;
use crate::event::{Event, parent, resolve_name};
use crate::tree::{LocalFs, load};

/// The fields the indexes are built from, and how their values split.
const INDEXES: [(&str, char); 8] = [
    ("contact", ','),
    ("failover_event", ':'),
    ("host", ','),
    ("label", ','),
    ("next_event", ':'),
    ("notify_email", ','),
    ("template_name", ','),
    ("url", ','),
];

/// Arguments of `hcron doc`.
#[derive(Debug, Args)]
pub struct DocArgs {
    /// Configuration file (for the ignore regexp and limits).
    #[arg(short = 'c', value_name = "CONF")]
    config: Option<PathBuf>,
    /// Only events whose name matches this regular expression.
    #[arg(short = 'e', value_name = "REGEX")]
    events: Option<String>,
    /// Link each event name to this URL, `{}` standing for the name.
    #[arg(long, value_name = "FMT")]
    href_fmt: Option<String>,
    /// Show fields whose value is empty too.
    #[arg(long)]
    show_empty_fields: bool,
    /// Show each event's source lines.
    #[arg(long)]
    show_source: bool,
    /// Show each event's fields as JSON too.
    #[arg(long)]
    show_json: bool,
    /// HTML placed before the contents.
    #[arg(long, value_name = "HTML")]
    toc_code: Option<String>,
    /// The events directory.
    eventsdir: PathBuf,
}

/// Prints the page.
pub fn run(args: DocArgs) -> anyhow::Result<ExitCode> {
    let config = Config::find(args.config.as_deref())?;
    let options = config.tree_options(config.load_context());
    let loaded = load(&LocalFs, &args.eventsdir, &options).with_context(|| format!("cannot read {}", args.eventsdir.display()))?;
    let filter = args.events.as_deref().map(Regex::new).transpose().context("bad regular expression for -e")?;
    let mut events: Vec<&Event> = loaded.tree.events().iter().filter(|e| filter.as_ref().is_none_or(|re| re.is_match(e.name()))).collect();
    events.sort_by(|a, b| a.name().cmp(b.name()));
    print!("{}", page(&args, &events));
    Ok(ExitCode::SUCCESS)
}

/// An event's raw fields: names lowercased, the last assignment winning.
fn fields(event: &Event) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    for assignment in event.definition().map(|d| d.assignments().collect::<Vec<_>>()).unwrap_or_default() {
        fields.insert(assignment.name.to_lowercase(), assignment.value.to_owned());
    }
    fields
}

fn page(args: &DocArgs, events: &[&Event]) -> String {
    let title = format!("hcron events of {}", args.eventsdir.display());
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n</head>\n<body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    if let Some(code) = &args.toc_code {
        html += code;
        html.push('\n');
    }
    html += "<h2 id=\"contents\">Contents</h2>\n<ul>\n<li><a href=\"#summary\">Summary</a></li>\n<li><a href=\"#events\">Events</a></li>\n<li><a href=\"#indexes\">Indexes</a></li>\n</ul>\n";
    html += "<h2 id=\"summary\">Summary</h2>\n<table>\n<thead><tr><th>Name</th><th>Status</th><th>Description</th><th>Contact</th><th>URL</th><th>Labels</th></tr></thead>\n<tbody>\n";
    let all: Vec<(&Event, BTreeMap<String, String>)> = events.iter().map(|e| (*e, fields(e))).collect();
    for (event, fields) in &all {
        let get = |f: &str| esc(fields.get(f).map_or("", String::as_str));
        let status = format!("{}: {}", event.kind(), event.reason());
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            link(args, event.name()),
            esc(&status),
            get("description"),
            get("contact"),
            get("url"),
            get("label")
        );
    }
    html += "</tbody>\n</table>\n<h2 id=\"events\">Events</h2>\n";
    for (event, fields) in &all {
        let _ = writeln!(
            html,
            "<section id=\"{}\">\n<h3>{}</h3>\n<p>{}: {}</p>\n<dl>",
            anchor(event.name()),
            esc(event.name()),
            event.kind(),
            esc(&event.reason().to_string())
        );
        for (name, value) in fields.iter().filter(|(_, v)| args.show_empty_fields || !v.is_empty()) {
            let _ = writeln!(html, "<dt>{}</dt><dd><code>{}</code></dd>", esc(name), esc(value));
        }
        html += "</dl>\n";
        if args.show_json {
            let _ = writeln!(html, "<pre>{}</pre>", esc(&serde_json::to_string_pretty(fields).unwrap_or_default()));
        }
        if args.show_source
            && let Some(definition) = event.definition()
        {
            let lines: Vec<String> =
                definition.assignments().map(|a| format!("{}:{}: {}", a.origin.path, a.origin.lineno, a.origin.text)).collect();
            let _ = writeln!(html, "<pre>{}</pre>", esc(&lines.join("\n")));
        }
        html += "</section>\n";
    }
    html += "<h2 id=\"indexes\">Indexes</h2>\n";
    for (field, separator) in INDEXES {
        let mut index: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for (event, fields) in &all {
            let Some(value) = fields.get(field).filter(|v| !v.contains('$')) else { continue };
            for item in value.split(separator).map(str::trim).filter(|i| !i.is_empty()) {
                // Chain names are normalised, as the engine resolves them.
                let key = match separator {
                    ':' => resolve_name(parent(event.name()), item).unwrap_or_else(|| item.to_owned()),
                    _ => item.to_owned(),
                };
                index.entry(key).or_default().push(event.name());
            }
        }
        let _ = writeln!(html, "<h3 id=\"index-{field}\">By {field}</h3>\n<dl>");
        for (key, names) in index {
            let links: Vec<String> = names.iter().map(|n| link(args, n)).collect();
            let _ = writeln!(html, "<dt>{}</dt><dd>{}</dd>", esc(&key), links.join(", "));
        }
        html += "</dl>\n";
    }
    html + "</body>\n</html>\n"
}

fn link(args: &DocArgs, name: &str) -> String {
    let href = match &args.href_fmt {
        Some(fmt) => fmt.replace("{}", name),
        None => format!("#{}", anchor(name)),
    };
    format!("<a href=\"{}\">{}</a>", esc(&href), esc(name))
}

/// A unique element id for an event name: other bytes than letters and
/// digits become `-xx` in hexadecimal.
fn anchor(name: &str) -> String {
    let mut id = String::from("event");
    for byte in name.bytes() {
        match byte.is_ascii_alphanumeric() {
            true => id.push(char::from(byte)),
            false => id += &format!("-{byte:02x}"),
        }
    }
    id
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
