//! The rules of the job queue, whichever store holds it (a single node's
//! memory or a cluster's database): the limits a job is queued under, and
//! the turns owners take when jobs are taken to run.
//!
//! Turns: the owner served least recently goes first (never served counts
//! as longest ago; ties by name), and takes one job, its oldest. However
//! many jobs one owner has queued, another owner's job waits for at most
//! one turn of each owner with jobs queued. The cluster's take (its SQL)
//! keeps the same order with the same keys: a `served` number per owner.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use crate::outcome::JobResult;

/// How many jobs may wait: in all (`max_queued_jobs`) and per owner
/// (`max_queued_jobs_per_user`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Jobs queued in all.
    pub total: usize,
    /// Jobs queued of one owner.
    pub per_owner: usize,
}

/// Why a job was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The queue holds `max_queued_jobs` (the number) already.
    Full(usize),
    /// Its owner has `max_queued_jobs_per_user` (the number) queued already.
    OwnerFull(usize),
}

impl Limits {
    /// No limit: what a job's end that chains nothing is written under.
    pub const NONE: Limits = Limits { total: usize::MAX, per_owner: usize::MAX };

    /// Whether one more job of an owner with `of_owner` jobs queued may
    /// join a queue of `total`; the global limit is looked at first.
    pub fn admit(&self, total: usize, of_owner: usize) -> Result<(), Refusal> {
        if total >= self.total { Err(Refusal::Full(self.total)) } else { self.owner_room(of_owner) }
    }

    /// Whether an owner with `of_owner` jobs queued may queue one more
    /// (an activation past it is refused, not dropped).
    pub fn owner_room(&self, of_owner: usize) -> Result<(), Refusal> {
        if of_owner >= self.per_owner { Err(Refusal::OwnerFull(self.per_owner)) } else { Ok(()) }
    }
}

impl Refusal {
    /// The recorded result of a job dropped for this reason.
    pub fn result(&self) -> JobResult {
        let why = match self {
            Refusal::Full(_) => "queue full",
            Refusal::OwnerFull(_) => "user queue full",
        };
        JobResult::Dropped(why.to_owned())
    }

    /// The log message of `owner`'s job for `event` dropped for this reason.
    pub fn dropped(&self, owner: &str, event: &str) -> String {
        match self {
            Refusal::Full(limit) => format!("job queue full ({limit}): job for event ({event}) dropped"),
            Refusal::OwnerFull(limit) => {
                format!("job queue of user ({owner}) full (max_queued_jobs_per_user = {limit}): job for event ({event}) dropped")
            }
        }
    }

    /// The answer to `owner`'s activation of `event` refused for this reason.
    pub fn refused(&self, owner: &str, event: &str) -> String {
        match self {
            Refusal::Full(limit) => format!("the job queue is full (max_queued_jobs = {limit}): event ({event}) not activated"),
            Refusal::OwnerFull(limit) => format!(
                "user ({owner}) has {limit} job(s) queued, as many as max_queued_jobs_per_user allows: event ({event}) not activated"
            ),
        }
    }
}

/// Something queued for an owner.
pub trait Owned {
    /// Its owner.
    fn owner(&self) -> &Arc<str>;
}

impl Owned for super::Job {
    fn owner(&self) -> &Arc<str> {
        &self.owner
    }
}

/// Queued items by owner, taken in owners' turns (see the module's doc).
#[derive(Debug)]
pub struct FairQueue<T> {
    queues: HashMap<Arc<str>, VecDeque<T>>,
    /// When each owner was last served (a number of the sequence below).
    served: HashMap<Arc<str>, u64>,
    /// The owners with items queued, by (last served, name).
    turns: BTreeSet<(u64, Arc<str>)>,
    sequence: u64,
    len: usize,
}

impl<T> Default for FairQueue<T> {
    fn default() -> Self {
        FairQueue { queues: HashMap::new(), served: HashMap::new(), turns: BTreeSet::new(), sequence: 0, len: 0 }
    }
}

impl<T: Owned> FairQueue<T> {
    /// Queues `item` behind its owner's others.
    pub fn push(&mut self, item: T) {
        let owner = item.owner().clone();
        let queue = self.queues.entry(owner.clone()).or_default();
        if queue.is_empty() {
            let served = self.served.get(&owner).copied().unwrap_or(0);
            self.turns.insert((served, owner));
        }
        queue.push_back(item);
        self.len += 1;
    }

    /// The oldest item of the owner whose turn it is.
    pub fn pop(&mut self) -> Option<T> {
        let (_, owner) = self.turns.pop_first()?;
        let queue = self.queues.get_mut(&owner).expect("an owner with a turn has a queue");
        let item = queue.pop_front().expect("an owner with a turn has an item");
        self.sequence += 1;
        self.served.insert(owner.clone(), self.sequence);
        if queue.is_empty() {
            self.queues.remove(&owner);
        } else {
            self.turns.insert((self.sequence, owner));
        }
        self.len -= 1;
        Some(item)
    }

    /// Items queued in all.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Items queued of `owner`.
    pub fn of_owner(&self, owner: &str) -> usize {
        self.queues.get(owner).map_or(0, VecDeque::len)
    }

