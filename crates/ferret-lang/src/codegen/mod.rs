//! Typed tree → BPF instructions. Expression values live in 8-byte stack slots (scalars) or
//! stack areas (strings, tuples); R6 holds the context for the whole program. Every instruction
//! is tagged with the span of the statement or expression that produced it, so a verifier
//! rejection can be reported at the script line that caused it.
use crate::builtin::{self, CallSite};
use crate::probe::{Context, Target};
use crate::sema::{key_of, MapInfo, TypeTable};
use crate::types::{const_int, record_types, slot_layout, tuple_layout, AggKind, Type, I64};
use crate::{Action, MapSpec, Object, Options, ProgSpec, FIRST_USER_MAP, MAP_FULL, MAP_LOST, MAP_RINGBUF, MAP_STOPPED};
use ferret_bpf::insn::*;
use ferret_bpf::{helpers, Asm, Label};
use ferret_syntax::ast::*;
use ferret_syntax::visit::{walk_stmt, Visit};
use ferret_syntax::{Diagnostic, Span};
use ferret_sys::bpf::map_type;
use std::collections::{BTreeMap, HashMap};

mod expr;
mod forloop;
mod kmem;
mod maps;
mod values;

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
    /// Bytes at the top of the frame holding variables and the slots below; copied into and out
    /// of for-loop callbacks, which run in their own frames.
    vars_size: i32,
    /// Where the program context (R6) is spilled, for callbacks to reload it.
    ctx_slot: i16,
    /// Set when a callback ends the probe (`return`, `exit()`), so its caller stops too.
    ret_flag: i16,
    /// Subprograms (for-loop callbacks), placed after the main program.
    pending: Vec<Asm>,
    /// The script's C definitions (`#define` values).
    pub cdefs: &'a crate::cdefs::CDefs,
    /// The maps behind stack values, when the program takes stacks.
    pub stack_maps: Option<crate::stacks::StackMaps>,
    /// The DWARF unwinder's entry, once generated for this program.
    pub unwinder: Option<Label>,
    /// `skboutput`'s perf-event-array map.
    pub skb_output_map: Option<usize>,
    /// Set when the probe's frame lives in the per-CPU scratch map rather than on the 512-byte
    /// BPF stack (see `BigFrame`).
    big: Option<BigFrame>,
    /// A loop body too big for its own stack frame (it may still fit a scratch-map frame).
    loop_too_big: Option<Diagnostic>,
    /// The probe has a `while` loop: its counter must stay on the real stack, where the verifier
    /// tracks the value and so sees the loop end, so the probe cannot move to a scratch-map frame.
    has_while: bool,
    /// Real-stack bytes below the fixed `REAL_*` slots handed out by `real_slot` (scratch-map
    /// frames only).
    real_sp: i16,
    /// The deepest chain of loop-body callback frames below this frame, as the verifier
    /// counts them (stack frames only).
    callee_depth: i32,
}

/// A probe whose frame is larger than the BPF stack (long strings: `max_strlen` 1024, say)
/// runs with it in an element of a per-CPU array map: a prologue looks the element up into R9,
/// pointing the frame's size in, and every `r10 + off` access of the probe becomes `r9 + off`.
/// What must stay on the real stack (the lookup key, spilled pointers the verifier must keep
/// typed: the context, the frame pointer, a callback's arguments) is addressed through `RSTK`.
/// Loop-body callbacks share the frame: they get the frame pointer and the context through
/// their context argument, which points at `REAL_FRAME` in their caller's real stack. Only
/// probes that leave R9 alone (no DWARF unwinding) and have no `while` loop can move; the
/// others keep the stack error.
#[derive(Debug, Clone, Copy)]
struct BigFrame {
    /// The probe's element of the scratch map.
    key: u32,
    /// The scratch map's index.
    map: usize,
}

/// The real BPF stack pointer in a probe with a scratch-map frame (R10 there means the frame);
/// `fix_frame` turns it back into R10.
pub const RSTK: Reg = Reg(11);
/// Real-stack slots of such a probe (and of each of its callbacks): the scratch lookup key, the
/// context, the frame pointer (the two a callback's context argument points at), arguments.
const REAL_KEY: i16 = -8;
const REAL_CTX: i16 = -16;
const REAL_FRAME: i16 = -24;
const REAL_ARGS: i16 = -32;

