//! Include expansion (§3.2, decisions 4): the assignment lines an event is
//! made of, each with the file and line it came from.
//!
//! Files are found through [`IncludeSource`], so this module never touches
//! the filesystem; the tree loader answers with confined, cached lookups.

use std::sync::Arc;

use super::lines::{LineKind, SourceFile};

/// Files reached by an event's file before a further `include` is refused:
/// the event is depth 1, so event → A → B is allowed, event → A → B → C is not.
pub const MAX_INCLUDE_DEPTH: usize = 3;

/// Where `include` directives find files.
pub trait IncludeSource {
    /// The processed file at `path` (normalised, absolute within `events/`,
    /// e.g. `/inc/common`), or `None` when it is missing, ignored or not a
    /// readable regular file.
    fn include(&self, path: &str) -> Option<Arc<SourceFile>>;
}

/// The include source of an event read on its own, outside any tree: every
/// included file is missing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoIncludes;

impl IncludeSource for NoIncludes {
    fn include(&self, _path: &str) -> Option<Arc<SourceFile>> {
        None
    }
}

/// A processed file together with its path within the tree.
#[derive(Debug, Clone)]
pub struct Part {
    /// Path of the file within `events/`, e.g. `/room/_tmpl`.
    pub path: Arc<str>,
    /// Its processed lines.
    pub file: Arc<SourceFile>,
}

/// The assignments of one event, in order, after include expansion.
#[derive(Debug, Clone)]
pub enum Definition {
    /// No includes: every line of the event's own file (shared between all
    /// symlinks to it).
    Single(Part),
    /// With includes: (part, line) pairs into the files involved.
    Expanded { parts: Box<[Part]>, lines: Box<[LineRef]> },
}

/// A line of an expanded definition: (index of its part, index of the line in that part's file).
type LineRef = (u16, u32);

/// One assignment line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assignment<'d> {
    /// Stripped name.
    pub name: &'d str,
    /// Stripped raw value, before substitution.
    pub value: &'d str,
    /// Where it is written.
    pub origin: Origin<'d>,
}

/// A line of a file of the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin<'d> {
    /// Path of the file within `events/`.
    pub path: &'d str,
    /// 1-based line number.
    pub lineno: u32,
    /// The logical line as processed.
    pub text: &'d str,
}

/// Why expansion failed, and the line that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandError {
    /// What went wrong.
    pub kind: ExpandErrorKind,
    /// File of the offending line.
    pub path: Arc<str>,
    /// Its line number.
    pub lineno: u32,
    /// The line itself.
    pub text: String,
}

/// The two ways expansion fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpandErrorKind {
    /// An include that cannot be processed (`cannot process include(s)`).
    Include(String),
    /// A line that is neither an assignment nor an include (`bad definition`).
    BadLine,
}

impl Definition {
    /// Expands the includes of `own`, the file an event named `event_name`
    /// is read from. Relative include names resolve against the directory of
    /// the event's *name* (for a symlink, the link's directory), and nested
    /// ones against the including file's directory.
    pub fn expand(event_name: &str, own: Part, source: &dyn IncludeSource) -> Result<Definition, ExpandError> {
        let plain = own.file.lines().iter().all(|l| matches!(own.file.kind(l), LineKind::Assign { .. }));
        if plain {
            return Ok(Definition::Single(own));
        }
        let mut expansion = Expansion { parts: Vec::new(), lines: Vec::new(), source };
        expansion.add(parent(event_name), own, 1)?;
        // §4: include expansion (step 3) completes before lines without `=` are rejected (step 4).
        for &(part, line) in &expansion.lines {
            let part = &expansion.parts[part as usize];
            let line = &part.file.lines()[line as usize];
            if part.file.kind(line) == LineKind::Bad {
                return Err(ExpandError {
                    kind: ExpandErrorKind::BadLine,
                    path: part.path.clone(),
                    lineno: line.lineno,
                    text: part.file.text(line).into(),
                });
            }
        }
        Ok(Definition::Expanded { parts: expansion.parts.into(), lines: expansion.lines.into() })
    }

    /// The assignments in order (every line, since bad lines reject the event).
    pub fn assignments(&self) -> impl Iterator<Item = Assignment<'_>> {
        let (parts, lines): (&[Part], Option<&[LineRef]>) = match self {
            Definition::Single(part) => (std::slice::from_ref(part), None),
            Definition::Expanded { parts, lines } => (parts, Some(lines)),
        };
        let count = lines.map_or(parts[0].file.lines().len(), <[_]>::len);
        (0..count).filter_map(move |i| {
            let (part, line) = lines.map_or((0, i as u32), |lines| lines[i]);
            let part = &parts[part as usize];
            let line = &part.file.lines()[line as usize];
            match part.file.kind(line) {
                LineKind::Assign { name, value } => {
                    Some(Assignment { name, value, origin: Origin { path: &part.path, lineno: line.lineno, text: part.file.text(line) } })
                }
                LineKind::Include { .. } | LineKind::Bad => None,
            }
        })
    }

    /// Every file the definition reads, the event's own first.
    pub fn parts(&self) -> &[Part] {
        match self {
            Definition::Single(part) => std::slice::from_ref(part),
            Definition::Expanded { parts, .. } => parts,
        }
    }
}

struct Expansion<'s> {
    parts: Vec<Part>,
    lines: Vec<LineRef>,
    source: &'s dyn IncludeSource,
}

