//! Builtin variables: `pid tid uid gid nsecs elapsed cpu comm probe args argN retval rand
//! cgroup curtask ncpus cpid jiffies numaid usermode username`.
use super::{Builtin, CallSite};
use crate::codegen::{Gen, Val};
use crate::probe::Context;
use crate::sema::Sema;
use crate::types::{Type, U32, U64};
use ferret_bpf::helpers;
use ferret_bpf::insn::*;
use ferret_syntax::Diagnostic;

fn u64_t(_: &mut Sema, _: &CallSite) -> Type {
    U64
}
fn u32_t(_: &mut Sema, _: &CallSite) -> Type {
    U32
}

/// Call a no-argument helper and keep R0, optionally shifted and masked.
fn helper_val(g: &mut Gen, id: u32, shift: i32, mask32: bool) -> Val {
    g.asm.call(id);
    if shift > 0 {
        g.asm.alu64_imm(BPF_RSH, R0, shift);
    }
    if mask32 {
        g.asm.mov32(R0, R0);
    }
    g.spill(R0)
}

/// `st_ino` of the initial pid namespace (the kernel's `PROC_PID_INIT_INO`).
const PROC_PID_INIT_INO: u64 = 0xeffffffc;

/// Device and inode of ferret's own pid namespace (`/proc/self/ns/pid`), or None when ferret runs
/// in the initial namespace (or it cannot be read): ids are then the global ones.
fn self_pidns() -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    static NS: std::sync::OnceLock<Option<(u64, u64)>> = std::sync::OnceLock::new();
    *NS.get_or_init(|| {
        let m = std::fs::metadata("/proc/self/ns/pid").ok()?;
        (m.ino() != PROC_PID_INIT_INO).then(|| (m.dev(), m.ino()))
    })
}

/// `pid`/`tid` take an optional namespace selector: `curr_ns` (default) or `init`.
fn pid_ns_check(s: &mut Sema, site: &CallSite) -> Type {
    if !super::arity(s, site, 0, 1) {
        return U32;
    }
    if let Some(arg) = site.args.first() {
        match &arg.kind {
            ferret_syntax::ast::ExprKind::Ident(m) if m == "curr_ns" || m == "init" => {}
            ferret_syntax::ast::ExprKind::Ident(m) => {
                s.error(arg.span, format!("Invalid PID namespace mode: {m} (expects: curr_ns or init)"))
            }
            _ => s.error(site.span, format!("{}() only supports curr_ns and init as the argument", site.name)),
        }
    }
    U32
}

/// The current task's process (`tgid`) or thread id as seen from ferret's pid namespace
/// (`bpf_get_ns_current_pid_tgid`, 0 for tasks outside it), or from the initial namespace for
/// `(init)` and when ferret itself runs there (the cheaper `get_current_pid_tgid`).
fn ns_pid_tgid(g: &mut Gen, site: &CallSite, tgid: bool) -> Val {
    let init =
        matches!(site.args.first().map(|a| &a.kind), Some(ferret_syntax::ast::ExprKind::Ident(m)) if m == "init");
    current_id(g, tgid, init);
    g.spill(R0)
}

/// Leave the current task's pid (`tgid`) or tid, zero-extended, in R0: in ferret's own pid
/// namespace unless `init` (user space resolves symbols through its own `/proc`, so stacks and
/// `usym` records use this too). Clobbers R1-R5 and 8 bytes of statement stack.
pub fn current_id(g: &mut Gen, tgid: bool, init: bool) {
    let Some((dev, ino)) = self_pidns().filter(|_| !init) else {
        g.asm.call(helpers::GET_CURRENT_PID_TGID);
        if tgid {
            g.asm.alu64_imm(BPF_RSH, R0, 32);
        } else {
            g.asm.mov32(R0, R0);
        }
        return;
    };
    // struct bpf_pidns_info { u32 pid; u32 tgid; }: the helper zeroes it on failure.
    let off = g.alloc(8);
    g.asm.ld_imm64(R1, dev);
    g.asm.ld_imm64(R2, ino);
    g.asm.mov64(R3, R10);
    g.asm.alu64_imm(BPF_ADD, R3, off as i32);
    g.asm.mov64_imm(R4, 8);
    g.asm.call(helpers::GET_NS_CURRENT_PID_TGID);
    g.asm.ldx(4, R0, R10, off + if tgid { 4 } else { 0 });
}

