//! What the SSH benchmarks share: a user made for the run, with a key that
//! an sshd on 127.0.0.11 accepts; both gone when it is dropped.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A benchmark's user and its sshd.
#[allow(dead_code, reason = "each benchmark crate that includes this module reads the fields it needs")]
pub struct SshSite {
    /// The user's name.
    pub user: String,
    /// Its home, below the site's directory.
    pub home: PathBuf,
    /// The sshd's port on 127.0.0.11.
    pub port: u16,
    sshd: Child,
}

impl SshSite {
    /// In `dir` (made 0755, so that the user reaches its home): the user
    /// `name` with a key, `client_config(port)` as its `~/.ssh/config`,
    /// and an sshd for it alone with `extra` configuration lines.
    pub fn start(dir: &Path, name: &str, client_config: impl Fn(u16) -> String, extra: &str) -> SshSite {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let home = dir.join(name);
        run("useradd", &["-m", "-d", home.to_str().unwrap(), "-s", "/bin/sh", name]);
        run("usermod", &["-p", "*", name]);
        let port = std::net::TcpListener::bind("127.0.0.11:0").unwrap().local_addr().unwrap().port();
        let ssh = home.join(".ssh");
        std::fs::create_dir_all(&ssh).unwrap();
        run("ssh-keygen", &["-q", "-t", "ed25519", "-N", "", "-f", ssh.join("id_ed25519").to_str().unwrap()]);
        std::fs::copy(ssh.join("id_ed25519.pub"), ssh.join("authorized_keys")).unwrap();
        std::fs::write(ssh.join("config"), client_config(port)).unwrap();
        run("chown", &["-R", &format!("{name}:{name}"), home.to_str().unwrap()]);
        run("ssh-keygen", &["-q", "-t", "ed25519", "-N", "", "-f", dir.join("host_key").to_str().unwrap()]);
        std::fs::create_dir_all("/run/sshd").unwrap();
        let config = format!(
            "ListenAddress 127.0.0.11:{port}\nHostKey {}\nPidFile {}\nUsePAM no\nPasswordAuthentication no\nStrictModes no\nAllowUsers {name}\nLogLevel ERROR\n{extra}",
            dir.join("host_key").display(),
            dir.join("sshd.pid").display()
        );
        std::fs::write(dir.join("sshd_config"), config).unwrap();
        let sshd =
            Command::new("/usr/sbin/sshd").args(["-D", "-e", "-f"]).arg(dir.join("sshd_config")).stderr(Stdio::null()).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.11", port)).is_err() {
            assert!(Instant::now() < deadline, "sshd did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        SshSite { user: name.to_owned(), home, port, sshd }
    }
}

impl Drop for SshSite {
    fn drop(&mut self) {
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
        let _ = Command::new("pkill").args(["-u", &self.user]).output();
        // userdel refuses a user whose processes have not yet ended.
        std::thread::sleep(Duration::from_millis(200));
        let _ = Command::new("userdel").args(["-r", "-f", &self.user]).output();
    }
}

/// Runs a set-up command; panics with its error output when it fails.
pub fn run(program: &str, args: &[&str]) {
    let output = Command::new(program).args(args).output().unwrap();
    assert!(output.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}
