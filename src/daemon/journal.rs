//! Where the daemon's engine output goes: the activity log (a file,
//! standard error in standalone mode, syslog with `use_syslog`) and the
//! mail spool; and the mailbox directory, one of the mail transports.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

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
                    crate::state_files::create_dirs(dir, 0o700)?;
                }
                Some(OpenOptions::new().create(true).append(true).mode(0o600).open(path)?)
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

    /// Writes a whole message as one file; returns its path.
    pub fn deliver_raw(&self, text: &str) -> io::Result<PathBuf> {
        let (tmp, new) = (self.dir.join("tmp"), self.dir.join("new"));
        std::fs::create_dir_all(&tmp)?;
        std::fs::create_dir_all(&new)?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let name = format!("{}.{}_{}.hcron", now.as_secs(), std::process::id(), DELIVERIES.fetch_add(1, Ordering::Relaxed));
        std::fs::write(tmp.join(&name), text)?;
        std::fs::rename(tmp.join(&name), new.join(&name))?;
        Ok(new.join(name))
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
