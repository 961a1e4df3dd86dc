//! AST → typed tree → BPF object: probe resolution, sema, and code generation. The whole
//! pipeline is [`compile`]; each stage's output can be dumped with `ferret -d`.
pub mod builtin;
pub mod cdefs;
pub mod codegen;
mod config;
pub mod context;
pub mod cstruct;
pub mod includes;
pub mod ktypes;
mod lints;
mod macros;
pub mod named;
pub mod probe;
mod scopes;
pub mod sema;
pub mod stacks;
pub mod syscalls;
pub mod types;
pub mod unwind;

use ferret_bpf::Insn;
use ferret_syntax::{ast, Diagnostic, Span};
use probe::{Special, Target};
use types::Type;

/// Compile-time options (command-line flags and their bpftrace environment equivalents).
#[derive(Debug, Clone)]
pub struct Options {
    /// Characters kept of a string read from memory (`BPFTRACE_MAX_STRLEN`, default 64); one
    /// byte more is read so that a longer string is seen as truncated.
    pub strlen: u32,
    /// Entries per map (`BPFTRACE_MAP_KEYS_MAX`, default 4096).
    pub max_map_keys: u32,
    /// Allow `system`, `signal`, `cat`.
    pub unsafe_: bool,
    /// `-k`: report failed helper calls (map lookups of missing keys) as warnings at run time.
    pub helper_errors: bool,
    /// `$1..$N`.
    pub positional: Vec<String>,
    /// Named program options after `--` without their dashes: `aa=20`, `dd` (see [`named`]).
    pub named: Vec<String>,
    /// `cpid` when `-c` is given.
    pub cpid: Option<u32>,
    /// `-p PID`: uprobe/usdt libraries are found through this process's mappings.
    pub pid: Option<i32>,
    /// Boot-clock time at start, for `elapsed`.
    pub start_boot_ns: u64,
    /// Ring buffer bytes (a power of two, multiple of the page size).
    pub ringbuf_size: u32,
    /// Print every map when tracing ends (config `print_maps_on_exit`).
    pub print_maps_on_exit: bool,
    /// `bpftrace`, `perf` or `raw` (config `stack_mode`).
    pub stack_mode: String,
    /// The programs' license (config `license`).
    pub license: String,
    /// Attach points that match nothing (config `missing_probes`).
    pub missing_probes: MissingProbes,
    /// bpftrace's test hook `BPFTRACE_DUMMY_TS_MAP=@ts`: `tseries()` takes the time from this
    /// scalar map instead of the clock.
    pub dummy_ts_map: Option<String>,
    /// `--probe-filter REGEX`: only probes whose names match are compiled and attached
    /// (BEGIN and END always are).
    pub probe_filter: Option<String>,
    /// Show `@file:line` after user stack frames when the file has line tables (config
    /// `show_debug_info`, default on as in bpftrace).
    pub show_debug_info: bool,
    /// Demangle C++ and Rust symbol names in user stacks (config `cpp_demangle`).
    pub cpp_demangle: bool,
    /// Appended to a string that filled its whole buffer (config `str_trunc_trailer`,
    /// `BPFTRACE_STR_TRUNC_TRAILER`; bpftrace's default `..`).
    pub str_trunc_trailer: String,
    /// Unwind user stacks with the files' DWARF CFI in the probe (config `ustack_unwind =
    /// dwarf`, the default) rather than by frame pointers only (`fp`).
    pub dwarf_unwind: bool,
    /// `-I` directories, searched for `#include`d headers (see `includes`).
    pub include_dirs: Vec<String>,
    /// The script file's directory, where `#include "..."` looks first (None for `-e`).
    pub script_dir: Option<std::path::PathBuf>,
    /// `--no-feature`: kernel features not to use even when present (names from
    /// `ferret_sys::features::DISABLABLE`).
    pub no_features: Vec<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            strlen: 64,
            max_map_keys: 4096,
            unsafe_: false,
            helper_errors: false,
            positional: vec![],
            named: vec![],
            cpid: None,
            pid: None,
            start_boot_ns: 0,
            ringbuf_size: 1 << 20,
            print_maps_on_exit: true,
            stack_mode: "bpftrace".into(),
            license: "GPL".into(),
            missing_probes: MissingProbes::Error,
            dummy_ts_map: None,
            probe_filter: None,
            dwarf_unwind: true,
            show_debug_info: true,
            str_trunc_trailer: "..".to_string(),
            cpp_demangle: true,
            include_dirs: vec![],
            script_dir: None,
            no_features: vec![],
        }
    }
}

