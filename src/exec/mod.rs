//! Running a job's command: validation (§11.1), which host (lists and host
//! health), how (a local start, or OpenSSH with a shared master
//! connection), and how it went.
//!
//! Programs start from the [`Spawner`]. With spawn semantics (the
//! original's) a start is a success; with `exec_wait=yes` the program is
//! watched to its end, its output captured and its exit status deciding.

pub mod health;
mod spawner;
mod ssh;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;

use crate::account::Account;
use crate::engine::{Activation, Failure, Job, Outcome};
use crate::event::py_strip;
use health::{Admission, Change, Health};
pub use spawner::{Finished, SpawnRequest, Spawner, Wait};

/// The jobs sharing each SSH master connection, by its control path.
pub type Sessions = Arc<Mutex<std::collections::HashMap<PathBuf, Arc<tokio::sync::Semaphore>>>>;

/// The waited-for programs running now, each by the pipe that cancels it.
#[derive(Debug, Clone, Default)]
pub struct Cancels(Arc<Mutex<(u64, std::collections::HashMap<u64, std::os::fd::OwnedFd>)>>);

impl Cancels {
    /// Kills every waited-for program running now (each ends as killed,
    /// `cancelled`); how many were asked.
    pub fn cancel_all(&self) -> usize {
        let running = self.0.lock().expect("cancels lock");
        running.1.values().filter(|pipe| nix::unistd::write(pipe, &[1]).is_ok()).count()
    }

    /// Keeps `pipe` until the guard is dropped (the program's end read).
    fn hold(&self, pipe: std::os::fd::OwnedFd) -> CancelGuard {
        let mut running = self.0.lock().expect("cancels lock");
        running.0 += 1;
        let key = running.0;
        running.1.insert(key, pipe);
        CancelGuard { cancels: self.clone(), key }
    }
}

/// Removes a program's cancel pipe once its end is read.
struct CancelGuard {
    cancels: Cancels,
    key: u64,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        self.cancels.0.lock().expect("cancels lock").1.remove(&self.key);
    }
}

/// What the executor needs from the configuration, and the shared parts.
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
    /// `remote_shell_exec`: the OpenSSH client.
    pub remote_shell_exec: PathBuf,
    /// Names and addresses that mean this machine.
    pub local_names: HashSet<String>,
    /// Whether to switch to the owner's uid, gid and groups (the root daemon).
    pub switch_user: bool,
    /// Starts programs.
    pub spawner: Arc<Spawner>,
    /// `command_spawn_timeout`: how long a start may take.
    pub spawn_timeout: Duration,
    /// Where each owner's SSH master sockets live (`<dir>/<owner>/`).
    pub control_dir: PathBuf,
    /// `ssh_control_persist` in seconds.
    pub control_persist: u64,
    /// `exec_output_limit`: bytes kept of each captured stream.
    pub output_limit: usize,
    /// Every host's health, shared by all jobs.
    pub health: Arc<Mutex<Health>>,
    /// Sessions in use per master connection (see [`MAX_SESSIONS_PER_MASTER`]).
    pub sessions: Sessions,
    /// Waited-for programs running, to cancel (a cluster node taken for dead).
    pub cancels: Cancels,
    /// (A cluster.) Who may probe a host whose offline period is over:
    /// one node, not every node.
    pub probes: Option<Arc<dyn ProbeGate>>,
}

/// Decides, in a cluster, which node probes a host whose offline period is over.
pub trait ProbeGate: Send + Sync {
    /// Whether this node makes the probe of `host` (no other node does).
    fn probe<'a>(&'a self, host: &'a str) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'a>>;
}

/// Jobs sharing one master connection at once. OpenSSH servers refuse
/// sessions past `MaxSessions` (10 by default) on one connection, and such a
/// refusal must not pass for a host failure (seed 002): the rest wait.
pub const MAX_SESSIONS_PER_MASTER: usize = 8;

/// One start, for the `execute` log line and the history.
#[derive(Debug, Clone, PartialEq)]
pub struct Spawned {
    /// The login the command ran as.
    pub as_user: String,
    /// The host.
    pub host: String,
    /// The started program's pid, when it started.
    pub pid: Option<u32>,
    /// §11.2 result code: 0 started (or, with `exec_wait`, exited 0),
    /// 255 ssh could not connect, 125 killed, 126 could not be killed, 1 anything else.
    pub rv: i32,
    /// Seconds the start (or, with `exec_wait`, the run) took.
    pub elapsed: f64,
}

