//! Talking to the daemon: through its control socket on this host, or
//! over SSH to another (`hcron relay` there), with backup servers tried
//! in the seed's order when the primary cannot be reached.

mod fallback;
mod hostfile;
mod ssh;

use std::fmt;
use std::io::IsTerminal;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

pub use self::fallback::Timing;
pub use self::hostfile::Server;
pub use self::ssh::MARKER;
use crate::config::Config;
use crate::control::{Request, Response, call, decode, encode};

/// Where the daemon listens: `$HCRON_SOCKET`, else the configured
/// `control_socket` when it exists, else the caller's standalone daemon's
/// `~/.hcron/<server_name>/control.sock`.
pub fn socket_path(config: &Config) -> PathBuf {
    std::env::var_os("HCRON_SOCKET").map_or_else(|| configured_socket(config), PathBuf::from)
}

/// Where the daemon `config` describes listens: the configured
/// `control_socket` when it exists, else the caller's standalone daemon's.
fn configured_socket(config: &Config) -> PathBuf {
    if config.control_socket.exists() {
        return config.control_socket.clone();
    }
    let home = crate::account::caller_home().unwrap_or_default();
    home.join(".hcron").join(config.server_name()).join("control.sock")
}

/// A place to ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The control socket at this path, on this host.
    Local(PathBuf),
    /// A scheduler host, over SSH.
    Remote(Server),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Local(path) => write!(f, "this host ({})", path.display()),
            Target::Remote(server) => server.fmt(f),
        }
    }
}

/// When backup servers are used (`HCRON_HOSTFILE_POLICY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Only for commands run by an hcron job (`task`, the default).
    Task,
    /// For every command (`all`).
    All,
}

/// How a command reaches the daemon, from the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Reach {
    /// `HCRON_SOCKET`: this socket and nothing else.
    pub socket: Option<PathBuf>,
    /// `HCRON_HOST`: the primary server (`host` or `host:port`), instead of the server name.
    pub host: Option<Server>,
    /// `HCRON_HOSTFILE`, else `~/.hcron/hostfile` when there is one: the backup servers' file.
    pub hostfile: Option<PathBuf>,
    /// `HCRON_HOSTFILE_POLICY`.
    pub policy: Policy,
    /// Whether the command runs inside an hcron job (`HCRON_JOB_ID`, or the
    /// original's `HCRON_JOBID`, is set).
    pub in_job: bool,
    /// `HCRON_RETRY` (default 10 s) and `HCRON_TIMEOUT` (default 24 h).
    pub timing: Timing,
    /// `HCRON_CONNECT_TIMEOUT`: the longest an SSH connection may take to
    /// open (default 10 s, and never past `HCRON_TIMEOUT`).
    pub connect_timeout: Duration,
}

