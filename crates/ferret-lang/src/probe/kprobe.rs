//! `kprobe:[module:]function[+offset]` (`k:`) and `kretprobe:` (`kr:`): kernel function entry
//! and return through the kprobe PMU (perf_event_open on the `kprobe` PMU with the function's
//! name, then BPF_LINK_CREATE). `argN` are the x86-64 argument registers and `retval` is rax,
//! read from the `struct pt_regs` context. Functions may be globs over the kernel's traceable
//! functions. On a kernel without kprobes whose BPF allows fentry, a kprobe is attached as
//! fentry instead (`argN` then read from fentry's argument array); `-v` says so.
use super::fentry::{self, Found};
use super::listing::{has_wildcard, sort_by_name};
use super::{alternatives, arity_error, glob, kfuncs, AttachOpts, Context, ListQuery, Listed, ProbeKind, Target};
use ferret_btf::{Btf, Kind};
use ferret_syntax::ast::AttachPoint;
use ferret_syntax::Diagnostic;
use ferret_sys::{bpf, perf};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::Arc;

/// How this kernel lets ferret attach a kernel function probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    /// The kprobe PMU exists.
    Kprobe,
    /// No kprobes, but fentry/fexit programs load.
    Fentry,
    /// Neither: why, for the error.
    Neither(String),
}

/// The choice, from what the kernel has: the kprobe PMU, and the errno of a trial fentry load
/// (`None` when it loaded).
pub fn mechanism(kprobe_pmu: bool, fentry_errno: Option<i32>) -> Mechanism {
    match (kprobe_pmu, fentry_errno) {
        (true, _) => Mechanism::Kprobe,
        (false, None) => Mechanism::Fentry,
        (false, Some(e)) => Mechanism::Neither(format!(
            "this kernel has no kprobe PMU (no /sys/bus/event_source/devices/kprobe: CONFIG_KPROBES is not set) and {}",
            fentry::refusal(e).trim_start_matches("the kernel ")
        )),
    }
}

/// Whether to use the kprobe PMU. `FERRET_NO_KPROBES=1` makes ferret behave as on a kernel
/// without kprobes (their fentry fallback), for testing it on kernels that have both.
fn kprobe_pmu() -> bool {
    ferret_sys::features::kprobes_available() && std::env::var_os("FERRET_NO_KPROBES").is_none_or(|v| v.is_empty())
}

/// An errno as `EPERM, Operation not permitted`.
pub fn errno_text(errno: i32) -> String {
    let msg = std::io::Error::from_raw_os_error(errno).to_string();
    let msg = msg.split(" (os error").next().unwrap_or_default().to_string();
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::EACCES => "EACCES",
        libc::EINVAL => "EINVAL",
        libc::ENOENT => "ENOENT",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        _ => return msg,
    };
    format!("{name}, {msg}")
}

/// What an attach point asks for: the module (glob) if one was written, the function (glob)
/// and the offset.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Spec {
    module: Option<String>,
    func: String,
    offset: u64,
}

/// Parses `[module:]func[+offset]`, with bpftrace's messages.
fn parse_spec(kind: &ProbeKind, parts: &[String]) -> Result<Spec, String> {
    let (module, func) = match parts {
        [f] => (None, f.as_str()),
        [m, f] => (Some(m.clone()), f.as_str()),
        _ => return Err(format!("{} probe type requires 1 or 2 arguments", kind.names[0])),
    };
    let (func, offset) = match func.split_once('+') {
        None => (func, 0),
        Some(_) if kind.names[0] == "kretprobe" => return Err("Offset not allowed".to_string()),
        Some((_, rest)) if rest.contains('+') => return Err("Cannot take more than one offset".to_string()),
        Some((f, off)) => {
            let off = off.trim();
            let v = match off.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16),
                None => off.parse(),
            };
            (f, v.map_err(|_| format!("Invalid offset: {off}"))?)
        }
    };
    if func.is_empty() {
        return Err("kprobes should be attached to a function or an address".to_string());
    }
    if func.starts_with("0x") || func.bytes().all(|b| b.is_ascii_digit()) {
        return Err("Probing by address is not supported by ferret yet; name the function".to_string());
    }
    if offset != 0 && has_wildcard(func) {
        return Err("Cannot use an offset with a wildcard".to_string());
    }
    Ok(Spec { module, func: func.to_string(), offset })
}