/// How an execution went.
#[derive(Debug, Clone, Default)]
pub struct Execution {
    /// Success or failure (and why); `None` until decided.
    pub outcome: Option<Outcome>,
    /// Every start tried, in order.
    pub attempts: Vec<Spawned>,
    /// A refusal to log (`handle_job (...)`), when validation failed.
    pub refusal: Option<String>,
    /// `alarm` messages (timeouts).
    pub alarms: Vec<String>,
    /// Other messages to log.
    pub notes: Vec<String>,
    /// Host state changes to log.
    pub changes: Vec<(String, Change)>,
    /// With `exec_wait`: how the command ended and what it wrote.
    pub finished: Option<Finished>,
}

impl Execution {
    /// Nothing (more) to run: decided by `outcome`.
    pub fn ended(outcome: Outcome) -> Execution {
        Execution { outcome: Some(outcome), ..Execution::default() }
    }

    /// A refusal: logged as `handle_job (message)` and a failure.
    pub fn refused(message: String) -> Execution {
        Execution { outcome: Some(Outcome::Failure(Failure::Refused(message.clone()))), refusal: Some(message), ..Execution::default() }
    }

    /// The outcome (a failure when nothing decided one).
    pub fn outcome(&self) -> Outcome {
        self.outcome.clone().unwrap_or_else(|| Outcome::Failure(Failure::Other("nothing was run".into())))
    }
}

/// Runs `job` as `activation` says, as `owner`.
pub async fn execute(config: &ExecConfig, job: &Job, activation: &Activation, owner: &Account) -> Execution {
    let command = match activation.command.as_deref().map(py_strip) {
        // §10.3: no command at all is nothing to execute.
        None => return Execution::ended(Outcome::Success),
        Some("") if config.error_on_empty_command => return Execution::ended(Outcome::Failure(Failure::Other("empty command".into()))),
        Some("") => return Execution::ended(Outcome::Success),
        Some(command) => command,
    };
    let written = activation.host.as_deref().unwrap_or_default();
    let hosts: Vec<&str> = written.split(',').map(str::trim).filter(|h| !h.is_empty()).collect();
    // §11.1, in order; a refusal is a failure that follows failover_event (decisions 6).
    if hosts.iter().any(|h| config.local_names.contains(*h)) && !config.allow_localhost {
        return Execution::refused("Execution on local host is not allowed.".into());
    }
    if activation.host.is_some() && hosts.is_empty() {
        return Execution::refused(format!("Missing host name for event ({}).", job.event));
    }
    if owner.uid == 0 && !config.allow_root_events {
        return Execution::refused("Root user not allowed to execute.".into());
    }
    if config.remote_shell_type != "ssh" {
        return Execution::refused(format!("Unknown remote shell type ({}).", config.remote_shell_type));
    }
    let login = activation.login(&owner.name).to_owned();
    // §10.3: an undefined as_user or host makes the start fail.
    if activation.as_user.is_none() || activation.host.is_none() {
        let mut execution = Execution::ended(Outcome::Failure(Failure::Other("as_user or host is not defined".into())));
        execution.attempts.push(Spawned { as_user: login, host: written.to_owned(), pid: None, rv: 1, elapsed: 0.0 });
        return execution;
    }
    let mut execution = Execution::default();
    for (host, probe) in order(config, &hosts, &mut execution) {
        if probe
            && let Some(gate) = &config.probes
            && !gate.probe(host).await
        {
            // Another node probes it: offline here until its result is shared.
            config.health.lock().expect("health lock").probed_elsewhere(host);
            execution.notes.push(format!("host ({host}) is offline: another node probes it"));
            execution.outcome.get_or_insert(Outcome::Failure(Failure::Offline(None)));
            continue;
        }
        let target = Target { config, job, activation, owner, login: &login, host };
        let attempt = if config.local_names.contains(host) {
            if login != owner.name {
                return Execution::refused(format!(
                    "as_user ({login}) differs from the event's owner ({}): local commands run as the owner",
                    owner.name
                ));
            }
            start(&target, vec![owner.shell.display().to_string(), "-c".into(), command.to_owned()]).await
        } else {
            ssh::run(&target, command).await
        };
        let connected = !attempt.connection_failed;
        let now = Timestamp::now();
        let change = {
            let mut health = config.health.lock().expect("health lock");
            match connected {
                true => health.success(host, now),
                false => health.failure(host, now, &attempt.reason),
            }
        };
        if let Some(change) = change {
            execution.changes.push((host.to_owned(), change));
        }
        execution.alarms.extend(attempt.alarm);
        execution.attempts.extend(attempt.spawned);
        if attempt.finished.is_some() {
            execution.finished = attempt.finished;
        }
        execution.outcome = Some(attempt.outcome);
        if connected {
            break;
        }
    }
    execution
}

