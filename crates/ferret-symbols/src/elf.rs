//! ELF symbol tables and the address → file offset mapping uprobes need.
use object::read::elf::{ElfFile64, ProgramHeader, SectionHeader};
use object::{Object, ObjectSymbol, RelocationFlags};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// ELF `st_type` of a GNU indirect function: the symbol's address is a resolver that returns
/// the implementation the dynamic loader binds calls to (glibc's `strlen`, `memcpy`...).
const STT_GNU_IFUNC: u8 = 10;

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
    /// Addresses of GNU indirect function symbols (their resolvers), sorted.
    ifuncs: Vec<u64>,
    /// Resolver address → implementation address, worked out on first use.
    ifunc_impls: OnceLock<HashMap<u64, u64>>,
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

/// `Elf64_Sym` entries of `table` (names in `strings`) into `symbols` (functions and indirect
/// functions with an address, defined in a section) and `ifuncs` (indirect functions'
/// addresses), as object's `SymbolKind::Text` with `is_definition()` chose them.
fn read_symbols(
    table: &[u8],
    strings: &[u8],
    endian: object::Endianness,
    symbols: &mut Vec<Symbol>,
    ifuncs: &mut Vec<u64>,
) {
    use object::read::elf::Sym;
    let Ok(entries) = object::pod::slice_from_all_bytes::<object::elf::Sym64<object::Endianness>>(table) else {
        return;
    };
    let strings = object::read::StringTable::new(strings, 0, strings.len() as u64);
    for s in entries {
        let wanted = match s.st_type() {
            object::elf::STT_FUNC => s.is_definition(endian),
            STT_GNU_IFUNC => !s.is_undefined(endian),
            _ => false,
        };
        let addr = s.st_value(endian);
        if !wanted || addr == 0 {
            continue;
        }
        if s.st_type() == STT_GNU_IFUNC {
            ifuncs.push(addr);
        }
        let Some(full) = s.name(endian, strings).ok().and_then(|n| std::str::from_utf8(n).ok()) else { continue };
        // `malloc@@GLIBC_2.2.5` spellings in some symbol tables: the bare name is what scripts use.
        let name = full.split('@').next().unwrap_or(full);
        symbols.push(Symbol { name: name.to_string(), addr, size: s.st_size(endian) });
    }
}

