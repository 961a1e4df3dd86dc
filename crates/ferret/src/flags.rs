//! Command-line flags, parsed by hand to accept bpftrace's spellings (`-lv`, `-e`, `--dry-run`,
//! script arguments after the program). Arguments are bytes (`OsString`): paths and the `-c`
//! command pass through as given; program text, and values that must be text, are checked.
use ferret_output::Format;
use std::ffi::{OsStr, OsString};

/// One flag: its spellings, the name of its value (if it takes one) and its help. The help text
/// (`ferret --help`) is generated from these, so it cannot drift from what is parsed.
pub struct Spec {
    id: Id,
    /// Short and long spellings (`-e`, `--cmd`).
    pub spellings: &'static [&'static str],
    /// The value's name in the help (`PROGRAM`), `None` for a switch.
    pub value: Option<&'static str>,
    pub help: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Id {
    Program,
    List,
    Cmd,
    Pid,
    Format,
    Output,
    Buffering,
    Dump,
    Quiet,
    Verbose,
    Warnings,
    NoWarnings,
    IncludeDir,
    Include,
    Info,
    DryRun,
    DwarfPid,
    UsdtFileActivation,
    Bench,
    Test,
    HarnessMode,
    Unsafe,
    NoFeature,
    Debuginfo,
    ProbeFilter,
    MaxStrlen,
    MaxMapKeys,
    Help,
    Version,
}

/// Every flag of the tracer, in the order `--help` shows them.
pub const FLAGS: &[Spec] = &[
    Spec { id: Id::Program, spellings: &["-e"], value: Some("PROGRAM"), help: "program text to run" },
    Spec {
        id: Id::List,
        spellings: &["-l", "--list"],
        value: Some("[PATTERN|FILE]"),
        help: "list probes matching PATTERN (globs, comma-separated), the probes of a program (-e PROGRAM or FILE), or kernel types ('struct task_struct'); -lv adds arguments and type definitions",
    },
    Spec { id: Id::Cmd, spellings: &["-c", "--cmd"], value: Some("CMD"), help: "run CMD and trace until it exits; cpid is its pid" },
    Spec {
        id: Id::Pid,
        spellings: &["-p", "--pid"],
        value: Some("PID"),
        help: "trace only PID where the probe type allows; end when it exits",
    },
    Spec { id: Id::Format, spellings: &["-f", "--format"], value: Some("FORMAT"), help: "output format: text (default) or json" },
    Spec { id: Id::Output, spellings: &["-o", "--output"], value: Some("FILE"), help: "write output to FILE" },
    Spec { id: Id::Buffering, spellings: &["-B"], value: Some("MODE"), help: "output buffering: line (default), full or none" },
    Spec { id: Id::Dump, spellings: &["-d"], value: Some("STAGE"), help: "print a compiler stage and exit: ast, types, bpf" },
    Spec { id: Id::Quiet, spellings: &["-q", "--quiet"], value: None, help: "quiet: no 'Attached N probes' line" },
    Spec { id: Id::Verbose, spellings: &["-v", "--verbose"], value: None, help: "verbose: how probes attach (kprobes as fentry, kprobe_multi)" },
    Spec {
        id: Id::Warnings,
        spellings: &["-k", "--warnings"],
        value: None,
        help: "warn at run time when a helper call fails (map lookups of missing keys, probe reads), at its line",
    },
    Spec { id: Id::NoWarnings, spellings: &["--no-warnings"], value: None, help: "do not print warnings (including warnf())" },
    Spec {
        id: Id::IncludeDir,
        spellings: &["-I"],
        value: Some("DIR"),
        help: "add DIR to the #include search path (headers must exist; they are not read)",
    },
    Spec {
        id: Id::Include,
        spellings: &["--include"],
        value: Some("FILE"),
        help: "#include FILE first (it must exist unless a kernel or system header)",
    },
    Spec { id: Id::Info, spellings: &["--info"], value: None, help: "print what this kernel supports" },
    Spec { id: Id::DryRun, spellings: &["--dry-run"], value: None, help: "compile and load the programs, attach nothing" },
    Spec {
        id: Id::DwarfPid,
        spellings: &["--dwarf-pid"],
        value: Some("PID"),
        help: "load PID's unwind tables for dw_ustack up front (any process is unwound anyway)",
    },
    Spec {
        id: Id::UsdtFileActivation,
        spellings: &["--usdt-file-activation"],
        value: None,
        help: "accepted: USDT semaphores are always raised in every process mapping the file",
    },
    Spec {
        id: Id::Bench,
        spellings: &["--bench"],
        value: None,
        help: "run the bench:NAME blocks (no probes attached) and print each one's time per run",
    },
    Spec { id: Id::Test, spellings: &["--test"], value: None, help: "run the test:NAME blocks (no probes attached) and report which pass" },
    Spec { id: Id::HarnessMode, spellings: &["--mode"], value: Some("MODE"), help: "bench or test, as --bench / --test" },
    Spec { id: Id::Unsafe, spellings: &["--unsafe"], value: None, help: "allow unsafe functions (system, signal, cat of any file, write_user)" },
    Spec {
        id: Id::NoFeature,
        spellings: &["--no-feature"],
        value: Some("F[,F]"),
        help: "do not use these kernel features even when present: kprobe_multi (wildcard kprobes then attach one kprobe per function), kprobe_session, uprobe_multi",
    },
    Spec {
        id: Id::Debuginfo,
        spellings: &["--debuginfo"],
        value: Some("DIR[:DIR]"),
        help: "add directories to the debug info search path",
    },
    Spec {
        id: Id::ProbeFilter,
        spellings: &["--probe-filter"],
        value: Some("RE"),
        help: "attach only probes whose names match the regex (BEGIN/END always run)",
    },
    Spec {
        id: Id::MaxStrlen,
        spellings: &["--max-strlen"],
        value: Some("N"),
        help: "characters kept of a string; longer ones print with a .. trailer (default 64; env BPFTRACE_MAX_STRLEN)",
    },
    Spec {
        id: Id::MaxMapKeys,
        spellings: &["--max-map-keys"],
        value: Some("N"),
        help: "entries per map (default 4096; env BPFTRACE_MAX_MAP_KEYS)",
    },
    Spec { id: Id::Help, spellings: &["-h", "--help"], value: None, help: "this help" },
    Spec { id: Id::Version, spellings: &["-V", "--version"], value: None, help: "version" },
];

