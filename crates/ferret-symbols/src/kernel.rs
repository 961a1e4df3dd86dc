//! Kernel addresses → symbols, from `/proc/kallsyms` (read once, on first use).
use std::sync::OnceLock;

const KALLSYMS: &str = "/proc/kallsyms";

/// The kernel's symbols sorted by address. Compact, as kallsyms has ~120k of them: each is an
/// address and the place of its name in one shared string (16 bytes a symbol and the names,
/// ~5 MB in all, where a `String` each and the 5 MB text read whole took ~20 MB).
#[derive(Debug, Default)]
pub struct KernelSymbols {
    /// (address, start of the name in `names`, its length).
    syms: Vec<(u64, u32, u32)>,
    names: String,
}

impl KernelSymbols {
    /// The system's table, parsed on the first call (kallsyms is large and slow to read: ~50 ms
    /// of the kernel's time).
    pub fn get() -> &'static KernelSymbols {
        static TABLE: OnceLock<KernelSymbols> = OnceLock::new();
        TABLE.get_or_init(|| match std::fs::File::open(KALLSYMS) {
            Ok(f) => KernelSymbols::read(std::io::BufReader::with_capacity(1 << 16, f)),
            Err(_) => KernelSymbols::default(),
        })
    }

    /// A table from kallsyms text (`ADDR TYPE NAME [module]` lines). Only kernel-half addresses
    /// are kept: zeros (kallsyms as seen without privilege) and the small per-CPU offsets would
    /// otherwise claim user addresses.
    pub fn parse(text: &str) -> KernelSymbols {
        KernelSymbols::read(text.as_bytes())
    }

    /// As [`KernelSymbols::parse`], a line at a time from `input`.
    fn read(mut input: impl std::io::BufRead) -> KernelSymbols {
        // Room for a typical kernel's table up front (~120k symbols, ~3 MB of names): growing by
        // doubling copies and touches both copies' pages; reserved pages not written cost nothing.
        let mut t = KernelSymbols { syms: Vec::with_capacity(1 << 17), names: String::with_capacity(4 << 20) };
        let mut line = String::new();
        while matches!(input.read_line(&mut line), Ok(n) if n > 0) {
            let mut f = line.split_ascii_whitespace();
            let addr = f.next().and_then(|a| u64::from_str_radix(a, 16).ok()).filter(|a| *a >= 1 << 63);
            if let (Some(addr), Some(_kind), Some(name)) = (addr, f.next(), f.next()) {
                t.syms.push((addr, t.names.len() as u32, name.len() as u32));
                t.names.push_str(name);
            }
            line.clear();
        }
        // Mostly in address order already; sorting moves 16-byte entries, not names. Of several
        // names at one address, `resolve` gives the last listed (a stable sort keeps their order).
        t.syms.sort_by_key(|s| s.0);
        t
    }

    /// The symbol at or below `addr` and the offset into it; `None` below the first symbol.
    pub fn resolve(&self, addr: u64) -> Option<(&str, u64)> {
        let i = self.syms.partition_point(|s| s.0 <= addr).checked_sub(1)?;
        let (start, name_at, len) = self.syms[i];
        Some((&self.names[name_at as usize..(name_at + len) as usize], addr - start))
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

    #[test]
    fn the_running_kernels_table_names_its_functions() {
        let text = std::fs::read_to_string(super::KALLSYMS).unwrap_or_default();
        let Some(addr) = text.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 3 && f[2] == "schedule").then(|| u64::from_str_radix(f[0], 16).ok()).flatten()
        }) else {
            return ferret_testing::skip("no schedule in /proc/kallsyms");
        };
        if addr == 0 {
            return ferret_testing::skip("kallsyms addresses are hidden (needs root)");
        }
        let k = KernelSymbols::get();
        // Another name may share the address (an alias): any name listed there will do.
        let names: Vec<&str> = text
            .lines()
            .filter(|l| l.split_whitespace().next().and_then(|a| u64::from_str_radix(a, 16).ok()) == Some(addr))
            .filter_map(|l| l.split_whitespace().nth(2))
            .collect();
        let (name, off) = k.resolve(addr + 3).expect("a symbol");
        assert!(names.contains(&name) && off == 3, "{name}+{off} not one of {names:?}+3");
    }
}
