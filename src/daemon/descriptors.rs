//! Descriptor hygiene at start-up: what the daemon's parent left open must
//! not reach what the daemon starts.

/// Marks every inherited descriptor but the standard streams close-on-exec
/// (one `close_range`): a launcher's leaked descriptor must not reach
/// the programs the daemon starts itself (ssh, sendmail). The standard
/// streams are open already: Rust's runtime opens `/dev/null` on any of
/// them that was closed, before `main`, so no file the daemon opens can
/// take their numbers.
pub fn sanitize() {
    // SAFETY: sets a flag on descriptors from 3 up; none is closed.
    if unsafe { libc::close_range(3, libc::c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC as libc::c_int) } != 0 {
        eprintln!("hcron-scheduler: cannot mark inherited descriptors close-on-exec: {}", std::io::Error::last_os_error());
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
