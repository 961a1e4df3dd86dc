//! Feature probes: what this kernel lets ferret load and attach, learnt by trial loads of
//! `r0 = 0; exit` (one syscall each, done lazily and cached) — so probe types the kernel
//! refuses (fentry is EPERM under some lockdown policies) fail with a clear message up front.

use std::os::fd::AsFd;
use std::path::Path;
use std::sync::OnceLock;

use crate::bpf::{self, attach_type, insn, map_type, prog_type, LoadError, Map, ProgLoad};

/// `r0 = 0; exit`: mov64 imm (0xb7) to r0, exit (0x95).
const RET0: [u64; 2] = [0xb7, 0x95];
/// `r0 = 7; exit`, to see a BPF_PROG_TEST_RUN return value come back.
const RET7: [u64; 2] = [0xb7 | (7 << 32), 0x95];

const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// Trial-loads `r0 = 0; exit` as `prog_type` with `expected_attach_type` and
/// `attach_btf_id` (tracing programs need one), returning the load error.
pub fn probe_load(prog_type: u32, expected_attach_type: u32, attach_btf_id: u32) -> std::result::Result<(), LoadError> {
    bpf::load_program(&ProgLoad {
        prog_type,
        insns: &RET0,
        name: "ferret_probe",
        license: "GPL",
        expected_attach_type,
        attach_btf_id,
        log_level: 0,
        ..Default::default()
    })
    .map(drop)
}

/// Whether the kernel loads a trivial program of `prog_type`. Tracing types (fentry,
/// tp_btf) need a BTF target: use [`Features`] for those.
pub fn probe_prog_type(prog_type: u32, expected_attach_type: u32) -> bool {
    probe_load(prog_type, expected_attach_type, 0).is_ok()
}

/// Whether the kprobe PMU exists (kernels without `CONFIG_KPROBES` have none).
pub fn kprobes_available() -> bool {
    Path::new("/sys/bus/event_source/devices/kprobe/type").exists()
}

/// Whether the uprobe PMU exists.
pub fn uprobes_available() -> bool {
    Path::new("/sys/bus/event_source/devices/uprobe/type").exists()
}

/// Whether kernel BTF is present (needed for tp_btf, fentry and typed `args`).
pub fn btf_available() -> bool {
    Path::new(VMLINUX_BTF).exists()
}

/// A raw_tracepoint program returning 7 runs through `BPF_PROG_TEST_RUN` and returns 7: how
/// BEGIN/END probes run synchronously.
pub fn probe_prog_test_run_raw_tp() -> bool {
    let Ok(fd) = bpf::load_program(&ProgLoad {
        prog_type: prog_type::RAW_TRACEPOINT,
        insns: &RET7,
        name: "ferret_probe",
        ..Default::default()
    }) else {
        return false;
    };
    matches!(bpf::prog_test_run(fd.as_fd(), &[0u8; 8], None), Ok(7))
}

/// Lazily probed, cached answers for this kernel; get it with [`features`].
#[derive(Debug, Default)]
pub struct Features {
    ringbuf: OnceLock<bool>,
    raw_tp: OnceLock<bool>,
    tp_btf: OnceLock<bool>,
    fentry: OnceLock<Result<(), i32>>,
    prog_test_run_raw_tp: OnceLock<bool>,
    kprobe_multi: OnceLock<bool>,
    iter: OnceLock<bool>,
    hash_no_prealloc: OnceLock<bool>,
}

/// The names `--no-feature` accepts (bpftrace's), in its usage message's order. Turning one
/// off is a compile option (`ferret_lang::Options::no_features`), not state here.
pub const DISABLABLE: &[&str] = &["kprobe_multi", "kprobe_session", "uprobe_multi"];

/// Every answer at once, for `--info` style output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeatureSet {
    /// `BPF_MAP_TYPE_RINGBUF` can be created.
    pub ringbuf: bool,
    /// raw_tracepoint programs load.
    pub raw_tp: bool,
    /// tp_btf programs load (needs kernel BTF).
    pub tp_btf: bool,
    /// fentry programs load (needs kernel BTF; refused with EPERM on some locked-down hosts).
    pub fentry: bool,
    /// The kprobe PMU exists.
    pub kprobe: bool,
    /// The uprobe PMU exists.
    pub uprobe: bool,
    /// `BPF_PROG_TEST_RUN` runs raw_tracepoint programs (BEGIN/END).
    pub prog_test_run_raw_tp: bool,
}

/// The process-wide feature cache.
pub fn features() -> &'static Features {
    static F: OnceLock<Features> = OnceLock::new();
    F.get_or_init(Features::default)
}

