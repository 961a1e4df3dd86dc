//! `-l`: listing probes (by pattern, or those a program attaches to) and kernel types, in
//! bpftrace's formats. Each probe type lists its own probes through its `list` hook; this
//! module splits queries, picks the types they name and prints the results.
use super::{find, glob, ListQuery, Listed, ProbeKind, REGISTRY};
use ferret_btf::{Btf, Kind};
use ferret_syntax::ast::Program;
use std::collections::BTreeMap;
use std::sync::Arc;

/// bpftrace's wildcard test for listing patterns.
pub fn has_wildcard(s: &str) -> bool {
    s.contains('*') || s.contains('?')
}

/// Patterns of types whose probes are named `module:function` (fentry, rawtracepoint): a bare
/// function pattern matches in every module.
pub fn with_any_module(pattern: &str) -> String {
    if pattern.contains(':') {
        pattern.to_string()
    } else {
        format!("*:{pattern}")
    }
}

/// Listing for types with a fixed set of `name:` entries (software and hardware events, timer
/// units). Only the first field of the pattern counts, so a program's
/// `hardware:cache-misses:10` lists as `hardware:cache-misses:`.
pub fn list_fixed(kind: &str, entries: &[&str], q: &ListQuery<'_>) -> Vec<Listed> {
    let pattern = format!("{}:", q.pattern.split(':').next().unwrap_or("*"));
    let mut out: Vec<Listed> = entries
        .iter()
        .map(|e| format!("{e}:"))
        .filter(|e| glob(&pattern, e))
        .map(|e| Listed::new(format!("{kind}:{e}")))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The first 16 bytes of `name` as a big-endian number: ordering by it agrees with ordering
/// by name up to ties, and compares without a `memcmp` call (sorting 120k kernel function
/// names by `str` comparison alone took ~100 ms).
fn name_prefix(name: &str) -> u128 {
    let mut b = [0u8; 16];
    let n = name.len().min(16);
    b[..n].copy_from_slice(&name.as_bytes()[..n]);
    u128::from_be_bytes(b)
}

/// Sort by `name` (ties in any order), fast on large lists.
pub fn sort_by_name<T>(v: &mut [T], name: impl Fn(&T) -> &str) {
    let mut keyed: Vec<(u128, usize)> = v.iter().enumerate().map(|(i, t)| (name_prefix(name(t)), i)).collect();
    keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| name(&v[a.1]).cmp(name(&v[b.1]))));
    // Apply the permutation: position i takes the element that was at keyed[i].1.
    let mut order: Vec<usize> = keyed.into_iter().map(|(_, i)| i).collect();
    for i in 0..order.len() {
        let mut j = order[i];
        while j < i {
            j = order[j];
        }
        v.swap(i, j);
        order[i] = j;
    }
}

/// `struct x` / `union x` / `enum x` searches list kernel types instead of probes.
pub fn is_type_name(s: &str) -> bool {
    s.starts_with("struct ") || s.starts_with("union ") || s.starts_with("enum ")
}

/// Trimmed, with each run of whitespace reduced to its first character.
fn normalize_whitespace(s: &str) -> String {
    let mut out = String::new();
    let mut prev_space = false;
    for c in s.trim().chars() {
        if c.is_whitespace() && prev_space {
            continue;
        }
        prev_space = c.is_whitespace();
        out.push(c);
    }
    out
}

/// bpftrace warns when a search looks like a file name that does not exist.
pub fn looks_like_missing_file(search: &str) -> bool {
    search.contains('.') && !search.contains(':') && !search.contains('*')
}

fn render(listed: Vec<Listed>, verbose: bool, out: &mut Vec<String>) {
    for l in listed {
        out.push(l.name);
        if verbose {
            out.extend(l.details.into_iter().map(|d| format!("    {d}")));
        }
    }
}

/// `-l SEARCH`: comma-separated probe patterns (`kprobe:vfs_*`, `*sleep*`, `t:sched:*`) and
/// type names (`struct task_struct`). Returns the output lines.
pub fn list_search(search: &str, verbose: bool) -> Vec<String> {
    let mut out = vec![];
    for raw in search.split(',') {
        let probe = normalize_whitespace(raw);
        if is_type_name(&probe) {
            out.extend(list_types(&probe, verbose));
            continue;
        }
        if probe.is_empty() && super::target_pid().is_some() {
            // `-l -p PID`: the probes of that process, in its program and libraries.
            render(list_probes("uprobe:*:*", verbose), verbose, &mut out);
            render(list_probes("usdt:*:*:*", verbose), verbose, &mut out);
            continue;
        }
        let value = match probe.as_str() {
            "" => "*:*".to_string(),
            p if !p.contains(':') => format!("*:{p}"),
            p => p.to_string(),
        };
        render(list_probes(&value, verbose), verbose, &mut out);
    }
    out
}

