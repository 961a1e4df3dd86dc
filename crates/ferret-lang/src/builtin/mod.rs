//! Builtins: one struct per builtin variable or function, with its type check, its lowering to
//! BPF and its doc string side by side. Adding a builtin is one struct plus one line in [`REGISTRY`].
use crate::codegen::{Gen, GenResult, Val};
use crate::sema::Sema;
use crate::types::Type;
use ferret_syntax::ast::Expr;
use ferret_syntax::Span;

mod aggregates;
mod bytes;
mod env;
mod meta;
mod net;
mod output;
mod stacks;
mod strings;
mod symbols;
mod vars;

pub use vars::current_id;

/// A use of a builtin: `name(args)` or a bare `name`.
pub struct CallSite<'e> {
    pub name: &'e str,
    pub args: &'e [Expr],
    pub span: Span,
    pub expr: &'e Expr,
}

pub struct Builtin {
    pub name: &'static str,
    pub doc: &'static str,
    /// Usable as a bare identifier (`pid`) as well as `pid()`.
    pub variable: bool,
    /// Only valid as `@map = f(...)`: the call picks the map's aggregation.
    pub aggregate: bool,
    /// Needs `--unsafe`.
    pub unsafe_only: bool,
    pub check: fn(&mut Sema, &CallSite) -> Type,
    pub lower: fn(&mut Gen, &CallSite) -> GenResult<Val>,
}

pub static REGISTRY: &[&[&Builtin]] = &[
    vars::ALL,
    aggregates::ALL,
    output::ALL,
    strings::ALL,
    bytes::ALL,
    net::ALL,
    symbols::ALL,
    stacks::ALL,
    meta::ALL,
    env::ALL,
];

/// Find a builtin by name; `arg0`..`argN` share one entry.
pub fn find(name: &str) -> Option<&'static Builtin> {
    let name = name.strip_prefix("__builtin_").unwrap_or(name);
    let numbered = |prefix: &str| {
        name.strip_prefix(prefix).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    let key = if numbered("arg") {
        "argN"
    } else if numbered("sarg") {
        "sargN"
    } else {
        name
    };
    REGISTRY.iter().flat_map(|family| family.iter()).copied().find(|b| b.name == key)
}

/// Check the argument count; reports bpftrace's wording.
pub fn arity(s: &mut Sema, site: &CallSite, min: usize, max: usize) -> bool {
    let n = site.args.len();
    if n < min || n > max {
        let want = if min == max { format!("{min}") } else { format!("{min} to {max}") };
        let msg = if max == 0 {
            format!("{}() takes no arguments ({n} provided)", site.name)
        } else {
            format!("{}() requires {want} argument{} ({n} provided)", site.name, if max == 1 { "" } else { "s" })
        };
        s.error(site.span, msg);
        return false;
    }
    true
}

/// An argument that must be an integer literal (e.g. lhist bounds); reports otherwise.
pub fn literal_int(s: &mut Sema, e: &Expr, what: &str) -> Option<i64> {
    use ferret_syntax::ast::{ExprKind, UnOp};
    match &e.kind {
        ExprKind::Int(n) => Some(*n as i64),
        ExprKind::Unary { op: UnOp::Neg, expr } => match expr.kind {
            ExprKind::Int(n) => Some(-(n as i64)),
            _ => None,
        },
        ExprKind::Positional(n) => {
            s.opts.positional.get(*n as usize - 1).and_then(|v| crate::codegen::parse_int_literal(v))
        }
        _ => {
            s.error(e.span, format!("{what} must be an integer literal"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_builtin_is_documented_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for b in super::REGISTRY.iter().flat_map(|f| f.iter()) {
            assert!(!b.doc.is_empty(), "{} has no doc", b.name);
            assert!(seen.insert(b.name), "{} registered twice", b.name);
        }
        assert_eq!(super::find("arg3").unwrap().name, "argN");
        assert!(super::find("argx").is_none());
    }
}
