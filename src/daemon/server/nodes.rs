//! `hcron info nodes`: a cluster's nodes (a single node has none to show).

use super::error;
use crate::control::Response;
use crate::daemon::queue::JobQueue;

/// The nodes the job queue knows of, or why it cannot say.
pub(super) async fn nodes(queue: &JobQueue) -> Response {
    match queue.nodes().await {
        Ok(nodes) => Response::Nodes { nodes },
        Err(message) => error(message),
    }
}
