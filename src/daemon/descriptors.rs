//! Descriptor hygiene at start-up: what the daemon's parent left open must
//! not reach what the daemon starts.

use std::os::fd::RawFd;

/// Opens `/dev/null` on standard input, output and error where they are
/// closed (so no file the daemon opens later becomes one of them), and
/// marks every other inherited descriptor close-on-exec.
pub fn sanitize() {
    for fd in 0..3 {
        // SAFETY: F_GETFD only asks whether the descriptor is open.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            // SAFETY: opening /dev/null; the lowest free number is `fd`.
            unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        }
    }
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else { return };
    let inherited: Vec<RawFd> = entries.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).filter(|&fd| fd > 2).collect();
    for fd in inherited {
        // SAFETY: setting a flag on a descriptor number; one that was the
        // directory listing's own and is closed now fails harmlessly.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
}

/// Raises the soft limit on open descriptors to the hard limit: the daemon
/// holds a connection per client and reads trees while they are open, and
/// running out would fail an accept or a user lookup. Called after the
/// spawner starts, so that jobs keep the limit the daemon was given.
pub fn raise_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
        && let Err(error) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard)
    {
        eprintln!("hcron-scheduler: cannot raise the descriptor limit from {soft} to {hard}: {error}");
    }
}
