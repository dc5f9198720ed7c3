//! Deadlines for the processes tests run: a hang is a failure that names
//! the command, never a suite that does not end. Shared with the corpus
//! example (no `CARGO_BIN_EXE_*` here).

use std::process::Command;

/// The longest any process a test runs may take.
pub const PROCESS_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// [`Command::output`] within [`PROCESS_LIMIT`].
pub trait Bounded {
    /// Runs the command with no standard input and its output captured, as
    /// `output` does; a process still running after [`PROCESS_LIMIT`] is
    /// killed and the test fails, naming the command.
    fn output_bounded(&mut self) -> std::io::Result<std::process::Output>;
}

impl Bounded for Command {
    fn output_bounded(&mut self) -> std::io::Result<std::process::Output> {
        use std::process::Stdio;
        let child = self.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
        Ok(finish_bounded(child, &format!("{self:?}")))
    }
}

/// Waits for `child` (`what` names it) and reads what it wrote to the pipes
/// it was given, as `wait_with_output` does, within [`PROCESS_LIMIT`]:
/// past it the child is killed and the test fails.
pub fn finish_bounded(mut child: std::process::Child, what: &str) -> std::process::Output {
    use std::io::Read;
    fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    }
    let (stdout, stderr) = (drain(child.stdout.take()), drain(child.stderr.take()));
    let pid = child.id();
    let (sender, ended) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait());
    });
    match ended.recv_timeout(PROCESS_LIMIT) {
        Ok(status) => std::process::Output { status: status.unwrap(), stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() },
        Err(_) => {
            // SAFETY: the child has not been reaped (its waiter still waits), so the pid is still its own.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("{what} did not end within {PROCESS_LIMIT:?}");
        }
    }
}
