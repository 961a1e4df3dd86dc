//! `tracepoint:category:event` (`t:`): static kernel tracepoints through perf events. `args`
//! fields come from the tracefs format file; `*` works in both fields.
use super::listing::with_any_module;
use super::{arity_error, glob, AttachOpts, Context, ListQuery, Listed, ProbeKind, Target, TpField};
use ferret_syntax::ast::AttachPoint;
use ferret_syntax::Diagnostic;
use ferret_sys::{bpf, perf, tracefs};
use std::os::fd::{BorrowedFd, OwnedFd};

fn context(category: &str, event: &str) -> Result<Context, String> {
    let format = tracefs::format(category, event).map_err(|e| e.to_string())?;
    let fields = format
        .fields
        .into_iter()
        .filter(|f| !f.is_common)
        .map(|f| TpField {
            name: f.name,
            c_type: f.c_type,
            offset: f.offset,
            size: f.size,
            signed: f.signed,
            array_len: f.array_len,
            data_loc: f.data_loc,
        })
        .collect();
    // Syscall arguments are user-space pointers; everything else points into the kernel.
    Ok(Context::Tracepoint { fields, user_pointers: category == "syscalls" })
}

fn expand(kind: &'static ProbeKind, ap: &AttachPoint) -> Result<Vec<Target>, Diagnostic> {
    if ap.parts.len() != 3 {
        return Err(arity_error(ap, "tracepoint", "2 arguments"));
    }
    let (cat, ev) = (&ap.parts[1], &ap.parts[2]);
    let mut pairs = vec![];
    if cat.contains('*') || ev.contains('*') || cat.contains('?') || ev.contains('?') {
        let all = tracefs::list_tracepoints().map_err(|e| Diagnostic::error(ap.span, e.to_string()))?;
        pairs.extend(all.into_iter().filter(|(c, e)| glob(cat, c) && glob(ev, e)));
    } else if tracefs::tracepoint_id(cat, ev).is_ok() {
        pairs.push((cat.clone(), ev.clone()));
    }
    if pairs.is_empty() {
        return Ok(vec![]); // "No matches for tracepoint ..." (missing_probes decides)
    }
    pairs
        .into_iter()
        .map(|(c, e)| {
            let context = context(&c, &e).map_err(|m| Diagnostic::error(ap.span, m))?;
            Ok(Target::new(kind, format!("tracepoint:{c}:{e}"), vec![c, e], context))
        })
        .collect()
}

fn attach(t: &Target, prog: BorrowedFd<'_>, opts: &AttachOpts) -> Result<Vec<OwnedFd>, super::AttachError> {
    let id = tracefs::tracepoint_id(&t.parts[0], &t.parts[1])?;
    // A tracepoint event for all tasks must be opened on one CPU (cpu=-1 is EINVAL); it still
    // fires on every CPU.
    let (pid, cpu) = match opts.pid {
        Some(p) => (p, -1),
        None => (-1, 0),
    };
    let pfd = perf::tracepoint_event(id, pid, cpu)?;
    let mut fds = vec![];
    super::attach_perf(prog, pfd, &mut fds)?;
    Ok(fds)
}

/// `-lv` lines for a tracepoint: each non-common field as its format file declares it
/// (`int __syscall_nr`, `char comm[16]`): the text between `field:` and `;` of every field
/// line after the first blank line.
fn field_lines(category: &str, event: &str) -> Vec<String> {
    let Ok(root) = tracefs::root() else { return vec![] };
    let path = root.join("events").join(category).join(event).join("format");
    let Ok(text) = std::fs::read_to_string(path) else { return vec![] };
    text.lines()
        .skip_while(|l| !l.is_empty())
        .filter_map(|l| l.strip_prefix("\tfield:"))
        .map(|l| l.split(';').next().unwrap_or(l).to_string())
        .collect()
}

/// `category:event` globs; a bare event glob matches in every category.
fn list(q: &ListQuery<'_>) -> Vec<Listed> {
    let Ok(all) = tracefs::list_tracepoints() else { return vec![] };
    let pattern = with_any_module(q.pattern);
    all.into_iter()
        .filter(|(c, e)| glob(&pattern, &format!("{c}:{e}")))
        .map(|(c, e)| {
            let details = if q.verbose { field_lines(&c, &e) } else { vec![] };
            Listed { name: format!("tracepoint:{c}:{e}"), details }
        })
        .collect()
}

pub static TRACEPOINT: ProbeKind = ProbeKind {
    names: &["tracepoint", "t"],
    doc: "kernel static tracepoints; args.field from the tracefs format file",
    expand,
    prog_type: bpf::prog_type::TRACEPOINT,
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
    ferret_sys::features::probe_prog_type(ferret_sys::bpf::prog_type::TRACEPOINT, 0)
}
