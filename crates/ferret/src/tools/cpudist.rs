//! `ferret cpudist`: how long tasks run on a CPU before they leave it (or, with -O, how long they
//! stay off it), as BCC cpudist's histogram. Kernel side: `sched_switch` stamps the task
//! switched out and the one switched in. Routes: the sched tracepoint, then the raw tracepoint
//! with the task structs (for the next task's process id with -O -P and -O -p).
use super::hist::{self, Show};
use super::{Common, Every, Route};
use clap::Parser;
use ferret::Value;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command = crate::cmd::Command {
    name: "cpudist",
    about: "summarize on- and off-CPU time per task as a histogram (BCC's cpudist)",
    run,
};

const EXAMPLES: &str = "examples:
    ferret cpudist              # summarize on-CPU time as a histogram
    ferret cpudist -O           # summarize off-CPU time as a histogram
    ferret cpudist 1 10         # print 1 second summaries, 10 times
    ferret cpudist -mT 1        # 1s summaries, milliseconds, and timestamps
    ferret cpudist -P           # show each PID separately
    ferret cpudist -p 185       # trace PID 185 only
    ferret cpudist -I           # include CPU idle time
    ferret cpudist -j 1         # JSON lines: time, [pid,] unit, hist";

/// Summarize on- and off-CPU time per task as a histogram
#[derive(Parser, Debug)]
#[command(name = "ferret cpudist", after_help = EXAMPLES)]
struct Args {
    /// measure off-CPU time
    #[arg(short = 'O', long = "offcpu")]
    offcpu: bool,
    /// include timestamp on output
    #[arg(short = 'T', long = "timestamp")]
    timestamp: bool,
    /// millisecond histogram
    #[arg(short = 'm', long = "milliseconds")]
    milliseconds: bool,
    /// print a histogram per process ID
    #[arg(short = 'P', long = "pids")]
    pids: bool,
    /// print a histogram per thread ID
    #[arg(short = 'L', long = "tids")]
    tids: bool,
    /// trace this PID only
    #[arg(short = 'p', long = "pid")]
    pid: Option<u32>,
    /// include CPU idle time
    #[arg(short = 'I', long = "include-idle")]
    include_idle: bool,
    /// output interval, in seconds
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    interval: Option<u64>,
    /// number of outputs
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    #[command(flatten)]
    common: Common,
}

/// The program; `t` names the fields: (prev tid, prev tgid, next tid, next tgid), which are
/// the tracepoint's fields and the running task, or the raw tracepoint's task structs.
fn program(a: &Args, cg: &[String], probe: &str, t: [&str; 4]) -> String {
    let [prev_tid, prev_tgid, next_tid, next_tgid] = t;
    let div = if a.milliseconds { 1_000_000 } else { 1000 };
    let idle = |tgid: &str| if a.include_idle { "1".to_string() } else { format!("{tgid} != 0") };
    let mut prev_f = vec![idle(prev_tgid)];
    let mut next_f = vec![idle(next_tgid)];
    if let Some(p) = a.pid {
        prev_f.push(format!("{prev_tgid} == {p}"));
        // On CPU, the switch-out side decides (its process id is at hand); off CPU, the
        // switch-in side, which the raw tracepoint route gives the process id of.
        if a.offcpu {
            next_f.push(format!("{next_tgid} == {p}"));
        }
    }
    // The cgroup is the running task's: the one switched out.
    prev_f.extend(cg.iter().cloned());
    let (prev_f, next_f) = (prev_f.join(" && "), next_f.join(" && "));
    if a.offcpu {
        let key = if a.pids {
            format!("[{next_tgid}]")
        } else if a.tids {
            format!("[{next_tid}]")
        } else {
            String::new()
        };
        format!(
            r#"{probe} {{
    if ({prev_f}) {{ @start[{prev_tid}] = nsecs; }}
    $s = @start[{next_tid}];
    if ($s) {{ if ({next_f}) {{ @dist{key} = hist((nsecs - $s) / {div}); }} delete(@start[{next_tid}]); }}
}}
"#
        )
    } else {
        let key = if a.pids {
            format!("[{prev_tgid}]")
        } else if a.tids {
            format!("[{prev_tid}]")
        } else {
            String::new()
        };
        format!(
            r#"{probe} {{
    $s = @start[{prev_tid}];
    if ($s) {{ if ({prev_f}) {{ @dist{key} = hist((nsecs - $s) / {div}); }} delete(@start[{prev_tid}]); }}
    if ({next_f}) {{ @start[{next_tid}] = nsecs; }}
}}
"#
        )
    }
}

fn comm_label(v: &Value) -> String {
    let id = super::int(v);
    super::proc_comm(id).map_or_else(|| id.to_string(), |c| format!("{id} {c}"))
}

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let mut routes = vec![];
    // The tracepoint knows the next task's thread id only: its process id comes from the raw
    // tracepoint's task struct.
    if !(a.offcpu && (a.pids || a.pid.is_some())) {
        let next_tgid = if a.pid.is_some() || !a.include_idle { "args.next_pid" } else { "1" };
        routes.push(Route::new(
            "tracepoint",
            program(&a, &cg, "tracepoint:sched:sched_switch", ["args.prev_pid", "pid", "args.next_pid", next_tgid]),
        ));
    }
    routes.push(Route::new(
        "rawtracepoint",
        program(
            &a,
            &cg,
            "rawtracepoint:sched_switch",
            ["args.prev->pid", "args.prev->tgid", "args.next->pid", "args.next->tgid"],
        ),
    ));
    let unit = if a.milliseconds { "msecs" } else { "usecs" };
    let header = if a.common.json {
        String::new()
    } else {
        format!("Tracing {}-CPU time... Hit Ctrl-C to end.", if a.offcpu { "off" } else { "on" })
    };
    let show = Show {
        map: "@dist",
        unit,
        section: if a.tids {
            "tid"
        } else if a.pids {
            "pid"
        } else {
            ""
        },
        label: &comm_label,
        linear: false,
        timestamp: a.timestamp,
        json: a.common.json,
    };
    super::run_summary("cpudist", &routes, &header, &a.common, Every::positional(a.interval, a.count), |r| {
        hist::show(r, &show)
    })
}
