//! `hcron servers`: every scheduler a command may reach, whether it
//! answers, how fast, and what it is.

use std::process::ExitCode;
use std::time::Instant;

use super::client::{Reach, Target, ask_once};
use super::daemon_commands::ConfigArg;
use crate::config::Config;
use crate::control::{Request, Response};

/// `hcron servers`: the primary, then every backup of `HCRON_HOSTFILE`
/// (whatever the policy), each asked once for its state. Succeeds when
/// any answers.
pub fn run(args: ConfigArg) -> anyhow::Result<ExitCode> {
    let config = Config::find(args.config.as_deref())?;
    let reach = Reach { policy: super::client::Policy::All, ..Reach::from_env(args.timeout)? };
    let primary = reach.primary(&config);
    let backups = reach.backups(&config, &primary)?;
    println!("{:<32} {:<7} {:>10}  {:<9} {:<7} server name / why not", "server", "answers", "round trip", "version", "role");
    let mut any = false;
    for (n, target) in std::iter::once(&primary).chain(&backups).enumerate() {
        let name = if n == 0 { format!("{} (primary)", shown(target)) } else { shown(target) };
        let start = Instant::now();
        let answer = ask_once(target, &Request::Info, reach.connect_timeout);
        let rtt = format!("{:.1} ms", start.elapsed().as_secs_f64() * 1000.0);
        let (answers, rtt, version, role, said) = match answer {
            Ok(Response::Info(info)) => {
                let or_dash = |s: String| if s.is_empty() { "-".to_owned() } else { s };
                ("yes", rtt, or_dash(info.version), or_dash(info.role), info.server_name)
            }
            Ok(Response::Error { message }) => ("refuses", rtt, "-".into(), "-".into(), message),
            Ok(other) => ("?", rtt, "-".into(), "-".into(), format!("unexpected answer: {other:?}")),
            Err(why) => ("no", "-".into(), "-".into(), "-".into(), why),
        };
        any |= answers == "yes";
        println!("{name:<32} {answers:<7} {rtt:>10}  {version:<9} {role:<7} {said}");
    }
    Ok(if any { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// A target's name in the table.
fn shown(target: &Target) -> String {
    match target {
        Target::Local(_) => "this host".to_owned(),
        Target::Remote(server) => server.to_string(),
    }
}