fn spec(spelling: &str) -> Option<&'static Spec> {
    FLAGS.iter().find(|f| f.spellings.contains(&spelling))
}

/// `ferret --help`: usage, then every flag from [`FLAGS`], then the subcommands.
pub fn usage(subcommands: &[(&str, &str)]) -> String {
    const WIDTH: usize = 100;
    const COLUMN: usize = 24;
    let mut out = String::from(
        "USAGE:
    ferret [options] filename
    ferret [options] - <stdin input>
    ferret [options] -e 'program'
    ferret COMMAND [options]
    use -- after filename/-e 'program' for named program options (--name=value, read with getopt)

OPTIONS:
",
    );
    for f in FLAGS {
        let mut left = format!("    {}", f.spellings.join(", "));
        if let Some(v) = f.value {
            left.push(' ');
            left.push_str(v);
        }
        let mut line = left.clone();
        if left.len() + 1 >= COLUMN {
            out.push_str(&left);
            out.push('\n');
            line = String::new();
        }
        for word in f.help.split(' ') {
            // A line already past the column wraps before a word that would pass the width.
            if line.len() > COLUMN && line.len() + word.len() > WIDTH {
                out.push_str(line.trim_end());
                out.push('\n');
                line = String::new();
            }
            if line.len() < COLUMN {
                line.push_str(&" ".repeat(COLUMN - line.len()));
            } else {
                line.push(' ');
            }
            line.push_str(word);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if !subcommands.is_empty() {
        out.push_str("\nCOMMANDS (ferret COMMAND --help for each):\n");
        for (name, about) in subcommands {
            out.push_str(&format!("    {name:<20}{about}\n"));
        }
    }
    out.push_str(
        "
ENVIRONMENT:
    BPFTRACE_MAX_STRLEN, BPFTRACE_STRLEN, BPFTRACE_MAX_MAP_KEYS, BPFTRACE_MAP_KEYS_MAX

EXAMPLES:
    ferret -l '*sleep*'
    ferret -e 'tracepoint:syscalls:sys_enter_openat { printf(\"%s %s\\n\", comm, str(args.filename)); }'
    ferret -e 'tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }'
",
    );
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dump {
    Ast,
    Types,
    Bpf,
}

/// `-B`: when output reaches the terminal or file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Buffering {
    Line,
    Full,
    None,
}

#[derive(Debug)]
pub enum Mode {
    Help,
    Version,
    Info,
    /// `-l`: probes matching `search`, or those of `program` (name, text) when one is given.
    List {
        search: String,
        program: Option<(String, String)>,
    },
    Program {
        name: String,
        text: String,
    },
}

#[derive(Debug)]
pub struct Flags {
    pub mode: Mode,
    pub verbose: bool,
    pub quiet: bool,
    pub unsafe_: bool,
    pub dry_run: bool,
    /// `-f` as given: checked after compiling, as bpftrace does (see [`output_format`]).
    pub format: String,
    pub output: Option<OsString>,
    pub buffering: Buffering,
    pub cmd: Option<OsString>,
    /// `-p` as given: checked by [`parse_pid`].
    pub pid: Option<String>,
    pub dump: Option<Dump>,
    pub strlen: u32,
    pub max_map_keys: u32,
    pub positional: Vec<String>,
    /// `--name[=value]` after `--`, without the dashes.
    pub named: Vec<String>,
    /// `--no-warnings`.
    pub no_warnings: bool,
    /// `-k`: bpftrace's runtime helper-error warnings.
    pub helper_warnings: bool,
    pub include_dirs: Vec<String>,
    pub include_files: Vec<String>,
    /// `--debuginfo DIR[:DIR...]` (repeatable): where separate debug files are searched first.
    pub debuginfo: Vec<String>,
    /// `--probe-filter REGEX`: attach only the probes whose names match (BEGIN/END always).
    pub probe_filter: Option<String>,
    /// `--dwarf-pid PID`: load this process's unwind tables up front (ferret also finds any
    /// process's tables on demand, so this only saves its first stacks).
    pub dwarf_pids: Vec<u32>,
    /// `--bench` / `--test`: run those blocks instead of attaching probes.
    pub harness: Option<ferret_runtime::harness::Mode>,
    /// `--no-feature a,b`: kernel features not to use even when present (checked names).
    pub no_features: Vec<String>,
}

/// A command-line problem: `usage` says whether the usage text follows the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagError {
    pub msg: String,
    pub usage: bool,
    /// `msg` is a rendered diagnostic (`stdin:1:9-10: ERROR: ...` and its source line), printed
    /// as it is.
    pub rendered: bool,
}

impl FlagError {
    fn usage(msg: impl Into<String>) -> FlagError {
        FlagError { msg: msg.into(), usage: true, rendered: false }
    }
    fn plain(msg: impl Into<String>) -> FlagError {
        FlagError { msg: msg.into(), usage: false, rendered: false }
    }
}

impl From<String> for FlagError {
    fn from(msg: String) -> FlagError {
        FlagError::usage(msg)
    }
}

/// An argument that must be text (a number, a name, a pattern): invalid UTF-8 there is an error
/// naming where it was.
fn text(arg: &OsStr, what: &str) -> Result<String, FlagError> {
    arg.to_str()
        .map(str::to_string)
        .ok_or_else(|| FlagError::plain(format!("{what} is not valid UTF-8: {}", arg.to_string_lossy().escape_debug())))
}

/// Program text from bytes, or its invalid-UTF-8 error rendered at the bad byte.
fn program_text(name: &str, bytes: Vec<u8>) -> Result<String, FlagError> {
    ferret_syntax::program_text(bytes).map_err(|(text, d)| FlagError {
        msg: ferret_syntax::Source { name, text: &text }.render(&d),
        usage: false,
        rendered: true,
    })
}

/// A script file's bytes, with bpftrace's message when it cannot be read.
fn read_script(path: &OsStr) -> Result<Vec<u8>, FlagError> {
    std::fs::read(path).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "No such file or directory".to_string(),
            _ => e.to_string(),
        };
        FlagError::usage(format!("failed to open file '{}': {why}", path.to_string_lossy()))
    })
}

