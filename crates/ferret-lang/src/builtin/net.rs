//! Network addresses and sockets: `ntop pton macaddr socket_cookie`.
use super::{arity, Builtin, CallSite};
use crate::codegen::{Gen, GenResult, Val};
use crate::sema::Sema;
use crate::types::{Type, INET_SIZE, U64};
use ferret_bpf::insn::*;
use ferret_syntax::ast::ExprKind;
use std::net::{Ipv4Addr, Ipv6Addr};

const AF_INET: i32 = 2;
const AF_INET6: i32 = 10;

/// Bytes of address argument `e` of type `t`: 4 for integers, the size of arrays and strings.
/// A `u8[16]` struct member reads as a string[17] (its NUL added), which holds 16 bytes.
fn addr_bytes(e: &ferret_syntax::ast::Expr, t: &Type) -> u32 {
    match t {
        t if t.is_int() => 4,
        Type::Str(n) if matches!(e.kind, ExprKind::Field { .. }) && matches!(n, 5 | 17) => n - 1,
        t => t.size(),
    }
}

fn check_ntop(s: &mut Sema, site: &CallSite) -> Type {
    if !arity(s, site, 1, 2) {
        return Type::Inet;
    }
    if site.args.len() == 2 {
        s.check_int(&site.args[0], "ntop() address family");
    }
    let addr = site.args.last().expect("arity checked");
    let t = s.check_expr(addr);
    match t {
        Type::None => {}
        Type::Int { .. } | Type::Bool | Type::Ptr { .. } => {}
        Type::Array { .. } | Type::Str(_) => {
            if !matches!(addr_bytes(addr, &t), 4 | 16) {
                s.error(site.span, "ntop() argument must be 4 or 16 bytes in size");
            }
        }
        other => s.error(site.span, format!("ntop() expects an integer or array argument, got {other}")),
    }
    Type::Inet
}

/// `[u64 af][16 address bytes]`: the family is the explicit argument, or follows the size.
fn lower_ntop(g: &mut Gen, site: &CallSite) -> GenResult<Val> {
    let addr = site.args.last().expect("arity checked");
    let t = g.ty(addr);
    let out = g.alloc(INET_SIZE);
    g.zero(out, INET_SIZE);
    if site.args.len() == 2 {
        let af = g.expr(&site.args[0])?;
        g.load(R1, af);
        g.asm.stx(8, R10, out, R1);
    } else {
        let af = if addr_bytes(addr, &t) == 16 { AF_INET6 } else { AF_INET };
        g.asm.st_imm(8, R10, out, af);
    }
    let v = g.expr(addr)?;
    match v {
        Val::Mem(src) => g.copy_stack(out + 8, src, addr_bytes(addr, &t).min(16)),
        other => {
            // An integer holds the address in memory order: ntop(0x0100007f) is 127.0.0.1.
            g.load(R1, other);
            g.asm.stx(4, R10, out + 8, R1);
        }
    }
    Ok(Val::Mem(out))
}

pub static NTOP: Builtin = Builtin {
    name: "ntop",
    doc: "an IPv4/IPv6 address as text: ntop([af, ] addr) for an integer, char[4] or char[16]",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: check_ntop,
    lower: lower_ntop,
};

/// The bytes of a textual address, by whether it has a `.` (IPv4) or a `:` (IPv6).
fn parse_addr(text: &str) -> Result<Vec<u8>, String> {
    let bad = || format!("pton() expects a valid IPv4/IPv6 address, got {text}");
    if text.contains('.') && !text.contains(':') {
        text.parse::<Ipv4Addr>().map(|a| a.octets().to_vec()).map_err(|_| bad())
    } else if text.contains(':') {
        text.parse::<Ipv6Addr>().map(|a| a.octets().to_vec()).map_err(|_| bad())
    } else {
        Err(format!("pton() expects an string argument of an IPv4/IPv6 address, got {text}"))
    }
}

