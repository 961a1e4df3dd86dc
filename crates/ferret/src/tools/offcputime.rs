//! `ferret offcputime`: time threads spend blocked, by stack, as BCC offcputime prints it (or
//! folded, or as an SVG flame graph). Kernel side: `sched_switch` keeps the stacks and time of
//! the task switched out (the running task there) and, when it is switched back in, adds the
//! time off CPU to its stacks.
use super::stacks::{self, Opts};
use super::{Common, Every, Route};
use clap::Parser;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command =
    crate::cmd::Command { name: "offcputime", about: "summarize off-CPU time by stack trace (BCC's offcputime)", run };

const EXAMPLES: &str = "examples:
    ferret offcputime             # trace off-CPU stack time until Ctrl-C
    ferret offcputime 5           # trace for 5 seconds only
    ferret offcputime -f 5        # 5 seconds, and output in folded format
    ferret offcputime --flamegraph out.svg 5   # write an interactive SVG flame graph
    ferret offcputime -s 5        # 5 seconds, and show symbol offsets
    ferret offcputime -m 1000     # trace only events that last more than 1000 usec
    ferret offcputime -M 10000    # trace only events that last less than 10000 usec
    ferret offcputime -p 185      # only trace threads for PID 185
    ferret offcputime -t 188      # only trace thread 188
    ferret offcputime -u          # only trace user threads (no kernel)
    ferret offcputime -k          # only trace kernel threads (no user)
    ferret offcputime -U          # only show user space stacks (no kernel)
    ferret offcputime -K          # only show kernel space stacks (no user)
    ferret offcputime --state 2   # only trace threads in TASK_UNINTERRUPTIBLE";

