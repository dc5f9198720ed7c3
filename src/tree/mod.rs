//! Loading one user's tree (§2): the walk, confined symlinks, tree order,
//! file reading with a size limit, includes, and `max_events_per_user`.
//!
//! Problems are data: a bad file becomes a rejected event or an [`Issue`];
//! only an unreadable root fails the load.

pub mod fs;
mod links;
mod scan;

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use regex::Regex;

use crate::event::{Event, Finding, IncludeSource, LoadContext, Part, Reason, Severity, SourceFile, Unloadable};
pub use fs::{CheckedFs, LocalFs, TreeFs};
use fs::{ReadError, Stamp};
use links::{Node, resolve};

/// How a tree is loaded: the configuration keys that matter here.
#[derive(Debug, Clone)]
pub struct Options {
    /// `names_to_ignore_regexp`, anchored at the start of each base name.
    pub ignore: Option<Regex>,
    /// `max_symlinks`: links followed at most to resolve one path.
    pub max_symlinks: u32,
    /// `max_events_per_user`: events past it are rejected unread.
    pub max_events: usize,
    /// `max_event_file_size` in bytes: a larger file cannot be loaded.
    pub max_file_size: u64,
    /// Early built-in values.
    pub context: LoadContext,
}

/// A map keyed by tree paths. Hashed with foldhash, randomly seeded per
/// process: the paths are the user's, and SipHash cost a 100,000-event load
/// more than a tenth of its time in user space.
pub type PathMap<V> = HashMap<Arc<str>, V, foldhash::fast::RandomState>;

/// An entry of the tree that is not an event, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// Its path within `events/`.
    pub path: String,
    /// Why it is not an event.
    pub message: String,
}

/// A user's events, in tree order (§2.2 item 7): regular files depth first
/// sorted by name, then resolved symlinks in the same order.
#[derive(Debug, Default)]
pub struct Tree {
    events: Vec<Event>,
    index: PathMap<usize>,
}

/// A loaded tree and the entries that did not become events.
#[derive(Debug)]
pub struct Loaded {
    /// The events.
    pub tree: Tree,
    /// Dropped links, FIFOs, unreadable directories, ...
    pub issues: Vec<Issue>,
    /// What was read, to be passed to the next load of the same tree.
    pub files: FileCache,
    /// Directories in the tree, its root included (what watching it costs).
    pub directories: usize,
}

/// The files a load read, by path, with their stamps: the next load of the
/// same tree re-reads only the files whose stamp changed, so a reload of
/// 100,000 events after one edit opens one file.
#[derive(Debug, Default)]
pub struct FileCache {
    files: PathMap<(Stamp, FileRead)>,
    /// When the load that read them began.
    started: Option<SystemTime>,
    /// The [`fingerprint`] of the tree's entries then.
    listing: Option<u64>,
}

/// How far a file's timestamps may lag the clock: the kernel stamps writes
/// with a coarse clock (one tick, at most 10 ms), and a write that lands in
/// the tick its previous version was read in leaves the same stamp.
const STAMP_LAG: Duration = Duration::from_millis(50);

impl FileCache {
    /// Whether a file with this stamp may have changed since it was read
    /// with the stamp unchanged: it was written at most [`STAMP_LAG`] before
    /// the load that read it began (git's "racily clean" entries). Such a
    /// file is read again.
    fn racy(&self, stamp: &Stamp) -> bool {
        self.started.is_none_or(|started| stamp.changed().is_none_or(|changed| changed + STAMP_LAG >= started))
    }
}

impl Tree {
    /// Every event, in tree order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// When the tree holds more events than `max_events_per_user`: the limit
    /// and the number of events in the tree (those past the limit are rejected unread).
    pub fn overflow(&self) -> Option<(usize, usize)> {
        let limit = self.events.iter().position(|e| e.reason() == Reason::MaximumEventsReached)?;
        Some((limit, self.events.len()))
    }

    /// The event named `name` (e.g. `/a/b`).
    pub fn get(&self, name: &str) -> Option<&Event> {
        self.index.get(name).map(|&i| &self.events[i])
    }
}

/// Loads the tree rooted at `root` (the user's `events/` directory).
pub fn load(fs: &dyn TreeFs, root: &Path, options: &Options) -> io::Result<Loaded> {
    reload(fs, root, options, &FileCache::default())
}

