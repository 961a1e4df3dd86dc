//! The BCC-style tools (`ferret execsnoop`, ...): each is one file here with its ferret program,
//! its options (clap), its help and its formatting of records, plus one line in [`TOOLS`]. A tool
//! is a user of the library facade: it compiles its program, receives events as values
//! ([`ferret::Event`]) and formats them itself; nothing parses the tracer's text output.
use crate::cmd::Command;
use ferret::{Config, Event, Program, Value};
use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

mod execsnoop;
mod killsnoop;
mod opensnoop;

/// Every tool, in the order `ferret tools` lists them.
pub static TOOLS: &[Command] = &[execsnoop::COMMAND, opensnoop::COMMAND, killsnoop::COMMAND];

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

/// Compile `text`, attach it, and hand every event to `on_event` until Ctrl-C (SIGINT or
/// SIGTERM), `duration`, or `on_event` returning false (a closed output). Lost events are
/// reported on stderr, or as a JSON record when `json`. Returns the exit code.
pub fn run(
    name: &str,
    text: &str,
    common: &Common,
    duration: Option<Duration>,
    mut on_event: impl FnMut(&Event) -> bool,
) -> i32 {
    let config = Config { name: name.to_string(), ..Config::default() };
    let program = match Program::compile(text, &config) {
        Ok(p) => p,
        Err(e) => return crate::fail(&e),
    };
    let mut loaded = match program.load() {
        Ok(l) => l,
        Err(e) => return crate::fail(&e),
    };
    let mut begin = vec![];
    loaded.begin(&mut begin);
    let mut running = match loaded.attach() {
        Ok(r) => r,
        Err(e) => return crate::fail(&e),
    };
    if common.verbose {
        eprintln!("{name}: {} probes attached", running.probes());
    }
    crate::install_signal_handlers();
    if std::env::var_os("__BPFTRACE_NOTIFY_PROBES_ATTACHED").is_some() {
        crate::say("__BPFTRACE_NOTIFY_PROBES_ATTACHED\n");
    }
    let end = duration.map(|d| Instant::now() + d);
    let lost = |n: u64| {
        if common.json {
            crate::say(&format!("{{\"type\": \"lost_events\", \"count\": {n}}}\n"));
        } else {
            eprintln!("WARNING: {n} events lost: the ring buffer was full");
        }
    };
    // Each event to the tool; false once its output is closed.
    let mut handle = |e: &Event| match e {
        Event::Lost(n) => {
            lost(*n);
            true
        }
        Event::Warning(w) => {
            eprintln!("WARNING: {w}");
            true
        }
        Event::Error(msg) => {
            eprintln!("ERROR: {msg}");
            true
        }
        e => on_event(e),
    };
    let mut open = true;
    while open && !crate::STOP.load(Ordering::SeqCst) && end.is_none_or(|e| Instant::now() < e) {
        open = running.poll(Duration::from_millis(20)).iter().all(&mut handle);
    }
    // What was still in the ring when the tool was stopped is shown too.
    if open {
        let _ = running.stop().iter().all(&mut handle);
    }
    let _ = std::io::stdout().flush();
    crate::release_in_background(running.take_attachments());
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

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
    ferret_output::json::string(s)
}

/// `HH:MM:SS` local time, as BCC's tools print with `-T`.
pub fn hms() -> String {
    let mut t: libc::time_t = 0;
    // SAFETY: time and localtime_r write to the locals given.
    let tm = unsafe {
        libc::time(&mut t);
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&t, &mut tm);
        tm
    };
    format!("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec)
}
