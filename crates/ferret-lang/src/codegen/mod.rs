//! Typed tree → BPF instructions. Expression values live in 8-byte stack slots (scalars) or
//! stack areas (strings, tuples); R6 holds the context for the whole program. Every instruction
//! is tagged with the span of the statement or expression that produced it, so a verifier
//! rejection can be reported at the script line that caused it.
use crate::builtin::{self, CallSite};
use crate::probe::{Context, Target};
use crate::sema::{key_of, MapInfo, TypeTable};
use crate::types::{tuple_layout, AggKind, Type, I64};
use crate::{Action, MapSpec, Object, Options, ProgSpec, FIRST_USER_MAP, MAP_FULL, MAP_LOST, MAP_RINGBUF, MAP_STOPPED};
use ferret_bpf::insn::*;
use ferret_bpf::{helpers, Asm, Label};
use ferret_syntax::ast::*;
use ferret_syntax::{Diagnostic, Span};
use ferret_sys::bpf::{map_type, prog_type};
use std::collections::{BTreeMap, HashMap};

/// Where an expression's value is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Val {
    /// A constant scalar.
    Imm(i64),
    /// A scalar in the 8-byte stack slot at `r10 + off`.
    Slot(i16),
    /// A string/tuple/buffer in the stack area at `r10 + off` (size from its type).
    Mem(i16),
    /// No value (statements, `exit()`).
    None,
}

pub type GenResult<T> = Result<T, Diagnostic>;

/// The BPF stack is 512 bytes.
const STACK_LIMIT: i32 = 512;

pub struct Gen<'a> {
    pub asm: Asm,
    pub opts: &'a Options,
    pub types: &'a TypeTable,
    pub target: &'a Target,
    pub map_index: &'a HashMap<String, usize>,
    pub maps: &'a [MapSpec],
    pub actions: &'a mut Vec<Action>,
    pub spans: Vec<Span>,
    sp: i32,
    max_sp: i32,
    vars: HashMap<String, (i16, Type)>,
    loops: Vec<(Label, Label)>,
    exit: Label,
}

/// Build the object: internal maps, user maps, and one program per probe instance.
pub fn generate(
    opts: &Options,
    program: &ferret_syntax::ast::Program,
    instances: &[(usize, Target)],
    infos: &BTreeMap<String, MapInfo>,
    tables: &[TypeTable],
) -> Result<Object, Vec<Diagnostic>> {
    let mut maps = vec![
        MapSpec {
            name: "ringbuf".into(),
            map_type: map_type::RINGBUF,
            key_size: 0,
            value_size: 0,
            max_entries: opts.ringbuf_size,
            key: None,
            value: Type::None,
        },
        MapSpec {
            name: "lost".into(),
            map_type: map_type::PERCPU_ARRAY,
            key_size: 4,
            value_size: 8,
            max_entries: 1,
            key: None,
            value: Type::None,
        },
        MapSpec {
            name: "full".into(),
            map_type: map_type::PERCPU_ARRAY,
            key_size: 4,
            value_size: 8,
            max_entries: infos.len().max(1) as u32,
            key: None,
            value: Type::None,
        },
        MapSpec {
            name: "stopped".into(),
            map_type: map_type::ARRAY,
            key_size: 4,
            value_size: 8,
            max_entries: 1,
            key: None,
            value: Type::None,
        },
    ];
    let mut map_index = HashMap::new();
    for info in infos.values() {
        map_index.insert(info.name.clone(), maps.len());
        maps.push(user_map_spec(opts, info));
    }
    let mut actions = vec![];
    let mut progs = vec![];
    let mut diags = vec![];
    for ((probe_idx, target), types) in instances.iter().zip(tables) {
        let probe = &program.probes[*probe_idx];
        let mut g = Gen {
            asm: Asm::new(),
            opts,
            types,
            target,
            map_index: &map_index,
            maps: &maps,
            actions: &mut actions,
            spans: vec![probe.span],
            sp: 0,
            max_sp: 0,
            vars: HashMap::new(),
            loops: vec![],
            exit: Label(0),
        };
        match g.gen_probe(probe) {
            Ok(()) => {}
            Err(d) => {
                diags.push(d);
                continue;
            }
        }
        let spans_table = g.spans.clone();
        let asm = g.asm;
        let tags = asm.tags.clone();
        let finished = match asm.finish() {
            Ok(p) => p,
            Err(e) => {
                diags.push(Diagnostic::error(probe.span, format!("internal code generation error: {e}")));
                continue;
            }
        };
        let spans = tags.iter().map(|t| spans_table[*t as usize]).collect();
        let special = target.kind.special;
        progs.push(ProgSpec {
            name: prog_name(target),
            prog_type: if special.is_some() { prog_type::RAW_TRACEPOINT } else { target.kind.prog_type },
            insns: finished.insns,
            spans,
            targets: vec![target.clone()],
            special,
        });
    }
    if !diags.is_empty() {
        let mut seen = std::collections::HashSet::new();
        diags.retain(|d| seen.insert((d.span, d.message.clone())));
        return Err(diags);
    }
    Ok(Object { maps, progs, actions })
}