/// A BPF map the program needs.
#[derive(Debug, Clone)]
pub struct MapSpec {
    /// `@name` for user maps; a plain name for internal ones.
    pub name: String,
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    /// Key type of user maps (`None` = a map without keys, stored under key 0).
    pub key: Option<Type>,
    pub value: Type,
}

/// Fixed indices of the internal maps in [`Object::maps`]; user maps follow.
pub const MAP_RINGBUF: usize = 0;
/// Per-CPU count of events the ring buffer had no room for.
pub const MAP_LOST: usize = 1;
/// Per-CPU count, per user map, of updates refused because the map was full.
pub const MAP_FULL: usize = 2;
/// One u64 that user space sets to 1 when tracing stops: every probe then returns at once, so
/// END and the exit-time map print see final values while the slow detach happens afterwards.
pub const MAP_STOPPED: usize = 3;
pub const FIRST_USER_MAP: usize = 4;

/// What user space does with an event record of a given id.
#[derive(Debug, Clone)]
pub enum Action {
    Printf {
        format: String,
        args: Vec<Type>,
        span: Span,
    },
    /// `print(value)`
    Print {
        ty: Type,
    },
    PrintMap {
        map: usize,
        top: u64,
        div: u64,
    },
    Clear {
        map: usize,
    },
    Zero {
        map: usize,
    },
    Exit {
        code: bool,
    },
    Time {
        format: String,
    },
    /// `system(fmt, ...)`: run the formatted command with `sh -c` and print what it wrote.
    System {
        format: String,
        args: Vec<Type>,
    },
    /// `cat(fmt, ...)`: print the contents of the file the format names.
    Cat {
        format: String,
        args: Vec<Type>,
    },
    /// `errorf` (`error`) / `warnf`: a message reported at the call's source location.
    Report {
        error: bool,
        format: String,
        args: Vec<Type>,
        span: Span,
    },
    /// `join(argv[, delim])`: `slots` NUL-terminated strings of `slot_size` bytes each; the
    /// ones before the first empty slot are printed joined by `delim`.
    Join {
        delim: String,
        slots: u32,
        slot_size: u32,
    },
    /// `-k`: a helper call at `span` failed; the record holds its i64 return code.
    HelperError {
        helper: &'static str,
        span: Span,
    },
    /// A process took its first user stack (or `usym`): the record holds its pid, its program's
    /// code range (`start_code`, `end_code`) and file (inode, device), all u64; user space
    /// records its mappings so its addresses can be symbolized after it exits.
    ProcessSeen,
    /// Not an event: the format of the `strftime()` values whose format id is this action's id.
    Strftime {
        format: String,
    },
    /// `skboutput(path, skb, len, offset)`: packets arrive through the perf buffer of map
    /// `SKB_OUTPUT` as `[u64 id][u64 boot ns][u64 offset][u64 len]` followed by the skb's first
    /// `len` bytes; user space appends each, from `offset` on, to the pcap file `path`.
    SkbOutput {
        path: String,
    },
}

/// One loadable program: a probe block compiled for one target (or several identical ones).
#[derive(Debug, Clone)]
pub struct ProgSpec {
    pub name: String,
    pub prog_type: u32,
    pub insns: Vec<Insn>,
    /// First instruction of each function (the entry, then callbacks): > 1 needs BTF func_info.
    pub func_starts: Vec<u32>,
    /// The source span of each instruction, for verifier errors.
    pub spans: Vec<Span>,
    pub targets: Vec<Target>,
    pub special: Option<Special>,
    /// Tracing programs (fentry/fexit): the kernel function they are loaded against.
    pub btf: Option<probe::BtfAttach>,
    /// Attached by putting the program in slot `.1` of the `PROG_ARRAY` map `.0` (a syscall
    /// tracepoint's program, tail-called from its block's raw_syscalls dispatcher).
    pub tail_call: Option<(usize, u32)>,
}

