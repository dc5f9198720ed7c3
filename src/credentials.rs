//! Doing file-system work as another user, from the root daemon, without
//! changing the process's credentials (decisions 9).
//!
//! Linux keeps credentials per thread; glibc's wrappers broadcast changes
//! to every thread, so the raw system calls are used on a thread of our
//! own. Threads it starts inherit them. Changing the file-system uid from 0
//! drops the capabilities that would bypass permission checks.

use std::io;

use crate::account::Account;

/// Runs `work` on a new thread whose file-system uid and gid and
/// supplementary groups are `account`'s, and returns its result.
pub fn as_user<T: Send>(account: &Account, work: impl FnOnce() -> T + Send) -> io::Result<T> {
    std::thread::scope(|scope| {
        let worker = scope.spawn(|| -> io::Result<T> {
            switch_this_thread(account)?;
            Ok(work())
        });
        worker.join().map_err(|_| io::Error::other("the worker thread panicked"))?
    })
}

fn switch_this_thread(account: &Account) -> io::Result<()> {
    let groups: Vec<libc::gid_t> = account.groups.clone();
    // SAFETY: plain system calls on this thread with valid arguments; the
    // group list outlives the call.
    unsafe {
        if libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
        libc::syscall(libc::SYS_setfsgid, account.gid);
        libc::syscall(libc::SYS_setfsuid, account.uid);
        // setfs[ug]id report the previous value, not errors: check the result.
        let uid = libc::syscall(libc::SYS_setfsuid, u32::MAX) as u32;
        let gid = libc::syscall(libc::SYS_setfsgid, u32::MAX) as u32;
        if (uid, gid) != (account.uid, account.gid) {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, format!("cannot take the credentials of {}", account.name)));
        }
    }
    Ok(())
}
