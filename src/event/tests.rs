//! Validation order and the examples of §3–§5 at the level of one event.

use std::collections::HashMap;
use std::sync::Arc;

use super::*;

#[derive(Default)]
struct Files(HashMap<String, Arc<SourceFile>>);

impl IncludeSource for Files {
    fn include(&self, path: &str) -> Option<Arc<SourceFile>> {
        self.0.get(path).cloned()
    }
}

fn context() -> LoadContext {
    LoadContext { host_name: "sched.example.com".into(), server_name: "sched".into() }
}

fn load_with(name: &str, content: &str, files: &Files) -> Event {
    let own = Part { path: name.into(), file: Arc::new(SourceFile::parse(content)) };
    Event::load(name.into(), Ok(own), files, &context())
}

fn load(name: &str, content: &str) -> Event {
    load_with(name, content, &Files::default())
}

const FULL: &str =
    "as_user=\nhost=h1\ncommand=true\nnotify_email=\nnotify_message=\nwhen_month=*\nwhen_day=*\nwhen_hour=*\nwhen_minute=*\nwhen_dow=*\n";

#[track_caller]
fn status(event: &Event, want: &str) {
    assert_eq!(format!("{}:{}", event.kind(), event.reason()), want);
}

/// The late-free value of a variable after the early pass.
fn early(event: &Event, name: &str) -> Option<String> {
    let context = context();
    let vars = early_vars(event.name(), event.definition()?, &context);
    vars.get(name).map(str::to_owned)
}

#[test]
fn full_event_is_accepted() {
    status(&load("/hello", FULL), "normal:passed");
}

#[test]
fn missing_fields_in_order() {
    // §19 scenarios 2, 3, 4.
    status(&load("/partial", "host=h1\ncommand=x\n"), "partial:not fully specified, missing field (as_user)");
    let no_dow = FULL.replace("when_dow=*\n", "");
    status(&load("/nodow", &no_dow), "partial:not fully specified, missing field (when_dow)");
    status(&load("/empty", ""), "partial:not fully specified, missing field (as_user)");
    status(&load("/comments", "# a\n  # b\n"), "partial:not fully specified, missing field (as_user)");
}

#[test]
fn bad_definition_names_the_line() {
    let event = load("/bad", "as_user=\nthis has no equals\n");
    status(&event, "unknown:bad definition");
    let finding = &event.findings()[0];
    assert_eq!((finding.path.as_ref(), finding.lineno, finding.text.as_deref()), ("/bad", Some(2), Some("this has no equals")));
}

#[test]
fn when_errors() {
    // §19 scenarios 6, 7, 8, 9, 10, 14.
    for (line, accepted) in [
        ("when_month=jan", false),
        ("when_dow=7", false),
        ("when_minute=", false),
        ("when_minute=*,abc", true),
        ("when_minute=abc,*", false),
        ("when_minute=50-10", true),
        ("when_minute=0-59/-5", true),
        ("when_minute=*/0", false),
        ("when_foo=1", false),
        ("WHEN_MINUTE=5", true),
        ("when_year=1999", false),
        ("when_year=2051", false),
        ("when_year=2050", true),
        ("when_expire=junk", true),
    ] {
        let event = load("/w", &format!("{FULL}{line}\n"));
        assert_eq!(event.is_accepted(), accepted, "{line}");
        if !accepted {
            status(&event, "unknown:bad when_* setting");
            assert_eq!(event.findings()[0].lineno, Some(11), "{line}");
        }
    }
}

#[test]
fn bad_when_wins_over_missing_fields() {
    status(&load("/x", "when_minute=99\n"), "unknown:bad when_* setting");
}

#[test]
fn quirks_are_warnings_on_accepted_events() {
    let event = load("/q", &format!("{FULL}when_minute=50-10\nwhen_hour=*,junk\n"));
    assert!(event.is_accepted());
    let severities: Vec<(Severity, Option<u32>)> = event.findings().iter().map(|f| (f.severity, f.lineno)).collect();
    assert_eq!(severities, [(Severity::Warning, Some(12)), (Severity::Warning, Some(11))], "in the order the fields were first set");
    assert_eq!(event.schedule().unwrap().set(when::Field::Minute), 0, "the reversed range selects nothing");
}

