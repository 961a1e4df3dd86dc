//! Block scoping of `$variables`, as in bpftrace: a variable first assigned (or declared with
//! `let`) inside a block lives until that block ends, and a later variable of the same name is
//! a different one. Each distinct variable gets a unique name (`x`, then `x@2`, ...) so sema
//! and codegen can keep one flat table per probe.
use ferret_syntax::ast::*;
use ferret_syntax::visit::{walk_expr_mut, walk_stmt_mut, VisitMut};
use std::collections::HashMap;

pub fn resolve(program: &mut Program) {
    for p in &mut program.probes {
        let mut s = Scopes { stack: vec![HashMap::new()], seen: HashMap::new() };
        if let Some(pred) = &mut p.predicate {
            s.expr(pred);
        }
        s.block(&mut p.body);
    }
}

struct Scopes {
    /// Innermost last: the variables each open block declared (source name → unique name).
    stack: Vec<HashMap<String, String>>,
    /// How many variables of each source name this probe has declared.
    seen: HashMap<String, u32>,
}

impl Scopes {
    fn declare(&mut self, name: &str) -> String {
        let n = self.seen.entry(name.to_string()).or_insert(0);
        *n += 1;
        let unique = if *n == 1 { name.to_string() } else { format!("{name}@{n}") };
        self.stack.last_mut().expect("a scope is open").insert(name.to_string(), unique.clone());
        unique
    }

    fn lookup(&self, name: &str) -> Option<String> {
        self.stack.iter().rev().find_map(|s| s.get(name).cloned())
    }

    fn scoped(&mut self, f: impl FnOnce(&mut Self)) {
        self.stack.push(HashMap::new());
        f(self);
        self.stack.pop();
    }
}

impl VisitMut for Scopes {
    fn block(&mut self, b: &mut Block) {
        self.scoped(|s| b.stmts.iter_mut().for_each(|st| s.stmt(st)));
    }

    fn stmt(&mut self, st: &mut Stmt) {
        match &mut st.kind {
            StmtKind::Assign { target, value, decl, .. } if matches!(target.kind, ExprKind::Var(_)) => {
                // The value is evaluated before the variable exists: `$x = $x + 1` reads the outer one.
                if let Some(v) = value {
                    self.expr(v);
                }
                let ExprKind::Var(name) = &mut target.kind else { return };
                *name = match (decl.is_some(), self.lookup(name)) {
                    (false, Some(existing)) => existing,
                    _ => self.declare(name),
                };
            }
            StmtKind::For { var, iterable, body } => {
                match iterable {
                    ForIter::Map(m) => self.expr(m),
                    ForIter::Range(a, b) => {
                        self.expr(a);
                        self.expr(b);
                    }
                }
                self.scoped(|s| {
                    *var = s.declare(var);
                    s.block(body);
                });
            }
            _ => walk_stmt_mut(self, st),
        }
    }

    fn expr(&mut self, e: &mut Expr) {
        match &mut e.kind {
            ExprKind::Var(name) => {
                if let Some(u) = self.lookup(name) {
                    *name = u;
                }
            }
            ExprKind::BlockExpr { stmts, value } => self.scoped(|s| {
                stmts.iter_mut().for_each(|st| s.stmt(st));
                s.expr(value);
            }),
            _ => walk_expr_mut(self, e),
        }
    }
}
