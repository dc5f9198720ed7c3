//! The daemon attacked and crashed on purpose (issue 11): each test fails
//! on a daemon without the defence it names.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::Duration;

use crate::bounded::Bounded;
use crate::daemon_util::{RunningDaemon, eventually};

/// The pids of running processes whose command line is exactly `argv`.
pub fn processes(argv: &[&str]) -> Vec<u32> {
    let wanted: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|pid: &u32| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == wanted))
        .collect()
}

/// What each open descriptor of `pid` refers to, by number.
fn descriptors(pid: u32) -> Vec<(u32, String)> {
    let mut fds: Vec<(u32, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let fd = e.file_name().to_str()?.parse().ok()?;
            Some((fd, std::fs::read_link(e.path()).ok()?.display().to_string()))
        })
        .collect();
    fds.sort();
    fds
}

/// The parent of `pid`.
fn parent(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat.rsplit(')').next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Kills, when dropped (the test passed or failed), every process running `argv`.
pub struct KillAll(pub &'static [&'static str]);

impl Drop for KillAll {
    fn drop(&mut self) {
        for pid in processes(self.0) {
            // SAFETY: signalling a process this test started (through the daemon).
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    }
}

#[test]
fn jobs_inherit_no_descriptor_and_a_crash_leaves_no_lock_behind() {
    let dir = tempfile::tempdir().unwrap();
    let (events, state) = (dir.path().join("events"), dir.path().join("state"));
    std::fs::create_dir_all(&events).unwrap();
    let argv = &["sleep", "3017.5"];
    let jobs = KillAll(argv);
    std::fs::write(events.join("long"), format!("as_user=\nhost=localhost\ncommand=exec {}\nnotify_email=\n", argv.join(" "))).unwrap();
    // The daemon's own parent leaks a descriptor to it, as a launcher may.
    let leaked = std::fs::File::create(dir.path().join("leaked")).unwrap();
    let leaked_fd = std::os::fd::AsRawFd::as_raw_fd(&leaked);
    let daemon = RunningDaemon::standalone_with(&events, &state, &[], |command| {
        // SAFETY: dup2 is async-signal-safe; it makes fd 10 a descriptor without close-on-exec.
        unsafe { command.pre_exec(move || if libc::dup2(leaked_fd, 10) < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) }) };
    });
    let (out, err, code) = daemon.hcron(&["activate", "/long"]);
    assert_eq!(code, 0, "{out}{err}");
    let mut pids = Vec::new();
    assert!(eventually(Duration::from_secs(10), || {
        pids = processes(argv);
        !pids.is_empty()
    }));
    let job = pids[0];
    let fds = descriptors(job);
    assert_eq!(fds.iter().map(|(fd, _)| *fd).collect::<Vec<_>>(), [0, 1, 2], "the job holds more than its standard streams: {fds:?}");
    let pid_file = state.join("hcron-scheduler.pid").display().to_string();
    let monitor = descriptors(parent(job));
    assert!(!monitor.iter().any(|(_, target)| *target == pid_file || target.ends_with("/leaked")), "the job's monitor holds {monitor:?}");

    daemon.crash();
    // The job outlives the daemon; a new daemon must start all the same.
    assert!(!processes(argv).is_empty());
    let again = std::panic::catch_unwind(|| RunningDaemon::standalone(&events, &state, &[]));
    drop(jobs);
    let again = again.expect("a daemon restarted after kill -9 while a job runs");
    assert!(again.stop().success());
    assert!(Path::new(&dir.path().join("leaked")).exists());
}

#[test]
fn closed_standard_streams_become_dev_null_and_programs_the_daemon_runs_itself_inherit_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (events, state, config) = (dir.path().join("events"), dir.path().join("state"), dir.path().join("hcron.toml"));
    std::fs::create_dir_all(&events).unwrap();
    std::fs::write(
        events.join("mailer"),
        crate::util::full("when_month=2\nwhen_day=31\n")
            .replace("notify_email=\n", "notify_email=ops@example.com\n")
            .replace("host=h1", "host=localhost"),
    )
    .unwrap();
    // The daemon starts sendmail itself (not through the spawner): what does it hold?
    let (sendmail, fds) = (dir.path().join("sendmail"), dir.path().join("fds"));
    std::fs::write(&sendmail, format!("#!/bin/sh\nls -l /proc/$$/fd > {}.new\ncat > /dev/null\nmv {0}.new {0}\n", fds.display())).unwrap();
    std::fs::set_permissions(&sendmail, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(&config, format!("mail_transport = \"sendmail\"\nsendmail_path = \"{}\"\n", sendmail.display())).unwrap();
    let leaked = std::fs::File::create(dir.path().join("leaked")).unwrap();
    let leaked_fd = std::os::fd::AsRawFd::as_raw_fd(&leaked);
    let daemon = RunningDaemon::standalone_with(&events, &state, &["--config", config.to_str().unwrap()], |command| {
        // SAFETY: dup2 and close are async-signal-safe: a descriptor 42 without close-on-exec, and no standard streams.
        unsafe {
            command.pre_exec(move || {
                if libc::dup2(leaked_fd, 42) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                for fd in 0..3 {
                    libc::close(fd);
                }
                Ok(())
            })
        };
    });
    let streams: Vec<(u32, String)> = descriptors(daemon.pid()).into_iter().filter(|(fd, _)| *fd < 3).collect();
    assert_eq!(streams, [0, 1, 2].map(|fd| (fd, "/dev/null".to_owned())), "the daemon's standard streams");
    let (out, err, code) = daemon.hcron(&["activate", "/mailer"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(eventually(Duration::from_secs(10), || fds.exists()), "sendmail never ran:\n{}", daemon.log_text());
    let held = std::fs::read_to_string(&fds).unwrap();
    assert!(!held.contains("/leaked"), "sendmail inherited the daemon's parent's descriptor:\n{held}");
    assert!(held.contains(" 0 -> ") && held.contains(" 2 -> "), "{held}");
}

/// A root daemon's set-up with one allowed test user (`tag` in its name).
fn allowed_user(tag: &str, extra: &str) -> (crate::root_util::RootSetup, crate::root_util::TestUser) {
    let setup = crate::root_util::RootSetup::new(&[], extra);
    let user = crate::root_util::TestUser::create(tag, &setup.homes());
    std::fs::write(setup.dir.path().join("etc/hcron.allow"), format!("{}\n", user.name)).unwrap();
    (setup, user)
}

/// A root daemon with one allowed test user.
fn root_daemon(extra: &str) -> (crate::root_util::RootSetup, crate::root_util::TestUser, RunningDaemon) {
    let (setup, user) = allowed_user("h", extra);
    let daemon = setup.start();
    (setup, user, daemon)
}

/// Writes `content` to `path` in the user's home, owned by them, with `mode`.
fn user_file(user: &crate::root_util::TestUser, path: &str, content: &str, mode: u32) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = user.home.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, content).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    crate::root_util::run("chown", &["-R", &format!("{0}:{0}", user.name), user.home.to_str().unwrap()]);
    path
}

