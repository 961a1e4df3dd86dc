//! perf_event_open(2): the events programs hang off — tracepoints, software clocks (profile,
//! interval), uprobes through the uprobe PMU, and BPF_OUTPUT events behind perf buffers.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use crate::{bpf, last_errno, Result, SysError};

/// `perf_event_attr.type`: `PERF_TYPE_HARDWARE` (no hardware PMU on ferret's test VMs).
pub const PERF_TYPE_HARDWARE: u32 = 0;
/// `PERF_TYPE_SOFTWARE`.
pub const PERF_TYPE_SOFTWARE: u32 = 1;
/// `PERF_TYPE_TRACEPOINT`: `config` is the tracefs event id.
pub const PERF_TYPE_TRACEPOINT: u32 = 2;
/// `PERF_TYPE_HW_CACHE`.
pub const PERF_TYPE_HW_CACHE: u32 = 3;
/// `PERF_TYPE_RAW`.
pub const PERF_TYPE_RAW: u32 = 4;
/// `PERF_TYPE_BREAKPOINT`.
pub const PERF_TYPE_BREAKPOINT: u32 = 5;

/// `enum perf_sw_ids`: software counters (`config` of [`PERF_TYPE_SOFTWARE`]).
pub mod sw {
    /// `PERF_COUNT_SW_CPU_CLOCK`: what `profile:hz:N` samples on.
    pub const CPU_CLOCK: u64 = 0;
    /// `PERF_COUNT_SW_TASK_CLOCK`.
    pub const TASK_CLOCK: u64 = 1;
    /// `PERF_COUNT_SW_PAGE_FAULTS`.
    pub const PAGE_FAULTS: u64 = 2;
    /// `PERF_COUNT_SW_CONTEXT_SWITCHES`.
    pub const CONTEXT_SWITCHES: u64 = 3;
    /// `PERF_COUNT_SW_CPU_MIGRATIONS`.
    pub const CPU_MIGRATIONS: u64 = 4;
    /// `PERF_COUNT_SW_PAGE_FAULTS_MIN`.
    pub const PAGE_FAULTS_MIN: u64 = 5;
    /// `PERF_COUNT_SW_PAGE_FAULTS_MAJ`.
    pub const PAGE_FAULTS_MAJ: u64 = 6;
    /// `PERF_COUNT_SW_ALIGNMENT_FAULTS`.
    pub const ALIGNMENT_FAULTS: u64 = 7;
    /// `PERF_COUNT_SW_EMULATION_FAULTS`.
    pub const EMULATION_FAULTS: u64 = 8;
    /// `PERF_COUNT_SW_DUMMY`.
    pub const DUMMY: u64 = 9;
    /// `PERF_COUNT_SW_BPF_OUTPUT`: the event behind a perf buffer.
    pub const BPF_OUTPUT: u64 = 10;
}

/// `enum perf_hw_id`: hardware counters (`config` of [`PERF_TYPE_HARDWARE`]).
pub mod hw {
    /// `PERF_COUNT_HW_CPU_CYCLES`.
    pub const CPU_CYCLES: u64 = 0;
    /// `PERF_COUNT_HW_INSTRUCTIONS`.
    pub const INSTRUCTIONS: u64 = 1;
    /// `PERF_COUNT_HW_CACHE_REFERENCES`.
    pub const CACHE_REFERENCES: u64 = 2;
    /// `PERF_COUNT_HW_CACHE_MISSES`.
    pub const CACHE_MISSES: u64 = 3;
    /// `PERF_COUNT_HW_BRANCH_INSTRUCTIONS`.
    pub const BRANCH_INSTRUCTIONS: u64 = 4;
    /// `PERF_COUNT_HW_BRANCH_MISSES`.
    pub const BRANCH_MISSES: u64 = 5;
    /// `PERF_COUNT_HW_BUS_CYCLES`.
    pub const BUS_CYCLES: u64 = 6;
    /// `PERF_COUNT_HW_STALLED_CYCLES_FRONTEND`.
    pub const STALLED_CYCLES_FRONTEND: u64 = 7;
    /// `PERF_COUNT_HW_STALLED_CYCLES_BACKEND`.
    pub const STALLED_CYCLES_BACKEND: u64 = 8;
    /// `PERF_COUNT_HW_REF_CPU_CYCLES`.
    pub const REF_CPU_CYCLES: u64 = 9;
}

