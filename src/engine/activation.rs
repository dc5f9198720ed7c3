//! Late evaluation (§6.6, §10.1 steps 1–2): every assignment substituted
//! again with all built-ins of §6.5, and the fields a job uses taken from
//! the result.

use std::cell::OnceCell;

use jiff::Zoned;
use jiff::tz::TimeZone;

use super::Settings;
use super::job::Job;
use crate::clock::hcron_datetime;
use crate::event::subst::{Lookup, substitute};
use crate::event::{Definition, Vars, py_int, py_strip};

/// The late values of one job's event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activation {
    /// When it was activated.
    pub time: Zoned,
    /// Whether `when_expire` was exceeded (then nothing runs and the job fails).
    pub expired: bool,
    /// `as_user`; `None` when the event never assigns it (§10.3).
    pub as_user: Option<String>,
    /// `host`; `None` when never assigned.
    pub host: Option<String>,
    /// `command` as substituted (the executor strips it); `None` when never assigned.
    pub command: Option<String>,
    /// `notify_email` as written (split by the notifier); `None` when never assigned.
    pub notify_email: Option<String>,
    /// `notify_subject`, stripped.
    pub notify_subject: String,
    /// `notify_message` with `\n` and `\t` turned into newline and tab.
    pub notify_message: String,
    /// `when_expire` in seconds, when it parses.
    pub when_expire: Option<i64>,
    /// `next_event` as written.
    pub next_event: String,
    /// `failover_event` as written.
    pub failover_event: String,
    /// `exec_wait=yes`: success means the command finished with status 0.
    pub exec_wait: bool,
    /// `exec_timeout` in seconds, when it parses.
    pub exec_timeout: Option<i64>,
    /// `notify_on`: which outcomes send the notification.
    pub notify_on: NotifyOn,
    /// `on_lost=rerun`: a job lost with its scheduler runs once more
    /// instead of failing over (the default, `failover`).
    pub rerun_lost: bool,
}

/// The extension `notify_on=success|failure|always`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NotifyOn {
    /// Only after a success (the original).
    #[default]
    Success,
    /// Only after a failure.
    Failure,
    /// After either.
    Always,
}

impl NotifyOn {
    /// Whether an outcome that `succeeded` (or not) is notified.
    pub fn notifies(self, succeeded: bool) -> bool {
        matches!((self, succeeded), (NotifyOn::Always, _) | (NotifyOn::Success, true) | (NotifyOn::Failure, false))
    }
}

impl Activation {
    /// The outcome decided without running anything: a failure when the
    /// job expired (decisions 7), else `None`.
    pub fn expiry(&self) -> Option<super::Outcome> {
        self.expired.then_some(super::Outcome::Failure(super::Failure::Expired))
    }

    /// Evaluates `definition` for `job` activated at `time`.
    pub fn evaluate(job: &Job, definition: &Definition, time: Zoned, settings: &Settings) -> Activation {
        let builtins = Builtins { job, activated: &time, settings, cells: Default::default() };
        let mut vars = Vars::new();
        for assignment in definition.assignments() {
            let value = substitute(assignment.value, &Layered { vars: &vars, builtins: &builtins }).into_owned();
            vars.set(assignment.name, value);
        }
        let get = |name: &str| vars.get(name).map(str::to_owned);
        let when_expire = vars.get("when_expire").and_then(parse_expire);
        let expired = match when_expire {
            Some(limit) if limit != 0 => (time.timestamp().as_second() - job.scheduled.timestamp().as_second()) > limit,
            _ => false,
        };
        Activation {
            expired,
            as_user: get("as_user"),
            host: get("host"),
            command: get("command"),
            notify_email: get("notify_email"),
            notify_subject: vars.get("notify_subject").map(|s| py_strip(s).to_owned()).unwrap_or_default(),
            notify_message: vars.get("notify_message").map(unescape).unwrap_or_default(),
            when_expire,
            next_event: get("next_event").unwrap_or_default(),
            failover_event: get("failover_event").unwrap_or_default(),
            exec_wait: vars.get("exec_wait").is_some_and(|v| matches!(py_strip(v).to_ascii_lowercase().as_str(), "yes" | "true" | "1")),
            exec_timeout: vars.get("exec_timeout").and_then(parse_expire).filter(|&t| t > 0),
            notify_on: match vars.get("notify_on").map(|v| py_strip(v).to_ascii_lowercase()).as_deref() {
                Some("failure") => NotifyOn::Failure,
                Some("always") => NotifyOn::Always,
                _ => NotifyOn::Success,
            },
            rerun_lost: vars.get("on_lost").is_some_and(|v| py_strip(v).eq_ignore_ascii_case("rerun")),
            time,
        }
    }

