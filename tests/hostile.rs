//! The daemon attacked and crashed on purpose (issue 11): each test fails
//! on a daemon without the defence it names.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::Duration;

use crate::daemon_util::{RunningDaemon, eventually};

/// The pids of running processes whose command line is exactly `argv`.
fn processes(argv: &[&str]) -> Vec<u32> {
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
struct KillAll(&'static [&'static str]);

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
