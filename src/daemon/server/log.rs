//! `hcron show-log` for a caller who cannot read the log: their own lines of it.

use std::path::PathBuf;

use super::error;
use crate::control::Response;

/// The most of the log one answer carries (the newest lines).
const MAX_LOG_ANSWER: usize = 24 << 20;

/// `user`'s lines of the log `file` since `since`, read off the runtime's threads.
pub(super) async fn log(file: Option<PathBuf>, user: &str, since: String) -> Response {
    let Some(path) = file else { return error("this daemon keeps no log file".into()) };
    let user = user.to_owned();
    let read = move || -> std::io::Result<_> {
        crate::log::lines_of(std::io::BufReader::new(std::fs::File::open(&path)?), &user, &since, MAX_LOG_ANSWER)
    };
    match tokio::task::spawn_blocking(read).await {
        Ok(Ok((lines, truncated))) => Response::Log { lines, truncated },
        Ok(Err(e)) => error(format!("cannot read the log: {e}")),
        Err(e) => error(format!("cannot read the log: {e}")),
    }
}
