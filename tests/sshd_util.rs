//! A real OpenSSH server on loopback addresses for one test user, and that
//! user's client keys and configuration.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::bounded::Bounded;
use crate::daemon_util::eventually;
use crate::root_util::{TestUser, run};

/// An sshd for one user, on one port of several addresses; killed on drop.
pub struct Sshd {
    child: Child,
    /// The port it listens on, on every address.
    pub port: u16,
    /// Its log, which says each connection it accepts.
    log: PathBuf,
}

impl Sshd {
    /// Starts an sshd in `dir` on `addresses` (127.0.0.x) for `user` only,
    /// with `extra` appended to its configuration (`Match` blocks, ...).
    pub fn start(dir: &Path, addresses: &[&str], user: &TestUser, extra: &str) -> Sshd {
        let port = free_port(addresses[0]);
        std::fs::create_dir_all(dir).unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        run("ssh-keygen", &["-q", "-t", "ed25519", "-N", "", "-f", dir.join("host_key").to_str().unwrap()]);
        let listen: String = addresses.iter().map(|a| format!("ListenAddress {a}:{port}\n")).collect();
        let config = format!(
            "{listen}HostKey {}\nPidFile {}\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nStrictModes no\n\
             MaxStartups 100:30:200\nMaxSessions 100\nAllowUsers {}\nLogLevel INFO\n{extra}",
            dir.join("host_key").display(),
            dir.join("sshd.pid").display(),
            user.name
        );
        std::fs::write(dir.join("sshd_config"), config).unwrap();
        let log = dir.join("sshd.log");
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-E"])
            .arg(&log)
            .arg("-f")
            .arg(dir.join("sshd_config"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let up = eventually(Duration::from_secs(5), || std::net::TcpStream::connect((addresses[0], port)).is_ok());
        assert!(up, "sshd did not start: {}", std::fs::read_to_string(&log).unwrap_or_default());
        Sshd { child, port, log }
    }

    /// How many connections it has accepted so far.
    pub fn connections(&self) -> usize {
        std::fs::read_to_string(&self.log).unwrap_or_default().matches("Accepted publickey for ").count()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Gives `user` a key that sshd accepts and `client_config` as `~/.ssh/config`.
pub fn give_keys(user: &TestUser, client_config: &str) {
    let ssh = user.home.join(".ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    run("usermod", &["-p", "*", &user.name]);
    run("ssh-keygen", &["-q", "-t", "ed25519", "-N", "", "-f", ssh.join("id_ed25519").to_str().unwrap()]);
    std::fs::copy(ssh.join("id_ed25519.pub"), ssh.join("authorized_keys")).unwrap();
    std::fs::write(ssh.join("config"), client_config).unwrap();
    run("chown", &["-R", &format!("{0}:{0}", user.name), ssh.to_str().unwrap()]);
}

/// A port free on `address` just now.
fn free_port(address: &str) -> u16 {
    let listener = std::net::TcpListener::bind((address, 0)).unwrap();
    listener.local_addr().unwrap().port()
}

/// Drops packets to `address:port` (an nftables table of its own) until dropped.
pub struct DropRule {
    table: String,
}

impl DropRule {
    /// Connections to `address:port` time out from now on.
    pub fn add(name: &str, address: &str, port: u16) -> DropRule {
        let table = format!("hcron_test_{name}");
        run("nft", &["add", "table", "inet", &table]);
        run("nft", &["add", "chain", "inet", &table, "out", "{ type filter hook output priority 0; }"]);
        run("nft", &["add", "rule", "inet", &table, "out", "ip", "daddr", address, "tcp", "dport", &port.to_string(), "drop"]);
        DropRule { table }
    }
}

impl Drop for DropRule {
    fn drop(&mut self) {
        let _ = Command::new("nft").args(["delete", "table", "inet", &self.table]).output_bounded();
    }
}
