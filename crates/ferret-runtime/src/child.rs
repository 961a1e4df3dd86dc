//! `-c CMD`: the child is forked before compiling (so `cpid` is known) and held on a pipe until
//! every probe is attached, so its first syscalls are traced. The command is checked before the
//! fork (found through `$PATH`, executable), and a failed exec comes back as its errno.
use ferret_sys::strerror;
use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub struct Child {
    pub pid: i32,
    /// The program as found (`/usr/bin/ls` for `ls`).
    pub path: PathBuf,
    release_fd: i32,
    /// Read end of a close-on-exec pipe: EOF when the exec worked, the errno when it failed.
    exec_err_fd: i32,
    status: Option<i32>,
}

/// Where `execvp` would find `program`, checked as it would be: a name with a `/` is a path,
/// anything else is searched for in `$PATH`; the file must be a regular, executable file.
pub fn resolve_program(program: &OsStr) -> Result<PathBuf, String> {
    let shown = program.to_string_lossy();
    let check = |p: &Path| -> Result<(), i32> {
        let meta = std::fs::metadata(p).map_err(|e| e.raw_os_error().unwrap_or(libc::ENOENT))?;
        if meta.is_dir() {
            return Err(libc::EISDIR);
        }
        let c = CString::new(p.as_os_str().as_bytes()).map_err(|_| libc::EINVAL)?;
        // SAFETY: access() reads a NUL-terminated path.
        if !meta.is_file() || unsafe { libc::access(c.as_ptr(), libc::X_OK) } != 0 {
            return Err(libc::EACCES);
        }
        Ok(())
    };
    if program.as_bytes().contains(&b'/') {
        let p = PathBuf::from(program);
        return check(&p).map(|()| p).map_err(|e| format!("-c {shown}: {}", strerror(e)));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let mut denied = None;
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(program);
        match check(&candidate) {
            Ok(()) => return Ok(candidate),
            // execvp goes on past a file it may not run, and reports EACCES if nothing else fits.
            Err(libc::EACCES) => denied = Some(candidate),
            Err(_) => {}
        }
    }
    Err(match denied {
        Some(p) => format!("-c {shown}: {}: {}", p.display(), strerror(libc::EACCES)),
        None => format!("-c {shown}: command not found in $PATH"),
    })
}

