//! Which kernel functions can be traced, per module, for listing kprobes and fentry probes.
//! The kernel's own answer is tracefs `available_filter_functions`; where that file cannot be
//! read (some VMs refuse it with EPERM even to root) the text symbols of /proc/kallsyms stand in.
use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

/// Traceable functions by module (`vmlinux` for the kernel itself). The names borrow from the
/// source text, which the process-wide cache keeps for the life of the process: ~120k names
/// without an allocation each.
#[derive(Debug, Default)]
pub struct Traceable {
    pub by_module: BTreeMap<&'static str, HashSet<&'static str>>,
}

impl Traceable {
    pub fn contains(&self, module: &str, func: &str) -> bool {
        self.by_module.get(module).is_some_and(|s| s.contains(func))
    }

    fn add(&mut self, func: &'static str, module: &'static str) {
        if is_untraceable(func) {
            return;
        }
        self.by_module.entry(module).or_default().insert(func);
    }
}

/// Functions known to hang or crash the kernel when traced (the list bpftrace also skips,
/// from the kernel's kprobe_multi selftest), and compiler-split pieces that are not entries.
fn is_untraceable(func: &str) -> bool {
    matches!(func, "arch_cpu_idle" | "default_idle" | "bpf_dispatcher_xdp_func")
        || func.starts_with("__ftrace_invalid_address__")
        || func.starts_with("rcu_")
        || func.contains(".part.")
        || func.contains(".cold")
}

/// `func` or `func [module]` (available_filter_functions), into (func, module).
fn split_module(line: &'static str) -> (&'static str, &'static str) {
    let line = line.trim();
    match line.split_once(char::is_whitespace) {
        Some((f, rest)) => (f, rest.trim().trim_start_matches('[').trim_end_matches(']')),
        None => (line, "vmlinux"),
    }
}

/// Parses available_filter_functions text.
pub fn parse_filter_functions(text: &'static str) -> Traceable {
    let mut t = Traceable::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (f, m) = split_module(line);
        t.add(f, m);
    }
    t
}

/// Parses /proc/kallsyms text: function (`t`/`T`) symbols, without the `__pfx_`/`__cfi_`
/// padding and call-thunk symbols that precede functions.
pub fn parse_kallsyms(text: &'static str) -> Traceable {
    let mut t = Traceable::default();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let (Some(_addr), Some(kind), Some(name)) = (it.next(), it.next(), it.next()) else { continue };
        if !matches!(kind, "t" | "T") || name.starts_with("__pfx_") || name.starts_with("__cfi_") {
            continue;
        }
        let module = it.next().map_or("vmlinux", |m| m.trim_start_matches('[').trim_end_matches(']'));
        t.add(name, module);
    }
    t
}

/// Reads the source once; its text is leaked on purpose, as the cache lives as long as the
/// process.
fn load() -> Traceable {
    let aff = ferret_sys::tracefs::root()
        .ok()
        .and_then(|r| std::fs::read_to_string(r.join("available_filter_functions")).ok())
        .filter(|t| !t.is_empty());
    if let Some(text) = aff {
        return parse_filter_functions(String::leak(text));
    }
    match std::fs::read_to_string("/proc/kallsyms") {
        Ok(text) => parse_kallsyms(String::leak(text)),
        Err(_) => Traceable::default(),
    }
}

/// The running kernel's traceable functions (read once).
pub fn traceable() -> &'static Traceable {
    static CACHE: OnceLock<Traceable> = OnceLock::new();
    CACHE.get_or_init(load)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_filter_functions_with_modules() {
        let t = parse_filter_functions("vfs_read\nrcu_idle\nfoo.part.0\next4_sync_fs [ext4]\n");
        assert!(t.contains("vmlinux", "vfs_read"));
        assert!(!t.contains("vmlinux", "rcu_idle"));
        assert!(!t.contains("vmlinux", "foo.part.0"));
        assert!(t.contains("ext4", "ext4_sync_fs"));
    }

    #[test]
    fn parses_kallsyms_text_symbols() {
        let t = parse_kallsyms(
            "ffffffff81000000 T vfs_read\nffffffff81000010 t __pfx_vfs_read\nffffffff82000000 D some_data\n\
             ffffffffc0000000 t nf_hook [nf_tables]\n",
        );
        assert!(t.contains("vmlinux", "vfs_read"));
        assert!(!t.contains("vmlinux", "__pfx_vfs_read"));
        assert!(!t.contains("vmlinux", "some_data"));
        assert!(t.contains("nf_tables", "nf_hook"));
    }
}
