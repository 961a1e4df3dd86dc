//! What `system()` and `cat()` do on the host: run a shell command and collect what it prints,
//! read the start of a file. Errors are worded as bpftrace words them.
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// Bytes `cat()` prints of a file by default (`BPFTRACE_MAX_CAT_BYTES`).
pub const DEFAULT_MAX_CAT_BYTES: usize = 10240;

/// Run `sh -c cmd` with stdout and stderr on one pipe and return everything it wrote. A
/// command that fails prints nothing; the error says why.
pub fn run_shell(cmd: &str) -> Result<String, String> {
    let (read_end, write_end) = pipe().map_err(|e| format!("pipe() failed ({e})"))?;
    let stderr = write_end.try_clone().map_err(|e| format!("pipe() failed ({e})"))?;
    let mut command = Command::new("sh");
    command.arg("-c").arg(cmd).stdout(Stdio::from(write_end)).stderr(Stdio::from(stderr));
    // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill the shell if ferret
    // dies first, so no command outlives the tracer.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(|e| format!("fork() failed ({e})"))?;
    // Our copies of the write end must close, or the read below never sees EOF.
    drop(command);
    let mut out = Vec::new();
    let _ = std::fs::File::from(read_end).read_to_end(&mut out);
    let status = child.wait().map_err(|e| format!("waitpid() failed ({e})"))?;
    match status.code() {
        Some(0) => Ok(String::from_utf8_lossy(&out).into_owned()),
        Some(code) => Err(format!("command exited with code {code}")),
        None => Err("child process did not exit normally".to_string()),
    }
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two new fds into the array; each is owned exactly once below.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the fds were just created and nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The first `max` bytes of the file at `path`.
pub fn cat(path: &str, max: usize) -> Result<String, String> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("failed to open file '{path}' ({})", strerror(e.raw_os_error().unwrap_or(libc::EIO))))?;
    let mut buf = Vec::new();
    let _ = file.take(max as u64).read_to_end(&mut buf);
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

pub use ferret_sys::strerror;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_output_includes_stderr() {
        assert_eq!(run_shell("echo a; echo b >&2").unwrap(), "a\nb\n");
        assert_eq!(run_shell("exit 3").unwrap_err(), "command exited with code 3");
    }

    #[test]
    fn cat_is_bounded_and_reports_missing_files() {
        assert_eq!(cat("/proc/self/comm", 2).unwrap().len(), 2);
        assert_eq!(
            cat("/does/not/exist/file", 10).unwrap_err(),
            "failed to open file '/does/not/exist/file' (No such file or directory)"
        );
    }
}
