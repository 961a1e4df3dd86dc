//! `software:event[:count]` (`s:`): the kernel's software perf counters on every CPU, sampling
//! every `count` events (bpftrace's defaults when omitted).
use super::{AttachOpts, Context, ListQuery, Listed, ProbeKind, Target};
use ferret_syntax::ast::AttachPoint;
use ferret_syntax::Diagnostic;
use ferret_sys::{bpf, perf};
use std::os::fd::{BorrowedFd, OwnedFd};

/// (names, perf config, default sample period)
const EVENTS: &[(&[&str], u64, u64)] = &[
    (&["cpu-clock", "cpu"], perf::sw::CPU_CLOCK, 1_000_000),
    (&["task-clock"], perf::sw::TASK_CLOCK, 1_000_000),
    (&["page-faults", "faults"], perf::sw::PAGE_FAULTS, 100),
    (&["context-switches", "cs"], perf::sw::CONTEXT_SWITCHES, 1_000),
    (&["cpu-migrations"], perf::sw::CPU_MIGRATIONS, 1),
    (&["minor-faults"], perf::sw::PAGE_FAULTS_MIN, 100),
    (&["major-faults"], perf::sw::PAGE_FAULTS_MAJ, 1),
    (&["alignment-faults"], perf::sw::ALIGNMENT_FAULTS, 1),
    (&["emulation-faults"], perf::sw::EMULATION_FAULTS, 1),
    (&["dummy"], perf::sw::DUMMY, 1),
    (&["bpf-output"], perf::sw::BPF_OUTPUT, 1),
];

fn lookup(name: &str) -> Option<&'static (&'static [&'static str], u64, u64)> {
    EVENTS.iter().find(|(names, _, _)| names.contains(&name))
}

fn expand(kind: &'static ProbeKind, ap: &AttachPoint) -> Result<Vec<Target>, Diagnostic> {
    if !(2..=3).contains(&ap.parts.len()) {
        return Err(super::arity_error(ap, "software", "1 or 2 arguments"));
    }
    let ev = &ap.parts[1];
    if lookup(ev).is_none() {
        return Err(Diagnostic::error(ap.span, format!("Invalid software event: {ev}")));
    }
    let mut parts = ap.parts[1..].to_vec();
    if let Some(c) = parts.get_mut(1) {
        match super::parse_count(c) {
            Some(n) if n > 0 => *c = n.to_string(),
            _ => return Err(Diagnostic::error(ap.span, format!("Invalid count for software probe: {c}"))),
        }
    }
    Ok(vec![Target::new(kind, format!("software:{}", parts.join(":")), parts, Context::PerfEvent)])
}

fn attach(t: &Target, prog: BorrowedFd<'_>, opts: &AttachOpts) -> Result<Vec<OwnedFd>, super::AttachError> {
    let (_, config, default) = lookup(&t.parts[0]).ok_or("unknown software event")?;
    let period = t.parts.get(1).and_then(|c| c.parse().ok()).unwrap_or(*default);
    let cpus: Vec<i32> = match opts.pid {
        Some(_) => vec![-1],
        None => ferret_sys::cpus::online()?.into_iter().map(|c| c as i32).collect(),
    };
    let mut fds = vec![];
    for cpu in cpus {
        let pfd = perf::software_event(*config, period, false, opts.pid.unwrap_or(-1), cpu)?;
        super::attach_perf(prog, pfd, &mut fds)?;
    }
    Ok(fds)
}

fn list(q: &ListQuery<'_>) -> Vec<Listed> {
    let names: Vec<&str> = EVENTS.iter().flat_map(|(names, _, _)| names.iter().copied()).collect();
    super::listing::list_fixed("software", &names, q)
}

pub static SOFTWARE: ProbeKind = ProbeKind {
    names: &["software", "s"],
    doc: "software perf events on every CPU: software:page-faults:100",
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
    available: super::always,
};
