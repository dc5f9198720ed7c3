//! `hcron conv --to-events` keeps a crontab's schedule: for generated
//! crontab lines, the converted events fire exactly when croner (a cron
//! implementation with Vixie cron's day-of-month OR day-of-week rule) says
//! the line runs.

use std::sync::Arc;

use hcron::event::{Event, LoadContext, NoIncludes, Part, SourceFile};
use hcron::schedule::next_times;
use jiff::civil::DateTime;
use proptest::prelude::*;

/// A cron field over `min..=max`: `*`, a value, a range, a list, or a step.
fn field(min: u32, max: u32) -> impl Strategy<Value = String> {
    prop_oneof![day_field(min, max), (1..=(max - min).max(1)).prop_map(|s| format!("*/{s}"))]
}

/// A day field: as [`field`] but without `*/N`. Cron implementations
/// disagree there: Vixie cron (Debian's, and `hcron conv`) takes a day field
/// starting with `*` as unrestricted for the day-of-month OR day-of-week
/// rule, croner only a bare `*`.
fn day_field(min: u32, max: u32) -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_owned()),
        (min..=max).prop_map(|v| v.to_string()),
        (min..=max, min..=max).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
        proptest::collection::btree_set(min..=max, 2..4).prop_map(|set| set
            .into_iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(",")),
    ]
}

fn month() -> impl Strategy<Value = String> {
    prop_oneof![field(1, 12), prop::sample::select(vec!["jan", "Mar", "oct"]).prop_map(str::to_owned)]
}

fn dow() -> impl Strategy<Value = String> {
    prop_oneof![day_field(0, 7), prop::sample::select(vec!["sun", "Mon", "fri", "5-7", "1-5"]).prop_map(str::to_owned)]
}

fn times_of_events(line: &str, start: DateTime, count: usize) -> Vec<DateTime> {
    let (files, problems) = hcron::conv::to_events(line, "h", "");
    assert!(problems.is_empty(), "{line}: {problems:?}");
    let context = LoadContext { host_name: "h".into(), server_name: "s".into() };
    let mut times: Vec<DateTime> = files
        .iter()
        .flat_map(|file| {
            let name: Arc<str> = format!("/{}", file.name).into();
            let own = Part { path: name.clone(), file: Arc::new(SourceFile::parse(&file.content.replace("command=", "command=x"))) };
            let event = Event::load(name, Ok(own), &NoIncludes, &context);
            let schedule = *event.schedule().unwrap_or_else(|| panic!("{line}: {} {}", event.kind(), event.reason()));
            next_times(&schedule, start, count)
        })
        .collect();
    times.sort();
    times.dedup();
    times.truncate(count);
    times
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn converted_events_fire_when_cron_would(minute in field(0, 59), hour in field(0, 23), day in day_field(1, 31), month in month(), dow in dow()) {
        let line = format!("{minute} {hour} {day} {month} {dow} command");
        let start: DateTime = "2025-01-01T00:00".parse().unwrap();
        let cron: croner::Cron = format!("{minute} {hour} {day} {month} {dow}").parse().unwrap();
        let expected: Vec<DateTime> = cron.iter_after(start).take_while(|t| t.year() <= 2050).take(30).collect();
        prop_assert_eq!(times_of_events(&line, start, 30), expected, "{}", line);
    }
}
