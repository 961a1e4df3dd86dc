//! BCC's probe specifications, as funccount, stackcount, funclatency and trace take them:
//! `func` or `p::func` (a kernel function), `r::func` (its return), `lib:func`, `p:lib:func`,
//! `/path:func` (a user function), `t:cat:event` (a tracepoint), `u:lib:probe` (a USDT probe),
//! each with `*` wildcards; and what ferret attaches for them, routes in order (a kernel
//! function: fentry/fexit, then kprobes).

/// A parsed specification.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Kernel { func: String, ret: bool },
    User { lib: String, func: String, ret: bool },
    Tracepoint { category: String, event: String },
    Usdt { lib: String, probe: String },
}

/// A library as BCC names it (`c`, `pthread`, `bash`, a path) as ferret's uprobes find it.
fn library(lib: &str) -> String {
    if lib.contains('/') || lib.starts_with("lib") {
        return lib.to_string();
    }
    let on_path = std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(lib).is_file()));
    if on_path {
        lib.to_string()
    } else {
        format!("lib{lib}")
    }
}

/// Parse a specification; the error says what is wrong with it.
pub fn parse(spec: &str) -> Result<Target, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let bad = || format!("invalid probe specification '{spec}': expected [p:|r:|t:|u:][lib:]name");
    let nonempty = |s: &str| if s.is_empty() { Err(bad()) } else { Ok(s.to_string()) };
    match parts.as_slice() {
        [func] => Ok(Target::Kernel { func: nonempty(func)?, ret: false }),
        // `/path:func` or `lib:func`.
        [lib, func] if !matches!(*lib, "p" | "r" | "t" | "u") => {
            Ok(Target::User { lib: library(&nonempty(lib)?), func: nonempty(func)?, ret: false })
        }
        [kind @ ("p" | "r"), "", func] => Ok(Target::Kernel { func: nonempty(func)?, ret: *kind == "r" }),
        [kind @ ("p" | "r"), lib, func] => {
            Ok(Target::User { lib: library(lib), func: nonempty(func)?, ret: *kind == "r" })
        }
        ["t", category, event] => Ok(Target::Tracepoint { category: nonempty(category)?, event: nonempty(event)? }),
        ["u", lib, probe] => Ok(Target::Usdt { lib: library(&nonempty(lib)?), probe: nonempty(probe)? }),
        _ => Err(bad()),
    }
}

impl Target {
    /// The attach points for this target, routes in order: (route name, probe).
    pub fn probes(&self) -> Vec<(&'static str, String)> {
        match self {
            Target::Kernel { func, ret: false } => {
                vec![("fentry", format!("fentry:{func}")), ("kprobe", format!("kprobe:{func}"))]
            }
            Target::Kernel { func, ret: true } => {
                vec![("fexit", format!("fexit:{func}")), ("kretprobe", format!("kretprobe:{func}"))]
            }
            Target::User { lib, func, ret } => {
                let kind = if *ret { "uretprobe" } else { "uprobe" };
                vec![(kind, format!("{kind}:{lib}:{func}"))]
            }
            Target::Tracepoint { category, event } => vec![("tracepoint", format!("tracepoint:{category}:{event}"))],
            Target::Usdt { lib, probe } => vec![("usdt", format!("usdt:{lib}:{probe}"))],
        }
    }
}

/// The name BCC shows for a probe ferret reports as `probe` (`kprobe:vfs_read` -> `vfs_read`,
/// `uprobe:/lib/libc.so.6:malloc` -> `malloc`, `tracepoint:sched:sched_switch` ->
/// `sched:sched_switch`).
pub fn short_name(probe: &str) -> String {
    let parts: Vec<&str> = probe.split(':').collect();
    match parts.as_slice() {
        ["tracepoint", cat, event] => format!("{cat}:{event}"),
        [.., last] => last.to_string(),
        [] => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        assert_eq!(parse("vfs_read"), Ok(Target::Kernel { func: "vfs_read".into(), ret: false }));
        assert_eq!(parse("p::vfs_*"), Ok(Target::Kernel { func: "vfs_*".into(), ret: false }));
        assert_eq!(parse("r::do_sys_open"), Ok(Target::Kernel { func: "do_sys_open".into(), ret: true }));
        assert_eq!(parse("c:malloc"), Ok(Target::User { lib: "libc".into(), func: "malloc".into(), ret: false }));
        assert_eq!(parse("/bin/x:main"), Ok(Target::User { lib: "/bin/x".into(), func: "main".into(), ret: false }));
        assert_eq!(
            parse("t:sched:sched_switch"),
            Ok(Target::Tracepoint { category: "sched".into(), event: "sched_switch".into() })
        );
        assert!(parse("t:sched").is_err());
        assert!(parse("x:a:b:c").is_err());
        assert_eq!(short_name("kprobe:vfs_read"), "vfs_read");
        assert_eq!(short_name("uprobe:/lib/libc.so.6:malloc"), "malloc");
        assert_eq!(short_name("tracepoint:sched:sched_switch"), "sched:sched_switch");
    }
}
