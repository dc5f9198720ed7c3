//! Host health (seeds 002, 003): consecutive connection failures per host;
//! after `host_attempts_count` of them the host is offline for
//! `host_offline_timeout`, and jobs for it fail at once instead of waiting
//! on a timeout. When the period is over, the next job is the probe: its
//! success brings the host back, its failure starts a new period.
//!
//! Pure bookkeeping: time comes in as an argument.

use std::collections::BTreeMap;
use std::time::Duration;

pub use crate::control::HostState;
use jiff::Timestamp;

/// May a job use this host now?
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Yes.
    Go,
    /// Yes, as the probe of an offline host.
    Probe,
    /// No: offline until then (or while its probe runs).
    Offline(Timestamp),
}

/// A change of state to log (`host-offline`, `host-online`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The host went (or stays) offline until then.
    Offline(Timestamp),
    /// The host is back.
    Online,
}

/// Every host's health.
#[derive(Debug, Clone)]
pub struct Health {
    attempts: u32,
    offline_for: Duration,
    hosts: BTreeMap<String, HostState>,
}

impl Health {
    /// Offline after `attempts` failures, for `offline_for` (zero disables it).
    pub fn new(attempts: u32, offline_for: Duration) -> Health {
        Health { attempts: attempts.max(1), offline_for, hosts: BTreeMap::new() }
    }

    /// New thresholds (a reloaded configuration); every host's state is kept.
    pub fn configure(&mut self, attempts: u32, offline_for: Duration) {
        self.attempts = attempts.max(1);
        self.offline_for = offline_for;
    }

    /// Whether a job may go to `host` at `now`.
    pub fn admit(&mut self, host: &str, now: Timestamp) -> Admission {
        let Some(state) = self.hosts.get_mut(host) else { return Admission::Go };
        match state.offline_until {
            None => Admission::Go,
            Some(until) if state.probing || now < until => Admission::Offline(until),
            Some(_) => {
                state.probing = true;
                Admission::Probe
            }
        }
    }

    /// A job launched on `host`.
    pub fn success(&mut self, host: &str, now: Timestamp) -> Option<Change> {
        let state = self.state(host);
        let was_offline = state.offline_until.is_some();
        state.failures = 0;
        state.offline_until = None;
        state.probing = false;
        state.last_success = Some(now);
        was_offline.then_some(Change::Online)
    }

    /// `host` could not be reached.
    pub fn failure(&mut self, host: &str, now: Timestamp, error: &str) -> Option<Change> {
        let (attempts, offline_for) = (self.attempts, self.offline_for);
        let state = self.state(host);
        state.failures += 1;
        state.last_error = Some(error.to_owned());
        if offline_for.is_zero() || (!state.probing && state.failures < attempts) {
            return None;
        }
        let until = now + jiff::SignedDuration::try_from(offline_for).unwrap_or(jiff::SignedDuration::MAX);
        state.offline_until = Some(until);
        state.probing = false;
        Some(Change::Offline(until))
    }

    /// What the other nodes of a cluster know of `host` (the shared record):
    /// offline until `until`, or online. A host this node never saw is
    /// recorded too, so that its first job here fails at once.
    pub fn adopt(&mut self, host: &str, until: Option<Timestamp>) {
        let state = self.state(host);
        match until {
            Some(until) => {
                state.offline_until = Some(until);
                state.probing = false;
            }
            None if state.offline_until.is_some() => {
                state.offline_until = None;
                state.probing = false;
                state.failures = 0;
            }
            None => {}
        }
    }

    /// A probe [`Health::admit`] gave that another node makes instead:
    /// the host stays offline here until that node's result arrives.
    pub fn probed_elsewhere(&mut self, host: &str) {
        if let Some(state) = self.hosts.get_mut(host) {
            state.probing = false;
        }
    }

