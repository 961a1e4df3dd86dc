//! User stacks without frame pointers: a DWARF-CFI unwinder in BPF.
//!
//! `bpf_get_stack` walks frame pointers only, so code built with `-fomit-frame-pointer` (the
//! default at -O2) yields one frame and then garbage. Instead, user space turns each mapped
//! file's `.eh_frame` into a sorted table of rows (`ferret_symbols::unwind`: from a file
//! offset on, CFA = rsp|rbp + n, caller's rbp at CFA - m) stored in the rows map, and registers
//! each file by (inode, device) in the files map. The probe then unwinds in the kernel, frame
//! by frame (a `bpf_loop` callback), from the user registers (`bpf_task_pt_regs`, so any probe
//! type works):
//! - the address's mapping comes from the process's entry in the pids map (its executable
//!   mappings and their rows, written by user space when the process is first seen), or else
//!   from `bpf_find_vma` (which in interrupt context, as in profile probes, answers only once
//!   until an irq_work has run); it is cached while frames stay in one file;
//! - the row comes from a binary search, the return address from CFA - 8;
//! - a file without a table gets one frame-pointer step.
//!
//! The frames land in the stack record `bpf_get_stack` would fill, so everything downstream
//! (ids, map keys, symbolization) is shared. Tables are loaded for the probed binaries, the
//! `-c` command and libc before tracing starts, and for every file a process maps when its
//! first stack is seen (see [`crate::Action::ProcessSeen`]): a process first seen in the
//! middle of tracing has its first stack walked with what `bpf_find_vma` alone gives.
use crate::codegen::Gen;
use crate::stacks::{StackMaps, MAX_FRAMES, REC_IPS, REC_NR};
use crate::types::Type;
use crate::MapSpec;
use ferret_bpf::insn::*;
use ferret_bpf::{helpers, Asm, Label};
use ferret_sys::bpf::map_type;

/// Rows the rows map holds (16 bytes each).
pub const MAX_ROWS: u32 = 1 << 18;
/// Files the files map holds.
pub const MAX_FILES: u32 = 4096;
/// Bytes of a files-map key: `u64 inode`, `u64 device` (the kernel's `s_dev` encoding,
/// major << 20 | minor).
pub const FILE_KEY_SIZE: u32 = 16;
/// Bytes of a files-map value: `u32 first row`, `u32 rows`.
pub const FILE_VALUE_SIZE: u32 = 8;
/// Mappings a pids-map entry holds.
pub const PID_MAPPINGS: u32 = 32;
/// Bytes of one mapping in a pids-map entry: `u64 start`, `u64 end`, `u64 file offset of
/// start`, `u32 first row`, `u32 rows`.
pub const PID_MAPPING_SIZE: u32 = 32;
/// Bytes of a pids-map value: `u64 count`, then the mappings.
pub const PID_VALUE_SIZE: u32 = 8 + PID_MAPPINGS * PID_MAPPING_SIZE;
/// Processes the pids map holds.
pub const MAX_PIDS: u32 = 4096;

/// The unwinder's state, after the stack record in the per-CPU scratch value (see
/// [`STATE_OFF`]). Not on the BPF stack: the verifier tracks stack contents, and the many ways
/// a walk can end would each be a distinct state to explore the rest of the probe with (two
/// `ustack`s in one probe exceeded its million-instruction budget); map memory it does not track.
const ST_IP: i16 = 0;
const ST_SP: i16 = 8;
const ST_BP: i16 = 16;
const ST_VM_START: i16 = 24;
const ST_VM_END: i16 = 32;
/// File offset of `vm_start`.
const ST_PGOFF: i16 = 40;
const ST_ROWS_START: i16 = 48;
const ST_ROWS_LEN: i16 = 56;
/// `ST_INO` and `ST_DEV` are the files-map key.
const ST_INO: i16 = 64;
const ST_DEV: i16 = 72;
const ST_FOUND: i16 = 80;
/// The process (u32 in a u64), the pids-map key.
const ST_PID: i16 = 88;
pub const ST_SIZE: u32 = 96;
/// Where the state starts in the scratch value.
pub const STATE_OFF: i16 = crate::stacks::REC_SIZE as i16;

/// Binary-search steps: enough for 2^24 rows.
const SEARCH_STEPS: i32 = 24;

/// x86-64 `struct pt_regs` offsets.
const PT_REGS_BP: i16 = 32;
const PT_REGS_IP: i16 = 128;
const PT_REGS_SP: i16 = 152;

