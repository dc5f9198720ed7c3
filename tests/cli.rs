//! `hcron list` and `hcron check` as a user runs them.

use std::path::Path;

use crate::bounded::Bounded;
use crate::daemon_util::RunningDaemon;
use crate::util::{TreeBuilder, full};

fn listing_tree() -> TreeBuilder {
    TreeBuilder::new()
        .file("cleanup/room/_tmpl", full("template_name=_tmpl\n"))
        .link("cleanup/room/mach1", "_tmpl")
        .file("inc/common", "host=x\n")
        .file("b", full(""))
}

#[test]
fn list_formats() {
    let tree = listing_tree();
    assert_eq!(tree.hcron(&["list"]).0, "/b\n/cleanup/room/_tmpl\n/cleanup/room/mach1\n/inc/common\n");
    assert_eq!(
        tree.hcron(&["list", "--show-status"]).0,
        "accepted:/b\nrejected:/cleanup/room/_tmpl\naccepted:/cleanup/room/mach1\nrejected:/inc/common\n"
    );
    assert_eq!(
        tree.hcron(&["list", "--show-all"]).0,
        "accepted:normal:passed:/b\n\
         rejected:template:template:/cleanup/room/_tmpl\n\
         accepted:normal:passed:/cleanup/room/mach1\n\
         rejected:partial:not fully specified, missing field (as_user):/inc/common\n"
    );
}

#[test]
fn list_pattern_matches_whole_names() {
    let tree = listing_tree();
    assert_eq!(tree.hcron(&["list", "/cleanup/*"]).0, "/cleanup/room/_tmpl\n/cleanup/room/mach1\n");
    assert_eq!(tree.hcron(&["list", "*mach?"]).0, "/cleanup/room/mach1\n");
    assert_eq!(tree.hcron(&["list", "b"]).0, "");
}

#[test]
fn missing_tree_is_an_error() {
    let tree = TreeBuilder::new();
    std::fs::remove_dir(tree.root()).unwrap();
    let (out, err, code) = tree.hcron(&["list"]);
    assert_eq!((out.as_str(), code), ("", 1));
    assert!(err.starts_with("error: cannot read events directory ") && err.contains("No such file"), "{err}");
}

#[test]
fn bad_configuration_names_the_key() {
    let tree = TreeBuilder::new();
    std::fs::write(tree.root().parent().unwrap().join("hcron.toml"), "max_symlinkz = 1\n").unwrap();
    let (_, err, code) = tree.hcron(&["list"]);
    assert_eq!(code, 1);
    assert!(err.contains("hcron.toml") && err.contains("max_symlinkz"), "{err}");
}

#[test]
fn check_reports_the_line_at_fault() {
    let tree = TreeBuilder::new()
        .file("ok", full(""))
        .file("badwhen", full("when_minute=61\n"))
        .file("noeq", "as_user=\njust words\n")
        .file("inc/bad", "when_hour=x\n")
        .file("usesinc", full("include /inc/bad\n"))
        .file("missinginc", full("include ../../nope\n"));
    let (out, _, code) = tree.hcron(&["check"]);
    let root = tree.root().display().to_string();
    assert_eq!(code, 1);
    let expected = format!(
        "{root}/badwhen:10: error: bad when_* setting: when_minute: \"61\" is outside 0-59\n    | when_minute=61\n\
         {root}/inc/bad:1: error: bad when_* setting: when_hour: \"x\" is not a number, range or '*'\n    | when_hour=x\n\
         {root}/missinginc:11: error: cannot process include(s): \"../../nope\" climbs above events/\n    | include ../../nope\n\
         {root}/noeq:2: error: bad definition: line is neither name=value nor 'include NAME'\n    | just words\n\
         {root}/inc/bad:1: error: /usesinc: bad when_* setting: when_hour: \"x\" is not a number, range or '*'\n    | when_hour=x\n\
         6 events: 1 accepted, 0 templates, 5 rejected; 5 errors, 0 warnings\n"
    );
    assert_eq!(out, expected);
}

