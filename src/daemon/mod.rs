//! The scheduler daemon: the engine on the real clock, users' live trees,
//! local execution, the control socket and the job history.
//!
//! One `Daemon` is shared by a few tasks: the clock loop (minutes →
//! jobs), the dispatcher (at most `max_activated_events` jobs at once), a
//! status loop, the tree watcher with its debouncer, and the control
//! server. What they share is split by owner, each part behind its own
//! lock held only for short, non-I/O work: the jobs (`queue`), the users'
//! trees (`registry`), the running slots (`slots`), the log (`journal`),
//! and the rest of the state (configuration, engine, planner). Loading
//! trees, spawning and history writes happen outside every lock.

mod configure;
mod descriptors;
mod journal;
pub mod minutes;
mod node;
mod pidfile;
mod queue;
mod registry;
mod runner;
mod server;
mod setup;
mod slots;
mod users;
pub mod wallclock;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use tokio::sync::Notify;

use crate::account::Account;
use crate::clock::SystemClock;
use crate::config::Config;
use crate::engine::Engine;
use crate::exec::ExecConfig;
use journal::Log;
pub use journal::LogTarget;
use minutes::MinutePlanner;
pub use setup::{Args, main};

/// Whose trees the daemon schedules.
#[derive(Debug, Clone)]
pub enum Mode {
    /// As root, every user named in the allow file.
    Root {
        /// `hcron.allow`.
        allow_file: PathBuf,
    },
    /// As one user, that user's tree only.
    Standalone {
        /// The user.
        account: Account,
        /// Their events directory.
        events: PathBuf,
    },
}

/// Everything the daemon is started with.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The configuration.
    pub config: Config,
    /// The configuration file, re-read on SIGHUP.
    pub config_path: Option<PathBuf>,
    /// Root or standalone.
    pub mode: Mode,
    /// The server name.
    pub server_name: String,
    /// This host's fully qualified name.
    pub fqdn: String,
    /// Where log lines go.
    pub log: LogTarget,
    /// The mailbox directory (the `mailbox` transport).
    pub mailbox: PathBuf,
    /// The mail spool: notifications waiting for the sender.
    pub spool: PathBuf,
    /// The job history database.
    pub history: PathBuf,
    /// Where SSH master connections' sockets live, one directory per owner.
    pub ssh_dir: PathBuf,
    /// The clock of the minute loop (scaled in tests only).
    pub minute_clock: wallclock::MinuteClock,
}

/// What the tasks share.
struct State {
    config: Config,
    exec: ExecConfig,
    engine: Engine<SystemClock>,
    /// The minutes processed so far, made again when the minute loop
    /// starts; `hcron info` shows its next one.
    planner: MinutePlanner,
}

/// The daemon.
struct Daemon {
    setup: Setup,
    /// The activity log and the mail spool, written without the state lock.
    log: Log,
    state: Mutex<State>,
    /// The jobs: queued, taken, ended, recorded; a single node's or a cluster's.
    queue: queue::JobQueue,
    /// The running slots.
    slots: slots::Slots,
    /// Wakes the dispatcher when a job is queued or a slot frees up.
    wake: Notify,
    started: Instant,
    /// Users whose tree changed on disk (fed by the watcher, read by the debouncer).
    changed: tokio::sync::mpsc::UnboundedSender<users::Watched>,
    /// The mail sender's settings, replaced on SIGHUP.
    mail: tokio::sync::watch::Sender<crate::mail::MailSettings>,
    /// Whose trees are loaded, and their watches and retries.
    users: registry::Registry,
    /// Wakes the minute loop when this node starts leading the cluster.
    leadership: Notify,
}

impl Daemon {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("the daemon's state lock is never poisoned: nothing panics under it")
    }
}
