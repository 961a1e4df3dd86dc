//! The BCC-style tools (`ferret execsnoop`, ...): each is one file here with its ferret program,
//! its options (clap), its help and its formatting of records, plus one line in [`TOOLS`]. A tool
//! is a user of the library facade: it compiles its program, receives events as values
//! ([`ferret::Event`]) and formats them itself; nothing parses the tracer's text output.
use crate::cmd::Command;
use ferret::{Config, Event, Program, Running, Value};
use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

mod argdist;
mod bashreadline;
mod biolatency;
mod biosnoop;
mod biotop;
mod bitesize;
mod block;
mod cachestat;
mod capable;
mod cgroup;
mod cpudist;
mod execsnoop;
mod exitsnoop;
mod filetop;
mod funccount;
mod funclatency;
mod gethostlatency;
pub mod hist;
mod irqs;
mod killsnoop;
mod memleak;
mod mountsnoop;
mod net;
mod offcputime;
mod oomkill;
mod opensnoop;
mod pidstat;
mod profile;
mod runqlat;
mod runqlen;
mod runqslower;
mod sigsnoop;
mod spec;
mod stackcount;
mod stacks;
mod statsnoop;
mod syncsnoop;
mod syscount;
mod tcpaccept;
mod tcpconnect;
mod tcpdrop;
mod tcplife;
mod tcpretrans;
mod tcpstates;
mod tcptop;
mod threadsnoop;
mod trace;
mod vfsstat;

/// Every tool, in the order `ferret tools` lists them.
pub static TOOLS: &[Command] = &[
    execsnoop::COMMAND,
    opensnoop::COMMAND,
    syscount::COMMAND,
    killsnoop::COMMAND,
    exitsnoop::COMMAND,
    runqlat::COMMAND,
    biolatency::COMMAND,
    biosnoop::COMMAND,
    bitesize::COMMAND,
    biotop::COMMAND,
    cpudist::COMMAND,
    runqslower::COMMAND,
    runqlen::COMMAND,
    irqs::SOFTIRQS,
    irqs::HARDIRQS,
    tcptop::COMMAND,
    filetop::COMMAND,
    pidstat::COMMAND,
    tcpconnect::COMMAND,
    tcpaccept::COMMAND,
    tcplife::COMMAND,
    tcpstates::COMMAND,
    tcpretrans::COMMAND,
    tcpdrop::COMMAND,
    statsnoop::COMMAND,
    syncsnoop::COMMAND,
    threadsnoop::COMMAND,
    oomkill::COMMAND,
    profile::COMMAND,
    offcputime::COMMAND,
    stackcount::COMMAND,
    funccount::COMMAND,
    trace::COMMAND,
    funclatency::COMMAND,
    argdist::COMMAND,
    sigsnoop::COMMAND,
    mountsnoop::COMMAND,
    bashreadline::COMMAND,
    gethostlatency::COMMAND,
    vfsstat::COMMAND,
    cachestat::COMMAND,
    capable::COMMAND,
    memleak::COMMAND,
];

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
    /// trace only tasks in this cgroup (a cgroup v2 path)
    #[arg(long = "cgroup", value_name = "PATH")]
    pub cgroup: Option<String>,
    /// trace only this container (Docker, podman, containerd, CRI-O ID or a unique prefix)
    #[arg(long = "container", value_name = "ID")]
    pub container: Option<String>,
    /// add a column naming the container of each event (`-` on the host)
    #[arg(long = "containers")]
    pub containers: bool,
    /// take the attach route whose name (as -v shows it) contains ROUTE, not the first that
    /// works (e.g. --route kprobe)
    #[arg(long = "route", value_name = "ROUTE")]
    pub route: Option<String>,
}

impl Common {
    /// The predicates `--cgroup` and `--container` add to a tool's program (`cgroup == ID`),
    /// or, when one names no cgroup, the error shown and the exit code (2, a usage error).
    pub fn filters(&self) -> Result<Vec<String>, i32> {
        let mut out = vec![];
        let usage = |flag: &str, e: String| {
            eprintln!("ferret: error: argument {flag}: {e}");
            2
        };
        if let Some(p) = &self.cgroup {
            out.push(format!("cgroup == {}", cgroup::id_of_path(p).map_err(|e| usage("--cgroup", e))?));
        }
        if let Some(c) = &self.container {
            out.push(format!("cgroup == {}", cgroup::id_of_container(c).map_err(|e| usage("--container", e))?));
        }
        Ok(out)
    }
}

