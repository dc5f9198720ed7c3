//! The three filesystem operations the tree loader needs, behind a trait.
//!
//! [`LocalFs`] reads with the calling process's credentials. The root daemon
//! will plug in a reader that performs the same operations with the tree
//! owner's credentials, so that nothing the owner cannot read is ever read
//! on their behalf; that also makes path races harmless (a swapped-in link
//! can only lead where the owner could go anyway).

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// What a directory entry is, without following links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (never followed by the filesystem; resolved inside the tree).
    Symlink,
    /// A FIFO, socket or device, named for messages. Never opened.
    Other(&'static str),
}

/// Why a file could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The operating system said no.
    Io(io::Error),
    /// Larger than the limit (the size is given).
    TooLarge(u64),
    /// Not a regular file any more when opened (it was replaced since the walk).
    NotRegular,
}

/// Read access to a tree.
pub trait TreeFs: Sync {
    /// Entries of `dir`, unsorted, classified without following links.
    fn read_dir(&self, dir: &Path) -> io::Result<Vec<(OsString, EntryKind)>>;
    /// Target of the symlink at `path`.
    fn read_link(&self, path: &Path) -> io::Result<PathBuf>;
    /// Contents of the regular file at `path`, refusing links, non-regular
    /// files (opened without blocking, so a FIFO swapped in cannot hang the
    /// reader) and files larger than `limit` bytes.
    fn read_file(&self, path: &Path, limit: u64) -> Result<Vec<u8>, ReadError>;
}

/// Reads with the credentials of the current process.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalFs;

impl TreeFs for LocalFs {
    fn read_dir(&self, dir: &Path) -> io::Result<Vec<(OsString, EntryKind)>> {
        fs::read_dir(dir)?
            .map(|entry| {
                let entry = entry?;
                let kind = classify(entry.file_type()?);
                Ok((entry.file_name(), kind))
            })
            .collect()
    }

    fn read_link(&self, path: &Path) -> io::Result<PathBuf> {
        fs::read_link(path)
    }

    fn read_file(&self, path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
            .map_err(ReadError::Io)?;
        read_regular(file, limit)
    }
}

/// Reads an opened file if it is regular and within `limit` bytes.
pub fn read_regular(file: File, limit: u64) -> Result<Vec<u8>, ReadError> {
    let metadata = file.metadata().map_err(ReadError::Io)?;
    if !metadata.file_type().is_file() {
        return Err(ReadError::NotRegular);
    }
    if metadata.len() > limit {
        return Err(ReadError::TooLarge(metadata.len()));
    }
    let mut content = Vec::with_capacity(metadata.len() as usize);
    // The file may grow after fstat: never read more than the limit allows.
    file.take(limit + 1).read_to_end(&mut content).map_err(ReadError::Io)?;
    if content.len() as u64 > limit {
        return Err(ReadError::TooLarge(content.len() as u64));
    }
    Ok(content)
}

/// Classifies a file type that was obtained without following links.
pub fn classify(file_type: fs::FileType) -> EntryKind {
    if file_type.is_symlink() {
        EntryKind::Symlink
    } else if file_type.is_dir() {
        EntryKind::Dir
    } else if file_type.is_file() {
        EntryKind::File
    } else if file_type.is_fifo() {
        EntryKind::Other("FIFO")
    } else if file_type.is_socket() {
        EntryKind::Other("socket")
    } else {
        EntryKind::Other("device")
    }
}
