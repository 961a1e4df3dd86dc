//! bpf(2): the one syscall seam through which maps are created and read, programs loaded and
//! attached (links), and programs run synchronously (`BPF_PROG_TEST_RUN`).
//!
//! Attribute structs mirror the parts of `union bpf_attr` we use, with every padding byte
//! spelled out: the kernel rejects an attr whose bytes past the command's fields are not zero
//! (`CHECK_ATTR`), so no byte may be left uninitialised.

mod kbtf;
mod map;
mod prog;

pub use kbtf::kernel_btf_fd;
pub use map::Map;
pub use prog::{
    iter_create, link_create, link_create_iter, link_create_kprobe_multi, load_btf, load_program, prog_test_run,
    prog_test_run_repeat, raw_tracepoint_open, LoadError, ProgLoad,
};

use crate::last_errno;

/// One instruction as the kernel reads it (`struct bpf_insn` on a little-endian host): opcode,
/// dst and src registers, offset, immediate. For the trial loads of [`crate::features`] and the
/// tests here; programs are assembled by ferret-bpf.
pub(crate) fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    (code as u64) | (((src << 4) | (dst & 0xf)) as u64) << 8 | (off as u16 as u64) << 16 | (imm as u32 as u64) << 32
}

/// `enum bpf_map_type` values ferret uses.
pub mod map_type {
    /// `BPF_MAP_TYPE_HASH`.
    pub const HASH: u32 = 1;
    /// `BPF_MAP_TYPE_ARRAY`.
    pub const ARRAY: u32 = 2;
    /// `BPF_MAP_TYPE_PROG_ARRAY`: program fds by index, for `bpf_tail_call`.
    pub const PROG_ARRAY: u32 = 3;
    /// `BPF_MAP_TYPE_PERF_EVENT_ARRAY`: perf event fds indexed by CPU, for `bpf_perf_event_output`.
    pub const PERF_EVENT_ARRAY: u32 = 4;
    /// `BPF_MAP_TYPE_PERCPU_HASH`.
    pub const PERCPU_HASH: u32 = 5;
    /// `BPF_MAP_TYPE_PERCPU_ARRAY`.
    pub const PERCPU_ARRAY: u32 = 6;
    /// `BPF_MAP_TYPE_STACK_TRACE`: stack ids from `bpf_get_stackid`.
    pub const STACK_TRACE: u32 = 7;
    /// `BPF_MAP_TYPE_LRU_HASH`.
    pub const LRU_HASH: u32 = 9;
    /// `BPF_MAP_TYPE_LRU_PERCPU_HASH`.
    pub const LRU_PERCPU_HASH: u32 = 10;
    /// `BPF_MAP_TYPE_RINGBUF`: key and value size 0, `max_entries` = power-of-2 bytes.
    pub const RINGBUF: u32 = 27;
}

/// `enum bpf_prog_type` values ferret uses.
pub mod prog_type {
    /// `BPF_PROG_TYPE_KPROBE`: kprobes and uprobes (context: `struct pt_regs`).
    pub const KPROBE: u32 = 2;
    /// `BPF_PROG_TYPE_TRACEPOINT`: context is the tracepoint record of the `format` file.
    pub const TRACEPOINT: u32 = 5;
    /// `BPF_PROG_TYPE_XDP`: also what `bench:`/`test:` probes load as, because its test run
    /// can repeat a program and time it.
    pub const XDP: u32 = 6;
    /// `BPF_PROG_TYPE_PERF_EVENT`: `profile:`/`interval:` sampling.
    pub const PERF_EVENT: u32 = 7;
    /// `BPF_PROG_TYPE_RAW_TRACEPOINT`: context is the raw `u64` argument array.
    pub const RAW_TRACEPOINT: u32 = 17;
    /// `BPF_PROG_TYPE_TRACING`: fentry/fexit/tp_btf/iter, selected by the expected attach type.
    pub const TRACING: u32 = 26;
    /// `BPF_PROG_TYPE_LSM`.
    pub const LSM: u32 = 29;
}

