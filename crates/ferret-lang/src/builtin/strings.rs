//! String functions: `str strncmp`.
use super::{arity, Builtin, CallSite};
use crate::codegen::{read_str_helper, Gen, GenResult, Val};
use crate::sema::Sema;
use crate::types::{AddrSpace, Type, I64};
use ferret_bpf::insn::*;

fn check_str(s: &mut Sema, site: &CallSite) -> Type {
    if !arity(s, site, 1, 2) {
        return Type::Str(s.opts.strlen);
    }
    if let Some(text) = positional_text(&s.opts.positional, &site.args[0]) {
        return Type::Str(text.len() as u32 + 1);
    }
    let t = s.check_expr(&site.args[0]);
    if let Some(n) = site.args.get(1) {
        s.check_int(n, "str() length");
    }
    match t {
        Type::Str(n) => Type::Str(n),
        t if t.is_int() || t == Type::None => Type::Str(s.opts.strlen),
        other => {
            s.error(
                site.args[0].span,
                format!("str() expects an integer or a pointer type as first argument ({other} provided)"),
            );
            Type::Str(s.opts.strlen)
        }
    }
}

fn lower_str(g: &mut Gen, site: &CallSite) -> GenResult<Val> {
    if let Some(text) = positional_text(&g.opts.positional, &site.args[0]) {
        return Ok(g.string_lit(text.as_bytes(), text.len() as u32 + 1));
    }
    let t = g.ty(&site.args[0]);
    let v = g.expr(&site.args[0])?;
    if t.is_str() {
        return Ok(v);
    }
    let space = match t {
        Type::Ptr { space, .. } => space,
        _ => AddrSpace::Kernel,
    };
    let n = g.opts.strlen;
    let out = g.alloc(n);
    g.zero(out, n);
    g.load(R3, v);
    g.asm.mov64(R1, R10);
    g.asm.alu64_imm(BPF_ADD, R1, out as i32);
    match site.args.get(1) {
        Some(len) => {
            // min(len + 1, strlen) bytes, the +1 for the NUL; bounded for the verifier.
            let lv = g.expr(len)?;
            g.load(R3, v);
            g.asm.mov64(R1, R10);
            g.asm.alu64_imm(BPF_ADD, R1, out as i32);
            g.load(R2, lv);
            g.asm.alu64_imm(BPF_ADD, R2, 1);
            let ok = g.asm.new_label();
            g.asm.jmp_imm(Cond::Le, R2, n as i32, ok);
            g.asm.mov64_imm(R2, n as i32);
            g.asm.bind(ok);
            let pos = g.asm.new_label();
            g.asm.jmp_imm(Cond::Ge, R2, 1, pos);
            g.asm.mov64_imm(R2, 1);
            g.asm.bind(pos);
        }
        None => g.asm.mov64_imm(R2, n as i32),
    }
    g.asm.call(read_str_helper(space));
    Ok(Val::Mem(out))
}

pub static STR: Builtin = Builtin {
    name: "str",
    doc: "read a NUL-terminated string from a pointer: str(p[, len])",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: check_str,
    lower: lower_str,
};

pub static STRNCMP: Builtin = Builtin {
    name: "strncmp",
    doc: "compare the first n bytes of two strings; 0 when equal",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: |s, site| {
        if arity(s, site, 3, 3) {
            for a in &site.args[..2] {
                let t = s.check_expr(a);
                if !t.is_str() && t != Type::None {
                    s.error(a.span, format!("strncmp() expects string arguments ({t} provided)"));
                }
            }
            super::literal_int(s, &site.args[2], "strncmp() length");
        }
        I64
    },
    lower: |g, site| {
        let a = g.expr(&site.args[0])?;
        let b = g.expr(&site.args[1])?;
        let (at, bt) = (g.ty(&site.args[0]), g.ty(&site.args[1]));
        let n = (g.literal(&site.args[2]).max(0) as u32).min(at.size()).min(bt.size());
        let (Val::Mem(ao), Val::Mem(bo)) = (a, b) else { return Ok(Val::Imm(1)) };
        let out = g.new_slot();
        let (ne, eq, end) = (g.asm.new_label(), g.asm.new_label(), g.asm.new_label());
        for i in 0..n {
            g.asm.ldx(1, R1, R10, ao + i as i16);
            g.asm.ldx(1, R2, R10, bo + i as i16);
            g.asm.jmp_reg(Cond::Ne, R1, R2, ne);
            g.asm.jmp_imm(Cond::Eq, R1, 0, eq);
        }
        g.asm.bind(eq);
        g.asm.st_imm(8, R10, out, 0);
        g.asm.ja(end);
        g.asm.bind(ne);
        g.asm.st_imm(8, R10, out, 1);
        g.asm.bind(end);
        Ok(Val::Slot(out))
    },
};

pub static ALL: &[&Builtin] = &[&STR, &STRNCMP];

/// `str($1)` is the parameter's text even when it looks like a number, and `str($1 + n)`
/// skips n bytes of it (bpftrace treats positional parameters there as string literals).
fn positional_text(params: &[String], e: &ferret_syntax::ast::Expr) -> Option<String> {
    use ferret_syntax::ast::{BinOp, ExprKind};
    let text = |n: u32| params.get(n as usize - 1).cloned().unwrap_or_default();
    match &e.kind {
        ExprKind::Positional(n) => Some(text(*n)),
        ExprKind::Binary { op: BinOp::Add, lhs, rhs } => match (&lhs.kind, &rhs.kind) {
            (ExprKind::Positional(n), ExprKind::Int(k)) => Some(text(*n).get(*k as usize..).unwrap_or("").to_string()),
            _ => None,
        },
        _ => None,
    }
}
