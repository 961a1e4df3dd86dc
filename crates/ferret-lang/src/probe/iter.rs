//! `iter:name` (`it:`): BPF iterators over kernel objects (tasks, files, maps...). Listed from
//! the kernel's `bpf_iter__<name>` context structs; ferret cannot run iterator programs yet.
use super::{glob, not_attachable, AttachOpts, ListQuery, Listed, ProbeKind, Target};
use ferret_btf::{Btf, Kind};
use ferret_syntax::ast::AttachPoint;
use ferret_syntax::Diagnostic;
use ferret_sys::bpf;
use std::collections::BTreeMap;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::Arc;

const MISSING: &str = "ferret does not create BPF iterators (BPF_TRACE_ITER links) yet";

fn expand(kind: &'static ProbeKind, ap: &AttachPoint) -> Result<Vec<Target>, Diagnostic> {
    Err(not_attachable(kind, ap, MISSING))
}

fn attach(_: &Target, _: BorrowedFd<'_>, _: &AttachOpts) -> Result<Vec<OwnedFd>, String> {
    Err(format!("iter probes cannot be run: {MISSING}"))
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

/// `-lv` lines: the iterator's context fields, from `bpf_iter_<name>`'s arguments after the
/// leading `struct bpf_iter_meta *meta`.
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
    doc: "BPF iterators over kernel objects (listing only in ferret so far)",
    expand,
    prog_type: bpf::prog_type::TRACING,
    attach,
    list,
    listed_by_default: true,
    special: None,
};
