//! `hcron relay`, run by `hcron` on another host over SSH as the calling
//! user: one framed request from standard input to this host's control
//! socket, and the answer back on standard output after
//! [`MARKER`](super::client::MARKER). The daemon knows the caller by the
//! socket's peer credentials, as for any local command: the relay adds no
//! authority of its own.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::time::Duration;

use super::client::{MARKER, socket_path};
use super::daemon_commands::ConfigArg;
use crate::config::Config;
use crate::control::{MAX_FRAME, MAX_REQUEST, frame, read_frame};

/// The exit status that tells the client no scheduler is reachable here
/// (sysexits' EX_UNAVAILABLE): it tries another server.
pub const UNAVAILABLE: u8 = 69;

/// `hcron relay`: passes one request to the daemon and its answer back.
pub fn run(args: ConfigArg) -> anyhow::Result<ExitCode> {
    let request = read_frame(&mut std::io::stdin().lock(), MAX_REQUEST).map_err(|e| anyhow::anyhow!("cannot read the request: {e}"))?;
    let answer = Config::find(args.config.as_deref()).map_err(|e| e.to_string()).and_then(|config| forward(&config, &request));
    match answer {
        Ok(frame) => {
            let mut out = std::io::stdout().lock();
            out.write_all(&[MARKER, &frame].concat())?;
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Err(why) => {
            eprintln!("{why} on {}", crate::host::fqdn());
            Ok(ExitCode::from(UNAVAILABLE))
        }
    }
}

/// Sends the request's payload to the daemon; its whole answer frame, or
/// why there is none.
fn forward(config: &Config, request: &[u8]) -> Result<Vec<u8>, String> {
    let path = socket_path(config);
    let mut stream = UnixStream::connect(&path).map_err(|e| format!("no hcron-scheduler is listening at {} ({e})", path.display()))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    let sent = stream.write_all(&frame(request));
    match read_frame(&mut stream, MAX_FRAME as usize) {
        Ok(payload) => Ok(frame(&payload)),
        Err(error) => Err(format!("no answer from the daemon at {}: {}", path.display(), sent.err().unwrap_or(error))),
    }
}
