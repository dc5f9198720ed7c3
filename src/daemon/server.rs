//! The control socket: one task per connection, the caller known by the
//! socket's peer credentials, one handler per request. A bad request gets
//! an error answer; the server keeps serving.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

use super::{Daemon, Mode};
use crate::account::Account;
use crate::clock::log_datetime;
use crate::control::{self, Info, Listed, Request, Response};

/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

impl Daemon {
    /// Accepts connections until the listener fails.
    pub(super) async fn serve(self: Arc<Self>, listener: UnixListener) {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(self.clone().connection(stream));
                }
                Err(error) => {
                    eprintln!("hcron-scheduler: control socket: {error}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    async fn connection(self: Arc<Self>, mut stream: UnixStream) {
        let response = match tokio::time::timeout(REQUEST_TIMEOUT, read_request(&mut stream)).await {
            Err(_) => Response::Error { message: "no request within 10 s".into() },
            Ok(Err(message)) => Response::Error { message },
            Ok(Ok(request)) => match stream.peer_cred().ok().and_then(|c| Account::by_uid(c.uid())) {
                None => Response::Error { message: "cannot tell who is asking".into() },
                Some(caller) => self.handle(&caller, request).await,
            },
        };
        let _ = stream.write_all(&control::encode(&response)).await;
    }

    /// Answers `request` from `caller`.
    async fn handle(self: &Arc<Self>, caller: &Account, request: Request) -> Response {
        let user = caller.name.as_str();
        if let Mode::Standalone { account, .. } = &self.setup.mode
            && account.uid != caller.uid
        {
            return error(format!("this standalone hcron-scheduler serves only {}", account.name));
        }
        let allowed = self.is_allowed(user);
        if !allowed && request != Request::Allowed && request != Request::Info {
            return error(format!("user ({user}) is not allowed to use hcron on server ({})", self.setup.server_name));
        }
        match request {
            Request::Reload => match self.reload(user).await {
                Ok(counts) => Response::Loaded(counts),
                Err(message) => error(message),
            },
            Request::Unload => {
                self.unload(user);
                Response::Unloaded
            }
            Request::Activate { event } => match self.activate(user, &event) {
                Ok(job) => Response::Activated { job },
                Err(message) => error(message),
            },
            Request::List => {
                let state = self.lock();
                let mut events: Vec<Listed> =
                    state.users.get(user).map(|u| u.tree.events().iter().map(Listed::from).collect()).unwrap_or_default();
                events.sort_by(|a, b| a.name.cmp(&b.name));
                Response::Events { events }
            }
            Request::Allowed => Response::Allowed { allowed },
            Request::Info => {
                let state = self.lock();
                Response::Info(Info {
                    uptime: self.started.elapsed().as_secs(),
                    users: state.users.len(),
                    events: state.users.values().map(|u| u.tree.events().len()).sum(),
                    queued: state.queue.len(),
                    running: state.running,
                    next_minute: log_datetime(&state.next_minute),
                    server_name: self.setup.server_name.clone(),
                })
            }
            Request::Hosts => Response::Hosts { hosts: self.lock().exec.health.lock().expect("health lock").states() },
            Request::History { event, since } => {
                let path = self.setup.history.clone();
                let user = user.to_owned();
                let since = since.map(|s| s.replace('T', " "));
                match tokio::task::spawn_blocking(move || crate::history::query(&path, &user, event.as_deref(), since.as_deref())).await {
                    Ok(Ok(jobs)) => Response::History { jobs },
                    Ok(Err(e)) => error(format!("cannot read the job history: {e}")),
                    Err(e) => error(format!("cannot read the job history: {e}")),
                }
            }
        }
    }
}

fn error(message: String) -> Response {
    Response::Error { message }
}

async fn read_request(stream: &mut UnixStream) -> Result<Request, String> {
    let mut header = [0; 4];
    stream.read_exact(&mut header).await.map_err(|e| format!("cannot read the request: {e}"))?;
    let len = control::frame_length(header)?;
    let mut payload = vec![0; len];
    stream.read_exact(&mut payload).await.map_err(|e| format!("cannot read the request: {e}"))?;
    control::decode(&payload)
}
