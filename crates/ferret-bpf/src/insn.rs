//! The eBPF instruction encoding and a label-resolving assembler.

/// A BPF register. R10 is the read-only frame pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reg(pub u8);

pub const R0: Reg = Reg(0);
pub const R1: Reg = Reg(1);
pub const R2: Reg = Reg(2);
pub const R3: Reg = Reg(3);
pub const R4: Reg = Reg(4);
pub const R5: Reg = Reg(5);
pub const R6: Reg = Reg(6);
pub const R7: Reg = Reg(7);
pub const R8: Reg = Reg(8);
pub const R9: Reg = Reg(9);
pub const R10: Reg = Reg(10);

// Instruction classes.
pub const BPF_LD: u8 = 0x00;
pub const BPF_LDX: u8 = 0x01;
pub const BPF_ST: u8 = 0x02;
pub const BPF_STX: u8 = 0x03;
pub const BPF_ALU: u8 = 0x04;
pub const BPF_JMP: u8 = 0x05;
pub const BPF_JMP32: u8 = 0x06;
pub const BPF_ALU64: u8 = 0x07;
// Sizes.
pub const BPF_W: u8 = 0x00;
pub const BPF_H: u8 = 0x08;
pub const BPF_B: u8 = 0x10;
pub const BPF_DW: u8 = 0x18;
// Modes.
pub const BPF_IMM: u8 = 0x00;
pub const BPF_MEM: u8 = 0x60;
pub const BPF_MEMSX: u8 = 0x80;
pub const BPF_ATOMIC: u8 = 0xc0;
// Sources.
pub const BPF_K: u8 = 0x00;
pub const BPF_X: u8 = 0x08;
// ALU ops.
pub const BPF_ADD: u8 = 0x00;
pub const BPF_SUB: u8 = 0x10;
pub const BPF_MUL: u8 = 0x20;
pub const BPF_DIV: u8 = 0x30;
pub const BPF_OR: u8 = 0x40;
pub const BPF_AND: u8 = 0x50;
pub const BPF_LSH: u8 = 0x60;
pub const BPF_RSH: u8 = 0x70;
pub const BPF_NEG: u8 = 0x80;
pub const BPF_MOD: u8 = 0x90;
pub const BPF_XOR: u8 = 0xa0;
pub const BPF_MOV: u8 = 0xb0;
pub const BPF_ARSH: u8 = 0xc0;
pub const BPF_END: u8 = 0xd0;
// Jump ops.
pub const BPF_JA: u8 = 0x00;
pub const BPF_JEQ: u8 = 0x10;
pub const BPF_JGT: u8 = 0x20;
pub const BPF_JGE: u8 = 0x30;
pub const BPF_JSET: u8 = 0x40;
pub const BPF_JNE: u8 = 0x50;
pub const BPF_JSGT: u8 = 0x60;
pub const BPF_JSGE: u8 = 0x70;
pub const BPF_CALL: u8 = 0x80;
pub const BPF_EXIT: u8 = 0x90;
pub const BPF_JLT: u8 = 0xa0;
pub const BPF_JLE: u8 = 0xb0;
pub const BPF_JSLT: u8 = 0xc0;
pub const BPF_JSLE: u8 = 0xd0;

pub const BPF_PSEUDO_MAP_FD: u8 = 1;
/// `ld_imm64` src_reg: the immediate is the relative offset of a subprogram (callbacks).
pub const BPF_PSEUDO_FUNC: u8 = 4;
/// `ld_imm64` src: the immediate is a kernel variable's BTF id.
pub const BPF_PSEUDO_BTF_ID: u8 = 3;
/// `call` src register value naming a kernel function by its vmlinux BTF id (kfunc).
pub const BPF_PSEUDO_KFUNC_CALL: u8 = 2;

/// One 8-byte instruction (`ld_imm64` takes two).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    pub fn encode(&self) -> u64 {
        (self.code as u64)
            | ((self.dst as u64 & 0xf) << 8)
            | ((self.src as u64 & 0xf) << 12)
            | ((self.off as u16 as u64) << 16)
            | ((self.imm as u32 as u64) << 32)
    }
    pub fn decode(raw: u64) -> Insn {
        Insn {
            code: raw as u8,
            dst: ((raw >> 8) & 0xf) as u8,
            src: ((raw >> 12) & 0xf) as u8,
            off: (raw >> 16) as u16 as i16,
            imm: (raw >> 32) as u32 as i32,
        }
    }
    pub fn class(&self) -> u8 {
        self.code & 0x07
    }
}

