//! `hcron run`'s engine room (§16.1, decisions): the real engine on a
//! manual clock, minute by minute, jobs one at a time in FIFO order, chained
//! jobs at the end of the queue; nothing is executed and nothing is sent.

use std::collections::{HashSet, VecDeque};
use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

use jiff::ToSpan;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

use crate::clock::{ManualClock, local};
use crate::engine::{Activation, Engine, Executor, Job, Journal, Message, Outcome, Settings, UserEvents, shown};
use crate::log::Entry;
use crate::schedule::ScheduleIndex;
use crate::textwrap::wrap;
use crate::tree::Tree;

/// What the simulation shows and pretends.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Print each job's late fields after its `activate` line.
    pub show_event: bool,
    /// Print each message after its `notify-email` line.
    pub show_email: bool,
    /// Events (absolute names) whose jobs fail.
    pub fail: HashSet<String>,
    /// Pause between simulated minutes.
    pub delay: Option<Duration>,
}

/// One user's tree to simulate.
pub struct Subject {
    /// The user the events belong to.
    pub owner: Arc<str>,
    /// The events.
    pub tree: Arc<Tree>,
}

/// Simulates the minutes `start <= t < end` (local time in `tz`), writing the log to `out`.
pub fn simulate(
    subject: &Subject,
    settings: Settings,
    tz: &TimeZone,
    start: DateTime,
    end: DateTime,
    options: &Options,
    out: &mut dyn Write,
) -> io::Result<()> {
    let origin: Arc<str> = "hcron-run".into();
    let mut engine = Engine::new(ManualClock::new(local(tz, start)), settings);
    let mut printer = Printer { out, options, error: None };
    printer.entry(engine.entry("start-logging", ""));
    let version = env!("CARGO_PKG_VERSION");
    let start_entry = engine.entry("start", "").field("fqdn", &engine.settings().fqdn).field("servername", &engine.settings().server_name);
    printer.entry(start_entry.field("version", version));
    let index = ScheduleIndex::new(&subject.tree);
    let users = [UserEvents { owner: &subject.owner, tree: &subject.tree, index: &index }];
    let mut executor = Pretend { fail: &options.fail };
    let mut minute = start;
    while minute < end {
        let now = local(tz, minute);
        engine.clock().set(now.clone());
        let mut queue: VecDeque<Job> = engine.tick(&now, &origin, &users, &mut printer).into();
        while let Some(job) = queue.pop_front() {
            queue.extend(engine.run(&job, &mut executor, &subject.tree, &mut printer));
        }
        if let Some(error) = printer.error.take() {
            return Err(error);
        }
        if let Some(delay) = options.delay {
            printer.out.flush()?;
            std::thread::sleep(delay);
        }
        minute = minute.checked_add(1.minute()).map_err(io::Error::other)?;
    }
    printer.out.flush()
}

/// Succeeds, except for the events named to fail.
struct Pretend<'a> {
    fail: &'a HashSet<String>,
}

impl Executor for Pretend<'_> {
    fn execute(&mut self, job: &Job, _: &Activation) -> Outcome {
        match self.fail.contains(&*job.event) {
            true => Outcome::Failure(crate::outcome::Failure::Other("named in --fail-events".into())),
            false => Outcome::Success,
        }
    }
}

/// Writes the log and the requested details; keeps the first write error.
struct Printer<'a> {
    out: &'a mut dyn Write,
    options: &'a Options,
    error: Option<io::Error>,
}

impl Printer<'_> {
    fn line(&mut self, line: &str) {
        if self.error.is_none()
            && let Err(error) = writeln!(self.out, "{line}")
        {
            self.error = Some(error);
        }
    }
}

impl Journal for Printer<'_> {
    fn entry(&mut self, entry: Entry) {
        self.line(&entry.line());
    }

    fn activated(&mut self, job: &Job, activation: &Activation) {
        if !self.options.show_event {
            return;
        }
        for (name, value) in event_fields(job, activation) {
            for line in wrap(&format!("{name}={value}"), 128, "    ", true) {
                self.line(&line);
            }
        }
    }

    fn notification(&mut self, message: &Message) {
        if !self.options.show_email {
            return;
        }
        for piece in message.text().split('\n') {
            let lines = wrap(piece, 1024, "    ", false);
            if lines.is_empty() {
                self.line("");
            }
            for line in lines {
                self.line(&line);
            }
        }
    }
}

/// The `--show-event` fields: late values, and the scheduled time's
/// components in place of the `when_*` fields (weekday with Monday = 0, as
/// the original printed it).
fn event_fields(job: &Job, activation: &Activation) -> Vec<(&'static str, String)> {
    let at = job.scheduled.datetime();
    let mut fields = vec![
        ("as_user", activation.shown_login(&job.owner).to_owned()),
        ("host", shown(activation.host.as_deref()).to_owned()),
        ("command", shown(activation.command.as_deref()).to_owned()),
        ("notify_email", shown(activation.notify_email.as_deref()).to_owned()),
        ("notify_subject", activation.notify_subject.clone()),
        ("notify_message", activation.notify_message.clone()),
        ("when_year", at.year().to_string()),
        ("when_month", at.month().to_string()),
        ("when_day", at.day().to_string()),
        ("when_hour", at.hour().to_string()),
        ("when_minute", at.minute().to_string()),
        ("when_dow", at.weekday().to_monday_zero_offset().to_string()),
    ];
    if let Some(seconds) = activation.when_expire.filter(|&s| s != 0) {
        fields.push(("when_expire", seconds.to_string()));
    }
    fields.push(("next_event", activation.next_event.clone()));
    fields.push(("failover_event", activation.failover_event.clone()));
    fields
}
