//! The control socket's protocol: requests from `hcron` to the daemon and
//! the answers, as length-prefixed JSON frames.
//!
//! A frame is a 4-byte big-endian length, then that many bytes of JSON
//! `{"version": 1, "body": ...}`. A client refuses answers over
//! [`MAX_FRAME`]; the daemon bounds requests far lower, by caller.
//! The caller is identified by the socket's peer credentials, never by
//! anything in a request.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::outcome::JobResult;

/// Protocol version; a daemon answers other versions with an error.
pub const VERSION: u32 = 1;

/// The largest request of an allowed caller: a request holds an event name
/// and a time at most, far below this.
pub const MAX_REQUEST: usize = 64 << 10;

/// Largest answer a client accepts, in bytes: far above any real answer (a
/// listing of 100,000 events is about 6 MiB). The daemon bounds requests
/// far lower (`daemon::server`).
pub const MAX_FRAME: u32 = 64 << 20;

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "kebab-case")]
pub enum Request {
    /// Re-read the caller's tree now.
    Reload,
    /// Stop scheduling the caller's events until the next reload.
    Unload,
    /// Activate one of the caller's events now (§13).
    Activate {
        /// Its absolute name, e.g. `/a/b`.
        event: String,
    },
    /// The caller's events with status, type and reason.
    List,
    /// Whether the caller may use this daemon.
    Allowed,
    /// The daemon's state.
    Info,
    /// Every remote host's health.
    Hosts,
    /// The cluster's nodes (a cluster member only).
    Nodes,
    /// The caller's own lines of the activity log, from a minute on (for a
    /// user who may not read the log file).
    Log {
        /// The first minute, `YYYY-MM-DDTHH:MM` or a prefix of it.
        since: String,
    },
    /// The caller's jobs, newest last.
    History {
        /// Only this event's jobs.
        event: Option<String>,
        /// Only jobs scheduled at or after this local time (`YYYY-MM-DD[THH:MM[:SS]]`).
        since: Option<String>,
    },
}

/// What the daemon answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "kebab-case")]
pub enum Response {
    /// The caller's tree was (re)loaded.
    Loaded(Counts),
    /// The caller's events are unloaded.
    Unloaded,
    /// The event was queued as this job.
    Activated {
        /// The job id.
        job: String,
    },
    /// The caller's events.
    Events {
        /// One per event, sorted by name.
        events: Vec<Listed>,
    },
    /// Whether the caller is allowed.
    Allowed {
        /// `true` when the caller's events are scheduled here.
        allowed: bool,
    },
    /// The daemon's state.
    Info(Info),
    /// Every remote host's health, by name.
    Hosts {
        /// One per host a job has tried.
        hosts: Vec<HostState>,
    },
    /// The cluster's nodes, live ones and those dead within the hour.
    Nodes {
        /// One per node, by name.
        nodes: Vec<NodeState>,
    },
    /// The caller's jobs.
    History {
        /// Oldest first.
        jobs: Vec<JobView>,
    },
    /// The caller's log lines, oldest first.
    Log {
        /// Whole lines as the log has them.
        lines: Vec<String>,
        /// Older lines were left out to keep the answer bounded.
        truncated: bool,
    },
    /// The request failed; the text says why.
    Error {
        /// For the user.
        message: String,
    },
}

/// One host's record, for `hcron info hosts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostState {
    /// The host's name as events write it.
    pub host: String,
    /// Consecutive connection failures.
    pub failures: u32,
    /// Offline until then, if offline.
    pub offline_until: Option<jiff::Timestamp>,
    /// A probe is running.
    pub probing: bool,
    /// The last connection error.
    pub last_error: Option<String>,
    /// When a job last launched there.
    pub last_success: Option<jiff::Timestamp>,
}

/// A node as `hcron info nodes` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeState {
    /// Its `node_name`.
    pub name: String,
    /// Its id (random, one per registration).
    pub id: String,
    /// Its number (job ids modulo 64).
    pub number: i32,
    /// `leader`, `follower` or `dead`.
    pub role: String,
    /// Seconds since its last heartbeat, by the database's clock.
    pub beat_age: f64,
    /// The epoch it leads under (the leader only).
    pub epoch: Option<i64>,
    /// Jobs the database records as running on it.
    pub running: i64,
    /// When it joined (the database's time, UTC).
    pub started: String,
}

/// One job as `hcron history` shows it (the history's record, as text).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobView {
    /// Job id (hex).
    pub id: String,
    /// Id of the chain's root job.
    pub group: String,
    /// Id of the job that chained it.
    pub parent: String,
    /// The event's owner.
    pub user: String,
    /// The event.
    pub event: String,
    /// `clock`, `ondemand`, `next`, `failover`, ...
    pub trigger: String,
    /// The chain, `:`-joined.
    pub chain: String,
    /// Scheduled time (local, `YYYY-MM-DD HH:MM:SS`).
    pub scheduled: String,
    /// Queued time.
    pub queued: String,
    /// Activation time, once activated.
    pub started: Option<String>,
    /// End time, once finished.
    pub finished: Option<String>,
    /// The host it ran on.
    pub host: Option<String>,
    /// In a cluster, the node that runs or ran it (a single node says none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The spawn's result code (§11.2), when something was spawned.
    pub rv: Option<i32>,
    /// Where it is or how it ended (on the wire, its text: `queued`,
    /// `running`, `success`, `failure: <reason>`, `dropped: <reason>`).
    pub result: JobResult,
    /// Events chained after it, `:`-joined.
    pub next: String,
    /// With `exec_wait`: the command's exit status.
    pub exit_status: Option<i32>,
    /// With `exec_wait`: its standard output (bounded).
    pub stdout: Option<String>,
    /// With `exec_wait`: its standard error (bounded).
    pub stderr: Option<String>,
}

