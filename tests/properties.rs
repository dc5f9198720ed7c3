//! Property tests: nothing a user can write makes the event language or the
//! tree loader panic, every rejected event says why and, for a bad line,
//! where, and links never resolve outside the tree.

use std::sync::Arc;

use hcron::event::subst::substitute;
use hcron::event::when::{Field, parse_field};
use hcron::event::{Event, Kind, NoIncludes, Part, Reason, Severity, SourceFile, Vars};
use proptest::prelude::*;

use crate::util::{TreeBuilder, options};

/// Text rich in the characters the languages care about.
fn language_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("$".to_string()),
            Just("#".to_string()),
            Just("[".to_string()),
            Just("]".to_string()),
            Just("{".to_string()),
            Just("}".to_string()),
            Just("!".to_string()),
            Just("?".to_string()),
            Just(":".to_string()),
            Just(",".to_string()),
            Just("-".to_string()),
            Just("*".to_string()),
            Just("/".to_string()),
            Just("\\".to_string()),
            Just("\n".to_string()),
            Just("=".to_string()),
            Just("L".to_string()),
            Just("include ".to_string()),
            "[0-9]{1,3}",
            any::<char>().prop_map(String::from),
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn substitution_never_panics(text in language_text(), value in language_text()) {
        let mut vars = Vars::new();
        vars.set("L", value.clone());
        vars.set("HCRON_EVENT_NAME", "/a/b/c");
        let once = substitute(&text, &vars).into_owned();
        // Text without references comes back unchanged.
        if !text.contains(['$', '#']) {
            prop_assert_eq!(once, text);
        }
    }

    #[test]
    fn line_processing_and_validation_never_panic_and_every_rejection_says_where(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        text in language_text(),
    ) {
        for content in [String::from_utf8_lossy(&bytes).into_owned(), text] {
            let file = Arc::new(SourceFile::parse(&content));
            let event = Event::load("/p/q".into(), Ok(Part { path: "/p/q".into(), file }), &NoIncludes, &options().context);
            let findings = event.findings();
            match event.kind() {
                Kind::Normal => {
                    prop_assert!(event.schedule().is_some());
                    prop_assert!(findings.iter().all(|f| f.severity == Severity::Warning), "an accepted event has no error: {findings:?}");
                }
                Kind::Template => prop_assert!(event.schedule().is_none()),
                Kind::Partial | Kind::Unknown => {
                    prop_assert!(event.schedule().is_none());
                    prop_assert!(findings.iter().any(|f| f.severity == Severity::Error), "a rejection says why: {:?}", event.reason());
                    prop_assert!(findings.iter().all(|f| &*f.path == "/p/q"), "{findings:?}");
                    if matches!(event.reason(), Reason::BadDefinition | Reason::BadWhen) {
                        // The physical line the offending logical line starts on.
                        let lines = content.split('\n').count() as u32;
                        let at_a_line = findings.iter().any(|f| f.lineno.is_some_and(|n| (1..=lines).contains(&n)) && f.text.is_some());
                        prop_assert!(at_a_line, "{:?} names no line of the file: {findings:?}", event.reason());
                    }
                }
            }
        }
    }

    #[test]
    fn when_parser_never_panics(text in language_text(), field in 0usize..6) {
        let field = Field::ALL[field];
        if let Ok((bits, _)) = parse_field(field, &text) {
            let (min, max) = field.range();
            prop_assert_eq!(bits >> (max - min + 1), 0, "no bit beyond the field's range");
        }
    }
}

/// An entry of a random tree.
#[derive(Debug, Clone)]
enum Entry {
    File(String),
    Bytes(Vec<u8>),
    Link(String),
    Dir,
}

fn random_tree() -> impl Strategy<Value = Vec<(String, Entry)>> {
    let name = prop_oneof![Just("a"), Just("b"), Just("c"), Just("d/a"), Just("d/b"), Just("d/e/a")];
    let target = prop_oneof![
        Just("a"),
        Just("b"),
        Just("../a"),
        Just("../../a"),
        Just("./d"),
        Just("d/a"),
        Just("d/e"),
        Just("/etc/passwd"),
        Just(".."),
        Just("c"),
        Just("d/../b"),
    ];
    let bytes = proptest::collection::vec(any::<u8>(), 0..200).prop_map(Entry::Bytes);
    let entry = prop_oneof![language_text().prop_map(Entry::File), bytes, target.prop_map(|t| Entry::Link(t.to_owned())), Just(Entry::Dir)];
    proptest::collection::vec((name.prop_map(str::to_owned), entry), 0..12)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn tree_loader_never_panics_and_stays_inside(entries in random_tree(), max_symlinks in 0u32..4) {
        let mut tree = TreeBuilder::new();
        for (name, entry) in entries {
            let path = tree.root().join(&name);
            if std::fs::symlink_metadata(&path).is_ok() || path.ancestors().skip(1).any(|p| p.is_file() || p.is_symlink()) {
                continue;
            }
            tree = match entry {
                Entry::File(content) => tree.file(&name, content),
                Entry::Bytes(content) => tree.file(&name, content),
                Entry::Link(target) => tree.link(&name, &target),
                Entry::Dir => tree.dir(&name),
            };
        }
        let loaded = tree.load_with(|o| o.max_symlinks = max_symlinks);
        for event in loaded.tree.events() {
            if let Some(definition) = event.definition() {
                for part in definition.parts() {
                    let inside = tree.root().join(part.path.trim_start_matches('/'));
                    prop_assert!(std::fs::symlink_metadata(&inside).is_ok_and(|m| m.is_file()), "{} read from outside: {}", event.name(), part.path);
                }
            }
        }
    }
}

proptest! {
    #[test]
    fn log_lines_read_back(user in language_text(), value in language_text()) {
        let entry = hcron::log::Entry::new("2020-01-01T00:00:00".into(), "message", &user).field("message", &value).field("type", "info");
        let parsed = hcron::log::parse_line(&entry.line()).expect("a log line");
        prop_assert!(!entry.line().contains('\n'));
        prop_assert_eq!(parsed.user, user);
        prop_assert_eq!(&parsed.fields[0], &("message".to_owned(), value));
    }
}