#[test]
fn a_user_cannot_make_root_read_a_file_through_the_ssh_log() {
    // Every round reaches ssh: the host never goes offline.
    let (setup, user, daemon) = root_daemon("command_spawn_timeout = 5\nhost_attempts_count = 100\n");
    let secret = setup.dir.path().join("secret");
    std::fs::write(&secret, "TOPSECRET root-only line\n").unwrap();
    let fifo = setup.dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap();
    // ssh runs as the user and runs their ProxyCommand, which swaps the log
    // ssh writes (in the user's control directory) for a link, then fails.
    // Someone else's file the user may write to, so may hard-link (protected_hardlinks).
    let shared = setup.dir.path().join("shared");
    std::fs::write(&shared, "TOPSECRET another owner's line\n").unwrap();
    std::fs::set_permissions(&shared, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    let logs = setup.dir.path().join("run/ssh").join(&user.name);
    let cases = [("plain", None), ("link", Some(("-sf", &secret))), ("fifo", Some(("-sf", &fifo))), ("hardlink", Some(("-f", &shared)))];
    for (name, swap) in cases {
        let swap =
            swap.map_or(String::new(), |(how, t)| format!("for f in {}/*.log; do ln {how} {} \"$f\"; done\n", logs.display(), t.display()));
        let script = format!("#!/bin/sh\n{swap}exit 1\n");
        let script = user_file(&user, &format!("{name}.sh"), &script, 0o755);
        user_file(&user, ".ssh/config", &format!("Host *\n  ProxyCommand {}\n", script.display()), 0o600);
        user.event("remote", "as_user=\nhost=127.0.0.11\ncommand=true\nnotify_email=\nnotify_message=\n");
        let (_, err, code) = daemon.hcron_as(user.as_ids(), &["reload"]);
        assert_eq!(code, 0, "{err}");
        let done = daemon.log_lines("done", "/remote").len();
        let (_, err, code) = daemon.hcron_as(user.as_ids(), &["activate", "/remote"]);
        assert_eq!(code, 0, "{err}");
        assert!(eventually(Duration::from_secs(20), || daemon.log_lines("done", "/remote").len() > done), "{}", daemon.log_text());
        let history = serde_json::to_string(&daemon.history(user.as_ids(), &[])).unwrap();
        // Left alone, the log says why, and that is the reason given: ssh's own words for a proxy that
        // exits, which depend on whether it was reading or still writing its banner then.
        let reasons = ["Connection closed by UNKNOWN port 65535", "banner exchange: Connection to UNKNOWN port 65535: Broken pipe"];
        assert!(reasons.iter().any(|reason| history.contains(&format!("cannot reach host (127.0.0.11): {reason}"))), "{name}: {history}");
        let (hosts, _, _) = daemon.hcron_as(user.as_ids(), &["info", "hosts"]);
        if name == "hardlink" {
            let log = logs.read_dir().unwrap().flatten().map(|e| e.path()).find(|p| p.extension().is_some_and(|x| x == "log"));
            let links = log.map(|l| std::os::unix::fs::MetadataExt::nlink(&std::fs::metadata(l).unwrap()));
            let listing = std::process::Command::new("ls").arg("-la").arg(&logs).output_bounded().unwrap();
            assert_eq!(links, Some(2), "the attack did not take place: {}", String::from_utf8_lossy(&listing.stdout));
        }
        for (what, text) in [("history", &history), ("info hosts", &hosts), ("log", &daemon.log_text())] {
            assert!(!text.contains("TOPSECRET"), "{name}: root read the file the user linked, in {what}: {text}");
        }
    }
    // The daemon still answers (it never blocked on the FIFO).
    assert_eq!(daemon.hcron_as(user.as_ids(), &["info"]).2, 0);
}

#[test]
fn a_user_cannot_make_root_connect_to_a_socket_through_the_ssh_control_path() {
    let (setup, user, daemon) = root_daemon("command_spawn_timeout = 5\n");
    // A root-only socket: only root can reach it, through a 0700 directory.
    let private = setup.dir.path().join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(&private, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let listener = std::os::unix::net::UnixListener::bind(private.join("sock")).unwrap();
    listener.set_nonblocking(true).unwrap();
    // The ProxyCommand puts a link to it where the master's socket would be.
    let logs = setup.dir.path().join("run/ssh").join(&user.name);
    let script = format!(
        "#!/bin/sh\nfor f in {}/*.log; do ln -sf {} \"${{f%.log}}\"; done\nexit 1\n",
        logs.display(),
        private.join("sock").display()
    );
    let script = user_file(&user, "link.sh", &script, 0o755);
    user_file(&user, ".ssh/config", &format!("Host *\n  ProxyCommand {}\n", script.display()), 0o600);
    user.event("remote", "as_user=\nhost=127.0.0.11\ncommand=true\nnotify_email=\nnotify_message=\n");
    let (_, err, code) = daemon.hcron_as(user.as_ids(), &["reload"]);
    assert_eq!(code, 0, "{err}");
    for n in 1..=2 {
        let (_, err, code) = daemon.hcron_as(user.as_ids(), &["activate", "/remote"]);
        assert_eq!(code, 0, "{err}");
        assert!(eventually(Duration::from_secs(20), || daemon.log_lines("done", "/remote").len() >= n), "{}", daemon.log_text());
    }
    assert!(logs.read_dir().unwrap().flatten().any(|e| e.path().is_symlink()), "the attack did not take place");
    assert!(listener.accept().is_err(), "root connected to the socket the user linked");
}

/// Holds `count` connections to `socket` as `user`, each announcing a frame
/// of `announce` bytes (none when 0) and sending `send` bytes of it, until
/// dropped. Returns once every connection is made and has sent what it could.
struct Clients(std::process::Child);

impl Clients {
    fn hold(socket: &Path, user: Option<&crate::root_util::TestUser>, count: usize, announce: u32, send: usize) -> Clients {
        use std::io::BufRead;
        let script = r#"
import socket, struct, sys, time
path, count, announce, send = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
held = []
for _ in range(count):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(path)
    held.append(s)
    if announce:
        try:
            s.sendall(struct.pack('>I', announce) + b'x' * send)
        except OSError:
            pass
print('ready', flush=True)
time.sleep(60)
"#;
        let mut command = std::process::Command::new("python3");
        command.args(["-c", script]).arg(socket).args([count.to_string(), announce.to_string(), send.to_string()]);
        if let Some(user) = user {
            command.uid(user.uid).gid(user.gid);
        }
        let mut child = command.stdout(std::process::Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n", "the clients could not connect");
        Clients(child)
    }
}

impl Drop for Clients {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The daemon's peak resident memory so far, in KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).unwrap().trim().trim_end_matches(" kB").trim().parse().unwrap()
}

#[test]
fn a_stranger_cannot_make_the_daemon_allocate_or_take_every_connection() {
    let (setup, user, daemon) = root_daemon("");
    user.event("e", "as_user=\nhost=localhost\ncommand=true\nnotify_email=\n");
    assert_eq!(daemon.hcron_as(user.as_ids(), &["reload"]).2, 0);
    let stranger = crate::root_util::TestUser::create("x", &setup.homes());
    let before = peak_kib(daemon.pid());
    // 100 connections from a user outside hcron.allow, each announcing a
    // 64 MiB request and sending 2 MiB of it.
    let _attack = Clients::hold(&daemon.socket, Some(&stranger), 100, 64 << 20, 2 << 20);
    let after = peak_kib(daemon.pid());
    assert!(after < before + 32 * 1024, "peak memory went from {before} KiB to {after} KiB");
    // Allowed users are served throughout.
    let (out, err, code) = daemon.hcron_as(user.as_ids(), &["list"]);
    assert_eq!((out.as_str(), err.as_str(), code), ("/e\n", "", 0));
}

/// The daemon's answer (its JSON) to one request of `request` padded with
/// blanks to `size` bytes, sent as `user`.
fn answer_to_padded(socket: &Path, user: &crate::root_util::TestUser, request: &str, size: usize) -> String {
    let script = r#"
import socket, struct, sys
path, request, size = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
payload = request + b' ' * (size - len(request))
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(path)
try:
    s.sendall(struct.pack('>I', len(payload)) + payload)
except OSError:
    pass
data = b''
while True:
    try:
        chunk = s.recv(65536)
    except OSError as e:
        print('recv failed:', e)
        break
    if not chunk:
        break
    data += chunk
print(data[4:].decode())
"#;
    let output = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(socket)
        .args([request, &size.to_string()])
        .uid(user.uid)
        .gid(user.gid)
        .output_bounded()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).trim().to_owned() + &String::from_utf8_lossy(&output.stderr)
}

#[test]
fn a_stranger_s_request_is_held_to_the_stranger_s_bound_and_an_allowed_user_s_is_not() {
    let (setup, user, daemon) = root_daemon("");
    let stranger = crate::root_util::TestUser::create("y", &setup.homes());
    let allowed = r#"{"version":1,"body":{"request":"allowed"}}"#;
    let at = |who: &crate::root_util::TestUser, size: usize| answer_to_padded(&daemon.socket, who, allowed, size);
    // Within the stranger's bound, the stranger is answered.
    assert!(at(&stranger, 256).contains(r#""allowed":false"#), "{}", at(&stranger, 256));
    // One byte past it, or a few KiB, the stranger is refused unread, by that bound.
    for size in [257, 4096] {
        let refused = format!("frame of {size} bytes is larger than 256");
        assert!(at(&stranger, size).contains(&refused), "{size}: {}", at(&stranger, size));
    }
    // The same few KiB from an allowed user are read and answered.
    assert!(at(&user, 4096).contains(r#""allowed":true"#), "{}", at(&user, 4096));
    assert!(at(&user, 64 << 10).contains(r#""allowed":true"#), "{}", at(&user, 64 << 10));
    assert!(at(&user, (64 << 10) + 1).contains("larger than 65536"), "{}", at(&user, (64 << 10) + 1));
}

#[test]
fn idle_connections_at_the_descriptor_limit_lose_no_reload() {
    let (setup, user) = allowed_user("f", "");
    user.event("first", "as_user=\nhost=localhost\ncommand=true\nnotify_email=\n");
    // The usual soft limit, scaled down: 64 descriptors, with room above it.
    let daemon = setup.start_with(|command| {
        // SAFETY: setrlimit is async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                let limit = libc::rlimit { rlim_cur: 64, rlim_max: 4096 };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
            })
        };
    });
    let stranger = crate::root_util::TestUser::create("g", &setup.homes());
    let _idle = [Clients::hold(&daemon.socket, Some(&stranger), 30, 0, 0), Clients::hold(&daemon.socket, None, 30, 0, 0)];
    user.event("second", "as_user=\nhost=localhost\ncommand=true\nnotify_email=\n");
    let listed = || daemon.hcron_as(user.as_ids(), &["list"]).0;
    assert!(eventually(Duration::from_secs(8), || listed() == "/first\n/second\n"), "{}\n{}", listed(), daemon.log_text());
}

#[test]
fn a_load_that_fails_for_a_passing_reason_is_logged_and_retried() {
    use std::os::unix::fs::PermissionsExt;
    let (setup, user) = allowed_user("r", "");
    user.event("e", "as_user=\nhost=localhost\ncommand=true\nnotify_email=\n");
    // The tree cannot be reached at start-up; nothing under it will change.
    let hidden = user.home.join(".hcron");
    std::fs::set_permissions(&hidden, std::fs::Permissions::from_mode(0o000)).unwrap();
    let daemon = setup.start();
    // Retried after 5 s, then after twice as long.
    for retry in ["retrying in 5 s", "retrying in 10 s"] {
        let said = format!("Permission denied (os error 13); {retry}");
        assert!(eventually(Duration::from_secs(8), || daemon.log_text().contains(&said)), "{said}: {}", daemon.log_text());
    }
    std::fs::set_permissions(&hidden, std::fs::Permissions::from_mode(0o755)).unwrap();
    let listed = || daemon.hcron_as(user.as_ids(), &["list"]).0;
    assert!(eventually(Duration::from_secs(13), || listed() == "/e\n"), "{}\n{}", listed(), daemon.log_text());
}

/// Whether `user` can open `path` for reading.
fn can_read(user: &crate::root_util::TestUser, path: &Path) -> bool {
    std::process::Command::new("cat").arg(path).uid(user.uid).gid(user.gid).output_bounded().unwrap().status.success()
}

#[test]
fn state_is_root_s_alone_and_users_see_their_own_log_lines_through_the_socket() {
    use std::os::unix::fs::PermissionsExt;
    let setup = crate::root_util::RootSetup::new(&[], "");
    let (alice, bob) = (crate::root_util::TestUser::create("a", &setup.homes()), crate::root_util::TestUser::create("b", &setup.homes()));
    std::fs::write(setup.dir.path().join("etc/hcron.allow"), format!("{}\n{}\n", alice.name, bob.name)).unwrap();
    for user in [&alice, &bob] {
        user.event("out", &format!("as_user=\nhost=localhost\ncommand=echo SECRET-OUTPUT-OF-{}\nnotify_email=\n", user.name));
    }
    let daemon = setup.start();
    for user in [&alice, &bob] {
        let (_, err, code) = daemon.hcron_as(user.as_ids(), &["activate", "/out"]);
        assert_eq!(code, 0, "{err}");
    }
    assert!(eventually(Duration::from_secs(10), || daemon.log_lines("done", "/out").len() == 2), "{}", daemon.log_text());
    let root = setup.dir.path();
    let (lib, log) = (root.join("lib"), root.join("log"));
    let history = lib.join("history.sqlite");
    assert!(eventually(Duration::from_secs(5), || std::fs::read(&history).is_ok_and(|b| !b.is_empty())));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for dir in [&lib, &log] {
        assert_eq!(mode(dir), 0o700, "{}", dir.display());
    }
    for file in [history.clone(), lib.join("history.sqlite-wal"), log.join("hcron.log")] {
        if file.exists() {
            assert_eq!(mode(&file) & 0o077, 0, "{} is {:o}", file.display(), mode(&file));
        }
    }
    // A local user, allowed or not, reads neither.
    let stranger = crate::root_util::TestUser::create("c", &setup.homes());
    for user in [&stranger, &alice] {
        for file in [&history, &log.join("hcron.log")] {
            assert!(!can_read(user, file), "{} reads {}", user.name, file.display());
        }
    }
    // Through the socket, Alice sees her own lines, not Bob's.
    let config = root.join("etc/hcron.toml");
    let (out, err, code) = daemon.hcron_as(alice.as_ids(), &["show-log", "-c", config.to_str().unwrap(), "2000-01-01"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!(" done {} ", alice.name)), "{out}");
    assert!(!out.contains(&bob.name), "{out}");
    let (_, err, code) = daemon.hcron_as(stranger.as_ids(), &["show-log", "-c", config.to_str().unwrap(), "2000-01-01"]);
    assert!(code != 0 && err.contains("not allowed"), "{err}");
}

#[test]
fn job_ids_are_never_reused_and_no_record_is_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let (events, state) = (dir.path().join("events"), dir.path().join("state"));
    std::fs::create_dir_all(&events).unwrap();
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(events.join("e"), "as_user=\nhost=localhost\ncommand=true\nnotify_email=\n").unwrap();
    // The history of a daemon that ran in the coming minute: a clock stepped
    // back, or a restart within the second its predecessor used.
    let user = hcron::account::Account::current().unwrap().name;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let history = state.join("history.sqlite");
    let mut writer = hcron::history::HistoryWriter::start(&history, hcron::history::Retention::default()).unwrap();
    let earlier: Vec<String> = (0..60).flat_map(|s| (0..4).map(move |n| format!("{:x}", ((now + s) << 16) + n))).collect();
    for id in &earlier {
        let record = hcron::history::JobRecord {
            id: id.clone(),
            user: user.clone(),
            event: "/earlier".into(),
            result: "success".into(),
            ..Default::default()
        };
        writer.record(hcron::history::Change::Queued(Box::new(record)));
    }
    writer.close();
    let daemon = RunningDaemon::standalone(&events, &state, &[]);
    for _ in 0..3 {
        assert_eq!(daemon.hcron(&["activate", "/e"]).2, 0);
    }
    assert!(eventually(Duration::from_secs(10), || daemon.log_lines("done", "/e").len() == 3));
    assert!(daemon.stop().success());
    let jobs = hcron::history::query(&history, &user, None, None).unwrap();
    let kept = jobs.iter().filter(|j| j.event == "/earlier").count();
    assert_eq!(kept, earlier.len(), "records of earlier jobs were overwritten");
    let new: Vec<&str> = jobs.iter().filter(|j| j.event == "/e").map(|j| j.id.as_str()).collect();
    assert_eq!(new.len(), 3, "{jobs:?}");
    assert!(new.iter().all(|id| !earlier.iter().any(|e| e == id)), "ids reused: {new:?}");
}

#[test]
fn edits_that_never_pause_do_not_starve_the_reload() {
    let dir = tempfile::tempdir().unwrap();
    let (events, state) = (dir.path().join("events"), dir.path().join("state"));
    std::fs::create_dir_all(&events).unwrap();
    std::fs::write(events.join("a"), "as_user=\nhost=localhost\ncommand=true\nnotify_email=\n").unwrap();
    let daemon = RunningDaemon::standalone(&events, &state, &[]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let editor = {
        let (stop, scratch) = (stop.clone(), events.join("scratch"));
        // Every 100 ms, well inside the 300 ms debounce, for as long as the test runs.
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::fs::write(&scratch, format!("# edit {n}\n")).unwrap();
                n += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    // Edits are already coming when b is written.
    let edits = || std::fs::read_to_string(events.join("scratch")).ok().and_then(|t| t.trim().strip_prefix("# edit ")?.parse::<u32>().ok());
    assert!(eventually(Duration::from_secs(5), || edits().is_some_and(|n| n >= 4)));
    std::fs::write(events.join("b"), "as_user=\nhost=localhost\ncommand=true\nnotify_email=\n").unwrap();
    let loaded = eventually(Duration::from_secs(8), || daemon.hcron(&["list"]).0.contains("/b\n"));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    editor.join().unwrap();
    assert!(loaded, "no reload while edits kept coming: {}", daemon.hcron(&["list"]).0);
}

#[test]
fn exec_timeout_kills_what_the_command_started_too() {
    let dir = tempfile::tempdir().unwrap();
    let (events, state) = (dir.path().join("events"), dir.path().join("state"));
    std::fs::create_dir_all(&events).unwrap();
    let (background, foreground): (&[&str], &[&str]) = (&["sleep", "300.25"], &["sleep", "301.25"]);
    let _jobs = [KillAll(background), KillAll(foreground)];
    std::fs::write(
        events.join("slow"),
        "as_user=\nhost=localhost\ncommand=sleep 300.25 & sleep 301.25\nexec_wait=yes\nexec_timeout=1\nnotify_email=\n",
    )
    .unwrap();
    let daemon = RunningDaemon::standalone(&events, &state, &[]);
    assert_eq!(daemon.hcron(&["activate", "/slow"]).2, 0);
    assert!(eventually(Duration::from_secs(5), || !processes(background).is_empty()), "the job did not start");
    assert!(eventually(Duration::from_secs(10), || daemon.log_lines("done", "/slow").len() == 1), "{}", daemon.log_text());
    let gone = eventually(Duration::from_secs(3), || processes(background).is_empty() && processes(foreground).is_empty());
    assert!(gone, "left running after the timeout: {:?} {:?}", processes(background), processes(foreground));
}

#[test]
fn a_timed_out_command_that_takes_long_to_die_is_killed_not_unkillable() {
    let dir = tempfile::tempdir().unwrap();
    let (events, state) = (dir.path().join("events"), dir.path().join("state"));
    std::fs::create_dir_all(&events).unwrap();
    // 2 GiB to free: the kernel takes a good 100 ms to end it after SIGKILL.
    let command = "exec /usr/bin/python3 -c \"b = b'x' * (2 << 30); import time; time.sleep(30)\"";
    std::fs::write(
        events.join("big"),
        format!("as_user=\nhost=localhost\ncommand={command}\nexec_wait=yes\nexec_timeout=3\nnotify_email=\n"),
    )
    .unwrap();
    let daemon = RunningDaemon::standalone(&events, &state, &[]);
    assert_eq!(daemon.hcron(&["activate", "/big"]).2, 0);
    assert!(eventually(Duration::from_secs(15), || daemon.log_lines("done", "/big").len() == 1), "{}", daemon.log_text());
    let job = &daemon.history(None, &["/big"])[0];
    // 125: killed by a signal; 126 would say it could not be killed at all.
    assert_eq!((job["rv"].clone(), job["result"].clone()), (125.into(), "failure: timeout".into()), "{job}");
}

#[test]
fn a_link_in_place_of_a_user_s_ssh_directory_is_refused_and_never_changed_through() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let (setup, user) = allowed_user("l", "");
    user.event("remote", "as_user=\nhost=127.0.0.29\ncommand=true\nnotify_email=\n");
    // A root-owned private directory elsewhere, and a link to it where the
    // user's ssh directory goes.
    let target = setup.dir.path().join("private");
    std::fs::create_dir(&target).unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o750)).unwrap();
    let ssh = setup.dir.path().join("run/ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    std::os::unix::fs::symlink(&target, ssh.join(&user.name)).unwrap();
    let daemon = setup.start();
    assert_eq!(daemon.hcron_as(user.as_ids(), &["activate", "/remote"]).2, 0);
    assert!(eventually(Duration::from_secs(5), || daemon.log_lines("done", "/remote").len() == 1), "{}", daemon.log_text());
    let job = &daemon.history(user.as_ids(), &[])[0];
    let result = job["result"].as_str().unwrap();
    assert!(result.contains("is not a directory"), "{job}");
    let metadata = std::fs::metadata(&target).unwrap();
    assert_eq!((metadata.mode() & 0o777, metadata.uid()), (0o750, 0), "changed through the link");
}

#[test]
fn a_file_swapped_for_a_link_out_of_the_tree_is_never_read_through_it() {
    // The user swaps an event file for a link to a file outside the tree as fast as they can, so that
    // loads list a regular file and find a link when they open it: opened without following a
    // final link, the outside file is never read. Outside, a complete event; inside, a partial one.
    let (_setup, user, daemon) = root_daemon("");
    let complete = "as_user=\nhost=localhost\ncommand=true\nnotify_email=\nnotify_message=\nwhen_month=*\nwhen_day=*\nwhen_hour=*\nwhen_minute=*\nwhen_dow=*\n";
    let outside = user_file(&user, "outside", complete, 0o644);
    // The same content inside the tree: every load accepts exactly this one.
    user.event("control", complete);
    // Many files before it, so that its opening comes long after the listing that called it a file.
    user.event("z/ev", "command=true\n");
    std::fs::create_dir_all(user.events().join("a")).unwrap();
    for n in 0..1000 {
        std::fs::write(user.events().join(format!("a/{n:04}")), "command=true\n").unwrap();
    }
    let (events, stage) = (user.events().join("z"), user.home.join("stage"));
    std::fs::create_dir_all(&stage).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let (stop, target, events, stage) = (stop.clone(), outside.clone(), events.clone(), stage.clone());
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::os::unix::fs::symlink(&target, stage.join("link")).unwrap();
                std::fs::rename(stage.join("link"), events.join("ev")).unwrap();
                std::fs::write(stage.join("file"), "command=true\n").unwrap();
                std::fs::rename(stage.join("file"), events.join("ev")).unwrap();
                swaps += 1;
            }
            swaps
        })
    };
    let loads = || daemon.log_text().matches("|load-events|").count();
    let before = loads();
    for _ in 0..200 {
        daemon.hcron_as(user.as_ids(), &["reload"]);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    let log = daemon.log_text();
    assert!(loads() > before + 100 && swaps > 1000, "the race was run: {} loads, {swaps} swaps", loads() - before);
    let accepted: Vec<&str> = log.lines().filter(|l| l.contains("|load-events|") && !l.contains("|naccepted=1|")).collect();
    assert!(accepted.is_empty(), "a load read the file outside the tree: {accepted:?}");
    assert!(daemon.stop().success());
}

#[test]
fn a_standalone_daemon_answers_only_its_own_user_even_root() {
    // The standalone daemon of a user: root can reach its socket, and is still turned away.
    let base = tempfile::tempdir().unwrap();
    std::fs::set_permissions(base.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let user = crate::root_util::TestUser::create("s", base.path());
    user.event("mine", "as_user=\nhost=localhost\ncommand=true\nnotify_email=\n");
    let state = user.home.join("state");
    let daemon = RunningDaemon::standalone_with(&user.events(), &state, &[], |command| {
        command.uid(user.uid).gid(user.gid).env("HOME", &user.home);
    });
    let (out, err, code) = daemon.hcron_as(user.as_ids(), &["activate", "/mine"]);
    assert_eq!(code, 0, "its user is served: {out}{err}");
    for args in [&["activate", "/mine"][..], &["list"], &["info"]] {
        let (out, err, code) = daemon.hcron(args);
        assert_ne!(code, 0, "root served by {args:?}: {out}");
        assert!(err.contains(&format!("this standalone hcron-scheduler serves only {}", user.name)), "{args:?}: {err}");
    }
    assert!(eventually(Duration::from_secs(5), || daemon.log_lines("done", "/mine").len() == 1), "{}", daemon.log_text());
    assert_eq!(daemon.log_lines("queue", "/mine").len(), 1, "only its user's activation was queued: {}", daemon.log_text());
    assert!(daemon.stop().success());
}

#[test]
fn a_sighup_as_soon_as_the_socket_exists_never_ends_the_daemon() {
    // A reload sent the moment the socket appears (a client can connect from then on).
    let dir = tempfile::tempdir().unwrap();
    let (events, state) = (dir.path().join("events"), dir.path().join("state"));
    std::fs::create_dir_all(&events).unwrap();
    let socket = state.join("control.sock");
    for round in 0..10 {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hcron-scheduler"))
            .args(["--standalone", "--events"])
            .arg(&events)
            .arg("--state-dir")
            .arg(&state)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(std::time::Instant::now() < deadline, "no socket");
            std::thread::sleep(Duration::from_micros(100));
        }
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
        let answered = eventually(Duration::from_secs(10), || {
            std::process::Command::new(env!("CARGO_BIN_EXE_hcron"))
                .arg("info")
                .env("HCRON_SOCKET", &socket)
                .output_bounded()
                .is_ok_and(|o| o.status.success())
        });
        let alive = child.try_wait().unwrap().is_none();
        // SAFETY: as above.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let status = crate::bounded::finish_bounded(child, "hcron-scheduler after SIGTERM").status;
        assert!(answered && alive && status.success(), "round {round}: the daemon ended with {status}");
    }
}

#[test]
fn a_second_daemon_with_only_its_socket_moved_is_refused() {
    let (setup, _user, _daemon) = root_daemon("");
    let etc = setup.dir.path().join("etc");
    let config = std::fs::read_to_string(etc.join("hcron.toml")).unwrap();
    let moved = config.replace("/run/control.sock", "/run2/control.sock");
    assert_ne!(moved, config);
    std::fs::write(etc.join("moved.toml"), moved).unwrap();
    let mut second = std::process::Command::new(env!("CARGO_BIN_EXE_hcron-scheduler"));
    second.arg("--config").arg(etc.join("moved.toml")).stdin(std::process::Stdio::null());
    let mut child = second.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let exited = eventually(Duration::from_secs(10), || child.try_wait().unwrap().is_some());
    if !exited {
        let _ = child.kill();
    }
    let output = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(exited && !output.status.success(), "a second daemon ran beside the first");
    assert!(err.contains("another hcron-scheduler is running"), "{err}");
}

#[test]
fn check_config_warns_of_allowed_users_that_do_not_exist_or_are_root_and_needs_no_root() {
    let setup = crate::root_util::RootSetup::new(&[], "");
    let plain = crate::root_util::TestUser::create("k", &setup.homes());
    let etc = setup.dir.path().join("etc");
    std::fs::write(etc.join("hcron.allow"), format!("nosuchuser-hcron-test\nroot\n{}\n", plain.name)).unwrap();
    std::fs::set_permissions(&etc, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // As root, and as a plain user (an operator checking a file before installing it).
    for ids in [None, plain.as_ids()] {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_hcron-scheduler"));
        command.args(["--check-config", "--config"]).arg(etc.join("hcron.toml"));
        if let Some((uid, gid)) = ids {
            command.uid(uid).gid(gid);
        }
        let output = command.output_bounded().unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{ids:?}: {err}");
        assert!(err.contains("warning: ") && err.contains("user (nosuchuser-hcron-test) does not exist"), "{err}");
        assert!(err.contains("root is listed: its events run with every privilege of root"), "{err}");
        assert_eq!(err.matches("is listed").count(), 1, "only root is warned of: {err}");
    }
}

/// A standalone tree for the crash tests: `/long` runs until killed and
/// fails over to `/fo`; `/q1`, `/q2` and `/fo` touch a file each.
fn crash_tree(dir: &Path, long: &[&str]) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let (events, state, config) = (dir.join("events"), dir.join("state"), dir.join("hcron.toml"));
    std::fs::create_dir_all(&events).unwrap();
    std::fs::write(&config, "max_activated_events = 1\n").unwrap();
    let head = "as_user=\nhost=localhost\nnotify_email=\n";
    std::fs::write(events.join("long"), format!("{head}command=exec {}\nexec_wait=yes\nfailover_event=/fo\n", long.join(" "))).unwrap();
    for name in ["q1", "q2", "fo"] {
        std::fs::write(events.join(name), format!("{head}command=touch {}\n", dir.join(format!("ran-{name}")).display())).unwrap();
    }
    (events, state, config)
}

/// A daemon on the crash tree in `dir` that starts /long (which runs)
/// with /q1 and /q2 queued behind it, killed with SIGKILL; the tree's
/// events, state and configuration.
fn crashed_with_jobs(dir: &Path, long: &'static [&'static str]) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let jobs = KillAll(long);
    let (events, state, config) = crash_tree(dir, long);
    let daemon = RunningDaemon::standalone(&events, &state, &["--config", config.to_str().unwrap()]);
    for event in ["/long", "/q1", "/q2"] {
        assert_eq!(daemon.hcron(&["activate", event]).2, 0);
    }
    assert!(eventually(Duration::from_secs(5), || !processes(long).is_empty()));
    daemon.crash();
    drop(jobs);
    (events, state, config)
}