/// `-f`'s output format, or bpftrace's message for an unknown one.
pub fn output_format(name: &str) -> Result<Format, String> {
    match name {
        "" | "text" => Ok(Format::Text),
        "json" => Ok(Format::Json),
        other => Err(format!("Invalid output format \"{other}\"\nValid formats: 'text', 'json'")),
    }
}

/// `-p`'s process id, with bpftrace's messages (`Failed to parse pid: invalid integer: a1`).
pub fn parse_pid(s: &str) -> Result<i32, String> {
    use ferret_lang::named::{parse_uint, IntError};
    let pid = parse_uint(s).map_err(|e| match e {
        IntError::Format(why) => format!("Failed to parse pid: {why}: {s}"),
        IntError::Overflow => format!("Failed to parse pid: overflow error, maximum value is {}: {s}", u64::MAX),
    })?;
    // The nominal maximum pid on 64-bit systems (PID_MAX_LIMIT).
    if pid > 0x400000 {
        return Err(format!("Pid out of range: {pid}"));
    }
    Ok(pid as i32)
}

fn env_u32(names: &[&str]) -> Option<u32> {
    names.iter().find_map(|n| std::env::var(n).ok().and_then(|v| v.parse().ok()))
}

/// One argument starting with `-` as the flags it spells, getopt's way: `--name` or
/// `--name=VALUE`; `-x`, `-xVALUE` (a flag that takes a value takes the rest of the argument);
/// or switches run together (`-qv`, `-lv`; `-l`'s pattern is always the next argument). Each
/// comes with its spelling and a value given in the same argument.
fn split_flag(arg: &OsStr) -> Result<Vec<(&'static Spec, String, Option<OsString>)>, FlagError> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = arg.as_bytes();
    let lossy = || String::from_utf8_lossy(bytes).into_owned();
    let unknown = |a: String| FlagError::usage(format!("unknown option '{a}'"));
    if bytes.starts_with(b"--") {
        // A flag's name is ASCII; only what follows `=` may be any bytes.
        let (name, inline) = match bytes.iter().position(|&b| b == b'=') {
            Some(eq) => (&bytes[..eq], Some(OsStr::from_bytes(&bytes[eq + 1..]).to_os_string())),
            None => (bytes, None),
        };
        let name = String::from_utf8_lossy(name).into_owned();
        let spec = spec(&name).ok_or_else(|| unknown(name.clone()))?;
        return Ok(vec![(spec, name, inline)]);
    }
    let mut out = vec![];
    let mut at = 1;
    while at < bytes.len() {
        let c = bytes[at];
        let spelled = format!("-{}", c as char);
        let spec = match c.is_ascii() {
            true => spec(&spelled).ok_or_else(|| unknown(lossy()))?,
            false => return Err(unknown(lossy())),
        };
        at += 1;
        if spec.value.is_some() && spec.id != Id::List && at < bytes.len() {
            out.push((spec, spelled, Some(OsStr::from_bytes(&bytes[at..]).to_os_string())));
            return Ok(out);
        }
        out.push((spec, spelled, None));
    }
    Ok(out)
}

