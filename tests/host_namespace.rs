//! A program run as another host: its own host name and `/etc/hosts`
//! (shared by the tests and the corpus tool, which includes this file).

use std::path::Path;
use std::process::Command;

/// Runs `program` in UTS and mount namespaces of its own: its host name is
/// `host` and its `/etc/hosts` is `hosts` (written under `dir`). As root by
/// `unshare(2)` in the child; otherwise through `unshare --map-root-user`
/// (a user namespace, where the caller is root).
pub fn as_host(program: &[&str], host: &str, hosts: &str, dir: &Path) -> Command {
    let hosts_file = dir.join(".hosts");
    std::fs::write(&hosts_file, hosts).unwrap();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        let script = format!("mount --bind {} /etc/hosts && hostname {host} && exec \"$@\"", hosts_file.display());
        let mut command = Command::new("unshare");
        command.args(["--uts", "--mount", "--map-root-user", "sh", "-c", &script, "sh"]).args(program);
        return command;
    }
    let hosts_file = std::ffi::CString::new(hosts_file.into_os_string().into_encoded_bytes()).unwrap();
    let host = host.to_owned();
    let mut command = Command::new(program[0]);
    command.args(&program[1..]);
    // SAFETY: only system calls between fork and exec, on data made before the fork.
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(move || {
            let fail = || Err(std::io::Error::last_os_error());
            if libc::unshare(libc::CLONE_NEWUTS | libc::CLONE_NEWNS) != 0 {
                return fail();
            }
            let none = std::ptr::null();
            if libc::mount(none, c"/".as_ptr(), none, libc::MS_REC | libc::MS_PRIVATE, std::ptr::null()) != 0
                || libc::mount(hosts_file.as_ptr(), c"/etc/hosts".as_ptr(), none, libc::MS_BIND, std::ptr::null()) != 0
                || libc::sethostname(host.as_ptr().cast(), host.len()) != 0
            {
                return fail();
            }
            Ok(())
        });
    }
    command
}