/// `enum bpf_attach_type` values ferret uses.
pub mod attach_type {
    /// `BPF_TRACE_RAW_TP`: tp_btf programs.
    pub const TRACE_RAW_TP: u32 = 23;
    /// `BPF_TRACE_FENTRY`.
    pub const TRACE_FENTRY: u32 = 24;
    /// `BPF_TRACE_FEXIT`.
    pub const TRACE_FEXIT: u32 = 25;
    /// `BPF_MODIFY_RETURN`.
    pub const MODIFY_RETURN: u32 = 26;
    /// `BPF_LSM_MAC`.
    pub const LSM_MAC: u32 = 27;
    /// `BPF_TRACE_ITER`.
    pub const TRACE_ITER: u32 = 28;
    /// `BPF_PERF_EVENT`: link a program to a perf event fd (tracepoint, uprobe, sampling).
    pub const PERF_EVENT: u32 = 41;
    /// `BPF_TRACE_KPROBE_MULTI`.
    pub const TRACE_KPROBE_MULTI: u32 = 42;
    /// `BPF_TRACE_UPROBE_MULTI`.
    pub const TRACE_UPROBE_MULTI: u32 = 48;
    /// `BPF_TRACE_KPROBE_SESSION`.
    pub const TRACE_KPROBE_SESSION: u32 = 56;
}

/// `map_flags` for `BPF_MAP_CREATE`.
pub mod map_flags {
    /// `BPF_F_NO_PREALLOC`: hash maps allocate elements on insert.
    pub const BPF_F_NO_PREALLOC: u32 = 1;
}

/// `flags` for `BPF_MAP_UPDATE_ELEM`.
pub mod update_flags {
    /// `BPF_ANY`: create or replace.
    pub const ANY: u64 = 0;
    /// `BPF_NOEXIST`: create only.
    pub const NOEXIST: u64 = 1;
    /// `BPF_EXIST`: replace only.
    pub const EXIST: u64 = 2;
}

/// Misc constants programs and loaders need.
pub mod consts {
    /// `src_reg` of an `ld_imm64` whose `imm` is a map fd.
    pub const BPF_PSEUDO_MAP_FD: u8 = 1;
    /// `BPF_F_TEST_RUN_ON_CPU` (bit 0 in `linux/bpf.h`): run the test on `test.cpu`.
    pub const BPF_F_TEST_RUN_ON_CPU: u32 = 1;
    /// `BPF_F_CURRENT_CPU`: index flag of `bpf_perf_event_output`.
    pub const BPF_F_CURRENT_CPU: u64 = 0xffff_ffff;
    /// `BPF_F_USER_STACK`: `bpf_get_stackid` flag for user stacks.
    pub const BPF_F_USER_STACK: u64 = 1 << 8;
    /// `BPF_OBJ_NAME_LEN`: map and program names, including the NUL.
    pub const BPF_OBJ_NAME_LEN: usize = 16;
}

/// bpf(2) commands, with the name errors print.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Cmd {
    MapCreate = 0,
    MapLookupElem = 1,
    MapUpdateElem = 2,
    MapDeleteElem = 3,
    MapGetNextKey = 4,
    ProgLoad = 5,
    ProgTestRun = 10,
    ObjGetInfoByFd = 15,
    RawTracepointOpen = 17,
    BtfLoad = 18,
    BtfGetFdById = 19,
    BtfGetNextId = 23,
    MapLookupBatch = 24,
    LinkCreate = 28,
    IterCreate = 33,
}