/// The hosts to try, in order, each with whether it is the probe of an
/// offline host: those not offline; when every one is, the
/// one whose offline period ends first (the health state may be stale,
/// seed 002); when one is offline alone, its job fails at once.
fn order<'h>(config: &ExecConfig, hosts: &[&'h str], execution: &mut Execution) -> Vec<(&'h str, bool)> {
    let now = Timestamp::now();
    let mut health = config.health.lock().expect("health lock");
    let mut usable = Vec::new();
    let mut offline = Vec::new();
    for &host in hosts {
        match health.admit(host, now) {
            Admission::Go => usable.push((host, false)),
            Admission::Probe => usable.push((host, true)),
            Admission::Offline(until) => offline.push((host, until)),
        }
    }
    if !usable.is_empty() {
        return usable;
    }
    if hosts.len() > 1
        && let Some(soonest) = health.soonest(hosts)
    {
        execution.notes.push(format!("all hosts of ({}) are offline; trying ({soonest}), the first to come back", hosts.join(",")));
        return vec![(soonest, false)];
    }
    let (host, until) = offline[0];
    let local = until.to_zoned(jiff::tz::TimeZone::system());
    let failure = Failure::Offline(Some(local.strftime("%H:%M:%S").to_string()));
    execution.notes.push(format!("host ({host}) {failure}"));
    execution.outcome = Some(Outcome::Failure(failure));
    Vec::new()
}

/// One attempt on one host.
struct Attempt {
    outcome: Outcome,
    spawned: Option<Spawned>,
    /// The host could not be reached (counts against its health).
    connection_failed: bool,
    reason: String,
    alarm: Option<String>,
    finished: Option<Finished>,
}

/// One job on one host: what an attempt needs.
struct Target<'a> {
    config: &'a ExecConfig,
    job: &'a Job,
    activation: &'a Activation,
    owner: &'a Account,
    login: &'a str,
    host: &'a str,
}

impl Target<'_> {
    /// The spawner request for `argv`, as the owner.
    fn request(&self, argv: Vec<String>) -> SpawnRequest {
        let (config, owner) = (self.config, self.owner);
        let wait = self.activation.exec_wait.then(|| Wait {
            timeout_ms: self.activation.exec_timeout.map_or(u64::MAX / 2, |s| s as u64 * 1000),
            capture: Some(config.output_limit),
        });
        SpawnRequest {
            argv,
            env: environment(self.job, owner),
            cwd: owner.home.display().to_string(),
            credentials: config.switch_user.then(|| (owner.uid, owner.gid, owner.groups.clone())),
            wait,
        }
    }

    /// Names the attempt's start after this target.
    fn name(&self, mut attempt: Attempt) -> Attempt {
        if let Some(spawned) = &mut attempt.spawned {
            spawned.as_user = self.login.to_owned();
            spawned.host = self.host.to_owned();
        }
        attempt
    }
}

/// Starts `argv` on this machine (local commands never count against a host).
async fn start(target: &Target<'_>, argv: Vec<String>) -> Attempt {
    let mut attempt = watch_or_spawn(target.config, target.request(argv), target.activation.exec_wait).await;
    attempt.connection_failed = false;
    target.name(attempt)
}

