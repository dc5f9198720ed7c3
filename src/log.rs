//! The activity log (§15): one line per entry,
//! `<timestamp>|<type>|<user>|<key>=<value>|...`, keys sorted.
//!
//! Values are escaped (decisions 12) so that a `|`, a newline or a
//! backslash in an event name or a message cannot break a line: `\` becomes
//! `\\`, `|` becomes `\|`, newline and carriage return become `\n` and `\r`.
//! Text without those characters is written verbatim, as the original did.

use std::fmt::Write as _;

/// One log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The scheduler clock's time, formatted (see [`crate::clock::log_timestamp`]).
    pub time: String,
    /// The entry type, e.g. `queue`, `activate`, `message`.
    pub kind: &'static str,
    /// The user concerned, or empty.
    pub user: String,
    /// Key/value pairs; written sorted by key.
    pub fields: Vec<(&'static str, String)>,
}

impl Entry {
    /// An entry with no fields yet.
    pub fn new(time: String, kind: &'static str, user: &str) -> Entry {
        Entry { time, kind, user: user.to_owned(), fields: Vec::new() }
    }

    /// Adds a field.
    pub fn field(mut self, key: &'static str, value: impl ToString) -> Entry {
        self.fields.push((key, value.to_string()));
        self
    }

    /// The line, without its newline.
    pub fn line(&self) -> String {
        let mut fields: Vec<&(&str, String)> = self.fields.iter().collect();
        fields.sort_by_key(|(key, _)| *key);
        let mut line = String::with_capacity(64 + fields.iter().map(|(k, v)| k.len() + v.len() + 2).sum::<usize>());
        line += &self.time;
        line.push('|');
        line += self.kind;
        line.push('|');
        escape_into(&mut line, &self.user);
        for (key, value) in fields {
            let _ = write!(line, "|{key}=");
            escape_into(&mut line, value);
        }
        line
    }
}

fn escape_into(out: &mut String, value: &str) {
    if !value.contains(['\\', '|', '\n', '\r']) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// A line read back: `(time, type, user, fields)` with values unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedLine {
    /// The timestamp as written.
    pub time: String,
    /// The entry type.
    pub kind: String,
    /// The user, or empty.
    pub user: String,
    /// Key/value pairs in line order.
    pub fields: Vec<(String, String)>,
}

/// Reads a line written by [`Entry::line`]; `None` when it is not one.
pub fn parse_line(line: &str) -> Option<ParsedLine> {
    let mut parts = split_unescaped(line).into_iter();
    let time = parts.next()?;
    let kind = parts.next()?;
    let user = parts.next()?;
    let fields = parts.map(|field| field.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned()))).collect::<Option<Vec<_>>>()?;
    Some(ParsedLine { time, kind, user, fields })
}

/// The lines of `user` from the log read by `reader`, whose minute is
/// `since` (`YYYY-MM-DDTHH:MM`, or a prefix) or later, oldest first: the
/// newest ones only, at most `limit` bytes of them, and whether older ones
/// were left out. What a user may see of the root daemon's log.
pub fn lines_of(reader: impl std::io::BufRead, user: &str, since: &str, limit: usize) -> std::io::Result<(Vec<String>, bool)> {
    let mut kept = std::collections::VecDeque::new();
    let (mut size, mut truncated) = (0, false);
    for line in reader.lines() {
        let line = line?;
        let Some(entry) = parse_line(&line) else { continue };
        if entry.user != user || entry.time.get(..16).unwrap_or(&entry.time) < since {
            continue;
        }
        size += line.len();
        kept.push_back(line);
        while size > limit {
            size -= kept.pop_front().map_or(0, |l: String| l.len());
            truncated = true;
        }
    }
    Ok((kept.into(), truncated))
}

/// Splits at unescaped `|` and unescapes each part.
fn split_unescaped(line: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        let part = parts.last_mut().expect("never empty");
        match c {
            '|' => parts.push(String::new()),
            '\\' => match chars.next() {
                Some('n') => part.push('\n'),
                Some('r') => part.push('\r'),
                Some(other) => part.push(other),
                None => part.push('\\'),
            },
            c => part.push(c),
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sorted_and_plain_values_verbatim() {
        let entry = Entry::new("2020-01-01T00:00:00".into(), "done", "alice")
            .field("pjobid", "a1")
            .field("eventname", "/a/b")
            .field("nexteventtype", "None");
        assert_eq!(entry.line(), "2020-01-01T00:00:00|done|alice|eventname=/a/b|nexteventtype=None|pjobid=a1");
    }

    #[test]
    fn separators_in_values_are_escaped_and_read_back() {
        let entry = Entry::new("t".into(), "message", "").field("message", "a|b=c\nd\\e\r");
        assert_eq!(entry.line(), "t|message||message=a\\|b=c\\nd\\\\e\\r");
        let parsed = parse_line(&entry.line()).unwrap();
        assert_eq!(parsed.fields, [("message".to_owned(), "a|b=c\nd\\e\r".to_owned())]);
        assert_eq!((parsed.kind.as_str(), parsed.user.as_str()), ("message", ""));
    }

    #[test]
    fn not_a_log_line() {
        assert_eq!(parse_line("just text"), None);
        assert_eq!(parse_line("t|k|u|novalue"), None);
    }

    #[test]
    fn a_user_gets_their_own_lines_from_a_minute_on_the_newest_within_the_limit() {
        let log = "2020-01-01T00:00:10|done|alice|a=1\n\
                   2020-01-01T00:01:00|done|bob|a=2\n\
                   not a line\n\
                   2020-01-01T00:01:30|done|alice|a=3\n\
                   2020-01-01T00:02:00|status||a=4\n\
                   2020-01-01T00:03:00|done|alice|a=5\n\
                   2020-01-01T00:04:00|done|alice|a=6\n";
        let lines = |since: &str, limit| lines_of(std::io::Cursor::new(log), "alice", since, limit).unwrap();
        let (all, truncated) = lines("2020-01-01", 1 << 20);
        let alice = [
            "2020-01-01T00:00:10|done|alice|a=1",
            "2020-01-01T00:01:30|done|alice|a=3",
            "2020-01-01T00:03:00|done|alice|a=5",
            "2020-01-01T00:04:00|done|alice|a=6",
        ];
        assert_eq!(all, alice);
        assert!(!truncated);
        assert_eq!(lines("2020-01-01T00:01", 1 << 20).0, alice[1..], "the minute given is included, earlier ones not");
        let line = all[0].len();
        assert_eq!(lines("2020-01-01", 2 * line), (alice[2..].iter().map(|l| l.to_string()).collect(), true), "the newest that fit");
        assert_eq!(lines("2020-01-01", 4 * line), (all.clone(), false), "exactly at the limit");
    }
}
