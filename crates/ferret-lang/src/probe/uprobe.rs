//! `uprobe:BINARY:FUNC` / `uretprobe:` (`u:` / `ur:`): user-space function entry and return,
//! through the uprobe PMU. BINARY is a path, a program on `$PATH` or a library name (`libc`);
//! FUNC may be a glob, `func+OFFSET`, or a raw address `0x...`. Arguments are the x86-64 ABI
//! registers (`arg0`..`arg5`), `retval` is rax; pointers among them point into user space.
use super::{glob, AttachOpts, Context, ListQuery, Listed, ProbeKind, Target};
use crate::cstruct::ScriptField;
use crate::types::{AddrSpace, Type};
use ferret_symbols::dwarf::{CType, FuncDebug};
use ferret_symbols::{resolve_binary, resolve_targets, Elf};
use ferret_syntax::ast::AttachPoint;
use ferret_syntax::Diagnostic;
use ferret_sys::{bpf, perf};
use std::os::fd::{BorrowedFd, OwnedFd};

/// One place to probe: the function's name as written in the probe name, and its file offset.
struct Site {
    func: String,
    offset: u64,
}

/// `func`, `func+0x10`, `0x401000` or a glob → the file offsets to probe.
/// `0x1234` or `4660` as a uprobe target: an address rather than a function name.
fn parse_address(spec: &str) -> Result<Option<u64>, String> {
    Ok(match spec.strip_prefix("0x") {
        Some(hex) => Some(u64::from_str_radix(hex, 16).map_err(|_| format!("invalid address {spec}"))?),
        None if !spec.is_empty() && spec.bytes().all(|b| b.is_ascii_digit()) => spec.parse().ok(),
        None => None,
    })
}

fn sites(elf: &Elf, bin: &str, spec: &str) -> Result<Vec<Site>, String> {
    let offset_of = |addr: u64| {
        elf.file_offset(addr)
            .ok_or_else(|| format!("address {addr:#x} is not in a loaded segment of {}", elf.path.display()))
    };
    if let Some(addr) = parse_address(spec)? {
        // An address must fall inside a function, as bpftrace checks.
        if elf.symbolize(addr).is_none() {
            return Err(format!("Could not resolve address: {bin}:{addr:#x}"));
        }
        return Ok(vec![Site { func: spec.to_string(), offset: offset_of(addr)? }]);
    }
    if spec.contains('*') || spec.contains('?') {
        let mut out = vec![];
        let mut last = None;
        for s in elf.functions(|n| glob(spec, n)) {
            if last == Some(s.name.as_str()) {
                continue; // one probe per name (aliases at several addresses are rare)
            }
            last = Some(&s.name);
            out.push(Site { func: s.name.clone(), offset: offset_of(elf.call_target(s).addr)? });
        }
        return Ok(out);
    }
    let (name, extra) = match spec.split_once('+') {
        Some((n, off)) => {
            let off = off.trim();
            let v = match off.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16),
                None => off.parse(),
            };
            (n, v.map_err(|_| format!("invalid offset in {spec}"))?)
        }
        None => (spec, 0),
    };
    // A GNU indirect function (glibc's strlen, memcpy) is probed at the implementation it binds to.
    let Some(sym) = elf.function(name).map(|s| elf.call_target(s)) else {
        return Ok(vec![]); // "No matches for uprobe ..." (missing_probes decides)
    };
    if sym.size == 0 && !super::unsafe_allowed() {
        return Err(format!(
            "Could not determine boundary for {name} (symbol has size 0).\nUse --unsafe to force attachment. \
             WARNING: This option could lead to data corruption in the target process."
        ));
    }
    if extra >= sym.size.max(1) {
        return Err(format!("Offset outside the function bounds ('{name}' size is {})", sym.size));
    }
    Ok(vec![Site { func: spec.to_string(), offset: offset_of(sym.addr + extra)? }])
}

