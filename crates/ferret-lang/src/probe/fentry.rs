//! `fentry:[module:]function` (`f:`, `kfunc:`) and `fexit:` (`fr:`, `kretfunc:`): BTF-typed
//! kernel function probes. A BPF_PROG_TYPE_TRACING program loaded against the function's BTF id
//! (expected attach type BPF_TRACE_FENTRY/FEXIT) and attached with BPF_LINK_CREATE. Its
//! context is the trampoline's `u64 args[]`: `args.NAME` reads the slot of the named
//! parameter, and fexit's `retval` the slot after the last parameter. Listed from the BTF
//! functions the kernel can trace, with named, typed arguments for `-lv`.
use super::kprobe::btf_of;
use super::listing::{has_wildcard, sort_by_name, with_any_module};
use super::{
    alternatives, arity_error, glob, kfuncs, AttachOpts, BtfAttach, Context, FuncArg, FuncArgs, ListQuery, Listed,
    ProbeKind, Target,
};
use crate::types::{AddrSpace, Type, U64};
use ferret_btf::{Btf, Kind, TypeId};
use ferret_syntax::ast::AttachPoint;
use ferret_syntax::Diagnostic;
use ferret_sys::bpf::{self, attach_type};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::Arc;

/// BPF trampolines (x86-64, before 6.6) pass at most the six register arguments; a struct
/// passed by value takes one slot per 8 bytes.
const MAX_SLOTS: u32 = 6;

/// The type a parameter (or return value) of BTF type `ty` has in a program: integers and
/// enums by their size and signedness, pointers to integers and kernel structs as pointers (into
/// user space when the BTF says `__user`), everything else as u64.
pub fn btf_param_type(btf: &Btf, ty: TypeId) -> Type {
    let Some(t) = btf.ty(btf.resolve(ty)) else { return U64 };
    match t.kind() {
        Kind::Int => {
            let signed = t.int().is_some_and(|i| i.signed);
            Type::Int { bytes: t.size().clamp(1, 8) as u8, signed }
        }
        Kind::Enum | Kind::Enum64 => Type::Int { bytes: t.size().clamp(1, 8) as u8, signed: t.kind_flag() },
        Kind::Ptr => {
            let pointee = btf.resolve(t.type_ref());
            let space = if is_user(btf, t.type_ref()) { AddrSpace::User } else { AddrSpace::Kernel };
            match btf.ty(pointee).map(|p| p.kind()) {
                Some(Kind::Int) => Type::Ptr { space, pointee: Box::new(btf_param_type(btf, pointee)) },
                // Struct pointers keep their struct (from vmlinux BTF), so `args.file->f_path`
                // works; a module's own structs are not described there.
                Some(Kind::Struct | Kind::Union)
                    if (btf.name() == "vmlinux" || btf.base().is_some())
                        && crate::ktypes::btf().is_ok_and(|v| pointee < v.next_id()) =>
                {
                    Type::Ptr { space, pointee: Box::new(crate::ktypes::type_of(pointee)) }
                }
                _ => U64,
            }
        }
        _ => U64,
    }
}

/// Whether the type chain at `id` carries a `__user` type tag (kernels built with clang).
fn is_user(btf: &Btf, mut id: TypeId) -> bool {
    for _ in 0..16 {
        match btf.ty(id) {
            Some(t) if t.kind() == Kind::TypeTag && t.name() == "user" => return true,
            Some(t) if t.kind().is_alias() => id = t.type_ref(),
            _ => return false,
        }
    }
    false
}

/// u64 slots a value of type `ty` takes in the args array.
fn slots_of(btf: &Btf, ty: TypeId) -> u32 {
    match btf.kind(btf.resolve(ty)) {
        Some(Kind::Struct | Kind::Union) => btf.size_of(ty).unwrap_or(8).div_ceil(8).max(1),
        _ => 1,
    }
}

