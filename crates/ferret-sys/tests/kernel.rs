//! Tests of the syscall layer against the running kernel (root): programs built from raw
//! instructions are loaded, attached, run and read back through the public API.

use std::os::fd::AsFd;

use ferret_sys::bpf::{self, attach_type, map_type, prog_type, update_flags, Map, ProgLoad};
use ferret_sys::{perf, tracefs};

/// One `struct bpf_insn` as a `u64`: opcode, dst, src, offset, immediate.
fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    (code as u64) | (((src << 4) | (dst & 0xf)) as u64) << 8 | (off as u16 as u64) << 16 | (imm as u32 as u64) << 32
}

const MOV64_IMM: u8 = 0xb7;
const MOV64_REG: u8 = 0xbf;
const ADD64_IMM: u8 = 0x07;
const ST_W: u8 = 0x62;
const LD_IMM64: u8 = 0x18;
const CALL: u8 = 0x85;
const JEQ_IMM: u8 = 0x15;
const ATOMIC_DW: u8 = 0xdb;
const EXIT: u8 = 0x95;

fn root() -> bool {
    ferret_testing::skip_unless(&[ferret_testing::Need::Root])
}

#[test]
fn tracepoint_program_counts_getppid() {
    if !root() {
        return;
    }
    let id = match tracefs::tracepoint_id("syscalls", "sys_enter_getppid") {
        Ok(id) => id,
        Err(e) => {
            ferret_testing::skip(e);
            return;
        }
    };
    let counter = Map::create(map_type::ARRAY, "@count", 4, 8, 1, 0).expect("array map");
    // key = 0 at fp-4; v = map_lookup_elem(map, &key); if (v) lock *v += 1; return 0
    let prog = [
        insn(ST_W, 10, 0, -4, 0),
        insn(MOV64_REG, 2, 10, 0, 0),
        insn(ADD64_IMM, 2, 0, 0, -4),
        insn(LD_IMM64, 1, bpf::consts::BPF_PSEUDO_MAP_FD, 0, counter.raw_fd()),
        0,
        insn(CALL, 0, 0, 0, 1),
        insn(JEQ_IMM, 0, 0, 2, 0),
        insn(MOV64_IMM, 1, 0, 0, 1),
        insn(ATOMIC_DW, 0, 1, 0, 0),
        insn(MOV64_IMM, 0, 0, 0, 0),
        insn(EXIT, 0, 0, 0, 0),
    ];
    let fd = bpf::load_program(&ProgLoad {
        prog_type: prog_type::TRACEPOINT,
        insns: &prog,
        name: "tracepoint:syscalls:sys_enter_getppid",
        license: "GPL",
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", e.log));
    let pfd = perf::tracepoint_event(id, -1, 0).expect("perf_event_open");
    let link = bpf::link_create(fd.as_fd(), std::os::fd::AsRawFd::as_raw_fd(&pfd), attach_type::PERF_EVENT, 0)
        .expect("link_create");
    for _ in 0..100 {
        // SAFETY: getppid has no arguments and cannot fail.
        unsafe { libc::syscall(libc::SYS_getppid) };
    }
    let v = counter.lookup(&0u32.to_ne_bytes()).expect("lookup").expect("array slot exists");
    let n = u64::from_ne_bytes(v.try_into().expect("8 bytes"));
    assert!(n >= 100, "counted {n} getppid calls");
    // Detaching costs one RCU grace period (~60 ms): one tracepoint per test run.
    drop(link);
    drop(pfd);
}

#[test]
fn prog_test_run_returns_r0_of_raw_tracepoint_program() {
    if !root() {
        return;
    }
    let prog = [insn(MOV64_IMM, 0, 0, 0, 7), insn(EXIT, 0, 0, 0, 0)];
    let fd = bpf::load_program(&ProgLoad {
        prog_type: prog_type::RAW_TRACEPOINT,
        insns: &prog,
        name: "BEGIN",
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", e.log));
    assert_eq!(bpf::prog_test_run(fd.as_fd(), &[0u8; 8], None).expect("run"), 7);
    for cpu in ferret_sys::cpus::online().expect("online") {
        assert_eq!(bpf::prog_test_run(fd.as_fd(), &[0u8; 8], Some(cpu)).expect("run on cpu"), 7);
    }
    // A CPU that does not exist is ENXIO, named in the error.
    let e = bpf::prog_test_run(fd.as_fd(), &[0u8; 8], Some(4000)).unwrap_err();
    assert_eq!(e.errno(), Some(libc::ENXIO), "{e}");
    assert!(e.to_string().starts_with("bpf(BPF_PROG_TEST_RUN)"), "{e}");
}

#[test]
fn rejected_program_returns_verifier_log() {
    if !root() {
        return;
    }
    // r0 = r2 reads r2, which is not initialised at entry.
    let prog = [insn(MOV64_REG, 0, 2, 0, 0), insn(EXIT, 0, 0, 0, 0)];
    let e = bpf::load_program(&ProgLoad {
        prog_type: prog_type::TRACEPOINT,
        insns: &prog,
        name: "bad",
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(e.errno, libc::EACCES, "{e}");
    assert!(e.log.contains("R2 !read_ok"), "log: {}", e.log);
    assert!(e.to_string().contains("R2 !read_ok"), "{e}");
    // Through SysError, the errno survives.
    let s: ferret_sys::SysError = e.into();
    assert_eq!(s.errno(), Some(libc::EACCES));
}

#[test]
fn verifier_log_at_level_2_on_success_is_not_an_error() {
    if !root() {
        return;
    }
    let prog = [insn(MOV64_IMM, 0, 0, 0, 0), insn(EXIT, 0, 0, 0, 0)];
    bpf::load_program(&ProgLoad {
        prog_type: prog_type::TRACEPOINT,
        insns: &prog,
        name: "ok",
        log_level: 2,
        ..Default::default()
    })
    .expect("load with log");
}

#[test]
fn raw_tracepoint_attaches_by_name() {
    if !root() {
        return;
    }
    let hits = Map::create(map_type::ARRAY, "hits", 4, 8, 1, 0).expect("map");
    hits.update(&0u32.to_ne_bytes(), &0u64.to_ne_bytes(), update_flags::ANY).expect("update");
    let prog = [insn(MOV64_IMM, 0, 0, 0, 0), insn(EXIT, 0, 0, 0, 0)];
    let fd = bpf::load_program(&ProgLoad {
        prog_type: prog_type::RAW_TRACEPOINT,
        insns: &prog,
        name: "rawtp",
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", e.log));
    let e = bpf::raw_tracepoint_open(fd.as_fd(), Some("no_such_tracepoint")).unwrap_err();
    assert_eq!(e.errno(), Some(libc::ENOENT), "{e}");
    assert!(e.to_string().contains("raw tracepoint 'no_such_tracepoint'"), "{e}");
    // Attach for real (closing it is one more RCU wait, so only once).
    let link = bpf::raw_tracepoint_open(fd.as_fd(), Some("sys_enter")).expect("attach");
    drop(link);
}

/// The function the uprobe test probes; `black_box` keeps calls from being folded away.
#[inline(never)]
pub fn ferret_sys_uprobe_target(x: u64) -> u64 {
    std::hint::black_box(x.wrapping_mul(3))
}

/// The file offset of `addr` in the executable mapping that contains it, from /proc/self/maps
/// (`start-end perms offset dev inode path`).
fn file_offset_of(addr: u64) -> Option<(String, u64)> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    for line in maps.lines() {
        let mut it = line.split_whitespace();
        let range = it.next()?;
        let perms = it.next()?;
        let off = u64::from_str_radix(it.next()?, 16).ok()?;
        let path = it.nth(2)?;
        let (s, e) = range.split_once('-')?;
        let (s, e) = (u64::from_str_radix(s, 16).ok()?, u64::from_str_radix(e, 16).ok()?);
        if perms.contains('x') && (s..e).contains(&addr) && path.starts_with('/') {
            return Some((path.to_string(), addr - s + off));
        }
    }
    None
}

#[test]
fn uprobe_counts_calls_in_this_binary() {
    if !root() {
        return;
    }
    if !ferret_sys::features::uprobes_available() {
        ferret_testing::skip("needs the uprobe PMU");
        return;
    }
    let addr = ferret_sys_uprobe_target as *const () as usize as u64;
    let Some((path, off)) = file_offset_of(addr) else {
        ferret_testing::skip("the target is not in /proc/self/maps");
        return;
    };
    let counter = Map::create(map_type::ARRAY, "@calls", 4, 8, 1, 0).expect("array map");
    let prog = [
        insn(ST_W, 10, 0, -4, 0),
        insn(MOV64_REG, 2, 10, 0, 0),
        insn(ADD64_IMM, 2, 0, 0, -4),
        insn(LD_IMM64, 1, bpf::consts::BPF_PSEUDO_MAP_FD, 0, counter.raw_fd()),
        0,
        insn(CALL, 0, 0, 0, 1),
        insn(JEQ_IMM, 0, 0, 2, 0),
        insn(MOV64_IMM, 1, 0, 0, 1),
        insn(ATOMIC_DW, 0, 1, 0, 0),
        insn(MOV64_IMM, 0, 0, 0, 0),
        insn(EXIT, 0, 0, 0, 0),
    ];
    let fd = bpf::load_program(&ProgLoad {
        prog_type: prog_type::KPROBE,
        insns: &prog,
        name: "uprobe",
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", e.log));
    let pfd = perf::uprobe_event(&path, off, false, -1).expect("uprobe perf event");
    let _link = bpf::link_create(fd.as_fd(), std::os::fd::AsRawFd::as_raw_fd(&pfd), attach_type::PERF_EVENT, 0)
        .expect("link_create");
    let mut sum = 0u64;
    for i in 0..10 {
        sum = sum.wrapping_add(ferret_sys_uprobe_target(std::hint::black_box(i)));
    }
    assert_eq!(sum, 135);
    let v = counter.lookup(&0u32.to_ne_bytes()).expect("lookup").expect("slot");
    let n = u64::from_ne_bytes(v.try_into().expect("8 bytes"));
    assert!(n >= 10, "uprobe saw {n} calls");
}