/// A tool's arguments (clap) and the predicates of its `--cgroup`/`--container`; the exit code
/// (shown) when either is wrong.
pub fn parse_tool<T: clap::Parser>(
    argv: Vec<std::ffi::OsString>,
    common: impl Fn(&T) -> &Common,
) -> Result<(T, Vec<String>), i32> {
    let a: T = crate::cmd::parse(argv)?;
    let cg = common(&a).filters()?;
    Ok((a, cg))
}

/// A process's name from /proc, if it still runs.
pub fn proc_comm(pid: i64) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).ok().map(|c| c.trim_end().to_string())
}

/// The value of keyless count or sum map `name` (0 when it holds none).
pub fn scalar(r: &Running, name: &str) -> u64 {
    r.map(name).and_then(|d| d.entries.into_iter().next()).and_then(|(_, v)| num(&v)).unwrap_or(0)
}

/// A count or sum from a map as an unsigned number (a negative sum as 0).
pub fn num(v: &ferret::MapValue) -> Option<u64> {
    use ferret::MapValue;
    use ferret_output::Num;
    match v {
        MapValue::Count(n) | MapValue::Sum(Num::Unsigned(n)) => Some(*n),
        MapValue::Sum(Num::Signed(n)) => Some((*n).max(0) as u64),
        _ => None,
    }
}

/// `/A && B/ ` from predicates, or nothing when there are none.
pub fn predicate(filters: &[String]) -> String {
    if filters.is_empty() {
        String::new()
    } else {
        format!("/{}/ ", filters.join(" && "))
    }
}

/// One way for a tool to attach: a name `-v` shows (`tracepoint`, `fentry`, `kprobe`) and the
/// program. A tool lists its routes in order, stable tracepoints first; the first that loads
/// and attaches on this kernel is the one it takes.
pub struct Route {
    pub name: &'static str,
    pub text: String,
    /// The process a tool's `-p` names: user probes attach to it alone (its libraries found
    /// through its /proc/PID/root), as the tracer's `-p`.
    pub pid: Option<u32>,
}

impl Route {
    pub fn new(name: &'static str, text: impl Into<String>) -> Route {
        Route { name, text: text.into(), pid: None }
    }

    /// This route for process `pid` only (when given).
    pub fn for_pid(mut self, pid: Option<u32>) -> Route {
        self.pid = pid;
        self
    }
}

/// Ring buffer bytes for tools that print events: 512 KiB lost nothing at 100k events/s in
/// bench/loss.sh where 256 KiB lost ~10 %; every mapped page of it counts in RSS (the tracer's
/// 1 MiB is for bpftrace's scripts).
const EVENT_RING: u32 = 512 << 10;
/// For tools that print summaries: their programs fill maps and send almost nothing.
const SUMMARY_RING: u32 = 64 << 10;

fn attach(name: &str, text: &str, pid: Option<u32>, ring: u32) -> Result<Running, ferret::Error> {
    let mut config = Config { name: name.to_string(), ..Config::default() };
    config.options.ringbuf_size = ring;
    if let Some(p) = pid {
        config = config.pid(p as i32);
    }
    let mut loaded = Program::compile(text, &config)?.load()?;
    let mut begin = vec![];
    loaded.begin(&mut begin);
    loaded.attach()
}

/// The first line of an error, as a route that could not attach is summarized.
fn first_line(e: &ferret::Error) -> String {
    let text = match e {
        ferret::Error::Compile { rendered, .. } | ferret::Error::Verifier { rendered, .. } => rendered.clone(),
        e => e.to_string(),
    };
    text.lines().find(|l| l.contains("ERROR")).or(text.lines().next()).unwrap_or_default().trim().to_string()
}

