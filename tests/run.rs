//! `hcron run` against §19's scenarios on activation, chains, limits,
//! failover, e-mail and the simulator's arguments, compared line for line.

use crate::bounded::Bounded;
use crate::util::{TreeBuilder, assert_lines, expected, full};

const START: &str = "|2020-01-01T00:00:00|start-logging|\n|2020-01-01T00:00:00|start||fqdn={fqdn}|servername=testserver|version={version}";

/// The `work` lines of minutes in which nothing fires, from `hh:mm` on.
fn idle(hour: u32, from: u32, to: u32) -> String {
    (from..to).map(|m| format!("|2020-01-01T{hour:02}:{m:02}:00|work||count=0|elapsed=\n")).collect()
}

#[test]
fn s01_plain_schedule_full_output() {
    let tree = TreeBuilder::new().file("hello", full("when_minute=0,30\n"));
    let (out, err, code) = tree.simulate(&[], "202001010000", "202001010100");
    assert_eq!((code, err.as_str()), (0, ""));
    let job = |minute: u32, id: u32| {
        let t = format!("2020-01-01T00:{minute:02}:00");
        format!(
            "|{t}|queue|{{user}}|eventchain=/hello|eventname=/hello|jobgid=J{id}|jobid=J{id}|pjobid=J{id}|queuetime=|schedtime=2020-01-01 00:{minute:02}:00|triggername=clock|triggerorigin=hcron-run\n\
             |{t}|work||count=1|elapsed=\n\
             |{t}|activate|{{user}}|eventchain=/hello|eventname=/hello|jobgid=J{id}|jobid=J{id}|pjobid=J{id}|triggername=clock|triggerorigin=hcron-run\n\
             |{t}|done|{{user}}|eventname=/hello|jobgid=J{id}|jobid=J{id}|nexteventnames=|nexteventtype=None|nnextevents=0|pjobid=J{id}\n"
        )
    };
    let want = format!("{START}\n{}{}{}{}", job(0, 1), idle(0, 1, 30), job(30, 2), idle(0, 31, 60));
    assert_lines(&out, &expected(&want));
}

#[test]
fn s37_next_chain() {
    let tree = TreeBuilder::new()
        .file("a/start", full("when_minute=0\nwhen_hour=0\nnext_event=step2\n"))
        .file("a/step2", "command=step2 $HCRON_EVENT_CHAIN $HCRON_TRIGGER_NAME $HCRON_TRIGGER_ORIGIN\nhost=h\n");
    let (out, _, code) = tree.simulate(&["--show-event"], "202001010000", "202001010001");
    assert_eq!(code, 0);
    assert_lines(
        &out,
        &expected(&format!(
            "{START}
            |2020-01-01T00:00:00|queue|{{user}}|eventchain=/a/start|eventname=/a/start|jobgid=J1|jobid=J1|pjobid=J1|queuetime=|schedtime=2020-01-01 00:00:00|triggername=clock|triggerorigin=hcron-run
            |2020-01-01T00:00:00|work||count=1|elapsed=
            |2020-01-01T00:00:00|activate|{{user}}|eventchain=/a/start|eventname=/a/start|jobgid=J1|jobid=J1|pjobid=J1|triggername=clock|triggerorigin=hcron-run
            |    as_user={{user}}
            |    host=h1
            |    command=true
            |    notify_email=
            |    notify_subject=
            |    notify_message=
            |    when_year=2020
            |    when_month=1
            |    when_day=1
            |    when_hour=0
            |    when_minute=0
            |    when_dow=2
            |    next_event=step2
            |    failover_event=
            |2020-01-01T00:00:00|done|{{user}}|eventname=/a/start|jobgid=J1|jobid=J1|nexteventnames=/a/step2|nexteventtype=next|nnextevents=1|pjobid=J1
            |2020-01-01T00:00:00|queue|{{user}}|eventchain=/a/start:/a/step2|eventname=/a/step2|jobgid=J1|jobid=J2|pjobid=J1|queuetime=|schedtime=2020-01-01 00:00:00|triggername=next|triggerorigin=/a/step2
            |2020-01-01T00:00:00|activate|{{user}}|eventchain=/a/start:/a/step2|eventname=/a/step2|jobgid=J1|jobid=J2|pjobid=J1|triggername=next|triggerorigin=/a/step2
            |    as_user=None
            |    host=h
            |    command=step2 /a/start:/a/step2 next /a/step2
            |    notify_email=None
            |    notify_subject=
            |    notify_message=
            |    when_year=2020
            |    when_month=1
            |    when_day=1
            |    when_hour=0
            |    when_minute=0
            |    when_dow=2
            |    next_event=
            |    failover_event=
            |2020-01-01T00:00:00|done|{{user}}|eventname=/a/step2|jobgid=J1|jobid=J2|nexteventnames=|nexteventtype=None|nnextevents=0|pjobid=J1"
        )),
    );
}