fn expand(kind: &'static ProbeKind, ap: &AttachPoint) -> Result<Vec<Target>, Diagnostic> {
    let ret = kind.names[0] == "uretprobe";
    let err = |m: String| Diagnostic::error(ap.span, m);
    // uprobe:BIN:FUNC; a C++ name may itself contain `::`, which the split broke apart.
    if ap.parts.len() < 3 {
        return Err(err(format!("{} probe type requires 2 arguments", kind.names[0])));
    }
    let bin = &ap.parts[1];
    if let Some((bin, file)) = bin.split_once('@') {
        return expand_line(kind, ap, bin, file);
    }
    let func = ap.parts[2..].join(":");
    let bins = resolve_targets(bin, super::target_pid()).map_err(err)?;
    // A wildcarded or process-wide target skips files that are not ELF (sources next to programs).
    let many = bins.len() > 1 || bin.contains(['*', '?']) || bin.is_empty();
    // bpftrace reports an unresolvable address when attaching, without a source location.
    let site_err = |m: String| {
        if m.starts_with("Could not resolve address") || m.starts_with("Could not determine boundary") {
            Diagnostic::global(m)
        } else {
            err(m)
        }
    };
    let mut out = vec![];
    for b in bins {
        let elf = match crate::context::current().elf(&b.path) {
            Ok(e) => e,
            Err(_) if many => continue,
            Err(e) => match parse_address(&func) {
                // `--unsafe`: a file that is not ELF (code mapped by hand) is probed at a file offset.
                Ok(Some(offset)) if super::unsafe_allowed() => {
                    let path = b.path.to_string_lossy().into_owned();
                    out.push(Target::new(
                        kind,
                        format!("{}:{}:{func}", kind.names[0], b.shown),
                        vec![path, func.clone(), offset.to_string()],
                        Context::Regs { ret, user: true },
                    ));
                    continue;
                }
                _ => return Err(err(e)),
            },
        };
        let (mut path, mut shown) = (b.path.clone(), b.shown.clone());
        let mut found = sites(&elf, bin, &func).map_err(site_err)?;
        if found.is_empty() && is_glibc_stub(&path) {
            // Since glibc 2.34 libpthread, libdl, librt and libutil are empty stubs: their functions
            // live in libc.so.6, which is where the loader binds them.
            if let Ok(libc) = resolve_binary("libc.so.6", None) {
                found = sites(&*crate::context::current().elf(&libc).map_err(err)?, bin, &func).map_err(err)?;
                shown = libc.to_string_lossy().into_owned();
                path = libc;
            }
        }
        let path = path.to_string_lossy().into_owned();
        out.extend(found.into_iter().map(|s| {
            let func = s.func.split('+').next().unwrap_or_default().to_string();
            let mut t = Target::new(
                kind,
                format!("{}:{shown}:{}", kind.names[0], s.func),
                vec![path.clone(), s.func, s.offset.to_string()],
                Context::Regs { ret, user: true },
            );
            t.func = Some(func);
            t
        }));
    }
    Ok(out)
}