/// Everything the runtime needs: maps to create, programs to load and attach, event decoders.
#[derive(Debug, Clone)]
pub struct Object {
    pub maps: Vec<MapSpec>,
    pub progs: Vec<ProgSpec>,
    pub actions: Vec<Action>,
    /// Print every map when tracing ends.
    pub print_maps_on_exit: bool,
    /// License the programs are loaded under.
    pub license: String,
    /// The maps behind `kstack`/`ustack`/`usym` values, when the program uses them.
    pub stack_maps: Option<stacks::StackMaps>,
    /// The `PERF_EVENT_ARRAY` map `skboutput` writes packets to, when a probe calls it.
    pub skb_output_map: Option<usize>,
    /// The probed binaries (uprobes): their unwind tables are loaded before tracing starts, and
    /// they symbolize processes that exit before their mappings are read.
    pub probed_files: Vec<String>,
    /// Show `@file:line` after user stack frames (config `show_debug_info`).
    pub show_debug_info: bool,
    /// Demangle user symbol names (config `cpp_demangle`).
    pub cpp_demangle: bool,
    /// What marks a truncated string when it is printed.
    pub str_trunc_trailer: String,
    /// The compile's context: its script structs, which decoding its events needs (enter it
    /// with [`context::enter`] around decoding).
    pub context: std::sync::Arc<context::Context>,
}

impl Object {
    /// The script's maps (`@name`); internal maps such as the stack maps follow them.
    pub fn user_maps(&self) -> impl Iterator<Item = (usize, &MapSpec)> {
        self.maps.iter().enumerate().skip(FIRST_USER_MAP).filter(|(_, m)| m.name.starts_with('@'))
    }
    pub fn probe_count(&self) -> usize {
        self.progs.iter().flat_map(|p| &p.targets).map(Target::probe_count).sum()
    }
}

/// Stages that `-d` can print.
pub struct Compiled {
    pub ast: ast::Program,
    pub object: Object,
    /// The options in effect: the command line's, with the script's config block applied.
    pub opts: Options,
    /// Warnings to show before running (unreachable code, unused maps).
    pub warnings: Vec<Diagnostic>,
    /// The program's `getopt()` options, checked against the command line before running.
    pub named_params: Vec<named::NamedParam>,
}

/// The pipeline: text → AST → targets → typed tree → BPF object.
pub fn compile(src: &str, opts: &Options) -> Result<Compiled, Vec<Diagnostic>> {
    compile_program(ferret_syntax::parse(src)?, opts)
}

