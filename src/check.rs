//! What `hcron check` reports about a loaded tree: every entry that did not
//! become an event, every event that is not accepted (with the line at
//! fault), and warnings for what loads but will not work as written.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use crate::event::{Event, Kind, LoadContext, Reason, Severity, parent, resolve_name, subst};
use crate::tree::Loaded;

/// One reported problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The event concerned, when there is one.
    pub event: Option<Arc<str>>,
    /// Path within `events/` of the file at fault.
    pub path: String,
    /// Line in that file.
    pub lineno: Option<u32>,
    /// The event's reason (§2.3) when it is rejected.
    pub reason: Option<String>,
    /// What is wrong, for a person.
    pub message: String,
    /// The offending line.
    pub text: Option<String>,
}

/// What `hcron check` and the daemon say of a tree past `max_events_per_user`.
pub fn overflow_message(limit: usize, size: usize) -> String {
    format!("{size} events, more than max_events_per_user ({limit}): the last {} are rejected and not scheduled", size - limit)
}

/// Checks the events named in `only` (every event and issue when `None`).
pub fn check(loaded: &Loaded, context: &LoadContext, only: Option<&[Arc<str>]>) -> Vec<Diagnostic> {
    let tree = &loaded.tree;
    let mut diagnostics = Vec::new();
    if only.is_none() {
        for issue in &loaded.issues {
            diagnostics.push(Diagnostic {
                severity: Severity::Error,
                event: None,
                path: issue.path.clone(),
                lineno: None,
                reason: None,
                message: issue.message.clone(),
                text: None,
            });
        }
    }
    if let Some((limit, size)) = tree.overflow().filter(|_| only.is_none()) {
        diagnostics.push(Diagnostic {
            severity: Severity::Error,
            event: None,
            path: "/".into(),
            lineno: None,
            reason: Some(Reason::MaximumEventsReached.to_string()),
            message: overflow_message(limit, size),
            text: None,
        });
    }
    let includers = includers(tree.events());
    let targets: Vec<Vec<ChainTarget>> = tree.events().iter().map(|e| chain_targets(e, context)).collect();
    let chained: HashSet<&str> = targets.iter().flatten().filter_map(|t| t.resolved.as_deref()).collect();
    for (event, targets) in tree.events().iter().zip(targets.iter()) {
        if only.is_some_and(|names| !names.contains(event.name())) {
            continue;
        }
        let included_by = includers.get(&**event.name());
        let past_limit = event.reason() == Reason::MaximumEventsReached;
        for finding in event.findings().iter().filter(|_| !past_limit || only.is_some()) {
            let mut severity = finding.severity;
            let mut message = finding.message.clone();
            if event.kind() == Kind::Partial {
                if let Some(by) = included_by {
                    severity = Severity::Warning;
                    message = format!("{message}; it is included by {} and is loaded as a rejected event too", list(by));
                } else if chained.contains(&**event.name()) {
                    severity = Severity::Warning;
                    message = format!("{message}; never scheduled by the clock, only run as a chain target");
                }
            }
            let rejected = !event.is_accepted();
            diagnostics.push(Diagnostic {
                severity,
                event: Some(event.name().clone()),
                path: finding.path.to_string(),
                lineno: finding.lineno,
                reason: rejected.then(|| event.reason().to_string()),
                message,
                text: finding.text.clone(),
            });
        }
        for target in targets {
            let problem = match &target.resolved {
                None => "climbs above events/".to_owned(),
                Some(name) => match tree.get(name) {
                    None => format!("{name} does not exist"),
                    Some(t) if t.definition().is_none() => format!("{name} was rejected ({})", t.reason()),
                    Some(_) => continue,
                },
            };
            diagnostics.push(Diagnostic {
                severity: Severity::Warning,
                event: Some(event.name().clone()),
                path: target.path.to_string(),
                lineno: Some(target.lineno),
                reason: None,
                message: format!("{} target {:?}: {problem}", target.field, target.written),
                text: Some(target.text.to_owned()),
            });
        }
    }
    diagnostics
}

/// Who includes each include file.
fn includers(events: &[Event]) -> BTreeMap<&str, Vec<&str>> {
    let mut map: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for event in events {
        for part in event.definition().map(|d| &d.parts()[1..]).unwrap_or_default() {
            let by = map.entry(&part.path).or_default();
            if !by.contains(&&**event.name()) {
                by.push(event.name());
            }
        }
    }
    map
}

fn list(names: &[&str]) -> String {
    match names {
        [one] => one.to_string(),
        [first, rest @ ..] => format!("{first} and {} other(s)", rest.len()),
        [] => String::new(),
    }
}

/// One name of a `next_event`/`failover_event` list, as far as load time can tell.
struct ChainTarget<'e> {
    field: &'static str,
    written: String,
    /// Normalised name, `None` when it climbs above `events/`.
    resolved: Option<String>,
    path: &'e str,
    lineno: u32,
    text: &'e str,
}

/// The chain targets of an event whose lists do not depend on late-only
/// variables (those are only known when a job runs).
fn chain_targets<'e>(event: &'e Event, context: &LoadContext) -> Vec<ChainTarget<'e>> {
    let (Some(definition), Some(vars)) = (event.definition(), event.early_vars(context)) else {
        return Vec::new();
    };
    let mut late: HashSet<&str> = HashSet::new();
    for assignment in definition.assignments() {
        let depends = subst::referenced_names(assignment.value).any(|n| is_late_only(n) || late.contains(n));
        if depends {
            late.insert(assignment.name);
        } else {
            late.remove(assignment.name);
        }
    }
    let mut targets = Vec::new();
    for field in ["next_event", "failover_event"] {
        let (Some(value), Some(origin)) = (vars.get(field), definition.assignments().filter(|a| a.name == field).last()) else {
            continue;
        };
        if late.contains(field) || value.is_empty() {
            continue;
        }
        for written in value.split(':').map(crate::event::py_strip) {
            targets.push(ChainTarget {
                field,
                written: written.to_owned(),
                resolved: resolve_name(parent(event.name()), written),
                path: origin.origin.path,
                lineno: origin.origin.lineno,
                text: origin.origin.text,
            });
        }
    }
    targets
}

/// Built-ins that only have a value when a job runs (§6.5).
fn is_late_only(name: &str) -> bool {
    name.starts_with("HCRON_") && !matches!(name, "HCRON_EVENT_NAME" | "HCRON_HOST_NAME" | "HCRON_SERVER_NAME")
}
