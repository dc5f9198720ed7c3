//! The failover guide (`shared/seeds/001_a121a8d72c5cea52.txt`): its three
//! set-ups produce exactly the notifications it shows when the first event
//! fails. The event files are the guide's, trailing blanks included.

use crate::util::{TreeBuilder, assert_lines, expected};

const SIMPLE: &str = "as_user=\nhost=thishostdoesnotexist\ncommand=/bin/true\nnotify_email=\nnotify_message=\nwhen_month=*\nwhen_day=*\nwhen_hour=*\nwhen_minute=*\nwhen_dow=*\ntemplate_name=\nfailover_event=failover_simple\n";

fn failover(notify_email: &str, template_name: &str) -> String {
    format!(
        "as_user=  \nhost=localhost  \ncommand=/bin/true  \nnotify_email={notify_email}  \nnotify_message=Failed event ($HCRON_EVENT_CHAIN[0])  \nwhen_month=*  \nwhen_day=*  \nwhen_hour=*  \nwhen_minute=*  \nwhen_dow=*  \ntemplate_name={template_name}  \nfailover_event=\n"
    )
}

/// (recipient, body) of every message `--show-email` printed, in order.
fn messages(out: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut lines = out.lines().peekable();
    while let Some(line) = lines.next() {
        if !line.contains("|notify-email|") {
            continue;
        }
        let mut block = Vec::new();
        while let Some(next) = lines.next_if(|l| l.starts_with("    ") || l.is_empty()) {
            block.push(next.trim_start_matches("    "));
        }
        let to = block.iter().find_map(|l| l.strip_prefix("To: ")).unwrap().to_owned();
        let body = block.iter().skip_while(|l| !l.is_empty()).skip(1).copied().collect::<Vec<_>>().join("\n");
        found.push((to, body));
    }
    found
}

#[test]
fn simple_case() {
    let tree = TreeBuilder::new().file("simple", SIMPLE).file("failover_simple", failover("ops@example.com", "failover_simple"));
    assert_eq!(tree.hcron(&["list", "--show-status"]).0, "rejected:/failover_simple\naccepted:/simple\n", "as the guide shows");
    let (out, _, code) = tree.simulate(&["--show-email", "--fail-events", "/simple"], "202001010000", "202001010001");
    assert_eq!(code, 0);
    let from_notify = out.lines().skip_while(|l| !l.contains("|notify-email|")).map(|l| format!("{l}\n")).collect::<String>();
    assert_lines(
        &from_notify,
        &expected(
            "|2020-01-01T00:00:00|notify-email|{user}|addrs=ops@example.com|eventname=/failover_simple
             |    From: {user}@{fqdn}
             |    To: ops@example.com
             |    Subject: hcron (testserver): \"/failover_simple\" executed at {user}@localhost
             |
             |    Failed event (/simple)
             |2020-01-01T00:00:00|done|{user}|eventname=/failover_simple|jobgid=J1|jobid=J2|nexteventnames=|nexteventtype=None|nnextevents=0|pjobid=J1",
        ),
    );
}

#[test]
fn common_failover_event() {
    let tree = TreeBuilder::new()
        .file("failover/common", failover("ops@example.com", "common"))
        .file("nightly", SIMPLE.replace("failover_event=failover_simple", "failover_event=/failover/common"))
        .file("hourly", SIMPLE.replace("failover_event=failover_simple", "failover_event=/failover/common"));
    let (out, _, _) = tree.simulate(&["--show-email", "--fail-events", "/nightly:/hourly"], "202001010000", "202001010001");
    assert_eq!(
        messages(&out),
        [("ops@example.com".into(), "Failed event (/hourly)".into()), ("ops@example.com".into(), "Failed event (/nightly)".into())]
    );
}

#[test]
fn targeted_failover_events_through_symlinks() {
    let tree = TreeBuilder::new()
        .file("failover/email_target_template", failover("$HCRON_EVENT_NAME[-1]", "email_target_template"))
        .link("failover/bob@abc.xyz", "email_target_template")
        .link("failover/pager@abc.xyz", "email_target_template")
        .file("job1", SIMPLE.replace("failover_event=failover_simple", "failover_event=/failover/bob@abc.xyz"))
        .file("job2", SIMPLE.replace("failover_event=failover_simple", "failover_event=/failover/pager@abc.xyz"));
    let (out, _, _) = tree.simulate(&["--show-email", "--fail-events", "/job1:/job2"], "202001010000", "202001010001");
    // As in the original, the links are normal events of their own (the
    // template's name differs from theirs) and run every minute too; the
    // guide does not say so. Their own runs come first (clock jobs), then
    // the failovers of /job1 and /job2.
    assert_eq!(
        messages(&out),
        [
            ("bob@abc.xyz".into(), "Failed event (/failover/bob@abc.xyz)".into()),
            ("pager@abc.xyz".into(), "Failed event (/failover/pager@abc.xyz)".into()),
            ("bob@abc.xyz".into(), "Failed event (/job1)".into()),
            ("pager@abc.xyz".into(), "Failed event (/job2)".into()),
        ]
    );
}
