//! What became of a job, typed: how it ended ([`Outcome`], [`Failure`]) and
//! where it is ([`JobResult`]), with the one text form that the history,
//! the cluster's database, the control protocol and people read.
//!
//! The text is a total, lossless form: `JobResult::parse(s).to_string() == s`
//! for every string, and a value made by a constructor comes back from its
//! text as it was. Nothing else reads meaning out of a result's text.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It ran (or had nothing to run): `next_event` follows.
    Success,
    /// It did not: `failover_event` follows.
    Failure(Failure),
}

/// Why a job failed, by kind; each kind's text is its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// With `exec_wait`: the command exited with a status other than 0.
    Exit(i32),
    /// With `exec_wait`: the command was killed by a signal.
    Signal(i32),
    /// With `exec_wait`: the command ended with neither status nor signal.
    NoStatus,
    /// `exec_timeout` passed and the command was killed.
    Timeout,
    /// It was activated too late (`expire_after`'s rule, spec §10.1).
    Expired,
    /// It was running when its scheduler stopped or its node died; the reason says which.
    Lost(String),
    /// It was ended on purpose; the reason says by whom or why.
    Cancelled(String),
    /// Validation refused to run it (spec §11.1), with the refusal's message.
    Refused(String),
    /// No connection to a host (`(host): reason`).
    Unreachable(String),
    /// Its host is offline until the given local time, or, with `None`,
    /// while another node probes it.
    Offline(Option<String>),
    /// The command could not be started.
    Start(String),
    /// Anything else, said as it is.
    Other(String),
}

/// Where a job is, or how it ended: the `result` of its record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum JobResult {
    /// Waiting for a running slot.
    #[default]
    Queued,
    /// Activated and not ended.
    Running,
    /// Ended well.
    Success,
    /// Ended badly.
    Failure(Failure),
    /// Never run, with the reason (`queue full`, ...).
    Dropped(String),
    /// A text of no form this build knows (another build wrote it), kept as it is.
    Other(String),
}

/// A failure kind made from the text after its prefix.
type Make = fn(String) -> Failure;

const EXIT: &str = "exit status ";
const SIGNAL: &str = "killed by signal ";
const LOST: &str = "lost: ";
const CANCELLED: &str = "cancelled: ";
const REFUSED: &str = "refused: ";
const UNREACHABLE: &str = "cannot reach host ";
const OFFLINE_UNTIL: &str = "host offline until ";
const OFFLINE_PROBED: &str = "host offline: another node probes it";
const START: &str = "cannot start the command: ";
const FAILURE: &str = "failure: ";
const DROPPED: &str = "dropped: ";

/// The SQL `LIKE` pattern of a lost job's result text.
pub const LOST_LIKE: &str = "failure: lost:%";

impl Failure {
    /// The failure `text` says (the inverse of its `Display`).
    pub fn parse(text: &str) -> Failure {
        let number = |rest: &str| rest.parse::<i32>().ok().filter(|n| n.to_string() == rest);
        if let Some(n) = text.strip_prefix(EXIT).and_then(number) {
            Failure::Exit(n)
        } else if let Some(n) = text.strip_prefix(SIGNAL).and_then(number) {
            Failure::Signal(n)
        } else if text == "no exit status" {
            Failure::NoStatus
        } else if text == "timeout" {
            Failure::Timeout
        } else if text == "expired" {
            Failure::Expired
        } else if text == OFFLINE_PROBED {
            Failure::Offline(None)
        } else if let Some(rest) = text.strip_prefix(OFFLINE_UNTIL) {
            Failure::Offline(Some(rest.to_owned()))
        } else {
            let prefixed: [(&str, Make); 5] = [
                (LOST, Failure::Lost),
                (CANCELLED, Failure::Cancelled),
                (REFUSED, Failure::Refused),
                (UNREACHABLE, Failure::Unreachable),
                (START, Failure::Start),
            ];
            let found = prefixed.iter().find_map(|(prefix, make)| text.strip_prefix(prefix).map(|rest| make(rest.to_owned())));
            found.unwrap_or_else(|| Failure::Other(text.to_owned()))
        }
    }

