//! The persistent spool: one JSON file per message in a directory, written
//! to a temporary name and renamed, so that a crash leaves either the whole
//! message or none; permanent failures move to `failed/`.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::Outgoing;

/// A spool directory.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
}

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

impl Spool {
    /// The spool at `dir` (created when needed).
    pub fn new(dir: &Path) -> Spool {
        Spool { dir: dir.to_owned() }
    }

    /// Where permanently failed messages are kept.
    pub fn failed_dir(&self) -> PathBuf {
        self.dir.join("failed")
    }

    /// Adds a message; its file name orders messages by arrival.
    pub fn put(&self, message: &Outgoing) -> io::Result<PathBuf> {
        std::fs::create_dir_all(&self.dir)?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let name = format!("{:020}.{:010}.{}.json", now.as_nanos(), SEQUENCE.fetch_add(1, Ordering::Relaxed), std::process::id());
        let path = self.dir.join(name);
        self.write(&path, message)?;
        Ok(path)
    }

    /// Rewrites a message in place (after a failed attempt).
    pub fn write(&self, path: &Path, message: &Outgoing) -> io::Result<()> {
        let temporary = path.with_extension("tmp");
        std::fs::write(&temporary, serde_json::to_vec(message).map_err(io::Error::other)?)?;
        std::fs::rename(&temporary, path)
    }

    /// Every message, oldest first, each read only when reached: a sender
    /// that stops early (the server is down) reads no more than it tries.
    pub fn messages(&self) -> impl Iterator<Item = (PathBuf, Outgoing)> {
        let entries = std::fs::read_dir(&self.dir).into_iter().flatten();
        let mut paths: Vec<PathBuf> =
            entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "json")).collect();
        paths.sort();
        paths.into_iter().filter_map(|path| {
            let message = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
            Some((path, message))
        })
    }

    /// Moves a message that can never be delivered to `failed/`.
    pub fn fail(&self, path: &Path, message: &Outgoing) -> io::Result<PathBuf> {
        std::fs::create_dir_all(self.failed_dir())?;
        let target = self.failed_dir().join(path.file_name().unwrap_or_default());
        self.write(path, message)?;
        std::fs::rename(path, &target)?;
        Ok(target)
    }
}
