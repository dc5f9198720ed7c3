//! The scheduler's configuration: `/etc/hcron/hcron.toml`, or the original's
//! `/etc/hcron/hcron.conf` (a Python-literal dict) so that an installed base
//! switches without edits. Every key of §14.1 is known; an unknown key or a
//! bad value is an error naming the file and the key.

mod legacy;

use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Deserialize;

use crate::event::LoadContext;
use crate::tree;

/// Where the configuration is looked for when none is named.
pub const DEFAULT_PATHS: [&str; 2] = ["/etc/hcron/hcron.toml", "/etc/hcron/hcron.conf"];

/// Every configuration key, with the original's defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Allow `host=localhost` (and the host's own names).
    pub allow_localhost: bool,
    /// Allow events owned by root.
    pub allow_root_events: bool,
    /// Seconds the remote shell may take to start a command.
    pub command_spawn_timeout: u64,
    /// An empty `command` is a failure instead of a success.
    pub error_on_empty_command: bool,
    /// Where users' trees live (`<path>/<user>`); unset: `~user/.hcron/<server_name>/events`.
    pub events_base_path: Option<PathBuf>,
    /// The activity log; empty or `None` (legacy): standard output.
    pub log_path: Option<String>,
    /// Jobs activated at once.
    pub max_activated_events: u32,
    /// Activations per chain, the root included.
    pub max_chain_events: u32,
    /// Recipients per notification.
    pub max_email_notifications: u32,
    /// Largest event or include file read, in bytes.
    pub max_event_file_size: u64,
    /// Events per user, a guard against runaway trees: later ones are
    /// rejected unread (decisions 2). Unset: [`DEFAULT_MAX_EVENTS`]; a legacy
    /// `hcron.conf`'s value is ignored.
    pub max_events_per_user: Option<usize>,
    /// The original's snapshot limit; snapshots are gone (live trees), the key is accepted.
    pub max_hcron_tree_snapshot_size: u64,
    /// Names per `next_event`/`failover_event` list.
    pub max_next_events: u32,
    /// Jobs waiting at most, in all (a cluster: in its whole queue).
    pub max_queued_jobs: usize,
    /// Jobs of one user waiting at most: past it the user's activations
    /// are refused and their clock and chained jobs dropped.
    pub max_queued_jobs_per_user: usize,
    /// Links followed to resolve one path.
    pub max_symlinks: u32,
    /// Base names starting with a match of this regex are ignored; empty: none (decisions 2a).
    pub names_to_ignore_regexp: String,
    /// The remote shell program.
    pub remote_shell_exec: PathBuf,
    /// The remote shell kind; only `ssh`.
    pub remote_shell_type: String,
    /// This scheduler's name in users' trees (`~/.hcron/<server_name>/`); unset: the host's FQDN.
    pub server_name: Option<String>,
    /// The original's client-side signal directory; replaced by the control socket, the key is accepted.
    #[serde(rename = "signalHome")]
    pub signal_home: Option<PathBuf>,
    /// SMTP server for notifications.
    pub smtp_server: String,
    /// An account whose lookup proves the name service is up.
    pub test_net_username: Option<String>,
    /// Seconds between name-service probes.
    pub test_net_delay: u64,
    /// User look-up attempts.
    pub test_net_retry: u32,
    /// Log to syslog as well.
    pub use_syslog: bool,
    /// The syslog daemon's datagram socket, for use_syslog.
    pub syslog_socket: PathBuf,
    /// Skipped minutes run after a clock step, a stall or a restart; older ones are logged as missed.
    pub max_catchup_minutes: u32,
    /// Directories of one user's tree watched with inotify (one watch each, from a budget all users share); a larger tree is polled instead.
    pub max_watches_per_user: usize,
    /// Seconds between reloads of a tree that is polled instead of watched.
    pub tree_poll_interval: u64,
    /// The daemon's control socket.
    pub control_socket: PathBuf,
    /// The job history database (SQLite).
    pub history_path: PathBuf,
    /// Days a finished job is kept in the history; 0 keeps every one.
    pub history_max_age_days: u64,
    /// Jobs kept in the history per user, the newest; 0 keeps every one.
    pub history_max_jobs_per_user: usize,
    /// Consecutive connection failures that put a host offline.
    pub host_attempts_count: u32,
    /// Seconds a host stays offline; 0 turns host health off.
    pub host_offline_timeout: u64,
    /// Seconds an idle SSH master connection is kept; 0: a new connection per job.
    pub ssh_control_persist: u64,
    /// Bytes of standard output and of standard error kept per `exec_wait` job.
    pub exec_output_limit: usize,
    /// How notifications leave: `smtp`, `sendmail` or `mailbox` [default: smtp as root, mailbox standalone].
    pub mail_transport: Option<String>,
    /// SMTP port of `smtp_server`.
    pub smtp_port: u16,
    /// Upgrade the SMTP connection with STARTTLS (and refuse to send without it).
    pub smtp_starttls: bool,
    /// Seconds to wait for the SMTP server at each step (connect, greeting, each reply); then the attempt fails and is retried.
    pub smtp_timeout: u64,
    /// A PEM certificate to trust for STARTTLS besides the system's.
    pub smtp_ca_file: Option<PathBuf>,
    /// SMTP user name, to authenticate (PLAIN or LOGIN).
    pub smtp_username: Option<String>,
    /// SMTP password (never shown by `Debug`).
    pub smtp_password: Option<Secret>,
    /// The sendmail program, for `mail_transport = "sendmail"`.
    pub sendmail_path: PathBuf,
    /// Envelope sender and `From:` of every notification [default: `<owner>@<fqdn>`].
    pub mail_from: Option<String>,
    /// Seconds before the first retry when the mail server cannot be reached (or defers a message); doubled each time.
    pub mail_retry_initial: u64,
    /// Longest wait between two attempts, in seconds.
    pub mail_retry_max: u64,
    /// A PostgreSQL URL (`postgresql://user@host/db`): this node is one of a
    /// cluster of schedulers sharing that database; unset: a single node.
    pub cluster_database: Option<Secret>,
    /// This node's name in the cluster (logs, `hcron info nodes`) [default: the short host name].
    pub node_name: Option<String>,
    /// Seconds between a node's heartbeats, at most (each one comes at a random point between half of it and all of it).
    pub heartbeat_interval: f64,
    /// Heartbeat intervals without a beat after which a node is dead (with `node_grace`).
    pub heartbeat_timeout_factor: u32,
    /// Seconds added to the heartbeat timeout before a node is dead.
    pub node_grace: f64,
    /// What reading the file noticed and let pass (e.g. a legacy limit ignored).
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// `max_events_per_user` when no `hcron.toml` sets it.
pub const DEFAULT_MAX_EVENTS: usize = 100_000;

