//! The real daemon as root, with real test users: credentials, isolation,
//! refusals and history. These tests create users and groups (CI runs as
//! root) and remove them when done.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::bounded::Bounded;
use crate::daemon_util::{RunningDaemon, eventually};
use crate::root_util::{RootSetup, TestUser, run};

/// An on-demand event that records who ran it.
fn writer(file: &Path, extra: &str) -> String {
    format!(
        "as_user=\nhost=localhost\ncommand=id > {0}; echo $HOME $USER $PATH >> {0}\nnotify_email=\nnotify_message=\n{extra}",
        file.display()
    )
}

#[test]
fn commands_run_as_the_user_with_their_groups_and_users_are_isolated() {
    // One daemon, three users: a and b allowed, c not.
    let setup = RootSetup::new(&[], "");
    let a = TestUser::create("a", &setup.homes());
    let b = TestUser::create("b", &setup.homes());
    let c = TestUser::create("c", &setup.homes());
    std::fs::write(setup.dir.path().join("etc/hcron.allow"), format!("# test users\n{}\n{}\n", a.name, b.name)).unwrap();
    a.event("x", &writer(&a.home.join("a_ran"), ""));
    b.event("x", &writer(&b.home.join("b_ran"), ""));
    c.event("x", &writer(&c.home.join("c_ran"), ""));
    let daemon = setup.start();

    assert_eq!(daemon.hcron_as(a.as_ids(), &["activate", "/x"]).2, 0);
    assert!(eventually(Duration::from_secs(5), || std::fs::read_to_string(a.home.join("a_ran")).is_ok_and(|t| t.lines().count() == 2)));
    let text = std::fs::read_to_string(a.home.join("a_ran")).unwrap();
    let group = nix::unistd::Group::from_name(&a.group).unwrap().unwrap();
    assert!(text.starts_with(&format!("uid={}({}) gid={}(", a.uid, a.name, a.gid)), "{text}");
    assert!(text.contains(&format!("{}({})", group.gid, a.group)), "supplementary group set: {text}");
    assert!(text.contains(&format!("\n{} {} /usr/local/bin:/usr/bin:/bin", a.home.display(), a.name)), "clean environment: {text}");

    // b's /x runs b's event, never a's.
    std::fs::remove_file(a.home.join("a_ran")).unwrap();
    assert_eq!(daemon.hcron_as(b.as_ids(), &["activate", "/x"]).2, 0);
    // b's command has finished, and it is the only one started since a's.
    assert!(eventually(Duration::from_secs(5), || std::fs::read_to_string(b.home.join("b_ran")).is_ok_and(|t| t.lines().count() == 2)));
    assert_eq!(daemon.log_lines("execute", "/x").len(), 2, "{}", daemon.log_text());
    assert!(!a.home.join("a_ran").exists());
    assert!(std::fs::read_to_string(b.home.join("b_ran")).unwrap().starts_with(&format!("uid={}(", b.uid)));

    // c is not allowed.
    let (_, err, code) = daemon.hcron_as(c.as_ids(), &["activate", "/x"]);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("user ({}) is not allowed", c.name)), "{err}");
    assert_eq!(daemon.hcron_as(c.as_ids(), &["get", "allowed"]).0, "no\n");
    assert_eq!(daemon.hcron_as(a.as_ids(), &["get", "allowed"]).0, "yes\n");
    assert!(!c.home.join("c_ran").exists());

    // Adding c to the allow file takes effect without a restart.
    let allow = setup.dir.path().join("etc/hcron.allow");
    std::fs::write(&allow, format!("{}\n{}\n{}\n", a.name, b.name, c.name)).unwrap();
    assert!(eventually(Duration::from_secs(3), || daemon.hcron_as(c.as_ids(), &["list"]).0 == "/x\n"), "the allow file is re-read");
    assert_eq!(daemon.hcron_as(c.as_ids(), &["activate", "/x"]).2, 0);
    assert!(eventually(Duration::from_secs(5), || c.home.join("c_ran").exists()));

    // Taking c out unloads c's events and only c's.
    let users = || daemon.hcron(&["info"]).0.lines().find(|l| l.starts_with("users:")).unwrap_or_default().to_owned();
    assert_eq!(users(), "users:        3");
    std::fs::write(&allow, format!("{}\n{}\n", a.name, b.name)).unwrap();
    assert!(eventually(Duration::from_secs(3), || users() == "users:        2"), "{}", users());
    let (_, err, code) = daemon.hcron_as(c.as_ids(), &["list"]);
    assert!(code != 0 && err.contains("is not allowed"), "{err}");

    // Each user sees only their own history.
    let jobs = daemon.history(b.as_ids(), &[]);
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["user"], b.name.as_str());
    assert!(daemon.stop().success());
}

