//! `hcron` from another host, and trees polled for unseen changes.
//!
//! `cargo bench --bench remote` (as root: it makes a user, runs a root
//! daemon for it and an sshd on 127.0.0.11). Targets (issue 13): a remote
//! `hcron reload` over a warm SSH master at most 3× a local one and at most
//! 50 ms; one poll of an unchanged 100,000-event tree at most 0.3 s of CPU.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hcron::config::Config;
use hcron::tree::{LocalFs, load, unchanged};

mod ssh_site;

use ssh_site::{SshSite, run};

/// Round trips timed per kind.
const ROUNDS: usize = 20;

fn main() {
    poll();
    assert!(nix::unistd::geteuid().is_root(), "the remote benchmark makes a user and runs sshd: run it as root");
    round_trips();
}

/// CPU time of polls of an unchanged 100,000-event tree.
fn poll() {
    let dir = tempfile::tempdir().unwrap();
    hcron::synth::generate(dir.path(), 100_000).expect("generate the tree");
    // Files written as a load begins are not trusted by the next poll.
    std::thread::sleep(Duration::from_millis(200));
    let config = Config::default();
    let mut options = config.tree_options(config.load_context());
    options.max_events = 200_000;
    let loaded = load(&LocalFs, dir.path(), &options).expect("load");
    let events = loaded.tree.events().len();
    let mut cpu: Vec<f64> = (0..5)
        .map(|_| {
            let before = cpu_seconds();
            assert!(unchanged(&LocalFs, dir.path(), &options, &loaded.files).unwrap(), "the tree did not change");
            cpu_seconds() - before
        })
        .collect();
    cpu.sort_by(f64::total_cmp);
    println!("poll of an unchanged tree of {events} events: median {:.3} s of CPU, worst {:.3} s (target <= 0.3 s)", cpu[2], cpu[4]);
}

/// User and system CPU time of this process so far, all threads.
fn cpu_seconds() -> f64 {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).unwrap();
    let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    seconds(usage.user_time()) + seconds(usage.system_time())
}

/// `hcron reload` through the socket, and over SSH with a warm and a cold master.
fn round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("run/control.sock");
    // The relay is the hcron under test, found on the PATH sshd sets.
    let bin = Path::new(env!("CARGO_BIN_EXE_hcron")).parent().unwrap().display().to_string();
    let known = |_| "Host 127.0.0.11\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n".to_owned();
    let relay = format!("SetEnv HCRON_SOCKET={} PATH={bin}:/usr/bin:/bin\n", socket.display());
    let site = SshSite::start(dir.path(), &format!("hcr{}", std::process::id() % 100_000), known, &relay);
    let (user, home, port) = (site.user.clone(), site.home.clone(), site.port);
    let account = hcron::account::Account::by_name(&user).unwrap();
    let events = home.join(".hcron/bench/events");
    std::fs::create_dir_all(&events).unwrap();
    std::fs::write(
        events.join("e"),
        "as_user=\nhost=localhost\ncommand=true\nnotify_email=\nwhen_month=2\nwhen_day=31\nwhen_hour=0\nwhen_minute=0\nwhen_dow=*\n",
    )
    .unwrap();
    run("chown", &["-R", &format!("{user}:{user}"), home.join(".hcron").to_str().unwrap()]);

    let etc = dir.path().join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    let config = format!(
        "server_name = \"bench\"\nallow_localhost = true\ncontrol_socket = \"{}\"\nhistory_path = \"{1}/lib/history.sqlite\"\nlog_path = \"{1}/log/hcron.log\"\n",
        socket.display(),
        dir.path().display()
    );
    std::fs::write(etc.join("hcron.toml"), config).unwrap();
    std::fs::write(etc.join("hcron.allow"), format!("{user}\n")).unwrap();
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_hcron-scheduler"))
        .arg("--config")
        .arg(etc.join("hcron.toml"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let ready = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < ready, "the daemon did not start");
        std::thread::sleep(Duration::from_millis(20));
    }

    let server = format!("127.0.0.11:{port}");
    let reload = |env: &[(&str, &str)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hcron"));
        command.arg("reload").env_clear().env("HOME", &home).env("PATH", "/usr/bin:/bin").envs(env.iter().copied());
        command.uid(account.uid).gid(account.gid).stdout(Stdio::null());
        let started = Instant::now();
        let output = command.output().unwrap();
        assert!(output.status.success(), "hcron reload: {}", String::from_utf8_lossy(&output.stderr));
        started.elapsed().as_secs_f64() * 1000.0
    };
    let median = |mut times: Vec<f64>| {
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    };
    let socket_text = socket.display().to_string();
    let local = median((0..ROUNDS).map(|_| reload(&[("HCRON_SOCKET", &socket_text)])).collect());
    let runtime = home.join("runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    run("chown", &[&format!("{user}:{user}"), runtime.to_str().unwrap()]);
    let warm_env = [("HCRON_HOST", server.as_str()), ("XDG_RUNTIME_DIR", runtime.to_str().unwrap())];
    reload(&warm_env);
    let warm = median((0..ROUNDS).map(|_| reload(&warm_env)).collect());
    // A cold master: a runtime directory of its own for each command.
    let cold = median(
        (0..ROUNDS / 2)
            .map(|n| {
                let fresh = home.join(format!("cold{n}"));
                std::fs::create_dir_all(&fresh).unwrap();
                run("chown", &[&format!("{user}:{user}"), fresh.to_str().unwrap()]);
                reload(&[("HCRON_HOST", server.as_str()), ("XDG_RUNTIME_DIR", fresh.to_str().unwrap())])
            })
            .collect(),
    );
    println!(
        "hcron reload round trip, median: local {local:.1} ms; over SSH with a warm master {warm:.1} ms ({:.1}x local; target <= 3x and <= 50 ms); with a cold one {cold:.1} ms",
        warm / local
    );
    let _ = daemon.kill();
    let _ = daemon.wait();
}