/// One `type:rest` pattern: a wildcarded type means every type listed by default, in name
/// order; otherwise the named type (by any alias).
fn list_probes(pattern: &str, verbose: bool) -> Vec<Listed> {
    let (ty, rest) = pattern.split_once(':').unwrap_or((pattern, ""));
    let rest = if rest.is_empty() { "*" } else { rest };
    let mut kinds: Vec<_> = if has_wildcard(ty) {
        // `*:./a.out:*`: a path names a file, whose uprobes and USDT probes are listed too.
        let file = |k: &ProbeKind| rest.contains('/') && matches!(k.names[0], "uprobe" | "usdt");
        REGISTRY.iter().copied().filter(|k| (k.listed_by_default || file(k)) && glob(ty, k.names[0])).collect()
    } else {
        find(ty).into_iter().collect()
    };
    // BEGIN/END and bench/test blocks are not probes one lists; self:signal ones are.
    kinds.retain(|k| k.special.is_none() || k.special == Some(super::Special::Signal));
    kinds.sort_by_key(|k| k.names[0]);
    let q = ListQuery { pattern: rest, verbose };
    kinds.iter().flat_map(|k| (k.list)(&q)).collect()
}

/// `-l` with a program: the probes its attach points expand to (BEGIN/END left out).
pub fn list_program(program: &Program, verbose: bool) -> Vec<String> {
    let mut out = vec![];
    for ap in program.probes.iter().flat_map(|p| &p.attach_points) {
        let Some(kind) = ap.parts.first().and_then(|p| find(p)) else { continue };
        if kind.special.is_some() {
            continue;
        }
        let rest = ap.parts[1..].join(":");
        render((kind.list)(&ListQuery { pattern: &rest, verbose }), verbose, &mut out);
    }
    out
}

/// `struct x`, `union x` or `enum x` for a named aggregate or enum.
fn full_type_name(btf: &Btf, id: u32) -> Option<String> {
    let t = btf.ty(id)?;
    let tag = match t.kind() {
        Kind::Struct => "struct",
        Kind::Union => "union",
        Kind::Enum | Kind::Enum64 => "enum",
        _ => return None,
    };
    (!t.name().is_empty()).then(|| format!("{tag} {}", t.name()))
}

/// Kernel types matching `pattern`: names, or with `verbose` each definition prefixed by the
/// BTF it comes from (vmlinux when the kernel has it, else every module that does).
pub fn list_types(pattern: &str, verbose: bool) -> Vec<String> {
    let btfs = ferret_btf::kernel::all();
    let mut found: BTreeMap<String, Vec<Arc<Btf>>> = BTreeMap::new();
    for btf in &btfs {
        // An exact name is one index lookup; only globs need the walk over every type.
        let ids: Box<dyn Iterator<Item = u32>> = if has_wildcard(pattern) {
            Box::new(btf.own_ids())
        } else {
            Box::new(btf.lookup(pattern).filter(|&id| id >= btf.first_id()).into_iter())
        };
        for id in ids {
            let Some(name) = full_type_name(btf, id) else { continue };
            if glob(pattern, &name) {
                let holders = found.entry(name).or_default();
                if !holders.iter().any(|b| Arc::ptr_eq(b, btf)) {
                    holders.push(btf.clone());
                }
            }
        }
    }
    let mut out = vec![];
    for (name, holders) in found {
        if !verbose {
            out.push(name);
            continue;
        }
        let in_vmlinux = holders.iter().any(|b| b.base().is_none());
        for btf in holders.iter().filter(|b| !in_vmlinux || b.base().is_none()) {
            if let Some(def) = btf.lookup(&name).and_then(|id| btf.c_definition(id)) {
                out.push(format!("{}: {def}", btf.name()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_lists_match_the_first_field() {
        let q = |p: &'static str| ListQuery { pattern: p, verbose: false };
        let names = |v: Vec<Listed>| v.into_iter().map(|l| l.name).collect::<Vec<_>>();
        let units = ["s", "ms", "us", "hz"];
        assert_eq!(
            names(list_fixed("interval", &units, &q("*"))),
            ["interval:hz:", "interval:ms:", "interval:s:", "interval:us:"]
        );
        assert_eq!(names(list_fixed("interval", &units, &q("ms:100"))), ["interval:ms:"]);
        assert!(list_fixed("interval", &units, &q("m")).is_empty());
    }

    #[test]
    fn sorts_by_name() {
        let mut v = vec!["trace_event_raw_b", "b", "a", "trace_event_raw_a", "", "ab", "trace_event_raw_a"];
        let mut want = v.clone();
        want.sort();
        sort_by_name(&mut v, |s| s);
        assert_eq!(v, want);
    }

    #[test]
    fn search_helpers() {
        assert!(is_type_name("struct task_struct"));
        assert!(!is_type_name("structure"));
        assert_eq!(normalize_whitespace("  struct   file "), "struct file");
        assert!(looks_like_missing_file("non_existent_file.bt"));
        assert!(!looks_like_missing_file("kprobe:foo.bar"));
        assert_eq!(with_any_module("vfs_*"), "*:vfs_*");
        assert_eq!(with_any_module("vmlinux:vfs_*"), "vmlinux:vfs_*");
    }

    #[test]
    fn wildcard_type_lists_default_types_in_name_order() {
        let out = list_search("*ware:*", false);
        let hw = out.iter().position(|l| l == "hardware:cpu-cycles:").expect("hardware listed");
        let sw = out.iter().position(|l| l == "software:cpu-clock:").expect("software listed");
        assert!(hw < sw);
        assert!(!out.iter().any(|l| l.starts_with("interval:")));
    }
}