/// Map indices of the unwind tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnwindMaps {
    /// Array of rows.
    pub rows: usize,
    /// Hash: file key → its rows.
    pub files: usize,
    /// LRU hash: pid (u32) → its executable mappings with their rows.
    pub pids: usize,
}

pub fn add_maps(maps: &mut Vec<MapSpec>) -> UnwindMaps {
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
    UnwindMaps {
        rows: push("unwind_rows", map_type::ARRAY, 4, ferret_symbols::unwind::ROW_SIZE as u32, MAX_ROWS),
        files: push("probed_files", map_type::HASH, FILE_KEY_SIZE, FILE_VALUE_SIZE, MAX_FILES),
        pids: push("unwind_pids", map_type::LRU_HASH, 4, PID_VALUE_SIZE, MAX_PIDS),
    }
}

/// Kernel struct offsets the `bpf_find_vma` callback reads (from the kernel's BTF).
#[derive(Debug, Clone, Copy)]
struct VmaOffsets {
    vm_start: i16,
    vm_end: i16,
    vm_pgoff: i16,
    vm_file: i16,
    f_inode: i16,
    i_ino: i16,
    i_sb: i16,
    s_dev: i16,
}

/// The byte offset of field `f` in kernel struct `s`, from the kernel's BTF.
pub(crate) fn kernel_offset(s: &str, f: &str) -> Option<i16> {
    let btf = ferret_btf::kernel::vmlinux().ok()?;
    let id = btf.find(ferret_btf::Kind::Struct, s)?;
    i16::try_from(btf.find_member(id, f)?.bit_offset / 8).ok()
}

fn vma_offsets() -> Option<VmaOffsets> {
    let off = kernel_offset;
    Some(VmaOffsets {
        vm_start: off("vm_area_struct", "vm_start")?,
        vm_end: off("vm_area_struct", "vm_end")?,
        vm_pgoff: off("vm_area_struct", "vm_pgoff")?,
        vm_file: off("vm_area_struct", "vm_file")?,
        f_inode: off("file", "f_inode")?,
        i_ino: off("inode", "i_ino")?,
        i_sb: off("inode", "i_sb")?,
        s_dev: off("super_block", "s_dev")?,
    })
}

/// Unwind the current task's user stack into the scratch record R7 points to (at most `limit`
/// frames, `nr` set). Returns false when the kernel's BTF lacks what the unwinder reads (the
/// caller then uses `bpf_get_stack`). Clobbers R0-R5, R8, R9.
pub fn unwind_user(g: &mut Gen, sm: StackMaps, um: UnwindMaps, limit: u16) -> bool {
    let Some(offs) = vma_offsets() else { return false };
    let entry = match g.unwinder {
        Some(l) => l,
        None => {
            let vma_cb = g.subprogram(|a| vma_callback(a, sm, offs));
            let l = g.subprogram(|a| frame_callback(a, sm, um, vma_cb));
            g.unwinder = Some(l);
            l
        }
    };
    // R7 is the scratch record; the state follows it.
    for f in [ST_VM_START, ST_VM_END, ST_ROWS_LEN] {
        g.asm.st_imm(8, R7, STATE_OFF + f, 0);
    }
    g.asm.call(helpers::GET_CURRENT_TASK_BTF);
    g.asm.mov64(R1, R0);
    g.asm.call(helpers::TASK_PT_REGS);
    for (from, to) in [(PT_REGS_IP, ST_IP), (PT_REGS_SP, ST_SP), (PT_REGS_BP, ST_BP)] {
        g.asm.ldx(8, R1, R0, from);
        g.asm.stx(8, R7, STATE_OFF + to, R1);
    }
    crate::builtin::current_id(g, true, false);
    g.asm.stx(8, R7, STATE_OFF + ST_PID, R0);
    g.asm.st_imm(8, R7, REC_NR, 0);
    // bpf_loop(limit, frame_callback, NULL, 0)
    g.asm.mov64_imm(R1, limit as i32);
    g.asm.ld_func(R2, entry);
    g.asm.mov64_imm(R3, 0);
    g.asm.mov64_imm(R4, 0);
    g.asm.call(helpers::LOOP);
    true
}

