//! Starting the daemon: arguments, the paths of each mode, the pid lock,
//! the control socket, the tasks, and signals.

use std::collections::HashSet;
use std::future::Future;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use tokio::net::UnixListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Notify;

use super::journal::{ActivityLog, DaemonJournal, LogTarget};
use super::pidfile::PidFile;
use super::{Daemon, Mode, Setup, State};
use crate::account::Account;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::engine::{Engine, Settings};
use crate::exec::health::Health;
use crate::exec::{ExecConfig, Spawner};
use crate::history::HistoryWriter;
use crate::mail::{Smtp, Spool, Transport};
use crate::state_files::{create_dirs, make_private};

/// How long SIGTERM waits for running spawns.
const DRAIN: Duration = Duration::from_secs(10);

/// hcron-scheduler: runs users' hcron events on schedule.
#[derive(Debug, Parser)]
#[command(name = "hcron-scheduler", version, about)]
pub struct Args {
    /// Configuration file [default: /etc/hcron/hcron.toml, else /etc/hcron/hcron.conf].
    #[arg(short, long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Run as the invoking user for that user's tree only, without root.
    #[arg(long)]
    standalone: bool,
    /// The events directory (standalone) [default: ~/.hcron/<server_name>/events].
    #[arg(long, value_name = "DIR", requires = "standalone")]
    events: Option<PathBuf>,
    /// State, log, mailbox and socket directory (standalone) [default: ~/.hcron/<server_name>].
    #[arg(long, value_name = "DIR", requires = "standalone")]
    state_dir: Option<PathBuf>,
    /// Check the configuration (and allow file) and exit.
    #[arg(long)]
    check_config: bool,
}

