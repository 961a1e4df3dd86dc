//! `profile:hz:N` / `profile:s|ms|us:N` (`p:`): sampling on every CPU with the software cpu-clock
//! event (these VMs have no hardware PMU, and cpu-clock works everywhere).
use super::interval::{attach_cpu_clock, parse_rate};
use super::{AttachOpts, Context, ListQuery, Listed, ProbeKind, Target};
use ferret_syntax::ast::AttachPoint;
use ferret_syntax::Diagnostic;
use ferret_sys::bpf;
use std::os::fd::{BorrowedFd, OwnedFd};

fn expand(kind: &'static ProbeKind, ap: &AttachPoint) -> Result<Vec<Target>, Diagnostic> {
    parse_rate(ap, "profile")?;
    let parts = ap.parts[1..].to_vec();
    Ok(vec![Target::new(kind, format!("profile:{}", parts.join(":")), parts, Context::PerfEvent)])
}

fn attach(t: &Target, prog: BorrowedFd<'_>, _: &AttachOpts) -> Result<Vec<OwnedFd>, String> {
    let ap = AttachPoint {
        raw: t.name.clone(),
        parts: std::iter::once("profile".to_string()).chain(t.parts.iter().cloned()).collect(),
        span: Default::default(),
    };
    let rate = parse_rate(&ap, "profile").map_err(|d| d.message)?;
    let cpus = ferret_sys::cpus::online().map_err(|e| e.to_string())?;
    attach_cpu_clock(prog, rate, &cpus)
}

fn list(q: &ListQuery<'_>) -> Vec<Listed> {
    super::interval::list_timer("profile", q)
}

pub static PROFILE: ProbeKind = ProbeKind {
    names: &["profile", "p"],
    doc: "timed sampling on every CPU: profile:hz:N, profile:ms:N",
    expand,
    prog_type: bpf::prog_type::PERF_EVENT,
    attach,
    list,
    listed_by_default: false,
    special: None,
};
