//! Macro expansion: `macro name($v, @m, e) { ...; value }` calls are replaced by the macro's
//! body before sema, as bpftrace does.
//!
//! - `$v` parameters take a variable and alias it (the macro can mutate the caller's variable);
//! - `@m` parameters take a map and alias it;
//! - bare-identifier parameters take any expression, substituted wherever the name appears
//!   (re-evaluated at each use, like bpftrace);
//! - the macro's own variables are renamed `$$name_x` (with the call depth) so they never clash
//!   with the caller's;
//! - a call used as a value becomes a block expression whose value is the body's last
//!   expression; a call used as a statement becomes a block of the body's statements.
//!
//! Macros are looked up by name and argument count, so a user macro `cpu(x)` does not hide the
//! `cpu` builtin.
use crate::builtin;
use ferret_syntax::ast::*;
use ferret_syntax::visit::{walk_expr, walk_expr_mut, walk_stmt_mut, Visit, VisitMut};
use ferret_syntax::{Diagnostic, Span};
use std::collections::HashMap;

/// bpftrace's standard-library helpers that are plain macros over kernel types (its stdlib
/// defines them the same way): a script's own macro of the same name and arity wins.
const PRELUDE: &str = "
macro ppid(task) { task.real_parent.pid }
macro ppid() { curtask.real_parent.pid }
macro leader_tid(task) { task.group_leader.pid }
macro leader_tid() { curtask.group_leader.pid }
macro pcomm(task) { task.real_parent.comm }
macro pcomm() { curtask.real_parent.comm }
macro leader_comm(task) { task.group_leader.comm }
macro leader_comm() { curtask.group_leader.comm }
macro assert(cond, msg) { if (!(cond)) { errorf(\"assert failed: %s\", msg); exit(1); } }
macro container_of(ptr, ty, member) { (ty *)((uint64)ptr - offsetof(ty, member)) }
";

/// The prelude's macros, parsed once.
fn prelude() -> &'static [Macro] {
    static PARSED: std::sync::OnceLock<Vec<Macro>> = std::sync::OnceLock::new();
    PARSED.get_or_init(|| ferret_syntax::parse(PRELUDE).map(|p| p.macros).unwrap_or_default())
}

/// Whether the program names a prelude macro at all (most programs do not: no work then).
fn uses_prelude(program: &Program) -> bool {
    struct Finder<'a>(&'a [Macro], bool);
    impl Visit for Finder<'_> {
        fn expr(&mut self, e: &Expr) {
            let name = match &e.kind {
                ExprKind::Call { name, .. } | ExprKind::Ident(name) => Some(name),
                _ => None,
            };
            if name.is_some_and(|n| self.0.iter().any(|m| &m.name == n)) {
                self.1 = true;
            }
            walk_expr(self, e);
        }
    }
    let mut f = Finder(prelude(), false);
    for p in &program.probes {
        if let Some(pred) = &p.predicate {
            f.expr(pred);
        }
        f.block(&p.body);
    }
    f.1
}

/// Expand every macro call in the program's probes; the macro definitions stay in the AST.
pub fn expand(program: &mut Program) -> Result<(), Vec<Diagnostic>> {
    let with_prelude = uses_prelude(program);
    if program.macros.is_empty() && !with_prelude {
        return Ok(());
    }
    let mut diags = vec![];
    let mut defs: HashMap<(String, usize), Macro> = HashMap::new();
    for m in &program.macros {
        if defs.insert((m.name.clone(), m.params.len()), m.clone()).is_some() {
            diags.push(Diagnostic::error(m.span, format!("Redefinition of macro: {}", m.name)));
        }
    }
    let mut builtin_macros = std::collections::HashSet::new();
    if with_prelude {
        for m in prelude() {
            let key = (m.name.clone(), m.params.len());
            if let std::collections::hash_map::Entry::Vacant(v) = defs.entry(key.clone()) {
                v.insert(m.clone());
                builtin_macros.insert(key);
            }
        }
    }
    let mut x = Expander { defs: &defs, builtin_macros: &builtin_macros, stack: vec![], diags: &mut diags, nodes: 0 };
    for p in &mut program.probes {
        if let Some(pred) = &mut p.predicate {
            x.expr(pred);
        }
        x.block(&mut p.body);
    }
    if diags.is_empty() {
        Ok(())
    } else {
        Err(diags)
    }
}

