//! epoll: how the event loop sleeps until a ring buffer or perf buffer has data.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use crate::{bpf, last_errno, Result, SysError};

/// An epoll instance; each registered fd carries a caller-chosen `u64` token.
#[derive(Debug)]
pub struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    /// `epoll_create1(EPOLL_CLOEXEC)`.
    pub fn new() -> Result<Epoll> {
        // SAFETY: no pointers involved.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(SysError::syscall("epoll_create1", last_errno(), ""));
        }
        Ok(Epoll { fd: bpf::owned_fd(fd as i64) })
    }

    /// Watches `fd` for readability; [`Epoll::wait`] reports `token` when it is readable.
    pub fn add(&self, fd: BorrowedFd<'_>, token: u64) -> Result<()> {
        let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: token };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call.
        let r = unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd.as_raw_fd(), &mut ev) };
        if r < 0 {
            return Err(SysError::syscall("epoll_ctl(EPOLL_CTL_ADD)", last_errno(), format!("fd {}", fd.as_raw_fd())));
        }
        Ok(())
    }

    /// Waits up to `timeout_ms` (-1: forever) and returns the tokens of ready fds. A signal
    /// (EINTR) returns an empty list so the caller can check its exit flags.
    pub fn wait(&self, timeout_ms: i32) -> Result<Vec<u64>> {
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 32];
        // SAFETY: the kernel writes at most evs.len() entries into `evs`.
        let n = unsafe { libc::epoll_wait(self.fd.as_raw_fd(), evs.as_mut_ptr(), evs.len() as i32, timeout_ms) };
        if n < 0 {
            let e = last_errno();
            if e == libc::EINTR {
                return Ok(Vec::new());
            }
            return Err(SysError::syscall("epoll_wait", e, ""));
        }
        Ok(evs[..n as usize].iter().map(|e| e.u64).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsFd, FromRawFd};

    #[test]
    fn reports_tokens_of_readable_fds() {
        let mut fds = [0i32; 2];
        // SAFETY: pipe2 writes two fds into the array.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: both fds were just created and are owned here.
        let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let ep = Epoll::new().expect("epoll");
        ep.add(r.as_fd(), 42).expect("add");
        assert!(ep.wait(0).expect("wait").is_empty());
        // SAFETY: writes one byte from a live buffer.
        assert_eq!(unsafe { libc::write(w.as_raw_fd(), b"x".as_ptr().cast(), 1) }, 1);
        assert_eq!(ep.wait(1000).expect("wait"), vec![42]);
    }
}
