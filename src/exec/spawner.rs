//! The spawner: a small helper process, forked when the daemon starts
//! (single-threaded, a few MiB), that starts commands on the daemon's
//! behalf.
//!
//! Forking the daemon itself would copy the page tables of its whole image
//! (about 5 ms a job at 100 MiB, measured) and fork a multi-threaded
//! process; the spawner forks a tiny single-threaded one instead. Requests
//! and answers are JSON datagrams over a `SOCK_SEQPACKET` socket pair. The
//! spawner ignores SIGCHLD, so the kernel reaps the commands (started
//! means success, §11.2), and exits when the daemon goes away.

use std::ffi::CString;
use std::io;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recv, recvmsg, send, sendmsg, socketpair,
};
use serde::{Deserialize, Serialize};

/// Largest request or answer, in bytes.
const MAX_MESSAGE: usize = 1 << 20;

/// A program to start.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpawnRequest {
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// The whole environment.
    pub env: Vec<(String, String)>,
    /// The working directory.
    pub cwd: String,
    /// Take these credentials first (`None`: keep the spawner's).
    pub credentials: Option<(u32, u32, Vec<u32>)>,
    /// Wait for the program to end, and how.
    pub wait: Option<Wait>,
}

/// How to wait for a program.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Wait {
    /// Kill it after this many milliseconds.
    pub timeout_ms: u64,
    /// Capture standard output and error, at most this many bytes each.
    pub capture: Option<usize>,
}

/// How a waited-for program ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finished {
    /// Its pid.
    pub pid: u32,
    /// Its exit status, when it exited.
    pub status: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    /// The timeout passed and it was killed (or could not be).
    pub timed_out: bool,
    /// It survived 10 s of SIGKILL.
    pub unkillable: bool,
    /// The daemon cancelled it (a cluster node taken for dead) and it was killed.
    #[serde(default)]
    pub cancelled: bool,
    /// Microseconds from start to end.
    pub elapsed_us: u64,
    /// Captured standard output (lossy UTF-8), with a mark when truncated.
    pub stdout: String,
    /// Captured standard error, likewise.
    pub stderr: String,
}

#[derive(Debug, Serialize, Deserialize)]
enum SpawnAnswer {
    Started(u32),
    Watching,
    Failed(String),
}

/// A waited-for program: read [`Finished`] from `result` when it ends;
/// a byte written to `cancel` kills it (and everything it started). Closing
/// `cancel` without a byte (the daemon stops) leaves it running.
#[derive(Debug)]
pub struct Watched {
    /// The pipe the monitor writes the result to.
    pub result: OwnedFd,
    /// The pipe the monitor reads a cancellation from.
    pub cancel: OwnedFd,
}

/// The daemon's end of the spawner.
pub struct Spawner {
    socket: Mutex<OwnedFd>,
}

impl Spawner {
    /// Forks the spawner. Call it before any thread starts.
    pub fn start() -> io::Result<Spawner> {
        let (ours, theirs) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)?;
        // SAFETY: called while the process is single-threaded (see above),
        // so the child may do anything a normal process does.
        match unsafe { nix::unistd::fork() }? {
            nix::unistd::ForkResult::Child => {
                drop(ours);
                // Nothing the daemon holds (its pid lock, the listening
                // socket, descriptors its own parent leaked) may reach the
                // monitors and the programs they start.
                close_all_but(theirs.as_raw_fd());
                serve(theirs);
            }
            nix::unistd::ForkResult::Parent { .. } => {
                drop(theirs);
                Ok(Spawner { socket: Mutex::new(ours) })
            }
        }
    }

    /// Starts a program and leaves it; its pid, or why it could not start.
    pub fn spawn(&self, request: &SpawnRequest) -> io::Result<u32> {
        match self.ask(request)?.0 {
            SpawnAnswer::Started(pid) => Ok(pid),
            SpawnAnswer::Failed(why) => Err(io::Error::other(why)),
            SpawnAnswer::Watching => Err(io::Error::other("the spawner watched a program it was asked to leave")),
        }
    }

    /// Starts a program under a monitor (the request has a [`Wait`]).
    pub fn watch(&self, request: &SpawnRequest) -> io::Result<Watched> {
        let (answer, mut fds) = self.ask(request)?;
        match answer {
            SpawnAnswer::Watching if fds.len() == 2 => {
                let cancel = fds.pop().expect("two");
                Ok(Watched { result: fds.pop().expect("two"), cancel })
            }
            SpawnAnswer::Failed(why) => Err(io::Error::other(why)),
            _ => Err(io::Error::other("the spawner answered without its two pipes")),
        }
    }

    fn ask(&self, request: &SpawnRequest) -> io::Result<(SpawnAnswer, Vec<OwnedFd>)> {
        let socket = self.socket.lock().expect("the spawner lock is never poisoned");
        let message = serde_json::to_vec(request).map_err(io::Error::other)?;
        send(socket.as_raw_fd(), &message, MsgFlags::empty())?;
        let mut buffer = vec![0; MAX_MESSAGE];
        let mut space = nix::cmsg_space!([RawFd; 2]);
        let mut iov = [IoSliceMut::new(&mut buffer)];
        let received = recvmsg::<()>(socket.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
        let mut fd = Vec::new();
        for message in received.cmsgs()? {
            if let ControlMessageOwned::ScmRights(fds) = message {
                // SAFETY: the kernel just gave us these descriptors; we own them now.
                fd.extend(fds.iter().map(|&raw| unsafe { OwnedFd::from_raw_fd(raw) }));
            }
        }
        let len = received.bytes;
        if len == 0 {
            return Err(io::Error::other("the spawner is gone"));
        }
        let answer = serde_json::from_slice(&iov[0][..len]).map_err(io::Error::other)?;
        Ok((answer, fd))
    }
}

