//! `hcron list`: the caller's loaded events, by name.

use crate::control::{Listed, Response};
use crate::daemon::registry::Registry;

/// The events of `user`'s loaded tree, sorted by name (none when nothing is loaded).
pub(super) fn list(users: &Registry, user: &str) -> Response {
    let mut events: Vec<Listed> = users.get(user).map(|u| u.tree.events().iter().map(Listed::from).collect()).unwrap_or_default();
    events.sort_by(|a, b| a.name.cmp(&b.name));
    Response::Events { events }
}
