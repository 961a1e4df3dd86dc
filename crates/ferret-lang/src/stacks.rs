//! Stacks in BPF: how `kstack`/`ustack` values are taken and stored, and the maps behind them.
//!
//! A stack is taken into a per-CPU scratch record (kernel stacks and frame-pointer user stacks
//! with `bpf_get_stack`, user stacks by default with the DWARF unwinder of [`crate::unwind`]),
//! hashed (FNV-1a over its words), and the record is stored in the stacks map under that hash
//! (`BPF_NOEXIST`: the first copy stays). The hash is the stack's value everywhere (map keys, events, variables):
//! 8 bytes instead of a kilobyte, and equal stacks of the same process compare equal, which is
//! what per-stack counting needs. User space reads the record back by id when it prints.
//!
//! Record layout (shared with the runtime's decoder):
//! `u32 pid` (user stacks; 0 for kernel) · `u32 flags` ([`FLAG_USER`]) · `u64 nr` · `u64 ips[MAX_FRAMES]`.
//!
//! The first user stack or `usym()` of each process also sends a [`crate::Action::ProcessSeen`]
//! event, so user space records the process's mappings while it is alive: its stacks can then
//! be symbolized after it has exited (maps print at the end of tracing).
use crate::codegen::{Gen, Val};
use crate::types::{Type, U64};
use crate::{Action, MapSpec};
use ferret_bpf::helpers;
use ferret_bpf::insn::*;
use ferret_sys::bpf::map_type;

/// Frames a stack holds at most: the kernel's default `perf_event_max_stack`.
pub const MAX_FRAMES: u32 = 127;
pub const REC_PID: i16 = 0;
pub const REC_FLAGS: i16 = 4;
pub const REC_NR: i16 = 8;
pub const REC_IPS: i16 = 16;
/// Bytes of a stack record.
pub const REC_SIZE: u32 = 16 + 8 * MAX_FRAMES;
/// `flags` bit: a user-space stack (its addresses belong to `pid`).
pub const FLAG_USER: u32 = 1;
/// `BPF_F_USER_STACK` for bpf_get_stack.
const BPF_F_USER_STACK: i32 = 1 << 8;
const BPF_NOEXIST: i32 = 1;
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

/// Indices of the maps behind stacks in [`crate::Object::maps`] (present only when the program
/// takes stacks or uses `usym`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackMaps {
    /// Hash: u64 id → stack record.
    pub stacks: usize,
    /// Per-CPU array of one stack record, where a stack is assembled.
    pub scratch: usize,
    /// LRU hash: pid (u32) → u64, the processes user space has been told about.
    pub pids: usize,
    /// The DWARF unwind tables, when user stacks are unwound with them.
    pub unwind: Option<crate::unwind::UnwindMaps>,
}

/// The maps, appended after `maps`; returns their indices.
pub fn add_maps(maps: &mut Vec<MapSpec>, max_stacks: u32, dwarf: bool) -> StackMaps {
    let mut push = |name: &str, map_type: u32, key_size: u32, value_size: u32, max_entries: u32| {
        maps.push(MapSpec {
            name: name.into(),
            map_type,
            key_size,
            value_size,
            max_entries,
            key: None,
            value: Type::None,
        });
        maps.len() - 1
    };
    let stacks = push("stacks", map_type::HASH, 8, REC_SIZE, max_stacks.max(1));
    // The DWARF unwinder keeps its state after the record.
    let scratch_size = REC_SIZE + if dwarf { crate::unwind::ST_SIZE } else { 0 };
    let scratch = push("stack_scratch", map_type::PERCPU_ARRAY, 4, scratch_size, 1);
    let pids = push("stack_pids", map_type::LRU_HASH, 4, 8, 16384);
    let unwind = dwarf.then(|| crate::unwind::add_maps(maps));
    StackMaps { stacks, scratch, pids, unwind }
}

/// Whether the program names any builtin that needs the stack maps.
pub fn used_by(program: &ferret_syntax::ast::Program) -> bool {
    names_any(program, &["kstack", "ustack", "dw_ustack", "usym"])
}

/// Whether the program takes user stacks (the only users of the DWARF unwinder's tables, whose
/// filling costs thousands of map updates: `usym` alone needs none of it).
pub fn takes_user_stacks(program: &ferret_syntax::ast::Program) -> bool {
    names_any(program, &["ustack", "dw_ustack"])
}