/// Bits of `perf_event_attr.flags` (the C bitfield, LSB first).
pub mod flags {
    /// `disabled`: start off; enable with [`super::enable`].
    pub const DISABLED: u64 = 1 << 0;
    /// `inherit`: count in children too.
    pub const INHERIT: u64 = 1 << 1;
    /// `pinned`.
    pub const PINNED: u64 = 1 << 2;
    /// `exclusive`.
    pub const EXCLUSIVE: u64 = 1 << 3;
    /// `exclude_user`.
    pub const EXCLUDE_USER: u64 = 1 << 4;
    /// `exclude_kernel`.
    pub const EXCLUDE_KERNEL: u64 = 1 << 5;
    /// `exclude_hv`.
    pub const EXCLUDE_HV: u64 = 1 << 6;
    /// `exclude_idle`.
    pub const EXCLUDE_IDLE: u64 = 1 << 7;
    /// `mmap`.
    pub const MMAP: u64 = 1 << 8;
    /// `comm`.
    pub const COMM: u64 = 1 << 9;
    /// `freq`: `sample_period_or_freq` is a frequency in Hz.
    pub const FREQ: u64 = 1 << 10;
    /// `inherit_stat`.
    pub const INHERIT_STAT: u64 = 1 << 11;
    /// `enable_on_exec`.
    pub const ENABLE_ON_EXEC: u64 = 1 << 12;
    /// `task`.
    pub const TASK: u64 = 1 << 13;
    /// `watermark`: `wakeup_events` is a byte watermark.
    pub const WATERMARK: u64 = 1 << 14;
    /// `sample_id_all`.
    pub const SAMPLE_ID_ALL: u64 = 1 << 18;
    /// `exclude_host`.
    pub const EXCLUDE_HOST: u64 = 1 << 19;
    /// `exclude_guest`.
    pub const EXCLUDE_GUEST: u64 = 1 << 20;
    /// `exclude_callchain_kernel`.
    pub const EXCLUDE_CALLCHAIN_KERNEL: u64 = 1 << 21;
    /// `exclude_callchain_user`.
    pub const EXCLUDE_CALLCHAIN_USER: u64 = 1 << 22;
    /// `use_clockid`.
    pub const USE_CLOCKID: u64 = 1 << 25;
    /// `write_backward`.
    pub const WRITE_BACKWARD: u64 = 1 << 27;
}

/// `PERF_SAMPLE_RAW`: samples carry the raw data (what `bpf_perf_event_output` writes).
pub const PERF_SAMPLE_RAW: u64 = 1 << 10;
/// `PERF_FLAG_FD_CLOEXEC`, always passed by [`perf_event_open`].
pub const PERF_FLAG_FD_CLOEXEC: u64 = 1 << 3;
/// `PERF_RECORD_LOST` record type.
pub const PERF_RECORD_LOST: u32 = 2;
/// `PERF_RECORD_SAMPLE` record type.
pub const PERF_RECORD_SAMPLE: u32 = 9;

/// `PERF_EVENT_IOC_ENABLE` = `_IO('$', 0)`.
const PERF_EVENT_IOC_ENABLE: libc::c_ulong = 0x2400;
/// `PERF_EVENT_IOC_DISABLE` = `_IO('$', 1)`.
const PERF_EVENT_IOC_DISABLE: libc::c_ulong = 0x2401;

