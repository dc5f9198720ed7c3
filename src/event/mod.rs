//! The event language: from a file's bytes to an [`Event`] with its type and
//! reason (§3–§7). Pure: no filesystem (files arrive through
//! [`IncludeSource`]), no clock, no panics on any input.

mod definition;
pub mod glob;
mod lines;
pub mod subst;
mod text;
pub use text::{py_int, py_strip};
mod vars;
pub mod when;

use std::fmt;
use std::sync::Arc;

pub use definition::{Assignment, Definition, IncludeSource, MAX_INCLUDE_DEPTH, NoIncludes, Origin, Part, parent, resolve_name};
use definition::{ExpandError, ExpandErrorKind};
pub use lines::{LineKind, SourceFile};
pub use vars::Vars;
use when::{Field, Quirk, Schedule, parse_field};

/// Fields an event must assign, in the order the first missing one is reported (§2.3).
pub const REQUIRED_FIELDS: [&str; 10] =
    ["as_user", "host", "command", "notify_email", "notify_message", "when_month", "when_day", "when_hour", "when_minute", "when_dow"];

/// Fields of the blank event file, in the order `hcron event` writes them (§3.4).
pub const BLANK_FIELDS: [&str; 18] = [
    "description",
    "contact",
    "url",
    "label",
    "as_user",
    "host",
    "command",
    "notify_email",
    "notify_subject",
    "notify_message",
    "when_month",
    "when_day",
    "when_hour",
    "when_minute",
    "when_dow",
    "next_event",
    "failover_event",
    "template_name",
];

/// The blank event file: every field of [`BLANK_FIELDS`] empty, one per
/// line, no final newline. Loaded unchanged it is rejected (its `when_*`
/// fields are empty).
pub fn blank_event() -> String {
    BLANK_FIELDS.map(|field| format!("{field}=")).join("\n")
}

/// The event's type, as `hcron list --show-all` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Valid and scheduled by the clock.
    Normal,
    /// `template_name` equals the last name component.
    Template,
    /// A required field is missing.
    Partial,
    /// Could not be read, expanded or parsed.
    Unknown,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Normal => "normal",
            Kind::Template => "template",
            Kind::Partial => "partial",
            Kind::Unknown => "unknown",
        })
    }
}

/// The event's reason; `Display` gives the exact texts of §2.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Accepted.
    Passed,
    /// A template.
    Template,
    /// The first missing required field.
    MissingField(&'static str),
    /// Unreadable, too large, not UTF-8.
    CannotLoadFile,
    /// An include is missing, ignored, escaping or nested too deep.
    CannotProcessIncludes,
    /// A line without `=`.
    BadDefinition,
    /// A `when_*` value does not parse, or an unknown `when_` name.
    BadWhen,
    /// Past `max_events_per_user` (decisions 2).
    MaximumEventsReached,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Passed => f.write_str("passed"),
            Reason::Template => f.write_str("template"),
            Reason::MissingField(field) => write!(f, "not fully specified, missing field ({field})"),
            Reason::CannotLoadFile => f.write_str("cannot load file"),
            Reason::CannotProcessIncludes => f.write_str("cannot process include(s)"),
            Reason::BadDefinition => f.write_str("bad definition"),
            Reason::BadWhen => f.write_str("bad when_* setting"),
            Reason::MaximumEventsReached => f.write_str("maximum events reached"),
        }
    }
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Loads, but probably not as meant.
    Warning,
    /// The event is rejected, or a file is not loaded.
    Error,
}

impl Severity {
    /// `error` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// Something `hcron check` reports, located at a file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// Path within `events/` of the file at fault (an include or a symlink's
    /// target may differ from the event's name).
    pub path: Arc<str>,
    /// Line in that file, when one line is at fault.
    pub lineno: Option<u32>,
    /// What is wrong, for a person.
    pub message: String,
    /// The offending line as processed.
    pub text: Option<String>,
}

/// Values of the built-in variables known at load time (§6.6).
#[derive(Debug, Clone, Default)]
pub struct LoadContext {
    /// `HCRON_HOST_NAME`: the scheduler's fully qualified name.
    pub host_name: String,
    /// `HCRON_SERVER_NAME`.
    pub server_name: String,
}

/// One event of a user's tree, loaded and validated.
#[derive(Debug, Clone)]
pub struct Event {
    name: Arc<str>,
    kind: Kind,
    reason: Reason,
    definition: Option<Definition>,
    schedule: Option<Schedule>,
    findings: Vec<Finding>,
}

/// Why a file's content is unavailable (`cannot load file`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unloadable {
    /// The file at fault (the target of a symlink).
    pub path: Arc<str>,
    /// Why, for a person.
    pub why: String,
}

impl Event {
    /// Validates the event `name` whose file is `own` (§4, in that order).
    pub fn load(name: Arc<str>, own: Result<Part, Unloadable>, source: &dyn IncludeSource, context: &LoadContext) -> Event {
        let own = match own {
            Ok(own) => own,
            Err(Unloadable { path, why }) => {
                return Event::rejected(name, Reason::CannotLoadFile, Finding::error(path, None, why, None));
            }
        };
        match Definition::expand(&name, own, source) {
            Ok(definition) => Event::validate(name, definition, context),
            Err(ExpandError { kind, path, lineno, text }) => {
                let (reason, message) = match kind {
                    ExpandErrorKind::Include(why) => (Reason::CannotProcessIncludes, why),
                    ExpandErrorKind::BadLine => (Reason::BadDefinition, "line is neither name=value nor 'include NAME'".into()),
                };
                Event::rejected(name, reason, Finding::error(path, Some(lineno), message, Some(text)))
            }
        }
    }