#[test]
fn check_warnings_do_not_fail() {
    let tree = TreeBuilder::new()
        .file("quirks", full("when_minute=50-10\nwhen_hour=*,junk\nwhen_day=1-31/-2\n"))
        .file("a/start", full("next_event=step2:../gone:./step2:../../../up\nfailover_event=$HCRON_EVENT_CHAIN[0]\n"))
        .file("a/step2", "as_user=\nhost=h\ncommand=step2\nnotify_email=\nnotify_message=\n")
        .file("a/broken", "no equals\n")
        .file("a/tobroken", full("failover_event=broken\n"))
        .file("inc/common", "host=inc-host\n")
        .file("user", full("include /inc/common\n"))
        .file("x/named", full("next_event=$HCRON_EVENT_NAME-gone\n"))
        .file("x/plain", full("t=gone2\nnext_event=$t\n"))
        .file("x/late", full("t=$HCRON_ACTIVATE_DATETIME\nnext_event=x$t\nfailover_event=y$HCRON_ACTIVATE_DATETIME\n"))
        .file("x/empty", full("next_event=\n"));
    let (out, _, code) = tree.hcron(&["check"]);
    let root = tree.root().display().to_string();
    assert_eq!(code, 1, "/a/broken is an error");
    for line in [
        format!("{root}/quirks:9: warning: when_hour: \"junk\" is ignored: the elements before it already select everything"),
        format!("{root}/quirks:8: warning: when_minute: range \"50-10\" is reversed and selects nothing"),
        format!("{root}/quirks:10: warning: when_day: \"1-31/-2\" has a negative step and selects nothing"),
        format!("{root}/a/start:11: warning: next_event target \"../gone\": /gone does not exist"),
        format!("{root}/a/start:11: warning: next_event target \"../../../up\": climbs above events/"),
        format!("{root}/a/tobroken:11: warning: failover_event target \"broken\": /a/broken was rejected (bad definition)"),
        format!("{root}/x/named:11: warning: next_event target \"/x/named-gone\": /x/named-gone does not exist"),
        format!("{root}/x/plain:12: warning: next_event target \"gone2\": /x/gone2 does not exist"),
        format!(
            "{root}/a/step2: warning: not fully specified, missing field (when_month): when_month is never assigned; never scheduled by the clock, only run as a chain target"
        ),
        format!(
            "{root}/inc/common: warning: not fully specified, missing field (as_user): as_user is never assigned; it is included by /user and is loaded as a rejected event too"
        ),
    ] {
        assert!(out.contains(&line), "missing {line:?} in:\n{out}");
    }
    assert_eq!(
        out.matches(": warning: ").count(),
        10,
        "nothing about step2, ./step2, an empty list or lists that depend on late-only variables:\n{out}"
    );

    let (out, _, code) = tree.hcron(&["check", "/quirks", "a/start"]);
    assert_eq!(code, 0, "only warnings for these two:\n{out}");
    assert_eq!(out.lines().filter(|l| l.contains(": warning: ")).count(), 5);
}

#[test]
fn check_by_path_and_unknown_names() {
    let tree = TreeBuilder::new().file("sub/ok", full(""));
    let path = tree.root().join("sub/ok");
    let (out, _, code) = tree.hcron(&["check", path.to_str().unwrap()]);
    assert_eq!((out.as_str(), code), ("1 events: 1 accepted, 0 templates, 0 rejected; 0 errors, 0 warnings\n", 0));
    let (out, _, code) = tree.hcron(&["check", "/nope"]);
    assert_eq!(code, 1);
    assert!(out.contains("/nope: error: no such event in the tree"), "{out}");
}

#[test]
fn check_json() {
    let tree = TreeBuilder::new().file("ok", full("")).file("bad", full("when_dow=7\n")).fifo("pipe");
    let (out, _, code) = tree.hcron(&["check", "--json"]);
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["errors"], 2);
    assert_eq!(doc["warnings"], 0);
    assert_eq!(
        doc["events"][0],
        serde_json::json!({"name": "/bad", "status": "rejected", "type": "unknown", "reason": "bad when_* setting"})
    );
    let bad = doc["diagnostics"].as_array().unwrap().iter().find(|d| d["event"] == "/bad").unwrap();
    assert_eq!((bad["path"].as_str(), bad["line"].as_u64(), bad["text"].as_str()), (Some("/bad"), Some(10), Some("when_dow=7")));
    assert!(doc["diagnostics"].as_array().unwrap().iter().any(|d| d["path"] == "/pipe" && d["severity"] == "error"));
}

#[test]
fn the_example_tree_is_clean() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("events");
    let status = std::process::Command::new("cp").arg("-a").arg(&root).arg(&copy).status().unwrap();
    assert!(status.success());
    let (out, err, code) = crate::util::hcron(&["check"], &copy);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 errors"), "{out}");
}

