//! `rawtracepoint:event` (`rt:`): the tracepoint's raw arguments as `arg0..argN`, attached with
//! BPF_RAW_TRACEPOINT_OPEN (detaching costs microseconds, not a perf event's RCU wait).
use super::listing::with_any_module;
use super::{arity_error, glob, AttachOpts, Context, ListQuery, Listed, ProbeKind, Target};
use ferret_btf::{Btf, Kind, RAW_TRACEPOINT_FUNC_PREFIXES};
use ferret_syntax::ast::AttachPoint;
use ferret_syntax::Diagnostic;
use ferret_sys::{bpf, tracefs};
use std::collections::BTreeSet;
use std::os::fd::{BorrowedFd, OwnedFd};

fn expand(kind: &'static ProbeKind, ap: &AttachPoint) -> Result<Vec<Target>, Diagnostic> {
    // rawtracepoint:event or rawtracepoint:module:event
    let ev = match ap.parts.len() {
        2 => &ap.parts[1],
        3 => &ap.parts[2],
        _ => return Err(arity_error(ap, "rawtracepoint", "1 or 2 arguments")),
    };
    // rawtracepoint:module:event — the module must be loaded (vmlinux is the kernel itself).
    if ap.parts.len() == 3 {
        let m = &ap.parts[1];
        if !m.contains('*') && m != "vmlinux" && !std::path::Path::new("/sys/module").join(m).exists() {
            return Ok(vec![]);
        }
    }
    let module_glob = ap.parts.len() == 3 && ap.parts[1].contains('*');
    let events = if ev.contains('*') || module_glob {
        // The kernel's raw tracepoints (as listed): syscalls:sys_enter_* are not among them.
        let module = if ap.parts.len() == 3 { ap.parts[1].as_str() } else { "*" };
        let pattern = format!("{module}:{ev}");
        let mut v: Vec<String> = list(&ListQuery { pattern: &pattern, verbose: false })
            .into_iter()
            .filter_map(|l| l.name.rsplit(':').next().map(str::to_string))
            .collect();
        v.sort();
        v.dedup();
        v
    } else {
        // A raw tracepoint exists where the kernel has a trace event of that name.
        let all = tracefs::list_tracepoints().map_err(|e| Diagnostic::error(ap.span, e.to_string()))?;
        if all.iter().any(|(_, e)| e == ev) {
            vec![ev.clone()]
        } else {
            vec![]
        }
    };
    if events.is_empty() && ap.parts.len() == 2 && !ev.contains('*') {
        // bpftrace's wording when a single named raw tracepoint does not exist
        return Err(Diagnostic::global("Probe has no valid attach points."));
    }
    if events.is_empty() {
        return Ok(vec![]); // "No matches for rawtracepoint ..." (missing_probes decides)
    }
    Ok(events.into_iter().map(|e| Target::new(kind, format!("rawtracepoint:{e}"), vec![e], Context::RawArgs)).collect())
}

/// The same raw tracepoint loaded as a tp_btf program (BPF_PROG_TYPE_TRACING against the
/// event's `btf_trace_<event>` typedef), so the verifier types its pointer arguments: what
/// helpers that take kernel objects need (`socket_cookie`). The program reads its arguments
/// the same way.
pub fn as_tp_btf(mut t: Target) -> Result<Target, String> {
    if !std::ptr::eq(t.kind, &RAWTRACEPOINT) {
        return Ok(t);
    }
    let event = t.parts[0].clone();
    let typedef = format!("btf_trace_{event}");
    let found = ferret_btf::kernel::each().find_map(|btf| {
        let id = btf.find(Kind::Typedef, &typedef).filter(|&id| id >= btf.first_id())?;
        Some((id, (btf.name() != "vmlinux").then(|| btf.name().to_string())))
    });
    let Some((btf_id, module)) = found else {
        return Err(format!("{}: the kernel's BTF does not describe this raw tracepoint", t.name));
    };
    t.kind = &RAWTRACEPOINT_TP_BTF;
    t.note = Some(format!("{}: loaded as tp_btf (its pointer arguments typed from BTF)", t.name));
    t.btf = Some(super::BtfAttach { attach_type: bpf::attach_type::TRACE_RAW_TP, btf_id, module });
    Ok(t)
}

