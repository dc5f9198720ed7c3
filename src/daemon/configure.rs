//! What each part of the daemon takes from the configuration, at start and
//! on SIGHUP: one place, so that a reload cannot leave a part with its
//! start-up values.
//!
//! A reload applies every key but those of [`RESTART_KEYS`], which name
//! where the daemon's files and socket are and who it is: those are logged
//! as waiting for the next start.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Daemon, Mode, Setup};
use crate::config::Config;
use crate::engine::Settings;
use crate::exec::health::Health;
use crate::exec::{ExecConfig, Sessions, Spawner};
use crate::history::Retention;
use crate::mail::{MailSettings, Smtp, Transport};

/// A key's value, shown.
type Value = fn(&Config) -> String;

/// Keys that take effect only at the next start, with how each is read.
pub const RESTART_KEYS: [(&str, Value); 6] = [
    ("control_socket", |c| c.control_socket.display().to_string()),
    ("history_path", |c| c.history_path.display().to_string()),
    ("log_path", |c| format!("{:?}", c.log_path)),
    ("use_syslog", |c| c.use_syslog.to_string()),
    ("syslog_socket", |c| c.syslog_socket.display().to_string()),
    ("server_name", |c| format!("{:?}", c.server_name)),
];

/// A configuration as read, made ready for the mode: standalone, the
/// invoking user runs their own events on this machine, as themselves (root
/// included: nobody else's privileges are involved).
pub fn for_mode(mut config: Config, standalone: bool) -> Config {
    if standalone {
        config.allow_localhost = true;
        config.allow_root_events = true;
    }
    config
}

/// The engine's limits.
pub fn engine_settings(config: &Config, setup: &Setup) -> Settings {
    Settings {
        max_chain_events: config.max_chain_events as usize,
        max_next_events: config.max_next_events as usize,
        max_email_notifications: config.max_email_notifications as usize,
        fqdn: setup.fqdn.clone(),
        server_name: setup.server_name.clone(),
    }
}

/// The host health thresholds: failures before a host is offline, and for how long.
fn health_thresholds(config: &Config) -> (u32, Duration) {
    (config.host_attempts_count, Duration::from_secs(config.host_offline_timeout))
}

/// A new host health record with the configured thresholds.
pub fn health(config: &Config) -> Health {
    let (attempts, offline_for) = health_thresholds(config);
    Health::new(attempts, offline_for)
}

/// How commands are run, with what outlives a reload: the spawner, the
/// host health and the SSH session counts.
pub fn exec_config(
    config: &Config,
    setup: &Setup,
    spawner: Arc<Spawner>,
    health: Arc<Mutex<Health>>,
    sessions: Sessions,
    cancels: crate::exec::Cancels,
    probes: Option<Arc<dyn crate::exec::ProbeGate>>,
) -> ExecConfig {
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
        sessions,
        cancels,
        probes,
    }
}

/// What the job history keeps.
pub fn retention(config: &Config) -> Retention {
    Retention {
        max_age: (config.history_max_age_days > 0).then(|| Duration::from_secs(config.history_max_age_days.saturating_mul(86_400))),
        max_per_user: (config.history_max_jobs_per_user > 0).then_some(config.history_max_jobs_per_user),
    }
}

