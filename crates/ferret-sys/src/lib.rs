//! The kernel boundary of ferret: raw bpf(2), perf_event_open(2), mmap'd ring and perf buffers,
//! tracefs and sysfs reads. This is the only crate with `unsafe`; everything above it sees typed
//! results ([`SysError`] names the syscall that failed) and owned file descriptors.
//!
//! Layout, by the part of the data path each module owns:
//! - [`bpf`]: maps, program load (verifier log on failure), links, `BPF_PROG_TEST_RUN`.
//! - [`perf`]: `perf_event_open` for tracepoints, software events and the uprobe PMU.
//! - [`tracefs`]: tracepoint ids, the tracepoint list and `format` files.
//! - [`cpus`]: online/possible CPU lists (per-CPU value sizes, one perf event per CPU).
//! - [`ringbuf`] / [`perfbuf`]: reading events that programs emit; [`epoll`] waits for them.
//! - [`features`]: cheap, cached trial loads that tell what this kernel allows.
//! - [`kallsyms`]: kernel symbol addresses.
//! - [`privileges`]: capabilities and tracefs access, checked before anything is resolved.

mod error;
mod mmap;
pub use mmap::FileMap;

pub mod bpf;
pub mod cpus;
pub mod epoll;
pub mod features;
pub mod kallsyms;
pub mod perf;
pub mod perfbuf;
pub mod privileges;
pub mod ringbuf;
pub mod tracefs;

pub use error::{Result, SysError};

use std::sync::OnceLock;

/// The system page size (cached); ring and perf buffers are sized in pages.
pub fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: sysconf has no memory-safety preconditions.
        let r = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        // sysconf cannot really fail for _SC_PAGESIZE; 4096 is the only size on x86_64.
        if r > 0 {
            r as usize
        } else {
            4096
        }
    })
}

/// The C library's text for an errno (`strerror(3)`: `No such file or directory`), without the
/// ` (os error N)` that Rust's `io::Error` appends.
pub fn strerror(errno: i32) -> String {
    let s = std::io::Error::from_raw_os_error(errno).to_string();
    match s.rfind(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// The errno of the last failed libc call on this thread.
pub(crate) fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

/// Whether this process runs with effective uid 0 (tests skip kernel work otherwise).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
