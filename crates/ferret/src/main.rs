//! The `ferret` binary: flags → compile → load/attach → run → exit code.
mod cmd;
mod flags;
mod info;
mod tools;

use ferret::{Config, Error, Event, Options, Program, Writer};
use ferret_syntax::Source;
use flags::{Buffering, Dump, Flags, Mode};
use std::os::fd::OwnedFd;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn main() -> ExitCode {
    // Bytes, not String: a program, path or command that is not UTF-8 must not panic here.
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if let Some(cmd) = args.first().and_then(|a| cmd::find(a)) {
        let mut argv = vec![std::ffi::OsString::from(format!("ferret {}", cmd.name))];
        argv.extend(args[1..].iter().cloned());
        return ExitCode::from((cmd.run)(argv).clamp(0, 255) as u8);
    }
    let f = match flags::parse(&args) {
        Ok(f) => f,
        Err(e) if e.rendered => {
            eprint!("{}", e.msg);
            return ExitCode::from(1);
        }
        Err(e) => {
            eprintln!("ERROR: {}", e.msg);
            if e.usage {
                eprint!("{}", flags::usage(&cmd::summaries()));
            }
            return ExitCode::from(1);
        }
    };
    ExitCode::from(run(f) as u8)
}

fn run(f: Flags) -> i32 {
    // The one process-wide setting left: where separate debug files are looked for.
    ferret_symbols::debugfile::set_search_path(&f.debuginfo);
    match &f.mode {
        Mode::Help => {
            say(&flags::usage(&cmd::summaries()));
            return 0;
        }
        Mode::Version => {
            say(&format!("ferret v{}\n", env!("CARGO_PKG_VERSION")));
            return 0;
        }
        Mode::Info => {
            say(&info::report(&f.no_features));
            return 0;
        }
        Mode::List { search, program } => {
            if let Some(why) = missing_privileges(true) {
                eprintln!("ERROR: {why}");
                return 1;
            }
            // `-l -p PID` lists that process's probes.
            let pid = f.pid.as_deref().and_then(|p| p.parse().ok());
            let ctx = ferret_lang::context::Context::with_features(pid, false, f.no_features.clone());
            let _ctx = ferret_lang::context::enter(ctx);
            return list(search, program.as_ref(), f.verbose);
        }
        Mode::Program { .. } => {}
    }
    let Mode::Program { name, text } = &f.mode else { return 1 };
    let src = Source { name, text };

    // Privileges first: without them every probe would look like a typo ("No matches for
    // tracepoint ..."). `-d ast` only parses. The program is parsed once, here.
    let parsed = ferret_syntax::parse(text);
    if f.dump != Some(Dump::Ast) {
        let tracefs = parsed.as_ref().map_or(true, ferret_lang::probe::needs_tracefs);
        if let Some(why) = missing_privileges(tracefs) {
            eprintln!("ERROR: {why}");
            return 1;
        }
    }
    let pid = match f.pid.as_deref().map(flags::parse_pid).transpose() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return 1;
        }
    };
    if let Some(p) = pid {
        // SAFETY: kill with signal 0 only checks that the process exists.
        if unsafe { libc::kill(p, 0) } != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
            eprintln!("ERROR: -p {p}: No such process");
            return 1;
        }
    }
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
        helper_errors: f.helper_warnings,
        positional: f.positional.clone(),
        named: f.named.clone(),
        cpid: child.as_ref().map(|c| c.pid as u32),
        pid,
        dummy_ts_map: std::env::var("BPFTRACE_DUMMY_TS_MAP").ok(),
        probe_filter: f.probe_filter.clone(),
        start_boot_ns: boot_ns(),
        stack_mode: std::env::var("BPFTRACE_STACK_MODE").unwrap_or_else(|_| "bpftrace".into()),
        str_trunc_trailer: std::env::var("BPFTRACE_STR_TRUNC_TRAILER").unwrap_or_else(|_| "..".into()),
        include_dirs: f.include_dirs.clone(),
        no_features: f.no_features.clone(),
        script_dir: (name.as_str() != "stdin")
            .then(|| std::path::Path::new(name.as_str()).parent().map(std::path::Path::to_path_buf))
            .flatten(),
        ..Options::default()
    };
    // `--include FILE` names a header as `#include <FILE>` would.
    if let Some(missing) =
        f.include_files.iter().find(|h| !ferret_lang::includes::found(h, true, &f.include_dirs, None))
    {
        eprintln!("ERROR: '{missing}' file not found (--include)");
        return 1;
    }
    let config = Config {
        name: name.clone(),
        options: opts,
        max_cat_bytes: std::env::var("BPFTRACE_MAX_CAT_BYTES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(ferret_runtime::host::DEFAULT_MAX_CAT_BYTES),
    };
    let parsed = match parsed {
        Ok(ast) => ast,
        Err(diags) => {
            eprint!("{}", src.render_all(&diags));
            return 1;
        }
    };
    let program = match Program::compile_parsed(parsed, text, &config) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    eprint!("{}", program.warnings());
    let compiled = program.compiled();
    if f.verbose {
        // How probes are attached where it is not the obvious way (kprobes as fentry).
        for note in compiled.object.progs.iter().flat_map(|p| &p.targets).filter_map(|t| t.note.as_ref()) {
            eprintln!("INFO: {note}");
        }
        // Wildcard kprobes attached through one kprobe_multi link, in bpftrace's words.
        for t in compiled.object.progs.iter().flat_map(|p| &p.targets).filter(|t| !t.multi.is_empty()) {
            eprintln!("Attaching to {} functions", t.multi.len());
            for f in &t.multi {
                eprintln!(" {f}");
            }
        }
    }
    match f.dump {
        Some(Dump::Ast) => {
            say(&ferret_syntax::dump(&compiled.ast));
            return 0;
        }
        Some(Dump::Bpf) => {
            for p in &compiled.object.progs {
                say(&format!("{} ({} insns):\n", p.targets[0].name, p.insns.len()));
                say(&ferret_bpf::disasm::program(&p.insns));
            }
            return 0;
        }
        Some(Dump::Types) => {
            for (i, m) in compiled.object.user_maps() {
                let key = m.key.as_ref().map_or(String::new(), |k| format!("[{k}]"));
                say(&format!("map {i}: {}{key}: {}\n", m.name, m.value));
            }
            return 0;
        }
        None => {}
    }

    if let Err(e) = ferret_lang::named::check(&compiled.named_params, &f.named) {
        if let Some(msg) = e.error {
            eprintln!("ERROR: {msg}");
        }
        if let Some(hint) = e.hint {
            eprintln!("HINT: {hint}");
        }
        return 1;
    }
    let w = match output_writer(f.output.as_deref().map(std::path::Path::new), f.buffering) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return 1;
        }
    };
    let format = match flags::output_format(&f.format) {
        Ok(format) => format,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return 1;
        }
    };
    let mut out = Writer::new(format, w, Box::new(std::io::stderr()));
    out.warnings = !f.no_warnings;
    out.full_buffering = f.buffering == Buffering::Full;

    install_signal_handlers();
    let mut loaded = match program.load() {
        Ok(l) => l,
        Err(e) => return fail(&e),
    };
    let session = loaded.session_mut();
    // The -c command's unwind table, so its very first user stacks unwind fully.
    if let Some(c) = &child {
        session.preload_unwind(&c.path);
    }
    if let Some(pid) = pid {
        session.preload_process(pid as u32);
    }
    for &pid in &f.dwarf_pids {
        session.preload_process(pid);
    }
    if f.dry_run {
        return 0;
    }
    if let Some(mode) = f.harness {
        return loaded.into_session().run_harness(&mut out, mode);
    }
    match loaded.session_mut().only_harness_blocks() {
        Some(ferret_lang::probe::Special::Bench) => {
            eprintln!("ERROR: No probes attached; use --bench to run benchmark probes.");
            return 1;
        }
        Some(_) => {
            eprintln!("ERROR: No probes attached; use --test to run test probes.");
            return 1;
        }
        None => {}
    }
    loaded.begin(&mut out);
    let running = match loaded.attach() {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    if !f.quiet {
        out.emit(&Event::Attached(running.probes() as u64));
    }
    if std::env::var_os("__BPFTRACE_NOTIFY_PROBES_ATTACHED").is_some() {
        println!("__BPFTRACE_NOTIFY_PROBES_ATTACHED");
    }
    trace(running, &mut out, child, pid)
}

