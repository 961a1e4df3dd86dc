//! `uprobe:BINARY:FUNC` / `uretprobe:` (`u:` / `ur:`): user-space function entry and return,
//! through the uprobe PMU. BINARY is a path, a program on `$PATH` or a library name (`libc`);
//! FUNC may be a glob, `func+OFFSET`, or a raw address `0x...`. Arguments are the x86-64 ABI
//! registers (`arg0`..`arg5`), `retval` is rax; pointers among them point into user space.
use super::{glob, AttachOpts, Context, ListQuery, Listed, ProbeKind, Target};
use ferret_symbols::{resolve_binary, Elf};
use ferret_syntax::ast::AttachPoint;
use ferret_syntax::Diagnostic;
use ferret_sys::{bpf, perf};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// One place to probe: the function's name as written in the probe name, and its file offset.
struct Site {
    func: String,
    offset: u64,
}

/// `func`, `func+0x10`, `0x401000` or a glob → the file offsets to probe.
fn sites(elf: &Elf, bin: &str, spec: &str) -> Result<Vec<Site>, String> {
    let offset_of = |addr: u64| {
        elf.file_offset(addr)
            .ok_or_else(|| format!("address {addr:#x} is not in a loaded segment of {}", elf.path.display()))
    };
    let address = match spec.strip_prefix("0x") {
        Some(hex) => Some(u64::from_str_radix(hex, 16).map_err(|_| format!("invalid address {spec}"))?),
        None if spec.bytes().all(|b| b.is_ascii_digit()) => spec.parse().ok(),
        None => None,
    };
    if let Some(addr) = address {
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
    let func = ap.parts[2..].join(":");
    let mut path = resolve_binary(bin, super::target_pid()).map_err(err)?;
    // bpftrace reports an unresolvable address when attaching, without a source location.
    let site_err = |m: String| if m.starts_with("Could not resolve address") { Diagnostic::global(m) } else { err(m) };
    let mut found = sites(&Elf::open(&path).map_err(err)?, bin, &func).map_err(site_err)?;
    if found.is_empty() && is_glibc_stub(&path) {
        // Since glibc 2.34 libpthread, libdl, librt and libutil are empty stubs: their functions
        // live in libc.so.6, which is where the loader binds them.
        if let Ok(libc) = resolve_binary("libc.so.6", None) {
            found = sites(&Elf::open(&libc).map_err(err)?, bin, &func).map_err(err)?;
            path = libc;
        }
    }
    let path = path.to_string_lossy().into_owned();
    Ok(found
        .into_iter()
        .map(|s| {
            let func = s.func.split('+').next().unwrap_or_default().to_string();
            let mut t = Target::new(
                kind,
                format!("{}:{path}:{}", kind.names[0], s.func),
                vec![path.clone(), s.func, s.offset.to_string()],
                Context::Regs { ret, user: true },
            );
            t.func = Some(func);
            t
        })
        .collect())
}

fn is_glibc_stub(path: &std::path::Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    ["libpthread.so", "libdl.so", "librt.so", "libutil.so", "libanl.so"].iter().any(|s| name.starts_with(s))
}

fn attach(t: &Target, prog: BorrowedFd<'_>, opts: &AttachOpts) -> Result<Vec<OwnedFd>, String> {
    let ret = matches!(t.context, Context::Regs { ret: true, .. });
    let offset: u64 = t.parts[2].parse().map_err(|_| "bad uprobe offset".to_string())?;
    let pfd = perf::uprobe_event(&t.parts[0], offset, ret, opts.pid.unwrap_or(-1)).map_err(|e| e.to_string())?;
    let link = bpf::link_create(prog, pfd.as_raw_fd(), bpf::attach_type::PERF_EVENT, 0).map_err(|e| e.to_string())?;
    Ok(vec![link, pfd])
}

/// `-l 'uprobe:/bin/bash:*'`: the functions of one binary (there is no system-wide list).
fn list_kind(kind: &str, q: &ListQuery<'_>) -> Vec<Listed> {
    let Some((bin, func)) = q.pattern.split_once(':') else { return vec![] };
    if bin.contains('*') {
        return vec![];
    }
    let Ok(path) = resolve_binary(bin, None) else { return vec![] };
    let Ok(elf) = Elf::open(&path) else { return vec![] };
    let mut out: Vec<Listed> = elf
        .functions(|n| glob(func, n))
        .map(|s| Listed::new(format!("{kind}:{}:{}", path.display(), s.name)))
        .collect();
    out.dedup();
    out
}

fn list(q: &ListQuery<'_>) -> Vec<Listed> {
    list_kind("uprobe", q)
}

fn list_ret(q: &ListQuery<'_>) -> Vec<Listed> {
    list_kind("uretprobe", q)
}

pub static UPROBE: ProbeKind = ProbeKind {
    names: &["uprobe", "u"],
    doc: "user-space function entry: uprobe:/path/or/lib:func (argN, sargN)",
    expand,
    prog_type: bpf::prog_type::KPROBE,
    attach,
    list,
    listed_by_default: false,
    special: None,
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
};
