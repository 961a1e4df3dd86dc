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

mod expr;
mod maps;

pub use expr::{read_helper, read_str_helper};

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
                let rhs = match op {
                    BinOp::Add | BinOp::Sub => self.ptr_scaled(rhs, &self.ty(target), &self.ty(value)),
                    _ => rhs,
                };
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
