//! Symbols resolved at compile time: `kaddr` (kernel), `uaddr` (the probed binary).
use super::{arity, Builtin};
use crate::codegen::Val;
use crate::types::{AddrSpace, Type, U64};
use ferret_bpf::insn::{R0, R1, R2};
use ferret_syntax::ast::ExprKind;
use ferret_syntax::Diagnostic;

pub static KADDR: Builtin = Builtin {
    name: "kaddr",
    doc: "address of a kernel symbol, from /proc/kallsyms at compile time: kaddr(\"avenrun\")",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: |s, site| {
        if !arity(s, site, 1, 1) {
            return Type::None;
        }
        let Some(name) = super::strings::literal_text(&s.opts.positional, &site.args[0]) else {
            s.error(site.span, "kaddr() expects a string literal");
            return Type::None;
        };
        if ferret_sys::kallsyms::lookup(&name).is_none() {
            s.error(site.span, format!("Failed to resolve kernel symbol: {name}"));
        }
        U64
    },
    lower: |g, site| {
        let Some(name) = super::strings::literal_text(&g.opts.positional, &site.args[0]) else { return Ok(Val::None) };
        let addr = ferret_sys::kallsyms::lookup(&name)
            .ok_or_else(|| Diagnostic::error(site.span, format!("Failed to resolve kernel symbol: {name}")))?;
        Ok(Val::Imm(addr as i64))
    },
};

/// The symbol `uaddr("name")` names in the probed binary: its address and size.
fn user_symbol(s_target: &crate::probe::Target, name: &str) -> Result<(u64, u64), String> {
    let path = s_target.kind.binary(s_target).ok_or_else(|| "uaddr can only be used with uprobes".to_string())?;
    ferret_symbols::elf::find_symbol(std::path::Path::new(path), name)
        .ok_or_else(|| format!("Could not resolve symbol: {path}:{name}"))
}

pub static UADDR: Builtin = Builtin {
    name: "uaddr",
    doc: "address of a symbol in the probed binary, at compile time: *uaddr(\"global_var\")",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: |s, site| {
        let mut bytes = 8;
        if arity(s, site, 1, 1) {
            match &site.args[0].kind {
                ExprKind::Str(name) => match user_symbol(s.target, name) {
                    Ok((_, size)) if matches!(size, 1 | 2 | 4) => bytes = size as u8,
                    Ok(_) => {}
                    Err(e) => s.error(site.span, e),
                },
                _ => s.error(site.span, "uaddr() expects a string literal"),
            }
        }
        Type::Ptr { space: AddrSpace::User, pointee: Box::new(Type::Int { bytes, signed: true }) }
    },
    lower: |g, site| {
        let ExprKind::Str(name) = &site.args[0].kind else { return Ok(Val::None) };
        let (addr, _) = user_symbol(g.target, name).map_err(|e| Diagnostic::error(site.span, e))?;
        Ok(Val::Imm(addr as i64))
    },
};

/// `uptr(p)` / `kptr(p)`: the same value, read from now on as a user (kernel) address.
fn annotate(s: &mut crate::sema::Sema, site: &super::CallSite, space: crate::types::AddrSpace) -> Type {
    if !arity(s, site, 1, 1) {
        return Type::None;
    }
    match s.check_expr(&site.args[0]) {
        Type::Ptr { pointee, .. } => Type::Ptr { space, pointee },
        t if t.is_int() => Type::Ptr { space, pointee: Box::new(Type::Int { bytes: 1, signed: false }) },
        other => {
            s.error(site.span, format!("{}() expects a pointer or an integer, got {other}", site.name));
            Type::None
        }
    }
}

fn same_value(g: &mut crate::codegen::Gen, site: &super::CallSite) -> crate::codegen::GenResult<Val> {
    g.expr(&site.args[0])
}

pub static UPTR: Builtin = Builtin {
    name: "uptr",
    doc: "annotate a pointer (or integer address) as pointing into user space: str(uptr(p))",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: |s, site| annotate(s, site, crate::types::AddrSpace::User),
    lower: same_value,
};

pub static KPTR: Builtin = Builtin {
    name: "kptr",
    doc: "annotate a pointer (or integer address) as pointing into kernel space",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: |s, site| annotate(s, site, crate::types::AddrSpace::Kernel),
    lower: same_value,
};

/// The vmlinux BTF id of the per-CPU variable `name`.
fn percpu_var(name: &str) -> Option<u32> {
    crate::ktypes::btf().ok()?.find(ferret_btf::Kind::Var, name)
}

/// `percpu_kaddr("runqueues"[, cpu])`: the address of a per-CPU kernel variable on this CPU (or
/// on `cpu`), from BTF (bpf_this_cpu_ptr / bpf_per_cpu_ptr); no kallsyms needed. 0 for a CPU
/// that does not exist.
pub static PERCPU_KADDR: Builtin = Builtin {
    name: "percpu_kaddr",
    doc: "address of a per-CPU kernel variable on this CPU or CPU n: percpu_kaddr(\"runqueues\"[, n])",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: |s, site| {
        // A kernel address, readable with `*` as a u64 or cast to the variable's type.
        let ty = Type::Ptr { space: AddrSpace::Kernel, pointee: Box::new(U64) };
        if !arity(s, site, 1, 2) {
            return ty;
        }
        let ExprKind::Str(name) = &site.args[0].kind else {
            s.error(site.span, "percpu_kaddr() expects a string literal");
            return ty;
        };
        if percpu_var(name).is_none() {
            s.error(site.span, format!("Could not resolve variable \"{name}\" from BTF"));
        }
        if let Some(cpu) = site.args.get(1) {
            s.check_int(cpu, "percpu_kaddr() cpu");
        }
        ty
    },
    lower: |g, site| {
        let ExprKind::Str(name) = &site.args[0].kind else { return Ok(Val::None) };
        let id = percpu_var(name)
            .ok_or_else(|| Diagnostic::error(site.span, format!("Could not resolve variable \"{name}\" from BTF")))?;
        let cpu = match site.args.get(1) {
            Some(c) => Some(g.expr(c)?),
            None => None,
        };
        g.asm.ld_btf_id(R1, id as i32);
        match cpu {
            Some(c) => {
                g.load(R2, c);
                g.asm.call(ferret_bpf::helpers::PER_CPU_PTR);
            }
            None => g.asm.call(ferret_bpf::helpers::THIS_CPU_PTR),
        }
        Ok(g.spill(R0))
    },
};

pub static ALL: &[&Builtin] = &[&KADDR, &UADDR, &UPTR, &KPTR, &PERCPU_KADDR];
