//! Running a job's command: validation (§11.1), where it runs, and how it
//! went. Local execution is here; remote hosts come with SSH.

mod spawner;

use std::collections::HashSet;
use std::time::Instant;

use crate::account::Account;
use crate::engine::{Activation, Job, Outcome};

pub use spawner::{SpawnRequest, Spawner};

/// What the executor needs from the configuration, and the spawner.
#[derive(Clone)]
pub struct ExecConfig {
    /// `allow_localhost`.
    pub allow_localhost: bool,
    /// `allow_root_events`.
    pub allow_root_events: bool,
    /// `error_on_empty_command`.
    pub error_on_empty_command: bool,
    /// `remote_shell_type`.
    pub remote_shell_type: String,
    /// Names and addresses that mean this machine.
    pub local_names: HashSet<String>,
    /// Whether to switch to the owner's uid, gid and groups (the root daemon).
    pub switch_user: bool,
    /// Starts local commands.
    pub spawner: std::sync::Arc<Spawner>,
    /// `command_spawn_timeout`: how long a start may take.
    pub spawn_timeout: std::time::Duration,
}

/// A spawn that happened, for the `execute` log line and the history.
#[derive(Debug, Clone, PartialEq)]
pub struct Spawned {
    /// The login the command ran as.
    pub as_user: String,
    /// The host.
    pub host: String,
    /// The child's pid, when it started.
    pub pid: Option<u32>,
    /// §11.2 result code: 0 started, 1 could not start, ...
    pub rv: i32,
    /// Seconds the spawn took.
    pub elapsed: f64,
}

/// How an execution went.
#[derive(Debug, Clone, PartialEq)]
pub struct Execution {
    /// Success or failure (and why).
    pub outcome: Outcome,
    /// The spawn, when one was attempted.
    pub spawned: Option<Spawned>,
    /// A refusal to log (`handle_job (...)`), when validation failed.
    pub refusal: Option<String>,
    /// An `alarm` message, when the start took too long.
    pub alarm: Option<String>,
}

impl Execution {
    fn done(outcome: Outcome) -> Execution {
        Execution { outcome, spawned: None, refusal: None, alarm: None }
    }

    fn refused(message: String) -> Execution {
        Execution { outcome: Outcome::Failure(message.clone()), spawned: None, refusal: Some(message), alarm: None }
    }

    fn spawn_failed(why: String, spawned: Spawned) -> Execution {
        Execution { outcome: Outcome::Failure(why), spawned: Some(spawned), refusal: None, alarm: None }
    }
}

/// Runs `job` as `activation` says, as `owner`.
pub async fn execute(config: &ExecConfig, job: &Job, activation: &Activation, owner: &Account) -> Execution {
    let command = match activation.command.as_deref() {
        // §10.3: no command at all is nothing to execute.
        None => return Execution::done(Outcome::Success),
        Some("") if config.error_on_empty_command => return Execution::done(Outcome::Failure("empty command".into())),
        Some("") => return Execution::done(Outcome::Success),
        Some(command) => command,
    };
    let host = activation.host.as_deref().unwrap_or_default();
    let local = config.local_names.contains(host);
    // §11.1, in order; a refusal is a failure that follows failover_event (decisions 6).
    if local && !config.allow_localhost {
        return Execution::refused("Execution on local host is not allowed.".into());
    }
    if activation.host.as_deref() == Some("") {
        return Execution::refused(format!("Missing host name for event ({}).", job.event));
    }
    if owner.uid == 0 && !config.allow_root_events {
        return Execution::refused("Root user not allowed to execute.".into());
    }
    if config.remote_shell_type != "ssh" {
        return Execution::refused(format!("Unknown remote shell type ({}).", config.remote_shell_type));
    }
    let login = activation.login(&owner.name).to_owned();
    let started = Instant::now();
    let spawned = |pid, rv| Spawned { as_user: login.clone(), host: host.to_owned(), pid, rv, elapsed: started.elapsed().as_secs_f64() };
    // §10.3: an undefined as_user or host makes the spawn fail.
    if activation.as_user.is_none() || activation.host.is_none() {
        return Execution::spawn_failed("as_user or host is not defined".to_owned(), spawned(None, 1));
    }
    if !local {
        let message = format!("cannot execute event ({}) on host ({host}): remote hosts are not supported yet", job.event);
        return Execution::refused(message);
    }
    if login != owner.name {
        return Execution::refused(format!(
            "as_user ({login}) differs from the event's owner ({}): local commands run as the owner",
            owner.name
        ));
    }
    let request = SpawnRequest {
        shell: owner.shell.display().to_string(),
        command: command.to_owned(),
        env: environment(job, owner),
        cwd: owner.home.display().to_string(),
        credentials: config.switch_user.then(|| (owner.uid, owner.gid, owner.groups.clone())),
    };
    let spawner = config.spawner.clone();
    let start = tokio::task::spawn_blocking(move || spawner.spawn(&request));
    match tokio::time::timeout(config.spawn_timeout, start).await {
        Ok(Ok(Ok(pid))) => Execution { outcome: Outcome::Success, spawned: Some(spawned(Some(pid), 0)), refusal: None, alarm: None },
        Ok(Ok(Err(error))) => Execution::spawn_failed(format!("cannot start the command: {error}"), spawned(None, 1)),
        Ok(Err(error)) => Execution::spawn_failed(format!("cannot start the command: {error}"), spawned(None, 1)),
        // §11.2: a start that does not finish in time counts as killed: result 125.
        Err(_) => {
            let alarm = format!("execute timeout expired ({})", config.spawn_timeout.as_secs());
            Execution { outcome: Outcome::Failure(alarm.clone()), spawned: Some(spawned(None, 125)), refusal: None, alarm: Some(alarm) }
        }
    }
}

/// The clean environment of a job (decisions 9).
fn environment(job: &Job, owner: &Account) -> Vec<(String, String)> {
    let mut env = vec![
        ("HOME".to_owned(), owner.home.display().to_string()),
        ("USER".to_owned(), owner.name.clone()),
        ("LOGNAME".to_owned(), owner.name.clone()),
        ("SHELL".to_owned(), owner.shell.display().to_string()),
        ("PATH".to_owned(), "/usr/local/bin:/usr/bin:/bin".to_owned()),
    ];
    for (name, value) in [
        ("HCRON_EVENT_NAME", job.event.to_string()),
        ("HCRON_EVENT_CHAIN", job.chain_text()),
        ("HCRON_JOBID", job.id.to_string()),
        ("HCRON_JOBGID", job.group.to_string()),
        ("HCRON_PJOBID", job.parent.to_string()),
        ("HCRON_TRIGGER_NAME", job.trigger.to_string()),
        ("HCRON_TRIGGER_ORIGIN", job.origin.to_string()),
    ] {
        env.push((name.to_owned(), value));
    }
    env
}
