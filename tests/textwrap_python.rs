//! The textwrap port against CPython's own `textwrap`, on generated text:
//! `hcron run --show-event/--show-email` must break lines exactly as the
//! original did.

use std::io::Write;
use std::process::{Command, Stdio};

use hcron::textwrap::wrap;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just(" ".to_string()),
        Just("  ".to_string()),
        Just("-".to_string()),
        Just("--".to_string()),
        Just("\t".to_string()),
        Just("\n".to_string()),
        Just("\r".to_string()),
        Just(".".to_string()),
        Just("é".to_string()),
        "[a-z]{1,12}",
        "[0-9]{1,3}",
        "[!\"'&.,?:=/$]",
    ];
    proptest::collection::vec(piece, 0..30).prop_map(|p| p.concat())
}

#[test]
fn wraps_like_cpython() {
    let mut runner = TestRunner::deterministic();
    let strategy = (text(), 4usize..40, any::<bool>());
    let mut cases: Vec<(String, usize, bool)> = (0..1500).map(|_| strategy.new_tree(&mut runner).unwrap().current()).collect();
    // Hyphenated words and em-dashes, which random pieces seldom line up
    // into, at every width that breaks them.
    for text in [
        "so a-b-cd",
        "xyz ab-c-de fg-hi",
        "a-b-c-d-ef",
        "word a.--b x, --y",
        "well-known re-re-entry e-mail--and--so",
        "ab-c.d ab-c- ab-c1",
    ] {
        for width in 4..16 {
            cases.push((text.to_owned(), width, true));
        }
    }
    let script = "import json, sys, textwrap\n\
        out = []\n\
        for text, width, replace in json.load(sys.stdin):\n\
        \x20   w = textwrap.TextWrapper(width=width, initial_indent='    ', subsequent_indent='    ', replace_whitespace=replace)\n\
        \x20   out.append(w.wrap(text))\n\
        json.dump(out, sys.stdout)\n";
    let mut python =
        Command::new("python3").args(["-c", script]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("python3 runs");
    python.stdin.take().unwrap().write_all(serde_json::to_string(&cases).unwrap().as_bytes()).unwrap();
    let output = crate::bounded::finish_bounded(python, "CPython's textwrap");
    assert!(output.status.success());
    let expected: Vec<Vec<String>> = serde_json::from_slice(&output.stdout).unwrap();
    for ((text, width, replace), want) in cases.iter().zip(expected) {
        assert_eq!(wrap(text, *width, "    ", *replace), want, "text {text:?}, width {width}, replace_whitespace {replace}");
    }
}
