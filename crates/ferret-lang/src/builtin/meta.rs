//! Builtins about the trace itself and its context: `probetype`, `config`, `cgroup_path`.
use super::{Builtin, CallSite};
use crate::codegen::{Gen, GenResult, Val};
use crate::sema::Sema;
use crate::types::{record_types, tuple_layout, Type, I64};

fn probetype_name(g_kind: &crate::probe::ProbeKind) -> &'static str {
    if g_kind.special.is_some() {
        "special"
    } else {
        g_kind.names[0]
    }
}

pub static PROBETYPE: Builtin = Builtin {
    name: "probetype",
    doc: "the type of the probe that fired: tracepoint, interval, special (BEGIN/END), ...",
    variable: true,
    aggregate: false,
    unsafe_only: false,
    check: |s, _| Type::Str(probetype_name(s.target.kind).len() as u32 + 1),
    lower: |g, _| {
        let name = probetype_name(g.target.kind);
        Ok(g.string_lit(name.as_bytes(), name.len() as u32 + 1))
    },
};

/// The configuration values `config` exposes, with their types.
fn config_fields(opts: &crate::Options) -> Vec<(String, Type)> {
    vec![
        ("max_strlen".into(), I64),
        ("max_map_keys".into(), I64),
        ("stack_mode".into(), Type::Str(opts.stack_mode.len() as u32 + 1)),
        ("license".into(), Type::Str(opts.license.len() as u32 + 1)),
        ("print_maps_on_exit".into(), Type::Bool),
        ("cpp_demangle".into(), Type::Bool),
    ]
}

fn check_config(s: &mut Sema, site: &CallSite) -> Type {
    if !site.args.is_empty() {
        s.error(site.span, "config() takes no arguments");
    }
    Type::Record(config_fields(s.opts))
}

/// `config` / `config()`: the settings in effect, as a record built at compile time.
fn lower_config(g: &mut Gen, _: &CallSite) -> GenResult<Val> {
    let fields = config_fields(g.opts);
    let (offs, size) = tuple_layout(&record_types(&fields));
    let base = g.alloc(size);
    g.zero(base, size);
    let o = g.opts;
    let values = [
        (o.strlen as i64, None),
        (o.max_map_keys as i64, None),
        (0, Some(o.stack_mode.clone())),
        (0, Some(o.license.clone())),
        (o.print_maps_on_exit as i64, None),
        (1, None),
    ];
    for (((_, t), off), (n, text)) in fields.iter().zip(offs).zip(values) {
        let v = match text {
            Some(s) => g.string_lit(s.as_bytes(), s.len() as u32 + 1),
            None => Val::Imm(n),
        };
        g.store_member(base + off as i16, t, v, t);
    }
    Ok(Val::Mem(base))
}

pub static CONFIG: Builtin = Builtin {
    name: "config",
    doc: "the configuration in effect, as a record: config.max_strlen, config.stack_mode, ...",
    variable: true,
    aggregate: false,
    unsafe_only: false,
    check: check_config,
    lower: lower_config,
};

pub static CGROUP_PATH: Builtin = Builtin {
    name: "cgroup_path",
    doc: "the path of a cgroup id in each cgroup hierarchy (`unified:/system.slice/...`), resolved in user space",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: |s, site| {
        if super::arity(s, site, 1, 2) {
            s.check_int(&site.args[0], "cgroup_path() id");
            if let Some(f) = site.args.get(1) {
                s.check_expr(f);
            }
        }
        Type::Resolved(crate::types::Resolve::CgroupPath)
    },
    lower: |g, site| {
        let v = g.expr(&site.args[0])?;
        g.load(ferret_bpf::insn::R0, v);
        Ok(g.spill(ferret_bpf::insn::R0))
    },
};

