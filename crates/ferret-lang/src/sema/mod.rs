//! AST → typed tree: infers the type of every expression, variable and map, and reports
//! type errors at their source location. Types are kept in a side table keyed by node address
//! (the AST is immutable once parsed), one table per probe instance since `args` differ.
use crate::builtin::{self, CallSite};
use crate::cdefs::CDefs;
use crate::probe::{Context, Target};
use crate::types::{const_int, widen, AggKind, Type, I64, U64};
use crate::Options;
use ferret_syntax::ast::*;
use ferret_syntax::{Diagnostic, Span};
use std::collections::{BTreeMap, HashMap};

mod expr;
mod types;

pub(crate) use expr::is_debug_args;
pub use types::field_type;

/// What sema learned about one map, merged over every use in the program.
#[derive(Debug, Clone)]
pub struct MapInfo {
    pub name: String,
    /// `None` for `@x` (no key). Keys of several expressions are a Tuple.
    pub key: Option<Type>,
    pub value: Type,
    pub first_use: Span,
    pub assigned: bool,
}

/// Per-instance expression types.
pub type TypeTable = HashMap<usize, Type>;

pub fn key_of(e: &Expr) -> usize {
    e as *const Expr as usize
}

/// The side-table key for a written type (`sizeof(T)`, `offsetof(T, f)`). Offset by one so it
/// never equals the key of the expression that contains it (a type name can sit at offset 0).
pub fn key_of_type(t: &TypeName) -> usize {
    t as *const TypeName as usize + 1
}

pub struct Sema<'a> {
    pub opts: &'a Options,
    pub maps: BTreeMap<String, MapInfo>,
    pub types: TypeTable,
    pub vars: HashMap<String, Type>,
    pub target: &'a Target,
    pub diags: Vec<Diagnostic>,
    /// Errors are only kept on the last pass; earlier passes just let map types settle.
    pub reporting: bool,
    pub loop_depth: u32,
    /// Enums and other C definitions written in the script.
    pub cdefs: &'a CDefs,
    /// Per variable, the widest type assigned so far (kept across passes).
    pub var_widest: HashMap<String, Type>,
}

impl<'a> Sema<'a> {
    pub fn error(&mut self, span: Span, msg: impl Into<String>) {
        if self.reporting {
            self.diags.push(Diagnostic::error(span, msg));
        }
    }

    pub fn check_probe(&mut self, probe: &Probe) {
        self.vars.clear();
        if let Some(p) = &probe.predicate {
            let t = self.check_expr(p);
            if !(t.is_int() || t == Type::None) {
                self.error(p.span, format!("Invalid type for predicate: {t}"));
            }
        }
        self.check_block(&probe.body);
    }

    pub fn check_block(&mut self, b: &Block) {
        for s in &b.stmts {
            self.check_stmt(s);
        }
    }

    pub(super) fn check_stmt(&mut self, s: &Stmt) {
        match &s.kind {
            StmtKind::Expr(e) => {
                self.check_expr(e);
            }
            StmtKind::Assign { target, op, value, decl } => {
                self.check_assign(s.span, target, *op, value.as_ref(), decl)
            }
            StmtKind::If { cond, then, otherwise } => {
                self.check_cond(cond);
                self.check_block(then);
                if let Some(o) = otherwise {
                    self.check_block(o);
                }
            }
            StmtKind::While { cond, body } => {
                self.check_cond(cond);
                self.loop_depth += 1;
                self.check_block(body);
                self.loop_depth -= 1;
            }
            StmtKind::Unroll { count, body } => {
                let n = match count.kind {
                    ExprKind::Int(n) => Some(n as i64),
                    ExprKind::Positional(_) => crate::builtin::literal_int(self, count, "unroll count"),
                    _ => None,
                };
                match n {
                    Some(n) if n > 100 => self.error(count.span, "unroll maximum value is 100"),
                    Some(n) if n < 1 => self.error(count.span, "unroll minimum value is 1"),
                    Some(_) => {}
                    None => self.error(count.span, "unroll count must be an integer literal"),
                }
                self.check_block(body);
            }
            StmtKind::For { var, iterable, body } => match iterable {
                ForIter::Range(a, b) => {
                    self.check_int(a, "for range start");
                    self.check_int(b, "for range end");
                    self.vars.insert(var.clone(), I64);
                    self.loop_depth += 1;
                    self.check_block(body);
                    self.loop_depth -= 1;
                }
                ForIter::Map(m) => {
                    let t = self.for_map_var(m);
                    // Codegen finds the loop variable's type under the iterable's key.
                    self.types.insert(key_of(m), t.clone());
                    self.vars.insert(var.clone(), t);
                    self.loop_depth += 1;
                    self.check_block(body);
                    self.loop_depth -= 1;
                }
            },
            StmtKind::Return(e) => {
                if let Some(e) = e {
                    self.check_expr(e);
                }
            }
            StmtKind::Break | StmtKind::Continue => {
                if self.loop_depth == 0 {
                    self.error(s.span, "break and continue are only allowed in a loop");
                }
            }
            StmtKind::Block(b) => self.check_block(b),
        }
    }

