//! Starting the daemon: arguments, the paths of each mode, the pid lock,
//! the control socket, the tasks, and signals.

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

use super::configure::{engine_settings, exec_config, for_mode, health, mail_settings};
use super::journal::{ActivityLog, DaemonJournal, Log, LogTarget};
use super::pidfile::PidFile;
use super::queue::{JobQueue, Membership};
use super::slots::Slots;
use super::{Daemon, Mode, Setup, State};
use crate::account::Account;
use crate::clock::SystemClock;
use crate::config::Config;
use crate::engine::Engine;
use crate::exec::Spawner;
use crate::mail::Spool;
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
        if let Some(settings) = super::queue::cluster_settings(&setup.config) {
            survey(settings)?;
        }
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
        // Before the socket exists: a client can connect once it is bound, and
        // a signal that came before its handler would end the daemon (the
        // default action), as a reload right after a start does. A SIGHUP is
        // kept until the daemon is ready for it.
        let hangup = signal(SignalKind::hangup())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut quit = signal(SignalKind::quit())?;
        let listener = bind(&socket, !args.standalone)?;
        let stop = async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
                _ = quit.recv() => {}
            }
        };
        let result = run(setup, spawner, listener, hangup, stop).await;
        let _ = std::fs::remove_file(&socket);
        result
    })?;
    Ok(ExitCode::SUCCESS)
}

/// A daemon made, not yet started, with what its tasks take.
pub(super) struct Assembled {
    /// The shared state of the tasks.
    pub daemon: Arc<Daemon>,
    /// A cluster node's membership (its heartbeat's and listener's).
    pub membership: Option<Membership>,
    /// The mail spool (the mail store of a single node).
    pub spool: Spool,
    /// Wakes the mail sender.
    pub sender: Arc<Notify>,
    /// The mail sender's settings, as SIGHUP replaces them.
    pub mail_settings: tokio::sync::watch::Receiver<crate::mail::MailSettings>,
    /// Users whose tree changed on disk, for the debouncer.
    pub changes: tokio::sync::mpsc::UnboundedReceiver<super::users::Watched>,
}

/// Makes the daemon of `setup`: opens the log and the one job queue its
/// configuration chooses, and puts the shared state together. Nothing runs yet.
pub(super) async fn assemble(setup: Setup, spawner: Arc<Spawner>) -> anyhow::Result<Assembled> {
    let log = ActivityLog::open(&setup.log).with_context(|| format!("cannot open the log {:?}", setup.log.file))?;
    let spool = Spool::new(&setup.spool);
    let sender = Arc::new(Notify::new());
    let log = Log::new(DaemonJournal { log, spool: spool.clone(), mail_from: setup.config.mail_from.clone(), sender: sender.clone() });
    for path in [&setup.spool, &setup.mailbox].into_iter().chain(setup.log.file.as_ref()) {
        make_private(path).with_context(|| format!("cannot make {} private", path.display()))?;
    }
    // The one choice of store: every job, the probe gate and the mail store follow it.
    let (queue, membership) = JobQueue::open(&setup, &log).await?;
    let config = setup.config.clone();
    let probes = queue.probes();
    let config_limit = setup.config.max_activated_events;
    let exec = exec_config(&config, &setup, spawner, Arc::new(Mutex::new(health(&config))), Arc::default(), Default::default(), probes);
    let settings = engine_settings(&config, &setup);

    let (mail, mail_settings) = tokio::sync::watch::channel(mail_settings(&config, &setup));
    let (changed, changes) = tokio::sync::mpsc::unbounded_channel();
    let engine = Engine::with_ids(SystemClock, settings, queue.ids()?);
    let planner = super::MinutePlanner::new(setup.minute_clock.now().datetime());
    let state = State { config, exec, engine, planner };
    let daemon = Arc::new(Daemon {
        setup,
        log,
        state: Mutex::new(state),
        slots: Slots::new(config_limit),
        queue,
        wake: Notify::new(),
        started: Instant::now(),
        changed,
        mail,
        users: Default::default(),
        leadership: Notify::new(),
    });
    Ok(Assembled { daemon, membership, spool, sender, mail_settings, changes })
}