/// Whether the program names any of `builtins` (as a variable or a call).
fn names_any(program: &ferret_syntax::ast::Program, builtins: &'static [&'static str]) -> bool {
    use ferret_syntax::ast::{Expr, ExprKind};
    use ferret_syntax::visit::{walk_expr, Visit};
    struct Finder(bool, &'static [&'static str]);
    impl Visit for Finder {
        fn expr(&mut self, e: &Expr) {
            match &e.kind {
                ExprKind::Ident(n) | ExprKind::Call { name: n, .. }
                    if self.1.contains(&n.strip_prefix("__builtin_").unwrap_or(n)) =>
                {
                    self.0 = true
                }
                _ => {}
            }
            walk_expr(self, e);
        }
    }
    let mut f = Finder(false, builtins);
    for p in &program.probes {
        if let Some(pred) = &p.predicate {
            f.expr(pred);
        }
        f.block(&p.body);
    }
    f.0
}

/// Take the current kernel or user stack (at most `limit` frames); the value is its id, 0 when
/// no stack could be taken.
pub fn take(g: &mut Gen, user: bool, limit: u16) -> Val {
    let Some(sm) = g.stack_maps else { return Val::Imm(0) };
    let out = g.new_slot();
    g.asm.st_imm(8, R10, out, 0);
    let key = g.new_slot();
    g.asm.st_imm(8, R10, key, 0);
    g.lookup(sm.scratch, key);
    let done = g.asm.new_label();
    g.asm.jmp_imm(Cond::Eq, R0, 0, done);
    g.asm.mov64(R7, R0);
    if user {
        crate::builtin::current_id(g, true, false);
        g.asm.stx(4, R7, REC_PID, R0);
        g.asm.st_imm(4, R7, REC_FLAGS, FLAG_USER as i32);
    } else {
        g.asm.st_imm(4, R7, REC_PID, 0);
        g.asm.st_imm(4, R7, REC_FLAGS, 0);
    }
    let unwound = user && sm.unwind.is_some_and(|um| crate::unwind::unwind_user(g, sm, um, limit));
    if !unwound {
        get_stack(g, user, limit);
    }
    store_record(g, sm, out);
    if user {
        g.asm.ldx(4, R1, R7, REC_PID);
        process_seen(g, sm);
    }
    g.asm.bind(done);
    Val::Slot(out)
}

/// Frames by `bpf_get_stack` (frame pointers for user stacks) into the record R7 points to.
fn get_stack(g: &mut Gen, user: bool, limit: u16) {
    // bpf_get_stack(ctx, ips, limit * 8, flags): bytes written, or < 0.
    g.asm.mov64(R1, R6);
    g.asm.mov64(R2, R7);
    g.asm.alu64_imm(BPF_ADD, R2, REC_IPS as i32);
    g.asm.mov64_imm(R3, limit.max(1) as i32 * 8);
    g.asm.mov64_imm(R4, if user { BPF_F_USER_STACK } else { 0 });
    g.asm.call(helpers::GET_STACK);
    let got = g.asm.new_label();
    g.asm.jmp_imm(Cond::SGe, R0, 0, got);
    g.asm.mov64_imm(R0, 0);
    g.asm.bind(got);
    g.asm.alu64_imm(BPF_RSH, R0, 3);
    if limit == 0 {
        g.asm.mov64_imm(R0, 0);
    }
    g.asm.stx(8, R7, REC_NR, R0);
}

/// Hash the scratch record R7 points to into the slot `out` and store it in the stacks map.
/// Clobbers R0-R5, R8 (not R9, which a scratch-map frame holds).
fn store_record(g: &mut Gen, sm: StackMaps, out: i16) {
    g.asm.ld_imm64(R5, FNV_PRIME);
    g.asm.ld_imm64(R8, FNV_OFFSET);
    for at in [REC_PID, REC_NR] {
        g.asm.ldx(8, R1, R7, at);
        g.asm.alu64(BPF_XOR, R8, R1);
        g.asm.alu64(BPF_MUL, R8, R5);
    }
    g.asm.ldx(8, R4, R7, REC_NR);
    g.asm.mov64_imm(R3, 0);
    let (top, end) = (g.asm.new_label(), g.asm.new_label());
    g.asm.bind(top);
    g.asm.jmp_imm(Cond::Ge, R3, MAX_FRAMES as i32, end);
    g.asm.jmp_reg(Cond::Ge, R3, R4, end);
    g.asm.mov64(R1, R3);
    g.asm.alu64_imm(BPF_LSH, R1, 3);
    g.asm.alu64(BPF_ADD, R1, R7);
    g.asm.ldx(8, R2, R1, REC_IPS);
    g.asm.alu64(BPF_XOR, R8, R2);
    g.asm.alu64(BPF_MUL, R8, R5);
    g.asm.alu64_imm(BPF_ADD, R3, 1);
    g.asm.ja(top);
    g.asm.bind(end);
    // 0 means "no stack".
    g.asm.alu64_imm(BPF_OR, R8, 1);
    g.asm.stx(8, R10, out, R8);
    g.asm.ld_map_fd(R1, sm.stacks as i32);
    g.asm.mov64(R2, R10);
    g.asm.alu64_imm(BPF_ADD, R2, out as i32);
    g.asm.mov64(R3, R7);
    g.asm.mov64_imm(R4, BPF_NOEXIST);
    g.asm.call(helpers::MAP_UPDATE_ELEM);
}