#[test]
fn s38_s39_chain_names_are_normalised_and_duplicates_kept() {
    // decisions.md, fixed 4: ./ and ../ resolve; climbing above events/ is an error.
    let tree = TreeBuilder::new()
        .file("a/start", full("when_minute=0\nwhen_hour=0\nnext_event=../b/other:./dot:step2::step2:../../up\n"))
        .file("a/step2", full("when_month=2\n"))
        .file("b/other", full("when_month=2\n"));
    let (out, _, _) = tree.simulate(&[], "202001010000", "202001010001");
    assert_lines(
        &out,
        &expected(&format!(
            "{START}
             |2020-01-01T00:00:00|queue|{{user}}|eventchain=/a/start|eventname=/a/start|jobgid=J1|jobid=J1|pjobid=J1|queuetime=|schedtime=2020-01-01 00:00:00|triggername=clock|triggerorigin=hcron-run
             |2020-01-01T00:00:00|work||count=1|elapsed=
             |2020-01-01T00:00:00|activate|{{user}}|eventchain=/a/start|eventname=/a/start|jobgid=J1|jobid=J1|pjobid=J1|triggername=clock|triggerorigin=hcron-run
             |2020-01-01T00:00:00|done|{{user}}|eventname=/a/start|jobgid=J1|jobid=J1|nexteventnames=/b/other:/a/dot:/a/step2:/a/:/a/step2:../../up|nexteventtype=next|nnextevents=6|pjobid=J1
             |2020-01-01T00:00:00|queue|{{user}}|eventchain=/a/start:/b/other|eventname=/b/other|jobgid=J1|jobid=J2|pjobid=J1|queuetime=|schedtime=2020-01-01 00:00:00|triggername=next|triggerorigin=/b/other
             |2020-01-01T00:00:00|message|{{user}}|message=chained event (/a/dot) does not exist.|type=error
             |2020-01-01T00:00:00|queue|{{user}}|eventchain=/a/start:/a/step2|eventname=/a/step2|jobgid=J1|jobid=J3|pjobid=J1|queuetime=|schedtime=2020-01-01 00:00:00|triggername=next|triggerorigin=/a/step2
             |2020-01-01T00:00:00|message|{{user}}|message=chained event (/a/) does not exist.|type=error
             |2020-01-01T00:00:00|queue|{{user}}|eventchain=/a/start:/a/step2|eventname=/a/step2|jobgid=J1|jobid=J4|pjobid=J1|queuetime=|schedtime=2020-01-01 00:00:00|triggername=next|triggerorigin=/a/step2
             |2020-01-01T00:00:00|message|{{user}}|message=chained event (../../up) of (/a/start) climbs above events/.|type=error
             |2020-01-01T00:00:00|activate|{{user}}|eventchain=/a/start:/b/other|eventname=/b/other|jobgid=J1|jobid=J2|pjobid=J1|triggername=next|triggerorigin=/b/other
             |2020-01-01T00:00:00|done|{{user}}|eventname=/b/other|jobgid=J1|jobid=J2|nexteventnames=|nexteventtype=None|nnextevents=0|pjobid=J1
             |2020-01-01T00:00:00|activate|{{user}}|eventchain=/a/start:/a/step2|eventname=/a/step2|jobgid=J1|jobid=J3|pjobid=J1|triggername=next|triggerorigin=/a/step2
             |2020-01-01T00:00:00|done|{{user}}|eventname=/a/step2|jobgid=J1|jobid=J3|nexteventnames=|nexteventtype=None|nnextevents=0|pjobid=J1
             |2020-01-01T00:00:00|activate|{{user}}|eventchain=/a/start:/a/step2|eventname=/a/step2|jobgid=J1|jobid=J4|pjobid=J1|triggername=next|triggerorigin=/a/step2
             |2020-01-01T00:00:00|done|{{user}}|eventname=/a/step2|jobgid=J1|jobid=J4|nexteventnames=|nexteventtype=None|nnextevents=0|pjobid=J1"
        )),
    );
}

/// The `command` lines `--show-event` printed.
fn commands(out: &str) -> Vec<String> {
    out.lines().filter_map(|l| l.strip_prefix("    command=")).map(str::to_owned).collect()
}

#[test]
fn s40_self_loop_stops_at_the_chain_limit() {
    for next in ["self", "$HCRON_EVENT_NAME[-1]"] {
        let tree = TreeBuilder::new()
            .file("loop/self", full(&format!("when_minute=0\nwhen_hour=0\nnext_event={next}\ncommand=n=#HCRON_SELF_CHAIN\n")));
        let (out, _, _) = tree.simulate(&["--show-event"], "202001010000", "202001010001");
        let mut want = format!(
            "{START}
             |2020-01-01T00:00:00|queue|{{user}}|eventchain=/loop/self|eventname=/loop/self|jobgid=J1|jobid=J1|pjobid=J1|queuetime=|schedtime=2020-01-01 00:00:00|triggername=clock|triggerorigin=hcron-run
             |2020-01-01T00:00:00|work||count=1|elapsed=
"
        );
        let mut chain = String::from("/loop/self");
        for n in 1..=5u32 {
            let (trigger, origin, parent) =
                if n == 1 { ("clock", "hcron-run".to_owned(), 1) } else { ("next", "/loop/self".to_owned(), n - 1) };
            if n > 1 {
                chain += ":/loop/self";
                want += &format!(
                    "|2020-01-01T00:00:00|queue|{{user}}|eventchain={chain}|eventname=/loop/self|jobgid=J1|jobid=J{n}|pjobid=J{parent}|queuetime=|schedtime=2020-01-01 00:00:00|triggername={trigger}|triggerorigin={origin}\n"
                );
            }
            want += &format!(
                "|2020-01-01T00:00:00|activate|{{user}}|eventchain={chain}|eventname=/loop/self|jobgid=J1|jobid=J{n}|pjobid=J{parent}|triggername={trigger}|triggerorigin={origin}
                 |    as_user={{user}}
                 |    host=h1
                 |    command=n={n}
                 |    notify_email=
                 |    notify_subject=
                 |    notify_message=
                 |    when_year=2020
                 |    when_month=1
                 |    when_day=1
                 |    when_hour=0
                 |    when_minute=0
                 |    when_dow=2
                 |    next_event=self
                 |    failover_event=
                 |2020-01-01T00:00:00|done|{{user}}|eventname=/loop/self|jobgid=J1|jobid=J{n}|nexteventnames=/loop/self|nexteventtype=next|nnextevents=1|pjobid=J{parent}
"
            );
        }
        want += "|2020-01-01T00:00:00|message|{user}|message=event chain limit (5) reached at (/loop/self).|type=error";
        assert_lines(&out, &expected(&want));
    }
}

