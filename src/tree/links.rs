//! Symlink resolution inside a user's tree (§2.4), as a pure function over
//! the scanned entries: the filesystem is never asked to follow a link, so
//! no link can lead outside `events/`, whatever it points at.

use std::collections::VecDeque;
use std::fmt;

use crate::event::resolve_name;

/// A scanned entry of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symlink and its target as written.
    Link(Box<str>),
    /// A FIFO, socket or device.
    Other,
}

/// Why a path does not lead to a regular file of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unresolved {
    /// A link with an absolute target.
    Absolute(String),
    /// A link whose target climbs above `events/`.
    Escapes(String),
    /// Nothing (or an ignored name) at this path.
    Missing(String),
    /// The path ends at a directory.
    Directory,
    /// More links than `max_symlinks` on the way (chains that are too long and loops).
    TooManyLinks(u32),
    /// The path ends at a FIFO, socket or device.
    NotAFile,
}

impl fmt::Display for Unresolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unresolved::Absolute(target) => write!(f, "link to an absolute path ({target}): links must stay inside events/"),
            Unresolved::Escapes(target) => write!(f, "link climbs above events/ ({target})"),
            Unresolved::Missing(path) => write!(f, "{path} is missing or ignored"),
            Unresolved::Directory => f.write_str("leads to a directory (directory links do not alias a subtree)"),
            Unresolved::TooManyLinks(max) => write!(f, "more than max_symlinks ({max}) links to follow (a loop?)"),
            Unresolved::NotAFile => f.write_str("leads to a FIFO, socket or device"),
        }
    }
}

/// Follows `path` (e.g. `/room/mach1`) to the regular file it stands for,
/// replacing each link component by its target and starting over, following
/// at most `max_links` links in all.
pub fn resolve<'n>(lookup: impl Fn(&str) -> Option<&'n Node>, path: &str, max_links: u32) -> Result<String, Unresolved> {
    let mut pending: VecDeque<String> = path.split('/').filter(|c| !c.is_empty()).map(str::to_owned).collect();
    let mut resolved = String::new();
    let mut links = 0;
    while let Some(component) = pending.pop_front() {
        let candidate = format!("{resolved}/{component}");
        match lookup(&candidate) {
            None => return Err(Unresolved::Missing(candidate)),
            Some(Node::Other) => return Err(Unresolved::NotAFile),
            Some(Node::File) if pending.is_empty() => return Ok(candidate),
            Some(Node::File) => return Err(Unresolved::Missing(format!("{candidate}/{}", Vec::from(pending).join("/")))),
            // A path that ends at a directory leaves the loop below.
            Some(Node::Dir) => resolved = candidate,
            Some(Node::Link(target)) => {
                links += 1;
                if links > max_links {
                    return Err(Unresolved::TooManyLinks(max_links));
                }
                if target.starts_with('/') {
                    return Err(Unresolved::Absolute(target.to_string()));
                }
                let joined = resolve_name(&resolved, target).ok_or_else(|| Unresolved::Escapes(target.to_string()))?;
                for component in joined.rsplit('/').filter(|c| !c.is_empty()) {
                    pending.push_front(component.to_owned());
                }
                resolved.clear();
            }
        }
    }
    Err(Unresolved::Directory)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn nodes(list: &[(&str, Node)]) -> HashMap<String, Node> {
        list.iter().map(|(p, n)| (p.to_string(), n.clone())).collect()
    }

    fn link(target: &str) -> Node {
        Node::Link(target.into())
    }

    #[track_caller]
    fn check(tree: &HashMap<String, Node>, path: &str, want: Result<&str, Unresolved>) {
        assert_eq!(resolve(|p| tree.get(p), path, 8), want.map(str::to_owned), "{path}");
    }

    #[test]
    fn template_links() {
        // §19 scenarios 23, 24.
        let tree = nodes(&[
            ("/cleanup", Node::Dir),
            ("/cleanup/room", Node::Dir),
            ("/cleanup/room/_tmpl", Node::File),
            ("/cleanup/room/mach1.xyz", link("_tmpl")),
            ("/cleanup/room/mach2.xyz", link("./_tmpl")),
            ("/cleanup/room/mach3.xyz", link("../room/_tmpl")),
            ("/other_top_link", link("cleanup/room/_tmpl")),
        ]);
        for path in ["/cleanup/room/mach1.xyz", "/cleanup/room/mach2.xyz", "/cleanup/room/mach3.xyz", "/other_top_link"] {
            check(&tree, path, Ok("/cleanup/room/_tmpl"));
        }
    }

    #[test]
    fn dropped_links() {
        // §19 scenario 26.
        let tree = nodes(&[
            ("/abs", link("/etc/passwd")),
            ("/esc", link("../../../../etc/passwd")),
            ("/missing", link("nothing")),
            ("/loop1", link("loop2")),
            ("/loop2", link("loop1")),
            ("/dir", Node::Dir),
            ("/dirlink", link("dir")),
            ("/fifo", Node::Other),
            ("/fifolink", link("fifo")),
        ]);
        check(&tree, "/abs", Err(Unresolved::Absolute("/etc/passwd".into())));
        check(&tree, "/esc", Err(Unresolved::Escapes("../../../../etc/passwd".into())));
        check(&tree, "/missing", Err(Unresolved::Missing("/nothing".into())));
        check(&tree, "/loop1", Err(Unresolved::TooManyLinks(8)));
        check(&tree, "/dirlink", Err(Unresolved::Directory));
        check(&tree, "/fifolink", Err(Unresolved::NotAFile));
        let tree = nodes(&[("/file", Node::File), ("/through", link("file/x")), ("/dir", Node::Dir), ("/tofile", link("dir/../file"))]);
        check(&tree, "/through", Err(Unresolved::Missing("/file/x".into())));
        check(&tree, "/file/x/y", Err(Unresolved::Missing("/file/x/y".into())));
        check(&tree, "/dir", Err(Unresolved::Directory));
        check(&tree, "/tofile", Ok("/file"));
    }

    #[test]
    fn through_a_directory_link() {
        // §19 scenario 27.
        let tree =
            nodes(&[("/dirA", Node::Dir), ("/dirA/ev1", Node::File), ("/dirlink", link("dirA")), ("/via_dirlink", link("dirlink/ev1"))]);
        check(&tree, "/via_dirlink", Ok("/dirA/ev1"));
        check(&tree, "/dirlink/ev1", Ok("/dirA/ev1"));
    }

    #[test]
    fn chain_limit() {
        // §19 scenario 28: 8 links resolve, 9 do not.
        let mut list = vec![("/1".to_string(), Node::File), ("/chain1".to_string(), link("1")), ("/2".to_string(), link("chain1"))];
        for n in 3..=10 {
            list.push((format!("/{n}"), link(&(n - 1).to_string())));
        }
        let tree: HashMap<String, Node> = list.into_iter().collect();
        check(&tree, "/8", Ok("/1"));
        check(&tree, "/9", Err(Unresolved::TooManyLinks(8)));
    }
}