/// Closes every descriptor but standard input, output, error and `keep`.
fn close_all_but(keep: RawFd) {
    let ranges = [(3, keep - 1), (keep + 1, RawFd::MAX)];
    for (first, last) in ranges.into_iter().filter(|(first, last)| first <= last) {
        // SAFETY: closing descriptors nothing in this process uses any more.
        if unsafe { libc::close_range(first as libc::c_uint, last as libc::c_uint, 0) } != 0 {
            // Kernels before 5.9: one by one, up to the descriptor limit.
            // SAFETY: as above.
            let limit = unsafe { libc::sysconf(libc::_SC_OPEN_MAX) }.clamp(1024, 1 << 20) as RawFd;
            (first..=last.min(limit)).for_each(|fd| unsafe {
                libc::close(fd);
            });
        }
    }
}

/// The spawner's life: answer requests until the daemon closes its end.
fn serve(socket: OwnedFd) -> ! {
    // SAFETY: setting a signal disposition; the kernel then reaps children.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    let mut buffer = vec![0; MAX_MESSAGE];
    loop {
        let len = match recv(socket.as_raw_fd(), &mut buffer, MsgFlags::empty()) {
            Ok(0) | Err(_) => std::process::exit(0),
            Ok(len) => len,
        };
        let (answer, fd) = match serde_json::from_slice::<SpawnRequest>(&buffer[..len]) {
            Ok(request) if request.wait.is_some() => match start_watched(&request) {
                Ok((result, cancel)) => (SpawnAnswer::Watching, vec![result, cancel]),
                Err(error) => (SpawnAnswer::Failed(error.to_string()), Vec::new()),
            },
            Ok(request) => match start(&request) {
                Ok(pid) => (SpawnAnswer::Started(pid), Vec::new()),
                Err(error) => (SpawnAnswer::Failed(error.to_string()), Vec::new()),
            },
            Err(error) => (SpawnAnswer::Failed(format!("bad request: {error}")), Vec::new()),
        };
        let message = serde_json::to_vec(&answer).expect("answers serialise");
        let fds: Vec<RawFd> = fd.iter().map(AsRawFd::as_raw_fd).collect();
        let control = [ControlMessage::ScmRights(&fds)];
        let control: &[ControlMessage] = if fds.is_empty() { &[] } else { &control };
        if sendmsg::<()>(socket.as_raw_fd(), &[IoSlice::new(&message)], control, MsgFlags::empty(), None).is_err() {
            std::process::exit(0);
        }
    }
}

/// What a child needs, prepared before the fork (no allocation after it).
struct Prepared {
    program: CString,
    argv: Vec<CString>,
    env: Vec<CString>,
    cwd: CString,
    devnull: CString,
    credentials: Option<(u32, u32, Vec<libc::gid_t>)>,
}

impl Prepared {
    fn new(request: &SpawnRequest) -> io::Result<Prepared> {
        let cstring = |s: &str| CString::new(s).map_err(|_| io::Error::other("NUL in a command or its environment"));
        let argv: Vec<CString> = request.argv.iter().map(|a| cstring(a)).collect::<io::Result<_>>()?;
        Ok(Prepared {
            program: argv.first().cloned().ok_or_else(|| io::Error::other("empty command"))?,
            argv,
            env: request.env.iter().map(|(k, v)| cstring(&format!("{k}={v}"))).collect::<io::Result<_>>()?,
            cwd: cstring(&request.cwd)?,
            devnull: cstring("/dev/null")?,
            credentials: request.credentials.clone(),
        })
    }

