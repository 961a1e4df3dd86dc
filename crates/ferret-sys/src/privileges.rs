//! What this process may do with BPF, learnt before any probe is resolved: its effective
//! capabilities (capget), whether the kernel knows CAP_BPF, tracefs access, and the sysctls and
//! lockdown mode that refuse tracing whatever the capabilities. A missing privilege then reads
//! as one line that says what to do, not as "No matches for tracepoint".

use std::path::Path;

pub const CAP_DAC_OVERRIDE: u32 = 1;
pub const CAP_DAC_READ_SEARCH: u32 = 2;
pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_PERFMON: u32 = 38;
pub const CAP_BPF: u32 = 39;

/// This process's identity and effective capabilities.
#[derive(Debug, Clone, Copy)]
pub struct Privileges {
    pub euid: u32,
    /// Effective capability bits.
    pub effective: u64,
    /// The highest capability this kernel knows (`/proc/sys/kernel/cap_last_cap`).
    pub cap_last: u32,
}

/// `struct __user_cap_header_struct` / `__user_cap_data_struct` (version 3: two 32-bit halves).
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

impl Privileges {
    /// The calling process's.
    pub fn current() -> Privileges {
        let mut header = CapHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
        let mut data = [CapData::default(); 2];
        // SAFETY: capget writes two CapData structs for version 3; both live for the call.
        let r = unsafe { libc::syscall(libc::SYS_capget, &mut header as *mut CapHeader, data.as_mut_ptr()) };
        let effective = if r == 0 { data[0].effective as u64 | (data[1].effective as u64) << 32 } else { 0 };
        let cap_last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(CAP_BPF);
        // SAFETY: geteuid has no preconditions.
        Privileges { euid: unsafe { libc::geteuid() }, effective, cap_last }
    }

    pub fn has(&self, cap: u32) -> bool {
        self.effective & (1u64 << cap) != 0
    }

    /// Whether loading and attaching tracing programs is allowed: CAP_SYS_ADMIN, or CAP_BPF
    /// and CAP_PERFMON on kernels that have them (5.8 and later).
    pub fn can_trace(&self) -> bool {
        self.has(CAP_SYS_ADMIN) || (self.cap_last >= CAP_BPF && self.has(CAP_BPF) && self.has(CAP_PERFMON))
    }

    /// Why tracing cannot work here, as one line saying what to do; `None` when it can.
    /// `tracefs` says whether the program needs tracefs (tracepoints, listings): its directory
    /// must then be readable.
    pub fn missing(&self, tracefs: bool) -> Option<String> {
        let who = format!("running as uid {}", self.euid);
        if !self.can_trace() {
            let mut msg = if self.cap_last >= CAP_BPF {
                format!("ferret needs root or CAP_BPF and CAP_PERFMON ({who})")
            } else {
                format!("ferret needs root or CAP_SYS_ADMIN: this kernel predates CAP_BPF ({who})")
            };
            if self.euid != 0 {
                msg.push_str("; run it with sudo");
            }
            return Some(msg);
        }
        if tracefs {
            if let Err(why) = tracefs_readable() {
                return Some(format!(
                    "ferret cannot read tracefs ({why}; {who}): run it as root, or add CAP_DAC_READ_SEARCH"
                ));
            }
        }
        None
    }
}

/// Whether tracefs can be found (mounting it if need be) and its event list read.
fn tracefs_readable() -> Result<(), String> {
    // tracefs is mode 0700: without read access it is not "unmounted", it is closed to us.
    for dir in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] {
        match std::fs::read_dir(dir) {
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(format!("{dir}: {}", errno_text(&e)))
            }
            Err(_) => {}
        }
    }
    let root = crate::tracefs::root().map_err(|e| {
        format!("{e}; mounting it needs CAP_SYS_ADMIN, or mount it first: mount -t tracefs nodev /sys/kernel/tracing")
    })?;
    let list = root.join("available_events");
    std::fs::File::open(&list).map(drop).map_err(|e| format!("{}: {}", list.display(), errno_text(&e)))
}

fn errno_text(e: &std::io::Error) -> String {
    e.raw_os_error().map_or_else(|| e.to_string(), crate::strerror)
}

/// Kernel settings that refuse tracing (or part of it) even with every capability: the
/// lockdown mode. Returns a warning line to show, if any.
pub fn lockdown_warning() -> Option<String> {
    let text = std::fs::read_to_string(Path::new("/sys/kernel/security/lockdown")).ok()?;
    let mode = text.split_whitespace().find(|w| w.starts_with('['))?.trim_matches(['[', ']']);
    (mode == "confidentiality").then(|| {
        "the kernel is locked down (confidentiality): it refuses BPF reads of kernel memory, so most probes cannot read their arguments".to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_bpf_and_perfmon_or_sys_admin() {
        let p = |caps: &[u32], cap_last: u32| Privileges {
            euid: 65534,
            effective: caps.iter().fold(0, |m, c| m | 1u64 << c),
            cap_last,
        };
        assert!(p(&[CAP_BPF, CAP_PERFMON], 40).can_trace());
        assert!(p(&[CAP_SYS_ADMIN], 40).can_trace());
        assert!(!p(&[CAP_BPF], 40).can_trace());
        assert!(!p(&[CAP_BPF, CAP_PERFMON], 37).can_trace());
        assert_eq!(
            p(&[], 40).missing(false).unwrap(),
            "ferret needs root or CAP_BPF and CAP_PERFMON (running as uid 65534); run it with sudo"
        );
        assert!(p(&[], 37).missing(false).unwrap().contains("CAP_SYS_ADMIN"));
        assert_eq!(p(&[CAP_BPF, CAP_PERFMON], 40).missing(false), None);
    }

    #[test]
    fn reads_this_process() {
        let p = Privileges::current();
        if crate::is_root() {
            assert!(p.has(CAP_SYS_ADMIN) || p.effective == 0, "{p:?}");
        }
        assert!(p.cap_last >= 30);
    }
}
