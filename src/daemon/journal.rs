//! Where the daemon's engine output goes: the activity log (a file,
//! standard error in standalone mode, syslog with `use_syslog`) and a
//! mailbox directory for notifications.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::clock::{Clock, SystemClock};
use crate::engine::{Journal, Message};
use crate::log::Entry;

/// Where activity-log lines are written.
#[derive(Debug, Clone, Default)]
pub struct LogTarget {
    /// The log file, appended to.
    pub file: Option<PathBuf>,
    /// Also to standard error.
    pub stderr: bool,
    /// Also to syslog (`use_syslog`).
    pub syslog: bool,
}

/// The open activity log.
pub struct ActivityLog {
    file: Option<File>,
    stderr: bool,
    syslog: bool,
}

impl ActivityLog {
    /// Opens the log's file (creating it and its directory).
    pub fn open(target: &LogTarget) -> io::Result<ActivityLog> {
        let file = match &target.file {
            Some(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                Some(OpenOptions::new().create(true).append(true).open(path)?)
            }
            None => None,
        };
        if target.syslog {
            // SAFETY: the identity is a static C string, as openlog requires.
            unsafe { libc::openlog(c"hcron-scheduler".as_ptr(), libc::LOG_PID, libc::LOG_DAEMON) };
        }
        Ok(ActivityLog { file, stderr: target.stderr, syslog: target.syslog })
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
        if self.syslog
            && let Ok(line) = CString::new(line)
        {
            // SAFETY: constant format string, one C-string argument.
            unsafe { libc::syslog(libc::LOG_INFO, c"%s".as_ptr(), line.as_ptr()) };
        }
    }
}

/// A Maildir-style directory: each message is one file in `new/`, written
/// in `tmp/` first and renamed, so a reader never sees half a message.
#[derive(Debug, Clone)]
pub struct Mailbox {
    dir: PathBuf,
}

static DELIVERIES: AtomicU64 = AtomicU64::new(0);

impl Mailbox {
    /// A mailbox at `dir` (created on first delivery).
    pub fn new(dir: &Path) -> Mailbox {
        Mailbox { dir: dir.to_owned() }
    }

    /// Writes `message` as one file; returns its path.
    pub fn deliver(&self, message: &Message) -> io::Result<PathBuf> {
        let (tmp, new) = (self.dir.join("tmp"), self.dir.join("new"));
        std::fs::create_dir_all(&tmp)?;
        std::fs::create_dir_all(&new)?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let name = format!("{}.{}_{}.hcron", now.as_secs(), std::process::id(), DELIVERIES.fetch_add(1, Ordering::Relaxed));
        std::fs::write(tmp.join(&name), message.text())?;
        std::fs::rename(tmp.join(&name), new.join(&name))?;
        Ok(new.join(name))
    }
}

/// The daemon's journal: log lines to the activity log, messages to the mailbox.
pub struct DaemonJournal {
    /// The activity log.
    pub log: ActivityLog,
    /// Where notifications go.
    pub mailbox: Mailbox,
}

impl Journal for DaemonJournal {
    fn entry(&mut self, entry: Entry) {
        self.log.write(&entry.line());
    }

    fn notification(&mut self, message: &Message) {
        if let Err(error) = self.mailbox.deliver(message) {
            let now = crate::clock::log_timestamp(&SystemClock.now().datetime());
            let line = Entry::new(now, "message", "")
                .field("message", format!("failed to send email ({error}) for event ({}).", message.event))
                .field("type", "error");
            self.log.write(&line.line());
        }
    }
}