pub fn parse(args: &[OsString]) -> Result<Flags, FlagError> {
    let mut f = Flags {
        mode: Mode::Help,
        verbose: false,
        quiet: false,
        unsafe_: false,
        dry_run: false,
        format: String::new(),
        output: None,
        buffering: Buffering::Line,
        cmd: None,
        pid: None,
        dump: None,
        strlen: env_u32(&["BPFTRACE_MAX_STRLEN", "BPFTRACE_STRLEN"]).unwrap_or(64),
        max_map_keys: env_u32(&["BPFTRACE_MAX_MAP_KEYS", "BPFTRACE_MAP_KEYS_MAX"]).unwrap_or(4096),
        positional: vec![],
        named: vec![],
        no_warnings: false,
        helper_warnings: false,
        include_dirs: vec![],
        include_files: vec![],
        debuginfo: vec![],
        probe_filter: None,
        harness: None,
        dwarf_pids: vec![],
        no_features: vec![],
    };
    let mut program: Option<String> = None;
    let mut file: Option<OsString> = None;
    let mut list: Option<String> = None;
    let mut i = 0;
    // A flag's value: given in the same argument (`--name=VALUE`, `-xVALUE`), else the next one.
    let value_os = |i: &mut usize, inline: &mut Option<OsString>, flag: &str| -> Result<OsString, FlagError> {
        if let Some(v) = inline.take() {
            return Ok(v);
        }
        *i += 1;
        args.get(*i).cloned().ok_or_else(|| FlagError::usage(format!("option '{flag}' needs a value")))
    };
    let value = |i: &mut usize, inline: &mut Option<OsString>, flag: &str| -> Result<String, FlagError> {
        text(&value_os(i, inline, flag)?, &format!("the value of {flag}"))
    };
    while i < args.len() {
        use std::os::unix::ffi::OsStrExt;
        let bytes = args[i].as_bytes();
        if bytes == b"--" {
            // What follows is program arguments, and named program options (`--name=value`).
            for rest in &args[i + 1..] {
                let rest = text(rest, "a program argument after --")?;
                match rest.strip_prefix("--") {
                    Some(named) => f.named.push(named.to_string()),
                    None => f.positional.push(rest),
                }
            }
            break;
        }
        if bytes.len() < 2 || !bytes.starts_with(b"-") {
            if bytes == b"-" && program.is_none() && file.is_none() {
                file = Some("-".into());
            } else if program.is_none() && file.is_none() && list.is_none() {
                file = Some(args[i].clone());
            } else {
                f.positional.push(text(&args[i], &format!("positional parameter ${}", f.positional.len() + 1))?);
            }
            i += 1;
            continue;
        }
        for (spec, spelled, inline) in split_flag(&args[i])? {
            let mut inline = inline;
            let a = spelled.as_str();
            if (spec.value.is_none() || spec.id == Id::List) && inline.is_some() {
                return Err(format!("option '{a}' doesn't allow an argument").into());
            }
            match spec.id {
                Id::Help => {
                    f.mode = Mode::Help;
                    return Ok(f);
                }
                Id::Version => {
                    f.mode = Mode::Version;
                    return Ok(f);
                }
                Id::Info => {
                    f.mode = Mode::Info;
                    return Ok(f);
                }
                Id::NoWarnings => {
                    if f.helper_warnings {
                        return Err(FlagError::plain("USAGE: -k, --warnings conflicts with --no-warnings"));
                    }
                    f.no_warnings = true;
                }
                Id::Warnings => {
                    if f.helper_warnings {
                        return Err(FlagError::plain(
                            "USAGE: -kk has been deprecated. Use a single -k for runtime warnings for errors in map lookups and probe reads.",
                        ));
                    }
                    if f.no_warnings {
                        return Err(FlagError::plain("USAGE: -k, --warnings conflicts with --no-warnings"));
                    }
                    f.helper_warnings = true;
                }
                Id::Buffering => {
                    f.buffering = match value(&mut i, &mut inline, a)?.as_str() {
                        "line" => Buffering::Line,
                        "full" => Buffering::Full,
                        "none" => Buffering::None,
                        _ => return Err(FlagError::plain("USAGE: -B must be either 'line', 'full', or 'none'.")),
                    }
                }
                Id::IncludeDir => f.include_dirs.push(value(&mut i, &mut inline, a)?),
                Id::Include => f.include_files.push(value(&mut i, &mut inline, a)?),
                Id::Program => {
                    use std::os::unix::ffi::OsStringExt;
                    program = Some(program_text("stdin", value_os(&mut i, &mut inline, a)?.into_vec())?)
                }
                Id::List => {
                    // The pattern is optional: the next argument, unless it is a flag.
                    let pat = args.get(i + 1).filter(|p| !p.as_bytes().starts_with(b"-"));
                    let pat = match pat {
                        Some(p) => {
                            i += 1;
                            text(p, "the -l pattern")?
                        }
                        None => String::new(),
                    };
                    list = Some(pat);
                }
                Id::Verbose => f.verbose = true,
                Id::Quiet => f.quiet = true,
                Id::Unsafe => f.unsafe_ = true,
                Id::DryRun => f.dry_run = true,
                // USDT semaphores are raised by the kernel (the uprobe's reference counter) in every
                // process that maps the file, running or started later: file activation is always on.
                Id::UsdtFileActivation => {}
                Id::DwarfPid => {
                    let v = value(&mut i, &mut inline, a)?;
                    f.dwarf_pids.push(v.parse().map_err(|_| FlagError::usage(format!("invalid --dwarf-pid '{v}'")))?);
                }
                Id::Bench => f.harness = Some(ferret_runtime::harness::Mode::Bench),
                Id::Test => f.harness = Some(ferret_runtime::harness::Mode::Test),
                Id::HarnessMode => {
                    f.harness = Some(match value(&mut i, &mut inline, a)?.as_str() {
                        "bench" => ferret_runtime::harness::Mode::Bench,
                        "test" => ferret_runtime::harness::Mode::Test,
                        other => {
                            return Err(FlagError::usage(format!("USAGE: unknown mode '{other}' (use bench or test)")))
                        }
                    })
                }
                Id::Cmd => f.cmd = Some(value_os(&mut i, &mut inline, a)?),
                Id::Pid => f.pid = Some(value(&mut i, &mut inline, a)?),
                Id::Format => f.format = value(&mut i, &mut inline, a)?,
                Id::Output => f.output = Some(value_os(&mut i, &mut inline, a)?),
                Id::Dump => {
                    f.dump = Some(match value(&mut i, &mut inline, a)?.as_str() {
                        "ast" => Dump::Ast,
                        "types" => Dump::Types,
                        "bpf" | "codegen" => Dump::Bpf,
                        other => return Err(format!("unknown stage '{other}' for -d: use ast, types or bpf").into()),
                    })
                }
                Id::NoFeature => {
                    for name in value(&mut i, &mut inline, a)?.split(',') {
                        if !ferret_sys::features::DISABLABLE.contains(&name) {
                            return Err(FlagError::plain(format!(
                                "USAGE: --no-feature can only have values '{}'.",
                                ferret_sys::features::DISABLABLE.join(",")
                            )));
                        }
                        f.no_features.push(name.to_string());
                    }
                }
                Id::Debuginfo => f.debuginfo.push(value(&mut i, &mut inline, a)?),
                Id::ProbeFilter => f.probe_filter = Some(value(&mut i, &mut inline, a)?),
                Id::MaxStrlen => {
                    let v = value(&mut i, &mut inline, a)?;
                    f.strlen = v.parse().map_err(|_| FlagError::usage(format!("invalid --max-strlen '{v}'")))?;
                }
                Id::MaxMapKeys => {
                    let v = value(&mut i, &mut inline, a)?;
                    f.max_map_keys =
                        v.parse().map_err(|_| FlagError::usage(format!("invalid --max-map-keys '{v}'")))?;
                }
            }
        }
        i += 1;
    }
    // No upper bound, as in bpftrace: a probe whose strings do not fit the BPF stack says so.
    if f.strlen < 1 {
        return Err(FlagError::plain(format!("max-strlen must be at least 1, got {}", f.strlen)));
    }
    if f.cmd.is_some() && f.pid.is_some() {
        return Err(FlagError::usage("USAGE: Cannot use both -c and -p."));
    }
    if let Some(mut search) = list {
        // `-l -v PATTERN`: the pattern came after other flags.
        if search.is_empty() && program.is_none() && !f.positional.is_empty() {
            search = f.positional.remove(0);
        }
        f.mode = list_mode(search, program)?;
        return Ok(f);
    }
    f.mode = match (program, file) {
        (Some(text), _) => Mode::Program { name: "stdin".into(), text },
        (None, Some(path)) if path == "-" => {
            let mut bytes = vec![];
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
                .map_err(|e| FlagError::plain(format!("reading stdin: {e}")))?;
            Mode::Program { name: "stdin".into(), text: program_text("stdin", bytes)? }
        }
        (None, Some(path)) => {
            let bytes = read_script(&path)?;
            let name = path.to_string_lossy().into_owned();
            Mode::Program { text: program_text(&name, bytes)?, name }
        }
        (None, None) => Mode::Help,
    };
    Ok(f)
}

