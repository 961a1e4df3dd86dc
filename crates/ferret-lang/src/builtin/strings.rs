//! String functions: `str strncmp strlen strcontains strerror`.
use super::{arity, Builtin, CallSite};
use crate::codegen::{read_str_helper, Gen, GenResult, Val};
use crate::sema::Sema;
use crate::types::{Type, I64, U64};
use ferret_bpf::insn::*;
use ferret_bpf::Asm;
use ferret_syntax::ast::{Expr, ExprKind};

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
        _ => g.target.context.default_space(),
    };
    // The value is a string[n], read with one byte more: a string that fits keeps its NUL
    // inside the n bytes, and one that does not loses it, which marks it as truncated (it
    // prints with the `..` trailer, as in bpftrace).
    let n = g.opts.strlen;
    let out = g.alloc(n + 1);
    g.zero(out, n + 1);
    g.load(R3, v);
    g.asm.mov64(R1, R10);
    g.asm.alu64_imm(BPF_ADD, R1, out as i32);
    match site.args.get(1) {
        Some(len) => {
            // str(p, len): at most len bytes, NUL included, as bpftrace: str(p, 5) keeps 4
            // characters. Bounded to 1..=n+1 for the verifier.
            let lv = g.expr(len)?;
            g.load(R3, v);
            g.asm.mov64(R1, R10);
            g.asm.alu64_imm(BPF_ADD, R1, out as i32);
            g.load(R2, lv);
            let ok = g.asm.new_label();
            g.asm.jmp_imm(Cond::Le, R2, n as i32 + 1, ok);
            g.asm.mov64_imm(R2, n as i32 + 1);
            g.asm.bind(ok);
            let pos = g.asm.new_label();
            g.asm.jmp_imm(Cond::Ge, R2, 1, pos);
            g.asm.mov64_imm(R2, 1);
            g.asm.bind(pos);
        }
        None => g.asm.mov64_imm(R2, n as i32 + 1),
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

/// A string argument: its stack offset and the bytes worth scanning (a literal's own length plus
/// its NUL, else the whole buffer).
fn str_arg(g: &mut Gen, e: &Expr) -> GenResult<Option<(i16, u32)>> {
    let t = g.ty(e);
    let v = g.expr(e)?;
    let n = match &e.kind {
        ExprKind::Str(lit) => (lit.len() as u32 + 1).min(t.size()),
        _ => t.size(),
    };
    Ok(match v {
        Val::Mem(off) => Some((off, n)),
        _ => None,
    })
}

fn check_str_args(s: &mut Sema, site: &CallSite, n: usize) {
    if arity(s, site, n, n) {
        for a in site.args {
            let t = s.check_expr(a);
            if !t.is_str() && t != Type::None {
                let msg = format!("{}() expects string arguments ({t} provided)", site.name);
                s.error(a.span, msg);
            }
        }
    }
}

/// `r = (r != 0)` for a byte (0..=255) in `r`, without a branch: the verifier then walks string
/// scans once instead of forking at every byte.
fn nonzero_byte(a: &mut Asm, r: Reg) {
    a.alu64_imm(BPF_ADD, r, 255);
    a.alu64_imm(BPF_RSH, r, 8);
}

/// R0 = the length of the `n`-byte string at `off` (bytes before its first NUL, else `n`),
/// branch-free per byte: R2 ("no NUL yet") drops to 0 at the first NUL. Up to 64 bytes the
/// scan is unrolled; longer strings (`max_strlen` in the thousands) loop over 8-byte words and
/// stop after the word with the NUL, so the program stays small and the verifier follows one
/// branch per word. `off` is 8-byte aligned (stack areas are). Uses R1..R4.
fn emit_strlen(a: &mut Asm, off: i16, n: u32) {
    a.mov64_imm(R0, 0);
    a.mov64_imm(R2, 1);
    let words = if n > 64 { n / 8 * 8 } else { 0 };
    if words > 0 {
        let (top, done) = (a.new_label(), a.new_label());
        a.mov64_imm(R3, 0);
        a.bind(top);
        a.jmp_imm(Cond::Ge, R3, words as i32, done);
        a.mov64(R1, R10);
        a.alu64_imm(BPF_ADD, R1, off as i32);
        a.alu64(BPF_ADD, R1, R3);
        a.ldx(8, R4, R1, 0);
        for b in 0..8 {
            a.mov64(R1, R4);
            if b > 0 {
                a.alu64_imm(BPF_RSH, R1, 8 * b);
            }
            a.alu64_imm(BPF_AND, R1, 0xff);
            nonzero_byte(a, R1);
            a.alu64(BPF_AND, R2, R1);
            a.alu64(BPF_ADD, R0, R2);
        }
        a.jmp_imm(Cond::Eq, R2, 0, done);
        a.alu64_imm(BPF_ADD, R3, 8);
        a.ja(top);
        a.bind(done);
    }
    for i in words..n {
        a.ldx(1, R1, R10, off + i as i16);
        nonzero_byte(a, R1);
        a.alu64(BPF_AND, R2, R1);
        a.alu64(BPF_ADD, R0, R2);
    }
}

pub static STRLEN: Builtin = Builtin {
    name: "strlen",
    doc: "length of a string up to its first NUL",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: |s, site| {
        check_str_args(s, site, 1);
        U64
    },
    lower: |g, site| {
        let Some((off, n)) = str_arg(g, &site.args[0])? else { return Ok(Val::Imm(0)) };
        emit_strlen(&mut g.asm, off, n);
        Ok(g.spill(R0))
    },
};

/// `strcontains(haystack, needle)`: C `strstr` semantics (both strings end at their first NUL;
/// an empty needle is always found). A loop over start positions `i` and needle positions `j`
/// whose counters are the only branches: every byte test is arithmetic, so the verifier walks
/// the loop once per (i, j) rather than forking at each comparison.
fn lower_strcontains(g: &mut Gen, site: &CallSite) -> GenResult<Val> {
    let (Some((hs, hn)), Some((ns, nn))) = (str_arg(g, &site.args[0])?, str_arg(g, &site.args[1])?) else {
        return Ok(Val::Imm(0));
    };
    // Slots: the needle's length, "found", and "no haystack NUL before i".
    let (needle_len, found, hay_live) = (g.new_slot(), g.new_slot(), g.new_slot());
    let a = &mut g.asm;
    emit_strlen(a, ns, nn);
    a.stx(8, R10, needle_len, R0);
    a.st_imm(8, R10, found, 0);
    a.st_imm(8, R10, hay_live, 1);
    let (loop_i, loop_j, past_end, done_j, done) =
        (a.new_label(), a.new_label(), a.new_label(), a.new_label(), a.new_label());
    // R1 = i, R2 = j, R0 = mismatch at i; R3..R5 scratch.
    a.mov64_imm(R1, 0);
    a.bind(loop_i);
    a.jmp_imm(Cond::Ge, R1, hn as i32, done);
    a.mov64_imm(R0, 0);
    a.mov64_imm(R2, 0);
    a.bind(loop_j);
    a.jmp_imm(Cond::Ge, R2, nn as i32, done_j);
    // R3 = j < needle length: (j - len) is negative exactly then.
    a.ldx(8, R3, R10, needle_len);
    a.neg64(R3);
    a.alu64(BPF_ADD, R3, R2);
    a.alu64_imm(BPF_RSH, R3, 63);
    // R4 = needle[j]
    a.mov64(R4, R10);
    a.alu64_imm(BPF_ADD, R4, ns as i32);
    a.alu64(BPF_ADD, R4, R2);
    a.ldx(1, R4, R4, 0);
    // R5 = haystack[i + j], 0 past the buffer
    a.mov64(R5, R1);
    a.alu64(BPF_ADD, R5, R2);
    let in_range = a.new_label();
    a.jmp_imm(Cond::Lt, R5, hn as i32, in_range);
    a.mov64_imm(R5, 0);
    a.ja(past_end);
    a.bind(in_range);
    a.alu64(BPF_ADD, R5, R10);
    a.alu64_imm(BPF_ADD, R5, hs as i32);
    a.ldx(1, R5, R5, 0);
    a.bind(past_end);
    // mismatch |= (h != c) while j is inside the needle
    a.alu64(BPF_XOR, R5, R4);
    nonzero_byte(a, R5);
    a.alu64(BPF_AND, R5, R3);
    a.alu64(BPF_OR, R0, R5);
    a.alu64_imm(BPF_ADD, R2, 1);
    a.ja(loop_j);
    a.bind(done_j);
    // found |= no mismatch at i && the haystack had not ended before i
    a.alu64_imm(BPF_XOR, R0, 1);
    a.ldx(8, R3, R10, hay_live);
    a.alu64(BPF_AND, R0, R3);
    a.ldx(8, R4, R10, found);
    a.alu64(BPF_OR, R4, R0);
    a.stx(8, R10, found, R4);
    // hay_live &= haystack[i] != 0
    a.mov64(R4, R10);
    a.alu64_imm(BPF_ADD, R4, hs as i32);
    a.alu64(BPF_ADD, R4, R1);
    a.ldx(1, R4, R4, 0);
    nonzero_byte(a, R4);
    a.alu64(BPF_AND, R3, R4);
    a.stx(8, R10, hay_live, R3);
    a.alu64_imm(BPF_ADD, R1, 1);
    a.ja(loop_i);
    a.bind(done);
    Ok(Val::Slot(found))
}

pub static STRCONTAINS: Builtin = Builtin {
    name: "strcontains",
    doc: "whether a string contains another: strcontains(haystack, needle)",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: |s, site| {
        check_str_args(s, site, 2);
        Type::Bool
    },
    lower: lower_strcontains,
};

/// `strerror(n)`, `syscall_name(n)`: the number itself; user space turns it into text.
fn lower_resolved(g: &mut Gen, site: &CallSite) -> GenResult<Val> {
    g.expr(&site.args[0])
}

pub static STRERROR: Builtin = Builtin {
    name: "strerror",
    doc: "the message of an errno value (sign ignored): strerror(22) prints `Invalid argument`",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: |s, site| {
        if arity(s, site, 1, 1) {
            s.check_int(&site.args[0], "strerror() argument");
        }
        Type::Resolved(crate::types::Resolve::Strerror)
    },
    lower: lower_resolved,
};

pub static SYSCALL_NAME: Builtin = Builtin {
    name: "syscall_name",
    doc: "the name of a system call number: syscall_name(257) prints `openat` (x86-64 numbering)",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: |s, site| {
        if arity(s, site, 1, 1) {
            s.check_int(&site.args[0], "syscall_name() argument");
        }
        Type::Resolved(crate::types::Resolve::SyscallName)
    },
    lower: lower_resolved,
};

pub static ALL: &[&Builtin] = &[&STR, &STRNCMP, &STRLEN, &STRCONTAINS, &STRERROR, &SYSCALL_NAME];

/// `str($1)` is the parameter's text even when it looks like a number, and `str($1 + n)`
/// skips n bytes of it (bpftrace treats positional parameters there as string literals).
pub(super) fn positional_text(params: &[String], e: &ferret_syntax::ast::Expr) -> Option<String> {
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

/// A string argument known when compiling: a literal, a positional parameter (`$1`), or
/// `str($1)` (bpftrace substitutes positional parameters as literals there).
pub(super) fn literal_text(params: &[String], e: &ferret_syntax::ast::Expr) -> Option<String> {
    use ferret_syntax::ast::ExprKind;
    match &e.kind {
        ExprKind::Str(s) => Some(s.clone()),
        ExprKind::Positional(_) => positional_text(params, e),
        ExprKind::Call { name, args } if name == "str" && args.len() == 1 => positional_text(params, &args[0]),
        _ => None,
    }
}
