//! Converting between crontabs and event trees (§17, decisions 15).
//!
//! Every crontab entry converts or is reported: names and `7` for Sunday
//! become numbers, `*/5` is kept, `@daily` and friends are expanded, cron's
//! day-of-month OR day-of-week rule becomes two events (hcron ANDs all
//! fields). Variable settings, `%` in commands and `@reboot` cannot be
//! expressed and are reported. Pure: text in, files and problems out.

use crate::event::when::{Field, parse_field};
use crate::event::{BLANK_FIELDS, LineKind, SourceFile};

/// One generated event file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFile {
    /// Its name in the target directory.
    pub name: String,
    /// Its content (no final newline, as the original).
    pub content: String,
}

/// Converts a crontab into event files; the problems name their lines.
pub fn to_events(crontab: &str, host: &str, mail: &str) -> (Vec<EventFile>, Vec<String>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    let mut comments: Vec<&str> = Vec::new();
    for (number, raw) in crontab.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        if raw.is_empty() {
            continue;
        }
        if raw.starts_with('#') {
            comments.push(raw);
            continue;
        }
        match entry(raw) {
            Ok((fields, command)) => {
                let name = files.iter().filter(|f: &&EventFile| !f.name.contains('.')).count().to_string();
                let [minute, hour, day, month, dow] = fields;
                // Cron runs an entry when the day of month OR the day of week matches,
                // if both are restricted; hcron ANDs them, so each side gets an event.
                let halves = if !day.starts_with('*') && !dow.starts_with('*') {
                    vec![(name.clone(), day.clone(), "*".to_owned()), (format!("{name}.dow"), "*".to_owned(), dow.clone())]
                } else {
                    vec![(name, day, dow)]
                };
                for (name, day, dow) in halves {
                    let when = [
                        ("when_month", month.as_str()),
                        ("when_day", &day),
                        ("when_hour", &hour),
                        ("when_minute", &minute),
                        ("when_dow", &dow),
                    ];
                    files.push(EventFile { name, content: event(&comments, host, &command, mail, &when) });
                }
                comments.clear();
            }
            Err(why) => problems.push(format!("line {number}: {why}: {raw}")),
        }
    }
    (files, problems)
}

/// The five hcron fields and the command of one crontab entry.
fn entry(line: &str) -> Result<([String; 5], String), String> {
    if let Some(keyword) = line.strip_prefix('@') {
        let (keyword, command) = keyword.split_once(char::is_whitespace).unwrap_or((keyword, ""));
        let fields = match keyword {
            "yearly" | "annually" => ["0", "0", "1", "1", "*"],
            "monthly" => ["0", "0", "1", "*", "*"],
            "weekly" => ["0", "0", "*", "*", "0"],
            "daily" | "midnight" => ["0", "0", "*", "*", "*"],
            "hourly" => ["0", "*", "*", "*", "*"],
            "reboot" => return Err("@reboot has no equivalent: hcron runs on a schedule, not at boot".into()),
            other => return Err(format!("unknown @{other}")),
        };
        return Ok((fields.map(str::to_owned), command_of(command.trim())?));
    }
    if is_variable(line) {
        return Err("a variable setting cannot be converted (set it in the command instead)".into());
    }
    let mut fields = Vec::new();
    let mut rest = line.trim_start();
    while fields.len() < 5 && !rest.is_empty() {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        fields.push(&rest[..end]);
        rest = rest[end..].trim_start();
    }
    if fields.len() < 5 {
        return Err("not a crontab entry (fewer than five fields)".into());
    }
    let command = rest;
    let converted = [
        field(fields[0], Field::Minute, &[])?,
        field(fields[1], Field::Hour, &[])?,
        field(fields[2], Field::Day, &[])?,
        field(fields[3], Field::Month, &MONTHS)?,
        dow_field(fields[4])?,
    ];
    Ok((converted, command_of(command)?))
}

/// `NAME=value` or `NAME = value`: an environment setting, not an entry.
fn is_variable(line: &str) -> bool {
    let name_end = line.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(line.len());
    name_end > 0 && !line.starts_with(|c: char| c.is_ascii_digit()) && line[name_end..].trim_start().starts_with('=')
}

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// A cron field with names replaced by numbers, checked by hcron's parser.
fn field(text: &str, which: Field, names: &[&str]) -> Result<String, String> {
    let lower = text.to_ascii_lowercase();
    let mut out = String::new();
    let mut word = String::new();
    for c in lower.chars().chain(std::iter::once(',')) {
        if c.is_ascii_alphabetic() {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            let index = names
                .iter()
                .position(|n| word.starts_with(n) && word.len() >= 3)
                .ok_or_else(|| format!("unknown name ({word}) in {}", which.name()))?;
            let first = if which == Field::Month { 1 } else { 0 };
            out += &(index + first).to_string();
            word.clear();
        }
        out.push(c);
    }
    out.pop();
    parse_field(which, &out).map_err(|e| format!("{}: {e}", which.name()))?;
    Ok(out)
}