fn prog_name(t: &Target) -> String {
    let base = t.parts.last().cloned().unwrap_or_else(|| t.name.clone());
    base.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect()
}

fn user_map_spec(opts: &Options, info: &MapInfo) -> MapSpec {
    let key_size = info.key.as_ref().map_or(8, |k| k.size().max(1).div_ceil(8) * 8);
    let (map_type, value_size, key_size) = match &info.value {
        Type::Agg(a) if a.is_hist() => (map_type::PERCPU_HASH, 8, key_size + 8),
        Type::Agg(a) => (map_type::PERCPU_HASH, a.value_size(), key_size),
        v => (map_type::HASH, v.size().max(1).div_ceil(8) * 8, key_size),
    };
    let max_entries = match &info.value {
        // Buckets multiply the entries a histogram needs.
        Type::Agg(a) if a.is_hist() => opts.max_map_keys.saturating_mul(8),
        _ => opts.max_map_keys,
    };
    MapSpec {
        name: info.name.clone(),
        map_type,
        key_size,
        value_size,
        max_entries,
        key: info.key.clone(),
        value: info.value.clone(),
    }
}

impl<'a> Gen<'a> {
    pub fn ty(&self, e: &Expr) -> Type {
        self.types.get(&key_of(e)).cloned().unwrap_or(Type::None)
    }

    /// Tag following instructions with `span`; returns the previous tag to restore.
    pub fn tag(&mut self, span: Span) -> u32 {
        let prev = self.asm.tag;
        self.spans.push(span);
        self.asm.tag = self.spans.len() as u32 - 1;
        prev
    }

    fn gen_probe(&mut self, probe: &Probe) -> GenResult<()> {
        self.exit = self.asm.new_label();
        self.asm.mov64(R6, R1);
        if self.target.kind.special.is_none() {
            // Return at once once user space has stopped tracing (see MAP_STOPPED).
            let k = self.new_slot();
            self.asm.st_imm(8, R10, k, 0);
            self.lookup(MAP_STOPPED, k);
            let running = self.asm.new_label();
            self.asm.jmp_imm(Cond::Eq, R0, 0, running);
            self.asm.ldx(8, R1, R0, 0);
            self.asm.jmp_imm(Cond::Ne, R1, 0, self.exit);
            self.asm.bind(running);
        }
        self.alloc_vars(&probe.body)?;
        if let Some(pred) = &probe.predicate {
            let prev = self.tag(pred.span);
            let v = self.expr(pred)?;
            self.load(R1, v);
            self.asm.jmp_imm(Cond::Eq, R1, 0, self.exit);
            self.asm.tag = prev;
        }
        self.block(&probe.body)?;
        self.asm.bind(self.exit);
        self.asm.mov64_imm(R0, 0);
        self.asm.exit();
        if self.max_sp > STACK_LIMIT {
            return Err(Diagnostic::error(
                probe.span,
                format!(
                    "this probe needs {} bytes of BPF stack; the limit is {STACK_LIMIT} (shorten strings with --max-strlen or split the probe)",
                    self.max_sp
                ),
            ));
        }
        Ok(())
    }

