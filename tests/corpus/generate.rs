//! The corpus generator: from a seed, a varied event tree, a configuration
//! and the `hcron list`/`hcron run` command lines to try on it.
//!
//! Deterministic for ever: its random numbers come from SplitMix64 written
//! out here (no crate whose algorithm could change under us), so a seed
//! committed with a fixture always rebuilds the same tree. Every feature of
//! the event language appears: templates and symlinks (chains of links,
//! links through directory links, loops, absolute and escaping targets),
//! includes (nested, too deep, missing, ignored), comments, continuations,
//! CRLF, bad definitions, bad and quirky `when_*` values, partial events,
//! the substitution language (indexing, matching, nesting, unbalanced and
//! undefined references), chains and fan-outs past their limits, failover
//! through `--fail-events`, notifications with many recipients, ignored
//! names, the original's shipped configurations and varied limits.
//!
//! What the generator leaves out on purpose, because the project differs
//! deliberately and the difference is not a line-by-line rewrite of the
//! original's output: non-UTF-8 files (decisions 1), hard links (3), `./`
//! and `../` in chain names (4), zones other than UTC (5, 14), the words
//! `|`, `=` and newlines in names (12),
//! an empty `names_to_ignore_regexp` (2a: it ignores every name in the original), negative `when_expire` on events that
//! chain or notify (7: an expired job is a failure here, a success in the
//! original's simulator; the original runs with expiry measured against the
//! simulated clock, as decisions 7 has it), ignorable names under a configuration without
//! `names_to_ignore_regexp` (2a). Each of those has its own tests.

use std::fmt::Write as _;

