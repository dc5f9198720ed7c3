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

#[cfg(test)]
mod tests {
    use super::*;

    fn events(owner: &str, tree: Arc<Tree>) -> UserEvents {
        UserEvents {
            account: Account::current().expect("the current user"),
            owner: owner.into(),
            tree,
            index: Arc::default(),
            files: Arc::default(),
            directories: 0,
            unloaded: false,
        }
    }

    fn watch(root: &str) -> Watch {
        Watch { watcher: None, root: root.into(), identity: None, polled: true }
    }

    #[test]
    fn users_are_kept_by_name_counted_scheduled_in_name_order_and_forgotten_with_their_watch() {
        let registry = Registry::default();
        assert_eq!(registry.counts(), (0, 0));
        assert!(registry.get("b").is_none() && registry.schedules().is_empty());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("e"), "command=true\n").unwrap();
        std::fs::write(dir.path().join("f"), "command=true\n").unwrap();
        let config = crate::config::Config::default();
        let options = config.tree_options(crate::event::LoadContext { host_name: "h".into(), server_name: "s".into() });
        let two = Arc::new(crate::tree::load(&crate::tree::LocalFs, dir.path(), &options).unwrap().tree);
        registry.users().insert("b".into(), events("b", two.clone()));
        registry.users().insert("a".into(), events("a", Arc::new(Tree::default())));
        registry.watchers().insert("a".into(), watch("/a"));
        registry.watchers().insert("b".into(), watch("/b"));
        registry.retries().insert("a".into(), Duration::from_secs(5));
        assert_eq!(registry.counts(), (2, 2), "two users, two events in all");
        assert!(Arc::ptr_eq(&registry.get("b").unwrap().tree, &two));
        let owners: Vec<String> = registry.schedules().iter().map(|s| s.owner.to_string()).collect();
        assert_eq!(owners, ["a", "b"]);
        assert!(Arc::ptr_eq(&registry.schedules()[1].tree, &two), "each schedule with its own tree");
        registry.remove("b");
        assert_eq!(registry.counts(), (1, 0));
        assert!(registry.get("b").is_none() && registry.get("a").is_some());
        assert_eq!(registry.watchers().keys().collect::<Vec<_>>(), ["a"], "the watch goes with the user");
        assert_eq!(registry.retries().get("a"), Some(&Duration::from_secs(5)));
    }
}
