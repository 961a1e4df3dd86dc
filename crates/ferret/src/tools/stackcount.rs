//! `ferret stackcount`: how often each stack leads to an event (a kernel or user function, a
//! tracepoint, a USDT probe), as BCC stackcount prints it (or folded, or as an SVG flame graph).
//! A kernel function attaches through fentry, else a kprobe.
use super::spec;
use super::stacks::{self, Opts};
use super::{Common, Every, Route};
use clap::Parser;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command =
    crate::cmd::Command { name: "stackcount", about: "count events and their stack traces (BCC's stackcount)", run };

const EXAMPLES: &str = "examples:
    ferret stackcount submit_bio              # count kernel stack traces for submit_bio
    ferret stackcount -d ip_output            # include a user/kernel stack delimiter
    ferret stackcount -s ip_output            # show symbol offsets
    ferret stackcount -sv ip_output           # show offsets and raw addresses (verbose)
    ferret stackcount 'tcp_send*'             # count stacks for funcs matching tcp_send*
    ferret stackcount -i 5 ip_output          # output every 5 seconds
    ferret stackcount -p 185 ip_output        # count ip_output stacks for PID 185 only
    ferret stackcount -p 185 c:malloc         # count stacks for malloc in PID 185
    ferret stackcount t:sched:sched_fork      # count stacks for sched_fork tracepoint
    ferret stackcount -p 185 u:node:*         # count stacks for all USDT probes in node
    ferret stackcount -K t:sched:sched_switch # kernel stacks only
    ferret stackcount -U t:sched:sched_switch # user stacks only
    ferret stackcount -f t:sched:sched_switch # folded output, for flame graphs";

/// Count events and their stack traces
#[derive(Parser, Debug)]
#[command(name = "ferret stackcount", after_help = EXAMPLES)]
struct Args {
    /// trace this PID only
    #[arg(short = 'p', long = "pid")]
    pid: Option<u32>,
    /// trace this CPU only
    #[arg(short = 'c', long = "cpu")]
    cpu: Option<u32>,
    /// summary interval, seconds
    #[arg(short = 'i', long = "interval", value_parser = clap::value_parser!(u64).range(1..))]
    interval: Option<u64>,
    /// total duration of trace, seconds
    #[arg(short = 'D', long = "duration", value_parser = clap::value_parser!(u64).range(1..))]
    duration: Option<u64>,
    /// include timestamp on output
    #[arg(short = 'T', long = "timestamp")]
    timestamp: bool,
    /// show address offsets
    #[arg(short = 's', long = "offset")]
    offset: bool,
    /// display stacks separately for each process
    #[arg(short = 'P', long = "perpid")]
    perpid: bool,
    /// kernel stack only
    #[arg(short = 'K', long = "kernel-stacks-only", conflicts_with = "user_stacks_only")]
    kernel_stacks_only: bool,
    /// user stack only
    #[arg(short = 'U', long = "user-stacks-only")]
    user_stacks_only: bool,
    /// insert delimiter between kernel/user stacks
    #[arg(short = 'd', long = "delimited")]
    delimited: bool,
    /// output folded format
    #[arg(short = 'f', long = "folded")]
    folded: bool,
    /// write an SVG flame graph to this file
    #[arg(long = "flamegraph", value_name = "FILE")]
    flamegraph: Option<String>,
    /// search expression for events ([p:|t:|u:][lib:]name, with * wildcards)
    pattern: String,
    /// unwind user stacks with the binaries' DWARF CFI (.eh_frame), complete for code built
    /// without frame pointers, at a start-up cost (default: frame pointers, as BCC)
    #[arg(long = "dwarf")]
    dwarf: bool,
    #[command(flatten)]
    common: Common,
}

fn program(a: &Args, cg: &[String], probe: &str, o: &Opts) -> String {
    let mut f = cg.to_vec();
    if let Some(p) = a.pid {
        f.push(format!("pid == {p}"));
    }
    if let Some(c) = a.cpu {
        f.push(format!("cpu == {c}"));
    }
    let mut key = o.stack_keys();
    // Stacks of every process count together unless -P (or -p) asks for them by process.
    if a.perpid || a.pid.is_some() {
        key.extend(["comm", "pid"]);
    } else {
        key.extend(["\"\"", "0"]);
    }
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
    let target = match spec::parse(&a.pattern) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("ferret stackcount: error: {e}");
            return 2;
        }
    };
    let o = Opts {
        kernel: !a.user_stacks_only,
        user: !a.kernel_stacks_only,
        delimited: a.delimited && !a.user_stacks_only && !a.kernel_stacks_only,
        offsets: a.offset && !a.folded && !a.common.json && a.flamegraph.is_none(),
        annotate: false,
    };
    o.prefetch_symbols();
    let routes: Vec<Route> = target
        .probes()
        .into_iter()
        .map(|(name, p)| Route::new(name, program(&a, &cg, &p, &o)).for_pid(a.pid))
        .collect();
    let header = if a.folded || a.common.json {
        String::new()
    } else {
        format!("Tracing {{probes}} functions for \"{}\"... Hit Ctrl-C to end.", a.pattern)
    };
    let every = Every::secs(a.interval, None, a.duration);
    let per_process = a.perpid && a.pid.is_none();
    let mut code = 0;
    let status = super::run_summary("stackcount", &routes, &header, &a.common, every, |r| {
        let all = stacks::entries(r.map("@s"), &o);
        r.clear("@s");
        if let Some(path) = &a.flamegraph {
            if let Err(e) = stacks::flamegraph(path, "Stack Count", "events", &all, &o) {
                eprintln!("ERROR: {e}");
                code = 1;
            }
            return true;
        }
        if !a.folded && !a.common.json {
            let mut top = String::new();
            if a.timestamp {
                top = format!("\n{:<8}", super::hms());
            }
            if !super::line(&top) {
                return false;
            }
        }
        stacks::show(&all, &o, a.common.json, a.folded, |c| {
            let tail = if per_process { format!("    {} [{}]", c.comm, c.pid) } else { String::new() };
            stacks::multiline(c, &o, "  ", &tail, "    ")
        })
    });
    if status == 0 && !a.folded && !a.common.json {
        super::line("Detaching...");
    }
    if status != 0 {
        status
    } else {
        code
    }
}