impl Child {
    /// Fork CMD (split into words as a shell would, quotes honoured, but no shell) and hold it.
    /// The words are bytes: a command that is not UTF-8 runs as given.
    pub fn spawn_held(cmd: &OsStr) -> Result<Child, String> {
        let words: Vec<CString> = shell_words(cmd.as_bytes())
            .map_err(|e| format!("-c: {e}: {}", cmd.to_string_lossy()))?
            .into_iter()
            .map(|w| CString::new(w).map_err(|_| "-c: NUL in command".to_string()))
            .collect::<Result<_, _>>()?;
        if words.is_empty() {
            return Err("-c: empty command".into());
        }
        let path = resolve_program(OsStr::from_bytes(words[0].as_bytes()))?;
        let cpath = CString::new(path.as_os_str().as_bytes()).map_err(|_| "-c: NUL in command".to_string())?;
        let (mut fds, mut errs) = ([0i32; 2], [0i32; 2]);
        // SAFETY: pipe2 writes two fds into each array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0
            || unsafe { libc::pipe2(errs.as_mut_ptr(), libc::O_CLOEXEC) } != 0
        {
            return Err(format!("pipe: {}", std::io::Error::last_os_error()));
        }
        let mut argv: Vec<*const libc::c_char> = words.iter().map(|w| w.as_ptr()).collect();
        argv.push(std::ptr::null());
        // SAFETY: after fork the child only calls async-signal-safe functions (read, write,
        // close, execv, _exit) before exec.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(format!("fork: {}", std::io::Error::last_os_error()));
        }
        if pid == 0 {
            unsafe {
                libc::close(fds[1]);
                libc::close(errs[0]);
                let mut b = [0u8; 1];
                let n = libc::read(fds[0], b.as_mut_ptr() as *mut libc::c_void, 1);
                if n != 1 {
                    libc::_exit(127);
                }
                libc::execv(cpath.as_ptr(), argv.as_ptr());
                let errno = *libc::__errno_location();
                libc::write(errs[1], (&errno as *const i32).cast(), 4);
                libc::_exit(127);
            }
        }
        // SAFETY: closing our copies of the child's ends.
        unsafe {
            libc::close(fds[0]);
            libc::close(errs[1]);
        }
        Ok(Child { pid, path, release_fd: fds[1], exec_err_fd: errs[0], status: None })
    }

    /// Let the child exec, and wait until it has: an exec that failed is an error naming the
    /// program and the reason.
    pub fn release(&mut self) -> Result<(), String> {
        if self.release_fd < 0 {
            return Ok(());
        }
        // SAFETY: writing one byte to our pipe end, then closing it.
        unsafe {
            libc::write(self.release_fd, b"x".as_ptr() as *const libc::c_void, 1);
            libc::close(self.release_fd);
        }
        self.release_fd = -1;
        let mut errno = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            // SAFETY: reading into our buffer from our pipe end.
            let n = unsafe { libc::read(self.exec_err_fd, errno[got..].as_mut_ptr().cast(), 4 - got) };
            if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            if n <= 0 {
                break;
            }
            got += n as usize;
        }
        // SAFETY: closing our pipe end.
        unsafe { libc::close(self.exec_err_fd) };
        self.exec_err_fd = -1;
        if got == 4 {
            return Err(format!("-c {}: {}", self.path.display(), strerror(i32::from_ne_bytes(errno))));
        }
        Ok(())
    }

    /// Whether the child has exited (reaps it).
    pub fn exited(&mut self) -> bool {
        if self.status.is_some() {
            return true;
        }
        let mut st = 0;
        // SAFETY: waitpid on our own child with WNOHANG.
        let r = unsafe { libc::waitpid(self.pid, &mut st, libc::WNOHANG) };
        if r == self.pid {
            self.status = Some(st);
            return true;
        }
        r < 0
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.status.is_none() && self.release_fd >= 0 {
            // Never started: don't leave it waiting forever.
            // SAFETY: signalling and reaping our own child; closing our pipe end.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                libc::close(self.release_fd);
                libc::close(self.exec_err_fd);
                libc::waitpid(self.pid, std::ptr::null_mut(), 0);
            }
            return;
        }
        if self.exited() {
            return;
        }
        // Tracing ended (exit(), Ctrl-C) while the command still runs: end it as bpftrace does,
        // with SIGTERM, and SIGKILL if it is still there after half a second.
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.pid, libc::SIGTERM) };
        for _ in 0..50 {
            if self.exited() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // SAFETY: signalling and reaping our own child.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
        }
    }
}

/// Split a command line into words: whitespace separates, `'...'` is literal, `"..."` allows
/// `\"` and `\\`, a backslash outside quotes escapes the next character.
fn shell_words(cmd: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut words = vec![];
    let mut cur = vec![];
    let mut in_word = false;
    let mut chars = cmd.iter().copied();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_ascii_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            b'\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some(b'\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("unterminated quote in command".into()),
                    }
                }
            }
            b'"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some(b'"') => break,
                        Some(b'\\') => match chars.next() {
                            Some(c @ (b'"' | b'\\' | b'$' | b'`')) => cur.push(c),
                            Some(c) => {
                                cur.push(b'\\');
                                cur.push(c);
                            }
                            None => return Err("unterminated quote in command".into()),
                        },
                        Some(c) => cur.push(c),
                        None => return Err("unterminated quote in command".into()),
                    }
                }
            }
            b'\\' => {
                in_word = true;
                cur.extend(chars.next());
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    #[test]
    fn splits_like_a_shell() {
        let mut cmd = br#"sh -c "ls /x; echo \"hi\"" 'a b' c\ d"#.to_vec();
        cmd.extend_from_slice(b" \xff");
        let w = super::shell_words(&cmd).unwrap();
        let want: Vec<&[u8]> = vec![b"sh", b"-c", b"ls /x; echo \"hi\"", b"a b", b"c d", b"\xff"];
        assert_eq!(w, want);
        assert!(super::shell_words(b"echo 'oops").is_err());
    }
}