/// `uprobe:BIN@FILE:LINE[:COL]`: one probe at the first instruction of a source line, found in
/// the binary's DWARF line tables.
fn expand_line(kind: &'static ProbeKind, ap: &AttachPoint, bin: &str, file: &str) -> Result<Vec<Target>, Diagnostic> {
    let err = |m: String| Diagnostic::error(ap.span, m);
    let format_err = || err("Invalid uprobe arguments, expected format: uprobe:TARGET@FILE:LINE[:COL]".into());
    if kind.names[0] != "uprobe" || file.is_empty() || !(3..=4).contains(&ap.parts.len()) {
        return Err(format_err());
    }
    let number = |s: &str, what: &str| s.trim().parse::<u64>().map_err(|_| err(format!("Invalid {what} number: {s}")));
    let line = number(&ap.parts[2], "line")?;
    let col = match ap.parts.get(3) {
        Some(c) => number(c, "column")?,
        None => 0,
    };
    let path = resolve_binary(bin, super::target_pid()).map_err(err)?;
    let path_str = path.to_string_lossy().into_owned();
    let Some(debug) = debug_info(&path_str) else {
        return Err(err(format!("No DWARF debug info found for '{bin}', cannot attach by source code location.")));
    };
    let addr = debug.line_address(file, line, col).map_err(err)?;
    let elf = crate::context::current().elf(&path).map_err(err)?;
    let offset = elf
        .file_offset(addr)
        .ok_or_else(|| err(format!("address {addr:#x} is not in a loaded segment of {path_str}")))?;
    let func = elf.symbolize(addr).map(|(s, _)| s.name.clone());
    let at = ap.parts[2..].join(":");
    let mut t = Target::new(
        kind,
        format!("uprobe:{path_str}@{file}:{at}"),
        vec![path_str, format!("{file}:{at}"), offset.to_string()],
        Context::Regs { ret: false, user: true },
    );
    t.func = func;
    Ok(vec![t])
}

fn is_glibc_stub(path: &std::path::Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    ["libpthread.so", "libdl.so", "librt.so", "libutil.so", "libanl.so"].iter().any(|s| name.starts_with(s))
}

fn attach(t: &Target, prog: BorrowedFd<'_>, opts: &AttachOpts) -> Result<Vec<OwnedFd>, super::AttachError> {
    let ret = matches!(t.context, Context::Regs { ret: true, .. });
    let offset: u64 = t.parts[2].parse().map_err(|_| "bad uprobe offset".to_string())?;
    let pfd = perf::uprobe_event(&t.parts[0], offset, ret, opts.pid.unwrap_or(-1))?;
    let mut fds = vec![];
    super::attach_perf(prog, pfd, &mut fds)?;
    Ok(fds)
}

/// `-l 'uprobe:/bin/bash:*'`: the functions of one binary (or each one a wildcarded path or
/// `-p` names; there is no system-wide list).
fn list_kind(kind: &str, q: &ListQuery<'_>) -> Vec<Listed> {
    let pid = super::target_pid();
    // With `-p`, `uprobe:PATTERN` means every file of the process.
    let Some((bin, func)) = q.pattern.split_once(':').or(pid.map(|_| ("*", q.pattern))) else { return vec![] };
    if bin.contains('*') && !(pid.is_some() && bin == "*") && !bin.contains('/') {
        return vec![];
    }
    let Ok(bins) = resolve_targets(bin, pid) else { return vec![] };
    let mut out = vec![];
    for b in bins {
        let Ok(elf) = Elf::open(&b.path) else { continue };
        let mut listed: Vec<Listed> =
            elf.functions(|n| glob(func, n)).map(|s| Listed::new(format!("{kind}:{}:{}", b.shown, s.name))).collect();
        listed.dedup();
        if q.verbose && kind == "uprobe" && !listed.is_empty() {
            let debug = open_debug(&b.path);
            if debug.is_none() {
                let msg = format!("No DWARF found for \"{}\", cannot show parameter info", b.shown);
                crate::context::current().warn(msg);
            }
            let prefix = format!("{kind}:{}:", b.shown);
            for l in &mut listed {
                let name = l.name.strip_prefix(&prefix).unwrap_or_default().to_string();
                l.details = param_lines(debug.as_ref(), &name);
            }
        }
        out.extend(listed);
    }
    out
}

fn list(q: &ListQuery<'_>) -> Vec<Listed> {
    list_kind("uprobe", q)
}

fn list_ret(q: &ListQuery<'_>) -> Vec<Listed> {
    list_kind("uretprobe", q)
}

static UPROBE_DEBUG: super::UserDebug =
    super::UserDebug { params: Some(user_params), record: Some(args_record), named_struct: user_struct };
static URETPROBE_DEBUG: super::UserDebug = super::UserDebug { params: None, record: None, named_struct: user_struct };