#[test]
fn default_tree_is_under_home() {
    let home = tempfile::tempdir().unwrap();
    let events = home.path().join(".hcron/testserver/events");
    std::fs::create_dir_all(&events).unwrap();
    std::fs::write(events.join("mine"), full("")).unwrap();
    let config = home.path().join("hcron.toml");
    std::fs::write(&config, "server_name = \"testserver\"\n").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hcron"))
        .args(["list", "--show-status", "--config"])
        .arg(&config)
        .env("HOME", home.path())
        .output_bounded()
        .unwrap();
    assert_eq!(String::from_utf8(output.stdout).unwrap(), "accepted:/mine\n");
    assert!(output.status.success());
}

#[test]
fn show_log_filters_and_annotates() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("hcron.log");
    std::fs::write(
        &log,
        "2020-01-01T00:00:00|start-logging|\n\
         2020-01-01T00:00:00.1|queue|alice|eventchain=/a|eventname=/a|jobgid=1|jobid=1|pjobid=1|queuetime=2020-01-01 00:00:00.100000|schedtime=2020-01-01 00:00:00|triggername=clock|triggerorigin=hcron-scheduler\n\
         2020-01-01T00:00:00.2|activate|alice|eventchain=/a|eventname=/a|jobgid=1|jobid=1|pjobid=1|triggername=clock|triggerorigin=hcron-scheduler\n\
         2020-01-01T00:00:00.3|queue|alice|eventchain=/a:/b|eventname=/b|jobgid=1|jobid=2|pjobid=1|queuetime=x|schedtime=x|triggername=next|triggerorigin=/b\n\
         2020-01-01T00:00:00.5|done|alice|eventname=/a|jobgid=1|jobid=1|nexteventnames=/b|nexteventtype=next|nnextevents=1|pjobid=1\n\
         2020-01-01T00:00:00.6|message|bob|message=it\\|s \\\\ odd|type=error\n\
         2020-01-01T00:01:00|work||count=0|elapsed=0.1\n",
    )
    .unwrap();
    let show = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_hcron"))
            .arg("show-log")
            .arg("-f")
            .arg(&log)
            .args(args)
            .output_bounded()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    assert_eq!(
        show(&["-u", "alice", "--show-types", "activate,done", "2020-01-01T00:00"]),
        "2020-01-01T00:00:00.2 activate alice {'eventchain': '/a', 'eventname': '/a', 'jobgid': '1', 'jobid': '1', 'pjobid': '1', 'triggername': 'clock', 'triggerorigin': 'hcron-scheduler'}\n\
         \x20   queue {'eventchain': '/a', 'eventname': '/a', 'jobgid': '1', 'jobid': '1', 'pjobid': '1', 'queuetime': '2020-01-01 00:00:00.100000', 'schedtime': '2020-01-01 00:00:00', 'triggername': 'clock', 'triggerorigin': 'hcron-scheduler'}\n\
         2020-01-01T00:00:00.5 done alice {'eventname': '/a', 'jobgid': '1', 'jobid': '1', 'nexteventnames': '/b', 'nexteventtype': 'next', 'nnextevents': '1', 'pjobid': '1'}\n\
         2020-01-01T00:00:00.5 stats alice {'elapsed': '0.400000', 'executetime': '0.300000', 'waittime': '0.100000'}\n"
    );
    assert_eq!(show(&["-u", "bob", "2020-01-01"]), "2020-01-01T00:00:00.6 message bob {'message': 'it|s \\\\ odd', 'type': 'error'}\n");
    assert_eq!(show(&["--show-types", "work", "2020-01-01T00:00", "2020-01-01T00:01"]), "", "the end minute is excluded");
    let work = "2020-01-01T00:01:00 work  {'count': '0', 'elapsed': '0.1'}\n";
    assert_eq!(show(&["--show-types", "work", "2020-01-01T00:00", "2020-01-01T00:02"]), work, "the minutes before it are shown");
    let tree = show(&["--show-jobtree", "--show-types", "queue", "-e", "^/b$", "2020-01-01"]);
    assert!(tree.starts_with("    2020-01-01T00:00:00.3 queue alice"), "{tree}");
    // An empty log_path is standard output: no file to read.
    let config = dir.path().join("hcron.toml");
    std::fs::write(&config, "log_path = \"\"\n").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hcron"))
        .args(["show-log", "--config"])
        .arg(&config)
        .arg("2020-01-01")
        .env("HCRON_SOCKET", dir.path().join("no.sock"))
        .output_bounded()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && err.contains("the log goes to standard output in this configuration: name a file with -f"),
        "{err}"
    );
}

