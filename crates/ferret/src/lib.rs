//! ferret as a library: bpftrace programs compiled in-process to eBPF, loaded, attached and
//! read as values, with no compiler at run time.
//!
//! ```no_run
//! use std::time::Duration;
//! let config = ferret::Config::default();
//! let program = ferret::Program::compile("tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }", &config)?;
//! let mut running = program.load()?.attach()?;
//! for _ in 0..5 {
//!     running.poll(Duration::from_secs(1));
//!     if let Some(counts) = running.map("@") {
//!         println!("{} processes", counts.entries.len());
//!     }
//! }
//! let end = running.stop(); // END ran; the maps stay readable until `running` drops
//! # let _ = end;
//! # Ok::<(), ferret::Error>(())
//! ```
//!
//! The stages: [`Program::compile`] (text → BPF, against this kernel's BTF and tracefs),
//! [`Program::load`] (maps created, programs verified), [`Loaded::begin`] (the BEGIN blocks, when
//! the caller wants them), [`Loaded::attach`] → [`Running`], whose [`Running::poll`] returns
//! [`Event`]s (printf with its decoded arguments, prints, map dumps, `errorf`, lost events, exit).
//! [`Writer`] renders events as the `ferret` binary shows them (text or JSON).
//!
//! The library prints nothing, installs no signal handler and keeps no process-wide state: two
//! programs compiled with different [`Config`]s in one process are independent. Caches of what
//! does not change while a process runs (kernel BTF, kallsyms, debug info by path) are shared.
use ferret_lang::probe::AttachOpts;
pub use ferret_runtime::RuntimeError;
use ferret_runtime::Session;
use ferret_syntax::{Diagnostic, Source};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::time::Duration;

pub use ferret_lang::Options;
pub use ferret_output::{Event, Format, Location, MapDump, MapValue, Sink, Value, Writer};

/// Everything that sets how a program is compiled and run: the compiler's [`Options`] (built
/// by the `ferret` binary from its flags, by other callers in code) and what the runtime needs
/// beyond them.
#[derive(Debug, Clone)]
pub struct Config {
    /// The name the program goes by in messages (`stdin` for `-e`, else the script's path).
    pub name: String,
    pub options: Options,
    /// Bytes `cat()` shows of a file (`BPFTRACE_MAX_CAT_BYTES`).
    pub max_cat_bytes: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            name: "stdin".into(),
            options: Options::default(),
            max_cat_bytes: ferret_runtime::host::DEFAULT_MAX_CAT_BYTES,
        }
    }
}

impl Error {
    /// The errno of the syscall that failed, when one did: EPERM or EACCES for missing
    /// privileges, ENOENT for an event this kernel does not have, ...
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Kernel(e) => e.errno(),
            _ => None,
        }
    }
}

impl Config {
    /// Trace only process `pid` (`-p`): uprobes attach to it and `-p` filters apply.
    pub fn pid(mut self, pid: i32) -> Config {
        self.options.pid = Some(pid);
        self
    }
    /// Allow the actions bpftrace calls unsafe (`system`, `signal`, `write_user`; `--unsafe`).
    pub fn allow_unsafe(mut self) -> Config {
        self.options.unsafe_ = true;
        self
    }
    /// Append a positional argument (`$1`, `$2`, ...).
    pub fn arg(mut self, value: impl Into<String>) -> Config {
        self.options.positional.push(value.into());
        self
    }
}

/// What went wrong, kept apart so that a caller can tell them apart.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The program does not compile; `rendered` shows each error at its line with an
    /// underline, as bpftrace does.
    #[error("{rendered}")]
    Compile { diagnostics: Vec<Diagnostic>, rendered: String },
    /// The kernel's verifier refused a program: shown at the script line it came from.
    #[error("{rendered}")]
    Verifier { diagnostic: Diagnostic, rendered: String },
    /// A syscall failed while creating maps or attaching probes; [`RuntimeError::errno`] tells
    /// which error the kernel gave.
    #[error(transparent)]
    Kernel(RuntimeError),
    /// The compiler thread could not be started.
    #[error("starting the compiler thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// The stack the compiler runs on: it walks the program recursively; the parser and macro
/// expansion bound how deep a program can be, and this leaves those bounds a wide margin (it is
/// reserved, not used: pages are only touched as deep as a program goes).
const COMPILER_STACK: usize = 256 << 20;

/// A compiled program: BPF instructions and maps, not yet in the kernel.
pub struct Program {
    compiled: ferret_lang::Compiled,
    config: Config,
    text: String,
}

impl Program {
    /// Compile `src` for this kernel. Reads kernel BTF and tracefs formats as the program
    /// needs them; needs no privilege beyond reading those.
    pub fn compile(src: &str, config: &Config) -> Result<Program, Error> {
        let parsed = ferret_syntax::parse(src).map_err(|d| compile_error(&config.name, src, d))?;
        Program::compile_parsed(parsed, src, config)
    }

    /// Compile a program already parsed from `src` (the binary parses once, to check
    /// privileges before anything is resolved).
    pub fn compile_parsed(ast: ferret_syntax::ast::Program, src: &str, config: &Config) -> Result<Program, Error> {
        let opts = &config.options;
        let compiled = std::thread::scope(|s| {
            let run = move || ferret_lang::compile_program(ast, opts);
            match std::thread::Builder::new().stack_size(COMPILER_STACK).spawn_scoped(s, run) {
                Ok(t) => Ok(t.join().unwrap_or_else(|e| std::panic::resume_unwind(e))),
                Err(e) => Err(Error::Thread(e)),
            }
        })?
        .map_err(|d| compile_error(&config.name, src, d))?;
        Ok(Program { compiled, config: config.clone(), text: src.to_string() })
    }