#[test]
fn s41_fan_out_limit_is_all_or_nothing() {
    let mut tree = TreeBuilder::new()
        .file("f/nine", full("when_minute=0\nwhen_hour=0\nnext_event=1:2:3:4:5:6:7:8:9\n"))
        .file("f/eight", full("when_minute=1\nwhen_hour=0\nnext_event=1:2:3:4:5:6:7:8\n"));
    for n in 1..=9 {
        tree = tree.file(&format!("f/{n}"), format!("as_user=\nhost=h\ncommand=target {n}\n"));
    }
    let (out, _, _) = tree.simulate(&[], "202001010000", "202001010002");
    let nine: Vec<String> = (1..=9).map(|n| format!("/f/{n}")).collect();
    let mut want = format!(
        "{START}
         |2020-01-01T00:00:00|queue|{{user}}|eventchain=/f/nine|eventname=/f/nine|jobgid=J1|jobid=J1|pjobid=J1|queuetime=|schedtime=2020-01-01 00:00:00|triggername=clock|triggerorigin=hcron-run
         |2020-01-01T00:00:00|work||count=1|elapsed=
         |2020-01-01T00:00:00|activate|{{user}}|eventchain=/f/nine|eventname=/f/nine|jobgid=J1|jobid=J1|pjobid=J1|triggername=clock|triggerorigin=hcron-run
         |2020-01-01T00:00:00|done|{{user}}|eventname=/f/nine|jobgid=J1|jobid=J1|nexteventnames={names}|nexteventtype=next|nnextevents=9|pjobid=J1
         |2020-01-01T00:00:00|message||message=next event limit (8) reached at ({names}).|type=error
         |2020-01-01T00:01:00|queue|{{user}}|eventchain=/f/eight|eventname=/f/eight|jobgid=J2|jobid=J2|pjobid=J2|queuetime=|schedtime=2020-01-01 00:01:00|triggername=clock|triggerorigin=hcron-run
         |2020-01-01T00:01:00|work||count=1|elapsed=
         |2020-01-01T00:01:00|activate|{{user}}|eventchain=/f/eight|eventname=/f/eight|jobgid=J2|jobid=J2|pjobid=J2|triggername=clock|triggerorigin=hcron-run
         |2020-01-01T00:01:00|done|{{user}}|eventname=/f/eight|jobgid=J2|jobid=J2|nexteventnames={eight}|nexteventtype=next|nnextevents=8|pjobid=J2
",
        names = nine.join(":"),
        eight = nine[..8].join(":"),
    );
    // All eight are queued, in order, before any of them runs.
    for (i, name) in nine[..8].iter().enumerate() {
        want += &format!(
            "|2020-01-01T00:01:00|queue|{{user}}|eventchain=/f/eight:{name}|eventname={name}|jobgid=J2|jobid=J{}|pjobid=J2|queuetime=|schedtime=2020-01-01 00:01:00|triggername=next|triggerorigin={name}\n",
            i + 3
        );
    }
    for (i, name) in nine[..8].iter().enumerate() {
        want += &format!(
            "|2020-01-01T00:01:00|activate|{{user}}|eventchain=/f/eight:{name}|eventname={name}|jobgid=J2|jobid=J{id}|pjobid=J2|triggername=next|triggerorigin={name}
             |2020-01-01T00:01:00|done|{{user}}|eventname={name}|jobgid=J2|jobid=J{id}|nexteventnames=|nexteventtype=None|nnextevents=0|pjobid=J2
",
            id = i + 3
        );
    }
    assert_lines(&out, &expected(&want));
}