#[test]
fn help_and_version_are_answers_not_argument_errors() {
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_hcron")).args(args).output_bounded().unwrap();
        (String::from_utf8(output.stdout).unwrap(), String::from_utf8(output.stderr).unwrap(), output.status.code())
    };
    let (out, err, code) = run(&["--help"]);
    assert_eq!((err.as_str(), code), ("", Some(0)), "{out}");
    assert!(out.lines().any(|line| line.trim_start().starts_with("reload")), "{out}");
    let (out, err, code) = run(&["list", "--help"]);
    assert_eq!((err.as_str(), code), ("", Some(0)), "{out}");
    assert!(out.contains("--show-all"), "{out}");
    let (out, err, code) = run(&["--version"]);
    assert_eq!((out.as_str(), err.as_str(), code), (format!("hcron {}\n", env!("CARGO_PKG_VERSION")).as_str(), "", Some(0)));
}

#[test]
fn the_fqdn_is_the_first_dotted_name_of_the_host_s_address_v4_or_v6() {
    let tree = TreeBuilder::new().file("e", full(""));
    let config = tree.root().parent().unwrap().join("hcron.toml");
    std::fs::write(&config, "server_name = \"testserver\"\n").unwrap();
    let (root, config) = (tree.root().to_str().unwrap().to_owned(), config.to_str().unwrap().to_owned());
    let program = [env!("CARGO_BIN_EXE_hcron"), "run", "-c", &config, &root, "202001010000", "202001010001"];
    for (host, hosts, want) in [
        ("myhost", "127.0.0.1 myhost myhost.example.test other.example.test\n", "myhost.example.test"),
        ("myhost6", "::1 myhost6 myhost6.example.test\n", "myhost6.example.test"),
        ("plain", "127.0.0.1 plain\n", "plain"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let output = crate::host_namespace::as_host(&program, host, hosts, dir.path()).output_bounded().unwrap();
        let out = String::from_utf8(output.stdout).unwrap();
        assert!(out.contains(&format!("|fqdn={want}|")), "{host} with {hosts:?}:\n{out}{}", String::from_utf8_lossy(&output.stderr));
    }
}

#[test]
fn legacy_program_names() {
    // decisions.md, fixed 19: hcron-info -es prints the guide's status form.
    let tree = TreeBuilder::new()
        .file("simple", full(""))
        .file("failover_simple", full("template_name=failover_simple\n"))
        .file("broken", "no equals\n");
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("hcron-info");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_hcron"), &link).unwrap();
    let output = std::process::Command::new(&link).args(["-es", "--events"]).arg(tree.root()).output_bounded().unwrap();
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "rejected:bad definition:/broken\nrejected:template:/failover_simple\naccepted::/simple\n"
    );
    let run = dir.path().join("hcron-run");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_hcron"), &run).unwrap();
    let output = std::process::Command::new(&run).arg(tree.root()).args(["202001010000", "202001010000"]).output_bounded().unwrap();
    assert!(output.status.success());
    assert_eq!(String::from_utf8(output.stderr).unwrap(), "warning: hcron-run is deprecated; use \"hcron run\"\n");
    assert!(String::from_utf8(output.stdout).unwrap().contains("|start-logging|"));
}

