//! Remote starts with the system OpenSSH client, run as the event's owner
//! (so their `~/.ssh/config`, keys and `known_hosts` apply), never
//! prompting (`BatchMode=yes`).
//!
//! Connections are shared: one master per (owner, login, host) in a
//! directory only the owner can read, kept `ssh_control_persist` seconds
//! (0: no sharing, a connection per job).
//! The control path is ours (a hash of login and host), so the daemon
//! checks a master's liveness with one `connect()`; a dead master's socket
//! is removed and a new master started before the job. Jobs use
//! `ControlMaster=no`: if the master vanished meanwhile they connect on
//! their own, and a job's ssh never becomes a long-lived master holding its
//! output pipes open.

use std::hash::{Hash, Hasher};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Semaphore;

use super::{Attempt, ExecConfig, Target, Wait, from_finished, watched};
use crate::account::Account;
use crate::engine::{Failure, Outcome};

/// Runs `command` on the target host as its login.
pub(super) async fn run(target: &Target<'_>, command: &str) -> Attempt {
    let Target { config, activation, owner, login, host, .. } = *target;
    let started = Instant::now();
    let (control, log) = match control_paths(config, owner, login, host) {
        Ok(paths) => paths,
        Err(error) => {
            return target.name(super::failed_start(format!("cannot prepare {}: {error}", config.control_dir.display()), started));
        }
    };
    bound_log(&log);
    let shared = config.control_persist > 0;
    if shared && !as_owner(config, owner, || std::os::unix::net::UnixStream::connect(&control).is_ok()).unwrap_or(false) {
        let _ = std::fs::remove_file(&control);
        // ssh, running as the owner, creates its log again.
        let _ = std::fs::remove_file(&log);
        if let Some(failed) = start_master(target, &control, &log).await {
            return failed;
        }
    }
    let mut argv = base(config, if shared { &control } else { Path::new("none") }, &log);
    argv.extend(["-o".into(), "ControlMaster=no".into()]);
    match (activation.exec_wait, activation.exec_timeout) {
        (false, _) => argv.extend(["-f".into(), "-n".into()]),
        // A terminal, so that killing ssh at the timeout hangs the remote command up.
        (true, Some(_)) => argv.extend(["-n".into(), "-tt".into()]),
        (true, None) => argv.push("-n".into()),
    }
    argv.extend(["-l".into(), login.into(), host.into(), command.into()]);
    let permits = shared.then(|| {
        let mut sessions = config.sessions.lock().expect("sessions lock");
        sessions.entry(control.clone()).or_insert_with(|| Arc::new(Semaphore::new(super::MAX_SESSIONS_PER_MASTER))).clone()
    });
    let _session = match &permits {
        Some(permits) => Some(permits.acquire().await.expect("never closed")),
        None => None,
    };
    let mut request = target.request(argv);
    let timeout_ms = config.spawn_timeout.as_millis() as u64;
    request.wait = Some(request.wait.unwrap_or(Wait { timeout_ms, capture: None }));
    let finished = match watched(config, request).await {
        Ok(finished) => finished,
        Err(error) => return target.name(super::failed_start(error.to_string(), started)),
    };
    let timed_out = finished.timed_out;
    let mut attempt = from_finished(finished, activation.exec_wait, started);
    let rv = attempt.spawned.as_ref().map_or(1, |s| s.rv);
    if !activation.exec_wait && timed_out {
        attempt.alarm = Some(format!("execute timeout expired ({})", config.spawn_timeout.as_secs()));
    }
    // Only the connection counts against a host, never the remote command.
    attempt.connection_failed = rv == 255 || (!activation.exec_wait && timed_out);
    if attempt.connection_failed {
        attempt.reason = log_reason(config, owner, &log).unwrap_or_else(|| attempt.reason.clone());
        attempt.outcome = Outcome::Failure(Failure::Unreachable(format!("({host}): {}", attempt.reason)));
    }
    target.name(attempt)
}

/// Starts the master connection; `Some` when it failed (the job's attempt).
async fn start_master(target: &Target<'_>, control: &Path, log: &Path) -> Option<Attempt> {
    let Target { config, owner, login, host, .. } = *target;
    let started = Instant::now();
    let mut argv = base(config, control, log);
    argv.extend(["-M".into(), "-N".into(), "-f".into(), "-o".into(), format!("ControlPersist={}", config.control_persist)]);
    argv.extend(["-l".into(), login.into(), host.into()]);
    let mut request = target.request(argv);
    request.wait = Some(Wait { timeout_ms: config.spawn_timeout.as_millis() as u64, capture: None });
    let finished = match watched(config, request).await {
        Ok(finished) => finished,
        Err(error) => return Some(target.name(super::failed_start(error.to_string(), started))),
    };
    if finished.status == Some(0) {
        return None;
    }
    let timed_out = finished.timed_out;
    let mut attempt = from_finished(finished, false, started);
    if timed_out {
        attempt.alarm = Some(format!("execute timeout expired ({})", config.spawn_timeout.as_secs()));
    }
    attempt.connection_failed = true;
    attempt.reason = log_reason(config, owner, log).unwrap_or(if timed_out { "connection timed out".into() } else { attempt.reason });
    attempt.outcome = Outcome::Failure(Failure::Unreachable(format!("({host}): {}", attempt.reason)));
    Some(target.name(attempt))
}