/// Runs a request: left running (spawn semantics) or watched to its end.
async fn watch_or_spawn(config: &ExecConfig, request: SpawnRequest, exec_wait: bool) -> Attempt {
    let started = std::time::Instant::now();
    let spawner = config.spawner.clone();
    if exec_wait {
        let finished = match watched(config, request).await {
            Ok(finished) => finished,
            Err(error) => return failed_start(error.to_string(), started),
        };
        return from_finished(finished, true, started);
    }
    let timed_out = || {
        let alarm = format!("execute timeout expired ({})", config.spawn_timeout.as_secs());
        let mut attempt = failed_start(alarm.clone(), started);
        attempt.alarm = Some(alarm);
        if let Some(spawned) = &mut attempt.spawned {
            spawned.rv = 125;
        }
        attempt
    };
    // As in the original, a budget of zero is exceeded before anything starts.
    if config.spawn_timeout.is_zero() {
        return timed_out();
    }
    let start = tokio::task::spawn_blocking(move || spawner.spawn(&request));
    match tokio::time::timeout(config.spawn_timeout, start).await {
        Ok(Ok(Ok(pid))) => Attempt {
            outcome: Outcome::Success,
            spawned: Some(Spawned {
                as_user: String::new(),
                host: String::new(),
                pid: Some(pid),
                rv: 0,
                elapsed: started.elapsed().as_secs_f64(),
            }),
            connection_failed: false,
            reason: String::new(),
            alarm: None,
            finished: None,
        },
        Ok(Ok(Err(error))) => failed_start(error.to_string(), started),
        Ok(Err(error)) => failed_start(error.to_string(), started),
        Err(_) => timed_out(),
    }
}

/// Starts a watched program and waits for its result.
async fn watched(config: &ExecConfig, request: SpawnRequest) -> std::io::Result<Finished> {
    use tokio::io::AsyncReadExt;
    let spawner = config.spawner.clone();
    let handle = tokio::task::spawn_blocking(move || spawner.watch(&request)).await.map_err(std::io::Error::other)??;
    let _cancel = config.cancels.hold(handle.cancel);
    let mut pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(handle.result)?;
    let mut text = Vec::new();
    pipe.read_to_end(&mut text).await?;
    serde_json::from_slice(&text).map_err(|_| std::io::Error::other("the monitor ended without a result"))
}

fn failed_start(reason: String, started: std::time::Instant) -> Attempt {
    Attempt {
        outcome: Outcome::Failure(Failure::Start(reason.clone())),
        spawned: Some(Spawned { as_user: String::new(), host: String::new(), pid: None, rv: 1, elapsed: started.elapsed().as_secs_f64() }),
        connection_failed: false,
        reason,
        alarm: None,
        finished: None,
    }
}