/// `bpf_find_vma` callback `(task, vma, _)`: the mapping's range, file offset, and its file's
/// inode and device into the state.
fn vma_callback(a: &mut Asm, sm: StackMaps, o: VmaOffsets) {
    let out = a.new_label();
    a.mov64(R6, R2);
    a.st_imm(8, R10, -8, 0);
    lookup(a, sm.scratch, -8);
    a.jmp_imm(Cond::Eq, R0, 0, out);
    a.mov64(R3, R0);
    a.alu64_imm(BPF_ADD, R3, STATE_OFF as i32);
    a.mov64(R2, R6);
    a.ldx(8, R4, R2, o.vm_start);
    a.stx(8, R3, ST_VM_START, R4);
    a.ldx(8, R4, R2, o.vm_end);
    a.stx(8, R3, ST_VM_END, R4);
    a.ldx(8, R4, R2, o.vm_pgoff);
    a.alu64_imm(BPF_LSH, R4, 12);
    a.stx(8, R3, ST_PGOFF, R4);
    a.st_imm(8, R3, ST_INO, 0);
    a.st_imm(8, R3, ST_DEV, 0);
    a.st_imm(8, R3, ST_FOUND, 1);
    a.ldx(8, R4, R2, o.vm_file);
    a.jmp_imm(Cond::Eq, R4, 0, out);
    a.ldx(8, R4, R4, o.f_inode);
    a.jmp_imm(Cond::Eq, R4, 0, out);
    a.ldx(8, R5, R4, o.i_ino);
    a.stx(8, R3, ST_INO, R5);
    a.ldx(8, R5, R4, o.i_sb);
    a.jmp_imm(Cond::Eq, R5, 0, out);
    a.ldx(4, R5, R5, o.s_dev);
    a.stx(8, R3, ST_DEV, R5);
    a.bind(out);
    a.mov64_imm(R0, 0);
    a.exit();
}

/// R0 = map_lookup_elem(map, r10 + key).
fn lookup(a: &mut Asm, map: usize, key: i16) {
    a.ld_map_fd(R1, map as i32);
    a.mov64(R2, R10);
    a.alu64_imm(BPF_ADD, R2, key as i32);
    a.call(helpers::MAP_LOOKUP_ELEM);
}

/// R0 = bpf_probe_read_user(r10 + dst, 8, R3).
fn read_user(a: &mut Asm, dst: i16) {
    a.mov64(R1, R10);
    a.alu64_imm(BPF_ADD, R1, dst as i32);
    a.mov64_imm(R2, 8);
    a.call(helpers::PROBE_READ_USER);
}

