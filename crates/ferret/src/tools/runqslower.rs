//! `ferret runqslower`: each run queue wait longer than a threshold, with BCC runqslower's
//! columns. Kernel side: the sched tracepoints, as runqlat, printing the waits over the
//! threshold.
use super::{int, json_str, line, printf_args, string, Common, Route};
use clap::Parser;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command =
    crate::cmd::Command { name: "runqslower", about: "trace high run queue latency (BCC's runqslower)", run };

const EXAMPLES: &str = "examples:
    ferret runqslower          # trace run queue latency higher than 10000 us (default)
    ferret runqslower 1000     # trace run queue latency higher than 1000 us
    ferret runqslower -p 123   # trace pid 123 (thread ids, as BCC's -p)
    ferret runqslower -t 123   # trace tid 123
    ferret runqslower -P       # also show the previous task's name and TID
    ferret runqslower -j       # JSON lines: time, comm, tid, lat_us, prev_comm, prev_tid";

/// Trace high run queue latency
#[derive(Parser, Debug)]
#[command(name = "ferret runqslower", after_help = EXAMPLES)]
struct Args {
    /// minimum run queue latency to trace, in us (default 10000)
    #[arg(default_value_t = 10000)]
    min_us: u64,
    /// also show previous task name and TID
    #[arg(short = 'P', long = "previous")]
    previous: bool,
    /// trace this PID only
    #[arg(short = 'p', long = "pid", conflicts_with = "tid")]
    pid: Option<u32>,
    /// trace this TID only
    #[arg(short = 't', long = "tid")]
    tid: Option<u32>,
    #[command(flatten)]
    common: Common,
}

const EVENT: &str = "%d %d %d %s %s\n";

fn program(a: &Args, cg: &[String]) -> String {
    // The idle task (pid 0) is never queued.
    let mut f = cg.to_vec();
    f.push("args.pid != 0".into());
    // The wakeup tracepoints name the woken thread; BCC's -p filters on it too.
    if let Some(p) = a.pid.or(a.tid) {
        f.push(format!("args.pid == {p}"));
    }
    let pred = super::predicate(&f);
    // A preempted task (the tracepoint's prev_state 0x100: its low byte is the sleep state)
    // queues again; the cgroup test applies to it too.
    let cgp = if cg.is_empty() { String::new() } else { format!(" && {}", cg.join(" && ")) };
    let prev = match a.pid.or(a.tid) {
        Some(p) => format!("(args.prev_state & 0xff) == 0 && args.prev_pid == {p}"),
        None => "(args.prev_state & 0xff) == 0 && args.prev_pid != 0".to_string(),
    };
    format!(
        r#"tracepoint:sched:sched_wakeup, tracepoint:sched:sched_wakeup_new {pred}{{ @qt[args.pid] = nsecs; }}
tracepoint:sched:sched_switch {{
    if ({prev}{cgp}) {{ @qt[args.prev_pid] = nsecs; }}
    $t = @qt[args.next_pid];
    if ($t) {{
        $us = (nsecs - $t) / 1000;
        if ($us >= {min}) {{ printf("{EVENT_E}", args.next_pid, $us, args.prev_pid, args.next_comm, args.prev_comm); }}
        delete(@qt[args.next_pid]);
    }}
}}
"#,
        min = a.min_us,
        EVENT_E = EVENT.escape_default(),
    )
}

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let mut h = String::new();
    if !a.common.json {
        h = format!("Tracing run queue latency higher than {} us\n", a.min_us);
        if a.previous {
            h.push_str(&format!(
                "{:<8} {:<16} {:<6} {:>14} {:<16} {:<6}",
                "TIME", "COMM", "TID", "LAT(us)", "PREV COMM", "PREV TID"
            ));
        } else {
            h.push_str(&format!("{:<8} {:<16} {:<6} {:>14}", "TIME", "COMM", "TID", "LAT(us)"));
        }
    }
    super::run("runqslower", &[Route::new("tracepoint", program(&a, &cg))], &h, &a.common, None, |e| {
        let Some(v) = printf_args(e, EVENT) else { return true };
        let (tid, us, prev_tid) = (int(&v[0]), int(&v[1]), int(&v[2]));
        let (comm, prev_comm) = (string(&v[3]), string(&v[4]));
        let time = super::hms();
        if a.common.json {
            return line(&format!(
                "{{\"time\": {}, \"comm\": {}, \"tid\": {tid}, \"lat_us\": {us}, \"prev_comm\": {}, \"prev_tid\": {prev_tid}}}",
                json_str(&time),
                json_str(&comm),
                json_str(&prev_comm)
            ));
        }
        if a.previous {
            line(&format!("{time:<8} {comm:<16} {tid:<6} {us:>14} {prev_comm:<16} {prev_tid:<6}"))
        } else {
            line(&format!("{time:<8} {comm:<16} {tid:<6} {us:>14}"))
        }
    })
}