/// The mail sender's transport and back-off; standalone defaults to the mailbox directory.
pub fn mail_settings(config: &Config, setup: &Setup) -> MailSettings {
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
    let transport = match config.mail_transport.as_deref() {
        Some("smtp") => smtp(),
        Some("sendmail") => Transport::Sendmail(config.sendmail_path.clone()),
        Some(_) => Transport::Mailbox(setup.mailbox.clone()),
        None if standalone => Transport::Mailbox(setup.mailbox.clone()),
        None => smtp(),
    };
    MailSettings {
        transport,
        retry_initial: Duration::from_secs(config.mail_retry_initial.max(1)),
        retry_max: Duration::from_secs(config.mail_retry_max.max(1)),
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

impl Daemon {
    /// SIGHUP: re-read the configuration, the allow file and every tree.
    pub(super) async fn hangups(self: Arc<Self>, mut hangup: tokio::signal::unix::Signal) {
        while hangup.recv().await.is_some() {
            self.log.message("", "received signal to reload.", "info");
            if let Some(path) = &self.setup.config_path {
                match Config::read(path) {
                    Ok(config) => self.reconfigure(for_mode(config, matches!(self.setup.mode, Mode::Standalone { .. }))),
                    Err(error) => {
                        let text = format!("configuration not reloaded: {error}");
                        self.log.message("", &text, "error");
                    }
                }
            }
            self.sync_users().await;
        }
    }

    /// Applies a reloaded configuration to every part of the daemon. Host
    /// health survives it (an offline host stays offline), and so do the
    /// jobs queued and running.
    fn reconfigure(&self, config: Config) {
        self.queue.retain(retention(&config));
        self.slots.set_limit(config.max_activated_events);
        let _ = self.mail.send(mail_settings(&config, &self.setup));
        let mut state = self.lock();
        let state = &mut *state;
        for warning in &config.warnings {
            self.log.message("", warning, "warning");
        }
        for (key, value) in RESTART_KEYS {
            if value(&config) != value(&state.config) {
                let text = format!("configuration key ({key}) changed: it takes effect at the next start");
                self.log.message("", &text, "warning");
            }
        }
        state.engine.configure(engine_settings(&config, &self.setup));
        let (attempts, offline_for) = health_thresholds(&config);
        state.exec.health.lock().expect("health lock").configure(attempts, offline_for);
        let exec = &state.exec;
        state.exec = exec_config(
            &config,
            &self.setup,
            exec.spawner.clone(),
            exec.health.clone(),
            exec.sessions.clone(),
            exec.cancels.clone(),
            exec.probes.clone(),
        );
        self.log.journal().mail_from = config.mail_from.clone();
        state.config = config;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standalone_allows_local_and_root_events_and_root_mode_keeps_the_file_s_word() {
        let strict = Config { allow_localhost: false, allow_root_events: false, ..Config::default() };
        let standalone = for_mode(strict.clone(), true);
        assert!(standalone.allow_localhost && standalone.allow_root_events);
        let root = for_mode(strict, false);
        assert!(!root.allow_localhost && !root.allow_root_events);
        let permissive = for_mode(Config { allow_localhost: true, allow_root_events: true, ..Config::default() }, false);
        assert!(permissive.allow_localhost && permissive.allow_root_events);
    }

    #[test]
    fn zero_keeps_every_job_and_other_values_are_days_and_jobs() {
        let keep_all = retention(&Config { history_max_age_days: 0, history_max_jobs_per_user: 0, ..Config::default() });
        assert_eq!((keep_all.max_age, keep_all.max_per_user), (None, None));
        let one = retention(&Config { history_max_age_days: 1, history_max_jobs_per_user: 1, ..Config::default() });
        assert_eq!((one.max_age, one.max_per_user), (Some(Duration::from_secs(86_400)), Some(1)));
        let site = retention(&Config { history_max_age_days: 90, history_max_jobs_per_user: 10_000, ..Config::default() });
        assert_eq!((site.max_age, site.max_per_user), (Some(Duration::from_secs(90 * 86_400)), Some(10_000)));
    }

    #[test]
    fn host_health_takes_the_configured_attempts_and_offline_time() {
        let config = Config { host_attempts_count: 4, host_offline_timeout: 90, ..Config::default() };
        assert_eq!(health_thresholds(&config), (4, Duration::from_secs(90)));
    }

    #[test]
    fn local_names_are_the_loopback_names_this_host_s_names_and_its_addresses() {
        let names = local_names("node7.example.org");
        for name in ["localhost", "127.0.0.1", "::1", "node7.example.org", crate::host::short_name().as_str()] {
            assert!(names.contains(name), "{name} in {names:?}");
        }
        assert!(!names.contains("node8.example.org") && !names.contains(""), "{names:?}");
    }
}
