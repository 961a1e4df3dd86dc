//! CPU lists from sysfs: *possible* CPUs size per-CPU map values, *online* CPUs get one perf
//! event each (profile probes, perf buffers).

use std::sync::OnceLock;

use crate::{Result, SysError};

const ONLINE: &str = "/sys/devices/system/cpu/online";
const POSSIBLE: &str = "/sys/devices/system/cpu/possible";

/// Parses a kernel CPU list such as `0-1`, `0,2-3` or `0-3,8-11` (a trailing newline is fine).
pub fn parse_cpu_list(s: &str) -> std::result::Result<Vec<u32>, String> {
    let mut out = Vec::new();
    let s = s.trim();
    if s.is_empty() {
        return Ok(out);
    }
    for part in s.split(',') {
        let part = part.trim();
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a, b),
            None => (part, part),
        };
        let a: u32 = a.trim().parse().map_err(|_| format!("bad CPU number {a:?} in {s:?}"))?;
        let b: u32 = b.trim().parse().map_err(|_| format!("bad CPU number {b:?} in {s:?}"))?;
        if b < a || b - a > 1 << 16 {
            return Err(format!("bad CPU range {part:?} in {s:?}"));
        }
        out.extend(a..=b);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn read_list(path: &str) -> Result<Vec<u32>> {
    let s = std::fs::read_to_string(path).map_err(|e| SysError::io(path, e))?;
    let v = parse_cpu_list(&s).map_err(|w| SysError::parse(path, w))?;
    if v.is_empty() {
        return Err(SysError::parse(path, "empty CPU list"));
    }
    Ok(v)
}

/// CPUs online now (read each time: CPUs can go offline).
pub fn online() -> Result<Vec<u32>> {
    read_list(ONLINE)
}

/// CPUs that can ever exist (cached: fixed at boot).
pub fn possible() -> Result<Vec<u32>> {
    static POSSIBLE_CPUS: OnceLock<Vec<u32>> = OnceLock::new();
    if let Some(v) = POSSIBLE_CPUS.get() {
        return Ok(v.clone());
    }
    let v = read_list(POSSIBLE)?;
    Ok(POSSIBLE_CPUS.get_or_init(|| v).clone())
}

/// Number of possible CPUs: the number of slots in a per-CPU map value.
pub fn possible_count() -> Result<usize> {
    static COUNT: OnceLock<usize> = OnceLock::new();
    if let Some(n) = COUNT.get() {
        return Ok(*n);
    }
    let n = possible()?.len();
    Ok(*COUNT.get_or_init(|| n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kernel_lists() {
        assert_eq!(parse_cpu_list("0-1\n"), Ok(vec![0, 1]));
        assert_eq!(parse_cpu_list("0,2-3"), Ok(vec![0, 2, 3]));
        assert_eq!(parse_cpu_list("5"), Ok(vec![5]));
        assert_eq!(parse_cpu_list("0-3,8-9"), Ok(vec![0, 1, 2, 3, 8, 9]));
        assert_eq!(parse_cpu_list(""), Ok(vec![]));
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("a-b").is_err());
        assert!(parse_cpu_list("0-").is_err());
        assert!(parse_cpu_list("0-4294967295").is_err());
    }

    #[test]
    fn reads_this_machine() {
        let p = possible().expect("possible");
        let o = online().expect("online");
        assert!(!o.is_empty());
        assert!(o.iter().all(|c| p.contains(c)));
        assert_eq!(possible_count().expect("count"), p.len());
    }
}
