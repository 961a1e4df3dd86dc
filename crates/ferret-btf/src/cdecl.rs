//! BTF types printed as C: declarations (`const char *`, `void (*func)(void *)`) and the
//! definitions `-lv 'struct x'` shows, in the layout of libbpf's BTF dumper.
use crate::{Btf, Kind, Member, Type, TypeId};
use std::fmt::Write;

/// Nesting limit against malformed (cyclic) data.
const MAX_DEPTH: u32 = 64;

/// A declaration of `declarator` (a name, or "" for a bare type) with type `id`.
pub(crate) fn decl(btf: &Btf, id: TypeId, declarator: &str) -> String {
    decl_inner(btf, id, declarator.to_string(), 0)
}

/// `base declarator`, without a space before an array suffix or after nothing.
fn join(base: &str, d: &str) -> String {
    if d.is_empty() {
        base.to_string()
    } else if d.starts_with('[') {
        format!("{base}{d}")
    } else {
        format!("{base} {d}")
    }
}

fn starts_with_qualifier(d: &str) -> bool {
    ["const", "volatile", "restrict"]
        .iter()
        .any(|q| d.strip_prefix(q).is_some_and(|r| r.is_empty() || r.starts_with(' ')))
}

/// `struct foo`, `union foo`, `enum foo`; `struct {...}` when anonymous.
fn tagged_name(t: &Type<'_>) -> String {
    let tag = match t.kind() {
        Kind::Struct => "struct",
        Kind::Union => "union",
        Kind::Enum | Kind::Enum64 => "enum",
        Kind::Fwd if t.kind_flag() => "union",
        Kind::Fwd => "struct",
        _ => return t.name().to_string(),
    };
    if t.name().is_empty() {
        format!("{tag} {{...}}")
    } else {
        format!("{tag} {}", t.name())
    }
}

fn decl_inner(btf: &Btf, id: TypeId, d: String, depth: u32) -> String {
    let Some(t) = btf.ty(id).filter(|_| depth < MAX_DEPTH) else { return join("void", &d) };
    match t.kind() {
        Kind::Void => join("void", &d),
        Kind::Int | Kind::Float | Kind::Typedef | Kind::Var | Kind::Datasec => join(t.name(), &d),
        Kind::Struct | Kind::Union | Kind::Enum | Kind::Enum64 | Kind::Fwd => join(&tagged_name(&t), &d),
        Kind::Ptr => {
            let target = t.type_ref();
            let star = if starts_with_qualifier(&d) { format!("* {d}") } else { format!("*{d}") };
            let wrap = matches!(btf.kind(btf.strip_qualifiers(target)), Some(Kind::Array | Kind::FuncProto));
            decl_inner(btf, target, if wrap { format!("({star})") } else { star }, depth + 1)
        }
        Kind::Const | Kind::Volatile | Kind::Restrict => {
            let q = match t.kind() {
                Kind::Const => "const",
                Kind::Volatile => "volatile",
                _ => "restrict",
            };
            let target = t.type_ref();
            if btf.kind(btf.strip_qualifiers(target)) == Some(Kind::Ptr) {
                // A qualified pointer: the qualifier follows the `*` (`char * const p`).
                decl_inner(btf, target, if d.is_empty() { q.to_string() } else { format!("{q} {d}") }, depth + 1)
            } else {
                format!("{q} {}", decl_inner(btf, target, d, depth + 1))
            }
        }
        // Type tags (`__user`, `__rcu`) do not change the C type.
        Kind::TypeTag | Kind::DeclTag => decl_inner(btf, t.type_ref(), d, depth + 1),
        Kind::Array => {
            let a = t.array().expect("array kind");
            decl_inner(btf, a.elem, format!("{d}[{}]", a.len), depth + 1)
        }
        Kind::FuncProto => {
            let params: Vec<String> = t
                .params()
                .map(|p| {
                    if p.ty == 0 && p.name.is_empty() {
                        "...".into()
                    } else {
                        decl_inner(btf, p.ty, String::new(), depth + 1)
                    }
                })
                .collect();
            let list = if params.is_empty() { "void".to_string() } else { params.join(", ") };
            decl_inner(btf, t.type_ref(), format!("{d}({list})"), depth + 1)
        }
        Kind::Func => decl_inner(btf, t.type_ref(), if d.is_empty() { t.name().to_string() } else { d }, depth + 1),
    }
}