#[test]
fn s42_chain_targets_by_type() {
    let tree = TreeBuilder::new()
        .file("c/start", full("when_minute=0\nwhen_hour=0\nnext_event=tmpl:partial:badwhen:baddef:badinc\n"))
        .file("c/tmpl", "template_name=tmpl\ncommand=from template\n")
        .file("c/partial", "command=from partial\n")
        .file("c/badwhen", "when_minute=99\ncommand=from badwhen\n")
        .file("c/baddef", "no equals here\n")
        .file("c/badinc", "include /missing\n");
    let (out, _, _) = tree.simulate(&[], "202001010000", "202001010001");
    assert_lines(
        &out,
        &expected(&format!(
            "{START}
             |2020-01-01T00:00:00|queue|{{user}}|eventchain=/c/start|eventname=/c/start|jobgid=J1|jobid=J1|pjobid=J1|queuetime=|schedtime=2020-01-01 00:00:00|triggername=clock|triggerorigin=hcron-run
             |2020-01-01T00:00:00|work||count=1|elapsed=
             |2020-01-01T00:00:00|activate|{{user}}|eventchain=/c/start|eventname=/c/start|jobgid=J1|jobid=J1|pjobid=J1|triggername=clock|triggerorigin=hcron-run
             |2020-01-01T00:00:00|done|{{user}}|eventname=/c/start|jobgid=J1|jobid=J1|nexteventnames=/c/tmpl:/c/partial:/c/badwhen:/c/baddef:/c/badinc|nexteventtype=next|nnextevents=5|pjobid=J1
             |2020-01-01T00:00:00|queue|{{user}}|eventchain=/c/start:/c/tmpl|eventname=/c/tmpl|jobgid=J1|jobid=J2|pjobid=J1|queuetime=|schedtime=2020-01-01 00:00:00|triggername=next|triggerorigin=/c/tmpl
             |2020-01-01T00:00:00|queue|{{user}}|eventchain=/c/start:/c/partial|eventname=/c/partial|jobgid=J1|jobid=J3|pjobid=J1|queuetime=|schedtime=2020-01-01 00:00:00|triggername=next|triggerorigin=/c/partial
             |2020-01-01T00:00:00|queue|{{user}}|eventchain=/c/start:/c/badwhen|eventname=/c/badwhen|jobgid=J1|jobid=J4|pjobid=J1|queuetime=|schedtime=2020-01-01 00:00:00|triggername=next|triggerorigin=/c/badwhen
             |2020-01-01T00:00:00|message|{{user}}|message=chained event (/c/baddef) was rejected (bad definition).|type=error
             |2020-01-01T00:00:00|message|{{user}}|message=chained event (/c/badinc) was rejected (cannot process include(s)).|type=error
             |2020-01-01T00:00:00|activate|{{user}}|eventchain=/c/start:/c/tmpl|eventname=/c/tmpl|jobgid=J1|jobid=J2|pjobid=J1|triggername=next|triggerorigin=/c/tmpl
             |2020-01-01T00:00:00|done|{{user}}|eventname=/c/tmpl|jobgid=J1|jobid=J2|nexteventnames=|nexteventtype=None|nnextevents=0|pjobid=J1
             |2020-01-01T00:00:00|activate|{{user}}|eventchain=/c/start:/c/partial|eventname=/c/partial|jobgid=J1|jobid=J3|pjobid=J1|triggername=next|triggerorigin=/c/partial
             |2020-01-01T00:00:00|done|{{user}}|eventname=/c/partial|jobgid=J1|jobid=J3|nexteventnames=|nexteventtype=None|nnextevents=0|pjobid=J1
             |2020-01-01T00:00:00|activate|{{user}}|eventchain=/c/start:/c/badwhen|eventname=/c/badwhen|jobgid=J1|jobid=J4|pjobid=J1|triggername=next|triggerorigin=/c/badwhen
             |2020-01-01T00:00:00|done|{{user}}|eventname=/c/badwhen|jobgid=J1|jobid=J4|nexteventnames=|nexteventtype=None|nnextevents=0|pjobid=J1"
        )),
    );
}

#[test]
fn s43_failover_and_bounded_retries() {
    let tree = TreeBuilder::new()
        .file("job", full("when_minute=0\nwhen_hour=0\nnext_event=ok_next\nfailover_event=retry\nnotify_email=ops@x\n"))
        .file("ok_next", "as_user=\nhost=h\ncommand=ok\n")
        .file("retry", "as_user=\nhost=h\ncommand=retry\nfailover_event=retry\n");
    let (out, _, _) = tree.simulate(&["--fail-events", "/job:/retry"], "202001010000", "202001010001");
    let mut want = format!(
        "{START}
         |2020-01-01T00:00:00|queue|{{user}}|eventchain=/job|eventname=/job|jobgid=J1|jobid=J1|pjobid=J1|queuetime=|schedtime=2020-01-01 00:00:00|triggername=clock|triggerorigin=hcron-run
         |2020-01-01T00:00:00|work||count=1|elapsed=
         |2020-01-01T00:00:00|activate|{{user}}|eventchain=/job|eventname=/job|jobgid=J1|jobid=J1|pjobid=J1|triggername=clock|triggerorigin=hcron-run
         |2020-01-01T00:00:00|done|{{user}}|eventname=/job|jobgid=J1|jobid=J1|nexteventnames=/retry|nexteventtype=failover|nnextevents=1|pjobid=J1
"
    );
    // No notify-email anywhere: a failed job sends nothing. Each retry is
    // queued by the one before it, until the chain holds five names.
    let mut chain = String::from("/job");
    for n in 2..=5 {
        chain += ":/retry";
        want += &format!(
            "|2020-01-01T00:00:00|queue|{{user}}|eventchain={chain}|eventname=/retry|jobgid=J1|jobid=J{n}|pjobid=J{p}|queuetime=|schedtime=2020-01-01 00:00:00|triggername=failover|triggerorigin=/retry
             |2020-01-01T00:00:00|activate|{{user}}|eventchain={chain}|eventname=/retry|jobgid=J1|jobid=J{n}|pjobid=J{p}|triggername=failover|triggerorigin=/retry
             |2020-01-01T00:00:00|done|{{user}}|eventname=/retry|jobgid=J1|jobid=J{n}|nexteventnames=/retry|nexteventtype=failover|nnextevents=1|pjobid=J{p}
",
            p = n - 1
        );
    }
    want += "|2020-01-01T00:00:00|message|{user}|message=event chain limit (5) reached at (/retry).|type=error";
    assert_lines(&out, &expected(&want));
}

