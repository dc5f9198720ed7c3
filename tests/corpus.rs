//! The differential corpus: generated trees run through `hcron list` and
//! `hcron run`, compared line by line with what the original hcron 1.5
//! printed for the same trees (`tests/fixtures/corpus/`, made by
//! `scripts/corpus-regen`; the original is never needed here).
//!
//! Two sets: `dev`, the trees the project was developed against, and
//! `holdout`, seeds from another range, generated once and never looked at
//! while fixing differences. Where the project differs on purpose the
//! fixture says which decision (`../shared/spec/decisions.md`) applies, and
//! a failure names it:
//! - decisions 2: the original ran with its `max_events_per_user` out of
//!   reach, since the project ignores a legacy file's limit (and 1.5 never
//!   enforced it);
//! - decisions 7: the original ran with `when_expire` measured against the
//!   simulated clock (its real clock made every past job expire).

mod fixture;
mod generate;

use std::path::Path;

use fixture::{Answer, Fixture};

/// The user the project runs as: in a user namespace of its own the caller is root there.
fn user_name() -> String {
    match nix::unistd::geteuid().is_root() {
        true => nix::unistd::User::from_uid(nix::unistd::getuid()).unwrap().unwrap().name,
        false => "root".into(),
    }
}

/// What the project must print for `fixture`: the original's answers with
/// the names the project runs under (its host name is set, as the
/// original's was, in a UTS namespace: see `fixture::in_namespace`).
fn expected(fixture: &Fixture, fqdn: &str, user: &str) -> Vec<Answer> {
    let instantiate = |line: &String| line.replace("@FQDN@", fqdn).replace("@USER@", user);
    fixture
        .answers
        .iter()
        .map(|a| Answer {
            command: a.command.clone(),
            stdout: a.stdout.iter().map(instantiate).collect(),
            stderr: a.stderr.iter().map(instantiate).collect(),
            status: a.status,
        })
        .collect()
}

/// The project's answers for the fixture's case (warnings on standard error
/// are the project's own, e.g. decisions 2's, and are not compared).
fn actual(fixture: &Fixture) -> Vec<Answer> {
    let case = generate::generate(fixture.seed);
    assert_eq!(case.seed, fixture.seed);
    let dir = tempfile::tempdir().unwrap();
    fixture::write(&case, dir.path());
    let program = [env!("CARGO_BIN_EXE_hcron")];
    case.commands
        .iter()
        .map(|command| {
            let mut answer = fixture::run(&program, dir.path(), &case, command, "", "");
            answer.stderr.retain(|l| !l.starts_with("warning: "));
            answer
        })
        .collect()
}

/// The first difference between two answers, in a few lines.
fn difference(expected: &Answer, actual: &Answer) -> Option<String> {
    if expected == actual {
        return None;
    }
    let render = |a: &Answer| {
        let mut lines: Vec<String> = a.stdout.iter().map(|l| format!("> {l}")).collect();
        lines.extend(a.stderr.iter().map(|l| format!("! {l}")));
        lines.push(format!("= {}", a.status));
        lines
    };
    let (e, a) = (render(expected), render(actual));
    let at = e.iter().zip(&a).position(|(x, y)| x != y).unwrap_or(e.len().min(a.len()));
    let show = |lines: &[String]| lines.iter().skip(at).take(3).map(|l| format!("      {l}\n")).collect::<String>();
    Some(format!("  $ hcron {}\n    line {}: the original\n{}    the project\n{}", expected.command, at + 1, show(&e), show(&a)))
}

fn check_set(set: &str, minimum: usize) {
    let dir = fixture::fixture_dir(set);
    let mut paths: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    assert!(paths.len() >= minimum, "{}: {} fixtures, expected at least {minimum}", dir.display(), paths.len());
    let (fqdn, user) = (fixture::ORACLE_HOST, user_name());
    let mut failures = Vec::new();
    for path in &paths {
        let fixture = Fixture::parse(&std::fs::read_to_string(path).unwrap());
        let expected = expected(&fixture, fqdn, &user);
        let actual = actual(&fixture);
        assert_eq!(expected.len(), actual.len());
        let differences: String = expected.iter().zip(&actual).filter_map(|(e, a)| difference(e, a)).collect();
        if !differences.is_empty() {
            let decisions: Vec<String> = fixture.decisions.iter().map(|(n, _)| format!("decisions {n}")).collect();
            let name = Path::new(path).file_name().unwrap().to_string_lossy();
            let applied = if decisions.is_empty() { String::new() } else { format!(" (with {})", decisions.join(", ")) };
            failures.push(format!("{set}/{name}{applied}:\n{differences}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} trees differ from hcron 1.5:\n{}", failures.len(), paths.len(), failures.join("\n"));
}

#[test]
fn the_project_answers_as_hcron_1_5_on_the_development_corpus() {
    check_set("dev", 300);
}

#[test]
fn the_project_answers_as_hcron_1_5_on_the_held_out_corpus() {
    check_set("holdout", 120);
}

#[test]
fn fixtures_parse_back_to_what_was_rendered() {
    let path = fixture::fixture_dir("dev").join("0001.txt");
    let text = std::fs::read_to_string(path).unwrap();
    assert_eq!(Fixture::parse(&text).render(), text);
}

#[test]
fn the_generator_is_deterministic_and_varied() {
    let a = generate::generate(42);
    let b = generate::generate(42);
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    assert_ne!(format!("{a:?}"), format!("{:?}", generate::generate(43)));
}

/// Thousands of generated expressions, each with what the original's
/// substitution module (`assign.py`) made of it.
#[test]
fn substitution_agrees_with_hcron_1_5_on_every_generated_expression() {
    let mut vars = hcron::event::Vars::new();
    for (name, value) in generate::REFERENCE_VARS {
        vars.set(*name, *value);
    }
    let table = std::fs::read_to_string(fixture::fixture_dir("").join("substitutions.jsonl")).unwrap();
    let mut wrong = Vec::new();
    let mut count = 0;
    let generated = generate::references(1, 4000);
    for (line, generated) in table.lines().zip(&generated) {
        let [expression, want]: [String; 2] = serde_json::from_str(line).unwrap();
        assert_eq!(&expression, generated, "the table is stale: run scripts/corpus-regen");
        count += 1;
        let got = hcron::event::subst::substitute(&expression, &vars);
        if got != want {
            wrong.push(format!("  {expression:?}\n    the original {want:?}\n    the project  {got:?}"));
        }
    }
    assert!(count >= 4000, "{count} expressions");
    assert!(wrong.is_empty(), "{} of {count} expressions differ:\n{}", wrong.len(), wrong.join("\n"));
}