#[test]
fn templates() {
    // §4.2 and §19 scenario 25: the template check comes first.
    status(&load("/room/_tmpl", "template_name=_tmpl\nwhen_minute=garbage\n"), "template:template");
    status(&load("/room/t", "template_name=$HCRON_EVENT_NAME[-1]\n"), "template:template");
    status(&load("/room/t", &format!("{FULL}template_name=other\n")), "normal:passed");
}

#[test]
fn spacing_and_sequential_evaluation() {
    // §19 scenarios 20, 21, 22.
    let spaced = FULL.replace("as_user=\nhost=h1\ncommand=true\n", "  as_user =  \n host= h1 \ncommand = a=b=c\n");
    let event = load("/s", &spaced);
    status(&event, "normal:passed");
    assert_eq!(early(&event, "command").as_deref(), Some("a=b=c"));
    let event = load("/s", "command=$later\nlater=L\nx=1\nx=$x:2\nx=$x:3\nhost=$x[-1]\n");
    assert_eq!(early(&event, "command").as_deref(), Some("$later"));
    assert_eq!(early(&event, "host").as_deref(), Some("3"));
    let event = load("/s", "HCRON_EVENT_NAME=/zzz/yyy\nhost=$HCRON_EVENT_NAME[-1]\n");
    assert_eq!(early(&event, "host").as_deref(), Some("yyy"));
    assert_eq!(event.name().as_ref(), "/s");
}

#[test]
fn computed_schedule_and_late_only_variables() {
    // §19 scenarios 51, 52.
    let event = load("/sched/15", &FULL.replace("when_minute=*", "when_minute=$HCRON_EVENT_NAME[-1]"));
    let minute = |m| when::Minute { year: 2020, month: 1, day: 1, hour: 0, minute: m, dow: 3 };
    assert!(event.schedule().unwrap().matches(&minute(15)));
    assert!(!event.schedule().unwrap().matches(&minute(16)));
    let event = load("/late", &FULL.replace("when_minute=*", "when_minute=$HCRON_SCHEDULE_DATETIME[4]"));
    status(&event, "unknown:bad when_* setting");
}

#[test]
fn early_builtins() {
    let event = load("/b", "a=$HCRON_HOST_NAME $HCRON_SERVER_NAME [$HCRON_EVENT_CHAIN] #HCRON_SELF_CHAIN $HCRON_JOBID\n");
    assert_eq!(early(&event, "a").as_deref(), Some("sched.example.com sched [] 1 $HCRON_JOBID"));
}

#[test]
fn includes_position_and_failures() {
    // §19 scenarios 32–36.
    let mut files = Files::default();
    files.0.insert("/inc/common".into(), Arc::new(SourceFile::parse("host=inc-host\nx=1\n")));
    let event = load_with("/e", "host=before\ninclude /inc/common\n", &files);
    assert_eq!(early(&event, "host").as_deref(), Some("inc-host"));
    status(&load_with("/e", "include\t/inc/common\n", &files), "partial:not fully specified, missing field (as_user)");
    status(&load_with("/e", "include /inc/common extra\n", &files), "unknown:bad definition");
    status(&load_with("/e", "include /nonexistent\n", &files), "unknown:cannot process include(s)");
}

#[test]
fn unloadable_content() {
    let event = Event::load("/x".into(), Err(Unloadable { path: "/x".into(), why: "not UTF-8".into() }), &Files::default(), &context());
    status(&event, "unknown:cannot load file");
    assert!(event.definition().is_none());
}

#[test]
fn the_blank_template_is_rejected_for_its_when_fields() {
    // §3.4: the file `hcron event` creates, loaded unchanged.
    let blank = blank_event();
    status(&load("/blank", &blank), "unknown:bad when_* setting");
}
