//! Users' trees: who is allowed, where each tree is, loading it with the
//! owner's credentials, swapping it in, and watching it for changes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode, Watcher};

use super::journal::stamped;
use super::registry::{Identity, UserEvents, Watch};
use super::{Daemon, Mode};
use crate::account::Account;
use crate::control::Counts;
use crate::event::{Event, Kind, LoadContext, Reason};
use crate::schedule::ScheduleIndex;
use crate::tree::{self, CheckedFs, FileCache, Loaded, Tree};

/// How long a tree must stay unchanged before it is reloaded.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// The longest a changed tree waits for its reload while changes keep
/// coming: edits that never pause do not starve it.
pub const DEBOUNCE_MAX: Duration = Duration::from_secs(3);

/// The first retry of a load that failed for a reason that may pass
/// (descriptors or memory short, the user database unreachable); each
/// next one waits twice as long, up to [`RETRY_MAX`].
pub const RETRY_FIRST: Duration = Duration::from_secs(5);

/// The longest wait between retries of a failing load.
pub const RETRY_MAX: Duration = Duration::from_secs(300);

/// How often each tree's root is looked at for a replacement (`mv events
/// events.old` and a copy back) or a creation, which its watcher cannot see.
pub const ROOT_CHECK: Duration = Duration::from_secs(10);

/// The name the watcher uses for a change of the allow file.
const ALLOW_FILE: &str = "\0allow";

/// The user names of an allow file (§14.2): one per line, `#` comments,
/// blanks stripped, duplicates merged, in file order.
pub fn read_allow(path: &Path) -> std::io::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)?;
    let mut names: Vec<String> = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        if !names.iter().any(|n| n == line) {
            names.push(line.to_owned());
        }
    }
    Ok(names)
}

impl Daemon {
    /// The users the daemon should schedule now.
    pub(super) fn wanted_users(&self) -> Result<Vec<String>, String> {
        match &self.setup.mode {
            Mode::Standalone { account, .. } => Ok(vec![account.name.clone()]),
            Mode::Root { allow_file } => read_allow(allow_file).map_err(|e| format!("cannot read {}: {e}", allow_file.display())),
        }
    }

    /// Whether `user` may use this daemon.
    pub(super) fn is_allowed(&self, user: &str) -> bool {
        self.wanted_users().is_ok_and(|users| users.iter().any(|u| u == user))
    }

    /// Where `account`'s events are.
    fn tree_root(&self, account: &Account) -> PathBuf {
        match &self.setup.mode {
            Mode::Standalone { events, .. } => events.clone(),
            Mode::Root { .. } => match &self.lock().config.events_base_path {
                Some(base) => base.join(&account.name),
                None => account.home.join(".hcron").join(&self.setup.server_name).join("events"),
            },
        }
    }

