//! Kernel symbols resolved at compile time: `kaddr`.
use super::{arity, Builtin};
use crate::codegen::Val;
use crate::types::{Type, U64};
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
        let ExprKind::Str(name) = &site.args[0].kind else {
            s.error(site.span, "kaddr() expects a string literal");
            return Type::None;
        };
        if ferret_sys::kallsyms::lookup(name).is_none() {
            s.error(site.span, format!("Failed to resolve kernel symbol: {name}"));
        }
        U64
    },
    lower: |_, site| {
        let ExprKind::Str(name) = &site.args[0].kind else { return Ok(Val::None) };
        let addr = ferret_sys::kallsyms::lookup(name)
            .ok_or_else(|| Diagnostic::error(site.span, format!("Failed to resolve kernel symbol: {name}")))?;
        Ok(Val::Imm(addr as i64))
    },
};

pub static ALL: &[&Builtin] = &[&KADDR];