    /// The type of `$kv` in `for ($kv : @m)`: a `(key, value)` tuple, aggregations read as
    /// their printed value.
    fn for_map_var(&mut self, m: &Expr) -> Type {
        let ExprKind::Map(name) = &m.kind else {
            self.error(m.span, "expected map or range in for loop");
            return Type::None;
        };
        let name = format!("@{name}");
        let Some(info) = self.maps.get(&name).cloned() else {
            self.error(m.span, format!("Undefined map: {name}"));
            return Type::None;
        };
        let Some(key) = info.key else {
            self.error(m.span, format!("{name} has no keys to iterate over: for loops need a map with keys"));
            return Type::None;
        };
        let value = match info.value {
            Type::Agg(AggKind::Count) => U64,
            Type::Agg(AggKind::Sum { signed } | AggKind::Avg { signed }) => Type::Int { bytes: 8, signed },
            Type::Agg(a) => {
                self.error(m.span, format!("for loops over {}() maps are not supported", a.name()));
                return Type::None;
            }
            v => v,
        };
        Type::Tuple(vec![key, value])
    }

    pub(super) fn check_cond(&mut self, e: &Expr) {
        let t = self.check_expr(e);
        if !(t.is_int() || t == Type::None) {
            self.error(e.span, format!("Invalid condition in if(): {t}"));
        }
    }

    pub fn check_int(&mut self, e: &Expr, what: &str) -> Type {
        let t = self.check_expr(e);
        if !(t.is_int() || t == Type::None) {
            self.error(e.span, format!("{what} must be an integer, got {t}"));
        }
        t
    }

    fn check_assign(
        &mut self,
        span: Span,
        target: &Expr,
        op: Option<BinOp>,
        value: Option<&Expr>,
        decl: &Option<VarDecl>,
    ) {
        let Some(value) = value else {
            // `let $x;` / `let $x: type;`
            if let (ExprKind::Var(name), Some(VarDecl { ty })) = (&target.kind, decl) {
                // Untyped: whatever it is assigned later (known from the previous pass); still
                // open in the first passes, so the first assignment decides (`let $a; ...
                // $a = ntop(...)`); an integer if it is never assigned.
                let t = match ty {
                    Some(tn) => self.resolve_type(tn),
                    None => Some(
                        self.var_widest.get(name).cloned().filter(|t| *t != Type::None).unwrap_or(if self.reporting {
                            I64
                        } else {
                            Type::None
                        }),
                    ),
                };
                if let Some(t) = t {
                    self.types.insert(key_of(target), t.clone());
                    self.vars.insert(name.clone(), t);
                }
            }
            return;
        };
        // `@m = count()` and friends: the call decides the map's aggregate kind.
        if let ExprKind::Call { name, args } = &value.kind {
            if let Some(b) = builtin::find(name).filter(|b| b.aggregate) {
                if op.is_some() {
                    self.error(span, format!("{name}() cannot be used with a compound assignment"));
                }
                let site = CallSite { name, args, span: value.span, expr: value };
                let t = (b.check)(self, &site);
                self.types.insert(key_of(value), t.clone());
                self.assign_map(target, t, span);
                return;
            }
        }
        let vt = self.check_expr(value);
        if let Some(op) = op {
            let tt = self.check_expr(target);
            if !(tt.is_int() || tt == Type::None) || !(vt.is_int() || vt == Type::None) {
                self.error(
                    span,
                    format!("The {}= operator needs integer operands ({tt} {} {vt})", op.symbol(), op.symbol()),
                );
            }
            if let Type::Agg(_) = tt {
                self.error(span, "compound assignment to an aggregation map");
            }
            let t = if tt == Type::None { I64 } else { tt };
            self.store_target(target, t, span);
            return;
        }
        let vt = match (decl, &target.kind) {
            (Some(VarDecl { ty: Some(tn) }), ExprKind::Var(_)) => self.resolve_type(tn).unwrap_or(vt),
            _ => vt,
        };
        if vt == Type::None && self.reporting {
            if let ExprKind::Call { name, .. } = &value.kind {
                self.error(value.span, format!("{name}() does not return a value and cannot be assigned"));
                return;
            }
        }
        self.store_target(target, vt, span);
    }

