//! Values that come from outside the expression tree: probe context fields (`args.x`,
//! `argN`), string literals and comparisons, and copies between stack areas.
use super::*;
use crate::probe::FuncArg;

type ParamsFn = fn(&crate::probe::Target) -> Result<Vec<crate::probe::UserParam>, String>;

impl Gen<'_> {
    // ------------------------------------------------------------------ probe context

    pub(super) fn args_field(&mut self, e: &Expr, field: &str) -> GenResult<Val> {
        if let Context::RawArgs = self.target.context {
            // Raw tracepoint arguments are `u64 ctx[]` in the BTF prototype's order.
            let event = self.target.parts.last().cloned().unwrap_or_default();
            let args = crate::ktypes::raw_tracepoint_args(&event).unwrap_or_default();
            let i = args
                .iter()
                .position(|(n, _)| n == field)
                .ok_or_else(|| Diagnostic::error(e.span, format!("Can't find argument '{field}'")))?;
            if self.target.btf.is_some() {
                return Ok(self.ctx_scalar((i * 8) as i16));
            }
            self.asm.ldx(8, R0, R6, (i * 8) as i16);
            if let Type::Int { bytes, signed } = self.ty(e) {
                self.extend(R0, bytes, signed);
            }
            return Ok(self.spill(R0));
        }
        if let Context::Func(f) = &self.target.context {
            let a = f
                .arg(field)
                .cloned()
                .ok_or_else(|| Diagnostic::error(e.span, format!("Can't find function parameter {field}")))?;
            return Ok(self.func_slot(&a, true));
        }
        if let Some(params) = self.target.kind.user_debug.and_then(|d| d.params) {
            return self.debug_param(params, e, field);
        }
        let Context::Tracepoint { fields, .. } = &self.target.context else {
            return Err(Diagnostic::error(e.span, "args is not available for this probe type yet"));
        };
        let f = fields
            .iter()
            .find(|f| f.name == field)
            .cloned()
            .ok_or_else(|| Diagnostic::error(e.span, format!("Can't find field '{field}'")))?;
        let t = self.ty(e);
        if let Some(tail) = self.target.syscall {
            return self.syscall_field(e, tail, &f);
        }
        if f.data_loc {
            // u32 (len << 16 | offset) → read the string at ctx + offset.
            let n = t.size();
            let out = self.alloc(n);
            self.zero(out, n);
            self.asm.ldx(4, R3, R6, f.offset as i16);
            self.asm.alu64_imm(BPF_AND, R3, 0xffff);
            self.asm.alu64(BPF_ADD, R3, R6);
            self.asm.mov64(R1, R10);
            self.asm.alu64_imm(BPF_ADD, R1, out as i32);
            self.asm.mov64_imm(R2, n as i32);
            self.asm.call(helpers::PROBE_READ_KERNEL_STR);
            return Ok(Val::Mem(out));
        }
        if t.is_aggregate_value() {
            let n = f.size.min(t.size());
            let out = self.alloc(t.size());
            self.zero(out, t.size());
            // Direct context loads, each aligned to its size as the tracepoint verifier demands.
            let mut at = 0u32;
            while at < n {
                let w = [8u32, 4, 2, 1]
                    .into_iter()
                    .find(|w| at + w <= n && (f.offset + at).is_multiple_of(*w) && at.is_multiple_of(*w))
                    .unwrap_or(1);
                self.asm.ldx(w, R0, R6, (f.offset + at) as i16);
                self.asm.stx(w, R10, out + at as i16, R0);
                at += w;
            }
            return Ok(Val::Mem(out));
        }
        let size = f.size.clamp(1, 8);
        self.asm.ldx(size, R0, R6, f.offset as i16);
        if f.signed {
            self.extend(R0, size as u8, true);
        }
        Ok(self.spill(R0))
    }

    /// A field of a syscall tracepoint reached through raw_syscalls (see
    /// [`crate::probe::syscall`]): a slot of the raw tracepoint's context, or a register of the
    /// syscall's `struct pt_regs`, as 8 bytes (what the format file gives every field).
    fn syscall_field(
        &mut self,
        e: &Expr,
        tail: crate::probe::syscall::Tail,
        f: &crate::probe::TpField,
    ) -> GenResult<Val> {
        use crate::probe::syscall::{field_source, FieldSource};
        let src = field_source(tail, f.offset)
            .ok_or_else(|| Diagnostic::error(e.span, format!("Can't read field '{}' of this syscall", f.name)))?;
        match src {
            FieldSource::Ctx(off) => self.asm.ldx(8, R0, R6, off),
            FieldSource::Regs(off) => {
                let tmp = self.new_slot();
                super::read_syscall_reg(&mut self.asm, off, tmp);
                self.asm.ldx(8, R0, R10, tmp);
            }
        }
        // `__syscall_nr` is an int: the 4 bytes the format file gives it.
        let size = f.size.clamp(1, 8);
        if size < 8 {
            self.extend(R0, size as u8, f.signed);
        }
        Ok(self.spill(R0))
    }

    /// A parameter named in the probed binary's debug info: its argument register, narrowed to
    /// its integer type.
    fn debug_param(&mut self, params: ParamsFn, e: &Expr, field: &str) -> GenResult<Val> {
        let params = params(self.target).map_err(|m| Diagnostic::error(e.span, m))?;
        let p = params
            .into_iter()
            .find(|p| p.name == field)
            .ok_or_else(|| Diagnostic::error(e.span, format!("Can't find function parameter {field}")))?;
        let reg =
            p.reg.map_err(|why| Diagnostic::error(e.span, format!("Can't read function parameter {field}: {why}")))?;
        let v = self.arg(reg, e.span)?;
        if let Type::Int { bytes, signed } = p.ty {
            self.load(R0, v);
            self.extend(R0, bytes, signed);
            return Ok(self.spill(R0));
        }
        Ok(v)
    }

    /// `args` as a whole where the probe type types it from debug info: the parameters'
    /// registers stored into the record its [`crate::probe::UserDebug::record`] lays out.
    pub fn debug_args_record(&mut self, span: Span) -> GenResult<Val> {
        let record = self.target.kind.user_debug.and_then(|d| d.record);
        let record = record.ok_or_else(|| Diagnostic::error(span, "args must be used with a field: args.name"))?;
        let (t, fields) = record(self.target).map_err(|m| Diagnostic::error(span, m))?;
        let out = self.alloc(t.size());
        self.zero(out, t.size());
        for f in fields {
            let v = self.arg(f.reg, span)?;
            self.load(R0, v);
            let width = f.ty.size_in_c().clamp(1, 8);
            self.asm.stx(width, R10, out + f.offset as i16, R0);
        }
        Ok(Val::Mem(out))
    }

    /// One slot of a tracing program's `u64 args[]` (fentry/fexit): loaded directly, or through
    /// bpf_probe_read_kernel where the verifier would type the load as a kernel object pointer
    /// (see [`FuncArg::read`]). `typed` narrows integers to their declared size (kprobe-style
    /// `argN` keep the whole register).
    /// The 8-byte context slot at `off` as a plain scalar, read with bpf_probe_read_kernel: in
    /// tracing programs a direct load of a pointer argument is a kernel object pointer the
    /// verifier allows no arithmetic on.
    fn ctx_scalar(&mut self, off: i16) -> Val {
        let out = self.new_slot();
        self.asm.mov64(R1, R10);
        self.asm.alu64_imm(BPF_ADD, R1, out as i32);
        self.asm.mov64_imm(R2, 8);
        self.asm.mov64(R3, R6);
        self.asm.alu64_imm(BPF_ADD, R3, off as i32);
        self.asm.call(helpers::PROBE_READ_KERNEL);
        Val::Slot(out)
    }

    /// `args.NAME` (or a tp_btf probe's `argN`, cast or not) of an fentry/fexit or tp_btf probe
    /// loaded into `r` as the verifier types it (a kernel object pointer, what helpers such as
    /// bpf_get_socket_cookie take); false when `e` is not such an argument.
    pub fn ctx_arg_typed(&mut self, e: &Expr, r: Reg) -> bool {
        // A cast only renames the type: `(struct sk_buff *)arg0`.
        let mut e = e;
        while let ExprKind::Cast { expr, .. } = &e.kind {
            e = expr;
        }
        if let ExprKind::Ident(name) = &e.kind {
            let n = name.strip_prefix("arg").and_then(|d| d.parse::<i16>().ok());
            if let (Some(n), Context::RawArgs, true) = (n, &self.target.context, self.target.btf.is_some()) {
                self.asm.ldx(8, r, R6, n * 8);
                return true;
            }
            return false;
        }
        let ExprKind::Field { expr, field, .. } = &e.kind else { return false };
        if self.ty(expr) != Type::Args {
            return false;
        }
        let slot = match &self.target.context {
            Context::RawArgs if self.target.btf.is_some() => {
                let event = self.target.parts.last().cloned().unwrap_or_default();
                crate::ktypes::raw_tracepoint_args(&event).and_then(|a| a.iter().position(|(n, _)| n == field))
            }
            Context::Func(f) => f.arg(field).map(|a| a.slot as usize),
            _ => None,
        };
        let Some(slot) = slot else { return false };
        self.asm.ldx(8, r, R6, (slot * 8) as i16);
        true
    }

    pub fn func_slot(&mut self, a: &FuncArg, typed: bool) -> Val {
        let off = (a.slot * 8) as i16;
        if a.read {
            let out = self.ctx_scalar(off);
            let Val::Slot(out) = out else { unreachable!("ctx_scalar gives a slot") };
            if matches!(&self.target.context, Context::Func(f) if f.iter) {
                self.asm.ldx(8, R0, R10, out);
                self.asm.jmp_imm(Cond::Eq, R0, 0, self.exit);
            }
            return Val::Slot(out);
        }
        self.asm.ldx(8, R0, R6, off);
        if let (true, Type::Int { bytes, signed }) = (typed, &a.ty) {
            self.extend(R0, *bytes, *signed);
        }
        self.spill(R0)
    }

    /// `argN`: raw tracepoint args are `u64 ctx[N]`; perf events read pt_regs (x86-64 ABI);
    /// kprobes attached as fentry read slot N of its args array (0 past the last argument).
    pub fn arg(&mut self, n: u32, span: Span) -> GenResult<Val> {
        match &self.target.context {
            Context::RawArgs if self.target.btf.is_some() => Ok(self.ctx_scalar((n * 8) as i16)),
            Context::RawArgs => {
                self.asm.ldx(8, R0, R6, (n * 8) as i16);
                Ok(self.spill(R0))
            }
            Context::Usdt { args } => {
                use ferret_symbols::usdt::UsdtLocation;
                let a = args
                    .get(n as usize)
                    .cloned()
                    .ok_or_else(|| Diagnostic::error(span, format!("this USDT probe has {} arguments", args.len())))?;
                let v = match a.loc {
                    UsdtLocation::Const(c) => return Ok(Val::Imm(c)),
                    UsdtLocation::Reg(off) => {
                        self.asm.ldx(8, R0, R6, off as i16);
                        self.spill(R0)
                    }
                    UsdtLocation::Mem { reg, offset } => {
                        let out = self.new_slot();
                        self.asm.st_imm(8, R10, out, 0);
                        self.asm.ldx(8, R3, R6, reg as i16);
                        self.asm.alu64_imm(BPF_ADD, R3, offset);
                        self.asm.mov64(R1, R10);
                        self.asm.alu64_imm(BPF_ADD, R1, out as i32);
                        self.asm.mov64_imm(R2, a.size as i32);
                        self.asm.call(helpers::PROBE_READ_USER);
                        Val::Slot(out)
                    }
                };
                self.load(R0, v);
                self.extend(R0, a.size, a.signed);
                Ok(self.spill(R0))
            }
            Context::Func(f) => {
                // The argument whose slots cover slot n (a struct by value takes several).
                let covering = f.args.iter().rev().find(|a| a.slot <= n).cloned();
                match covering {
                    Some(a) if n < f.slots => Ok(self.func_slot(&FuncArg { slot: n, ..a }, false)),
                    _ => Ok(Val::Imm(0)),
                }
            }
            Context::PerfEvent | Context::Regs { .. } => {
                // pt_regs offsets of rdi, rsi, rdx, rcx, r8, r9.
                const REGS: [i16; 6] = [112, 104, 96, 88, 72, 64];
                let off =
                    *REGS.get(n as usize).ok_or_else(|| Diagnostic::error(span, "only arg0..arg5 are in registers"))?;
                self.asm.ldx(8, R0, R6, off);
                Ok(self.spill(R0))
            }
            _ => Err(Diagnostic::error(
                span,
                format!(
                    "The arg{n} builtin can only be used with 'kprobes', 'uprobes', 'rawtracepoint' and 'usdt' probes"
                ),
            )),
        }
    }

    // ------------------------------------------------------------------ strings

    /// A string literal in a zeroed stack area of `size` bytes.
    pub fn string_lit(&mut self, bytes: &[u8], size: u32) -> Val {
        let off = self.alloc(size);
        let padded = size.div_ceil(8) * 8;
        for chunk in 0..padded / 8 {
            let mut w = [0u8; 8];
            for (i, b) in w.iter_mut().enumerate() {
                *b = bytes.get((chunk * 8) as usize + i).copied().unwrap_or(0);
            }
            let lo = u32::from_le_bytes(w[..4].try_into().unwrap()) as i32;
            let hi = u32::from_le_bytes(w[4..].try_into().unwrap()) as i32;
            self.asm.st_imm(4, R10, off + (chunk * 8) as i16, lo);
            self.asm.st_imm(4, R10, off + (chunk * 8) as i16 + 4, hi);
        }
        Val::Mem(off)
    }

    /// `a == b` / `a != b` on strings: compare up to the first NUL.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn str_compare(
        &mut self,
        negate: bool,
        a: Val,
        at: &Type,
        b: Val,
        bt: &Type,
        b_expr: &Expr,
        a_expr: &Expr,
    ) -> Val {
        let out = self.new_slot();
        let ne = self.asm.new_label();
        let (Val::Mem(ao), Val::Mem(bo)) = (a, b) else { return Val::Imm(0) };
        // A literal on either side bounds the compare by its length, NUL included.
        let lit = match (&a_expr.kind, &b_expr.kind) {
            (_, ExprKind::Str(s)) => Some((ao, s.as_bytes().to_vec(), at.size())),
            (ExprKind::Str(s), _) => Some((bo, s.as_bytes().to_vec(), bt.size())),
            _ => None,
        };
        match lit {
            Some((other, bytes, other_size)) => {
                let n = (bytes.len() as u32 + 1).min(other_size);
                for i in 0..n {
                    let c = bytes.get(i as usize).copied().unwrap_or(0);
                    self.asm.ldx(1, R1, R10, other + i as i16);
                    self.asm.jmp_imm(Cond::Ne, R1, c as i32, ne);
                }
                if bytes.len() as u32 + 1 > other_size {
                    // The literal is longer than the buffer can hold: never equal.
                    self.asm.ja(ne);
                }
            }
            None => {
                let n = at.size().min(bt.size());
                let eq = self.asm.new_label();
                for i in 0..n {
                    self.asm.ldx(1, R1, R10, ao + i as i16);
                    self.asm.ldx(1, R2, R10, bo + i as i16);
                    self.asm.jmp_reg(Cond::Ne, R1, R2, ne);
                    self.asm.jmp_imm(Cond::Eq, R1, 0, eq);
                }
                self.asm.bind(eq);
            }
        }
        self.equality_result(out, negate, ne)
    }

    /// The end of an equality test: falling through here means equal, a jump to `ne` unequal;
    /// slot `out` gets the answer (inverted for `!=`).
    fn equality_result(&mut self, out: i16, negate: bool, ne: ferret_bpf::insn::Label) -> Val {
        let end = self.asm.new_label();
        self.asm.st_imm(8, R10, out, !negate as i32);
        self.asm.ja(end);
        self.asm.bind(ne);
        self.asm.st_imm(8, R10, out, negate as i32);
        self.asm.bind(end);
        Val::Slot(out)
    }

    /// `a == b` / `a != b` on `n` bytes of two stack areas (buffers: header and data).
    pub(super) fn bytes_compare(&mut self, negate: bool, ao: i16, bo: i16, n: u32) -> Val {
        let out = self.new_slot();
        let ne = self.asm.new_label();
        for i in 0..n {
            self.asm.ldx(1, R1, R10, ao + i as i16);
            self.asm.ldx(1, R2, R10, bo + i as i16);
            self.asm.jmp_reg(Cond::Ne, R1, R2, ne);
        }
        self.equality_result(out, negate, ne)
    }

    /// Copy `n` bytes between stack areas, each access aligned to its width (the verifier
    /// rejects misaligned stack accesses, and tuple members need not be 8-byte aligned).
    pub fn copy_stack(&mut self, dst: i16, src: i16, n: u32) {
        let mut at = 0u32;
        while at < n {
            let w = [8u32, 4, 2, 1]
                .into_iter()
                .find(|&w| at + w <= n && aligned(dst, at, w) && aligned(src, at, w))
                .unwrap_or(1);
            self.asm.ldx(w, R0, R10, src + at as i16);
            self.asm.stx(w, R10, dst + at as i16, R0);
            at += w;
        }
    }

    /// Write value `v` of type `vt` into a stack area of type `t` at `dst` (already zeroed where
    /// `t` is larger than `vt`).
    pub fn store_val(&mut self, dst: i16, t: &Type, v: Val, vt: &Type) {
        match (t, vt) {
            (Type::Str(_), Type::Str(_)) | (Type::Buffer(_), Type::Buffer(_)) => {
                let Val::Mem(src) = v else { return };
                let (n, m) = (t.size(), vt.size());
                if m < n {
                    self.zero(dst, n);
                }
                self.copy_stack(dst, src, n.min(m));
            }
            (Type::Timestamp, Type::Timestamp) => {
                let Val::Mem(src) = v else { return };
                self.copy_stack(dst, src, t.size());
            }
            (Type::Tuple(ts), Type::Tuple(vs)) if ts.len() == vs.len() => {
                let Val::Mem(src) = v else { return };
                if ts == vs {
                    self.copy_stack(dst, src, t.size());
                    return;
                }
                let (doffs, _) = tuple_layout(ts);
                let (soffs, _) = tuple_layout(vs);
                self.zero(dst, t.size());
                for i in 0..ts.len() {
                    let sv = self.member_val(src + soffs[i] as i16, &vs[i]);
                    self.store_member(dst + doffs[i] as i16, &ts[i], sv, &vs[i]);
                }
            }
            (Type::Record(ts), Type::Record(vs)) if ts.len() == vs.len() => {
                let Val::Mem(src) = v else { return };
                if ts == vs {
                    self.copy_stack(dst, src, t.size());
                    return;
                }
                let (doffs, _) = tuple_layout(&record_types(ts));
                let (soffs, _) = tuple_layout(&record_types(vs));
                self.zero(dst, t.size());
                for (i, (name, dt)) in ts.iter().enumerate() {
                    let Some(j) = vs.iter().position(|(n, _)| n == name) else { continue };
                    let st = &vs[j].1;
                    let sv = self.member_val(src + soffs[j] as i16, st);
                    self.store_member(dst + doffs[i] as i16, dt, sv, st);
                }
            }
            (Type::Struct { .. }, Type::Struct { .. }) => {
                let Val::Mem(src) = v else { return };
                self.copy_stack(dst, src, t.size().min(vt.size()));
            }
            (Type::Array { .. }, Type::Array { .. }) => {
                let Val::Mem(src) = v else { return };
                self.copy_stack(dst, src, t.size().min(vt.size()));
            }
            // Same-typed memory values (arrays, inet) copy as they are.
            _ if t.is_aggregate_value() => {
                if let (Val::Mem(src), true) = (v, t == vt) {
                    self.copy_stack(dst, src, t.size());
                }
            }
            // A narrower integer variable holds its own width: `let $x: uint8 = 300` is 44, and
            // an int8 variable given 255 holds -1, as C's conversions have it.
            (Type::Int { bytes, signed }, _) if *bytes < 8 && vt != t => {
                match v {
                    Val::Imm(i) => {
                        let sh = 64 - *bytes as u32 * 8;
                        let x = if *signed { (i << sh) >> sh } else { ((i as u64) << sh >> sh) as i64 };
                        self.load(R1, Val::Imm(x));
                    }
                    _ => {
                        self.load(R1, v);
                        self.extend(R1, *bytes, *signed);
                    }
                }
                self.asm.stx(8, R10, dst, R1);
            }
            _ => {
                self.load(R1, v);
                self.asm.stx(8, R10, dst, R1);
            }
        }
    }

    /// A tuple or record member of type `t` at `r10 + at` as an expression value (`$t.1`):
    /// see [`Self::member_val`]; a memory value that is not 8-byte aligned is copied to an
    /// aligned area first, so code that reads it in 8-byte words stays verifiable.
    pub fn member_read(&mut self, at: i16, t: &Type) -> Val {
        if t.is_aggregate_value() && !aligned(at, 0, 8) {
            let size = t.size();
            let copy = self.alloc(size.max(8));
            self.zero(copy, size.max(8));
            self.copy_stack(copy, at, size);
            return Val::Mem(copy);
        }
        self.member_val(at, t)
    }

    /// The value of a tuple or record member of type `t` stored at `r10 + at`: integers and
    /// bools narrower than 8 bytes are loaded at their width and extended into a fresh slot,
    /// memory values stay where they are.
    pub fn member_val(&mut self, at: i16, t: &Type) -> Val {
        if t.is_aggregate_value() {
            return Val::Mem(at);
        }
        match t.member_size() {
            0 => Val::Imm(0),
            8.. => Val::Slot(at),
            w => {
                self.asm.ldx(w, R1, R10, at);
                if let Type::Int { bytes, signed: true } = t {
                    self.extend(R1, *bytes, true);
                }
                self.spill(R1)
            }
        }
    }

    /// Write `v` (of type `vt`) into a tuple or record member of type `t` at `r10 + dst`:
    /// integers and bools at their C width, so a narrow member's neighbours are left alone.
    pub fn store_member(&mut self, dst: i16, t: &Type, v: Val, vt: &Type) {
        if t.is_aggregate_value() {
            return self.store_val(dst, t, v, vt);
        }
        match t.member_size() {
            0 => {}
            8.. => self.store_val(dst, t, v, vt),
            w => {
                self.load(R1, v);
                self.asm.stx(w, R10, dst, R1);
            }
        }
    }
}

/// Whether `r10 + base + at` is a multiple of `w` (the frame pointer is 8-byte aligned).
pub(super) fn aligned(base: i16, at: u32, w: u32) -> bool {
    (base as i64 + at as i64).rem_euclid(w as i64) == 0
}