/// `struct perf_event_attr` (`PERF_ATTR_SIZE_VER8`, 136 bytes); `size` is filled in by
/// [`perf_event_open`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerfEventAttr {
    /// `PERF_TYPE_*` or a dynamic PMU type (uprobe, kprobe).
    pub type_: u32,
    /// `sizeof(struct perf_event_attr)`.
    pub size: u32,
    /// Event selector (tracepoint id, software counter id, uprobe retprobe bit).
    pub config: u64,
    /// `sample_period`, or `sample_freq` with [`flags::FREQ`].
    pub sample_period_or_freq: u64,
    /// `PERF_SAMPLE_*` bits.
    pub sample_type: u64,
    /// `PERF_FORMAT_*` bits.
    pub read_format: u64,
    /// The bitfield word, see [`flags`].
    pub flags: u64,
    /// `wakeup_events`, or `wakeup_watermark` with [`flags::WATERMARK`].
    pub wakeup_events: u32,
    /// `bp_type`.
    pub bp_type: u32,
    /// `config1` (uprobe: pointer to the path) / `bp_addr`.
    pub config1: u64,
    /// `config2` (uprobe: file offset) / `bp_len`.
    pub config2: u64,
    /// `branch_sample_type`.
    pub branch_sample_type: u64,
    /// `sample_regs_user`.
    pub sample_regs_user: u64,
    /// `sample_stack_user`.
    pub sample_stack_user: u32,
    /// `clockid`.
    pub clockid: i32,
    /// `sample_regs_intr`.
    pub sample_regs_intr: u64,
    /// `aux_watermark`.
    pub aux_watermark: u32,
    /// `sample_max_stack`.
    pub sample_max_stack: u16,
    /// `__reserved_2`.
    pub reserved_2: u16,
    /// `aux_sample_size`.
    pub aux_sample_size: u32,
    /// `aux_action` / `__reserved_3`.
    pub reserved_3: u32,
    /// `sig_data`.
    pub sig_data: u64,
    /// `config3`.
    pub config3: u64,
}
const _: () = assert!(std::mem::size_of::<PerfEventAttr>() == 136);

/// perf_event_open(2) with `PERF_FLAG_FD_CLOEXEC` added to `flags`. `pid = -1` means every
/// process, which requires a CPU (`cpu = -1` with `pid = -1` is EINVAL).
pub fn perf_event_open(attr: &mut PerfEventAttr, pid: i32, cpu: i32, group_fd: i32, flags: u64) -> Result<OwnedFd> {
    attr.size = std::mem::size_of::<PerfEventAttr>() as u32;
    // SAFETY: attr is a live, fully initialised perf_event_attr of the size we declare; any
    // address in config1 is the caller's (see uprobe_event, which keeps it alive).
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            attr as *mut PerfEventAttr,
            pid as libc::c_long,
            cpu as libc::c_long,
            group_fd as libc::c_long,
            (flags | PERF_FLAG_FD_CLOEXEC) as libc::c_ulong,
        )
    };
    if fd < 0 {
        return Err(SysError::syscall(
            "perf_event_open",
            last_errno(),
            format!("type {} config {:#x} pid {pid} cpu {cpu}", attr.type_, attr.config),
        ));
    }
    Ok(bpf::owned_fd(fd))
}

fn ioctl_noarg(fd: BorrowedFd<'_>, req: libc::c_ulong, call: &'static str) -> Result<()> {
    // SAFETY: ENABLE/DISABLE take no argument pointer; fd is borrowed, hence open.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), req as _, 0) };
    if r < 0 {
        return Err(SysError::syscall(call, last_errno(), format!("perf event fd {}", fd.as_raw_fd())));
    }
    Ok(())
}

/// `PERF_EVENT_IOC_ENABLE`.
pub fn enable(fd: BorrowedFd<'_>) -> Result<()> {
    ioctl_noarg(fd, PERF_EVENT_IOC_ENABLE, "ioctl(PERF_EVENT_IOC_ENABLE)")
}

/// `PERF_EVENT_IOC_DISABLE`.
pub fn disable(fd: BorrowedFd<'_>) -> Result<()> {
    ioctl_noarg(fd, PERF_EVENT_IOC_DISABLE, "ioctl(PERF_EVENT_IOC_DISABLE)")
}

/// A tracepoint event (`id` from [`crate::tracefs::tracepoint_id`]) to link a TRACEPOINT
/// program to. With `pid = -1` pass `cpu = 0`: the program still runs on every CPU, because a
/// BPF program attached to a tracepoint hangs off the tracepoint, not the event's CPU.
pub fn tracepoint_event(id: u64, pid: i32, cpu: i32) -> Result<OwnedFd> {
    let mut attr = PerfEventAttr {
        type_: PERF_TYPE_TRACEPOINT,
        config: id,
        sample_period_or_freq: 1,
        wakeup_events: 1,
        ..Default::default()
    };
    perf_event_open(&mut attr, pid, cpu, -1, 0)
}

