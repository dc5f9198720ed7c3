//! The user registry: whose trees are loaded, each one's tree and schedule
//! index as last swapped in (or unloaded), the watches of the trees, and
//! the retries of loads that failed for a reason that may pass. Loading
//! is `users.rs`'s; this only holds what it found. Each of its locks is a
//! leaf: nothing else is locked while one is held.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::account::Account;
use crate::schedule::ScheduleIndex;
use crate::tree::{FileCache, Tree};

/// One user's loaded events.
#[derive(Clone)]
pub(super) struct UserEvents {
    pub(super) account: Account,
    pub(super) owner: Arc<str>,
    pub(super) tree: Arc<Tree>,
    pub(super) index: Arc<ScheduleIndex>,
    /// What the last load read, so that the next one reads only what
    /// changed, and a poll can tell whether anything did.
    pub(super) files: Arc<FileCache>,
    /// Directories in the tree, as last loaded (what watching it costs).
    pub(super) directories: usize,
    /// `hcron unload` was asked: nothing is loaded until `hcron reload`.
    pub(super) unloaded: bool,
}

/// A watched tree root.
pub struct Watch {
    /// The watcher, when the root could be watched.
    pub(super) watcher: Option<notify::RecommendedWatcher>,
    /// The root's path.
    pub(super) root: PathBuf,
    /// The directory watched.
    pub(super) identity: Identity,
    /// Reloaded every `tree_poll_interval` instead of watched.
    pub(super) polled: bool,
}

/// A directory's device and inode; `None` when there is none.
pub(super) type Identity = Option<(u64, u64)>;

/// One loaded user's schedule, as the clock reads it.
pub(super) struct Schedule {
    /// The owner.
    pub owner: Arc<str>,
    /// The tree.
    pub tree: Arc<Tree>,
    /// Its index by minute.
    pub index: Arc<ScheduleIndex>,
}

/// The registry.
#[derive(Default)]
pub(super) struct Registry {
    users: Mutex<BTreeMap<String, UserEvents>>,
    watchers: Mutex<HashMap<String, Watch>>,
    retries: Mutex<HashMap<String, Duration>>,
}

impl Registry {
    /// The loaded users, by name.
    pub fn users(&self) -> MutexGuard<'_, BTreeMap<String, UserEvents>> {
        self.users.lock().expect("the users' lock is never poisoned: nothing panics under it")
    }

    /// The watches, by user (and the allow file's).
    pub fn watchers(&self) -> MutexGuard<'_, HashMap<String, Watch>> {
        self.watchers.lock().expect("the watchers' lock is never poisoned: nothing panics under it")
    }

    /// The delay before the next retry of each user whose last load failed
    /// for a reason that may pass.
    pub fn retries(&self) -> MutexGuard<'_, HashMap<String, Duration>> {
        self.retries.lock().expect("the retries' lock is never poisoned: nothing panics under it")
    }

    /// `user`'s loaded events, if loaded.
    pub fn get(&self, user: &str) -> Option<UserEvents> {
        self.users().get(user).cloned()
    }

    /// Every loaded user's schedule, in name order.
    pub fn schedules(&self) -> Vec<Schedule> {
        self.users().values().map(|u| Schedule { owner: u.owner.clone(), tree: u.tree.clone(), index: u.index.clone() }).collect()
    }

    /// Users loaded, and their events in all.
    pub fn counts(&self) -> (usize, usize) {
        let users = self.users();
        (users.len(), users.values().map(|u| u.tree.events().len()).sum())
    }

    /// Forgets `user` (no longer allowed): their events and their watch.
    pub fn remove(&self, user: &str) {
        self.users().remove(user);
        self.watchers().remove(user);
    }
}