/// The results of `event`'s jobs once no job is queued or running.
fn settled_results(daemon: &RunningDaemon, event: &str) -> Vec<String> {
    assert!(eventually(Duration::from_secs(5), || {
        daemon.history(None, &[]).iter().all(|j| j["result"] != "queued" && j["result"] != "running")
    }));
    daemon.history(None, &[]).iter().filter(|j| j["event"] == event).map(|j| j["result"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn after_kill_9_running_jobs_are_lost_with_failover_and_queued_ones_run() {
    let dir = tempfile::tempdir().unwrap();
    let (events, state, config) = crashed_with_jobs(dir.path(), &["sleep", "3018.5"]);
    let daemon = RunningDaemon::standalone(&events, &state, &["--config", config.to_str().unwrap()]);
    let ran = |name: &str| dir.path().join(format!("ran-{name}")).exists();
    assert!(eventually(Duration::from_secs(10), || ["q1", "q2", "fo"].iter().all(|n| ran(n))), "{}", daemon.log_text());
    assert!(
        daemon.log_text().contains("previous run settled: 1 job(s) lost while running, 2 queued job(s) run now"),
        "{}",
        daemon.log_text()
    );
    assert_eq!(settled_results(&daemon, "/long"), ["failure: lost: the scheduler stopped while the job ran"]);
    let done = daemon.log_lines("done", "/long");
    assert!(done.len() == 1 && done[0].contains("nexteventnames=/fo|nexteventtype=failover"), "{done:?}");
}

#[test]
fn after_kill_9_a_running_job_with_on_lost_rerun_runs_once_more_and_fails_over_when_lost_again() {
    let dir = tempfile::tempdir().unwrap();
    let long: &'static [&'static str] = &["sleep", "3024.5"];
    let (events, state, config) = crashed_with_jobs(dir.path(), long);
    let text = std::fs::read_to_string(events.join("long")).unwrap();
    std::fs::write(events.join("long"), format!("{text}on_lost=rerun\n")).unwrap();
    let start = || RunningDaemon::standalone(&events, &state, &["--config", config.to_str().unwrap()]);
    let jobs = KillAll(long);
    let daemon = start();
    assert!(eventually(Duration::from_secs(10), || !processes(long).is_empty()), "not run once more: {}", daemon.log_text());
    assert!(daemon.log_text().contains("(on_lost=rerun)"), "{}", daemon.log_text());
    assert!(!dir.path().join("ran-fo").exists(), "a job run again does not fail over");
    daemon.crash();
    drop(jobs);
    // Lost again: no third run, the failover instead.
    let jobs = KillAll(long);
    let daemon = start();
    assert!(eventually(Duration::from_secs(10), || dir.path().join("ran-fo").exists()), "{}", daemon.log_text());
    let lost = "failure: lost: the scheduler stopped while the job ran";
    assert_eq!(settled_results(&daemon, "/long"), [lost, lost]);
    assert!(processes(long).is_empty(), "run twice in all, never a third time");
    drop(jobs);
}

#[test]
fn after_kill_9_a_gone_event_s_running_job_is_lost_and_only_recent_queued_jobs_run() {
    let dir = tempfile::tempdir().unwrap();
    let (events, state, config) = crashed_with_jobs(dir.path(), &["sleep", "3020.5"]);
    // The running job's event is deleted while the scheduler is down, and
    // the queued jobs are made older: /q1 by 90 s, within a
    // max_catchup_minutes of 2, /q2 by 10 minutes, past it.
    std::fs::remove_file(events.join("long")).unwrap();
    std::fs::write(&config, "max_activated_events = 1\nmax_catchup_minutes = 2\n").unwrap();
    let history = rusqlite::Connection::open(state.join("history.sqlite")).unwrap();
    for (event, age) in [("/q1", 90), ("/q2", 600)] {
        let queued = jiff::Zoned::now().checked_sub(jiff::SignedDuration::from_secs(age)).unwrap();
        let queued = queued.strftime("%Y-%m-%d %H:%M:%S").to_string();
        let updated = history.execute("UPDATE jobs SET queued = ?1 WHERE event = ?2", rusqlite::params![queued, event]).unwrap();
        assert_eq!(updated, 1, "{event}");
    }
    drop(history);
    let daemon = RunningDaemon::standalone(&events, &state, &["--config", config.to_str().unwrap()]);
    let ran = |name: &str| dir.path().join(format!("ran-{name}")).exists();
    assert!(eventually(Duration::from_secs(10), || ran("q1")), "{}", daemon.log_text());
    let settled = "previous run settled: 1 job(s) lost while running, 1 queued job(s) run now, 1 too old or gone, not run";
    assert!(daemon.log_text().contains(settled), "{}", daemon.log_text());
    assert_eq!(settled_results(&daemon, "/long"), ["failure: lost: the scheduler stopped while the job ran"]);
    assert_eq!(settled_results(&daemon, "/q1"), ["success"]);
    assert_eq!(settled_results(&daemon, "/q2"), ["dropped: the scheduler stopped before it ran"]);
    assert!(!ran("q2") && !ran("fo"), "a job too old ran, or a gone event was followed");
}

#[test]
fn a_stopping_daemon_queues_nothing_new() {
    let dir = tempfile::tempdir().unwrap();
    let long = &["sleep", "3019.5"];
    let _jobs = KillAll(long);
    let (events, state, config) = crash_tree(dir.path(), long);
    // Due every minute: the drain below spans a minute boundary.
    std::fs::write(
        events.join("every"),
        "as_user=\nhost=localhost\nnotify_email=\ncommand=true\nwhen_minute=*\nwhen_hour=*\nwhen_day=*\nwhen_month=*\nwhen_dow=*\n",
    )
    .unwrap();
    let daemon = RunningDaemon::standalone(&events, &state, &["--config", config.to_str().unwrap()]);
    // /long takes the only slot at second 50 (an /every before it runs at
    // once); SIGTERM 2 s before the next minute; the drain waits 10 s for /long.
    let second = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() % 60;
    assert!(eventually(Duration::from_secs(65), || second() == 50));
    assert_eq!(daemon.hcron(&["activate", "/long"]).2, 0);
    assert!(eventually(Duration::from_secs(5), || !processes(long).is_empty()));
    assert!(eventually(Duration::from_secs(10), || second() == 58));
    daemon.signal(libc::SIGTERM);
    assert!(eventually(Duration::from_secs(2), || daemon.log_text().contains("received signal to exit.")), "{}", daemon.log_text());
    let (_, err, code) = daemon.hcron(&["activate", "/q1"]);
    assert!(code != 0 && err.contains("stopping"), "{err}");
    assert!(daemon.stop().success());
    let left = hcron::history::unsettled(&state.join("history.sqlite")).unwrap();
    let events: Vec<&str> = left.iter().map(|j| j.event.as_str()).collect();
    assert_eq!(events, ["/long"], "only the job that was running when the drain ended");
}

#[test]
fn a_replaced_events_directory_is_noticed_and_watched_again() {
    let dir = tempfile::tempdir().unwrap();
    let (events, state) = (dir.path().join("events"), dir.path().join("state"));
    std::fs::create_dir_all(&events).unwrap();
    let event = "as_user=\nhost=localhost\ncommand=true\nnotify_email=\n";
    std::fs::write(events.join("a"), event).unwrap();
    let daemon = RunningDaemon::standalone(&events, &state, &[]);
    let listed = || daemon.hcron(&["list"]).0;
    assert_eq!(listed(), "/a\n");
    // Replaced as an editor or a restore from backup does it.
    std::fs::rename(&events, dir.path().join("events.old")).unwrap();
    std::fs::create_dir(&events).unwrap();
    std::fs::write(events.join("b"), event).unwrap();
    assert!(eventually(Duration::from_secs(15), || listed() == "/b\n"), "{}\n{}", listed(), daemon.log_text());
    // The new directory is the one watched now: an edit is live at once.
    std::fs::write(events.join("c"), event).unwrap();
    assert!(eventually(Duration::from_secs(3), || listed() == "/b\n/c\n"), "{}", listed());
    // And the old one no longer is: an edit there is not what makes the next reload.
    std::fs::write(dir.path().join("events.old/x"), event).unwrap();
    std::fs::write(events.join("d"), event).unwrap();
    assert!(eventually(Duration::from_secs(3), || listed() == "/b\n/c\n/d\n"), "{}", listed());
}

/// The descriptors of the inotify instances process `pid` holds.
fn inotify_descriptors(pid: u32) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| std::fs::read_link(e.path()).is_ok_and(|target| target.as_os_str() == "anon_inode:inotify"))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    found
}

