//! The job engine: the one implementation of activation, expiry,
//! notification composition, chain rules and limits, and the activity log
//! lines they produce (§8–§10, §12, §15).
//!
//! The engine does no I/O of its own. It asks a [`Clock`] for the time,
//! hands each activation to an [`Executor`], and reports log entries,
//! activations and messages to a [`Journal`]. `hcron run` wires it to a
//! manual clock, an executor that only pretends and a journal that prints;
//! the daemon wires the same engine to the real clock and real executors.

mod activation;
mod chain;
mod job;
mod notify;
pub mod queue;

use std::sync::Arc;
use std::time::Instant;

use jiff::Zoned;

pub use activation::{Activation, NotifyOn, shown};
pub use job::{Job, JobId, JobIds, MAX_GENERATORS, TriggerName};
pub use notify::Message;

use crate::clock::{Clock, log_datetime, log_timestamp};
use crate::log::Entry;
use crate::schedule::ScheduleIndex;
use crate::tree::Tree;

/// What the engine needs to know about its surroundings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `max_chain_events`: activations per chain, at least 1.
    pub max_chain_events: usize,
    /// `max_next_events`: names per chain list, at least 1.
    pub max_next_events: usize,
    /// `max_email_notifications`: recipients per notification.
    pub max_email_notifications: usize,
    /// The scheduler host's fully qualified name.
    pub fqdn: String,
    /// `HCRON_SERVER_NAME`.
    pub server_name: String,
}

pub use crate::outcome::{Failure, Outcome};

/// Runs what an activation says to run.
pub trait Executor {
    /// Runs `job`'s command as `activation` describes it (not called for expired jobs).
    fn execute(&mut self, job: &Job, activation: &Activation) -> Outcome;
}

/// Receives what the engine produces, in order.
pub trait Journal {
    /// An activity-log entry.
    fn entry(&mut self, entry: Entry);
    /// A job was activated (or expired) with these late values.
    fn activated(&mut self, _job: &Job, _activation: &Activation) {}
    /// Takes a notification for delivery; `Err` says why it cannot be sent
    /// (then the engine logs `failed to send email (...)` instead of `notify-email`).
    fn hand_over(&mut self, _message: &Message) -> Result<(), String> {
        Ok(())
    }
    /// A notification was handed over, right after its `notify-email` entry.
    fn notification(&mut self, _message: &Message) {}
}

/// One user's events as the clock sees them.
pub struct UserEvents<'a> {
    /// The user.
    pub owner: &'a Arc<str>,
    /// Their events.
    pub tree: &'a Arc<Tree>,
    /// Which of them fire in a given minute.
    pub index: &'a ScheduleIndex,
}

/// The job engine.
pub struct Engine<C: Clock> {
    clock: C,
    settings: Settings,
    ids: JobIds,
}

impl<C: Clock> Engine<C> {
    /// An engine on `clock`.
    pub fn new(clock: C, settings: Settings) -> Engine<C> {
        Engine::with_ids(clock, settings, JobIds::default())
    }

    /// Hands out `ids` from now on (a cluster node given its number).
    pub fn set_ids(&mut self, ids: JobIds) {
        self.ids = ids;
    }

    /// An engine on `clock` handing out `ids`.
    pub fn with_ids(clock: C, settings: Settings, ids: JobIds) -> Engine<C> {
        Engine { clock, settings, ids }
    }

    /// The engine's clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// The engine's settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Replaces the settings (a reloaded configuration): jobs activated
    /// from now on follow the new limits.
    pub fn configure(&mut self, settings: Settings) {
        self.settings = settings;
    }

    /// An entry stamped with the clock's time.
    pub fn entry(&self, kind: &'static str, user: &str) -> Entry {
        Entry::new(log_timestamp(&self.clock.now().datetime()), kind, user)
    }

