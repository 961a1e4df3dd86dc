//! `interval:s|ms|us|hz:N` (`i:`): a timer on one CPU, as a software cpu-clock perf event.
use super::{arity_error, AttachOpts, Context, ListQuery, Listed, ProbeKind, Target};
use ferret_syntax::ast::AttachPoint;
use ferret_syntax::Diagnostic;
use ferret_sys::{bpf, perf};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// The units `-l` shows for timer probes (as bpftrace lists them).
pub const UNITS: [&str; 4] = ["s", "ms", "us", "hz"];

/// A period in nanoseconds from `unit:N` or `N<unit>` / `N` (ns); `hz` gives a frequency.
pub enum Rate {
    PeriodNs(u64),
    Hz(u64),
}

pub fn parse_rate(ap: &AttachPoint, provider: &str) -> Result<Rate, Diagnostic> {
    let bad = |m: String| Diagnostic::error(ap.span, m);
    let (unit, n) = match ap.parts.len() {
        3 => (ap.parts[1].as_str(), ap.parts[2].as_str()),
        2 => {
            let s = ap.parts[1].as_str();
            let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
            let unit = if digits == s.len() { "ns" } else { &s[digits..] };
            (unit, &s[..digits])
        }
        _ => return Err(arity_error(ap, provider, "2 arguments")),
    };
    let n: u64 = n
        .replace('_', "")
        .parse()
        .map_err(|_| bad(format!("{provider} rate must be a positive integer, got '{n}'")))?;
    if n == 0 {
        return Err(bad(format!("{provider} rate must be a positive integer, got '0'")));
    }
    Ok(match unit {
        "ns" => Rate::PeriodNs(n),
        "us" => Rate::PeriodNs(n * 1_000),
        "ms" => Rate::PeriodNs(n * 1_000_000),
        "s" => Rate::PeriodNs(n * 1_000_000_000),
        "m" => Rate::PeriodNs(n * 60_000_000_000),
        "hz" => Rate::Hz(n),
        other => return Err(bad(format!("{other} is not an accepted unit"))),
    })
}

fn expand(kind: &'static ProbeKind, ap: &AttachPoint) -> Result<Vec<Target>, Diagnostic> {
    parse_rate(ap, "interval")?;
    let parts = ap.parts[1..].to_vec();
    Ok(vec![Target::new(kind, format!("interval:{}", parts.join(":")), parts, Context::PerfEvent)])
}

/// Open one cpu-clock event per listed CPU and link the program to each.
pub fn attach_cpu_clock(prog: BorrowedFd<'_>, rate: Rate, cpus: &[u32]) -> Result<Vec<OwnedFd>, String> {
    let (period, freq) = match rate {
        Rate::PeriodNs(ns) => (ns, false),
        Rate::Hz(hz) => (hz, true),
    };
    let mut fds = vec![];
    for &cpu in cpus {
        let pfd = perf::software_event(perf::sw::CPU_CLOCK, period, freq, -1, cpu as i32).map_err(|e| e.to_string())?;
        let link =
            bpf::link_create(prog, pfd.as_raw_fd(), bpf::attach_type::PERF_EVENT, 0).map_err(|e| e.to_string())?;
        fds.push(link);
        fds.push(pfd);
    }
    Ok(fds)
}

fn attach(t: &Target, prog: BorrowedFd<'_>, _: &AttachOpts) -> Result<Vec<OwnedFd>, String> {
    let ap = AttachPoint {
        raw: t.name.clone(),
        parts: std::iter::once("interval".to_string()).chain(t.parts.iter().cloned()).collect(),
        span: Default::default(),
    };
    let rate = parse_rate(&ap, "interval").map_err(|d| d.message)?;
    // One CPU, like bpftrace: the interval fires once per period, not once per CPU.
    let cpu = ferret_sys::cpus::online().map_err(|e| e.to_string())?.first().copied().unwrap_or(0);
    attach_cpu_clock(prog, rate, &[cpu])
}

/// `-l` for timer probes: the units; a program's `interval:100ms` (one field, a rate) counts
/// as microseconds, the unit bpftrace converts such rates to.
pub fn list_timer(kind: &str, q: &ListQuery<'_>) -> Vec<Listed> {
    let pattern =
        if q.pattern.starts_with(|c: char| c.is_ascii_digit()) && !q.pattern.contains(':') { "us" } else { q.pattern };
    super::listing::list_fixed(kind, &UNITS, &ListQuery { pattern, ..*q })
}

fn list(q: &ListQuery<'_>) -> Vec<Listed> {
    list_timer("interval", q)
}

pub static INTERVAL: ProbeKind = ProbeKind {
    names: &["interval", "i"],
    doc: "a timer firing on one CPU: interval:s|ms|us|hz:N",
    expand,
    prog_type: bpf::prog_type::PERF_EVENT,
    attach,
    list,
    listed_by_default: false,
    special: None,
};