macro_rules! var {
    ($ident:ident, $name:literal, $doc:literal, $check:expr, $lower:expr) => {
        pub static $ident: Builtin = Builtin {
            name: $name,
            doc: $doc,
            variable: true,
            aggregate: false,
            unsafe_only: false,
            check: $check,
            lower: $lower,
        };
    };
}

var!(
    PID,
    "pid",
    "process id (tgid) in ferret's pid namespace; pid(init) for the initial namespace",
    pid_ns_check,
    |g, site| { Ok(ns_pid_tgid(g, site, true)) }
);
var!(
    TID,
    "tid",
    "thread id in ferret's pid namespace; tid(init) for the initial namespace",
    pid_ns_check,
    |g, site| { Ok(ns_pid_tgid(g, site, false)) }
);
var!(UID, "uid", "user id of the current task", u64_t, |g, _| Ok(helper_val(g, helpers::GET_CURRENT_UID_GID, 0, true)));
var!(GID, "gid", "group id of the current task", u64_t, |g, _| Ok(helper_val(
    g,
    helpers::GET_CURRENT_UID_GID,
    32,
    false
)));
var!(
    NSECS,
    "nsecs",
    "nanoseconds since boot (boot clock; nsecs(monotonic) for the monotonic clock)",
    u64_t,
    |g, site| {
        let id = match site.args.first().map(|a| &a.kind) {
            Some(ferret_syntax::ast::ExprKind::Ident(c)) if c == "monotonic" => helpers::KTIME_GET_NS,
            Some(ferret_syntax::ast::ExprKind::Ident(c)) if c == "tai" => helpers::KTIME_GET_TAI_NS,
            _ => helpers::KTIME_GET_BOOT_NS,
        };
        Ok(helper_val(g, id, 0, false))
    }
);
var!(ELAPSED, "elapsed", "nanoseconds since ferret started", u64_t, |g, _| {
    g.asm.call(helpers::KTIME_GET_BOOT_NS);
    g.asm.ld_imm64(R1, g.opts.start_boot_ns);
    g.asm.alu64(BPF_SUB, R0, R1);
    Ok(g.spill(R0))
});
var!(CPU, "cpu", "the CPU the probe fired on", u32_t, |g, _| Ok(helper_val(
    g,
    helpers::GET_SMP_PROCESSOR_ID,
    0,
    false
)));
var!(NUMAID, "numaid", "NUMA node of the current CPU", u32_t, |g, _| Ok(helper_val(
    g,
    helpers::GET_NUMA_NODE_ID,
    0,
    false
)));
var!(RAND, "rand", "a pseudo-random u32", u32_t, |g, _| Ok(helper_val(g, helpers::GET_PRANDOM_U32, 0, false)));
var!(CGROUP, "cgroup", "cgroup v2 id of the current task", u64_t, |g, _| Ok(helper_val(
    g,
    helpers::GET_CURRENT_CGROUP_ID,
    0,
    false
)));
var!(
    CURTASK,
    "curtask",
    "the current task (struct task_struct *, fields from BTF)",
    |_, _| crate::ktypes::task_struct_ptr(),
    |g, _| Ok(helper_val(g, helpers::GET_CURRENT_TASK, 0, false))
);
var!(JIFFIES, "jiffies", "the kernel's jiffies counter", u64_t, |g, _| Ok(helper_val(g, helpers::JIFFIES64, 0, false)));
var!(NCPUS, "ncpus", "number of online CPUs", u64_t, |_, _| {
    Ok(Val::Imm(ferret_sys::cpus::online().map(|c| c.len()).unwrap_or(1) as i64))
});
var!(CPID, "cpid", "pid of the child started with -c", u32_t, |g, site| match g.opts.cpid {
    Some(p) => Ok(Val::Imm(p as i64)),
    None => Err(Diagnostic::error(site.span, "cpid cannot be used without child command (-c)")),
});
var!(COMM, "comm", "name of the current thread (16 bytes)", |_, _| Type::Str(16), |g, _| {
    let off = g.alloc(16);
    // Linux before 6.2 copies the name without zeroing the bytes after its NUL: zeroed here,
    // the same name is the same map key.
    g.zero(off, 16);
    g.asm.mov64(R1, R10);
    g.asm.alu64_imm(BPF_ADD, R1, off as i32);
    g.asm.mov64_imm(R2, 16);
    g.asm.call(helpers::GET_CURRENT_COMM);
    Ok(Val::Mem(off))
});
var!(
    PROBE,
    "probe",
    "the full name of the probe that fired",
    |s, _| Type::Str(s.target.name.len() as u32 + 1),
    |g, _| {
        let name = g.target.name.clone();
        Ok(g.string_lit(name.as_bytes(), name.len() as u32 + 1))
    }
);
var!(
    ARGS,
    "args",
    "the probe's arguments as a record (tracepoint fields)",
    |s, site| {
        if let Some(record) = s.target.kind.user_debug.and_then(|d| d.record) {
            return match record(s.target) {
                Ok((t, _)) => t,
                Err(m) => {
                    s.error(site.span, m);
                    Type::None
                }
            };
        }
        match &s.target.context {
            Context::Tracepoint { .. } => Type::Args,
            Context::RawArgs => Type::Args,
            Context::Func(f) if !f.kprobe && !f.iter => Type::Args,
            _ => {
                let msg = format!(
                    "The args builtin can only be used with tracepoint, rawtracepoint, fentry/fexit, and uprobe \
                     probes ({} used here)",
                    s.target.kind.names[0]
                );
                s.error(site.span, msg);
                Type::None
            }
        }
    },
    |g, site| g.debug_args_record(site.span)
);
var!(
    ARGN,
    "argN",
    "the Nth raw argument (rawtracepoint; kprobe/uprobe registers)",
    |s, site| {
        match &s.target.context {
            Context::RawArgs | Context::PerfEvent | Context::Regs { .. } | Context::Usdt { .. } => U64,
            Context::Func(f) if f.kprobe => U64,
            _ => {
                let msg = format!(
                    "The {} builtin can only be used with 'kprobes', 'uprobes', 'rawtracepoint' and 'usdt' probes",
                    site.name
                );
                s.error(site.span, msg);
                Type::None
            }
        }
    },
    |g, site| {
        let n: u32 = site.name[3..].parse().unwrap_or(0);
        g.arg(n, site.span)
    }
);
var!(
    SARGN,
    "sargN",
    "the Nth argument passed on the stack (uprobes, x86-64: *(u64 *)(sp + 8 * (N + 1)))",
    |s, site| {
        match s.target.context {
            Context::Regs { .. } | Context::Usdt { .. } => U64,
            _ => {
                s.error(site.span, format!("The {} builtin can only be used with 'uprobes' and 'kprobes'", site.name));
                Type::None
            }
        }
    },
    |g, site| {
        // At a function's first instruction the return address is at sp; stack arguments follow.
        const PT_REGS_SP: i16 = 152;
        let n: i32 = site.name[4..].parse().unwrap_or(0);
        let space = g.target.context.default_space();
        let out = g.new_slot();
        g.asm.st_imm(8, R10, out, 0);
        g.asm.ldx(8, R3, R6, PT_REGS_SP);
        g.asm.alu64_imm(BPF_ADD, R3, 8 * (n + 1));
        g.asm.mov64(R1, R10);
        g.asm.alu64_imm(BPF_ADD, R1, out as i32);
        g.asm.mov64_imm(R2, 8);
        g.asm.call(crate::codegen::read_helper(space));
        Ok(Val::Slot(out))
    }
);
var!(
    RETVAL,
    "retval",
    "the return value (kretprobe/uretprobe/fexit)",
    |s, site| {
        match &s.target.context {
            Context::Regs { ret: true, .. } => U64,
            Context::Func(f) if f.exit && f.kprobe => U64,
            Context::Func(f) if f.exit => match &f.retval {
                Some(r) => r.ty.clone(),
                None => {
                    s.error(site.span, "Can't find a field $retval");
                    Type::None
                }
            },
            _ => {
                s.error(
                    site.span,
                    "The retval builtin can only be used with 'kretprobe', 'uretprobe' and 'fexit' probes",
                );
                Type::None
            }
        }
    },
    |g, site| {
        match &g.target.context {
            Context::Regs { ret: true, .. } => {
                // pt_regs.ax (x86-64)
                const PT_REGS_AX: i16 = 80;
                g.asm.ldx(8, R0, R6, PT_REGS_AX);
                Ok(g.spill(R0))
            }
            Context::Func(f) if f.exit => match f.retval.clone() {
                Some(r) => Ok(g.func_slot(&r, !f.kprobe)),
                // A kretprobe attached as fexit on a void function.
                None => Ok(Val::Imm(0)),
            },
            _ => Err(Diagnostic::error(site.span, "retval is not available here")),
        }
    }
);
/// A kernel function probe (kprobe, kretprobe, through the kprobe PMU or a kprobe_multi link;
/// fentry, fexit): its `func` is a kernel address user space names (`ksym`), as in bpftrace,
/// so one program can serve many functions and `func` has one type for all of them.
fn func_is_address(t: &crate::probe::Target) -> bool {
    match t.context {
        Context::Func(_) => true,
        // Kernel pt_regs: kprobes through the kprobe PMU or a kprobe_multi link.
        Context::Regs { user: false, .. } => true,
        _ => false,
    }
}