/// Attach the first of `routes` this kernel allows, then show `header` (as BCC's tools do:
/// once the header is there, the tool is tracing; `{probes}` in it is the number of probes
/// attached, `{functions}` half of it, for tools with an entry and a return probe per
/// function); the error, shown, as an exit code. With one route its error is shown whole; with
/// several, each route's reason.
fn start(name: &str, routes: &[Route], common: &Common, header: &str, ring: u32) -> Result<Running, i32> {
    let mut failed = vec![];
    let mut running = None;
    let chosen: Vec<&Route> =
        routes.iter().filter(|r| common.route.as_ref().is_none_or(|w| r.name.contains(w.as_str()))).collect();
    if chosen.is_empty() {
        let names: Vec<&str> = routes.iter().map(|r| r.name).collect();
        eprintln!(
            "ferret {name}: error: argument --route: no route of {name} is named like '{}': {}",
            common.route.as_deref().unwrap_or(""),
            names.join(", ")
        );
        return Err(2);
    }
    let routes = chosen;
    for route in routes.iter().copied() {
        let text = if common.containers { cgroup::with_cgroup(&route.text) } else { route.text.clone() };
        match attach(name, &text, route.pid, ring) {
            Ok(r) => {
                if common.verbose {
                    eprintln!("ferret {name}: route: {} ({} probes attached)", route.name, r.probes());
                }
                running = Some(r);
                break;
            }
            Err(e) if routes.len() == 1 => return Err(crate::fail(&e)),
            Err(e) => {
                if common.verbose {
                    eprintln!("ferret {name}: route {} is not available here: {}", route.name, first_line(&e));
                }
                failed.push((route.name, e));
            }
        }
    }
    let Some(running) = running else {
        eprintln!("ERROR: ferret {name}: no route attaches on this kernel:");
        for (route, e) in &failed {
            eprintln!("  {route}: {}", first_line(e));
        }
        if failed.iter().any(|(r, _)| r.contains("kprobe")) {
            eprintln!(
                "HINT: kernel functions need fentry or kprobes; tracepoints work everywhere: `ferret -l 'tracepoint:*'` lists them, and `ferret funccount 't:CATEGORY:EVENT'`, `ferret trace 't:CATEGORY:EVENT'` take them"
            );
        }
        return Err(1);
    };
    crate::install_signal_handlers();
    if std::env::var_os("__BPFTRACE_NOTIFY_PROBES_ATTACHED").is_some() {
        crate::say("__BPFTRACE_NOTIFY_PROBES_ATTACHED\n");
    }
    let mut header = header
        .replace("{probes}", &running.probes().to_string())
        .replace("{functions}", &running.probes().div_ceil(2).to_string());
    // Column titles, not a sentence ("Tracing ... Ctrl-C to end."), get the column.
    let titles = header.rsplit('\n').next().is_some_and(|l| !l.contains("Ctrl") && !l.ends_with('.'));
    if common.containers && !common.json && titles {
        // The column goes before the header's last line (the column titles).
        let (before, titles) = header.rsplit_once('\n').map_or(("", header.as_str()), |(b, t)| (b, t));
        header = format!("{before}{}{:<12} {titles}", if before.is_empty() { "" } else { "\n" }, "CONTAINER");
    }
    if !header.is_empty() && !line(&header) {
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
    routes: &[Route],
    header: &str,
    common: &Common,
    duration: Option<Duration>,
    mut on_event: impl FnMut(&Event) -> bool,
) -> i32 {
    let mut running = match start(name, routes, common, header, EVENT_RING) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let end = duration.map(|d| Instant::now() + d);
    let json = common.json;
    let mut handle = |e: &Event| {
        if !for_tool(common, e) {
            return true;
        }
        match cgroup::split_cgroup(e) {
            Some((e, id)) => {
                ROW_CONTAINER.with(|c| *c.borrow_mut() = Some((cgroup::container_name(id), json)));
                let open = on_event(&e);
                ROW_CONTAINER.with(|c| *c.borrow_mut() = None);
                open
            }
            None => on_event(e),
        }
    };
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

/// When a summary tool shows its maps: every `interval` (else only at the end), at most
/// `count` times, for at most `duration`; and at Ctrl-C.
#[derive(Default, Clone, Copy)]
pub struct Every {
    pub interval: Option<Duration>,
    pub count: Option<u64>,
    pub duration: Option<Duration>,
}

impl Every {
    /// Every `interval` seconds, `count` times, for `duration` seconds (each when given).
    pub fn secs(interval: Option<u64>, count: Option<u64>, duration: Option<u64>) -> Every {
        Every { interval: interval.map(Duration::from_secs), count, duration: duration.map(Duration::from_secs) }
    }

    /// BCC's positional `[interval] [count]` (seconds).
    pub fn positional(interval: Option<u64>, count: Option<u64>) -> Every {
        Every::secs(interval, count, None)
    }
}

/// A summary tool: attach the first of `routes` that attaches, then call `show` with the
/// running program as `every` says (and at Ctrl-C or the end of the duration, unless `count`
/// intervals were shown already), as BCC's summary tools print. `show` returns false once its
/// output is closed. Returns the exit code.
pub fn run_summary(
    name: &str,
    routes: &[Route],
    header: &str,
    common: &Common,
    every: Every,
    show: impl FnMut(&Running) -> bool,
) -> i32 {
    run_summary_with(name, routes, header, common, every, None, show)
}

/// [`run_summary`] for a tool that runs a command (`-c CMD`): `child` was spawned held
/// (its pid is in the program), is let go once the probes are attached, and its exit ends
/// the tracing as Ctrl-C does.
pub fn run_summary_with(
    name: &str,
    routes: &[Route],
    header: &str,
    common: &Common,
    every: Every,
    mut child: Option<ferret_runtime::child::Child>,
    mut show: impl FnMut(&Running) -> bool,
) -> i32 {
    if common.containers {
        eprintln!(
            "ferret {name}: error: --containers adds a column to the tools that print events; {name} prints summaries: filter them with --container ID or --cgroup PATH"
        );
        return 2;
    }
    let mut running = match start(name, routes, common, header, SUMMARY_RING) {
        Ok(r) => r,
        Err(code) => return code,
    };
    if let Some(Err(e)) = child.as_mut().map(|c| c.release()) {
        eprintln!("ERROR: {e}");
        finish(running);
        return 1;
    }
    let begun = Instant::now();
    let mut next = every.interval.map(|i| begun + i);
    let mut open = true;
    let mut shown = 0;
    let mut last = true;
    while open && !stopped() {
        for e in running.poll(Duration::from_millis(20)) {
            for_tool(common, &e);
        }
        // The last interval (the duration's end, the command's exit) is shown after the
        // probes stop.
        if every.duration.is_some_and(|d| begun.elapsed() >= d) || child.as_mut().is_some_and(|c| c.exited()) {
            break;
        }
        if next.is_some_and(|n| Instant::now() >= n) {
            open = show(&running);
            shown += 1;
            if every.count.is_some_and(|c| shown >= c) {
                last = false;
                break;
            }
            next = next.zip(every.interval).map(|(n, i)| n + i);
        }
    }
    for e in running.stop() {
        for_tool(common, &e);
    }
    if open && last {
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
        Value::Symbolic { value, .. } => *value as i64,
        _ => 0,
    }
}

pub fn string(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

thread_local! {
    /// While an event tool formats an event under `--containers`: the container's name, and
    /// whether the output is JSON.
    static ROW_CONTAINER: std::cell::RefCell<Option<(String, bool)>> = const { std::cell::RefCell::new(None) };
}

/// Write a line to stdout; false once the reader has gone (`| head`). Under `--containers`, an
/// event's line starts with its container's column (a `"container"` field in JSON).
pub fn line(s: &str) -> bool {
    let row = ROW_CONTAINER.with(|c| c.borrow().clone());
    let s = &match row {
        Some((name, true)) if s.starts_with('{') => format!("{{\"container\": {}, {}", json_str(&name), &s[1..]),
        Some((name, false)) => format!("{name:<12} {s}"),
        _ => s.to_string(),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes()).and_then(|()| out.write_all(b"\n")).is_ok()
}

/// A JSON string literal, escaped as the tracer's JSON output escapes strings.
pub use ferret_output::json::string as json_str;

/// `HH:MM:SS` local time, as BCC's tools print with `-T`.
pub fn hms() -> String {
    ferret_runtime::clock::now("%H:%M:%S")
}
