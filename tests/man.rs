//! The man pages render without warnings, and document every configuration
//! key, every event field and every subcommand the code has.

use crate::bounded::Bounded;
use std::path::Path;
use std::process::Command;

fn page(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("man").join(name)).unwrap()
}

#[test]
fn pages_render_without_warnings() {
    for name in ["hcron.1", "hcron-scheduler.8", "hcron-event.5", "hcron.toml.5"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("man").join(name);
        let output = Command::new("groff").args(["-ww", "-man", "-z", "-Tutf8"]).arg(&path).output_bounded().expect("groff (groff-base)");
        assert!(output.status.success() && output.stderr.is_empty(), "{name}: {}", String::from_utf8_lossy(&output.stderr));
    }
}

#[test]
fn every_configuration_key_is_documented() {
    // serde lists every known key when it meets an unknown one.
    let error = toml::from_str::<hcron::config::Config>("no_such_key = 1").unwrap_err().to_string();
    let keys: Vec<&str> = error.split("expected one of ").nth(1).unwrap().split('`').skip(1).step_by(2).collect();
    assert!(keys.len() > 40, "{error}");
    let toml = page("hcron.toml.5");
    for key in keys {
        assert!(toml.contains(&format!(".BR {key} ")), "hcron.toml(5) does not document {key}");
    }
}

#[test]
fn every_event_field_is_documented() {
    let event = page("hcron-event.5");
    let extensions = ["when_year", "when_expire", "notify_on", "exec_wait", "exec_timeout"];
    for field in hcron::event::BLANK_FIELDS.iter().chain(&hcron::event::REQUIRED_FIELDS).chain(&extensions) {
        assert!(event.contains(field), "hcron-event(5) does not document {field}");
    }
}

#[test]
fn every_subcommand_is_documented() {
    let manual = page("hcron.1");
    let command = <hcron::cli::Cli as clap::CommandFactory>::command();
    for sub in command.get_subcommands().map(|s| s.get_name()) {
        let escaped = sub.replace('-', "\\-");
        assert!(
            manual.contains(&format!(".BR {escaped} "))
                || manual.contains(&format!(".BI {escaped} "))
                || manual.contains(&format!(".B {escaped}\n")),
            "hcron(1) does not document {sub}"
        );
    }
}
