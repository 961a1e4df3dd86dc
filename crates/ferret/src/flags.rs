//! Command-line flags, parsed by hand to accept bpftrace's spellings (`-lv`, `-e`, `--dry-run`,
//! script arguments after the program).
use ferret_runtime::out::Format;

pub const USAGE: &str = "\
USAGE:
    ferret [options] filename
    ferret [options] - <stdin input>
    ferret [options] -e 'program'

OPTIONS:
    -e PROGRAM         program text to run
    -l [PATTERN|FILE]  list probes matching PATTERN (globs, comma-separated), the probes of a program
                       (-e PROGRAM or FILE), or kernel types ('struct task_struct'); -lv adds
                       arguments and type definitions
    -c CMD             run CMD and trace until it exits; cpid is its pid
    -p PID             trace only PID where the probe type allows; end when it exits
    -f FORMAT          output format: text (default) or json
    -o FILE            write output to FILE
    -d STAGE           print a compiler stage and exit: ast, types, bpf
    -q                 quiet: no 'Attached N probes' line
    -v                 verbose
    --dry-run          compile and load the programs, attach nothing
    --unsafe           allow unsafe functions (system, signal, cat)
    --max-strlen N     bytes read for a string, NUL included (default 64; env BPFTRACE_MAX_STRLEN)
    --max-map-keys N   entries per map (default 4096; env BPFTRACE_MAX_MAP_KEYS)
    -h, --help         this help
    -V, --version      version

ENVIRONMENT:
    BPFTRACE_MAX_STRLEN, BPFTRACE_STRLEN, BPFTRACE_MAX_MAP_KEYS, BPFTRACE_MAP_KEYS_MAX

EXAMPLES:
    ferret -l '*sleep*'
    ferret -e 'tracepoint:syscalls:sys_enter_openat { printf(\"%s %s\\n\", comm, str(args.filename)); }'
    ferret -e 'tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }'
";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dump {
    Ast,
    Types,
    Bpf,
}

#[derive(Debug)]
pub enum Mode {
    Help,
    Version,
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
    pub format: Format,
    pub output: Option<String>,
    pub cmd: Option<String>,
    pub pid: Option<i32>,
    pub dump: Option<Dump>,
    pub strlen: u32,
    pub max_map_keys: u32,
    pub positional: Vec<String>,
}

fn env_u32(names: &[&str]) -> Option<u32> {
    names.iter().find_map(|n| std::env::var(n).ok().and_then(|v| v.parse().ok()))
}

