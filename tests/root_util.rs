//! Root-only test fixtures: users made for a test, and a root daemon's
//! configuration in a temporary directory.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bounded::Bounded;
use crate::daemon_util::RunningDaemon;

/// Holds the lock that makes account changes one at a time: useradd and
/// friends lock /etc/passwd and fail when run concurrently, from the
/// threads of one test binary (cargo test) or from its processes (nextest,
/// one process a test), so the lock is a file's: flock excludes both.
fn accounts_lock() -> nix::fcntl::Flock<std::fs::File> {
    let file = std::fs::File::create(concat!(env!("CARGO_TARGET_TMPDIR"), "/accounts.lock")).unwrap();
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, errno)| errno).unwrap()
}

/// A user and a supplementary group made for one test, removed on drop.
pub struct TestUser {
    pub name: String,
    pub group: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

impl TestUser {
    pub fn create(tag: &str, base: &Path) -> TestUser {
        let _one_at_a_time = accounts_lock();
        assert!(nix::unistd::geteuid().is_root(), "these tests create users: run them as root (CI does)");
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("hct{}{tag}{n}", std::process::id() % 100_000);
        let group = format!("{name}g");
        let home = base.join(&name);
        run("groupadd", &[&group]);
        run("useradd", &["-m", "-d", home.to_str().unwrap(), "-s", "/bin/sh", "-G", &group, &name]);
        let account = hcron::account::Account::by_name(&name).unwrap();
        TestUser { name, group, uid: account.uid, gid: account.gid, home }
    }

    pub fn events(&self) -> PathBuf {
        self.home.join(".hcron/testserver/events")
    }

    /// Writes an event file owned by the user.
    pub fn event(&self, name: &str, content: &str) {
        let path = self.events().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        run("chown", &["-R", &format!("{}:{}", self.name, self.name), self.home.join(".hcron").to_str().unwrap()]);
    }

    pub fn as_ids(&self) -> Option<(u32, u32)> {
        Some((self.uid, self.gid))
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _one_at_a_time = accounts_lock();
        let _ = Command::new("userdel").args(["-r", "-f", &self.name]).output_bounded();
        let _ = Command::new("groupdel").arg(&self.group).output_bounded();
    }
}

pub fn run(program: &str, args: &[&str]) {
    let output = Command::new(program).args(args).output_bounded().unwrap();
    assert!(output.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// A root daemon's configuration in a temporary directory.
pub struct RootSetup {
    pub dir: tempfile::TempDir,
}

impl RootSetup {
    pub fn new(allow: &[&str], extra: &str) -> RootSetup {
        let dir = tempfile::tempdir().unwrap();
        // Users must be able to reach their homes below it.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let etc = dir.path().join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        let config = format!(
            "server_name = \"testserver\"\nallow_localhost = true\ncontrol_socket = \"{0}/run/control.sock\"\nhistory_path = \"{0}/lib/history.sqlite\"\nlog_path = \"{0}/log/hcron.log\"\n{extra}",
            dir.path().display()
        );
        std::fs::write(etc.join("hcron.toml"), config).unwrap();
        std::fs::write(etc.join("hcron.allow"), allow.join("\n") + "\n").unwrap();
        RootSetup { dir }
    }

    pub fn homes(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    pub fn start(&self) -> RunningDaemon {
        self.start_with(|_| {})
    }

    /// As [`RootSetup::start`], with the command changed by `customize` first.
    pub fn start_with(&self, customize: impl FnOnce(&mut std::process::Command)) -> RunningDaemon {
        let root = self.dir.path();
        RunningDaemon::root_with(&root.join("etc/hcron.toml"), root.join("run/control.sock"), root.join("log/hcron.log"), customize)
    }
}
