//! `ferret funclatency`: how long kernel or user functions take, as BCC funclatency's
//! histogram with its average line. A kernel function attaches through fentry/fexit, else
//! kprobes; a user function through uprobes.
use super::hist::{self, Show};
use super::spec::{self, Target};
use super::{line, Common, Every, Route};
use clap::Parser;
use ferret::Value;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command = crate::cmd::Command {
    name: "funclatency",
    about: "time functions and show their latency distribution (BCC's funclatency)",
    run,
};

const EXAMPLES: &str = "examples:
    ferret funclatency do_sys_open       # time the do_sys_open() kernel function
    ferret funclatency c:read            # time the read() C library function
    ferret funclatency -u vfs_read       # time vfs_read(), in microseconds
    ferret funclatency -m do_nanosleep   # time do_nanosleep(), in milliseconds
    ferret funclatency -i 2 -d 10 c:open # output every 2 seconds, for duration 10s
    ferret funclatency -mTi 5 vfs_read   # output every 5 seconds, with timestamps
    ferret funclatency -p 181 vfs_read   # time process 181 only
    ferret funclatency 'vfs_fstat*'      # time both vfs_fstat() and vfs_fstatat()
    ferret funclatency 'c:*printf'       # time the *printf family of functions
    ferret funclatency -F 'vfs_r*'       # show one histogram per matched function";

/// Time functions and print latency as a histogram
#[derive(Parser, Debug)]
#[command(name = "ferret funclatency", after_help = EXAMPLES)]
struct Args {
    /// trace this PID only
    #[arg(short = 'p', long = "pid")]
    pid: Option<u32>,
    /// summary interval, in seconds
    #[arg(short = 'i', long = "interval", value_parser = clap::value_parser!(u64).range(1..))]
    interval: Option<u64>,
    /// total duration of trace, in seconds
    #[arg(short = 'd', long = "duration", value_parser = clap::value_parser!(u64).range(1..))]
    duration: Option<u64>,
    /// include timestamp on output
    #[arg(short = 'T', long = "timestamp")]
    timestamp: bool,
    /// microsecond histogram
    #[arg(short = 'u', long = "microseconds", conflicts_with = "milliseconds")]
    microseconds: bool,
    /// millisecond histogram
    #[arg(short = 'm', long = "milliseconds")]
    milliseconds: bool,
    /// show a separate histogram per function
    #[arg(short = 'F', long = "function")]
    function: bool,
    /// search expression for functions ([lib:]name, with * wildcards)
    pattern: String,
    #[command(flatten)]
    common: Common,
}

fn program(a: &Args, cg: &[String], entry: &str, exit: &str, div: u64) -> String {
    let mut f = cg.to_vec();
    if let Some(p) = a.pid {
        f.push(format!("pid == {p}"));
    }
    let key = if a.function { "[probe]" } else { "" };
    format!(
        r#"{entry} {pred}{{ @start[tid] = nsecs; }}
{exit} /@start[tid]/ {{
    $ns = nsecs - @start[tid];
    @dist{key} = hist($ns / {div}); @total = sum($ns); @n = count();
    delete(@start[tid]);
}}
"#,
        pred = super::predicate(&f)
    )
}

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let target = match spec::parse(&a.pattern) {
        Ok(t @ (Target::Kernel { ret: false, .. } | Target::User { ret: false, .. })) => t,
        Ok(_) => {
            eprintln!("ferret funclatency: error: '{}' is not a function: give [lib:]function", a.pattern);
            return 2;
        }
        Err(e) => {
            eprintln!("ferret funclatency: error: {e}");
            return 2;
        }
    };
    let (div, unit) = if a.milliseconds {
        (1_000_000, "msecs")
    } else if a.microseconds {
        (1000, "usecs")
    } else {
        (1, "nsecs")
    };
    let routes: Vec<Route> = match &target {
        Target::Kernel { func, .. } => vec![
            Route::new("fentry/fexit", program(&a, &cg, &format!("fentry:{func}"), &format!("fexit:{func}"), div)),
            Route::new(
                "kprobe/kretprobe",
                program(&a, &cg, &format!("kprobe:{func}"), &format!("kretprobe:{func}"), div),
            ),
        ],
        Target::User { lib, func, .. } => vec![Route::new(
            "uprobe/uretprobe",
            program(&a, &cg, &format!("uprobe:{lib}:{func}"), &format!("uretprobe:{lib}:{func}"), div),
        )],
        _ => unreachable!("functions only"),
    };
    let routes: Vec<Route> = routes.into_iter().map(|r| r.for_pid(a.pid)).collect();
    let header = if a.common.json {
        String::new()
    } else {
        // An entry and a return probe for each function.
        format!("Tracing {{functions}} functions for \"{}\"... Hit Ctrl-C to end.", a.pattern)
    };
    let label = |v: &Value| spec::short_name(&hist::plain(v));
    let show = Show {
        map: "@dist",
        unit,
        section: if a.function { "Function" } else { "" },
        label: &label,
        linear: false,
        timestamp: a.timestamp,
        json: a.common.json,
    };
    let every = Every::secs(a.interval, None, a.duration);
    let status = super::run_summary("funclatency", &routes, &header, &a.common, every, |r| {
        let (total, n) = (super::scalar(r, "@total") / div, super::scalar(r, "@n"));
        r.clear("@total");
        r.clear("@n");
        if !hist::show(r, &show) {
            return false;
        }
        if n == 0 || a.common.json {
            return true;
        }
        line(&format!("\navg = {} {unit}, total: {total} {unit}, count: {n}\n", total / n))
    });
    if status == 0 && !a.common.json {
        line("Detaching...");
    }
    status
}