    /// `as_user` as the original shows it (subjects, `hcron run --show-event`):
    /// the owner when empty, Python's `None` when never assigned.
    pub fn shown_login<'a>(&'a self, owner: &'a str) -> &'a str {
        if self.as_user.is_none() { "None" } else { self.login(owner) }
    }

    /// The remote login: `as_user`, or the owner when it is empty.
    pub fn login<'a>(&'a self, owner: &'a str) -> &'a str {
        match self.as_user.as_deref() {
            Some("") | None => owner,
            Some(user) => user,
        }
    }
}

/// A field that may never be assigned, as the original shows it (Python's `str(None)`).
pub fn shown(value: Option<&str>) -> &str {
    value.unwrap_or("None")
}

/// `[[HH:]MM:]SS` in seconds (`when_expire`, `exec_timeout`); anything else is `None` (§9.5).
fn parse_expire(text: &str) -> Option<i64> {
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() > 3 {
        return None;
    }
    parts.iter().try_fold(0i64, |total, part| total.checked_mul(60)?.checked_add(py_int(part)?))
}

/// The two-character sequences `\n` and `\t` become newline and tab.
fn unescape(text: &str) -> String {
    text.replace("\\n", "\n").replace("\\t", "\t")
}

/// Assignments first, then the built-ins they may shadow.
struct Layered<'a> {
    vars: &'a Vars<'a>,
    builtins: &'a Builtins<'a>,
}

impl Lookup for Layered<'_> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.vars.get(name).or_else(|| self.builtins.lookup(name))
    }
}

/// Late built-ins, each formatted only when an event refers to it.
struct Builtins<'a> {
    job: &'a Job,
    activated: &'a Zoned,
    settings: &'a Settings,
    cells: [OnceCell<String>; 15],
}

