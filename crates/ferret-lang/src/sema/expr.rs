//! Sema for expressions: the type of every expression form.
use super::*;

impl Sema<'_> {
    pub(super) fn expr_type(&mut self, e: &Expr) -> Type {
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
                        // An integer address reads a u64 there, as bpftrace allows
                        // (`$avenrun = kaddr("avenrun"); *$avenrun`).
                        Type::Int { .. } => crate::types::U64,
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
            ExprKind::Field { expr, field, .. } if is_debug_args(self.target, expr) => {
                // `args.NAME` reads one parameter: the others need not be readable.
                self.types.insert(key_of(expr), Type::Args);
                self.args_field(e.span, field)
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
                    // An integer array as wide as the integer reinterprets its bytes:
                    // `(uint32)pton("127.0.0.1")`.
                    Some(t @ Type::Int { bytes, .. }) if matches!(&from, Type::Array { .. }) => {
                        if from.size() != bytes as u32 {
                            self.error(e.span, format!("Cannot cast from '{from}' to '{t}'"));
                        }
                        t
                    }
                    // A pointer cast keeps the address space of the pointer it casts: a user
                    // pointer (`args.filename`) stays one.
                    Some(Type::Ptr { pointee, .. }) if matches!(from, Type::Ptr { .. }) => {
                        let Type::Ptr { space, .. } = from else { unreachable!("matched above") };
                        Type::Ptr { space, pointee }
                    }
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
            // A type passed where a value goes (a macro argument used as a type): its type.
            ExprKind::Typeof(ty) => self.resolve_type(ty).unwrap_or(Type::None),
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
            Eq | Ne if matches!((a, b), (Type::Buffer(_), Type::Buffer(_))) => Type::Bool,
            // Arrays of one element type compare element by element (their bytes).
            Eq | Ne if matches!((a, b), (Type::Array { elem: x, len: n }, Type::Array { elem: y, len: m }) if x == y && n == m) => {
                Type::Bool
            }
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
}

/// Whether `e` is the `args` builtin of a probe type that types it from debug info, whose
/// fields are read one by one while the whole value is a record (see
/// [`crate::probe::UserDebug`]).
pub(crate) fn is_debug_args(target: &crate::probe::Target, e: &Expr) -> bool {
    matches!(&e.kind, ExprKind::Ident(n) if n == "args") && target.kind.user_debug.is_some_and(|d| d.record.is_some())
}