/// SIGINT or SIGTERM arrived (or the output was closed): end tracing the normal way.
static STOP: AtomicBool = AtomicBool::new(false);
/// SIGUSR1 arrived: run the `self:signal:SIGUSR1` probes.
static USR1: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

extern "C" fn on_usr1(_: libc::c_int) {
    USR1.store(true, Ordering::SeqCst);
}

/// SIGINT and SIGTERM end tracing the normal way: END runs and maps print. SIGUSR1 runs the
/// `self:signal:SIGUSR1` probes (and is otherwise ignored rather than killing ferret).
fn install_signal_handlers() {
    let handler: extern "C" fn(libc::c_int) = on_signal;
    let usr1: extern "C" fn(libc::c_int) = on_usr1;
    // SAFETY: the handlers only store to atomics, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
        libc::signal(libc::SIGTERM, handler as libc::sighandler_t);
        libc::signal(libc::SIGUSR1, usr1 as libc::sighandler_t);
    }
}

/// Show what BEGIN printed, release the `-c` command, and show events until exit(), a signal,
/// a closed output, or the traced process ending; then stop (END runs), print the maps, and
/// leave the slow detach to a child process. Returns the exit code.
fn trace(
    mut running: ferret::Running,
    out: &mut Writer,
    mut child: Option<ferret_runtime::child::Child>,
    pid: Option<i32>,
) -> i32 {
    running.poll_into(Duration::ZERO, out);
    if let Some(c) = child.as_mut() {
        if let Err(e) = c.release() {
            // The command could not run (exec failed after the checks before the fork): an
            // error, and nothing traced; the probes are detached as `running` drops.
            out.emit(&Event::Error(e));
            out.flush();
            return 1;
        }
    }
    let session = running.session_mut();
    // A program with an iterator ends once the iteration has run, whatever else it has.
    let iterates = session.iterates();
    if iterates {
        session.iterate(out);
        out.flush_pending();
    }
    while !iterates && !running.exited() && !running.session_mut().only_special() {
        if STOP.load(Ordering::SeqCst) || out.closed() {
            break;
        }
        if USR1.swap(false, Ordering::SeqCst) {
            running.session_mut().signal(out);
        }
        // The ring is polled on a short timer: programs write without waking us (cheap for
        // the traced workload), and exit() forces a wakeup.
        running.poll_into(Duration::from_millis(20), out);
        out.flush_pending();
        if let Some(c) = child.as_mut() {
            if c.exited() {
                break;
            }
        }
        if pid.is_some_and(|p| child.is_none() && !alive(p)) {
            break;
        }
    }
    for e in running.stop() {
        out.emit(&e);
    }
    if let Some(maps) = running.session_mut().maps_at_exit() {
        out.emit(&Event::MapsAtExit(maps));
    }
    out.flush();
    release_in_background(running.take_attachments());
    running.exit_code()
}

