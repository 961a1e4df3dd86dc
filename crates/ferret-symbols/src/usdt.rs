//! USDT probes: the `.note.stapsdt` notes that `<sys/sdt.h>` leaves in a binary, each naming a
//! probe site (an address holding a `nop`), an optional semaphore, and its arguments as
//! assembler operands (`-4@%edi 8@-16(%rbp) 4@$5`).
use object::read::elf::{ElfFile64, SectionHeader};
use object::{Object, ObjectSection};
use std::path::Path;

/// Where one USDT argument lives when the probe fires.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UsdtLocation {
    /// A constant: `$5`.
    Const(i64),
    /// A register: `%edi` → the pt_regs offset of rdi.
    Reg(u16),
    /// Memory at register + offset: `-16(%rbp)`.
    Mem { reg: u16, offset: i32 },
}

/// One argument: its size in bytes, signedness and location.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UsdtArg {
    pub size: u8,
    pub signed: bool,
    pub loc: UsdtLocation,
}

/// One probe site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsdtProbe {
    pub provider: String,
    pub name: String,
    /// Virtual address of the probe's `nop`.
    pub pc: u64,
    /// Virtual address of its semaphore (a u16 counter), 0 when it has none.
    pub semaphore: u64,
    pub args: Vec<UsdtArg>,
    /// The argument string as written in the note (for `-lv`).
    pub arg_text: String,
}

/// Every USDT probe in an ELF file.
pub fn probes(path: &Path) -> Result<Vec<UsdtProbe>, String> {
    let data = std::fs::read(path).map_err(|e| format!("could not read {}: {e}", path.display()))?;
    let file = ElfFile64::<object::Endianness>::parse(&*data).map_err(|e| format!("{}: {e}", path.display()))?;
    let endian = file.endian();
    // Prelinked binaries move .stapsdt.base; the notes record where it was at link time.
    let base_now = file.section_by_name(".stapsdt.base").map(|s| s.address());
    let mut out = vec![];
    for section in file.elf_section_table().iter() {
        if section.sh_type(endian) != object::elf::SHT_NOTE {
            continue;
        }
        let Ok(Some(mut notes)) = section.notes(endian, &*data) else { continue };
        while let Ok(Some(note)) = notes.next() {
            if note.name() != b"stapsdt" || note.n_type(endian) != 3 {
                continue;
            }
            if let Some(p) = parse_note(note.desc(), base_now) {
                out.push(p);
            }
        }
    }
    Ok(out)
}

fn parse_note(desc: &[u8], base_now: Option<u64>) -> Option<UsdtProbe> {
    let word = |i: usize| desc.get(i * 8..i * 8 + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
    let (mut pc, base, mut semaphore) = (word(0)?, word(1)?, word(2)?);
    if let Some(now) = base_now {
        if base != 0 && now != base {
            let delta = now.wrapping_sub(base);
            pc = pc.wrapping_add(delta);
            if semaphore != 0 {
                semaphore = semaphore.wrapping_add(delta);
            }
        }
    }
    let mut strings = desc.get(24..)?.split(|&b| b == 0);
    let provider = String::from_utf8_lossy(strings.next()?).into_owned();
    let name = String::from_utf8_lossy(strings.next()?).into_owned();
    let arg_text = String::from_utf8_lossy(strings.next().unwrap_or(&[])).into_owned();
    let args = arg_text.split_whitespace().filter_map(parse_arg).collect();
    Some(UsdtProbe { provider, name, pc, semaphore, args, arg_text })
}

/// `-4@%edi`, `8@-16(%rbp)`, `4@$5`.
pub fn parse_arg(s: &str) -> Option<UsdtArg> {
    let (size, operand) = s.split_once('@')?;
    let size: i32 = size.parse().ok()?;
    let signed = size < 0;
    let size = size.unsigned_abs().clamp(1, 8) as u8;
    let loc = if let Some(imm) = operand.strip_prefix('$') {
        // The constant as the argument's type holds it: `1@$-16` is the u8 240.
        let v = parse_num(imm)?;
        let bits = u32::from(size) * 8;
        UsdtLocation::Const(match (bits, signed) {
            (64, _) => v,
            (_, true) => (v << (64 - bits)) >> (64 - bits),
            (_, false) => v & ((1i64 << bits) - 1),
        })
    } else if let Some(reg) = operand.strip_prefix('%') {
        UsdtLocation::Reg(reg_offset(reg)?)
    } else if let Some(open) = operand.find('(') {
        let offset = if open == 0 { 0 } else { parse_num(&operand[..open])? as i32 };
        let reg = operand[open + 1..].trim_end_matches(')').trim_start_matches('%');
        UsdtLocation::Mem { reg: reg_offset(reg)?, offset }
    } else {
        return None;
    };
    Some(UsdtArg { size, signed, loc })
}

fn parse_num(s: &str) -> Option<i64> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let v = match s.strip_prefix("0x") {
        Some(h) => i64::from_str_radix(h, 16).ok()?,
        None => s.parse().ok()?,
    };
    Some(if neg { -v } else { v })
}

/// The x86-64 `struct pt_regs` offset of a register named in any width (`rdi`, `edi`, `di`, `dil`,
/// `r8d`...).
pub fn reg_offset(name: &str) -> Option<u16> {
    let base = match name {
        "rax" | "eax" | "ax" | "al" => "rax",
        "rbx" | "ebx" | "bx" | "bl" => "rbx",
        "rcx" | "ecx" | "cx" | "cl" => "rcx",
        "rdx" | "edx" | "dx" | "dl" => "rdx",
        "rsi" | "esi" | "si" | "sil" => "rsi",
        "rdi" | "edi" | "di" | "dil" => "rdi",
        "rbp" | "ebp" | "bp" | "bpl" => "rbp",
        "rsp" | "esp" | "sp" | "spl" => "rsp",
        "rip" => "rip",
        n if n.starts_with('r') => n.trim_end_matches(['d', 'w', 'b']),
        _ => return None,
    };
    Some(match base {
        "r15" => 0,
        "r14" => 8,
        "r13" => 16,
        "r12" => 24,
        "rbp" => 32,
        "rbx" => 40,
        "r11" => 48,
        "r10" => 56,
        "r9" => 64,
        "r8" => 72,
        "rax" => 80,
        "rcx" => 88,
        "rdx" => 96,
        "rsi" => 104,
        "rdi" => 112,
        "rip" => 128,
        "rsp" => 152,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_operands() {
        assert_eq!(parse_arg("-4@%edi"), Some(UsdtArg { size: 4, signed: true, loc: UsdtLocation::Reg(112) }));
        assert_eq!(
            parse_arg("8@-16(%rbp)"),
            Some(UsdtArg { size: 8, signed: false, loc: UsdtLocation::Mem { reg: 32, offset: -16 } })
        );
        assert_eq!(parse_arg("4@$5"), Some(UsdtArg { size: 4, signed: false, loc: UsdtLocation::Const(5) }));
        assert_eq!(parse_arg("1@$-16").map(|a| a.loc), Some(UsdtLocation::Const(240)));
        assert_eq!(parse_arg("-1@$-16").map(|a| a.loc), Some(UsdtLocation::Const(-16)));
        assert_eq!(parse_arg("4@$-202182160").map(|a| a.loc), Some(UsdtLocation::Const(4092785136)));
        assert_eq!(parse_arg("8@(%r12)").map(|a| a.loc), Some(UsdtLocation::Mem { reg: 24, offset: 0 }));
        assert_eq!(reg_offset("r9d"), Some(64));
    }
}
