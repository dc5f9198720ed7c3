//! Where the daemon's engine output goes: the activity log (a file,
//! standard error in standalone mode, syslog with `use_syslog`) and the
//! mail spool.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::engine::{Journal, Message};
use crate::log::Entry;
use crate::mail::{Spool, compose};

/// Where activity-log lines are written.
#[derive(Debug, Clone, Default)]
pub struct LogTarget {
    /// The log file, appended to.
    pub file: Option<PathBuf>,
    /// Also to standard error.
    pub stderr: bool,
    /// Also to the syslog daemon at this socket (`use_syslog`, `syslog_socket`).
    pub syslog: Option<PathBuf>,
}

/// The open activity log.
pub struct ActivityLog {
    file: Option<File>,
    stderr: bool,
    syslog: Option<Syslog>,
}

impl ActivityLog {
    /// Opens the log's file (creating it and its directory).
    pub fn open(target: &LogTarget) -> io::Result<ActivityLog> {
        let file = match &target.file {
            Some(path) => {
                if let Some(dir) = path.parent() {
                    crate::state_files::create_dirs(dir, 0o700)?;
                }
                Some(OpenOptions::new().create(true).append(true).mode(0o600).open(path)?)
            }
            None => None,
        };
        let syslog = target.syslog.as_deref().map(Syslog::new).transpose()?;
        Ok(ActivityLog { file, stderr: target.stderr, syslog })
    }

    /// Writes one line (each in one write, so concurrent appends never interleave).
    pub fn write(&mut self, line: &str) {
        let text = format!("{line}\n");
        if let Some(file) = &mut self.file
            && let Err(error) = file.write_all(text.as_bytes())
        {
            eprintln!("hcron-scheduler: cannot write the log: {error}");
        }
        if self.stderr {
            let _ = io::stderr().write_all(text.as_bytes());
        }
        if let Some(syslog) = &self.syslog {
            syslog.send(line);
        }
    }
}

/// A syslog daemon's datagram socket, written to as `syslog(3)` does (an
/// RFC 3164 line: priority, local time stamp, tag and pid), but never
/// blocking the daemon: a message the socket cannot take now is lost.
struct Syslog {
    socket: UnixDatagram,
    path: PathBuf,
}

/// Facility daemon (3), level info (6).
const DAEMON_INFO: u8 = 3 * 8 + 6;

/// The longest message sent: more than most syslog daemons keep.
const MAX_SYSLOG_MESSAGE: usize = 8192;

impl Syslog {
    fn new(path: &Path) -> io::Result<Syslog> {
        let socket = UnixDatagram::unbound()?;
        socket.set_nonblocking(true)?;
        Ok(Syslog { socket, path: path.to_owned() })
    }

    /// Sends `line` as one message.
    fn send(&self, line: &str) {
        let stamp = jiff::Zoned::now().strftime("%b %e %H:%M:%S");
        let mut message = format!("<{DAEMON_INFO}>{stamp} hcron-scheduler[{}]: {line}", std::process::id());
        if message.len() > MAX_SYSLOG_MESSAGE {
            let end = (0..=MAX_SYSLOG_MESSAGE).rev().find(|&i| message.is_char_boundary(i)).unwrap_or(0);
            message.truncate(end);
        }
        // Addressed each time: a syslog daemon restarted meanwhile is found again.
        let _ = self.socket.send_to(message.as_bytes(), &self.path);
    }
}

/// The daemon's journal: log lines to the activity log, notifications to
/// the spool (a local write, so that no job waits on a mail server).
pub struct DaemonJournal {
    /// The activity log.
    pub log: ActivityLog,
    /// Where notifications wait for the sender.
    pub spool: Spool,
    /// `mail_from`, replacing `<owner>@<fqdn>`.
    pub mail_from: Option<String>,
    /// Wakes the sender.
    pub sender: std::sync::Arc<tokio::sync::Notify>,
}

/// A handle on the daemon's journal that any task writes through without
/// the state lock. Lock order: the state lock may be held while this one
/// is taken (the engine's calls), never the other way round: nothing is
/// locked while a `Log` is.
#[derive(Clone)]
pub struct Log(Arc<Mutex<DaemonJournal>>);

impl Log {
    /// A handle on `journal`.
    pub fn new(journal: DaemonJournal) -> Log {
        Log(Arc::new(Mutex::new(journal)))
    }

    /// The journal, for the engine's calls that write through it.
    pub fn journal(&self) -> std::sync::MutexGuard<'_, DaemonJournal> {
        self.0.lock().expect("the log lock is never poisoned: nothing panics under it")
    }

    /// Writes `entry`.
    pub fn entry(&self, entry: Entry) {
        Journal::entry(&mut *self.journal(), entry);
    }

    /// Writes a `message` entry (`kind`: info, warning, error) for `user` (`""`: the daemon's).
    pub fn message(&self, user: &str, text: &str, kind: &str) {
        self.entry(stamped("message", user).field("message", text).field("type", kind));
    }
}

/// An entry of `kind` for `user`, stamped with the time now.
pub fn stamped(kind: &'static str, user: &str) -> Entry {
    Entry::new(crate::clock::log_timestamp(&crate::clock::Clock::now(&crate::clock::SystemClock).datetime()), kind, user)
}

impl Journal for DaemonJournal {
    fn entry(&mut self, entry: Entry) {
        self.log.write(&entry.line());
    }

    fn hand_over(&mut self, message: &Message) -> Result<(), String> {
        let outgoing = compose(message, self.mail_from.as_deref())?;
        self.spool.put(&outgoing).map_err(|e| format!("cannot spool it: {e}"))?;
        self.sender.notify_one();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_reaches_syslog_cut_at_a_character_boundary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let receiver = UnixDatagram::bind(&path).unwrap();
        receiver.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let syslog = Syslog::new(&path).unwrap();
        let mut buffer = vec![0; 2 * MAX_SYSLOG_MESSAGE];
        let mut receive = || {
            let n = receiver.recv(&mut buffer).unwrap();
            String::from_utf8(buffer[..n].to_vec()).expect("whole characters")
        };
        syslog.send("short");
        assert!(receive().ends_with(&format!(" hcron-scheduler[{}]: short", std::process::id())));
        // Two-byte characters, so that the limit falls inside one.
        syslog.send(&"é".repeat(MAX_SYSLOG_MESSAGE));
        let message = receive();
        assert!(message.len() <= MAX_SYSLOG_MESSAGE && message.len() >= MAX_SYSLOG_MESSAGE - 1, "{}", message.len());
        assert!(message.ends_with('é'));
    }
}