/// Whether process `pid` still runs: it exists and is not a zombie (a `-p` process that is our
/// own child, as `sh -c 'prog & exec ferret -p $!'` makes it, stays a zombie until we exit).
fn alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks that the process exists.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return false;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(") ").is_none_or(|(_, rest)| !rest.starts_with('Z'))
}

/// A library error as the binary shows it.
fn fail(e: &Error) -> i32 {
    match e {
        Error::Compile { rendered, .. } | Error::Verifier { rendered, .. } => eprint!("{rendered}"),
        e => eprintln!("ERROR: {e}"),
    }
    1
}

/// Closing a perf-event link or tracepoint waits ~40-80 ms for an RCU grace period, serially.
/// The probes are already stopped (MAP_STOPPED), so the closes are handed to a forked child
/// that holds the last references, and this process exits at once. The child holds nothing else
/// of ours: every other descriptor (stdout and its duplicates, `-o` files, maps) is closed
/// first, so a pipeline reading our output ends with us, and it leaves our session and
/// controlling terminal.
fn release_in_background(events: Vec<OwnedFd>) {
    use std::os::fd::AsRawFd;
    if events.is_empty() {
        return;
    }
    let mut keep: Vec<u32> = events.iter().map(|f| f.as_raw_fd() as u32).collect();
    keep.sort_unstable();
    // SAFETY: the child only makes syscalls (open, dup2, close_range, setsid, close, _exit) and
    // never returns into Rust code that could observe the parent's threads' state.
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            let devnull = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            libc::dup2(devnull, 0);
            libc::dup2(devnull, 1);
            libc::dup2(devnull, 2);
            // Close every fd from 3 up but the events (kernels before 5.9 lack close_range:
            // there the fds go one by one up to the highest open one).
            let mut from = 3u32;
            for &fd in keep.iter().chain(std::iter::once(&u32::MAX)) {
                if fd > from && libc::syscall(libc::SYS_close_range, from, fd - 1, 0) != 0 {
                    let end = if fd == u32::MAX { 65536 } else { fd };
                    for f in from..end {
                        libc::close(f as i32);
                    }
                }
                from = from.max(fd.saturating_add(1));
            }
            libc::setsid();
            drop(events);
            libc::_exit(0);
        }
    }
    // In the parent the fds drop here: cheap, the child holds the last references.
}