pub static PTON: Builtin = Builtin {
    name: "pton",
    doc: "an address literal as network-order bytes: pton(\"127.0.0.1\") is a uint8[4], IPv6 a uint8[16]",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: |s, site| {
        if !arity(s, site, 1, 1) {
            return Type::None;
        }
        let ExprKind::Str(text) = &site.args[0].kind else {
            s.error(site.span, "pton() expects an string literal at the first argument");
            return Type::None;
        };
        match parse_addr(text) {
            Ok(b) => Type::Array { elem: Box::new(Type::Int { bytes: 1, signed: false }), len: b.len() as u32 },
            Err(e) => {
                s.error(site.span, e);
                Type::None
            }
        }
    },
    lower: |g, site| {
        let ExprKind::Str(text) = &site.args[0].kind else { return Ok(Val::None) };
        let bytes = parse_addr(text).unwrap_or_default();
        Ok(g.string_lit(&bytes, bytes.len() as u32))
    },
};

/// `macaddr(mac)`: six bytes from a `char[6]` (or longer) array, a pointer to them, or an
/// integer's low six bytes in memory order.
pub static MACADDR: Builtin = Builtin {
    name: "macaddr",
    doc: "a MAC address as text (AA:BB:CC:DD:EE:FF) from a char[6] array, a pointer or an integer",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: |s, site| {
        if !arity(s, site, 1, 1) {
            return Type::MacAddr;
        }
        if matches!(site.args[0].kind, ExprKind::Str(_)) {
            s.error(site.span, "macaddr() does not support literal string arguments");
            return Type::MacAddr;
        }
        match s.check_expr(&site.args[0]) {
            Type::None | Type::Int { .. } | Type::Ptr { .. } => {}
            t @ (Type::Array { .. } | Type::Str(_)) if t.size() < 6 => {
                s.error(site.span, format!("macaddr() argument must be at least 6 bytes in size, got {}", t.size()))
            }
            Type::Array { .. } | Type::Str(_) => {}
            other => {
                s.error(site.span, format!("macaddr() only supports array or pointer arguments ({other} provided)"))
            }
        }
        Type::MacAddr
    },
    lower: |g, site| {
        let t = g.ty(&site.args[0]);
        let out = g.alloc(8);
        g.zero(out, 8);
        let v = g.expr(&site.args[0])?;
        match (v, &t) {
            (Val::Mem(src), _) => g.copy_stack(out, src, 6),
            (v, Type::Ptr { space, .. }) => {
                g.load(R3, v);
                g.asm.mov64(R1, R10);
                g.asm.alu64_imm(BPF_ADD, R1, out as i32);
                g.asm.mov64_imm(R2, 6);
                g.asm.call(crate::codegen::read_helper(*space));
            }
            (v, _) => {
                g.load(R1, v);
                g.asm.stx(8, R10, out, R1);
            }
        }
        Ok(Val::Mem(out))
    },
};

/// Probe types whose programs get socket pointers typed by the verifier (BTF): fentry/fexit
/// arguments, and raw tracepoints, which then load as tp_btf programs.
pub fn has_btf_pointers(kind: &str) -> bool {
    matches!(kind, "fentry" | "fexit" | "rawtracepoint")
}

/// Checks of a function that passes argument `arg` to a helper taking a kernel object: it must
/// be a `struct NAME *`, in a probe whose arguments the verifier types.
fn check_kernel_object(s: &mut Sema, site: &CallSite, arg: usize, name: &str) {
    let t = s.check_expr(&site.args[arg]);
    let ok = matches!(&t, Type::Ptr { pointee, .. } if matches!(&**pointee, Type::Struct { name: n, .. } if n.trim_start_matches("struct ") == name));
    if !ok && t != Type::None {
        let msg = format!("{}() only supports 'struct {name} *' arguments ({t} provided)", site.name);
        s.error(site.args[arg].span, msg);
    }
    let kind = s.target.kind.names[0];
    if !has_btf_pointers(kind) {
        let msg = format!("{}() can only be used with fentry/fexit and rawtracepoint probes, not {kind}", site.name);
        s.error(site.span, msg);
    }
}

/// `r` = argument `e` as the verifier types it when it comes straight from the probe's
/// arguments (see `Gen::ctx_arg_typed`), else as computed.
fn load_kernel_object(g: &mut Gen, e: &ferret_syntax::ast::Expr, r: Reg) -> GenResult<()> {
    if !g.ctx_arg_typed(e, r) {
        let v = g.expr(e)?;
        g.load(r, v);
    }
    Ok(())
}

