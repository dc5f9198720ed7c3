//! Asking a scheduler on another host: `ssh HOST hcron relay` as the
//! calling user, with the system OpenSSH client (the user's
//! `~/.ssh/config`, keys, agent and known_hosts apply; it never prompts),
//! the request on its standard input and the answer on its standard
//! output. Repeated commands share one master connection per server,
//! kept for a minute after the last.

use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::hostfile::Server;
use crate::control::MAX_FRAME;

/// What `hcron relay` writes before the answer's frame: whatever a login
/// script printed before it is skipped.
pub const MARKER: &[u8] = b"\nhcron-relay/1\n";

/// The command run on the server.
const RELAY: &str = "hcron relay";

/// How long a master connection outlives its last use, in seconds.
const PERSIST: u64 = 60;

/// Sends `frame` (one encoded request) to the relay on `server`; the
/// answer's payload, or why the server could not be reached.
pub fn call(server: &Server, frame: &[u8], connect_timeout: Duration) -> Result<Vec<u8>, String> {
    let mut command = Command::new("ssh");
    command.args(options(connect_timeout, master_dir().as_deref()));
    if let Some(port) = server.port {
        command.arg("-p").arg(port.to_string());
    }
    command.arg("--").arg(&server.host).arg(RELAY);
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|e| format!("cannot run ssh: {e}"))?;
    let (mut stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    // An ssh that fails at once has closed its input: the write must fail,
    // not kill hcron (which takes SIGPIPE's default for `hcron ... | head`).
    let _ignored = IgnoredSigpipe::new();
    let (out, err) = std::thread::scope(|scope| {
        let err = scope.spawn(|| read_bounded(stderr, 64 << 10));
        let out = scope.spawn(|| read_bounded(stdout, MAX_FRAME as usize + (1 << 20)));
        // A relay that fails early closes its input: what it says matters, not the broken pipe.
        let _ = stdin.as_mut().map(|stdin| stdin.write_all(frame));
        drop(stdin);
        (out.join().unwrap_or_default(), err.join().unwrap_or_default())
    });
    let status = child.wait().map_err(|e| format!("cannot wait for ssh: {e}"))?;
    if !status.success() {
        let said = String::from_utf8_lossy(&err);
        let last = said.lines().map(str::trim).rfind(|l| !l.is_empty());
        return Err(last.map_or_else(|| format!("ssh ended with {status}"), str::to_owned));
    }
    answer(&out).ok_or_else(|| "the relay's answer was cut short or garbled".to_owned())
}

/// SIGPIPE ignored while it lives, its previous disposition restored after.
struct IgnoredSigpipe(libc::sighandler_t);

impl IgnoredSigpipe {
    fn new() -> IgnoredSigpipe {
        // SAFETY: SIG_IGN is a valid disposition; the previous one is kept to be put back.
        IgnoredSigpipe(unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) })
    }
}

impl Drop for IgnoredSigpipe {
    fn drop(&mut self) {
        // SAFETY: restores the disposition `new` replaced.
        unsafe { libc::signal(libc::SIGPIPE, self.0) };
    }
}

/// The payload of the frame after the last [`MARKER`] of a relay's output.
fn answer(output: &[u8]) -> Option<Vec<u8>> {
    let at = output.windows(MARKER.len()).rposition(|w| w == MARKER)?;
    let mut rest = &output[at + MARKER.len()..];
    let payload = crate::control::read_frame(&mut rest, MAX_FRAME as usize).ok()?;
    rest.is_empty().then_some(payload)
}

/// The first `limit` bytes of `source`; the rest is read and dropped, so
/// that ssh never blocks on a full pipe.
fn read_bounded(source: Option<impl Read>, limit: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    if let Some(mut source) = source {
        let _ = source.by_ref().take(limit as u64).read_to_end(&mut bytes);
        let _ = std::io::copy(&mut source, &mut std::io::sink());
    }
    bytes
}

/// ssh's options: no prompts, no terminal, no forwarding, dead connections
/// noticed, and the master connection in `masters` when there is one.
fn options(connect_timeout: Duration, masters: Option<&Path>) -> Vec<String> {
    let mut options: Vec<String> =
        ["-T", "-a", "-x", "-o", "BatchMode=yes", "-o", "ServerAliveInterval=10", "-o", "ServerAliveCountMax=3"].map(str::to_owned).into();
    options.extend(["-o".into(), format!("ConnectTimeout={}", connect_timeout.as_secs_f64().ceil().max(1.0))]);
    if let Some(dir) = masters {
        for option in ["ControlMaster=auto".to_owned(), format!("ControlPath={}/%C", dir.display()), format!("ControlPersist={PERSIST}")] {
            options.extend(["-o".into(), option]);
        }
    }
    options
}

/// The longest socket path the kernel takes, less its final NUL.
const SUN_PATH: usize = 107;

/// How much ssh adds to the master's directory: `/`, `%C` (40 hex
/// digits), and the 17 characters of the temporary name it binds first.
const CONTROL_NAME: usize = 1 + 40 + 17;

