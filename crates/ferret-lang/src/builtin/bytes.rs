//! Raw bytes: `bswap buf`.
use super::{arity, Builtin, CallSite};
use crate::codegen::{read_helper, Gen, GenResult, Val};
use crate::sema::Sema;
use crate::types::{AddrSpace, Type, BUF_HEADER};
use ferret_bpf::insn::*;
use ferret_syntax::ast::{Expr, ExprKind, UnOp};

/// `bswap(n)`: the bytes of `n` reversed, as an unsigned integer of `n`'s width.
pub static BSWAP: Builtin = Builtin {
    name: "bswap",
    doc: "reverse the byte order of an integer: bswap((uint32)n); the result is unsigned, same width",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: |s, site| {
        if !arity(s, site, 1, 1) {
            return Type::None;
        }
        match s.check_expr(&site.args[0]) {
            Type::Int { bytes, .. } => Type::Int { bytes, signed: false },
            Type::None => Type::None,
            t => {
                s.error(site.span, format!("bswap() only supports integer arguments ({t} provided)"));
                Type::None
            }
        }
    },
    lower: |g, site| {
        let Type::Int { bytes, .. } = g.ty(&site.args[0]) else { return Ok(Val::Imm(0)) };
        let v = g.expr(&site.args[0])?;
        if let Val::Imm(i) = v {
            return Ok(Val::Imm(swap_bytes(i as u64, bytes) as i64));
        }
        g.load(R0, v);
        if bytes > 1 {
            // x86-64 is little-endian, so "to big-endian" is a swap; it also clears the bits
            // above the width, which a sign-extended narrow value carries.
            g.asm.to_be(R0, bytes as i32 * 8);
        } else {
            g.asm.alu64_imm(BPF_AND, R0, 0xff);
        }
        Ok(g.spill(R0))
    },
};

/// The low `bytes` bytes of `v` in reverse order.
fn swap_bytes(v: u64, bytes: u8) -> u64 {
    match bytes {
        1 => v & 0xff,
        2 => (v as u16).swap_bytes() as u64,
        4 => (v as u32).swap_bytes() as u64,
        _ => v.swap_bytes(),
    }
}

/// A literal length argument (an integer or a numeric positional parameter).
fn literal_len(s: &Sema, e: &Expr) -> Option<i64> {
    match &e.kind {
        ExprKind::Int(n) => Some(*n as i64),
        ExprKind::Unary { op: UnOp::Neg, expr } => match expr.kind {
            ExprKind::Int(n) => Some(-(n as i64)),
            _ => None,
        },
        ExprKind::Positional(n) => {
            s.opts.positional.get(*n as usize - 1).and_then(|v| crate::codegen::parse_int_literal(v))
        }
        _ => None,
    }
}

/// The largest buffer: bpftrace keeps `max_strlen` bytes for a buffer, its 4-byte length included.
fn max_buf(s_strlen: u32) -> u32 {
    s_strlen.saturating_sub(4).max(1)
}

fn check_buf(s: &mut Sema, site: &CallSite) -> Type {
    let max = max_buf(s.opts.strlen);
    if !arity(s, site, 1, 2) {
        return Type::Buffer(max);
    }
    let t = s.check_expr(&site.args[0]);
    let ok = t.is_int() || matches!(t, Type::Str(_) | Type::Array { .. } | Type::None);
    if !ok || matches!(t, Type::Bool) {
        s.error(site.span, format!("buf() expects an integer, string, or array argument but saw {t}"));
    }
    let Some(len) = site.args.get(1) else {
        return match t {
            Type::Array { .. } => Type::Buffer(t.size().min(max)),
            Type::None => Type::Buffer(max),
            _ => {
                s.error(site.span, format!("buf() expects a length argument for non-array type {t}"));
                Type::Buffer(max)
            }
        };
    };
    s.check_int(len, "buf() length");
    match literal_len(s, len) {
        Some(n) if n < 0 => {
            s.error(site.span, format!("buf() cannot use negative length ({n})"));
            Type::Buffer(max)
        }
        Some(n) => Type::Buffer((n as u32).min(max)),
        None => Type::Buffer(max),
    }
}

/// Copy from the source into a zeroed buffer `[u64 length][data]`: stack values (strings,
/// arrays) by copying, addresses through the address space's probe_read.
fn lower_buf(g: &mut Gen, site: &CallSite) -> GenResult<Val> {
    let Type::Buffer(n) = g.ty(site.expr) else { return Ok(Val::None) };
    let src_t = g.ty(&site.args[0]);
    let src = g.expr(&site.args[0])?;
    let out = g.alloc(BUF_HEADER + n);
    g.zero(out, BUF_HEADER + n);
    let data = out + BUF_HEADER as i16;
    let literal = site.args.get(1).map(|e| matches!(e.kind, ExprKind::Int(_) | ExprKind::Positional(_)));
    let len = match site.args.get(1) {
        Some(e) if literal == Some(false) => Some(g.expr(e)?),
        _ => None,
    };
    // R2 = the number of bytes, at most n (a literal length was already clamped by sema).
    let clamp_len = |g: &mut Gen, len: Option<Val>| {
        match len {
            Some(v) => {
                g.load(R2, v);
                let ok = g.asm.new_label();
                g.asm.jmp_imm(Cond::Le, R2, n as i32, ok);
                g.asm.mov64_imm(R2, n as i32);
                g.asm.bind(ok);
            }
            None => g.asm.mov64_imm(R2, n as i32),
        }
        g.asm.stx(8, R10, out, R2);
    };
    match (src, &src_t) {
        (Val::Mem(from), t) if t.is_aggregate_value() => {
            g.copy_stack(data, from, n.min(t.size()));
            clamp_len(g, len);
        }
        _ => {
            let space = match src_t {
                Type::Ptr { space, .. } => space,
                _ => AddrSpace::Kernel,
            };
            clamp_len(g, len);
            g.load(R3, src);
            g.asm.mov64(R1, R10);
            g.asm.alu64_imm(BPF_ADD, R1, data as i32);
            g.asm.call(read_helper(space));
        }
    }
    Ok(Val::Mem(out))
}

pub static BUF: Builtin = Builtin {
    name: "buf",
    doc: "read raw bytes: buf(ptr, len) or buf(array); prints as hex-escaped text (printf %r, %rx, %rh)",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: check_buf,
    lower: lower_buf,
};

pub static ALL: &[&Builtin] = &[&BSWAP, &BUF];

#[cfg(test)]
mod tests {
    #[test]
    fn swaps_within_the_width() {
        assert_eq!(super::swap_bytes(0x1122334455667788, 8), 0x8877665544332211);
        assert_eq!(super::swap_bytes(0xffff_ffff_1234_5678, 4), 0x78563412);
        assert_eq!(super::swap_bytes(0x1234, 2), 0x3412);
        assert_eq!(super::swap_bytes(0x12, 1), 0x12);
    }
}
