//! ELF symbol tables and the address → file offset mapping uprobes need.
use object::read::elf::{ElfFile64, ProgramHeader};
use object::{Object, ObjectSymbol, SymbolKind};
use std::path::{Path, PathBuf};

/// A function symbol: its name, virtual address and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    pub name: String,
    pub addr: u64,
    pub size: u64,
}

/// An ELF file's function symbols (.symtab and .dynsym merged) and its loadable segments.
#[derive(Debug)]
pub struct Elf {
    pub path: PathBuf,
    /// Sorted by name, then address; one entry per (name, address).
    pub symbols: Vec<Symbol>,
    /// (virtual address, memory size, file offset, file size) of each PT_LOAD segment.
    segments: Vec<(u64, u64, u64, u64)>,
    /// Indices into `symbols` in address order, for symbolizing.
    by_addr: Vec<u32>,
    /// The GNU build id note, if the file has one.
    pub build_id: Option<Vec<u8>>,
    /// The lowest virtual address of an executable segment: where the kernel's `start_code`
    /// for this program is, less the load bias.
    pub exec_vaddr: Option<u64>,
}

/// Any defined symbol (function or data) named `name` in the ELF file at `path`: its address
/// and size, for `uaddr("name")`.
pub fn find_symbol(path: &Path, name: &str) -> Option<(u64, u64)> {
    let cache = object::ReadCache::new(std::fs::File::open(path).ok()?);
    let file = ElfFile64::<object::Endianness, _>::parse(&cache).ok()?;
    file.symbols()
        .chain(file.dynamic_symbols())
        .filter(|s| s.is_definition() && s.address() != 0)
        .find(|s| s.name().is_ok_and(|n| n.split('@').next() == Some(name)))
        .map(|s| (s.address(), s.size()))
}

impl Elf {
    pub fn open(path: &Path) -> Result<Elf, String> {
        // Read on demand (headers, symbol and string tables), not the whole file: symbolizing a
        // system-wide profile opens every library the sampled processes map.
        let f = std::fs::File::open(path).map_err(|e| format!("could not read {}: {e}", path.display()))?;
        let cache = object::ReadCache::new(f);
        let file = ElfFile64::<object::Endianness, _>::parse(&cache)
            .map_err(|e| format!("{} is not a 64-bit ELF file: {e}", path.display()))?;
        let mut symbols: Vec<Symbol> = file
            .symbols()
            .chain(file.dynamic_symbols())
            .filter(|s| s.kind() == SymbolKind::Text && s.address() != 0 && s.is_definition())
            .filter_map(|s| {
                let name = s.name().ok()?;
                // `malloc@@GLIBC_2.2.5` spellings in some symbol tables: the bare name is what
                // scripts use.
                let name = name.split('@').next().unwrap_or(name);
                Some(Symbol { name: name.to_string(), addr: s.address(), size: s.size() })
            })
            .collect();
        symbols.sort_by(|a, b| a.name.cmp(&b.name).then(a.addr.cmp(&b.addr)));
        symbols.dedup_by(|a, b| a.name == b.name && a.addr == b.addr);
        let endian = file.endian();
        let segments = file
            .elf_program_headers()
            .iter()
            .filter(|p| p.p_type(endian) == object::elf::PT_LOAD)
            .map(|p| (p.p_vaddr(endian), p.p_memsz(endian), p.p_offset(endian), p.p_filesz(endian)))
            .collect();
        let mut by_addr: Vec<u32> = (0..symbols.len() as u32).collect();
        by_addr.sort_by_key(|&i| symbols[i as usize].addr);
        let build_id = file.build_id().ok().flatten().map(<[u8]>::to_vec);
        let exec_vaddr = file
            .elf_program_headers()
            .iter()
            .filter(|p| p.p_type(endian) == object::elf::PT_LOAD && p.p_flags(endian) & object::elf::PF_X != 0)
            .map(|p| p.p_vaddr(endian))
            .min();
        Ok(Elf { path: path.to_path_buf(), symbols, segments, by_addr, build_id, exec_vaddr })
    }

    /// The function symbols whose names match `pred`, in name order.
    pub fn functions<'a>(&'a self, pred: impl Fn(&str) -> bool + 'a) -> impl Iterator<Item = &'a Symbol> + 'a {
        self.symbols.iter().filter(move |s| pred(&s.name))
    }

    /// The first function symbol named `name`.
    pub fn function(&self, name: &str) -> Option<&Symbol> {
        let i = self.symbols.partition_point(|s| s.name.as_str() < name);
        self.symbols.get(i).filter(|s| s.name == name)
    }

    /// Where the byte at virtual address `addr` lives in the file (what the uprobe PMU takes).
    pub fn file_offset(&self, addr: u64) -> Option<u64> {
        self.segments
            .iter()
            .find(|(va, size, _, _)| addr >= *va && addr < va + size)
            .map(|(va, _, off, _)| addr - va + off)
    }

    /// The virtual address the byte at file offset `off` is loaded at (the inverse of
    /// [`Elf::file_offset`]), for turning a process address into a symbol-table address.
    pub fn vaddr_of_offset(&self, off: u64) -> Option<u64> {
        self.segments.iter().find(|(_, _, o, size)| off >= *o && off < o + size).map(|(va, _, o, _)| off - o + va)
    }

    /// The function containing `addr`, and the offset into it (for symbolizing addresses).
    /// Of several candidates the nearest start wins, then the first name.
    pub fn symbolize(&self, addr: u64) -> Option<(&Symbol, u64)> {
        let end = self.by_addr.partition_point(|&i| self.symbols[i as usize].addr <= addr);
        // Functions rarely nest; a few entries back covers aliases and nested labels.
        self.by_addr[end.saturating_sub(32)..end]
            .iter()
            .map(|&i| &self.symbols[i as usize])
            .filter(|s| addr < s.addr + s.size.max(1))
            .min_by_key(|s| (addr - s.addr, s.name.as_str()))
            .map(|s| (s, addr - s.addr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libc_has_malloc_at_a_file_offset() {
        let Ok(path) = crate::resolve_binary("libc", None) else {
            eprintln!("SKIP: no libc found");
            return;
        };
        let elf = Elf::open(&path).unwrap();
        let malloc = elf.function("malloc").expect("malloc in libc");
        let off = elf.file_offset(malloc.addr).expect("malloc is in a loaded segment");
        assert!(off > 0);
        let (s, delta) = elf.symbolize(malloc.addr + 1).unwrap();
        assert_eq!((s.addr, delta), (malloc.addr, 1));
    }
}