/// `socket_cookie(sk)`: the kernel's cookie of a `struct sock *` (bpf_get_socket_cookie), 0 for
/// NULL. The pointer must come straight from the probe's arguments, where the verifier knows
/// its type.
pub static SOCKET_COOKIE: Builtin = Builtin {
    name: "socket_cookie",
    doc: "the socket cookie of a struct sock * argument (fentry/fexit, rawtracepoint)",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: |s, site| {
        if !arity(s, site, 1, 1) {
            return U64;
        }
        check_kernel_object(s, site, 0, "sock");
        U64
    },
    lower: |g, site| {
        load_kernel_object(g, &site.args[0], R1)?;
        g.asm.call(ferret_bpf::helpers::GET_SOCKET_COOKIE);
        Ok(g.spill(R0))
    },
};

/// `skboutput(path, skb, len, offset)`: the first `len` bytes of a `struct sk_buff *`'s data
/// go out with bpf_skb_output; user space writes them, from `offset` on, as a packet of the
/// pcap file `path` (raw IP link type, as bpftrace writes it). Returns the helper's result (0
/// when sent).
pub static SKBOUTPUT: Builtin = Builtin {
    name: "skboutput",
    doc: "write a struct sk_buff *'s data to a pcap file (fentry/fexit, rawtracepoint)",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: |s, site| {
        if !arity(s, site, 4, 4) {
            return crate::types::I64;
        }
        if !matches!(site.args[0].kind, ExprKind::Str(_)) {
            s.error(site.args[0].span, "skboutput() expects a string literal as its first argument (the pcap file)");
        }
        check_kernel_object(s, site, 1, "sk_buff");
        s.check_int(&site.args[2], "skboutput() length");
        s.check_int(&site.args[3], "skboutput() offset");
        crate::types::I64
    },
    lower: |g, site| {
        let ExprKind::Str(path) = &site.args[0].kind else { return Ok(Val::Imm(0)) };
        let Some(map) = g.skb_output_map else { return Ok(Val::Imm(0)) };
        let id = g.actions.len();
        g.actions.push(crate::Action::SkbOutput { path: path.clone() });
        let len = g.expr(&site.args[2])?;
        let offset = g.expr(&site.args[3])?;
        // [id][boot ns][offset][len]
        let meta = g.alloc(32);
        g.asm.st_imm(8, R10, meta, id as i32);
        g.asm.call(ferret_bpf::helpers::KTIME_GET_BOOT_NS);
        g.asm.stx(8, R10, meta + 8, R0);
        g.load(R1, offset);
        g.asm.stx(8, R10, meta + 16, R1);
        g.load(R1, len);
        g.asm.stx(8, R10, meta + 24, R1);
        // flags: the bytes of skb data to append in the upper half, BPF_F_CURRENT_CPU below.
        let flags = g.new_slot();
        g.asm.alu64_imm(BPF_LSH, R1, 32);
        g.asm.mov32_imm(R2, -1);
        g.asm.alu64(BPF_OR, R1, R2);
        g.asm.stx(8, R10, flags, R1);
        load_kernel_object(g, &site.args[1], R1)?;
        g.asm.ld_map_fd(R2, map as i32);
        g.asm.ldx(8, R3, R10, flags);
        g.asm.mov64(R4, R10);
        g.asm.alu64_imm(BPF_ADD, R4, meta as i32);
        g.asm.mov64_imm(R5, 32);
        g.asm.call(ferret_bpf::helpers::SKB_OUTPUT);
        Ok(g.spill(R0))
    },
};

pub static ALL: &[&Builtin] = &[&NTOP, &PTON, &MACADDR, &SOCKET_COOKIE, &SKBOUTPUT];

#[cfg(test)]
mod tests {
    #[test]
    fn parses_both_families() {
        assert_eq!(super::parse_addr("127.0.0.1").unwrap(), vec![127, 0, 0, 1]);
        assert_eq!(super::parse_addr("::1").unwrap().len(), 16);
        assert!(super::parse_addr("1.2.3").is_err());
        assert!(super::parse_addr("nope").unwrap_err().contains("IPv4/IPv6 address, got nope"));
    }
}