/// Whether the verifier types a direct load of this slot as a kernel object pointer
/// (PTR_TO_BTF_ID, or a refusal for pointers to non-structs): every pointer except those to
/// void or to an integer, which it treats as plain scalars.
fn needs_read(btf: &Btf, ty: TypeId) -> bool {
    let Some(t) = btf.ty(btf.resolve(ty)).filter(|t| t.kind() == Kind::Ptr) else { return false };
    if t.type_ref() == 0 {
        return false;
    }
    btf.kind(btf.resolve(t.type_ref())) != Some(Kind::Int)
}

/// The argument slots of FUNC `func`: named and typed for fentry/fexit, u64 `argN`-style for a
/// kprobe attached as fentry. Err when the trampoline cannot pass them (too many, variadic).
pub fn func_args(btf: &Btf, func: TypeId, exit: bool, kprobe: bool) -> Result<FuncArgs, String> {
    let params = btf.params(func);
    if params.last().is_some_and(|p| p.ty == 0) {
        return Err("it is variadic".to_string());
    }
    let mut args = vec![];
    let mut slot = 0;
    for p in &params {
        let ty = if kprobe { U64 } else { btf_param_type(btf, p.ty) };
        args.push(FuncArg { name: p.name.to_string(), ty, slot, read: needs_read(btf, p.ty) });
        slot += slots_of(btf, p.ty);
    }
    if slot > MAX_SLOTS {
        return Err(format!("its arguments take {slot} registers; BPF trampolines pass at most {MAX_SLOTS}"));
    }
    let retval = match btf.return_type(func) {
        Some(r) if exit && r != 0 => {
            let ty = if kprobe { U64 } else { btf_param_type(btf, r) };
            Some(FuncArg { name: "retval".to_string(), ty, slot, read: needs_read(btf, r) })
        }
        _ => None,
    };
    Ok(FuncArgs { args, slots: slot, retval, exit, kprobe, iter: false })
}

/// A kernel function with a BTF description.
pub struct Found {
    pub module: String,
    pub func: String,
    pub btf: Arc<Btf>,
    pub id: TypeId,
}

/// Functions matching `func_pat` in the modules matching `module_pat` (every module when
/// `None`; a plain name is looked up in vmlinux first), sorted by module then name. Only
/// functions the kernel lists as traceable count, when it lists any.
pub fn find_funcs(module_pat: Option<&str>, func_pat: &str) -> Vec<Found> {
    let traceable = kfuncs::traceable();
    let mut modules: Vec<String> =
        std::iter::once("vmlinux".to_string()).chain(ferret_btf::kernel::module_names()).collect();
    modules.retain(|m| glob(module_pat.unwrap_or("*"), m));
    let plain = !has_wildcard(func_pat);
    let mut out = vec![];
    for module in modules {
        if plain && module_pat.is_none() && !out.is_empty() {
            break;
        }
        let Some(btf) = btf_of(&module) else { continue };
        let ok = |name: &str| traceable.by_module.is_empty() || traceable.contains(&module, name);
        let mut funcs: Vec<(TypeId, &str)> = if plain {
            btf.find(Kind::Func, func_pat)
                .filter(|&id| id >= btf.first_id())
                .map(|id| (id, func_pat))
                .into_iter()
                .collect()
        } else {
            btf.funcs().filter(|&(_, name)| glob(func_pat, name)).collect()
        };
        funcs.retain(|&(_, name)| ok(name));
        sort_by_name(&mut funcs, |(_, name)| name);
        funcs.dedup_by(|a, b| a.1 == b.1);
        out.extend(funcs.into_iter().map(|(id, name)| Found {
            module: module.clone(),
            func: name.to_string(),
            btf: btf.clone(),
            id,
        }));
    }
    out
}

/// The target for one found function: `kind` names it, `kprobe` when a kprobe is attached
/// this way (then `name` is the kprobe's own name).
pub fn target(kind: &'static ProbeKind, name: String, f: &Found, exit: bool, kprobe: bool) -> Result<Target, String> {
    let args = func_args(&f.btf, f.id, exit, kprobe)?;
    let mut t = Target::new(kind, name, vec![f.module.clone(), f.func.clone()], Context::Func(args));
    t.btf = Some(BtfAttach {
        attach_type: if exit { attach_type::TRACE_FEXIT } else { attach_type::TRACE_FENTRY },
        btf_id: f.id,
        module: (f.module != "vmlinux").then(|| f.module.clone()),
    });
    t.func = Some(f.func.clone());
    Ok(t)
}

