//! `iter:name` (`it:`): BPF iterators over kernel objects (tasks, open files, memory maps...).
//! A BPF_PROG_TYPE_TRACING program loaded against the BTF function `bpf_iter_<name>`
//! (expected attach type BPF_TRACE_ITER) and linked with BPF_LINK_CREATE; ferret then opens an
//! iterator on the link (BPF_ITER_CREATE) and reads it to the end, which runs the program once
//! per object. The context is `struct bpf_iter__<name> *`: `ctx.task`, `ctx.file`, `ctx.vma`
//! are the object's BTF-typed pointers (read like fentry's `args`). A program with an
//! iterator ends once the iteration is done, as a BEGIN-only program does.
use super::listing::has_wildcard;
use super::{fentry, glob, AttachOpts, BtfAttach, Context, ListQuery, Listed, ProbeKind, Target};
use ferret_btf::{Btf, Kind, TypeId};
use ferret_syntax::ast::AttachPoint;
use ferret_syntax::Diagnostic;
use ferret_sys::bpf::{self, attach_type};
use std::collections::BTreeMap;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::Arc;

/// Whether `t` is an iterator, which ferret runs by reading it rather than by attaching it.
pub fn is_iter(t: &Target) -> bool {
    t.expected_attach_type() == attach_type::TRACE_ITER
}

/// The kernel BTF (vmlinux or a module) describing iterator `name`, and its `bpf_iter_<name>`
/// function.
fn find_iter(name: &str) -> Option<(Arc<Btf>, TypeId)> {
    ferret_btf::kernel::each().find_map(|btf| {
        if !iterators(&btf).contains(&name) {
            return None;
        }
        let id = btf.find(Kind::Func, &format!("bpf_iter_{name}")).filter(|&id| id >= btf.first_id())?;
        Some((btf, id))
    })
}

fn expand(kind: &'static ProbeKind, ap: &AttachPoint) -> Result<Vec<Target>, Diagnostic> {
    let k = kind.names[0];
    if ap.parts.len() != 2 && ap.parts.len() != 3 {
        return Err(Diagnostic::error(ap.span, format!("{k} probe type takes 2 arguments (1 optional)")));
    }
    if ap.parts[1..].iter().any(|p| has_wildcard(p)) {
        return Err(Diagnostic::error(ap.span, format!("{k} probe type does not support wildcards")));
    }
    let name = ap.parts[1].as_str();
    if name.is_empty() {
        return Err(Diagnostic::error(ap.span, "iter should specify a iterator's name"));
    }
    let Some((btf, func)) = find_iter(name) else {
        return Err(Diagnostic::error(ap.span, format!("iter {name} not available for your kernel version.")));
    };
    if ap.parts.len() == 3 {
        return Err(Diagnostic::error(ap.span, "ferret does not pin iterator links (iter:NAME:PIN) yet")
            .with_hint(format!("iter:{name} runs the iterator once and prints what it finds")));
    }
    let mut args = fentry::func_args(&btf, func, false, false)
        .map_err(|why| Diagnostic::error(ap.span, format!("iter {name} cannot be run: {why}")))?;
    args.iter = true;
    let mut t = Target::new(kind, format!("{k}:{name}"), vec![name.to_string()], Context::Func(args));
    t.btf = Some(BtfAttach {
        attach_type: attach_type::TRACE_ITER,
        btf_id: func,
        module: (btf.name() != "vmlinux").then(|| btf.name().to_string()),
    });
    Ok(vec![t])
}

/// An iterator link; ferret reads an iterator made from it (see the runtime). Task iterators
/// visit only the `-p`/`-c` process's tasks.
fn attach(t: &Target, prog: BorrowedFd<'_>, opts: &AttachOpts) -> Result<Vec<OwnedFd>, super::AttachError> {
    let per_task = t.parts.first().is_some_and(|n| n.starts_with("task"));
    let pid = opts.pid.filter(|_| per_task).map(|p| p as u32);
    let link = bpf::link_create_iter(prog, pid)?;
    Ok(vec![link])
}

/// Iterator names of one BTF: `bpf_iter__<name>` structs, without the verifier's
/// `__safe_trusted` variants.
fn iterators(btf: &Btf) -> Vec<&str> {
    btf.own_ids()
        .filter_map(|id| {
            let t = btf.ty(id).filter(|t| t.kind() == Kind::Struct)?;
            t.name().strip_prefix("bpf_iter__").filter(|n| !n.ends_with("__safe_trusted"))
        })
        .collect()
}

/// `-lv` lines: the iterator's context fields, which a program reads as `ctx.NAME` (`ctx.task`,
/// `ctx.file`), from `bpf_iter_<name>`'s arguments after the leading `struct bpf_iter_meta *meta`.
fn details(btf: &Btf, name: &str) -> Vec<String> {
    let Some(f) = btf.find(Kind::Func, &format!("bpf_iter_{name}")) else { return vec![] };
    btf.params(f).iter().skip(1).map(|p| format!("{} {}", btf.type_name(p.ty), p.name)).collect()
}

fn list(q: &ListQuery<'_>) -> Vec<Listed> {
    let mut found: BTreeMap<String, Arc<Btf>> = BTreeMap::new();
    for btf in ferret_btf::kernel::all() {
        for name in iterators(&btf) {
            if glob(q.pattern, name) {
                found.entry(name.to_string()).or_insert_with(|| btf.clone());
            }
        }
    }
    found
        .into_iter()
        .map(|(name, btf)| {
            let details = if q.verbose { details(&btf, &name) } else { vec![] };
            Listed { name: format!("iter:{name}"), details }
        })
        .collect()
}

pub static ITER: ProbeKind = ProbeKind {
    names: &["iter", "it"],
    doc: "BPF iterators: run once per kernel object (task, task_file, task_vma...), fields as ctx.task, ctx.file",
    expand,
    prog_type: bpf::prog_type::TRACING,
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

/// Whether this kernel can attach this probe type (`ferret --info`).
fn available() -> bool {
    ferret_sys::features::features().iter()
}
