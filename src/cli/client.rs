//! Talking to the daemon: finding its control socket and asking it.

use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::config::Config;
use crate::control::{Request, Response, call};

/// Where the daemon listens: `$HCRON_SOCKET`, else the configured
/// `control_socket` when it exists, else the caller's standalone daemon's
/// `~/.hcron/<server_name>/control.sock`.
pub fn socket_path(config: &Config) -> PathBuf {
    if let Some(path) = std::env::var_os("HCRON_SOCKET") {
        return path.into();
    }
    if config.control_socket.exists() {
        return config.control_socket.clone();
    }
    let home = crate::account::caller_home().unwrap_or_default();
    home.join(".hcron").join(config.server_name()).join("control.sock")
}

/// Asks the daemon; `Ok(None)` when no daemon answers at all.
pub fn try_ask(config: &Config, request: &Request) -> anyhow::Result<Option<Response>> {
    let path = socket_path(config);
    let Ok(mut stream) = UnixStream::connect(&path) else {
        return Ok(None);
    };
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    let response = call(&mut stream, request).with_context(|| format!("no answer from the daemon at {}", path.display()))?;
    Ok(Some(response))
}

/// Asks the daemon; an error when none answers or it refuses.
pub fn ask(config: &Config, request: &Request) -> anyhow::Result<Response> {
    match try_ask(config, request)? {
        None => bail!("no hcron-scheduler is listening at {}", socket_path(config).display()),
        Some(Response::Error { message }) => bail!("{message}"),
        Some(response) => Ok(response),
    }
}