#[test]
fn s44_success_email() {
    let tree = TreeBuilder::new().file(
        "job",
        full("when_minute=0\nwhen_hour=0\nnotify_email=ops@example.com, dev@example.com\nnotify_message=line1\\nline2\\tTabbed $HCRON_EVENT_NAME\n"),
    );
    let (out, _, _) = tree.simulate(&["--show-email"], "202001010000", "202001010001");
    assert_lines(
        &out,
        &expected(&format!(
            "{START}
             |2020-01-01T00:00:00|queue|{{user}}|eventchain=/job|eventname=/job|jobgid=J1|jobid=J1|pjobid=J1|queuetime=|schedtime=2020-01-01 00:00:00|triggername=clock|triggerorigin=hcron-run
             |2020-01-01T00:00:00|work||count=1|elapsed=
             |2020-01-01T00:00:00|activate|{{user}}|eventchain=/job|eventname=/job|jobgid=J1|jobid=J1|pjobid=J1|triggername=clock|triggerorigin=hcron-run
             |2020-01-01T00:00:00|notify-email|{{user}}|addrs=ops@example.com|eventname=/job
             |    From: {{user}}@{{fqdn}}
             |    To: ops@example.com
             |    Subject: hcron (testserver): \"/job\" executed at {{user}}@h1
             |
             |    line1
             |    line2   Tabbed /job
             |2020-01-01T00:00:00|notify-email|{{user}}|addrs=dev@example.com|eventname=/job
             |    From: {{user}}@{{fqdn}}
             |    To: dev@example.com
             |    Subject: hcron (testserver): \"/job\" executed at {{user}}@h1
             |
             |    line1
             |    line2   Tabbed /job
             |2020-01-01T00:00:00|done|{{user}}|eventname=/job|jobgid=J1|jobid=J1|nexteventnames=|nexteventtype=None|nnextevents=0|pjobid=J1"
        )),
    );
}

#[test]
fn s45_custom_subject() {
    let tree = TreeBuilder::new()
        .file("job", full("when_minute=0\nwhen_hour=0\nnotify_email=a@x\nnotify_subject=  custom subject $HCRON_SERVER_NAME  \n"));
    let (out, _, _) = tree.simulate(&["--show-email"], "202001010000", "202001010001");
    assert_lines(
        &out,
        &expected(&format!(
            "{START}
             |2020-01-01T00:00:00|queue|{{user}}|eventchain=/job|eventname=/job|jobgid=J1|jobid=J1|pjobid=J1|queuetime=|schedtime=2020-01-01 00:00:00|triggername=clock|triggerorigin=hcron-run
             |2020-01-01T00:00:00|work||count=1|elapsed=
             |2020-01-01T00:00:00|activate|{{user}}|eventchain=/job|eventname=/job|jobgid=J1|jobid=J1|pjobid=J1|triggername=clock|triggerorigin=hcron-run
             |2020-01-01T00:00:00|notify-email|{{user}}|addrs=a@x|eventname=/job
             |    From: {{user}}@{{fqdn}}
             |    To: a@x
             |    Subject: custom subject testserver
             |
             |
             |2020-01-01T00:00:00|done|{{user}}|eventname=/job|jobgid=J1|jobid=J1|nexteventnames=|nexteventtype=None|nnextevents=0|pjobid=J1"
        )),
    );
}

#[test]
fn s46_recipient_limit() {
    let addresses: Vec<String> = (1..=18).map(|n| format!("u{n}@x")).collect();
    let tree = TreeBuilder::new().file("job", full(&format!("when_minute=0\nwhen_hour=0\nnotify_email={}\n", addresses.join(","))));
    let (out, _, _) = tree.simulate(&[], "202001010000", "202001010001");
    let mut want = format!(
        "{START}
         |2020-01-01T00:00:00|queue|{{user}}|eventchain=/job|eventname=/job|jobgid=J1|jobid=J1|pjobid=J1|queuetime=|schedtime=2020-01-01 00:00:00|triggername=clock|triggerorigin=hcron-run
         |2020-01-01T00:00:00|work||count=1|elapsed=
         |2020-01-01T00:00:00|activate|{{user}}|eventchain=/job|eventname=/job|jobgid=J1|jobid=J1|pjobid=J1|triggername=clock|triggerorigin=hcron-run
         |2020-01-01T00:00:00|message||message=limited user ({{user}}) event (/job) email notification recipients from (18) to (16)|type=error
"
    );
    for n in 1..=16 {
        want += &format!("|2020-01-01T00:00:00|notify-email|{{user}}|addrs=u{n}@x|eventname=/job\n");
    }
    want += "|2020-01-01T00:00:00|done|{user}|eventname=/job|jobgid=J1|jobid=J1|nexteventnames=|nexteventtype=None|nnextevents=0|pjobid=J1";
    assert_lines(&out, &expected(&want));
}