    /// Warnings the compiler had (unreachable code, unused maps), rendered at their lines.
    pub fn warnings(&self) -> String {
        Source { name: &self.config.name, text: &self.text }.render_all(&self.compiled.warnings)
    }

    /// The compiler's output: the BPF programs, maps and actions.
    pub fn compiled(&self) -> &ferret_lang::Compiled {
        &self.compiled
    }

    /// Create the maps and load every program (the verifier runs here). Nothing is attached.
    pub fn load(self) -> Result<Loaded, Error> {
        let Program { compiled, config, text } = self;
        let pid = compiled.opts.pid.or(compiled.opts.cpid.map(|p| p as i32));
        let mut session = Session::load(compiled.object).map_err(|e| match e {
            RuntimeError::Load(d) => {
                let rendered = Source { name: &config.name, text: &text }.render(&d);
                Error::Verifier { diagnostic: d, rendered }
            }
            e => Error::Kernel(e),
        })?;
        session.settings = ferret_runtime::Settings {
            source_name: config.name,
            source_text: text,
            max_cat_bytes: config.max_cat_bytes,
        };
        Ok(Loaded { session, attach: AttachOpts { pid } })
    }
}

fn compile_error(name: &str, text: &str, diagnostics: Vec<Diagnostic>) -> Error {
    let rendered = Source { name, text }.render_all(&diagnostics);
    Error::Compile { diagnostics, rendered }
}

/// A program in the kernel, not yet attached.
pub struct Loaded {
    session: Session,
    attach: AttachOpts,
}

impl Loaded {
    /// Run the BEGIN blocks now, before anything is attached (as bpftrace does). What they
    /// print arrives with the first [`Running::poll`]; failures to run them go to `out`.
    pub fn begin(&mut self, out: &mut dyn Sink) {
        self.session.begin(out);
    }

    /// The runtime session, for what the facade does not cover (the binary's `--bench`,
    /// `--test` and unwind-table preloading).
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    /// Attach every probe. On failure nothing stays attached.
    pub fn attach(mut self) -> Result<Running, Error> {
        let probes = self.session.attach(&self.attach).map_err(Error::Kernel)?;
        Ok(Running { session: self.session, probes })
    }

    /// Give up the loaded program without attaching it.
    pub fn into_session(self) -> Session {
        self.session
    }
}

/// An attached program. Dropping it detaches every probe (closing perf-event tracepoints takes
/// an RCU grace period each; see [`Running::take_attachments`]).
pub struct Running {
    session: Session,
    probes: usize,
}

impl Running {
    /// How many probes are attached.
    pub fn probes(&self) -> usize {
        self.probes
    }

    /// Wait up to `timeout` for events and return them (possibly none). Lost events and full
    /// maps are checked every 500 ms and come as [`Event::Lost`] and [`Event::Warning`].
    pub fn poll(&mut self, timeout: Duration) -> Vec<Event> {
        let mut events = vec![];
        self.session.poll(timeout, &mut events);
        events
    }

    /// As [`Running::poll`], handing each event to `out` as it is decoded.
    pub fn poll_into(&mut self, timeout: Duration, out: &mut dyn Sink) {
        self.session.poll(timeout, out);
    }

    /// Readable when events wait, for another event loop; such a loop should still poll on a
    /// short timer (see [`Session::fd`]).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.session.fd()
    }

    /// A user map (`@name`, or `@` for the unnamed one) as it is now.
    pub fn map(&self, name: &str) -> Option<MapDump> {
        self.session.map(name)
    }

    /// Empty a user map (`clear(@name)` from user space), for tools that show each interval's
    /// counts; false when there is no such map.
    pub fn clear(&self, name: &str) -> bool {
        self.session.clear_map(name)
    }

    /// Every user map as it is now.
    pub fn maps(&self) -> Vec<MapDump> {
        self.session.maps()
    }

    /// Events the kernel had no room for, in all.
    pub fn lost(&self) -> u64 {
        self.session.lost()
    }

    /// The maps that refused updates because they were full, with how many each refused.
    pub fn map_full(&self) -> Vec<(String, u64)> {
        self.session.map_full()
    }

    /// Whether the program called `exit()`.
    pub fn exited(&self) -> bool {
        self.session.exiting()
    }

    /// The code `exit(N)` gave, else 0.
    pub fn exit_code(&self) -> i32 {
        self.session.exit_code()
    }

    /// Stop every probe, deliver what is pending, run END and return its events. The maps stay
    /// readable ([`Running::map`]) until this value drops.
    pub fn stop(&mut self) -> Vec<Event> {
        let mut events = vec![];
        self.session.stop(&mut events);
        events
    }

    /// Detach every probe now, waiting for the kernel to release them.
    pub fn detach(self) {
        drop(self)
    }

    /// The runtime session, for what the facade does not cover.
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    /// The descriptors that keep the probes attached, for a caller that closes them elsewhere
    /// (the binary hands them to a child process so that it can exit at once).
    pub fn take_attachments(&mut self) -> Vec<OwnedFd> {
        self.session.take_attachments()
    }
}