impl Lookup for Builtins<'_> {
    fn lookup(&self, name: &str) -> Option<&str> {
        let job = self.job;
        let fixed = match name {
            "HCRON_EVENT_NAME" => Some(&*job.event),
            "HCRON_HOST_NAME" => Some(self.settings.fqdn.as_str()),
            "HCRON_SERVER_NAME" => Some(self.settings.server_name.as_str()),
            "HCRON_TRIGGER_ORIGIN" => Some(&*job.origin),
            "when_year" => Some("*"),
            _ => None,
        };
        if fixed.is_some() {
            return fixed;
        }
        let (slot, value): (usize, Box<dyn Fn() -> String + '_>) = match name {
            "HCRON_EVENT_CHAIN" => (0, Box::new(|| job.chain_text())),
            "HCRON_SELF_CHAIN" => (1, Box::new(|| job.self_chain_text())),
            "HCRON_TRIGGER_NAME" => (2, Box::new(|| job.trigger.to_string())),
            "HCRON_JOBID" => (3, Box::new(|| job.id.to_string())),
            "HCRON_JOBGID" => (4, Box::new(|| job.group.to_string())),
            "HCRON_PJOBID" => (5, Box::new(|| job.parent.to_string())),
            _ => {
                let (time, rest) =
                    [("HCRON_SCHEDULE_", &job.scheduled, 6), ("HCRON_QUEUE_", &job.queued, 9), ("HCRON_ACTIVATE_", self.activated, 12)]
                        .into_iter()
                        .find_map(|(prefix, time, base)| name.strip_prefix(prefix).map(|rest| ((time, base), rest)))?;
                let (time, base) = time;
                match rest {
                    "DATETIME" => (base, Box::new(move || hcron_datetime(&time.datetime()))),
                    "DATETIME_UTC" => (base + 1, Box::new(move || hcron_datetime(&time.with_time_zone(TimeZone::UTC).datetime()))),
                    // An epoch has no zone, so both are the same number (decisions 5).
                    "EPOCHTIME" | "EPOCHTIME_UTC" => (base + 2, Box::new(move || time.timestamp().as_second().to_string())),
                    _ => return None,
                }
            }
        };
        Some(self.cells[slot].get_or_init(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expire_formats() {
        for (text, want) in [
            ("30", Some(30)),
            ("01:30", Some(90)),
            ("1:00:00", Some(3600)),
            ("25:00:00", Some(90000)),
            ("00:00:30", Some(30)),
            ("-1", Some(-1)),
            ("0", Some(0)),
            ("abc", None),
            ("1:2:3:4", None),
            ("", None),
        ] {
            assert_eq!(parse_expire(text), want, "{text:?}");
        }
    }

    #[test]
    fn escapes() {
        assert_eq!(unescape("line1\\nline2\\tTabbed"), "line1\nline2\tTabbed");
    }

    /// The activation of an event of `text` scheduled at noon and activated
    /// `late` seconds after.
    fn activated(text: &str, late: i64) -> Activation {
        // Five hours behind UTC, so that the local and UTC formats differ.
        let scheduled: Zoned = "2024-03-01T12:00:00-05:00[-05:00]".parse().unwrap();
        let own = crate::event::Part { path: "/e".into(), file: std::sync::Arc::new(crate::event::SourceFile::parse(text)) };
        let definition = Definition::expand("/e", own, &crate::event::NoIncludes).unwrap();
        let job = Job::sample(scheduled.clone());
        let settings = Settings {
            max_chain_events: 4,
            max_next_events: 4,
            max_email_notifications: 4,
            fqdn: "sched.example.org".into(),
            server_name: "sched".into(),
        };
        let time = scheduled.checked_add(jiff::SignedDuration::from_secs(late)).unwrap();
        Activation::evaluate(&job, &definition, time, &settings)
    }

    #[test]
    fn when_expire_is_seconds_late_past_which_a_job_expires_and_zero_never() {
        for (when_expire, late, expired) in [
            ("0", 3600, false),
            ("60", 59, false),
            ("60", 60, false),
            ("60", 61, true),
            ("1:00", 100, true),
            ("-1", 0, true),
            ("junk", 3600, false),
        ] {
            let activation = activated(&format!("when_expire={when_expire}\n"), late);
            assert_eq!(activation.expired, expired, "when_expire={when_expire}, {late} s late");
        }
        assert!(!activated("", 3600).expired, "no when_expire, no expiry");
        assert_eq!(activated("when_expire=60\n", 61).expiry(), Some(super::super::Outcome::Failure(super::super::Failure::Expired)));
        assert_eq!(activated("when_expire=60\n", 59).expiry(), None);
    }

    #[test]
    fn exec_wait_exec_timeout_and_notify_on_as_written() {
        let fields = |text: &str| {
            let a = activated(text, 0);
            (a.exec_wait, a.exec_timeout, a.notify_on)
        };
        assert_eq!(fields(""), (false, None, NotifyOn::Success));
        assert_eq!(fields("exec_wait= Yes \nexec_timeout=5\nnotify_on= Always\n"), (true, Some(5), NotifyOn::Always));
        assert_eq!(fields("exec_wait=1\nexec_timeout=1:00\nnotify_on=FAILURE\n"), (true, Some(60), NotifyOn::Failure));
        assert_eq!(fields("exec_wait=no\nexec_timeout=0\nnotify_on=success\n"), (false, None, NotifyOn::Success), "0 is no timeout");
        assert_eq!(fields("exec_wait=true\nexec_timeout=-3\nnotify_on=never\n"), (true, None, NotifyOn::Success));
    }

    #[test]
    fn every_late_built_in_at_once_has_its_own_value() {
        // Each formatted value is kept in a cell of its own: all of them in
        // one command show that no two share one.
        let names = [
            "EVENT_NAME",
            "EVENT_CHAIN",
            "SELF_CHAIN",
            "HOST_NAME",
            "SERVER_NAME",
            "TRIGGER_NAME",
            "TRIGGER_ORIGIN",
            "JOBID",
            "JOBGID",
            "PJOBID",
        ];
        let times = ["SCHEDULE", "QUEUE", "ACTIVATE"]
            .map(|t| ["DATETIME", "DATETIME_UTC", "EPOCHTIME", "EPOCHTIME_UTC"].map(|f| format!("{t}_{f}")));
        let all: Vec<String> = names.iter().map(|n| n.to_string()).chain(times.into_iter().flatten()).collect();
        let command = all.iter().map(|n| format!("$HCRON_{n}")).collect::<Vec<_>>().join(" ");
        let expected = [
            "/e",
            "/d:/e:/e",
            "/e:/e",
            "sched.example.org",
            "sched",
            "next",
            "/d",
            "30",
            "10",
            "20",
            "2024:03:01:12:00:00:09:5",
            "2024:03:01:17:00:00:09:5",
            "1709312400",
            "1709312400",
            "2024:03:01:12:00:30:09:5",
            "2024:03:01:17:00:30:09:5",
            "1709312430",
            "1709312430",
            "2024:03:01:12:01:30:09:5",
            "2024:03:01:17:01:30:09:5",
            "1709312490",
            "1709312490",
        ];
        assert_eq!(activated(&format!("command={command}\n"), 90).command.as_deref(), Some(expected.join(" ").as_str()));
    }

    #[test]
    fn when_year_is_its_pre_set_default_late_as_early() {
        assert_eq!(activated("command=echo $when_year\n", 0).command.as_deref(), Some("echo *"));
        assert_eq!(activated("when_year=2024\ncommand=echo $when_year\n", 0).command.as_deref(), Some("echo 2024"));
    }
}