    /// Give every variable of the probe a permanent stack area, typed by sema.
    fn alloc_vars(&mut self, b: &Block) -> GenResult<()> {
        let mut found: Vec<(String, Type)> = vec![];
        collect_vars(b, self.types, &mut found);
        for (name, t) in found {
            if let Some((_, old)) = self.vars.get(&name) {
                if old.size() >= t.size() {
                    continue;
                }
            }
            let off = self.alloc(t.size().max(8));
            self.zero(off, t.size().max(8));
            self.vars.insert(name, (off, t));
        }
        Ok(())
    }

    // ------------------------------------------------------------------ stack

    /// Reserve `n` bytes (8-aligned) of stack; freed when the enclosing statement ends.
    pub fn alloc(&mut self, n: u32) -> i16 {
        self.sp += n.div_ceil(8) as i32 * 8;
        self.max_sp = self.max_sp.max(self.sp);
        (-self.sp).max(-32768) as i16
    }

    pub fn new_slot(&mut self) -> i16 {
        self.alloc(8)
    }

    /// Store a register in a fresh slot.
    pub fn spill(&mut self, r: Reg) -> Val {
        let off = self.new_slot();
        self.asm.stx(8, R10, off, r);
        Val::Slot(off)
    }

    pub fn zero(&mut self, off: i16, n: u32) {
        let mut at = 0;
        while at + 8 <= n {
            self.asm.st_imm(8, R10, off + at as i16, 0);
            at += 8;
        }
        for w in [4, 2, 1] {
            if at + w <= n {
                self.asm.st_imm(w, R10, off + at as i16, 0);
                at += w;
            }
        }
    }

    /// Load a scalar value (or the address of a memory value) into `r`.
    pub fn load(&mut self, r: Reg, v: Val) {
        match v {
            Val::Imm(i) => self.asm.load_imm(r, i as u64),
            Val::Slot(off) => self.asm.ldx(8, r, R10, off),
            Val::Mem(off) => {
                self.asm.mov64(r, R10);
                self.asm.alu64_imm(BPF_ADD, r, off as i32);
            }
            Val::None => self.asm.mov64_imm(r, 0),
        }
    }

    /// A stack address holding `v` (scalars are spilled to a slot).
    pub fn addr_of(&mut self, v: Val) -> i16 {
        match v {
            Val::Slot(off) | Val::Mem(off) => off,
            other => {
                self.load(R1, other);
                let off = self.new_slot();
                self.asm.stx(8, R10, off, R1);
                off
            }
        }
    }

    // ------------------------------------------------------------------ statements

    pub fn block(&mut self, b: &Block) -> GenResult<()> {
        for s in &b.stmts {
            self.stmt(s)?;
        }
        Ok(())
    }