impl Reach {
    /// From the process environment; `timeout` (`--timeout`) overrides `HCRON_TIMEOUT`.
    pub fn from_env(timeout: Option<f64>) -> anyhow::Result<Reach> {
        Reach::from(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()), timeout)
    }

    /// From the variables `get` returns.
    fn from(get: impl Fn(&str) -> Option<String>, timeout: Option<f64>) -> anyhow::Result<Reach> {
        let set = |name: &str| get(name).filter(|v| !v.is_empty());
        let seconds = |name: &str, default: f64| -> anyhow::Result<Duration> {
            let value = match set(name) {
                None => default,
                Some(text) => text
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .with_context(|| format!("{name} must be a number of seconds, not \"{text}\""))?,
            };
            Ok(Duration::from_secs_f64(value.min(1e9)))
        };
        let policy = match set("HCRON_HOSTFILE_POLICY").as_deref() {
            None | Some("task") => Policy::Task,
            Some("all") => Policy::All,
            Some(other) => bail!("HCRON_HOSTFILE_POLICY must be \"task\" or \"all\", not \"{other}\""),
        };
        let timeout = match timeout {
            Some(seconds) if seconds.is_finite() && seconds >= 0.0 => Duration::from_secs_f64(seconds.min(1e9)),
            Some(seconds) => bail!("--timeout must be a number of seconds, not {seconds}"),
            None => seconds("HCRON_TIMEOUT", 86_400.0)?,
        };
        Ok(Reach {
            socket: get("HCRON_SOCKET").map(PathBuf::from),
            host: set("HCRON_HOST").map(|h| hostfile::server(h.trim()).map_err(|why| anyhow::anyhow!("HCRON_HOST: {why}"))).transpose()?,
            hostfile: set("HCRON_HOSTFILE").map(PathBuf::from).or_else(|| {
                // The conventional place, for jobs above all: their environment is clean.
                let conventional = PathBuf::from(get("HOME")?).join(".hcron/hostfile");
                conventional.is_file().then_some(conventional)
            }),
            policy,
            in_job: set("HCRON_JOB_ID").or_else(|| set("HCRON_JOBID")).is_some(),
            timing: Timing { retry: seconds("HCRON_RETRY", 10.0)?, timeout },
            connect_timeout: seconds("HCRON_CONNECT_TIMEOUT", 10.0)?,
        })
    }

    /// The primary: `HCRON_SOCKET`, `HCRON_HOST`, a daemon listening on
    /// this host, or the server the configuration (or the caller's tree) names.
    pub fn primary(&self, config: &Config) -> Target {
        if let Some(socket) = &self.socket {
            return Target::Local(socket.clone());
        }
        let local = configured_socket(config);
        match &self.host {
            Some(host) => as_target(host.clone(), &local),
            // A daemon on this host, when one listens.
            None if UnixStream::connect(&local).is_ok() => Target::Local(local),
            None => as_target(Server { host: primary_name(config), port: None }, &local),
        }
    }

    /// The backups this command may use after `primary`: none unless the
    /// policy allows them (or with `HCRON_SOCKET`); the hostfile's servers
    /// in order, without `primary` or repeats.
    pub fn backups(&self, config: &Config, primary: &Target) -> anyhow::Result<Vec<Target>> {
        let Some(path) = self.hostfile.as_deref().filter(|_| self.socket.is_none() && (self.policy == Policy::All || self.in_job)) else {
            return Ok(Vec::new());
        };
        let local = configured_socket(config);
        let mut backups = Vec::new();
        for server in read_hostfile(path)? {
            let server = as_target(server, &local);
            if server != *primary && !backups.contains(&server) {
                backups.push(server);
            }
        }
        Ok(backups)
    }
}

/// `server` as a target: the local socket when it names this host without a
/// port (localhost, the short name or the FQDN), else SSH.
fn as_target(server: Server, local: &Path) -> Target {
    // Looked up once (the FQDN is a resolver query), and only for a server without a port.
    static THIS_HOST: std::sync::OnceLock<[String; 3]> = std::sync::OnceLock::new();
    let this = || {
        let names = THIS_HOST.get_or_init(|| {
            ["localhost".to_owned(), crate::host::short_name().to_ascii_lowercase(), crate::host::fqdn().to_ascii_lowercase()]
        });
        names.contains(&server.host.to_ascii_lowercase())
    };
    match server.port {
        None if this() => Target::Local(local.to_owned()),
        _ => Target::Remote(server),
    }
}

/// The scheduler a tree names: the configured `server_name`; unset (a
/// workstation without the site's configuration), the `<server>` of the
/// caller's one `~/.hcron/<server>/events`; else this host's name.
fn primary_name(config: &Config) -> String {
    if config.server_name.is_none()
        && let Some(server) = crate::account::caller_home().and_then(|home| tree_server(&home))
    {
        return server;
    }
    config.server_name()
}

/// The `<server>` of `home/.hcron/<server>/events` when there is exactly one.
fn tree_server(home: &Path) -> Option<String> {
    let entries = std::fs::read_dir(home.join(".hcron")).ok()?;
    let mut trees = entries.flatten().filter(|e| e.path().join("events").is_dir()).filter_map(|e| e.file_name().into_string().ok());
    let first = trees.next()?;
    trees.next().is_none().then_some(first)
}

/// The servers of the hostfile at `path`; an error naming the file and line.
fn read_hostfile(path: &Path) -> anyhow::Result<Vec<Server>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the hostfile {} (HCRON_HOSTFILE)", path.display()))?;
    hostfile::parse(&text).map_err(|(line, why)| anyhow::anyhow!("{}:{line}: {why}", path.display()))
}