/// A software event (`config` from [`sw`]) sampling every `period_or_freq` events, or at
/// `period_or_freq` Hz when `freq`. One per CPU for `profile:`.
pub fn software_event(config: u64, period_or_freq: u64, freq: bool, pid: i32, cpu: i32) -> Result<OwnedFd> {
    let mut attr = PerfEventAttr {
        type_: PERF_TYPE_SOFTWARE,
        config,
        sample_period_or_freq: period_or_freq,
        flags: if freq { flags::FREQ } else { 0 },
        ..Default::default()
    };
    perf_event_open(&mut attr, pid, cpu, -1, 0)
}

/// `bp_type` bits of a [`PERF_TYPE_BREAKPOINT`] event (`HW_BREAKPOINT_*`).
pub mod hw_breakpoint {
    /// Trap on reads of the watched bytes.
    pub const R: u32 = 1;
    /// Trap on writes.
    pub const W: u32 = 2;
    /// Trap on executing the instruction at the address.
    pub const X: u32 = 4;
}

/// A hardware breakpoint on `len` bytes at `addr`, trapping on the accesses in `bp_type` (see
/// [`hw_breakpoint`]) and sampling every hit. Inherited, so threads the task creates after
/// this call are watched too; per-task with `pid` and `cpu = -1`, CPU-wide with `pid = -1`.
pub fn breakpoint_event(addr: u64, len: u64, bp_type: u32, pid: i32, cpu: i32) -> Result<OwnedFd> {
    let mut attr = PerfEventAttr {
        type_: PERF_TYPE_BREAKPOINT,
        sample_period_or_freq: 1,
        flags: flags::INHERIT,
        bp_type,
        config1: addr,
        config2: len,
        ..Default::default()
    };
    perf_event_open(&mut attr, pid, cpu, -1, 0)
}

fn pmu_dir(pmu: &str) -> String {
    format!("/sys/bus/event_source/devices/{pmu}")
}

/// The dynamic PMU type number of `pmu` (from `/sys/bus/event_source/devices/<pmu>/type`).
pub fn pmu_type(pmu: &str) -> Result<u32> {
    let path = format!("{}/type", pmu_dir(pmu));
    let s = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(SysError::Unsupported { what: format!("the {pmu} PMU"), why: format!("{path} does not exist") })
        }
        Err(e) => return Err(SysError::io(&path, e)),
    };
    s.trim().parse().map_err(|_| SysError::parse(&path, format!("not a number: {:?}", s.trim())))
}

/// The uprobe PMU type (uprobes without tracefs writes).
pub fn uprobe_pmu_type() -> Result<u32> {
    pmu_type("uprobe")
}

/// The kprobe PMU type; [`SysError::Unsupported`] on kernels built without `CONFIG_KPROBES`.
pub fn kprobe_pmu_type() -> Result<u32> {
    pmu_type("kprobe").map_err(|e| match e {
        SysError::Unsupported { what, why } => {
            SysError::Unsupported { what, why: format!("{why} (kernel built without CONFIG_KPROBES?)") }
        }
        e => e,
    })
}

/// The `config` bit that makes a uprobe/kprobe PMU event a return probe, from
/// `format/retprobe` (`config:0` on every kernel so far).
pub fn retprobe_bit(pmu: &str) -> Result<u32> {
    let path = format!("{}/format/retprobe", pmu_dir(pmu));
    let s = std::fs::read_to_string(&path).map_err(|e| SysError::io(&path, e))?;
    s.trim()
        .strip_prefix("config:")
        .and_then(|b| b.parse::<u32>().ok())
        .filter(|b| *b < 64)
        .ok_or_else(|| SysError::parse(&path, format!("expected config:N, got {:?}", s.trim())))
}

/// A uprobe (or uretprobe) on `path` at `file_offset` (a file offset, not a virtual address:
/// `st_value - segment vaddr + segment file offset`). `pid = -1` probes every process.
pub fn uprobe_event(path: &str, file_offset: u64, retprobe: bool, pid: i32) -> Result<OwnedFd> {
    uprobe_event_with_semaphore(path, file_offset, retprobe, pid, 0)
}