impl Features {
    /// Ring buffer maps can be created (5.8+).
    pub fn ringbuf(&self) -> bool {
        *self
            .ringbuf
            .get_or_init(|| Map::create(map_type::RINGBUF, "ferret_probe", 0, 0, crate::page_size() as u32, 0).is_ok())
    }

    /// Hash maps created with `BPF_F_NO_PREALLOC` may be used by every program type, perf_event
    /// programs included (Linux 6.1 gave all hash maps the BPF memory allocator; before, the
    /// verifier refused them in perf_event programs and warned in other tracing ones). Tried
    /// with a perf_event program that looks a key up in such a map.
    pub fn hash_no_prealloc(&self) -> bool {
        *self.hash_no_prealloc.get_or_init(|| {
            let Ok(m) = Map::create(map_type::HASH, "ferret_probe", 4, 8, 1, bpf::map_flags::BPF_F_NO_PREALLOC) else {
                return false;
            };
            let insns = [
                insn(0x18, 1, 1, 0, m.raw_fd()), // r1 = map (BPF_PSEUDO_MAP_FD)
                0,
                insn(0x62, 10, 0, -4, 0), // *(u32 *)(r10 - 4) = 0
                insn(0xbf, 2, 10, 0, 0),  // r2 = r10
                insn(0x07, 2, 0, 0, -4),  // r2 += -4
                insn(0x85, 0, 0, 0, 1),   // call map_lookup_elem
                RET0[0],
                RET0[1],
            ];
            bpf::load_program(&ProgLoad {
                prog_type: prog_type::PERF_EVENT,
                insns: &insns,
                name: "ferret_probe",
                license: "GPL",
                ..Default::default()
            })
            .is_ok()
        })
    }

    /// raw_tracepoint programs load.
    pub fn raw_tp(&self) -> bool {
        *self.raw_tp.get_or_init(|| probe_prog_type(prog_type::RAW_TRACEPOINT, 0))
    }

    /// tp_btf programs load (attached to `btf_trace_sched_switch`).
    pub fn tp_btf(&self) -> bool {
        *self.tp_btf.get_or_init(|| {
            btf_type_id("btf_trace_sched_switch", BTF_KIND_TYPEDEF)
                .is_some_and(|id| probe_load(prog_type::TRACING, attach_type::TRACE_RAW_TP, id).is_ok())
        })
    }

    /// fentry programs load (attached to `vfs_read`).
    pub fn fentry(&self) -> bool {
        self.fentry_errno().is_none()
    }

    /// Why fentry does not load: the errno of the trial load (EPERM when a security policy
    /// refuses tracing programs, ENOENT without kernel BTF), or `None` when it works.
    pub fn fentry_errno(&self) -> Option<i32> {
        self.fentry
            .get_or_init(|| match btf_type_id("vfs_read", BTF_KIND_FUNC) {
                None => Err(libc::ENOENT),
                Some(id) => probe_load(prog_type::TRACING, attach_type::TRACE_FENTRY, id).map_err(|e| e.errno),
            })
            .err()
    }

    /// BPF iterator programs load (a tracing program against `bpf_iter_task`); allowed on some
    /// hosts that refuse fentry.
    pub fn iter(&self) -> bool {
        *self.iter.get_or_init(|| {
            btf_type_id("bpf_iter_task", BTF_KIND_FUNC)
                .is_some_and(|id| probe_load(prog_type::TRACING, attach_type::TRACE_ITER, id).is_ok())
        })
    }

    /// The kprobe PMU exists.
    pub fn kprobe(&self) -> bool {
        kprobes_available()
    }

    /// `BPF_PROG_TEST_RUN` works for raw_tracepoint programs.
    pub fn prog_test_run_raw_tp(&self) -> bool {
        *self.prog_test_run_raw_tp.get_or_init(probe_prog_test_run_raw_tp)
    }

    /// kprobe_multi links work: one link attaches a program to many kernel functions (5.18+
    /// built with CONFIG_FPROBE). Learnt as bpftrace does, by linking a trivial program to
    /// `ksys_read`.
    pub fn kprobe_multi(&self) -> bool {
        *self.kprobe_multi.get_or_init(|| {
            let Ok(fd) = bpf::load_program(&ProgLoad {
                prog_type: prog_type::KPROBE,
                insns: &RET0,
                name: "ferret_probe",
                license: "GPL",
                expected_attach_type: attach_type::TRACE_KPROBE_MULTI,
                ..Default::default()
            }) else {
                return false;
            };
            // Kernels without CONFIG_FPROBE (Debian 12's 6.1) refuse with EOPNOTSUPP.
            bpf::link_create_kprobe_multi(fd.as_fd(), &["ksys_read"], false).is_ok()
        })
    }