    /// Loads `user`'s tree off to the side and swaps it in (decisions 10).
    pub(super) async fn reload(self: &Arc<Self>, user: &str) -> Result<Counts, String> {
        let account = match &self.setup.mode {
            Mode::Standalone { account, .. } => account.clone(),
            Mode::Root { .. } => match Account::find(user) {
                Ok(Some(account)) => account,
                Ok(None) => return Err(self.load_failed(user, format!("no such user ({user})"), false)),
                Err(error) => return Err(self.load_failed(user, format!("cannot look up user ({user}): {error}"), true)),
            },
        };
        let root = self.tree_root(&account);
        let options = self.tree_options();
        let (limit, known) = {
            let limit = self.lock().config.max_watches_per_user;
            (limit, self.users.get(user).map(|u| u.directories))
        };
        let as_owner = self.as_owner();
        let fits = |directories: usize| directories <= limit;
        // Watch first, so that a change made while the tree loads is not
        // missed; but only a tree known to fit its share of watches.
        if known.is_some_and(fits) {
            self.watch(user, &root);
        }
        let previous = self.users.get(user).map(|u| u.files).unwrap_or_default();
        let started = Instant::now();
        let (loader_account, loader_root) = (account.clone(), root.clone());
        let loaded = tokio::task::spawn_blocking(move || load(&loader_account, &loader_root, &options, as_owner, &previous)).await;
        let elapsed = started.elapsed().as_secs_f64();
        let loaded = match loaded {
            Ok(Ok(loaded)) => loaded,
            Ok(Err(error)) => {
                // A missing tree is the user's to create, which check_roots
                // looks for (it has nothing to watch yet); anything else may pass.
                let missing = error.kind() == std::io::ErrorKind::NotFound;
                if missing {
                    self.watch(user, &root);
                }
                let message = format!("cannot load the events of user ({user}) from {}: {error}", root.display());
                return Err(self.load_failed(user, message, !missing));
            }
            Err(error) => return Err(self.load_failed(user, format!("loading the events of user ({user}) failed: {error}"), true)),
        };
        self.users.retries().remove(user);
        if fits(loaded.directories) {
            self.watch(user, &root);
        } else {
            self.poll(user, &root, loaded.directories, limit);
        }
        let counts = counts(&loaded.tree);
        let index = Arc::new(ScheduleIndex::new(&loaded.tree));
        for issue in &loaded.issues {
            let text = format!("user ({user}) file ({}): {}", issue.path, issue.message);
            self.log.message(user, &text, "warning");
        }
        if let Some((limit, size)) = loaded.tree.overflow() {
            let text = format!("user ({user}): {}", crate::check::overflow_message(limit, size));
            self.log.message(user, &text, "error");
        }
        let unknown = |e: &&Event| e.kind() == Kind::Unknown && e.reason() != Reason::MaximumEventsReached;
        for event in loaded.tree.events().iter().filter(unknown) {
            for finding in event.findings() {
                let at = finding.lineno.map(|n| format!(":{n}")).unwrap_or_default();
                let text = format!("event ({}) rejected ({}): {}{at}: {}", event.name(), event.reason(), finding.path, finding.message);
                self.log.message(user, &text, "warning");
            }
        }
        let (owner, directories, files): (Arc<str>, _, _) = (user.into(), loaded.directories, Arc::new(loaded.files));
        let events = UserEvents { account, owner, tree: Arc::new(loaded.tree), index, files, directories, unloaded: false };
        // The swap: the old tree's count comes out of the same lock.
        let old = self.users.users().insert(user.to_owned(), events).map_or(0, |u| u.tree.events().len());
        self.log.entry(stamped("discard-events", user).field("count", old));
        let entry = stamped("load-events", user)
            .field("elapsed", format!("{elapsed:.6}"))
            .field("naccepted", counts.accepted)
            .field("nevents", counts.events)
            .field("nrejected", counts.rejected)
            .field("ntemplates", counts.templates);
        self.log.entry(entry);
        Ok(counts)
    }

    /// How trees load under the current configuration.
    fn tree_options(&self) -> tree::Options {
        let context = LoadContext { host_name: self.setup.fqdn.clone(), server_name: self.setup.server_name.clone() };
        self.lock().config.tree_options(context)
    }

    /// Whether trees are read with their owners' credentials (the root daemon).
    fn as_owner(&self) -> bool {
        matches!(self.setup.mode, Mode::Root { .. })
    }

