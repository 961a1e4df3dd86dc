//! `usdt:BINARY:[PROVIDER:]NAME` (`U:`): statically defined user probes from a binary's
//! `.note.stapsdt` notes. Arguments (`arg0`..) are read where the note says they live; a probe's
//! semaphore is raised by the kernel (the uprobe's reference counter) while it is attached.
use super::{glob, AttachOpts, Context, ListQuery, Listed, ProbeKind, Target};
use ferret_symbols::{resolve_targets, usdt};
use ferret_syntax::ast::AttachPoint;
use ferret_syntax::Diagnostic;
use ferret_sys::{bpf, perf};
use std::os::fd::{BorrowedFd, OwnedFd};

fn expand(kind: &'static ProbeKind, ap: &AttachPoint) -> Result<Vec<Target>, Diagnostic> {
    let err = |m: String| Diagnostic::error(ap.span, m);
    let (bin, provider, name) = match ap.parts.len() {
        3 => (&ap.parts[1], "*", ap.parts[2].as_str()),
        // `usdt:BIN::NAME`: any provider.
        4 if ap.parts[2].is_empty() => (&ap.parts[1], "*", ap.parts[3].as_str()),
        4 => (&ap.parts[1], ap.parts[2].as_str(), ap.parts[3].as_str()),
        _ => return Err(err("usdt probe type requires 2 or 3 arguments".into())),
    };
    let bins = resolve_targets(bin, super::target_pid()).map_err(err)?;
    let many = bins.len() > 1 || bin.contains(['*', '?']) || bin.is_empty();
    let mut out = vec![];
    for b in bins {
        let (elf, probes) = match crate::context::current().elf(&b.path).and_then(|e| Ok((e, usdt::probes(&b.path)?))) {
            Ok(r) => r,
            Err(_) if many => continue,
            Err(e) => return Err(err(e)),
        };
        let path = b.path.to_string_lossy().into_owned();
        // One probe per provider:name, however many places in the code it is at (bpftrace counts
        // it once); each site gets its own uprobe. The sites must agree on their arguments.
        let mut by_name: Vec<(&usdt::UsdtProbe, Vec<String>)> = vec![];
        for p in probes.iter().filter(|p| glob(provider, &p.provider) && glob(name, &p.name)) {
            let offset = elf
                .file_offset(p.pc)
                .ok_or_else(|| err(format!("USDT probe {}:{} is outside the file", p.provider, p.name)))?;
            let sem = if p.semaphore == 0 { 0 } else { elf.file_offset(p.semaphore).unwrap_or(0) };
            let site = format!("{offset}/{sem}");
            match by_name.iter_mut().find(|(q, _)| q.provider == p.provider && q.name == p.name && q.args == p.args) {
                Some((_, sites)) => sites.push(site),
                None => by_name.push((p, vec![site])),
            }
        }
        for (p, sites) in by_name {
            out.push(Target::new(
                kind,
                format!("usdt:{}:{}:{}", b.shown, p.provider, p.name),
                vec![path.clone(), p.provider.clone(), p.name.clone(), sites.join(",")],
                Context::Usdt { args: p.args.clone() },
            ));
        }
    }
    Ok(out)
}

fn attach(t: &Target, prog: BorrowedFd<'_>, opts: &AttachOpts) -> Result<Vec<OwnedFd>, super::AttachError> {
    let mut fds = vec![];
    // Each site: `OFFSET/SEMAPHORE_OFFSET` in the file.
    for site in t.parts[3].split(',') {
        let (offset, sem) = site.split_once('/').ok_or_else(|| "bad USDT site".to_string())?;
        let offset: u64 = offset.parse().map_err(|_| "bad USDT offset".to_string())?;
        let sem: u64 = sem.parse().unwrap_or(0);
        let pfd = perf::uprobe_event_with_semaphore(&t.parts[0], offset, false, opts.pid.unwrap_or(-1), sem)?;
        super::attach_perf(prog, pfd, &mut fds)?;
    }
    Ok(fds)
}

/// `-l 'usdt:/path/bin:*'` (the probes of one binary); `-lv` adds their argument operands.
fn list(q: &ListQuery<'_>) -> Vec<Listed> {
    let pid = super::target_pid();
    // With `-p`, `uprobe:PATTERN` means every file of the process.
    let Some((bin, rest)) = q.pattern.split_once(':').or(pid.map(|_| ("*", q.pattern))) else { return vec![] };
    if bin.contains('*') && !(pid.is_some() && bin == "*") && !bin.contains('/') {
        return vec![];
    }
    let Ok(bins) = resolve_targets(bin, pid) else { return vec![] };
    let (provider, name) = rest.split_once(':').unwrap_or(("*", rest));
    let mut out = vec![];
    for b in bins {
        let Ok(probes) = usdt::probes(&b.path) else { continue };
        let mut listed: Vec<Listed> = probes
            .iter()
            .filter(|p| glob(provider, &p.provider) && glob(name, &p.name))
            .map(|p| {
                let mut l = Listed::new(format!("usdt:{}:{}:{}", b.shown, p.provider, p.name));
                if q.verbose {
                    l.details = p.arg_text.split_whitespace().map(str::to_string).collect();
                }
                l
            })
            .collect();
        listed.sort();
        listed.dedup();
        out.extend(listed);
    }
    out
}

pub static USDT: ProbeKind = ProbeKind {
    names: &["usdt", "U"],
    doc: "user statically defined tracepoints: usdt:/path:provider:name (argN from the probe's note)",
    expand,
    prog_type: bpf::prog_type::KPROBE,
    attach,
    list,
    listed_by_default: false,
    special: None,
    signal: true,
    consumers_newest_first: true,
    alternatives: false,
    user_debug: None,
    available,
};

/// Whether this kernel can attach this probe type (`ferret --info`).
fn available() -> bool {
    ferret_sys::features::uprobes_available()
}