/// Jump conditions, named for the comparison they take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cond {
    Eq,
    Ne,
    /// Unsigned.
    Gt,
    Ge,
    Lt,
    Le,
    /// Signed.
    SGt,
    SGe,
    SLt,
    SLe,
    Set,
}

impl Cond {
    fn op(self) -> u8 {
        match self {
            Cond::Eq => BPF_JEQ,
            Cond::Ne => BPF_JNE,
            Cond::Gt => BPF_JGT,
            Cond::Ge => BPF_JGE,
            Cond::Lt => BPF_JLT,
            Cond::Le => BPF_JLE,
            Cond::SGt => BPF_JSGT,
            Cond::SGe => BPF_JSGE,
            Cond::SLt => BPF_JSLT,
            Cond::SLe => BPF_JSLE,
            Cond::Set => BPF_JSET,
        }
    }
}

/// A forward or backward jump target, bound with [`Asm::bind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label(pub u32);

/// Size of a memory access in bytes.
pub fn size_code(bytes: u32) -> u8 {
    match bytes {
        1 => BPF_B,
        2 => BPF_H,
        4 => BPF_W,
        _ => BPF_DW,
    }
}

/// An assembler: appends instructions, records a source tag per instruction (the codegen uses it
/// to map verifier errors back to script spans) and patches jumps to labels at `finish`.
#[derive(Debug, Default, Clone)]
pub struct Asm {
    pub insns: Vec<Insn>,
    /// Parallel to `insns`: the tag current when each was emitted.
    pub tags: Vec<u32>,
    pub tag: u32,
    labels: Vec<Option<usize>>,
    fixups: Vec<(usize, Label)>,
    /// `ld_imm64` of a subprogram address: the immediate, not the offset, is patched.
    func_fixups: Vec<(usize, Label)>,
}

impl Asm {
    pub fn new() -> Asm {
        Asm::default()
    }
    pub fn len(&self) -> usize {
        self.insns.len()
    }
    pub fn emit(&mut self, i: Insn) {
        self.insns.push(i);
        self.tags.push(self.tag);
    }
    fn raw(&mut self, code: u8, dst: Reg, src: Reg, off: i16, imm: i32) {
        self.emit(Insn { code, dst: dst.0, src: src.0, off, imm });
    }

