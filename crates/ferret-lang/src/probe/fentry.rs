//! `fentry:[module:]function` (`f:`, `kfunc:`) and `fexit:` (`fr:`, `kretfunc:`): BTF-typed
//! kernel function probes. Listed from the BTF functions the kernel can trace, with named,
//! typed arguments for `-lv`. Attaching needs BTF tracing programs (BPF_PROG_TYPE_TRACING),
//! which ferret does not generate yet.
use super::kprobe::btf_of;
use super::listing::{sort_by_name, with_any_module};
use super::{glob, kfuncs, not_attachable, AttachOpts, ListQuery, Listed, ProbeKind, Target};
use ferret_btf::{Btf, TypeId};
use ferret_syntax::ast::AttachPoint;
use ferret_syntax::Diagnostic;
use ferret_sys::bpf;
use std::os::fd::{BorrowedFd, OwnedFd};

/// Functions with more arguments than the six argument registers cannot be traced.
const MAX_ARGS: usize = 6;

const MISSING: &str = "ferret does not generate BTF tracing programs (BPF_PROG_TYPE_TRACING) yet";

fn expand(kind: &'static ProbeKind, ap: &AttachPoint) -> Result<Vec<Target>, Diagnostic> {
    Err(not_attachable(kind, ap, MISSING))
}

fn attach(_: &Target, _: BorrowedFd<'_>, _: &AttachOpts) -> Result<Vec<OwnedFd>, String> {
    Err(format!("fentry/fexit probes cannot be attached: {MISSING}"))
}

/// `-lv` lines: `type name` per argument, then for fexit `type retval` unless it returns void.
fn details(btf: &Btf, func: TypeId, exit: bool) -> Vec<String> {
    let mut out: Vec<String> = btf.params(func).iter().map(|p| format!("{} {}", btf.type_name(p.ty), p.name)).collect();
    if exit {
        if let Some(r) = btf.return_type(func).filter(|&r| r != 0) {
            out.push(format!("{} retval", btf.type_name(r)));
        }
    }
    out
}

/// `module:function` globs (a bare function glob matches in every module) over each BTF's
/// functions that the kernel lists as traceable.
fn list_funcs(kind: &str, q: &ListQuery<'_>, exit: bool) -> Vec<Listed> {
    let pattern = with_any_module(q.pattern);
    let (mod_pat, func_pat) = pattern.split_once(':').unwrap_or(("*", &pattern));
    let traceable = kfuncs::traceable();
    let mut modules: Vec<String> =
        std::iter::once("vmlinux".to_string()).chain(ferret_btf::kernel::module_names()).collect();
    modules.retain(|m| glob(mod_pat, m));
    modules.sort();
    let mut out = vec![];
    for module in modules {
        let Some(btf) = btf_of(&module) else { continue };
        let mut funcs: Vec<(TypeId, &str)> = btf
            .funcs()
            .filter(|&(id, name)| {
                glob(func_pat, name) && traceable.contains(&module, name) && btf.params(id).len() <= MAX_ARGS
            })
            .collect();
        sort_by_name(&mut funcs, |(_, name)| name);
        for (i, &(id, name)) in funcs.iter().enumerate() {
            if i > 0 && funcs[i - 1].1 == name {
                continue;
            }
            let details = if q.verbose { details(&btf, id, exit) } else { vec![] };
            out.push(Listed { name: format!("{kind}:{module}:{name}"), details });
        }
    }
    out
}

fn list(q: &ListQuery<'_>) -> Vec<Listed> {
    list_funcs("fentry", q, false)
}

fn list_exit(q: &ListQuery<'_>) -> Vec<Listed> {
    list_funcs("fexit", q, true)
}

pub static FENTRY: ProbeKind = ProbeKind {
    names: &["fentry", "f", "kfunc"],
    doc: "kernel function entry with BTF-typed args (listing only in ferret so far)",
    expand,
    prog_type: bpf::prog_type::TRACING,
    attach,
    list,
    listed_by_default: true,
    special: None,
};

pub static FEXIT: ProbeKind = ProbeKind {
    names: &["fexit", "fr", "kretfunc"],
    doc: "kernel function return with BTF-typed args and retval (listing only in ferret so far)",
    expand,
    prog_type: bpf::prog_type::TRACING,
    attach,
    list: list_exit,
    listed_by_default: false,
    special: None,
};
