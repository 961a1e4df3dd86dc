//! Block devices as the block tracepoints name them: the kernel's `dev_t` (major << 20 | minor)
//! and the disk names of /proc/diskstats.

fn diskstats() -> Vec<(u64, String)> {
    let text = std::fs::read_to_string("/proc/diskstats").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (major, minor): (u64, u64) = (f.first()?.parse().ok()?, f.get(1)?.parse().ok()?);
            Some(((major << 20) | minor, f.get(2)?.to_string()))
        })
        .collect()
}

/// A disk's name (`vda`) from the kernel's `dev_t`, `<unknown>` when /proc/diskstats lacks it.
pub fn disk_name(dev: u64) -> String {
    diskstats().into_iter().find(|(d, _)| *d == dev).map_or_else(|| "<unknown>".into(), |(_, n)| n)
}

/// The kernel's `dev_t` of a disk named as /proc/diskstats names it.
pub fn dev_of(name: &str) -> Option<u64> {
    diskstats().into_iter().find(|(_, n)| n == name).map(|(d, _)| d)
}

/// A tool's `-d DISK`: the disk's `dev_t`, or (shown) a usage error.
pub fn disk_arg(tool: &str, disk: Option<&str>) -> Result<Option<u64>, i32> {
    disk.map(|d| {
        dev_of(d).ok_or_else(|| {
            eprintln!("ferret {tool}: error: argument -d/--disk: no such disk '{d}'");
            2
        })
    })
    .transpose()
}