/// SplitMix64: small, fast, and fixed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A number in `low..=high`.
    pub fn range(&mut self, low: i64, high: i64) -> i64 {
        low + self.below((high - low + 1) as usize) as i64
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// One entry of the generated `events/` directory (paths relative to it).
#[derive(Debug, Clone)]
pub enum Entry {
    File { path: String, content: String },
    Link { path: String, target: String },
    Dir { path: String },
}

/// A generated case: a tree, its configuration and what to run on it.
#[derive(Debug, Clone)]
pub struct Case {
    pub seed: u64,
    /// The events directory's parent: the server name `hcron run` derives.
    pub server: String,
    pub entries: Vec<Entry>,
    /// `hcron.conf` text for `-c`; `None`: the simulator's own (the shipped `hcron-run.conf`).
    pub config: Option<String>,
    /// Command lines after the program name; `EVENTS` and `CONF` stand for the paths.
    pub commands: Vec<Vec<String>>,
}

/// The original's shipped `hcron-run.conf`, byte for byte.
pub const SHIPPED_RUN_CONF: &str = include_str!("../fixtures/oracle-configs/hcron-run.conf");
/// The original's shipped `hcron.conf.sample`, byte for byte.
pub const SHIPPED_SAMPLE_CONF: &str = include_str!("../fixtures/oracle-configs/hcron.conf.sample");

const DIRS: &[&str] = &["app", "backup", "ops", "room", "db", "web", "x y", "nightly", "dé"];
const LEAVES: &[&str] = &[
    "start",
    "step2",
    "step3",
    "end",
    "clean",
    "rotate",
    "mach1.xyz.com",
    "mach2",
    "15",
    "30",
    "5",
    "job-a",
    "job_b",
    "report",
    "sync",
    "a b",
    "ping",
    "café",
    "h1",
    "h2",
    "alpha",
    "omega",
    "x.y",
    "last",
];
const WORDS: &[&str] = &[
    "echo",
    "hello",
    "world",
    "backup",
    "--verbose",
    "-x",
    "rsync",
    "/var/tmp",
    "a-b-c",
    "well-known",
    "e-mail",
    "file.txt",
    "\"quoted text\"",
    "'single'",
    "&&",
    ";",
    "x=1",
    "über",
    "tab\there",
    "ok",
    "done",
    "$(date)",
    "`id`",
    ">",
    "/dev/null",
    "2>&1",
    "long-hyphenated-word-that-goes-on-and-on",
    "supercalifragilisticexpialidociousandevenlongerthanthat",
];
const VARS: &[&str] = &[
    "HCRON_EVENT_NAME",
    "HCRON_EVENT_CHAIN",
    "HCRON_SELF_CHAIN",
    "HCRON_TRIGGER_NAME",
    "HCRON_TRIGGER_ORIGIN",
    "HCRON_SCHEDULE_DATETIME",
    "HCRON_SCHEDULE_DATETIME_UTC",
    "HCRON_ACTIVATE_DATETIME",
    "HCRON_SCHEDULE_EPOCHTIME",
    "HCRON_ACTIVATE_EPOCHTIME_UTC",
    "HCRON_SERVER_NAME",
    "L",
    "C",
    "I",
    "J",
    "E",
    "U",
    "UNDEF",
    "when_year",
    "template_name",
    "x",
];

/// Builds case `seed`.
pub fn generate(seed: u64) -> Case {
    let mut rng = Rng::new(seed);
    let mut g = Gen { rng: &mut rng, entries: Vec::new(), names: Vec::new(), window: Window::default() };
    g.window = g.window();
    let config_kind = g.rng.below(100);
    let (config, ignore_default) = match config_kind {
        0..45 => (None, true),
        45..52 => (Some(SHIPPED_RUN_CONF.to_string()), true),
        52..60 => (Some(SHIPPED_SAMPLE_CONF.to_string()), true),
        _ => g.custom_config(),
    };
    let server = format!("srv{}", seed % 7);
    g.tree(ignore_default);
    let commands = g.commands(config.is_some());
    let Gen { entries, .. } = g;
    Case { seed, server, entries, config, commands }
}

/// `count` references of the substitution language, well-formed or not, and
/// texts mixing them (the substitution table's expressions).
pub fn references(seed: u64, count: usize) -> Vec<String> {
    let mut rng = Rng::new(seed);
    let mut g = Gen { rng: &mut rng, entries: Vec::new(), names: Vec::new(), window: Window::default() };
    (0..count).map(|i| if i % 4 == 3 { g.text(3) } else { g.reference(3) }).collect()
}

/// The variables the substitution table's expressions are evaluated with.
pub const REFERENCE_VARS: &[(&str, &str)] = &[
    ("HCRON_EVENT_NAME", "/cleanup/room/mach1.xyz.com"),
    ("HCRON_EVENT_CHAIN", "/a/start:/a/step2:/a/step2"),
    ("HCRON_SELF_CHAIN", "/a/step2:/a/step2"),
    ("HCRON_TRIGGER_NAME", "next"),
    ("HCRON_SCHEDULE_DATETIME", "2020:01:01:12:01:00:00:3"),
    ("HCRON_ACTIVATE_EPOCHTIME_UTC", "1577880060"),
    ("L", "a:b:c:d:e"),
    ("C", "x,y,z"),
    ("I", "2"),
    ("J", "-1"),
    ("E", ""),
    ("U", "heidi:grace"),
    ("x", "1:2:3"),
    ("R", "$I"),
    ("when_year", "*"),
];

/// The simulated minutes, and the fields of their first minute.
#[derive(Debug, Clone, Default)]
struct Window {
    start: (i64, i64, i64, i64, i64),
    minutes: i64,
    dow: i64,
}

struct Gen<'a> {
    rng: &'a mut Rng,
    entries: Vec<Entry>,
    /// Names of the files and links made so far (absolute event names).
    names: Vec<String>,
    window: Window,
}

