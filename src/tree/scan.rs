//! Walking a tree: every entry below `events/` classified without following
//! links, ignored names left out with everything below them (§2.2), and the
//! original's order: depth first, entries sorted by name.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use regex::Regex;

use super::Issue;
use super::fs::{EntryKind, TreeFs};
use super::links::Node;

/// Everything a walk found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Every entry that is not ignored, by tree path (`/a/b`). The keys are
    /// shared with `files`, `links` and the loaded events' names.
    pub nodes: HashMap<Arc<str>, Node>,
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
    let mut scan = Scan::default();
    let entries = fs.read_dir(root)?;
    scan.directories = 1;
    let mut walk = Walk { fs, ignore, scan: &mut scan, nodes: Vec::new() };
    walk.entries(root.to_path_buf(), "", entries);
    // Built once at its final size: a map grown entry by entry rehashes
    // and touches fresh memory at every doubling, which cost a 100,000-event
    // walk more than its system calls.
    scan.nodes = walk.nodes.into_iter().collect();
    Ok(scan)
}

struct Walk<'a> {
    fs: &'a dyn TreeFs,
    ignore: Option<&'a Regex>,
    scan: &'a mut Scan,
    /// What becomes `scan.nodes`, in walk order.
    nodes: Vec<(Arc<str>, Node)>,
}

impl Walk<'_> {
    fn entries(&mut self, dir: PathBuf, prefix: &str, mut entries: Vec<(std::ffi::OsString, EntryKind)>) {
        entries.sort_unstable_by(|a, b| a.0.as_encoded_bytes().cmp(b.0.as_encoded_bytes()));
        for (name, kind) in entries {
            let os_path = || dir.join(&name);
            let Some(name) = name.to_str() else {
                let shown = name.to_string_lossy();
                self.issue(format!("{prefix}/{shown}"), "the name is not valid UTF-8, so it cannot be an event name; skipped");
                continue;
            };
            if self.ignore.is_some_and(|re| re.is_match(name)) {
                continue;
            }
            let path: Arc<str> = format!("{prefix}/{name}").into();
            let node = match kind {
                EntryKind::File => {
                    self.scan.files.push(path.clone());
                    Node::File
                }
                EntryKind::Symlink => match self.fs.read_link(&os_path()) {
                    Ok(target) => match target.into_os_string().into_string() {
                        Ok(target) => {
                            self.scan.links.push(path.clone());
                            Node::Link(target.into())
                        }
                        Err(_) => {
                            self.issue(path.to_string(), "the link's target is not valid UTF-8; dropped");
                            continue;
                        }
                    },
                    Err(error) => {
                        self.issue(path.to_string(), &format!("cannot read the link ({error}); dropped"));
                        continue;
                    }
                },
                EntryKind::Dir => {
                    let os_path = os_path();
                    match self.fs.read_dir(&os_path) {
                        Ok(children) => {
                            self.nodes.push((path.clone(), Node::Dir));
                            self.scan.directories += 1;
                            self.entries(os_path, &path, children);
                        }
                        Err(error) => {
                            self.issue(path.to_string(), &format!("cannot read the directory ({error}); skipped with everything in it"))
                        }
                    }
                    continue;
                }
                EntryKind::Other(what) => {
                    self.issue(path.to_string(), &format!("a {what}, not a regular file; skipped without opening it"));
                    Node::Other
                }
            };
            self.nodes.push((path, node));
        }
    }

    fn issue(&mut self, path: String, message: &str) {
        self.scan.issues.push(Issue { path, message: message.to_owned() });
    }
}
