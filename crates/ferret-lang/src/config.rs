//! `config = { key = value; ... }` blocks: bpftrace's configuration keys (the `BPFTRACE_`
//! prefix and the old spellings accepted), applied over the command line's options.
use crate::Options;
use ferret_syntax::ast::{ConfigItem, ExprKind, Program};
use ferret_syntax::Diagnostic;

/// Licenses the kernel accepts for GPL-only helpers, in bpftrace's order for the error.
const LICENSES: [&str; 6] =
    ["Dual MIT/GPL", "Dual BSD/GPL", "Dual MPL/GPL", "GPL and additional rights", "GPL v2", "GPL"];

/// Keys accepted and currently without effect in ferret (kept so scripts that set them run).
const ACCEPTED: [&str; 10] = [
    "cache_user_symbols",
    "lazy_symbolication",
    "log_size",
    "max_bpf_progs",
    "max_cat_bytes",
    "max_probes",
    "on_stack_limit",
    "perf_rb_pages",
    "use_blazesym",
    "symbol_source",
];

/// Apply the program's config block to `opts`.
pub fn apply(program: &Program, opts: &mut Options) -> Result<(), Vec<Diagnostic>> {
    let mut diags = vec![];
    for item in &program.config {
        if let Err(msg) = apply_item(item, opts) {
            diags.push(Diagnostic::error(item.span, msg));
        }
    }
    if diags.is_empty() {
        Ok(())
    } else {
        Err(diags)
    }
}

fn apply_item(item: &ConfigItem, opts: &mut Options) -> Result<(), String> {
    let lower = item.key.to_lowercase();
    let key = lower.strip_prefix("bpftrace_").unwrap_or(&lower);
    let key = match key {
        "strlen" => "max_strlen",
        "no_cpp_demangle" => "cpp_demangle",
        "cat_bytes_max" => "max_cat_bytes",
        "map_keys_max" => "max_map_keys",
        k => k,
    };
    let int = || match &item.value.kind {
        ExprKind::Int(n) => Ok(*n),
        _ => Err(format!("{}: expects an integer", item.key)),
    };
    let text = || match &item.value.kind {
        ExprKind::Str(s) | ExprKind::Ident(s) => Ok(s.clone()),
        ExprKind::Int(n) => Ok(n.to_string()),
        ExprKind::Bool(b) => Ok(b.to_string()),
        _ => Err(format!("{}: expects a value", item.key)),
    };
    let boolean = || match &item.value.kind {
        ExprKind::Bool(b) => Ok(*b),
        ExprKind::Int(n) => Ok(*n != 0),
        _ => Err(format!("{}: expects a boolean", item.key)),
    };
    match key {
        "max_strlen" => opts.strlen = int()?.clamp(1, 16 * 1024) as u32,
        "max_map_keys" => opts.max_map_keys = int()?.clamp(1, u32::MAX as u64) as u32,
        "print_maps_on_exit" => opts.print_maps_on_exit = boolean()?,
        "stack_mode" => {
            let m = text()?;
            if crate::types::StackMode::parse(&m).is_none() {
                return Err(format!("Invalid value for stack_mode: {m}. Valid values: bpftrace, perf, raw, build_id"));
            }
            // The environment wins over the script, as in bpftrace.
            if std::env::var_os("BPFTRACE_STACK_MODE").is_none() {
                opts.stack_mode = m;
            }
        }
        "show_debug_info" => opts.show_debug_info = boolean()?,
        "str_trunc_trailer" => {
            // The environment wins over the script, as for the other settings.
            if std::env::var_os("BPFTRACE_STR_TRUNC_TRAILER").is_none() {
                opts.str_trunc_trailer = text()?;
            }
        }
        "cpp_demangle" => {
            // BPFTRACE_NO_CPP_DEMANGLE=1 turns it off.
            let on = boolean()?;
            opts.cpp_demangle = if lower.contains("no_cpp_demangle") { !on } else { on };
        }
        "ustack_unwind" => {
            opts.dwarf_unwind = match text()?.as_str() {
                "dwarf" => true,
                "fp" => false,
                v => return Err(format!("Invalid value for ustack_unwind: {v}. Valid values: dwarf, fp")),
            }
        }
        "missing_probes" => {
            opts.missing_probes = match text()?.as_str() {
                "error" => crate::MissingProbes::Error,
                "warn" => crate::MissingProbes::Warn,
                "ignore" => crate::MissingProbes::Ignore,
                other => {
                    return Err(format!("Invalid value for missing_probes: {other}. Valid values: error, warn, ignore"))
                }
            }
        }
        "license" => {
            let l = text()?;
            if !LICENSES.contains(&l.as_str()) {
                return Err(format!("Invalid value for license. Found: {l}. Valid values: {}", LICENSES.join(", ")));
            }
            opts.license = l;
        }
        k if ACCEPTED.contains(&k) || k.starts_with("unstable_") => {}
        "btf" | "kernel_build" | "kernel_source" | "vmlinux" => {
            return Err(format!("{}: can only be set as an environment variable", item.key))
        }
        _ => return Err(format!("{}: not a known configuration option", item.key)),
    }
    Ok(())
}