/// Where output goes (`-o FILE` or stdout) with `-B` buffering: `line` (the default) writes each
/// line out at once, `full` only when the buffer fills or at exit, `none` every write.
fn output_writer(path: Option<&std::path::Path>, buffering: Buffering) -> Result<Box<dyn std::io::Write>, String> {
    use std::os::fd::AsFd;
    let file = match path {
        Some(path) => std::fs::File::create(path).map_err(|e| {
            let why = ferret_sys::strerror(e.raw_os_error().unwrap_or(libc::EIO));
            format!("Failed to open output file: \"{}\": {why}", path.display())
        })?,
        // Rust's stdout handle always flushes at newlines; a duplicate fd buffers as asked.
        None => std::io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .map(std::fs::File::from)
            .map_err(|e| format!("stdout: {e}"))?,
    };
    Ok(match buffering {
        Buffering::Line => Box::new(std::io::LineWriter::new(file)),
        Buffering::Full => Box::new(std::io::BufWriter::new(file)),
        Buffering::None => Box::new(file),
    })
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
    for w in ferret_lang::context::current().take_warnings() {
        eprintln!("WARNING: {w}");
    }
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

/// Why this process cannot trace, checked before any probe is resolved (see
/// [`ferret_sys::privileges`]); a locked-down kernel is warned about.
fn missing_privileges(tracefs: bool) -> Option<String> {
    let missing = ferret_sys::privileges::Privileges::current().missing(tracefs);
    if missing.is_none() {
        if let Some(w) = ferret_sys::privileges::lockdown_warning() {
            eprintln!("WARNING: {w}");
        }
    }
    missing
}

/// Write to stdout; a closed pipe (`ferret -d bpf ... | head`) ends the output quietly.
fn say(s: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(s.as_bytes());
}

fn boot_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime fills the timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
