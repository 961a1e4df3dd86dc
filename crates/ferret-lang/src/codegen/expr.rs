//! Expressions: operators, casts, indexing, probe context fields, strings.
use super::*;

impl Gen<'_> {
    // ------------------------------------------------------------------ expressions

    pub fn expr(&mut self, e: &Expr) -> GenResult<Val> {
        let prev = self.tag(e.span);
        let r = self.expr_inner(e);
        self.asm.tag = prev;
        r
    }

    fn expr_inner(&mut self, e: &Expr) -> GenResult<Val> {
        match &e.kind {
            ExprKind::Int(n) => Ok(Val::Imm(*n as i64)),
            ExprKind::Bool(b) => Ok(Val::Imm(*b as i64)),
            ExprKind::Str(s) => Ok(self.string_lit(s.as_bytes(), s.len() as u32 + 1)),
            ExprKind::Positional(n) => {
                let v = self.opts.positional.get(*n as usize - 1).cloned().unwrap_or_default();
                match parse_int_literal(&v) {
                    Some(i) => Ok(Val::Imm(i)),
                    None if v.is_empty() => Ok(Val::Imm(0)),
                    None => Ok(self.string_lit(v.as_bytes(), v.len() as u32 + 1)),
                }
            }
            ExprKind::PositionalCount => Ok(Val::Imm(self.opts.positional.len() as i64)),
            ExprKind::Var(name) => {
                let (off, t) = self
                    .vars
                    .get(name)
                    .cloned()
                    .ok_or_else(|| Diagnostic::error(e.span, format!("Undefined variable ${name}")))?;
                if t.is_aggregate_value() {
                    return Ok(Val::Mem(off));
                }
                // A snapshot, not the variable's own slot: a later side effect in the same
                // expression (`$a + inc($a)`) must not change a value already read.
                self.asm.ldx(8, R0, R10, off);
                Ok(self.spill(R0))
            }
            ExprKind::Map(_) | ExprKind::MapElem { .. } => self.map_read(e),
            ExprKind::Ident(name) if builtin::find(name).is_none() => match self.ty(e) {
                Type::Enum(def) => {
                    let v = def.variants.iter().find(|(n, _)| n == name).map_or(0, |(_, v)| *v);
                    Ok(Val::Imm(v as i64))
                }
                _ => match self.cdefs.define(name) {
                    Some(v) => Ok(Val::Imm(v)),
                    None => Err(Diagnostic::error(e.span, format!("Unknown identifier: '{name}'"))),
                },
            },
            ExprKind::Ident(name) => {
                let b = builtin::find(name)
                    .ok_or_else(|| Diagnostic::error(e.span, format!("Unknown identifier: '{name}'")))?;
                (b.lower)(self, &CallSite { name, args: &[], span: e.span, expr: e })
            }
            ExprKind::Call { name, args } => {
                let b = builtin::find(name)
                    .ok_or_else(|| Diagnostic::error(e.span, format!("Unknown function: '{name}'")))?;
                (b.lower)(self, &CallSite { name, args, span: e.span, expr: e })
            }
            ExprKind::Unary { op, expr } => self.unary(e, *op, expr),
            ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs),
            ExprKind::Ternary { cond, then, otherwise } => {
                let t = self.ty(e);
                let c = self.expr(cond)?;
                let (l_else, l_end) = (self.asm.new_label(), self.asm.new_label());
                let out =
                    if t.is_aggregate_value() { Val::Mem(self.alloc(t.size())) } else { Val::Slot(self.new_slot()) };
                let out_off = self.addr_of(out);
                self.load(R1, c);
                self.asm.jmp_imm(Cond::Eq, R1, 0, l_else);
                let a = self.expr(then)?;
                let at = self.ty(then);
                self.store_val(out_off, &t, a, &at);
                self.asm.ja(l_end);
                self.asm.bind(l_else);
                let b = self.expr(otherwise)?;
                let bt = self.ty(otherwise);
                self.store_val(out_off, &t, b, &bt);
                self.asm.bind(l_end);
                Ok(out)
            }
            ExprKind::Field { expr, field, .. } if crate::sema::is_debug_args(self.target, expr) => {
                self.args_field(e, field)
            }
            ExprKind::Field { expr, field, .. } => {
                let base_t = self.ty(expr);
                match base_t {
                    Type::Args => self.args_field(e, field),
                    Type::Tuple(ts) => {
                        let base = self.expr(expr)?;
                        let i: usize = field.parse().unwrap_or(0);
                        let (offs, _) = tuple_layout(&ts);
                        let Val::Mem(off) = base else { return Ok(Val::Imm(0)) };
                        Ok(self.member_read(off + offs[i] as i16, &ts[i]))
                    }
                    Type::Record(fs) => {
                        let base = self.expr(expr)?;
                        let i = fs.iter().position(|(n, _)| n == field).unwrap_or(0);
                        let (offs, _) = tuple_layout(&record_types(&fs));
                        let Val::Mem(off) = base else { return Ok(Val::Imm(0)) };
                        Ok(self.member_read(off + offs[i] as i16, &fs[i].1))
                    }
                    Type::Ptr { .. } | Type::Struct { .. } => self.struct_member(e, expr, field),
                    _ => Err(Diagnostic::error(e.span, format!("Can not access field '{field}'"))),
                }
            }
            ExprKind::Index { expr, index } => self.index(e, expr, index),
            ExprKind::Cast { expr, .. } => {
                let v = self.expr(expr)?;
                let t = self.ty(e);
                if let Type::Array { .. } = t {
                    let from = self.ty(expr);
                    return Ok(self.cast_to_array(v, &from, &t));
                }
                if let (Type::Array { .. }, Type::Int { bytes, signed }, Val::Mem(off)) = (self.ty(expr), &t, v) {
                    // The array's bytes as one integer (its storage is 8-byte aligned).
                    self.asm.ldx(*bytes as u32, R0, R10, off);
                    self.extend(R0, *bytes, *signed);
                    return Ok(self.spill(R0));
                }
                Ok(self.cast(v, &t))
            }
            ExprKind::Tuple(items) => {
                let t = self.ty(e);
                let Type::Tuple(ts) = &t else { return Ok(Val::None) };
                let (offs, size) = tuple_layout(ts);
                let base = self.alloc(size);
                self.zero(base, size);
                for ((item, it), o) in items.iter().zip(ts).zip(offs) {
                    let v = self.expr(item)?;
                    self.store_member(base + o as i16, it, v, it);
                }
                Ok(Val::Mem(base))
            }
            ExprKind::Record(fields) => {
                // Evaluated in source order, stored in the record type's field order.
                let t = self.ty(e);
                let Type::Record(fs) = &t else { return Ok(Val::None) };
                let (offs, size) = tuple_layout(&record_types(fs));
                let base = self.alloc(size);
                self.zero(base, size);
                for (name, item) in fields {
                    let i = fs.iter().position(|(n, _)| n == name).unwrap_or(0);
                    let v = self.expr(item)?;
                    let it = self.ty(item);
                    self.store_member(base + offs[i] as i16, &fs[i].1, v, &it);
                }
                Ok(Val::Mem(base))
            }
            ExprKind::Sizeof(arg) => {
                let t = match arg {
                    SizeofArg::Expr(x) => self.ty(x),
                    SizeofArg::Type(tn) => self.types.get(&crate::sema::key_of_type(tn)).cloned().unwrap_or(I64),
                };
                let n = match t {
                    Type::Int { bytes, .. } => bytes as u32,
                    Type::Bool => 1,
                    // A `char[n]` member is a string[n+1] value (its NUL added): C's size is n.
                    Type::Str(n) if matches!(arg, SizeofArg::Expr(x) if self.is_struct_member(x)) => n - 1,
                    other => other.size(),
                };
                Ok(Val::Imm(n as i64))
            }
            ExprKind::BlockExpr { stmts, value } => {
                for s in stmts {
                    self.stmt(s)?;
                }
                self.expr(value)
            }
            ExprKind::Offsetof { ty, fields } => {
                let Some(Type::Struct { id, .. }) = self.types.get(&crate::sema::key_of_type(ty)).cloned() else {
                    return Err(Diagnostic::error(e.span, "offsetof() of an unknown type"));
                };
                let off = crate::ktypes::offset_of(id, fields).map_err(|m| Diagnostic::error(e.span, m))?;
                Ok(Val::Imm(off as i64))
            }
            ExprKind::Typeof(_) => Err(Diagnostic::error(e.span, "typeof() names a type and has no value")),
        }
    }

    fn unary(&mut self, e: &Expr, op: UnOp, inner: &Expr) -> GenResult<Val> {
        match op {
            UnOp::Not => {
                let v = self.expr(inner)?;
                self.load(R1, v);
                let l = self.asm.new_label();
                self.asm.mov64_imm(R0, 1);
                self.asm.jmp_imm(Cond::Eq, R1, 0, l);
                self.asm.mov64_imm(R0, 0);
                self.asm.bind(l);
                Ok(self.spill(R0))
            }
            UnOp::Neg => {
                let v = self.expr(inner)?;
                if let Val::Imm(i) = v {
                    return Ok(Val::Imm(i.wrapping_neg()));
                }
                self.load(R0, v);
                self.asm.neg64(R0);
                Ok(self.spill(R0))
            }
            UnOp::BitNot => {
                let v = self.expr(inner)?;
                self.load(R0, v);
                self.asm.alu64_imm(BPF_XOR, R0, -1);
                let t = self.ty(e);
                let r = self.spill(R0);
                Ok(self.cast(r, &t))
            }
            UnOp::PreInc | UnOp::PreDec | UnOp::PostInc | UnOp::PostDec => {
                let step = self.ty(inner).ptr_step().unwrap_or(1) as i32;
                let delta = if matches!(op, UnOp::PreInc | UnOp::PostInc) { step } else { -step };
                let old = self.expr(inner)?;
                self.load(R1, old);
                let before = self.spill(R1);
                self.asm.alu64_imm(BPF_ADD, R1, delta);
                let t = self.ty(inner);
                // A narrower integer wraps at its own width (`(uint8)255` + 1 is 0).
                if let Type::Int { bytes, signed } = t {
                    self.extend(R1, bytes, signed);
                }
                let after = self.spill(R1);
                match &inner.kind {
                    ExprKind::Var(name) => {
                        let (off, vt) = self
                            .vars
                            .get(name)
                            .cloned()
                            .ok_or_else(|| Diagnostic::error(e.span, "unknown variable"))?;
                        self.store_val(off, &vt, after, &t);
                    }
                    _ => self.map_store(inner, after, &t)?,
                }
                Ok(if matches!(op, UnOp::PostInc | UnOp::PostDec) { before } else { after })
            }
            UnOp::Deref => self.deref(e, inner),
            UnOp::AddrOf => {
                let ExprKind::Var(name) = &inner.kind else {
                    return Err(Diagnostic::error(e.span, "& can only take the address of a variable"));
                };
                let (off, _) =
                    self.vars.get(name).cloned().ok_or_else(|| Diagnostic::error(e.span, "unknown variable"))?;
                self.asm.mov64(R0, R10);
                self.asm.alu64_imm(BPF_ADD, R0, off as i32);
                Ok(self.spill(R0))
            }
        }
    }

    fn binary(&mut self, op: BinOp, lhs: &Expr, rhs: &Expr) -> GenResult<Val> {
        use BinOp::*;
        let (lt, rt) = (self.ty(lhs), self.ty(rhs));
        if matches!(op, LogAnd | LogOr) {
            let out = self.new_slot();
            let (short, end) = (self.asm.new_label(), self.asm.new_label());
            let a = self.expr(lhs)?;
            self.load(R1, a);
            self.asm.jmp_imm(if op == LogAnd { Cond::Eq } else { Cond::Ne }, R1, 0, short);
            let b = self.expr(rhs)?;
            self.load(R1, b);
            self.asm.mov64_imm(R0, 1);
            let t = self.asm.new_label();
            self.asm.jmp_imm(Cond::Ne, R1, 0, t);
            self.asm.mov64_imm(R0, 0);
            self.asm.bind(t);
            self.asm.stx(8, R10, out, R0);
            self.asm.ja(end);
            self.asm.bind(short);
            self.asm.st_imm(8, R10, out, (op == LogOr) as i32);
            self.asm.bind(end);
            return Ok(Val::Slot(out));
        }
        let a = self.expr(lhs)?;
        let b = self.expr(rhs)?;
        if lt.is_str() && rt.is_str() {
            return Ok(self.str_compare(op == Ne, a, &lt, b, &rt, rhs, lhs));
        }
        if let (Type::Array { .. }, Type::Array { .. }, Val::Mem(ao), Val::Mem(bo)) = (&lt, &rt, a, b) {
            if matches!(op, Eq | Ne) {
                return Ok(self.bytes_compare(op == Ne, ao, bo, lt.size().min(rt.size())));
            }
        }
        if let (Type::Buffer(_), Type::Buffer(_), Val::Mem(ao), Val::Mem(bo)) = (&lt, &rt, a, b) {
            // Equal lengths (the header) and equal bytes; bytes past the length are zero.
            let n = lt.size().min(rt.size());
            return Ok(self.bytes_compare(op == Ne, ao, bo, n));
        }
        let signed = lt.is_signed() && (rt.is_signed() || matches!(b, Val::Imm(i) if i >= 0))
            || rt.is_signed() && matches!(a, Val::Imm(i) if i >= 0);
        if let Some(c) = cmp_cond(op, signed) {
            self.load(R1, a);
            self.load(R2, b);
            let l = self.asm.new_label();
            self.asm.mov64_imm(R0, 1);
            self.asm.jmp_reg(c, R1, R2, l);
            self.asm.mov64_imm(R0, 0);
            self.asm.bind(l);
            return Ok(self.spill(R0));
        }
        // A right shift is arithmetic when its left operand is signed, whatever the count's type.
        let signed = if op == Shr { lt.is_signed() } else { lt.is_signed() || rt.is_signed() };
        let (a, b) = match op {
            Add | Sub => (self.ptr_scaled(a, &rt, &lt), self.ptr_scaled(b, &lt, &rt)),
            _ => (a, b),
        };
        Ok(self.arith(op, a, b, signed))
    }

    /// Pointer arithmetic: an integer `v` (of type `vt`) added to or subtracted from a pointer of
    /// type `ptr` moves in steps of the pointee's size.
    pub fn ptr_scaled(&mut self, v: Val, ptr: &Type, vt: &Type) -> Val {
        match ptr.ptr_step() {
            Some(step) if step > 1 && vt.ptr_step().is_none() => {
                self.arith(BinOp::Mul, v, Val::Imm(step as i64), false)
            }
            _ => v,
        }
    }

    /// `a op b` on 64-bit integers.
    pub fn arith(&mut self, op: BinOp, a: Val, b: Val, signed: bool) -> Val {
        use BinOp::*;
        if let (Val::Imm(x), Val::Imm(y)) = (a, b) {
            if let Some(v) = fold(op, x, y, signed) {
                return Val::Imm(v);
            }
        }
        if matches!(op, Div | Mod) && !matches!(b, Val::Imm(y) if y != 0) {
            return self.checked_divmod(op, a, b, signed);
        }
        self.load(R0, a);
        self.load(R1, b);
        let code = match op {
            Add => BPF_ADD,
            Sub => BPF_SUB,
            Mul => BPF_MUL,
            Div => BPF_DIV,
            Mod => BPF_MOD,
            BitAnd => BPF_AND,
            BitOr => BPF_OR,
            BitXor => BPF_XOR,
            Shl => BPF_LSH,
            Shr => {
                if signed {
                    BPF_ARSH
                } else {
                    BPF_RSH
                }
            }
            _ => BPF_ADD,
        };
        if signed && matches!(op, Div | Mod) {
            self.signed_divmod(op == Div);
        } else {
            self.asm.alu64(code, R0, R1);
        }
        self.spill(R0)
    }

    /// Whether `e` is a member of a kernel or script struct (`p->f`, `s.f`).
    fn is_struct_member(&self, e: &Expr) -> bool {
        let ExprKind::Field { expr, .. } = &e.kind else { return false };
        match self.ty(expr) {
            Type::Struct { .. } => true,
            Type::Ptr { pointee, .. } => matches!(*pointee, Type::Struct { .. }),
            _ => false,
        }
    }

    /// Element `i` (known only at run time) of the scalar array at stack offset `off`: checked
    /// against the length, and an index past the end reads 0 with bpftrace's warning.
    fn array_element_at(&mut self, off: i16, elem: &Type, len: u32, i: Val) -> Val {
        let esz = elem.elem_size().clamp(1, 8);
        let out = self.new_slot();
        let (inside, done) = (self.asm.new_label(), self.asm.new_label());
        self.load(R1, i);
        self.asm.jmp_imm(Cond::Lt, R1, len as i32, inside);
        let span = self.spans[self.asm.tag as usize];
        let format = "Array access out of bounds. This can lead to unexpected results.".to_string();
        self.emit_event(Action::Report { error: false, format, args: vec![], span }, &[], false);
        self.asm.st_imm(8, R10, out, 0);
        self.asm.ja(done);
        self.asm.bind(inside);
        self.load(R1, i);
        self.asm.alu64_imm(BPF_MUL, R1, esz as i32);
        self.asm.mov64(R2, R10);
        self.asm.alu64_imm(BPF_ADD, R2, off as i32);
        self.asm.alu64(BPF_ADD, R2, R1);
        self.asm.ldx(esz, R0, R2, 0);
        if let Type::Int { bytes, signed: true } = *elem {
            self.extend(R0, bytes, true);
        }
        self.asm.stx(8, R10, out, R0);
        self.asm.bind(done);
        Val::Slot(out)
    }

    /// `a / b` or `a % b` with a divisor that may be 0: as in bpftrace, the result is then 1 and
    /// a warning is reported at the expression (BPF itself would quietly give 0 or `a`).
    fn checked_divmod(&mut self, op: BinOp, a: Val, b: Val, signed: bool) -> Val {
        let out = self.new_slot();
        let (nonzero, done) = (self.asm.new_label(), self.asm.new_label());
        self.load(R1, b);
        self.asm.jmp_imm(Cond::Ne, R1, 0, nonzero);
        let span = self.spans[self.asm.tag as usize];
        let format =
            "Divide or modulo by 0 detected. This can lead to unexpected results. 1 is being used as the result."
                .to_string();
        self.emit_event(Action::Report { error: false, format, args: vec![], span }, &[], false);
        self.asm.st_imm(8, R10, out, 1);
        self.asm.ja(done);
        self.asm.bind(nonzero);
        self.load(R0, a);
        self.load(R1, b);
        if signed {
            self.signed_divmod(op == BinOp::Div);
        } else {
            self.asm.alu64(if op == BinOp::Div { BPF_DIV } else { BPF_MOD }, R0, R1);
        }
        self.asm.stx(8, R10, out, R0);
        self.asm.bind(done);
        Val::Slot(out)
    }

    /// R0 = R0 s/ R1 or R0 s% R1, without the v4 signed instructions: divide magnitudes, fix signs.
    pub(super) fn signed_divmod(&mut self, div: bool) {
        // r2 = sign flag of the result
        let (a_pos, b_pos, done) = (self.asm.new_label(), self.asm.new_label(), self.asm.new_label());
        self.asm.mov64_imm(R2, 0);
        self.asm.jmp_imm(Cond::SGe, R0, 0, a_pos);
        self.asm.neg64(R0);
        self.asm.mov64_imm(R2, 1);
        self.asm.bind(a_pos);
        self.asm.jmp_imm(Cond::SGe, R1, 0, b_pos);
        self.asm.neg64(R1);
        if div {
            self.asm.alu64_imm(BPF_XOR, R2, 1);
        }
        self.asm.bind(b_pos);
        self.asm.alu64(if div { BPF_DIV } else { BPF_MOD }, R0, R1);
        self.asm.jmp_imm(Cond::Eq, R2, 0, done);
        self.asm.neg64(R0);
        self.asm.bind(done);
    }

    /// Truncate or sign-extend a scalar to a cast's type.
    pub fn cast(&mut self, v: Val, t: &Type) -> Val {
        let (bytes, signed) = match t {
            Type::Int { bytes, signed } => (*bytes, *signed),
            Type::Bool => {
                self.load(R1, v);
                let l = self.asm.new_label();
                self.asm.mov64_imm(R0, 1);
                self.asm.jmp_imm(Cond::Ne, R1, 0, l);
                self.asm.mov64_imm(R0, 0);
                self.asm.bind(l);
                return self.spill(R0);
            }
            _ => return v,
        };
        if bytes >= 8 {
            return v;
        }
        if let Val::Imm(i) = v {
            let sh = 64 - bytes as u32 * 8;
            return Val::Imm(if signed { (i << sh) >> sh } else { ((i as u64) << sh >> sh) as i64 });
        }
        self.load(R0, v);
        self.extend(R0, bytes, signed);
        self.spill(R0)
    }

    /// Zero- or sign-extend the low `bytes` of `r` to 64 bits.
    pub fn extend(&mut self, r: Reg, bytes: u8, signed: bool) {
        if bytes >= 8 {
            return;
        }
        let sh = 64 - bytes as i32 * 8;
        self.asm.alu64_imm(BPF_LSH, r, sh);
        self.asm.alu64_imm(if signed { BPF_ARSH } else { BPF_RSH }, r, sh);
    }

    fn index(&mut self, e: &Expr, base: &Expr, index: &Expr) -> GenResult<Val> {
        let bt = self.ty(base);
        match bt {
            Type::Tuple(ts) => {
                let b = self.expr(base)?;
                let i = const_int(index).unwrap_or(0) as usize;
                let (offs, _) = tuple_layout(&ts);
                let Val::Mem(off) = b else { return Ok(Val::Imm(0)) };
                Ok(self.member_read(off + offs[i] as i16, &ts[i]))
            }
            Type::Ptr { space, pointee } => {
                // p[i]: read element i through the pointer.
                let p = self.expr(base)?;
                let i = self.expr(index)?;
                let size = match *pointee {
                    Type::Int { bytes, .. } => bytes as u32,
                    _ => 8,
                };
                self.load(R3, p);
                self.load(R1, i);
                self.asm.alu64_imm(BPF_MUL, R1, size as i32);
                self.asm.alu64(BPF_ADD, R3, R1);
                let out = self.new_slot();
                self.asm.st_imm(8, R10, out, 0);
                self.asm.mov64(R1, R10);
                self.asm.alu64_imm(BPF_ADD, R1, out as i32);
                self.asm.mov64_imm(R2, size as i32);
                self.asm.call(read_helper(space));
                let t = self.ty(e);
                if let Type::Int { bytes, signed } = t {
                    if signed && bytes < 8 {
                        self.asm.ldx(8, R0, R10, out);
                        self.extend(R0, bytes, true);
                        return Ok(self.spill(R0));
                    }
                }
                Ok(Val::Slot(out))
            }
            Type::Str(n) => {
                let Val::Mem(off) = self.expr(base)? else { return Ok(Val::Imm(0)) };
                let i = self.expr(index)?;
                self.str_byte(off, n, i)
            }
            // A flexible array member (`int y[0];`, `y[]`) of a struct in memory: its elements
            // lie past the struct, read one by one at any index.
            Type::Array { elem, len: 0 }
                if !elem.is_aggregate_value() && matches!(base.kind, ExprKind::Field { .. }) =>
            {
                let ExprKind::Field { expr: parent, field, .. } = &base.kind else { return Ok(Val::Imm(0)) };
                let (addr, space, _) = self.member_place(parent, field, e.span)?;
                let i = self.expr(index)?;
                let esz = elem.elem_size().max(1);
                let offset = self.arith(BinOp::Mul, i, Val::Imm(esz as i64), false);
                let at = self.arith(BinOp::Add, addr, offset, false);
                Ok(self.read_typed(at, space, &elem))
            }
            Type::Array { elem, len } => {
                let b = self.expr(base)?;
                let Val::Mem(off) = b else { return Ok(Val::Imm(0)) };
                let esz = elem.elem_size().max(1);
                match const_int(index) {
                    Some(i) if (0..len as i64).contains(&i) && elem.is_aggregate_value() => {
                        Ok(Val::Mem(off + (i as u32 * esz) as i16))
                    }
                    Some(i) if (0..len as i64).contains(&i) => {
                        let at = off + (i as u32 * esz) as i16;
                        self.asm.ldx(esz.min(8), R0, R10, at);
                        if let Type::Int { bytes, signed: true } = *elem {
                            self.extend(R0, bytes, true);
                        }
                        Ok(self.spill(R0))
                    }
                    Some(i) => Err(Diagnostic::error(
                        index.span,
                        format!("the index {i} is out of bounds for array of size {len}"),
                    )),
                    None if esz <= 8 && !elem.is_aggregate_value() => {
                        let i = self.expr(index)?;
                        Ok(self.array_element_at(off, &elem, len, i))
                    }
                    None => Err(Diagnostic::error(index.span, "an array of aggregates needs a constant index")),
                }
            }
            _ => Err(Diagnostic::error(e.span, "cannot index this value")),
        }
    }

    /// `(int8[N])x`: the bytes of an integer (at its C width) or of a string, as an array.
    fn cast_to_array(&mut self, v: Val, from: &Type, to: &Type) -> Val {
        if from.is_str() {
            return v;
        }
        let size = to.size();
        let out = self.alloc(size.max(8));
        self.zero(out, size.max(8));
        self.load(R1, v);
        let width = match from {
            Type::Int { bytes, .. } => (*bytes as u32).min(size),
            _ => size.min(8),
        };
        self.asm.stx(width, R10, out, R1);
        Val::Mem(out)
    }

    /// Byte `i` of the `n`-byte string at `off` as a signed char; 0 past the end.
    fn str_byte(&mut self, off: i16, n: u32, i: Val) -> GenResult<Val> {
        if let Val::Imm(i) = i {
            if i < 0 || i as u64 >= n as u64 {
                return Ok(Val::Imm(0));
            }
            self.asm.ldx(1, R0, R10, off + i as i16);
        } else {
            // A bounded variable offset into the stack, which the verifier accepts.
            let out = self.asm.new_label();
            self.load(R1, i);
            self.asm.mov64_imm(R0, 0);
            self.asm.jmp_imm(Cond::Ge, R1, n as i32, out);
            self.asm.mov64(R2, R10);
            self.asm.alu64_imm(BPF_ADD, R2, off as i32);
            self.asm.alu64(BPF_ADD, R2, R1);
            self.asm.ldx(1, R0, R2, 0);
            self.asm.bind(out);
        }
        self.extend(R0, 1, true);
        Ok(self.spill(R0))
    }
}