/// `-l` with a program (`-e`, or a search naming an existing file) lists that program's
/// probes; otherwise the search is a pattern (`*` alone meaning everything).
fn list_mode(search: String, program: Option<String>) -> Result<Mode, FlagError> {
    if let Some(text) = program {
        return Ok(Mode::List { search, program: Some(("stdin".into(), text)) });
    }
    if !search.is_empty() && std::path::Path::new(&search).is_file() {
        let text = program_text(&search, read_script(OsStr::new(&search))?)?;
        return Ok(Mode::List { program: Some((search.clone(), text)), search });
    }
    let search = if search == "*" { String::new() } else { search };
    Ok(Mode::List { search, program: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Flags, FlagError> {
        parse(&args.iter().map(OsString::from).collect::<Vec<_>>())
    }

    #[test]
    fn long_options_take_equals_values_until_double_dash() {
        let f = p(&["--max-strlen=16", "-e", "BEGIN {}", "--", "--x=5"]).unwrap();
        assert_eq!(f.strlen, 16);
        assert_eq!(f.named, vec!["x=5".to_string()]);
    }

    #[test]
    fn no_feature_takes_bpftraces_names() {
        let f = p(&["--no-feature", "kprobe_multi,uprobe_multi", "-e", "BEGIN {}"]).unwrap();
        assert_eq!(f.no_features, vec!["kprobe_multi", "uprobe_multi"]);
        let e = p(&["--no-feature", "kprobe_multi,fentry", "-e", "BEGIN {}"]).unwrap_err();
        assert_eq!(e.msg, "USAGE: --no-feature can only have values 'kprobe_multi,kprobe_session,uprobe_multi'.");
        assert!(!e.usage);
    }

    #[test]
    fn program_and_positional_args() {
        let f = p(&["-e", "BEGIN {}", "a", "2"]).unwrap();
        assert!(matches!(f.mode, Mode::Program { ref name, .. } if name == "stdin"));
        assert_eq!(f.positional, vec!["a", "2"]);
    }

    #[test]
    fn rejects_unknown_flags() {
        assert!(p(&["-idonotexist"]).unwrap_err().msg.contains("unknown option"));
    }

    #[test]
    fn list_with_verbose() {
        let f = p(&["-lv", "t:sched:*"]).unwrap();
        assert!(f.verbose);
        assert!(matches!(f.mode, Mode::List { ref search, program: None } if search == "t:sched:*"));
    }

    #[test]
    fn list_a_program_or_a_file() {
        let f = p(&["-l", "-e", "BEGIN {}"]).unwrap();
        assert!(matches!(f.mode, Mode::List { program: Some((_, ref t)), .. } if t == "BEGIN {}"));
        let f = p(&["-l", "Cargo.toml"]).unwrap();
        assert!(matches!(f.mode, Mode::List { program: Some((ref n, _)), .. } if n == "Cargo.toml"));
        let f = p(&["-l", "-v", "kprobe:*"]).unwrap();
        assert!(f.verbose);
        assert!(matches!(f.mode, Mode::List { ref search, .. } if search == "kprobe:*"));
        let f = p(&["-l", "*"]).unwrap();
        assert!(matches!(f.mode, Mode::List { ref search, .. } if search.is_empty()));
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let e = p(&["non_existent_file.bt"]).unwrap_err();
        assert_eq!(e.msg, "failed to open file 'non_existent_file.bt': No such file or directory");
    }

    #[test]
    fn named_options_after_double_dash() {
        let f = p(&["-e", "BEGIN {}", "pos1", "--", "--aa=20", "pos2", "--dd"]).unwrap();
        assert_eq!(f.positional, vec!["pos1", "pos2"]);
        assert_eq!(f.named, vec!["aa=20", "dd"]);
    }

    #[test]
    fn getopt_spellings_clusters_and_attached_values() {
        let f = p(&["-qv", "-e", "BEGIN {}"]).unwrap();
        assert!(f.quiet && f.verbose);
        let f = p(&["-eBEGIN {}", "-ofile", "-Bnone"]).unwrap();
        assert!(matches!(f.mode, Mode::Program { ref text, .. } if text == "BEGIN {}"));
        assert_eq!(f.output.as_deref(), Some(OsStr::new("file")));
        assert_eq!(f.buffering, Buffering::None);
        let f = p(&["-vl", "t:sched:*"]).unwrap();
        assert!(f.verbose);
        assert!(matches!(f.mode, Mode::List { ref search, .. } if search == "t:sched:*"));
        assert!(p(&["-kk", "-e", "BEGIN {}"]).unwrap_err().msg.contains("-kk has been deprecated"));
        assert_eq!(p(&["--quiet=1"]).unwrap_err().msg, "option '--quiet' doesn't allow an argument");
        assert_eq!(p(&["-qz"]).unwrap_err().msg, "unknown option '-qz'");
        assert_eq!(p(&["-e"]).unwrap_err().msg, "option '-e' needs a value");
    }

    #[test]
    fn the_help_is_generated_from_every_flag() {
        let help = usage(&[("info", "what this kernel supports")]);
        for f in FLAGS {
            for s in f.spellings {
                assert!(help.contains(s), "{s} is not in the help");
            }
            assert!(help.contains(f.help.split(' ').next().unwrap_or_default()));
        }
        assert!(help.contains("    info "));
        // Each flag is declared once.
        for (i, f) in FLAGS.iter().enumerate() {
            assert!(FLAGS[i + 1..]
                .iter()
                .all(|g| g.id != f.id && g.spellings.iter().all(|s| !f.spellings.contains(s))));
        }
    }

    #[test]
    fn pid_messages() {
        assert_eq!(parse_pid("a1111").unwrap_err(), "Failed to parse pid: invalid integer: a1111");
        assert_eq!(parse_pid("111a1").unwrap_err(), "Failed to parse pid: invalid trailing bytes: 111a1");
        assert_eq!(parse_pid("5000000").unwrap_err(), "Pid out of range: 5000000");
        assert_eq!(parse_pid("42"), Ok(42));
    }

    #[test]
    fn warning_flags_conflict() {
        assert!(!p(&["--no-warnings", "-k", "-e", "BEGIN {}"]).unwrap_err().usage);
        assert!(p(&["-B", "none", "--include", "errno.h", "-I", "/tmp", "-e", "BEGIN {}"]).is_ok());
        assert!(output_format("jsonx").unwrap_err().starts_with("Invalid output format \"jsonx\"\n"));
    }
}