/// The day-of-week field: names, and `7` (Sunday) folded into `0`.
fn dow_field(text: &str) -> Result<String, String> {
    let mut parts = Vec::new();
    for element in text.split(',') {
        let (range, step) = element.split_once('/').map_or((element, None), |(r, s)| (r, Some(s)));
        let numeric = field(range, Field::Dow, &DAYS).or_else(|_| {
            // `7` stands for Sunday: alone, or at the top of a range.
            let replaced = match range.split_once('-') {
                Some(("7", "7")) => "0".to_owned(),
                Some((low, "7")) if step.is_none() => format!("{low}-6,0"),
                _ if range == "7" => "0".to_owned(),
                _ => range.to_owned(),
            };
            field(&replaced, Field::Dow, &DAYS)
        })?;
        parts.push(match step {
            Some(step) => format!("{numeric}/{step}"),
            None => numeric,
        });
    }
    let joined = parts.join(",");
    parse_field(Field::Dow, &joined).map_err(|e| format!("when_dow: {e}"))?;
    Ok(joined)
}

/// A command, refusing cron's `%` (newline and standard input), keeping `\%`.
fn command_of(command: &str) -> Result<String, String> {
    let unescaped = command.replace("\\%", "\u{0}");
    if unescaped.contains('%') {
        return Err("'%' in a command (cron's standard input) cannot be converted".into());
    }
    Ok(unescaped.replace('\u{0}', "%"))
}

fn event(comments: &[&str], host: &str, command: &str, mail: &str, when: &[(&str, &str)]) -> String {
    let mut lines = vec!["# generated by hcron-conv".to_owned()];
    lines.extend(comments.iter().map(|c| (*c).to_owned()));
    for field in BLANK_FIELDS {
        let value = match field {
            "host" => host,
            "command" => command,
            "notify_email" => mail,
            _ => when.iter().find(|(name, _)| *name == field).map_or("", |(_, v)| *v),
        };
        lines.push(format!("{field}={value}"));
    }
    lines.join("\n")
}