/// [`compile`] from the parsed program: AST → targets → typed tree → BPF object.
pub fn compile_program(mut ast: ast::Program, opts: &Options) -> Result<Compiled, Vec<Diagnostic>> {
    includes::check(&ast, &opts.include_dirs, opts.script_dir.as_deref())?;
    let mut opts = opts.clone();
    config::apply(&ast, &mut opts)?;
    macros::expand(&mut ast)?;
    macros::hoist_aggregate_blocks(&mut ast);
    scopes::resolve(&mut ast);
    let mut structs = vec![];
    let c_text: Vec<&str> = ast.c_definitions.iter().map(|d| d.text.as_str()).collect();
    if let Some(name) = cstruct::parse_all(&c_text.join("\n"), &mut structs) {
        let defines = |d: &&ast::CDefinition| d.text.contains(&format!("{name} {{"));
        let at = ast.c_definitions.iter().find(defines).or(ast.c_definitions.first()).map(|d| d.span);
        let msg = format!("{name} is nested too deeply (more than {} levels of types)", cstruct::MAX_NESTING);
        return Err(vec![at.map_or_else(|| Diagnostic::global(&msg), |s| Diagnostic::error(s, &msg))]);
    }
    // Script structs, the target process and --unsafe are this compile's alone.
    let ctx = context::Context::with_features(opts.pid, opts.unsafe_, opts.no_features.clone());
    let _scope = context::enter(ctx.clone());
    ktypes::set_script_structs(structs);
    substitute_positional_attach_points(&mut ast, &opts.positional);
    let (mut instances, mut warnings) = resolve_probes(&ast, opts.missing_probes)?;
    ctx.forget_elfs();
    if let Some(filter) = &opts.probe_filter {
        let re = regex::Regex::new(filter)
            .map_err(|e| vec![Diagnostic::global(format!("Invalid --probe-filter regex: {e}"))])?;
        instances.retain_mut(|(_, t)| {
            if t.kind.special.is_some() {
                return true;
            }
            if t.multi.is_empty() {
                return re.is_match(&t.name);
            }
            // A multi target keeps the functions whose own probe names match.
            let kind = t.kind.names[0];
            t.multi.retain(|f| re.is_match(&format!("{kind}:{f}")));
            !t.multi.is_empty()
        });
        if instances.iter().all(|(_, t)| t.kind.special.is_some()) {
            return Err(vec![Diagnostic::global("No probes to attach")]);
        }
    }
    probe::syscall::convert(&mut instances);
    let (maps, tables) = sema::check_program(&opts, &ast, &instances)?;
    let named_params = named::collect(&ast)?;
    let mut object = codegen::generate(&opts, &ast, &instances, &maps, &tables)?;
    warnings.extend(ctx.take_warnings().into_iter().map(Diagnostic::global_warning));
    object.context = ctx;
    warnings.extend(lints::unreachable(&ast));
    warnings.extend(lints::unused_maps(&ast, &|name| maps.contains_key(name)));
    Ok(Compiled { ast, object, opts, warnings, named_params })
}

/// `$1`..`$N` inside attach points (`interval:ms:$1`, `BEG$1`, a whole `$1`) are replaced by
/// the positional parameters' text, as bpftrace does, before the registry reads them.
fn substitute_positional_attach_points(program: &mut ast::Program, positional: &[String]) {
    for p in &mut program.probes {
        for ap in &mut p.attach_points {
            if !ap.raw.contains('$') {
                continue;
            }
            let mut out = String::new();
            let mut chars = ap.raw.chars().peekable();
            while let Some(c) = chars.next() {
                let mut digits = String::new();
                while c == '$' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                    digits.extend(chars.next());
                }
                match digits.parse::<usize>() {
                    Ok(n) if n >= 1 => out.push_str(positional.get(n - 1).map_or("", String::as_str)),
                    _ => out.push(c),
                }
            }
            ap.parts = out.split(':').map(str::to_string).collect();
            ap.raw = out;
        }
    }
}

/// Whether a probe block reads the `probe` builtin: its wildcard kprobes then need a program
/// per function (kprobe_multi serves many functions with one program, which cannot tell their
/// probe names apart), as in bpftrace.
fn uses_probe_builtin(p: &ast::Probe) -> bool {
    uses_name(p, &["probe", "__builtin_probe"])
}

/// Whether a probe block calls a function that takes verifier-typed kernel pointers: its raw
/// tracepoints then load as tp_btf programs.
fn uses_btf_pointers(p: &ast::Probe) -> bool {
    uses_name(p, &["socket_cookie", "skboutput"])
}

/// Whether any probe calls `skboutput` (the program then needs its perf-event-array map).
pub fn uses_skboutput(program: &ast::Program) -> bool {
    program.probes.iter().any(|p| uses_name(p, &["skboutput"]))
}

/// Whether a probe block names one of these builtins (as a variable or a call).
fn uses_name(p: &ast::Probe, names: &[&str]) -> bool {
    use ferret_syntax::ast::{Expr, ExprKind};
    use ferret_syntax::visit::{walk_expr, Visit};
    struct Finder<'n>(bool, &'n [&'n str]);
    impl Visit for Finder<'_> {
        fn expr(&mut self, e: &Expr) {
            if let ExprKind::Ident(n) | ExprKind::Call { name: n, .. } = &e.kind {
                self.0 |= self.1.contains(&n.as_str());
            }
            walk_expr(self, e);
        }
    }
    let mut f = Finder(false, names);
    if let Some(pred) = &p.predicate {
        f.expr(pred);
    }
    f.block(&p.body);
    f.0
}

