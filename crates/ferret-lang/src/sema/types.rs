//! Sema's view of written and kernel types: type names (`uint8`, `struct task_struct *`,
//! typedefs from BTF), struct members, probe `args` fields.
use super::*;

impl Sema<'_> {
    pub(super) fn args_field(&mut self, span: Span, field: &str) -> Type {
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
            _ if self.target.kind.user_debug.is_some_and(|d| d.params.is_some()) => {
                let params = self.target.kind.user_debug.and_then(|d| d.params).map(|f| f(self.target));
                let params = match params.unwrap_or_else(|| Ok(vec![])) {
                    Ok(p) => p,
                    Err(m) => {
                        self.error(span, m);
                        return Type::None;
                    }
                };
                match params.into_iter().find(|p| p.name == field) {
                    Some(p) => match p.reg {
                        Ok(_) => p.ty,
                        Err(why) => {
                            self.error(span, format!("Can't read function parameter {field}: {why}"));
                            Type::None
                        }
                    },
                    None => {
                        self.error(span, format!("Can't find function parameter {field}"));
                        Type::None
                    }
                }
            }
            _ => Type::None,
        }
    }

    /// A written type name to a type (integer types, `string`, `bool`, pointers to those; other
    /// pointers are u64 until kernel types arrive).
    pub fn resolve_type(&mut self, tn: &TypeName) -> Option<Type> {
        if let Some(of) = &tn.of {
            let t = self.typeof_expr(of)?;
            return Some(self.apply_suffix(t, tn.pointers, tn.array));
        }
        if tn.pointers > 0 {
            let base = primitive_type(&tn.base).or_else(|| self.kernel_type(&tn.base));
            let Some(t) = base else { return Some(U64) };
            return Some(self.apply_suffix(t, tn.pointers, tn.array));
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
    /// The type `typeof(e)` names: a nested `typeof` (a macro argument), a type name the parser
    /// could not tell from an identifier (`typeof(size_t)`), or the expression's type.
    fn typeof_expr(&mut self, e: &Expr) -> Option<Type> {
        match &e.kind {
            ExprKind::Typeof(inner) => self.resolve_type(inner),
            ExprKind::Ident(name) if builtin::find(name).is_none() && !self.cdefs.constants.contains_key(name) => {
                let tn = TypeName { base: name.clone(), pointers: 0, array: None, span: e.span, of: None };
                self.resolve_type(&tn)
            }
            _ => match self.check_expr(e) {
                Type::None => None,
                t => Some(t),
            },
        }
    }

    /// `T*...` then `[N]`: pointers into kernel memory, like other written pointer types.
    /// `T *…[N]`: pointers to `t` (into the traced process in uprobes and USDT probes, else the
    /// kernel), then an array of those.
    fn apply_suffix(&self, mut t: Type, pointers: u32, array: Option<u64>) -> Type {
        let space = self.target.context.default_space();
        for _ in 0..pointers {
            t = Type::Ptr { space, pointee: Box::new(t) };
        }
        match array {
            Some(n) => Type::Array { elem: Box::new(t), len: n as u32 },
            None => t,
        }
    }

    /// A kernel type by its C name (`struct task_struct`, `pid_t`), from BTF.
    pub(super) fn kernel_type(&mut self, name: &str) -> Option<Type> {
        crate::ktypes::lookup(name)
            .map(crate::ktypes::type_of)
            .or_else(|| self.target.kind.user_debug.and_then(|d| (d.named_struct)(self.target, name)))
    }

    /// `p->f` / `s.f` on a kernel struct (through a pointer or by value).
    pub(super) fn struct_field(&mut self, span: Span, base: &Type, field: &str) -> Option<Type> {
        let (name, id, user) = match base {
            Type::Ptr { pointee, space } => match &**pointee {
                Type::Struct { name, id, .. } => (name, *id, *space == crate::types::AddrSpace::User),
                _ => return None,
            },
            Type::Struct { name, id, .. } => (name, *id, false),
            _ => return None,
        };
        match crate::ktypes::field(id, field) {
            // A `char[n]` member reads as a string of n characters and its own NUL (it need not
            // hold one: `char s[5]` may hold "hello"), so it never looks truncated.
            Some(f) => Some(match f.ty {
                Type::Str(n) => Type::Str(n + 1),
                // Pointers stored in user memory point into user memory.
                t if user => in_user_space(t),
                t => t,
            }),
            None => {
                self.error(span, format!("Struct/union of type '{name}' does not contain a field named '{field}'"));
                Some(Type::None)
            }
        }
    }
}

/// `t` with its pointers (and arrays of pointers) pointing into user space.
fn in_user_space(t: Type) -> Type {
    match t {
        Type::Ptr { pointee, .. } => Type::Ptr { space: crate::types::AddrSpace::User, pointee },
        Type::Array { elem, len } => Type::Array { elem: Box::new(in_user_space(*elem)), len },
        t => t,
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
    // `enum skb_drop_reason reason`: the kernel's enum, so `%s` prints the enumerator's name.
    if let Some(name) = ct.strip_prefix("enum ") {
        if let Some(Type::Enum(def)) =
            crate::ktypes::lookup(&format!("enum {}", name.trim())).map(crate::ktypes::type_of)
        {
            return Type::Enum(def);
        }
    }
    Type::Int { bytes: f.size.clamp(1, 8) as u8, signed: f.signed }
}