    /// Logs why `user`'s load failed and, when `retry`, reloads again later
    /// (the tree as it was stays scheduled meanwhile); the message.
    fn load_failed(self: &Arc<Self>, user: &str, message: String, retry: bool) -> String {
        let text = match retry {
            false => message.clone(),
            true => {
                let delay = {
                    let mut retries = self.users.retries();
                    let delay = retries.get(user).copied().unwrap_or(RETRY_FIRST);
                    retries.insert(user.to_owned(), (delay * 2).min(RETRY_MAX));
                    delay
                };
                let (changed, name) = (self.changed.clone(), user.to_owned());
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = changed.send(Watched::Changed(name));
                });
                format!("{message}; retrying in {} s", delay.as_secs())
            }
        };
        self.log.message(user, &text, "error");
        message
    }

    /// Drops `user`'s events until the next reload.
    pub(super) fn unload(&self, user: &str) {
        let count = {
            let mut users = self.users.users();
            let Some(events) = users.get_mut(user) else { return };
            let count = events.tree.events().len();
            events.tree = Arc::new(Tree::default());
            events.index = Arc::new(ScheduleIndex::default());
            events.unloaded = true;
            count
        };
        self.log.entry(stamped("discard-events", user).field("count", count));
    }

    /// Brings the set of loaded users in line with the allow file.
    pub(super) async fn sync_users(self: &Arc<Self>) {
        let wanted = match self.wanted_users() {
            Ok(wanted) => wanted,
            Err(why) => {
                self.log.message("", &why, "error");
                return;
            }
        };
        let gone: Vec<String> = self.users.users().keys().filter(|u| !wanted.contains(u)).cloned().collect();
        for user in gone {
            self.users.remove(&user);
        }
        for user in wanted {
            // A failure is logged and retried by reload itself.
            let _ = self.reload(&user).await;
        }
    }

    /// Watches `root` for `user`: once, and again whenever the directory
    /// at `root` is not the one watched (replaced, created, or gone).
    fn watch(&self, user: &str, root: &Path) {
        let identity = identity(root);
        let mut watchers = self.users.watchers();
        let armed = |w: &Watch| w.root == root && w.identity == identity && (w.watcher.is_some() || identity.is_none());
        if watchers.get(user).is_some_and(armed) {
            return;
        }
        let watcher = identity.map(|_| watcher(self.changed.clone(), user.to_owned(), root, RecursiveMode::Recursive)).transpose();
        let watcher = watcher.unwrap_or_else(|error| {
            let text = format!("cannot watch {} for user ({user}): {error}; use hcron reload after changes", root.display());
            self.log.message(user, &text, "warning");
            None
        });
        watchers.insert(user.to_owned(), Watch { watcher, root: root.to_owned(), identity, polled: false });
    }

    /// Polls `user`'s tree instead of watching it: it has more directories
    /// than `limit`, and watching it would take other users' share of the
    /// inotify watches. Logged when it starts.
    fn poll(&self, user: &str, root: &Path, directories: usize, limit: usize) {
        let watch = Watch { watcher: None, root: root.to_owned(), identity: identity(root), polled: true };
        let was_polled = self.users.watchers().insert(user.to_owned(), watch).is_some_and(|w| w.polled);
        if !was_polled {
            let every = self.lock().config.tree_poll_interval.max(1);
            let text = format!(
                "the events directory of user ({user}) has {directories} directories, more than max_watches_per_user ({limit}): polled every {every} s instead of watched"
            );
            self.log.message(user, &text, "warning");
        }
    }

    /// Every [`ROOT_CHECK`], reloads the trees whose root directory is not
    /// the one watched (the reload watches the new one); every
    /// `tree_poll_interval`, every tree that changed unseen ([`Daemon::poll_trees`]).
    pub(super) async fn check_roots(self: Arc<Self>) {
        let mut polled_at = tokio::time::Instant::now();
        loop {
            let every = Duration::from_secs(self.lock().config.tree_poll_interval.max(1));
            tokio::time::sleep(ROOT_CHECK.min(every)).await;
            let roots: Vec<(String, PathBuf, Identity)> = {
                let watchers = self.users.watchers();
                let trees = watchers.iter().filter(|(name, _)| *name != ALLOW_FILE);
                trees.map(|(n, w)| (n.clone(), w.root.clone(), w.identity)).collect()
            };
            let replaced = tokio::task::spawn_blocking(move || {
                roots.into_iter().filter(|(_, root, known)| identity(root) != *known).map(|(name, ..)| name).collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
            for name in replaced {
                let text = format!("the events directory of user ({name}) was replaced or created; reloading");
                self.log.message(&name, &text, "info");
                let _ = self.changed.send(Watched::Changed(name));
            }
            if polled_at.elapsed() >= every {
                polled_at = tokio::time::Instant::now();
                self.poll_trees().await;
            }
        }
    }

    /// Reloads every loaded tree that is not as it was loaded: a change no
    /// watcher saw (made on another NFS client, or in a tree too large to
    /// watch). Entries are listed and files stamped, as their owner; only
    /// a changed tree is reloaded (and logged).
    async fn poll_trees(self: &Arc<Self>) {
        let trees: Vec<(String, Account, Arc<FileCache>)> = {
            let users = self.users.users();
            users.iter().filter(|(_, u)| !u.unloaded).map(|(n, u)| (n.clone(), u.account.clone(), u.files.clone())).collect()
        };
        let (options, as_owner) = (Arc::new(self.tree_options()), self.as_owner());
        for (name, account, files) in trees {
            let (root, options) = (self.tree_root(&account), options.clone());
            let same =
                tokio::task::spawn_blocking(move || as_reader(&account, as_owner, |fs| tree::unchanged(fs, &root, &options, &files)));
            // A root that cannot be read is the root check's and the reload's to report.
            if let Ok(Ok(false)) = same.await {
                let _ = self.changed.send(Watched::Changed(name));
            }
        }
    }

    /// Watches the allow file's directory.
    pub(super) fn watch_allow_file(&self) {
        if let Mode::Root { allow_file } = &self.setup.mode
            && let Some(dir) = allow_file.parent()
            && let Ok(watcher) = watcher(self.changed.clone(), ALLOW_FILE.to_owned(), dir, RecursiveMode::NonRecursive)
        {
            let watch = Watch { watcher: Some(watcher), root: dir.to_owned(), identity: identity(dir), polled: false };
            self.users.watchers().insert(ALLOW_FILE.to_owned(), watch);
        }
    }

    /// Reloads each changed tree once it has been quiet for [`DEBOUNCE`],
    /// or [`DEBOUNCE_MAX`] after its first change, whichever comes first.
    pub(super) async fn debounce(self: Arc<Self>, mut changed: tokio::sync::mpsc::UnboundedReceiver<Watched>) {
        // By name: when the reload is due, and the latest it may be.
        let mut due: HashMap<String, (tokio::time::Instant, tokio::time::Instant)> = HashMap::new();
        loop {
            let next = due.values().map(|(at, _)| *at).min();
            tokio::select! {
                report = changed.recv() => match report {
                    Some(Watched::Failed { name, error }) => {
                        let text = format!("watching the events of user ({name}) failed: {error}; changes may be missed until the next reload");
                        self.log.message(&name, &text, "warning");
                    }
                    Some(Watched::Changed(name)) => {
                        let now = tokio::time::Instant::now();
                        let latest = due.get(&name).map_or(now + DEBOUNCE_MAX, |(_, latest)| *latest);
                        due.insert(name, ((now + DEBOUNCE).min(latest), latest));
                    }
                    None => return,
                },
                _ = async { tokio::time::sleep_until(next.expect("checked")).await }, if next.is_some() => {
                    let now = tokio::time::Instant::now();
                    let ready: Vec<String> = due.iter().filter(|(_, (at, _))| *at <= now).map(|(n, _)| n.clone()).collect();
                    for name in ready {
                        due.remove(&name);
                        if name == ALLOW_FILE {
                            self.sync_users().await;
                        } else if self.users.get(&name).is_some_and(|u| u.unloaded) {
                            // Said, so that an edit that changes nothing is not a mystery.
                            let text = format!("events of user ({name}) changed while unloaded: not loaded until hcron reload");
                            self.log.message(&name, &text, "info");
                        } else if self.is_allowed(&name) {
                            // A failure is logged and retried by reload itself.
                            let _ = self.reload(&name).await;
                        }
                    }
                }
            }
        }
    }
}

/// What the watchers report to the debouncer.
#[derive(Debug)]
pub enum Watched {
    /// Something changed in this user's tree (or the allow file's directory).
    Changed(String),
    /// Watching this user's tree failed; changes may be missed.
    Failed {
        /// The user.
        name: String,
        /// What the watcher said.
        error: String,
    },
}

/// The device and inode of the directory at `path` (links followed, as the watcher follows the root).
fn identity(path: &Path) -> Identity {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().filter(|m| m.is_dir()).map(|m| (m.dev(), m.ino()))
}

/// A watcher that reports changes (not mere reads) under `path` as `name`.
fn watcher(
    sender: tokio::sync::mpsc::UnboundedSender<Watched>,
    name: String,
    path: &Path,
    mode: RecursiveMode,
) -> notify::Result<notify::RecommendedWatcher> {
    let mut watcher = notify::RecommendedWatcher::new(
        move |event: notify::Result<notify::Event>| match event {
            Ok(event) if matches!(event.kind, EventKind::Access(_)) => {}
            Ok(_) => {
                let _ = sender.send(Watched::Changed(name.clone()));
            }
            Err(error) => {
                let _ = sender.send(Watched::Failed { name: name.clone(), error: error.to_string() });
            }
        },
        notify::Config::default().with_follow_symlinks(false),
    )?;
    watcher.watch(path, mode)?;
    Ok(watcher)
}

/// Loads a tree, reading only what changed since `previous`.
fn load(account: &Account, root: &Path, options: &tree::Options, as_owner: bool, previous: &FileCache) -> std::io::Result<Loaded> {
    as_reader(account, as_owner, |fs| tree::reload(fs, root, options, previous))
}

/// `read` of a tree of `account`'s, refusing what another user could have
/// written (`CheckedFs`: a standalone daemon runs its user's commands as
/// surely as the root daemon does); with the owner's credentials when
/// `as_owner` (the root daemon).
fn as_reader<T: Send>(
    account: &Account,
    as_owner: bool,
    read: impl FnOnce(&dyn tree::TreeFs) -> std::io::Result<T> + Send,
) -> std::io::Result<T> {
    let fs = CheckedFs { uid: account.uid, gid: account.gid };
    if as_owner { crate::credentials::as_user(account, || read(&fs))? } else { read(&fs) }
}

/// The counts of the `load-events` line.
fn counts(tree: &Tree) -> Counts {
    let events = tree.events().len();
    let accepted = tree.events().iter().filter(|e| e.is_accepted()).count();
    let templates = tree.events().iter().filter(|e| e.kind() == Kind::Template).count();
    Counts { events, accepted, rejected: events - accepted, templates }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allow_file_is_its_names_in_order_without_comments_blanks_or_repeats() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hcron.allow");
        std::fs::write(&path, "# site users\nalice\n\n  bob  \n\t\n#carol\nalice\n dave # not a comment\nbob\n").unwrap();
        assert_eq!(read_allow(&path).unwrap(), ["alice", "bob", "dave # not a comment"]);
        std::fs::write(&path, "").unwrap();
        assert!(read_allow(&path).unwrap().is_empty());
        assert_eq!(read_allow(&dir.path().join("missing")).unwrap_err().kind(), std::io::ErrorKind::NotFound);
    }
}