    /// Queues the events due at `minute` (§9.1 step 4): users in the order
    /// given, events in tree order; a `queue` entry each, then one `work` entry.
    pub fn tick(&mut self, minute: &Zoned, origin: &Arc<str>, users: &[UserEvents<'_>], journal: &mut dyn Journal) -> Vec<Job> {
        let started = Instant::now();
        let jobs = self.due(minute, origin, users);
        self.log_tick(&jobs, started.elapsed(), journal);
        jobs
    }

    /// The jobs of the events due at `minute`, as [`Engine::tick`] queues
    /// them, without a log entry: for a caller that claims them first.
    pub fn due(&mut self, minute: &Zoned, origin: &Arc<str>, users: &[UserEvents<'_>]) -> Vec<Job> {
        let mut jobs = Vec::new();
        for user in users {
            for index in user.index.due(&minute.datetime()) {
                let event = user.tree.events()[index].name().clone();
                jobs.push(self.root_job(user.owner, user.tree, event, TriggerName::Clock, origin.clone(), minute.clone()));
            }
        }
        jobs
    }

    /// The entries of a tick that queued `jobs` in `elapsed`: a `queue`
    /// entry each, then one `work` entry.
    pub fn log_tick(&self, jobs: &[Job], elapsed: std::time::Duration, journal: &mut dyn Journal) {
        for job in jobs {
            self.log_queued(job, journal);
        }
        let elapsed = format!("{:.6}", elapsed.as_secs_f64());
        journal.entry(self.entry("work", "").field("count", jobs.len()).field("elapsed", elapsed));
    }

    /// A job that starts a chain.
    pub fn root_job(
        &mut self,
        owner: &Arc<str>,
        tree: &Arc<Tree>,
        event: Arc<str>,
        trigger: TriggerName,
        origin: Arc<str>,
        scheduled: Zoned,
    ) -> Job {
        let now = self.clock.now();
        let id = self.ids.next(&now);
        Job {
            id,
            group: id,
            parent: id,
            owner: owner.clone(),
            tree: tree.clone(),
            chain: vec![event.clone()],
            event,
            trigger,
            origin,
            scheduled,
            queued: now,
        }
    }

    /// Runs one job to its end (§10.1) with `executor`: [`Engine::activate`],
    /// then the execution (none for an expired job), then [`Engine::complete`].
    pub fn run(&mut self, job: &Job, executor: &mut dyn Executor, current: &Arc<Tree>, journal: &mut dyn Journal) -> Vec<Job> {
        match self.activate(job, journal) {
            Ok(activation) => {
                let outcome = activation.expiry().unwrap_or_else(|| executor.execute(job, &activation));
                self.complete(job, Some(&activation), outcome, current, journal)
            }
            Err(failure) => self.complete(job, None, failure, current, journal),
        }
    }

    /// §10.1 steps 1–3: late evaluation and the `activate` or `expire`
    /// entry. An expired activation must not be executed: complete it with a
    /// failure. `Err` when the job cannot be activated at all (its event has
    /// no definition); complete it with that failure.
    pub fn activate(&mut self, job: &Job, journal: &mut dyn Journal) -> Result<Activation, Outcome> {
        let Some(definition) = job.tree.get(&job.event).and_then(|e| e.definition()) else {
            let message = format!("cannot activate event ({}): it has no definition", job.event);
            journal.entry(self.message(&job.owner, &message, "error"));
            return Err(Outcome::Failure(Failure::Other(message)));
        };
        let activation = Activation::evaluate(job, definition, self.clock.now(), &self.settings);
        let kind = if activation.expired { "expire" } else { "activate" };
        journal.entry(
            self.job_entry(kind, job)
                .field("eventchain", job.chain_text())
                .field("triggername", job.trigger)
                .field("triggerorigin", &job.origin),
        );
        journal.activated(job, &activation);
        Ok(activation)
    }

    /// The activation `job` would have now, without an entry: for a job
    /// whose run was lost, to follow its `failover_event`. `None` when its
    /// event has no definition.
    pub fn evaluate(&self, job: &Job) -> Option<Activation> {
        let definition = job.tree.get(&job.event)?.definition()?;
        Some(Activation::evaluate(job, definition, self.clock.now(), &self.settings))
    }

    /// A job whose scheduler died while it ran (`on_lost`): with
    /// `on_lost=rerun`, unless `again` (it is itself a job run again), the
    /// job runs once more: the one job returned, with a `queue` entry;
    /// otherwise it completes as a failure, `why`, and its chained jobs
    /// (its `failover_event`) are returned.
    pub fn lost(&mut self, job: &Job, why: Failure, again: bool, journal: &mut dyn Journal) -> Vec<Job> {
        let activation = self.evaluate(job);
        if !again && activation.as_ref().is_some_and(|a| a.rerun_lost) {
            let now = self.clock.now();
            let rerun = Job { id: self.ids.next(&now), parent: job.id, queued: now, ..job.clone() };
            let text = format!("job {} of event ({}) {why}: run once more as job {} (on_lost=rerun)", job.id, job.event, rerun.id);
            journal.entry(self.message(&job.owner, &text, "warning"));
            self.log_queued(&rerun, journal);
            return vec![rerun];
        }
        self.complete(job, activation.as_ref(), Outcome::Failure(why), &job.tree, journal)
    }

    /// §10.1 steps 5–8: the notifications of a success, the `done` entry,
    /// the limits, and the chained jobs, queued against `current` (the
    /// owner's events as they are now).
    pub fn complete(
        &mut self,
        job: &Job,
        activation: Option<&Activation>,
        outcome: Outcome,
        current: &Arc<Tree>,
        journal: &mut dyn Journal,
    ) -> Vec<Job> {
        let list = match activation {
            Some(activation) => {
                let failure = match &outcome {
                    Outcome::Success => None,
                    Outcome::Failure(reason) => Some(reason.to_string()),
                };
                if activation.notify_on.notifies(failure.is_none()) {
                    self.notify(job, activation, failure.as_deref(), journal);
                }
                if failure.is_none() { activation.next_event.as_str() } else { activation.failover_event.as_str() }
            }
            None => "",
        };
        self.finish(job, list, outcome, current, journal)
    }

    /// §12: one `notify-email` entry and one message per recipient (`failure`:
    /// the reason, when `notify_on` asks for failures too).
    fn notify(&self, job: &Job, activation: &Activation, failure: Option<&str>, journal: &mut dyn Journal) {
        let limit = self.settings.max_email_notifications;
        let (recipients, count) = notify::recipients(activation, limit);
        if count > limit {
            let text =
                format!("limited user ({}) event ({}) email notification recipients from ({count}) to ({limit})", job.owner, job.event);
            journal.entry(self.message("", &text, "error"));
        }
        for to in recipients {
            let message = notify::compose(job, activation, &self.settings, failure, to);
            match journal.hand_over(&message) {
                Ok(()) => {
                    journal.entry(self.entry("notify-email", &job.owner).field("addrs", &message.to).field("eventname", &job.event));
                    journal.notification(&message);
                }
                Err(detail) => {
                    let text = format!("failed to send email ({detail}) for event ({}).", job.event);
                    journal.entry(self.message("", &text, "error"));
                }
            }
        }
    }

    /// §10.1 steps 6–8 and §10.2: the `done` entry, the limits, the chained jobs.
    fn finish(&mut self, job: &Job, list: &str, outcome: Outcome, current: &Arc<Tree>, journal: &mut dyn Journal) -> Vec<Job> {
        let targets = chain::targets(&job.event, list);
        let (trigger, kind) = match outcome {
            Outcome::Success => (TriggerName::Next, "next"),
            Outcome::Failure(_) => (TriggerName::Failover, "failover"),
        };
        let shown = targets.iter().map(chain::Target::shown).collect::<Vec<_>>().join(":");
        journal.entry(
            self.job_entry("done", job)
                .field("nexteventnames", &shown)
                .field("nexteventtype", if targets.is_empty() { "None" } else { kind })
                .field("nnextevents", targets.len()),
        );
        if targets.is_empty() {
            return Vec::new();
        }
        if job.chain.len() >= self.settings.max_chain_events.max(1) {
            let text = format!("event chain limit ({}) reached at ({shown}).", self.settings.max_chain_events.max(1));
            journal.entry(self.message(&job.owner, &text, "error"));
            return Vec::new();
        }
        if targets.len() > self.settings.max_next_events.max(1) {
            let text = format!("next event limit ({}) reached at ({shown}).", self.settings.max_next_events.max(1));
            journal.entry(self.message("", &text, "error"));
            return Vec::new();
        }
        let mut jobs = Vec::new();
        for target in &targets {
            if let Some(refusal) = chain::refusal(current, &job.event, target) {
                journal.entry(self.message(&job.owner, &refusal, "error"));
                continue;
            }
            let name = chain::name(current, target);
            let now = self.clock.now();
            let mut chain = job.chain.clone();
            chain.push(name.clone());
            let chained = Job {
                id: self.ids.next(&now),
                group: job.group,
                parent: job.id,
                owner: job.owner.clone(),
                tree: current.clone(),
                event: name.clone(),
                trigger,
                origin: name,
                chain,
                scheduled: now.clone(),
                queued: now,
            };
            self.log_queued(&chained, journal);
            jobs.push(chained);
        }
        jobs
    }

    /// Logs the `queue` entry of `job`.
    pub fn log_queued(&self, job: &Job, journal: &mut dyn Journal) {
        journal.entry(
            self.job_entry("queue", job)
                .field("eventchain", job.chain_text())
                .field("queuetime", log_datetime(&job.queued.datetime()))
                .field("schedtime", log_datetime(&job.scheduled.datetime()))
                .field("triggername", job.trigger)
                .field("triggerorigin", &job.origin),
        );
    }

    /// An entry with the fields every job entry has (eventname, jobgid, jobid, pjobid).
    pub fn job_entry(&self, kind: &'static str, job: &Job) -> Entry {
        self.entry(kind, &job.owner)
            .field("eventname", &job.event)
            .field("jobgid", job.group)
            .field("jobid", job.id)
            .field("pjobid", job.parent)
    }

    /// A `message` entry.
    pub fn message(&self, user: &str, text: &str, kind: &str) -> Entry {
        self.entry("message", user).field("message", text).field("type", kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeps the entries as log lines.
    struct Kinds(Vec<String>);

    impl Journal for Kinds {
        fn entry(&mut self, entry: Entry) {
            self.0.push(entry.line());
        }
    }

    #[test]
    fn a_lost_job_runs_once_more_with_on_lost_rerun_unless_it_is_a_rerun_and_else_fails_over() {
        let dir = tempfile::tempdir().unwrap();
        let fields = "as_user=\nhost=localhost\ncommand=true\nnotify_email=\nnotify_message=\nwhen_month=*\nwhen_day=*\nwhen_hour=*\nwhen_minute=*\nwhen_dow=*\n";
        std::fs::write(dir.path().join("a"), format!("{fields}on_lost=rerun\nfailover_event=/f\n")).unwrap();
        std::fs::write(dir.path().join("f"), fields).unwrap();
        let config = crate::config::Config::default();
        let options = config.tree_options(crate::event::LoadContext { host_name: "h".into(), server_name: "s".into() });
        let tree = Arc::new(crate::tree::load(&crate::tree::LocalFs, dir.path(), &options).unwrap().tree);
        let settings =
            Settings { max_chain_events: 10, max_next_events: 10, max_email_notifications: 10, fqdn: "f".into(), server_name: "s".into() };
        let start = jiff::civil::date(2030, 1, 1).at(10, 0, 0, 0).to_zoned(jiff::tz::TimeZone::UTC).unwrap();
        let clock = crate::clock::ManualClock::new(start.clone());
        let mut engine = Engine::new(clock, settings);
        let owner: Arc<str> = "u".into();
        let root = engine.root_job(&owner, &tree, "/a".into(), TriggerName::Clock, "o".into(), start.clone());
        // A job of a chain: its parent is another job.
        let job = Job { parent: JobId(1), ..root };
        let mut journal = Kinds(Vec::new());
        let later = start.checked_add(jiff::SignedDuration::from_secs(90)).unwrap();
        engine.clock().set(later.clone());
        let lost = || Failure::Lost("the scheduler stopped while the job ran".into());
        let rerun = engine.lost(&job, lost(), false, &mut journal);
        assert_eq!(rerun.len(), 1);
        assert_eq!((&*rerun[0].event, rerun[0].parent, rerun[0].trigger), ("/a", job.id, TriggerName::Clock));
        assert_ne!(rerun[0].id, job.id);
        assert_eq!(rerun[0].queued, later, "queued now, not when the lost job was");
        assert!(journal.0.iter().any(|e| e.contains("run once more as job")), "{:?}", journal.0);
        // A job that is itself a rerun is not run again: it fails over.
        let chained = engine.lost(&rerun[0], lost(), true, &mut journal);
        assert_eq!(chained.iter().map(|j| (&*j.event, j.trigger)).collect::<Vec<_>>(), [("/f", TriggerName::Failover)]);
    }

    #[test]
    fn a_new_configuration_replaces_every_limit() {
        let settings = |n| Settings {
            max_chain_events: n,
            max_next_events: n + 1,
            max_email_notifications: n + 2,
            fqdn: "f".into(),
            server_name: "s".into(),
        };
        let mut engine = Engine::new(crate::clock::ManualClock::new(jiff::Zoned::now()), settings(1));
        engine.configure(settings(7));
        let now = engine.settings();
        assert_eq!((now.max_chain_events, now.max_next_events, now.max_email_notifications), (7, 8, 9));
    }
}