pub fn parse(args: &[String]) -> Result<Flags, String> {
    let mut f = Flags {
        mode: Mode::Help,
        verbose: false,
        quiet: false,
        unsafe_: false,
        dry_run: false,
        format: Format::Text,
        output: None,
        cmd: None,
        pid: None,
        dump: None,
        strlen: env_u32(&["BPFTRACE_MAX_STRLEN", "BPFTRACE_STRLEN"]).unwrap_or(64),
        max_map_keys: env_u32(&["BPFTRACE_MAX_MAP_KEYS", "BPFTRACE_MAP_KEYS_MAX"]).unwrap_or(4096),
        positional: vec![],
    };
    let mut program: Option<String> = None;
    let mut file: Option<String> = None;
    let mut list: Option<String> = None;
    let mut i = 0;
    let value = |i: &mut usize, flag: &str| -> Result<String, String> {
        *i += 1;
        args.get(*i).cloned().ok_or_else(|| format!("option '{flag}' needs a value"))
    };
    while i < args.len() {
        let a = args[i].as_str();
        match a {
            "-h" | "--help" => {
                f.mode = Mode::Help;
                return Ok(f);
            }
            "-V" | "--version" => {
                f.mode = Mode::Version;
                return Ok(f);
            }
            "-e" => program = Some(value(&mut i, a)?),
            "-l" | "-lv" | "--list" => {
                if a == "-lv" {
                    f.verbose = true;
                }
                let pat = args.get(i + 1).filter(|p| !p.starts_with('-')).cloned();
                if pat.is_some() {
                    i += 1;
                }
                list = Some(pat.unwrap_or_default());
            }
            "-v" | "--verbose" => f.verbose = true,
            "-q" | "--quiet" => f.quiet = true,
            "--unsafe" => f.unsafe_ = true,
            "--dry-run" => f.dry_run = true,
            "-c" | "--cmd" => f.cmd = Some(value(&mut i, a)?),
            "-p" | "--pid" => {
                let v = value(&mut i, a)?;
                f.pid = Some(v.parse().map_err(|_| format!("invalid pid '{v}'"))?);
            }
            "-f" | "--format" => {
                f.format = match value(&mut i, a)?.as_str() {
                    "text" => Format::Text,
                    "json" => Format::Json,
                    other => return Err(format!("Invalid output format \"{other}\"; valid formats: text, json")),
                }
            }
            "-o" | "--output" => f.output = Some(value(&mut i, a)?),
            "-d" => {
                f.dump = Some(match value(&mut i, a)?.as_str() {
                    "ast" => Dump::Ast,
                    "types" => Dump::Types,
                    "bpf" | "codegen" => Dump::Bpf,
                    other => return Err(format!("unknown stage '{other}' for -d: use ast, types or bpf")),
                })
            }
            "--max-strlen" => {
                let v = value(&mut i, a)?;
                f.strlen = v.parse().map_err(|_| format!("invalid --max-strlen '{v}'"))?;
            }
            "--max-map-keys" => {
                let v = value(&mut i, a)?;
                f.max_map_keys = v.parse().map_err(|_| format!("invalid --max-map-keys '{v}'"))?;
            }
            "--" => {
                f.positional.extend(args[i + 1..].iter().cloned());
                break;
            }
            "-" if program.is_none() && file.is_none() => file = Some("-".into()),
            _ if a.starts_with('-') && a.len() > 1 => return Err(format!("unknown option '{a}'")),
            _ if program.is_none() && file.is_none() && list.is_none() => file = Some(a.to_string()),
            _ => f.positional.push(a.to_string()),
        }
        i += 1;
    }
    if !(8..=1024).contains(&f.strlen) {
        return Err(format!("max-strlen must be between 8 and 1024, got {}", f.strlen));
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
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .map_err(|e| format!("reading stdin: {e}"))?;
            Mode::Program { name: "stdin".into(), text }
        }
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                let why = match e.kind() {
                    std::io::ErrorKind::NotFound => "No such file or directory".to_string(),
                    _ => e.to_string(),
                };
                format!("failed to open file '{path}': {why}")
            })?;
            Mode::Program { name: path, text }
        }
        (None, None) => Mode::Help,
    };
    Ok(f)
}

/// `-l` with a program (`-e`, or a search naming an existing file) lists that program's
/// probes; otherwise the search is a pattern (`*` alone meaning everything).
fn list_mode(search: String, program: Option<String>) -> Result<Mode, String> {
    if let Some(text) = program {
        return Ok(Mode::List { search, program: Some(("stdin".into(), text)) });
    }
    if !search.is_empty() && std::path::Path::new(&search).is_file() {
        let text = std::fs::read_to_string(&search).map_err(|e| format!("failed to open file '{search}': {e}"))?;
        return Ok(Mode::List { program: Some((search.clone(), text)), search });
    }
    let search = if search == "*" { String::new() } else { search };
    Ok(Mode::List { search, program: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Flags, String> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn program_and_positional_args() {
        let f = p(&["-e", "BEGIN {}", "a", "2"]).unwrap();
        assert!(matches!(f.mode, Mode::Program { ref name, .. } if name == "stdin"));
        assert_eq!(f.positional, vec!["a", "2"]);
    }

    #[test]
    fn rejects_unknown_flags() {
        assert!(p(&["-idonotexist"]).unwrap_err().contains("unknown option"));
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
        assert_eq!(e, "failed to open file 'non_existent_file.bt': No such file or directory");
    }
}