/// What to do with an attach point that matches nothing (config `missing_probes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingProbes {
    Error,
    Warn,
    Ignore,
}

/// Expand every attach point of every probe into (probe index, target) instances. An attach
/// point that matches nothing (expands to no targets) is an error, a warning or nothing,
/// as `missing_probes` says; the warnings are returned.
pub fn resolve_probes(
    program: &ast::Program,
    missing: MissingProbes,
) -> Result<(Vec<(usize, Target)>, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut out = vec![];
    let mut diags = vec![];
    let mut warnings = vec![];
    if program.probes.is_empty() {
        diags.push(Diagnostic::global("No probes to attach"));
    }
    for (i, p) in program.probes.iter().enumerate() {
        let (before, errors) = (out.len(), diags.len());
        let mut unmatched = vec![];
        let names_probe = uses_probe_builtin(p);
        let btf_pointers = uses_btf_pointers(p);
        let mut iters = 0;
        for ap in &p.attach_points {
            // One probe is one iterator program (bpftrace's rule).
            let provider = ap.parts.first().and_then(|n| probe::find(n));
            if provider.is_some_and(|k| std::ptr::eq(k, &probe::iter::ITER)) {
                iters += 1;
                if iters > 1 {
                    diags.push(Diagnostic::error(ap.span, "iter probe only supports one attach point."));
                    continue;
                }
            }
            let expanded = match probe::expand(ap) {
                Ok(ts) if btf_pointers => ts
                    .into_iter()
                    .map(probe::rawtracepoint::as_tp_btf)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| Diagnostic::error(ap.span, e)),
                other => other,
            };
            match expanded {
                Ok(ts) if ts.is_empty() => unmatched.push(ap),
                Ok(ts) if names_probe => out.extend(probe::split_multi(ts).into_iter().map(|t| (i, t))),
                Ok(ts) => out.extend(ts.into_iter().map(|t| (i, t))),
                Err(d) => diags.push(d),
            }
        }
        // `kprobe:a, kprobe:b { }` where only `b` exists in this kernel or library build (tools
        // list alternative function names): a warning, as bpftrace 0.17 gave. Otherwise an
        // attach point that matches nothing is an error unless missing_probes says otherwise.
        let some_matched = out.len() > before;
        for ap in &unmatched {
            let (kind, rest) = ap.raw.split_once(':').unwrap_or((&ap.raw, ""));
            let kind = probe::find(kind).map_or(kind, |k| k.names[0]);
            // A kprobe's offset is not part of the function it names.
            let rest =
                if matches!(kind, "kprobe" | "kretprobe") { rest.split('+').next().unwrap_or(rest) } else { rest };
            let alternatives = some_matched && probe::find(kind).is_some_and(|k| k.alternatives);
            let msg = format!("No matches for {kind} {rest}.");
            match missing {
                MissingProbes::Error if !alternatives => diags.push(Diagnostic::error(ap.span, msg)),
                MissingProbes::Error | MissingProbes::Warn => {
                    warnings.push(Diagnostic::warning(ap.span, format!("{msg} Skipping.")))
                }
                MissingProbes::Ignore => {}
            }
        }
        // Globs that all matched nothing (`kprobe:rcu_*` once untraceable functions are left out).
        if missing == MissingProbes::Error && out.len() == before && diags.len() == errors {
            diags.push(Diagnostic::error(p.span, "Probe has no valid attach points."));
        }
    }
    if out.is_empty() && diags.is_empty() && !program.probes.is_empty() {
        diags.push(Diagnostic::global("No probes to attach"));
    }
    if diags.is_empty() {
        Ok((out, warnings))
    } else {
        Err(diags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_probe_builtin_in_a_block() {
        let uses = |src: &str| uses_probe_builtin(&ferret_syntax::parse(src).unwrap().probes[0]);
        assert!(uses("kprobe:vfs_* { @[probe] = count(); }"));
        assert!(uses("kprobe:vfs_* /probe == \"x\"/ { }"));
        assert!(uses("kprobe:vfs_* { if (1) { printf(\"%s\\n\", probe); } }"));
        assert!(!uses("kprobe:vfs_* { @[func] = count(); @probe = 1; $probe = 2; }"));
    }
}
