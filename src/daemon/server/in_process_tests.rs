//! The control handlers and the job path, in process: a standalone daemon
//! made as `hcron-scheduler --standalone` makes it, on a paused tokio
//! clock, with a spawner whose helper is gone (a start fails at once, so no
//! child process runs), the single node's queue and no PostgreSQL. What
//! only real processes show stays in `tests/`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::account::Account;
use crate::config::Config;
use crate::control::{Counts, Request, Response};
use crate::daemon::setup::{Assembled, assemble};
use crate::daemon::wallclock::MinuteClock;
use crate::daemon::{Daemon, LogTarget, Mode, Setup};
use crate::exec::Spawner;
use crate::outcome::{Failure, JobResult};

/// A daemon on `dir` with `events` (name, text) written in its tree and
/// its configuration changed by `configure`; no task of it runs yet.
async fn daemon(dir: &Path, events: &[(&str, &str)], configure: impl FnOnce(&mut Config)) -> (Arc<Daemon>, Account) {
    let account = Account::current().expect("the current user");
    let root = dir.join("events");
    for (name, text) in events {
        let path = root.join(name.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
    }
    let mut config = Config::default();
    configure(&mut config);
    let setup = Setup {
        config: crate::daemon::configure::for_mode(config, true),
        config_path: None,
        mode: Mode::Standalone { account: account.clone(), events: root },
        server_name: "testserver".into(),
        fqdn: "testserver.example".into(),
        log: LogTarget { file: Some(dir.join("hcron.log")), stderr: false, syslog: None },
        mailbox: dir.join("mailbox"),
        spool: dir.join("spool"),
        history: dir.join("history.sqlite"),
        ssh_dir: dir.join("ssh"),
        minute_clock: MinuteClock::default(),
    };
    let Assembled { daemon, .. } = assemble(setup, Arc::new(Spawner::gone())).await.expect("a daemon");
    (daemon, account)
}

/// An event that runs `command` here, chaining `next` and `failover`.
fn event(command: &str, next: &str, failover: &str) -> String {
    format!(
        "as_user=\nhost=localhost\ncommand={command}\nnotify_email=\nnotify_message=\nnext_event={next}\nfailover_event={failover}\n\
         when_month=*\nwhen_day=*\nwhen_hour=*\nwhen_minute=*\nwhen_dow=*\n"
    )
}

async fn ask(daemon: &Arc<Daemon>, caller: &Account, request: Request) -> Response {
    daemon.handle(caller, true, request).await
}

/// The results of `user`'s jobs by event, once `count` of them have ended
/// (the history is written by its own thread: waited for in real time).
async fn ended(daemon: &Arc<Daemon>, user: &str, count: usize) -> Vec<(String, String, JobResult, String)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let Response::History { jobs } = super::history::history(&daemon.queue, user, None, None).await else { panic!("a history") };
        if jobs.iter().filter(|j| j.result.is_final()).count() >= count || Instant::now() > deadline {
            return jobs.into_iter().map(|j| (j.event, j.trigger, j.result, j.next)).collect();
        }
        std::thread::sleep(Duration::from_millis(10));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn each_handler_answers_from_the_parts_of_the_daemon_it_reads() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, me) =
        daemon(dir.path(), &[("/b", &event("true", "", "")), ("/a", &event("true", "", "")), ("/bad", "when_minute=x\n")], |_| {}).await;
    let counts = Counts { events: 3, accepted: 2, rejected: 1, templates: 0 };
    let loaded = ask(&daemon, &me, Request::Reload).await;
    let Response::Events { events } = ask(&daemon, &me, Request::List).await else { panic!("a list") };
    assert_eq!(loaded, Response::Loaded(counts), "{events:?}");
    let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["/a", "/b", "/bad"], "sorted by name");
    let Response::Info(info) = ask(&daemon, &me, Request::Info).await else { panic!("info") };
    assert_eq!((info.users, info.events, info.queued, info.running), (1, 3, 0, 0));
    assert_eq!((info.server_name.as_str(), info.role.as_str()), ("testserver", "single"));
    assert!(info.next_minute.ends_with(":00"), "a minute: {}", info.next_minute);
    assert_eq!(ask(&daemon, &me, Request::Hosts).await, Response::Hosts { hosts: Vec::new() });
    let Response::Error { message } = ask(&daemon, &me, Request::Nodes).await else { panic!("a single node has no nodes") };
    assert!(message.contains("single node"), "{message}");
    assert_eq!(ask(&daemon, &me, Request::Allowed).await, Response::Allowed { allowed: true });
    assert_eq!(ask(&daemon, &me, Request::History { event: None, since: None }).await, Response::History { jobs: Vec::new() });
    let Response::Log { lines, truncated } = ask(&daemon, &me, Request::Log { since: "2000".into() }).await else { panic!("the log") };
    assert!(!truncated && lines.iter().any(|l| l.contains("|load-events|")), "the caller's load: {lines:?}");
    assert_eq!(ask(&daemon, &me, Request::Unload).await, Response::Unloaded);
    assert_eq!(ask(&daemon, &me, Request::List).await, Response::Events { events: Vec::new() });
    let Response::Info(info) = ask(&daemon, &me, Request::Info).await else { panic!("info") };
    assert_eq!((info.users, info.events), (1, 0), "known, nothing loaded");
}