#[test]
fn s47_empty_command_succeeds_in_the_simulator() {
    let tree = TreeBuilder::new()
        .file("job", full("when_minute=0\nwhen_hour=0\ncommand=\nnext_event=ok_next\nfailover_event=bad\n"))
        .file("ok_next", "as_user=\nhost=h\ncommand=ok\n")
        .file("bad", "as_user=\nhost=h\ncommand=bad\n");
    let config = tree.root().parent().unwrap().join("run.conf");
    std::fs::write(&config, "{'error_on_empty_command': True}").unwrap();
    let (out, _, code) = tree.simulate(&["-c", config.to_str().unwrap()], "202001010000", "202001010001");
    assert_eq!(code, 0);
    assert_lines(
        &out,
        &expected(&format!(
            "{START}
             |2020-01-01T00:00:00|queue|{{user}}|eventchain=/job|eventname=/job|jobgid=J1|jobid=J1|pjobid=J1|queuetime=|schedtime=2020-01-01 00:00:00|triggername=clock|triggerorigin=hcron-run
             |2020-01-01T00:00:00|work||count=1|elapsed=
             |2020-01-01T00:00:00|activate|{{user}}|eventchain=/job|eventname=/job|jobgid=J1|jobid=J1|pjobid=J1|triggername=clock|triggerorigin=hcron-run
             |2020-01-01T00:00:00|done|{{user}}|eventname=/job|jobgid=J1|jobid=J1|nexteventnames=/ok_next|nexteventtype=next|nnextevents=1|pjobid=J1
             |2020-01-01T00:00:00|queue|{{user}}|eventchain=/job:/ok_next|eventname=/ok_next|jobgid=J1|jobid=J2|pjobid=J1|queuetime=|schedtime=2020-01-01 00:00:00|triggername=next|triggerorigin=/ok_next
             |2020-01-01T00:00:00|activate|{{user}}|eventchain=/job:/ok_next|eventname=/ok_next|jobgid=J1|jobid=J2|pjobid=J1|triggername=next|triggerorigin=/ok_next
             |2020-01-01T00:00:00|done|{{user}}|eventname=/ok_next|jobgid=J1|jobid=J2|nexteventnames=|nexteventtype=None|nnextevents=0|pjobid=J1"
        )),
    );
}

#[test]
fn s48_expiry_against_the_simulated_clock() {
    // decisions.md, fixed 7: an expired job fails and follows failover_event.
    let tree = TreeBuilder::new()
        .file("always", full("when_minute=0\nwhen_hour=0\nwhen_expire=-1\nnext_event=n\nfailover_event=f\nnotify_email=a@x\n"))
        .file("zero", full("when_minute=0\nwhen_hour=0\nwhen_expire=0\n"))
        .file("junk", full("when_minute=0\nwhen_hour=0\nwhen_expire=abc\n"))
        .file("thirty", full("when_minute=0\nwhen_hour=0\nwhen_expire=00:00:30\n"))
        .file("n", "as_user=\nhost=h\ncommand=n\n")
        .file("f", "as_user=\nhost=h\ncommand=f\n");
    let (out, _, _) = tree.simulate(&[], "202001010000", "202001010001");
    let clock = |name: &str, id: u32| {
        format!(
            "|2020-01-01T00:00:00|queue|{{user}}|eventchain={name}|eventname={name}|jobgid=J{id}|jobid=J{id}|pjobid=J{id}|queuetime=|schedtime=2020-01-01 00:00:00|triggername=clock|triggerorigin=hcron-run\n"
        )
    };
    let ran = |kind: &str, name: &str, id: u32| {
        format!(
            "|2020-01-01T00:00:00|{kind}|{{user}}|eventchain={name}|eventname={name}|jobgid=J{id}|jobid=J{id}|pjobid=J{id}|triggername=clock|triggerorigin=hcron-run\n\
             |2020-01-01T00:00:00|done|{{user}}|eventname={name}|jobgid=J{id}|jobid=J{id}|nexteventnames=|nexteventtype=None|nnextevents=0|pjobid=J{id}\n"
        )
    };
    let want = format!(
        "{START}\n{}{}{}{}|2020-01-01T00:00:00|work||count=4|elapsed=
         |2020-01-01T00:00:00|expire|{{user}}|eventchain=/always|eventname=/always|jobgid=J1|jobid=J1|pjobid=J1|triggername=clock|triggerorigin=hcron-run
         |2020-01-01T00:00:00|done|{{user}}|eventname=/always|jobgid=J1|jobid=J1|nexteventnames=/f|nexteventtype=failover|nnextevents=1|pjobid=J1
         |2020-01-01T00:00:00|queue|{{user}}|eventchain=/always:/f|eventname=/f|jobgid=J1|jobid=J5|pjobid=J1|queuetime=|schedtime=2020-01-01 00:00:00|triggername=failover|triggerorigin=/f
{}{}{}         |2020-01-01T00:00:00|activate|{{user}}|eventchain=/always:/f|eventname=/f|jobgid=J1|jobid=J5|pjobid=J1|triggername=failover|triggerorigin=/f
         |2020-01-01T00:00:00|done|{{user}}|eventname=/f|jobgid=J1|jobid=J5|nexteventnames=|nexteventtype=None|nnextevents=0|pjobid=J1",
        clock("/always", 1),
        clock("/junk", 2),
        clock("/thirty", 3),
        clock("/zero", 4),
        ran("activate", "/junk", 2),
        ran("activate", "/thirty", 3),
        ran("activate", "/zero", 4),
    );
    assert_lines(&out, &expected(&want));
}

