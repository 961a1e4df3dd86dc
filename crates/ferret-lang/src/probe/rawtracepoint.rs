//! `rawtracepoint:event` (`rt:`): the tracepoint's raw arguments as `arg0..argN`, attached with
//! BPF_RAW_TRACEPOINT_OPEN (detaching costs microseconds, not a perf event's RCU wait).
use super::{arity_error, glob, AttachOpts, Context, ProbeKind, Target};
use ferret_syntax::ast::AttachPoint;
use ferret_syntax::Diagnostic;
use ferret_sys::{bpf, tracefs};
use std::os::fd::{BorrowedFd, OwnedFd};

fn expand(kind: &'static ProbeKind, ap: &AttachPoint) -> Result<Vec<Target>, Diagnostic> {
    // rawtracepoint:event or rawtracepoint:module:event
    let ev = match ap.parts.len() {
        2 => &ap.parts[1],
        3 => &ap.parts[2],
        _ => return Err(arity_error(ap, "rawtracepoint", "1 or 2 arguments")),
    };
    let events = if ev.contains('*') {
        let all = tracefs::list_tracepoints().map_err(|e| Diagnostic::error(ap.span, e.to_string()))?;
        let mut v: Vec<String> = all.into_iter().map(|(_, e)| e).filter(|e| glob(ev, e)).collect();
        v.sort();
        v.dedup();
        v
    } else {
        vec![ev.clone()]
    };
    if events.is_empty() {
        return Err(Diagnostic::error(ap.span, format!("rawtracepoint not found: {ev}")));
    }
    Ok(events
        .into_iter()
        .map(|e| Target { kind, name: format!("rawtracepoint:{e}"), parts: vec![e], context: Context::RawArgs })
        .collect())
}

fn attach(t: &Target, prog: BorrowedFd<'_>, _: &AttachOpts) -> Result<Vec<OwnedFd>, String> {
    let link = bpf::raw_tracepoint_open(prog, Some(&t.parts[0])).map_err(|e| e.to_string())?;
    Ok(vec![link])
}

fn list(pattern: &str) -> Vec<String> {
    let Ok(all) = tracefs::list_tracepoints() else { return vec![] };
    let mut v: Vec<String> =
        all.into_iter().map(|(_, e)| format!("rawtracepoint:{e}")).filter(|n| glob(pattern, n)).collect();
    v.sort();
    v.dedup();
    v
}

pub static RAWTRACEPOINT: ProbeKind = ProbeKind {
    names: &["rawtracepoint", "rt"],
    doc: "raw kernel tracepoints; arguments as arg0..argN",
    expand,
    prog_type: bpf::prog_type::RAW_TRACEPOINT,
    attach,
    list,
    special: None,
};