#[test]
fn a_reload_of_an_unchanged_root_keeps_its_watches() {
    let dir = tempfile::tempdir().unwrap();
    let (events, state) = (dir.path().join("events"), dir.path().join("state"));
    std::fs::create_dir_all(events.join("d")).unwrap();
    std::fs::write(events.join("d/a"), "as_user=\nhost=localhost\ncommand=true\nnotify_email=\n").unwrap();
    let daemon = RunningDaemon::standalone(&events, &state, &[]);
    assert!(eventually(Duration::from_secs(5), || inotify_watches(daemon.pid()) == 2));
    let before = inotify_descriptors(daemon.pid());
    assert_eq!(daemon.hcron(&["reload"]).2, 0);
    // Watching a big tree again at every reload would cost a walk of its directories.
    assert_eq!(inotify_descriptors(daemon.pid()), before, "the watcher was made again");
    assert_eq!(inotify_watches(daemon.pid()), 2);
    // Descriptor numbers can come back; watch numbers never do within one
    // instance. A directory added, removed and another added (each change a
    // reload): the same instance numbers the last one 4, a remade one
    // would number its watches from 1 again.
    let loads = || daemon.log_text().matches("|load-events|").count();
    for (change, watches) in [("add e", 3), ("remove e", 2), ("add f", 3)] {
        let before = loads();
        match change.split_once(' ').unwrap() {
            ("add", name) => std::fs::create_dir(events.join(name)).unwrap(),
            (_, name) => std::fs::remove_dir(events.join(name)).unwrap(),
        }
        let done = eventually(Duration::from_secs(5), || loads() > before && inotify_watches(daemon.pid()) == watches);
        assert!(done, "{change}: {:?}", inotify_numbers(daemon.pid()));
    }
    assert_eq!(inotify_numbers(daemon.pid()).iter().max(), Some(&4), "the watcher was made again");
}