#[test]
fn s49_date_variables() {
    let tree = TreeBuilder::new().file(
        "d",
        full("when_minute=1\nwhen_hour=12\ncommand=$HCRON_SCHEDULE_DATETIME $HCRON_SCHEDULE_DATETIME_UTC $HCRON_SCHEDULE_EPOCHTIME $HCRON_SCHEDULE_EPOCHTIME_UTC\n"),
    );
    let (out, _, _) = tree.simulate_in("America/Toronto", &["--show-event"], "202001011200", "202001011202");
    // decisions.md, fixed 5: the UTC epoch is the epoch.
    assert_lines(
        &out,
        &expected(
            "|2020-01-01T12:00:00|start-logging|
             |2020-01-01T12:00:00|start||fqdn={fqdn}|servername=testserver|version={version}
             |2020-01-01T12:00:00|work||count=0|elapsed=
             |2020-01-01T12:01:00|queue|{user}|eventchain=/d|eventname=/d|jobgid=J1|jobid=J1|pjobid=J1|queuetime=|schedtime=2020-01-01 12:01:00|triggername=clock|triggerorigin=hcron-run
             |2020-01-01T12:01:00|work||count=1|elapsed=
             |2020-01-01T12:01:00|activate|{user}|eventchain=/d|eventname=/d|jobgid=J1|jobid=J1|pjobid=J1|triggername=clock|triggerorigin=hcron-run
             |    as_user={user}
             |    host=h1
             |    command=2020:01:01:12:01:00:00:3 2020:01:01:17:01:00:00:3 1577898060 1577898060
             |    notify_email=
             |    notify_subject=
             |    notify_message=
             |    when_year=2020
             |    when_month=1
             |    when_day=1
             |    when_hour=12
             |    when_minute=1
             |    when_dow=2
             |    next_event=
             |    failover_event=
             |2020-01-01T12:01:00|done|{user}|eventname=/d|jobgid=J1|jobid=J1|nexteventnames=|nexteventtype=None|nnextevents=0|pjobid=J1",
        ),
    );
}

#[test]
fn s49_every_late_builtin() {
    let tree = TreeBuilder::new()
        .file("a/b", full("when_minute=0\nwhen_hour=0\nnext_event=b\ncommand=$HCRON_JOBID/$HCRON_JOBGID/$HCRON_PJOBID $HCRON_EVENT_CHAIN [$HCRON_SELF_CHAIN] #HCRON_SELF_CHAIN $HCRON_TRIGGER_NAME $HCRON_TRIGGER_ORIGIN $HCRON_QUEUE_DATETIME $HCRON_ACTIVATE_EPOCHTIME\nnotify_subject=$HCRON_HOST_NAME $HCRON_SERVER_NAME\n"));
    let (out, _, _) = tree.simulate(&["--show-event", "-c", "/dev/null"], "202001010000", "202001010001");
    let fqdn = crate::util::fqdn();
    let lines = commands(&out);
    assert_eq!(lines.len(), 5);
    let parts: Vec<&str> = lines[1].split(' ').collect();
    let ids: Vec<&str> = parts[0].split('/').collect();
    assert_ne!(ids[0], ids[1], "own id differs from the group's");
    assert_eq!(ids[1], lines[0].split(['/', ' ']).next().unwrap(), "group id is the root's id");
    assert_eq!(parts[1..].join(" "), "/a/b:/a/b [/a/b:/a/b] 2 next /a/b 2020:01:01:00:00:00:00:3 1577836800");
    assert!(out.contains(&format!("\n    notify_subject={fqdn} testserver\n")), "{out}");
}

#[test]
fn s62_arguments() {
    let tree = TreeBuilder::new().file("e", full(""));
    let (out, err, code) = tree.simulate(&[], "202001020000", "202001010000");
    assert_eq!(
        (out.as_str(), err.as_str(), code),
        ("", "error: start time (2020-01-02 00:00:00) is after end time (2020-01-01 00:00:00)\n", 1)
    );
    let (out, _, code) = tree.simulate(&[], "202001010000", "202001010000");
    assert_eq!(code, 0);
    assert_lines(&out, &expected(START));
    let (_, err, code) = tree.simulate(&[], "2020010", "202001010000");
    assert_eq!((err.as_str(), code), ("error: bad/missing argument\n", 1));
    let (out, _, code) = tree.simulate(&["-d", "0.01"], "202001010000", "202001010003");
    assert_eq!((out.matches("|work|").count(), code), (3, 0), "-d pauses between minutes");
    // As the original (its `max(0, float(delay))`; the oracle exits 1 with this message for `-d soon`
    // and runs `-d -1` without pausing): a delay that is not a number is refused, a negative one is none.
    let (_, err, code) = tree.simulate(&["-d", "soon"], "202001010000", "202001010003");
    assert!(err.starts_with("error: bad/missing argument\n") && code == 1, "{err}");
    let (out, err, code) = tree.simulate(&["-d", "-1"], "202001010000", "202001010003");
    assert_eq!((out.matches("|work|").count(), err.as_str(), code), (3, "", 0));

    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("e"), full("")).unwrap();
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_hcron")).arg("run").args(args).output_bounded().unwrap();
        (String::from_utf8(output.stdout).unwrap(), String::from_utf8(output.stderr).unwrap(), output.status.code().unwrap())
    };
    let (_, err, code) = run(&[other.path().to_str().unwrap(), "20200101", "20200102"]);
    assert_eq!((err.as_str(), code), ("error: no events found/loaded\n", 1));
    let (out, _, code) = run(&["-h"]);
    assert!(out.starts_with("usage: hcron run") && code == 1, "-h exits 1, as the original");
    let (_, err, code) = run(&["--bogus"]);
    assert!(err.starts_with("error: bad/missing argument\n") && code == 1, "{err}");
    let (_, err, code) = run(&[]);
    assert_eq!((err.as_str(), code), ("error: bad/missing argument\n", 1));
}

