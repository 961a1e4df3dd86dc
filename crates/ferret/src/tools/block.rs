//! Block devices as the block tracepoints name them: the kernel's `dev_t` (major << 20 | minor)
//! and the disk names of /proc/diskstats, read once and again only when a device is not there.
use std::sync::Mutex;

fn read_diskstats() -> Vec<(u64, String)> {
    let text = std::fs::read_to_string("/proc/diskstats").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (major, minor): (u64, u64) = (f.first()?.parse().ok()?, f.get(1)?.parse().ok()?);
            Some(((major << 20) | minor, f.get(2)?.to_string()))
        })
        .collect()
}

/// The first disk `matches`, from the table as last read, or re-read when none does (a disk
/// added since).
fn find(matches: impl Fn(&(u64, String)) -> bool) -> Option<(u64, String)> {
    static TABLE: Mutex<Vec<(u64, String)>> = Mutex::new(Vec::new());
    let mut table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(hit) = table.iter().find(|d| matches(d)) {
        return Some(hit.clone());
    }
    *table = read_diskstats();
    table.iter().find(|d| matches(d)).cloned()
}

/// A disk's name (`vda`) from the kernel's `dev_t`, `<unknown>` when /proc/diskstats lacks it.
pub fn disk_name(dev: u64) -> String {
    find(|(d, _)| *d == dev).map_or_else(|| "<unknown>".into(), |(_, n)| n)
}

/// The kernel's `dev_t` of a disk named as /proc/diskstats names it.
pub fn dev_of(name: &str) -> Option<u64> {
    find(|(_, n)| n == name).map(|(d, _)| d)
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
