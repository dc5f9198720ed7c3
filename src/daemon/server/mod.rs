//! The control socket: one task per connection, the caller known by the
//! socket's peer credentials, one handler per request. A bad request gets
//! an error answer; the server keeps serving.
//!
//! Nothing a caller sends is read before the daemon knows who it is: the
//! peer's uid is taken at accept, connections are bounded per uid and in
//! all, and a request may be only as large as a request can need (a
//! caller outside `hcron.allow` can only ask whether it is allowed).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

mod activate;
mod history;
mod hosts;
#[cfg(test)]
mod in_process_tests;
mod info;
mod list;
mod log;
mod nodes;
mod reload;

use super::{Daemon, Mode};
use crate::account::Account;
use crate::clock::log_datetime;
use crate::control::{self, MAX_REQUEST, Request, Response};

/// How long a client may take to send its request; then it is closed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest request of a caller outside `hcron.allow`: room to ask
/// whether it is allowed, or for the daemon's state, and no more.
pub const MAX_STRANGER_REQUEST: usize = 256;

/// Connections open at once, in all.
pub const MAX_CONNECTIONS: usize = 512;

/// Connections open at once from one uid: one user cannot take them all.
pub const MAX_CONNECTIONS_PER_UID: usize = 32;

/// Open connections by uid.
#[derive(Default)]
struct Connections {
    total: usize,
    by_uid: HashMap<u32, usize>,
}

/// One counted connection, uncounted when dropped.
struct Counted {
    connections: Arc<Mutex<Connections>>,
    uid: u32,
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut connections = self.connections.lock().expect("connections lock");
        connections.total -= 1;
        if let Some(count) = connections.by_uid.get_mut(&self.uid) {
            *count -= 1;
            if *count == 0 {
                connections.by_uid.remove(&self.uid);
            }
        }
    }
}

/// Counts a connection from `uid`, unless it would pass a bound.
fn admit(connections: &Arc<Mutex<Connections>>, uid: u32) -> Option<Counted> {
    let mut guard = connections.lock().expect("connections lock");
    let of_uid = guard.by_uid.get(&uid).copied().unwrap_or(0);
    if guard.total >= MAX_CONNECTIONS || of_uid >= MAX_CONNECTIONS_PER_UID {
        return None;
    }
    guard.total += 1;
    *guard.by_uid.entry(uid).or_default() += 1;
    Some(Counted { connections: connections.clone(), uid })
}

impl Daemon {
    /// Accepts connections until the listener fails.
    pub(super) async fn serve(self: Arc<Self>, listener: UnixListener) {
        let connections = Arc::new(Mutex::new(Connections::default()));
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let Ok(uid) = stream.peer_cred().map(|c| c.uid()) else { continue };
                    match admit(&connections, uid) {
                        Some(counted) => {
                            tokio::spawn(self.clone().connection(stream, uid, counted));
                        }
                        // Closed unread: the caller sees the connection end.
                        None => drop(stream),
                    }
                }
                Err(error) => {
                    self.log.message("", &format!("control socket: cannot accept a connection: {error}"), "error");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    async fn connection(self: Arc<Self>, mut stream: UnixStream, uid: u32, _counted: Counted) {
        let response = match Account::by_uid(uid) {
            None => error("cannot tell who is asking".into()),
            Some(caller) => match self.may_use(&caller) {
                Err(message) => error(message),
                Ok(allowed) => {
                    let limit = if allowed { MAX_REQUEST } else { MAX_STRANGER_REQUEST };
                    match tokio::time::timeout(REQUEST_TIMEOUT, read_request(&mut stream, limit)).await {
                        Err(_) => error("no request within 10 s".into()),
                        Ok(Err(message)) => error(message),
                        Ok(Ok(request)) => self.handle(&caller, allowed, request).await,
                    }
                }
            },
        };
        let _ = stream.write_all(&control::encode(&response)).await;
    }

    /// Whether `caller` is in the allow file; an error for anyone but its
    /// user on a standalone daemon.
    fn may_use(&self, caller: &Account) -> Result<bool, String> {
        if let Mode::Standalone { account, .. } = &self.setup.mode
            && account.uid != caller.uid
        {
            return Err(format!("this standalone hcron-scheduler serves only {}", account.name));
        }
        Ok(self.is_allowed(&caller.name))
    }

    /// Answers `request` from `caller`: each request's handler is in a file
    /// of its own and takes only the parts of the daemon it reads.
    async fn handle(self: &Arc<Self>, caller: &Account, allowed: bool, request: Request) -> Response {
        let user = caller.name.as_str();
        if !allowed && request != Request::Allowed && request != Request::Info {
            return error(format!("user ({user}) is not allowed to use hcron on server ({})", self.setup.server_name));
        }
        match request {
            Request::Reload => reload::reload(self, &self.queue, &self.log, user).await,
            Request::Unload => {
                self.unload(user);
                Response::Unloaded
            }
            Request::Activate { event } => match self.activate(user, &event).await {
                Ok(job) => Response::Activated { job },
                Err(message) => error(message),
            },
            Request::List => list::list(&self.users, user),
            Request::Allowed => Response::Allowed { allowed },
            Request::Info => {
                let about = info::About { server_name: &self.setup.server_name, started: self.started };
                info::info(&self.queue, &self.users, &self.slots, || log_datetime(&self.lock().planner.next()), about).await
            }
            Request::Hosts => {
                let health = self.lock().exec.health.clone();
                hosts::hosts(&health)
            }
            Request::Nodes => nodes::nodes(&self.queue).await,
            Request::Log { since } => log::log(self.setup.log.file.clone(), user, since).await,
            Request::History { event, since } => history::history(&self.queue, user, event, since).await,
        }
    }
}

/// An error answer.
fn error(message: String) -> Response {
    Response::Error { message }
}

/// Reads one request of at most `limit` bytes.
async fn read_request(stream: &mut UnixStream, limit: usize) -> Result<Request, String> {
    let mut header = [0; 4];
    stream.read_exact(&mut header).await.map_err(|e| format!("cannot read the request: {e}"))?;
    let len = control::frame_length(header, limit)?;
    let mut payload = vec![0; len];
    stream.read_exact(&mut payload).await.map_err(|e| format!("cannot read the request: {e}"))?;
    control::decode(&payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_bounded_per_uid_and_in_all() {
        let connections = Arc::new(Mutex::new(Connections::default()));
        let first: Vec<Counted> = (0..MAX_CONNECTIONS_PER_UID).map(|_| admit(&connections, 1).expect("within the bound")).collect();
        assert!(admit(&connections, 1).is_none(), "one uid past its bound");
        let other = admit(&connections, 2).expect("another uid still gets in");
        drop(first);
        assert!(admit(&connections, 1).is_some(), "closed connections no longer count");
        drop(other);
        assert!(connections.lock().unwrap().by_uid.is_empty() && connections.lock().unwrap().total == 0);
        let many: Vec<Counted> = (0..MAX_CONNECTIONS).map(|n| admit(&connections, n as u32).expect("within the total bound")).collect();
        assert!(admit(&connections, u32::MAX).is_none(), "past the total bound");
        assert_eq!(many.len(), MAX_CONNECTIONS);
    }
}