pub static UPROBE: ProbeKind = ProbeKind {
    names: &["uprobe", "u"],
    doc: "user-space function entry: uprobe:/path/or/lib:func (argN, sargN)",
    expand,
    prog_type: bpf::prog_type::KPROBE,
    attach,
    list,
    listed_by_default: false,
    special: None,
    signal: true,
    consumers_newest_first: true,
    alternatives: true,
    user_debug: Some(&UPROBE_DEBUG),
    available,
};

pub static URETPROBE: ProbeKind = ProbeKind {
    names: &["uretprobe", "ur"],
    doc: "user-space function return: uretprobe:/path/or/lib:func (retval)",
    expand,
    prog_type: bpf::prog_type::KPROBE,
    attach,
    list: list_ret,
    listed_by_default: false,
    special: None,
    signal: true,
    consumers_newest_first: true,
    alternatives: true,
    user_debug: Some(&URETPROBE_DEBUG),
    available,
};

/// A uprobe's parameter as `args.NAME` reads it: the argument register it arrives in, or why
/// it cannot be read there.
#[derive(Debug, Clone, PartialEq)]
pub struct UserParam {
    pub name: String,
    pub ty: Type,
    /// Index into rdi, rsi, rdx, rcx, r8, r9; `Err` says why the value is not in one.
    pub reg: Result<u32, String>,
}

/// Integer argument registers of the x86-64 SysV ABI.
const INT_REGS: u32 = 6;

/// The parameters of a uprobe target's function from the binary's DWARF, or the error `args`
/// reports (bpftrace's wording). Parsed once per (binary, function) and process.
pub fn user_params(t: &Target) -> Result<Vec<UserParam>, String> {
    let path = t.parts.first().cloned().unwrap_or_default();
    let func = t.func.clone().unwrap_or_default();
    let fail = |m: &str| format!("Could not parse arguments of \"{}\": {m}", t.name);
    if t.name.contains('@') {
        return Err(fail("a probe on a source line has no parameters by name"));
    }
    let dbg = debug_info(&path).and_then(|d| d.function(&func));
    let dbg = dbg.ok_or_else(|| fail(&format!("no debuginfo found for {path}")))?;
    let mut next = 0u32;
    let mut by_value: Option<String> = None;
    let mut out = vec![];
    for p in &dbg.params {
        let ty = convert(&p.ty, &dbg);
        let reg = match (&p.ty, &by_value) {
            (_, Some(prev)) => Err(format!("it follows '{prev}', a struct passed by value")),
            (CType::Float(_), _) => Err("floating-point arguments are passed in SSE registers".to_string()),
            (CType::Struct(_) | CType::Array(..), _) => {
                by_value = Some(p.name.clone());
                Err("structs passed by value are not supported".to_string())
            }
            _ if next >= INT_REGS => {
                return Err(fail("'args' builtin is not supported for probes with stack-passed arguments."))
            }
            _ => {
                next += 1;
                Ok(next - 1)
            }
        };
        out.push(UserParam { name: p.name.clone(), ty, reg });
    }
    Ok(out)
}

/// Where `args` as a whole keeps one parameter: its argument register, its offset in the
/// record and its (integer or pointer) type.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordField {
    pub reg: u32,
    pub offset: u32,
    pub ty: Type,
}

/// `args` as a whole value in a uprobe (`print(args)`, `@[args]`): a struct of the parameters,
/// each at its natural alignment, printed as bpftrace prints the args record
/// (`{ .n = 0x..., .c = 120 }`). Every parameter must be readable from a register.
pub fn args_record(t: &Target) -> Result<(Type, Vec<RecordField>), String> {
    let params = user_params(t)?;
    let mut fields = vec![];
    let mut layout = vec![];
    let mut size = 0u32;
    for p in params.into_iter().filter(|p| p.ty != Type::None) {
        let reg = p.reg.map_err(|why| format!("Can't read function parameter {}: {why}", p.name))?;
        let width = p.ty.size_in_c().clamp(1, 8);
        let offset = size.next_multiple_of(width);
        size = offset + width;
        fields.push(RecordField { reg, offset, ty: p.ty.clone() });
        layout.push(ScriptField { name: p.name, ty: p.ty, offset, bitfield: None });
    }
    let size = size.next_multiple_of(8);
    let name = format!("struct {}_args", t.name);
    let id = crate::ktypes::intern_struct(&name, size, || layout);
    Ok((Type::Struct { name, id, size }, fields))
}

