//! Chains (§10.2, decisions 4): which events a finished job activates.

use std::sync::Arc;

use crate::event::{parent, py_strip, resolve_name};
use crate::tree::Tree;

/// One name of a `next_event`/`failover_event` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// As written (stripped).
    pub written: String,
    /// Normalised against the event's directory; `None` when it climbs above `events/`.
    pub resolved: Option<String>,
}

impl Target {
    /// The name to show: resolved when it resolves.
    pub fn shown(&self) -> &str {
        self.resolved.as_deref().unwrap_or(&self.written)
    }
}

/// Splits a late list value; an empty value is an empty list.
pub fn targets(event: &str, list: &str) -> Vec<Target> {
    if py_strip(list).is_empty() {
        return Vec::new();
    }
    list.split(':')
        .map(|name| {
            let written = py_strip(name).to_owned();
            let resolved = match has_empty_component(&written) {
                // Not a name any event has: kept as the original joined it
                // (`""` in `/dir/e`'s list is `/dir/`), so messages match.
                true if written.starts_with('/') => Some(written.clone()),
                true => Some(format!("{}/{written}", parent(event))),
                false => resolve_name(parent(event), &written),
            };
            Target { written, resolved }
        })
        .collect()
}

/// Whether a written name is empty or has an empty component (`a//b`, `a/`).
fn has_empty_component(name: &str) -> bool {
    name.strip_prefix('/').unwrap_or(name).split('/').any(str::is_empty)
}

/// Why a target is not activated, as the log message says it.
pub fn refusal(tree: &Tree, event: &str, target: &Target) -> Option<String> {
    let Some(name) = &target.resolved else {
        return Some(format!("chained event ({}) of ({event}) climbs above events/.", target.written));
    };
    match tree.get(name) {
        None => Some(format!("chained event ({name}) does not exist.")),
        Some(found) if found.definition().is_none() => Some(format!("chained event ({name}) was rejected ({}).", found.reason())),
        Some(_) => None,
    }
}

/// The event name of a target that passed [`refusal`].
pub fn name(tree: &Tree, target: &Target) -> Arc<str> {
    tree.get(target.resolved.as_deref().expect("checked by refusal")).expect("checked by refusal").name().clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_an_empty_component_are_joined_as_the_original_joined_them() {
        // Python's os.path.join("/", dirname(event), name), never normalised.
        let resolved: Vec<Option<String>> = targets("/x/e", "/a//b: :x/:a//b:../y").into_iter().map(|t| t.resolved).collect();
        let want = ["/a//b", "/x/", "/x/x/", "/x/a//b", "/y"];
        assert_eq!(resolved, want.map(|w| Some(w.to_string())));
        assert_eq!(targets("/e", "").len(), 0);
        assert_eq!(targets("/e", " : ").into_iter().map(|t| t.resolved.unwrap()).collect::<Vec<_>>(), ["/", "/"]);
    }
}