/// `@m = { stmts; agg(x) }` (a block expression, as a macro call leaves it, whose value is an
/// aggregation) becomes `{ stmts; @m = agg(x); }`: aggregations are only ever assigned
/// directly to a map.
pub fn hoist_aggregate_blocks(program: &mut Program) {
    struct Hoist;
    impl VisitMut for Hoist {
        fn stmt(&mut self, s: &mut Stmt) {
            walk_stmt_mut(self, s);
            let StmtKind::Assign { target, op: None, value: Some(value), decl: None } = &mut s.kind else { return };
            if !matches!(target.kind, ExprKind::Map(_) | ExprKind::MapElem { .. }) {
                return;
            }
            // Look before copying: most assigned values are no block ending in an aggregation.
            let mut tail = &*value;
            while let ExprKind::BlockExpr { value: t, .. } = &tail.kind {
                tail = t;
            }
            let is_agg = matches!(&tail.kind, ExprKind::Call { name, .. } if crate::builtin::find(name).is_some_and(|b| b.aggregate));
            if !is_agg || !matches!(value.kind, ExprKind::BlockExpr { .. }) {
                return;
            }
            let mut stmts = vec![];
            let mut v = value.clone();
            while let ExprKind::BlockExpr { stmts: inner, value: tail } = v.kind {
                stmts.extend(inner);
                v = *tail;
            }
            if stmts.is_empty() {
                return;
            }
            let span = s.span;
            stmts.push(Stmt {
                kind: StmtKind::Assign { target: target.clone(), op: None, value: Some(v), decl: None },
                span,
            });
            s.kind = StmtKind::Block(Block { stmts, span });
        }
    }
    for p in &mut program.probes {
        Hoist.block(&mut p.body);
    }
}

/// Moves every expression of a built-in macro's body to the call's span.
struct Respan(Span);

impl VisitMut for Respan {
    fn expr(&mut self, e: &mut Expr) {
        e.span = self.0;
        walk_expr_mut(self, e);
    }
}

struct Expander<'a> {
    defs: &'a HashMap<(String, usize), Macro>,
    /// The prelude's macros in use: their code has no place in the script, so errors in it are
    /// reported at the call.
    builtin_macros: &'a std::collections::HashSet<(String, usize)>,
    /// The macros being expanded (name, arity), outermost first (recursion is an error).
    stack: Vec<(String, usize)>,
    diags: &'a mut Vec<Diagnostic>,
    /// Expressions produced by expansion so far (see [`MAX_EXPANDED`]).
    nodes: usize,
}

/// Macro calls nested deeper than this are an error: each level deepens the tree every later
/// pass walks recursively.
const MAX_NESTING: usize = 100;
/// Expressions all expansions together may produce: a macro that uses its argument twice,
/// called on itself twenty times over, would otherwise make millions.
const MAX_EXPANDED: usize = 1_000_000;

/// Counts expressions.
struct Count(usize);

impl ferret_syntax::visit::Visit for Count {
    fn expr(&mut self, e: &Expr) {
        self.0 += 1;
        ferret_syntax::visit::walk_expr(self, e);
    }
}

/// A macro call found in the tree: its name, arguments and location.
struct Site {
    name: String,
    args: Vec<Expr>,
    span: Span,
}