    pub fn new_label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() as u32 - 1)
    }
    pub fn bind(&mut self, l: Label) {
        self.labels[l.0 as usize] = Some(self.insns.len());
    }

    // ---- ALU
    pub fn mov64_imm(&mut self, dst: Reg, imm: i32) {
        self.raw(BPF_ALU64 | BPF_MOV | BPF_K, dst, R0, 0, imm);
    }
    pub fn mov64(&mut self, dst: Reg, src: Reg) {
        self.raw(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0);
    }
    /// 32-bit move of an immediate: zero-extends into the upper half (`-1` is 0xffffffff).
    pub fn mov32_imm(&mut self, dst: Reg, imm: i32) {
        self.raw(BPF_ALU | BPF_MOV | BPF_K, dst, R0, 0, imm);
    }
    /// 32-bit move: zero-extends into the upper half.
    pub fn mov32(&mut self, dst: Reg, src: Reg) {
        self.raw(BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0);
    }
    /// Sign-extending move from `bits` (8, 16, 32) (kernel 6.6+ `movsx`).
    pub fn movsx64(&mut self, dst: Reg, src: Reg, bits: i16) {
        self.raw(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, bits, 0);
    }
    pub fn alu64_imm(&mut self, op: u8, dst: Reg, imm: i32) {
        self.raw(BPF_ALU64 | op | BPF_K, dst, R0, 0, imm);
    }
    pub fn alu64(&mut self, op: u8, dst: Reg, src: Reg) {
        self.raw(BPF_ALU64 | op | BPF_X, dst, src, 0, 0);
    }
    /// Signed division / modulo (kernel 6.6+: off = 1 on DIV/MOD).
    pub fn alu64_signed(&mut self, op: u8, dst: Reg, src: Reg) {
        self.raw(BPF_ALU64 | op | BPF_X, dst, src, 1, 0);
    }
    pub fn neg64(&mut self, dst: Reg) {
        self.raw(BPF_ALU64 | BPF_NEG, dst, R0, 0, 0);
    }
    /// Byte swap to big-endian of `bits` width (htons/htonl/htobe64).
    pub fn to_be(&mut self, dst: Reg, bits: i32) {
        self.raw(BPF_ALU | BPF_END | BPF_X, dst, R0, 0, bits);
    }
    /// Byte swap unconditionally (kernel 6.6+ `bswap`).
    pub fn bswap(&mut self, dst: Reg, bits: i32) {
        self.raw(BPF_ALU64 | BPF_END, dst, R0, 0, bits);
    }
    pub fn ld_imm64(&mut self, dst: Reg, imm: u64) {
        self.raw(BPF_LD | BPF_DW | BPF_IMM, dst, R0, 0, imm as u32 as i32);
        self.raw(0, R0, R0, 0, (imm >> 32) as u32 as i32);
    }
    /// Load an immediate the short way when it fits in a sign-extended i32.
    pub fn load_imm(&mut self, dst: Reg, imm: u64) {
        if imm as i64 >= i32::MIN as i64 && imm as i64 <= i32::MAX as i64 {
            self.mov64_imm(dst, imm as i64 as i32);
        } else {
            self.ld_imm64(dst, imm);
        }
    }
    /// `dst = &kernel variable` of vmlinux BTF id `id` (BPF_PSEUDO_BTF_ID, resolved by the
    /// verifier).
    pub fn ld_btf_id(&mut self, dst: Reg, id: i32) {
        self.raw(BPF_LD | BPF_DW | BPF_IMM, dst, Reg(BPF_PSEUDO_BTF_ID), 0, id);
        self.raw(0, R0, R0, 0, 0);
    }
    /// `dst = map` (a map fd resolved by the loader: BPF_PSEUDO_MAP_FD).
    pub fn ld_map_fd(&mut self, dst: Reg, fd: i32) {
        self.raw(BPF_LD | BPF_DW | BPF_IMM, dst, Reg(BPF_PSEUDO_MAP_FD), 0, fd);
        self.raw(0, R0, R0, 0, 0);
    }

    // ---- memory
    pub fn ldx(&mut self, bytes: u32, dst: Reg, src: Reg, off: i16) {
        self.raw(BPF_LDX | BPF_MEM | size_code(bytes), dst, src, off, 0);
    }
    /// Sign-extending load (kernel 6.6+).
    pub fn ldx_sx(&mut self, bytes: u32, dst: Reg, src: Reg, off: i16) {
        self.raw(BPF_LDX | BPF_MEMSX | size_code(bytes), dst, src, off, 0);
    }
    pub fn stx(&mut self, bytes: u32, dst: Reg, off: i16, src: Reg) {
        self.raw(BPF_STX | BPF_MEM | size_code(bytes), dst, src, off, 0);
    }
    pub fn st_imm(&mut self, bytes: u32, dst: Reg, off: i16, imm: i32) {
        self.raw(BPF_ST | BPF_MEM | size_code(bytes), dst, R0, off, imm);
    }
    /// `lock *(dst + off) += src` (atomic add, no fetch).
    pub fn atomic_add(&mut self, bytes: u32, dst: Reg, off: i16, src: Reg) {
        self.raw(BPF_STX | BPF_ATOMIC | size_code(bytes), dst, src, off, BPF_ADD as i32);
    }

    // ---- jumps
    pub fn ja(&mut self, l: Label) {
        self.fixups.push((self.insns.len(), l));
        self.raw(BPF_JMP | BPF_JA, R0, R0, 0, 0);
    }
    pub fn jmp_imm(&mut self, c: Cond, dst: Reg, imm: i32, l: Label) {
        self.fixups.push((self.insns.len(), l));
        self.raw(BPF_JMP | c.op() | BPF_K, dst, R0, 0, imm);
    }
    pub fn jmp_reg(&mut self, c: Cond, dst: Reg, src: Reg, l: Label) {
        self.fixups.push((self.insns.len(), l));
        self.raw(BPF_JMP | c.op() | BPF_X, dst, src, 0, 0);
    }
    pub fn call(&mut self, helper: u32) {
        self.raw(BPF_JMP | BPF_CALL, R0, R0, 0, helper as i32);
    }
    /// Call a kernel function (kfunc) by its vmlinux BTF id.
    pub fn call_kfunc(&mut self, btf_id: u32) {
        self.raw(BPF_JMP | BPF_CALL, R0, Reg(BPF_PSEUDO_KFUNC_CALL), 0, btf_id as i32);
    }
    pub fn exit(&mut self) {
        self.raw(BPF_JMP | BPF_EXIT, R0, R0, 0, 0);
    }
    /// `dst = &subprogram at label` (a callback for bpf_for_each_map_elem and friends).
    pub fn ld_func(&mut self, dst: Reg, l: Label) {
        self.func_fixups.push((self.insns.len(), l));
        self.raw(BPF_LD | BPF_DW | BPF_IMM, dst, Reg(BPF_PSEUDO_FUNC), 0, 0);
        self.raw(0, R0, R0, 0, 0);
    }

    // ---- subprograms
    /// A new assembler for a subprogram, sharing this one's label numbering: labels made in
    /// either never collide once [`Asm::adopt_labels`] has run. Subprograms must follow the
    /// main program (the verifier forbids jumps across them), so they are generated apart and
    /// [`Asm::append`]ed at the end.
    pub fn fork(&self) -> Asm {
        Asm { labels: vec![None; self.labels.len()], tag: self.tag, ..Asm::default() }
    }
    /// After generating `sub` (from [`Asm::fork`]), reserve the labels it created.
    pub fn adopt_labels(&mut self, sub: &Asm) {
        if sub.labels.len() > self.labels.len() {
            self.labels.resize(sub.labels.len(), None);
        }
    }
    /// Place a forked subprogram's code after this one's.
    pub fn append(&mut self, sub: Asm) {
        let base = self.insns.len();
        self.adopt_labels(&sub);
        for (i, pos) in sub.labels.iter().enumerate() {
            if let Some(p) = pos {
                self.labels[i] = Some(base + p);
            }
        }
        self.fixups.extend(sub.fixups.iter().map(|(at, l)| (at + base, *l)));
        self.func_fixups.extend(sub.func_fixups.iter().map(|(at, l)| (at + base, *l)));
        self.insns.extend(sub.insns);
        self.tags.extend(sub.tags);
    }

    /// Resolve labels. Returns an error naming an unbound label or an out-of-range jump.
    pub fn finish(mut self) -> Result<Program, String> {
        for (at, l) in std::mem::take(&mut self.fixups) {
            let target = self.labels[l.0 as usize].ok_or_else(|| format!("label {} never bound", l.0))?;
            let off = target as i64 - at as i64 - 1;
            if off < i16::MIN as i64 || off > i16::MAX as i64 {
                return Err(format!("jump too far ({off} instructions)"));
            }
            self.insns[at].off = off as i16;
        }
        for (at, l) in std::mem::take(&mut self.func_fixups) {
            let target = self.labels[l.0 as usize].ok_or_else(|| format!("label {} never bound", l.0))?;
            self.insns[at].imm = (target as i64 - at as i64 - 1) as i32;
        }
        let mut p = Program { insns: self.insns, tags: self.tags };
        p.prune_unreachable();
        Ok(p)
    }
}

