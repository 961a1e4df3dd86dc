//! `%gr`: kernel GFP allocation flags in human-readable form, named as bpftrace does (after the
//! kernel's `__def_gfpflag_names`), with the bits of the running kernel when known.

use std::sync::OnceLock;

/// The individual flags, by the suffix of their `___GFP_*_BIT` enum constant, with the bit
/// each has in a kernel built without KASAN hardware tags and lockdep (bpftrace's table). Which
/// bits exist depends on the kernel's configuration, so the running kernel's enum (BTF), when
/// given with `set_kernel_bits`, replaces these.
const DEFAULT_BITS: &[(&str, u32)] = &[
    ("DMA", 0),
    ("HIGHMEM", 1),
    ("DMA32", 2),
    ("MOVABLE", 3),
    ("RECLAIMABLE", 4),
    ("HIGH", 5),
    ("IO", 6),
    ("FS", 7),
    ("ZERO", 8),
    ("DIRECT_RECLAIM", 10),
    ("KSWAPD_RECLAIM", 11),
    ("WRITE", 12),
    ("NOWARN", 13),
    ("RETRY_MAYFAIL", 14),
    ("NOFAIL", 15),
    ("NORETRY", 16),
    ("MEMALLOC", 17),
    ("COMP", 18),
    ("NOMEMALLOC", 19),
    ("HARDWALL", 20),
    ("THISNODE", 21),
    ("ACCOUNT", 22),
    ("ZEROTAGS", 23),
    ("SKIP_ZERO", 24),
    ("SKIP_KASAN", 25),
    ("NO_OBJ_EXT", 26),
];

/// Names in the order they are matched: compound masks first (the first matching mask wins
/// and its bits are consumed, so leftovers show up individually), then single flags.
const ORDER: &[&str] = &[
    "GFP_TRANSHUGE",
    "GFP_TRANSHUGE_LIGHT",
    "GFP_HIGHUSER_MOVABLE",
    "GFP_HIGHUSER",
    "GFP_USER",
    "GFP_KERNEL_ACCOUNT",
    "GFP_KERNEL",
    "GFP_NOFS",
    "GFP_ATOMIC",
    "GFP_NOIO",
    "GFP_NOWAIT",
    "GFP_DMA",
    "__GFP_HIGHMEM",
    "GFP_DMA32",
    "__GFP_HIGH",
    "__GFP_IO",
    "__GFP_FS",
    "__GFP_ZERO",
    "__GFP_DIRECT_RECLAIM",
    "__GFP_KSWAPD_RECLAIM",
    "__GFP_WRITE",
    "__GFP_NOWARN",
    "__GFP_RETRY_MAYFAIL",
    "__GFP_NOFAIL",
    "__GFP_NORETRY",
    "__GFP_MEMALLOC",
    "__GFP_COMP",
    "__GFP_NOMEMALLOC",
    "__GFP_HARDWALL",
    "__GFP_THISNODE",
    "__GFP_ACCOUNT",
    "__GFP_ZEROTAGS",
    "__GFP_SKIP_ZERO",
    "__GFP_SKIP_KASAN",
    "__GFP_NO_OBJ_EXT",
    "__GFP_MOVABLE",
    "__GFP_RECLAIMABLE",
    "__GFP_NOLOCKDEP",
];

static KERNEL_BITS: OnceLock<Vec<(String, u32)>> = OnceLock::new();

/// The running kernel's flag bits: the variants of its `___GFP_*_BIT` enum (`___GFP_DMA_BIT`,
/// ...; `___GFP_LAST_BIT` is ignored). The first call wins.
pub fn set_kernel_bits(variants: &[(String, u64)]) {
    let bits = variants
        .iter()
        .filter_map(|(n, v)| Some((n.strip_prefix("___GFP_")?.strip_suffix("_BIT")?.to_string(), *v as u32)))
        .filter(|(n, v)| n != "LAST" && *v < 64)
        .collect::<Vec<_>>();
    if !bits.is_empty() {
        let _ = KERNEL_BITS.set(bits);
    }
}

/// The mask of each name in `ORDER` that this kernel has.
fn table() -> &'static [(u64, &'static str)] {
    static TABLE: OnceLock<Vec<(u64, &'static str)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let bit = |flag: &str| -> u64 {
            match KERNEL_BITS.get() {
                Some(k) => k.iter().find(|(n, _)| n == flag).map_or(0, |(_, b)| 1 << b),
                None => DEFAULT_BITS.iter().find(|(n, _)| *n == flag).map_or(0, |(_, b)| 1 << b),
            }
        };
        let reclaim = bit("DIRECT_RECLAIM") | bit("KSWAPD_RECLAIM");
        let noio = reclaim;
        let nofs = noio | bit("IO");
        let kernel = nofs | bit("FS");
        let user = kernel | bit("HARDWALL");
        let highuser = user | bit("HIGHMEM");
        let highuser_movable = highuser | bit("MOVABLE") | bit("SKIP_KASAN");
        let transhuge_light = (highuser_movable | bit("COMP") | bit("NOMEMALLOC") | bit("NOWARN")) & !reclaim;
        let mask = |name: &str| -> u64 {
            match name {
                "GFP_TRANSHUGE" => transhuge_light | bit("DIRECT_RECLAIM"),
                "GFP_TRANSHUGE_LIGHT" => transhuge_light,
                "GFP_HIGHUSER_MOVABLE" => highuser_movable,
                "GFP_HIGHUSER" => highuser,
                "GFP_USER" => user,
                "GFP_KERNEL_ACCOUNT" => kernel | bit("ACCOUNT"),
                "GFP_KERNEL" => kernel,
                "GFP_NOFS" => nofs,
                "GFP_ATOMIC" => bit("HIGH") | bit("KSWAPD_RECLAIM"),
                "GFP_NOIO" => noio,
                "GFP_NOWAIT" => bit("KSWAPD_RECLAIM") | bit("NOWARN"),
                "GFP_DMA" => bit("DMA"),
                "GFP_DMA32" => bit("DMA32"),
                single => bit(single.trim_start_matches("__GFP_")),
            }
        };
        ORDER.iter().map(|&n| (mask(n), n)).filter(|(m, _)| *m != 0).collect()
    })
}

/// `GFP_KERNEL|__GFP_ZERO`, `0` for no flags, unknown bits as `|0x...`.
pub(crate) fn format(flags: u64) -> String {
    if flags == 0 {
        return "0".to_string();
    }
    let mut parts: Vec<String> = Vec::new();
    let mut remaining = flags;
    for &(mask, name) in table() {
        if remaining & mask == mask {
            parts.push(name.to_string());
            remaining &= !mask;
        }
    }
    if remaining != 0 {
        parts.push(format!("0x{remaining:x}"));
    }
    parts.join("|")
}

#[cfg(test)]
mod tests {
    use super::format;

    #[test]
    fn gfp() {
        assert_eq!(format(0), "0");
        assert_eq!(format(1), "GFP_DMA");
        assert_eq!(format(0xcc0), "GFP_KERNEL");
        assert_eq!(format(0xcc0 | 0x100), "GFP_KERNEL|__GFP_ZERO");
        assert_eq!(format(1 << 40), "0x10000000000");
        assert_eq!(format(0x820), "GFP_ATOMIC");
    }
}