/// The numbers of the inotify watches process `pid` holds.
fn inotify_numbers(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else { return Vec::new() };
    let infos = entries.flatten().filter_map(|e| std::fs::read_to_string(e.path()).ok()).collect::<Vec<_>>();
    infos.iter().flat_map(|info| info.lines().filter_map(|l| l.strip_prefix("inotify wd:")?.split(' ').next()?.parse().ok())).collect()
}

/// How many inotify watches process `pid` holds.
fn inotify_watches(pid: u32) -> usize {
    inotify_numbers(pid).len()
}

#[test]
fn a_tree_past_its_share_of_watches_is_polled_not_watched() {
    let dir = tempfile::tempdir().unwrap();
    let (events, state, config) = (dir.path().join("events"), dir.path().join("state"), dir.path().join("hcron.toml"));
    let event = "as_user=\nhost=localhost\ncommand=true\nnotify_email=\n";
    for n in 0..6 {
        std::fs::create_dir_all(events.join(format!("d{n}"))).unwrap();
        std::fs::write(events.join(format!("d{n}/e")), event).unwrap();
    }
    std::fs::write(&config, "max_watches_per_user = 4\ntree_poll_interval = 2\n").unwrap();
    let daemon = RunningDaemon::standalone(&events, &state, &["--config", config.to_str().unwrap()]);
    let said = "has 7 directories, more than max_watches_per_user (4): polled every 2 s instead of watched";
    assert!(eventually(Duration::from_secs(5), || daemon.log_text().contains(said)), "{}", daemon.log_text());
    assert_eq!(inotify_watches(daemon.pid()), 0, "the tree was watched all the same");
    std::fs::write(events.join("d3/new"), event).unwrap();
    assert!(eventually(Duration::from_secs(8), || daemon.hcron(&["list"]).0.contains("/d3/new\n")), "{}", daemon.log_text());
    // A tree within its share is watched, one watch per directory.
    std::fs::write(&config, "max_watches_per_user = 100\n").unwrap();
    daemon.signal(libc::SIGHUP);
    assert!(eventually(Duration::from_secs(8), || inotify_watches(daemon.pid()) == 7), "{} watches", inotify_watches(daemon.pid()));
}

