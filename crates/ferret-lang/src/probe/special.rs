//! Probes user space runs itself with BPF_PROG_TEST_RUN, on ferret's own thread, with no attach
//! cost: `BEGIN`/`END` (once each), `self:signal:SIGUSR1` (on each signal), and `bench:NAME` /
//! `test:NAME` (only with `--bench` / `--test`; XDP programs, whose test run can repeat and time).
use super::{Context, ListQuery, Listed, ProbeKind, Special, Target};
use ferret_syntax::ast::AttachPoint;
use ferret_syntax::Diagnostic;

fn expand(kind: &'static ProbeKind, ap: &AttachPoint) -> Result<Vec<Target>, Diagnostic> {
    if ap.parts.len() != 1 {
        return Err(Diagnostic::error(ap.span, format!("{} probe type takes no arguments", kind.names[0])));
    }
    // The probe is named as written: `begin` (today's spelling) or `BEGIN`.
    let name = kind.names.iter().find(|n| **n == ap.parts[0]).unwrap_or(&kind.names[0]);
    Ok(vec![Target::new(kind, name.to_string(), vec![], Context::None)])
}

/// Signals a `self:signal:` probe can name.
pub const SIGNALS: &[&str] = &["SIGUSR1"];

fn expand_self(kind: &'static ProbeKind, ap: &AttachPoint) -> Result<Vec<Target>, Diagnostic> {
    if ap.parts.len() != 3 {
        return Err(Diagnostic::error(ap.span, "self probe type requires 2 arguments"));
    }
    let (trigger, what) = (ap.parts[1].as_str(), ap.parts[2].as_str());
    if trigger != "signal" {
        return Err(Diagnostic::error(ap.span, format!("{trigger} is not a supported trigger")));
    }
    if !SIGNALS.contains(&what) {
        return Err(Diagnostic::error(ap.span, format!("{what} is not a supported signal")));
    }
    let name = format!("self:signal:{what}");
    Ok(vec![Target::new(kind, name, vec![trigger.to_string(), what.to_string()], Context::None)])
}

fn expand_named(kind: &'static ProbeKind, ap: &AttachPoint) -> Result<Vec<Target>, Diagnostic> {
    let k = kind.names[0];
    if ap.parts.len() != 2 {
        return Err(Diagnostic::error(ap.span, format!("{k} probe type requires 1 argument")));
    }
    if ap.parts[1].is_empty() {
        return Err(Diagnostic::error(ap.span, format!("{k} probes must have a name")));
    }
    Ok(vec![Target::new(kind, ap.parts[1].clone(), vec![ap.parts[1].clone()], Context::None)])
}

fn list_self(q: &ListQuery<'_>) -> Vec<Listed> {
    SIGNALS
        .iter()
        .map(|s| format!("self:signal:{s}"))
        .filter(|n| super::glob(q.pattern, n.trim_start_matches("self:")))
        .map(Listed::new)
        .collect()
}

fn no_attach(
    _: &Target,
    _: std::os::fd::BorrowedFd<'_>,
    _: &super::AttachOpts,
) -> Result<Vec<std::os::fd::OwnedFd>, super::AttachError> {
    Ok(vec![])
}

pub static BEGIN: ProbeKind = ProbeKind {
    names: &["BEGIN", "begin"],
    doc: "runs once, before any other probe fires",
    expand,
    prog_type: ferret_sys::bpf::prog_type::RAW_TRACEPOINT,
    attach: no_attach,
    list: super::lists_nothing,
    listed_by_default: false,
    special: Some(Special::Begin),
    signal: false,
    consumers_newest_first: false,
    alternatives: false,
    user_debug: None,
    available: super::always,
};

pub static END: ProbeKind = ProbeKind {
    names: &["END", "end"],
    doc: "runs once, after every other probe is detached",
    expand,
    prog_type: ferret_sys::bpf::prog_type::RAW_TRACEPOINT,
    attach: no_attach,
    list: super::lists_nothing,
    listed_by_default: false,
    special: Some(Special::End),
    signal: false,
    consumers_newest_first: false,
    alternatives: false,
    user_debug: None,
    available: super::always,
};

pub static SELF: ProbeKind = ProbeKind {
    names: &["self"],
    doc: "runs when ferret itself receives the signal: self:signal:SIGUSR1",
    expand: expand_self,
    prog_type: ferret_sys::bpf::prog_type::RAW_TRACEPOINT,
    attach: no_attach,
    list: list_self,
    listed_by_default: false,
    special: Some(Special::Signal),
    signal: false,
    consumers_newest_first: false,
    alternatives: false,
    user_debug: None,
    available: super::always,
};

pub static BENCH: ProbeKind = ProbeKind {
    names: &["bench"],
    doc: "a benchmark: with --bench, run repeatedly in the kernel and its time per run printed",
    expand: expand_named,
    prog_type: ferret_sys::bpf::prog_type::XDP,
    attach: no_attach,
    list: super::lists_nothing,
    listed_by_default: false,
    special: Some(Special::Bench),
    signal: false,
    consumers_newest_first: false,
    alternatives: false,
    user_debug: None,
    available: super::always,
};

pub static TEST: ProbeKind = ProbeKind {
    names: &["test"],
    doc: "a test: with --test, run once; it passes unless it calls exit with a non-zero code or errors",
    expand: expand_named,
    prog_type: ferret_sys::bpf::prog_type::XDP,
    attach: no_attach,
    list: super::lists_nothing,
    listed_by_default: false,
    special: Some(Special::Test),
    signal: false,
    consumers_newest_first: false,
    alternatives: false,
    user_debug: None,
    available: super::always,
};
