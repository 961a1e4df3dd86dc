//! `hardware:event[:count]` (`h:`): the CPU's hardware perf counters on every CPU, sampling
//! every `count` events (bpftrace's defaults when omitted). Needs a hardware PMU, which many
//! VMs do not expose: attaching then fails naming the missing PMU.
use super::{AttachOpts, Context, ListQuery, Listed, ProbeKind, Target};
use ferret_syntax::ast::AttachPoint;
use ferret_syntax::Diagnostic;
use ferret_sys::bpf;
use ferret_sys::perf::{self, PerfEventAttr};
use std::os::fd::{BorrowedFd, OwnedFd};

/// (names, perf config, default sample period), as bpftrace names them.
const EVENTS: &[(&[&str], u64, u64)] = &[
    (&["backend-stalls"], perf::hw::STALLED_CYCLES_BACKEND, 1_000_000),
    (&["branch-instructions", "branches"], perf::hw::BRANCH_INSTRUCTIONS, 100_000),
    (&["branch-misses"], perf::hw::BRANCH_MISSES, 100_000),
    (&["bus-cycles"], perf::hw::BUS_CYCLES, 100_000),
    (&["cache-misses"], perf::hw::CACHE_MISSES, 1_000_000),
    (&["cache-references"], perf::hw::CACHE_REFERENCES, 1_000_000),
    (&["cpu-cycles", "cycles"], perf::hw::CPU_CYCLES, 1_000_000),
    (&["frontend-stalls"], perf::hw::STALLED_CYCLES_FRONTEND, 1_000_000),
    (&["instructions"], perf::hw::INSTRUCTIONS, 1_000_000),
    (&["ref-cycles"], perf::hw::REF_CPU_CYCLES, 1_000_000),
];

fn lookup(name: &str) -> Option<&'static (&'static [&'static str], u64, u64)> {
    EVENTS.iter().find(|(names, _, _)| names.contains(&name))
}

fn expand(kind: &'static ProbeKind, ap: &AttachPoint) -> Result<Vec<Target>, Diagnostic> {
    if !(2..=3).contains(&ap.parts.len()) {
        return Err(super::arity_error(ap, "hardware", "1 or 2 arguments"));
    }
    let ev = &ap.parts[1];
    if lookup(ev).is_none() {
        return Err(Diagnostic::error(ap.span, format!("Invalid hardware event: {ev}")));
    }
    if let Some(c) = ap.parts.get(2) {
        if c.parse::<u64>().map_or(true, |n| n == 0) {
            return Err(Diagnostic::error(ap.span, format!("Invalid count for hardware probe: {c}")));
        }
    }
    let parts = ap.parts[1..].to_vec();
    Ok(vec![Target::new(kind, format!("hardware:{}", parts.join(":")), parts, Context::PerfEvent)])
}

fn attach(t: &Target, prog: BorrowedFd<'_>, opts: &AttachOpts) -> Result<Vec<OwnedFd>, super::AttachError> {
    let (_, config, default) = lookup(&t.parts[0]).ok_or("unknown hardware event")?;
    let period = t.parts.get(1).and_then(|c| c.parse().ok()).unwrap_or(*default);
    let cpus: Vec<i32> = match opts.pid {
        Some(_) => vec![-1],
        None => ferret_sys::cpus::online()?.into_iter().map(|c| c as i32).collect(),
    };
    let mut fds = vec![];
    for cpu in cpus {
        let mut attr = PerfEventAttr {
            type_: perf::PERF_TYPE_HARDWARE,
            config: *config,
            sample_period_or_freq: period,
            ..Default::default()
        };
        let pfd = perf::perf_event_open(&mut attr, opts.pid.unwrap_or(-1), cpu, -1, 0).map_err(|e| {
            let pmu = std::path::Path::new("/sys/bus/event_source/devices/cpu").exists();
            let why = if pmu {
                ""
            } else {
                " (this machine has no hardware PMU: /sys/bus/event_source/devices/cpu is missing)"
            };
            format!("{e}{why}")
        })?;
        super::attach_perf(prog, pfd, &mut fds)?;
    }
    Ok(fds)
}

fn list(q: &ListQuery<'_>) -> Vec<Listed> {
    let names: Vec<&str> = EVENTS.iter().flat_map(|(names, _, _)| names.iter().copied()).collect();
    super::listing::list_fixed("hardware", &names, q)
}

pub static HARDWARE: ProbeKind = ProbeKind {
    names: &["hardware", "h"],
    doc: "hardware perf counters on every CPU: hardware:cache-misses:1000000",
    expand,
    prog_type: bpf::prog_type::PERF_EVENT,
    attach,
    list,
    listed_by_default: true,
    special: None,
    signal: false,
    consumers_newest_first: false,
    alternatives: false,
    user_debug: None,
    available,
};

/// Whether this machine exposes a hardware PMU (many VMs do not).
fn available() -> bool {
    std::path::Path::new("/sys/bus/event_source/devices/cpu").exists()
}
