//! Every message text and log line type that hcron 1.5's source writes
//! (`kit/static/usr/lib/hcron/hcron/*.py` and the programs beside it), one
//! row each, with the place the project writes it, or why it does not.
//!
//! A `Same` row is checked against the project's source: the original's
//! text, cut at its `%s` placeholders, must appear piece by piece, in
//! order, in the named file. A `Differs` row names the project's own words
//! (checked the same way, `{}` standing for a value) and the decision. A
//! `Gone` row says which mechanism of the original no longer exists. The
//! texts the simulator writes are also compared whole, line for line, by
//! the differential corpus (`tests/corpus.rs`).

use std::path::Path;

enum Here {
    /// Written with the original's words, by this file.
    Same(&'static str),
    /// Written differently on purpose: the file, the project's words, why.
    Differs(&'static str, &'static str, &'static str),
    /// Not written, and why.
    Gone(&'static str),
}
use Here::*;

/// `(original's file:line, message type, original's text, the project)`.
const MESSAGES: &[(&str, &str, &str, Here)] = &[
    (
        "event.py:81",
        "warning",
        "could not install snapshot file for user (%s).",
        Gone("snapshots are gone: trees are read live (decisions, Changed design)"),
    ),
    ("event.py:86", "warning", "could not remove signal file (%s).", Gone("signal files are gone: the control socket replaces them")),
    (
        "event.py:131",
        "info",
        "initializing events list.",
        Gone("no global event list is built at start-up: users are loaded one by one (load-events lines)"),
    ),
    ("event.py:140", "info", "loading events.", Gone("each user's load is its own load-events line")),
    (
        "event.py:278",
        "warning",
        "reached maximum events allowed (%s).",
        Differs(
            "src/check.rs",
            "{} events, more than max_events_per_user ({}): the last {} are rejected and not scheduled",
            "decisions 2: one message per user, logged by src/daemon/users.rs",
        ),
    ),
    (
        "event.py:281",
        "error",
        "could not load events.",
        Differs(
            "src/daemon/users.rs",
            "cannot load the events of user ({}) from {}: {}",
            "decisions 8: the message names the user, the directory and the reason",
        ),
    ),
    ("event.py:399", "error", "limited user (%s) event (%s) email notification recipients from (%s) to (%s)", Same("src/engine/mod.rs")),
    (
        "event.py:635",
        "error",
        "detail (%s) self.reason (%s) user (%s) name (%s) when (%s).",
        Differs(
            "src/daemon/users.rs",
            "event ({}) rejected ({}): {}{}: {}",
            "decisions 8: the file, the line and the reason of a rejected event",
        ),
    ),
    (
        "execute.py:140",
        "error",
        "execute failed (%s).",
        Differs(
            "src/outcome.rs",
            "cannot start the command: ",
            "the spawner reports why a start failed (a failure of its own kind); the execute line follows with rv=1",
        ),
    ),
    (
        "file.py:41",
        "warning",
        "found pid file (%s).",
        Differs(
            "src/daemon/pidfile.rs",
            "another hcron-scheduler is running",
            "decisions 11: the pid file is locked, a stale one is taken over silently",
        ),
    ),
    ("file.py:44", "info", "creating pid file (%s).", Gone("decisions 11: the locked pid file needs no announcement")),
    (
        "file.py:48",
        "error",
        "cannot create pid file (%s).",
        Differs(
            "src/daemon/pidfile.rs",
            "cannot create the pid file {}",
            "decisions 8: said on standard error at start-up, before the log",
        ),
    ),
    ("file.py:53", "info", "removing pid file (%s).", Gone("the pid file's lock ends with the process")),
    ("file.py:56", "error", "cannot remove pid file (%s).", Gone("the pid file's lock ends with the process")),
    ("job.py:124", "debug", "filename (%s) user (%s) path (%s)", Gone("on-demand spool files are gone: the control socket replaces them")),
    (
        "job.py:128",
        "error",
        "filename (%s) user (%s) too big (%s)",
        Gone("on-demand spool files are gone; a request's size is bounded by the socket"),
    ),
    ("job.py:134", "debug", "skipping filename (%s) user (%s) path (%s)", Gone("on-demand spool files are gone")),
    (
        "job.py:142",
        "error",
        "cannot get event (%s) for user (%s)",
        Differs(
            "src/daemon/server/activate.rs",
            "no event ({}) in the events of user ({})",
            "decisions, Changed design: the caller of hcron activate gets the error back",
        ),
    ),
    (
        "job.py:158",
        "warning",
        "failed to queue ondemand event (%s)",
        Differs(
            "src/engine/queue.rs",
            "job queue full ({limit}): job for event ({event}) dropped",
            "decisions 13: max_queued_jobs bounds the queue",
        ),
    ),
    (
        "job.py:171",
        "error",
        "cannot get event (%s) for user (%s)",
        Differs(
            "src/engine/mod.rs",
            "cannot activate event ({}): it has no definition",
            "a queued job keeps the definition it was queued with (decisions 10)",
        ),
    ),
    ("job.py:188", "error", "handle_job (%s)", Same("src/daemon/runner.rs")),
    ("job.py:196", "error", "event chain limit (%s) reached at (%s).", Same("src/engine/mod.rs")),
    ("job.py:200", "error", "next event limit (%s) reached at (%s).", Same("src/engine/mod.rs")),
    ("job.py:209", "error", "chained event (%s) does not exist.", Same("src/engine/chain.rs")),
    ("job.py:211", "error", "chained event (%s) was rejected (%s).", Same("src/engine/chain.rs")),
    ("job.py:250", "error", "unexpected exception (%s).", Gone("no exception escapes a job: every failure is an outcome with its reason")),
    ("library.py:272", "error", "failed to serverize (%s)", Gone("the daemon does not fork itself into the background (systemd runs it)")),
    ("notify.py:58", "error", "failed to send email (%s) for event (%s).", Same("src/engine/mod.rs")),
    ("server.py:90", "info", "behind schedule (%s), sheduling immediately", Same("src/daemon/runner.rs")),
    ("server.py:96", "info", "scheduling for next interval (%s)", Gone("the sleep line says how long until the next minute")),
    ("server.py:103", "info", "hcron.conf was modified", Gone("the configuration is re-read on SIGHUP (received signal to reload.)")),
    (
        "server.py:111",
        "info",
        "hcron.allow was modified",
        Gone("the allow file is watched; users are loaded or unloaded with their own lines"),
    ),
    ("server.py:115", "info", "signalHome was modified", Gone("signal files are gone")),
    (
        "trackablefile.py:80",
        "error",
        "cannot load hcron.config file (%s).",
        Differs(
            "src/daemon/configure.rs",
            "configuration not reloaded: {}",
            "decisions 8: the error names the file, the key and the reason",
        ),
    ),
    (
        "trackablefile.py:121",
        "error",
        "cannot load hcron.allow file (%s).",
        Differs("src/daemon/users.rs", "cannot read {}: {}", "decisions 8"),
    ),
    ("trackablefile.py:131", "error", "cannot stat signal directory (%s).", Gone("signal files are gone")),
    ("hcron-scheduler.py:56", "info", "received signal to dump.", Gone("hcron info answers over the control socket")),
    ("hcron-scheduler.py:105", "info", "received signal to reload.", Same("src/daemon/configure.rs")),
    ("hcron-scheduler.py:110", "info", "received signal to exit.", Same("src/daemon/setup.rs")),
    (
        "hcron-scheduler.py:182",
        "error",
        "unexpected error (%s).",
        Gone("errors at start-up are printed on standard error with their cause, and the exit status is 1"),
    ),
    ("execute.py:109", "alarm", "execute timeout expired (%s)", Same("src/exec/ssh.rs")),
    (
        "execute.py:123",
        "alarm",
        "kill timeout expired (%s)",
        Gone("a command that survives 10 s of SIGKILL ends with rv=126 in its execute line; no second alarm line is written"),
    ),
    ("execute.py (11.1)", "handle_job", "Execution on local host is not allowed.", Same("src/exec/mod.rs")),
    ("execute.py (11.1)", "handle_job", "Missing host name for event (%s).", Same("src/exec/mod.rs")),
    ("execute.py (11.1)", "handle_job", "Root user not allowed to execute.", Same("src/exec/mod.rs")),
    ("execute.py (11.1)", "handle_job", "Unknown remote shell type (%s).", Same("src/exec/mod.rs")),
];

/// `(log line type, its keys in the original's order (sorted), the project's file)`.
const LINE_TYPES: &[(&str, &[&str], &str)] = &[
    ("start-logging", &[], "src/daemon/setup.rs"),
    ("start", &["fqdn", "servername", "version"], "src/daemon/setup.rs"),
    ("load-events", &["elapsed", "naccepted", "nevents", "nrejected", "ntemplates"], "src/daemon/users.rs"),
    ("discard-events", &["count"], "src/daemon/users.rs"),
    ("message", &["message", "type"], "src/engine/mod.rs"),
    ("trigger", &["triggername", "triggerorigin"], "src/daemon/runner.rs"),
    ("sleep", &["sleeptime"], "src/daemon/runner.rs"),
    (
        "queue",
        &["eventchain", "eventname", "jobgid", "jobid", "pjobid", "queuetime", "schedtime", "triggername", "triggerorigin"],
        "src/engine/mod.rs",
    ),
    ("activate", &["eventchain", "eventname", "jobgid", "jobid", "pjobid", "triggername", "triggerorigin"], "src/engine/mod.rs"),
    ("expire", &["eventchain", "eventname", "jobgid", "jobid", "pjobid", "triggername", "triggerorigin"], "src/engine/mod.rs"),
    ("execute", &["asuser", "elapsed", "eventname", "host", "jobgid", "jobid", "pid", "pjobid", "rv"], "src/daemon/runner.rs"),
    ("alarm", &["eventname", "jobgid", "jobid", "message", "pid", "pjobid"], "src/daemon/runner.rs"),
    ("notify-email", &["addrs", "eventname"], "src/engine/mod.rs"),
    ("done", &["eventname", "jobgid", "jobid", "nexteventnames", "nexteventtype", "nnextevents", "pjobid"], "src/engine/mod.rs"),
    ("work", &["count", "elapsed"], "src/engine/mod.rs"),
    ("status", &["ndone", "nqueued", "nrunning", "ntotal", "nworkers"], "src/daemon/runner.rs"),
];

/// The project's source file `path`, read whole (the engine's job entries
/// are completed where `job_entry` is defined, so that file is added).
fn source(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    text + &std::fs::read_to_string(root.join("src/engine/mod.rs")).unwrap()
}

/// Whether `pieces` appear in `text` in order.
fn in_order(text: &str, pieces: &[&str]) -> bool {
    let mut rest = text;
    for piece in pieces.iter().filter(|p| !p.is_empty()) {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    true
}

#[test]
fn every_message_of_the_original_is_written_alike_or_accounted_for() {
    let mut wrong = Vec::new();
    for (origin, kind, text, here) in MESSAGES {
        match here {
            Same(file) => {
                let source = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
                if !in_order(&source, &text.split("%s").collect::<Vec<_>>()) {
                    wrong.push(format!("{origin} ({kind}) {text:?}: not written by {file}"));
                }
            }
            Differs(file, ours, why) => {
                let source = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
                let pieces: Vec<&str> = ours.split("{}").collect();
                let found = in_order(&source, &pieces) || pieces.iter().all(|p| source.contains(p));
                if !found || why.is_empty() {
                    wrong.push(format!("{origin} ({kind}) {text:?}: the project's {ours:?} is not in {file}"));
                }
            }
            Gone(why) => assert!(!why.is_empty(), "{origin}"),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_log_line_type_of_the_original_is_written_with_its_keys() {
    for (kind, keys, file) in LINE_TYPES {
        let source = source(file);
        assert!(source.contains(&format!("\"{kind}\"")), "{kind}: not written by {file}");
        for key in *keys {
            assert!(source.contains(&format!(".field(\"{key}\"")), "{kind}: key {key} not written by {file}");
        }
        let mut sorted = keys.to_vec();
        sorted.sort();
        assert_eq!(&sorted, keys, "{kind}: the original writes its keys sorted");
    }
    // The project's log writer sorts keys as the original does.
    let line = hcron::log::Entry::new("t".into(), "done", "u").field("pjobid", "1").field("eventname", "/e").line();
    assert_eq!(line, "t|done|u|eventname=/e|pjobid=1");
}
