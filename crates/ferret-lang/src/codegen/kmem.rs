//! Reading kernel (or user) memory through typed pointers: `p->field` chains on BTF structs,
//! `*p`. A chain is walked as address arithmetic (`a->b.c->d` reads only the pointers it follows
//! and the final member), then the member is read with bpf_probe_read_{kernel,user}.
use super::*;
use crate::types::AddrSpace;

impl Gen<'_> {
    /// The address a struct-valued expression lives at, and its address space: a pointer's value,
    /// or a by-value member's place inside its parent.
    fn struct_place(&mut self, e: &Expr) -> GenResult<(Val, AddrSpace)> {
        match self.ty(e) {
            Type::Ptr { space, .. } => Ok((self.expr(e)?, space)),
            Type::Struct { .. } => match &e.kind {
                ExprKind::Field { expr, field, .. } => {
                    let (addr, space, _) = self.member_place(expr, field, e.span)?;
                    Ok((addr, space))
                }
                ExprKind::Unary { op: UnOp::Deref, expr } => {
                    // `(*p).f` reads where `p` points: user memory for a user pointer.
                    let space = match self.ty(expr) {
                        Type::Ptr { space, .. } => space,
                        _ => AddrSpace::Kernel,
                    };
                    Ok((self.expr(expr)?, space))
                }
                ExprKind::Index { expr: array, index } => {
                    // `p->w[2].a`: element 2 of an array of structs inside a struct in memory.
                    let ExprKind::Field { expr: parent, field, .. } = &array.kind else {
                        return Err(Diagnostic::error(e.span, "this struct value has no address to read members from"));
                    };
                    let Type::Array { elem, len } = self.ty(array) else {
                        return Err(Diagnostic::error(e.span, "not an array of structs"));
                    };
                    let i = match crate::types::const_int(index) {
                        Some(i) if (0..len as i64).contains(&i) => i,
                        Some(i) => {
                            return Err(Diagnostic::error(
                                index.span,
                                format!("the index {i} is out of bounds for array of size {len}"),
                            ))
                        }
                        None => {
                            return Err(Diagnostic::error(index.span, "an array of structs needs a constant index"))
                        }
                    };
                    let (addr, space, _) = self.member_place(parent, field, e.span)?;
                    let at = self.arith(BinOp::Add, addr, Val::Imm(i * elem.size() as i64), false);
                    Ok((at, space))
                }
                // A struct value held on the BPF stack (a map value, a variable, uprobe `args`):
                // its stack address, read like kernel memory.
                _ => match self.expr(e)? {
                    Val::Mem(off) => {
                        self.load(R0, Val::Mem(off));
                        Ok((self.spill(R0), AddrSpace::Kernel))
                    }
                    _ => Err(Diagnostic::error(e.span, "this struct value has no address to read members from")),
                },
            },
            other => Err(Diagnostic::error(e.span, format!("Can not access a field of type '{other}'"))),
        }
    }

    /// Address of member `field` of the struct `base` is or points to.
    pub(super) fn member_place(
        &mut self,
        base: &Expr,
        field: &str,
        span: Span,
    ) -> GenResult<(Val, AddrSpace, crate::ktypes::Field)> {
        let id = match self.ty(base) {
            Type::Ptr { pointee, .. } => match *pointee {
                Type::Struct { id, .. } => id,
                _ => return Err(Diagnostic::error(span, "not a struct pointer")),
            },
            Type::Struct { id, .. } => id,
            _ => return Err(Diagnostic::error(span, "not a struct")),
        };
        let f = crate::ktypes::field(id, field)
            .ok_or_else(|| Diagnostic::error(span, format!("no field named '{field}'")))?;
        let (addr, space) = self.struct_place(base)?;
        let at = self.arith(BinOp::Add, addr, Val::Imm(f.offset as i64), false);
        Ok((at, space, f))
    }

    /// `base->field` / `base.field` on a kernel struct.
    pub(super) fn struct_member(&mut self, e: &Expr, base: &Expr, field: &str) -> GenResult<Val> {
        let t = self.ty(e);
        self.check_struct_copy(e.span, &t)?;
        if let (Type::Struct { id, .. }, false) = (self.ty(base), self.in_memory(base)) {
            return self.stack_struct_member(e, base, id, field);
        }
        let (addr, space, f) = self.member_place(base, field, e.span)?;
        if let Some((shift, width)) = f.bitfield {
            let bytes = (shift + width).div_ceil(8).min(8);
            let v = self.read_scalar(addr, space, bytes, false);
            self.load(R0, v);
            if shift > 0 {
                self.asm.alu64_imm(BPF_RSH, R0, shift as i32);
            }
            if width < 64 {
                self.asm.load_imm(R1, (1u64 << width) - 1);
                self.asm.alu64(BPF_AND, R0, R1);
            }
            return Ok(self.spill(R0));
        }
        if let Type::Str(n) = f.ty {
            // `char[n]`: its n bytes as they are, then a NUL (the value is a string[n+1]).
            let out = self.alloc(n + 1);
            self.zero(out, n + 1);
            self.load(R3, addr);
            self.asm.mov64(R1, R10);
            self.asm.alu64_imm(BPF_ADD, R1, out as i32);
            self.asm.mov64_imm(R2, n as i32);
            self.asm.call(read_helper(space));
            return Ok(Val::Mem(out));
        }
        Ok(self.read_typed(addr, space, &t))
    }

    /// Whether a struct-valued expression names memory (a member reached through a pointer,
    /// `*p`) rather than a copy already on the BPF stack (a variable, a map value, or a member
    /// or element of one of those).
    fn in_memory(&self, e: &Expr) -> bool {
        match &e.kind {
            ExprKind::Unary { op: UnOp::Deref, .. } => true,
            ExprKind::Field { expr, .. } | ExprKind::Index { expr, .. } => {
                matches!(self.ty(expr), Type::Ptr { .. }) || self.in_memory(expr)
            }
            _ => false,
        }
    }

    /// `$s.m` where `$s` holds a copy of a struct: the member is read from the copy.
    fn stack_struct_member(&mut self, e: &Expr, base: &Expr, id: u32, field: &str) -> GenResult<Val> {
        let f = crate::ktypes::field(id, field)
            .ok_or_else(|| Diagnostic::error(e.span, format!("no field named '{field}'")))?;
        let Val::Mem(off) = self.expr(base)? else {
            return Err(Diagnostic::error(e.span, "this struct value has no address to read members from"));
        };
        let at = off + f.offset as i16;
        let t = self.ty(e);
        if let Type::Str(n) = f.ty {
            // A `char[n]` member as a string[n+1]: its bytes, then a NUL.
            let out = self.alloc(n + 1);
            self.zero(out, n + 1);
            self.copy_stack(out, at, n);
            return Ok(Val::Mem(out));
        }
        if t.is_aggregate_value() || t.is_str() {
            return Ok(Val::Mem(at));
        }
        let (bytes, signed) = match t {
            Type::Int { bytes, signed } => (bytes as u32, signed),
            Type::Bool => (1, false),
            Type::Enum(_) => (4, false),
            _ => (8, false),
        };
        let width = match f.bitfield {
            Some((shift, w)) => (shift + w).div_ceil(8).min(8).next_power_of_two(),
            None => bytes.clamp(1, 8),
        };
        self.asm.ldx(width, R0, R10, at);
        if let Some((shift, w)) = f.bitfield {
            if shift > 0 {
                self.asm.alu64_imm(BPF_RSH, R0, shift as i32);
            }
            if w < 64 {
                self.asm.load_imm(R1, (1u64 << w) - 1);
                self.asm.alu64(BPF_AND, R0, R1);
            }
        } else if signed && bytes < 8 {
            self.extend(R0, bytes as u8, true);
        }
        Ok(self.spill(R0))
    }

    /// A whole struct is copied onto the BPF stack to print or store it: only small ones fit.
    fn check_struct_copy(&self, span: Span, t: &Type) -> GenResult<()> {
        match t {
            Type::Struct { name, size, .. } if *size > 256 => Err(Diagnostic::error(
                span,
                format!("{name} is {size} bytes, too large to copy onto the BPF stack (256 at most); read its fields"),
            )),
            _ => Ok(()),
        }
    }

    /// `*p`
    pub(super) fn deref(&mut self, e: &Expr, inner: &Expr) -> GenResult<Val> {
        self.check_struct_copy(e.span, &self.ty(e))?;
        let space = match self.ty(inner) {
            Type::Ptr { space, .. } => space,
            _ => self.target.context.default_space(),
        };
        let p = self.expr(inner)?;
        let t = self.ty(e);
        Ok(self.read_typed(p, space, &t))
    }

    /// Read a value of type `t` from memory at `addr` onto the stack.
    pub(super) fn read_typed(&mut self, addr: Val, space: AddrSpace, t: &Type) -> Val {
        match t {
            Type::Int { bytes, signed } => self.read_scalar(addr, space, *bytes as u32, *signed),
            Type::Bool => self.read_scalar(addr, space, 1, false),
            Type::Str(n) => {
                let out = self.alloc(*n);
                self.zero(out, *n);
                self.load(R3, addr);
                self.asm.mov64(R1, R10);
                self.asm.alu64_imm(BPF_ADD, R1, out as i32);
                self.asm.mov64_imm(R2, *n as i32);
                self.asm.call(read_str_helper(space));
                Val::Mem(out)
            }
            t if t.is_aggregate_value() => {
                let n = t.size();
                let out = self.alloc(n);
                self.zero(out, n);
                self.load(R3, addr);
                self.asm.mov64(R1, R10);
                self.asm.alu64_imm(BPF_ADD, R1, out as i32);
                self.asm.mov64_imm(R2, n as i32);
                self.asm.call(read_helper(space));
                Val::Mem(out)
            }
            Type::Enum(_) => self.read_scalar(addr, space, 4, false),
            // pointers and everything else 8 bytes wide
            _ => self.read_scalar(addr, space, 8, false),
        }
    }

    /// Read a `bytes`-wide integer into a fresh slot (0 if the read faults), extended to 64 bits.
    fn read_scalar(&mut self, addr: Val, space: AddrSpace, bytes: u32, signed: bool) -> Val {
        let out = self.new_slot();
        self.asm.st_imm(8, R10, out, 0);
        self.load(R3, addr);
        self.asm.mov64(R1, R10);
        self.asm.alu64_imm(BPF_ADD, R1, out as i32);
        self.asm.mov64_imm(R2, bytes.clamp(1, 8) as i32);
        self.asm.call(read_helper(space));
        if signed && bytes < 8 {
            self.asm.ldx(8, R0, R10, out);
            self.extend(R0, bytes as u8, true);
            self.asm.stx(8, R10, out, R0);
        }
        Val::Slot(out)
    }
}
