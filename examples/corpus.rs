//! The differential corpus's tool (see `tests/corpus/`): writes generated
//! trees, and regenerates the fixtures by running the original hcron 1.5
//! (`scripts/corpus-regen` calls it; the tests never need the original).
//!
//!     corpus write SEED DIR
//!     corpus regen ORACLE SET FIRST LAST     (fixtures for seeds FIRST..=LAST into tests/fixtures/corpus/SET)
//!     corpus show SEED                       (the commands of a case)
//!     corpus subst-regen ORACLE              (the substitution table, from the original's assign.py)

#[path = "../tests/bounded.rs"]
mod bounded;
#[path = "../tests/corpus/fixture.rs"]
mod fixture;
#[path = "../tests/corpus/generate.rs"]
mod generate;
#[path = "../tests/host_namespace.rs"]
mod host_namespace;

use std::process::ExitCode;

use fixture::{Answer, Fixture};
use generate::{Case, generate};

/// Runs the original's wrapper (argv[2]) with `when_expire` measured
/// against the simulated clock instead of the real one: decisions 7, so
/// that its answers are the project's. Nothing else changes.
const SIMULATED_EXPIRY: &str = "import os, runpy, sys\n\
    sys.path.insert(0, sys.argv[1])\n\
    sys.argv[0] = os.path.join(os.path.dirname(sys.argv[2]), 'kit/static/usr/bin/hcron')\n\
    import hcron.event, hcron.globs\n\
    from datetime import datetime\n\
    class SimulatedNow(datetime):\n\
    \x20   @classmethod\n\
    \x20   def now(cls, tz=None):\n\
    \x20       return hcron.globs.clock.now()\n\
    hcron.event.datetime = SimulatedNow\n\
    sys.argv = sys.argv[2:]\n\
    runpy.run_path(sys.argv[0], run_name='__main__')\n";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["write", seed, dir] => {
            let case = generate(seed.parse().unwrap());
            fixture::write(&case, std::path::Path::new(dir));
            for command in &case.commands {
                println!("{}", fixture::arguments(&case, command).join(" "));
            }
        }
        ["show", seed] => println!("{:#?}", generate(seed.parse().unwrap())),
        ["regen", oracle, set, first, last] => {
            let out = fixture::fixture_dir(set);
            std::fs::create_dir_all(&out).unwrap();
            for seed in first.parse::<u64>().unwrap()..=last.parse().unwrap() {
                let fixture = regenerate(oracle, generate(seed));
                let text = fixture.render();
                assert_eq!(Fixture::parse(&text), fixture, "seed {seed}: the fixture does not read back");
                std::fs::write(out.join(format!("{seed:04}.txt")), text).unwrap();
            }
        }
        ["subst-regen", oracle] => {
            let table = substitution_table(oracle, &generate::references(1, 4000));
            std::fs::write(fixture::fixture_dir("").join("substitutions.jsonl"), table).unwrap();
        }
        _ => {
            eprintln!("usage: corpus write SEED DIR | corpus show SEED | corpus regen ORACLE SET FIRST LAST");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// Runs every command of `case` through the original.
fn regenerate(oracle: &str, case: Case) -> Fixture {
    let user = nix_user();
    let answers = answers_of(oracle, &case, &user);
    let mut decisions = Vec::new();
    let mut final_answers = answers.clone();
    if let Some(config) = &case.config {
        // decisions 2: the project ignores a legacy max_events_per_user; the
        // original with the limit out of reach is what it must print.
        let lifted = Case { config: Some(lift_limit(config)), ..case.clone() };
        let lifted_answers = answers_of(oracle, &lifted, &user);
        if lifted_answers != answers {
            let marked = only_limit_differences(&answers, &lifted_answers);
            decisions.push((2, vec![marked.to_string()]));
            final_answers = lifted_answers;
        }
    }
    if case.entries.iter().any(|e| matches!(e, generate::Entry::File { content, .. } if content.contains("when_expire"))) {
        // The original ran with `when_expire` measured against the simulated clock.
        decisions.push((7, Vec::new()));
    }
    Fixture { seed: case.seed, decisions, answers: final_answers }
}

fn answers_of(oracle: &str, case: &Case, user: &str) -> Vec<Answer> {
    let dir = tempfile::tempdir().unwrap();
    fixture::write(case, dir.path());
    let library = std::path::Path::new(oracle).parent().unwrap().join("kit/static/usr/lib/hcron");
    let program = ["/usr/bin/python3", "-c", SIMULATED_EXPIRY, library.to_str().unwrap(), oracle];
    case.commands.iter().map(|command| fixture::run(&program, dir.path(), case, command, fixture::ORACLE_HOST, user)).collect()
}

/// The configuration with `max_events_per_user` out of reach (set, or added: 1.5's default is 25).
fn lift_limit(config: &str) -> String {
    let kept = config.lines().filter(|line| !line.contains("\"max_events_per_user\""));
    kept.map(|line| if line.trim() == "{" { "{\n    \"max_events_per_user\": 1000000,".to_string() } else { line.to_string() })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Checks that the original's answers with its limit differ from those
/// without only where 1.5 marks events (it never enforced the limit);
/// returns how many lines it marked.
fn only_limit_differences(with_limit: &[Answer], without: &[Answer]) -> usize {
    let mut marked = 0;
    for (a, b) in with_limit.iter().zip(without) {
        let kept: Vec<&String> = a.stdout.iter().filter(|l| !l.contains("reached maximum events allowed")).collect();
        marked += a.stdout.len() - kept.len();
        assert_eq!(kept.len(), b.stdout.len(), "{}: more than the limit's lines differ", a.command);
        for (x, y) in kept.iter().zip(&b.stdout) {
            if x != &y {
                assert!(x.contains("maximum events reached"), "{}: {x} / {y}", a.command);
                marked += 1;
            }
        }
        assert_eq!((&a.stderr, a.status), (&b.stderr, b.status));
    }
    marked
}

/// Each expression with what the original's `hcron_variable_substitution`
/// makes of it under [`generate::REFERENCE_VARS`], one JSON array a line.
fn substitution_table(oracle: &str, expressions: &[String]) -> String {
    let library = std::path::Path::new(oracle).parent().unwrap().join("kit/static/usr/lib/hcron");
    let script = "import json, sys\n\
        sys.path.insert(0, sys.argv[1])\n\
        from hcron.assign import hcron_variable_substitution as subst\n\
        vars = dict(json.loads(sys.argv[2]))\n\
        for line in sys.stdin:\n\
        \x20   e = json.loads(line)\n\
        \x20   print(json.dumps([e, subst(e, dict(vars))], ensure_ascii=False))\n";
    let vars = serde_json::to_string(generate::REFERENCE_VARS).unwrap();
    let input = tempfile::tempfile().unwrap();
    let lines: String = expressions.iter().map(|e| serde_json::to_string(e).unwrap() + "\n").collect();
    std::io::Write::write_all(&mut &input, lines.as_bytes()).unwrap();
    std::io::Seek::rewind(&mut &input).unwrap();
    let output = std::process::Command::new("/usr/bin/python3")
        .args(["-c", script, library.to_str().unwrap(), &vars])
        .stdin(input)
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

fn nix_user() -> String {
    let output = std::process::Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}
