//! Errors of the kernel boundary: every failure names the syscall or file it came from.

use std::fmt;
use std::io;

use crate::bpf::LoadError;

/// A failure at the kernel boundary.
#[derive(Debug, thiserror::Error)]
pub enum SysError {
    /// A syscall returned an error. `call` names it (`bpf(BPF_MAP_CREATE)`, `perf_event_open`),
    /// `what` the object it was about (`map 'x'`); Display reads
    /// `bpf(BPF_MAP_CREATE) for map 'x': Operation not permitted (os error 1)`.
    #[error("{}", SyscallDisplay { call, errno: *errno, what })]
    Syscall {
        /// The syscall, with its command for multiplexed calls.
        call: &'static str,
        /// The raw errno.
        errno: i32,
        /// What the call was about; may be empty.
        what: String,
    },
    /// Reading or writing a file (tracefs, sysfs) failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A file had unexpected contents.
    #[error("{path}: cannot parse: {what}")]
    Parse {
        /// The file.
        path: String,
        /// What was wrong.
        what: String,
    },
    /// The kernel lacks a facility (for example the kprobe PMU without `CONFIG_KPROBES`).
    #[error("{what} is not available: {why}")]
    Unsupported {
        /// The facility.
        what: String,
        /// Why we think so.
        why: String,
    },
    /// A caller passed something the kernel would reject (wrong key size, NUL in a name).
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// `BPF_PROG_LOAD` failed; carries the verifier log.
    #[error(transparent)]
    Load(#[from] LoadError),
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, SysError>;

impl SysError {
    /// The errno behind this error, when there is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            SysError::Syscall { errno, .. } => Some(*errno),
            SysError::Io { source, .. } => source.raw_os_error(),
            SysError::Load(e) => Some(e.errno),
            _ => None,
        }
    }

    /// Whether the error is "no such entry" (a missing file or map key, an absent tracepoint).
    pub fn is_not_found(&self) -> bool {
        self.errno() == Some(libc::ENOENT)
    }

    pub(crate) fn syscall(call: &'static str, errno: i32, what: impl Into<String>) -> SysError {
        SysError::Syscall { call, errno, what: what.into() }
    }

    pub(crate) fn io(path: impl AsRef<std::path::Path>, source: io::Error) -> SysError {
        SysError::Io { path: path.as_ref().display().to_string(), source }
    }

    pub(crate) fn parse(path: impl AsRef<std::path::Path>, what: impl Into<String>) -> SysError {
        SysError::Parse { path: path.as_ref().display().to_string(), what: what.into() }
    }
}

struct SyscallDisplay<'a> {
    call: &'a str,
    errno: i32,
    what: &'a str,
}

impl fmt::Display for SyscallDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let err = io::Error::from_raw_os_error(self.errno);
        if self.what.is_empty() {
            write!(f, "{}: {err}", self.call)
        } else {
            write!(f, "{} for {}: {err}", self.call, self.what)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscall_display_names_call_and_object() {
        let e = SysError::syscall("bpf(BPF_MAP_CREATE)", libc::EPERM, "map 'x'");
        assert_eq!(e.to_string(), "bpf(BPF_MAP_CREATE) for map 'x': Operation not permitted (os error 1)");
        assert_eq!(e.errno(), Some(libc::EPERM));
        let e = SysError::syscall("perf_event_open", libc::ENOENT, "");
        assert_eq!(e.to_string(), "perf_event_open: No such file or directory (os error 2)");
        assert!(e.is_not_found());
    }
}