/// `bpf_loop` callback `(i, _)`: record frame i (the state's ip), then step to the caller.
/// Returns 1 (stop) when there is no caller to step to.
fn frame_callback(a: &mut Asm, sm: StackMaps, um: UnwindMaps, vma_cb: Label) {
    // Own frame: key, address looked up, lo, hi, mid, two read buffers.
    const KEY: i16 = -8;
    const ADDR: i16 = -16;
    const LO: i16 = -24;
    const HI: i16 = -32;
    const MID: i16 = -40;
    const RA: i16 = -48;
    const BP: i16 = -56;
    let [stop, skip_dec, refresh, have_vma, fp_step, search, found, left, next, base_bp, have_base, no_bp, cont] =
        [(); 13].map(|_| a.new_label());
    let (scan, no_pid) = (a.new_label(), a.new_label());

    a.mov64(R9, R1);
    a.jmp_imm(Cond::Ge, R9, MAX_FRAMES as i32, stop);
    a.st_imm(8, R10, KEY, 0);
    lookup(a, sm.scratch, KEY);
    a.jmp_imm(Cond::Eq, R0, 0, stop);
    a.mov64(R7, R0);
    a.mov64(R6, R0);
    a.alu64_imm(BPF_ADD, R6, STATE_OFF as i32);
    a.ldx(8, R8, R6, ST_IP);
    a.jmp_imm(Cond::Eq, R8, 0, stop);
    // Record the frame: ips[i] = ip, nr = i + 1.
    a.mov64(R1, R9);
    a.alu64_imm(BPF_LSH, R1, 3);
    a.alu64(BPF_ADD, R1, R7);
    a.stx(8, R1, REC_IPS, R8);
    a.mov64(R1, R9);
    a.alu64_imm(BPF_ADD, R1, 1);
    a.stx(8, R7, REC_NR, R1);
    // Callers' addresses are return addresses: look up the call instruction before them.
    a.jmp_imm(Cond::Eq, R9, 0, skip_dec);
    a.alu64_imm(BPF_SUB, R8, 1);
    a.bind(skip_dec);
    a.stx(8, R10, ADDR, R8);
    // Still in the cached mapping?
    a.ldx(8, R1, R6, ST_VM_START);
    a.jmp_reg(Cond::Gt, R1, R8, refresh);
    a.ldx(8, R1, R6, ST_VM_END);
    a.jmp_reg(Cond::Gt, R1, R8, have_vma);
    a.bind(refresh);
    a.st_imm(8, R6, ST_FOUND, 0);
    a.st_imm(8, R6, ST_ROWS_LEN, 0);
    // The process's mappings as user space registered them.
    a.ld_map_fd(R1, um.pids as i32);
    a.mov64(R2, R6);
    a.alu64_imm(BPF_ADD, R2, ST_PID as i32);
    a.call(helpers::MAP_LOOKUP_ELEM);
    a.jmp_imm(Cond::Eq, R0, 0, no_pid);
    a.mov64(R7, R0);
    a.ldx(8, R4, R7, 0);
    a.ldx(8, R8, R10, ADDR);
    a.mov64_imm(R9, 0);
    a.bind(scan);
    a.jmp_imm(Cond::Ge, R9, PID_MAPPINGS as i32, no_pid);
    a.jmp_reg(Cond::Ge, R9, R4, no_pid);
    a.mov64(R1, R9);
    a.alu64_imm(BPF_LSH, R1, 5);
    a.alu64(BPF_ADD, R1, R7);
    a.alu64_imm(BPF_ADD, R9, 1);
    a.ldx(8, R2, R1, 8);
    a.jmp_reg(Cond::Gt, R2, R8, scan);
    a.ldx(8, R3, R1, 16);
    a.jmp_reg(Cond::Le, R3, R8, scan);
    // Found: start, end, file offset, rows.
    a.stx(8, R6, ST_VM_START, R2);
    a.stx(8, R6, ST_VM_END, R3);
    a.ldx(8, R2, R1, 24);
    a.stx(8, R6, ST_PGOFF, R2);
    a.ldx(4, R2, R1, 32);
    a.stx(8, R6, ST_ROWS_START, R2);
    a.ldx(4, R2, R1, 36);
    a.stx(8, R6, ST_ROWS_LEN, R2);
    a.ja(have_vma);
    a.bind(no_pid);
    a.call(helpers::GET_CURRENT_TASK_BTF);
    a.mov64(R1, R0);
    a.ldx(8, R2, R10, ADDR);
    a.ld_func(R3, vma_cb);
    a.mov64_imm(R4, 0);
    a.mov64_imm(R5, 0);
    a.call(helpers::FIND_VMA);
    a.ldx(8, R1, R6, ST_FOUND);
    a.jmp_imm(Cond::Eq, R1, 0, stop);
    a.ld_map_fd(R1, um.files as i32);
    a.mov64(R2, R6);
    a.alu64_imm(BPF_ADD, R2, ST_INO as i32);
    a.call(helpers::MAP_LOOKUP_ELEM);
    a.jmp_imm(Cond::Eq, R0, 0, have_vma);
    a.ldx(4, R1, R0, 0);
    a.stx(8, R6, ST_ROWS_START, R1);
    a.ldx(4, R1, R0, 4);
    a.stx(8, R6, ST_ROWS_LEN, R1);
    a.bind(have_vma);
    a.ldx(8, R1, R6, ST_ROWS_LEN);
    a.jmp_imm(Cond::Eq, R1, 0, fp_step);
    // The address as a file offset, then the last row starting at or before it.
    a.ldx(8, R8, R10, ADDR);
    a.ldx(8, R1, R6, ST_VM_START);
    a.alu64(BPF_SUB, R8, R1);
    a.ldx(8, R1, R6, ST_PGOFF);
    a.alu64(BPF_ADD, R8, R1);
    a.stx(8, R10, ADDR, R8);
    a.st_imm(8, R10, LO, 0);
    a.ldx(8, R1, R6, ST_ROWS_LEN);
    a.stx(8, R10, HI, R1);
    a.mov64_imm(R9, 0);
    a.bind(search);
    a.jmp_imm(Cond::Ge, R9, SEARCH_STEPS, found);
    a.ldx(8, R1, R10, LO);
    a.ldx(8, R2, R10, HI);
    a.jmp_reg(Cond::Ge, R1, R2, found);
    a.alu64(BPF_ADD, R1, R2);
    a.alu64_imm(BPF_RSH, R1, 1);
    a.stx(8, R10, MID, R1);
    a.ldx(8, R2, R6, ST_ROWS_START);
    a.alu64(BPF_ADD, R2, R1);
    a.stx(4, R10, KEY, R2);
    lookup(a, um.rows, KEY);
    a.jmp_imm(Cond::Eq, R0, 0, stop);
    a.ldx(4, R1, R0, 0);
    a.ldx(8, R2, R10, ADDR);
    a.ldx(8, R3, R10, MID);
    a.jmp_reg(Cond::Gt, R1, R2, left);
    a.alu64_imm(BPF_ADD, R3, 1);
    a.stx(8, R10, LO, R3);
    a.ja(next);
    a.bind(left);
    a.stx(8, R10, HI, R3);
    a.bind(next);
    a.alu64_imm(BPF_ADD, R9, 1);
    a.ja(search);
    a.bind(found);
    a.ldx(8, R1, R10, LO);
    a.jmp_imm(Cond::Eq, R1, 0, stop);
    a.alu64_imm(BPF_SUB, R1, 1);
    a.ldx(8, R2, R6, ST_ROWS_START);
    a.alu64(BPF_ADD, R2, R1);
    a.stx(4, R10, KEY, R2);
    lookup(a, um.rows, KEY);
    a.jmp_imm(Cond::Eq, R0, 0, stop);
    a.mov64(R7, R0);
    // CFA = rsp or rbp + offset (row kind 1 or 2; 0 ends the stack).
    a.ldx(1, R1, R7, 4);
    a.jmp_imm(Cond::Eq, R1, 2, base_bp);
    a.jmp_imm(Cond::Ne, R1, 1, stop);
    a.ldx(8, R8, R6, ST_SP);
    a.ja(have_base);
    a.bind(base_bp);
    a.ldx(8, R8, R6, ST_BP);
    a.bind(have_base);
    a.ldx(4, R1, R7, 8);
    a.alu64(BPF_ADD, R8, R1);
    // Return address at CFA - 8.
    a.mov64(R3, R8);
    a.alu64_imm(BPF_SUB, R3, 8);
    read_user(a, RA);
    a.jmp_imm(Cond::Ne, R0, 0, stop);
    // The caller's rbp, where this frame saved it.
    a.ldx(4, R1, R7, 12);
    a.jmp_imm(Cond::Eq, R1, 0, no_bp);
    a.mov64(R3, R8);
    a.alu64(BPF_SUB, R3, R1);
    read_user(a, BP);
    a.jmp_imm(Cond::Ne, R0, 0, no_bp);
    a.ldx(8, R1, R10, BP);
    a.stx(8, R6, ST_BP, R1);
    a.bind(no_bp);
    // Stacks grow down: the caller's frame is above; anything else is a broken unwind.
    a.ldx(8, R1, R6, ST_SP);
    a.jmp_reg(Cond::Ge, R1, R8, stop);
    a.stx(8, R6, ST_SP, R8);
    a.ldx(8, R1, R10, RA);
    a.stx(8, R6, ST_IP, R1);
    a.ja(cont);
    // No table for this file: one frame-pointer step ([rbp] = caller's rbp, [rbp+8] = return).
    a.bind(fp_step);
    a.ldx(8, R8, R6, ST_BP);
    a.ldx(8, R1, R6, ST_SP);
    a.jmp_reg(Cond::Gt, R1, R8, stop);
    a.mov64(R3, R8);
    a.alu64_imm(BPF_ADD, R3, 8);
    read_user(a, RA);
    a.jmp_imm(Cond::Ne, R0, 0, stop);
    a.mov64(R3, R8);
    read_user(a, BP);
    a.jmp_imm(Cond::Ne, R0, 0, stop);
    a.ldx(8, R1, R10, BP);
    a.stx(8, R6, ST_BP, R1);
    a.alu64_imm(BPF_ADD, R8, 16);
    a.stx(8, R6, ST_SP, R8);
    a.ldx(8, R1, R10, RA);
    a.stx(8, R6, ST_IP, R1);
    a.bind(cont);
    a.mov64_imm(R0, 0);
    a.exit();
    a.bind(stop);
    a.mov64_imm(R0, 1);
    a.exit();
}