    /// An event rejected before it has any assignments.
    pub fn rejected(name: Arc<str>, reason: Reason, finding: Finding) -> Event {
        Event { name, kind: Kind::Unknown, reason, definition: None, schedule: None, findings: vec![finding] }
    }

    fn validate(name: Arc<str>, definition: Definition, context: &LoadContext) -> Event {
        let (kind, reason, schedule, findings) = classify(&name, &definition, context);
        Event { name, kind, reason, definition: Some(definition), schedule, findings }
    }

    /// The event's name: its path within `events/`, e.g. `/cleanup/room/mach1`.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// Its type.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Its reason.
    pub fn reason(&self) -> Reason {
        self.reason
    }

    /// Whether the clock schedules it (`accepted` in listings).
    pub fn is_accepted(&self) -> bool {
        self.kind == Kind::Normal
    }

    /// Its assignments; `None` when it was rejected before having any (these
    /// cannot be chained to, §10.2).
    pub fn definition(&self) -> Option<&Definition> {
        self.definition.as_ref()
    }

    /// When it fires; `Some` for accepted events only.
    pub fn schedule(&self) -> Option<&Schedule> {
        self.schedule.as_ref()
    }

    /// The variables after the early pass (§6.6); `None` without assignments.
    pub fn early_vars<'e>(&'e self, context: &'e LoadContext) -> Option<Vars<'e>> {
        Some(early_vars(&self.name, self.definition.as_ref()?, context))
    }

    /// What `hcron check` reports about it.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }
}

impl Finding {
    fn error(path: Arc<str>, lineno: Option<u32>, message: String, text: Option<String>) -> Finding {
        Finding { severity: Severity::Error, path, lineno, message, text }
    }
}

/// §4 steps 5–9 on an expanded definition.
fn classify(name: &str, definition: &Definition, context: &LoadContext) -> (Kind, Reason, Option<Schedule>, Vec<Finding>) {
    let vars = early_vars(name, definition, context);
    let last = name.rsplit('/').next().unwrap_or_default();
    if vars.get("template_name") == Some(last) {
        return (Kind::Template, Reason::Template, None, Vec::new());
    }
    let (sets, quirks) = match schedule(&vars, definition) {
        Ok(parsed) => parsed,
        Err(finding) => return (Kind::Unknown, Reason::BadWhen, None, vec![*finding]),
    };
    match REQUIRED_FIELDS.iter().find(|f| vars.get(f).is_none()) {
        Some(field) => {
            let path = definition.parts()[0].path.clone();
            let finding = Finding::error(path, None, format!("{field} is never assigned"), None);
            (Kind::Partial, Reason::MissingField(field), None, vec![finding])
        }
        None => (Kind::Normal, Reason::Passed, Some(Schedule::new(sets)), quirks),
    }
}

/// The early pass (§6.6): built-ins, then every assignment substituted in order.
fn early_vars<'d>(name: &'d str, definition: &'d Definition, context: &'d LoadContext) -> Vars<'d> {
    let mut vars = Vars::new();
    vars.set("HCRON_EVENT_NAME", name);
    vars.set("HCRON_HOST_NAME", context.host_name.as_str());
    vars.set("HCRON_SERVER_NAME", context.server_name.as_str());
    vars.set("HCRON_EVENT_CHAIN", "");
    vars.set("HCRON_SELF_CHAIN", "");
    vars.set("when_year", "*");
    for assignment in definition.assignments() {
        let value = subst::substitute(assignment.value, &vars);
        vars.set(assignment.name, value);
    }
    vars
}

/// §4 step 7: every `when_` variable but `when_expire` must parse.
fn schedule(vars: &Vars<'_>, definition: &Definition) -> Result<([u64; 6], Vec<Finding>), Box<Finding>> {
    let mut sets = [u64::MAX; 6];
    let mut quirks = Vec::new();
    for (name, value) in vars.iter() {
        if !name.starts_with("when_") || name == "when_expire" {
            continue;
        }
        // Only a finding needs the line, so it is looked up only then.
        let at = |message: String, severity| {
            let origin = definition.assignments().filter(|a| a.name == name).last();
            Finding {
                severity,
                path: origin.map_or_else(|| definition.parts()[0].path.clone(), |o| o.origin.path.into()),
                lineno: origin.map(|o| o.origin.lineno),
                message: format!("{name}: {message}"),
                text: origin.map(|o| o.origin.text.to_owned()),
            }
        };
        let parsed = Field::from_name(name).ok_or(when::WhenError::UnknownField).and_then(|field| Ok((field, parse_field(field, value)?)));
        match parsed {
            Ok((field, (bits, found))) => {
                sets[field as usize] = bits;
                quirks.extend(found.iter().map(|q: &Quirk| at(q.to_string(), Severity::Warning)));
            }
            Err(error) => return Err(Box::new(at(error.to_string(), Severity::Error))),
        }
    }
    Ok((sets, quirks))
}

#[cfg(test)]
mod tests;
