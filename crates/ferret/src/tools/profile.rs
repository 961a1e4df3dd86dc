//! `ferret profile`: on-CPU stacks sampled at a frequency, as BCC profile prints them (or
//! folded, or as an SVG flame graph). Kernel side: a perf event per CPU (`profile:hz:N`, or with
//! -c a sample period of CPU cycles, else of the CPU clock), counting stacks by process.
use super::stacks::{self, Opts};
use super::{Common, Every, Route};
use clap::Parser;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command =
    crate::cmd::Command { name: "profile", about: "profile CPU usage by sampling stack traces (BCC's profile)", run };

const EXAMPLES: &str = "examples:
    ferret profile             # profile stack traces at 49 Hertz until Ctrl-C
    ferret profile -F 99       # profile stack traces at 99 Hertz
    ferret profile -c 1000000  # profile stack traces every 1 in a million events
    ferret profile 5           # profile at 49 Hertz for 5 seconds only
    ferret profile -f 5        # output in folded format for flame graphs
    ferret profile --flamegraph out.svg 5   # write an interactive SVG flame graph
    ferret profile -p 185      # only profile process with PID 185
    ferret profile -L 185      # only profile thread with TID 185
    ferret profile -U          # only show user space stacks (no kernel)
    ferret profile -K          # only show kernel space stacks (no user)
    ferret profile -j 5        # JSON lines: comm, pid, kernel [...], user [...], count";

/// Profile CPU stack traces at a timed interval
#[derive(Parser, Debug)]
#[command(name = "ferret profile", after_help = EXAMPLES)]
struct Args {
    /// profile processes with one or more comma-separated PIDs only
    #[arg(short = 'p', long = "pid", value_delimiter = ',', conflicts_with = "tid")]
    pid: Vec<u32>,
    /// profile threads with one or more comma-separated TIDs only
    #[arg(short = 'L', long = "tid", value_delimiter = ',')]
    tid: Vec<u32>,
    /// show stacks from user space only (no kernel space stacks)
    #[arg(short = 'U', long = "user-stacks-only", conflicts_with = "kernel_stacks_only")]
    user_stacks_only: bool,
    /// show stacks from kernel space only (no user space stacks)
    #[arg(short = 'K', long = "kernel-stacks-only")]
    kernel_stacks_only: bool,
    /// sample frequency, Hertz
    #[arg(short = 'F', long = "frequency", conflicts_with = "count", value_parser = clap::value_parser!(u64).range(1..))]
    frequency: Option<u64>,
    /// sample period, number of events
    #[arg(short = 'c', long = "count", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// insert delimiter between kernel/user stacks
    #[arg(short = 'd', long = "delimited")]
    delimited: bool,
    /// add _[k] annotations to kernel frames
    #[arg(short = 'a', long = "annotations")]
    annotations: bool,
    /// include CPU idle stacks
    #[arg(short = 'I', long = "include-idle")]
    include_idle: bool,
    /// output folded format, one line per stack (for flame graphs)
    #[arg(short = 'f', long = "folded")]
    folded: bool,
    /// write an SVG flame graph to this file
    #[arg(long = "flamegraph", value_name = "FILE")]
    flamegraph: Option<String>,
    /// accepted for BCC compatibility (ferret's stack map grows as needed)
    #[arg(long = "stack-storage-size", hide = true)]
    stack_storage_size: Option<u64>,
    /// cpu number to run profile on
    #[arg(short = 'C', long = "cpu")]
    cpu: Option<u32>,
    /// duration of trace, in seconds
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    duration: Option<u64>,
    /// unwind user stacks with the binaries' DWARF CFI (.eh_frame), complete for code built
    /// without frame pointers, at a start-up cost (default: frame pointers, as BCC)
    #[arg(long = "dwarf")]
    dwarf: bool,
    #[command(flatten)]
    common: Common,
}

fn program(a: &Args, cg: &[String], o: &Opts, probe: &str) -> String {
    let mut f = cg.to_vec();
    if !a.include_idle {
        f.push("pid != 0".into());
    }
    if !a.pid.is_empty() {
        f.push(format!("({})", a.pid.iter().map(|p| format!("pid == {p}")).collect::<Vec<_>>().join(" || ")));
    }
    if !a.tid.is_empty() {
        f.push(format!("({})", a.tid.iter().map(|t| format!("tid == {t}")).collect::<Vec<_>>().join(" || ")));
    }
    if let Some(c) = a.cpu {
        f.push(format!("cpu == {c}"));
    }
    let mut key = o.stack_keys();
    key.extend(["comm", "pid"]);
    format!(
        "{}{probe} {}{{ @s[{}] = count(); }}\n",
        super::stacks::unwind_config(a.dwarf),
        super::predicate(&f),
        key.join(", ")
    )
}

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let o = Opts {
        kernel: !a.user_stacks_only,
        user: !a.kernel_stacks_only,
        delimited: a.delimited,
        // BCC's multi-line stacks have offsets, its folded ones not.
        offsets: !a.folded && !a.common.json && a.flamegraph.is_none(),
        annotate: a.annotations,
    };
    o.prefetch_symbols();
    let routes: Vec<Route> = match a.count {
        Some(n) => vec![
            Route::new("perf event cpu-cycles", program(&a, &cg, &o, &format!("hardware:cpu-cycles:{n}"))),
            Route::new("perf event cpu-clock", program(&a, &cg, &o, &format!("software:cpu-clock:{n}"))),
        ],
        None => vec![Route::new(
            "perf event cpu-clock",
            program(&a, &cg, &o, &format!("profile:hz:{}", a.frequency.unwrap_or(49))),
        )],
    };
    let mut header = String::new();
    if !a.folded && !a.common.json {
        let sample = match a.count {
            Some(n) => format!("every {n} events"),
            None => format!("{} Hertz", a.frequency.unwrap_or(49)),
        };
        let thread = if !a.pid.is_empty() {
            format!("PID {:?}", a.pid)
        } else if !a.tid.is_empty() {
            format!("TID {:?}", a.tid)
        } else {
            "all threads".to_string()
        };
        let stack = match (o.kernel, o.user) {
            (true, true) => "user + kernel",
            (false, true) => "user",
            _ => "kernel",
        };
        header = format!("Sampling at {sample} of {thread} by {stack} stack");
        if let Some(c) = a.cpu {
            header.push_str(&format!(" on CPU#{c}"));
        }
        match a.duration {
            Some(d) => header.push_str(&format!(" for {d} secs.")),
            None => header.push_str("... Hit Ctrl-C to end."),
        }
    }
    let every = Every::secs(None, None, a.duration);
    let out = stacks::Report {
        flamegraph: a.flamegraph.as_deref(),
        title: "CPU profile",
        count_name: "samples",
        folded: a.folded,
        json: a.common.json,
    };
    let mut failed = false;
    let status = super::run_summary("profile", &routes, &header, &a.common, every, |r| {
        out.print(&stacks::entries(r.map("@s"), &o), &o, &mut failed)
    });
    if status == 0 && failed {
        1
    } else {
        status
    }
}