    /// Whether the job was lost with its scheduler or node.
    pub fn is_lost(&self) -> bool {
        matches!(self, Failure::Lost(_))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Exit(n) => write!(f, "{EXIT}{n}"),
            Failure::Signal(n) => write!(f, "{SIGNAL}{n}"),
            Failure::NoStatus => f.write_str("no exit status"),
            Failure::Timeout => f.write_str("timeout"),
            Failure::Expired => f.write_str("expired"),
            Failure::Lost(why) => write!(f, "{LOST}{why}"),
            Failure::Cancelled(why) => write!(f, "{CANCELLED}{why}"),
            Failure::Refused(why) => write!(f, "{REFUSED}{why}"),
            Failure::Unreachable(why) => write!(f, "{UNREACHABLE}{why}"),
            Failure::Offline(None) => f.write_str(OFFLINE_PROBED),
            Failure::Offline(Some(until)) => write!(f, "{OFFLINE_UNTIL}{until}"),
            Failure::Start(why) => write!(f, "{START}{why}"),
            Failure::Other(why) => f.write_str(why),
        }
    }
}

impl JobResult {
    /// The result `text` says (the inverse of its `Display`); a text of no
    /// known form is kept as it is.
    pub fn parse(text: &str) -> JobResult {
        match text {
            "queued" => JobResult::Queued,
            "running" => JobResult::Running,
            "success" => JobResult::Success,
            _ => match (text.strip_prefix(FAILURE), text.strip_prefix(DROPPED)) {
                (Some(failure), _) => JobResult::Failure(Failure::parse(failure)),
                (None, Some(why)) => JobResult::Dropped(why.to_owned()),
                (None, None) => JobResult::Other(text.to_owned()),
            },
        }
    }

    /// Whether the job has ended (or was dropped).
    pub fn is_final(&self) -> bool {
        !matches!(self, JobResult::Queued | JobResult::Running)
    }

    /// The failure, when it failed.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            JobResult::Failure(failure) => Some(failure),
            _ => None,
        }
    }
}

impl From<&str> for JobResult {
    fn from(text: &str) -> JobResult {
        JobResult::parse(text)
    }
}

impl From<Outcome> for JobResult {
    fn from(outcome: Outcome) -> JobResult {
        match outcome {
            Outcome::Success => JobResult::Success,
            Outcome::Failure(failure) => JobResult::Failure(failure),
        }
    }
}

impl fmt::Display for JobResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobResult::Queued => f.write_str("queued"),
            JobResult::Running => f.write_str("running"),
            JobResult::Success => f.write_str("success"),
            JobResult::Failure(failure) => write!(f, "{FAILURE}{failure}"),
            JobResult::Dropped(why) => write!(f, "{DROPPED}{why}"),
            JobResult::Other(text) => f.write_str(text),
        }
    }
}