fn attach_tp_btf(_: &Target, prog: BorrowedFd<'_>, _: &AttachOpts) -> Result<Vec<OwnedFd>, super::AttachError> {
    Ok(vec![bpf::raw_tracepoint_open(prog, None)?])
}

/// A raw tracepoint loaded as tp_btf (see `as_tp_btf`).
pub static RAWTRACEPOINT_TP_BTF: ProbeKind = ProbeKind {
    names: &["rawtracepoint", "rt"],
    doc: "raw tracepoint loaded as tp_btf",
    expand: super::not_written,
    prog_type: bpf::prog_type::TRACING,
    attach: attach_tp_btf,
    list: super::lists_nothing,
    listed_by_default: false,
    special: None,
    signal: true,
    consumers_newest_first: false,
    alternatives: false,
    user_debug: None,
    available,
};

pub(crate) fn attach(t: &Target, prog: BorrowedFd<'_>, _: &AttachOpts) -> Result<Vec<OwnedFd>, super::AttachError> {
    let link = bpf::raw_tracepoint_open(prog, Some(&t.parts[0]))?;
    Ok(vec![link])
}

/// Raw tracepoints of one BTF object: the events of its `__probestub_<event>` and
/// `__traceiter_<event>` functions, leaving out (as bpftrace does) those whose prototype has
/// more than the six register arguments.
fn btf_events(btf: &Btf) -> BTreeSet<&str> {
    btf.funcs()
        .filter_map(|(id, name)| {
            let ev = RAW_TRACEPOINT_FUNC_PREFIXES.iter().find_map(|p| name.strip_prefix(p))?;
            (btf.params(id).len() <= 6).then_some(ev)
        })
        .collect()
}

/// `-lv` lines: the tracepoint's arguments, named, without the leading `void *__data`.
fn param_lines(btf: &Btf, event: &str) -> Vec<String> {
    let params = btf.raw_tracepoint_params(event).unwrap_or_default();
    params.iter().map(|p| format!("{} {}", btf.type_name(p.ty), p.name)).collect()
}

/// `module:event` globs over the kernel's BTF (a bare event glob matches in every module);
/// without BTF, the tracefs events stand in as vmlinux's.
fn list(q: &ListQuery<'_>) -> Vec<Listed> {
    let pattern = with_any_module(q.pattern);
    let btfs = ferret_btf::kernel::all();
    if btfs.is_empty() {
        let Ok(all) = tracefs::list_tracepoints() else { return vec![] };
        let events: BTreeSet<String> = all.into_iter().map(|(_, e)| e).collect();
        return events
            .into_iter()
            .filter(|e| glob(&pattern, &format!("vmlinux:{e}")))
            .map(|e| Listed::new(format!("rawtracepoint:vmlinux:{e}")))
            .collect();
    }
    let mut out = vec![];
    for btf in &btfs {
        for ev in btf_events(btf) {
            let name = format!("{}:{ev}", btf.name());
            if glob(&pattern, &name) {
                let details = if q.verbose { param_lines(btf, ev) } else { vec![] };
                out.push(Listed { name: format!("rawtracepoint:{name}"), details });
            }
        }
    }
    out.sort();
    out
}

pub static RAWTRACEPOINT: ProbeKind = ProbeKind {
    names: &["rawtracepoint", "rt"],
    doc: "raw kernel tracepoints; arguments as arg0..argN",
    expand,
    prog_type: bpf::prog_type::RAW_TRACEPOINT,
    attach,
    list,
    listed_by_default: true,
    special: None,
    signal: true,
    consumers_newest_first: false,
    alternatives: false,
    user_debug: None,
    available,
};

/// Whether this kernel can attach this probe type (`ferret --info`).
fn available() -> bool {
    ferret_sys::features::features().raw_tp()
}
