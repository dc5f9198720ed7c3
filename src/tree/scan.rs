//! Walking a tree: every entry below `events/` classified without following
//! links, ignored names left out with everything below them (§2.2), and the
//! original's order: depth first, entries sorted by name.
//!
//! Directories are read level by level, the directories of a level on every
//! core; the depth-first order is then put together from their listings.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use regex::Regex;

use super::fs::{EntryKind, TreeFs};
use super::links::Node;
use super::{Issue, PathMap, parallel_map};

/// Everything a walk found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Every entry that is not ignored, by tree path (`/a/b`). The keys are
    /// shared with `files`, `links` and the loaded events' names.
    pub nodes: PathMap<Node>,
    /// Regular files, in tree order.
    pub files: Vec<Arc<str>>,
    /// Symlinks, in tree order.
    pub links: Vec<Arc<str>>,
    /// Entries that cannot be events, and why.
    pub issues: Vec<Issue>,
    /// Directories walked, the root included.
    pub directories: usize,
}

/// Walks the tree at `root`. Only an unreadable root is an error; anything
/// below it that cannot be read becomes an [`Issue`].
pub fn scan(fs: &dyn TreeFs, root: &Path, ignore: Option<&Regex>) -> io::Result<Scan> {
    let entries = fs.read_dir(root)?;
    // Every directory found, in the order found (level by level), and its listing.
    let mut listings: Vec<io::Result<Listing>> = vec![Ok(list(fs, ignore, root, "", entries))];
    let mut dirs: Vec<(Arc<str>, PathBuf)> = Vec::new();
    let mut read = 0;
    loop {
        // Number the subdirectories the last level found (listing n reads dirs[n - 1]).
        for listing in listings[read..].iter_mut().flatten() {
            for item in &mut listing.items {
                if let Item::Found { path, os_path } = item {
                    dirs.push((path.clone(), std::mem::take(os_path)));
                    *item = Item::Dir(dirs.len());
                }
            }
        }
        read = listings.len();
        if read > dirs.len() {
            break;
        }
        let level = &dirs[read - 1..];
        listings.extend(parallel_map(
            level,
            || (),
            |(), _, (path, os_path)| fs.read_dir(os_path).map(|e| list(fs, ignore, os_path, path, e)),
        ));
    }
    let mut walk = Walk { scan: Scan { directories: 1, ..Scan::default() }, nodes: Vec::new(), dirs: &dirs };
    let root_items = listings[0].as_mut().map(|l| std::mem::take(&mut l.items)).unwrap_or_default();
    walk.assemble(&mut listings, root_items);
    // Built once at its final size: a map grown entry by entry rehashes
    // and touches fresh memory at every doubling, which cost a 100,000-event
    // walk more than its system calls.
    walk.scan.nodes = walk.nodes.into_iter().collect();
    Ok(walk.scan)
}

/// One directory's entries, sorted, classified, links read.
#[derive(Default)]
struct Listing {
    items: Vec<Item>,
}

/// One entry of a directory.
enum Item {
    /// A file, a link or something else: a node of the tree.
    Node(Arc<str>, Node),
    /// A subdirectory, not yet numbered.
    Found { path: Arc<str>, os_path: PathBuf },
    /// A subdirectory: the index of its listing.
    Dir(usize),
    /// An entry that cannot be an event.
    Issue(Issue),
}

/// Sorts and classifies the `entries` of the directory `dir`, whose tree path is `prefix`.
fn list(fs: &dyn TreeFs, ignore: Option<&Regex>, dir: &Path, prefix: &str, mut entries: Vec<(OsString, EntryKind)>) -> Listing {
    entries.sort_unstable_by(|a, b| a.0.as_encoded_bytes().cmp(b.0.as_encoded_bytes()));
    let mut items = Vec::with_capacity(entries.len());
    // Each entry's tree path is made in one buffer: one allocation per entry, the `Arc`'s.
    let mut path_buf = format!("{prefix}/");
    let issue = |path: String, message: &str| Item::Issue(Issue { path, message: message.to_owned() });
    for (name, kind) in entries {
        let os_path = || dir.join(&name);
        let Some(name) = name.to_str() else {
            let shown = name.to_string_lossy();
            items.push(issue(format!("{prefix}/{shown}"), "the name is not valid UTF-8, so it cannot be an event name; skipped"));
            continue;
        };
        if ignore.is_some_and(|re| re.is_match(name)) {
            continue;
        }
        path_buf.truncate(prefix.len() + 1);
        path_buf.push_str(name);
        let path: Arc<str> = path_buf.as_str().into();
        let item = match kind {
            EntryKind::File => Item::Node(path, Node::File),
            EntryKind::Symlink => match fs.read_link(&os_path()) {
                Ok(target) => match target.into_os_string().into_string() {
                    Ok(target) => Item::Node(path, Node::Link(target.into())),
                    Err(_) => issue(path.to_string(), "the link's target is not valid UTF-8; dropped"),
                },
                Err(error) => issue(path.to_string(), &format!("cannot read the link ({error}); dropped")),
            },
            EntryKind::Dir => Item::Found { path, os_path: os_path() },
            EntryKind::Other(what) => {
                items.push(issue(path.to_string(), &format!("a {what}, not a regular file; skipped without opening it")));
                Item::Node(path, Node::Other)
            }
        };
        items.push(item);
    }
    Listing { items }
}

/// Puts the listings together in tree order.
struct Walk<'a> {
    scan: Scan,
    /// What becomes `scan.nodes`, in tree order.
    nodes: Vec<(Arc<str>, Node)>,
    /// The directories below the root, listing n's at n - 1.
    dirs: &'a [(Arc<str>, PathBuf)],
}

impl Walk<'_> {
    /// Adds `items`, a listing's, in order, and the listings of their subdirectories in place.
    fn assemble(&mut self, listings: &mut [io::Result<Listing>], items: Vec<Item>) {
        for item in items {
            match item {
                Item::Node(path, node) => {
                    match node {
                        Node::File => self.scan.files.push(path.clone()),
                        Node::Link(_) => self.scan.links.push(path.clone()),
                        Node::Dir | Node::Other => {}
                    }
                    self.nodes.push((path, node));
                }
                Item::Issue(issue) => self.scan.issues.push(issue),
                Item::Dir(child) => {
                    let path = self.dirs[child - 1].0.clone();
                    match &mut listings[child] {
                        Ok(listing) => {
                            let items = std::mem::take(&mut listing.items);
                            self.nodes.push((path, Node::Dir));
                            self.scan.directories += 1;
                            self.assemble(listings, items);
                        }
                        Err(error) => {
                            let message = format!("cannot read the directory ({error}); skipped with everything in it");
                            self.scan.issues.push(Issue { path: path.to_string(), message });
                        }
                    }
                }
                Item::Found { .. } => unreachable!("every subdirectory is numbered before the next level"),
            }
        }
    }
}