    /// Probes everything not probed yet.
    pub fn snapshot(&self) -> FeatureSet {
        FeatureSet {
            ringbuf: self.ringbuf(),
            raw_tp: self.raw_tp(),
            tp_btf: self.tp_btf(),
            fentry: self.fentry(),
            kprobe: self.kprobe(),
            uprobe: uprobes_available(),
            prog_test_run_raw_tp: self.prog_test_run_raw_tp(),
        }
    }
}

const BTF_KIND_TYPEDEF: u32 = 8;
const BTF_KIND_FUNC: u32 = 12;

/// The vmlinux BTF id of kernel function `name`, for calling it as a kfunc (cached per name).
pub fn kfunc_btf_id(name: &str) -> Option<u32> {
    static CACHE: std::sync::Mutex<Vec<(String, Option<u32>)>> = std::sync::Mutex::new(Vec::new());
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, id)) = cache.iter().find(|(n, _)| n == name) {
        return *id;
    }
    let id = btf_type_id(name, BTF_KIND_FUNC);
    cache.push((name.to_string(), id));
    id
}

/// The id of the vmlinux BTF type `name` of `kind`. A minimal single-pass scan for the feature
/// probes only (the BTF reader proper lives elsewhere); `None` on any malformed input.
fn btf_type_id(name: &str, kind: u32) -> Option<u32> {
    let data = std::fs::read(VMLINUX_BTF).ok()?;
    find_btf_type(&data, name, kind)
}

fn find_btf_type(btf: &[u8], name: &str, kind: u32) -> Option<u32> {
    let u32_at = |o: usize| -> Option<u32> {
        btf.get(o..o.checked_add(4)?).map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    if btf.get(0..2)? != 0xeb9fu16.to_ne_bytes() {
        return None;
    }
    let hdr_len = u32_at(4)? as usize;
    let (type_off, type_len) = (u32_at(8)? as usize, u32_at(12)? as usize);
    let (str_off, str_len) = (u32_at(16)? as usize, u32_at(20)? as usize);
    let types = hdr_len.checked_add(type_off)?;
    let types_end = types.checked_add(type_len)?.min(btf.len());
    let strs = btf.get(hdr_len.checked_add(str_off)?..)?;
    let strs = strs.get(..str_len.min(strs.len()))?;
    let (mut o, mut id) = (types, 1u32);
    while o + 12 <= types_end {
        let name_off = u32_at(o)? as usize;
        let info = u32_at(o + 4)?;
        let (k, vlen) = ((info >> 24) & 0x1f, (info & 0xffff) as usize);
        if k == kind {
            if let Some(s) = strs.get(name_off..) {
                let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
                if &s[..end] == name.as_bytes() {
                    return Some(id);
                }
            }
        }
        o += 12
            + match k {
                1 | 14 | 17 => 4,             // INT, VAR, DECL_TAG
                3 => 12,                      // ARRAY
                4 | 5 | 15 | 19 => 12 * vlen, // STRUCT, UNION, DATASEC, ENUM64
                6 | 13 => 8 * vlen,           // ENUM, FUNC_PROTO
                2 | 7..=12 | 16 | 18 => 0,    // PTR, FWD, TYPEDEF, qualifiers, FUNC, FLOAT, TYPE_TAG
                _ => return None,             // a kind we cannot size: stop rather than misparse
            };
        id += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn btf_scan_rejects_garbage() {
        assert_eq!(find_btf_type(&[], "x", 12), None);
        assert_eq!(find_btf_type(&[0x9f, 0xeb, 1, 0, 24, 0], "x", 12), None);
        let mut junk = vec![0x9f, 0xeb, 1, 0];
        junk.extend([0xffu8; 40]);
        assert_eq!(find_btf_type(&junk, "x", 12), None);
    }

    #[test]
    fn probes_on_this_kernel() {
        if !ferret_testing::skip_unless(&[ferret_testing::Need::Root]) {
            return;
        }
        let f = features();
        // Documented facts of the kernels ferret targets (kernel-notes.md).
        assert!(probe_prog_type(prog_type::TRACEPOINT, 0));
        assert!(f.raw_tp());
        assert!(f.ringbuf());
        assert!(f.prog_test_run_raw_tp(), "BPF_PROG_TEST_RUN of a raw_tp program");
        if btf_available() {
            assert!(f.tp_btf());
            assert!(btf_type_id("vfs_read", BTF_KIND_FUNC).is_some());
        }
        let s = f.snapshot();
        eprintln!("features: {s:?}, fentry errno {:?}", f.fentry_errno());
        assert_eq!(s.kprobe, kprobes_available());
        // A TRACING program without a BTF target never loads.
        assert!(!probe_prog_type(prog_type::TRACING, attach_type::TRACE_FENTRY));
    }
}
