//! The BCC-style tools (`ferret execsnoop`, ...): each is one file here with its ferret program,
//! its options (clap), its help and its formatting of records, plus one line in [`TOOLS`]. A tool
//! is a user of the library facade: it compiles its program, receives events as values
//! ([`ferret::Event`]) and formats them itself; nothing parses the tracer's text output.
use crate::cmd::Command;
use ferret::{Config, Event, Program, Running, Value};
use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

mod execsnoop;
mod exitsnoop;
mod killsnoop;
mod opensnoop;
mod syscount;

/// Every tool, in the order `ferret tools` lists them.
pub static TOOLS: &[Command] =
    &[execsnoop::COMMAND, opensnoop::COMMAND, syscount::COMMAND, killsnoop::COMMAND, exitsnoop::COMMAND];

/// `ferret tools`: every tool with its one-line summary.
pub fn list(_: Vec<std::ffi::OsString>) -> i32 {
    let mut out = String::new();
    for t in TOOLS {
        out.push_str(&format!("{:<16}{}\n", t.name, t.about));
    }
    crate::say(&out);
    0
}

/// Options every tool has.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Common {
    /// one JSON object per line instead of columns
    #[arg(short = 'j', long = "json")]
    pub json: bool,
    /// say how the tool attaches on this kernel
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
}

/// Compile `text` and attach it, then show `header` (as BCC's tools do: once the header is
/// there, the tool is tracing); the error, shown, as an exit code.
fn start(name: &str, text: &str, common: &Common, header: &str) -> Result<Running, i32> {
    let config = Config { name: name.to_string(), ..Config::default() };
    let program = Program::compile(text, &config).map_err(|e| crate::fail(&e))?;
    let mut loaded = program.load().map_err(|e| crate::fail(&e))?;
    let mut begin = vec![];
    loaded.begin(&mut begin);
    let running = loaded.attach().map_err(|e| crate::fail(&e))?;
    if common.verbose {
        eprintln!("{name}: {} probes attached", running.probes());
    }
    crate::install_signal_handlers();
    if std::env::var_os("__BPFTRACE_NOTIFY_PROBES_ATTACHED").is_some() {
        crate::say("__BPFTRACE_NOTIFY_PROBES_ATTACHED\n");
    }
    if !header.is_empty() && !line(header) {
        // The reader is gone already.
        finish(running);
        return Err(0);
    }
    Ok(running)
}

/// Lost events, never silent: a warning on stderr, or a JSON record.
fn lost(common: &Common, n: u64) {
    if common.json {
        crate::say(&format!("{{\"type\": \"lost_events\", \"count\": {n}}}\n"));
    } else {
        eprintln!("WARNING: {n} events lost: the ring buffer was full");
    }
}

/// The events the tool does not format itself: lost events, warnings, errors. True for an
/// event the tool should see.
fn for_tool(common: &Common, e: &Event) -> bool {
    match e {
        Event::Lost(n) => lost(common, *n),
        Event::Warning(w) => eprintln!("WARNING: {w}"),
        Event::Error(msg) => eprintln!("ERROR: {msg}"),
        _ => return true,
    }
    false
}

/// Stop the probes, and leave their slow detach to a child process.
fn finish(mut running: Running) {
    let _ = std::io::stdout().flush();
    crate::release_in_background(running.take_attachments());
}

/// Whether Ctrl-C (SIGINT or SIGTERM) arrived.
fn stopped() -> bool {
    crate::STOP.load(Ordering::SeqCst)
}

/// Compile `text`, attach it, show `header` (unless empty), and hand every event to `on_event` until Ctrl-C, `duration`, or
/// `on_event` returning false (a closed output). Lost events are reported on stderr, or as a
/// JSON record with `-j`. Returns the exit code.
pub fn run(
    name: &str,
    text: &str,
    header: &str,
    common: &Common,
    duration: Option<Duration>,
    mut on_event: impl FnMut(&Event) -> bool,
) -> i32 {
    let mut running = match start(name, text, common, header) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let end = duration.map(|d| Instant::now() + d);
    let mut handle = |e: &Event| !for_tool(common, e) || on_event(e);
    let mut open = true;
    while open && !stopped() && end.is_none_or(|e| Instant::now() < e) {
        open = running.poll(Duration::from_millis(20)).iter().all(&mut handle);
    }
    // What was still in the ring when the tool was stopped is shown too.
    if open {
        let _ = running.stop().iter().all(&mut handle);
    }
    finish(running);
    0
}

/// A summary tool: compile and attach `text`, then call `show` with the running program every
/// `interval` (when given) and once more at the end (Ctrl-C or `duration`), as BCC's summary
/// tools print. `show` returns false once its output is closed. Returns the exit code.
pub fn run_summary(
    name: &str,
    text: &str,
    header: &str,
    common: &Common,
    interval: Option<Duration>,
    duration: Option<Duration>,
    mut show: impl FnMut(&Running) -> bool,
) -> i32 {
    let mut running = match start(name, text, common, header) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let begun = Instant::now();
    let mut next = interval.map(|i| begun + i);
    let mut open = true;
    while open && !stopped() {
        for e in running.poll(Duration::from_millis(20)) {
            for_tool(common, &e);
        }
        // The last interval (the duration's end) is shown after the probes stop.
        if duration.is_some_and(|d| begun.elapsed() >= d) {
            break;
        }
        if next.is_some_and(|n| Instant::now() >= n) {
            open = show(&running);
            next = next.zip(interval).map(|(n, i)| n + i);
        }
    }
    for e in running.stop() {
        for_tool(common, &e);
    }
    if open {
        show(&running);
    }
    finish(running);
    0
}

/// The arguments of a printf event whose format is `format`.
pub fn printf_args<'e>(e: &'e Event, format: &str) -> Option<&'e [Value]> {
    match e {
        Event::Printf { format: f, args, .. } if f == format => Some(args),
        _ => None,
    }
}

pub fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::UInt(u) => *u as i64,
        _ => 0,
    }
}

pub fn string(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

/// Write a line to stdout; false once the reader has gone (`| head`).
pub fn line(s: &str) -> bool {
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes()).and_then(|()| out.write_all(b"\n")).is_ok()
}

/// A JSON string literal, escaped as the tracer's JSON output escapes strings.
pub use ferret_output::json::string as json_str;

/// `HH:MM:SS` local time, as BCC's tools print with `-T`.
pub fn hms() -> String {
    ferret_runtime::clock::now("%H:%M:%S")
}
