//! What the Debian package ships: the default configuration, completions,
//! the systemd readiness message.

use std::path::Path;
use std::time::Duration;

use crate::bounded::Bounded;
use crate::daemon_util::RunningDaemon;

fn packaging(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging").join(name)).unwrap()
}

#[test]
fn the_shipped_configuration_shows_every_key_with_its_default() {
    let shipped = packaging("hcron.toml");
    let error = toml::from_str::<hcron::config::Config>("no_such_key = 1").unwrap_err().to_string();
    for key in error.split("expected one of ").nth(1).unwrap().split('`').skip(1).step_by(2) {
        assert!(shipped.contains(&format!("\n#{key} = ")), "packaging/hcron.toml lacks {key}");
    }
    // As shipped (all commented) it is the defaults; uncommented, the defaults still.
    let active: hcron::config::Config = toml::from_str(&shipped).unwrap();
    let uncommented: String = shipped
        .lines()
        .filter(|l| !l.contains("# unset by default"))
        .map(|l| {
            let key_line = l
                .strip_prefix('#')
                .filter(|rest| rest.split_once(" = ").is_some_and(|(k, _)| k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')));
            key_line.unwrap_or(l)
        })
        .collect::<Vec<_>>()
        .join("\n");
    let explicit: hcron::config::Config = toml::from_str(&uncommented).unwrap_or_else(|e| panic!("{e}"));
    let default = format!("{:?}", hcron::config::Config::default());
    assert_eq!(format!("{active:?}"), default);
    assert_eq!(format!("{explicit:?}"), default);
}

#[test]
fn the_shipped_completions_are_current() {
    for (shell, file) in [("bash", "hcron.bash"), ("zsh", "_hcron"), ("fish", "hcron.fish")] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_hcron")).args(["completions", shell]).output_bounded().unwrap();
        // Compared without printing both scripts (thousands of lines) on a mismatch.
        let current = String::from_utf8(output.stdout).unwrap() == packaging(&format!("completions/{file}"));
        assert!(current, "regenerate packaging/completions/{file}: hcron completions {shell} > packaging/completions/{file}");
    }
}

#[test]
fn systemd_is_told_when_the_daemon_is_ready() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    std::fs::create_dir_all(dir.path().join("events")).unwrap();
    let daemon =
        RunningDaemon::standalone_with_env(&dir.path().join("events"), &dir.path().join("state"), &[], &[("NOTIFY_SOCKET", &socket_path)]);
    let mut buffer = [0u8; 64];
    let len = socket.recv(&mut buffer).expect("READY=1 within 10 s");
    assert_eq!(&buffer[..len], b"READY=1");
    assert!(daemon.stop().success());
}

#[test]
fn the_unit_keeps_state_and_logs_root_s_alone() {
    let unit = packaging("hcron-scheduler.service");
    let settings: Vec<&str> = unit.lines().map(str::trim).collect();
    for wanted in ["UMask=0077", "StateDirectoryMode=0700", "LogsDirectoryMode=0700", "RuntimeDirectoryMode=0755"] {
        assert!(settings.contains(&wanted), "the unit lacks {wanted}");
    }
}