/// Summarize off-CPU time by stack trace
#[derive(Parser, Debug)]
#[command(name = "ferret offcputime", after_help = EXAMPLES)]
struct Args {
    /// trace these PIDS only
    #[arg(short = 'p', long = "pid", conflicts_with_all = ["tid", "user_threads_only", "kernel_threads_only"])]
    pid: Option<u32>,
    /// trace these TIDS only
    #[arg(short = 't', long = "tid", conflicts_with_all = ["user_threads_only", "kernel_threads_only"])]
    tid: Option<u32>,
    /// user threads only (no kernel threads)
    #[arg(short = 'u', long = "user-threads-only", conflicts_with = "kernel_threads_only")]
    user_threads_only: bool,
    /// kernel threads only (no user threads)
    #[arg(short = 'k', long = "kernel-threads-only")]
    kernel_threads_only: bool,
    /// show stacks from user space only (no kernel space stacks)
    #[arg(short = 'U', long = "user-stacks-only", conflicts_with = "kernel_stacks_only")]
    user_stacks_only: bool,
    /// show stacks from kernel space only (no user space stacks)
    #[arg(short = 'K', long = "kernel-stacks-only")]
    kernel_stacks_only: bool,
    /// insert delimiter between kernel/user stacks
    #[arg(short = 'd', long = "delimited")]
    delimited: bool,
    /// output folded format
    #[arg(short = 'f', long = "folded")]
    folded: bool,
    /// write an SVG flame graph to this file
    #[arg(long = "flamegraph", value_name = "FILE")]
    flamegraph: Option<String>,
    /// show address offsets
    #[arg(short = 's', long = "offset")]
    offset: bool,
    /// accepted for BCC compatibility (ferret's stack map grows as needed)
    #[arg(long = "stack-storage-size", hide = true)]
    stack_storage_size: Option<u64>,
    /// the amount of time in microseconds over which we store traces (default 1)
    #[arg(short = 'm', long = "min-block-time", default_value_t = 1)]
    min_block_time: u64,
    /// the amount of time in microseconds under which we store traces
    #[arg(short = 'M', long = "max-block-time")]
    max_block_time: Option<u64>,
    /// filter on this thread state bitmask (eg, 2 == TASK_UNINTERRUPTIBLE) see include/linux/sched.h
    #[arg(long = "state")]
    state: Option<u64>,
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

/// PF_KTHREAD (include/linux/sched.h).
const PF_KTHREAD: u64 = 0x0020_0000;

fn program(a: &Args, cg: &[String]) -> String {
    // The task switched out is the running one: its stacks, pid and flags are at hand.
    let mut f = cg.to_vec();
    f.push("args.prev_pid != 0".into());
    if let Some(p) = a.pid {
        f.push(format!("pid == {p}"));
    }
    if let Some(t) = a.tid {
        f.push(format!("tid == {t}"));
    }
    if a.user_threads_only {
        f.push(format!("!(curtask->flags & {PF_KTHREAD})"));
    }
    if a.kernel_threads_only {
        f.push(format!("(curtask->flags & {PF_KTHREAD})"));
    }
    if let Some(s) = a.state {
        f.push(if s == 0 { "(args.prev_state & 0xff) == 0".to_string() } else { format!("(args.prev_state & {s})") });
    }
    let mut save = vec!["@off[args.prev_pid] = nsecs;".to_string()];
    let mut key = vec![];
    if !a.user_stacks_only {
        save.push("@ks[args.prev_pid] = kstack;".into());
        key.push("@ks[$n]");
    }
    if !a.kernel_stacks_only {
        save.push("@us[args.prev_pid] = ustack;".into());
        key.push("@us[$n]");
    }
    key.extend(["args.next_comm", "$n"]);
    // The stacks kept for the task switched back in are forgotten with its time.
    let mut forget = String::new();
    if !a.user_stacks_only {
        forget.push_str(" delete(@ks[$n]);");
    }
    if !a.kernel_stacks_only {
        forget.push_str(" delete(@us[$n]);");
    }
    let mut range = vec![format!("$us >= {}", a.min_block_time)];
    if let Some(m) = a.max_block_time {
        range.push(format!("$us <= {m}"));
    }
    // Every thread off CPU has an entry: as many as libbpf-tools allow (10240); maps are
    // preallocated, so a larger size costs milliseconds at start for every map.
    format!(
        r#"config = {{ max_map_keys = 10240{unwind} }}
tracepoint:sched:sched_switch {{
    if ({filter}) {{ {save} }}
    $n = args.next_pid;
    $t = @off[$n];
    if ($t) {{
        $us = (nsecs - $t) / 1000;
        if ({range}) {{ @c[{key}] = sum($us); }}
        delete(@off[$n]);{forget}
    }}
}}
"#,
        filter = f.join(" && "),
        save = save.join(" "),
        range = range.join(" && "),
        key = key.join(", "),
        unwind = if a.dwarf { "" } else { "; ustack_unwind = \"fp\"" },
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
        offsets: a.offset && !a.folded && !a.common.json && a.flamegraph.is_none(),
        annotate: false,
    };
    o.prefetch_symbols();
    let mut header = String::new();
    if !a.folded && !a.common.json {
        let thread = if let Some(p) = a.pid {
            format!("PID {p}")
        } else if let Some(t) = a.tid {
            format!("TID {t}")
        } else if a.user_threads_only {
            "user threads".into()
        } else if a.kernel_threads_only {
            "kernel threads".into()
        } else {
            "all threads".into()
        };
        let stack = match (o.kernel, o.user) {
            (true, true) => "user + kernel",
            (false, true) => "user",
            _ => "kernel",
        };
        header = format!("Tracing off-CPU time (us) of {thread} by {stack} stack");
        match a.duration {
            Some(d) => header.push_str(&format!(" for {d} secs.")),
            None => header.push_str("... Hit Ctrl-C to end."),
        }
    }
    let every = Every::secs(None, None, a.duration);
    let routes = [Route::new("tracepoint", program(&a, &cg))];
    let out = stacks::Report {
        flamegraph: a.flamegraph.as_deref(),
        title: "Off-CPU Time Flame Graph",
        count_name: "us",
        folded: a.folded,
        json: a.common.json,
    };
    let mut failed = false;
    let status = super::run_summary("offcputime", &routes, &header, &a.common, every, |r| {
        out.print(&stacks::entries(r.map("@c"), &o), &o, &mut failed)
    });
    if status == 0 && failed {
        1
    } else {
        status
    }
}