/// The largest per-CPU map value the kernel allocates (and as far as 16-bit instruction offsets
/// reach back from the frame's end).
const BIG_FRAME_LIMIT: i32 = 32 * 1024;

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
        let decl =
            program.map_decls.iter().find(|d| d.name.trim_start_matches('@') == info.name.trim_start_matches('@'));
        maps.push(user_map_spec(opts, info, decl));
    }
    let stack_maps = crate::stacks::used_by(program).then(|| {
        let dwarf = opts.dwarf_unwind && crate::stacks::takes_user_stacks(program);
        crate::stacks::add_maps(&mut maps, opts.max_map_keys, dwarf)
    });
    let skb_output_map = crate::uses_skboutput(program).then(|| {
        maps.push(MapSpec {
            name: "skb_output".into(),
            map_type: map_type::PERF_EVENT_ARRAY,
            key_size: 4,
            value_size: 4,
            max_entries: ferret_sys::cpus::possible_count().unwrap_or(1).max(1) as u32,
            key: None,
            value: Type::None,
        });
        maps.len() - 1
    });
    let mut actions = vec![];
    let mut progs = vec![];
    // Syscall tracepoints reached through raw_syscalls: one program array per probe block and
    // direction, filled with the block's per-syscall programs (see probe::syscall).
    let mut tail_arrays: Vec<((usize, bool), usize)> = vec![];
    for (probe_idx, t) in instances {
        if let Some(tail) = t.syscall {
            if !tail_arrays.iter().any(|(k, _)| *k == (*probe_idx, tail.exit)) {
                tail_arrays.push(((*probe_idx, tail.exit), maps.len()));
                maps.push(MapSpec {
                    name: "syscalls".into(),
                    map_type: map_type::PROG_ARRAY,
                    key_size: 4,
                    value_size: 4,
                    max_entries: crate::syscalls::MAX_NR + 1,
                    key: None,
                    value: Type::None,
                });
            }
        }
    }
    let cdefs = crate::cdefs::CDefs::from_program(program);
    let mut diags = vec![];
    let scratch_map = maps.len();
    let mut scratch_size = 0u32;
    // One scratch element per probe block that needs one (the instances of a wildcard share
    // it: they cannot run nested on one CPU), so the map stays small on many-CPU machines.
    let mut scratch_keys: Vec<usize> = vec![];
    for ((probe_idx, target), types) in instances.iter().zip(tables) {
        let probe = &program.probes[*probe_idx];
        let actions_before = actions.len();
        let gen = |big: Option<BigFrame>, actions: &mut Vec<Action>| {
            let mut g = Gen {
                asm: Asm::new(),
                opts,
                types,
                target,
                map_index: &map_index,
                maps: &maps,
                actions,
                spans: vec![probe.span],
                sp: 0,
                max_sp: 0,
                vars: HashMap::new(),
                loops: vec![],
                exit: Label(0),
                vars_size: 0,
                ctx_slot: 0,
                ret_flag: 0,
                pending: vec![],
                cdefs: &cdefs,
                stack_maps,
                skb_output_map,
                unwinder: None,
                big,
                loop_too_big: None,
                has_while: false,
                real_sp: 0,
                callee_depth: 0,
            };
            let r = g.gen_probe(probe);
            // With loop-body callbacks, the stack the verifier counts is the deepest chain of
            // frames: this one's and its callbacks', each rounded as the verifier rounds them.
            let max_sp = if g.callee_depth > 0 { verifier_frame(g.max_sp) + g.callee_depth } else { g.max_sp };
            let (spans, asm, loop_too_big, has_while) = (g.spans, g.asm, g.loop_too_big, g.has_while);
            r.map(|()| (spans, asm, max_sp, loop_too_big, has_while))
        };
        let mut generated = gen(None, &mut actions);
        let first = match &generated {
            Ok((_, asm, max_sp, loop_too_big, has_while)) => {
                Some((*max_sp, loop_too_big.clone(), !writes_r9(asm) && !*has_while, *has_while))
            }
            Err(_) => None,
        };
        if let Some((max_sp, loop_too_big, movable, has_while)) = first {
            if max_sp > STACK_LIMIT || loop_too_big.is_some() {
                let big = BigFrame {
                    key: scratch_keys.iter().position(|p| p == probe_idx).unwrap_or(scratch_keys.len()) as u32,
                    map: scratch_map,
                };
                let too_big = |needed: i32| {
                    let scratch = if movable {
                        format!(", or {BIG_FRAME_LIMIT} in a scratch map")
                    } else if has_while {
                        " (a while loop keeps the probe's values there: its counter must stay where the verifier tracks it)".to_string()
                    } else {
                        " (DWARF user-stack unwinding keeps the probe's values there; `config = { ustack_unwind = fp }` lifts that)".to_string()
                    };
                    Diagnostic::error(
                        probe.span,
                        format!(
                            "this probe needs {needed} bytes of BPF stack; the limit is {STACK_LIMIT}{scratch} (shorten strings with --max-strlen or split the probe)"
                        ),
                    )
                };
                generated = Err(match loop_too_big {
                    Some(d) if max_sp <= STACK_LIMIT => d,
                    _ => too_big(max_sp),
                });
                if movable {
                    actions.truncate(actions_before);
                    generated = match gen(Some(big), &mut actions) {
                        Ok((_, _, needed, _, _)) if needed > BIG_FRAME_LIMIT => Err(too_big(needed)),
                        Ok(g) => {
                            if !scratch_keys.contains(probe_idx) {
                                scratch_keys.push(*probe_idx);
                            }
                            scratch_size = scratch_size.max(frame_bytes(g.2));
                            Ok(g)
                        }
                        Err(e) => Err(e),
                    };
                }
            }
        }
        let (spans_table, asm) = match generated {
            Ok((spans, asm, _, _, _)) => (spans, asm),
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
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
            prog_type: target.kind.prog_type,
            func_starts: finished.func_starts().into_iter().map(|s| s as u32).collect(),
            insns: finished.insns,
            spans,
            targets: vec![target.clone()],
            special,
            btf: target.btf.clone(),
            tail_call: target.syscall.and_then(|tail| {
                let map = tail_arrays.iter().find(|(k, _)| *k == (*probe_idx, tail.exit))?.1;
                Some((map, tail.nr))
            }),
        });
    }
    for &((_, exit), map) in &tail_arrays {
        let target = crate::probe::syscall::dispatcher(exit);
        progs.push(ProgSpec {
            name: prog_name(&target),
            prog_type: target.kind.prog_type,
            insns: syscall_dispatcher(exit, map),
            func_starts: vec![0],
            spans: vec![],
            targets: vec![target],
            special: None,
            btf: None,
            tail_call: None,
        });
    }
    if !scratch_keys.is_empty() {
        maps.push(MapSpec {
            name: "scratch".into(),
            map_type: map_type::PERCPU_ARRAY,
            key_size: 4,
            value_size: scratch_size,
            max_entries: scratch_keys.len() as u32,
            key: None,
            value: Type::None,
        });
    }
    if !diags.is_empty() {
        let mut seen = std::collections::HashSet::new();
        diags.retain(|d| seen.insert((d.span, d.message.clone())));
        return Err(diags);
    }
    let mut probed_files: Vec<String> = instances
        .iter()
        .filter(|(_, t)| matches!(t.context, Context::Regs { user: true, .. }))
        .filter_map(|(_, t)| t.parts.first().cloned())
        .collect();
    probed_files.sort();
    probed_files.dedup();
    Ok(Object {
        maps,
        progs,
        actions,
        print_maps_on_exit: opts.print_maps_on_exit,
        license: opts.license.clone(),
        stack_maps,
        skb_output_map,
        probed_files,
        show_debug_info: opts.show_debug_info,
        cpp_demangle: opts.cpp_demangle,
        str_trunc_trailer: opts.str_trunc_trailer.clone(),
        context: Default::default(),
    })
}

