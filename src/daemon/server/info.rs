//! `hcron info`: what the daemon runs, counted.

use std::time::Instant;

use crate::control::{Info, Response};
use crate::daemon::queue::JobQueue;
use crate::daemon::registry::Registry;
use crate::daemon::slots::Slots;

/// What does not change while the daemon runs.
pub(super) struct About<'a> {
    /// The server name.
    pub server_name: &'a str,
    /// When the daemon started.
    pub started: Instant,
}

/// The daemon's counts; `next_minute` is asked after the queue (whose
/// lock comes first).
pub(super) async fn info(
    queue: &JobQueue,
    users: &Registry,
    slots: &Slots,
    next_minute: impl FnOnce() -> String,
    about: About<'_>,
) -> Response {
    let queued = queue.queued().await.unwrap_or(0);
    let (users, events) = users.counts();
    Response::Info(Info {
        uptime: about.started.elapsed().as_secs(),
        users,
        events,
        queued,
        running: slots.running(),
        next_minute: next_minute(),
        server_name: about.server_name.to_owned(),
        version: env!("CARGO_PKG_VERSION").into(),
        role: queue.role().into(),
    })
}