/// With the pid in R1: the first time this process is seen, tell user space (an event that
/// wakes it at once, so it reads the process's mappings while the process lives). The event
/// also carries the program's code range and file (`mm->start_code`, `end_code`,
/// `exe_file`'s inode and device): a process that exits before user space reads its mappings
/// still has its program's frames symbolized.
fn process_seen(g: &mut Gen, sm: StackMaps) {
    let key = g.new_slot();
    g.asm.st_imm(8, R10, key, 0);
    g.asm.stx(4, R10, key, R1);
    let val = g.new_slot();
    g.asm.st_imm(8, R10, val, 0);
    g.asm.ld_map_fd(R1, sm.pids as i32);
    g.asm.mov64(R2, R10);
    g.asm.alu64_imm(BPF_ADD, R2, key as i32);
    g.asm.mov64(R3, R10);
    g.asm.alu64_imm(BPF_ADD, R3, val as i32);
    g.asm.mov64_imm(R4, BPF_NOEXIST);
    g.asm.call(helpers::MAP_UPDATE_ELEM);
    let known = g.asm.new_label();
    g.asm.jmp_imm(Cond::Ne, R0, 0, known);
    let info = program_info(g);
    let args: Vec<(Val, Type)> = std::iter::once(key).chain(info).map(|s| (Val::Slot(s), U64)).collect();
    g.emit_event(Action::ProcessSeen, &args, true);
    g.asm.bind(known);
}

/// Slots holding the current process's `start_code`, `end_code`, and its program file's inode
/// and device (zeros where unknown).
fn program_info(g: &mut Gen) -> [i16; 4] {
    let slots = [(); 4].map(|_| g.new_slot());
    for s in slots {
        g.asm.st_imm(8, R10, s, 0);
    }
    let off = crate::unwind::kernel_offset;
    let offsets = (|| {
        Some([
            off("task_struct", "mm")?,
            off("mm_struct", "start_code")?,
            off("mm_struct", "end_code")?,
            off("mm_struct", "exe_file")?,
            off("file", "f_inode")?,
            off("inode", "i_ino")?,
            off("inode", "i_sb")?,
            off("super_block", "s_dev")?,
        ])
    })();
    let Some([mm, start_code, end_code, exe_file, f_inode, i_ino, i_sb, s_dev]) = offsets else { return slots };
    let out = g.asm.new_label();
    g.asm.call(helpers::GET_CURRENT_TASK_BTF);
    g.asm.ldx(8, R1, R0, mm);
    g.asm.jmp_imm(Cond::Eq, R1, 0, out);
    g.asm.ldx(8, R2, R1, start_code);
    g.asm.stx(8, R10, slots[0], R2);
    g.asm.ldx(8, R2, R1, end_code);
    g.asm.stx(8, R10, slots[1], R2);
    g.asm.ldx(8, R1, R1, exe_file);
    g.asm.jmp_imm(Cond::Eq, R1, 0, out);
    g.asm.ldx(8, R1, R1, f_inode);
    g.asm.jmp_imm(Cond::Eq, R1, 0, out);
    g.asm.ldx(8, R2, R1, i_ino);
    g.asm.stx(8, R10, slots[2], R2);
    g.asm.ldx(8, R1, R1, i_sb);
    g.asm.jmp_imm(Cond::Eq, R1, 0, out);
    g.asm.ldx(4, R2, R1, s_dev);
    g.asm.stx(8, R10, slots[3], R2);
    g.asm.bind(out);
    slots
}

/// `usym(addr)`: `[u64 addr][u64 pid]`, and the process announced as for user stacks.
pub fn usym(g: &mut Gen, addr: Val) -> Val {
    let out = g.alloc(16);
    g.load(R1, addr);
    g.asm.stx(8, R10, out, R1);
    crate::builtin::current_id(g, true, false);
    g.asm.stx(8, R10, out + 8, R0);
    if let Some(sm) = g.stack_maps {
        g.asm.ldx(8, R1, R10, out + 8);
        process_seen(g, sm);
    }
    Val::Mem(out)
}

/// `len(stack)`: the frames of stack `id`, into R0 (0 when unknown).
pub fn frames(g: &mut Gen, id: Val) {
    let Some(sm) = g.stack_maps else {
        g.asm.mov64_imm(R0, 0);
        return;
    };
    let key = g.addr_of(id);
    g.lookup(sm.stacks, key);
    let none = g.asm.new_label();
    g.asm.jmp_imm(Cond::Eq, R0, 0, none);
    g.asm.ldx(8, R0, R0, REC_NR);
    g.asm.bind(none);
}