/// Finished instructions plus each one's source tag.
#[derive(Debug, Clone, Default)]
pub struct Program {
    pub insns: Vec<Insn>,
    pub tags: Vec<u32>,
}

impl Program {
    /// Drop instructions no path reaches (code after a `break`, `continue` or `exit()` jump):
    /// the verifier rejects programs containing any.
    pub fn prune_unreachable(&mut self) {
        let n = self.insns.len();
        let mut reach = vec![false; n];
        let mut work = vec![0usize];
        while let Some(i) = work.pop() {
            if i >= n || reach[i] {
                continue;
            }
            reach[i] = true;
            let ins = self.insns[i];
            if ins.code == (BPF_LD | BPF_DW | BPF_IMM) {
                if ins.src == BPF_PSEUDO_FUNC {
                    work.push((i as i64 + 1 + ins.imm as i64) as usize);
                }
                if i + 1 < n {
                    reach[i + 1] = true;
                }
                work.push(i + 2);
                continue;
            }
            let class = ins.class();
            if class == BPF_JMP || class == BPF_JMP32 {
                let op = ins.code & 0xf0;
                let target = (i as i64 + 1 + ins.off as i64) as usize;
                match op {
                    BPF_EXIT => {}
                    BPF_CALL => work.push(i + 1),
                    BPF_JA => work.push(target),
                    _ => {
                        work.push(i + 1);
                        work.push(target);
                    }
                }
            } else {
                work.push(i + 1);
            }
        }
        if reach.iter().all(|&r| r) {
            return;
        }
        let mut new_idx = vec![0usize; n + 1];
        let mut k = 0;
        for i in 0..n {
            new_idx[i] = k;
            if reach[i] {
                k += 1;
            }
        }
        new_idx[n] = k;
        for i in 0..n {
            let ins = &mut self.insns[i];
            let class = ins.class();
            let op = ins.code & 0xf0;
            if reach[i] && (class == BPF_JMP || class == BPF_JMP32) && op != BPF_CALL && op != BPF_EXIT {
                let target = (i as i64 + 1 + ins.off as i64) as usize;
                ins.off = (new_idx[target] as i64 - new_idx[i] as i64 - 1) as i16;
            }
            if reach[i] && ins.code == (BPF_LD | BPF_DW | BPF_IMM) && ins.src == BPF_PSEUDO_FUNC {
                let target = (i as i64 + 1 + ins.imm as i64) as usize;
                ins.imm = (new_idx[target] as i64 - new_idx[i] as i64 - 1) as i32;
            }
        }
        let mut j = 0;
        self.insns.retain(|_| {
            j += 1;
            reach[j - 1]
        });
        let mut j = 0;
        self.tags.retain(|_| {
            j += 1;
            reach[j - 1]
        });
    }