/// A uprobe whose USDT semaphore (a u16 at file offset `ref_ctr_offset`, 0 for none) the kernel
/// increments in every process that maps the file while the probe exists (`config[63:32]`).
pub fn uprobe_event_with_semaphore(
    path: &str,
    file_offset: u64,
    retprobe: bool,
    pid: i32,
    ref_ctr_offset: u64,
) -> Result<OwnedFd> {
    let ty = uprobe_pmu_type()?;
    let mut config = ref_ctr_offset << 32;
    if retprobe {
        config |= 1u64 << retprobe_bit("uprobe")?;
    }
    let cpath = CString::new(path).map_err(|_| SysError::Invalid(format!("uprobe path {path:?} contains NUL")))?;
    let mut attr = PerfEventAttr {
        type_: ty,
        config,
        config1: cpath.as_ptr() as u64,
        config2: file_offset,
        sample_period_or_freq: 1,
        wakeup_events: 1,
        ..Default::default()
    };
    // `cpath` lives until after the syscall, which copies the string.
    let cpu = if pid < 0 { 0 } else { -1 };
    perf_event_open(&mut attr, pid, cpu, -1, 0).map_err(|e| match e {
        SysError::Syscall { call, errno, .. } => SysError::Syscall {
            call,
            errno,
            what: format!("{} {path}:{file_offset:#x}", if retprobe { "uretprobe" } else { "uprobe" }),
        },
        e => e,
    })
}

/// A kprobe (or kretprobe) on kernel function `func` (`module:func` for a module's) plus
/// `offset` bytes, through the kprobe PMU: `config1` points to the name, `config2` is the
/// offset. Every CPU sees it (a BPF program hangs off the probe, not the event's CPU).
pub fn kprobe_event(func: &str, offset: u64, retprobe: bool) -> Result<OwnedFd> {
    let ty = kprobe_pmu_type()?;
    let mut config = 0;
    if retprobe {
        config |= 1u64 << retprobe_bit("kprobe")?;
    }
    let cfunc = CString::new(func).map_err(|_| SysError::Invalid(format!("kprobe function {func:?} contains NUL")))?;
    let mut attr = PerfEventAttr {
        type_: ty,
        config,
        config1: cfunc.as_ptr() as u64,
        config2: offset,
        sample_period_or_freq: 1,
        wakeup_events: 1,
        ..Default::default()
    };
    // `cfunc` lives until after the syscall, which copies the string.
    perf_event_open(&mut attr, -1, 0, -1, 0).map_err(|e| match e {
        SysError::Syscall { call, errno, .. } => SysError::Syscall {
            call,
            errno,
            what: match (retprobe, offset) {
                (true, _) => format!("kretprobe {func}"),
                (false, 0) => format!("kprobe {func}"),
                (false, off) => format!("kprobe {func}+{off:#x}"),
            },
        },
        e => e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn kprobe_pmu_is_reported_clearly() {
        match kprobe_pmu_type() {
            Ok(t) => assert!(t > 0),
            Err(e) => {
                assert!(matches!(e, SysError::Unsupported { .. }), "{e}");
                assert!(e.to_string().contains("kprobe PMU"), "{e}");
            }
        }
    }

    #[test]
    fn uprobe_pmu_and_retprobe_bit() {
        match uprobe_pmu_type() {
            Ok(t) => {
                assert!(t > 0);
                assert_eq!(retprobe_bit("uprobe").expect("retprobe bit"), 0);
            }
            Err(e) => ferret_testing::skip(e),
        }
    }

    #[test]
    fn software_event_opens_and_enables() {
        if !ferret_testing::skip_unless(&[ferret_testing::Need::Root]) {
            return;
        }
        let fd = software_event(sw::CPU_CLOCK, 99, true, -1, 0).expect("cpu-clock");
        enable(fd.as_fd()).expect("enable");
        disable(fd.as_fd()).expect("disable");
        // pid -1 with cpu -1 is EINVAL, and the error says which event.
        let e = software_event(sw::CPU_CLOCK, 99, true, -1, -1).unwrap_err();
        assert_eq!(e.errno(), Some(libc::EINVAL));
        assert!(e.to_string().starts_with("perf_event_open for type 1"), "{e}");
    }
}