/// Runs the daemon on `listener` until `stop` completes; `hangup` receives SIGHUP.
pub async fn run(
    setup: Setup,
    spawner: Arc<Spawner>,
    listener: UnixListener,
    hangup: tokio::signal::unix::Signal,
    stop: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let socket = listener.local_addr().ok().and_then(|a| a.as_pathname().map(Path::to_path_buf)).unwrap_or_default();
    let Assembled { daemon, membership, spool, sender, mail_settings, changes } = assemble(setup, spawner).await?;
    {
        let mut state = daemon.lock();
        let state = &mut *state;
        let entry = state.engine.entry("start-logging", "");
        daemon.log.entry(entry);
        let start = state
            .engine
            .entry("start", "")
            .field("fqdn", &daemon.setup.fqdn)
            .field("servername", &daemon.setup.server_name)
            .field("version", env!("CARGO_PKG_VERSION"));
        daemon.log.entry(start);
        for warning in &daemon.setup.config.warnings {
            daemon.log.message("", warning, "warning");
        }
        if daemon.setup.minute_clock.is_scaled() {
            let text = format!("{} is set: the minute loop runs on a scaled clock (for tests only)", super::wallclock::TEST_MINUTE);
            daemon.log.message("", &text, "warning");
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
            daemon.log.message("", &text, "info");
        }
    }
    daemon.sync_users().await;
    {
        let (max_catchup, limits) = {
            let state = daemon.lock();
            (state.config.max_catchup_minutes, super::runner::limits(&state.config))
        };
        daemon.queue.settle(&*daemon, Duration::from_secs(u64::from(max_catchup) * 60), limits);
        // What the previous run left queued is activity; an empty queue is not.
        if daemon.queue.held() > 0 {
            daemon.slots.touch();
        }
        daemon.wake.notify_one();
    }
    daemon.watch_allow_file();
    // The minutes run from the one after the ledger's last, once the trees
    // are loaded: the minutes since it (a stop, a crash, a big site's load)
    // are caught up as the clock catches up a stall. A new ledger starts
    // after now, as the original's loop starts after its load.
    let last = daemon.queue.watermark()?;
    daemon.lock().planner = super::MinutePlanner::resume(last, daemon.setup.minute_clock.now().datetime());
    notify_ready();
    let cluster_tasks: Vec<_> = membership
        .into_iter()
        .flat_map(|Membership { queue, notices }| {
            [tokio::spawn(daemon.clone().heartbeat(queue.clone())), tokio::spawn(daemon.clone().listen(queue, notices))]
        })
        .collect();
    let mail_store = daemon.queue.mail_store(spool);
    let tasks = [
        tokio::spawn(daemon.clone().clock_loop()),
        tokio::spawn(daemon.clone().dispatch()),
        tokio::spawn(daemon.clone().status_loop()),
        tokio::spawn(daemon.clone().debounce(changes)),
        tokio::spawn(daemon.clone().check_roots()),
        tokio::spawn(daemon.clone().serve(listener)),
        tokio::spawn(daemon.clone().hangups(hangup)),
        tokio::spawn(crate::mail::run_sender(mail_store, mail_settings, sender, {
            let log = daemon.log.clone();
            Box::new(move |level: &str, text: &str| log.message("", text, level))
        })),
    ];
    stop.await;
    daemon.log.message("", "received signal to exit.", "info");
    daemon.slots.stop();
    let deadline = Instant::now() + DRAIN;
    while daemon.slots.running() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for task in tasks.into_iter().chain(cluster_tasks) {
        task.abort();
    }
    let text = format!("stopping: {} job(s) still queued are left for the next start", daemon.queue.held());
    daemon.log.message("", &text, "info");
    daemon.queue.close().await;
    Ok(())
}

/// `--check-config` of a cluster node: what its database holds now.
fn survey(settings: crate::cluster::Settings) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (cluster, _) = crate::cluster::Cluster::new(settings);
    let (version, live) = runtime.block_on(cluster.survey()).map_err(|e| anyhow::anyhow!("cannot reach the cluster database: {e}"))?;
    let known = crate::cluster::SCHEMA_VERSION;
    match version {
        Some(found) if found > known => {
            bail!("the cluster database has schema version {found}, newer than this hcron-scheduler knows ({known})")
        }
        Some(found) => println!("cluster database: schema version {found} (this hcron-scheduler: {known})"),
        None => println!("cluster database: no schema version yet (made at the first start: version {known})"),
    }
    println!("live nodes: {}", if live.is_empty() { "none".to_owned() } else { live.join(", ") });
    Ok(())
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
        None | Some("") => LogTarget { file: None, stderr: true, syslog: syslog(&config) },
        Some(path) => LogTarget { file: Some(Path::new("/var/log/hcron").join(path)), stderr: false, syslog: syslog(&config) },
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
        minute_clock: minute_clock()?,
    };
    Ok((setup, socket, pid))
}

/// The syslog socket the log also goes to, with `use_syslog`.
fn syslog(config: &Config) -> Option<PathBuf> {
    config.use_syslog.then(|| config.syslog_socket.clone())
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
    let config = match &args.config {
        Some(path) => Config::read(path)?,
        None => Config::default(),
    };
    let config = for_mode(config, true);
    let server_name = config.server_name();
    // The same place `hcron` looks for the socket: under $HOME, as user programs do.
    let home = crate::account::caller_home().unwrap_or_else(|| account.home.clone());
    let state = args.state_dir.clone().unwrap_or_else(|| home.join(".hcron").join(&server_name));
    let events = args.events.clone().unwrap_or_else(|| state.join("events"));
    let events = std::path::absolute(&events).unwrap_or(events);
    let setup = Setup {
        log: LogTarget { file: Some(state.join("hcron.log")), stderr: true, syslog: syslog(&config) },
        mailbox: state.join("mailbox"),
        spool: state.join("spool"),
        history: state.join("history.sqlite"),
        ssh_dir: state.join("ssh"),
        mode: Mode::Standalone { account, events },
        server_name,
        fqdn: crate::host::fqdn(),
        config,
        config_path: args.config.clone(),
        minute_clock: minute_clock()?,
    };
    Ok((setup, state.join("control.sock"), state.join("hcron-scheduler.pid")))
}

/// The minute loop's clock, scaled when a test asks.
fn minute_clock() -> anyhow::Result<super::wallclock::MinuteClock> {
    super::wallclock::MinuteClock::from_env().map_err(anyhow::Error::msg)
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