#[tokio::test(start_paused = true)]
async fn a_caller_outside_the_allow_file_may_ask_only_whether_it_is_allowed_and_for_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, me) = daemon(dir.path(), &[("/a", &event("true", "", ""))], |_| {}).await;
    for request in [Request::Reload, Request::List, Request::Activate { event: "/a".into() }, Request::Hosts] {
        let Response::Error { message } = daemon.handle(&me, false, request.clone()).await else { panic!("{request:?} refused") };
        assert_eq!(message, format!("user ({}) is not allowed to use hcron on server (testserver)", me.name));
    }
    assert_eq!(daemon.handle(&me, false, Request::Allowed).await, Response::Allowed { allowed: false });
    assert!(matches!(daemon.handle(&me, false, Request::Info).await, Response::Info(_)));
    assert!(daemon.users.get(&me.name).is_none(), "nothing was loaded");
}

#[tokio::test(start_paused = true)]
async fn an_activation_runs_through_the_job_path_and_follows_next_event_or_failover_event_by_its_typed_result() {
    let dir = tempfile::tempdir().unwrap();
    let events = [
        // No command: nothing to run, a success (spec §10.3).
        ("/ok", "as_user=\nhost=localhost\nnext_event=/then\nfailover_event=/else\nwhen_minute=0\n".to_owned()),
        // A command: its start fails (the spawner is gone), a failure of its kind.
        ("/fails", event("true", "/then", "/else")),
        ("/then", "as_user=\nhost=localhost\n".to_owned()),
        ("/else", "as_user=\nhost=localhost\n".to_owned()),
    ];
    let events: Vec<(&str, &str)> = events.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let (daemon, me) = daemon(dir.path(), &events, |_| {}).await;
    tokio::spawn(daemon.clone().dispatch());
    assert!(matches!(ask(&daemon, &me, Request::Reload).await, Response::Loaded(_)));
    for name in ["/ok", "/fails"] {
        let answer = ask(&daemon, &me, Request::Activate { event: name.into() }).await;
        assert!(matches!(answer, Response::Activated { .. }), "{name}: {answer:?}");
    }
    let mut jobs = ended(&daemon, &me.name, 4).await;
    jobs.sort_by(|a, b| a.0.cmp(&b.0));
    let shown: Vec<(&str, &str, &str)> = jobs.iter().map(|(e, t, _, n)| (e.as_str(), t.as_str(), n.as_str())).collect();
    assert_eq!(shown, [("/else", "failover", ""), ("/fails", "ondemand", "/else"), ("/ok", "ondemand", "/then"), ("/then", "next", "")]);
    let result = |name: &str| jobs.iter().find(|j| j.0 == name).map(|j| j.2.clone()).unwrap();
    assert_eq!(result("/ok"), JobResult::Success);
    assert!(matches!(result("/fails"), JobResult::Failure(Failure::Start(_))), "{:?}", result("/fails"));
    assert_eq!((result("/then"), result("/else")), (JobResult::Success, JobResult::Success));
    assert_eq!(daemon.slots.running(), 0, "every slot given back");
    let Response::History { jobs } = ask(&daemon, &me, Request::History { event: None, since: None }).await else { panic!("a history") };
    assert!(jobs.iter().all(|j| j.started.is_some() && j.finished.is_some()), "each started, then ended: {jobs:?}");
}