/// Why fentry programs do not load here, from the trial load's errno.
pub fn refusal(errno: i32) -> String {
    match errno {
        libc::ENOENT => "the kernel has no BTF (/sys/kernel/btf/vmlinux), which fentry programs need".to_string(),
        e => format!(
            "the kernel refuses fentry programs (BPF_PROG_LOAD of a tracing program: {})",
            crate::probe::kprobe::errno_text(e)
        ),
    }
}

fn expand(kind: &'static ProbeKind, ap: &AttachPoint) -> Result<Vec<Target>, Diagnostic> {
    let exit = kind.names[0] == "fexit";
    let (module_pat, func_pat) = match ap.parts.len() {
        2 => (None, ap.parts[1].as_str()),
        3 => (Some(ap.parts[1].as_str()), ap.parts[2].as_str()),
        _ => return Err(arity_error(ap, kind.names[0], "1 or 2 arguments")),
    };
    let found = find_funcs(module_pat, func_pat);
    if found.is_empty() {
        // "No matches for fentry f." unless missing_probes says otherwise.
        return Ok(vec![]);
    }
    if let Some(errno) = ferret_sys::features::features().fentry_errno() {
        return Err(cannot_attach(kind, ap, &found, exit, &refusal(errno)));
    }
    let mut out = vec![];
    for f in &found {
        let name = format!("{}:{}:{}", kind.names[0], f.module, f.func);
        match target(kind, name, f, exit, false) {
            Ok(t) => out.push(t),
            // A glob skips what cannot be traced; a named function is an error.
            Err(_) if found.len() > 1 => {}
            Err(why) => return Err(Diagnostic::error(ap.span, format!("{} cannot be traced: {why}", f.func))),
        }
    }
    Ok(out)
}

/// The error for function probes this kernel cannot attach, with what else sees the same.
fn cannot_attach(kind: &ProbeKind, ap: &AttachPoint, found: &[Found], exit: bool, why: &str) -> Diagnostic {
    let written = format!("{}:{}", kind.names[0], ap.parts[1..].join(":"));
    let mut d = Diagnostic::error(ap.span, format!("{written} cannot be attached: {why}"));
    if ferret_sys::features::kprobes_available() {
        let k = if exit { "kretprobe" } else { "kprobe" };
        d = d.with_hint(format!("{k}:{} works on this kernel (arguments as arg0, arg1, ...)", ap.parts[1..].join(":")));
    }
    let func = match found {
        [one] => one.func.clone(),
        _ => ap.parts.last().cloned().unwrap_or_default().replace(['*', '?'], ""),
    };
    for h in alternatives::hints(&func, exit, &alternatives::tracepoint_exists) {
        d = d.with_hint(h);
    }
    d
}

