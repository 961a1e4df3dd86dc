//! `kprobe:[module:]function` (`k:`) and `kretprobe:` (`kr:`): listed from the kernel's
//! traceable functions, with argument types from BTF for `-lv`. Attaching needs kprobe support
//! in the kernel (the `kprobe` perf PMU), which ferret does not drive yet.
use super::listing::sort_by_name;
use super::{glob, kfuncs, not_attachable, AttachOpts, ListQuery, Listed, ProbeKind, Target};
use ferret_btf::{Btf, Kind};
use ferret_syntax::ast::AttachPoint;
use ferret_syntax::Diagnostic;
use ferret_sys::bpf;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::Arc;

/// What is missing, for the attach error.
fn missing() -> String {
    if std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists() {
        "ferret does not attach kprobes yet".to_string()
    } else {
        "this kernel has no kprobe support (no kprobe PMU in /sys/bus/event_source/devices; CONFIG_KPROBES is \
         not set)"
            .to_string()
    }
}

fn expand(kind: &'static ProbeKind, ap: &AttachPoint) -> Result<Vec<Target>, Diagnostic> {
    Err(not_attachable(kind, ap, &missing()))
}

fn attach(_: &Target, _: BorrowedFd<'_>, _: &AttachOpts) -> Result<Vec<OwnedFd>, String> {
    Err(format!("kprobes cannot be attached: {}", missing()))
}

/// The BTF that describes `module`'s functions.
pub fn btf_of(module: &str) -> Option<Arc<Btf>> {
    if module == "vmlinux" {
        ferret_btf::kernel::vmlinux().ok()
    } else {
        ferret_btf::kernel::module(module).ok()
    }
}

/// `-lv` lines for a kprobe: `type argN` per integer/pointer argument (floating-point ones do
/// not occupy an argN register); for a kretprobe, `type retval` or `void`.
fn details(module: &str, func: &str, ret: bool) -> Vec<String> {
    let Some(btf) = btf_of(module) else { return vec![] };
    let Some(id) = btf.find(Kind::Func, func) else { return vec![] };
    if ret {
        return match btf.return_type(id) {
            Some(0) | None => vec!["void".to_string()],
            Some(r) => vec![format!("{} retval", btf.type_name(r))],
        };
    }
    let args = btf.params(id).into_iter().filter(|p| btf.kind(btf.resolve(p.ty)) != Some(Kind::Float));
    args.enumerate().map(|(i, p)| format!("{} arg{i}", btf.type_name(p.ty))).collect()
}

/// Functions matching `pattern`: `module:function` when it names a module (listed with it,
/// by module then function), else a bare function glob over every module (listed without
/// one, described by vmlinux's BTF when several modules have it).
fn list_funcs(kind: &str, q: &ListQuery<'_>, ret: bool) -> Vec<Listed> {
    let traceable = kfuncs::traceable();
    let with_module = q.pattern.split_once(':');
    // (function, module whose BTF describes it), per listed module ("" when listed bare)
    let mut groups: Vec<(&str, Vec<(&str, &str)>)> = vec![];
    match with_module {
        Some((mp, fp)) => {
            for (&module, funcs) in traceable.by_module.iter().filter(|(m, _)| glob(mp, m)) {
                groups.push((module, funcs.iter().filter(|f| glob(fp, f)).map(|&f| (f, module)).collect()));
            }
        }
        None => {
            let all = traceable.by_module.iter().flat_map(|(&m, funcs)| funcs.iter().map(move |&f| (f, m)));
            groups.push(("", all.filter(|(f, _)| glob(q.pattern, f)).collect()));
        }
    }
    let mut out = vec![];
    for (listed, mut funcs) in groups {
        sort_by_name(&mut funcs, |(f, _)| f);
        for (i, &(func, module)) in funcs.iter().enumerate() {
            if i > 0 && funcs[i - 1].0 == func {
                continue;
            }
            // A bare name in several modules is described by vmlinux's BTF when it has one.
            let same = funcs[i..].iter().take_while(|(f, _)| *f == func);
            let module = if same.clone().any(|(_, m)| *m == "vmlinux") { "vmlinux" } else { module };
            let details = if q.verbose { details(module, func, ret) } else { vec![] };
            let name = if listed.is_empty() { format!("{kind}:{func}") } else { format!("{kind}:{listed}:{func}") };
            out.push(Listed { name, details });
        }
    }
    out
}

fn list(q: &ListQuery<'_>) -> Vec<Listed> {
    list_funcs("kprobe", q, false)
}

fn list_ret(q: &ListQuery<'_>) -> Vec<Listed> {
    list_funcs("kretprobe", q, true)
}

pub static KPROBE: ProbeKind = ProbeKind {
    names: &["kprobe", "k"],
    doc: "kernel function entry (listing only in ferret so far)",
    expand,
    prog_type: bpf::prog_type::KPROBE,
    attach,
    list,
    listed_by_default: true,
    special: None,
};

pub static KRETPROBE: ProbeKind = ProbeKind {
    names: &["kretprobe", "kr"],
    doc: "kernel function return (listing only in ferret so far)",
    expand,
    prog_type: bpf::prog_type::KPROBE,
    attach,
    list: list_ret,
    listed_by_default: false,
    special: None,
};
