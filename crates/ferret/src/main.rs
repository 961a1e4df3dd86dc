//! The `ferret` binary: flags → compile → load/attach → run → exit code.
mod flags;

use ferret_lang::Options;
use ferret_runtime::out::Out;
use ferret_runtime::{RunOpts, RuntimeError, Session};
use ferret_syntax::Source;
use flags::{Dump, Flags, Mode};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let f = match flags::parse(&args) {
        Ok(f) => f,
        Err(msg) => {
            eprintln!("ERROR: {msg}");
            eprint!("{}", flags::USAGE);
            return ExitCode::from(1);
        }
    };
    ExitCode::from(run(f) as u8)
}

fn run(f: Flags) -> i32 {
    match &f.mode {
        Mode::Help => {
            print!("{}", flags::USAGE);
            return 0;
        }
        Mode::Version => {
            println!("ferret v{}", env!("CARGO_PKG_VERSION"));
            return 0;
        }
        Mode::List { search, program } => return list(search, program.as_ref(), f.verbose),
        Mode::Program { .. } => {}
    }
    let Mode::Program { name, text } = &f.mode else { return 1 };
    let src = Source { name, text };

    let mut child = None;
    if let Some(cmd) = &f.cmd {
        match ferret_runtime::child::Child::spawn_held(cmd) {
            Ok(c) => child = Some(c),
            Err(e) => {
                eprintln!("ERROR: {e}");
                return 1;
            }
        }
    }
    let opts = Options {
        strlen: f.strlen,
        max_map_keys: f.max_map_keys,
        unsafe_: f.unsafe_,
        positional: f.positional.clone(),
        cpid: child.as_ref().map(|c| c.pid as u32),
        start_boot_ns: boot_ns(),
        ..Options::default()
    };
    let compiled = match ferret_lang::compile(text, &opts) {
        Ok(c) => {
            eprint!("{}", src.render_all(&c.warnings));
            c
        }
        Err(diags) => {
            eprint!("{}", src.render_all(&diags));
            return 1;
        }
    };
    match f.dump {
        Some(Dump::Ast) => {
            print!("{}", ferret_syntax::dump(&compiled.ast));
            return 0;
        }
        Some(Dump::Bpf) => {
            for p in &compiled.object.progs {
                println!("{} ({} insns):", p.targets[0].name, p.insns.len());
                print!("{}", ferret_bpf::disasm::program(&p.insns));
            }
            return 0;
        }
        Some(Dump::Types) => {
            for (i, m) in compiled.object.user_maps() {
                let key = m.key.as_ref().map_or(String::new(), |k| format!("[{k}]"));
                println!("map {i}: {}{key}: {}", m.name, m.value);
            }
            return 0;
        }
        None => {}
    }

    let w: Box<dyn std::io::Write> = match &f.output {
        Some(path) => match std::fs::File::create(path) {
            Ok(file) => Box::new(std::io::BufWriter::new(file)),
            Err(e) => {
                eprintln!("ERROR: failed to open output file '{path}': {e}");
                return 1;
            }
        },
        None => Box::new(std::io::LineWriter::new(std::io::stdout())),
    };
    let mut out = Out { format: f.format, w };

    ferret_runtime::install_signal_handlers();
    let mut session = match Session::load(compiled.object) {
        Ok(s) => s,
        Err(RuntimeError::Load(d)) => {
            eprint!("{}", src.render(&d));
            return 1;
        }
        Err(e) => {
            eprintln!("ERROR: {e}");
            return 1;
        }
    };
    let attach = ferret_lang::probe::AttachOpts { pid: f.pid.or(child.as_ref().map(|c| c.pid)) };
    if f.dry_run {
        return 0;
    }
    let n = match session.attach(&attach) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return 1;
        }
    };
    if !f.quiet {
        out.attached(n as u64);
    }
    if std::env::var_os("__BPFTRACE_NOTIFY_PROBES_ATTACHED").is_some() {
        println!("__BPFTRACE_NOTIFY_PROBES_ATTACHED");
    }
    let mut ropts = RunOpts { attach, quiet: f.quiet, verbose: f.verbose, child };
    session.run(&mut out, &mut ropts)
}

/// `-l`: a program's probes, or probes and types matching a search, one per line (buffered:
/// `-lv 'kprobe:*'` prints hundreds of thousands of lines).
fn list(search: &str, program: Option<&(String, String)>, verbose: bool) -> i32 {
    use ferret_lang::probe::listing;
    use std::io::Write;
    let lines = match program {
        Some((name, text)) => match ferret_syntax::parse(text) {
            Ok(ast) => listing::list_program(&ast, verbose),
            Err(diags) => {
                eprint!("{}", Source { name, text }.render_all(&diags));
                return 1;
            }
        },
        None => {
            if listing::looks_like_missing_file(search) {
                eprintln!(
                    "WARNING: It appears that '{search}' is a filename but the file does not exist. Treating \
                     '{search}' as a search pattern."
                );
            }
            listing::list_search(search, verbose)
        }
    };
    let mut w = std::io::BufWriter::new(std::io::stdout().lock());
    for line in lines {
        // A closed pipe (`ferret -l | head`) ends the listing quietly.
        if writeln!(w, "{line}").is_err() {
            return 0;
        }
    }
    let _ = w.flush();
    0
}

fn boot_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime fills the timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
