//! Walking the AST: one place that knows every node's children, so passes (macro expansion,
//! variable collection, renaming) override only the nodes they care about.
use crate::ast::*;

/// Both walks, read-only and rewriting, from one description of every node's children: `$mut`
/// is `mut` for the rewriting one, `$iter` how it iterates (`iter` / `iter_mut`).
macro_rules! visitor {
    ($doc:literal, $Visit:ident, $walk_expr:ident, $walk_stmt:ident, $iter:ident $(, $mut:tt)?) => {
        #[doc = $doc]
        pub trait $Visit {
            fn expr(&mut self, e: &$($mut)? Expr) {
                $walk_expr(self, e);
            }
            fn stmt(&mut self, s: &$($mut)? Stmt) {
                $walk_stmt(self, s);
            }
            fn block(&mut self, b: &$($mut)? Block) {
                for s in b.stmts.$iter() {
                    self.stmt(s);
                }
            }
            /// A written type; only `typeof(expr)` has children.
            fn type_name(&mut self, t: &$($mut)? TypeName) {
                if let Some(e) = &$($mut)? t.of {
                    self.expr(e);
                }
            }
        }

        pub fn $walk_expr<V: $Visit + ?Sized>(v: &mut V, e: &$($mut)? Expr) {
            match &$($mut)? e.kind {
                ExprKind::Int(_)
                | ExprKind::Str(_)
                | ExprKind::Bool(_)
                | ExprKind::Ident(_)
                | ExprKind::Var(_)
                | ExprKind::Positional(_)
                | ExprKind::PositionalCount
                | ExprKind::Map(_) => {}
                ExprKind::Offsetof { ty, .. } | ExprKind::Typeof(ty) => v.type_name(ty),
                ExprKind::MapElem { keys: items, .. } | ExprKind::Call { args: items, .. } | ExprKind::Tuple(items) => {
                    items.$iter().for_each(|x| v.expr(x))
                }
                ExprKind::Unary { expr, .. } | ExprKind::Field { expr, .. } => v.expr(expr),
                ExprKind::Cast { ty, expr } => {
                    v.type_name(ty);
                    v.expr(expr);
                }
                ExprKind::Binary { lhs, rhs, .. } => {
                    v.expr(lhs);
                    v.expr(rhs);
                }
                ExprKind::Ternary { cond, then, otherwise } => {
                    v.expr(cond);
                    v.expr(then);
                    v.expr(otherwise);
                }
                ExprKind::Index { expr, index } => {
                    v.expr(expr);
                    v.expr(index);
                }
                ExprKind::Record(fields) => fields.$iter().for_each(|(_, x)| v.expr(x)),
                ExprKind::Sizeof(arg) => match arg {
                    SizeofArg::Expr(x) => v.expr(x),
                    SizeofArg::Type(t) => v.type_name(t),
                },
                ExprKind::BlockExpr { stmts, value } => {
                    stmts.$iter().for_each(|s| v.stmt(s));
                    v.expr(value);
                }
            }
        }

        pub fn $walk_stmt<V: $Visit + ?Sized>(v: &mut V, s: &$($mut)? Stmt) {
            match &$($mut)? s.kind {
                StmtKind::Expr(e) => v.expr(e),
                StmtKind::Assign { target, value, decl, .. } => {
                    if let Some(VarDecl { ty: Some(t) }) = decl {
                        v.type_name(t);
                    }
                    v.expr(target);
                    if let Some(x) = value {
                        v.expr(x);
                    }
                }
                StmtKind::If { cond, then, otherwise } => {
                    v.expr(cond);
                    v.block(then);
                    if let Some(o) = otherwise {
                        v.block(o);
                    }
                }
                StmtKind::While { cond, body } => {
                    v.expr(cond);
                    v.block(body);
                }
                StmtKind::Unroll { count, body } => {
                    v.expr(count);
                    v.block(body);
                }
                StmtKind::For { iterable, body, .. } => {
                    match iterable {
                        ForIter::Map(m) => v.expr(m),
                        ForIter::Range(a, b) => {
                            v.expr(a);
                            v.expr(b);
                        }
                    }
                    v.block(body);
                }
                StmtKind::Return(e) => {
                    if let Some(x) = e {
                        v.expr(x);
                    }
                }
                StmtKind::Break | StmtKind::Continue => {}
                StmtKind::Block(b) => v.block(b),
            }
        }
    };
}

visitor!(
    "A read-only walk. Override a method and call the matching `walk_*` to keep descending.",
    Visit,
    walk_expr,
    walk_stmt,
    iter
);
visitor!("A walk that may rewrite nodes in place.", VisitMut, walk_expr_mut, walk_stmt_mut, iter_mut, mut);