fn prog_name(t: &Target) -> String {
    let base = t.parts.last().cloned().unwrap_or_else(|| t.name.clone());
    base.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect()
}

/// Buckets a `hist(v, k)` can use, for any `k` in 0..=5: `((64 - k) << k) + 1` at most.
const HIST_BUCKETS_MAX: u32 = 2048;

fn user_map_spec(opts: &Options, info: &MapInfo, decl: Option<&MapDecl>) -> MapSpec {
    let key_size = info.key.as_ref().map_or(8, |k| k.size().max(1).div_ceil(8) * 8);
    // `let @m = lruhash(N)`: LRU maps evict instead of filling up. Aggregations stay per-CPU
    // whatever the declaration says: their updates rely on it.
    let lru = decl.is_some_and(|d| d.kind.contains("lru"));
    let (hash, percpu) =
        if lru { (map_type::LRU_HASH, map_type::LRU_PERCPU_HASH) } else { (map_type::HASH, map_type::PERCPU_HASH) };
    let (map_type, value_size, key_size) = match &info.value {
        Type::Agg(a) if a.is_hist() => (percpu, 8, key_size + 8),
        Type::Agg(a) if a.is_bucketed() => (percpu, a.value_size(), key_size + 8),
        Type::Agg(a) => (percpu, a.value_size(), key_size),
        v => (hash, v.size().max(1).div_ceil(8) * 8, key_size),
    };
    let max_entries = match (&info.value, decl) {
        (_, Some(d)) => d.max_entries.clamp(1, u32::MAX as u64) as u32,
        // Without a key a map has one entry, or one per bucket: the hash maps are preallocated
        // (per CPU for aggregations), so sizing them as keyed maps cost milliseconds at start.
        (Type::Agg(a), None) if info.key.is_none() && a.is_hist() => HIST_BUCKETS_MAX,
        (Type::Agg(AggKind::LHist { min, max, step }), None) if info.key.is_none() => {
            ferret_output::hist::lhist_bucket_count(*min, *max, *step).clamp(1, u32::MAX as usize) as u32
        }
        (Type::Agg(a), None) if info.key.is_none() && !a.is_bucketed() => 1,
        (v, None) if info.key.is_none() && !matches!(v, Type::Agg(_)) => 1,
        // Buckets multiply the entries a histogram needs.
        (Type::Agg(AggKind::TSeries { n, .. }), None) => opts.max_map_keys.saturating_mul(*n),
        (Type::Agg(a), None) if a.is_hist() => opts.max_map_keys.saturating_mul(8),
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

/// The scratch-map bytes a frame of `max_sp` bytes takes.
/// A frame's stack depth as the verifier counts it toward the 512-byte limit of a call chain.
fn verifier_frame(max_sp: i32) -> i32 {
    (max_sp.max(1) + 31) / 32 * 32
}

fn frame_bytes(max_sp: i32) -> u32 {
    (max_sp.max(8) as u32).div_ceil(8) * 8
}

/// In code of a probe with a scratch-map frame: R10 (the frame) becomes R9, and `RSTK` (the
/// real stack) becomes R10.
fn fix_frame(asm: &mut Asm) {
    for i in &mut asm.insns {
        // ld_imm64 keeps a pseudo-source (map fd, BTF id) in `src`, calls theirs; none is 10 or 11.
        if i.class() == BPF_LD {
            continue;
        }
        for r in [&mut i.dst, &mut i.src] {
            if *r == R10.0 {
                *r = R9.0;
            } else if *r == RSTK.0 {
                *r = R10.0;
            }
        }
    }
}

/// A probe block's raw_syscalls dispatcher: tail-call the block's program for this syscall
/// number (`ctx[1]` on sys_enter; `regs->orig_ax` on sys_exit, `ctx[0]` being the registers) out
/// of program array `map`; a number without one falls through to `return 0`.
fn syscall_dispatcher(exit: bool, map: usize) -> Vec<Insn> {
    let mut a = Asm::new();
    let done = a.new_label();
    a.mov64(R6, R1);
    if exit {
        read_syscall_reg(&mut a, crate::probe::syscall::ORIG_AX, -8);
        a.jmp_imm(Cond::Ne, R0, 0, done);
        a.ldx(8, R3, R10, -8);
    } else {
        a.ldx(8, R3, R6, 8);
    }
    // Negative (no syscall) and x32 numbers are out of the array's range.
    a.jmp_imm(Cond::Gt, R3, crate::syscalls::MAX_NR as i32, done);
    a.mov64(R1, R6);
    a.ld_map_fd(R2, map as i32);
    a.call(helpers::TAIL_CALL);
    a.bind(done);
    a.mov64_imm(R0, 0);
    a.exit();
    a.finish().map(|p| p.insns).unwrap_or_default()
}

/// Copy the 8-byte `struct pt_regs` member at `member` of a raw_syscalls program (R6 is its
/// context; `ctx[0]` points to the registers) to the stack slot at `into`, with
/// bpf_probe_read_kernel (R0 is its result).
pub(crate) fn read_syscall_reg(a: &mut Asm, member: i16, into: i16) {
    a.ldx(8, R3, R6, 0);
    a.alu64_imm(BPF_ADD, R3, member as i32);
    a.mov64(R1, R10);
    a.alu64_imm(BPF_ADD, R1, into as i32);
    a.mov64_imm(R2, 8);
    a.call(helpers::PROBE_READ_KERNEL);
}

/// Whether a program writes R9 (the DWARF unwinder uses it), which a scratch-map frame needs
/// for itself.
fn writes_r9(asm: &Asm) -> bool {
    asm.insns.iter().any(|i| {
        matches!(i.class(), BPF_ALU | BPF_ALU64 | BPF_LDX) && i.dst == R9.0
            || i.class() == BPF_LD && i.dst == R9.0 && i.code != 0
    })
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
        let frame_size_at = self.big.map(|big| self.big_prologue(big));
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
        if self.target.syscall.is_some() {
            self.syscall_filters();
        }
        self.alloc_vars(&probe.body)?;
        self.ctx_slot = self.new_slot();
        self.asm.stx(8, R10, self.ctx_slot, R6);
        self.ret_flag = self.new_slot();
        self.asm.st_imm(8, R10, self.ret_flag, 0);
        self.vars_size = self.sp;
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
        if let Some(at) = frame_size_at {
            self.asm.insns[at].imm = frame_bytes(self.max_sp) as i32;
            fix_frame(&mut self.asm);
        }
        for sub in std::mem::take(&mut self.pending) {
            self.asm.append(sub);
        }
        Ok(())
    }

    /// What the perf tracepoint a syscall tracepoint replaces left out (see
    /// [`crate::probe::syscall`]): 32-bit syscalls, whose numbers name other syscalls, and, with
    /// `-p`/`-c`, other processes.
    fn syscall_filters(&mut self) {
        use crate::probe::syscall::{PT_REGS_CS, USER32_CS};
        // A 32-bit task runs with the 32-bit user code segment (reading it needs no BTF, which
        // would cost 10 ms at start).
        let tmp = self.new_slot();
        read_syscall_reg(&mut self.asm, PT_REGS_CS, tmp);
        self.asm.ldx(2, R1, R10, tmp);
        self.asm.jmp_imm(Cond::Eq, R1, USER32_CS, self.exit);
        let pid = self.opts.pid.map(|p| p as u32).or(self.opts.cpid);
        if let Some(pid) = pid {
            crate::builtin::current_id(self, true, false);
            self.asm.jmp_imm(Cond::Ne, R0, pid as i32, self.exit);
        }
    }

    /// R9 = the probe's scratch element + the frame's size (frame offsets are negative, as on
    /// the stack; the size is patched in at the end, at the returned instruction), spilled with
    /// the context to the real stack for callbacks; R1 is kept. The probe returns at once if the
    /// lookup fails (it cannot: the element exists on every CPU).
    fn big_prologue(&mut self, big: BigFrame) -> usize {
        let ok = self.asm.new_label();
        self.asm.mov64(R6, R1);
        self.asm.stx(8, RSTK, REAL_CTX, R6);
        self.asm.st_imm(4, RSTK, REAL_KEY, big.key as i32);
        self.asm.ld_map_fd(R1, big.map as i32);
        self.asm.mov64(R2, RSTK);
        self.asm.alu64_imm(BPF_ADD, R2, REAL_KEY as i32);
        self.asm.call(helpers::MAP_LOOKUP_ELEM);
        self.asm.jmp_imm(Cond::Ne, R0, 0, ok);
        self.asm.mov64_imm(R0, 0);
        self.asm.exit();
        self.asm.bind(ok);
        self.asm.mov64(R9, R0);
        let at = self.asm.len();
        self.asm.alu64_imm(BPF_ADD, R9, 0);
        self.asm.stx(8, RSTK, REAL_FRAME, R9);
        self.asm.mov64(R1, R6);
        at
    }

    /// A subprogram (a helper's callback) generated by `body` and placed after the program;
    /// returns its entry label.
    pub fn subprogram(&mut self, body: impl FnOnce(&mut Asm)) -> Label {
        let entry = self.asm.new_label();
        let mut sub = self.asm.fork();
        sub.bind(entry);
        body(&mut sub);
        self.asm.adopt_labels(&sub);
        self.pending.push(sub);
        entry
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

    /// An 8-byte slot for a pointer the verifier must keep typed (a ring buffer record): on the
    /// BPF stack, `(R10, off)`, or with a scratch-map frame on the real stack, `(RSTK, off)`
    /// (the frame is map memory, where a stored pointer becomes a plain number).
    pub fn pointer_slot(&mut self) -> (Reg, i16) {
        if self.big.is_none() {
            return (R10, self.new_slot());
        }
        self.real_sp += 8;
        (RSTK, REAL_ARGS - 8 * 4 - self.real_sp)
    }

    /// Store a register in a fresh slot.
    pub fn spill(&mut self, r: Reg) -> Val {
        let off = self.new_slot();
        self.asm.stx(8, R10, off, r);
        Val::Slot(off)
    }

    /// Zero `n` bytes at `r10 + off`, each store aligned to its width (tuple members, which
    /// need not be 8-byte aligned, are zeroed too).
    pub fn zero(&mut self, off: i16, n: u32) {
        let mut at = 0;
        while at < n {
            let w = [8u32, 4, 2, 1].into_iter().find(|&w| at + w <= n && values::aligned(off, at, w)).unwrap_or(1);
            self.asm.st_imm(w, R10, off + at as i16, 0);
            at += w;
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
                self.has_while = true;
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
                let n = self.literal(count).clamp(1, 100);
                for _ in 0..n {
                    let (next, end) = (self.asm.new_label(), self.asm.new_label());
                    self.loops.push((next, end));
                    self.block(body)?;
                    self.loops.pop();
                    self.asm.bind(next);
                    self.asm.bind(end);
                }
            }
            StmtKind::For { var, iterable: ForIter::Range(a, b), body } => self.for_range(var, a, b, body)?,
            StmtKind::For { var, iterable: ForIter::Map(m), body } => self.for_map(var, m, body)?,
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
                let (tt, vt) = (self.ty(target), self.ty(value));
                let signed = if op == BinOp::Shr { tt.is_signed() } else { tt.is_signed() || vt.is_signed() };
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

/// A positional parameter as an integer: decimal, `0x` hex or `0` octal, as bpftrace reads them.
pub fn parse_int_literal(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u64::from_str_radix(h, 16).ok().map(|v| v as i64);
    }
    if s.len() > 1 && s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit()) {
        return u64::from_str_radix(&s[1..], 8).ok().map(|v| v as i64);
    }
    s.parse::<i64>().ok()
}

/// Every `$var` assigned or declared anywhere in a block (nested blocks and block expressions
/// included), with the type sema gave it.
fn collect_vars(b: &Block, types: &TypeTable, out: &mut Vec<(String, Type)>) {
    struct Vars<'a> {
        types: &'a TypeTable,
        out: &'a mut Vec<(String, Type)>,
    }
    impl Visit for Vars<'_> {
        fn stmt(&mut self, s: &Stmt) {
            match &s.kind {
                StmtKind::Assign { target, .. } => {
                    if let ExprKind::Var(name) = &target.kind {
                        if let Some(t) = self.types.get(&key_of(target)) {
                            self.out.push((name.clone(), t.clone()));
                        }
                    }
                }
                StmtKind::For { var, iterable: ForIter::Map(m), .. } => {
                    let t = self.types.get(&key_of(m)).cloned().unwrap_or(Type::None);
                    self.out.push((var.clone(), t));
                }
                StmtKind::For { var, .. } => self.out.push((var.clone(), I64)),
                _ => {}
            }
            walk_stmt(self, s);
        }
    }
    Vars { types, out }.block(b);
}
