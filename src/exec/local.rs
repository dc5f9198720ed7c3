//! Starting a command on this machine as a user: the login shell, the
//! user's uid, primary gid and supplementary groups, a clean environment,
//! a session of its own, stdin from /dev/null. Started means success (the
//! original's spawn semantics); the process is reaped in the background.

use std::io;
use std::process::Stdio;

use crate::account::Account;

/// Starts `command` through `owner`'s login shell and returns its pid.
/// With `switch_user`, the child takes `owner`'s credentials first.
pub fn spawn_local(owner: &Account, command: &str, env: &[(String, String)], switch_user: bool) -> io::Result<u32> {
    let mut child = tokio::process::Command::new(&owner.shell);
    child.arg("-c").arg(command).env_clear().envs(env.iter().cloned()).current_dir(&owner.home);
    child.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let (uid, gid, groups) = (owner.uid, owner.gid, owner.groups.clone());
    // SAFETY: between fork and exec only system calls run; everything they
    // use was prepared before the fork.
    unsafe {
        child.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            let switched = !switch_user
                || (libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) == 0
                    && libc::setgid(gid) == 0
                    && libc::setuid(uid) == 0);
            if !switched {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = child.spawn()?;
    // Dropping the handle leaves the command running; tokio reaps it.
    child.id().ok_or_else(|| io::Error::other("the command exited before its pid was read"))
}
