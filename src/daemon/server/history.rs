//! `hcron history`: the caller's jobs, from whichever store keeps them.

use super::error;
use crate::control::Response;
use crate::daemon::queue::JobQueue;

/// `user`'s jobs, optionally of one event and since a time (`T` or a
/// space between date and time).
pub(super) async fn history(queue: &JobQueue, user: &str, event: Option<String>, since: Option<String>) -> Response {
    let since = since.map(|s| s.replace('T', " "));
    match queue.history(user.to_owned(), event, since).await {
        Ok(jobs) => Response::History { jobs },
        Err(message) => error(message),
    }
}