impl Expansion<'_> {
    fn add(&mut self, dir: &str, part: Part, depth: usize) -> Result<(), ExpandError> {
        let index = u16::try_from(self.parts.len()).expect("at most a few files per event");
        self.parts.push(part.clone());
        for (i, line) in part.file.lines().iter().enumerate() {
            let LineKind::Include { name } = part.file.kind(line) else {
                self.lines.push((index, i as u32));
                continue;
            };
            let fail = |why: String| ExpandError {
                kind: ExpandErrorKind::Include(why),
                path: part.path.clone(),
                lineno: line.lineno,
                text: part.file.text(line).into(),
            };
            if depth >= MAX_INCLUDE_DEPTH {
                return Err(fail(format!("includes nest deeper than {MAX_INCLUDE_DEPTH} files")));
            }
            let Some(path) = resolve_name(dir, name) else {
                return Err(fail(format!("{name:?} climbs above events/")));
            };
            let Some(file) = self.source.include(&path) else {
                return Err(fail(format!("{path} is missing, ignored or not a readable file")));
            };
            let path: Arc<str> = path.into();
            self.add(parent(&path).to_owned().as_str(), Part { path, file }, depth + 1)?;
        }
        Ok(())
    }
}

/// Directory part of a tree path: `/a/b` → `/a`, `/b` → ``.
pub fn parent(path: &str) -> &str {
    path.rfind('/').map_or("", |at| &path[..at])
}

/// Resolves a chain or include name against `dir` (decisions 4): absolute
/// when it starts with `/`, else relative; `.` and `..` are normalised.
/// `None` when it climbs above `events/`.
pub fn resolve_name(dir: &str, name: &str) -> Option<String> {
    let mut components: Vec<&str> = Vec::new();
    let base = if name.starts_with('/') { "" } else { dir };
    for component in base.split('/').chain(name.split('/')) {
        match component {
            "" | "." => {}
            ".." => {
                components.pop()?;
            }
            c => components.push(c),
        }
    }
    let mut path = String::with_capacity(name.len() + dir.len() + 1);
    for c in components {
        path.push('/');
        path.push_str(c);
    }
    Some(path)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct Files(HashMap<&'static str, Arc<SourceFile>>);

    impl IncludeSource for Files {
        fn include(&self, path: &str) -> Option<Arc<SourceFile>> {
            self.0.get(path).cloned()
        }
    }

    fn files(list: &[(&'static str, &str)]) -> Files {
        Files(list.iter().map(|(p, c)| (*p, Arc::new(SourceFile::parse(c)))).collect())
    }

    fn part(path: &str, content: &str) -> Part {
        Part { path: path.into(), file: Arc::new(SourceFile::parse(content)) }
    }

    fn expand(name: &str, content: &str, source: &Files) -> Result<Vec<(String, String, String)>, ExpandError> {
        let definition = Definition::expand(name, part(name, content), source)?;
        Ok(definition
            .assignments()
            .map(|a| (a.name.to_owned(), a.value.to_owned(), format!("{}:{}", a.origin.path, a.origin.lineno)))
            .collect())
    }

    fn tree() -> Files {
        files(&[
            ("/inc/common", "host=inc-host\nx=1\n"),
            ("/inc/level2", "include ../inc/common\ny=2\n"),
            ("/inc/level3", "include /inc/level2\n"),
        ])
    }

    #[test]
    fn absolute_and_relative_includes() {
        let got = expand("/a/b/absinc", "include /inc/level2\ncommand=c\n", &tree()).unwrap();
        let want = [
            ("host", "inc-host", "/inc/common:1"),
            ("x", "1", "/inc/common:2"),
            ("y", "2", "/inc/level2:2"),
            ("command", "c", "/a/b/absinc:2"),
        ];
        assert_eq!(got, want.map(|(a, b, c)| (a.into(), b.into(), c.into())));
        assert!(expand("/a/b/relinc", "include ../../inc/common\n", &tree()).is_ok());
    }

    #[test]
    fn depth_limit() {
        let error = expand("/ev", "x=0\ninclude /inc/level3\n", &tree()).unwrap_err();
        assert_eq!(error.path.as_ref(), "/inc/level2");
        assert_eq!(error.lineno, 1);
        assert!(matches!(error.kind, ExpandErrorKind::Include(_)));
    }

    #[test]
    fn missing_and_escaping() {
        let error = expand("/ev", "include /nonexistent\n", &tree()).unwrap_err();
        assert_eq!((error.path.as_ref(), error.lineno, error.text.as_str()), ("/ev", 1, "include /nonexistent"));
        assert!(expand("/ev", "include ../../x\n", &tree()).is_err());
    }

    #[test]
    fn include_errors_win_over_bad_lines() {
        let error = expand("/ev", "bad line\ninclude /nonexistent\n", &tree()).unwrap_err();
        assert!(matches!(error.kind, ExpandErrorKind::Include(_)));
        let error = expand("/ev", "x=1\nbad line\n", &tree()).unwrap_err();
        assert_eq!((error.kind, error.lineno), (ExpandErrorKind::BadLine, 2));
    }

    #[test]
    fn names_resolve_with_normalisation() {
        assert_eq!(resolve_name("/a", "step2").as_deref(), Some("/a/step2"));
        assert_eq!(resolve_name("/a", "../b/other").as_deref(), Some("/b/other"));
        assert_eq!(resolve_name("/a", "./dot").as_deref(), Some("/a/dot"));
        assert_eq!(resolve_name("/a", "/b/abs").as_deref(), Some("/b/abs"));
        assert_eq!(resolve_name("/a", "").as_deref(), Some("/a"));
        assert_eq!(resolve_name("", "../x"), None);
        assert_eq!(resolve_name("/a", "../../x"), None);
    }
}
