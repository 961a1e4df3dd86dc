//! `%gr`: kernel GFP allocation flags in human-readable form, matching
//! bpftrace's table (which mirrors the kernel's `__def_gfpflag_names`).

const fn bit(n: u32) -> u64 {
    1 << n
}

const DMA: u64 = bit(0);
const HIGHMEM: u64 = bit(1);
const DMA32: u64 = bit(2);
const MOVABLE: u64 = bit(3);
const HIGH: u64 = bit(5);
const IO: u64 = bit(6);
const FS: u64 = bit(7);
const ZERO: u64 = bit(8);
const DIRECT_RECLAIM: u64 = bit(10);
const KSWAPD_RECLAIM: u64 = bit(11);
const WRITE: u64 = bit(12);
const NOWARN: u64 = bit(13);
const RETRY_MAYFAIL: u64 = bit(14);
const NOFAIL: u64 = bit(15);
const NORETRY: u64 = bit(16);
const MEMALLOC: u64 = bit(17);
const COMP: u64 = bit(18);
const NOMEMALLOC: u64 = bit(19);
const HARDWALL: u64 = bit(20);
const THISNODE: u64 = bit(21);
const ACCOUNT: u64 = bit(22);
const ZEROTAGS: u64 = bit(23);
const SKIP_ZERO: u64 = bit(24);
const SKIP_KASAN: u64 = bit(25);
const NO_OBJ_EXT: u64 = bit(26);

const RECLAIM: u64 = DIRECT_RECLAIM | KSWAPD_RECLAIM;
const GFP_ATOMIC: u64 = HIGH | KSWAPD_RECLAIM;
const GFP_KERNEL: u64 = DIRECT_RECLAIM | KSWAPD_RECLAIM | IO | FS;
const GFP_KERNEL_ACCOUNT: u64 = GFP_KERNEL | ACCOUNT;
const GFP_NOWAIT: u64 = KSWAPD_RECLAIM | NOWARN;
const GFP_NOIO: u64 = DIRECT_RECLAIM | KSWAPD_RECLAIM;
const GFP_NOFS: u64 = GFP_NOIO | IO;
const GFP_USER: u64 = GFP_NOFS | FS | HARDWALL;
const GFP_HIGHUSER: u64 = GFP_USER | HIGHMEM;
const GFP_HIGHUSER_MOVABLE: u64 = GFP_HIGHUSER | MOVABLE | SKIP_KASAN;
const GFP_TRANSHUGE_LIGHT: u64 = (GFP_HIGHUSER_MOVABLE | COMP | NOMEMALLOC | NOWARN) & !RECLAIM;
const GFP_TRANSHUGE: u64 = GFP_TRANSHUGE_LIGHT | DIRECT_RECLAIM;

/// Compound masks first: the first matching mask wins and its bits are
/// consumed, so leftovers show up individually.
const NAMES: &[(u64, &str)] = &[
    (GFP_TRANSHUGE, "GFP_TRANSHUGE"),
    (GFP_TRANSHUGE_LIGHT, "GFP_TRANSHUGE_LIGHT"),
    (GFP_HIGHUSER_MOVABLE, "GFP_HIGHUSER_MOVABLE"),
    (GFP_HIGHUSER, "GFP_HIGHUSER"),
    (GFP_USER, "GFP_USER"),
    (GFP_KERNEL_ACCOUNT, "GFP_KERNEL_ACCOUNT"),
    (GFP_KERNEL, "GFP_KERNEL"),
    (GFP_NOFS, "GFP_NOFS"),
    (GFP_ATOMIC, "GFP_ATOMIC"),
    (GFP_NOIO, "GFP_NOIO"),
    (GFP_NOWAIT, "GFP_NOWAIT"),
    (DMA, "GFP_DMA"),
    (HIGHMEM, "__GFP_HIGHMEM"),
    (DMA32, "GFP_DMA32"),
    (HIGH, "__GFP_HIGH"),
    (IO, "__GFP_IO"),
    (FS, "__GFP_FS"),
    (ZERO, "__GFP_ZERO"),
    (DIRECT_RECLAIM, "__GFP_DIRECT_RECLAIM"),
    (KSWAPD_RECLAIM, "__GFP_KSWAPD_RECLAIM"),
    (WRITE, "__GFP_WRITE"),
    (NOWARN, "__GFP_NOWARN"),
    (RETRY_MAYFAIL, "__GFP_RETRY_MAYFAIL"),
    (NOFAIL, "__GFP_NOFAIL"),
    (NORETRY, "__GFP_NORETRY"),
    (MEMALLOC, "__GFP_MEMALLOC"),
    (COMP, "__GFP_COMP"),
    (NOMEMALLOC, "__GFP_NOMEMALLOC"),
    (HARDWALL, "__GFP_HARDWALL"),
    (THISNODE, "__GFP_THISNODE"),
    (ACCOUNT, "__GFP_ACCOUNT"),
    (ZEROTAGS, "__GFP_ZEROTAGS"),
    (SKIP_ZERO, "__GFP_SKIP_ZERO"),
    (SKIP_KASAN, "__GFP_SKIP_KASAN"),
    (NO_OBJ_EXT, "__GFP_NO_OBJ_EXT"),
];

/// `GFP_KERNEL|__GFP_ZERO`, `0` for no flags, unknown bits as `|0x...`.
pub(crate) fn format(flags: u64) -> String {
    if flags == 0 {
        return "0".to_string();
    }
    let mut parts: Vec<String> = Vec::new();
    let mut remaining = flags;
    for &(mask, name) in NAMES {
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
