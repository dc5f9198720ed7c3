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
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{FileStat, Mode, fstatat};

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
    /// Another user could have written it (the reason says how).
    Unsafe(String),
}

/// What identifies a file's content without reading it: when all of these
/// are unchanged, so is the content (git's index relies on the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    inode: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    /// The stamp of `metadata`.
    pub fn of(metadata: &std::fs::Metadata) -> Stamp {
        Stamp {
            inode: metadata.ino(),
            size: metadata.size(),
            mtime: (metadata.mtime(), metadata.mtime_nsec()),
            ctime: (metadata.ctime(), metadata.ctime_nsec()),
        }
    }

    /// When the file last changed (the later of its modification and
    /// status change times); `None` before the epoch.
    pub fn changed(&self) -> Option<std::time::SystemTime> {
        let (seconds, nanos) = self.mtime.max(self.ctime);
        let since = std::time::Duration::new(u64::try_from(seconds).ok()?, u32::try_from(nanos).ok()?);
        std::time::UNIX_EPOCH.checked_add(since)
    }

    /// The stamp of what `fstatat` said.
    fn of_stat(stat: &FileStat) -> Stamp {
        Stamp {
            inode: stat.st_ino,
            size: stat.st_size as u64,
            mtime: (stat.st_mtime, stat.st_mtime_nsec),
            ctime: (stat.st_ctime, stat.st_ctime_nsec),
        }
    }
}

/// Read access to a tree.
///
/// Directories are listed by path; files are read and stamped by name
/// relative to an open directory (a load reads the files of a directory
/// through one descriptor of it, which spares the kernel a walk of the
/// whole path for each).
pub trait TreeFs: Sync {
    /// The stamp of the entry `name` of the directory `dir`, without following a link.
    fn stamp_at(&self, dir: BorrowedFd<'_>, name: &str) -> io::Result<Stamp> {
        Ok(Stamp::of_stat(&fstatat(dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)?))
    }

    /// Entries of `dir`, unsorted, classified without following links.
    fn read_dir(&self, dir: &Path) -> io::Result<Vec<(OsString, EntryKind)>>;
    /// Target of the symlink at `path`.
    fn read_link(&self, path: &Path) -> io::Result<PathBuf> {
        fs::read_link(path)
    }

    /// Opens the directory at `path` for [`TreeFs::read_file_at`] and
    /// [`TreeFs::stamp_at`]: a path descriptor, which needs no read
    /// permission and reads nothing, and never a link.
    fn open_dir(&self, path: &Path) -> io::Result<OwnedFd> {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        Ok(nix::fcntl::open(path, flags, Mode::empty())?)
    }

    /// Whether a file or directory with this metadata may be read; the reason when not.
    fn check(&self, _metadata: &fs::Metadata) -> Result<(), String> {
        Ok(())
    }

    /// Contents of the regular file `name` of the directory `dir`, refusing
    /// links, what [`TreeFs::check`] refuses, non-regular files (opened
    /// without blocking, so a FIFO swapped in cannot hang the reader) and
    /// files larger than `limit` bytes; with the stamp of the opened file (so
    /// that a first load needs no separate `lstat`).
    fn read_file_at(&self, dir: BorrowedFd<'_>, name: &str, limit: u64) -> Result<(Vec<u8>, Stamp), ReadError> {
        let file = open_at(dir, name).map_err(ReadError::Io)?;
        let metadata = file.metadata().map_err(ReadError::Io)?;
        self.check(&metadata).map_err(ReadError::Unsafe)?;
        read_regular(file, &metadata, limit)
    }
}

/// Opens the entry `name` of `dir` for reading as [`open_no_follow`] does.
fn open_at(dir: BorrowedFd<'_>, name: &str) -> io::Result<File> {
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    Ok(File::from(openat(dir, name, flags, Mode::empty())?))
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
}

/// Reads as [`LocalFs`] does, and refuses directories and files that a
/// user other than the tree's owner (or root) could have written: owned by
/// someone else, writable by everyone, or writable by a group that is not
/// the owner's. The root daemon reads users' trees through it, on a thread
/// switched to the owner's credentials.
#[derive(Debug, Clone, Copy)]
pub struct CheckedFs {
    /// The tree owner's user id.
    pub uid: u32,
    /// The tree owner's primary group id.
    pub gid: u32,
}

impl TreeFs for CheckedFs {
    fn read_dir(&self, dir: &Path) -> io::Result<Vec<(OsString, EntryKind)>> {
        let metadata = fs::symlink_metadata(dir)?;
        self.check(&metadata).map_err(|why| io::Error::new(io::ErrorKind::PermissionDenied, format!("refused: {why}")))?;
        LocalFs.read_dir(dir)
    }