impl Cmd {
    /// The name used in [`crate::SysError::Syscall::call`].
    pub(crate) fn call_name(self) -> &'static str {
        match self {
            Cmd::MapCreate => "bpf(BPF_MAP_CREATE)",
            Cmd::MapLookupElem => "bpf(BPF_MAP_LOOKUP_ELEM)",
            Cmd::MapUpdateElem => "bpf(BPF_MAP_UPDATE_ELEM)",
            Cmd::MapDeleteElem => "bpf(BPF_MAP_DELETE_ELEM)",
            Cmd::MapGetNextKey => "bpf(BPF_MAP_GET_NEXT_KEY)",
            Cmd::ProgLoad => "bpf(BPF_PROG_LOAD)",
            Cmd::ProgTestRun => "bpf(BPF_PROG_TEST_RUN)",
            Cmd::RawTracepointOpen => "bpf(BPF_RAW_TRACEPOINT_OPEN)",
            Cmd::BtfLoad => "bpf(BPF_BTF_LOAD)",
            Cmd::ObjGetInfoByFd => "bpf(BPF_OBJ_GET_INFO_BY_FD)",
            Cmd::BtfGetFdById => "bpf(BPF_BTF_GET_FD_BY_ID)",
            Cmd::BtfGetNextId => "bpf(BPF_BTF_GET_NEXT_ID)",
            Cmd::MapLookupBatch => "bpf(BPF_MAP_LOOKUP_BATCH)",
            Cmd::LinkCreate => "bpf(BPF_LINK_CREATE)",
            Cmd::IterCreate => "bpf(BPF_ITER_CREATE)",
        }
    }
}

/// Marker for `#[repr(C)]` attribute structs without implicit padding.
///
/// # Safety
/// Implementors must be `#[repr(C)]`, contain no implicit padding, and every pointer they carry
/// (as a `u64`) must describe memory valid for the access the command makes.
pub(crate) unsafe trait BpfAttr {}

/// The bpf(2) seam: every command goes through here. Returns the non-negative result or errno.
///
/// # Safety
/// Every address stored in `attr` must point to memory that is valid, for the sizes given in
/// `attr`, for the reads and writes `cmd` performs, until this call returns.
pub(crate) unsafe fn sys_bpf<A: BpfAttr>(cmd: Cmd, attr: &mut A) -> Result<i64, i32> {
    // SAFETY: `attr` is a live, fully initialised #[repr(C)] struct of the size we pass; the
    // caller vouches for the addresses inside it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as u32 as libc::c_long,
            (attr as *mut A).cast::<libc::c_void>(),
            std::mem::size_of::<A>() as libc::c_long,
        )
    };
    if r < 0 {
        Err(last_errno())
    } else {
        Ok(r)
    }
}

/// `char[BPF_OBJ_NAME_LEN]` for map and program names: the kernel accepts only
/// `[A-Za-z0-9_.]` (`bpf_obj_name_cpy` returns EINVAL otherwise) and 15 bytes plus NUL, so other
/// characters are dropped and the rest truncated.
pub(crate) fn obj_name(name: &str) -> [u8; consts::BPF_OBJ_NAME_LEN] {
    let mut out = [0u8; consts::BPF_OBJ_NAME_LEN];
    let keep = name.bytes().filter(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.');
    for (d, c) in out[..consts::BPF_OBJ_NAME_LEN - 1].iter_mut().zip(keep) {
        *d = c;
    }
    out
}

/// The name the kernel records for a map or program called `name`: only `[A-Za-z0-9_.]`
/// kept, at most 15 bytes.
pub fn kernel_obj_name(name: &str) -> String {
    let n = obj_name(name);
    let len = n.iter().position(|&b| b == 0).unwrap_or(n.len());
    String::from_utf8_lossy(&n[..len]).into_owned()
}

/// Wraps a new fd returned by bpf(2) (or another fd-returning syscall) as an `OwnedFd`.
pub(crate) fn owned_fd(raw: i64) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: `raw` was just returned by a successful fd-creating syscall, so it is an open fd
    // that nothing else owns.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(raw as std::os::fd::RawFd) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitised_and_truncated() {
        assert_eq!(kernel_obj_name("@counts"), "counts");
        assert_eq!(kernel_obj_name("tracepoint:syscalls:sys_enter_openat"), "tracepointsysca");
        assert_eq!(kernel_obj_name("a.b_c-9"), "a.b_c9");
        assert_eq!(kernel_obj_name("ümlaut"), "mlaut");
        assert_eq!(kernel_obj_name(""), "");
    }
}
