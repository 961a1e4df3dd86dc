//! BPF programs: load raw instructions (verifier log on failure), attach them through links
//! or raw tracepoints, and run them synchronously with `BPF_PROG_TEST_RUN` (BEGIN/END probes).

use std::ffi::CString;
use std::fmt;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

use super::{attach_type, consts, obj_name, owned_fd, sys_bpf, BpfAttr, Cmd};
use crate::{Result, SysError};

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    prog_btf_fd: u32,
    func_info_rec_size: u32,
    func_info: u64,
    func_info_cnt: u32,
    line_info_rec_size: u32,
    line_info: u64,
    line_info_cnt: u32,
    attach_btf_id: u32,
    attach_btf_obj_fd: u32,
    core_relo_cnt: u32,
    fd_array: u64,
    core_relos: u64,
    core_relo_rec_size: u32,
    /// Output (6.4+): the log size the verifier wanted. Older kernels see a zero tail.
    log_true_size: u32,
}
// SAFETY: repr(C), no implicit padding (size checked); load_program keeps insns, license and
// the log buffer alive across the call.
unsafe impl BpfAttr for ProgLoadAttr {}
const _: () = assert!(std::mem::size_of::<ProgLoadAttr>() == 144);

#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
    /// The per-attach-type union: `perf_event.bpf_cookie` is `extra[0]`;
    /// `tracing { target_btf_id: u32, cookie: u64 }` puts the cookie in `extra[1]`.
    extra: [u64; 4],
}
// SAFETY: repr(C), no implicit padding, no addresses.
unsafe impl BpfAttr for LinkCreateAttr {}
const _: () = assert!(std::mem::size_of::<LinkCreateAttr>() == 48);

#[repr(C)]
#[derive(Default)]
struct RawTpAttr {
    name: u64,
    prog_fd: u32,
    _pad: u32,
    /// 6.10+: `raw_tracepoint.cookie`; zero is accepted everywhere.
    cookie: u64,
}
// SAFETY: repr(C), explicit padding; `name` points to a live NUL-terminated string or is 0.
unsafe impl BpfAttr for RawTpAttr {}
const _: () = assert!(std::mem::size_of::<RawTpAttr>() == 24);

#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    _pad: u32,
}
// SAFETY: repr(C), explicit padding; `ctx_in` points to `ctx_size_in` live bytes or is 0.
unsafe impl BpfAttr for TestRunAttr {}
const _: () = assert!(std::mem::size_of::<TestRunAttr>() == 80);

/// What to load with [`load_program`].
#[derive(Clone, Copy, Debug)]
pub struct ProgLoad<'a> {
    /// `BPF_PROG_TYPE_*` (see [`super::prog_type`]).
    pub prog_type: u32,
    /// Instructions, one `struct bpf_insn` per `u64` in native (little-endian) layout:
    /// byte 0 opcode, byte 1 `dst | src << 4`, bytes 2-3 offset, bytes 4-7 immediate.
    pub insns: &'a [u64],
    /// Program name; sanitised to the kernel's 15 `[A-Za-z0-9_.]` characters.
    pub name: &'a str,
    /// License; `"GPL"` unlocks the GPL-only tracing helpers.
    pub license: &'a str,
    /// `expected_attach_type` (needed for tracing programs), 0 otherwise.
    pub expected_attach_type: u32,
    /// In-kernel BTF id to attach to (fentry/fexit: FUNC, tp_btf: `btf_trace_*` TYPEDEF), or 0.
    pub attach_btf_id: u32,
    /// The kernel BTF object `attach_btf_id` belongs to when it is a module's (from
    /// [`super::kernel_btf_fd`]); `None` means vmlinux.
    pub attach_btf_obj_fd: Option<BorrowedFd<'a>>,
    /// Program BTF (from [`load_btf`]) and its `func_info` records as (insn offset, FUNC type
    /// id) pairs: required once a program has subprograms.
    pub btf_fd: Option<BorrowedFd<'a>>,
    pub func_info: &'a [[u32; 2]],
    /// Verifier log level for the first attempt; 0 is fastest (a log is fetched on failure
    /// anyway). Use 2 to get per-instruction states for a successful load.
    pub log_level: u32,
}