/// Loads the tree again, re-reading only the files that changed since
/// `previous` was made.
///
/// Events are validated on every core, in scoped threads. On Linux a new
/// thread starts with the credentials of the thread that made it, so a
/// caller that switched its own thread to a user's file-system credentials
/// reads the whole tree with them.
pub fn reload(fs: &dyn TreeFs, root: &Path, options: &Options, previous: &FileCache) -> io::Result<Loaded> {
    let started = SystemTime::now();
    let scan = scan::scan(fs, root, options.ignore.as_ref())?;
    let listing = Some(fingerprint(&scan));
    let mut issues = scan.issues;
    // Every file read is a scanned regular file: the cache never grows past
    // that, so it is made at that size (growing it costs rehashes under its lock).
    let cache = Mutex::new(PathMap::with_capacity_and_hasher(scan.files.len(), Default::default()));
    let loader = Loader { fs, root, options, nodes: &scan.nodes, previous, cache };
    let mut sources: Vec<(Arc<str>, Option<Arc<str>>)> = scan.files.iter().map(|f| (f.clone(), None)).collect();
    for (link, resolved) in scan.links.iter().zip(parallel_map(&scan.links, || (), |(), _, link| loader.resolve(link))) {
        match resolved {
            Ok(target) => sources.push((link.clone(), Some(target))),
            Err(why) => issues.push(Issue { path: link.to_string(), message: format!("symlink dropped: {why}") }),
        }
    }
    let events = loader.load_all(sources);
    let index = events.iter().enumerate().map(|(i, e)| (e.name().clone(), i)).collect();
    let files = FileCache { files: loader.cache.into_inner().expect("cache lock"), started: Some(started), listing };
    Ok(Loaded { tree: Tree { events, index }, issues, files, directories: scan.directories })
}

/// Whether a reload of the tree at `root` would find it as the load that
/// made `previous` did: the same entries (names, kinds, link targets, what
/// was dropped) and every file that load read with the same stamp. It
/// lists directories and stamps files, and opens none: a change made where
/// no watcher sees it (another NFS client) is found by calling this now
/// and then, at a fraction of a reload's cost.
pub fn unchanged(fs: &dyn TreeFs, root: &Path, options: &Options, previous: &FileCache) -> io::Result<bool> {
    let Some(listing) = previous.listing else { return Ok(false) };
    let scan = scan::scan(fs, root, options.ignore.as_ref())?;
    if fingerprint(&scan) != listing {
        return Ok(false);
    }
    // In tree order, so that each worker's directory stays open from one file to the next.
    let read: Vec<(&Arc<str>, &Stamp)> = scan.files.iter().filter_map(|path| Some((path, &previous.files.get(path)?.0))).collect();
    let same = parallel_map(&read, Dir::default, |dir, _, (path, old)| {
        let (parent, name) = path.rsplit_once('/').expect("tree paths start with /");
        let stamp = dir.open(fs, root, parent).and_then(|fd| fs.stamp_at(fd, name));
        stamp.is_ok_and(|stamp| stamp == **old && !previous.racy(old))
    });
    Ok(same.into_iter().all(|same| same))
}

/// A hash of what a scan found, in tree order: files, links and their
/// targets, dropped entries and why, the number of directories.
fn fingerprint(scan: &scan::Scan) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut hasher = foldhash::quality::FixedState::default().build_hasher();
    scan.files.hash(&mut hasher);
    for link in &scan.links {
        link.hash(&mut hasher);
        if let Some(links::Node::Link(target)) = scan.nodes.get(link) {
            target.hash(&mut hasher);
        }
    }
    for issue in &scan.issues {
        (&issue.path, &issue.message).hash(&mut hasher);
    }
    scan.directories.hash(&mut hasher);
    hasher.finish()
}

/// `f(state, index, item)` of every item, in order, the items shared out
/// in contiguous runs between the cores (at most 8) in scoped threads, each
/// run with a `state` of its own. Few items are done on the calling thread.
fn parallel_map<T: Sync, S, R: Send>(items: &[T], state: impl Fn() -> S + Sync, f: impl Fn(&mut S, usize, &T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8).min(items.len().div_ceil(MIN_RUN));
    let run = items.len().div_ceil(threads.max(1)).max(1);
    let map_run = |c: usize, part: &[T]| {
        let mut state = state();
        part.iter().enumerate().map(|(i, item)| f(&mut state, c * run + i, item)).collect::<Vec<R>>()
    };
    if threads <= 1 {
        return map_run(0, items);
    }
    let map_run = &map_run;
    std::thread::scope(|scope| {
        let workers: Vec<_> = items.chunks(run).enumerate().map(|(c, part)| scope.spawn(move || map_run(c, part))).collect();
        workers.into_iter().flat_map(|w| w.join().expect("tree loading does not panic")).collect()
    })
}

/// Items fewer than this are not worth a thread.
const MIN_RUN: usize = 16;

/// A processed file, or why it cannot be loaded.
type FileRead = Result<Arc<SourceFile>, String>;

/// Reads and processes files on demand, each file once.
struct Loader<'a> {
    fs: &'a dyn TreeFs,
    root: &'a Path,
    options: &'a Options,
    nodes: &'a PathMap<Node>,
    previous: &'a FileCache,
    /// Shared by the worker threads; held only to look up and to insert,
    /// never while reading.
    cache: Mutex<PathMap<(Stamp, FileRead)>>,
}