#[test]
fn files_the_user_cannot_read_or_others_could_write_are_refused() {
    let setup = RootSetup::new(&[], "");
    let a = TestUser::create("r", &setup.homes());
    std::fs::write(setup.dir.path().join("etc/hcron.allow"), format!("{}\n", a.name)).unwrap();
    a.event("ok", &writer(&a.home.join("ok"), ""));
    a.event("shared", &writer(&a.home.join("never"), ""));
    a.event("foreign", &writer(&a.home.join("never"), ""));
    a.event("team", &writer(&a.home.join("never"), ""));
    a.event("own_group", &writer(&a.home.join("ok"), ""));
    let b = TestUser::create("q", &setup.homes());
    // A root-only file inside the tree, and a link to it.
    let secret = a.events().join("secret");
    std::fs::write(&secret, "TOPSECRET=1\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    run("chown", &["root:root", secret.to_str().unwrap()]);
    std::os::unix::fs::symlink("secret", a.events().join("leak")).unwrap();
    // A file everyone may write.
    std::fs::set_permissions(a.events().join("shared"), std::fs::Permissions::from_mode(0o666)).unwrap();
    // Files another user owns or may write through a group: readable by the owner, still refused.
    run("chown", &[&b.name, a.events().join("foreign").to_str().unwrap()]);
    run("chgrp", &[&b.name, a.events().join("team").to_str().unwrap()]);
    for (name, mode) in [("foreign", 0o644), ("team", 0o664), ("own_group", 0o664)] {
        std::fs::set_permissions(a.events().join(name), std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let daemon = setup.start();
    let (out, _, _) = daemon.hcron_as(a.as_ids(), &["list", "--show-all"]);
    assert_eq!(
        out,
        "rejected:unknown:cannot load file:/foreign\n\
         rejected:unknown:cannot load file:/leak\n\
         rejected:partial:not fully specified, missing field (when_month):/ok\n\
         rejected:partial:not fully specified, missing field (when_month):/own_group\n\
         rejected:unknown:cannot load file:/secret\n\
         rejected:unknown:cannot load file:/shared\n\
         rejected:unknown:cannot load file:/team\n"
    );
    let log = daemon.log_text();
    assert!(!log.contains("TOPSECRET"));
    assert!(log.contains("writable by everyone"), "{log}");
    assert!(log.contains("Permission denied"), "{log}");
    assert!(log.contains(&format!("owned by another user (uid {})", b.uid)), "{log}");
    assert!(log.contains(&format!("writable by group {} (mode 664)", b.gid)), "{log}");
    assert!(daemon.stop().success());
}

#[test]
fn deleting_a_tree_while_jobs_are_queued_loses_no_history_record() {
    let setup = RootSetup::new(&[], "max_activated_events = 1\n");
    let a = TestUser::create("d", &setup.homes());
    std::fs::write(setup.dir.path().join("etc/hcron.allow"), format!("{}\n", a.name)).unwrap();
    for n in 0..20 {
        a.event(&format!("e{n}"), &writer(&a.home.join("out"), "next_event=/e0\n"));
    }
    let daemon = setup.start();
    for n in 0..20 {
        assert_eq!(daemon.hcron_as(a.as_ids(), &["activate", &format!("/e{n}")]).2, 0);
    }
    std::fs::remove_dir_all(a.events()).unwrap();
    let finished = || {
        let (out, _, _) = daemon.hcron_as(a.as_ids(), &["history", "--json"]);
        serde_json::from_str::<Vec<serde_json::Value>>(&out).is_ok_and(|jobs| {
            let roots = jobs.iter().filter(|j| j["trigger"] == "ondemand").count();
            roots == 20 && jobs.iter().all(|j| j["finished"].is_string())
        })
    };
    assert!(eventually(Duration::from_secs(10), finished), "{}", daemon.hcron_as(a.as_ids(), &["history"]).0);
    assert!(daemon.stop().success());
}

#[test]
fn the_root_daemon_refuses_an_unknown_key() {
    let setup = RootSetup::new(&[], "bogus_key = 1\n");
    let output = Command::new(env!("CARGO_BIN_EXE_hcron-scheduler"))
        .arg("--config")
        .arg(setup.dir.path().join("etc/hcron.toml"))
        .output_bounded()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("bogus_key"));
}

#[test]
fn each_refusal_is_a_failure_that_follows_failover_event() {
    // decisions 6: the local host, an empty host, and a tree owned by root.
    let setup = RootSetup::new(&["root"], "");
    let base = setup.dir.path().join("base");
    let config = setup.dir.path().join("etc/hcron.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace("allow_localhost = true", "allow_localhost = false");
    std::fs::write(&config, format!("{text}events_base_path = \"{}\"\n", base.display())).unwrap();
    let a = TestUser::create("a", &setup.homes());
    std::fs::write(setup.dir.path().join("etc/hcron.allow"), format!("{}\nroot\n", a.name)).unwrap();
    let event = |host: &str| format!("as_user=\nhost={host}\ncommand=true\nnotify_email=\nnotify_message=\nfailover_event=fo\n");
    let fo = "as_user=\nhost=127.0.0.99\ncommand=true\nnotify_email=\nnotify_message=\n";
    // a's tree is below the base, owned by a.
    let tree = base.join(&a.name);
    std::fs::create_dir_all(&tree).unwrap();
    for (name, content) in [("local", event("localhost")), ("empty", event(" , ")), ("fo", fo.to_owned())] {
        std::fs::write(tree.join(name), content).unwrap();
    }
    run("chown", &["-R", &format!("{}:{}", a.uid, a.gid), tree.to_str().unwrap()]);
    let root_tree = base.join("root");
    std::fs::create_dir_all(&root_tree).unwrap();
    std::fs::write(root_tree.join("mine"), event("127.0.0.99")).unwrap();
    std::fs::write(root_tree.join("fo"), fo).unwrap();
    let daemon = setup.start();
    for (user, name) in [(a.as_ids(), "/local"), (a.as_ids(), "/empty"), (None, "/mine")] {
        assert_eq!(daemon.hcron_as(user, &["activate", name]).2, 0, "{name}");
    }
    let reasons = [
        ("/local", "Execution on local host is not allowed."),
        ("/empty", "Missing host name for event (/empty)."),
        ("/mine", "Root user not allowed to execute."),
    ];
    for (name, reason) in reasons {
        let done = || daemon.log_lines("done", name);
        assert!(eventually(Duration::from_secs(10), || !done().is_empty()), "{name}: {}", daemon.log_text());
        assert!(done()[0].contains("|nexteventnames=/fo|nexteventtype=failover|"), "{name} follows its failover: {:?}", done());
        let user = if name == "/mine" { None } else { a.as_ids() };
        let record = &daemon.history(user, &[name])[0];
        assert_eq!(record["result"], format!("failure: refused: {reason}"), "{name}: a refusal, of its kind: {record}");
    }
    assert!(daemon.stop().success());
}

#[test]
fn a_plain_user_s_standalone_daemon_refuses_files_others_could_write_as_the_root_daemon_does() {
    let setup = RootSetup::new(&[], "");
    let user = TestUser::create("p", &setup.homes());
    let other = TestUser::create("o", &setup.homes());
    let event = |name: &str| {
        let path = user.events().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, crate::util::full("when_month=2\nwhen_day=31\n").replace("host=h1", "host=localhost")).unwrap();
        path
    };
    for name in ["mine", "own_group", "everyone", "theirs"] {
        event(name);
    }
    run("chown", &["-R", &format!("{0}:{0}", user.name), user.home.join(".hcron").to_str().unwrap()]);
    run("chown", &[&other.name, user.events().join("theirs").to_str().unwrap()]);
    for (name, mode) in [("own_group", 0o664), ("everyone", 0o666)] {
        std::fs::set_permissions(user.events().join(name), std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let state = user.home.join("state");
    let (uid, gid) = (user.uid, user.gid);
    let daemon = RunningDaemon::standalone_with(&user.events(), &state, &[], |command| {
        use std::os::unix::process::CommandExt;
        command.uid(uid).gid(gid).env("HOME", &user.home);
    });
    let (out, err, code) = daemon.hcron_as(user.as_ids(), &["list", "--show-all"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "rejected:unknown:cannot load file:/everyone\naccepted:normal:passed:/mine\naccepted:normal:passed:/own_group\nrejected:unknown:cannot load file:/theirs\n",
        "{}",
        daemon.log_text()
    );
    assert!(daemon.log_text().contains("writable by everyone"), "{}", daemon.log_text());
}

/// `count` clock events of every minute, each `sleep SECONDS` waited for,
/// written into `user`'s tree under `flood/` (owned by the user).
pub fn flood(user: &TestUser, count: usize, seconds: &str) {
    let dir = user.events().join("flood");
    std::fs::create_dir_all(&dir).unwrap();
    let event = format!(
        "as_user=\nhost=localhost\ncommand=exec sleep {seconds}\nexec_wait=yes\nnotify_email=\nnotify_message=\nwhen_month=*\nwhen_day=*\nwhen_hour=*\nwhen_minute=*\nwhen_dow=*\n"
    );
    for n in 0..count {
        std::fs::write(dir.join(format!("e{n}")), &event).unwrap();
    }
    run("chown", &["-R", &format!("{}:{}", user.name, user.name), user.home.join(".hcron").to_str().unwrap()]);
}

/// How long `user`'s activation of `/x` waited in the queue (from its
/// `queue` line to its `activate` line), waited for.
pub fn wait_of_activation(daemon: &RunningDaemon, log: impl Fn() -> String, user: &TestUser) -> f64 {
    let of_user = |kind: &str| {
        let kind = format!("|{kind}|{}|", user.name);
        log().lines().find(|l| l.contains(&kind) && l.split('|').any(|f| f == "eventname=/x")).map(str::to_owned)
    };
    assert!(
        eventually(Duration::from_secs(30), || of_user("activate").is_some()),
        "{}'s /x never started: {}",
        user.name,
        daemon.hcron(&["info"]).0
    );
    crate::daemon_util::seconds_between(&of_user("queue").expect("queued before it started"), &of_user("activate").unwrap())
}

#[test]
fn one_user_s_flood_of_queued_jobs_holds_another_user_s_job_for_one_slot_at_most() {
    // max_activated_events = 5; a floods the queue with 2,000 clock jobs of
    // `sleep 1` a minute (a minute is 6 s here); b's activation must wait
    // for one slot to free, not for a's backlog (400 s of it).
    let setup = RootSetup::new(&[], "max_activated_events = 5\nmax_queued_jobs_per_user = 20000\n");
    let a = TestUser::create("fa", &setup.homes());
    let b = TestUser::create("fb", &setup.homes());
    std::fs::write(setup.dir.path().join("etc/hcron.allow"), format!("{}\n{}\n", a.name, b.name)).unwrap();
    flood(&a, 2000, "1.07");
    b.event("x", &writer(&b.home.join("b_ran"), ""));
    let anchor = jiff::Timestamp::now().as_second();
    let daemon = setup.start_with(|command| {
        command.env("HCRON_TEST_MINUTE", format!("6@{anchor}"));
    });
    let queued = || {
        let info = daemon.hcron(&["info"]).0;
        info.lines().find_map(|l| l.strip_prefix("jobs queued:")).and_then(|n| n.trim().parse::<usize>().ok()).unwrap_or(0)
    };
    assert!(eventually(Duration::from_secs(30), || queued() >= 1990), "a's jobs never queued: {}", daemon.hcron(&["info"]).0);
    assert_eq!(daemon.hcron_as(b.as_ids(), &["activate", "/x"]).2, 0);
    let waited = wait_of_activation(&daemon, || daemon.log_text(), &b);
    assert!(waited < 2.0, "b's job waited {waited:.3}s behind a's {} queued jobs", queued());
    assert!(queued() >= 1900, "a's backlog was still there");
    let _ = daemon.stop();
}

#[test]
fn in_a_cluster_of_three_one_user_s_flood_holds_another_user_s_job_for_one_slot_at_most() {
    let pg = crate::pg_util::PgServer::start();
    let config = |n: usize| {
        format!(
            "max_activated_events = 5\nmax_queued_jobs_per_user = 20000\ncluster_database = \"{}\"\nnode_name = \"r{n}\"\nheartbeat_interval = 1\nheartbeat_timeout_factor = 2\n",
            pg.url()
        )
    };
    let setups: Vec<RootSetup> = (0..3).map(|n| RootSetup::new(&[], &config(n))).collect();
    let a = TestUser::create("ca", &setups[0].homes());
    let b = TestUser::create("cb", &setups[0].homes());
    for setup in &setups {
        std::fs::write(setup.dir.path().join("etc/hcron.allow"), format!("{}\n{}\n", a.name, b.name)).unwrap();
    }
    flood(&a, 2000, "1.09");
    b.event("x", &writer(&b.home.join("b_ran"), ""));
    let anchor = jiff::Timestamp::now().as_second();
    let nodes: Vec<RunningDaemon> = setups
        .iter()
        .map(|setup| {
            setup.start_with(|command| {
                command.env("HCRON_TEST_MINUTE", format!("6@{anchor}"));
            })
        })
        .collect();
    let queued = || pg.psql("SELECT count(*) FROM hcron_jobs WHERE result = 'queued'").trim().parse::<usize>().unwrap_or(0);
    assert!(eventually(Duration::from_secs(40), || queued() >= 1990), "a's jobs never queued: {}", queued());
    assert_eq!(nodes[1].hcron_as(b.as_ids(), &["activate", "/x"]).2, 0);
    let logs = || nodes.iter().map(RunningDaemon::log_text).collect::<String>();
    let waited = wait_of_activation(&nodes[1], logs, &b);
    assert!(waited < 2.0, "b's job waited {waited:.3}s behind a's {} queued jobs", queued());
    assert!(queued() >= 1900, "a's backlog was still there");
    for node in nodes {
        let _ = node.stop();
    }
}