/// The binary's whole life: set up, run until a stop signal, clean up.
pub fn main(args: Args) -> anyhow::Result<ExitCode> {
    super::descriptors::sanitize();
    // State is root's alone (the user's alone, standalone): history, spool,
    // mailbox and log hold every user's output and mail.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let (setup, socket, pid) = if args.standalone { standalone(&args)? } else { root(&args)? };
    if args.check_config {
        setup.config.warnings.iter().for_each(|w| eprintln!("warning: {w}"));
        println!("configuration OK");
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(dir) = socket.parent() {
        // Users reach the root daemon's socket (and their ssh directories) through it.
        let mode = if args.standalone { 0o700 } else { 0o755 };
        create_dirs(dir, mode).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    if let Some(dir) = pid.parent() {
        create_dirs(dir, 0o700).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let _pid = PidFile::lock(&pid)?;
    // Before any thread exists: the spawner is a fork of this small, single-threaded process.
    let spawner = Arc::new(Spawner::start().context("cannot start the spawner")?);
    super::descriptors::raise_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = bind(&socket, !args.standalone)?;
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut quit = signal(SignalKind::quit())?;
        let stop = async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
                _ = quit.recv() => {}
            }
        };
        let result = run(setup, spawner, listener, stop).await;
        let _ = std::fs::remove_file(&socket);
        result
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Runs the daemon on `listener` until `stop` completes.
pub async fn run(setup: Setup, spawner: Arc<Spawner>, listener: UnixListener, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
    let socket = listener.local_addr().ok().and_then(|a| a.as_pathname().map(Path::to_path_buf)).unwrap_or_default();
    let log = ActivityLog::open(&setup.log).with_context(|| format!("cannot open the log {:?}", setup.log.file))?;
    let spool = Spool::new(&setup.spool);
    let sender = Arc::new(Notify::new());
    let journal = DaemonJournal { log, spool: spool.clone(), mail_from: setup.config.mail_from.clone(), sender: sender.clone() };
    if let Some(dir) = setup.history.parent() {
        create_dirs(dir, 0o700).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let history_files = ["", "-wal", "-shm", "-journal"].map(|suffix| PathBuf::from(format!("{}{suffix}", setup.history.display())));
    for path in history_files.iter().chain([&setup.spool, &setup.mailbox]).chain(setup.log.file.as_ref()) {
        make_private(path).with_context(|| format!("cannot make {} private", path.display()))?;
    }
    let history = HistoryWriter::start(&setup.history, retention(&setup.config))
        .with_context(|| format!("cannot open the job history {}", setup.history.display()))?;
    let config = setup.config.clone();
    let settings = Settings {
        max_chain_events: config.max_chain_events as usize,
        max_next_events: config.max_next_events as usize,
        max_email_notifications: config.max_email_notifications as usize,
        fqdn: setup.fqdn.clone(),
        server_name: setup.server_name.clone(),
    };
    let health = Arc::new(Mutex::new(Health::new(config.host_attempts_count, Duration::from_secs(config.host_offline_timeout))));
    let exec = exec_config(&config, &setup, spawner, health);
    let (changed, changes) = tokio::sync::mpsc::unbounded_channel();
    let last =
        crate::history::last_id(&setup.history).with_context(|| format!("cannot read the job history {}", setup.history.display()))?;
    let engine = Engine::with_ids(SystemClock, settings, crate::engine::JobIds::after(crate::engine::JobId(last.unwrap_or(0))));
    let next_minute = SystemClock.now().datetime();
    let state = State {
        config,
        exec,
        engine,
        journal,
        users: Default::default(),
        queue: Default::default(),
        running: 0,
        done: 0,
        active: false,
        stopping: false,
        next_minute,
    };
    let daemon = Arc::new(Daemon {
        setup,
        state: Mutex::new(state),
        wake: Notify::new(),
        history: Mutex::new(history),
        started: Instant::now(),
        changed,
        watchers: Mutex::default(),
        retries: Mutex::default(),
    });
    {
        let mut state = daemon.lock();
        let state = &mut *state;
        let entry = state.engine.entry("start-logging", "");
        state.log(entry);
        let start = state
            .engine
            .entry("start", "")
            .field("fqdn", &daemon.setup.fqdn)
            .field("servername", &daemon.setup.server_name)
            .field("version", env!("CARGO_PKG_VERSION"));
        state.log(start);
        for warning in &daemon.setup.config.warnings {
            state.message("", warning, "warning");
        }
        if let Mode::Standalone { events, .. } = &daemon.setup.mode {
            let text = format!(
                "standalone: events {}, log {}, mailbox {}, history {}, control socket {}",
                events.display(),
                daemon.setup.log.file.as_deref().map_or("standard error".into(), |p| p.display().to_string()),
                daemon.setup.mailbox.join("new").display(),
                daemon.setup.history.display(),
                socket.display()
            );
            state.message("", &text, "info");
        }
    }
    // Before anything answers: a SIGHUP that came before its handler would
    // end the daemon (the default action), as a reload right after a start does.
    let hangup = signal(SignalKind::hangup())?;
    daemon.sync_users().await;
    daemon.settle_previous_run();
    daemon.watch_allow_file();
    notify_ready();
    let tasks = [
        tokio::spawn(daemon.clone().clock_loop()),
        tokio::spawn(daemon.clone().dispatch()),
        tokio::spawn(daemon.clone().status_loop()),
        tokio::spawn(daemon.clone().debounce(changes)),
        tokio::spawn(daemon.clone().check_roots()),
        tokio::spawn(daemon.clone().serve(listener)),
        tokio::spawn(daemon.clone().hangups(hangup)),
        tokio::spawn(crate::mail::run_sender(
            spool,
            transport(&daemon.setup),
            Duration::from_secs(daemon.setup.config.mail_retry_initial.max(1)),
            Duration::from_secs(daemon.setup.config.mail_retry_max.max(1)),
            sender,
            {
                let daemon = daemon.clone();
                Box::new(move |level: &str, text: &str| {
                    let mut state = daemon.lock();
                    state.message("", text, level);
                })
            },
        )),
    ];
    stop.await;
    {
        let mut state = daemon.lock();
        state.message("", "received signal to exit.", "info");
        state.stopping = true;
    }
    let deadline = Instant::now() + DRAIN;
    while daemon.lock().running > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for task in tasks {
        task.abort();
    }
    {
        let mut state = daemon.lock();
        let state = &mut *state;
        let text = format!("stopping: {} job(s) still queued are left for the next start", state.queue.len());
        state.message("", &text, "info");
    }
    daemon.history.lock().expect("history lock").close();
    Ok(())
}

impl Daemon {
    /// SIGHUP: re-read the configuration, the allow file and every tree.
    async fn hangups(self: Arc<Self>, mut hangup: tokio::signal::unix::Signal) {
        while hangup.recv().await.is_some() {
            self.lock().message("", "received signal to reload.", "info");
            if let Some(path) = &self.setup.config_path {
                match Config::read(path) {
                    Ok(mut config) => {
                        if matches!(self.setup.mode, Mode::Standalone { .. }) {
                            config.allow_localhost = true;
                            config.allow_root_events = true;
                        }
                        let mut state = self.lock();
                        for warning in &config.warnings {
                            state.message("", warning, "warning");
                        }
                        // Host health survives a reload: an offline host stays offline.
                        state.exec = exec_config(&config, &self.setup, state.exec.spawner.clone(), state.exec.health.clone());
                        state.config = config;
                    }
                    Err(error) => {
                        let mut state = self.lock();
                        let state = &mut *state;
                        let text = format!("configuration not reloaded: {error}");
                        state.message("", &text, "error");
                    }
                }
            }
            self.sync_users().await;
        }
    }
}

/// What the job history keeps.
fn retention(config: &Config) -> crate::history::Retention {
    crate::history::Retention {
        max_age: (config.history_max_age_days > 0).then(|| Duration::from_secs(config.history_max_age_days.saturating_mul(86_400))),
        max_per_user: (config.history_max_jobs_per_user > 0).then_some(config.history_max_jobs_per_user),
    }
}

/// The configured mail transport; standalone defaults to the mailbox directory.
fn transport(setup: &Setup) -> Transport {
    let config = &setup.config;
    let standalone = matches!(setup.mode, Mode::Standalone { .. });
    let smtp = || {
        Transport::Smtp(Smtp {
            server: config.smtp_server.clone(),
            port: config.smtp_port,
            starttls: config.smtp_starttls,
            ca_file: config.smtp_ca_file.clone(),
            credentials: config.smtp_username.clone().map(|user| (user, config.smtp_password.clone().unwrap_or_default().0)),
            timeout: Duration::from_secs(config.smtp_timeout.max(1)),
        })
    };
    match config.mail_transport.as_deref() {
        Some("smtp") => smtp(),
        Some("sendmail") => Transport::Sendmail(config.sendmail_path.clone()),
        Some(_) => Transport::Mailbox(setup.mailbox.clone()),
        None if standalone => Transport::Mailbox(setup.mailbox.clone()),
        None => smtp(),
    }
}

/// Tells systemd the daemon is ready (`Type=notify`), when it asks.
fn notify_ready() {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else { return };
    let Ok(socket) = std::os::unix::net::UnixDatagram::unbound() else { return };
    let bytes = path.as_encoded_bytes();
    let sent = match bytes.strip_prefix(b"@") {
        // An abstract socket address.
        Some(name) => std::os::unix::net::SocketAddr::from_abstract_name(name).and_then(|a| socket.send_to_addr(b"READY=1", &a)),
        None => socket.send_to(b"READY=1", &path),
    };
    if let Err(error) = sent {
        eprintln!("hcron-scheduler: cannot notify systemd: {error}");
    }
}

fn exec_config(config: &Config, setup: &Setup, spawner: Arc<Spawner>, health: Arc<Mutex<Health>>) -> ExecConfig {
    ExecConfig {
        allow_localhost: config.allow_localhost,
        allow_root_events: config.allow_root_events,
        error_on_empty_command: config.error_on_empty_command,
        remote_shell_type: config.remote_shell_type.clone(),
        local_names: local_names(&setup.fqdn),
        switch_user: matches!(setup.mode, Mode::Root { .. }),
        spawner,
        spawn_timeout: Duration::from_secs(config.command_spawn_timeout),
        remote_shell_exec: config.remote_shell_exec.clone(),
        control_dir: setup.ssh_dir.clone(),
        control_persist: config.ssh_control_persist,
        output_limit: config.exec_output_limit,
        health,
        sessions: Arc::default(),
    }
}

/// Names and addresses that mean this machine (§11.1 compared only names; addresses count too here).
fn local_names(fqdn: &str) -> HashSet<String> {
    let mut names: HashSet<String> = ["localhost", "127.0.0.1", "::1"].map(str::to_owned).into();
    names.insert(fqdn.to_owned());
    names.insert(crate::host::short_name());
    if let Ok(addresses) = nix::ifaddrs::getifaddrs() {
        for address in addresses.filter_map(|a| a.address) {
            if let Some(v4) = address.as_sockaddr_in() {
                names.insert(v4.ip().to_string());
            } else if let Some(v6) = address.as_sockaddr_in6() {
                names.insert(v6.ip().to_string());
            }
        }
    }
    names
}

/// The root daemon's set-up: `/etc/hcron`, `/var/lib/hcron`, `/run/hcron`.
fn root(args: &Args) -> anyhow::Result<(Setup, PathBuf, PathBuf)> {
    if !nix::unistd::geteuid().is_root() && !args.check_config {
        bail!("hcron-scheduler must run as root; use --standalone to run your own events as yourself");
    }
    let config_path = args.config.clone().or_else(|| crate::config::DEFAULT_PATHS.iter().map(PathBuf::from).find(|p| p.exists()));
    let mut config = match &config_path {
        Some(path) => Config::read(path)?,
        None => Config::default(),
    };
    let allow_file = config_path.as_deref().and_then(Path::parent).unwrap_or(Path::new("/etc/hcron")).join("hcron.allow");
    let allowed = super::users::read_allow(&allow_file).with_context(|| format!("cannot read the allow file {}", allow_file.display()))?;
    // Only when asked: at every start it would look every allowed user up
    // once more before their loads do (which say "no such user" themselves).
    if args.check_config {
        config.warnings.extend(allow_warnings(&allow_file, &allowed));
    }
    let log = match config.log_path.as_deref() {
        None | Some("") => LogTarget { file: None, stderr: true, syslog: config.use_syslog },
        Some(path) => LogTarget { file: Some(Path::new("/var/log/hcron").join(path)), stderr: false, syslog: config.use_syslog },
    };
    let socket = config.control_socket.clone();
    // One daemon per state: the lock lives with the history, which a
    // configuration cannot move apart from the jobs it records (a socket
    // moved elsewhere must not let a second daemon schedule the same users).
    let pid = config.history_path.parent().unwrap_or(Path::new("/var/lib/hcron")).join("hcron-scheduler.pid");
    let setup = Setup {
        server_name: config.server_name(),
        fqdn: crate::host::fqdn(),
        mode: Mode::Root { allow_file },
        log,
        // The state directory is where the history lives.
        mailbox: config.history_path.parent().unwrap_or(Path::new("/var/lib/hcron")).join("mailbox"),
        spool: config.history_path.parent().unwrap_or(Path::new("/var/lib/hcron")).join("spool"),
        history: config.history_path.clone(),
        ssh_dir: socket.parent().unwrap_or(Path::new("/run/hcron")).join("ssh"),
        config,
        config_path,
    };
    Ok((setup, socket, pid))
}

/// What is likely wrong in an allow file: users that do not exist, root.
fn allow_warnings(path: &Path, users: &[String]) -> Vec<String> {
    let mut warnings = Vec::new();
    for user in users {
        match Account::find(user) {
            Ok(None) => warnings.push(format!("{}: user ({user}) does not exist", path.display())),
            Err(error) => warnings.push(format!("{}: cannot look up user ({user}): {error}", path.display())),
            Ok(Some(account)) if account.uid == 0 => {
                warnings.push(format!("{}: {user} is listed: its events run with every privilege of root", path.display()));
            }
            Ok(Some(_)) => {}
        }
    }
    warnings
}

/// The standalone set-up: everything under the user's `~/.hcron/<server_name>/`.
fn standalone(args: &Args) -> anyhow::Result<(Setup, PathBuf, PathBuf)> {
    let account = Account::current().context("cannot find the current user")?;
    let mut config = match &args.config {
        Some(path) => Config::read(path)?,
        None => Config::default(),
    };
    // The invoking user runs their own events on this machine, as themselves
    // (root included: nobody else's privileges are involved).
    config.allow_localhost = true;
    config.allow_root_events = true;
    let server_name = config.server_name();
    // The same place `hcron` looks for the socket: under $HOME, as user programs do.
    let home = crate::account::caller_home().unwrap_or_else(|| account.home.clone());
    let state = args.state_dir.clone().unwrap_or_else(|| home.join(".hcron").join(&server_name));
    let events = args.events.clone().unwrap_or_else(|| state.join("events"));
    let events = std::path::absolute(&events).unwrap_or(events);
    let setup = Setup {
        log: LogTarget { file: Some(state.join("hcron.log")), stderr: true, syslog: config.use_syslog },
        mailbox: state.join("mailbox"),
        spool: state.join("spool"),
        history: state.join("history.sqlite"),
        ssh_dir: state.join("ssh"),
        mode: Mode::Standalone { account, events },
        server_name,
        fqdn: crate::host::fqdn(),
        config,
        config_path: args.config.clone(),
    };
    Ok((setup, state.join("control.sock"), state.join("hcron-scheduler.pid")))
}

/// Binds the control socket in its existing directory (after the pid lock,
/// so a stale file is ours to remove).
fn bind(path: &Path, shared: bool) -> anyhow::Result<UnixListener> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).with_context(|| format!("cannot listen on {}", path.display()))?;
    // Everyone may connect to the root daemon: callers are told apart by their credentials.
    let mode = if shared { 0o666 } else { 0o600 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(listener)
}