/// Event counts of a load (the `load-events` log line's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Events in the tree.
    pub events: usize,
    /// Accepted (scheduled) ones.
    pub accepted: usize,
    /// Rejected ones, templates included.
    pub rejected: usize,
    /// Templates.
    pub templates: usize,
}

/// One event in a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    /// Its name.
    pub name: String,
    /// `accepted` or `rejected`.
    pub status: String,
    /// Its type.
    pub kind: String,
    /// Its reason.
    pub reason: String,
}

impl From<&crate::event::Event> for Listed {
    fn from(event: &crate::event::Event) -> Listed {
        Listed {
            name: event.name().to_string(),
            status: if event.is_accepted() { "accepted" } else { "rejected" }.into(),
            kind: event.kind().to_string(),
            reason: event.reason().to_string(),
        }
    }
}

/// The daemon's state, for `hcron info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// Seconds since the daemon started.
    pub uptime: u64,
    /// Users whose events are loaded.
    pub users: usize,
    /// Events loaded, all users.
    pub events: usize,
    /// Jobs waiting (in a cluster, for any node).
    pub queued: usize,
    /// Jobs running.
    pub running: usize,
    /// The next minute the clock will process, local time.
    pub next_minute: String,
    /// The server name.
    pub server_name: String,
    /// The daemon's version.
    #[serde(default)]
    pub version: String,
    /// What this node is: `single` (the only scheduler of its trees), or
    /// in a cluster `leader` or `follower`.
    #[serde(default)]
    pub role: String,
}

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    version: u32,
    body: T,
}

/// Encodes a message as one frame.
pub fn encode<T: Serialize>(body: &T) -> Vec<u8> {
    frame(&serde_json::to_vec(&Envelope { version: VERSION, body }).expect("protocol types serialise"))
}

/// `payload` as a frame: its length, then itself.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    [&(payload.len() as u32).to_be_bytes()[..], payload].concat()
}

/// Decodes a frame's payload (without its length prefix).
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, String> {
    let envelope: Envelope<serde_json::Value> = serde_json::from_slice(payload).map_err(|e| format!("not a request: {e}"))?;
    if envelope.version != VERSION {
        return Err(format!("protocol version {} is not supported (this daemon speaks {VERSION})", envelope.version));
    }
    serde_json::from_value(envelope.body).map_err(|e| format!("not a request: {e}"))
}

/// The payload length a frame header announces, if at most `limit` bytes.
pub fn frame_length(header: [u8; 4], limit: usize) -> Result<usize, String> {
    match u32::from_be_bytes(header) as usize {
        len if len > limit => Err(format!("frame of {len} bytes is larger than {limit}")),
        len => Ok(len),
    }
}

/// Sends `request` over a blocking stream and reads the answer (the client
/// side). A daemon that refuses a caller answers before reading the request
/// and closes: the answer is still read when the request could not be sent.
pub fn call(stream: &mut (impl Read + Write), request: &Request) -> io::Result<Response> {
    let sent = stream.write_all(&encode(request));
    read_response(stream).map_err(|error| sent.err().unwrap_or(error))
}

/// Reads one framed response.
fn read_response(stream: &mut impl Read) -> io::Result<Response> {
    decode(&read_frame(stream, MAX_FRAME as usize)?).map_err(io::Error::other)
}

/// Reads one frame of at most `limit` bytes; its payload.
pub fn read_frame(stream: &mut impl Read, limit: usize) -> io::Result<Vec<u8>> {
    let mut header = [0; 4];
    stream.read_exact(&mut header)?;
    let len = frame_length(header, limit).map_err(io::Error::other)?;
    let mut payload = vec![0; len];
    stream.read_exact(&mut payload)?;
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let request = Request::Activate { event: "/a/b".into() };
        let frame = encode(&request);
        assert_eq!(frame_length(frame[..4].try_into().unwrap(), frame.len() - 4), Ok(frame.len() - 4));
        assert!(frame_length(frame[..4].try_into().unwrap(), frame.len() - 5).is_err());
        assert_eq!(decode::<Request>(&frame[4..]), Ok(request));
        let json = String::from_utf8(frame[4..].to_vec()).unwrap();
        assert_eq!(json, r#"{"version":1,"body":{"request":"activate","event":"/a/b"}}"#);
    }

    #[test]
    fn bad_frames() {
        assert!(decode::<Request>(b"garbage").unwrap_err().starts_with("not a request"));
        assert!(decode::<Request>(br#"{"version":9,"body":{"request":"list"}}"#).unwrap_err().contains("version 9"));
        assert!(decode::<Request>(br#"{"version":1,"body":{"request":"format-disk"}}"#).is_err());
        assert!(frame_length([0xff; 4], MAX_FRAME as usize).is_err());
    }

    #[test]
    fn an_answer_sent_before_the_request_was_read_is_still_read() {
        let (mut client, mut daemon) = std::os::unix::net::UnixStream::pair().unwrap();
        daemon.write_all(&encode(&Response::Unloaded)).unwrap();
        drop(daemon);
        let request = Request::Activate { event: "/a".into() };
        assert!(client.try_clone().unwrap().write_all(&encode(&request)).is_err(), "the request cannot be sent");
        assert_eq!(call(&mut client, &request).unwrap(), Response::Unloaded);
        let (mut client, daemon) = std::os::unix::net::UnixStream::pair().unwrap();
        drop(daemon);
        assert_eq!(call(&mut client, &request).unwrap_err().kind(), io::ErrorKind::BrokenPipe, "no answer: why it was not sent");
    }
}
