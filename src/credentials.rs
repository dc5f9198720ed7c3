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

#[cfg(test)]
mod tests {
    use super::*;

    /// A field of this thread's `/proc` status, such as `Uid` or `Groups`.
    fn status(field: &str) -> String {
        let text = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        let line = text.lines().find(|l| l.starts_with(&format!("{field}:"))).unwrap_or_else(|| panic!("no {field} in {text}"));
        line[field.len() + 1..].split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn work_runs_with_the_user_s_file_system_ids_and_groups_and_nothing_else_changes() {
        let nobody =
            Account { name: "nobody".into(), uid: 65534, gid: 65534, groups: vec![65534, 4242], home: "/".into(), shell: "/bin/sh".into() };
        if !nix::unistd::geteuid().is_root() {
            assert!(as_user(&nobody, || ()).is_err(), "only root takes another user's credentials");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "root's").unwrap();
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let (uid, groups, read) =
            as_user(&nobody, || (status("Uid"), status("Groups"), std::fs::read(&secret))).expect("root takes nobody's credentials");
        // Real, effective, saved and file-system uids, in that order.
        let uids: Vec<&str> = uid.split(' ').collect();
        assert_eq!(uids.get(3), Some(&"65534"), "the file-system uid");
        assert_eq!(uids[..3], ["0", "0", "0"], "the real, effective and saved uids stay: {uid}");
        assert_eq!(groups, "4242 65534", "the groups, as the kernel lists them");
        assert_eq!(read.map_err(|e| e.kind()), Err(std::io::ErrorKind::PermissionDenied), "no capability bypasses the file's mode");
        assert_eq!(status("Uid").split(' ').nth(3), Some("0"), "the calling thread is untouched");
        assert_eq!(std::fs::read(&secret).unwrap(), b"root's");
    }
}