impl Gen<'_> {
    fn window(&mut self) -> Window {
        let year = match self.rng.below(10) {
            0 => 2050,
            1 => 2000,
            _ => self.rng.range(2001, 2049),
        };
        let month = self.rng.range(1, 12);
        let day = self.rng.range(1, 28);
        let (hour, minute) = match self.rng.below(6) {
            0 => (23, self.rng.range(30, 59)),
            1 => (0, 0),
            _ => (self.rng.range(0, 23), self.rng.range(0, 59)),
        };
        let minutes = match self.rng.below(10) {
            0 => 0,
            1..3 => self.rng.range(60, 180),
            _ => self.rng.range(1, 20),
        };
        let (month, day) = if year == 2050 && self.rng.chance(50) { (12, 31) } else { (month, day) };
        Window { start: (year, month, day, hour, minute), minutes, dow: day_of_week(year, month, day) }
    }

    fn custom_config(&mut self) -> (Option<String>, bool) {
        let mut text = String::from("# generated hcron.conf\n{\n");
        let key = |text: &mut String, name: &str, value: String| writeln!(text, "    \"{name}\": {value},").unwrap();
        let ignore = match self.rng.below(10) {
            0 => Some("None"),
            1 => None,
            2 | 3 => Some("\"_.*\""),
            _ => Some("\"(\\..*)|(.*~$)\""),
        };
        // Without the key (or with None) the original ignores nothing and the
        // project ignores the usual names (decisions 2a): make no such names then.
        let ignore_default = matches!(ignore, Some(v) if v.contains('~'));
        if let Some(value) = ignore {
            key(&mut text, "names_to_ignore_regexp", value.to_string());
        }
        for (name, low, high) in [("max_chain_events", 0, 7), ("max_next_events", 0, 9), ("max_email_notifications", 0, 18)] {
            if self.rng.chance(60) {
                key(&mut text, name, self.rng.range(low, high).to_string());
            }
        }
        if self.rng.chance(40) {
            key(&mut text, "max_events_per_user", self.rng.range(1, 30).to_string());
        }
        if self.rng.chance(30) {
            key(&mut text, "error_on_empty_command", self.rng.pick(&["True", "False"]).to_string());
        }
        if self.rng.chance(50) {
            key(&mut text, "smtp_server", self.rng.pick(&["None", "\"localhost\"", "'mail.example.com'"]).to_string());
        }
        for name in ["log_path", "test_net_username", "events_base_path"] {
            if self.rng.chance(30) {
                key(&mut text, name, "None".into());
            }
        }
        if self.rng.chance(30) {
            key(&mut text, "allow_localhost", self.rng.pick(&["True", "False"]).to_string());
        }
        text += "}\n";
        (Some(text), ignore_default)
    }

    fn tree(&mut self, ignore_default: bool) {
        let dirs: Vec<String> = (0..self.rng.range(1, 4)).map(|_| self.rng.pick(DIRS).to_string()).collect();
        let mut planned = Vec::new();
        for _ in 0..self.rng.range(3, 22) {
            let name = self.event_name(&dirs);
            if !planned.contains(&name)
                && !planned.iter().any(|p: &String| p.starts_with(&format!("{name}/")) || name.starts_with(&format!("{p}/")))
            {
                planned.push(name);
            }
        }
        // Includes first so that events can name them.
        let includes = self.includes(ignore_default);
        let templates = self.templates(&dirs, &planned);
        self.names.extend(planned.iter().cloned());
        for name in &planned {
            let body = self.event_body(name, &includes, &templates);
            self.file(name, body);
        }
        self.links(&templates, &planned);
        if ignore_default {
            self.ignored(&dirs);
        }
        if self.rng.chance(10) {
            let dir = format!("/{}/empty", self.rng.pick(DIRS));
            if !self.names.iter().any(|n| n == &dir || dir.starts_with(&format!("{n}/"))) {
                self.entries.push(Entry::Dir { path: dir });
            }
        }
    }

    fn event_name(&mut self, dirs: &[String]) -> String {
        let leaf = self.rng.pick(LEAVES);
        match self.rng.below(4) {
            0 => format!("/{leaf}"),
            1 | 2 => format!("/{}/{leaf}", self.rng.pick(dirs)),
            _ => format!("/{}/{}/{leaf}", self.rng.pick(dirs), self.rng.pick(&["sub", "deep", "n2"])),
        }
    }

    fn file(&mut self, name: &str, content: String) {
        self.entries.push(Entry::File { path: name.to_string(), content });
    }

    /// Include files under `/inc`: fragments, nested includes, cycles; returns usable names.
    fn includes(&mut self, ignore_default: bool) -> Vec<String> {
        if self.rng.chance(35) {
            return Vec::new();
        }
        let mut names = vec!["/inc/common".to_string(), "/inc/when".to_string(), "/inc/deep1".to_string()];
        let common = self.assignments(&["as_user", "host", "notify_email", "notify_message"], "/inc/common");
        self.file("/inc/common", common);
        let when = self.when_lines("/inc/when");
        self.file("/inc/when", when);
        self.file("/inc/deep1", "include deep2\nx=$x:d1\n".into());
        self.file("/inc/deep2", "include /inc/deep3\nx=$x:d2\n".into());
        self.file("/inc/deep3", "x=$x:d3\n".into());
        names.push("/inc/deep2".into());
        if self.rng.chance(40) {
            self.file("/inc/cycle", "include cycle\nx=1\n".into());
            names.push("/inc/cycle".into());
        }
        if ignore_default && self.rng.chance(40) {
            self.file("/inc/.vars", "x=hidden\n".into());
            names.push("/inc/.vars".into());
        }
        names.push("/inc/missing".into());
        self.names.extend(["/inc/common", "/inc/when", "/inc/deep1", "/inc/deep2", "/inc/deep3"].map(String::from));
        names
    }

    /// Template files (`template_name` equal to their last component); returns their names.
    fn templates(&mut self, dirs: &[String], planned: &[String]) -> Vec<String> {
        let mut templates = Vec::new();
        for _ in 0..self.rng.range(0, 2) {
            let dir = self.rng.pick(dirs).clone();
            let name = format!("/{dir}/_tmpl{}", templates.len());
            if planned.iter().any(|p| p.starts_with(&format!("{name}/")) || p == &name) {
                continue;
            }
            let leaf = name.rsplit('/').next().unwrap().to_string();
            let mut body = String::new();
            let tn = match self.rng.below(5) {
                0 => "$HCRON_EVENT_NAME[-1]".to_string(),
                1 => format!("{leaf}  "),
                _ => leaf.clone(),
            };
            writeln!(body, "template_name={tn}").unwrap();
            body += &self.assignments(&["as_user", "notify_email", "notify_message", "next_event", "failover_event"], &name);
            writeln!(body, "host=h-$HCRON_EVENT_NAME[-1]").unwrap();
            writeln!(body, "command=run $HCRON_EVENT_NAME[-1] on $HCRON_EVENT_NAME[1] # $HCRON_EVENT_NAME{{m*}}").unwrap();
            let (y, m, d, h, min) = self.window.start;
            let minute = if self.rng.chance(50) { "$HCRON_EVENT_NAME[-1]".to_string() } else { min.to_string() };
            let _ = (y, d);
            for (field, value) in [
                ("when_month", if self.rng.chance(70) { m.to_string() } else { "*".into() }),
                ("when_day", "*".to_string()),
                ("when_hour", h.to_string()),
                ("when_minute", minute),
                ("when_dow", "*".into()),
            ] {
                writeln!(body, "{field}={value}").unwrap();
            }
            self.names.push(name.clone());
            self.file(&name, body);
            templates.push(name);
        }
        templates
    }

    /// Symlinks of every kind the loader must resolve or drop.
    fn links(&mut self, templates: &[String], planned: &[String]) {
        for template in templates {
            let dir = template.rsplit_once('/').unwrap().0.to_string();
            let leaf = template.rsplit('/').next().unwrap();
            for _ in 0..self.rng.range(1, 4) {
                let (y, m, d, h, min) = self.window.start;
                let _ = (y, m, d, h);
                let name = match self.rng.below(3) {
                    0 => format!("{dir}/{}", (min + self.rng.range(0, 3)) % 60),
                    1 => format!("{dir}/mach{}", self.rng.below(5)),
                    _ => format!("{dir}/{}", self.rng.pick(LEAVES)),
                };
                self.link_if_free(&name, leaf.to_string());
            }
        }
        if planned.is_empty() {
            return;
        }
        for _ in 0..self.rng.range(0, 5) {
            let target = self.rng.pick(planned).clone();
            let kind = self.rng.below(9);
            let name = format!("/lnk/l{}", self.entries.len());
            let relative_to_root = format!("..{target}");
            let link_target = match kind {
                0 => target.clone(),                     // absolute: dropped
                1 => format!("../..{target}"),           // escapes events/: dropped
                2 => "nowhere".to_string(),              // broken
                3 => format!("l{}", self.entries.len()), // itself: a loop
                _ => relative_to_root,
            };
            self.link_if_free(&name, link_target);
        }
        if self.rng.chance(30) {
            // A chain of links: 8 resolve, 9 do not.
            let target = self.rng.pick(planned).clone();
            let length = self.rng.range(7, 10);
            self.link_if_free("/chain/c0", format!("..{target}"));
            for i in 1..length {
                self.link_if_free(&format!("/chain/c{i}"), format!("c{}", i - 1));
            }
        }
        if self.rng.chance(30) {
            // A link to a directory, and a path through it.
            let target = self.rng.pick(planned).clone();
            if let Some((dir, leaf)) = target.rsplit_once('/')
                && !dir.is_empty()
            {
                self.link_if_free("/dlink/d", format!("..{dir}"));
                self.link_if_free("/dlink/through", format!("d/{leaf}"));
            }
        }
    }

    fn link_if_free(&mut self, name: &str, target: String) {
        let clash = self.names.iter().any(|n| n == name || n.starts_with(&format!("{name}/")) || name.starts_with(&format!("{n}/")));
        if !clash {
            self.names.push(name.to_string());
            self.entries.push(Entry::Link { path: name.to_string(), target });
        }
    }

    /// Names the default `names_to_ignore_regexp` ignores: never events, never includable.
    fn ignored(&mut self, dirs: &[String]) {
        let dir = self.rng.pick(dirs).clone();
        for name in [format!("/{dir}/.x.swp"), format!("/{dir}/job~"), "/.hidden/ev".to_string()] {
            if self.rng.chance(50) && !self.names.iter().any(|n| name.starts_with(&format!("{n}/")) || n == &name) {
                let body =
                    self.assignments(&["as_user", "host", "command", "notify_email", "notify_message"], &name) + &self.when_lines(&name);
                self.file(&name, body);
            }
        }
    }

    /// Lines assigning `fields` plausible values.
    fn assignments(&mut self, fields: &[&str], name: &str) -> String {
        let mut out = String::new();
        for field in fields {
            let value = self.value(field, name);
            writeln!(out, "{field}={value}").unwrap();
        }
        out
    }

    /// `when_*` lines that fire in the window more often than not.
    fn when_lines(&mut self, name: &str) -> String {
        let (year, month, day, hour, minute) = self.window.start;
        let dow = self.window.dow;
        let mut out = String::new();
        let quirky = self.rng.chance(12);
        for (field, now, low, high) in [
            ("when_month", month, 1, 12),
            ("when_day", day, 1, 31),
            ("when_hour", hour, 0, 23),
            ("when_minute", minute, 0, 59),
            ("when_dow", dow, 0, 6),
        ] {
            let value = if quirky && self.rng.chance(30) {
                self.rng
                    .pick(&[
                        "*,abc", "abc,*", "50-10", "0-59/-5", "jan", "mon", "7", "60", "", "1_0", "+5", " 5 , 10", "*/0", "1-", ",", "00",
                        "$UNDEF", "3-1/2",
                    ])
                    .to_string()
            } else {
                self.when_value(field, now, low, high, name)
            };
            writeln!(out, "{field}={value}").unwrap();
        }
        if self.rng.chance(15) {
            let value = match self.rng.below(4) {
                0 => year.to_string(),
                1 => "2000-2050/2".into(),
                2 => format!("{}-2050", year - 1),
                _ => "*".into(),
            };
            writeln!(out, "when_year={value}").unwrap();
        }
        if self.rng.chance(3) {
            out += "when_foo=1\n";
        }
        out
    }

    fn when_value(&mut self, field: &str, now: i64, low: i64, high: i64, name: &str) -> String {
        let minute = field == "when_minute";
        let target = if minute { (now + self.rng.range(0, self.window.minutes.clamp(1, 59) - 1)) % 60 } else { now };
        let value = if self.rng.chance(if minute { 80 } else { 90 }) {
            target
        } else {
            (target - low + self.rng.range(1, high - low)) % (high - low + 1) + low
        };
        let other = (value - low + 7) % (high - low + 1) + low;
        let step = self.rng.range(if minute { 10 } else { 1 }, 15);
        match self.rng.below(16) {
            0..6 => value.to_string(),
            6..8 => format!("{value},{other}"),
            8 => format!("{value:02}"),
            9 => format!(" {value} "),
            10 => format!("{value}-{}", (value + 2).min(high)),
            11 if minute && name.rsplit('/').next().is_some_and(|l| l.parse::<u8>().is_ok()) => "$HCRON_EVENT_NAME[-1]".into(),
            12 => format!("+{value}"),
            13 => format!("{low}-{high}/{step}"),
            14 if minute && name.len() % 4 == 0 => "*".into(),
            _ if minute => value.to_string(),
            _ => "*".into(),
        }
    }

    /// An event file.
    fn event_body(&mut self, name: &str, includes: &[String], templates: &[String]) -> String {
        let mut lines: Vec<String> = Vec::new();
        if self.rng.chance(30) {
            lines.push(format!("# {}", self.rng.pick(WORDS)));
        }
        if self.rng.chance(20) {
            lines.extend(
                ["L=a:b:c:d:e", "C=x,y,z", "I=2", "J=-1", "E=", "U=heidi:grace"]
                    .iter()
                    .filter(|_| self.rng.chance(70))
                    .map(|s| s.to_string()),
            );
        }
        if self.rng.chance(15) {
            lines.extend(["x=1", "x=$x:2", "x=$x:3"].map(String::from));
        }
        let style = self.rng.below(100);
        let mut fields: Vec<&str> = vec!["as_user", "host", "command", "notify_email", "notify_message"];
        if style < 8 {
            // partial: one required field missing
            let gone = self.rng.below(fields.len() + 5);
            if gone < fields.len() {
                fields.remove(gone);
            }
        }
        for field in fields {
            let value = self.value(field, name);
            lines.push(format!("{field}={value}"));
        }
        if self.rng.chance(40) {
            let value = self.value("notify_subject", name);
            lines.push(format!("notify_subject={value}"));
        }
        let when = self.when_lines(name);
        let mut when_lines: Vec<String> = when.lines().map(String::from).collect();
        if (8..12).contains(&style) && !when_lines.is_empty() {
            let gone = self.rng.below(when_lines.len());
            when_lines.remove(gone);
        }
        if !includes.is_empty() && self.rng.chance(25) {
            let include = self.rng.pick(includes).clone();
            let spelled = match self.rng.below(4) {
                0 => relative(name, &include),
                1 => format!("include\t{include}"),
                _ => include.clone(),
            };
            let line = if spelled.starts_with("include") { spelled } else { format!("include {spelled}") };
            if include == "/inc/when" && self.rng.chance(70) {
                when_lines = vec![line];
            } else {
                lines.push(line);
            }
        }
        lines.extend(when_lines);
        for field in ["next_event", "failover_event"] {
            if self.rng.chance(45) {
                let value = self.chain_value(name, templates);
                lines.push(format!("{field}={value}"));
            }
        }
        let negative_allowed = !lines.iter().any(|l| {
            l.starts_with("next_event=")
                || l.starts_with("failover_event=")
                || l.starts_with("include")
                || l.starts_with("notify_email=") && l.len() > 13
        });
        if self.rng.chance(12) {
            let value = *self.rng.pick(&["30", "0", "1:00", "00:00:10", "x", "1:2:3:4", "-1", "90", ""]);
            if value != "-1" || negative_allowed {
                lines.push(format!("when_expire={value}"));
            }
        }
        if style >= 97 {
            lines.push(format!("template_name={}", name.rsplit('/').next().unwrap()));
        }
        if (12..15).contains(&style) {
            let at = self.rng.below(lines.len() + 1);
            lines.insert(at, self.rng.pick(&["just words", "include a b", "include", "  not = wait", "command"]).to_string());
        }
        if self.rng.chance(5) {
            lines.push("HCRON_EVENT_NAME=/zzz/yyy".into());
            lines.push(format!("command=$HCRON_EVENT_NAME[-1] {}", self.rng.pick(WORDS)));
        }
        self.noise(lines)
    }

    /// Joins lines with the line-level noise of real files.
    fn noise(&mut self, lines: Vec<String>) -> String {
        let crlf = self.rng.chance(8);
        let mut out = String::new();
        for line in lines {
            let mut line = line;
            if self.rng.chance(8) {
                line = line.replacen('=', " = ", 1);
            }
            if self.rng.chance(5) {
                line = format!("  \t{line}  ");
            }
            if self.rng.chance(6) && line.len() > 6 && !line.ends_with('\\') {
                let cut = line.char_indices().map(|(i, _)| i).filter(|&i| i > 3).nth(self.rng.below(3)).unwrap_or(4);
                let (a, b) = line.split_at(cut);
                line = format!("{a}\\\n{}{b}", if self.rng.chance(50) { "   " } else { "" });
            }
            out += &line;
            out += if crlf { "\r\n" } else { "\n" };
            if self.rng.chance(10) {
                out += *self.rng.pick(&["\n", "   \n", "# comment \\\n", "  # indented\n"]);
            }
        }
        if self.rng.chance(10) {
            out.pop();
        }
        out
    }

    fn value(&mut self, field: &str, name: &str) -> String {
        match field {
            "as_user" => self.rng.pick(&["", "", "ops", "svc_$U[0]", "$HCRON_EVENT_NAME[1]", "deploy"]).to_string(),
            "host" => self
                .rng
                .pick(&["localhost", "web1.example.com", "", "h-$HCRON_EVENT_NAME[-1]", "a,b", "$HCRON_EVENT_CHAIN[0]", "db$I"])
                .to_string(),
            "command" => {
                if self.rng.chance(10) {
                    return String::new();
                }
                {
                    let words = self.rng.range(1, 14) as usize;
                    self.text(words)
                }
            }
            "notify_email" => match self.rng.below(10) {
                0..5 => String::new(),
                5..7 => "ops@example.com".into(),
                7 => " a@example.com , ,b@example.com".into(),
                8 => (0..self.rng.range(15, 20)).map(|i| format!("u{i}@example.com")).collect::<Vec<_>>().join(","),
                _ => format!("{}@example.com", name.rsplit('/').next().unwrap().replace(' ', "_")),
            },
            "notify_subject" => match self.rng.below(4) {
                0 => String::new(),
                1 => "  spaced subject  ".into(),
                _ => {
                    let words = self.rng.range(1, 6) as usize;
                    self.text(words)
                }
            },
            "notify_message" => {
                if self.rng.chance(25) {
                    return String::new();
                }
                let words = self.rng.range(1, 30) as usize;
                let mut text = self.text(words);
                if self.rng.chance(50) {
                    text += "\\n\\tindented\\nchain $HCRON_EVENT_CHAIN";
                }
                if self.rng.chance(10) {
                    text += &"x".repeat(self.rng.range(100, 1100) as usize);
                }
                text
            }
            "next_event" | "failover_event" => String::new(),
            _ => self.text(3),
        }
    }

    /// Words and substitution references.
    fn text(&mut self, words: usize) -> String {
        let mut parts = Vec::new();
        for _ in 0..words {
            if self.rng.chance(35) {
                parts.push(self.reference(2));
            } else {
                parts.push(self.rng.pick(WORDS).to_string());
            }
        }
        let sep = if self.rng.chance(10) { "  " } else { " " };
        parts.join(sep)
    }

    /// One reference of the substitution language, well-formed or not.
    fn reference(&mut self, depth: usize) -> String {
        let op = if self.rng.chance(20) { "#" } else { "$" };
        let var = self.rng.pick(VARS).to_string();
        match self.rng.below(12) {
            0..4 => format!("{op}{var}"),
            4..8 => format!("{op}{var}[{}]", self.selector(depth)),
            8..10 => format!("{op}{var}{{{}}}", self.glob()),
            10 => format!("{op}{var}[{}", self.selector(0)),
            _ => self
                .rng
                .pick(&[
                    "$$L",
                    "x$",
                    "#",
                    "$1",
                    "$L[0][1]",
                    "$L{{a}}",
                    "$X-Y",
                    "$L[$I:4]",
                    "$L[1:$I]",
                    "$L[0,$I]",
                    "$HCRON_EVENT_NAME[$S!-1]",
                    "$HCRON_HOST_NAME",
                    "pre$L[0]post",
                    "$L{[!a]*}",
                    "$L{:![!a]*}",
                    "$C[,?$J!0]",
                ])
                .to_string(),
        }
    }

    fn selector(&mut self, depth: usize) -> String {
        let mut sel = String::new();
        if self.rng.chance(30) {
            let split = *self.rng.pick(&["", ":", "/", ",", "-", "a"]);
            sel += split;
            if self.rng.chance(50) {
                sel += "?";
                sel += *self.rng.pick(&["", "_", "+", ";", "/", ":"]);
            }
            sel += "!";
        }
        let items: Vec<String> = (0..self.rng.range(1, 3))
            .map(|_| match self.rng.below(10) {
                0..3 => self.rng.range(-6, 6).to_string(),
                3..6 => {
                    let a = if self.rng.chance(70) { self.rng.range(-3, 4).to_string() } else { String::new() };
                    let b = if self.rng.chance(70) { self.rng.range(-3, 6).to_string() } else { String::new() };
                    if self.rng.chance(25) { format!("{a}:{b}:{}", self.rng.pick(&["2", "-1", "0", ""])) } else { format!("{a}:{b}") }
                }
                6 => "$I".into(),
                7 if depth > 0 => self.reference(depth - 1),
                8 => self.rng.pick(&["abc", "", "1x", "[0]", "::0"]).to_string(),
                _ => self.rng.range(0, 9).to_string(),
            })
            .collect();
        sel + &items.join(",")
    }

    fn glob(&mut self) -> String {
        let items: Vec<&str> = (0..self.rng.range(1, 3))
            .map(|_| *self.rng.pick(&["a", "m*", "*", "?", "[a-c]", "[!a]*", "z", "*o*", "d,a", "", "*.*"]))
            .collect();
        items.join(",")
    }

    /// A `next_event`/`failover_event` value naming existing, missing, rejected or many events.
    fn chain_value(&mut self, name: &str, templates: &[String]) -> String {
        let mut pool: Vec<String> = self.names.iter().filter(|n| !n.starts_with("/lnk/")).cloned().collect();
        pool.extend(templates.iter().cloned());
        pool.push(name.to_string());
        let count = match self.rng.below(10) {
            0 => self.rng.range(8, 11) as usize,
            1..3 => 2,
            _ => 1,
        };
        let mut parts = Vec::new();
        for _ in 0..count {
            let target = self.rng.pick(&pool).clone();
            let spelled = match self.rng.below(10) {
                0 => "/no/such".to_string(),
                1 => String::new(),
                2 if same_dir(name, &target) => target.rsplit('/').next().unwrap().to_string(),
                3 => format!(" {target} "),
                4 => name.to_string(),
                _ => target,
            };
            parts.push(spelled);
        }
        parts.join(":")
    }

    fn commands(&mut self, with_config: bool) -> Vec<Vec<String>> {
        let conf: Vec<String> = if with_config { vec!["-c".into(), "CONF".into()] } else { Vec::new() };
        let mut list = vec!["list".to_string(), "--show-all".into(), "--events".into(), "EVENTS".into()];
        list.extend(conf.iter().cloned());
        let mut commands = vec![list];
        if self.rng.chance(10) {
            let mut other =
                vec!["list".to_string(), self.rng.pick(&["--show-status", "--show-all"]).to_string(), "--events".into(), "EVENTS".into()];
            other.extend(conf.iter().cloned());
            other.push(self.rng.pick(&["/app/*", "*s*", "/room/?", "[", "*"]).to_string());
            commands.push(other);
        }
        let mut run = vec!["run".to_string()];
        run.extend(conf.iter().cloned());
        match self.rng.below(10) {
            0..3 => {}
            3..5 => run.push("--show-event".into()),
            5..7 => run.push("--show-email".into()),
            _ => run.push("--show-all".into()),
        }
        if self.rng.chance(35) && !self.names.is_empty() {
            let fail: Vec<String> = (0..self.rng.range(1, 3)).map(|_| self.rng.pick(&self.names).clone()).collect();
            run.push("--fail-events".into());
            run.push(fail.join(":"));
        }
        run.push("EVENTS".into());
        let (y, mo, d, h, mi) = self.window.start;
        let start = jiff::civil::datetime(y as i16, mo as i8, d as i8, h as i8, mi as i8, 0, 0);
        let end = start.checked_add(jiff::Span::new().minutes(self.window.minutes)).unwrap();
        let format = |t: jiff::civil::DateTime| t.strftime("%Y%m%d%H%M").to_string();
        run.push(format(start));
        run.push(if self.rng.chance(3) { format(start).chars().take(8).collect() } else { format(end) });
        commands.push(run);
        commands
    }
}

/// 0 = Sunday.
fn day_of_week(year: i64, month: i64, day: i64) -> i64 {
    let date = jiff::civil::date(year as i16, month as i8, day as i8);
    date.weekday().to_sunday_zero_offset() as i64
}

fn same_dir(a: &str, b: &str) -> bool {
    a.rsplit_once('/').map(|p| p.0) == b.rsplit_once('/').map(|p| p.0)
}

/// `target` relative to the directory of `from`, with `..` (includes are normalised by both).
fn relative(from: &str, target: &str) -> String {
    let depth = from.matches('/').count() - 1;
    format!("{}{}", "../".repeat(depth), target.trim_start_matches('/'))
}