/// The definition of a named struct, union or enum; `None` for other kinds.
pub(crate) fn definition(btf: &Btf, id: TypeId) -> Option<String> {
    let t = btf.ty(id)?;
    let mut out = String::new();
    match t.kind() {
        Kind::Struct | Kind::Union => aggregate(btf, &t, 0, &mut out),
        Kind::Enum | Kind::Enum64 => enumeration(&t, 0, &mut out),
        _ => return None,
    }
    out.push_str(";\n");
    Some(out)
}

fn indent(out: &mut String, depth: u32) {
    for _ in 0..depth {
        out.push('\t');
    }
}

/// `enum name {` ... `}` (no trailing `;`), enumerators one level deeper than `depth`.
fn enumeration(t: &Type<'_>, depth: u32, out: &mut String) {
    out.push_str(&tagged_name(t).replace(" {...}", ""));
    out.push_str(" {\n");
    let unsigned64 = t.kind() == Kind::Enum64 && !t.kind_flag();
    for v in t.enum_values() {
        indent(out, depth + 1);
        if unsigned64 {
            let _ = writeln!(out, "{} = {},", v.name, v.value as u64);
        } else {
            let _ = writeln!(out, "{} = {},", v.name, v.value);
        }
    }
    indent(out, depth);
    out.push('}');
}

/// Explicit padding from bit `from` to bit `to`, in the widest naturally aligned units.
fn padding(out: &mut String, depth: u32, from: u32, to: u32) {
    let mut cur = from;
    while cur < to {
        let unit = [(64, "long"), (32, "int"), (16, "short"), (8, "char")]
            .into_iter()
            .find(|&(bits, _)| cur.is_multiple_of(bits) && cur + bits <= to);
        indent(out, depth);
        match unit {
            Some((bits, name)) => {
                let _ = writeln!(out, "{name}: {bits};");
                cur += bits;
            }
            None => {
                // A gap that is not whole aligned bytes: fill to the next byte boundary.
                let bits = (to - cur).min(8 - cur % 8);
                let _ = writeln!(out, "int: {bits};");
                cur += bits;
            }
        }
    }
}

fn align_up(v: u32, a: u32) -> u32 {
    v.div_ceil(a.max(1)) * a.max(1)
}

/// Whether member `m` is an anonymous struct/union/enum written inline.
fn inline_type<'a>(btf: &'a Btf, m: &Member<'_>) -> Option<Type<'a>> {
    let t = btf.ty(m.ty)?;
    (matches!(t.kind(), Kind::Struct | Kind::Union | Kind::Enum | Kind::Enum64) && t.name().is_empty()).then_some(t)
}

/// `struct name {` ... `}` (no trailing `;`), members one level deeper than `depth`.
fn aggregate(btf: &Btf, t: &Type<'_>, depth: u32, out: &mut String) {
    out.push_str(&tagged_name(t).replace(" {...}", ""));
    out.push_str(" {\n");
    let is_union = t.kind() == Kind::Union;
    let mut end = 0u32;
    let mut packed = false;
    for m in t.members() {
        let size_bits = if m.bitfield_size > 0 { m.bitfield_size } else { btf.size_of(m.ty).unwrap_or(0) * 8 };
        if !is_union {
            let natural = if m.bitfield_size > 0 { end } else { align_up(end, btf.align_of(m.ty) * 8) };
            if m.bitfield_size == 0 && m.bit_offset % (btf.align_of(m.ty) * 8) != 0 {
                packed = true;
            } else if m.bit_offset > natural {
                padding(out, depth + 1, end, m.bit_offset);
            }
        }
        indent(out, depth + 1);
        match inline_type(btf, &m) {
            Some(inner) => {
                if matches!(inner.kind(), Kind::Enum | Kind::Enum64) {
                    enumeration(&inner, depth + 1, out);
                } else {
                    aggregate(btf, &inner, depth + 1, out);
                }
                if !m.name.is_empty() {
                    out.push(' ');
                    out.push_str(m.name);
                }
            }
            None => out.push_str(&decl(btf, m.ty, m.name)),
        }
        if m.bitfield_size > 0 {
            let _ = write!(out, ": {}", m.bitfield_size);
        }
        out.push_str(";\n");
        end = end.max(m.bit_offset + size_bits);
    }
    if !is_union && !packed {
        let total = t.size() * 8;
        let natural_end = align_up(end, btf.align_of(t.id()) * 8);
        if total > natural_end {
            padding(out, depth + 1, end, total);
        }
    }
    indent(out, depth);
    out.push_str(if packed { "} __attribute__((packed))" } else { "}" });
}