/// §11.2's result codes from how a watched program ended; with
/// `exec_wait`, the exit status decides the outcome.
fn from_finished(finished: Finished, exec_wait: bool, started: std::time::Instant) -> Attempt {
    let rv = match (&finished.unkillable, finished.signal, finished.status) {
        (true, _, _) => 126,
        (_, Some(_), _) => 125,
        (_, _, Some(0)) => 0,
        (_, _, Some(255)) => 255,
        _ => 1,
    };
    let failure = match (finished.timed_out, finished.signal, finished.status) {
        _ if finished.cancelled => Failure::Cancelled("this scheduler was taken for dead".to_owned()),
        (true, _, _) => Failure::Timeout,
        (_, Some(signal), _) => Failure::Signal(signal),
        (_, _, Some(status)) => Failure::Exit(status),
        _ => Failure::NoStatus,
    };
    let reason = failure.to_string();
    let outcome = if rv == 0 { Outcome::Success } else { Outcome::Failure(failure) };
    let pid = (finished.pid != 0).then_some(finished.pid);
    let elapsed = if finished.elapsed_us > 0 { finished.elapsed_us as f64 / 1e6 } else { started.elapsed().as_secs_f64() };
    Attempt {
        outcome,
        spawned: Some(Spawned { as_user: String::new(), host: String::new(), pid, rv, elapsed }),
        connection_failed: false,
        reason,
        alarm: None,
        finished: exec_wait.then_some(finished),
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
        // The name `hcron` looks for to tell a job's commands (backup servers).
        ("HCRON_JOB_ID", job.id.to_string()),
        ("HCRON_JOBGID", job.group.to_string()),
        ("HCRON_PJOBID", job.parent.to_string()),
        ("HCRON_TRIGGER_NAME", job.trigger.to_string()),
        ("HCRON_TRIGGER_ORIGIN", job.origin.to_string()),
    ] {
        env.push((name.to_owned(), value));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::NotifyOn;

    fn owner(uid: u32) -> Account {
        Account { name: "alice".into(), uid, gid: 100, groups: vec![100, 27], home: "/home/alice".into(), shell: "/bin/zsh".into() }
    }

    pub(super) fn config() -> ExecConfig {
        ExecConfig {
            allow_localhost: true,
            allow_root_events: false,
            error_on_empty_command: false,
            remote_shell_type: "ssh".into(),
            remote_shell_exec: "/usr/bin/ssh".into(),
            local_names: ["localhost".to_owned(), "here".to_owned()].into(),
            switch_user: true,
            spawner: Arc::new(Spawner::gone()),
            spawn_timeout: Duration::from_secs(5),
            control_dir: "/run/hcron/ssh".into(),
            control_persist: 60,
            output_limit: 4096,
            health: Arc::new(Mutex::new(Health::new(1, Duration::from_secs(60)))),
            cancels: Cancels::default(),
            probes: None,
            sessions: Sessions::default(),
        }
    }

    fn job() -> Job {
        Job::sample("2024-03-01T12:30:00+00:00[UTC]".parse().unwrap())
    }

    fn activation(host: Option<&str>, command: Option<&str>) -> Activation {
        Activation {
            time: "2024-03-01T12:30:00+00:00[UTC]".parse().unwrap(),
            expired: false,
            as_user: Some(String::new()),
            host: host.map(Into::into),
            command: command.map(Into::into),
            notify_email: None,
            notify_subject: String::new(),
            notify_message: String::new(),
            when_expire: None,
            next_event: String::new(),
            failover_event: String::new(),
            exec_wait: false,
            exec_timeout: None,
            notify_on: NotifyOn::Success,
            rerun_lost: false,
        }
    }

    async fn run(config: &ExecConfig, activation: &Activation, owner: &Account) -> Execution {
        execute(config, &job(), activation, owner).await
    }

    fn refusal(execution: &Execution) -> Option<&str> {
        assert!(execution.attempts.is_empty(), "a refusal starts nothing: {execution:?}");
        let refusal = execution.refusal.as_deref()?;
        assert_eq!(execution.outcome(), Outcome::Failure(Failure::Refused(refusal.to_owned())), "a refusal is a failure");
        Some(refusal)
    }

    #[tokio::test]
    async fn no_command_or_an_empty_one_is_nothing_to_run_unless_configured_as_an_error() {
        let (config, alice) = (config(), owner(1000));
        for command in [None, Some(""), Some(" \t ")] {
            let execution = run(&config, &activation(Some("remote"), command), &alice).await;
            assert_eq!((execution.outcome(), execution.attempts.len(), refusal(&execution)), (Outcome::Success, 0, None), "{command:?}");
        }
        let strict = ExecConfig { error_on_empty_command: true, ..config };
        let execution = run(&strict, &activation(Some("remote"), Some("  ")), &alice).await;
        assert_eq!((execution.outcome(), refusal(&execution)), (Outcome::Failure(Failure::Other("empty command".into())), None));
        let execution = run(&strict, &activation(Some("remote"), None), &alice).await;
        assert_eq!(execution.outcome(), Outcome::Success, "no command at all is never an error");
    }

    #[tokio::test]
    async fn each_refusal_of_section_11_1_in_its_order() {
        let alice = owner(1000);
        let refused = async |config: &ExecConfig, host: Option<&str>, owner: &Account| {
            refusal(&run(config, &activation(host, Some("date")), owner).await).map(str::to_owned)
        };
        let no_local = ExecConfig { allow_localhost: false, ..config() };
        let local = "Execution on local host is not allowed.";
        assert_eq!(refused(&no_local, Some("remote, here"), &alice).await.as_deref(), Some(local), "any local name in the list");
        assert_eq!(refused(&no_local, Some(" localhost "), &owner(0)).await.as_deref(), Some(local), "before the root check");
        let missing = "Missing host name for event (/e).";
        assert_eq!(refused(&config(), Some(" , ,"), &alice).await.as_deref(), Some(missing));
        assert_eq!(refused(&no_local, Some(""), &owner(0)).await.as_deref(), Some(missing), "before the root check");
        let root = "Root user not allowed to execute.";
        let rsh = ExecConfig { remote_shell_type: "rsh".into(), ..config() };
        assert_eq!(refused(&rsh, Some("remote"), &owner(0)).await.as_deref(), Some(root), "before the shell type");
        assert_eq!(refused(&rsh, Some("remote"), &alice).await.as_deref(), Some("Unknown remote shell type (rsh)."));
        let as_root = ExecConfig { allow_root_events: true, ..config() };
        let mut other_login = activation(Some("here"), Some("date"));
        other_login.as_user = Some("bob".into());
        let execution = run(&as_root, &other_login, &owner(0)).await;
        assert_eq!(
            refusal(&execution),
            Some("as_user (bob) differs from the event's owner (alice): local commands run as the owner"),
            "root events allowed, a local command still runs as its owner"
        );
    }

    #[tokio::test]
    async fn an_undefined_as_user_or_host_fails_the_start_and_a_defined_one_reaches_the_spawner() {
        let (config, alice) = (config(), owner(1000));
        let mut no_login = activation(Some("remote"), Some("date"));
        no_login.as_user = None;
        for (activation, host) in [(no_login, "remote"), (activation(None, Some("date")), "")] {
            let execution = run(&config, &activation, &alice).await;
            assert_eq!(execution.outcome(), Outcome::Failure(Failure::Other("as_user or host is not defined".into())));
            let attempt = Spawned { as_user: "alice".into(), host: host.into(), pid: None, rv: 1, elapsed: 0.0 };
            assert_eq!((execution.attempts, execution.refusal), (vec![attempt], None));
        }
        // Both defined, a local host: the start is tried (and fails: the spawner is gone).
        let execution = run(&config, &activation(Some("here"), Some("date")), &alice).await;
        assert_eq!(execution.outcome(), Outcome::Failure(Failure::Start("Broken pipe (os error 32)".into())));
        assert_eq!((execution.attempts.len(), &*execution.attempts[0].host, &*execution.attempts[0].as_user), (1, "here", "alice"));
    }

    fn offline(config: &ExecConfig, host: &str, at: Timestamp) {
        config.health.lock().unwrap().failure(host, at, "refused");
    }

    #[test]
    fn the_hosts_not_offline_in_their_order_else_the_first_to_come_back_else_none() {
        let config = config();
        let now = Timestamp::now();
        offline(&config, "b", now);
        let mut execution = Execution::default();
        assert_eq!(order(&config, &["a", "b", "c"], &mut execution), [("a", false), ("c", false)]);
        assert_eq!(order(&config, &["c", "a"], &mut execution), [("c", false), ("a", false)]);
        assert!(execution.notes.is_empty() && execution.outcome.is_none());
        offline(&config, "a", now - Duration::from_secs(10));
        assert_eq!(order(&config, &["b", "a"], &mut execution), [("a", false)]);
        assert_eq!(execution.notes, ["all hosts of (b,a) are offline; trying (a), the first to come back"]);
        assert!(execution.outcome.is_none(), "the soonest host is tried");

        let mut alone = Execution::default();
        assert!(order(&config, &["b"], &mut alone).is_empty(), "one offline host is not tried");
        let until = (now + Duration::from_secs(60)).to_zoned(jiff::tz::TimeZone::system()).strftime("%H:%M:%S").to_string();
        assert_eq!(alone.outcome, Some(Outcome::Failure(Failure::Offline(Some(until.to_string())))));
        assert_eq!(alone.notes, [format!("host (b) host offline until {until}")]);
    }

    /// A cluster where another node always makes the probe.
    struct ProbedElsewhere;

    impl ProbeGate for ProbedElsewhere {
        fn probe<'a>(&'a self, _host: &'a str) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'a>> {
            Box::pin(async { false })
        }
    }

    #[tokio::test]
    async fn a_probe_is_made_here_only_when_the_cluster_gives_it_to_this_node() {
        let config = config();
        let long_ago = Timestamp::now() - Duration::from_secs(120);
        offline(&config, "remote", long_ago);
        let mut execution = Execution::default();
        assert_eq!(order(&config, &["remote"], &mut execution), [("remote", true)], "its period is over: the probe");
        config.health.lock().unwrap().probed_elsewhere("remote");
        let clustered = ExecConfig { probes: Some(Arc::new(ProbedElsewhere)), ..config };
        let execution = run(&clustered, &activation(Some("remote"), Some("date")), &owner(1000)).await;
        assert_eq!(execution.outcome(), Outcome::Failure(Failure::Offline(None)));
        assert!(execution.attempts.is_empty(), "nothing tried: {execution:?}");
        assert_eq!(execution.notes, ["host (remote) is offline: another node probes it"]);
        let admitted = clustered.health.lock().unwrap().admit("remote", Timestamp::now());
        assert_eq!(admitted, Admission::Probe, "not left waiting on a probe it never made");
    }

    fn target_request(config: &ExecConfig, activation: &Activation) -> SpawnRequest {
        let (job, owner) = (job(), owner(1000));
        let target = Target { config, job: &job, activation, owner: &owner, login: "alice", host: "remote" };
        target.request(vec!["true".into()])
    }

    #[test]
    fn a_request_runs_as_the_owner_in_the_home_and_waits_only_with_exec_wait() {
        let config = config();
        let mut activation = activation(Some("remote"), Some("true"));
        let request = target_request(&config, &activation);
        assert_eq!((request.cwd.as_str(), request.credentials), ("/home/alice", Some((1000, 100, vec![100, 27]))));
        assert!(request.wait.is_none(), "spawn semantics");
        activation.exec_wait = true;
        let wait = target_request(&config, &activation).wait.expect("exec_wait waits");
        assert_eq!((wait.timeout_ms, wait.capture), (u64::MAX / 2, Some(4096)), "no exec_timeout: no limit");
        activation.exec_timeout = Some(7);
        assert_eq!(target_request(&config, &activation).wait.unwrap().timeout_ms, 7000);
        let standalone = ExecConfig { switch_user: false, ..config };
        assert_eq!(target_request(&standalone, &activation).credentials, None);
    }

    #[test]
    fn a_job_s_environment_is_clean_and_names_the_job() {
        let pairs = |list: &[(&str, &str)]| list.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect::<Vec<_>>();
        let expected = pairs(&[
            ("HOME", "/home/alice"),
            ("USER", "alice"),
            ("LOGNAME", "alice"),
            ("SHELL", "/bin/zsh"),
            ("PATH", "/usr/local/bin:/usr/bin:/bin"),
            ("HCRON_EVENT_NAME", "/e"),
            ("HCRON_EVENT_CHAIN", "/d:/e:/e"),
            ("HCRON_JOBID", "30"),
            ("HCRON_JOB_ID", "30"),
            ("HCRON_JOBGID", "10"),
            ("HCRON_PJOBID", "20"),
            ("HCRON_TRIGGER_NAME", "next"),
            ("HCRON_TRIGGER_ORIGIN", "/d"),
        ]);
        assert_eq!(environment(&job(), &owner(1000)), expected);
    }

    #[test]
    fn how_a_watched_program_ended_gives_its_result_code_reason_and_outcome() {
        let ended = |status: Option<i32>, signal: Option<i32>, timed_out: bool, unkillable: bool| Finished {
            pid: 42,
            status,
            signal,
            timed_out,
            unkillable,
            elapsed_us: 1_500_000,
            ..Finished::default()
        };
        let table = [
            (ended(Some(0), None, false, false), 0, "exit status 0"),
            (ended(Some(3), None, false, false), 1, "exit status 3"),
            (ended(Some(255), None, false, false), 255, "exit status 255"),
            (ended(None, Some(15), false, false), 125, "killed by signal 15"),
            (ended(None, Some(9), true, false), 125, "timeout"),
            (ended(None, None, true, true), 126, "timeout"),
            (ended(Some(0), None, false, true), 126, "exit status 0"),
            (ended(None, None, false, false), 1, "no exit status"),
            // Cancelled (a node taken for dead) is said so, whatever else happened.
            (Finished { cancelled: true, ..ended(None, Some(9), true, false) }, 125, "cancelled: this scheduler was taken for dead"),
        ];
        for (finished, rv, reason) in table {
            let attempt = from_finished(finished.clone(), true, std::time::Instant::now());
            let spawned = attempt.spawned.expect("a start");
            assert_eq!((spawned.rv, spawned.pid, spawned.elapsed), (rv, Some(42), 1.5), "{finished:?}");
            assert_eq!(attempt.reason, reason);
            let outcome = if rv == 0 { Outcome::Success } else { Outcome::Failure(Failure::parse(reason)) };
            assert_eq!(attempt.outcome, outcome);
            assert!(!matches!(attempt.outcome, Outcome::Failure(Failure::Other(_))), "{reason}: of a kind of its own");
            assert_eq!(attempt.finished, Some(finished));
        }
        let long_ago = std::time::Instant::now() - Duration::from_secs(2);
        let unmeasured = Finished { pid: 0, status: Some(0), ..Finished::default() };
        let attempt = from_finished(unmeasured, false, long_ago);
        let spawned = attempt.spawned.unwrap();
        assert_eq!((spawned.pid, attempt.finished), (None, None), "no pid, and nothing kept without exec_wait");
        assert!((2.0..60.0).contains(&spawned.elapsed), "the time since the start when the monitor measured none: {}", spawned.elapsed);
    }
}
