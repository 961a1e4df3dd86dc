//! `for ($kv : @map) { body }` as a bpf_for_each_map_elem callback and `for ($i : a..b)` as a
//! bpf_loop callback.
//!
//! The callback is a subprogram with its own stack frame, but the body must see and update the
//! probe's variables. Every variable lives in the top `vars_size` bytes of a frame, at the same
//! offsets in every frame, so the caller passes the address of that region as the callback's
//! context; the callback copies it into its own frame on entry and back on every return. The
//! probe's context pointer travels the same way (spilled in `ctx_slot`), so `args` and friends
//! work inside loops. `return` and `exit()` set `ret_flag` and stop the iteration; the caller
//! then leaves too. A probe with a scratch-map frame shares that frame with its callbacks
//! instead (see `BigFrame`).
use super::*;

impl Gen<'_> {
    pub(super) fn for_map(&mut self, var: &str, map: &Expr, body: &Block) -> GenResult<()> {
        let (idx, name) = self.map_of(map);
        let spec = self.maps[idx].clone();
        let kv_t = self.ty(map);
        let Type::Tuple(parts) = &kv_t else {
            return Err(Diagnostic::error(map.span, format!("cannot iterate over {name}")));
        };
        let kv_off = self.var_slot(var, map.span)?;
        let (offs, _) = tuple_layout(parts);
        let (key_at, val_at) = (kv_off + offs[0] as i16, kv_off + offs[1] as i16);
        // Members take their tuple widths: an int8 key is 8 bytes in the map but 1 in `$kv`.
        let key_size = parts[0].member_size().min(spec.key_size);
        let val_size = parts[1].member_size();
        // (map, key, value, ctx): $kv = (key, value), aggregations summed over CPUs.
        let entry = self.callback(4, body, |g, args| {
            g.asm.ldx(8, R2, args[1].0, args[1].1);
            g.copy_from_ptr(R2, key_at, key_size);
            match spec.value {
                Type::Agg(agg) => g.percpu_sum(idx, key_at, val_at, agg),
                _ => {
                    g.asm.ldx(8, R3, args[2].0, args[2].1);
                    g.copy_from_ptr(R3, val_at, val_size);
                }
            }
        })?;
        // bpf_for_each_map_elem(map, callback, &vars, 0)
        self.asm.ld_map_fd(R1, idx as i32);
        self.asm.ld_func(R2, entry);
        self.callback_ctx(R3);
        self.asm.mov64_imm(R4, 0);
        self.asm.call(helpers::FOR_EACH_MAP_ELEM);
        self.leave_if_callback_returned();
        Ok(())
    }

    /// `for ($i : a..b)` through bpf_loop, so bounds need not be constants.
    pub(super) fn for_range(&mut self, var: &str, a: &Expr, b: &Expr, body: &Block) -> GenResult<()> {
        let (start, end) = (self.expr(a)?, self.expr(b)?);
        if let (Val::Imm(x), Val::Imm(y)) = (start, end) {
            if y <= x {
                // Never runs. Emitting it anyway trips the kernel: the verifier drops the
                // callback it proves dead, then fails to find it ("No program to jit").
                return Ok(());
            }
        }
        let i_off = self.var_slot(var, a.span)?;
        // $i = start - 1; each iteration starts with $i += 1.
        self.load(R1, start);
        self.asm.alu64_imm(BPF_SUB, R1, 1);
        self.asm.stx(8, R10, i_off, R1);
        let entry = self.callback(2, body, |g, _| {
            g.asm.ldx(8, R1, R10, i_off);
            g.asm.alu64_imm(BPF_ADD, R1, 1);
            g.asm.stx(8, R10, i_off, R1);
        })?;
        // bpf_loop(max(end - start, 0), callback, &vars, 0)
        self.load(R1, end);
        self.load(R2, start);
        self.asm.alu64(BPF_SUB, R1, R2);
        let pos = self.asm.new_label();
        self.asm.jmp_imm(Cond::SGt, R1, 0, pos);
        self.asm.mov64_imm(R1, 0);
        self.asm.bind(pos);
        self.asm.ld_func(R2, entry);
        self.callback_ctx(R3);
        self.asm.mov64_imm(R4, 0);
        self.asm.call(helpers::LOOP);
        self.leave_if_callback_returned();
        Ok(())
    }

    /// `r` = a loop callback's context: the variables' region of this frame, or with a
    /// scratch-map frame the real-stack pair (frame pointer, context).
    fn callback_ctx(&mut self, r: Reg) {
        if self.big.is_some() {
            self.asm.mov64(r, RSTK);
            self.asm.alu64_imm(BPF_ADD, r, REAL_FRAME as i32);
        } else {
            self.asm.mov64(r, R10);
            self.asm.alu64_imm(BPF_ADD, r, -self.vars_size);
        }
    }

    fn var_slot(&self, var: &str, span: Span) -> GenResult<i16> {
        self.vars.get(var).map(|(off, _)| *off).ok_or_else(|| Diagnostic::error(span, "loop variable not allocated"))
    }

    fn leave_if_callback_returned(&mut self) {
        self.asm.ldx(8, R1, R10, self.ret_flag);
        self.asm.jmp_imm(Cond::Ne, R1, 0, self.exit);
    }

    /// Generate a loop-body callback taking `nargs` arguments, the last being the variables'
    /// address; `prologue` sets the loop variable (it gets the stack slots holding the
    /// arguments). Returns the callback's entry label; the code itself is placed after the main
    /// program. The callback returns 0 to go on and 1 to stop (`break`, `return`, `exit()`).
    fn callback(
        &mut self,
        nargs: usize,
        body: &Block,
        prologue: impl FnOnce(&mut Self, &[(Reg, i16)]),
    ) -> GenResult<Label> {
        let entry = self.asm.new_label();
        let mut sub = self.asm.fork();
        sub.bind(entry);
        let parent = std::mem::replace(&mut self.asm, sub);
        let saved =
            (self.sp, self.max_sp, self.exit, std::mem::take(&mut self.loops), std::mem::take(&mut self.callee_depth));
        let big = self.big.is_some();
        // A scratch-map frame is shared: the body's values go below the caller's. A stack
        // frame is the callback's own, with the variables copied in.
        if !big {
            self.sp = self.vars_size;
            self.max_sp = self.sp;
        }
        let args: Vec<(Reg, i16)> =
            (0..nargs).map(|i| if big { (RSTK, REAL_ARGS - 8 * i as i16) } else { (R10, self.new_slot()) }).collect();
        for (i, (base, slot)) in args.iter().enumerate() {
            self.asm.stx(8, *base, *slot, Reg(i as u8 + 1));
        }
        let ctx_ptr = args[nargs - 1];
        if big {
            self.asm.ldx(8, R1, ctx_ptr.0, ctx_ptr.1);
            self.asm.ldx(8, R9, R1, 0);
            self.asm.ldx(8, R6, R1, REAL_CTX - REAL_FRAME);
            self.asm.stx(8, RSTK, REAL_FRAME, R9);
            self.asm.stx(8, RSTK, REAL_CTX, R6);
        } else {
            self.copy_vars(true, ctx_ptr.1);
            self.asm.ldx(8, R6, R10, self.ctx_slot);
        }
        prologue(self, &args);

        let (stop, next, leave, done) =
            (self.asm.new_label(), self.asm.new_label(), self.asm.new_label(), self.asm.new_label());
        let rc = self.new_slot();
        self.exit = leave;
        self.loops.push((next, stop));
        let r = self.block(body);
        self.loops.pop();
        self.asm.ja(next);
        self.asm.bind(leave);
        self.asm.st_imm(8, R10, self.ret_flag, 1);
        self.asm.bind(stop);
        self.asm.st_imm(8, R10, rc, 1);
        self.asm.ja(done);
        self.asm.bind(next);
        self.asm.st_imm(8, R10, rc, 0);
        self.asm.bind(done);
        if !big {
            self.copy_vars(false, ctx_ptr.1);
        }
        self.asm.ldx(8, R0, R10, rc);
        if big {
            // Read back from a map value, unbounded to the verifier: 0 or 1 is all it allows.
            self.asm.alu64_imm(BPF_AND, R0, 1);
        }
        self.asm.exit();

        let too_big = !big && self.max_sp > STACK_LIMIT;
        let used = self.max_sp;
        let mut sub = std::mem::replace(&mut self.asm, parent);
        if big {
            fix_frame(&mut sub);
        }
        self.asm.adopt_labels(&sub);
        self.pending.push(sub);
        let (inner_max, inner_callees) = (self.max_sp, self.callee_depth);
        (self.sp, self.max_sp, self.exit, self.loops, self.callee_depth) = saved;
        if big {
            self.max_sp = self.max_sp.max(inner_max);
        } else {
            // The verifier adds up the frames of a call chain, a callback's included.
            self.callee_depth = self.callee_depth.max(verifier_frame(inner_max) + inner_callees);
        }
        r?;
        if too_big && self.loop_too_big.is_none() {
            // Reported unless the probe moves to a scratch-map frame, where loop bodies share it.
            self.loop_too_big = Some(Diagnostic::error(
                body.span,
                format!("this loop body needs {used} bytes of BPF stack; the limit is {STACK_LIMIT}"),
            ));
        }
        Ok(entry)
    }

    /// Copy the variable region between the caller's frame (through the pointer stored at
    /// `ctx_ptr`) and this frame: in on entry, out before returning. The context spill is only
    /// copied in: it never changes.
    fn copy_vars(&mut self, into_frame: bool, ctx_ptr: i16) {
        self.asm.ldx(8, R1, R10, ctx_ptr);
        let mut off = -self.vars_size;
        while off < 0 {
            let rel = (off + self.vars_size) as i16;
            let slot = off as i16;
            if into_frame {
                self.asm.ldx(8, R0, R1, rel);
                self.asm.stx(8, R10, slot, R0);
            } else if slot != self.ctx_slot {
                self.asm.ldx(8, R0, R10, slot);
                self.asm.stx(8, R1, rel, R0);
            }
            off += 8;
        }
    }

    /// Copy `n` bytes from the memory `src` points to (a map key or value) to the stack.
    fn copy_from_ptr(&mut self, src: Reg, dst: i16, n: u32) {
        let mut at = 0u32;
        while at < n {
            let w = [8u32, 4, 2, 1].into_iter().find(|&w| at + w <= n && values::aligned(dst, at, w)).unwrap_or(1);
            self.asm.ldx(w, R0, src, at as i16);
            self.asm.stx(w, R10, dst + at as i16, R0);
            at += w;
        }
    }
}