impl Loader<'_> {
    /// Loads `(name, symlink target)` pairs in order, on every core.
    fn load_all(&self, sources: Vec<(Arc<str>, Option<Arc<str>>)>) -> Vec<Event> {
        parallel_map(&sources, Dir::default, |dir, i, (name, target)| self.event(dir, i, name, target))
    }

    /// The event at `position` in tree order, its file read through `dir`.
    fn event(&self, dir: &mut Dir, position: usize, name: &Arc<str>, target: &Option<Arc<str>>) -> Event {
        if position >= self.options.max_events {
            let message = format!("more than max_events_per_user ({}) events in the tree; not loaded", self.options.max_events);
            let finding = Finding { severity: Severity::Error, path: name.clone(), lineno: None, message, text: None };
            return Event::rejected(name.clone(), Reason::MaximumEventsReached, finding);
        }
        let path = target.as_ref().unwrap_or(name);
        let own = self.read(dir, path).map(|file| Part { path: path.clone(), file }).map_err(|why| Unloadable { path: path.clone(), why });
        Event::load(name.clone(), own, self, &self.options.context)
    }

    fn resolve(&self, path: &str) -> Result<Arc<str>, links::Unresolved> {
        let target = resolve(|p| self.nodes.get(p), path, self.options.max_symlinks)?;
        Ok(self.nodes.get_key_value(target.as_str()).map(|(key, _)| key.clone()).expect("resolve ends at a scanned file"))
    }

    /// The processed content of the regular file at tree path `path`,
    /// opened relative to `dir` (which moves to the file's directory).
    fn read(&self, dir: &mut Dir, path: &Arc<str>) -> FileRead {
        if let Some((_, cached)) = self.cache.lock().expect("cache lock").get(path) {
            return cached.clone();
        }
        let (parent, name) = path.rsplit_once('/').expect("tree paths start with /");
        let fd = match dir.open(self.fs, self.root, parent) {
            Ok(fd) => fd,
            Err(error) => return Err(format!("cannot read: {error}")),
        };
        // A file read before is stamped first, to be re-read only if it changed;
        // a new one is stamped by the fstat of its reading.
        let mut known = None;
        if let Some((old, read)) = self.previous.files.get(path) {
            let stamp = match self.fs.stamp_at(fd, name) {
                Ok(stamp) => stamp,
                Err(error) => return Err(format!("cannot read: {error}")),
            };
            // The stamp of the version read then: can that read be trusted?
            if *old == stamp && !self.previous.racy(old) {
                self.cache.lock().expect("cache lock").insert(path.clone(), (stamp, read.clone()));
                return read.clone();
            }
            known = Some(stamp);
        }
        let limit = self.options.max_file_size;
        let (read, stamp) = match self.fs.read_file_at(fd, name, limit) {
            Ok((bytes, stamp)) => match std::str::from_utf8(&bytes) {
                Ok(text) => (Ok(Arc::new(SourceFile::parse(text))), Some(stamp)),
                Err(error) => (Err(format!("not valid UTF-8 (invalid byte at offset {})", error.valid_up_to())), Some(stamp)),
            },
            Err(error) => {
                let why = match error {
                    ReadError::TooLarge(size) => format!("{size} bytes, more than max_event_file_size ({limit})"),
                    ReadError::NotRegular => "no longer a regular file".to_owned(),
                    ReadError::Unsafe(why) => format!("refused: {why}"),
                    ReadError::Io(error) => format!("cannot read: {error}"),
                };
                (Err(why), known.or_else(|| self.fs.stamp_at(fd, name).ok()))
            }
        };
        if let Some(stamp) = stamp {
            self.cache.lock().expect("cache lock").insert(path.clone(), (stamp, read.clone()));
        }
        read
    }
}

/// The directory a worker read its last file from, kept open: the files
/// of a directory come one after the other in tree order, and opening each
/// relative to its directory spares the kernel a walk of the whole path.
#[derive(Default)]
struct Dir {
    open: Option<(Box<str>, OwnedFd)>,
}

impl Dir {
    /// A descriptor of the directory at tree path `parent` (`` for the root).
    fn open(&mut self, fs: &dyn TreeFs, root: &Path, parent: &str) -> io::Result<BorrowedFd<'_>> {
        if self.open.as_ref().is_none_or(|(open, _)| **open != *parent) {
            self.open = None;
            let fd = fs.open_dir(&root.join(parent.trim_start_matches('/')))?;
            self.open = Some((parent.into(), fd));
        }
        Ok(self.open.as_ref().expect("opened above").1.as_fd())
    }
}