#[test]
fn next_shows_times_or_why_never() {
    let tree = TreeBuilder::new().file("every", full("")).file("feb30", full("when_month=2\nwhen_day=30\n")).file("partial", "command=x\n");
    let (out, _, code) = tree.hcron(&["next", "--count", "2"]);
    assert_eq!(code, 0);
    let every = out.lines().find_map(|l| l.strip_prefix("/every: ")).unwrap();
    let times: Vec<jiff::civil::DateTime> = every.split(", ").map(|t| t.replace(' ', "T").parse().unwrap()).collect();
    assert_eq!(times.len(), 2);
    assert_eq!(times[1].duration_since(times[0]).as_secs(), 60, "{every}");
    assert!(out.contains("/feb30: never: no minute until the end of 2050 matches every when_* field\n"), "{out}");
    assert!(!out.contains("/partial"), "only accepted events by default");
    let (out, _, _) = tree.hcron(&["next", "/partial"]);
    assert_eq!(out, "/partial: never: not scheduled (partial: not fully specified, missing field (as_user))\n");
    let (_, err, code) = tree.hcron(&["next", "/nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("no event (/nope)"));
    let (out, _, _) = tree.hcron(&["list", "--next", "/feb*"]);
    assert_eq!(out, "/feb30  next: never: no minute until the end of 2050 matches every when_* field\n");
}

#[test]
fn completion_scripts() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_hcron")).args(["completions", shell]).output_bounded().unwrap();
        assert!(output.status.success());
        let script = String::from_utf8(output.stdout).unwrap();
        std::fs::write(dir.path().join(format!("hcron.{shell}")), script).unwrap();
    }
    // What bash offers at a partial word, through the generated function.
    let bash = dir.path().join("hcron.bash");
    let offered = |words: &str| -> Vec<String> {
        let script = format!(
            "source {}\nCOMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}}-1)); COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}\n\
             _hcron hcron \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            bash.display()
        );
        let output = std::process::Command::new("bash").args(["-c", &script]).output_bounded().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let mut words: Vec<String> = String::from_utf8(output.stdout).unwrap().lines().map(str::to_owned).collect();
        words.sort();
        words
    };
    assert_eq!(offered("hcron ac"), ["activate"]);
    assert_eq!(offered("hcron sh"), ["show-log"]);
    assert_eq!(offered("hcron run --sh"), ["--show-all", "--show-email", "--show-event"]);
    assert_eq!(offered("hcron list --show-st"), ["--show-status"]);
}

#[test]
fn conv_round_trip_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let crontab = dir.path().join("crontab");
    std::fs::write(&crontab, "# nightly\n0 2 * * Mon-Fri backup.sh\n0 0 1,15 * 1 report\n@reboot x\n").unwrap();
    let events = dir.path().join("events");
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_hcron")).arg("conv").args(args).output_bounded().unwrap();
        (String::from_utf8(output.stdout).unwrap(), String::from_utf8(output.stderr).unwrap(), output.status.code().unwrap())
    };
    let (_, err, code) = run(&["--to-events", "--mail", "me@example.com", "myhost", crontab.to_str().unwrap(), events.to_str().unwrap()]);
    assert_eq!((err.as_str(), code), ("error: line 4: @reboot has no equivalent: hcron runs on a schedule, not at boot: @reboot x\n", 1));
    let (out, err, code) = run(&["--to-crontab", "-", events.to_str().unwrap()]);
    assert_eq!((err.as_str(), code), ("", 0));
    assert_eq!(
        out,
        "# generated by hcron-conv\n# /0\n0 2 * * 1-5 ssh myhost backup.sh\n# /1\n0 0 1,15 * * ssh myhost report\n# /1.dow\n0 0 * * 1 ssh myhost report"
    );
    // The generated events load and are accepted.
    let (list, _, _) = crate::util::hcron(&["list", "--show-status"], &events);
    assert_eq!(list, "accepted:/0\naccepted:/1\naccepted:/1.dow\n");
}

