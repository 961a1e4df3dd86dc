//! `interval:s|ms|us|hz:N` (`i:`): a timer on one CPU, as a software cpu-clock perf event.
use super::{AttachOpts, Context, ListQuery, Listed, ProbeKind, Target};
use ferret_syntax::ast::AttachPoint;
use ferret_syntax::Diagnostic;
use ferret_sys::{bpf, perf};
use std::os::fd::{BorrowedFd, OwnedFd};

/// The units `-l` shows for timer probes (as bpftrace lists them).
pub const UNITS: [&str; 4] = ["s", "ms", "us", "hz"];

/// A period in nanoseconds from `unit:N` or `N<unit>` / `N` (ns); `hz` gives a frequency.
pub enum Rate {
    PeriodNs(u64),
    Hz(u64),
}

/// The rate of a timer probe from its fields after the provider (`["ms", "100"]` or
/// `["100ms"]`, also `1e6` and `1_000` counts). Err is the message.
pub fn parse_rate(fields: &[String], provider: &str) -> Result<Rate, String> {
    let (unit, n) = match fields {
        [unit, n] => (unit.as_str(), n.as_str()),
        [s] => {
            let digits = s.find(|c: char| !c.is_ascii_digit() && c != '_').unwrap_or(s.len());
            let unit = if digits == s.len() { "ns" } else { &s[digits..] };
            (unit, &s[..digits])
        }
        _ => return Err(format!("{provider} probe type requires 2 arguments")),
    };
    let n = match super::parse_count(n) {
        Some(n) if n > 0 => n,
        _ => return Err(format!("{provider} rate must be a positive integer, got '{n}'")),
    };
    Ok(match unit {
        "ns" => Rate::PeriodNs(n),
        "us" => Rate::PeriodNs(n * 1_000),
        "ms" => Rate::PeriodNs(n * 1_000_000),
        "s" => Rate::PeriodNs(n * 1_000_000_000),
        "m" => Rate::PeriodNs(n * 60_000_000_000),
        "hz" => Rate::Hz(n),
        other => return Err(format!("{other} is not an accepted unit")),
    })
}

/// A timer probe's target: its rate fields, checked.
pub fn timer_target(kind: &'static ProbeKind, ap: &AttachPoint) -> Result<Vec<Target>, Diagnostic> {
    let provider = kind.names[0];
    parse_rate(&ap.parts[1..], provider).map_err(|m| Diagnostic::error(ap.span, m))?;
    let parts = ap.parts[1..].to_vec();
    Ok(vec![Target::new(kind, format!("{provider}:{}", parts.join(":")), parts, Context::PerfEvent)])
}

/// Open one cpu-clock event per listed CPU and link the program to each.
pub fn attach_cpu_clock(prog: BorrowedFd<'_>, rate: Rate, cpus: &[u32]) -> Result<Vec<OwnedFd>, super::AttachError> {
    let (period, freq) = match rate {
        Rate::PeriodNs(ns) => (ns, false),
        Rate::Hz(hz) => (hz, true),
    };
    let mut fds = vec![];
    for &cpu in cpus {
        let pfd = perf::software_event(perf::sw::CPU_CLOCK, period, freq, -1, cpu as i32)?;
        super::attach_perf(prog, pfd, &mut fds)?;
    }
    Ok(fds)
}

fn attach(t: &Target, prog: BorrowedFd<'_>, _: &AttachOpts) -> Result<Vec<OwnedFd>, super::AttachError> {
    let rate = parse_rate(&t.parts, "interval")?;
    // One CPU, like bpftrace: the interval fires once per period, not once per CPU.
    let cpu = ferret_sys::cpus::online()?.first().copied().unwrap_or(0);
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
    expand: timer_target,
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
