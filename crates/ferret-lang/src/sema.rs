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

    fn check_stmt(&mut self, s: &Stmt) {
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

    fn check_cond(&mut self, e: &Expr) {
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
                // Untyped: whatever it is assigned later (known from the previous pass), else int.
                let t = match ty {
                    Some(tn) => self.resolve_type(tn),
                    None => Some(self.var_widest.get(name).cloned().filter(|t| *t != Type::None).unwrap_or(I64)),
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
    fn assign_map(&mut self, target: &Expr, value: Type, span: Span) {
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
    fn map_key(&mut self, e: &Expr) -> (String, Option<Type>) {
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
    fn key_type(&mut self, keys: &[&Expr]) -> Type {
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

    fn merge_key(&mut self, name: &str, key: Option<Type>, span: Span) {
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

    fn expr_type(&mut self, e: &Expr) -> Type {
        match &e.kind {
            ExprKind::Int(n) => {
                if *n > i64::MAX as u64 {
                    U64
                } else {
                    I64
                }
            }
            ExprKind::Str(s) => Type::Str(s.len() as u32 + 1),
            ExprKind::Bool(_) => Type::Bool,
            ExprKind::Positional(n) => match self.opts.positional.get(*n as usize - 1) {
                Some(v) if crate::codegen::parse_int_literal(v).is_some() => I64,
                Some(v) => Type::Str(v.len() as u32 + 1),
                None => I64,
            },
            ExprKind::PositionalCount => I64,
            ExprKind::Var(name) => match self.vars.get(name) {
                Some(t) => t.clone(),
                None => {
                    self.error(e.span, format!("Undefined or undeclared variable: ${name}"));
                    Type::None
                }
            },
            ExprKind::Map(_) | ExprKind::MapElem { .. } => {
                let (name, key) = self.map_key(e);
                match self.maps.get(&name) {
                    Some(info) => {
                        let v = info.value.clone();
                        // A bare `@m` of a keyed map names the whole map (print, clear, ...).
                        if matches!(e.kind, ExprKind::MapElem { .. }) {
                            self.merge_key(&name, key, e.span);
                        }
                        match v {
                            Type::Agg(AggKind::Count) => U64,
                            Type::Agg(
                                AggKind::Sum { signed }
                                | AggKind::Min { signed }
                                | AggKind::Max { signed }
                                | AggKind::Avg { signed },
                            ) => Type::Int { bytes: 8, signed },
                            other => other,
                        }
                    }
                    None => {
                        self.error(e.span, format!("Undefined map: {name}"));
                        Type::None
                    }
                }
            }
            ExprKind::Ident(name) => match builtin::find(name).filter(|b| b.variable) {
                Some(b) => {
                    let site = CallSite { name, args: &[], span: e.span, expr: e };
                    (b.check)(self, &site)
                }
                None => match self.cdefs.constants.get(name) {
                    Some((def, _)) => Type::Enum(def.clone()),
                    None if self.cdefs.define(name).is_some() => I64,
                    None if name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') => {
                        match crate::ktypes::enum_constant(name) {
                            Some(def) => Type::Enum(def),
                            None => {
                                self.error(e.span, format!("Unknown identifier: '{name}'"));
                                Type::None
                            }
                        }
                    }
                    None => {
                        self.error(e.span, format!("Unknown identifier: '{name}'"));
                        Type::None
                    }
                },
            },
            ExprKind::Call { name, args } => match builtin::find(name) {
                Some(b) if b.aggregate => {
                    self.error(e.span, format!("{name}() must be assigned directly to a map"));
                    Type::None
                }
                Some(b) => {
                    if b.unsafe_only && !self.opts.unsafe_ {
                        self.error(e.span, format!("{name}() is an unsafe function being used in safe mode"));
                    }
                    let site = CallSite { name, args, span: e.span, expr: e };
                    (b.check)(self, &site)
                }
                None => {
                    self.error(e.span, format!("Unknown function: '{name}'"));
                    Type::None
                }
            },
            ExprKind::Unary { op, expr } => {
                let inc_dec = matches!(op, UnOp::PreInc | UnOp::PreDec | UnOp::PostInc | UnOp::PostDec);
                if inc_dec && matches!(expr.kind, ExprKind::Map(_) | ExprKind::MapElem { .. }) {
                    // `@x++` declares @x (an integer) when nothing else has.
                    let (name, _) = self.map_key(expr);
                    if !self.maps.contains_key(&name) {
                        self.assign_map(expr, I64, e.span);
                    }
                }
                let t = self.check_expr(expr);
                match op {
                    UnOp::Not => {
                        if !(t.is_int() || t == Type::None) {
                            self.error(e.span, format!("The ! operator can not be used on expressions of type '{t}'"));
                        }
                        Type::Bool
                    }
                    UnOp::Neg | UnOp::BitNot => {
                        if !(t.is_int() || t == Type::None) {
                            self.error(
                                e.span,
                                format!(
                                    "The {} operator can not be used on expressions of type '{t}'",
                                    if *op == UnOp::Neg { "-" } else { "~" }
                                ),
                            );
                        }
                        if *op == UnOp::Neg {
                            I64
                        } else {
                            t
                        }
                    }
                    UnOp::PreInc | UnOp::PreDec | UnOp::PostInc | UnOp::PostDec => {
                        match &expr.kind {
                            ExprKind::Var(_) => {}
                            ExprKind::Map(_) | ExprKind::MapElem { .. } => {}
                            _ => self.error(e.span, "The ++ and -- operators need a variable or a map"),
                        }
                        if t == Type::None {
                            I64
                        } else {
                            t
                        }
                    }
                    UnOp::Deref => match t {
                        Type::Ptr { pointee, .. } => *pointee,
                        Type::None => Type::None,
                        other => {
                            self.error(e.span, format!("Can not dereference type '{other}'"));
                            Type::None
                        }
                    },
                    UnOp::AddrOf => match (&expr.kind, t) {
                        // `&$var`: the variable's place on the BPF stack.
                        (ExprKind::Var(_), t) if t != Type::None => {
                            Type::Ptr { space: crate::types::AddrSpace::Kernel, pointee: Box::new(t) }
                        }
                        (_, Type::None) => Type::None,
                        _ => {
                            self.error(e.span, "& can only take the address of a variable");
                            Type::None
                        }
                    },
                }
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let (a, b) = (self.check_expr(lhs), self.check_expr(rhs));
                // A non-negative literal takes the other side's signedness (`$u % 10` stays
                // unsigned), as in bpftrace.
                let literal = |x: &Expr| matches!(x.kind, ExprKind::Int(n) if n <= i64::MAX as u64);
                let unsigned = |t: &Type| matches!(t, Type::Int { signed: false, .. });
                let a = if literal(lhs) && unsigned(&b) { U64 } else { a };
                let b = if literal(rhs) && unsigned(&a) { U64 } else { b };
                self.binary_type(e.span, *op, &a, &b)
            }
            ExprKind::Ternary { cond, then, otherwise } => {
                self.check_cond(cond);
                let (a, b) = (self.check_expr(then), self.check_expr(otherwise));
                if let (Type::Tuple(_) | Type::Record(_), Some(w)) = (&a, widen(&a, &b)) {
                    return w;
                }
                match (&a, &b) {
                    (Type::Str(x), Type::Str(y)) => Type::Str((*x).max(*y)),
                    (Type::Bool, Type::Bool) => Type::Bool,
                    (Type::Buffer(x), Type::Buffer(y)) => Type::Buffer((*x).max(*y)),
                    (x, y) if x.is_int() && y.is_int() => {
                        Type::Int { bytes: 8, signed: x.is_signed() || y.is_signed() }
                    }
                    (Type::None, _) | (_, Type::None) => Type::None,
                    (x, y) if x == y => a,
                    _ => {
                        self.error(e.span, format!("Ternary operator must return the same type: have '{a}' and '{b}'"));
                        a
                    }
                }
            }
            ExprKind::Field { expr, field, .. } => {
                let t = self.check_expr(expr);
                match t {
                    Type::Args => self.args_field(e.span, field),
                    Type::Tuple(ts) => match field.parse::<usize>() {
                        Ok(i) if i < ts.len() => ts[i].clone(),
                        _ => {
                            self.error(
                                e.span,
                                format!("Invalid tuple index: {field}. Found {} elements in tuple.", ts.len()),
                            );
                            Type::None
                        }
                    },
                    Type::Record(fs) => match fs.iter().find(|(n, _)| n == field) {
                        Some((_, t)) => t.clone(),
                        None => {
                            self.error(e.span, format!("Record does not contain a field named '{field}'"));
                            Type::None
                        }
                    },
                    Type::None => Type::None,
                    ref other if self.struct_field(e.span, other, field).is_some() => {
                        self.struct_field(e.span, other, field).unwrap_or(Type::None)
                    }
                    other => {
                        self.error(e.span, format!("Can not access field '{field}' on type '{other}'"));
                        Type::None
                    }
                }
            }
            ExprKind::Index { expr, index } => {
                let t = self.check_expr(expr);
                self.check_int(index, "array index");
                match t {
                    Type::Tuple(ts) => match const_int(index) {
                        Some(i) if (0..ts.len() as i64).contains(&i) => ts[i as usize].clone(),
                        _ => {
                            self.error(index.span, "a tuple index must be a constant within the tuple");
                            Type::None
                        }
                    },
                    Type::Str(_) => Type::Int { bytes: 1, signed: true },
                    Type::Array { elem, .. } => *elem,
                    Type::Ptr { pointee, .. } => *pointee,
                    Type::None => Type::None,
                    other => {
                        self.error(
                            e.span,
                            format!("The array index operator [] can not be used on expressions of type '{other}'"),
                        );
                        Type::None
                    }
                }
            }
            ExprKind::Cast { ty, expr } => {
                let from = self.check_expr(expr);
                match self.resolve_type(ty) {
                    Some(t @ (Type::Int { .. } | Type::Bool | Type::Ptr { .. } | Type::Enum(_))) => {
                        if !(from.is_int() || from == Type::None) {
                            self.error(e.span, format!("Cannot cast from '{from}' to '{t}'"));
                        }
                        t
                    }
                    // Reinterpret an integer's or a string's bytes: `(int8[8])x`, `(uint8[])"ab"`.
                    Some(Type::Array { elem, len }) if from.is_int() || from.is_str() => {
                        let bytes = match &from {
                            Type::Int { bytes, .. } => *bytes as u32,
                            t => t.size(),
                        };
                        let len = if len == 0 { bytes / elem.elem_size().max(1) } else { len };
                        if len * elem.elem_size() != bytes {
                            self.error(e.span, format!("Cannot cast from '{from}' to '{}[{len}]'", elem));
                        }
                        Type::Array { elem, len }
                    }
                    Some(t) => {
                        self.error(e.span, format!("Cannot cast to '{t}'"));
                        Type::None
                    }
                    None => Type::None,
                }
            }
            ExprKind::Tuple(items) => {
                let ts: Vec<Type> = items.iter().map(|i| self.check_expr(i)).collect();
                for (t, i) in ts.iter().zip(items) {
                    if matches!(t, Type::Agg(_)) {
                        self.error(i.span, "an aggregation cannot be a tuple member");
                    }
                }
                Type::Tuple(ts)
            }
            ExprKind::Record(fields) => {
                let mut out: Vec<(String, Type)> = vec![];
                for (name, x) in fields {
                    let t = self.check_expr(x);
                    if out.iter().any(|(n, _)| n == name) {
                        self.error(x.span, format!("Named argument list already contains name: {name}"));
                    }
                    out.push((name.clone(), t));
                }
                Type::Record(out)
            }
            ExprKind::Sizeof(arg) => {
                match arg {
                    SizeofArg::Type(tn) => {
                        if let Some(t) = self.resolve_type(tn) {
                            // Codegen finds the type under the type name's address.
                            self.types.insert(key_of_type(tn), t);
                        }
                    }
                    SizeofArg::Expr(x) => match &x.kind {
                        // `sizeof(uint64_t)`: a type name the parser could not tell from an identifier.
                        ExprKind::Ident(name)
                            if builtin::find(name).is_none() && !self.cdefs.constants.contains_key(name) =>
                        {
                            match self.kernel_type(name) {
                                Some(t) => {
                                    self.types.insert(key_of(x), t);
                                }
                                // not a type: an enum constant or an error, as any identifier
                                None => {
                                    self.check_expr(x);
                                }
                            }
                        }
                        _ => {
                            self.check_expr(x);
                        }
                    },
                }
                U64
            }
            ExprKind::Offsetof { ty, fields } => {
                let id = match self.resolve_type(ty) {
                    Some(t @ Type::Struct { .. }) => {
                        // Codegen finds the type under the type name's address.
                        self.types.insert(key_of_type(ty), t.clone());
                        let Type::Struct { id, .. } = t else { return U64 };
                        id
                    }
                    Some(other) => {
                        self.error(e.span, format!("offsetof() needs a struct or union type, got '{other}'"));
                        return Type::None;
                    }
                    None => return Type::None,
                };
                if let Err(m) = crate::ktypes::offset_of(id, fields) {
                    self.error(e.span, m);
                }
                U64
            }
            ExprKind::BlockExpr { stmts, value } => {
                for s in stmts {
                    self.check_stmt(s);
                }
                self.check_expr(value)
            }
        }
    }

    fn binary_type(&mut self, span: Span, op: BinOp, a: &Type, b: &Type) -> Type {
        use BinOp::*;
        if *a == Type::None || *b == Type::None {
            return if matches!(op, Eq | Ne | Lt | Le | Gt | Ge | LogAnd | LogOr) { Type::Bool } else { I64 };
        }
        match op {
            Eq | Ne if a.is_str() && b.is_str() => Type::Bool,
            Eq | Ne | Lt | Le | Gt | Ge if a.is_int() && b.is_int() => Type::Bool,
            LogAnd | LogOr if a.is_int() && b.is_int() => Type::Bool,
            // Pointer arithmetic keeps the pointer type (steps are scaled in codegen).
            Add | Sub if matches!(a, Type::Ptr { .. }) && b.is_int() && !matches!(b, Type::Ptr { .. }) => a.clone(),
            Add if matches!(b, Type::Ptr { .. }) && a.is_int() && !matches!(a, Type::Ptr { .. }) => b.clone(),
            Add | Sub | Mul | Div | Mod | BitAnd | BitOr | BitXor | Shl | Shr if a.is_int() && b.is_int() => {
                Type::Int { bytes: 8, signed: a.is_signed() || b.is_signed() || op == Sub }
            }
            _ => {
                self.error(span, format!("Type mismatch for '{}': comparing '{a}' with '{b}'", op.symbol()));
                Type::None
            }
        }
    }

    fn args_field(&mut self, span: Span, field: &str) -> Type {
        match &self.target.context {
            Context::Tracepoint { fields, user_pointers } => match fields.iter().find(|f| f.name == field) {
                Some(f) => field_type(f, *user_pointers, self.opts.strlen),
                None => {
                    let msg = format!("Can't find field '{field}' in tracepoint {}", self.target.name);
                    self.error(span, msg);
                    Type::None
                }
            },
            Context::RawArgs => {
                let event = self.target.parts.last().cloned().unwrap_or_default();
                match crate::ktypes::raw_tracepoint_args(&event) {
                    Some(args) => match args.into_iter().find(|(n, _)| n == field) {
                        Some((_, t)) => t,
                        None => {
                            self.error(span, format!("Can't find argument '{field}' of {}", self.target.name));
                            Type::None
                        }
                    },
                    None => {
                        self.error(
                            span,
                            format!("the kernel's BTF does not describe the arguments of {}", self.target.name),
                        );
                        Type::None
                    }
                }
            }
            Context::Func(f) => match f.arg(field) {
                Some(a) => a.ty.clone(),
                None => {
                    self.error(span, format!("Can't find function parameter {field}"));
                    Type::None
                }
            },
            _ => Type::None,
        }
    }

    /// A written type name to a type (integer types, `string`, `bool`, pointers to those; other
    /// pointers are u64 until kernel types arrive).
    pub fn resolve_type(&mut self, tn: &TypeName) -> Option<Type> {
        if tn.pointers > 0 {
            let base = primitive_type(&tn.base).or_else(|| self.kernel_type(&tn.base));
            let Some(mut t) = base else { return Some(U64) };
            for _ in 0..tn.pointers {
                t = Type::Ptr { space: crate::types::AddrSpace::Kernel, pointee: Box::new(t) };
            }
            return Some(t);
        }
        let t = match tn.base.as_str() {
            "string" => Type::Str(self.opts.strlen),
            other if other.starts_with("enum ") => match self.cdefs.enums.get(other[5..].trim()) {
                Some(def) => Type::Enum(def.clone()),
                None => {
                    self.error(tn.span, format!("Unknown type: {other}"));
                    return None;
                }
            },
            "void" => {
                self.error(tn.span, "Unknown type: void");
                return None;
            }
            other => match primitive_type(other).or_else(|| self.kernel_type(other)) {
                Some(t) => t,
                None => {
                    self.error(tn.span, format!("Unknown type: {other}"));
                    return None;
                }
            },
        };
        Some(match tn.array {
            Some(n) => Type::Array { elem: Box::new(t), len: n as u32 },
            None => t,
        })
    }
}

impl Sema<'_> {
    /// A kernel type by its C name (`struct task_struct`, `pid_t`), from BTF.
    fn kernel_type(&mut self, name: &str) -> Option<Type> {
        crate::ktypes::lookup(name).map(crate::ktypes::type_of)
    }

    /// `p->f` / `s.f` on a kernel struct (through a pointer or by value).
    fn struct_field(&mut self, span: Span, base: &Type, field: &str) -> Option<Type> {
        let (name, id) = match base {
            Type::Ptr { pointee, .. } => match &**pointee {
                Type::Struct { name, id, .. } => (name, *id),
                _ => return None,
            },
            Type::Struct { name, id, .. } => (name, *id),
            _ => return None,
        };
        match crate::ktypes::field(id, field) {
            Some(f) => Some(f.ty),
            None => {
                self.error(span, format!("Struct/union of type '{name}' does not contain a field named '{field}'"));
                Some(Type::None)
            }
        }
    }
}

/// The integer and bool types by their C and bpftrace names (`void` only as a pointee).
fn primitive_type(base: &str) -> Option<Type> {
    Some(match base {
        "bool" => Type::Bool,
        "int8" | "s8" | "char" | "__s8" | "void" => Type::Int { bytes: 1, signed: true },
        "uint8" | "u8" | "unsigned char" | "__u8" => Type::Int { bytes: 1, signed: false },
        "int16" | "s16" | "short" | "__s16" => Type::Int { bytes: 2, signed: true },
        "uint16" | "u16" | "unsigned short" | "__u16" => Type::Int { bytes: 2, signed: false },
        "int32" | "s32" | "int" | "__s32" => Type::Int { bytes: 4, signed: true },
        "uint32" | "u32" | "unsigned int" | "unsigned" | "__u32" => Type::Int { bytes: 4, signed: false },
        "int64" | "s64" | "long" | "long long" | "__s64" | "ssize_t" => I64,
        "uint64" | "u64" | "unsigned long" | "unsigned long long" | "__u64" | "size_t" => U64,
        _ => return None,
    })
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

/// The type a tracepoint field reads as.
pub fn field_type(f: &crate::probe::TpField, user_pointers: bool, strlen: u32) -> Type {
    let ct = f.c_type.trim();
    if f.data_loc {
        return Type::Str(strlen);
    }
    if let Some(n) = f.array_len {
        if ct.starts_with("char") || ct.starts_with("unsigned char") || ct.starts_with("u8") {
            return Type::Str(n);
        }
        let elem = Type::Int { bytes: (f.size / n.max(1)).clamp(1, 8) as u8, signed: f.signed };
        return Type::Array { elem: Box::new(elem), len: n };
    }
    if ct.contains('*') {
        let space = if user_pointers && !ct.split_whitespace().any(|w| w == "__kernel") {
            crate::types::AddrSpace::User
        } else {
            crate::types::AddrSpace::Kernel
        };
        // `struct timespec *`: typed through the kernel's BTF, so `args.p->field` works.
        let base = ct.replace("const ", "").replace('*', "");
        let base = base.trim();
        if ct.matches('*').count() == 1 && (base.starts_with("struct ") || base.starts_with("union ")) {
            if let Some(id) = crate::ktypes::lookup(base) {
                return Type::Ptr { space, pointee: Box::new(crate::ktypes::type_of(id)) };
            }
        }
        let pointee = if ct.contains("char") && !ct.contains("char *const") && ct.matches('*').count() == 1 {
            Type::Int { bytes: 1, signed: true }
        } else if ct.matches('*').count() >= 2 || ct.contains("*const") {
            // `const char *const * argv`: pointer to pointers
            Type::Ptr { space, pointee: Box::new(Type::Int { bytes: 1, signed: true }) }
        } else {
            U64
        };
        return Type::Ptr { space, pointee: Box::new(pointee) };
    }
    Type::Int { bytes: f.size.clamp(1, 8) as u8, signed: f.signed }
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
