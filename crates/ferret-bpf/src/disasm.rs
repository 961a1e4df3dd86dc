//! BPF instructions → text, in the kernel verifier log's notation, for `ferret -d bpf`.
use crate::helpers;
use crate::insn::*;

fn alu_op(op: u8) -> &'static str {
    match op {
        BPF_ADD => "+=",
        BPF_SUB => "-=",
        BPF_MUL => "*=",
        BPF_DIV => "/=",
        BPF_OR => "|=",
        BPF_AND => "&=",
        BPF_LSH => "<<=",
        BPF_RSH => ">>=",
        BPF_MOD => "%=",
        BPF_XOR => "^=",
        BPF_MOV => "=",
        BPF_ARSH => "s>>=",
        _ => "?=",
    }
}

fn jmp_op(op: u8) -> &'static str {
    match op {
        BPF_JEQ => "==",
        BPF_JGT => ">",
        BPF_JGE => ">=",
        BPF_JSET => "&",
        BPF_JNE => "!=",
        BPF_JSGT => "s>",
        BPF_JSGE => "s>=",
        BPF_JLT => "<",
        BPF_JLE => "<=",
        BPF_JSLT => "s<",
        BPF_JSLE => "s<=",
        _ => "?",
    }
}

fn size_name(code: u8) -> &'static str {
    match code & 0x18 {
        BPF_B => "u8",
        BPF_H => "u16",
        BPF_W => "u32",
        _ => "u64",
    }
}

/// Disassemble one instruction; `next` is the following slot (for ld_imm64).
pub fn insn(i: &Insn, next: Option<&Insn>) -> String {
    let class = i.class();
    let (d, s) = (i.dst, i.src);
    match class {
        BPF_ALU64 | BPF_ALU => {
            let w = if class == BPF_ALU64 { "r" } else { "w" };
            let op = i.code & 0xf0;
            if op == BPF_NEG {
                return format!("{w}{d} = -{w}{d}");
            }
            if op == BPF_END {
                return format!("r{d} = bswap{}(r{d})", i.imm);
            }
            if i.code & BPF_X != 0 {
                format!("{w}{d} {} {w}{s}", alu_op(op))
            } else {
                format!("{w}{d} {} {}", alu_op(op), i.imm)
            }
        }
        BPF_LDX => format!("r{d} = *({} *)(r{s} {:+})", size_name(i.code), i.off),
        BPF_STX if i.code & 0xe0 == BPF_ATOMIC => {
            format!("lock *({} *)(r{d} {:+}) += r{s}", size_name(i.code), i.off)
        }
        BPF_STX => format!("*({} *)(r{d} {:+}) = r{s}", size_name(i.code), i.off),
        BPF_ST => format!("*({} *)(r{d} {:+}) = {}", size_name(i.code), i.off, i.imm),
        BPF_LD if i.code == (BPF_LD | BPF_DW | BPF_IMM) => {
            if s == BPF_PSEUDO_MAP_FD {
                format!("r{d} = map_fd({})", i.imm)
            } else if s == BPF_PSEUDO_FUNC {
                format!("r{d} = func {:+}", i.imm)
            } else {
                let hi = next.map_or(0, |n| n.imm as u32 as u64);
                format!("r{d} = {:#x} ll", (hi << 32) | i.imm as u32 as u64)
            }
        }
        BPF_JMP | BPF_JMP32 => {
            let op = i.code & 0xf0;
            match op {
                BPF_JA => format!("goto {:+}", i.off),
                BPF_CALL if i.src == BPF_PSEUDO_KFUNC_CALL => format!("call kfunc#{}", i.imm),
                BPF_CALL => format!("call {}#{}", helpers::name(i.imm as u32), i.imm),
                BPF_EXIT => "exit".to_string(),
                _ if i.code & BPF_X != 0 => format!("if r{d} {} r{s} goto {:+}", jmp_op(op), i.off),
                _ => format!("if r{d} {} {:#x} goto {:+}", jmp_op(op), i.imm, i.off),
            }
        }
        _ => format!("(raw {:#018x})", i.encode()),
    }
}

/// Disassemble a whole program, one numbered line per instruction slot.
pub fn program(insns: &[Insn]) -> String {
    let mut out = String::new();
    let mut skip = false;
    for (n, i) in insns.iter().enumerate() {
        if skip {
            skip = false;
            continue;
        }
        if i.code == (BPF_LD | BPF_DW | BPF_IMM) {
            skip = true;
        }
        out.push_str(&format!("{n:4}: {}\n", insn(i, insns.get(n + 1))));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disassembles_common_forms() {
        let mut a = Asm::new();
        a.mov64_imm(R1, 3);
        a.ldx(8, R2, R1, 16);
        a.ld_map_fd(R1, 4);
        a.call(helpers::MAP_LOOKUP_ELEM);
        a.exit();
        let p = a.finish().unwrap();
        let text = program(&p.insns);
        assert_eq!(
            text,
            "   0: r1 = 3\n   1: r2 = *(u64 *)(r1 +16)\n   2: r1 = map_fd(4)\n   4: call map_lookup_elem#1\n   5: exit\n"
        );
    }
}
