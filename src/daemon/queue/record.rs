//! A job and its record, both ways: the record a job is queued as, and the
//! job a record stands for against its owner's tree as loaded now (a
//! cluster's taken job, a previous run's unsettled one).

use std::sync::Arc;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;

use crate::clock::{local, log_datetime};
use crate::engine::{Job, JobId, TriggerName};
use crate::history::JobRecord;
use crate::tree::Tree;

/// The queued record of `job`.
pub fn record_of(job: &Job) -> JobRecord {
    JobRecord {
        id: job.id.to_string(),
        group: job.group.to_string(),
        parent: job.parent.to_string(),
        user: job.owner.to_string(),
        event: job.event.to_string(),
        trigger: job.trigger.to_string(),
        chain: job.chain_text(),
        scheduled: log_datetime(&job.scheduled.datetime()),
        queued: log_datetime(&job.queued.datetime()),
        result: "queued".into(),
        ..JobRecord::default()
    }
}

/// The job of `record` in `tree`, its owner's as loaded now; `None` when
/// the tree has no such event or the record cannot be read back.
pub fn rebuild(record: &JobRecord, owner: &Arc<str>, tree: &Arc<Tree>) -> Option<Job> {
    tree.get(&record.event)?;
    let id = |hex: &str| u64::from_str_radix(hex, 16).ok().map(JobId);
    let tz = TimeZone::system();
    let time = |text: &str| text.replacen(' ', "T", 1).parse::<DateTime>().ok().map(|t| local(&tz, t));
    Some(Job {
        id: id(&record.id)?,
        group: id(&record.group)?,
        parent: id(&record.parent)?,
        owner: owner.clone(),
        tree: tree.clone(),
        event: record.event.as_str().into(),
        trigger: TriggerName::from_name(&record.trigger)?,
        origin: "hcron-scheduler".into(),
        chain: record.chain.split(':').map(Into::into).collect(),
        scheduled: time(&record.scheduled)?,
        queued: time(&record.queued)?,
    })
}

/// The history's `next` of a job: the events it chained, `:`-joined.
pub fn chained_names(chained: &[Job]) -> String {
    chained.iter().map(|j| &*j.event).collect::<Vec<_>>().join(":")
}