impl Expander<'_> {
    /// If `e` calls a macro, take its name and arguments (arguments already expanded).
    fn site(&mut self, e: &mut Expr) -> Option<Site> {
        let (name, nargs) = match &e.kind {
            ExprKind::Call { name, args } => (name.clone(), args.len()),
            ExprKind::Ident(name) => (name.clone(), 0),
            _ => return None,
        };
        if !self.defs.contains_key(&(name.clone(), nargs)) {
            if let ExprKind::Call { args, .. } = &e.kind {
                let other = self.defs.keys().find(|(n, _)| *n == name).map(|(_, k)| *k);
                if let Some(want) = other.filter(|_| builtin::find(&name).is_none()) {
                    self.diags.push(Diagnostic::error(
                        e.span,
                        format!(
                            "Call to {name}() has arguments that do not match any definition. The definition of {name}() has {want} argument{}, got {}",
                            if want == 1 { "" } else { "s" },
                            args.len()
                        ),
                    ));
                }
            }
            return None;
        }
        let args = match &mut e.kind {
            ExprKind::Call { args, .. } => {
                for a in args.iter_mut() {
                    self.expr(a);
                }
                std::mem::take(args)
            }
            _ => vec![],
        };
        Some(Site { name, args, span: e.span })
    }

    /// The macro's body for this call, parameters bound and variables renamed, with nested
    /// calls expanded. None after reporting an error.
    fn instantiate(&mut self, site: Site) -> Option<Vec<Stmt>> {
        let key = (site.name.clone(), site.args.len());
        let def = &self.defs[&key];
        if let Some(i) = self.stack.iter().position(|k| *k == key) {
            let chain: Vec<&str> = self.stack[i..].iter().map(|(n, _)| n.as_str()).collect();
            self.diags.push(Diagnostic::error(
                site.span,
                format!("Recursive macro call detected. Call chain: {} > {}", chain.join(" > "), site.name),
            ));
            return None;
        }
        if self.stack.len() >= MAX_NESTING {
            self.diags.push(Diagnostic::error(
                site.span,
                format!(
                    "macro calls are nested too deeply (more than {MAX_NESTING} levels: {} > ...)",
                    self.stack[0].0
                ),
            ));
            return None;
        }
        let mut r = Renamer {
            prefix: if self.stack.is_empty() {
                format!("${}", def.name)
            } else {
                format!("${}_{}", def.name, self.stack.len() + 1)
            },
            vars: HashMap::new(),
            maps: HashMap::new(),
            exprs: HashMap::new(),
            diags: vec![],
        };
        for (param, arg) in def.params.iter().zip(site.args) {
            match (&param.kind, &arg.kind) {
                (ExprKind::Var(p), ExprKind::Var(a)) => {
                    r.vars.insert(p.clone(), a.clone());
                }
                (ExprKind::Map(p), ExprKind::Map(a)) => {
                    r.maps.insert(p.clone(), a.clone());
                }
                (ExprKind::Ident(p), ExprKind::Var(_) | ExprKind::Map(_)) => {
                    // Wrapped so the macro cannot assign through it.
                    let span = arg.span;
                    r.exprs.insert(
                        p.clone(),
                        Expr { kind: ExprKind::BlockExpr { stmts: vec![], value: Box::new(arg) }, span },
                    );
                }
                (ExprKind::Ident(p), _) => {
                    r.exprs.insert(p.clone(), arg);
                }
                (ExprKind::Var(p), other) | (ExprKind::Map(p), other) => {
                    let (want, sigil) =
                        if matches!(param.kind, ExprKind::Var(_)) { ("variable", "$") } else { ("map", "@") };
                    let got = match other {
                        ExprKind::Var(_) => "a variable",
                        ExprKind::Map(_) => "a map",
                        _ => "an expression",
                    };
                    self.diags.push(Diagnostic::error(
                        arg.span,
                        format!("Mismatched arg. {}() expects a {want} for arg {sigil}{p} but got {got}.", def.name),
                    ));
                    return None;
                }
                _ => return None,
            }
        }
        let mut body = def.body.clone();
        if self.builtin_macros.contains(&key) {
            let mut at = Respan(site.span);
            for s in &mut body.stmts {
                at.stmt(s);
            }
        }
        r.block(&mut body);
        if !r.diags.is_empty() {
            self.diags.append(&mut r.diags);
            return None;
        }
        let mut count = Count(0);
        for st in &body.stmts {
            ferret_syntax::visit::Visit::stmt(&mut count, st);
        }
        self.nodes += count.0;
        if self.nodes > MAX_EXPANDED {
            self.diags.push(Diagnostic::error(
                site.span,
                format!("macro expansion is too large (over {MAX_EXPANDED} expressions)"),
            ));
            return None;
        }
        self.stack.push(key);
        self.block(&mut body);
        self.stack.pop();
        Some(body.stmts)
    }
}

