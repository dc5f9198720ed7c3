//! Writing a generated case to disk, running a program on it, masking what
//! cannot match, and the fixture file format.
//!
//! A fixture is the original's answer to every command of one case:
//!
//! ```text
//! seed 17
//! decisions 2 14                 (deliberate differences, if any, with details)
//! $ run -c CONF EVENTS 202001010000 202001010010
//! > one line of standard output
//! ! one line of standard error
//! = 0                           (exit status)
//! ```
//!
//! Masked (they cannot match): `queuetime` (real clock), the `elapsed` of
//! `load-events` and `work`, `version` of the `start` line, job ids
//! (numbered by first appearance: `#1`, `#2`, ...), the host's FQDN
//! (`@FQDN@`) and the caller's user name (`@USER@`).

use std::collections::HashMap;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::generate::{Case, Entry};
use crate::bounded::Bounded;

/// The host name both the original and the project run under (a UTS
/// namespace of their own): the FQDN then matches, and so do the lines it
/// lengthens (text wrapping, tab stops), and it can be masked without
/// touching any other text.
pub const ORACLE_HOST: &str = "corpus-oracle.invalid";

/// Runs `program` as [`ORACLE_HOST`] with an `/etc/hosts` of its own that
/// names it, so that the FQDN look-up answers at once without asking DNS.
fn in_namespace(program: &[&str], dir: &Path) -> Command {
    crate::host_namespace::as_host(program, ORACLE_HOST, &format!("127.0.0.1 {ORACLE_HOST} localhost\n::1 localhost\n"), dir)
}

/// Writes the case under `dir`: `<server>/events/...` and `hcron.conf`.
pub fn write(case: &Case, dir: &Path) {
    let events = dir.join(&case.server).join("events");
    std::fs::create_dir_all(&events).unwrap();
    for entry in &case.entries {
        let (Entry::File { path, .. } | Entry::Link { path, .. } | Entry::Dir { path }) = entry;
        let path = events.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        match entry {
            Entry::File { content, .. } => std::fs::write(&path, content).unwrap(),
            Entry::Link { target, .. } => symlink(target, &path).unwrap(),
            Entry::Dir { .. } => std::fs::create_dir_all(&path).unwrap(),
        }
    }
    if let Some(config) = &case.config {
        std::fs::write(dir.join("hcron.conf"), config).unwrap();
    }
}

/// The command line with the placeholders filled in (paths relative to the case directory).
pub fn arguments(case: &Case, command: &[String]) -> Vec<String> {
    let events = format!("{}/events", case.server);
    command
        .iter()
        .map(|a| match a.as_str() {
            "EVENTS" => events.clone(),
            "CONF" => "hcron.conf".into(),
            _ => a.clone(),
        })
        .collect()
}

/// What one command printed, masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub command: String,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
    pub status: i32,
}

/// Runs `program` (its first words; the command's follow) in `dir`, TZ=UTC,
/// under the host name [`ORACLE_HOST`].
pub fn run(program: &[&str], dir: &Path, case: &Case, command: &[String], fqdn: &str, user: &str) -> Answer {
    let output = in_namespace(program, dir)
        .args(arguments(case, command))
        .current_dir(dir)
        .env("TZ", "UTC")
        .env("LC_ALL", "C.UTF-8")
        .output_bounded()
        .unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let mut ids = HashMap::new();
    let stdout = text(&output.stdout).lines().map(|l| mask(l, &mut ids, fqdn, user)).collect();
    let stderr = text(&output.stderr).lines().map(|l| mask(l, &mut ids, fqdn, user)).collect();
    Answer { command: command.join(" "), stdout, stderr, status: output.status.code().unwrap_or(-1) }
}

