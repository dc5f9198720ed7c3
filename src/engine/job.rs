//! A job: one activation of one event, and where it came from (§8).

use std::fmt;
use std::sync::Arc;

use jiff::Zoned;

use crate::tree::Tree;

/// A job id: lowercase hex of (epoch seconds × 65536 + a per-second counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub u64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}", self.0)
    }
}

/// Hands out job ids, unique for the life of the generator even when more
/// than 65,536 jobs start in one second.
#[derive(Debug, Default)]
pub struct JobIds {
    last: u64,
    /// The ids of this generator are `offset` modulo `stride + 1`: several
    /// generators (a cluster's nodes) with different offsets never meet.
    stride: u64,
    offset: u64,
}

/// Most generators that can share one id space ([`JobIds::shared`]).
pub const MAX_GENERATORS: u64 = 64;

impl JobIds {
    /// Ids after `last`: a daemon starts after the largest id its history
    /// holds, so that no restart in the same second or after a clock step
    /// back hands out an id again.
    pub fn after(last: JobId) -> JobIds {
        JobIds { last: last.0, stride: 0, offset: 0 }
    }

    /// Ids after `last` for generator `number` (below [`MAX_GENERATORS`])
    /// of several sharing one history: each hands out only ids equal to its
    /// number modulo [`MAX_GENERATORS`].
    pub fn shared(last: JobId, number: u64) -> JobIds {
        assert!(number < MAX_GENERATORS, "generator {number} of {MAX_GENERATORS}");
        JobIds { last: last.0, stride: MAX_GENERATORS - 1, offset: number }
    }

    /// The next id at `now`.
    pub fn next(&mut self, now: &Zoned) -> JobId {
        let base = (now.timestamp().as_second().max(0) as u64) << 16;
        let least = base.max(self.last + 1);
        let modulus = self.stride + 1;
        self.last = least + (self.offset + modulus - least % modulus) % modulus;
        JobId(self.last)
    }
}

/// What made a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerName {
    /// The minute tick.
    Clock,
    /// The daemon's start with `--immediate`.
    Immediate,
    /// `hcron activate`.
    OnDemand,
    /// A `next_event` of a job that succeeded.
    Next,
    /// A `failover_event` of a job that failed.
    Failover,
}

impl TriggerName {
    /// The trigger written `name` (as `Display` writes it).
    pub fn from_name(name: &str) -> Option<TriggerName> {
        [TriggerName::Clock, TriggerName::Immediate, TriggerName::OnDemand, TriggerName::Next, TriggerName::Failover]
            .into_iter()
            .find(|t| t.to_string() == name)
    }
}

impl fmt::Display for TriggerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TriggerName::Clock => "clock",
            TriggerName::Immediate => "immediate",
            TriggerName::OnDemand => "ondemand",
            TriggerName::Next => "next",
            TriggerName::Failover => "failover",
        })
    }
}

/// One activation of one event.
#[derive(Debug, Clone)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// The id of the chain's root job (its own for a root).
    pub group: JobId,
    /// The id of the job that chained it (its own for a root).
    pub parent: JobId,
    /// The user whose event it is.
    pub owner: Arc<str>,
    /// The owner's events as they were when the job was queued: a reload
    /// after that does not change what the job runs (decisions 10).
    pub tree: Arc<Tree>,
    /// The event's name.
    pub event: Arc<str>,
    /// What made it.
    pub trigger: TriggerName,
    /// `HCRON_TRIGGER_ORIGIN`: `hcron-scheduler`, `hcron-run`,
    /// `<user>@<server>`, or for chained jobs the chained event's own name.
    pub origin: Arc<str>,
    /// Event names from the chain's root to this job.
    pub chain: Vec<Arc<str>>,
    /// When it was meant to run.
    pub scheduled: Zoned,
    /// When it was queued.
    pub queued: Zoned,
}

impl Job {
    /// `HCRON_EVENT_CHAIN`: the chain's names joined with `:`.
    pub fn chain_text(&self) -> String {
        join(&self.chain)
    }

    /// `HCRON_SELF_CHAIN`: the trailing run of identical names.
    pub fn self_chain_text(&self) -> String {
        let last = self.chain.last();
        let run = self.chain.iter().rev().take_while(|name| Some(*name) == last).count();
        join(&self.chain[self.chain.len() - run..])
    }
}

#[cfg(test)]
impl Job {
    /// A job for tests: `/e` of alice's, chained after `/d` and an earlier
    /// `/e` (chain `/d:/e:/e`) by a `next_event`, with ids 30, 10 (its
    /// chain's root) and 20 (its parent), queued 30 s after `scheduled`.
    pub(crate) fn sample(scheduled: Zoned) -> Job {
        Job {
            id: JobId(0x30),
            group: JobId(0x10),
            parent: JobId(0x20),
            owner: "alice".into(),
            tree: Arc::default(),
            event: "/e".into(),
            trigger: TriggerName::Next,
            origin: "/d".into(),
            chain: vec!["/d".into(), "/e".into(), "/e".into()],
            queued: scheduled.checked_add(jiff::SignedDuration::from_secs(30)).expect("in range"),
            scheduled,
        }
    }
}

fn join(names: &[Arc<str>]) -> String {
    names.iter().map(|n| &**n).collect::<Vec<_>>().join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_read_back_from_their_names() {
        for trigger in [TriggerName::Clock, TriggerName::Immediate, TriggerName::OnDemand, TriggerName::Next, TriggerName::Failover] {
            assert_eq!(TriggerName::from_name(&trigger.to_string()), Some(trigger));
        }
        assert_eq!(TriggerName::from_name("cron"), None);
    }

    #[test]
    fn ids_start_after_the_last_one_given() {
        let now: Zoned = "2020-01-01T00:00:00+00:00[UTC]".parse().unwrap();
        let base = (now.timestamp().as_second() as u64) << 16;
        let mut ids = JobIds::after(JobId(base + 1_000_000));
        assert_eq!(ids.next(&now), JobId(base + 1_000_001), "after the last, even with a clock behind it");
        let mut fresh = JobIds::default();
        assert_eq!([fresh.next(&now), fresh.next(&now)], [JobId(base), JobId(base + 1)]);
    }

    #[test]
    fn generators_sharing_an_id_space_never_hand_out_the_same_id() {
        let now: Zoned = "2020-01-01T00:00:00+00:00[UTC]".parse().unwrap();
        let base = (now.timestamp().as_second() as u64) << 16;
        let mut first = JobIds::shared(JobId(base + 5), 0);
        let mut second = JobIds::shared(JobId(base + 5), 3);
        assert_eq!(first.next(&now), JobId(base + 64), "the next multiple of 64 after the last");
        assert_eq!(second.next(&now), JobId(base + 67), "the next id that is 3 modulo 64");
        let mut seen = std::collections::HashSet::new();
        let mut generators: Vec<JobIds> = (0..MAX_GENERATORS).map(|n| JobIds::shared(JobId(base), n)).collect();
        for _ in 0..2000 {
            for ids in &mut generators {
                let id = ids.next(&now);
                assert!(seen.insert(id), "{id} twice");
            }
        }
        let mut last = JobIds::shared(JobId(0), MAX_GENERATORS - 1);
        assert_eq!(last.next(&now).0 % MAX_GENERATORS, MAX_GENERATORS - 1);
    }
}
