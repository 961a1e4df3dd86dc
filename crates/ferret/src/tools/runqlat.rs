//! `ferret runqlat`: how long runnable tasks wait on a CPU's run queue, as BCC runqlat's
//! histogram. Kernel side: a task's wakeup (or its preemption while runnable) stamps the time by
//! thread; switching to it records the wait. Routes: the sched tracepoints (pids only), then the
//! raw tracepoints with the task structs (tgid and pid namespace for -p, -P, --pidnss).
use super::hist::{self, Show};
use super::{Common, Every, Route};
use clap::Parser;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command = crate::cmd::Command {
    name: "runqlat",
    about: "summarize run queue (scheduler) latency as a histogram (BCC's runqlat)",
    run,
};

const EXAMPLES: &str = "examples:
    ferret runqlat            # summarize run queue latency as a histogram
    ferret runqlat 1 10       # print 1 second summaries, 10 times
    ferret runqlat -mT 1      # 1s summaries, milliseconds, and timestamps
    ferret runqlat -P         # show each PID separately
    ferret runqlat -p 185     # trace PID 185 only
    ferret runqlat -j 1       # JSON lines: time, unit, hist [{interval-start, interval-end, count}]";

/// Summarize run queue (scheduler) latency as a histogram
#[derive(Parser, Debug)]
#[command(name = "ferret runqlat", after_help = EXAMPLES)]
struct Args {
    /// include timestamp on output
    #[arg(short = 'T', long = "timestamp")]
    timestamp: bool,
    /// millisecond histogram
    #[arg(short = 'm', long = "milliseconds")]
    milliseconds: bool,
    /// print a histogram per process ID
    #[arg(short = 'P', long = "pids")]
    pids: bool,
    /// print a histogram per PID namespace
    #[arg(long = "pidnss")]
    pidnss: bool,
    /// print a histogram per thread ID
    #[arg(short = 'L', long = "tids")]
    tids: bool,
    /// trace this PID only
    #[arg(short = 'p', long = "pid")]
    pid: Option<u32>,
    /// output interval, in seconds
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    interval: Option<u64>,
    /// number of outputs
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    #[command(flatten)]
    common: Common,
}

/// The program through the raw tracepoints: `task` fields of the woken, the preempted and the
/// next task.
fn raw(a: &Args, cg: &[String], div: u64) -> String {
    // The idle task (pid 0) is never queued.
    let filter = |t: &str| {
        let mut f = cg.to_vec();
        f.push(format!("{t}->pid != 0"));
        if let Some(p) = a.pid {
            f.push(format!("{t}->tgid == {p}"));
        }
        f.join(" && ")
    };
    let key = if a.pids {
        "[args.next->tgid]"
    } else if a.tids {
        "[args.next->pid]"
    } else if a.pidnss {
        "[args.next->nsproxy->pid_ns_for_children->ns.inum]"
    } else {
        ""
    };
    // The cgroup filter at wakeup sees the waker's cgroup; the switch-in runs as the previous
    // task: the cgroup test on the preempted task is exact, the one at wakeup approximate, as
    // BCC's own --cgroupmap.
    format!(
        r#"rawtracepoint:sched_wakeup, rawtracepoint:sched_wakeup_new /{wake}/ {{ @qt[args.p->pid] = nsecs; }}
rawtracepoint:sched_switch {{
    if (args.prev_state == 0 && {prev}) {{ @qt[args.prev->pid] = nsecs; }}
    $t = @qt[args.next->pid];
    if ($t) {{ @dist{key} = hist((nsecs - $t) / {div}); delete(@qt, args.next->pid); }}
}}
"#,
        wake = filter("args.p"),
        prev = filter("args.prev"),
    )
}

/// The program through the stable tracepoints: pids (thread ids) only. The tracepoint's
/// `prev_state` of a preempted task is TASK_REPORT_MAX (0x100), its low byte the sleep state.
fn tracepoints(a: &Args, cg: &[String], div: u64) -> String {
    // The idle task (pid 0) is never queued.
    let mut f = cg.to_vec();
    f.push("args.pid != 0".into());
    let pred = super::predicate(&f);
    let prev = if cg.is_empty() { String::new() } else { format!(" && {}", cg.join(" && ")) };
    let key = if a.tids { "[args.next_pid]" } else { "" };
    format!(
        r#"tracepoint:sched:sched_wakeup, tracepoint:sched:sched_wakeup_new {pred}{{ @qt[args.pid] = nsecs; }}
tracepoint:sched:sched_switch {{
    if ((args.prev_state & 0xff) == 0 && args.prev_pid != 0{prev}) {{ @qt[args.prev_pid] = nsecs; }}
    $t = @qt[args.next_pid];
    if ($t) {{ @dist{key} = hist((nsecs - $t) / {div}); delete(@qt, args.next_pid); }}
}}
"#
    )
}

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let (div, unit) = if a.milliseconds { (1_000_000, "msecs") } else { (1000, "usecs") };
    let mut routes = vec![];
    if a.pid.is_none() && !a.pids && !a.pidnss {
        routes.push(Route::new("tracepoint", tracepoints(&a, &cg, div)));
    }
    routes.push(Route::new("rawtracepoint", raw(&a, &cg, div)));
    let section = if a.pids {
        "pid"
    } else if a.tids {
        "tid"
    } else if a.pidnss {
        "pidns"
    } else {
        ""
    };
    let header = if a.common.json { "" } else { "Tracing run queue latency... Hit Ctrl-C to end." };
    let show = Show {
        map: "@dist",
        unit,
        section,
        label: &hist::plain,
        linear: false,
        timestamp: a.timestamp,
        json: a.common.json,
    };
    super::run_summary("runqlat", &routes, header, &a.common, Every::positional(a.interval, a.count), |r| {
        hist::show(r, &show)
    })
}