/// On the wire and in the stores, a result is its text.
impl Serialize for JobResult {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for JobResult {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<JobResult, D::Error> {
        Ok(JobResult::parse(&String::deserialize(deserializer)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind, as the daemon writes it.
    fn kinds() -> Vec<(JobResult, &'static str)> {
        let failure = |f: Failure| JobResult::Failure(f);
        vec![
            (JobResult::Queued, "queued"),
            (JobResult::Running, "running"),
            (JobResult::Success, "success"),
            (failure(Failure::Exit(3)), "failure: exit status 3"),
            (failure(Failure::Exit(-1)), "failure: exit status -1"),
            (failure(Failure::Signal(9)), "failure: killed by signal 9"),
            (failure(Failure::NoStatus), "failure: no exit status"),
            (failure(Failure::Timeout), "failure: timeout"),
            (failure(Failure::Expired), "failure: expired"),
            (failure(Failure::Lost("node c died while the job ran".into())), "failure: lost: node c died while the job ran"),
            (failure(Failure::Cancelled("by alice".into())), "failure: cancelled: by alice"),
            (failure(Failure::Refused("Root user not allowed to execute.".into())), "failure: refused: Root user not allowed to execute."),
            (failure(Failure::Unreachable("(h1): refused".into())), "failure: cannot reach host (h1): refused"),
            (failure(Failure::Offline(Some("12:00:00".into()))), "failure: host offline until 12:00:00"),
            (failure(Failure::Offline(None)), "failure: host offline: another node probes it"),
            (failure(Failure::Start("NUL in a command".into())), "failure: cannot start the command: NUL in a command"),
            (failure(Failure::Other("empty command".into())), "failure: empty command"),
            (JobResult::Dropped("queue full".into()), "dropped: queue full"),
        ]
    }

    #[test]
    fn each_kind_has_its_text_and_comes_back_from_it() {
        for (result, text) in kinds() {
            assert_eq!(result.to_string(), text);
            assert_eq!(JobResult::parse(text), result, "{text}");
        }
    }

    #[test]
    fn near_misses_are_other_failures_and_keep_their_text() {
        for text in
            ["failure: exit status 03", "failure: exit status x", "failure: killed by signal ", "failure: timeout ", "failure: failure: x"]
        {
            let parsed = JobResult::parse(text);
            assert!(matches!(parsed.failure(), Some(Failure::Other(_))), "{text}: {parsed:?}");
            assert_eq!(parsed.to_string(), text);
        }
        for text in ["Queued", "odd", "", "failure:x"] {
            assert_eq!(JobResult::parse(text), JobResult::Other(text.into()));
            assert_eq!(JobResult::Other(text.into()).to_string(), text);
        }
    }

    #[test]
    fn only_queued_and_running_are_not_final_and_lost_is_lost() {
        let finals: Vec<bool> = kinds().iter().map(|(r, _)| r.is_final()).collect();
        assert_eq!(finals.iter().filter(|f| !**f).count(), 2);
        assert!(!JobResult::Queued.is_final() && !JobResult::Running.is_final() && JobResult::Success.is_final());
        let lost: Vec<&str> = kinds().iter().filter(|(r, _)| r.failure().is_some_and(Failure::is_lost)).map(|(_, t)| *t).collect();
        assert_eq!(lost, ["failure: lost: node c died while the job ran"]);
        assert!(JobResult::parse("failure: lost: x").to_string().starts_with(&LOST_LIKE[..LOST_LIKE.len() - 1]));
    }

    #[test]
    fn a_result_is_its_text_on_the_wire() {
        let json = serde_json::to_string(&JobResult::Failure(Failure::Exit(2))).unwrap();
        assert_eq!(json, r#""failure: exit status 2""#);
        assert_eq!(serde_json::from_str::<JobResult>(&json).unwrap(), JobResult::Failure(Failure::Exit(2)));
    }

    #[test]
    fn outcomes_become_results() {
        assert_eq!(JobResult::from(Outcome::Success), JobResult::Success);
        assert_eq!(JobResult::from(Outcome::Failure(Failure::Timeout)), JobResult::Failure(Failure::Timeout));
    }

    proptest::proptest! {
        #[test]
        fn every_text_comes_back_as_it_was(text in ".{0,40}", prefix in 0usize..6) {
            let prefixes = ["", "failure: ", "dropped: ", "failure: lost: ", "failure: exit status ", "failure: failure: "];
            let text = format!("{}{text}", prefixes[prefix]);
            let parsed = JobResult::parse(&text);
            proptest::prop_assert_eq!(parsed.to_string(), text.clone());
            proptest::prop_assert_eq!(JobResult::parse(&parsed.to_string()), parsed);
        }
    }
}