/// The debug info of a binary, read once per process (`None`: it has none).
fn debug_info(path: &str) -> Option<std::sync::Arc<ferret_symbols::dwarf::Debug>> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    type Cache = Mutex<HashMap<String, Option<Arc<ferret_symbols::dwarf::Debug>>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    cache.entry(path.to_string()).or_insert_with(|| open_debug(std::path::Path::new(path)).map(Arc::new)).clone()
}

/// A binary's debug info, with bpftrace's warnings for split units it could not find.
fn open_debug(path: &std::path::Path) -> Option<ferret_symbols::dwarf::Debug> {
    let debug = ferret_symbols::dwarf::Debug::open(path)?;
    let ctx = crate::context::current();
    for w in &debug.warnings {
        ctx.warn(w.clone());
    }
    Some(debug)
}

/// `struct Foo` named in a cast or declaration of a uprobe program: its layout from the
/// probed binary's DWARF (after the kernel's and the script's own definitions).
pub fn user_struct(t: &Target, name: &str) -> Option<Type> {
    let (ty, structs) = debug_info(t.parts.first()?)?.named_struct(name)?;
    Some(convert(&ty, &FuncDebug { params: vec![], structs }))
}

/// A DWARF type as a language type; structs join the script's (see [`crate::ktypes::intern_struct`]).
fn convert(t: &CType, dbg: &FuncDebug) -> Type {
    match t {
        CType::Int { bytes, signed } => Type::Int { bytes: *bytes, signed: *signed },
        CType::Ptr(inner) => {
            let pointee = match &**inner {
                CType::Void | CType::Other | CType::Float(_) => Type::Int { bytes: 1, signed: false },
                other => convert(other, dbg),
            };
            Type::Ptr { space: AddrSpace::User, pointee: Box::new(pointee) }
        }
        CType::Array(elem, n) => match &**elem {
            CType::Int { bytes: 1, .. } => Type::Str((*n).max(1)),
            e => Type::Array { elem: Box::new(convert(e, dbg)), len: *n },
        },
        CType::Struct(name) => {
            let Some(def) = dbg.structs.iter().find(|s| &s.name == name) else { return Type::None };
            let id = crate::ktypes::intern_struct(name, def.size, || {
                def.members
                    .iter()
                    .map(|m| ScriptField {
                        name: m.name.clone(),
                        ty: convert(&m.ty, dbg),
                        offset: m.offset,
                        bitfield: m.bitfield,
                    })
                    .filter(|f| f.ty != Type::None)
                    .collect()
            });
            Type::Struct { name: name.clone(), id, size: def.size }
        }
        CType::Float(bytes) => Type::Int { bytes: *bytes, signed: false },
        CType::Void | CType::Other => Type::None,
    }
}

/// `-lv`: each function's parameters as bpftrace lists them (`int* n`); a warning, once per
/// binary, when it has no DWARF.
fn param_lines(debug: Option<&ferret_symbols::dwarf::Debug>, func: &str) -> Vec<String> {
    let Some(f) = debug.and_then(|d| d.function(func)) else { return vec![] };
    f.params
        .iter()
        .map(|p| if p.name.is_empty() { p.c_type.clone() } else { format!("{} {}", p.c_type, p.name) })
        .collect()
}

/// Whether this kernel can attach this probe type (`ferret --info`).
fn available() -> bool {
    ferret_sys::features::uprobes_available()
}