    /// Of `hosts`, the one whose offline period ends first.
    pub fn soonest<'h>(&self, hosts: &[&'h str]) -> Option<&'h str> {
        hosts.iter().copied().min_by_key(|h| self.hosts.get(*h).and_then(|s| s.offline_until))
    }

    /// Every host seen, by name.
    pub fn states(&self) -> Vec<HostState> {
        self.hosts.values().cloned().collect()
    }

    fn state(&mut self, host: &str) -> &mut HostState {
        self.hosts.entry(host.to_owned()).or_insert_with(|| HostState { host: host.to_owned(), ..HostState::default() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_600_000_000 + seconds).unwrap()
    }

    #[test]
    fn offline_after_three_failures_then_one_probe() {
        let mut health = Health::new(3, Duration::from_secs(60));
        assert_eq!(health.failure("h", at(0), "refused"), None);
        assert_eq!(health.failure("h", at(1), "refused"), None);
        assert_eq!(health.admit("h", at(2)), Admission::Go);
        assert_eq!(health.failure("h", at(2), "refused"), Some(Change::Offline(at(62))));
        assert_eq!(health.admit("h", at(30)), Admission::Offline(at(62)));
        assert_eq!(health.admit("h", at(62)), Admission::Probe);
        assert_eq!(health.admit("h", at(63)), Admission::Offline(at(62)), "one probe at a time");
        assert_eq!(health.failure("h", at(64), "timeout"), Some(Change::Offline(at(124))), "a failed probe restarts the period");
        assert_eq!(health.admit("h", at(124)), Admission::Probe);
        assert_eq!(health.success("h", at(125)), Some(Change::Online));
        assert_eq!(health.admit("h", at(126)), Admission::Go);
        assert_eq!(health.states()[0].failures, 0);
    }

    #[test]
    fn another_node_s_record_is_adopted_and_a_probe_made_elsewhere_is_given_back() {
        let mut health = Health::new(3, Duration::from_secs(60));
        health.adopt("h", Some(at(100)));
        assert_eq!(health.admit("h", at(50)), Admission::Offline(at(100)), "offline here too, never seen before");
        assert_eq!(health.admit("h", at(100)), Admission::Probe);
        health.probed_elsewhere("h");
        assert_eq!(health.admit("h", at(101)), Admission::Probe, "not left waiting on a probe it never made");
        health.adopt("h", Some(at(200)));
        assert_eq!(health.admit("h", at(150)), Admission::Offline(at(200)), "the other node's probe failed");
        health.failure("h", at(150), "x");
        health.adopt("h", None);
        assert_eq!(health.admit("h", at(151)), Admission::Go, "back, says the other node");
        assert_eq!(health.states()[0].failures, 0);
        health.failure("g", at(0), "x");
        health.adopt("g", None);
        assert_eq!(health.states()[0].failures, 1, "an online record leaves a host that was not offline alone");
    }

    #[test]
    fn a_success_resets_the_count() {
        let mut health = Health::new(3, Duration::from_secs(60));
        health.failure("h", at(0), "x");
        health.failure("h", at(1), "x");
        assert_eq!(health.success("h", at(2)), None);
        assert_eq!(health.failure("h", at(3), "x"), None);
    }

    #[test]
    fn zero_timeout_disables() {
        let mut health = Health::new(1, Duration::ZERO);
        for n in 0..5 {
            assert_eq!(health.failure("h", at(n), "x"), None);
        }
        assert_eq!(health.admit("h", at(9)), Admission::Go);
    }

    #[test]
    fn every_host_seen_is_listed_by_name_with_its_record() {
        let mut health = Health::new(2, Duration::from_secs(60));
        assert!(health.states().is_empty());
        health.failure("b", at(0), "refused");
        health.failure("b", at(1), "timed out");
        health.success("a", at(2));
        let b = HostState {
            host: "b".into(),
            failures: 2,
            offline_until: Some(at(61)),
            last_error: Some("timed out".into()),
            ..HostState::default()
        };
        let a = HostState { host: "a".into(), last_success: Some(at(2)), ..HostState::default() };
        assert_eq!(health.states(), [a, b]);
    }

    #[test]
    fn soonest_to_recover() {
        let mut health = Health::new(1, Duration::from_secs(60));
        health.failure("a", at(10), "x");
        health.failure("b", at(0), "x");
        assert_eq!(health.soonest(&["a", "b"]), Some("b"));
    }

    #[test]
    fn new_thresholds_keep_every_host_state() {
        let mut health = Health::new(3, Duration::from_secs(60));
        assert_eq!(health.failure("h", at(0), "x"), None);
        assert_eq!(health.failure("down", at(0), "x"), None);
        assert_eq!(health.failure("down", at(1), "x"), None);
        assert_eq!(health.failure("down", at(2), "x"), Some(Change::Offline(at(62))));
        health.configure(2, Duration::from_secs(10));
        assert_eq!(health.admit("down", at(30)), Admission::Offline(at(62)), "an offline host stays offline");
        assert_eq!(health.failure("h", at(5), "x"), Some(Change::Offline(at(15))), "its earlier failure counts towards the new threshold");
    }
}
