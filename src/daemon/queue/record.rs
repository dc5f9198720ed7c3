//! A job and its record, both ways: the record a job is queued as, and the
//! job a record stands for against its owner's tree as loaded now (a
//! cluster's taken job, a previous run's unsettled one).

use std::sync::Arc;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;

use crate::clock::{local, log_datetime};
use crate::engine::{Job, JobId, TriggerName};
use crate::history::JobRecord;
use crate::outcome::JobResult;
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
        result: JobResult::Queued,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::JobId;

    /// A tree of one event, `/e`, loaded from `dir`.
    fn tree(dir: &std::path::Path) -> Arc<Tree> {
        std::fs::write(dir.join("e"), "as_user=\nhost=localhost\ncommand=true\nnotify_email=\nnotify_message=\n").unwrap();
        let config = crate::config::Config::default();
        let options = config.tree_options(crate::event::LoadContext::default());
        Arc::new(crate::tree::load(&crate::tree::LocalFs, dir, &options).unwrap().tree)
    }

    #[test]
    fn a_job_and_its_record_make_each_other_against_the_tree_of_now() {
        let dir = tempfile::tempdir().unwrap();
        let tree = tree(dir.path());
        let owner: Arc<str> = "alice".into();
        let at = |text: &str| local(&TimeZone::system(), text.parse().unwrap());
        let job = Job {
            id: JobId(0x2a),
            group: JobId(0x10),
            parent: JobId(0x11),
            owner: owner.clone(),
            tree: Arc::new(Tree::default()),
            event: "/e".into(),
            trigger: TriggerName::Failover,
            origin: "somewhere".into(),
            chain: vec!["/a".into(), "/e".into()],
            scheduled: at("2030-01-01T10:00:00"),
            queued: at("2030-01-01T10:00:05"),
        };
        let record = record_of(&job);
        assert_eq!(
            (record.id.as_str(), record.group.as_str(), record.parent.as_str(), record.user.as_str(), record.event.as_str()),
            ("2a", "10", "11", "alice", "/e")
        );
        assert_eq!((record.trigger.as_str(), record.chain.as_str(), record.result.clone()), ("failover", "/a:/e", JobResult::Queued));
        assert_eq!((record.scheduled.as_str(), record.queued.as_str()), ("2030-01-01 10:00:00", "2030-01-01 10:00:05"));
        assert_eq!((record.started.as_ref(), record.finished.as_ref()), (None, None));
        let back = rebuild(&record, &owner, &tree).expect("the event is in the tree");
        assert_eq!((back.id, back.group, back.parent, back.trigger), (job.id, job.group, job.parent, job.trigger));
        assert_eq!((&*back.owner, &*back.event, back.chain.clone()), ("alice", "/e", job.chain.clone()));
        assert_eq!((back.scheduled.datetime(), back.queued.datetime()), (job.scheduled.datetime(), job.queued.datetime()));
        assert!(Arc::ptr_eq(&back.tree, &tree), "the tree of now, not the one queued with");
        assert_eq!(&*back.origin, "hcron-scheduler");
        // Gone from the tree, or unreadable: no job.
        let gone = JobRecord { event: "/gone".into(), ..record.clone() };
        assert!(rebuild(&gone, &owner, &tree).is_none());
        for broken in [
            JobRecord { id: "zz".into(), ..record.clone() },
            JobRecord { group: "zz".into(), ..record.clone() },
            JobRecord { parent: "zz".into(), ..record.clone() },
            JobRecord { trigger: "sometime".into(), ..record.clone() },
            JobRecord { scheduled: "never".into(), ..record.clone() },
            JobRecord { queued: "never".into(), ..record.clone() },
        ] {
            assert!(rebuild(&broken, &owner, &tree).is_none(), "{broken:?}");
        }
    }

    #[test]
    fn the_history_s_next_is_the_chained_events_colon_joined() {
        let dir = tempfile::tempdir().unwrap();
        let tree = tree(dir.path());
        let owner: Arc<str> = "alice".into();
        let record = JobRecord {
            id: "1".into(),
            group: "1".into(),
            parent: "1".into(),
            user: "alice".into(),
            event: "/e".into(),
            trigger: "next".into(),
            chain: "/e".into(),
            scheduled: "2030-01-01 10:00:00".into(),
            queued: "2030-01-01 10:00:00".into(),
            ..JobRecord::default()
        };
        let one = rebuild(&record, &owner, &tree).unwrap();
        let other = Job { event: "/f".into(), ..one.clone() };
        assert_eq!(chained_names(&[one, other]), "/e:/f");
        assert_eq!(chained_names(&[]), "");
    }
}