pub fn read_helper(space: crate::types::AddrSpace) -> u32 {
    match space {
        crate::types::AddrSpace::User => helpers::PROBE_READ_USER,
        crate::types::AddrSpace::Kernel => helpers::PROBE_READ_KERNEL,
    }
}

pub fn read_str_helper(space: crate::types::AddrSpace) -> u32 {
    match space {
        crate::types::AddrSpace::User => helpers::PROBE_READ_USER_STR,
        crate::types::AddrSpace::Kernel => helpers::PROBE_READ_KERNEL_STR,
    }
}

fn cmp_cond(op: BinOp, signed: bool) -> Option<Cond> {
    use BinOp::*;
    Some(match (op, signed) {
        (Eq, _) => Cond::Eq,
        (Ne, _) => Cond::Ne,
        (Lt, false) => Cond::Lt,
        (Le, false) => Cond::Le,
        (Gt, false) => Cond::Gt,
        (Ge, false) => Cond::Ge,
        (Lt, true) => Cond::SLt,
        (Le, true) => Cond::SLe,
        (Gt, true) => Cond::SGt,
        (Ge, true) => Cond::SGe,
        _ => return None,
    })
}

fn fold(op: BinOp, x: i64, y: i64, signed: bool) -> Option<i64> {
    use BinOp::*;
    Some(match op {
        Add => x.wrapping_add(y),
        Sub => x.wrapping_sub(y),
        Mul => x.wrapping_mul(y),
        Div | Mod if y == 0 => 1,
        Div if signed => x.wrapping_div(y),
        Div => ((x as u64) / (y as u64)) as i64,
        Mod if signed => x.wrapping_rem(y),
        Mod => ((x as u64) % (y as u64)) as i64,
        BitAnd => x & y,
        BitOr => x | y,
        BitXor => x ^ y,
        Shl => x.wrapping_shl(y as u32),
        Shr if signed => x.wrapping_shr(y as u32),
        Shr => ((x as u64).wrapping_shr(y as u32)) as i64,
        _ => return None,
    })
}