#[test]
fn notify_on_failure_says_failed_and_why() {
    // The extension notify_on: failure notifies failures only, always both.
    let tree = TreeBuilder::new()
        .file("f", full("when_minute=0\nwhen_hour=0\nnotify_on=failure\nnotify_email=ops@x\nnotify_message=it broke\n"))
        .file("s", full("when_minute=0\nwhen_hour=0\nnotify_on=failure\nnotify_email=ops@x\n"))
        .file("a", full("when_minute=0\nwhen_hour=0\nnotify_on=always\nnotify_email=ops@x\n"));
    let (out, _, _) = tree.simulate(&["--show-email", "--fail-events", "/f"], "202001010000", "202001010001");
    let subjects: Vec<&str> = out.lines().filter_map(|l| l.strip_prefix("    Subject: ")).collect();
    assert_eq!(
        subjects,
        ["hcron (testserver): \"/a\" executed at {user}@h1", "hcron (testserver): \"/f\" failed at {user}@h1: named in --fail-events"]
            .map(|s| s.replace("{user}", &nix::unistd::User::from_uid(nix::unistd::getuid()).unwrap().unwrap().name))
    );
    assert!(out.contains("\n    it broke\n"), "{out}");
}

#[test]
fn the_configured_chain_fan_out_and_recipient_limits_hold_in_the_simulation() {
    let tree = TreeBuilder::new()
        .file("loop", full("when_minute=0\nwhen_hour=0\nnext_event=loop\n"))
        .file("fan", full("when_minute=1\nwhen_hour=0\nnext_event=t1:t2\n"))
        .file("t1", "as_user=\nhost=h\ncommand=t1\n")
        .file("t2", "as_user=\nhost=h\ncommand=t2\n")
        .file("mail", full("when_minute=2\nwhen_hour=0\nnotify_email=u1@x,u2@x\n"));
    let config = tree.root().parent().unwrap().join("run.conf");
    std::fs::write(&config, "{'max_chain_events': 2, 'max_next_events': 1, 'max_email_notifications': 1}").unwrap();
    let (out, err, code) = tree.simulate(&["-c", config.to_str().unwrap()], "202001010000", "202001010003");
    assert_eq!((code, err.as_str()), (0, ""));
    let activations = |event: &str| out.lines().filter(|l| l.contains("|activate|") && l.contains(&format!("|eventname={event}|"))).count();
    assert_eq!(activations("/loop"), 2, "{out}");
    assert!(out.contains("|message=event chain limit (2) reached at (/loop).|type=error"), "{out}");
    assert_eq!((activations("/t1"), activations("/t2")), (0, 0), "{out}");
    assert!(out.contains("|message=next event limit (1) reached at (/t1:/t2).|type=error"), "{out}");
    assert!(out.contains("email notification recipients from (2) to (1)|type=error"), "{out}");
    assert_eq!(out.matches("|notify-email|").count(), 1, "{out}");
}

#[test]
fn every_hour_and_minute_of_a_day_fires_its_events_through_the_schedule_index() {
    let mut tree = TreeBuilder::new();
    for hour in 0..24 {
        for minute in 0..60 {
            tree = tree.file(&format!("h{hour:02}/m{minute:02}"), full(&format!("when_hour={hour}\nwhen_minute={minute}\n")));
        }
    }
    let (out, err, code) = tree.simulate(&[], "202001010000", "202001020000");
    assert_eq!((code, err.as_str()), (0, ""));
    let mut fired: Vec<(String, String)> = out
        .lines()
        .filter(|l| l.contains("|activate|") && l.contains("|triggername=clock|"))
        .map(|l| {
            let time = l.split('|').next().unwrap().to_owned();
            let event = l.split('|').find_map(|f| f.strip_prefix("eventname=")).unwrap().to_owned();
            (time, event)
        })
        .collect();
    fired.sort();
    let want: Vec<(String, String)> =
        (0..24).flat_map(|h| (0..60).map(move |m| (format!("2020-01-01T{h:02}:{m:02}:00"), format!("/h{h:02}/m{m:02}")))).collect();
    let wrong = fired.iter().zip(&want).find(|(got, want)| got != want);
    assert_eq!(wrong, None, "each event once, at its own minute");
    assert_eq!(fired.len(), 1440);
}

#[test]
fn a_delay_pauses_after_each_minute_whose_lines_are_shown_before_the_pause() {
    use std::io::BufRead;
    let tree = TreeBuilder::new().file("tick", full(""));
    let delay = std::time::Duration::from_millis(300);
    let started = std::time::Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hcron"))
        .args(["run", "-d", "0.3"])
        .arg(tree.root())
        .args(["202001010000", "202001010004"])
        .env("TZ", "UTC")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Lines as they come, so that each wait for one has a deadline.
    let (sender, lines) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || std::io::BufReader::new(stdout).lines().map_while(Result::ok).try_for_each(|line| sender.send(line)));
    let first_done = std::iter::from_fn(|| lines.recv_timeout(crate::bounded::PROCESS_LIMIT).ok())
        .find(|l| l.contains("|done|"))
        .expect("a first job, within the limit");
    assert!(first_done.starts_with("2020-01-01T00:00:00|"), "{first_done}");
    assert!(child.try_wait().unwrap().is_none(), "the first minute is shown while three pauses are still to come");
    assert!(crate::bounded::finish_bounded(child, "hcron run -d").status.success());
    let rest: Vec<String> = lines.iter().collect();
    assert_eq!(rest.iter().filter(|l| l.contains("|done|")).count(), 3, "{rest:?}");
    assert!(started.elapsed() >= delay * 4, "four minutes, four pauses: {:?}", started.elapsed());
}