/// The directory of the caller's master connections: `$XDG_RUNTIME_DIR/hcron`
/// (local and private), else `~/.hcron/ssh`; made mode 0700 if missing, and
/// used only if it is a directory of the caller's that nobody else may
/// enter and short enough for a socket path. `None`: no master, every
/// command its own connection.
fn master_dir() -> Option<PathBuf> {
    let dir = masters_in(std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from), crate::account::caller_home())?;
    let _ = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir);
    private_dir(&dir).then_some(dir)
}

/// Where masters go: `runtime/hcron` when `runtime` is an absolute path to
/// a directory, else `home/.hcron/ssh`.
fn masters_in(runtime: Option<PathBuf>, home: Option<PathBuf>) -> Option<PathBuf> {
    match runtime {
        Some(runtime) if runtime.is_absolute() && runtime.is_dir() => Some(runtime.join("hcron")),
        _ => Some(home?.join(".hcron").join("ssh")),
    }
}

/// Whether `dir` is a directory (not a link to one) that the caller owns,
/// that no one else may enter or write, with room for a master's socket.
fn private_dir(dir: &Path) -> bool {
    let fits = dir.as_os_str().len() + CONTROL_NAME <= SUN_PATH;
    let ours = |m: &std::fs::Metadata| m.is_dir() && m.uid() == nix::unistd::geteuid().as_raw() && m.mode() & 0o077 == 0;
    fits && std::fs::symlink_metadata(dir).is_ok_and(|m| ours(&m))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_answer_is_the_one_frame_after_the_last_marker() {
        let frame = crate::control::encode(&crate::control::Response::Unloaded);
        let with = |before: &[u8], after: &[u8]| [before, MARKER, &frame, after].concat();
        let payload = frame[4..].to_vec();
        assert_eq!(answer(&with(b"", b"")), Some(payload.clone()));
        assert_eq!(answer(&with(b"Welcome!\nhcron-relay/0\n", b"")), Some(payload.clone()), "a login script's chatter is skipped");
        assert_eq!(answer(&[MARKER, &with(b"", b"")].concat()), Some(payload), "the last marker counts");
        assert_eq!(answer(&with(b"", b"x")), None, "bytes after the frame");
        assert_eq!(answer(&with(b"", b"")[..MARKER.len() + frame.len() - 1]), None, "a frame cut short");
        assert_eq!(answer(&frame), None, "no marker");
        assert_eq!(answer(b""), None);
    }

    #[test]
    fn ssh_never_prompts_or_forwards_and_shares_a_master_only_when_it_has_a_directory() {
        let without = options(Duration::from_millis(2500), None);
        assert_eq!(without.join(" "), "-T -a -x -o BatchMode=yes -o ServerAliveInterval=10 -o ServerAliveCountMax=3 -o ConnectTimeout=3");
        assert!(options(Duration::ZERO, None).contains(&"ConnectTimeout=1".to_owned()), "0 would mean the system's own timeout");
        let with = options(Duration::from_secs(10), Some(Path::new("/run/user/1/hcron")));
        assert_eq!(with[..without.len() - 1], without[..without.len() - 1]);
        assert_eq!(
            with[without.len() - 1..].join(" "),
            "ConnectTimeout=10 -o ControlMaster=auto -o ControlPath=/run/user/1/hcron/%C -o ControlPersist=60"
        );
    }

    #[test]
    fn masters_go_in_the_runtime_directory_when_it_is_one_else_under_home() {
        let runtime = tempfile::tempdir().unwrap();
        let home = Some(PathBuf::from("/home/u"));
        let under_home = Some(PathBuf::from("/home/u/.hcron/ssh"));
        assert_eq!(masters_in(Some(runtime.path().into()), home.clone()), Some(runtime.path().join("hcron")));
        assert_eq!(masters_in(Some("relative".into()), home.clone()), under_home, "a relative runtime directory");
        assert_eq!(masters_in(Some(runtime.path().join("missing")), home.clone()), under_home, "no such directory");
        assert_eq!(masters_in(None, home), under_home);
        assert_eq!(masters_in(None, None), None);
    }

    #[test]
    fn a_master_directory_must_be_private_and_short() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("m");
        std::fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
        assert!(private_dir(&dir));
        for mode in [0o750, 0o705, 0o701, 0o720] {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
            assert!(!private_dir(&dir), "mode {mode:o}");
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let link = base.path().join("l");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        assert!(!private_dir(&link), "a link to a directory");
        std::fs::write(base.path().join("f"), "").unwrap();
        std::fs::set_permissions(base.path().join("f"), std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(!private_dir(&base.path().join("f")), "a file");
        // 108 bytes of sun_path, less the NUL, "/", %C's 40 and ssh's 17 of its temporary name.
        let room = 108 - 1 - 1 - 40 - 17;
        let long = base.path().join("x".repeat(room - base.path().as_os_str().len() - 1));
        std::fs::DirBuilder::new().mode(0o700).create(&long).unwrap();
        assert_eq!(long.as_os_str().len(), room);
        assert!(private_dir(&long), "exactly the room a socket path has");
        let longer = base.path().join("x".repeat(room - base.path().as_os_str().len()));
        std::fs::DirBuilder::new().mode(0o700).create(&longer).unwrap();
        assert!(!private_dir(&longer), "one byte too long");
        if nix::unistd::geteuid().is_root() {
            std::os::unix::fs::chown(&dir, Some(65534), None).unwrap();
            assert!(!private_dir(&dir), "another user's directory");
        }
    }
}
