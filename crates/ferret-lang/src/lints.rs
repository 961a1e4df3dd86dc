//! Warnings about programs that compile but probably do not do what was meant.
use ferret_syntax::ast::*;
use ferret_syntax::visit::{walk_stmt, Visit};
use ferret_syntax::Diagnostic;

/// Statements after `exit()`, `return`, `break` or `continue` in the same block.
pub fn unreachable(program: &Program) -> Vec<Diagnostic> {
    struct Finder(Vec<Diagnostic>);
    impl Visit for Finder {
        fn block(&mut self, b: &Block) {
            let mut ended = false;
            for s in &b.stmts {
                if ended {
                    self.0.push(Diagnostic::warning(s.span, "Unreachable statement"));
                    break;
                }
                ended = ends_flow(s);
                self.stmt(s);
            }
        }
        fn stmt(&mut self, s: &Stmt) {
            walk_stmt(self, s);
        }
    }
    let mut f = Finder(vec![]);
    for p in &program.probes {
        f.block(&p.body);
    }
    f.0
}

fn ends_flow(s: &Stmt) -> bool {
    match &s.kind {
        StmtKind::Return(_) | StmtKind::Break | StmtKind::Continue => true,
        StmtKind::Expr(Expr { kind: ExprKind::Call { name, .. }, .. }) => name == "exit",
        _ => false,
    }
}

/// `let @m = hash(N);` declarations no probe uses.
pub fn unused_maps(program: &Program, used: &dyn Fn(&str) -> bool) -> Vec<Diagnostic> {
    program
        .map_decls
        .iter()
        .filter(|d| !used(&format!("@{}", d.name.trim_start_matches('@'))))
        .map(|d| Diagnostic::warning(d.span, format!("Unused map: @{}", d.name.trim_start_matches('@'))))
        .collect()
}