/// Matching traceable functions as (module, function), sorted by function then module; a
/// function without a written module is listed once, under vmlinux when vmlinux has it.
fn matches(spec: &Spec) -> Vec<(String, String)> {
    let traceable = kfuncs::traceable();
    let mut found: Vec<(&str, &str)> = vec![];
    for (&module, funcs) in &traceable.by_module {
        if spec.module.as_deref().is_some_and(|m| !glob(m, module)) {
            continue;
        }
        if has_wildcard(&spec.func) {
            found.extend(funcs.iter().filter(|f| glob(&spec.func, f)).map(|&f| (module, f)));
        } else if let Some(&f) = funcs.get(spec.func.as_str()) {
            found.push((module, f));
        }
    }
    sort_by_name(&mut found, |(_, f)| f);
    let mut out: Vec<(String, String)> = vec![];
    for (i, &(module, func)) in found.iter().enumerate() {
        if spec.module.is_none() {
            if i > 0 && found[i - 1].1 == func {
                continue;
            }
            let same = found[i..].iter().take_while(|(_, f)| *f == func);
            let module = if same.clone().any(|(m, _)| *m == "vmlinux") { "vmlinux" } else { module };
            out.push((module.to_string(), func.to_string()));
        } else {
            out.push((module.to_string(), func.to_string()));
        }
    }
    out
}

/// Whether a written module name is loaded (or is the kernel itself).
fn module_loaded(module: &str) -> bool {
    module == "vmlinux"
        || kfuncs::traceable().by_module.contains_key(module)
        || std::path::Path::new("/sys/module").join(module).exists()
}

/// The probe's full name for one function, as the `probe` builtin prints it.
fn probe_name(kind: &ProbeKind, spec: &Spec, module: &str, func: &str) -> String {
    let off = if spec.offset != 0 { format!("+{}", spec.offset) } else { String::new() };
    match spec.module {
        Some(_) => format!("{}:{module}:{func}{off}", kind.names[0]),
        None => format!("{}:{func}{off}", kind.names[0]),
    }
}

/// The attach point with its probe type's canonical name (`k:f` → `kprobe:f`).
fn written(kind: &ProbeKind, ap: &AttachPoint) -> String {
    format!("{}:{}", kind.names[0], ap.parts[1..].join(":"))
}

fn expand(kind: &'static ProbeKind, ap: &AttachPoint) -> Result<Vec<Target>, Diagnostic> {
    let err = |m: String| Diagnostic::error(ap.span, m);
    let ret = kind.names[0] == "kretprobe";
    let spec = parse_spec(kind, &ap.parts[1..]).map_err(|m| {
        if m.contains("requires") {
            arity_error(ap, kind.names[0], "1 or 2 arguments")
        } else {
            err(m)
        }
    })?;
    if let Some(m) = spec.module.as_deref().filter(|m| !has_wildcard(m)) {
        if !module_loaded(m) {
            return Err(err(format!("specified module {m} in probe {} is not loaded.", written(kind, ap))));
        }
    }
    let wildcard = has_wildcard(&spec.func) || spec.module.as_deref().is_some_and(has_wildcard);
    let mut found = matches(&spec);
    if found.is_empty() {
        if wildcard {
            return Ok(vec![]);
        }
        if !kfuncs::traceable().by_module.is_empty() {
            // "No matches for kprobe f." unless missing_probes says otherwise.
            return Ok(vec![]);
        }
        // The kernel does not say what is traceable: let the attach decide.
        found.push((spec.module.clone().unwrap_or_else(|| "vmlinux".to_string()), spec.func.clone()));
    }
    let how = if kprobe_pmu() {
        Mechanism::Kprobe
    } else {
        mechanism(false, ferret_sys::features::features().fentry_errno())
    };
    match how {
        Mechanism::Kprobe => {
            let one = |(module, func): (String, String)| {
                let name = probe_name(kind, &spec, &module, &func);
                // The function last: the program is named after it.
                let parts = vec![module, spec.offset.to_string(), func.clone()];
                let mut t = Target::new(kind, name, parts, Context::Regs { ret, user: false });
                t.func = Some(func);
                t
            };
            if !use_multi(&spec) {
                return Ok(found.into_iter().map(one).collect());
            }
            // The kernel's functions through one link; a module's (which kprobe_multi does not
            // resolve on every kernel) one by one.
            let (kernel, modules): (Vec<_>, Vec<_>) = found.into_iter().partition(|(m, _)| m == "vmlinux");
            let mut out = vec![];
            if !kernel.is_empty() {
                let parts = vec!["vmlinux".to_string(), "0".to_string(), spec.func.clone()];
                let mut t = Target::new(kind, written(kind, ap), parts, Context::Regs { ret, user: false });
                t.multi = kernel.into_iter().map(|(_, f)| f).collect();
                out.push(t);
            }
            out.extend(modules.into_iter().map(one));
            Ok(out)
        }
        Mechanism::Fentry => as_fentry(kind, ap, &spec, &found, ret),
        Mechanism::Neither(why) => Err(cannot_attach(&written(kind, ap), ap, &found, ret, &why)),
    }
}