    fn stmt(&mut self, s: &Stmt) -> GenResult<()> {
        let saved_sp = self.sp;
        let prev = self.tag(s.span);
        match &s.kind {
            StmtKind::Expr(e) => {
                self.expr(e)?;
            }
            StmtKind::Assign { target, op, value, .. } => {
                if let Some(value) = value {
                    self.assign(s.span, target, *op, value)?;
                }
            }
            StmtKind::If { cond, then, otherwise } => {
                let v = self.expr(cond)?;
                let (l_else, l_end) = (self.asm.new_label(), self.asm.new_label());
                self.load(R1, v);
                self.asm.jmp_imm(Cond::Eq, R1, 0, l_else);
                self.block(then)?;
                self.asm.ja(l_end);
                self.asm.bind(l_else);
                if let Some(o) = otherwise {
                    self.block(o)?;
                }
                self.asm.bind(l_end);
            }
            StmtKind::While { cond, body } => {
                let (top, end) = (self.asm.new_label(), self.asm.new_label());
                self.asm.bind(top);
                let v = self.expr(cond)?;
                self.load(R1, v);
                self.asm.jmp_imm(Cond::Eq, R1, 0, end);
                self.loops.push((top, end));
                self.block(body)?;
                self.loops.pop();
                self.asm.ja(top);
                self.asm.bind(end);
            }
            StmtKind::Unroll { count, body } => {
                let n = match count.kind {
                    ExprKind::Int(n) => n,
                    _ => 1,
                };
                for _ in 0..n {
                    let (next, end) = (self.asm.new_label(), self.asm.new_label());
                    self.loops.push((next, end));
                    self.block(body)?;
                    self.loops.pop();
                    self.asm.bind(next);
                    self.asm.bind(end);
                }
            }
            StmtKind::For { var, iterable: ForIter::Range(a, b), body } => {
                let (start, end_v) = (self.expr(a)?, self.expr(b)?);
                let end_slot = self.addr_of(end_v);
                let (off, _) = self.vars.get(var).cloned().unwrap_or((self.new_slot(), I64));
                self.load(R1, start);
                self.asm.stx(8, R10, off, R1);
                let (top, cont, end) = (self.asm.new_label(), self.asm.new_label(), self.asm.new_label());
                self.asm.bind(top);
                self.asm.ldx(8, R1, R10, off);
                self.asm.ldx(8, R2, R10, end_slot);
                self.asm.jmp_reg(Cond::SGe, R1, R2, end);
                self.loops.push((cont, end));
                self.block(body)?;
                self.loops.pop();
                self.asm.bind(cont);
                self.asm.ldx(8, R1, R10, off);
                self.asm.alu64_imm(BPF_ADD, R1, 1);
                self.asm.stx(8, R10, off, R1);
                self.asm.ja(top);
                self.asm.bind(end);
            }
            StmtKind::For { .. } => return Err(Diagnostic::error(s.span, "for loops over maps are not supported yet")),
            StmtKind::Return(_) => self.asm.ja(self.exit),
            StmtKind::Break => {
                let (_, end) = *self.loops.last().ok_or_else(|| Diagnostic::error(s.span, "break outside a loop"))?;
                self.asm.ja(end);
            }
            StmtKind::Continue => {
                let (top, _) =
                    *self.loops.last().ok_or_else(|| Diagnostic::error(s.span, "continue outside a loop"))?;
                self.asm.ja(top);
            }
            StmtKind::Block(b) => self.block(b)?,
        }
        self.asm.tag = prev;
        self.sp = saved_sp;
        Ok(())
    }