var!(
    FUNC,
    "func",
    "the name of the traced function (kprobe, fentry, uprobe)",
    |s, site| match &s.target.func {
        _ if func_is_address(s.target) => Type::Ksym,
        Some(f) => Type::Str(f.len() as u32 + 1),
        None => {
            s.error(
                site.span,
                "The func builtin can only be used with 'kprobe', 'kretprobe', 'fentry', 'fexit', 'uprobe' and \
                 'uretprobe' probes",
            );
            Type::None
        }
    },
    |g, site| {
        if func_is_address(g.target) {
            // A kprobe's instruction pointer is inside the function (past the breakpoint or
            // the ftrace call). A return probe's is the caller's, a multi link's program runs
            // for many functions, and fentry has no registers: bpf_get_func_ip gives the
            // function's entry there.
            if matches!(g.target.context, Context::Regs { ret: false, .. }) && g.target.multi.is_empty() {
                const PT_REGS_IP: i16 = 128;
                g.asm.ldx(8, R0, R6, PT_REGS_IP);
                return Ok(g.spill(R0));
            }
            g.asm.mov64(R1, R6);
            return Ok(helper_val(g, helpers::GET_FUNC_IP, 0, false));
        }
        // One program per traced function: its name is a constant of the program.
        let name = g.target.func.clone().ok_or_else(|| Diagnostic::error(site.span, "func is not available here"))?;
        Ok(g.string_lit(name.as_bytes(), name.len() as u32 + 1))
    }
);