    /// In a fresh child: a new session, the credentials. Returns false on failure (errno set).
    ///
    /// SAFETY (for callers): only in a child of a single-threaded process.
    unsafe fn session_and_credentials(&self) -> bool {
        unsafe {
            if libc::setsid() < 0 {
                return false;
            }
            match &self.credentials {
                Some((uid, gid, groups)) => {
                    libc::setgroups(groups.len(), groups.as_ptr()) == 0 && libc::setgid(*gid) == 0 && libc::setuid(*uid) == 0
                }
                None => true,
            }
        }
    }

    /// In a fresh child: standard input from /dev/null, output as given, the
    /// working directory, then execve. Returns only on failure.
    ///
    /// SAFETY (for callers): only in a child of a single-threaded process.
    unsafe fn exec(&self, stdout: Option<i32>, stderr: Option<i32>) {
        unsafe {
            let null = libc::open(self.devnull.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
            if null < 0 || libc::dup2(null, 0) < 0 || libc::dup2(stdout.unwrap_or(null), 1) < 0 || libc::dup2(stderr.unwrap_or(null), 2) < 0
            {
                return;
            }
            if libc::chdir(self.cwd.as_ptr()) != 0 {
                libc::chdir(c"/".as_ptr());
            }
            let mut argv: Vec<*const libc::c_char> = self.argv.iter().map(|a| a.as_ptr()).collect();
            argv.push(std::ptr::null());
            let mut env: Vec<*const libc::c_char> = self.env.iter().map(|e| e.as_ptr()).collect();
            env.push(std::ptr::null());
            libc::execve(self.program.as_ptr(), argv.as_ptr(), env.as_ptr());
        }
    }
}

/// Forks and execs one program and leaves it; an exec failure comes back
/// through a close-on-exec pipe.
fn start(request: &SpawnRequest) -> io::Result<u32> {
    let prepared = Prepared::new(request)?;
    let (read_end, write_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // SAFETY: the spawner is single-threaded; the child only makes system calls on prepared data.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Child => unsafe {
            libc::signal(libc::SIGCHLD, libc::SIG_DFL);
            if prepared.session_and_credentials() {
                prepared.exec(None, None);
            }
            let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0).to_ne_bytes();
            libc::write(write_end.as_raw_fd(), errno.as_ptr().cast(), errno.len());
            libc::_exit(127)
        },
        nix::unistd::ForkResult::Parent { child } => {
            drop(write_end);
            let mut errno = [0u8; 4];
            if nix::unistd::read(&read_end, &mut errno)? == 4 {
                return Err(io::Error::from_raw_os_error(i32::from_ne_bytes(errno)));
            }
            Ok(child.as_raw() as u32)
        }
    }
}

/// Forks a monitor for one program; returns the reading end of its result pipe.
fn start_watched(request: &SpawnRequest) -> io::Result<(OwnedFd, OwnedFd)> {
    let prepared = Prepared::new(request)?;
    let wait = request.wait.expect("checked by the caller");
    let (read_end, write_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let (cancel_read, cancel_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)?;
    // SAFETY: the spawner is single-threaded, so the monitor is an ordinary process.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Child => {
            drop(read_end);
            drop(cancel_write);
            let finished = monitor(&prepared, wait, &cancel_read);
            let text = serde_json::to_vec(&finished).unwrap_or_default();
            let _ = nix::unistd::write(&write_end, &text);
            // SAFETY: ending the monitor without running the spawner's destructors.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { .. } => Ok((read_end, cancel_write)),
    }
}