/// Asks `target` once, an SSH connection given at most `connect` (at least
/// a second) to open; its answer (an error answer included), or why it
/// could not be reached.
pub fn ask_once(target: &Target, request: &Request, connect: Duration) -> Result<Response, String> {
    match target {
        Target::Local(path) => {
            let mut stream =
                UnixStream::connect(path).map_err(|e| format!("no hcron-scheduler is listening at {} ({e})", path.display()))?;
            stream.set_read_timeout(Some(Duration::from_secs(120))).map_err(|e| e.to_string())?;
            call(&mut stream, request).map_err(|e| format!("no answer from the daemon at {}: {e}", path.display()))
        }
        Target::Remote(server) => {
            decode(&ssh::call(server, &encode(request), connect)?).map_err(|e| format!("a garbled answer from the relay ({e})"))
        }
    }
}

/// Asks the primary once; `Ok(None)` when it cannot be reached (for
/// commands that can do without a daemon).
pub fn try_ask(config: &Config, request: &Request) -> anyhow::Result<Option<Response>> {
    let reach = Reach::from_env(None)?;
    Ok(ask_once(&reach.primary(config), request, reach.connect_timeout).ok())
}

/// Asks the daemon, falling back to the backup servers as `HCRON_*` and
/// `timeout` say; an error when none answers or it refuses.
pub fn ask(config: &Config, request: &Request, timeout: Option<f64>) -> anyhow::Result<Response> {
    let reach = Reach::from_env(timeout)?;
    let primary = reach.primary(config);
    let backups = reach.backups(config, &primary)?;
    let on_terminal = std::io::stderr().is_terminal();
    let answer = fallback::run(
        &primary,
        &backups,
        reach.timing,
        &mut fallback::RealTime,
        |target, left| ask_once(target, request, reach.connect_timeout.min(left)),
        |failed| {
            if on_terminal {
                eprintln!("{}", attempt_line(&failed));
            }
        },
    );
    match answer {
        Ok(Response::Error { message }) => bail!("{message}"),
        Ok(response) => Ok(response),
        Err(exhausted) => bail!("{}", exhausted_message(&exhausted)),
    }
}

/// A failed attempt, for the terminal: why, and when the next one comes.
fn attempt_line(failed: &fallback::Failed<'_, Target>) -> String {
    match failed.next {
        None => format!("hcron: {}: {}; giving up", failed.server, failed.why),
        Some((next, wait)) if wait.is_zero() => format!("hcron: {}: {}; trying {next} now", failed.server, failed.why),
        Some((next, wait)) => {
            let at = jiff::Zoned::now().checked_add(wait).map(|t| t.strftime("%H:%M:%S").to_string()).unwrap_or_default();
            format!("hcron: {}: {}; trying {next} again at {at} (in {} s)", failed.server, failed.why, wait.as_secs_f64())
        }
    }
}

