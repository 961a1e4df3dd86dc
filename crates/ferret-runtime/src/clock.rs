//! Wall-clock time for output: `time()`, and `strftime()` values, which the kernel records on
//! the boot clock and user space shifts to wall-clock time and formats in the local time zone.

/// CLOCK_REALTIME minus CLOCK_BOOTTIME, in ns: the wall-clock time of boot. Of five readings
/// (realtime, boottime, realtime) the one with the closest realtime pair is kept.
pub fn boot_realtime_ns() -> i128 {
    let read = |clock| {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime fills the timespec.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
    };
    let mut best: Option<(i128, i128)> = None;
    for _ in 0..5 {
        let before = read(libc::CLOCK_REALTIME);
        let boot = read(libc::CLOCK_BOOTTIME);
        let after = read(libc::CLOCK_REALTIME);
        let spread = after - before;
        if spread < 0 {
            continue;
        }
        let offset = (before + after) / 2 - boot;
        match best {
            Some((s, _)) if s <= spread => {}
            _ => best = Some((spread, offset)),
        }
    }
    best.map_or(0, |(_, offset)| offset)
}

/// Longest text a time format may produce (bpftrace's default string size).
const MAX_TIME_TEXT: usize = 1024;

/// Format wall-clock time `ns` (since the epoch) in local time. Beyond strftime(3): `%f` is
/// microseconds (6 digits), `%k` nanoseconds (9), `%l` milliseconds (3), as in bpftrace.
/// Time zero or a format that produces nothing gives `(?)`.
pub fn strftime(format: &str, ns: i128) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    if secs == 0 {
        return "(?)".to_string();
    }
    let fmt = format
        .replace("%f", &format!("{:06}", frac / 1000))
        .replace("%k", &format!("{frac:09}"))
        .replace("%l", &format!("{:03}", frac / 1_000_000));
    local(&fmt, secs as libc::time_t).filter(|s| !s.is_empty()).unwrap_or_else(|| "(?)".to_string())
}

/// `time(fmt)`: the current time through strftime(3), in local time.
pub fn now(format: &str) -> String {
    // SAFETY: time(NULL) only returns the time.
    let t = unsafe { libc::time(std::ptr::null_mut()) };
    local(format, t).unwrap_or_default()
}

/// `secs` since the epoch through strftime(3) in local time, without `strftime`'s rules for
/// time zero (a `tseries()` interval can start there under bpftrace's test clock).
pub fn format_local(format: &str, secs: i64) -> String {
    local(format, secs as libc::time_t).unwrap_or_default()
}

/// CLOCK_TAI minus CLOCK_REALTIME in ns (0 unless the kernel was told the TAI offset).
pub fn tai_offset_ns() -> i128 {
    let read = |clock| {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime fills the timespec.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
    };
    let (tai, real) = (read(libc::CLOCK_TAI), read(libc::CLOCK_REALTIME));
    // whole seconds: the offset is a leap-second count
    ((tai - real) as f64 / 1e9).round() as i128 * 1_000_000_000
}

fn local(format: &str, t: libc::time_t) -> Option<String> {
    let cfmt = std::ffi::CString::new(format).ok()?;
    let mut buf = vec![0u8; MAX_TIME_TEXT];
    // SAFETY: localtime_r and strftime get valid pointers and the buffer's real length.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return None;
        }
        let n = libc::strftime(buf.as_mut_ptr() as *mut libc::c_char, buf.len(), cfmt.as_ptr(), &tm);
        buf.truncate(n);
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_second_extensions() {
        let t = 1_700_000_000_123_456_789i128;
        assert_eq!(strftime("%s.%f", t), "1700000000.123456");
        assert_eq!(strftime("%k %l", t), "123456789 123");
        assert_eq!(strftime("%s", 0), "(?)");
    }

    #[test]
    fn boot_was_in_the_past() {
        let boot = boot_realtime_ns();
        assert!(boot > 1_600_000_000_000_000_000 && boot < 4_000_000_000_000_000_000);
    }
}
