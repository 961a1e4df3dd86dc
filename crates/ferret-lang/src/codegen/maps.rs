//! Maps (keys, reads, stores, aggregations) and events to user space.
use super::*;

impl Gen<'_> {
    // ------------------------------------------------------------------ maps

    pub fn map_of(&self, e: &Expr) -> (usize, String) {
        let name = match &e.kind {
            ExprKind::Map(n) | ExprKind::MapElem { name: n, .. } => format!("@{n}"),
            _ => String::new(),
        };
        (self.map_index.get(&name).copied().unwrap_or(FIRST_USER_MAP), name)
    }

    pub(super) fn map_value_type(&self, e: &Expr) -> Type {
        let (idx, _) = self.map_of(e);
        self.maps.get(idx).map_or(Type::None, |m| m.value.clone())
    }

    /// Build the key of `@m[...]` in a zeroed stack area; returns its offset.
    pub fn map_key(&mut self, e: &Expr) -> GenResult<i16> {
        let (idx, _) = self.map_of(e);
        let keys: Vec<&Expr> = match &e.kind {
            ExprKind::MapElem { keys, .. } => keys.iter().collect(),
            _ => vec![],
        };
        self.map_key_with(idx, &keys)
    }

    /// Build a key for map `idx` from key expressions (several make a tuple key).
    pub fn map_key_with(&mut self, idx: usize, keys: &[&Expr]) -> GenResult<i16> {
        let spec = self.maps[idx].clone();
        let size = spec.key_size;
        let off = self.alloc(size);
        self.zero(off, size);
        if let Some(kt) = &spec.key {
            match (keys.len(), kt) {
                (1, kt) => {
                    let v = self.expr(keys[0])?;
                    let vt = self.ty(keys[0]);
                    self.store_val(off, kt, v, &vt);
                }
                (_, Type::Tuple(ts)) => {
                    let (offs, _) = tuple_layout(ts);
                    for ((k, t), o) in keys.iter().zip(ts).zip(offs) {
                        let v = self.expr(k)?;
                        let vt = self.ty(k);
                        self.store_member(off + o as i16, t, v, &vt);
                    }
                }
                _ => {}
            }
        }
        Ok(off)
    }

    /// The value of an integer literal argument (sema has already insisted on one).
    pub fn literal(&self, e: &Expr) -> i64 {
        match &e.kind {
            ExprKind::Int(n) => *n as i64,
            ExprKind::Unary { op: UnOp::Neg, expr } => match expr.kind {
                ExprKind::Int(n) => -(n as i64),
                _ => 0,
            },
            ExprKind::Positional(n) => {
                self.opts.positional.get(*n as usize - 1).and_then(|v| parse_int_literal(v)).unwrap_or(0)
            }
            _ => 0,
        }
    }

    pub(super) fn map_read(&mut self, e: &Expr) -> GenResult<Val> {
        let (idx, _) = self.map_of(e);
        let spec = self.maps[idx].clone();
        let key = self.map_key(e)?;
        let t = self.ty(e);
        let out = if t.is_aggregate_value() { self.alloc(t.size()) } else { self.new_slot() };
        self.zero(out, t.size().max(8));
        if matches!(spec.value, Type::Agg(a) if a.is_bucketed()) {
            // Reading a histogram as a value is meaningless; yields 0.
            return Ok(Val::Imm(0));
        }
        if let Type::Agg(agg @ (AggKind::Count | AggKind::Sum { .. } | AggKind::Avg { .. })) = spec.value {
            self.percpu_sum(idx, key, out, agg);
            return Ok(Val::Slot(out));
        }
        self.lookup(idx, key);
        let miss = self.asm.new_label();
        self.asm.jmp_imm(Cond::Eq, R0, 0, miss);
        match spec.value {
            Type::Agg(AggKind::Avg { .. }) => {
                // total / count
                self.asm.ldx(8, R1, R0, 0);
                self.asm.ldx(8, R2, R0, 8);
                let skip = self.asm.new_label();
                self.asm.jmp_imm(Cond::Eq, R1, 0, skip);
                self.asm.alu64(BPF_DIV, R2, R1);
                self.asm.stx(8, R10, out, R2);
                self.asm.bind(skip);
            }
            _ if t.is_aggregate_value() => {
                let n = t.size();
                let mut at = 0u32;
                while at < n {
                    let w = [8u32, 4, 2, 1].into_iter().find(|w| at + w <= n).unwrap_or(1);
                    self.asm.ldx(w, R1, R0, at as i16);
                    self.asm.stx(w, R10, out + at as i16, R1);
                    at += w;
                }
            }
            _ => {
                self.asm.ldx(8, R1, R0, 0);
                self.asm.stx(8, R10, out, R1);
            }
        }
        if self.opts.helper_errors {
            // bpftrace reports a missing key with return code 0.
            let done = self.asm.new_label();
            self.asm.ja(done);
            self.asm.bind(miss);
            self.emit_event(
                Action::HelperError { helper: "map_lookup_elem", span: e.span },
                &[(Val::Imm(0), I64)],
                false,
            );
            self.asm.bind(done);
        } else {
            self.asm.bind(miss);
        }
        Ok(if t.is_aggregate_value() { Val::Mem(out) } else { Val::Slot(out) })
    }

    /// Read a per-CPU count/sum/avg as its total over every CPU (bpf_map_lookup_percpu_elem),
    /// so END and other probes see what the map will print, not one CPU's share. R7 sums the
    /// counts, R8 counts CPUs; an average's total adds up in a stack slot, leaving R9 to a
    /// scratch-map frame.
    pub(super) fn percpu_sum(&mut self, idx: usize, key: i16, out: i16, agg: AggKind) {
        let ncpus = ferret_sys::cpus::possible_count().unwrap_or(1) as i32;
        let avg = matches!(agg, AggKind::Avg { .. });
        let total = if avg { self.new_slot() } else { 0 };
        let (top, next, done) = (self.asm.new_label(), self.asm.new_label(), self.asm.new_label());
        self.asm.mov64_imm(R7, 0);
        self.asm.mov64_imm(R8, 0);
        if avg {
            self.asm.st_imm(8, R10, total, 0);
        }
        self.asm.bind(top);
        self.asm.jmp_imm(Cond::Ge, R8, ncpus, done);
        self.asm.ld_map_fd(R1, idx as i32);
        self.asm.mov64(R2, R10);
        self.asm.alu64_imm(BPF_ADD, R2, key as i32);
        self.asm.mov64(R3, R8);
        self.asm.call(helpers::MAP_LOOKUP_PERCPU_ELEM);
        self.asm.jmp_imm(Cond::Eq, R0, 0, next);
        self.asm.ldx(8, R1, R0, 0);
        self.asm.alu64(BPF_ADD, R7, R1);
        if avg {
            self.asm.ldx(8, R1, R0, 8);
            self.asm.ldx(8, R2, R10, total);
            self.asm.alu64(BPF_ADD, R2, R1);
            self.asm.stx(8, R10, total, R2);
        }
        self.asm.bind(next);
        self.asm.alu64_imm(BPF_ADD, R8, 1);
        self.asm.ja(top);
        self.asm.bind(done);
        if avg {
            // total / count, 0 when empty
            let empty = self.asm.new_label();
            self.asm.mov64_imm(R0, 0);
            self.asm.jmp_imm(Cond::Eq, R7, 0, empty);
            self.asm.ldx(8, R0, R10, total);
            if matches!(agg, AggKind::Avg { signed: true }) {
                self.asm.mov64(R1, R7);
                self.signed_divmod(true);
            } else {
                self.asm.alu64(BPF_DIV, R0, R7);
            }
            self.asm.bind(empty);
            self.asm.stx(8, R10, out, R0);
        } else {
            self.asm.stx(8, R10, out, R7);
        }
    }

    /// `@m[k] = v` for plain (non-aggregation) maps.
    pub fn map_store(&mut self, target: &Expr, v: Val, vt: &Type) -> GenResult<()> {
        let (idx, _) = self.map_of(target);
        let spec = self.maps[idx].clone();
        let key = self.map_key(target)?;
        let val = self.alloc(spec.value_size);
        if spec.value.is_aggregate_value() {
            self.zero(val, spec.value_size);
        }
        self.store_val(val, &spec.value, v, vt);
        self.map_update(idx, key, val, 0);
        Ok(())
    }

    /// map_update_elem(map, key, value, flags); a refusal is counted per map for the user.
    pub fn map_update(&mut self, idx: usize, key: i16, val: i16, flags: i32) {
        self.asm.ld_map_fd(R1, idx as i32);
        self.asm.mov64(R2, R10);
        self.asm.alu64_imm(BPF_ADD, R2, key as i32);
        self.asm.mov64(R3, R10);
        self.asm.alu64_imm(BPF_ADD, R3, val as i32);
        self.asm.mov64_imm(R4, flags);
        self.asm.call(helpers::MAP_UPDATE_ELEM);
        let ok = self.asm.new_label();
        self.asm.jmp_imm(Cond::Eq, R0, 0, ok);
        // -EEXIST from BPF_NOEXIST means another CPU created it first: not an error.
        self.asm.jmp_imm(Cond::Eq, R0, -libc_eexist(), ok);
        self.count_in(MAP_FULL, (idx - FIRST_USER_MAP) as i32);
        self.asm.bind(ok);
    }

    /// Increment entry `index` of a per-CPU u64 array of counters.
    pub fn count_in(&mut self, map: usize, index: i32) {
        let k = self.new_slot();
        self.asm.st_imm(4, R10, k, index);
        self.lookup(map, k);
        let skip = self.asm.new_label();
        self.asm.jmp_imm(Cond::Eq, R0, 0, skip);
        self.asm.ldx(8, R1, R0, 0);
        self.asm.alu64_imm(BPF_ADD, R1, 1);
        self.asm.stx(8, R0, 0, R1);
        self.asm.bind(skip);
    }

    /// `@m[k] = count()/sum(v)/...`: find or create the per-CPU entry and fold the value in.
    pub(super) fn agg_update(&mut self, target: &Expr, agg: AggKind, v: Val) -> GenResult<()> {
        let (idx, _) = self.map_of(target);
        let spec = self.maps[idx].clone();
        let key = self.map_key(target)?;
        if let AggKind::TSeries { interval_ns, n, agg: how, .. } = agg {
            return self.tseries_update(idx, key, spec.key_size, interval_ns, n, how, v);
        }
        if agg.is_hist() {
            // The bucket index is the key's last 8 bytes.
            let bucket_at = key + spec.key_size as i16 - 8;
            self.load(R1, v);
            self.asm.stx(8, R10, bucket_at, R1);
        }
        let (have, done) = (self.asm.new_label(), self.asm.new_label());
        self.lookup(idx, key);
        self.asm.jmp_imm(Cond::Ne, R0, 0, have);
        let zero = self.alloc(spec.value_size);
        self.zero(zero, spec.value_size);
        self.map_update(idx, key, zero, 1 /* BPF_NOEXIST */);
        self.lookup(idx, key);
        self.asm.jmp_imm(Cond::Eq, R0, 0, done);
        self.asm.bind(have);
        // R0 = value pointer. Per-CPU: plain read-modify-write is safe.
        match agg {
            AggKind::TSeries { .. } => {} // handled by tseries_update
            AggKind::Count | AggKind::Hist { .. } | AggKind::LHist { .. } => {
                self.asm.ldx(8, R1, R0, 0);
                self.asm.alu64_imm(BPF_ADD, R1, 1);
                self.asm.stx(8, R0, 0, R1);
            }
            AggKind::Sum { .. } => {
                self.asm.ldx(8, R1, R0, 0);
                self.load(R2, v);
                self.asm.alu64(BPF_ADD, R1, R2);
                self.asm.stx(8, R0, 0, R1);
            }
            AggKind::Avg { .. } | AggKind::Stats { .. } => {
                self.asm.ldx(8, R1, R0, 0);
                self.asm.alu64_imm(BPF_ADD, R1, 1);
                self.asm.stx(8, R0, 0, R1);
                self.asm.ldx(8, R1, R0, 8);
                self.load(R2, v);
                self.asm.alu64(BPF_ADD, R1, R2);
                self.asm.stx(8, R0, 8, R1);
            }
            AggKind::Min { signed } | AggKind::Max { signed } => {
                let is_min = matches!(agg, AggKind::Min { .. });
                let set = self.asm.new_label();
                self.load(R2, v);
                self.asm.ldx(8, R1, R0, 8);
                self.asm.jmp_imm(Cond::Eq, R1, 0, set);
                self.asm.ldx(8, R1, R0, 0);
                let keep = match (is_min, signed) {
                    (true, true) => Cond::SGe,
                    (true, false) => Cond::Ge,
                    (false, true) => Cond::SLe,
                    (false, false) => Cond::Le,
                };
                // keep the current value unless v beats it
                self.asm.jmp_reg(keep, R2, R1, done);
                self.asm.bind(set);
                self.asm.stx(8, R0, 0, R2);
                self.asm.st_imm(8, R0, 8, 1);
            }
        }
        self.asm.bind(done);
        Ok(())
    }

    /// `@m[k] = tseries(v, interval, n, agg)`: the bucket is `epoch % n` where epoch is the time
    /// (TAI, or the `BPFTRACE_DUMMY_TS_MAP` map's value, bpftrace's test hook) over the
    /// interval; a bucket holds (value, meta, epoch) and restarts when its epoch moves on.
    #[allow(clippy::too_many_arguments)]
    fn tseries_update(
        &mut self,
        idx: usize,
        key: i16,
        key_size: u32,
        interval_ns: u64,
        n: u32,
        how: crate::types::TsAgg,
        v: Val,
    ) -> GenResult<()> {
        use crate::types::TsAgg;
        let (now, epoch) = (self.new_slot(), self.new_slot());
        match self.opts.dummy_ts_map.clone().and_then(|m| self.map_index.get(&m).copied()) {
            Some(ts_map) => {
                let k = self.new_slot();
                self.asm.st_imm(8, R10, k, 0);
                self.asm.st_imm(8, R10, now, 0);
                self.lookup(ts_map, k);
                let none = self.asm.new_label();
                self.asm.jmp_imm(Cond::Eq, R0, 0, none);
                self.asm.ldx(8, R1, R0, 0);
                self.asm.stx(8, R10, now, R1);
                self.asm.bind(none);
            }
            None => {
                self.asm.call(helpers::KTIME_GET_TAI_NS);
                self.asm.stx(8, R10, now, R0);
            }
        }
        self.asm.ldx(8, R0, R10, now);
        self.asm.load_imm(R1, interval_ns);
        self.asm.alu64(BPF_DIV, R0, R1);
        self.asm.stx(8, R10, epoch, R0);
        self.asm.load_imm(R1, n as u64);
        self.asm.alu64(BPF_MOD, R0, R1);
        self.asm.stx(8, R10, key + key_size as i16 - 8, R0);
        let value = self.new_slot();
        self.load(R1, v);
        self.asm.stx(8, R10, value, R1);

        let (have, done) = (self.asm.new_label(), self.asm.new_label());
        self.lookup(idx, key);
        self.asm.jmp_imm(Cond::Ne, R0, 0, have);
        let zero = self.alloc(24);
        self.zero(zero, 24);
        self.asm.ldx(8, R1, R10, epoch);
        self.asm.stx(8, R10, zero + 16, R1);
        self.map_update(idx, key, zero, 1 /* BPF_NOEXIST */);
        self.lookup(idx, key);
        self.asm.jmp_imm(Cond::Eq, R0, 0, done);
        self.asm.bind(have);
        // R0 = &{value, meta, epoch}
        if how != TsAgg::Last {
            let same = self.asm.new_label();
            self.asm.ldx(8, R1, R0, 16);
            self.asm.ldx(8, R2, R10, epoch);
            self.asm.jmp_reg(Cond::Eq, R1, R2, same);
            self.asm.st_imm(8, R0, 0, 0);
            self.asm.st_imm(8, R0, 8, 0);
            self.asm.bind(same);
        }
        self.asm.ldx(8, R2, R10, value);
        match how {
            TsAgg::Last => {
                self.asm.stx(8, R0, 0, R2);
                self.asm.ldx(8, R1, R10, now);
                self.asm.stx(8, R0, 8, R1);
            }
            TsAgg::Avg | TsAgg::Sum => {
                self.asm.ldx(8, R1, R0, 0);
                self.asm.alu64(BPF_ADD, R1, R2);
                self.asm.stx(8, R0, 0, R1);
                if how == TsAgg::Avg {
                    self.asm.ldx(8, R1, R0, 8);
                    self.asm.alu64_imm(BPF_ADD, R1, 1);
                    self.asm.stx(8, R0, 8, R1);
                }
            }
            TsAgg::Min | TsAgg::Max => {
                let (set, keep) = (self.asm.new_label(), self.asm.new_label());
                self.asm.ldx(8, R1, R0, 8);
                self.asm.jmp_imm(Cond::Eq, R1, 0, set);
                self.asm.ldx(8, R1, R0, 0);
                let signed = matches!(self.maps[idx].value, Type::Agg(AggKind::TSeries { signed: true, .. }));
                let cond = match (how == TsAgg::Min, signed) {
                    (true, true) => Cond::SGe,
                    (true, false) => Cond::Ge,
                    (false, true) => Cond::SLe,
                    (false, false) => Cond::Le,
                };
                self.asm.jmp_reg(cond, R2, R1, keep);
                self.asm.bind(set);
                self.asm.stx(8, R0, 0, R2);
                self.asm.st_imm(8, R0, 8, 1);
                self.asm.bind(keep);
            }
        }
        self.asm.ldx(8, R1, R10, epoch);
        self.asm.stx(8, R0, 16, R1);
        self.asm.bind(done);
        Ok(())
    }

    /// R0 = map_lookup_elem(map `idx`, r10 + key).
    pub fn lookup(&mut self, idx: usize, key: i16) {
        self.asm.ld_map_fd(R1, idx as i32);
        self.asm.mov64(R2, R10);
        self.asm.alu64_imm(BPF_ADD, R2, key as i32);
        self.asm.call(helpers::MAP_LOOKUP_ELEM);
    }

    // ------------------------------------------------------------------ events

    /// Send an event record `[u64 action][args...]` to user space through the ring buffer.
    /// A full ring counts a lost event instead of blocking or vanishing.
    pub fn emit_event(&mut self, action: Action, args: &[(Val, Type)], wakeup: bool) {
        let id = self.actions.len();
        self.actions.push(action);
        let types: Vec<Type> = args.iter().map(|(_, t)| t.clone()).collect();
        let (offs, size) = slot_layout(&types);
        let rec = self.alloc(8 + size);
        if types.iter().any(|t| t.is_aggregate_value()) {
            self.zero(rec + 8, size);
        }
        self.asm.st_imm(8, R10, rec, id as i32);
        for ((v, t), o) in args.iter().zip(offs) {
            self.store_val(rec + 8 + o as i16, t, *v, t);
        }
        self.asm.ld_map_fd(R1, MAP_RINGBUF as i32);
        self.asm.mov64(R2, R10);
        self.asm.alu64_imm(BPF_ADD, R2, rec as i32);
        self.asm.mov64_imm(R3, (8 + size) as i32);
        // BPF_RB_NO_WAKEUP (1): user space polls on a short timer, so a busy probe never pays for
        // a wakeup per event; exit() forces one (BPF_RB_FORCE_WAKEUP, 2).
        self.asm.mov64_imm(R4, if wakeup { 2 } else { 1 });
        self.asm.call(helpers::RINGBUF_OUTPUT);
        let ok = self.asm.new_label();
        self.asm.jmp_imm(Cond::Eq, R0, 0, ok);
        self.count_in(MAP_LOST, 0);
        self.asm.bind(ok);
    }

    /// Jump to the program's end (`exit()` stops the current probe, like bpftrace).
    pub fn jump_to_exit(&mut self) {
        self.asm.ja(self.exit);
    }
}

fn libc_eexist() -> i32 {
    17
}