var!(
    USERMODE,
    "usermode",
    "1 if the probe fired while the task ran in user mode (BEGIN/END count as user mode), else 0",
    |_, _| Type::Int { bytes: 1, signed: false },
    |g, _| {
        if g.target.kind.special.is_some() {
            // BEGIN and END run on behalf of ferret itself, in user space.
            return Ok(Val::Imm(1));
        }
        match g.target.context {
            Context::PerfEvent | Context::Regs { .. } | Context::Usdt { .. } => {
                // pt_regs.cs (x86-64): the low two bits are the privilege level, 3 = user.
                const PT_REGS_CS: i16 = 136;
                g.asm.ldx(8, R1, R6, PT_REGS_CS);
                g.asm.alu64_imm(BPF_AND, R1, 3);
                g.asm.mov64_imm(R0, 0);
                let kernel = g.asm.new_label();
                g.asm.jmp_imm(Cond::Ne, R1, 3, kernel);
                g.asm.mov64_imm(R0, 1);
                g.asm.bind(kernel);
                Ok(g.spill(R0))
            }
            // Tracepoint contexts carry no registers; bpftrace folds usermode to 0 there.
            _ => Ok(Val::Imm(0)),
        }
    }
);
var!(
    USERNAME,
    "username",
    "name of the current task's user (resolved in user space)",
    |_, _| Type::Resolved(crate::types::Resolve::Username),
    |g, _| { Ok(helper_val(g, helpers::GET_CURRENT_UID_GID, 0, true)) }
);

pub static ALL: &[&Builtin] = &[
    &PID, &TID, &UID, &GID, &NSECS, &ELAPSED, &CPU, &NUMAID, &RAND, &CGROUP, &CURTASK, &JIFFIES, &NCPUS, &CPID, &COMM,
    &PROBE, &ARGS, &ARGN, &SARGN, &RETVAL, &FUNC, &USERMODE, &USERNAME,
];
