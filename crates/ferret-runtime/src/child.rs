//! `-c CMD`: the child is forked before compiling (so `cpid` is known) and held on a pipe until
//! every probe is attached, so its first syscalls are traced.
use std::ffi::CString;

pub struct Child {
    pub pid: i32,
    release_fd: i32,
    status: Option<i32>,
}

impl Child {
    /// Fork CMD (split into words as a shell would, quotes honoured, but no shell) and hold it.
    pub fn spawn_held(cmd: &str) -> Result<Child, String> {
        let words: Vec<CString> = shell_words(cmd)?
            .into_iter()
            .map(|w| CString::new(w).map_err(|_| "NUL in command".to_string()))
            .collect::<Result<_, _>>()?;
        if words.is_empty() {
            return Err("empty command for -c".into());
        }
        let mut fds = [0i32; 2];
        // SAFETY: pipe2 writes two fds into the array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(format!("pipe: {}", std::io::Error::last_os_error()));
        }
        let mut argv: Vec<*const libc::c_char> = words.iter().map(|w| w.as_ptr()).collect();
        argv.push(std::ptr::null());
        // SAFETY: after fork the child only calls async-signal-safe functions (read, close,
        // execvp, _exit) before exec.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(format!("fork: {}", std::io::Error::last_os_error()));
        }
        if pid == 0 {
            unsafe {
                libc::close(fds[1]);
                let mut b = [0u8; 1];
                let n = libc::read(fds[0], b.as_mut_ptr() as *mut libc::c_void, 1);
                if n != 1 {
                    libc::_exit(127);
                }
                libc::execvp(argv[0], argv.as_ptr());
                let msg = b"ferret: could not run the -c command\n";
                libc::write(2, msg.as_ptr() as *const libc::c_void, msg.len());
                libc::_exit(127);
            }
        }
        // SAFETY: closing our copy of the read end.
        unsafe { libc::close(fds[0]) };
        Ok(Child { pid, release_fd: fds[1], status: None })
    }

    /// Let the child exec.
    pub fn release(&mut self) {
        if self.release_fd >= 0 {
            // SAFETY: writing one byte to our pipe end, then closing it.
            unsafe {
                libc::write(self.release_fd, b"x".as_ptr() as *const libc::c_void, 1);
                libc::close(self.release_fd);
            }
            self.release_fd = -1;
        }
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
fn shell_words(cmd: &str) -> Result<Vec<String>, String> {
    let mut words = vec![];
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = cmd.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err(format!("unterminated quote in command: {cmd}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err(format!("unterminated quote in command: {cmd}")),
                        },
                        Some(c) => cur.push(c),
                        None => return Err(format!("unterminated quote in command: {cmd}")),
                    }
                }
            }
            '\\' => {
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
        let w = super::shell_words(r#"sh -c "ls /x; echo \"hi\"" 'a b' c\ d"#).unwrap();
        assert_eq!(w, vec!["sh", "-c", "ls /x; echo \"hi\"", "a b", "c d"]);
        assert!(super::shell_words("echo 'oops").is_err());
    }
}
