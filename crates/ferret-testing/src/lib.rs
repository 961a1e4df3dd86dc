//! Test support, for dev-dependencies only: the one way tests on the real kernel say that they
//! cannot run here and why. A test asks [`skip_unless`] for what it needs; when something is
//! missing it prints `SKIP: <test>: <why>` and the test returns early, so a skipped test is never
//! mistaken for a passing one in the output.
use std::fmt::Display;

/// What a test may need from the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Root (loading BPF programs, system-wide perf events).
    Root,
    /// The running kernel's BTF (`/sys/kernel/btf/vmlinux`).
    KernelBtf,
    /// A readable tracefs (root, and tracefs mounted or mountable).
    Tracefs,
}

/// Why `need` is not met here, or `None` when it is.
pub fn missing(need: Need) -> Option<String> {
    match need {
        // SAFETY: geteuid has no preconditions.
        Need::Root => (unsafe { libc::geteuid() } != 0).then(|| "needs root".to_string()),
        Need::KernelBtf => {
            (!std::path::Path::new("/sys/kernel/btf/vmlinux").exists()).then(|| "needs kernel BTF".to_string())
        }
        Need::Tracefs => missing(Need::Root).map(|why| format!("{why} for tracefs")),
    }
}

/// Whether a test that needs `needs` can run here; when it cannot, says why (see the crate
/// docs).
pub fn skip_unless(needs: &[Need]) -> bool {
    match needs.iter().find_map(|&n| missing(n)) {
        Some(why) => {
            skip(why);
            false
        }
        None => true,
    }
}

/// Say that the current test is skipped, and why.
pub fn skip(why: impl Display) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("test");
    println!("SKIP: {test}: {why}");
}