#[test]
fn event_creates_edits_checks_and_offers_to_edit_again() {
    let tree = TreeBuilder::new();
    let file = tree.root().join("new/job");
    let config = tree.root().parent().unwrap().join("hcron.toml");
    std::fs::write(&config, "server_name = \"testserver\"\n").unwrap();
    let event = |editor: &str, stdin: &str, extra: &[&str]| {
        use std::io::Write;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hcron"))
            .arg("event")
            .args(extra)
            .arg("--config")
            .arg(&config)
            .arg(&file)
            .env("EDITOR", editor)
            .env_remove("VISUAL")
            .env("HCRON_SOCKET", "/nonexistent/control.sock")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let output = crate::bounded::finish_bounded(child, "hcron event");
        (String::from_utf8(output.stdout).unwrap(), output.status.code().unwrap())
    };
    // -c creates the blank template (§3.4) without an editor.
    let (out, code) = event("false", "n\n", &["-c"]);
    assert_eq!((out.as_str(), code), ("Reload events (y/n)? Reload deferred.\n", 0));
    assert!(
        std::fs::read_to_string(&file).unwrap().starts_with("description=\ncontact=\n")
            && !std::fs::read_to_string(&file).unwrap().ends_with('\n')
    );
    // An editor that leaves a bad minute (and counts its runs, failing past
    // its third, so that no loop is endless): reported, and the offer to
    // edit again declined.
    let bad = "sh -c 'printf \"as_user=\\nhost=localhost\\ncommand=true\\nnotify_email=\\nnotify_message=\\nwhen_month=*\\nwhen_day=*\\nwhen_hour=*\\nwhen_minute=99\\nwhen_dow=*\\n\" > \"$1\"' editor";
    let runs = tree.root().parent().unwrap().join("runs");
    let counting = tree.root().parent().unwrap().join("counting-editor");
    let script = format!("#!/bin/sh\necho run >> {0}\n[ $(wc -l < {0}) -le 3 ] || exit 1\n{bad} \"$1\"\n", runs.display());
    std::fs::write(&counting, script).unwrap();
    std::fs::set_permissions(&counting, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let edits = |stdin: &str| {
        let _ = std::fs::remove_file(&runs);
        let (out, code) = event(counting.to_str().unwrap(), stdin, &[]);
        (out, code, std::fs::read_to_string(&runs).unwrap_or_default().lines().count())
    };
    let (out, code, runs) = edits("n\nn\n");
    assert_eq!((code, runs), (1, 1), "{out}");
    assert!(
        out.contains("/new/job:9: error: bad when_* setting: when_minute: \"99\" is outside 0-59") && out.contains("Edit again (y/n)? "),
        "{out}"
    );
    // Accepted: the editor opens again, and again until declined.
    let (out, code, runs) = edits("y\nn\nn\n");
    assert_eq!((code, runs), (1, 2), "edited once, then once again: {out}");
    assert_eq!(out.matches("Edit again (y/n)? ").count(), 2, "{out}");
    // Fixed in the editor: valid, reloaded without asking (-y), no daemon to tell.
    let good = bad.replace("when_minute=99", "when_minute=5");
    let (out, code) = event(&good, "", &["-y"]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("error") && out.contains("No hcron-scheduler answered"), "{out}");
    // Checked within its tree (the nearest `events` above it): an include
    // by its absolute name is found.
    std::fs::create_dir_all(tree.root().join("inc")).unwrap();
    std::fs::write(tree.root().join("inc/host"), "host=localhost\n").unwrap();
    let including = bad.replace("host=localhost", "include /inc/host").replace("when_minute=99", "when_minute=5");
    let (out, code) = event(&including, "n\n", &[]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("error") && !out.contains("Edit again"), "{out}");
    // Warnings alone: valid, no offer to edit again.
    let warned = bad.replace("when_minute=99", "when_minute=50-10");
    let (out, code) = event(&warned, "n\n", &[]);
    assert!(out.contains("/new/job:9: warning: when_minute: range \"50-10\" is reversed and selects nothing"), "{out}");
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("Edit again"), "{out}");
}

/// A standalone daemon on a tree of one event, `/a` (rejected: it has no
/// schedule): its directory, the tree and the daemon.
fn daemon_with_one_event() -> (tempfile::TempDir, std::path::PathBuf, RunningDaemon) {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events");
    std::fs::create_dir(&events).unwrap();
    std::fs::write(events.join("a"), "as_user=\nhost=localhost\ncommand=true\nnotify_email=\nnotify_message=\n").unwrap();
    let daemon = RunningDaemon::standalone(&events, &dir.path().join("state"), &[]);
    (dir, events, daemon)
}

