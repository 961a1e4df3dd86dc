//! `watchpoint:ADDR:LEN:MODE` (`w:`): a hardware breakpoint on LEN bytes at an absolute address,
//! firing when they are read, written or executed as MODE says. With `-p`/`-c` the address is in
//! that process (every thread, including threads it creates later); without, it is a kernel
//! address watched on every CPU. The program is a perf-event program, like `profile:`.
//!
//! bpftrace 0.17's `watchpoint:func+argN:LEN:MODE` and `asyncwatchpoint:` were removed in
//! v0.25; ferret reports them as such rather than as plain syntax errors.
use super::{AttachOpts, Context, ListQuery, Listed, ProbeKind, Target};
use ferret_syntax::ast::AttachPoint;
use ferret_syntax::span::Span;
use ferret_syntax::Diagnostic;
use ferret_sys::bpf;
use ferret_sys::perf::{self, hw_breakpoint};
use std::os::fd::{BorrowedFd, OwnedFd};

/// The modes x86-64 debug registers can watch (Intel SDM vol. 3, 17.2.4), in the order
/// bpftrace's hint lists them: no read-only watchpoints.
const MODES: &[&str] = &["x", "w", "rw"];

/// The hint for the bpftrace 0.17 forms that no longer exist.
const REMOVED_HINT: &str = "watchpoints on function arguments (watchpoint:func+argN:len:mode) and asyncwatchpoint \
                            were removed in bpftrace v0.25; watch an absolute address instead";

/// An unsigned integer as bpftrace reads attach point numbers: `_` separators, `0x`/`0b`/leading
/// `0` octal prefixes, `1e6` exponents and C suffixes (`u`, `ul`, ...). Err is the reason.
fn to_uint(num: &str) -> Result<u64, String> {
    let n: String = num.chars().filter(|&c| c != '_').collect();
    // Messages name what is left after a base prefix, as bpftrace's do.
    let (digits, radix) = match n.as_bytes() {
        [b'0', b'x' | b'X', ..] => (&n[2..], 16),
        [b'0', b'b' | b'B', ..] => (&n[2..], 2),
        [b'0', b'0'..=b'7', ..] => (&n[1..], 8),
        // A lone leading 0 is still C's octal prefix (`09` stops after the 0).
        [b'0', ..] => (n.as_str(), 8),
        _ => (n.as_str(), 10),
    };
    let num = if digits.len() == n.len() { num } else { digits };
    let end = digits.find(|c: char| !c.is_digit(radix)).unwrap_or(digits.len());
    if end == 0 {
        return Err(format!("invalid integer: {num}"));
    }
    let overflow = || format!("{num} is out of range (max {})", u64::MAX);
    let mut value = u64::from_str_radix(&digits[..end], radix).map_err(|_| overflow())?;
    let mut rest = &digits[end..];
    if let Some(exp) = rest.strip_prefix(['e', 'E']).filter(|e| e.starts_with(|c: char| ('1'..='9').contains(&c))) {
        if !(1..10).contains(&value) {
            return Err(format!("coefficient part of scientific literal must be 1-9: {num}"));
        }
        let len = exp.find(|c: char| !c.is_ascii_digit()).unwrap_or(exp.len());
        let pow: u32 = exp[..len].parse().map_err(|_| overflow())?;
        value = 10u64.checked_pow(pow).and_then(|p| value.checked_mul(p)).ok_or_else(overflow)?;
        rest = &exp[len..];
    }
    let Some((max, mul)) = ferret_syntax::lexer::int_suffix(rest) else {
        return Err(format!("invalid trailing bytes: {num}"));
    };
    if value > max / mul {
        return Err(overflow());
    }
    Ok(value * mul)
}

/// The checks bpftrace makes on a parsed watchpoint; the mode comes back sorted (`wr` → `rw`).
fn check(address: u64, len: u64, mode: &str, span: Span) -> Result<String, Diagnostic> {
    let err = |m: String| Diagnostic::error(span, m);
    if address == 0 {
        return Err(err("watchpoint must be attached to a non-zero address".into()));
    }
    if ![1, 2, 4, 8].contains(&len) {
        return Err(err("watchpoint length must be one of (1,2,4,8)".into()));
    }
    let mut sorted: Vec<char> = mode.chars().collect();
    sorted.sort_unstable();
    if sorted.is_empty() || sorted.iter().any(|c| !matches!(c, 'r' | 'w' | 'x')) {
        return Err(err("watchpoint mode must be combination of (r,w,x)".into()));
    }
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return Err(err("watchpoint modes may not be duplicated".into()));
    }
    let sorted: String = sorted.into_iter().collect();
    if !MODES.contains(&sorted.as_str()) {
        return Err(err(format!("invalid watchpoint mode: {sorted}"))
            .with_hint(format!("supported modes: {}", MODES.join(","))));
    }
    Ok(sorted)
}

/// The error for `asyncwatchpoint:`/`aw:`, which bpftrace no longer has; `None` for any other
/// provider name.
pub fn removed_provider(ap: &AttachPoint, provider: &str) -> Option<Diagnostic> {
    ["asyncwatchpoint", "aw"]
        .contains(&provider)
        .then(|| Diagnostic::error(ap.span, format!("Invalid probe type: {provider}")).with_hint(REMOVED_HINT))
}

