//! A compact text form of the AST, for `ferret -d ast` and the parser's snapshot tests.
//!
//! Items and statements go one per line, nested blocks indented by two spaces; expressions
//! are single-line S-expressions, so precedence and associativity are explicit:
//! `(+ 1 (* 2 3))`. Calls print as `name(args)`, maps as `@m[k1, k2]`, types in `<...>`.
use crate::ast::*;
use std::fmt::Write;

/// Renders a whole program.
pub fn dump(program: &Program) -> String {
    let mut out = String::new();
    for c in &program.c_definitions {
        let _ = writeln!(out, "cdef {:?}", c.text);
    }
    for item in &program.config {
        let _ = writeln!(out, "config {} = {}", item.key, expr(&item.value));
    }
    for m in &program.map_decls {
        let _ = writeln!(out, "map @{} = {}({})", m.name, m.kind, m.max_entries);
    }
    for m in &program.macros {
        let params: Vec<String> = m.params.iter().map(expr).collect();
        let _ = writeln!(out, "macro {}({})", m.name, params.join(", "));
        block(&mut out, &m.body, 1);
    }
    for p in &program.probes {
        let aps: Vec<String> = p.attach_points.iter().map(attach_point).collect();
        let _ = writeln!(out, "probe {}", aps.join(", "));
        if let Some(pred) = &p.predicate {
            let _ = writeln!(out, "  pred {}", expr(pred));
        }
        block(&mut out, &p.body, 1);
    }
    out
}

/// The raw text; the parts too when quoting makes them differ from a plain split.
fn attach_point(ap: &AttachPoint) -> String {
    if ap.raw.contains('"') {
        format!("{} {:?}", ap.raw, ap.parts)
    } else {
        ap.raw.clone()
    }
}

fn block(out: &mut String, b: &Block, indent: usize) {
    for s in &b.stmts {
        stmt(out, s, indent);
    }
}

/// Renders one statement (and any nested blocks) as indented lines.
pub fn stmt(out: &mut String, s: &Stmt, indent: usize) {
    let pad = "  ".repeat(indent);
    match &s.kind {
        StmtKind::Expr(e) => {
            let _ = writeln!(out, "{pad}{}", expr(e));
        }
        StmtKind::Assign { target, op, value, decl } => {
            let mut line = pad;
            if let Some(decl) = decl {
                line.push_str("let ");
                line.push_str(&expr(target));
                if let Some(ty) = &decl.ty {
                    let _ = write!(line, ": <{ty}>");
                }
            } else {
                line.push_str(&expr(target));
            }
            if let Some(v) = value {
                let op = op.map_or("", BinOp::symbol);
                let _ = write!(line, " {op}= {}", expr(v));
            }
            let _ = writeln!(out, "{line}");
        }
        StmtKind::If { cond, then, otherwise } => {
            let _ = writeln!(out, "{pad}if {}", expr(cond));
            block(out, then, indent + 1);
            if let Some(o) = otherwise {
                let _ = writeln!(out, "{pad}else");
                block(out, o, indent + 1);
            }
        }
        StmtKind::While { cond, body } => {
            let _ = writeln!(out, "{pad}while {}", expr(cond));
            block(out, body, indent + 1);
        }
        StmtKind::Unroll { count, body } => {
            let _ = writeln!(out, "{pad}unroll {}", expr(count));
            block(out, body, indent + 1);
        }
        StmtKind::For { var, iterable, body } => {
            let iter = match iterable {
                ForIter::Map(m) => expr(m),
                ForIter::Range(a, b) => format!("{}..{}", expr(a), expr(b)),
            };
            let _ = writeln!(out, "{pad}for ${var} : {iter}");
            block(out, body, indent + 1);
        }
        StmtKind::Return(None) => {
            let _ = writeln!(out, "{pad}return");
        }
        StmtKind::Return(Some(e)) => {
            let _ = writeln!(out, "{pad}return {}", expr(e));
        }
        StmtKind::Break => {
            let _ = writeln!(out, "{pad}break");
        }
        StmtKind::Continue => {
            let _ = writeln!(out, "{pad}continue");
        }
        StmtKind::Block(b) => {
            let _ = writeln!(out, "{pad}block");
            block(out, b, indent + 1);
        }
    }
}

fn list(es: &[Expr]) -> String {
    es.iter().map(expr).collect::<Vec<_>>().join(", ")
}

/// Renders an expression on one line.
pub fn expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Int(v) => v.to_string(),
        ExprKind::Str(s) => format!("{s:?}"),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Ident(name) => name.clone(),
        ExprKind::Var(name) => format!("${name}"),
        ExprKind::Positional(n) => format!("${n}"),
        ExprKind::PositionalCount => "$#".to_string(),
        ExprKind::Map(name) => format!("@{name}"),
        ExprKind::MapElem { name, keys } => format!("@{name}[{}]", list(keys)),
        ExprKind::Call { name, args } => format!("{name}({})", list(args)),
        ExprKind::Unary { op, expr: inner } => {
            let op = match op {
                UnOp::Neg => "neg",
                UnOp::Not => "!",
                UnOp::BitNot => "~",
                UnOp::Deref => "deref",
                UnOp::AddrOf => "addr",
                UnOp::PreInc => "pre++",
                UnOp::PreDec => "pre--",
                UnOp::PostInc => "post++",
                UnOp::PostDec => "post--",
            };
            format!("({op} {})", expr(inner))
        }
        ExprKind::Binary { op, lhs, rhs } => format!("({} {} {})", op.symbol(), expr(lhs), expr(rhs)),
        ExprKind::Ternary { cond, then, otherwise } => {
            format!("(? {} {} {})", expr(cond), expr(then), expr(otherwise))
        }
        ExprKind::Field { expr: inner, field, arrow } => {
            format!("({} {} {field})", if *arrow { "->" } else { "." }, expr(inner))
        }
        ExprKind::Index { expr: inner, index } => format!("([] {} {})", expr(inner), expr(index)),
        ExprKind::Cast { ty, expr: inner } => format!("(cast <{ty}> {})", expr(inner)),
        ExprKind::Tuple(es) => {
            let items: Vec<String> = es.iter().map(expr).collect();
            format!("(tuple{})", items.iter().map(|i| format!(" {i}")).collect::<String>())
        }
        ExprKind::Record(fields) => {
            let items: String = fields.iter().map(|(n, v)| format!(" {n}={}", expr(v))).collect();
            format!("(record{items})")
        }
        ExprKind::Sizeof(SizeofArg::Type(ty)) => format!("(sizeof <{ty}>)"),
        ExprKind::Sizeof(SizeofArg::Expr(inner)) => format!("(sizeof {})", expr(inner)),
        ExprKind::Offsetof { ty, fields } => format!("(offsetof <{ty}> {})", fields.join(".")),
        ExprKind::Typeof(ty) => format!("(typeof <{ty}>)"),
        ExprKind::BlockExpr { stmts, value } => {
            let mut body = String::new();
            for s in stmts {
                stmt(&mut body, s, 0);
            }
            let lines: Vec<&str> = body.lines().map(str::trim).collect();
            format!("(block {{{}}} {})", lines.join("; "), expr(value))
        }
    }
}
