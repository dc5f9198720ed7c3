//! A tree written into a temporary directory, loaded through the library or
//! examined with the real `hcron` binary.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bounded::Bounded;

use hcron::config::Config;
use hcron::event::LoadContext;
use hcron::tree::{self, Loaded, LocalFs, Options};
use jiff::ToSpan;
use jiff::civil::DateTime;

/// A full event (§19 notation) with the given `when_*` lines replacing the `*` defaults.
pub fn full(when: &str) -> String {
    let mut text = String::from("as_user=\nhost=h1\ncommand=true\nnotify_email=\nnotify_message=\n");
    for field in ["when_month", "when_day", "when_hour", "when_minute", "when_dow"] {
        if !when.lines().any(|l| l.trim_start().starts_with(&format!("{field}="))) {
            text += &format!("{field}=*\n");
        }
    }
    text + when
}

/// An `events/` directory being built.
#[must_use]
pub struct TreeBuilder {
    dir: tempfile::TempDir,
}

impl TreeBuilder {
    pub fn new() -> TreeBuilder {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("testserver/events")).unwrap();
        TreeBuilder { dir }
    }

    /// The `events/` directory, in a directory named `testserver` (the
    /// server name `hcron run` derives).
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("testserver/events")
    }

    fn path(&self, name: &str) -> PathBuf {
        let path = self.root().join(name.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        path
    }

    pub fn file(self, name: &str, content: impl AsRef<[u8]>) -> Self {
        std::fs::write(self.path(name), content).unwrap();
        self
    }

    pub fn link(self, name: &str, target: &str) -> Self {
        symlink(target, self.path(name)).unwrap();
        self
    }

    pub fn dir(self, name: &str) -> Self {
        std::fs::create_dir_all(self.path(name)).unwrap();
        self
    }

    pub fn hard_link(self, name: &str, existing: &str) -> Self {
        std::fs::hard_link(self.path(existing), self.path(name)).unwrap();
        self
    }

    pub fn fifo(self, name: &str) -> Self {
        let path = std::ffi::CString::new(self.path(name).into_os_string().into_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o644) }, 0);
        self
    }

    /// Loads the tree with default options, or the ones `adjust` sets.
    pub fn load_with(&self, adjust: impl FnOnce(&mut Options)) -> Loaded {
        let mut options = options();
        adjust(&mut options);
        tree::load(&LocalFs, &self.root(), &options).unwrap()
    }

    pub fn load(&self) -> Loaded {
        self.load_with(|_| {})
    }

    /// Runs `hcron ARGS... --events <root>` and returns (stdout, stderr, exit code).
    pub fn hcron(&self, args: &[&str]) -> (String, String, i32) {
        hcron(args, &self.root())
    }
}

/// Runs the real binary on a tree, with a configuration that cannot be picked up from /etc.
pub fn hcron(args: &[&str], root: &Path) -> (String, String, i32) {
    let config = root.parent().unwrap().join("hcron.toml");
    if !config.exists() {
        std::fs::write(&config, "server_name = \"testserver\"\nmax_events_per_user = 5000\n").unwrap();
    }
    let output = Command::new(env!("CARGO_BIN_EXE_hcron"))
        .args(args)
        .arg("--events")
        .arg(root)
        .arg("--config")
        .arg(&config)
        .output_bounded()
        .unwrap();
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (text(output.stdout), text(output.stderr), output.status.code().unwrap())
}

/// Default options, as `hcron run`'s configuration has them (many events allowed).
pub fn options() -> Options {
    let context = LoadContext { host_name: "sched.example.com".into(), server_name: "testserver".into() };
    let mut options = Config::default().tree_options(context);
    options.max_events = 5000;
    options
}

/// `status:type:reason:name` of every event, sorted by name.
pub fn listing(loaded: &Loaded) -> Vec<String> {
    let mut lines: Vec<String> = loaded
        .tree
        .events()
        .iter()
        .map(|e| format!("{}:{}:{}:{}", if e.is_accepted() { "accepted" } else { "rejected" }, e.kind(), e.reason(), e.name()))
        .collect();
    lines.sort();
    lines
}

