//! One daemon at a time (decisions 11): a pid file held under an
//! exclusive lock for the daemon's life.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// The locked pid file; removed when dropped.
pub struct PidFile {
    file: File,
    path: PathBuf,
}

impl PidFile {
    /// Locks `path` and writes our pid in it, or says who holds it.
    pub fn lock(path: &Path) -> io::Result<PidFile> {
        let cannot = |e: io::Error| io::Error::new(e.kind(), format!("cannot create the pid file {}: {e}", path.display()));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(cannot)?;
        }
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(cannot)?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let message = format!("another hcron-scheduler is running (pid {}, lock {})", pid.trim(), path.display());
            return Err(io::Error::new(io::ErrorKind::AddrInUse, message));
        }
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "{}", std::process::id())?;
        Ok(PidFile { file, path: path.to_owned() })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = &self.file;
    }
}