/// Whether a kprobe attach point is attached through one kprobe_multi link rather than one
/// kprobe per function: when its function is a wildcard without a module (bpftrace's rule: a
/// written module means per-function probes) and the kernel has kprobe_multi links (not
/// turned off with `--no-feature kprobe_multi`).
fn use_multi(spec: &Spec) -> bool {
    has_wildcard(&spec.func) && spec.module.is_none() && kprobe_multi()
}

/// Whether kprobe_multi links are to be used. `FERRET_KPROBE_MULTI=1` makes ferret behave as on
/// a kernel that has them (code generation, program loading and `-v` can then be tested on
/// kernels without CONFIG_FPROBE, where the attach itself fails); `--no-feature kprobe_multi`
/// still wins.
fn kprobe_multi() -> bool {
    let forced = std::env::var_os("FERRET_KPROBE_MULTI").is_some_and(|v| v == "1");
    !crate::context::current().disabled("kprobe_multi") && (forced || ferret_sys::features::features().kprobe_multi())
}

/// One target per function of a multi target, as a plain wildcard expands to without
/// kprobe_multi (for blocks whose `probe` must name each function).
pub fn per_function(multi: &Target) -> Vec<Target> {
    let name = |f: &str| format!("{}:{f}", multi.kind.names[0]);
    multi
        .multi
        .iter()
        .map(|f| {
            let parts = vec!["vmlinux".to_string(), "0".to_string(), f.clone()];
            let mut t = Target::new(multi.kind, name(f), parts, multi.context.clone());
            t.func = Some(f.clone());
            t
        })
        .collect()
}

/// Targets that attach kprobes as fentry/fexit programs, for a kernel without kprobes.
fn as_fentry(
    kind: &ProbeKind,
    ap: &AttachPoint,
    spec: &Spec,
    found: &[(String, String)],
    ret: bool,
) -> Result<Vec<Target>, Diagnostic> {
    let err = |m: String| Diagnostic::error(ap.span, m);
    if spec.offset != 0 {
        return Err(err(format!(
            "{} cannot be attached: this kernel has no kprobe PMU, and fentry (which ferret uses instead) \
             cannot probe at an offset",
            written(kind, ap)
        )));
    }
    let via: &'static ProbeKind = if ret { &KRETPROBE_AS_FEXIT } else { &KPROBE_AS_FENTRY };
    let mut out = vec![];
    for (module, func) in found {
        let described = fentry::find_funcs(Some(module), func).into_iter().next();
        let target = described
            .ok_or_else(|| "it has no BTF description".to_string())
            .and_then(|f: Found| fentry::target(via, probe_name(kind, spec, module, func), &f, ret, true));
        match target {
            Ok(mut t) => {
                let other = if ret { "fexit" } else { "fentry" };
                t.note = Some(format!(
                    "{} is attached as {other}:{module}:{func}: this kernel has no kprobe PMU; {} read from the \
                     {other} argument array",
                    t.name,
                    if ret { "retval and argN are" } else { "argN are" },
                ));
                out.push(t);
            }
            Err(_) if found.len() > 1 => {}
            Err(why) => {
                return Err(err(format!(
                    "{} cannot be attached: this kernel has no kprobe PMU, and {func} cannot be attached as \
                     fentry instead: {why}",
                    written(kind, ap)
                )))
            }
        }
    }
    Ok(out)
}