impl IncludeSource for Loader<'_> {
    fn include(&self, path: &str) -> Option<Arc<SourceFile>> {
        let target = self.resolve(path).ok()?;
        // Shared files, read once: their own descriptor is no loss.
        self.read(&mut Dir::default(), &target).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_is_trusted_only_when_the_file_changed_well_before_the_load_that_read_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e");
        std::fs::write(&path, "x=1\n").unwrap();
        let stamp = Stamp::of(&std::fs::symlink_metadata(&path).unwrap());
        let changed = stamp.changed().unwrap();
        let cache = |started| FileCache { files: PathMap::default(), started: Some(started), listing: None };
        assert!(cache(changed).racy(&stamp), "changed as the load began");
        assert!(cache(changed + STAMP_LAG).racy(&stamp), "within the clock's lag");
        assert!(!cache(changed + STAMP_LAG + Duration::from_millis(1)).racy(&stamp), "well before");
        assert!(FileCache::default().racy(&stamp), "no load to compare with");
    }

    /// Loads `root` and makes its files' stamps trusted (as if the load had
    /// begun well after they were written).
    fn loaded(root: &Path, options: &Options) -> FileCache {
        let mut files = load(&LocalFs, root, options).unwrap().files;
        files.started = Some(SystemTime::now() + Duration::from_secs(1));
        files
    }

    #[test]
    fn a_reload_reads_again_a_file_whose_stamp_changed_and_reuses_one_whose_did_not() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let config = crate::config::Config::default();
        let options = config.tree_options(config.load_context());
        let good = "as_user=\nhost=localhost\ncommand=true\nnotify_email=\nnotify_message=\nwhen_month=*\nwhen_day=*\nwhen_hour=*\nwhen_minute=*\nwhen_dow=*\n";
        std::fs::write(root.join("a"), good).unwrap();
        std::fs::write(root.join("b"), good).unwrap();
        let files = loaded(root, &options);
        // Rewritten with another size, so its stamp differs whatever the clock's grain.
        std::fs::write(root.join("a"), good.replace("when_minute=*", "when_minute=bad")).unwrap();
        let tree = reload(&LocalFs, root, &options, &files).unwrap().tree;
        let reasons: Vec<String> = tree.events().iter().map(|e| format!("{}: {}", e.name(), e.reason())).collect();
        assert_ne!(tree.get("/a").unwrap().reason(), tree.get("/b").unwrap().reason(), "the edit is read: {reasons:?}");
        assert_eq!(tree.get("/b").unwrap().reason(), Reason::Passed, "{reasons:?}");
    }

    #[test]
    fn a_tree_is_unchanged_until_an_entry_a_link_target_or_a_file_read_changes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let config = crate::config::Config::default();
        let options = Options { max_events: 3, ..config.tree_options(config.load_context()) };
        let event = "as_user=\nhost=localhost\ncommand=true\n";
        std::fs::create_dir(root.join("d")).unwrap();
        for name in ["a", "d/b", "d/c", "z"] {
            std::fs::write(root.join(name), event).unwrap();
        }
        std::os::unix::fs::symlink("a", root.join("l")).unwrap();
        let same = |files: &FileCache| unchanged(&LocalFs, root, &options, files).unwrap();
        let files = loaded(root, &options);
        assert!(same(&files));
        assert!(!same(&FileCache::default()), "nothing loaded yet");
        let racy = load(&LocalFs, root, &options).unwrap().files;
        assert!(!same(&racy), "files written as the load began may have changed unseen");
        // z is past max_events_per_user: never read, so its content does not matter, its name does.
        std::fs::write(root.join("z"), "changed=1\n").unwrap();
        assert!(same(&files), "a file no load reads");
        let changes: [(&str, &dyn Fn()); 6] = [
            ("a file read, rewritten", &|| std::fs::write(root.join("d/b"), event).unwrap()),
            ("a file added", &|| std::fs::write(root.join("d/new"), event).unwrap()),
            ("a file removed", &|| std::fs::remove_file(root.join("d/c")).unwrap()),
            ("a link retargeted", &|| {
                std::fs::remove_file(root.join("l")).unwrap();
                std::os::unix::fs::symlink("d/b", root.join("l")).unwrap();
            }),
            ("an empty directory added", &|| std::fs::create_dir(root.join("e")).unwrap()),
            ("an entry dropped", &|| nix::unistd::mkfifo(&root.join("f"), nix::sys::stat::Mode::S_IRWXU).unwrap()),
        ];
        for (what, change) in changes {
            let files = loaded(root, &options);
            assert!(same(&files), "{what}: before");
            change();
            assert!(!same(&files), "{what}: not noticed");
        }
        std::fs::remove_dir_all(root.join("d")).unwrap();
        assert!(unchanged(&LocalFs, &root.join("d"), &options, &files).is_err(), "a root that is gone");
    }
}