/// The monitor: runs the program, captures, enforces the timeout, and
/// kills the program's group when a byte arrives on `cancel`.
fn monitor(prepared: &Prepared, wait: Wait, cancel: &OwnedFd) -> Finished {
    // SAFETY: plain system calls in this (single-threaded) monitor process.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
    let started = Instant::now();
    let mut finished = Finished::default();
    // SAFETY: the monitor is single-threaded.
    if !unsafe { prepared.session_and_credentials() } {
        finished.status = Some(127);
        return finished;
    }
    let pipes = match wait.capture {
        // Close-on-exec: the program gets them as 1 and 2 only (dup2 clears the flag).
        Some(_) => match (nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC), nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)) {
            (Ok(out), Ok(err)) => Some((out, err)),
            _ => None,
        },
        None => None,
    };
    // SAFETY: as above; the child only makes system calls before execve.
    let child = match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => unsafe {
            // A process group of its own: the timeout kills the program and
            // everything it started, not the program alone.
            libc::setpgid(0, 0);
            let fds = pipes.as_ref().map(|((_, out), (_, err))| (out.as_raw_fd(), err.as_raw_fd()));
            prepared.exec(fds.map(|f| f.0), fds.map(|f| f.1));
            libc::_exit(127)
        },
        Ok(nix::unistd::ForkResult::Parent { child }) => child,
        Err(_) => {
            finished.status = Some(127);
            return finished;
        }
    };
    finished.pid = child.as_raw() as u32;
    // Set on both sides of the fork, so that no kill can come before it.
    let _ = nix::unistd::setpgid(child, child);
    let limit = wait.capture.unwrap_or(0);
    let mut outputs = pipes.map(|((out, _), (err, _))| [Capture::new(out, limit), Capture::new(err, limit)]);
    let timeout = Duration::from_millis(wait.timeout_ms);
    let mut killing: Option<Instant> = None;
    loop {
        match &mut outputs {
            Some(outputs) => poll_outputs(outputs, 10),
            None => std::thread::sleep(Duration::from_millis(10)),
        }
        match nix::sys::wait::waitpid(child, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
            Ok(nix::sys::wait::WaitStatus::Exited(_, status)) => {
                finished.status = Some(status);
                break;
            }
            Ok(nix::sys::wait::WaitStatus::Signaled(_, signal, _)) => {
                finished.signal = Some(signal as i32);
                break;
            }
            _ => {}
        }
        let now = Instant::now();
        if killing.is_none() && cancelled(cancel) {
            finished.cancelled = true;
            killing = Some(now);
            let _ = nix::sys::signal::killpg(child, nix::sys::signal::Signal::SIGKILL);
        }
        match killing {
            None if now.duration_since(started) >= timeout => {
                finished.timed_out = true;
                killing = Some(now);
                // Once is enough: a process with SIGKILL pending cannot
                // fork, and none outside the group can join it.
                let _ = nix::sys::signal::killpg(child, nix::sys::signal::Signal::SIGKILL);
            }
            Some(since) if now.duration_since(since) >= Duration::from_secs(10) => {
                finished.unkillable = true;
                break;
            }
            _ => {}
        }
    }
    finished.elapsed_us = started.elapsed().as_micros() as u64;
    if let Some(mut outputs) = outputs {
        // What the program wrote just before it ended, within a short grace.
        let grace = Instant::now() + Duration::from_millis(200);
        while outputs.iter().any(|o| o.open) && Instant::now() < grace {
            poll_outputs(&mut outputs, 20);
        }
        let [out, err] = outputs;
        finished.stdout = out.text();
        finished.stderr = err.text();
    }
    finished
}

/// Whether the daemon asked to cancel (a byte on the non-blocking `cancel`
/// pipe; its end without one, the daemon stopping, is not a cancellation).
fn cancelled(cancel: &OwnedFd) -> bool {
    let mut byte = [0u8; 1];
    matches!(nix::unistd::read(cancel, &mut byte), Ok(1))
}

/// One captured stream.
struct Capture {
    fd: OwnedFd,
    kept: Vec<u8>,
    dropped: usize,
    limit: usize,
    open: bool,
}

impl Capture {
    fn new(fd: OwnedFd, limit: usize) -> Capture {
        Capture { fd, kept: Vec::new(), dropped: 0, limit, open: true }
    }

    fn text(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.kept).into_owned();
        if self.dropped > 0 {
            text += &format!("\n[... {} more bytes not kept]", self.dropped);
        }
        text
    }
}

/// Reads whatever the open streams have, waiting at most `ms` for some.
fn poll_outputs(outputs: &mut [Capture; 2], ms: u16) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut fds: Vec<PollFd> = outputs.iter().filter(|o| o.open).map(|o| PollFd::new(o.fd.as_fd(), PollFlags::POLLIN)).collect();
    if fds.is_empty() {
        std::thread::sleep(Duration::from_millis(u64::from(ms)));
        return;
    }
    if poll(&mut fds, PollTimeout::from(ms)).unwrap_or(0) <= 0 {
        return;
    }
    let ready: Vec<bool> = fds.iter().map(|f| f.revents().is_some_and(|r| !r.is_empty())).collect();
    let mut ready = ready.into_iter();
    for output in outputs.iter_mut().filter(|o| o.open) {
        if !ready.next().unwrap_or(false) {
            continue;
        }
        let mut buffer = [0u8; 8192];
        match nix::unistd::read(&output.fd, &mut buffer) {
            Ok(0) | Err(_) => output.open = false,
            Ok(n) => {
                let room = output.limit.saturating_sub(output.kept.len()).min(n);
                output.kept.extend_from_slice(&buffer[..room]);
                output.dropped += n - room;
            }
        }
    }
}

#[cfg(test)]
impl Spawner {
    /// A spawner whose helper is gone: every start fails (the request meets
    /// a closed socket: a broken pipe). For tests of what is decided before
    /// anything starts.
    pub(crate) fn gone() -> Spawner {
        let (ours, _theirs) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC).expect("socketpair");
        Spawner { socket: Mutex::new(ours) }
    }
}