/// The error for a kernel with neither kprobes nor fentry: names the function, says why, and
/// suggests tracepoints that see the same work.
fn cannot_attach(written: &str, ap: &AttachPoint, found: &[(String, String)], ret: bool, why: &str) -> Diagnostic {
    let mut d = Diagnostic::error(ap.span, format!("{written} cannot be attached: {why}"));
    let func = match found {
        [(_, one)] => one.clone(),
        _ => ap.parts.last().cloned().unwrap_or_default().replace(['*', '?'], ""),
    };
    let func = func.split('+').next().unwrap_or_default();
    for h in alternatives::hints(func, ret, &alternatives::tracepoint_exists) {
        d = d.with_hint(h);
    }
    d
}

/// The kprobe PMU event (`module:func` for a module's function), linked to the program; or,
/// for a multi target, one kprobe_multi link to all its functions.
fn attach(t: &Target, prog: BorrowedFd<'_>, _: &AttachOpts) -> Result<Vec<OwnedFd>, super::AttachError> {
    let ret = matches!(t.context, Context::Regs { ret: true, .. });
    if !t.multi.is_empty() {
        // In strcmp order and once each, as the kernel's symbol lookup expects.
        let mut syms: Vec<&str> = t.multi.iter().map(String::as_str).collect();
        syms.sort_unstable();
        syms.dedup();
        let link = bpf::link_create_kprobe_multi(prog, &syms, ret)?;
        return Ok(vec![link]);
    }
    let (module, func) = (&t.parts[0], &t.parts[2]);
    let offset: u64 = t.parts[1].parse().map_err(|_| "bad kprobe offset".to_string())?;
    let symbol = if module == "vmlinux" { func.clone() } else { format!("{module}:{func}") };
    let pfd = perf::kprobe_event(&symbol, offset, ret).map_err(|e| match e.errno() {
        // The kernel's answer to an offset inside an instruction.
        Some(libc::EILSEQ) => {
            "Possible attachment attempt in the middle of an instruction, try a different offset.".to_string()
        }
        _ => e.to_string(),
    })?;
    let mut fds = vec![];
    super::attach_perf(prog, pfd, &mut fds)?;
    Ok(fds)
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
    doc: "kernel function entry: kprobe:[module:]func[+offset] (argN)",
    expand,
    prog_type: bpf::prog_type::KPROBE,
    attach,
    list,
    listed_by_default: true,
    special: None,
    signal: true,
    consumers_newest_first: false,
    alternatives: true,
    user_debug: None,
    available,
};

pub static KRETPROBE: ProbeKind = ProbeKind {
    names: &["kretprobe", "kr"],
    doc: "kernel function return: kretprobe:[module:]func (retval)",
    expand,
    prog_type: bpf::prog_type::KPROBE,
    attach,
    list: list_ret,
    listed_by_default: false,
    special: None,
    signal: true,
    consumers_newest_first: false,
    alternatives: true,
    user_debug: None,
    available,
};

/// A kprobe attached as an fentry program.
pub static KPROBE_AS_FENTRY: ProbeKind = ProbeKind {
    names: &["kprobe", "k"],
    doc: "kprobe attached as fentry",
    expand: super::not_written,
    prog_type: bpf::prog_type::TRACING,
    attach: fentry::attach,
    list: super::lists_nothing,
    listed_by_default: false,
    special: None,
    signal: true,
    consumers_newest_first: false,
    alternatives: true,
    user_debug: None,
    available,
};

/// A kretprobe attached as an fexit program.
pub static KRETPROBE_AS_FEXIT: ProbeKind = ProbeKind {
    names: &["kretprobe", "kr"],
    doc: "kretprobe attached as fexit",
    expand: super::not_written,
    prog_type: bpf::prog_type::TRACING,
    attach: fentry::attach,
    list: super::lists_nothing,
    listed_by_default: false,
    special: None,
    signal: true,
    consumers_newest_first: false,
    alternatives: true,
    user_debug: None,
    available,
};