/// Rewrites `path` in place through a shared memory map: the kernel
/// updates its times but tells no inotify watcher (as with a change made on
/// another NFS client). `from` and `to` have the same length.
pub fn rewrite_unseen(path: &Path, from: &str, to: &str) {
    assert_eq!(from.len(), to.len());
    let file = std::fs::OpenOptions::new().read(true).write(true).open(path).unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    let at = text.find(from).unwrap();
    // SAFETY: a fresh shared mapping of the whole file, written within its length, then unmapped.
    unsafe {
        use std::os::fd::AsRawFd;
        let map = libc::mmap(std::ptr::null_mut(), text.len(), libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, file.as_raw_fd(), 0);
        assert_ne!(map, libc::MAP_FAILED);
        std::ptr::copy_nonoverlapping(to.as_ptr(), map.cast::<u8>().add(at), to.len());
        assert_eq!(libc::msync(map, text.len(), libc::MS_SYNC), 0);
        libc::munmap(map, text.len());
    }
}

#[test]
fn a_change_no_watcher_sees_is_live_within_the_poll_interval_and_an_unchanged_tree_is_not_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let (events, state, config) = (dir.path().join("events"), dir.path().join("state"), dir.path().join("hcron.toml"));
    std::fs::create_dir_all(events.join("d")).unwrap();
    std::fs::write(events.join("d/e"), crate::util::full("when_month=2\nwhen_day=31\n")).unwrap();
    std::fs::write(&config, "tree_poll_interval = 1\n").unwrap();
    // A file changed as a load begins is read again by the next (its stamp
    // may hide a change): the daemon's first load must come well after.
    let changed = std::fs::metadata(events.join("d/e")).unwrap().modified().unwrap();
    assert!(eventually(Duration::from_secs(1), || changed.elapsed().is_ok_and(|age| age > Duration::from_millis(100))));
    let daemon = RunningDaemon::standalone(&events, &state, &["--config", config.to_str().unwrap()]);
    let loads = || daemon.log_text().matches("|load-events|").count();
    let status = || daemon.hcron(&["list", "--show-status"]).0;
    assert_eq!(status(), "accepted:/d/e\n");
    assert_eq!(inotify_watches(daemon.pid()), 2, "the tree is watched");
    // Polls of a tree that did not change find nothing to reload.
    let first = loads();
    let polls = || daemon.log_text().matches("|load-events|").count();
    assert!(!eventually(Duration::from_millis(3500), || polls() > first), "an unchanged tree was reloaded:\n{}", daemon.log_text());
    rewrite_unseen(&events.join("d/e"), "command=", "cxmmand=");
    assert!(eventually(Duration::from_secs(5), || status() == "rejected:/d/e\n"), "{}\n{}", status(), daemon.log_text());
    assert_eq!(loads(), first + 1, "one reload for one change");
}

