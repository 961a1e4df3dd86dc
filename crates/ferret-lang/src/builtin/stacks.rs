//! Stacks and symbols: `kstack ustack ksym usym`.
//!
//! A stack value is the u64 id of a record in the stacks map (see [`crate::stacks`]): the
//! frames are taken into a per-CPU scratch record, hashed, and stored under their hash. Keys
//! and events stay 8 bytes however deep the stack, and equal stacks get equal ids, so
//! `@[kstack] = count()` counts per distinct stack exactly.
use super::{arity, literal_int, Builtin, CallSite};
use crate::codegen::{Gen, GenResult, Val};
use crate::sema::Sema;
use crate::stacks::{self, MAX_FRAMES};
use crate::types::{StackMode, Type};
use ferret_syntax::ast::ExprKind;

/// The stack type `kstack(...)`/`ustack(...)` produces: the mode and limit from its arguments
/// (`kstack`, `kstack(5)`, `kstack(perf)`, `kstack(perf, 5)`), else the config's mode and 127.
fn check_stack(s: &mut Sema, site: &CallSite, user: bool) -> Type {
    let mut mode = StackMode::parse(&s.opts.stack_mode).unwrap_or(StackMode::Bpftrace);
    let mut limit = MAX_FRAMES as i64;
    let n = site.args.len();
    if n > 2 {
        s.error(site.span, "Invalid number of arguments");
        return Type::Stack { user, mode, limit: MAX_FRAMES as u16 };
    }
    // A configured build_id mode applies to user stacks; kernel ones fall back to raw.
    if !user && mode == StackMode::BuildId {
        mode = StackMode::Raw;
    }
    let mut limit_arg = 0;
    if let Some(first) = site.args.first() {
        if let ExprKind::Ident(name) = &first.kind {
            match StackMode::parse(name) {
                Some(StackMode::BuildId) if !user => {
                    s.error(site.span, "'build_id' stack mode can only be used for ustack")
                }
                Some(m) => mode = m,
                None => {
                    s.error(first.span, format!("Error parsing stack mode: Invalid value for {}: {name}", site.name))
                }
            }
            limit_arg = 1;
        } else if n == 2 {
            s.error(site.span, "Expected stack mode as first argument");
            limit_arg = 1;
        }
    }
    if let Some(a) = site.args.get(limit_arg) {
        match &a.kind {
            ExprKind::Int(_) | ExprKind::Positional(_) => {
                limit = literal_int(s, a, "stack limit").unwrap_or(limit);
            }
            _ => s.error(site.span, format!("{}: invalid limit value", site.name)),
        }
    }
    if limit > 1024 {
        s.error(site.span, format!("{}([int limit]): limit shouldn't exceed 1024, {limit} given", site.name));
    }
    // The kernel's own cap (perf_event_max_stack) is 127 frames.
    Type::Stack { user, mode, limit: limit.clamp(0, MAX_FRAMES as i64) as u16 }
}

fn lower_stack(g: &mut Gen, site: &CallSite) -> GenResult<Val> {
    let Type::Stack { user, limit, .. } = g.ty(site.expr) else { return Ok(Val::Imm(0)) };
    Ok(stacks::take(g, user, limit))
}

pub static KSTACK: Builtin = Builtin {
    name: "kstack",
    doc: "the kernel stack: kstack, kstack(limit), kstack(bpftrace|perf|raw[, limit])",
    variable: true,
    aggregate: false,
    unsafe_only: false,
    check: |s, site| check_stack(s, site, false),
    lower: lower_stack,
};

pub static USTACK: Builtin = Builtin {
    name: "ustack",
    doc: "the user stack: ustack, ustack(limit), ustack(bpftrace|perf|raw|build_id[, limit])",
    variable: true,
    aggregate: false,
    unsafe_only: false,
    check: |s, site| check_stack(s, site, true),
    lower: lower_stack,
};

/// bpftrace's DWARF-unwound user stack; ferret's `ustack` already unwinds with DWARF.
pub static DW_USTACK: Builtin = Builtin {
    name: "dw_ustack",
    doc: "the user stack unwound with DWARF call frame information (the same as ustack in ferret)",
    variable: true,
    aggregate: false,
    unsafe_only: false,
    check: |s, site| check_stack(s, site, true),
    lower: lower_stack,
};

pub static KSYM: Builtin = Builtin {
    name: "ksym",
    doc: "the kernel symbol an address is in, resolved in user space: ksym(reg(\"ip\"))",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: |s, site| {
        if arity(s, site, 1, 1) {
            s.check_int(&site.args[0], "ksym() argument");
        }
        Type::Ksym
    },
    lower: |g, site| {
        let v = g.expr(&site.args[0])?;
        g.load(ferret_bpf::insn::R0, v);
        Ok(g.spill(ferret_bpf::insn::R0))
    },
};

pub static USYM: Builtin = Builtin {
    name: "usym",
    doc: "the user symbol an address of the current process is in, resolved in user space: usym(reg(\"ip\"))",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: |s, site| {
        if arity(s, site, 1, 1) {
            s.check_int(&site.args[0], "usym() argument");
        }
        Type::Usym
    },
    lower: |g, site| {
        let v = g.expr(&site.args[0])?;
        Ok(stacks::usym(g, v))
    },
};

pub static ALL: &[&Builtin] = &[&KSTACK, &USTACK, &DW_USTACK, &KSYM, &USYM];