/// Masks one line (see the module comment); an empty `fqdn` or `user` is left as it is.
pub fn mask(line: &str, ids: &mut HashMap<String, usize>, fqdn: &str, user: &str) -> String {
    let mut fields: Vec<String> = line.split('|').map(String::from).collect();
    let is_log = fields.len() >= 3 && fields[0].len() >= 16 && fields[0].as_bytes()[4] == b'-' && fields[0].as_bytes()[10] == b'T';
    if is_log {
        let kind = fields[1].clone();
        if !user.is_empty() && fields[2] == user {
            fields[2] = "@USER@".into();
        }
        for field in fields.iter_mut().skip(3) {
            let Some((key, value)) = field.split_once('=') else { continue };
            let masked = match key {
                "queuetime" => Some("*".to_string()),
                "elapsed" if kind == "load-events" || kind == "work" => Some("*".to_string()),
                "version" if kind == "start" => Some("*".to_string()),
                "jobid" | "jobgid" | "pjobid" => {
                    let next = ids.len() + 1;
                    Some(format!("#{}", ids.entry(value.to_string()).or_insert(next)))
                }
                _ => None,
            };
            if let Some(masked) = masked {
                *field = format!("{key}={masked}");
            }
        }
    }
    let line = fields.join("|");
    let line = if fqdn.is_empty() { line } else { line.replace(fqdn, "@FQDN@") };
    if user.is_empty() { line } else { replace_word(&line, user, "@USER@") }
}

/// Replaces `word` where it stands alone (not inside a longer name).
fn replace_word(line: &str, word: &str, with: &str) -> String {
    let part_of_name = |c: char| c.is_alphanumeric() || c == '_' || c == '-' || c == '.';
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find(word) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + word.len()..].chars().next();
        out += &rest[..at];
        if before.is_some_and(part_of_name) || after.is_some_and(part_of_name) {
            out += word;
        } else {
            out += with;
        }
        rest = &rest[at + word.len()..];
    }
    out + rest
}

/// A fixture: the original's answers, and the deliberate differences that apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixture {
    pub seed: u64,
    /// `(decision number, its arguments)`.
    pub decisions: Vec<(u32, Vec<String>)>,
    pub answers: Vec<Answer>,
}

impl Fixture {
    pub fn render(&self) -> String {
        let mut out = format!("seed {}\n", self.seed);
        for (number, args) in &self.decisions {
            out += &format!("decisions {number}{}\n", args.iter().map(|a| format!(" {a}")).collect::<String>());
        }
        for answer in &self.answers {
            out += &format!("$ {}\n", answer.command);
            answer.stdout.iter().for_each(|l| out += &format!("> {l}\n"));
            answer.stderr.iter().for_each(|l| out += &format!("! {l}\n"));
            out += &format!("= {}\n", answer.status);
        }
        out
    }

    pub fn parse(text: &str) -> Fixture {
        let mut fixture = Fixture { seed: 0, decisions: Vec::new(), answers: Vec::new() };
        for line in text.lines() {
            let (tag, rest) = line.split_at(line.find(' ').unwrap_or(line.len()));
            let rest = rest.strip_prefix(' ').unwrap_or(rest);
            let answer = fixture.answers.last_mut();
            match (tag, answer) {
                ("seed", _) => fixture.seed = rest.parse().unwrap(),
                ("decisions", _) => {
                    let mut words = rest.split(' ');
                    let number = words.next().unwrap().parse().unwrap();
                    fixture.decisions.push((number, words.map(String::from).collect()));
                }
                ("$", _) => fixture.answers.push(Answer { command: rest.into(), stdout: vec![], stderr: vec![], status: 0 }),
                (">", Some(answer)) => answer.stdout.push(rest.into()),
                ("!", Some(answer)) => answer.stderr.push(rest.into()),
                ("=", Some(answer)) => answer.status = rest.parse().unwrap(),
                _ => panic!("bad fixture line {line:?}"),
            }
        }
        fixture
    }
}

/// Where the committed fixtures live.
pub fn fixture_dir(set: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus").join(set)
}