    /// Where each function starts: 0, then every subprogram a `ld_func` refers to, in order.
    pub fn func_starts(&self) -> Vec<usize> {
        let mut starts = vec![0];
        for (i, ins) in self.insns.iter().enumerate() {
            if ins.code == (BPF_LD | BPF_DW | BPF_IMM) && ins.src == BPF_PSEUDO_FUNC {
                starts.push((i as i64 + 1 + ins.imm as i64) as usize);
            }
        }
        starts.sort_unstable();
        starts.dedup();
        starts
    }

    pub fn encode(&self) -> Vec<u64> {
        self.insns.iter().map(Insn::encode).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_the_kernel() {
        let mut a = Asm::new();
        a.mov64_imm(R0, 7);
        a.exit();
        let p = a.finish().unwrap();
        assert_eq!(p.encode(), vec![0x0000_0007_0000_00b7, 0x95]);
    }

    #[test]
    fn resolves_forward_and_backward_labels() {
        let mut a = Asm::new();
        let top = a.new_label();
        let end = a.new_label();
        a.bind(top);
        a.jmp_imm(Cond::Eq, R1, 0, end);
        a.ja(top);
        a.bind(end);
        a.exit();
        let p = a.finish().unwrap();
        assert_eq!(p.insns[0].off, 1);
        assert_eq!(p.insns[1].off, -2);
        assert_eq!(Insn::decode(p.insns[1].encode()), p.insns[1]);
    }

    #[test]
    fn prunes_code_after_unconditional_jumps() {
        let mut a = Asm::new();
        let end = a.new_label();
        a.jmp_imm(Cond::Eq, R1, 0, end);
        a.ja(end);
        a.mov64_imm(R0, 1); // unreachable
        a.ld_imm64(R2, 1 << 40); // unreachable, two slots
        a.bind(end);
        a.mov64_imm(R0, 0);
        a.exit();
        let p = a.finish().unwrap();
        assert_eq!(p.insns.len(), 4);
        assert_eq!(p.insns[0].off, 1);
        assert_eq!(p.insns[1].off, 0);
        assert_eq!(p.tags.len(), 4);
    }
}