fn expand(kind: &'static ProbeKind, ap: &AttachPoint) -> Result<Vec<Target>, Diagnostic> {
    if ap.parts.len() != 4 {
        let found = ap.parts.len().saturating_sub(1);
        return Err(Diagnostic::error(ap.span, format!("watchpoint probe type requires 3 arguments, found {found}")));
    }
    let address = to_uint(&ap.parts[1]).map_err(|e| {
        let d = Diagnostic::error(ap.span, format!("Invalid function/address argument: {e}"));
        // `func+arg0`: the removed function-argument form.
        if ap.parts[1].contains("+arg") {
            d.with_hint(REMOVED_HINT)
        } else {
            d
        }
    })?;
    let len = to_uint(&ap.parts[2]).map_err(|e| Diagnostic::error(ap.span, format!("Invalid length argument: {e}")))?;
    let mode = check(address, len, &ap.parts[3], ap.span)?;
    // bpftrace names the probe after the traced binary when there is one (`-p`).
    let target = super::target_pid().map(|p| format!("/proc/{p}/exe:")).unwrap_or_default();
    let name = format!("watchpoint:{target}{address}:{len}:{mode}");
    let parts = vec![address.to_string(), len.to_string(), mode];
    Ok(vec![Target::new(kind, name, parts, Context::PerfEvent)])
}

/// The threads of a process, which each need their own breakpoint (inheritance only covers
/// threads created after the event is opened).
fn threads(pid: i32) -> Result<Vec<i32>, String> {
    let dir = format!("/proc/{pid}/task");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{dir}: {e}"))?;
    let mut tids: Vec<i32> = entries.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect();
    tids.sort_unstable();
    Ok(tids)
}

fn attach(t: &Target, prog: BorrowedFd<'_>, opts: &AttachOpts) -> Result<Vec<OwnedFd>, super::AttachError> {
    let [address, len, mode] = t.parts.as_slice() else { return Err("malformed watchpoint target".into()) };
    let address: u64 = address.parse().map_err(|_| "malformed watchpoint address")?;
    let bp_type = mode.chars().fold(0, |acc, c| {
        acc | match c {
            'r' => hw_breakpoint::R,
            'w' => hw_breakpoint::W,
            _ => hw_breakpoint::X,
        }
    });
    // An execution breakpoint covers one instruction: the kernel wants sizeof(long) there.
    let len =
        if bp_type & hw_breakpoint::X != 0 { 8 } else { len.parse().map_err(|_| "malformed watchpoint length")? };
    let (tids, cpus): (Vec<i32>, Vec<i32>) = match opts.pid {
        Some(pid) => (threads(pid)?, vec![-1]),
        None => {
            let cpus = ferret_sys::cpus::online()?;
            (vec![-1], cpus.into_iter().map(|c| c as i32).collect())
        }
    };
    let mut fds = vec![];
    let mut last_err = None;
    for &cpu in &cpus {
        for &tid in &tids {
            // Threads may exit and CPUs go offline meanwhile: only fail when nothing attached.
            let pfd = match perf::breakpoint_event(address, len, bp_type, tid, cpu) {
                Ok(fd) => fd,
                Err(e) => {
                    last_err = Some(if e.errno() == Some(libc::ENOSPC) {
                        "No more HW registers left".to_string()
                    } else {
                        e.to_string()
                    });
                    continue;
                }
            };
            super::attach_perf(prog, pfd, &mut fds)?;
        }
    }
    if fds.is_empty() {
        return Err(last_err.unwrap_or_else(|| "no thread or CPU to watch".into()).into());
    }
    Ok(fds)
}

/// Nothing to list: watchpoints are on addresses, as bpftrace's `-l` shows none either.
fn list(_: &ListQuery<'_>) -> Vec<Listed> {
    vec![]
}

pub static WATCHPOINT: ProbeKind = ProbeKind {
    names: &["watchpoint", "w"],
    doc: "a hardware breakpoint on an address: watchpoint:0xADDR:LEN:MODE (modes w, rw, x)",
    expand,
    prog_type: bpf::prog_type::PERF_EVENT,
    attach,
    list,
    listed_by_default: false,
    special: None,
    signal: false,
    consumers_newest_first: false,
    alternatives: false,
    user_debug: None,
    available: super::always,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers_as_bpftrace() {
        assert_eq!(to_uint("0x10000000"), Ok(0x1000_0000));
        assert_eq!(to_uint("1234"), Ok(1234));
        assert_eq!(to_uint("010"), Ok(8));
        assert_eq!(to_uint("0b101"), Ok(5));
        assert_eq!(to_uint("1_000"), Ok(1000));
        assert_eq!(to_uint("0xffffffffffffffff"), Ok(u64::MAX));
        assert_eq!(to_uint("1b"), Err("invalid trailing bytes: 1b".into()));
        assert_eq!(to_uint("func+arg0"), Err("invalid integer: func+arg0".into()));
        assert_eq!(to_uint("0x1g"), Err("invalid trailing bytes: 1g".into()));
        assert_eq!(to_uint("09"), Err("invalid trailing bytes: 09".into()));
        assert_eq!(to_uint("0"), Ok(0));
        assert_eq!(to_uint("1e3"), Ok(1000));
    }

    #[test]
    fn checks_modes() {
        assert_eq!(check(1, 8, "wr", Span::default()).unwrap(), "rw");
        assert_eq!(check(1, 1, "x", Span::default()).unwrap(), "x");
        assert_eq!(check(1, 8, "r", Span::default()).unwrap_err().message, "invalid watchpoint mode: r");
        assert_eq!(check(1, 8, "xx", Span::default()).unwrap_err().message, "watchpoint modes may not be duplicated");
        assert_eq!(
            check(1, 8, "b", Span::default()).unwrap_err().message,
            "watchpoint mode must be combination of (r,w,x)"
        );
        assert_eq!(
            check(1, 9, "w", Span::default()).unwrap_err().message,
            "watchpoint length must be one of (1,2,4,8)"
        );
        assert_eq!(
            check(0, 8, "w", Span::default()).unwrap_err().message,
            "watchpoint must be attached to a non-zero address"
        );
    }
}
