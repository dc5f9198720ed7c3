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
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Mutex;

use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockType, recv, send, socketpair};
use serde::{Deserialize, Serialize};

/// Largest request or answer, in bytes.
const MAX_MESSAGE: usize = 1 << 20;

/// A command to start.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpawnRequest {
    /// The shell (`-c command` follows).
    pub shell: String,
    /// The command line.
    pub command: String,
    /// The whole environment.
    pub env: Vec<(String, String)>,
    /// The working directory.
    pub cwd: String,
    /// Take these credentials first (`None`: keep the spawner's).
    pub credentials: Option<(u32, u32, Vec<u32>)>,
}

#[derive(Debug, Serialize, Deserialize)]
enum SpawnAnswer {
    Started(u32),
    Failed(String),
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
                serve(theirs);
            }
            nix::unistd::ForkResult::Parent { .. } => {
                drop(theirs);
                Ok(Spawner { socket: Mutex::new(ours) })
            }
        }
    }

    /// Starts a command; its pid, or why it could not start.
    pub fn spawn(&self, request: &SpawnRequest) -> io::Result<u32> {
        let socket = self.socket.lock().expect("the spawner lock is never poisoned");
        let message = serde_json::to_vec(request).map_err(io::Error::other)?;
        send(socket.as_raw_fd(), &message, MsgFlags::empty())?;
        let mut buffer = vec![0; MAX_MESSAGE];
        let len = recv(socket.as_raw_fd(), &mut buffer, MsgFlags::empty())?;
        if len == 0 {
            return Err(io::Error::other("the spawner is gone"));
        }
        match serde_json::from_slice(&buffer[..len]).map_err(io::Error::other)? {
            SpawnAnswer::Started(pid) => Ok(pid),
            SpawnAnswer::Failed(why) => Err(io::Error::other(why)),
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
        let answer = match serde_json::from_slice::<SpawnRequest>(&buffer[..len]) {
            Ok(request) => match start(&request) {
                Ok(pid) => SpawnAnswer::Started(pid),
                Err(error) => SpawnAnswer::Failed(error.to_string()),
            },
            Err(error) => SpawnAnswer::Failed(format!("bad request: {error}")),
        };
        let message = serde_json::to_vec(&answer).expect("answers serialise");
        if send(socket.as_raw_fd(), &message, MsgFlags::empty()).is_err() {
            std::process::exit(0);
        }
    }
}

/// Forks and execs one command; an exec failure comes back through a
/// close-on-exec pipe.
fn start(request: &SpawnRequest) -> io::Result<u32> {
    let cstring = |s: &str| CString::new(s).map_err(|_| io::Error::other("NUL in a command or its environment"));
    let shell = cstring(&request.shell)?;
    let argv = [cstring(&request.shell)?, cstring("-c")?, cstring(&request.command)?];
    let env: Vec<CString> = request.env.iter().map(|(k, v)| cstring(&format!("{k}={v}"))).collect::<io::Result<_>>()?;
    let cwd = cstring(&request.cwd)?;
    let devnull = cstring("/dev/null")?;
    let (read_end, write_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut env_ptrs: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());
    let groups: Vec<libc::gid_t> = request.credentials.as_ref().map(|c| c.2.clone()).unwrap_or_default();
    // SAFETY: the spawner is single-threaded; the child only makes system calls on data prepared above.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Child => unsafe {
            let fail = |fd: i32| -> ! {
                let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0).to_ne_bytes();
                libc::write(fd, errno.as_ptr().cast(), errno.len());
                libc::_exit(127)
            };
            let report = write_end.as_raw_fd();
            libc::signal(libc::SIGCHLD, libc::SIG_DFL);
            if libc::setsid() < 0 {
                fail(report);
            }
            if let Some((uid, gid, _)) = request.credentials {
                if libc::setgroups(groups.len(), groups.as_ptr()) != 0 || libc::setgid(gid) != 0 || libc::setuid(uid) != 0 {
                    fail(report);
                }
            }
            let null = libc::open(devnull.as_ptr(), libc::O_RDWR);
            if null < 0 || libc::dup2(null, 0) < 0 || libc::dup2(null, 1) < 0 || libc::dup2(null, 2) < 0 {
                fail(report);
            }
            if libc::chdir(cwd.as_ptr()) != 0 {
                libc::chdir(c"/".as_ptr());
            }
            libc::execve(shell.as_ptr(), argv_ptrs.as_ptr(), env_ptrs.as_ptr());
            fail(report)
        },
        nix::unistd::ForkResult::Parent { child } => {
            drop(write_end);
            let mut errno = [0u8; 4];
            let read = nix::unistd::read(&read_end, &mut errno)?;
            if read == 4 {
                return Err(io::Error::from_raw_os_error(i32::from_ne_bytes(errno)));
            }
            Ok(child.as_raw() as u32)
        }
    }
}