/// The minutes in `[start, end)` at which `event` fires, as `YYYY-MM-DD HH:MM`.
pub fn fires(loaded: &Loaded, event: &str, start: &str, end: &str) -> Vec<String> {
    let schedule = *loaded.tree.get(event).unwrap_or_else(|| panic!("no event {event}")).schedule().expect("accepted");
    let (mut t, end): (DateTime, DateTime) = (start.parse().unwrap(), end.parse().unwrap());
    let mut fired = Vec::new();
    while t < end {
        if schedule.matches(&hcron::schedule::minute_of(&t)) {
            fired.push(t.strftime("%Y-%m-%d %H:%M").to_string());
        }
        t = t.checked_add(1.minute()).unwrap();
    }
    fired
}

/// The early value of `name` in `event`.
pub fn early(loaded: &Loaded, event: &str, name: &str) -> Option<String> {
    let context = options().context;
    let event = loaded.tree.get(event)?;
    event.early_vars(&context)?.get(name).map(str::to_owned)
}

impl TreeBuilder {
    /// Runs `hcron run ARGS... <root> START END` with TZ=UTC and returns
    /// (normalised stdout, stderr, exit code).
    pub fn simulate(&self, args: &[&str], start: &str, end: &str) -> (String, String, i32) {
        self.simulate_in("UTC", args, start, end)
    }

    /// [`TreeBuilder::simulate`] in the time zone `tz`.
    pub fn simulate_in(&self, tz: &str, args: &[&str], start: &str, end: &str) -> (String, String, i32) {
        let output = Command::new(env!("CARGO_BIN_EXE_hcron"))
            .arg("run")
            .args(args)
            .arg(self.root())
            .args([start, end])
            .env("TZ", tz)
            .output_bounded()
            .unwrap();
        let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
        (normalise(&text(output.stdout)), text(output.stderr), output.status.code().unwrap())
    }
}

/// Job ids become J1, J2, ... in order of first appearance; `queuetime`
/// and `elapsed` values are dropped.
pub fn normalise(output: &str) -> String {
    let ids = regex::Regex::new(r"\b(jobid|jobgid|pjobid)=([0-9a-f]+)").unwrap();
    let dropped = regex::Regex::new(r"\b(queuetime|elapsed)=[^|]*").unwrap();
    let mut seen: Vec<String> = Vec::new();
    let mut out = String::new();
    for line in output.lines() {
        let line = ids.replace_all(line, |c: &regex::Captures| {
            let id = c[2].to_owned();
            let n = seen.iter().position(|s| *s == id).unwrap_or_else(|| {
                seen.push(id);
                seen.len() - 1
            });
            format!("{}=J{}", &c[1], n + 1)
        });
        out += &dropped.replace_all(&line, "$1=");
        out.push('\n');
    }
    out
}

/// The host's FQDN as hcron 1.5 finds it, asked of Python's
/// `socket.getfqdn()` (which the original calls), never of the code under test.
pub fn fqdn() -> String {
    static FQDN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    FQDN.get_or_init(|| {
        let output =
            Command::new("/usr/bin/python3").args(["-c", "import socket; print(socket.getfqdn())"]).output_bounded().expect("python3");
        String::from_utf8(output.stdout).unwrap().trim_end().to_owned()
    })
    .clone()
}

/// `expected` with `{user}`, `{fqdn}` and `{version}` filled in, each line's
/// leading blanks up to a `|` margin removed (so tests can indent).
pub fn expected(text: &str) -> String {
    let user = nix::unistd::User::from_uid(nix::unistd::getuid()).unwrap().unwrap().name;
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix('|'))
        .map(|l| l.replace("{user}", &user).replace("{fqdn}", &fqdn()).replace("{version}", env!("CARGO_PKG_VERSION")) + "\n")
        .collect()
}

/// Compares outputs line by line, printing both on a mismatch.
#[track_caller]
pub fn assert_lines(got: &str, want: &str) {
    if got != want {
        let diff: Vec<String> = got
            .lines()
            .zip(want.lines().chain(std::iter::repeat("<missing>")))
            .enumerate()
            .filter(|(_, (g, w))| g != w)
            .take(5)
            .map(|(i, (g, w))| format!("line {}:\n   got {g}\n  want {w}", i + 1))
            .collect();
        panic!(
            "output differs ({} lines vs {} expected)\n{}\n--- full output ---\n{got}",
            got.lines().count(),
            want.lines().count(),
            diff.join("\n")
        );
    }
}