#[test]
fn an_events_directory_created_after_the_start_is_found_and_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let (events, state, config) = (dir.path().join("events"), dir.path().join("state"), dir.path().join("hcron.toml"));
    std::fs::write(&config, "tree_poll_interval = 1\n").unwrap();
    let daemon = RunningDaemon::standalone(&events, &state, &["--config", config.to_str().unwrap()]);
    let missing = "cannot load the events of user";
    assert!(eventually(Duration::from_secs(5), || daemon.log_text().contains(missing)), "{}", daemon.log_text());
    // Made elsewhere and moved in whole: no watcher of the tree can exist yet.
    let made = dir.path().join("made");
    std::fs::create_dir_all(&made).unwrap();
    std::fs::write(made.join("e"), crate::util::full("when_month=2\nwhen_day=31\n").replace("host=h1", "host=localhost")).unwrap();
    std::fs::rename(&made, &events).unwrap();
    let listed = || daemon.hcron(&["list", "--show-status"]).0 == "accepted:/e\n";
    assert!(eventually(Duration::from_secs(10), listed), "{}", daemon.log_text());
    assert!(daemon.log_text().contains("was replaced or created; reloading"), "{}", daemon.log_text());
}

#[test]
fn the_history_is_pruned_by_age_and_count_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (events, state, config) = (dir.path().join("events"), dir.path().join("state"), dir.path().join("hcron.toml"));
    std::fs::create_dir_all(&events).unwrap();
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(&config, "history_max_jobs_per_user = 10\nhistory_max_age_days = 30\n").unwrap();
    let user = hcron::account::Account::current().unwrap().name;
    let history = state.join("history.sqlite");
    let mut writer = hcron::history::HistoryWriter::start(&history, hcron::history::Retention::default()).unwrap();
    let today = jiff::Zoned::now().datetime();
    for n in 0..30u32 {
        // The two newest finished long ago: only the age limit removes them.
        let finished = if n >= 28 { "2001-01-01 00:00:00.000000".to_owned() } else { hcron::clock::log_datetime(&today) };
        let record = hcron::history::JobRecord {
            id: format!("{:x}", 0x1000 + n),
            user: user.clone(),
            event: "/old".into(),
            scheduled: format!("2020-01-01 00:00:{n:02}"),
            finished: Some(finished),
            result: "success".into(),
            ..Default::default()
        };
        writer.record(hcron::history::Change::Queued(Box::new(record)));
    }
    writer.close();
    let daemon = RunningDaemon::standalone(&events, &state, &["--config", config.to_str().unwrap()]);
    assert!(eventually(Duration::from_secs(5), || daemon.history(None, &[]).len() == 10), "{}", daemon.history(None, &[]).len());
    let kept: Vec<String> = daemon.history(None, &[]).iter().map(|j| j["scheduled"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kept.first().map(String::as_str), Some("2020-01-01 00:00:18"), "the newest ten of those young enough: {kept:?}");
    assert!(!kept.iter().any(|k| k.ends_with(":28") || k.ends_with(":29")), "{kept:?}");
    drop(daemon);

    // Both limits 0: none, however old and however many.
    let state = dir.path().join("state0");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(&config, "history_max_age_days = 0\nhistory_max_jobs_per_user = 0\n").unwrap();
    let mut writer = hcron::history::HistoryWriter::start(&state.join("history.sqlite"), hcron::history::Retention::default()).unwrap();
    for n in 0..3u32 {
        let record = hcron::history::JobRecord {
            id: format!("{:x}", 0x2000 + n),
            user: user.clone(),
            event: "/ancient".into(),
            scheduled: format!("2001-01-01 00:00:{n:02}"),
            finished: Some("2001-01-01 00:00:30.000000".into()),
            result: "success".into(),
            ..Default::default()
        };
        writer.record(hcron::history::Change::Queued(Box::new(record)));
    }
    writer.close();
    std::fs::write(
        events.join("now"),
        "as_user=
host=localhost
command=true
notify_email=
notify_message=
",
    )
    .unwrap();
    let daemon = RunningDaemon::standalone(&events, &state, &["--config", config.to_str().unwrap()]);
    // A new job's record is written after the start's prune: then all four are there.
    assert_eq!(daemon.hcron(&["activate", "/now"]).2, 0);
    let finished = || daemon.history(None, &[]).iter().filter(|j| j["finished"].is_string()).count();
    assert!(eventually(Duration::from_secs(10), || finished() == 4), "kept whatever their age: {}", finished());
    assert!(daemon.stop().success());
}