/// Whether this kernel can attach this probe type (`ferret --info`).
fn available() -> bool {
    ferret_sys::features::features().kprobe()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: &ProbeKind, s: &str) -> Result<Spec, String> {
        let parts: Vec<String> = s.split(':').map(String::from).collect();
        parse_spec(kind, &parts)
    }

    #[test]
    fn parses_specs() {
        assert_eq!(spec(&KPROBE, "vfs_read").unwrap(), Spec { module: None, func: "vfs_read".into(), offset: 0 });
        assert_eq!(
            spec(&KPROBE, "ext4:ext4_sync_fs+0x10").unwrap(),
            Spec { module: Some("ext4".into()), func: "ext4_sync_fs".into(), offset: 16 }
        );
        assert_eq!(spec(&KPROBE, "vfs_read+5").unwrap().offset, 5);
        assert_eq!(spec(&KRETPROBE, "vfs_read+5").unwrap_err(), "Offset not allowed");
        assert_eq!(spec(&KPROBE, "vfs_read+1+2").unwrap_err(), "Cannot take more than one offset");
        assert_eq!(spec(&KPROBE, "vfs_read+x").unwrap_err(), "Invalid offset: x");
        assert!(spec(&KPROBE, "vfs_*+4").is_err());
        assert!(spec(&KPROBE, "a:b:c").unwrap_err().contains("requires 1 or 2 arguments"));
    }

    #[test]
    fn multi_target_splits_into_one_target_per_function() {
        let mut t =
            Target::new(&KRETPROBE, "kretprobe:vfs_rea*".into(), vec![], Context::Regs { ret: true, user: false });
        t.multi = vec!["vfs_read".into(), "vfs_readv".into()];
        assert_eq!(t.probe_count(), 2);
        assert_eq!(t.expected_attach_type(), bpf::attach_type::TRACE_KPROBE_MULTI);
        let split = super::super::split_multi(vec![t]);
        let names: Vec<_> = split.iter().map(|t| (t.name.as_str(), t.func.as_deref(), t.parts.clone())).collect();
        assert_eq!(
            names,
            [
                ("kretprobe:vfs_read", Some("vfs_read"), vec!["vmlinux".to_string(), "0".into(), "vfs_read".into()]),
                ("kretprobe:vfs_readv", Some("vfs_readv"), vec!["vmlinux".to_string(), "0".into(), "vfs_readv".into()]),
            ]
        );
        assert!(split.iter().all(|t| t.multi.is_empty() && t.expected_attach_type() == 0 && t.probe_count() == 1));
        assert_eq!(split[0].context, Context::Regs { ret: true, user: false });
    }

    #[test]
    fn falls_back_to_fentry_only_without_kprobes() {
        assert_eq!(mechanism(true, Some(libc::EPERM)), Mechanism::Kprobe);
        assert_eq!(mechanism(true, None), Mechanism::Kprobe);
        assert_eq!(mechanism(false, None), Mechanism::Fentry);
        match mechanism(false, Some(libc::EPERM)) {
            Mechanism::Neither(why) => {
                assert!(why.contains("no kprobe PMU"), "{why}");
                assert!(why.contains("EPERM, Operation not permitted"), "{why}");
            }
            m => panic!("{m:?}"),
        }
        match mechanism(false, Some(libc::ENOENT)) {
            Mechanism::Neither(why) => assert!(why.contains("no BTF"), "{why}"),
            m => panic!("{m:?}"),
        }
    }

    #[test]
    fn kprobe_as_fentry_reads_args_from_the_array() {
        // The fallback's targets: a TRACING program whose argN come from fentry's slots.
        let Some(btf) = btf_of("vmlinux") else {
            ferret_testing::skip("needs kernel BTF");
            return;
        };
        let Some(id) = btf.find(Kind::Func, "vfs_read") else { return };
        let f = Found { module: "vmlinux".into(), func: "vfs_read".into(), btf: btf.clone(), id };
        let t = fentry::target(&KRETPROBE_AS_FEXIT, "kretprobe:vfs_read".into(), &f, true, true).unwrap();
        assert_eq!(t.kind.prog_type, bpf::prog_type::TRACING);
        assert_eq!(t.btf.as_ref().unwrap().attach_type, bpf::attach_type::TRACE_FEXIT);
        let Context::Func(args) = &t.context else { panic!("{:?}", t.context) };
        assert!(args.kprobe && args.exit);
        assert_eq!(args.args.len(), 4);
        assert_eq!(args.retval.as_ref().unwrap().slot, 4);
        assert_eq!(t.func.as_deref(), Some("vfs_read"));
    }
}