/// The original's shipped `names_to_ignore_regexp`: hidden files and editor backups.
pub const DEFAULT_IGNORE: &str = r"(\..*)|(.*~$)";

impl Default for Config {
    fn default() -> Self {
        Config {
            allow_localhost: false,
            allow_root_events: false,
            command_spawn_timeout: 15,
            error_on_empty_command: false,
            events_base_path: None,
            log_path: Some("/var/log/hcron/hcron.log".into()),
            max_activated_events: 20,
            max_chain_events: 5,
            max_email_notifications: 16,
            max_event_file_size: 65536,
            max_events_per_user: None,
            max_hcron_tree_snapshot_size: 262_144,
            max_next_events: 8,
            max_queued_jobs: 100_000,
            max_queued_jobs_per_user: 1_000,
            max_symlinks: 8,
            names_to_ignore_regexp: DEFAULT_IGNORE.into(),
            remote_shell_exec: "/usr/bin/ssh".into(),
            remote_shell_type: "ssh".into(),
            server_name: None,
            signal_home: None,
            smtp_server: "localhost".into(),
            test_net_username: None,
            test_net_delay: 1,
            test_net_retry: 5,
            use_syslog: false,
            syslog_socket: "/dev/log".into(),
            max_catchup_minutes: 60,
            max_watches_per_user: 10_000,
            tree_poll_interval: 60,
            control_socket: "/run/hcron/control.sock".into(),
            history_path: "/var/lib/hcron/history.sqlite".into(),
            history_max_age_days: 90,
            history_max_jobs_per_user: 10_000,
            host_attempts_count: 3,
            host_offline_timeout: 60,
            ssh_control_persist: 300,
            exec_output_limit: 65536,
            mail_transport: None,
            smtp_port: 25,
            smtp_timeout: 60,
            smtp_starttls: false,
            smtp_ca_file: None,
            smtp_username: None,
            smtp_password: None,
            sendmail_path: "/usr/sbin/sendmail".into(),
            mail_from: None,
            mail_retry_initial: 30,
            mail_retry_max: 3600,
            cluster_database: None,
            node_name: None,
            heartbeat_interval: 2.0,
            heartbeat_timeout_factor: 3,
            node_grace: 0.0,
            warnings: Vec::new(),
        }
    }
}

