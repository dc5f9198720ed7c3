//! Remote launches over OpenSSH to one loopback host (needs root: it makes
//! a test user and runs an sshd on 127.0.0.11).
//!
//! `cargo bench --bench ssh`. Targets (issue 5): with connection reuse at
//! least 100 launches/s, and at least 10× the rate of a fresh connection
//! per job measured in the same run; a job for an offline host fails in
//! under 10 ms.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hcron::account::Account;
use hcron::clock::{Clock, SystemClock};
use hcron::engine::{Activation, Engine, Outcome, Settings, TriggerName};
use hcron::exec::health::Health;
use hcron::exec::{ExecConfig, Spawner, execute};

mod ssh_site;

use ssh_site::SshSite;

/// Jobs at once, for both kinds of connection: the executor lets 8 share a master.
const CONCURRENCY: usize = 8;

fn main() {
    // The spawner is forked before any thread starts.
    let spawner = Arc::new(Spawner::start().expect("spawner"));
    assert!(nix::unistd::geteuid().is_root(), "the SSH benchmark makes a user and runs sshd: run it as root");
    let dir = tempfile::tempdir().unwrap();
    let alias = |port: u16| {
        format!(
            "Host hb\n  HostName 127.0.0.11\n  Port {port}\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n"
        )
    };
    // OpenSSH's default of 10 sessions a connection, said outright: the executor lets 8 share a master.
    let site =
        SshSite::start(dir.path(), &format!("hcb{}", std::process::id() % 100_000), alias, "MaxStartups 200:30:400\nMaxSessions 10\n");
    let user = site.user.clone();

    let events = dir.path().join("events");
    std::fs::create_dir_all(&events).unwrap();
    for (name, host) in [("run", "hb"), ("off", "hoff")] {
        std::fs::write(events.join(name), format!("as_user=\nhost={host}\ncommand=true\nnotify_email=\nnotify_message=\n")).unwrap();
    }
    let tree = Arc::new(
        hcron::tree::load(
            &hcron::tree::LocalFs,
            &events,
            &hcron::config::Config::default().tree_options(hcron::event::LoadContext { host_name: "h".into(), server_name: "s".into() }),
        )
        .unwrap()
        .tree,
    );
    let account = Account::by_name(&user).unwrap();
    let settings =
        Settings { max_chain_events: 5, max_next_events: 8, max_email_notifications: 16, fqdn: "h".into(), server_name: "s".into() };
    let mut engine = Engine::new(SystemClock, settings.clone());
    let owner: Arc<str> = user.as_str().into();
    let job = |engine: &mut Engine<SystemClock>, event: &str| {
        let name: Arc<str> = event.into();
        let job = engine.root_job(&owner, &tree, name, TriggerName::OnDemand, "bench".into(), SystemClock.now());
        let definition = tree.get(event).unwrap().definition().unwrap();
        let activation = Activation::evaluate(&job, definition, SystemClock.now(), &settings);
        (job, activation)
    };
    let config = |persist: u64| ExecConfig {
        allow_localhost: false,
        allow_root_events: false,
        error_on_empty_command: false,
        remote_shell_type: "ssh".into(),
        remote_shell_exec: "/usr/bin/ssh".into(),
        local_names: HashSet::new(),
        switch_user: true,
        spawner: spawner.clone(),
        spawn_timeout: Duration::from_secs(15),
        control_dir: dir.path().join("ssh"),
        control_persist: persist,
        output_limit: 65536,
        health: Arc::new(Mutex::new(Health::new(3, Duration::from_secs(60)))),
        sessions: Arc::default(),
        cancels: Default::default(),
        probes: None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let launches = |config: &ExecConfig, count: usize, engine: &mut Engine<SystemClock>| {
        let jobs: Vec<_> = (0..count).map(|_| job(engine, "/run")).collect();
        let started = Instant::now();
        let failures = runtime.block_on(async {
            let semaphore = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
            let tasks: Vec<_> = jobs
                .into_iter()
                .map(|(job, activation)| {
                    let (config, account, semaphore) = (config.clone(), account.clone(), semaphore.clone());
                    tokio::spawn(async move {
                        let _permit = semaphore.acquire().await.unwrap();
                        execute(&config, &job, &activation, &account).await.outcome() != Outcome::Success
                    })
                })
                .collect();
            let mut failures = 0;
            for task in tasks {
                failures += usize::from(task.await.unwrap());
            }
            failures
        });
        (count as f64 / started.elapsed().as_secs_f64(), failures)
    };
    let shared = config(300);
    let _ = launches(&shared, 1, &mut engine);
    let (reuse, reuse_failed) = launches(&shared, 1000, &mut engine);
    let (fresh, fresh_failed) = launches(&config(0), 60, &mut engine);
    println!(
        "1000 launches to one host with connection reuse: {reuse:.0}/s ({reuse_failed} failed); fresh connection per job: {fresh:.1}/s ({fresh_failed} failed); ratio {:.1}x",
        reuse / fresh
    );

    for n in 0..3 {
        shared.health.lock().unwrap().failure("hoff", jiff::Timestamp::now(), &format!("failure {n}"));
    }
    let (job, activation) = job(&mut engine, "/off");
    let started = Instant::now();
    for _ in 0..100 {
        let execution = runtime.block_on(execute(&shared, &job, &activation, &account));
        assert!(matches!(execution.outcome(), Outcome::Failure(hcron::engine::Failure::Offline(Some(_)))));
    }
    println!("a job for an offline host fails in {:.3} ms", started.elapsed().as_secs_f64() * 1000.0 / 100.0);
}