    fn check(&self, metadata: &fs::Metadata) -> Result<(), String> {
        let mode = metadata.mode();
        if metadata.uid() != self.uid && metadata.uid() != 0 {
            Err(format!("owned by another user (uid {})", metadata.uid()))
        } else if mode & 0o002 != 0 {
            Err(format!("writable by everyone (mode {:o})", mode & 0o7777))
        } else if mode & 0o020 != 0 && metadata.gid() != self.gid {
            Err(format!("writable by group {} (mode {:o})", metadata.gid(), mode & 0o7777))
        } else {
            Ok(())
        }
    }
}

/// Opens for reading without following a final link and without blocking
/// on a FIFO or becoming a controlling terminal.
pub(crate) fn open_no_follow(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY).open(path)
}

/// Reads an opened file whose metadata is `metadata` if it is regular and
/// within `limit` bytes, with its stamp.
fn read_regular(mut file: File, metadata: &fs::Metadata, limit: u64) -> Result<(Vec<u8>, Stamp), ReadError> {
    if !metadata.file_type().is_file() {
        return Err(ReadError::NotRegular);
    }
    if metadata.len() > limit {
        return Err(ReadError::TooLarge(metadata.len()));
    }
    // One read of one byte more than fstat said: a regular file returns
    // less than asked only at its end, so most files take a single read(2).
    let mut content = vec![0; metadata.len() as usize + 1];
    let first = loop {
        match file.read(&mut content) {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            other => break other.map_err(ReadError::Io)?,
        }
    };
    content.truncate(first);
    if first as u64 > metadata.len() {
        // It grew after fstat: read on, never more than the limit allows.
        file.take(limit + 1 - first as u64).read_to_end(&mut content).map_err(ReadError::Io)?;
    }
    if content.len() as u64 > limit {
        return Err(ReadError::TooLarge(content.len() as u64));
    }
    Ok((content, Stamp::of(metadata)))
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

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;

    #[test]
    fn a_file_is_read_whole_in_one_read_with_its_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e");
        std::fs::write(&path, "command=x\n").unwrap();
        let fd = LocalFs.open_dir(dir.path()).unwrap();
        let read = |limit| LocalFs.read_file_at(fd.as_fd(), "e", limit);
        let (content, stamp) = read(100).unwrap();
        assert_eq!(content, b"command=x\n");
        assert_eq!(stamp, Stamp::of(&std::fs::symlink_metadata(&path).unwrap()));
        assert!(matches!(read(9), Err(ReadError::TooLarge(10))));
        assert_eq!(read(10).unwrap().0.len(), 10);
    }

    #[test]
    fn a_file_is_stamped_as_read_and_links_are_neither_followed_nor_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("e"), "command=x\n").unwrap();
        std::os::unix::fs::symlink("e", dir.path().join("link")).unwrap();
        let fd = LocalFs.open_dir(dir.path()).unwrap();
        let read = LocalFs.read_file_at(fd.as_fd(), "e", 100).unwrap();
        assert_eq!(LocalFs.stamp_at(fd.as_fd(), "e").unwrap(), read.1);
        let link = Stamp::of(&std::fs::symlink_metadata(dir.path().join("link")).unwrap());
        assert_eq!(LocalFs.stamp_at(fd.as_fd(), "link").unwrap(), link, "not followed");
        assert!(matches!(LocalFs.read_file_at(fd.as_fd(), "link", 100), Err(ReadError::Io(e)) if e.raw_os_error() == Some(libc::ELOOP)));
        // A link to a directory is not opened as one.
        std::os::unix::fs::symlink(".", dir.path().join("dirlink")).unwrap();
        assert_eq!(LocalFs.open_dir(&dir.path().join("dirlink")).unwrap_err().raw_os_error(), Some(libc::ENOTDIR));
    }

    #[test]
    fn files_and_directories_are_opened_without_blocking_and_closed_across_exec() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("e"), "x=1\n").unwrap();
        let descriptor = LocalFs.open_dir(dir.path()).unwrap();
        let file = open_at(descriptor.as_fd(), "e").unwrap();
        for fd in [descriptor.as_fd(), file.as_fd()] {
            let flags = nix::fcntl::FdFlag::from_bits_truncate(nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).unwrap());
            assert!(flags.contains(nix::fcntl::FdFlag::FD_CLOEXEC), "a command started meanwhile must not inherit it");
        }
        let status = OFlag::from_bits_truncate(nix::fcntl::fcntl(file.as_fd(), nix::fcntl::FcntlArg::F_GETFL).unwrap());
        assert!(status.contains(OFlag::O_NONBLOCK), "{status:?}");
        // A FIFO swapped in for a file: refused at once, not waited on for a writer.
        nix::unistd::mkfifo(&dir.path().join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        let (done, finished) = std::sync::mpsc::channel();
        let path = dir.path().to_owned();
        std::thread::spawn(move || {
            let descriptor = LocalFs.open_dir(&path).unwrap();
            let _ = done.send(matches!(LocalFs.read_file_at(descriptor.as_fd(), "fifo", 100), Err(ReadError::NotRegular)));
        });
        assert_eq!(finished.recv_timeout(std::time::Duration::from_secs(10)), Ok(true));
    }

    #[test]
    fn the_checked_reader_lists_what_the_owner_alone_could_write_and_refuses_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("e"), "x=1\n").unwrap();
        let (uid, gid) = (nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw());
        let checked = CheckedFs { uid, gid };
        let names: Vec<OsString> = checked.read_dir(dir.path()).unwrap().into_iter().map(|(name, _)| name).collect();
        assert_eq!(names, [OsString::from("e")]);
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
        let refused = checked.read_dir(dir.path()).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::PermissionDenied);
        assert!(refused.to_string().contains("writable by everyone (mode 777)"), "{refused}");
    }

    #[test]
    fn a_file_longer_than_its_fstat_said_is_read_on_up_to_the_limit() {
        // /proc files say 0 bytes and have more: the case of a file that
        // grew between fstat and read.
        let whole = std::fs::read("/proc/self/cmdline").unwrap();
        assert!(whole.len() > 8, "{whole:?}");
        // /proc/self is a link, which a directory is never opened through.
        let fd = LocalFs.open_dir(Path::new(&format!("/proc/{}", std::process::id()))).unwrap();
        let read = |limit| LocalFs.read_file_at(fd.as_fd(), "cmdline", limit);
        assert_eq!(read(1 << 20).unwrap().0, whole);
        let limit = whole.len() as u64 - 5;
        assert!(matches!(read(limit), Err(ReadError::TooLarge(n)) if n == limit + 1), "never reads past limit + 1");
        assert_eq!(read(whole.len() as u64).unwrap().0, whole);
    }

    #[test]
    fn opening_never_follows_a_final_link_nor_waits_for_a_fifo_s_writer() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("target"), "x").unwrap();
        std::os::unix::fs::symlink("target", dir.path().join("link")).unwrap();
        assert_eq!(open_no_follow(&dir.path().join("link")).unwrap_err().raw_os_error(), Some(libc::ELOOP));
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || sender.send(open_no_follow(&fifo).is_ok()));
        assert_eq!(receiver.recv_timeout(std::time::Duration::from_secs(10)), Ok(true), "opened at once, no writer needed");
    }

    #[test]
    fn a_checked_tree_trusts_its_owner_s_files_and_root_s_unless_others_could_write_them() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e");
        std::fs::write(&path, "command=x\n").unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        let metadata = std::fs::symlink_metadata(&path).unwrap();
        let mine = CheckedFs { uid: metadata.uid(), gid: metadata.gid() };
        assert_eq!(mine.check(&metadata), Ok(()), "the owner's own file");
        let other_group = CheckedFs { gid: metadata.gid() + 1, ..mine };
        assert_eq!(other_group.check(&metadata), Ok(()), "not writable by its group");
        let mode = |mode| {
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
            std::fs::symlink_metadata(&path).unwrap()
        };
        let group_writable = mode(0o664);
        assert_eq!(mine.check(&group_writable), Ok(()), "writable by the owner's own group");
        assert_eq!(other_group.check(&group_writable), Err(format!("writable by group {} (mode 664)", metadata.gid())));
        assert_eq!(mine.check(&mode(0o646)), Err("writable by everyone (mode 646)".into()));
        mode(0o644);
        if metadata.uid() == 0 {
            let other = CheckedFs { uid: 4242, gid: 4242 };
            assert_eq!(other.check(&metadata), Ok(()), "a file of root's in a user's tree");
            nix::unistd::chown(&path, Some(nix::unistd::Uid::from_raw(4343)), None).unwrap();
            let foreign = std::fs::symlink_metadata(&path).unwrap();
            assert_eq!(other.check(&foreign), Err("owned by another user (uid 4343)".into()));
        }
    }
}