    fn assign(&mut self, span: Span, target: &Expr, op: Option<BinOp>, value: &Expr) -> GenResult<()> {
        if let ExprKind::Call { name, args } = &value.kind {
            if let Some(b) = builtin::find(name).filter(|b| b.aggregate) {
                let site = CallSite { name, args, span: value.span, expr: value };
                let agg = match self.map_value_type(target) {
                    Type::Agg(a) => a,
                    _ => return Err(Diagnostic::error(span, "aggregation assigned to a non-aggregation map")),
                };
                let v = (b.lower)(self, &site)?;
                return self.agg_update(target, agg, v);
            }
        }
        let v = match op {
            None => self.expr(value)?,
            Some(op) => {
                let cur = self.expr(target)?;
                let rhs = self.expr(value)?;
                let signed = self.ty(target).is_signed() || self.ty(value).is_signed();
                self.arith(op, cur, rhs, signed)
            }
        };
        let vt = self.ty(value);
        match &target.kind {
            ExprKind::Var(name) => {
                let (off, t) =
                    self.vars.get(name).cloned().ok_or_else(|| Diagnostic::error(span, "unknown variable"))?;
                self.store_val(off, &t, v, &vt);
                Ok(())
            }
            _ => self.map_store(target, v, &vt),
        }
    }

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
                Ok(if t.is_aggregate_value() { Val::Mem(off) } else { Val::Slot(off) })
            }
            ExprKind::Map(_) | ExprKind::MapElem { .. } => self.map_read(e),
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
            ExprKind::Field { expr, field, .. } => {
                let base_t = self.ty(expr);
                match base_t {
                    Type::Args => self.args_field(e, field),
                    Type::Tuple(ts) => {
                        let base = self.expr(expr)?;
                        let i: usize = field.parse().unwrap_or(0);
                        let (offs, _) = tuple_layout(&ts);
                        let Val::Mem(off) = base else { return Ok(Val::Imm(0)) };
                        let at = off + offs[i] as i16;
                        Ok(if ts[i].is_aggregate_value() { Val::Mem(at) } else { Val::Slot(at) })
                    }
                    _ => Err(Diagnostic::error(e.span, format!("Can not access field '{field}'"))),
                }
            }
            ExprKind::Index { expr, index } => self.index(e, expr, index),
            ExprKind::Cast { expr, .. } => {
                let v = self.expr(expr)?;
                let t = self.ty(e);
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
                    self.store_val(base + o as i16, it, v, it);
                }
                Ok(Val::Mem(base))
            }
            ExprKind::Sizeof(arg) => {
                let t = match arg {
                    SizeofArg::Expr(x) => self.ty(x),
                    SizeofArg::Type(_) => self.ty(e),
                };
                let n = match t {
                    Type::Int { bytes, .. } => bytes as u32,
                    Type::Bool => 1,
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
            ExprKind::Record(_) | ExprKind::Offsetof { .. } => Err(Diagnostic::error(e.span, "not supported yet")),
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
                let delta = if matches!(op, UnOp::PreInc | UnOp::PostInc) { 1 } else { -1 };
                let old = self.expr(inner)?;
                self.load(R1, old);
                let before = self.spill(R1);
                self.asm.alu64_imm(BPF_ADD, R1, delta);
                let after = self.spill(R1);
                let t = self.ty(inner);
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
            UnOp::Deref | UnOp::AddrOf => Err(Diagnostic::error(e.span, "not supported yet")),
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
        let signed = lt.is_signed() || rt.is_signed();
        Ok(self.arith(op, a, b, signed))
    }

    /// `a op b` on 64-bit integers.
    pub fn arith(&mut self, op: BinOp, a: Val, b: Val, signed: bool) -> Val {
        use BinOp::*;
        if let (Val::Imm(x), Val::Imm(y)) = (a, b) {
            if let Some(v) = fold(op, x, y, signed) {
                return Val::Imm(v);
            }
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

    /// R0 = R0 s/ R1 or R0 s% R1, without the v4 signed instructions: divide magnitudes, fix signs.
    fn signed_divmod(&mut self, div: bool) {
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
                let i = match index.kind {
                    ExprKind::Int(i) => i as usize,
                    _ => 0,
                };
                let (offs, _) = tuple_layout(&ts);
                let Val::Mem(off) = b else { return Ok(Val::Imm(0)) };
                let at = off + offs[i] as i16;
                Ok(if ts[i].is_aggregate_value() { Val::Mem(at) } else { Val::Slot(at) })
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
            Type::Array { elem, len } => {
                let b = self.expr(base)?;
                let Val::Mem(off) = b else { return Ok(Val::Imm(0)) };
                let esz = elem.size().max(1);
                match index.kind {
                    ExprKind::Int(i) if (i as u32) < len => {
                        let at = off + (i as u32 * esz) as i16;
                        self.asm.ldx(esz.min(8), R0, R10, at);
                        if let Type::Int { bytes, signed: true } = *elem {
                            self.extend(R0, bytes, true);
                        }
                        Ok(self.spill(R0))
                    }
                    _ => Err(Diagnostic::error(index.span, "array index must be a constant within the array")),
                }
            }
            _ => Err(Diagnostic::error(e.span, "cannot index this value")),
        }
    }

    // ------------------------------------------------------------------ probe context

    fn args_field(&mut self, e: &Expr, field: &str) -> GenResult<Val> {
        let Context::Tracepoint { fields, .. } = &self.target.context else {
            return Err(Diagnostic::error(e.span, "args is not available for this probe type yet"));
        };
        let f = fields
            .iter()
            .find(|f| f.name == field)
            .cloned()
            .ok_or_else(|| Diagnostic::error(e.span, format!("Can't find field '{field}'")))?;
        let t = self.ty(e);
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
                    .find(|w| at + w <= n && (f.offset + at).is_multiple_of(*w))
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

    /// `argN`: raw tracepoint args are `u64 ctx[N]`; perf events read pt_regs (x86-64 ABI).
    pub fn arg(&mut self, n: u32, span: Span) -> GenResult<Val> {
        match &self.target.context {
            Context::RawArgs => {
                self.asm.ldx(8, R0, R6, (n * 8) as i16);
                Ok(self.spill(R0))
            }
            Context::PerfEvent => {
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
    fn str_compare(&mut self, negate: bool, a: Val, at: &Type, b: Val, bt: &Type, b_expr: &Expr, a_expr: &Expr) -> Val {
        let out = self.new_slot();
        let (ne, end) = (self.asm.new_label(), self.asm.new_label());
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
        self.asm.st_imm(8, R10, out, !negate as i32);
        self.asm.ja(end);
        self.asm.bind(ne);
        self.asm.st_imm(8, R10, out, negate as i32);
        self.asm.bind(end);
        Val::Slot(out)
    }

    /// Copy `n` bytes between stack areas.
    pub fn copy_stack(&mut self, dst: i16, src: i16, n: u32) {
        let mut at = 0u32;
        while at < n {
            let w = [8u32, 4, 2, 1].into_iter().find(|w| at + w <= n).unwrap_or(1);
            self.asm.ldx(w, R0, R10, src + at as i16);
            self.asm.stx(w, R10, dst + at as i16, R0);
            at += w;
        }
    }

    /// Write value `v` of type `vt` into a stack area of type `t` at `dst` (already zeroed where
    /// `t` is larger than `vt`).
    pub fn store_val(&mut self, dst: i16, t: &Type, v: Val, vt: &Type) {
        match (t, vt) {
            (Type::Str(n), Type::Str(m)) | (Type::Buffer(n), Type::Buffer(m)) => {
                let Val::Mem(src) = v else { return };
                if m < n {
                    self.zero(dst, *n);
                }
                self.copy_stack(dst, src, (*n).min(*m));
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
                    let sv = if vs[i].is_aggregate_value() {
                        Val::Mem(src + soffs[i] as i16)
                    } else {
                        Val::Slot(src + soffs[i] as i16)
                    };
                    self.store_val(dst + doffs[i] as i16, &ts[i], sv, &vs[i]);
                }
            }
            _ if t.is_aggregate_value() => {}
            _ => {
                self.load(R1, v);
                self.asm.stx(8, R10, dst, R1);
            }
        }
    }

    // ------------------------------------------------------------------ maps

    pub fn map_of(&self, e: &Expr) -> (usize, String) {
        let name = match &e.kind {
            ExprKind::Map(n) | ExprKind::MapElem { name: n, .. } => format!("@{n}"),
            _ => String::new(),
        };
        (self.map_index.get(&name).copied().unwrap_or(FIRST_USER_MAP), name)
    }

    fn map_value_type(&self, e: &Expr) -> Type {
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
                        self.store_val(off + o as i16, t, v, &vt);
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

    fn map_read(&mut self, e: &Expr) -> GenResult<Val> {
        let (idx, _) = self.map_of(e);
        let spec = self.maps[idx].clone();
        let key = self.map_key(e)?;
        let t = self.ty(e);
        let out = if t.is_aggregate_value() { self.alloc(t.size()) } else { self.new_slot() };
        self.zero(out, t.size().max(8));
        if matches!(spec.value, Type::Agg(a) if a.is_hist()) {
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
        self.asm.bind(miss);
        Ok(if t.is_aggregate_value() { Val::Mem(out) } else { Val::Slot(out) })
    }

    /// Read a per-CPU count/sum/avg as its total over every CPU (bpf_map_lookup_percpu_elem),
    /// so END and other probes see what the map will print, not one CPU's share.
    fn percpu_sum(&mut self, idx: usize, key: i16, out: i16, agg: AggKind) {
        let ncpus = ferret_sys::cpus::possible_count().unwrap_or(1) as i32;
        let (top, next, done) = (self.asm.new_label(), self.asm.new_label(), self.asm.new_label());
        self.asm.mov64_imm(R7, 0);
        self.asm.mov64_imm(R8, 0);
        self.asm.mov64_imm(R9, 0);
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
        if matches!(agg, AggKind::Avg { .. }) {
            self.asm.ldx(8, R1, R0, 8);
            self.asm.alu64(BPF_ADD, R9, R1);
        }
        self.asm.bind(next);
        self.asm.alu64_imm(BPF_ADD, R8, 1);
        self.asm.ja(top);
        self.asm.bind(done);
        if matches!(agg, AggKind::Avg { .. }) {
            // total / count (R9 / R7), 0 when empty
            let empty = self.asm.new_label();
            self.asm.mov64_imm(R0, 0);
            self.asm.jmp_imm(Cond::Eq, R7, 0, empty);
            self.asm.mov64(R0, R9);
            self.asm.alu64(BPF_DIV, R0, R7);
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
    fn agg_update(&mut self, target: &Expr, agg: AggKind, v: Val) -> GenResult<()> {
        let (idx, _) = self.map_of(target);
        let spec = self.maps[idx].clone();
        let key = self.map_key(target)?;
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
        let (offs, size) = tuple_layout(&types);
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
        Div if y == 0 => 0,
        Div if signed => x.wrapping_div(y),
        Div => ((x as u64) / (y as u64)) as i64,
        Mod if y == 0 => x,
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

pub fn parse_int_literal(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x") {
        return u64::from_str_radix(h, 16).ok().map(|v| v as i64);
    }
    s.parse::<i64>().ok()
}

/// Every `$var` assigned in a block, with the type sema gave its first assignment.
fn collect_vars(b: &Block, types: &TypeTable, out: &mut Vec<(String, Type)>) {
    for s in &b.stmts {
        collect_stmt(s, types, out);
    }
}

fn collect_stmt(s: &Stmt, types: &TypeTable, out: &mut Vec<(String, Type)>) {
    match &s.kind {
        StmtKind::Assign { target, .. } => {
            if let ExprKind::Var(name) = &target.kind {
                if let Some(t) = types.get(&key_of(target)) {
                    out.push((name.clone(), t.clone()));
                }
            }
            walk_exprs_stmt(s, types, out);
        }
        StmtKind::If { then, otherwise, .. } => {
            walk_exprs_stmt(s, types, out);
            collect_vars(then, types, out);
            if let Some(o) = otherwise {
                collect_vars(o, types, out);
            }
        }
        StmtKind::While { body, .. } | StmtKind::Unroll { body, .. } => collect_vars(body, types, out),
        StmtKind::For { var, body, .. } => {
            out.push((var.clone(), I64));
            collect_vars(body, types, out);
        }
        StmtKind::Block(b) => collect_vars(b, types, out),
        _ => walk_exprs_stmt(s, types, out),
    }
}

/// Variables assigned inside block expressions.
fn walk_exprs_stmt(s: &Stmt, types: &TypeTable, out: &mut Vec<(String, Type)>) {
    fn walk(e: &Expr, types: &TypeTable, out: &mut Vec<(String, Type)>) {
        if let ExprKind::BlockExpr { stmts, value } = &e.kind {
            for s in stmts {
                collect_stmt(s, types, out);
            }
            walk(value, types, out);
        }
        if let ExprKind::Call { args, .. } = &e.kind {
            for a in args {
                walk(a, types, out);
            }
        }
    }
    match &s.kind {
        StmtKind::Expr(e) => walk(e, types, out),
        StmtKind::Assign { value: Some(v), .. } => walk(v, types, out),
        StmtKind::If { cond, .. } => walk(cond, types, out),
        _ => {}
    }
}