/// BPF_LINK_CREATE with no target fd: the program's attach BTF id names the function.
pub fn attach(t: &Target, prog: BorrowedFd<'_>, _: &AttachOpts) -> Result<Vec<OwnedFd>, super::AttachError> {
    let at = t.btf.as_ref().map_or(attach_type::TRACE_FENTRY, |b| b.attach_type);
    let link = bpf::link_create(prog, 0, at, 0)?;
    Ok(vec![link])
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
                glob(func_pat, name) && traceable.contains(&module, name) && btf.params(id).len() <= MAX_SLOTS as usize
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
    doc: "kernel function entry with BTF-typed args (args.NAME)",
    expand,
    prog_type: bpf::prog_type::TRACING,
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

pub static FEXIT: ProbeKind = ProbeKind {
    names: &["fexit", "fr", "kretfunc"],
    doc: "kernel function return with BTF-typed args and retval",
    expand,
    prog_type: bpf::prog_type::TRACING,
    attach,
    list: list_exit,
    listed_by_default: false,
    special: None,
    signal: true,
    consumers_newest_first: false,
    alternatives: false,
    user_debug: None,
    available,
};

/// Whether this kernel can attach this probe type (`ferret --info`).
fn available() -> bool {
    ferret_sys::features::features().fentry()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny BTF: int, char, ptr→char, struct s {int a}, ptr→struct s, enum, and
    /// `long f(int a, char *b, struct s *c, enum e d)` (FUNC_PROTO + FUNC).
    fn sample() -> Btf {
        let mut strs = b"\0int\0char\0s\0a\0e\0X\0f\0b\0c\0d\0long\0".to_vec();
        let off = |name: &str, strs: &[u8]| {
            let pat = [b"\0", name.as_bytes(), b"\0"].concat();
            strs.windows(pat.len()).position(|w| w == pat.as_slice()).unwrap() as u32 + 1
        };
        let mut types: Vec<u32> = vec![];
        let mut push = |words: &[u32]| types.extend_from_slice(words);
        let int = 1u32 << 24;
        // 1: int (signed, 32 bits)
        push(&[off("int", &strs), int, 4, (1 << 24) | 32]);
        // 2: char (signed, 8 bits)
        push(&[off("char", &strs), int, 1, (1 << 24) | 8]);
        // 3: ptr → char
        push(&[0, 2 << 24, 2]);
        // 4: struct s { int a; }
        push(&[off("s", &strs), (4 << 24) | 1, 4, off("a", &strs), 1, 0]);
        // 5: ptr → struct s
        push(&[0, 2 << 24, 4]);
        // 6: enum e { X = 1 } (unsigned, 4 bytes)
        push(&[off("e", &strs), (6 << 24) | 1, 4, off("X", &strs), 1]);
        // 7: long (signed, 64 bits)
        push(&[off("long", &strs), int, 8, (1 << 24) | 64]);
        // 8: proto long (int a, char *b, struct s *c, enum e d)
        push(&[0, (13 << 24) | 4, 7]);
        push(&[off("a", &strs), 1, off("b", &strs), 3, off("c", &strs), 5, off("d", &strs), 6]);
        // 9: FUNC f
        push(&[off("f", &strs), 12 << 24, 8]);
        let tbytes: Vec<u8> = types.iter().flat_map(|w| w.to_ne_bytes()).collect();
        let mut data = vec![];
        data.extend(0xeb9fu16.to_ne_bytes());
        data.extend([1u8, 0]);
        for w in [24u32, 0, tbytes.len() as u32, tbytes.len() as u32, strs.len() as u32] {
            data.extend(w.to_ne_bytes());
        }
        data.extend(tbytes);
        data.append(&mut strs);
        Btf::from_bytes("test", data).unwrap()
    }

    #[test]
    fn param_types_from_btf() {
        let btf = sample();
        assert_eq!(btf_param_type(&btf, 1), Type::Int { bytes: 4, signed: true });
        assert_eq!(
            btf_param_type(&btf, 3),
            Type::Ptr { space: AddrSpace::Kernel, pointee: Box::new(Type::Int { bytes: 1, signed: true }) }
        );
        assert_eq!(btf_param_type(&btf, 5), U64);
        assert_eq!(btf_param_type(&btf, 6), Type::Int { bytes: 4, signed: false });
    }

    #[test]
    fn args_slots_and_retval() {
        let btf = sample();
        let f = btf.find(Kind::Func, "f").unwrap();
        let a = func_args(&btf, f, true, false).unwrap();
        let names: Vec<(&str, u32, bool)> = a.args.iter().map(|x| (x.name.as_str(), x.slot, x.read)).collect();
        assert_eq!(names, [("a", 0, false), ("b", 1, false), ("c", 2, true), ("d", 3, false)]);
        let r = a.retval.unwrap();
        assert_eq!((r.slot, r.ty), (4, Type::Int { bytes: 8, signed: true }));
        let entry = func_args(&btf, f, false, false).unwrap();
        assert!(entry.retval.is_none());
        // Kprobes attached as fentry see every slot as u64, as kprobe registers are.
        let k = func_args(&btf, f, true, true).unwrap();
        assert!(k.args.iter().all(|x| x.ty == U64) && k.retval.unwrap().ty == U64);
    }
}