impl Elf {
    pub fn open(path: &Path) -> Result<Elf, String> {
        // Headers through a read cache; each symbol table and its strings in one read apiece,
        // parsed here (object's string lookups read each name with a read and an lseek of its
        // own: ~2,600 calls for libc). Read, not mapped: the file may be anyone's, and a mapped
        // file that shrinks under us is a SIGBUS.
        let f = std::fs::File::open(path).map_err(|e| format!("could not read {}: {e}", path.display()))?;
        let cache = object::ReadCache::new(f);
        let file = ElfFile64::<object::Endianness, _>::parse(&cache)
            .map_err(|e| format!("{} is not a 64-bit ELF file: {e}", path.display()))?;
        let (mut symbols, mut ifuncs) = (vec![], vec![]);
        let endian = file.endian();
        let sections = file.elf_section_table();
        for sh in sections.iter() {
            let kind = sh.sh_type(endian);
            if kind != object::elf::SHT_SYMTAB && kind != object::elf::SHT_DYNSYM {
                continue;
            }
            let (Ok(table), Ok(strings)) = (
                sh.data(endian, &cache),
                sections
                    .section(object::SectionIndex(sh.sh_link(endian) as usize))
                    .and_then(|s| s.data(endian, &cache)),
            ) else {
                continue;
            };
            read_symbols(table, strings, endian, &mut symbols, &mut ifuncs);
        }
        ifuncs.sort_unstable();
        ifuncs.dedup();
        symbols.sort_by(|a, b| a.name.cmp(&b.name).then(a.addr.cmp(&b.addr)));
        symbols.dedup_by(|a, b| a.name == b.name && a.addr == b.addr);
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
        Ok(Elf {
            path: path.to_path_buf(),
            symbols,
            segments,
            by_addr,
            build_id,
            exec_vaddr,
            ifuncs,
            ifunc_impls: OnceLock::new(),
        })
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

    /// Where calls to `sym` actually go: `sym` itself, or for a GNU indirect function (whose
    /// address is only the resolver, run once by the dynamic loader) the implementation the
    /// resolver picks on this machine, under `sym`'s name. The implementation is read from the
    /// IRELATIVE relocations ferret's own copy of the library was bound with, so it is found when
    /// the library is loaded in ferret (libc, libm); otherwise `sym` is returned unchanged.
    pub fn call_target(&self, sym: &Symbol) -> Symbol {
        if self.ifuncs.binary_search(&sym.addr).is_err() {
            return sym.clone();
        }
        let impls = self.ifunc_impls.get_or_init(|| self.resolve_ifuncs().unwrap_or_default());
        let Some(&addr) = impls.get(&sym.addr) else { return sym.clone() };
        // Stripped libraries have no symbol for the implementation (`__strlen_avx2`): bound
        // its size by the next known symbol.
        let size = match self.symbolize(addr) {
            Some((s, 0)) => s.size,
            _ => {
                let next = self.by_addr.partition_point(|&i| self.symbols[i as usize].addr <= addr);
                self.by_addr.get(next).map_or(0, |&i| self.symbols[i as usize].addr - addr)
            }
        };
        Symbol { name: sym.name.clone(), addr, size }
    }

    /// Resolver → implementation for this file's indirect functions, from the GOT slots of its
    /// IRELATIVE relocations in ferret's own mapping of the same file (`/proc/self/mem`).
    fn resolve_ifuncs(&self) -> Option<HashMap<u64, u64>> {
        use std::os::unix::fs::FileExt;
        let data = std::fs::read(&self.path).ok()?;
        let file = ElfFile64::<object::Endianness>::parse(&*data).ok()?;
        let slots: Vec<(u64, u64)> = file
            .dynamic_relocations()?
            .filter_map(|(slot, r)| match r.flags() {
                RelocationFlags::Elf { r_type }
                    if r_type == object::elf::R_X86_64_IRELATIVE || r_type == object::elf::R_AARCH64_IRELATIVE =>
                {
                    Some((r.addend() as u64, slot))
                }
                _ => None,
            })
            .filter(|(resolver, _)| self.ifuncs.binary_search(resolver).is_ok())
            .collect();
        if slots.is_empty() {
            return None;
        }
        let bias = self.self_load_bias()?;
        let mem = std::fs::File::open("/proc/self/mem").ok()?;
        let mut out = HashMap::new();
        for (resolver, slot) in slots {
            let mut buf = [0u8; 8];
            if mem.read_exact_at(&mut buf, bias.wrapping_add(slot)).is_ok() {
                let target = u64::from_ne_bytes(buf).wrapping_sub(bias);
                if self.file_offset(target).is_some() {
                    out.insert(resolver, target);
                }
            }
        }
        Some(out)
    }

    /// Load bias of this file in ferret's own address space, if ferret has it mapped.
    fn self_load_bias(&self) -> Option<u64> {
        let want = std::fs::canonicalize(&self.path).ok()?;
        let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
        maps.lines().find_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (range, offset, path) = (f.first()?, f.get(2)?, f.get(5)?);
            if std::fs::canonicalize(path).ok()? != want {
                return None;
            }
            let start = u64::from_str_radix(range.split('-').next()?, 16).ok()?;
            let vaddr = self.vaddr_of_offset(u64::from_str_radix(offset, 16).ok()?)?;
            Some(start.wrapping_sub(vaddr))
        })
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
            ferret_testing::skip("needs a libc");
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

#[cfg(test)]
mod ifunc_tests {
    use super::*;

    /// glibc's strlen is an indirect function: probing its resolver would never fire on calls.
    #[test]
    fn libc_strlen_resolves_to_its_implementation() {
        let Ok(path) = crate::resolve_binary("libc", None) else {
            ferret_testing::skip("needs a libc");
            return;
        };
        let elf = Elf::open(&path).unwrap();
        let strlen = elf.function("strlen").expect("strlen in libc");
        let target = elf.call_target(strlen);
        assert_eq!(target.name, "strlen");
        assert_ne!(target.addr, strlen.addr);
        assert!(elf.file_offset(target.addr).is_some());
        let malloc = elf.function("malloc").unwrap();
        assert_eq!(&elf.call_target(malloc), malloc);
    }
}