/// The options every invocation shares. A job's HCRON_* variables are sent
/// to a server whose sshd accepts them (`AcceptEnv HCRON_*`): HCRON_JOB_ID
/// tells `hcron` it runs in a job. A master decides what its sessions send,
/// so it has the option too.
fn base(config: &ExecConfig, control: &Path, log: &Path) -> Vec<String> {
    let timeout = config.spawn_timeout.as_secs().max(1);
    vec![
        config.remote_shell_exec.display().to_string(),
        "-o".into(),
        "BatchMode=yes".into(),
        "-o".into(),
        "SendEnv=HCRON_*".into(),
        "-o".into(),
        format!("ConnectTimeout={timeout}"),
        "-o".into(),
        format!("ControlPath={}", control.display()),
        "-E".into(),
        log.display().to_string(),
    ]
}

/// The owner's master socket and ssh log for (login, host), in a directory
/// only the owner can read.
fn control_paths(config: &ExecConfig, owner: &Account, login: &str, host: &str) -> std::io::Result<(PathBuf, PathBuf)> {
    let dir = config.control_dir.join(&owner.name);
    match std::fs::symlink_metadata(&dir) {
        Ok(metadata) if metadata.is_dir() => {}
        // Never chmod or chown through a link.
        Ok(_) => return Err(std::io::Error::other(format!("{} is not a directory", dir.display()))),
        Err(_) => {
            // Each owner's ssh runs as them and must reach their own directory.
            crate::state_files::create_dirs(&config.control_dir, 0o711)?;
            crate::state_files::create_dirs(&dir, 0o700)?;
        }
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    if config.switch_user {
        nix::unistd::chown(&dir, Some(nix::unistd::Uid::from_raw(owner.uid)), Some(nix::unistd::Gid::from_raw(owner.gid)))?;
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (login, host).hash(&mut hasher);
    let name = format!("{:016x}", hasher.finish());
    Ok((dir.join(&name), dir.join(format!("{name}.log"))))
}

/// The size past which ssh's log is started afresh.
const MAX_LOG: u64 = 64 << 10;

/// ssh appends to its log at every connection: the log is started afresh
/// once past [`MAX_LOG`] (unlinking a name never follows it).
fn bound_log(log: &Path) {
    if std::fs::symlink_metadata(log).is_ok_and(|m| m.len() > MAX_LOG) {
        let _ = std::fs::remove_file(log);
    }
}

/// How much of the end of ssh's log is read for its last line.
const LOG_TAIL: u64 = 4096;

/// The longest reason taken from ssh's log, in characters.
const MAX_REASON: usize = 300;

/// The last line of ssh's log. The log lives in a directory its owner can
/// write, so the root daemon reads it with the owner's credentials, without
/// following a link, and only if it is a regular file of the owner's: no
/// file the owner could not read, or that is someone else's, ever shows.
/// (The master's liveness check connects with the owner's credentials too.)
fn log_reason(config: &ExecConfig, owner: &Account, log: &Path) -> Option<String> {
    last_line(&as_owner(config, owner, || tail(log, owner.uid))??)
}

/// Runs `work` with the owner's file-system credentials when the daemon
/// runs as root (for paths in the owner's control directory, which the
/// owner can change under us); `None` when they cannot be taken.
fn as_owner<T: Send>(config: &ExecConfig, owner: &Account, work: impl FnOnce() -> T + Send) -> Option<T> {
    if config.switch_user { crate::credentials::as_user(owner, work).ok() } else { Some(work()) }
}

/// The last [`LOG_TAIL`] bytes of the regular file at `path` owned by `uid`.
fn tail(path: &Path, uid: u32) -> Option<String> {
    use std::io::{Read, Seek};
    use std::os::unix::fs::MetadataExt;
    let mut file = crate::tree::fs::open_no_follow(path).ok()?;
    let metadata = file.metadata().ok()?;
    if !metadata.is_file() || metadata.uid() != uid {
        return None;
    }
    file.seek(std::io::SeekFrom::Start(metadata.len().saturating_sub(LOG_TAIL))).ok()?;
    let mut bytes = Vec::new();
    file.take(LOG_TAIL).read_to_end(&mut bytes).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The last non-empty line of `text`, trimmed, at most [`MAX_REASON`] characters.
fn last_line(text: &str) -> Option<String> {
    let line = text.lines().map(|l| l.trim_end_matches('\r').trim()).rfind(|l| !l.is_empty())?;
    Some(line.chars().take(MAX_REASON).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ssh_log_is_started_afresh_once_past_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let full = vec![b'x'; 64 << 10];
        std::fs::write(&log, &full).unwrap();
        bound_log(&log);
        assert!(log.exists(), "kept at exactly the bound");
        std::fs::write(&log, [&full[..], b"y"].concat()).unwrap();
        bound_log(&log);
        assert!(!log.exists(), "removed past it");
    }

    #[test]
    fn every_ssh_never_prompts_shares_the_master_and_logs_where_the_daemon_reads() {
        let config = super::super::tests::config();
        let expected = [
            "/usr/bin/ssh",
            "-o",
            "BatchMode=yes",
            "-o",
            "SendEnv=HCRON_*",
            "-o",
            "ConnectTimeout=5",
            "-o",
            "ControlPath=/run/hcron/ssh/alice/0f",
            "-E",
            "/run/hcron/ssh/alice/0f.log",
        ];
        assert_eq!(base(&config, Path::new("/run/hcron/ssh/alice/0f"), Path::new("/run/hcron/ssh/alice/0f.log")), expected);
        let no_budget = ExecConfig { spawn_timeout: std::time::Duration::ZERO, ..config };
        assert_eq!(base(&no_budget, Path::new("c"), Path::new("l"))[6], "ConnectTimeout=1", "ssh takes 0 as no timeout at all");
    }
}