impl Default for ProgLoad<'_> {
    fn default() -> Self {
        ProgLoad {
            prog_type: 0,
            insns: &[],
            name: "",
            license: "GPL",
            expected_attach_type: 0,
            attach_btf_id: 0,
            attach_btf_obj_fd: None,
            btf_fd: None,
            func_info: &[],
            log_level: 0,
        }
    }
}

/// `BPF_PROG_LOAD` failed: the errno of the first attempt and the verifier log of the retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// errno of the load (EACCES/EINVAL for verifier rejections, EPERM when the kernel forbids
    /// the program type).
    pub errno: i32,
    /// The verifier log (may be empty: EPERM from a security policy comes before verification).
    pub log: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let err = std::io::Error::from_raw_os_error(self.errno);
        write!(f, "bpf(BPF_PROG_LOAD): {err}")?;
        if let Some(line) = self.verifier_message() {
            write!(f, ": {line}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

impl LoadError {
    /// The verifier's own complaint: the last log line that is not statistics
    /// ("processed N insns", "verification time") — e.g. `R2 !read_ok`.
    pub fn verifier_message(&self) -> Option<&str> {
        self.log.lines().rev().map(str::trim).find(|l| {
            !l.is_empty()
                && !l.starts_with("processed ")
                && !l.starts_with("verification time")
                && !l.starts_with("stack depth")
                && !l.starts_with("-- END PROG LOAD LOG --")
        })
    }
}

const LOG_START: usize = 1 << 20;
const LOG_MAX: usize = 16 << 20;

/// `BPF_PROG_LOAD`. The first attempt runs without a verifier log (as libbpf does: logging
/// slows verification); on failure the load is retried with `log_level` 1 (or the requested
/// level) and a log buffer that grows on ENOSPC from 1 MiB up to 16 MiB.
pub fn load_program(p: &ProgLoad<'_>) -> std::result::Result<OwnedFd, LoadError> {
    let license = CString::new(p.license)
        .map_err(|_| LoadError { errno: libc::EINVAL, log: format!("license {:?} contains a NUL byte", p.license) })?;
    let insn_cnt = u32::try_from(p.insns.len())
        .map_err(|_| LoadError { errno: libc::E2BIG, log: format!("{} instructions is too many", p.insns.len()) })?;
    let mut a = ProgLoadAttr {
        prog_type: p.prog_type,
        insn_cnt,
        insns: p.insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: obj_name(p.name),
        expected_attach_type: p.expected_attach_type,
        attach_btf_id: p.attach_btf_id,
        attach_btf_obj_fd: p.attach_btf_obj_fd.map_or(0, |f| f.as_raw_fd() as u32),
        ..Default::default()
    };
    if let Some(btf) = p.btf_fd {
        a.prog_btf_fd = btf.as_raw_fd() as u32;
        a.func_info_rec_size = 8;
        a.func_info = p.func_info.as_ptr() as u64;
        a.func_info_cnt = p.func_info.len() as u32;
    }
    let mut log: Vec<u8> = Vec::new();
    if p.log_level != 0 {
        log = vec![0u8; LOG_START];
        a.log_level = p.log_level;
        a.log_size = log.len() as u32;
        a.log_buf = log.as_mut_ptr() as u64;
    }
    // SAFETY: insns, license and log outlive the call; sizes match the buffers.
    let mut errno = match unsafe { sys_bpf(Cmd::ProgLoad, &mut a) } {
        Ok(fd) => return Ok(owned_fd(fd)),
        Err(errno) => errno,
    };
    let mut size = if log.is_empty() { LOG_START } else { log.len() };
    loop {
        log = vec![0u8; size];
        a.log_level = p.log_level.max(1);
        a.log_size = size as u32;
        a.log_buf = log.as_mut_ptr() as u64;
        a.log_true_size = 0;
        // SAFETY: as above; the new log buffer lives until after the call.
        match unsafe { sys_bpf(Cmd::ProgLoad, &mut a) } {
            // A retry that loads (a transient failure such as EAGAIN) is a success.
            Ok(fd) => return Ok(owned_fd(fd)),
            // Since 6.4 a truncated log makes the load fail with ENOSPC even when the
            // program verified, and `log_true_size` says how much was needed.
            Err(libc::ENOSPC) if size < LOG_MAX => {
                let want = (a.log_true_size as usize).max(size * 2);
                size = want.min(LOG_MAX);
            }
            Err(e) => {
                // Keep the first attempt's errno unless that was only a full log.
                if errno == libc::ENOSPC {
                    errno = e;
                }
                break;
            }
        }
    }
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    Err(LoadError { errno, log: String::from_utf8_lossy(&log[..end]).into_owned() })
}

/// `BPF_LINK_CREATE`: attaches `prog_fd` to `target_fd` (a perf event fd for
/// [`attach_type::PERF_EVENT`], 0 for fentry/fexit). `bpf_cookie` is what
/// `bpf_get_attach_cookie()` returns in the program; it goes into `perf_event.bpf_cookie` for
/// perf events and `tracing.cookie` for tracing attach types.
pub fn link_create(prog_fd: BorrowedFd<'_>, target_fd: RawFd, attach_type: u32, bpf_cookie: u64) -> Result<OwnedFd> {
    let mut a = LinkCreateAttr {
        prog_fd: prog_fd.as_raw_fd() as u32,
        target_fd: target_fd as u32,
        attach_type,
        ..Default::default()
    };
    match attach_type {
        attach_type::TRACE_FENTRY
        | attach_type::TRACE_FEXIT
        | attach_type::MODIFY_RETURN
        | attach_type::LSM_MAC
        | attach_type::TRACE_RAW_TP => a.extra[1] = bpf_cookie,
        _ => a.extra[0] = bpf_cookie,
    }
    // SAFETY: the attr carries no addresses.
    let fd = unsafe { sys_bpf(Cmd::LinkCreate, &mut a) }.map_err(|e| {
        SysError::syscall(Cmd::LinkCreate.call_name(), e, format!("attach type {attach_type} to fd {target_fd}"))
    })?;
    Ok(owned_fd(fd))
}

/// `BPF_LINK_CREATE` with `BPF_TRACE_ITER`: makes an iterator link for `prog_fd` (a tracing
/// program loaded against `bpf_iter_<name>`). With `pid`, task iterators (`task`,
/// `task_file`, `task_vma`) visit only that process's tasks (`bpf_iter_link_info.task.pid`).
pub fn link_create_iter(prog_fd: BorrowedFd<'_>, pid: Option<u32>) -> Result<OwnedFd> {
    // union bpf_iter_link_info { ...; struct { u32 tid; u32 pid; u32 pid_fd; } task; ... }
    let info: [u32; 4] = [0, pid.unwrap_or(0), 0, 0];
    let mut a = LinkCreateAttr {
        prog_fd: prog_fd.as_raw_fd() as u32,
        attach_type: attach_type::TRACE_ITER,
        ..Default::default()
    };
    // iter { u64 iter_info; u32 iter_info_len; }: no info at all without a pid.
    if pid.is_some() {
        a.extra[0] = info.as_ptr() as u64;
        a.extra[1] = std::mem::size_of_val(&info) as u64;
    }
    // SAFETY: `info` outlives the call; the kernel copies it.
    let fd = unsafe { sys_bpf(Cmd::LinkCreate, &mut a) }
        .map_err(|e| SysError::syscall(Cmd::LinkCreate.call_name(), e, "iterator link".to_string()))?;
    Ok(owned_fd(fd))
}

#[repr(C)]
#[derive(Default)]
struct IterCreateAttr {
    link_fd: u32,
    flags: u32,
}
// SAFETY: repr(C), no implicit padding, no addresses.
unsafe impl BpfAttr for IterCreateAttr {}

/// `BPF_ITER_CREATE`: a new iterator over an iterator link. Each `read()` of it runs the
/// program on the next objects; EOF once every object has been visited.
pub fn iter_create(link_fd: BorrowedFd<'_>) -> Result<OwnedFd> {
    let mut a = IterCreateAttr { link_fd: link_fd.as_raw_fd() as u32, flags: 0 };
    // SAFETY: the attr carries no addresses.
    let fd = unsafe { sys_bpf(Cmd::IterCreate, &mut a) }
        .map_err(|e| SysError::syscall(Cmd::IterCreate.call_name(), e, format!("link fd {}", link_fd.as_raw_fd())))?;
    Ok(owned_fd(fd))
}

/// `BPF_F_KPROBE_MULTI_RETURN`: a kprobe_multi link that fires on return (kretprobe).
const KPROBE_MULTI_RETURN: u64 = 1;

/// `BPF_LINK_CREATE` with `BPF_TRACE_KPROBE_MULTI`: attaches `prog_fd` (loaded with that
/// expected attach type) to every kernel function in `syms` at once through one fprobe, at
/// their entry or, with `ret`, their return. The kernel resolves the names itself.
pub fn link_create_kprobe_multi(prog_fd: BorrowedFd<'_>, syms: &[&str], ret: bool) -> Result<OwnedFd> {
    let names = syms
        .iter()
        .map(|s| CString::new(*s).map_err(|_| SysError::Invalid(format!("function name {s:?} contains NUL"))))
        .collect::<Result<Vec<_>>>()?;
    let ptrs: Vec<u64> = names.iter().map(|c| c.as_ptr() as u64).collect();
    let mut a = LinkCreateAttr {
        prog_fd: prog_fd.as_raw_fd() as u32,
        attach_type: attach_type::TRACE_KPROBE_MULTI,
        ..Default::default()
    };
    // kprobe_multi { u32 flags; u32 cnt; u64 syms; u64 addrs; u64 cookies; }
    let flags = if ret { KPROBE_MULTI_RETURN } else { 0 };
    a.extra[0] = flags | ((ptrs.len() as u64) << 32);
    a.extra[1] = ptrs.as_ptr() as u64;
    // SAFETY: `ptrs` and the strings it points to outlive the call; the kernel copies them.
    let fd = unsafe { sys_bpf(Cmd::LinkCreate, &mut a) }.map_err(|e| {
        SysError::syscall(Cmd::LinkCreate.call_name(), e, format!("kprobe_multi link to {} functions", syms.len()))
    })?;
    Ok(owned_fd(fd))
}

/// `BPF_RAW_TRACEPOINT_OPEN`: attaches a raw_tracepoint program to tracepoint `name`, or with
/// `None` a tracing program (tp_btf, fentry) to the target given by its `attach_btf_id`.
pub fn raw_tracepoint_open(prog_fd: BorrowedFd<'_>, name: Option<&str>) -> Result<OwnedFd> {
    let cname = match name {
        Some(n) => Some(CString::new(n).map_err(|_| SysError::Invalid(format!("tracepoint name {n:?} contains NUL")))?),
        None => None,
    };
    let mut a = RawTpAttr {
        name: cname.as_ref().map_or(0, |c| c.as_ptr() as u64),
        prog_fd: prog_fd.as_raw_fd() as u32,
        ..Default::default()
    };
    // SAFETY: `cname` outlives the call.
    let fd = unsafe { sys_bpf(Cmd::RawTracepointOpen, &mut a) }.map_err(|e| {
        SysError::syscall(
            Cmd::RawTracepointOpen.call_name(),
            e,
            match name {
                Some(n) => format!("raw tracepoint '{n}'"),
                None => "BTF attach target".to_string(),
            },
        )
    })?;
    Ok(owned_fd(fd))
}

/// `BPF_PROG_TEST_RUN`: runs the program once with context `ctx_in` and returns its `r0`.
/// For raw_tracepoint programs (BEGIN/END) the context is the `u64` argument array (at most 12
/// arguments); `cpu` pins the run with `BPF_F_TEST_RUN_ON_CPU`.
pub fn prog_test_run(prog_fd: BorrowedFd<'_>, ctx_in: &[u8], cpu: Option<u32>) -> Result<u32> {
    let ctx_len = u32::try_from(ctx_in.len())
        .map_err(|_| SysError::Invalid(format!("test-run context of {} bytes", ctx_in.len())))?;
    let mut a = TestRunAttr {
        prog_fd: prog_fd.as_raw_fd() as u32,
        ctx_size_in: ctx_len,
        ctx_in: if ctx_in.is_empty() { 0 } else { ctx_in.as_ptr() as u64 },
        ..Default::default()
    };
    if let Some(c) = cpu {
        a.flags = consts::BPF_F_TEST_RUN_ON_CPU;
        a.cpu = c;
    }
    // SAFETY: ctx_in (read-only for the kernel) outlives the call; no output buffers are given.
    unsafe { sys_bpf(Cmd::ProgTestRun, &mut a) }.map_err(|e| {
        SysError::syscall(
            Cmd::ProgTestRun.call_name(),
            e,
            match cpu {
                Some(c) => format!("program fd {} on cpu {c}", prog_fd.as_raw_fd()),
                None => format!("program fd {}", prog_fd.as_raw_fd()),
            },
        )
    })?;
    Ok(a.retval)
}

/// `BPF_PROG_TEST_RUN` of a packet program (XDP) on `data_in`, `repeat` times in the kernel:
/// returns `r0` of the last run and the mean time of one run in nanoseconds.
pub fn prog_test_run_repeat(prog_fd: BorrowedFd<'_>, data_in: &[u8], repeat: u32) -> Result<(u32, u32)> {
    let len = u32::try_from(data_in.len())
        .map_err(|_| SysError::Invalid(format!("test-run data of {} bytes", data_in.len())))?;
    let mut a = TestRunAttr {
        prog_fd: prog_fd.as_raw_fd() as u32,
        data_size_in: len,
        data_in: data_in.as_ptr() as u64,
        repeat,
        ..Default::default()
    };
    // SAFETY: data_in (read-only for the kernel) outlives the call; no output buffers are given.
    unsafe { sys_bpf(Cmd::ProgTestRun, &mut a) }.map_err(|e| {
        SysError::syscall(Cmd::ProgTestRun.call_name(), e, format!("program fd {}", prog_fd.as_raw_fd()))
    })?;
    Ok((a.retval, a.duration))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::prog_type;

    #[test]
    fn verifier_message_skips_statistics() {
        let e = LoadError {
            errno: libc::EACCES,
            log: "0: (bf) r1 = r2\nR2 !read_ok\nprocessed 1 insns (limit 1000000) \
                  max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n"
                .to_string(),
        };
        assert_eq!(e.verifier_message(), Some("R2 !read_ok"));
        assert_eq!(e.to_string(), "bpf(BPF_PROG_LOAD): Permission denied (os error 13): R2 !read_ok");
        let e = LoadError { errno: libc::EPERM, log: String::new() };
        assert_eq!(e.to_string(), "bpf(BPF_PROG_LOAD): Operation not permitted (os error 1)");
    }

    #[test]
    fn license_with_nul_is_an_error_not_a_panic() {
        let e = load_program(&ProgLoad {
            prog_type: prog_type::RAW_TRACEPOINT,
            insns: &[0xb7, 0x95],
            license: "G\0PL",
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.errno, libc::EINVAL);
    }
}

#[repr(C)]
#[derive(Default)]
struct BtfLoadAttr {
    btf: u64,
    btf_log_buf: u64,
    btf_size: u32,
    btf_log_size: u32,
    btf_log_level: u32,
    btf_log_true_size: u32,
}
// SAFETY: repr(C), no implicit padding (size checked); load_btf keeps the blob and the log alive
// across the call.
unsafe impl BpfAttr for BtfLoadAttr {}
const _: () = assert!(std::mem::size_of::<BtfLoadAttr>() == 32);

/// `BPF_BTF_LOAD`: hand a BTF blob (e.g. a program's func_info types) to the kernel. On
/// failure the error carries the kernel's BTF log.
pub fn load_btf(data: &[u8]) -> std::result::Result<OwnedFd, LoadError> {
    let mut a = BtfLoadAttr { btf: data.as_ptr() as u64, btf_size: data.len() as u32, ..Default::default() };
    // SAFETY: data outlives the call; no log buffer on the first attempt.
    if let Ok(fd) = unsafe { sys_bpf(Cmd::BtfLoad, &mut a) } {
        return Ok(owned_fd(fd));
    }
    let mut log = vec![0u8; 64 * 1024];
    a.btf_log_buf = log.as_mut_ptr() as u64;
    a.btf_log_size = log.len() as u32;
    a.btf_log_level = 1;
    // SAFETY: data and log outlive the call; log_size matches the buffer.
    match unsafe { sys_bpf(Cmd::BtfLoad, &mut a) } {
        Ok(fd) => Ok(owned_fd(fd)),
        Err(errno) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            Err(LoadError { errno, log: String::from_utf8_lossy(&log[..end]).into_owned() })
        }
    }
}
