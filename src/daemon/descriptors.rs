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