    fn store_target(&mut self, target: &Expr, t: Type, span: Span) {
        match &target.kind {
            ExprKind::Var(name) => {
                // The widest type this variable held in the previous pass, so every use sees
                // the storage that fits all its assignments.
                let t = match self.var_widest.get(name) {
                    Some(w) => widen(w, &t).unwrap_or(t),
                    None => t,
                };
                let t = match (self.vars.get(name).cloned(), &t) {
                    (Some(old @ Type::Int { .. }), Type::Int { .. }) => old,
                    (Some(Type::Str(a)), Type::Str(b)) => Type::Str(a.max(*b)),
                    (Some(old @ (Type::Tuple(_) | Type::Record(_) | Type::Ptr { .. })), new)
                        if widen(&old, new).is_some() =>
                    {
                        widen(&old, new).unwrap_or(old)
                    }
                    (Some(old @ Type::Int { bytes: 8, .. }), new @ Type::Ptr { .. }) if widen(&old, new).is_some() => {
                        new.clone()
                    }
                    (Some(old), new) if old != *new && old != Type::None && *new != Type::None => {
                        self.error(
                            span,
                            format!(
                                "Type mismatch for ${name}: trying to assign value of type '{new}' when variable already contains a value of type '{old}'"
                            ),
                        );
                        old
                    }
                    _ => t,
                };
                self.types.insert(key_of(target), t.clone());
                let w = match self.var_widest.get(name) {
                    Some(w) => widen(w, &t).unwrap_or(t.clone()),
                    None => t.clone(),
                };
                self.var_widest.insert(name.clone(), w);
                self.vars.insert(name.clone(), t);
            }
            ExprKind::Map(_) | ExprKind::MapElem { .. } => self.assign_map(target, t, span),
            _ => self.error(target.span, "Only variables and maps can be assigned to"),
        }
    }

    /// Record a map's key and value types, widening strings and reporting mismatches.
    pub(super) fn assign_map(&mut self, target: &Expr, value: Type, span: Span) {
        let (name, key) = self.map_key(target);
        let value = match value {
            Type::Int { signed, .. } => Type::Int { bytes: 8, signed },
            Type::Str(_) => Type::Str(self.opts.strlen),
            t => t,
        };
        let entry = self.maps.entry(name.clone()).or_insert_with(|| MapInfo {
            name: name.clone(),
            key: key.clone(),
            value: Type::None,
            first_use: span,
            assigned: true,
        });
        entry.assigned = true;
        let old = entry.value.clone();
        let merged = match (&old, &value) {
            (Type::None, v) => Some(v.clone()),
            (_, Type::None) => Some(old.clone()),
            (Type::Int { signed: a, .. }, Type::Int { signed: b, .. }) => {
                Some(Type::Int { bytes: 8, signed: *a || *b })
            }
            (Type::Agg(a), Type::Agg(b)) if a.name() == b.name() => Some(Type::Agg(merge_agg(*a, *b))),
            // An enum mixed with plain integers is a plain integer (no names printed).
            (Type::Int { .. }, Type::Enum(_)) => Some(old.clone()),
            (Type::Enum(_), Type::Int { .. }) => Some(value.clone()),
            (Type::Buffer(a), Type::Buffer(b)) => Some(Type::Buffer((*a).max(*b))),
            (a, b) if a == b => Some(a.clone()),
            (Type::Tuple(_), Type::Tuple(_)) | (Type::Record(_), Type::Record(_)) => widen(&old, &value),
            _ => None,
        };
        match merged {
            Some(m) => entry.value = m,
            None => {
                let msg = format!(
                    "Type mismatch for {name}: trying to assign value of type '{value}' when map already contains a value of type '{old}'"
                );
                self.error(span, msg);
            }
        }
        self.merge_key(&name, key, target.span);
        self.types.insert(key_of(target), self.maps[&name].value.clone());
    }

    /// The map name and key type of `@m` / `@m[k..]`, type-checking the key expressions.
    pub(super) fn map_key(&mut self, e: &Expr) -> (String, Option<Type>) {
        match &e.kind {
            ExprKind::Map(name) => (format!("@{name}"), None),
            ExprKind::MapElem { name, keys } => {
                let keys: Vec<&Expr> = keys.iter().collect();
                (format!("@{name}"), Some(self.key_type(&keys)))
            }
            _ => (String::new(), None),
        }
    }

