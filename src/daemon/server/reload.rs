//! `hcron reload`: the caller's tree loaded again here, and the other
//! nodes of a cluster told to load it too.

use std::sync::Arc;

use super::error;
use crate::control::Response;
use crate::daemon::Daemon;
use crate::daemon::journal::Log;
use crate::daemon::queue::JobQueue;

/// Reloads `user`'s tree; a cluster's other nodes that cannot be told
/// find the change at their next poll (a warning, not an error).
pub(super) async fn reload(daemon: &Arc<Daemon>, queue: &JobQueue, log: &Log, user: &str) -> Response {
    match daemon.reload(user).await {
        Ok(counts) => {
            if let Err(e) = queue.reloaded(user).await {
                let text =
                    format!("cannot ask the other nodes to reload user ({user}): {e}; each finds the change within tree_poll_interval");
                log.message(user, &text, "warning");
            }
            Response::Loaded(counts)
        }
        Err(message) => error(message),
    }
}