#[tokio::test(start_paused = true)]
async fn activations_past_the_caller_s_queue_limit_or_of_what_is_not_loaded_are_refused_and_queue_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // No dispatcher: what is queued stays queued.
    let (daemon, me) = daemon(dir.path(), &[("/a", &event("true", "", ""))], |c| c.max_queued_jobs_per_user = 2).await;
    let activate = |event: &str| ask(&daemon, &me, Request::Activate { event: event.into() });
    let Response::Error { message } = activate("/a").await else { panic!("refused") };
    assert_eq!(message, format!("no events are loaded for user ({})", me.name));
    assert!(matches!(ask(&daemon, &me, Request::Reload).await, Response::Loaded(_)));
    for _ in 0..2 {
        assert!(matches!(activate("/a").await, Response::Activated { .. }));
    }
    let Response::Error { message } = activate("/a").await else { panic!("refused") };
    assert_eq!(
        message,
        format!("user ({}) has 2 job(s) queued, as many as max_queued_jobs_per_user allows: event (/a) not activated", me.name)
    );
    let Response::Info(info) = ask(&daemon, &me, Request::Info).await else { panic!("info") };
    assert_eq!((info.queued, info.running), (2, 0), "the refused one is not queued");
    let Response::Error { message } = activate("/nope").await else { panic!("refused") };
    assert_eq!(message, format!("no event (/nope) in the events of user ({})", me.name));
    daemon.slots.stop();
    let Response::Error { message } = activate("/a").await else { panic!("refused") };
    assert_eq!(message, "the scheduler is stopping: nothing new is queued");
    let Response::Info(info) = ask(&daemon, &me, Request::Info).await else { panic!("info") };
    assert_eq!(info.queued, 2, "none of the refused ones was queued");
}

#[tokio::test(start_paused = true)]
async fn a_single_node_s_queue_plans_alone_tells_nobody_and_starts_its_ids_after_its_history_s() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, me) = daemon(dir.path(), &[("/a", &event("true", "", ""))], |_| {}).await;
    let queue = &daemon.queue;
    assert!(queue.may_plan() && queue.poll().is_none() && queue.probes().is_none(), "it plans, is woken, probes alone");
    assert_eq!((queue.role(), queue.held(), queue.queued().await), ("single", 0, Some(0)));
    assert_eq!((queue.ready().await, queue.reloaded(&me.name).await), (Ok(()), Ok(())));
    assert!(matches!(queue.mail_store(crate::mail::Spool::new(&dir.path().join("spool"))), crate::mail::Store::Local(_)));
    assert_eq!(queue.watermark().unwrap(), None, "no minute planned yet");
    assert!(matches!(ask(&daemon, &me, Request::Reload).await, Response::Loaded(_)));
    let Response::Activated { job } = ask(&daemon, &me, Request::Activate { event: "/a".into() }).await else { panic!("activated") };
    assert_eq!((queue.held(), queue.queued().await), (1, Some(1)), "no dispatcher: it waits");
    queue.close().await;
    let last = u64::from_str_radix(&job, 16).unwrap();
    let next = queue.ids().unwrap().next(&jiff::Zoned::now());
    assert!(next.0 > last, "ids start after the history's largest ({next:?} after {last:x})");
    let records = crate::history::query(&dir.path().join("history.sqlite"), &me.name, None, None).unwrap();
    assert_eq!(records.iter().map(|r| (r.id.as_str(), r.result.clone())).collect::<Vec<_>>(), [(job.as_str(), JobResult::Queued)]);
    // The next daemon on this state settles it: queued again, to run.
    drop(daemon);
    let (daemon, me) = self::daemon(dir.path(), &[], |c| c.max_queued_jobs = 1).await;
    assert!(matches!(ask(&daemon, &me, Request::Reload).await, Response::Loaded(_)));
    daemon.queue.settle(&*daemon, Duration::from_secs(3600), crate::engine::queue::Limits::NONE);
    assert_eq!(daemon.queue.held(), 1, "the previous run's queued job");
    // Past max_queued_jobs an activation is taken, dropped, logged and recorded.
    let Response::Activated { job } = ask(&daemon, &me, Request::Activate { event: "/a".into() }).await else { panic!("taken") };
    assert_eq!(daemon.queue.held(), 1);
    let log = std::fs::read_to_string(dir.path().join("hcron.log")).unwrap();
    assert!(log.contains("job queue full (1): job for event (/a) dropped"), "{log}");
    daemon.queue.close().await;
    let records = crate::history::query(&dir.path().join("history.sqlite"), &me.name, None, None).unwrap();
    let dropped = records.iter().find(|r| r.id == job).unwrap();
    assert_eq!(dropped.result, JobResult::Dropped("queue full".into()));
}