/// Every server tried, how often and its last failure.
fn exhausted_message(exhausted: &fallback::Exhausted<Target>) -> String {
    let tried: Vec<String> = exhausted
        .tried
        .iter()
        .map(|(target, n, why)| format!("{target}: {n} attempt{}, last: {why}", if *n == 1 { "" } else { "s" }))
        .collect();
    format!("no hcron-scheduler could be reached in {:.0} s; tried {}", exhausted.elapsed.as_secs_f64(), tried.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach(vars: &[(&str, &str)], timeout: Option<f64>) -> anyhow::Result<Reach> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Reach::from(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()), timeout)
    }

    #[test]
    fn the_environment_sets_host_hostfile_policy_and_timing_with_the_seeds_defaults() {
        let defaults = reach(&[], None).unwrap();
        let want = Reach {
            socket: None,
            host: None,
            hostfile: None,
            policy: Policy::Task,
            in_job: false,
            timing: Timing { retry: Duration::from_secs(10), timeout: Duration::from_secs(86_400) },
            connect_timeout: Duration::from_secs(10),
        };
        assert_eq!(defaults, want);
        let set = reach(
            &[
                ("HCRON_HOST", "s1:2222"),
                ("HCRON_CONNECT_TIMEOUT", "1.5"),
                ("HCRON_HOSTFILE", "/h"),
                ("HCRON_HOSTFILE_POLICY", "all"),
                ("HCRON_RETRY", "0.5"),
                ("HCRON_TIMEOUT", " 3 "),
                ("HCRON_JOB_ID", "1f"),
                ("HCRON_SOCKET", "/s"),
            ],
            None,
        )
        .unwrap();
        let want = Reach {
            socket: Some("/s".into()),
            host: Some(Server { host: "s1".into(), port: Some(2222) }),
            hostfile: Some("/h".into()),
            policy: Policy::All,
            in_job: true,
            timing: Timing { retry: Duration::from_millis(500), timeout: Duration::from_secs(3) },
            connect_timeout: Duration::from_millis(1500),
        };
        assert_eq!(set, want);
        assert!(reach(&[("HCRON_JOBID", "2")], None).unwrap().in_job, "the original's name of the job id");
        assert!(!reach(&[("HCRON_JOB_ID", "")], None).unwrap().in_job, "empty is unset");
        assert_eq!(reach(&[("HCRON_HOSTFILE_POLICY", "task")], None).unwrap().policy, Policy::Task);
        assert_eq!(reach(&[("HCRON_HOST", "")], None).unwrap().host, None);
        let home = tempfile::tempdir().unwrap();
        let home_text = home.path().to_str().unwrap();
        assert_eq!(reach(&[("HOME", home_text)], None).unwrap().hostfile, None, "no ~/.hcron/hostfile");
        std::fs::create_dir_all(home.path().join(".hcron")).unwrap();
        std::fs::write(home.path().join(".hcron/hostfile"), "b1\n").unwrap();
        assert_eq!(reach(&[("HOME", home_text)], None).unwrap().hostfile, Some(home.path().join(".hcron/hostfile")));
        assert_eq!(reach(&[("HOME", home_text), ("HCRON_HOSTFILE", "/h")], None).unwrap().hostfile, Some("/h".into()));
        let timeout = |vars: &[(&str, &str)], flag| reach(vars, flag).unwrap().timing.timeout;
        assert_eq!(timeout(&[("HCRON_TIMEOUT", "3")], Some(0.25)), Duration::from_millis(250), "--timeout wins");
        assert_eq!(timeout(&[], Some(0.0)), Duration::ZERO);
    }

    #[test]
    fn bad_values_are_named() {
        for (vars, flag, said) in [
            (&[("HCRON_RETRY", "ten")][..], None, "HCRON_RETRY must be a number of seconds, not \"ten\""),
            (&[("HCRON_TIMEOUT", "-1")], None, "HCRON_TIMEOUT must be a number of seconds, not \"-1\""),
            (&[("HCRON_TIMEOUT", "inf")], None, "HCRON_TIMEOUT must be a number of seconds, not \"inf\""),
            (&[("HCRON_RETRY", "NaN")], None, "HCRON_RETRY must be a number of seconds, not \"NaN\""),
            (&[("HCRON_HOST", "a b")], None, "HCRON_HOST: one server per line, not \"a b\""),
            (&[("HCRON_CONNECT_TIMEOUT", "x")], None, "HCRON_CONNECT_TIMEOUT must be a number of seconds, not \"x\""),
            (&[("HCRON_HOSTFILE_POLICY", "some")], None, "HCRON_HOSTFILE_POLICY must be \"task\" or \"all\", not \"some\""),
            (&[], Some(-2.0), "--timeout must be a number of seconds, not -2"),
            (&[], Some(f64::NAN), "--timeout must be a number of seconds, not NaN"),
            (&[], Some(f64::INFINITY), "--timeout must be a number of seconds, not inf"),
        ] {
            assert_eq!(reach(vars, flag).unwrap_err().to_string(), said);
        }
    }

    fn config(server_name: &str) -> Config {
        Config { server_name: Some(server_name.into()), control_socket: "/nonexistent/control.sock".into(), ..Config::default() }
    }

    fn remote(host: &str, port: Option<u16>) -> Target {
        Target::Remote(Server { host: host.into(), port })
    }

    #[test]
    fn the_primary_is_hcron_host_else_the_server_name_and_this_host_is_asked_locally() {
        let local = Target::Local(configured_socket(&config("sched")));
        let primary = |vars: &[(&str, &str)], name: &str| reach(vars, None).unwrap().primary(&config(name));
        assert_eq!(primary(&[], "sched"), remote("sched", None));
        assert_eq!(primary(&[("HCRON_HOST", "other")], "sched"), remote("other", None));
        assert_eq!(primary(&[("HCRON_HOST", "other:2200")], "sched"), remote("other", Some(2200)));
        assert_eq!(primary(&[("HCRON_HOST", "localhost:2200")], "sched"), remote("localhost", Some(2200)), "a port means SSH");
        assert_eq!(primary(&[("HCRON_HOST", "localhost")], "sched"), local);
        assert_eq!(primary(&[("HCRON_HOST", "LOCALHOST")], "sched"), local);
        assert_eq!(primary(&[("HCRON_HOST", &crate::host::short_name())], "sched"), local);
        assert_eq!(primary(&[("HCRON_HOST", &crate::host::fqdn())], "sched"), local);
        assert_eq!(primary(&[], &crate::host::fqdn()), Target::Local(configured_socket(&config(&crate::host::fqdn()))));
        assert_eq!(primary(&[("HCRON_HOST", "localhost"), ("HCRON_SOCKET", "/s")], "x"), Target::Local("/s".into()));
    }

    #[test]
    fn without_a_configured_server_name_the_one_tree_under_hcron_names_the_server() {
        let home = tempfile::tempdir().unwrap();
        let hcron = home.path().join(".hcron");
        assert_eq!(tree_server(home.path()), None, "no ~/.hcron");
        std::fs::create_dir_all(hcron.join("sched/events")).unwrap();
        std::fs::create_dir_all(hcron.join("state-only")).unwrap();
        std::fs::write(hcron.join("hostfile"), "b1\n").unwrap();
        assert_eq!(tree_server(home.path()).as_deref(), Some("sched"));
        std::fs::create_dir_all(hcron.join("other/events")).unwrap();
        assert_eq!(tree_server(home.path()), None, "two trees: which one is not for hcron to guess");
    }

    #[test]
    fn backups_come_from_the_hostfile_only_as_the_policy_allows_without_the_primary_or_repeats() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hostfile");
        std::fs::write(&file, "# backups\nsched\nb1\nb2:2222\nb1\nsched:22\n").unwrap();
        let path = file.to_str().unwrap();
        let targets = |vars: &[(&str, &str)]| {
            let reach = reach(vars, None).unwrap();
            reach.backups(&config("sched"), &reach.primary(&config("sched"))).unwrap()
        };
        let all = vec![remote("b1", None), remote("b2", Some(2222)), remote("sched", Some(22))];
        assert_eq!(targets(&[("HCRON_HOSTFILE", path)]), [], "task policy, outside a job");
        assert_eq!(targets(&[("HCRON_HOSTFILE", path), ("HCRON_JOB_ID", "7")]), all, "task policy, inside a job");
        assert_eq!(targets(&[("HCRON_HOSTFILE", path), ("HCRON_HOSTFILE_POLICY", "all")]), all);
        assert_eq!(targets(&[("HCRON_HOSTFILE", path), ("HCRON_HOSTFILE_POLICY", "all"), ("HCRON_SOCKET", "/s")]), [], "one socket only");
        std::fs::write(&file, "b1\nb2 b3\n").unwrap();
        let all = reach(&[("HCRON_HOSTFILE", path), ("HCRON_HOSTFILE_POLICY", "all")], None).unwrap();
        let error = all.backups(&config("s"), &remote("s", None)).unwrap_err();
        assert_eq!(error.to_string(), format!("{path}:2: one server per line, not \"b2 b3\""));
        let missing = dir.path().join("missing");
        let error = reach(&[("HCRON_HOSTFILE", missing.to_str().unwrap()), ("HCRON_JOBID", "1")], None)
            .unwrap()
            .backups(&config("s"), &remote("s", None));
        assert!(
            format!("{:#}", error.unwrap_err()).starts_with(&format!("cannot read the hostfile {} (HCRON_HOSTFILE): ", missing.display()))
        );
    }

    #[test]
    fn messages_name_each_server_its_attempts_and_last_failure() {
        let exhausted = fallback::Exhausted {
            tried: vec![(remote("s1", None), 3, "refused".to_owned()), (Target::Local("/run/c.sock".into()), 1, "gone".to_owned())],
            elapsed: Duration::from_millis(20_400),
        };
        assert_eq!(
            exhausted_message(&exhausted),
            "no hcron-scheduler could be reached in 20 s; tried s1: 3 attempts, last: refused; this host (/run/c.sock): 1 attempt, last: gone"
        );
        let s1 = remote("s1", Some(2));
        let failed = |next| fallback::Failed { server: &s1, why: "refused", next };
        assert_eq!(attempt_line(&failed(None)), "hcron: s1:2: refused; giving up");
        assert_eq!(attempt_line(&failed(Some((&s1, Duration::ZERO)))), "hcron: s1:2: refused; trying s1:2 now");
        let line = attempt_line(&failed(Some((&s1, Duration::from_millis(1500)))));
        assert!(line.starts_with("hcron: s1:2: refused; trying s1:2 again at ") && line.ends_with(" (in 1.5 s)"), "{line}");
    }
}