/// A value that `Debug` does not show.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<hidden>")
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{path}: cannot read: {error}")]
    Read { path: PathBuf, error: std::io::Error },
    /// The file does not parse, or a key is unknown or has a bad value.
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Config {
    /// Reads `path`: the original's format when the file is a Python dict
    /// (whatever its name: `hcron.conf`, `hcron.conf.sample`, ...), TOML otherwise.
    pub fn read(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read { path: path.into(), error })?;
        let invalid = |message: String| ConfigError::Invalid { path: path.into(), message };
        let mut config = if legacy::looks_legacy(path, &text) {
            Config::from_legacy(legacy::parse(&text).map_err(invalid)?, &text).map_err(invalid)?
        } else {
            toml::from_str(&text).map_err(|e| invalid(e.to_string()))?
        };
        config.ignore_regex().map_err(invalid)?;
        if let Some(transport) = config.mail_transport.as_deref().filter(|t| !["smtp", "sendmail", "mailbox"].contains(t)) {
            return Err(invalid(format!("mail_transport: {transport:?} is not one of \"smtp\", \"sendmail\", \"mailbox\"")));
        }
        config.check_cluster().map_err(invalid)?;
        config.warnings.iter_mut().for_each(|w| *w = format!("{}: {w}", path.display()));
        Ok(config)
    }

    /// A legacy dict: `None` means "unset" (the default) except for the keys
    /// where `None` is a value of its own (`log_path: None` is standard output),
    /// and `max_events_per_user` is ignored (decisions 2).
    /// An error names the key at fault and its line in `text`.
    fn from_legacy(value: serde_json::Value, text: &str) -> Result<Config, String> {
        let serde_json::Value::Object(mut keys) = value else { return Err("not a dict of settings".into()) };
        keys.retain(|key, value| !value.is_null() || serde_json::from_value::<Config>(serde_json::json!({ key: null })).is_ok());
        let limit = keys.remove("max_events_per_user");
        let mut config: Config = serde_json::from_value(serde_json::Value::Object(keys.clone())).map_err(|error| {
            // The key at fault is the one that fails alone.
            let Some(key) =
                keys.iter().find(|(k, v)| serde_json::from_value::<Config>(serde_json::json!({ k.as_str(): v })).is_err()).map(|(k, _)| k)
            else {
                return error.to_string();
            };
            let quoted = [format!("\"{key}\""), format!("'{key}'")];
            match text.lines().position(|line| quoted.iter().any(|q| line.contains(q.as_str()))) {
                Some(n) => format!("line {}: {key}: {error}", n + 1),
                None => format!("{key}: {error}"),
            }
        })?;
        if let Some(limit) = limit {
            config.warnings.push(format!(
                "max_events_per_user ({limit}) is ignored: hcron 1.5 never enforced it; the limit is {} (set it in hcron.toml to change it)",
                DEFAULT_MAX_EVENTS
            ));
        }
        Ok(config)
    }

    /// Reads `path`, or the first of [`DEFAULT_PATHS`] that exists, or returns the defaults.
    pub fn find(path: Option<&Path>) -> Result<Config, ConfigError> {
        match path {
            Some(path) => Config::read(path),
            None => match DEFAULT_PATHS.iter().map(Path::new).find(|p| p.exists()) {
                Some(path) => Config::read(path),
                None => Ok(Config::default()),
            },
        }
    }

    /// The compiled `names_to_ignore_regexp`, anchored at the start (the original's `re.match`); `None` when empty.
    pub fn ignore_regex(&self) -> Result<Option<Regex>, String> {
        let pattern = &self.names_to_ignore_regexp;
        if pattern.is_empty() {
            return Ok(None);
        }
        Regex::new(&format!("^(?:{pattern})")).map(Some).map_err(|e| format!("names_to_ignore_regexp: {e}"))
    }

    /// The cluster keys' values are usable: an error names the key.
    fn check_cluster(&self) -> Result<(), String> {
        if !(self.heartbeat_interval.is_finite() && self.heartbeat_interval > 0.0 && self.heartbeat_interval <= 3600.0) {
            return Err(format!("heartbeat_interval: {} is not a number of seconds in (0, 3600]", self.heartbeat_interval));
        }
        if !(self.node_grace.is_finite() && (0.0..=86_400.0).contains(&self.node_grace)) {
            return Err(format!("node_grace: {} is not a number of seconds in [0, 86400]", self.node_grace));
        }
        if !(2..=1000).contains(&self.heartbeat_timeout_factor) {
            return Err(format!(
                "heartbeat_timeout_factor: {} is not in [2, 1000] (with 1, a beat late by a moment would kill a node)",
                self.heartbeat_timeout_factor
            ));
        }
        if let Some(url) = &self.cluster_database
            && !(url.0.starts_with("postgresql://") || url.0.starts_with("postgres://"))
        {
            return Err("cluster_database: not a postgresql:// URL".into());
        }
        Ok(())
    }

    /// How long a node may go without a beat before it is dead:
    /// `node_grace + heartbeat_interval × heartbeat_timeout_factor`.
    pub fn node_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.node_grace + self.heartbeat_interval * f64::from(self.heartbeat_timeout_factor))
    }

    /// The server name: `server_name`, else the host's fully qualified name.
    pub fn server_name(&self) -> String {
        self.server_name.clone().unwrap_or_else(crate::host::fqdn)
    }

    /// The early built-ins of this host: its FQDN, looked up once, and the server name.
    pub fn load_context(&self) -> LoadContext {
        let host_name = crate::host::fqdn();
        let server_name = self.server_name.clone().unwrap_or_else(|| host_name.clone());
        LoadContext { host_name, server_name }
    }

    /// How to load a tree under this configuration, with `context`'s built-ins.
    pub fn tree_options(&self, context: LoadContext) -> tree::Options {
        tree::Options {
            ignore: self.ignore_regex().expect("checked when the configuration was read"),
            max_symlinks: self.max_symlinks,
            max_events: self.max_events_per_user.unwrap_or(DEFAULT_MAX_EVENTS),
            max_file_size: self.max_event_file_size,
            context,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn the_smtp_password_is_read_but_never_shown() {
        let (_dir, path) = write("hcron.toml", "smtp_password = \"hunter2\"\n");
        let config = Config::read(&path).unwrap();
        assert_eq!(config.smtp_password, Some(Secret("hunter2".into())));
        let shown = format!("{config:?}");
        assert!(shown.contains("smtp_password: Some(<hidden>)") && !shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn the_cluster_keys_are_read_checked_and_make_the_node_timeout() {
        let url = "postgresql://hcron:pw@127.0.0.1/hcron";
        let (_dir, path) = write(
            "hcron.toml",
            &format!(
                "cluster_database = \"{url}\"\nnode_name = \"a\"\nheartbeat_interval = 2\nheartbeat_timeout_factor = 4\nnode_grace = 1.5\n"
            ),
        );
        let config = Config::read(&path).unwrap();
        assert_eq!(config.cluster_database, Some(Secret(url.into())));
        assert!(!format!("{config:?}").contains(":pw@"), "the URL may hold a password");
        assert_eq!(config.node_timeout(), std::time::Duration::from_millis(9500), "1.5 + 2 × 4");
        assert_eq!(Config::default().node_timeout(), std::time::Duration::from_secs(6));
        for (text, key) in [
            ("heartbeat_interval = 0", "heartbeat_interval"),
            ("heartbeat_interval = -1", "heartbeat_interval"),
            ("heartbeat_interval = 3600.5", "heartbeat_interval"),
            ("heartbeat_interval = nan", "heartbeat_interval"),
            ("node_grace = -0.5", "node_grace"),
            ("node_grace = inf", "node_grace"),
            ("node_grace = 86400.5", "node_grace"),
            ("heartbeat_timeout_factor = 1", "heartbeat_timeout_factor"),
            ("heartbeat_timeout_factor = 1001", "heartbeat_timeout_factor"),
            ("cluster_database = \"mysql://x\"", "cluster_database"),
        ] {
            let (_dir, path) = write("hcron.toml", text);
            let error = Config::read(&path).unwrap_err().to_string();
            assert!(error.contains(&format!(": {key}: ")), "{text}: {error}");
        }
        for text in [
            "heartbeat_interval = 3600",
            "node_grace = 0",
            "node_grace = 86400",
            "heartbeat_timeout_factor = 2",
            "heartbeat_timeout_factor = 1000",
            "cluster_database = \"postgres://x\"",
        ] {
            let (_dir, path) = write("hcron.toml", text);
            assert!(Config::read(&path).is_ok(), "{text}");
        }
    }

    #[test]
    fn legacy_errors_name_the_key_and_its_line_and_a_missing_file_says_why_once() {
        let (_dir, path) = write("hcron.conf", "{\n 'server_name': 'x',\n \"max_chain_events\": \"three\",\n}\n");
        let error = Config::read(&path).unwrap_err().to_string();
        assert!(error.ends_with(": line 3: max_chain_events: invalid type: string \"three\", expected u32"), "{error}");
        let (_dir, path) = write("hcron.conf", "{\n 'server_name': 'x',\n\n 'bogus': 3,\n}\n");
        let error = Config::read(&path).unwrap_err().to_string();
        assert!(error.contains(": line 4: bogus: unknown field `bogus`"), "{error}");
        let error = anyhow::Error::from(Config::read(Path::new("/nonexistent/hcron.conf")).unwrap_err());
        assert_eq!(format!("{error:#}").matches("No such file").count(), 1, "{error:#}");
    }

    #[test]
    fn legacy_file_with_comments_and_none() {
        let (_dir, path) = write(
            "hcron.conf",
            "# shipped\n{\n  'allow_localhost': True,\n  \"max_events_per_user\": 5000, # many\n  'names_to_ignore_regexp': \"(\\..*)|(.*~$)\",\n  'log_path': None,\n  'signalHome': '/var/spool/hcron/signal',\n}\n",
        );
        let config = Config::read(&path).unwrap();
        assert!(config.allow_localhost);
        // decisions 2: a legacy limit is ignored, and said so.
        assert_eq!(config.max_events_per_user, None);
        assert_eq!(config.tree_options(LoadContext::default()).max_events, DEFAULT_MAX_EVENTS);
        assert_eq!(config.warnings.len(), 1, "{:?}", config.warnings);
        assert!(config.warnings[0].contains("max_events_per_user (5000) is ignored") && config.warnings[0].contains("hcron.conf"));
        assert_eq!(config.log_path, None);
        let ignore = config.ignore_regex().unwrap().unwrap();
        assert!(ignore.is_match(".hidden") && ignore.is_match("backup~") && !ignore.is_match("a.b"));
    }

    #[test]
    fn legacy_none_means_the_default_except_where_none_is_a_value() {
        let (_dir, path) = write(
            "hcron.conf",
            "{'smtp_server': None, 'test_net_username': None, 'max_chain_events': None, 'log_path': None, 'names_to_ignore_regexp': None}",
        );
        let config = Config::read(&path).unwrap();
        assert_eq!((config.smtp_server.as_str(), config.max_chain_events), ("localhost", 5));
        assert_eq!((config.test_net_username, config.log_path), (None, None));
        assert_eq!(config.names_to_ignore_regexp, DEFAULT_IGNORE);
        assert!(config.warnings.is_empty());
    }

    #[test]
    fn the_format_is_told_by_the_content_not_the_name() {
        let (_dir, path) = write("hcron.conf.sample", "# sample\n{\n  'max_next_events': 3,\n}\n");
        assert_eq!(Config::read(&path).unwrap().max_next_events, 3);
        let (_dir, path) = write("settings", "max_next_events = 4\n");
        assert_eq!(Config::read(&path).unwrap().max_next_events, 4);
        let (_dir, path) = write("hcron.toml", "{'max_next_events': 3}");
        assert!(Config::read(&path).is_err(), "a .toml file is TOML whatever it holds");
        let (_dir, path) = write("hcron.conf", "max_next_events = 4\n");
        let error = Config::read(&path).unwrap_err().to_string();
        assert!(error.contains("not a Python literal"), "a .conf file is the original's format whatever it holds: {error}");
    }

    #[test]
    fn the_ignore_default_and_an_empty_pattern() {
        let config = Config::default();
        let ignore = config.ignore_regex().unwrap().unwrap();
        assert!(ignore.is_match(".x.swp") && ignore.is_match("x~") && !ignore.is_match("x"));
        let (_dir, path) = write("hcron.toml", "names_to_ignore_regexp = \"\"\n");
        assert!(Config::read(&path).unwrap().ignore_regex().unwrap().is_none());
    }

    #[test]
    fn a_limit_set_in_toml_is_kept() {
        let (_dir, path) = write("hcron.toml", "max_events_per_user = 7\n");
        let config = Config::read(&path).unwrap();
        assert_eq!((config.max_events_per_user, config.warnings.len()), (Some(7), 0));
        assert_eq!(Config::default().tree_options(LoadContext::default()).max_events, 100_000);
    }

    #[test]
    fn toml_file() {
        let (_dir, path) = write("hcron.toml", "server_name = \"sched\"\nmax_symlinks = 3\n");
        let config = Config::read(&path).unwrap();
        assert_eq!((config.server_name(), config.max_symlinks), ("sched".into(), 3));
        assert_eq!(config.max_event_file_size, 65536);
    }

    #[test]
    fn errors_name_the_key() {
        let (_dir, path) = write("hcron.toml", "max_symlnks = 3\n");
        let error = Config::read(&path).unwrap_err().to_string();
        assert!(error.contains("max_symlnks") && error.contains("hcron.toml"), "{error}");
        let (_dir, path) = write("hcron.toml", "max_symlinks = \"x\"\n");
        assert!(Config::read(&path).is_err());
        let (_dir, path) = write("hcron.conf", "{'bogus': 1}");
        assert!(Config::read(&path).unwrap_err().to_string().contains("bogus"));
        let (_dir, path) = write("hcron.toml", "names_to_ignore_regexp = \"(\"\n");
        assert!(Config::read(&path).unwrap_err().to_string().contains("names_to_ignore_regexp"));
    }
}
