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
    // Every directory's listing, level by level, in the order found: the
    // subdirectories of listing n have the listings from first_child[n] on.
    let mut listings: Vec<io::Result<Listing>> = vec![Ok(list(fs, ignore, root, "", entries))];
    let mut first_child = Vec::new();
    let mut level = 0..1;
    while !level.is_empty() {
        let mut below: Vec<(Arc<str>, PathBuf)> = Vec::new();
        let start = listings.len();
        for listing in &mut listings[level.clone()] {
            first_child.push(start + below.len());
            let items = listing.as_mut().map_or(&mut [][..], |l| &mut l.items);
            // The walk needs only the name from now on.
            below.extend(items.iter_mut().filter_map(|item| match item {
                Item::Dir { path, os_path } => Some((path.clone(), std::mem::take(os_path))),
                _ => None,
            }));
        }
        listings.extend(parallel_map(&below, || (), |(), _, (path, dir)| fs.read_dir(dir).map(|e| list(fs, ignore, dir, path, e))));
        level = start..listings.len();
    }
    let mut walk = Walk { scan: Scan { directories: 1, ..Scan::default() }, nodes: Vec::new(), first_child: &first_child };
    walk.assemble(&mut listings, 0);
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
    /// A subdirectory.
    Dir { path: Arc<str>, os_path: PathBuf },
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
            EntryKind::Dir => Item::Dir { path, os_path: os_path() },
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
    /// Where each listing's subdirectories' listings begin.
    first_child: &'a [usize],
}

impl Walk<'_> {
    /// Adds listing `at`'s entries in order, each subdirectory's listing in its place.
    fn assemble(&mut self, listings: &mut [io::Result<Listing>], at: usize) {
        let items = listings[at].as_mut().map(|l| std::mem::take(&mut l.items)).unwrap_or_default();
        let mut child = self.first_child[at];
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
                Item::Dir { path, .. } => {
                    match &listings[child] {
                        Ok(_) => {
                            self.nodes.push((path, Node::Dir));
                            self.scan.directories += 1;
                            self.assemble(listings, child);
                        }
                        Err(error) => {
                            let message = format!("cannot read the directory ({error}); skipped with everything in it");
                            self.scan.issues.push(Issue { path: path.to_string(), message });
                        }
                    }
                    child += 1;
                }
            }
        }
    }
}