    /// The key type that `@m[keys...]` uses (several keys form a tuple).
    pub(super) fn key_type(&mut self, keys: &[&Expr]) -> Type {
        let raw: Vec<Type> = keys.iter().map(|k| self.check_expr(k)).collect();
        let mut ts = vec![];
        for (t, k) in raw.iter().zip(keys) {
            ts.push(match t {
                Type::Int { signed, .. } => Type::Int { bytes: 8, signed: *signed },
                Type::Str(_) => Type::Str(self.opts.strlen),
                Type::Agg(_) => {
                    self.error(k.span, "an aggregation cannot be used as a map key");
                    U64
                }
                Type::None => Type::None,
                other => other.clone(),
            });
        }
        if ts.len() == 1 {
            ts.pop().unwrap_or(Type::None)
        } else {
            Type::Tuple(ts)
        }
    }

    /// `has_key(@m, k)` / `delete(@m, k)`: the map must have keys and `k` must fit them.
    pub fn check_key_arg(&mut self, map: &Expr, keys: &[&Expr], fname: &str) {
        let ExprKind::Map(name) = &map.kind else { return };
        let name = format!("@{name}");
        let kt = self.key_type(keys);
        match self.maps.get(&name).map(|i| i.key.is_some()) {
            Some(false) => {
                self.error(map.span, format!("call to {fname}() expects a map with explicit keys (non-scalar map)"));
            }
            Some(true) => self.merge_key(&name, Some(kt), map.span),
            None => {}
        }
    }

    pub(super) fn merge_key(&mut self, name: &str, key: Option<Type>, span: Span) {
        let Some(info) = self.maps.get_mut(name) else { return };
        match (&info.key, &key) {
            (None, None) => {}
            (Some(a), Some(b)) if a == b => {}
            (Some(a), Some(b)) if widen(a, b).is_some() => info.key = widen(a, b),
            (a, b) => {
                let (a, b) = (fmt_key(a), fmt_key(b));
                let msg = format!("Argument mismatch for {name}: trying to access with arguments: '{b}' when map expects arguments: '{a}'");
                self.error(span, msg);
            }
        }
    }

    pub fn check_expr(&mut self, e: &Expr) -> Type {
        let t = self.expr_type(e);
        self.types.insert(key_of(e), t.clone());
        t
    }
}

fn fmt_key(t: &Option<Type>) -> String {
    match t {
        None => String::new(),
        Some(Type::Tuple(ts)) => ts.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", "),
        Some(t) => t.to_string(),
    }
}

fn merge_agg(a: AggKind, b: AggKind) -> AggKind {
    use AggKind::*;
    match (a, b) {
        (Sum { signed: x }, Sum { signed: y }) => Sum { signed: x || y },
        (Min { signed: x }, Min { signed: y }) => Min { signed: x || y },
        (Max { signed: x }, Max { signed: y }) => Max { signed: x || y },
        (Avg { signed: x }, Avg { signed: y }) => Avg { signed: x || y },
        (Stats { signed: x }, Stats { signed: y }) => Stats { signed: x || y },
        (a, _) => a,
    }
}

/// Run sema over every probe instance to a fixpoint of map types, then once more reporting errors.
pub fn check_program(
    opts: &Options,
    program: &Program,
    instances: &[(usize, Target)],
) -> Result<(BTreeMap<String, MapInfo>, Vec<TypeTable>), Vec<Diagnostic>> {
    let mut maps = BTreeMap::new();
    let mut tables = vec![];
    let cdefs = CDefs::from_program(program);
    let mut widest: Vec<HashMap<String, Type>> = vec![HashMap::new(); instances.len()];
    for pass in 0..3 {
        let reporting = pass == 2;
        tables.clear();
        let mut diags = vec![];
        for (n, (probe_idx, target)) in instances.iter().enumerate() {
            let mut s = Sema {
                opts,
                maps: std::mem::take(&mut maps),
                types: HashMap::new(),
                vars: HashMap::new(),
                target,
                diags: vec![],
                reporting,
                loop_depth: 0,
                cdefs: &cdefs,
                var_widest: std::mem::take(&mut widest[n]),
            };
            s.check_probe(&program.probes[*probe_idx]);
            maps = s.maps;
            widest[n] = s.var_widest;
            diags.extend(s.diags);
            tables.push(s.types);
        }
        if reporting {
            // The same error in every instance of a wildcard probe is reported once.
            let mut seen = std::collections::HashSet::new();
            diags.retain(|d| seen.insert((d.span, d.message.clone())));
            if !diags.is_empty() {
                return Err(diags);
            }
        }
    }
    let mut diags = vec![];
    for info in maps.values() {
        if !info.assigned {
            diags.push(Diagnostic::error(info.first_use, format!("Undefined map: {}", info.name)));
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    Ok((maps, tables))
}