#[test]
fn event_reloads_through_the_daemon_and_says_what_it_loaded_or_why_it_could_not() {
    let (dir, events, daemon) = daemon_with_one_event();
    let new = events.join("b");
    let (out, err, code) = daemon.hcron(&["event", "-c", "-y", new.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("): 2 events, 0 accepted, 2 rejected (0 templates)."), "the blank event is loaded: {out}{err}");
    // The daemon's tree gone: the reload's failure is the command's.
    std::fs::rename(&events, dir.path().join("moved")).unwrap();
    let elsewhere = dir.path().join("elsewhere/events/c");
    let (out, err, code) = daemon.hcron(&["event", "-c", "-y", elsewhere.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("cannot load the events of user (") && !out.contains("Reloaded"), "{out}{err}");
    assert!(daemon.stop().success());
}

#[test]
fn list_shows_what_a_running_daemon_has_loaded_and_a_named_tree_as_it_is() {
    let (_dir, events, daemon) = daemon_with_one_event();
    let list = |args: &[&str]| {
        let (out, err, code) = daemon.hcron(&[&["list"], args].concat());
        assert_eq!(code, 0, "{err}");
        out
    };
    assert_eq!(list(&[]), "/a\n");
    assert_eq!(daemon.hcron(&["unload"]).2, 0);
    assert_eq!(list(&[]), "", "the daemon has nothing loaded");
    assert_eq!(list(&["--events", events.to_str().unwrap()]), "/a\n", "the tree named is read");
    assert!(daemon.stop().success());
}

#[test]
fn doc_is_valid_html5_with_sections_and_indexes() {
    let tree = TreeBuilder::new()
        .file("a/start", full("description=first <step> & more\ncontact=ops@x, dev@x\nlabel=nightly\nnext_event=../b/next\n"))
        .file("b/next", full("contact=ops@x\nhost=h2\n"))
        .file("a_b", full(""))
        .file("a-b", full(""))
        .file("broken", "no equals\n");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hcron"))
        .arg("doc")
        .arg("--show-source")
        .arg("--show-json")
        .arg(tree.root())
        .output_bounded()
        .unwrap();
    assert!(output.status.success());
    let html = String::from_utf8(output.stdout).unwrap();
    // html5lib's strict parser raises on any parse error of the HTML5 grammar.
    let mut python = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import sys, html5lib; html5lib.HTMLParser(strict=True).parse(sys.stdin.read()); print('valid')"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3-html5lib");
    use std::io::Write;
    python.stdin.take().unwrap().write_all(html.as_bytes()).unwrap();
    let checked = crate::bounded::finish_bounded(python, "html5lib");
    assert_eq!(String::from_utf8_lossy(&checked.stdout), "valid\n", "{}", String::from_utf8_lossy(&checked.stderr));
    let ids: Vec<&str> = html.split("id=\"").skip(1).map(|s| s.split('"').next().unwrap()).collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(ids.len(), unique.len(), "ids are unique");
    assert!(html.contains("<td>first &lt;step&gt; &amp; more</td>"));
    assert!(html.contains("<h3 id=\"index-contact\">By contact</h3>"));
    assert!(
        html.contains("<dt>ops@x</dt><dd><a href=\"#event-2fa-2fstart\">/a/start</a>, <a href=\"#event-2fb-2fnext\">/b/next</a></dd>"),
        "{html}"
    );
    assert!(html.contains("<dt>/b/next</dt><dd><a href=\"#event-2fa-2fstart\">/a/start</a></dd>"), "chain names are normalised");
    assert!(html.contains("<p>unknown: bad definition</p>"), "a rejected event is shown with its reason");
    let empty_field = "<dt>notify_email</dt><dd><code></code></dd>";
    assert!(!html.contains(empty_field) && html.contains("<dt>host</dt><dd><code>h2</code></dd>"), "empty fields left out: {html}");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hcron"))
        .args(["doc", "--show-empty-fields"])
        .arg(tree.root())
        .output_bounded()
        .unwrap();
    assert!(String::from_utf8(output.stdout).unwrap().contains(empty_field), "--show-empty-fields shows them");
}

#[test]
fn check_reports_a_tree_past_max_events_per_user_once_with_the_limit_and_the_count() {
    let mut tree = TreeBuilder::new();
    for name in ["a", "b", "c", "d", "e"] {
        tree = tree.file(name, full(""));
    }
    std::fs::write(tree.root().parent().unwrap().join("hcron.toml"), "max_events_per_user = 3\n").unwrap();
    let (out, _, code) = tree.hcron(&["check"]);
    assert_eq!(code, 1, "{out}");
    let root = tree.root().display().to_string();
    assert_eq!(
        out,
        format!(
            "{root}/: error: maximum events reached: 5 events, more than max_events_per_user (3): the last 2 are rejected and not scheduled\n\
             5 events: 3 accepted, 0 templates, 2 rejected; 1 errors, 0 warnings\n"
        )
    );
    let (out, _, _) = tree.hcron(&["list", "--show-all"]);
    assert!(
        out.ends_with(
            "accepted:normal:passed:/c\nrejected:unknown:maximum events reached:/d\nrejected:unknown:maximum events reached:/e\n"
        ),
        "{out}"
    );
}

#[test]
fn a_legacy_limit_is_ignored_with_a_warning() {
    // decisions 2: hcron 1.5 never enforced max_events_per_user.
    let tree = TreeBuilder::new().file("a", full("")).file("b", full(""));
    let config = tree.root().parent().unwrap().join("hcron.conf");
    std::fs::write(&config, "{\n  \"max_events_per_user\": 1,\n  \"smtp_server\": None,\n}\n").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hcron"))
        .args(["list", "--show-all", "-c"])
        .arg(&config)
        .arg("--events")
        .arg(tree.root())
        .output_bounded()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "accepted:normal:passed:/a\naccepted:normal:passed:/b\n");
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with(&format!("warning: {}: max_events_per_user (1) is ignored", config.display())), "{err}");
}

