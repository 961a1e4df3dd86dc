//! `profile:hz:N` / `profile:s|ms|us:N` (`p:`): sampling on every CPU with the software cpu-clock
//! event (these VMs have no hardware PMU, and cpu-clock works everywhere).
use super::interval::{attach_cpu_clock, parse_rate, timer_target};
use super::{AttachOpts, ListQuery, Listed, ProbeKind, Target};
use ferret_sys::bpf;
use std::os::fd::{BorrowedFd, OwnedFd};

fn attach(t: &Target, prog: BorrowedFd<'_>, _: &AttachOpts) -> Result<Vec<OwnedFd>, super::AttachError> {
    let rate = parse_rate(&t.parts, "profile")?;
    let cpus = ferret_sys::cpus::online()?;
    attach_cpu_clock(prog, rate, &cpus)
}

fn list(q: &ListQuery<'_>) -> Vec<Listed> {
    super::interval::list_timer("profile", q)
}

pub static PROFILE: ProbeKind = ProbeKind {
    names: &["profile", "p"],
    doc: "timed sampling on every CPU: profile:hz:N, profile:ms:N",
    expand: timer_target,
    prog_type: bpf::prog_type::PERF_EVENT,
    attach,
    list,
    listed_by_default: false,
    special: None,
    signal: true,
    consumers_newest_first: false,
    alternatives: false,
    user_debug: None,
    available: super::always,
};
