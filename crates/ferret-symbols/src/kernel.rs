//! Kernel addresses → symbols, from `/proc/kallsyms` (read once, on first use).
use std::sync::OnceLock;

const KALLSYMS: &str = "/proc/kallsyms";

/// The kernel's symbols sorted by address.
#[derive(Debug, Default)]
pub struct KernelSymbols {
    syms: Vec<(u64, String)>,
}

impl KernelSymbols {
    /// The system's table, parsed on the first call (kallsyms is large and slow to read).
    pub fn get() -> &'static KernelSymbols {
        static TABLE: OnceLock<KernelSymbols> = OnceLock::new();
        TABLE.get_or_init(|| KernelSymbols::parse(&std::fs::read_to_string(KALLSYMS).unwrap_or_default()))
    }

    /// A table from kallsyms text (`ADDR TYPE NAME [module]` lines). Only kernel-half addresses
    /// are kept: zeros (kallsyms as seen without privilege) and the small per-CPU offsets would
    /// otherwise claim user addresses.
    pub fn parse(text: &str) -> KernelSymbols {
        let mut syms: Vec<(u64, String)> = text
            .lines()
            .filter_map(|l| {
                let mut f = l.split_ascii_whitespace();
                let addr = u64::from_str_radix(f.next()?, 16).ok().filter(|a| *a >= 1 << 63)?;
                let _kind = f.next()?;
                Some((addr, f.next()?.to_string()))
            })
            .collect();
        syms.sort_by_key(|(a, _)| *a);
        KernelSymbols { syms }
    }

    /// The symbol at or below `addr` and the offset into it; `None` below the first symbol.
    pub fn resolve(&self, addr: u64) -> Option<(&str, u64)> {
        let i = self.syms.partition_point(|(a, _)| *a <= addr);
        let (start, name) = self.syms.get(i.checked_sub(1)?)?;
        Some((name, addr - start))
    }
}

#[cfg(test)]
mod tests {
    use super::KernelSymbols;

    #[test]
    fn resolves_to_the_symbol_below() {
        let k = KernelSymbols::parse(
            "ffffffff81001000 t do_one\nffffffff81000000 T _stext\nffffffffc0000000 t mod_fn\t[mod]\n0 t zero\n0000000000001000 A percpu\n",
        );
        assert_eq!(k.resolve(0xffffffff81001010), Some(("do_one", 0x10)));
        assert_eq!(k.resolve(0xffffffff81000000), Some(("_stext", 0)));
        assert_eq!(k.resolve(0xffffffffc0000004), Some(("mod_fn", 4)));
        assert_eq!(k.resolve(0x1000), None);
    }
}