pub static SIGNAL_NAME: Builtin = Builtin {
    name: "signal_name",
    doc: "the description of a signal number: signal_name(2) prints `Interrupt`",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: |s, site| {
        if super::arity(s, site, 1, 1) {
            s.check_int(&site.args[0], "signal_name() argument");
        }
        Type::Resolved(crate::types::Resolve::SignalName)
    },
    lower: |g, site| {
        let v = g.expr(&site.args[0])?;
        g.load(ferret_bpf::insn::R0, v);
        Ok(g.spill(ferret_bpf::insn::R0))
    },
};

/// `ctx`: the probe's context pointer, for casts to the context's real type; in an iterator,
/// its `struct bpf_iter__<name>` whose fields (`ctx.task`) read as fentry's `args` do.
pub static CTX: Builtin = Builtin {
    name: "ctx",
    doc: "the probe's raw context pointer (cast it: ((struct pt_regs *)ctx)->ip); iter: ctx.task, ctx.file, ...",
    variable: true,
    aggregate: false,
    unsafe_only: false,
    check: |s, _| {
        if crate::probe::iter::is_iter(s.target) {
            return Type::Args;
        }
        Type::Ptr { space: crate::types::AddrSpace::Kernel, pointee: Box::new(Type::Int { bytes: 1, signed: false }) }
    },
    lower: |g, site| {
        if crate::probe::iter::is_iter(g.target) {
            return Err(ferret_syntax::Diagnostic::error(site.span, "ctx must be used with a field: ctx.task"));
        }
        Ok(g.spill(ferret_bpf::insn::R6))
    },
};

/// x86-64 `struct pt_regs` members by bpftrace's register names (`pc` is `ip`).
const PT_REGS: &[(&str, i16)] = &[
    ("r15", 0),
    ("r14", 8),
    ("r13", 16),
    ("r12", 24),
    ("bp", 32),
    ("bx", 40),
    ("r11", 48),
    ("r10", 56),
    ("r9", 64),
    ("r8", 72),
    ("ax", 80),
    ("cx", 88),
    ("dx", 96),
    ("si", 104),
    ("di", 112),
    ("orig_rax", 120),
    ("ip", 128),
    ("pc", 128),
    ("cs", 136),
    ("flags", 144),
    ("sp", 152),
    ("ss", 160),
];

fn reg_offset(site: &CallSite) -> Option<i16> {
    let ferret_syntax::ast::ExprKind::Str(name) = &site.args.first()?.kind else { return None };
    PT_REGS.iter().find(|(n, _)| n == name).map(|(_, off)| *off)
}

/// `reg("ip")`: a register of the probed task, from the pt_regs the context holds (kprobes,
/// uprobes, USDT) or starts with (perf events: profile, software, hardware).
pub static REG: Builtin = Builtin {
    name: "reg",
    doc: "a register of the interrupted task by name: reg(\"ip\"), reg(\"sp\"), reg(\"di\") (x86-64)",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: |s, site| {
        use crate::probe::Context;
        if !super::arity(s, site, 1, 1) {
            return I64;
        }
        let ferret_syntax::ast::ExprKind::Str(name) = &site.args[0].kind else {
            s.error(site.args[0].span, "reg() expects a string literal");
            return I64;
        };
        if !matches!(s.target.context, Context::Regs { .. } | Context::Usdt { .. } | Context::PerfEvent) {
            s.error(site.span, "reg can not be used with this probe type");
        } else if reg_offset(site).is_none() {
            s.error(site.span, format!("'{name}' is not a valid register on this architecture (x86_64)"));
        }
        Type::Int { bytes: 8, signed: false }
    },
    lower: |g, site| {
        let off = reg_offset(site).unwrap_or(0);
        g.asm.ldx(8, ferret_bpf::insn::R0, ferret_bpf::insn::R6, off);
        Ok(g.spill(ferret_bpf::insn::R0))
    },
};

pub static ALL: &[&Builtin] = &[&PROBETYPE, &CONFIG, &CGROUP_PATH, &SIGNAL_NAME, &CTX, &REG];