#[test]
fn the_original_shipped_configurations_load_unchanged() {
    let tree = TreeBuilder::new().file("a", full("")).file(".hidden", full("")).file("b~", full(""));
    let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/oracle-configs");
    for name in ["hcron-run.conf", "hcron.conf.sample"] {
        for command in [&["list", "--show-all"][..], &["check"][..]] {
            let output = std::process::Command::new(env!("CARGO_BIN_EXE_hcron"))
                .args(command)
                .arg("-c")
                .arg(configs.join(name))
                .arg("--events")
                .arg(tree.root())
                .output_bounded()
                .unwrap();
            assert!(output.status.success(), "{name} {command:?}: {}", String::from_utf8_lossy(&output.stderr));
        }
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_hcron"))
            .args(["run", "-c"])
            .arg(configs.join(name))
            .arg(tree.root())
            .args(["202001010000", "202001010001"])
            .output_bounded()
            .unwrap();
        assert!(output.status.success(), "{name} run: {}", String::from_utf8_lossy(&output.stderr));
        // Both ship the usual ignore pattern: hidden files and backups are no events.
        assert_eq!(String::from_utf8_lossy(&output.stdout).matches("|queue|").count(), 1, "{name}");
    }
}

#[test]
fn without_a_configuration_hidden_files_and_backups_are_not_events() {
    // decisions 2a: the default names_to_ignore_regexp.
    let tree = TreeBuilder::new().file("a", full("")).file(".x.swp", full("")).file("x~", full("")).file(".d/e", full(""));
    std::fs::write(tree.root().parent().unwrap().join("hcron.toml"), "").unwrap();
    let (out, _, _) = tree.hcron(&["list", "--show-all"]);
    assert_eq!(out, "accepted:normal:passed:/a\n");
}

#[test]
fn with_default_settings_a_big_tree_is_listed_and_fires_whole() {
    // 1.5's limit of 25 (and the run configuration's 5000) are not enforced:
    // every valid event of a 6,000-event tree is accepted and fires in a day.
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("big/events");
    hcron::synth::generate(&events, 6000).unwrap();
    let valid = 6000 / hcron::synth::PER_DIR * (hcron::synth::PER_DIR - 1);
    let empty = dir.path().join("hcron.toml");
    std::fs::write(&empty, "").unwrap();
    let list = std::process::Command::new(env!("CARGO_BIN_EXE_hcron"))
        .args(["list", "--show-all", "--events"])
        .arg(&events)
        .arg("-c")
        .arg(&empty)
        .output_bounded()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&list.stdout).lines().filter(|l| l.starts_with("accepted:")).count(), valid);
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_hcron"))
        .arg("run")
        .arg(&events)
        .args(["20200101", "20200102"])
        .output_bounded()
        .unwrap();
    let out = String::from_utf8_lossy(&run.stdout);
    let fired: std::collections::HashSet<&str> = out
        .lines()
        .filter(|l| l.contains("|activate|") && l.contains("|triggername=clock|"))
        .filter_map(|l| l.split('|').find_map(|f| f.strip_prefix("eventname=")))
        .collect();
    assert_eq!(fired.len(), valid);
}

#[test]
fn output_cut_short_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events");
    hcron::synth::generate(&events, 3000).unwrap();
    let events = events.display();
    let hcron = env!("CARGO_BIN_EXE_hcron");
    // `list` writes through a buffer, `next` with println!: neither may panic or complain.
    for args in [format!("list --show-all --events {events}"), format!("next --events {events} --count 20")] {
        let script = format!("{hcron} {args} 2>{0}/err | head -1 >/dev/null; cat {0}/err", dir.path().display());
        let output = std::process::Command::new("sh").arg("-c").arg(&script).output_bounded().unwrap();
        let err = String::from_utf8_lossy(&output.stdout);
        assert_eq!(err, "", "hcron {args} | head -1");
    }
}