    /// Queues `item` when `limits` admit it; else gives it back with why.
    pub fn admit(&mut self, item: T, limits: &Limits) -> Result<(), (T, Refusal)> {
        match limits.admit(self.len, self.of_owner(item.owner())) {
            Ok(()) => {
                self.push(item);
                Ok(())
            }
            Err(refusal) => Err((item, refusal)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Item(Arc<str>, u32);

    impl Owned for Item {
        fn owner(&self) -> &Arc<str> {
            &self.0
        }
    }

    fn item(owner: &str, n: u32) -> Item {
        Item(owner.into(), n)
    }

    #[test]
    fn owners_take_turns_oldest_first_whoever_queued_more() {
        let mut queue = FairQueue::default();
        for n in 0..5 {
            queue.push(item("flood", n));
        }
        queue.push(item("other", 0));
        queue.push(item("other", 1));
        assert_eq!((queue.is_empty(), queue.len(), queue.of_owner("flood"), queue.of_owner("other")), (false, 7, 5, 2));
        let order: Vec<Item> = std::iter::from_fn(|| queue.pop()).collect();
        assert_eq!(
            order,
            [item("flood", 0), item("other", 0), item("flood", 1), item("other", 1), item("flood", 2), item("flood", 3), item("flood", 4)]
        );
        assert_eq!((queue.is_empty(), queue.len(), queue.of_owner("flood")), (true, 0, 0));
    }

    #[test]
    fn an_owner_new_to_the_queue_goes_before_those_served_since() {
        let mut queue = FairQueue::default();
        queue.push(item("a", 0));
        queue.push(item("a", 1));
        assert_eq!(queue.pop(), Some(item("a", 0)));
        // b was never served: served longest ago, before a's second.
        queue.push(item("b", 0));
        assert_eq!(queue.pop(), Some(item("b", 0)));
        assert_eq!(queue.pop(), Some(item("a", 1)));
        // An owner whose queue emptied keeps its place by when it was served.
        queue.push(item("a", 2));
        queue.push(item("b", 1));
        assert_eq!(queue.pop(), Some(item("b", 1)), "b was served before a's last");
        assert_eq!(queue.pop(), Some(item("a", 2)));
        assert_eq!(queue.pop(), None);
    }

    #[test]
    fn limits_are_the_total_first_then_the_owner_s() {
        let limits = Limits { total: 3, per_owner: 2 };
        assert_eq!(limits.admit(2, 1), Ok(()));
        assert_eq!(limits.admit(3, 0), Err(Refusal::Full(3)));
        assert_eq!(limits.admit(1, 2), Err(Refusal::OwnerFull(2)));
        assert_eq!(limits.admit(3, 2), Err(Refusal::Full(3)), "the total is said first");
        assert_eq!((limits.owner_room(1), limits.owner_room(2)), (Ok(()), Err(Refusal::OwnerFull(2))));
        let mut queue = FairQueue::default();
        assert!(queue.admit(item("a", 0), &limits).is_ok());
        assert!(queue.admit(item("a", 1), &limits).is_ok());
        assert_eq!(queue.admit(item("a", 2), &limits), Err((item("a", 2), Refusal::OwnerFull(2))));
        assert!(queue.admit(item("b", 0), &limits).is_ok());
        assert_eq!(queue.admit(item("c", 0), &limits), Err((item("c", 0), Refusal::Full(3))));
        assert_eq!((queue.len(), queue.of_owner("a"), queue.of_owner("b"), queue.of_owner("c")), (3, 2, 1, 0));
    }

    #[test]
    fn refusals_name_their_limit() {
        assert_eq!(Refusal::Full(7).dropped("u", "/e"), "job queue full (7): job for event (/e) dropped");
        assert_eq!(
            Refusal::OwnerFull(5).dropped("u", "/e"),
            "job queue of user (u) full (max_queued_jobs_per_user = 5): job for event (/e) dropped"
        );
        assert!(Refusal::OwnerFull(5).refused("u", "/e").contains("max_queued_jobs_per_user"));
        assert!(Refusal::Full(5).refused("u", "/e").contains("max_queued_jobs = 5"));
        assert_eq!(
            (Refusal::Full(1).result().to_string(), Refusal::OwnerFull(1).result().to_string()),
            ("dropped: queue full".into(), "dropped: user queue full".into())
        );
    }

    proptest! {
        /// Whatever is pushed and popped in whatever order: every item comes
        /// out once, each owner's in the order pushed, and while two owners
        /// both have items queued neither is served twice in a row.
        #[test]
        fn every_item_once_in_owner_order_and_no_owner_twice_while_another_waits(
            steps in proptest::collection::vec((0u8..4, any::<bool>()), 0..200)
        ) {
            let mut queue: FairQueue<Item> = FairQueue::default();
            let mut pushed = 0u32;
            let mut out: Vec<Item> = Vec::new();
            let mut last: Option<Arc<str>> = None;
            for (owner, pop) in steps {
                if pop {
                    let another_waits = last.as_ref().is_some_and(|l| queue.queues.keys().any(|o| o != l));
                    if let Some(popped) = queue.pop() {
                        prop_assert!(!(last.as_ref() == Some(&popped.0) && another_waits), "{} served twice while another waited", popped.0);
                        last = Some(popped.0.clone());
                        out.push(popped);
                    }
                } else {
                    queue.push(item(&format!("o{owner}"), pushed));
                    pushed += 1;
                }
                prop_assert_eq!(queue.len(), queue.queues.values().map(VecDeque::len).sum::<usize>());
            }
            out.extend(std::iter::from_fn(|| queue.pop()));
            prop_assert_eq!(out.len() as u32, pushed);
            for owner in 0..4 {
                let name = format!("o{owner}");
                let mine: Vec<u32> = out.iter().filter(|i| *i.0 == *name).map(|i| i.1).collect();
                prop_assert!(mine.windows(2).all(|w| w[0] < w[1]), "{name}: {mine:?}");
            }
        }
    }
}
