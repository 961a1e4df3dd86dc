//! BPF instructions → bytes: the instruction set, an assembler with labels and a disassembler
//! for `-d bpf`. Pure: no kernel, no I/O.
pub mod btf;
pub mod disasm;
pub mod helpers;
pub mod insn;

pub use insn::{Asm, Insn, Label, Reg};