/// Converts event files (path, content) into a crontab; problems name their files.
pub fn to_crontab(files: &[(String, String)], shell: &str) -> (String, Vec<String>) {
    let mut lines = vec!["# generated by hcron-conv".to_owned()];
    let mut problems = Vec::new();
    for (path, content) in files {
        let file = SourceFile::parse(content);
        let mut values: Vec<(&str, &str)> = Vec::new();
        let mut include = false;
        for line in file.lines() {
            match file.kind(line) {
                LineKind::Assign { name, value } => {
                    values.retain(|(n, _)| *n != name);
                    values.push((name, value));
                }
                LineKind::Include { .. } => include = true,
                LineKind::Bad => {}
            }
        }
        let get = |name: &str| values.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        if include {
            problems.push(format!("{path}: includes cannot be resolved outside a tree; not converted"));
            continue;
        }
        let when: Vec<Option<&str>> = ["when_minute", "when_hour", "when_day", "when_month", "when_dow"].map(get).into();
        if when.iter().any(Option::is_none) {
            problems.push(format!("{path}: a when_* field is missing; not converted"));
            continue;
        }
        if get("when_year").is_some_and(|y| y != "*") {
            problems.push(format!("{path}: when_year cannot be expressed in a crontab; not converted"));
            continue;
        }
        let when: Vec<&str> = when.into_iter().flatten().collect();
        if !when[2].starts_with('*') && !when[4].starts_with('*') {
            problems
                .push(format!("{path}: both when_day and when_dow are restricted; cron would run on either, hcron on both; not converted"));
            continue;
        }
        lines.push(format!("# {path}"));
        match get("command").filter(|c| !c.is_empty()) {
            None => lines.push("# skipped; no command".to_owned()),
            Some(command) => {
                let prefix = match (get("as_user").unwrap_or_default(), get("host").unwrap_or_default()) {
                    (_, "") => String::new(),
                    ("", host) => format!("{shell} {host}"),
                    (user, host) => format!("{shell} {user}@{host}"),
                };
                lines.push(format!("{} {prefix} {}", when.join(" "), command.replace('%', "\\%")));
            }
        }
    }
    (lines.join("\n"), problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn when(file: &EventFile, field: &str) -> String {
        file.content.lines().find_map(|l| l.strip_prefix(&format!("{field}="))).unwrap().to_owned()
    }

    #[test]
    fn crontab_5_examples() {
        let crontab = "# header\nSHELL=/bin/bash\n*/5 * * * * a\n0 2 * * 1-5 b\n30 4 1 Jan * c\n15 3 * * Sun d\n0 0 * jan,feb * e\n@daily f\n@reboot g\n# note\n0 0 * Foo * h\n5 6 7 8 7 i\n0 0 1,15 * 1 j\n5 4 * * 5-7 k\n0 12 * * * echo 50\\% done\n0 12 * * * date +%s\n";
        let (files, problems) = to_events(crontab, "myhost", "me@example.com");
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["0", "1", "2", "3", "4", "5", "6", "6.dow", "7", "7.dow", "8", "9"]);
        assert!(files[0].content.starts_with("# generated by hcron-conv\n# header\ndescription=\n"), "{}", files[0].content);
        assert_eq!((when(&files[0], "when_minute"), when(&files[0], "command")), ("*/5".into(), "a".into()));
        assert_eq!(when(&files[2], "when_month"), "1");
        assert_eq!(when(&files[3], "when_dow"), "0");
        assert_eq!(when(&files[4], "when_month"), "1,2");
        assert_eq!([when(&files[5], "when_minute"), when(&files[5], "when_hour"), when(&files[5], "when_dow")], ["0", "0", "*"]);
        assert!(files[6].content.contains("\n# note\n") && when(&files[6], "when_day") == "7");
        assert_eq!(when(&files[7], "when_dow"), "0", "7 is Sunday");
        assert_eq!([when(&files[8], "when_day"), when(&files[8], "when_dow")], ["1,15", "*"], "day of month half");
        assert_eq!([when(&files[9], "when_day"), when(&files[9], "when_dow")], ["*", "1"], "day of week half");
        assert_eq!(when(&files[10], "when_dow"), "5-6,0");
        let (sunday, _) = to_events("0 0 * * 7-7 x\n0 0 * * 0-7 y\n", "h", "");
        assert_eq!([when(&sunday[0], "when_dow"), when(&sunday[1], "when_dow")], ["0", "0-6,0"]);
        assert_eq!(when(&files[11], "command"), "echo 50% done");
        assert!(
            files.iter().all(|f| when(f, "host") == "myhost" && when(f, "notify_email") == "me@example.com" && !f.content.ends_with('\n'))
        );
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].starts_with("line 2: a variable setting"));
        assert!(problems[1].starts_with("line 9: @reboot has no equivalent"));
        assert!(problems[2].starts_with("line 11: unknown name (foo)"));
        assert!(problems[3].starts_with("line 16: '%' in a command"));
    }

    #[test]
    fn short_lines_variables_and_bad_days_of_week() {
        assert_eq!(entry("* * * echo"), Err("not a crontab entry (fewer than five fields)".into()));
        for (line, want) in [("X=1", true), ("X = 1", true), ("_a1=", true), ("1X=1", false), ("=1", false), ("PATH /bin", false)] {
            assert_eq!(is_variable(line), want, "{line:?}");
        }
        assert_eq!(dow_field("1-7"), Ok("1-6,0".into()));
        assert!(dow_field("1-7/2").is_err(), "a stepped range up to 7 is not rewritten");
        assert!(dow_field("8").is_err());
        assert_eq!(dow_field("7/2"), Ok("0/2".into()));
    }

    #[test]
    fn a_when_year_of_star_converts_and_any_other_does_not() {
        let body = "command=x\nwhen_minute=1\nwhen_hour=2\nwhen_day=*\nwhen_month=*\nwhen_dow=*";
        let files = [("/any".to_owned(), format!("{body}\nwhen_year=*")), ("/y".to_owned(), format!("{body}\nwhen_year=2030"))];
        let (crontab, problems) = to_crontab(&files, "ssh");
        assert_eq!(crontab, "# generated by hcron-conv\n# /any\n1 2 * * *  x");
        assert_eq!(problems, ["/y: when_year cannot be expressed in a crontab; not converted"]);
    }

    #[test]
    fn events_back_to_a_crontab() {
        let files = [
            (
                "/a".to_owned(),
                "as_user=bob\nhost=h1\ncommand=run a\nwhen_minute=*\nwhen_hour=*\nwhen_day=*\nwhen_month=*\nwhen_dow=*".to_owned(),
            ),
            (
                "/b".to_owned(),
                "as_user=\nhost=\ncommand=run b\nwhen_minute=5\nwhen_hour=2\nwhen_day=*\nwhen_month=*\nwhen_dow=1-5".to_owned(),
            ),
            ("/c".to_owned(), "command=\nwhen_minute=*\nwhen_hour=*\nwhen_day=*\nwhen_month=*\nwhen_dow=*".to_owned()),
            ("/d".to_owned(), "command=x\nwhen_minute=*\nwhen_hour=*\nwhen_day=*\nwhen_month=*".to_owned()),
            ("/e".to_owned(), "host=h\ncommand=x\nwhen_minute=0\nwhen_hour=0\nwhen_day=13\nwhen_month=*\nwhen_dow=5".to_owned()),
        ];
        let (crontab, problems) = to_crontab(&files, "ssh");
        assert_eq!(
            crontab,
            "# generated by hcron-conv\n# /a\n* * * * * ssh bob@h1 run a\n# /b\n5 2 * * 1-5  run b\n# /c\n# skipped; no command"
        );
        assert_eq!(problems.len(), 2);
        assert!(problems[0].starts_with("/d: a when_* field is missing") && problems[1].starts_with("/e: both when_day and when_dow"));
    }
}