impl VisitMut for Expander<'_> {
    fn expr(&mut self, e: &mut Expr) {
        let Some(site) = self.site(e) else {
            walk_expr_mut(self, e);
            return;
        };
        let (name, span) = (site.name.clone(), site.span);
        let Some(mut stmts) = self.instantiate(site) else { return };
        let value = match stmts.pop() {
            Some(Stmt { kind: StmtKind::Expr(v), .. }) => v,
            other => {
                stmts.extend(other);
                self.diags.push(Diagnostic::error(span, format!("Macro '{name}' does not return a value")));
                return;
            }
        };
        e.kind = if stmts.is_empty() { value.kind } else { ExprKind::BlockExpr { stmts, value: Box::new(value) } };
    }

    fn stmt(&mut self, s: &mut Stmt) {
        if let StmtKind::Expr(e) = &mut s.kind {
            if let Some(site) = self.site(e) {
                let span = site.span;
                if let Some(stmts) = self.instantiate(site) {
                    s.kind = StmtKind::Block(Block { stmts, span });
                }
                return;
            }
        }
        walk_stmt_mut(self, s);
    }
}

/// Binds a macro's parameters and renames its own variables in a copy of its body.
struct Renamer {
    prefix: String,
    vars: HashMap<String, String>,
    maps: HashMap<String, String>,
    exprs: HashMap<String, Expr>,
    diags: Vec<Diagnostic>,
}

impl Renamer {
    fn var(&self, name: &str) -> String {
        match self.vars.get(name) {
            Some(v) => v.clone(),
            None => format!("{}_{name}", self.prefix),
        }
    }

    fn map(&mut self, name: &mut String, span: Span) {
        match self.maps.get(name.as_str()) {
            Some(m) => *name = m.clone(),
            None => self.diags.push(Diagnostic::error(
                span,
                format!("Unhygienic access to map: @{name}. Maps must be passed into the macro as arguments."),
            )),
        }
    }
}

impl VisitMut for Renamer {
    fn expr(&mut self, e: &mut Expr) {
        match &mut e.kind {
            ExprKind::Var(name) => *name = self.var(name),
            ExprKind::Map(name) => self.map(name, e.span),
            ExprKind::MapElem { name, .. } => {
                self.map(name, e.span);
                walk_expr_mut(self, e);
            }
            ExprKind::Ident(name) => {
                if let Some(arg) = self.exprs.get(name.as_str()) {
                    e.kind = arg.kind.clone();
                    e.span = arg.span;
                }
            }
            ExprKind::Offsetof { fields, .. } => {
                // `offsetof(t, member)`: a parameter naming the member takes the argument's name.
                for f in fields.iter_mut() {
                    if let Some(ExprKind::Ident(arg)) = self.exprs.get(f.as_str()).map(|a| &a.kind) {
                        *f = arg.clone();
                    }
                }
                walk_expr_mut(self, e);
            }
            _ => walk_expr_mut(self, e),
        }
    }

    /// A parameter used as a type (`sizeof(t*)`, `(t)x`, `let $v: t`) takes the type its
    /// `typeof(...)` argument names, keeping the suffix written in the macro; an expression
    /// argument becomes `typeof(expr)`.
    fn type_name(&mut self, t: &mut TypeName) {
        let Some(arg) = self.exprs.get(t.base.as_str()).filter(|_| t.of.is_none()) else {
            if let Some(e) = &mut t.of {
                self.expr(e);
            }
            return;
        };
        let mut ty = match &arg.kind {
            ExprKind::Typeof(inner) => inner.clone(),
            _ => TypeName {
                base: "typeof".into(),
                pointers: 0,
                array: None,
                span: arg.span,
                of: Some(Box::new(arg.clone())),
            },
        };
        ty.pointers += t.pointers;
        ty.array = t.array.or(ty.array);
        ty.span = t.span;
        *t = ty;
    }

    fn stmt(&mut self, s: &mut Stmt) {
        if let StmtKind::For { var, .. } = &mut s.kind {
            *var = self.var(var);
        }
        walk_stmt_mut(self, s);
    }
}