#[test]
fn the_ssh_log_is_started_afresh_past_its_bound() {
    let (setup, user, daemon) = root_daemon("command_spawn_timeout = 5\nssh_control_persist = 0\n");
    let script = user_file(&user, "fail.sh", "#!/bin/sh\nexit 1\n", 0o755);
    user_file(&user, ".ssh/config", &format!("Host *\n  ProxyCommand {}\n", script.display()), 0o600);
    user.event("remote", "as_user=\nhost=127.0.0.11\ncommand=true\nnotify_email=\nnotify_message=\n");
    assert_eq!(daemon.hcron_as(user.as_ids(), &["reload"]).2, 0);
    let run = |n: usize| {
        assert_eq!(daemon.hcron_as(user.as_ids(), &["activate", "/remote"]).2, 0);
        assert!(eventually(Duration::from_secs(20), || daemon.log_lines("done", "/remote").len() == n), "{}", daemon.log_text());
    };
    run(1);
    let logs = setup.dir.path().join("run/ssh").join(&user.name);
    let log = logs.read_dir().unwrap().flatten().map(|e| e.path()).find(|p| p.extension().is_some_and(|x| x == "log")).expect("ssh's log");
    // As if thousands of connections had written to it.
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.insert_str(0, &"Warning: an old line\n".repeat(5000));
    std::fs::write(&log, text).unwrap();
    run(2);
    let size = std::fs::metadata(&log).unwrap().len();
    assert!(size < 4096, "the log kept growing: {size} bytes");
}
