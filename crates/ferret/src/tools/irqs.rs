//! `ferret softirqs` and `ferret hardirqs`: time spent in soft and hard interrupt handlers (or,
//! with -C, how often they ran), in total or as BCC's histograms per handler, with BCC's
//! columns. Kernel side: the `irq:` entry and exit tracepoints, the entry time kept by CPU.
use super::hist::{self, Show};
use super::{json_str, line, Common, Every, Route};
use clap::Parser;
use ferret::Value;
use std::ffi::OsString;

pub const SOFTIRQS: crate::cmd::Command = crate::cmd::Command {
    name: "softirqs",
    about: "summarize soft IRQ (interrupt) event time (BCC's softirqs)",
    run: run_soft,
};

pub const HARDIRQS: crate::cmd::Command = crate::cmd::Command {
    name: "hardirqs",
    about: "summarize hard IRQ (interrupt) event time (BCC's hardirqs)",
    run: run_hard,
};

const SOFT_EXAMPLES: &str = "examples:
    ferret softirqs            # sum soft irq event time
    ferret softirqs -d         # show soft irq event time as histograms
    ferret softirqs 1 10       # print 1 second summaries, 10 times
    ferret softirqs -NT 1      # 1s summaries, nanoseconds, and timestamps
    ferret softirqs -C         # count soft irq events instead of their time
    ferret softirqs -c 1       # sum soft irq event time on CPU 1 only
    ferret softirqs -j 1       # JSON lines: time, softirq, usecs (or count, or hist)";

const HARD_EXAMPLES: &str = "examples:
    ferret hardirqs            # sum hard irq event time
    ferret hardirqs -d         # show hard irq event time as histograms
    ferret hardirqs 1 10       # print 1 second summaries, 10 times
    ferret hardirqs -NT 1      # 1s summaries, nanoseconds, and timestamps
    ferret hardirqs -C         # count hard irq events instead of their time
    ferret hardirqs -c 1       # sum hard irq event time on CPU 1 only
    ferret hardirqs -j 1       # JSON lines: time, hardirq, usecs (or count, or hist)";

/// Summarize soft or hard IRQ event time
#[derive(clap::Args, Debug)]
struct Args {
    /// include timestamp on output
    #[arg(short = 'T', long = "timestamp")]
    timestamp: bool,
    /// output in nanoseconds
    #[arg(short = 'N', long = "nanoseconds")]
    nanoseconds: bool,
    /// show event counts instead of timing
    #[arg(short = 'C', long = "count", visible_alias = "events", conflicts_with_all = ["nanoseconds", "dist"])]
    count_events: bool,
    /// show distributions as histograms
    #[arg(short = 'd', long = "dist")]
    dist: bool,
    /// trace this CPU only
    #[arg(short = 'c', long = "cpu")]
    cpu: Option<u32>,
    /// output interval, in seconds
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    interval: Option<u64>,
    /// number of outputs
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    outputs: Option<u64>,
    #[command(flatten)]
    common: Common,
}

#[derive(Parser, Debug)]
#[command(name = "ferret softirqs", after_help = SOFT_EXAMPLES)]
struct Soft {
    #[command(flatten)]
    args: Args,
}

#[derive(Parser, Debug)]
#[command(name = "ferret hardirqs", after_help = HARD_EXAMPLES)]
struct Hard {
    #[command(flatten)]
    args: Args,
}

/// The kernel's softirq names (`softirq_to_name`), by vector.
const SOFTIRQ_NAMES: [&str; 10] =
    ["hi", "timer", "net_tx", "net_rx", "block", "irq_poll", "tasklet", "sched", "hrtimer", "rcu"];

struct Kind {
    name: &'static str,
    /// The column title and JSON field of a handler.
    column: &'static str,
    width: usize,
    entry: &'static str,
    exit: &'static str,
    /// The handler's key at the exit (and, for hard irqs, its name at the entry).
    key: &'static str,
    label: fn(&Value) -> String,
}

fn soft_label(v: &Value) -> String {
    let vec = super::int(v);
    SOFTIRQ_NAMES.get(vec as usize).map_or_else(|| vec.to_string(), |s| s.to_string())
}

const SOFT: Kind = Kind {
    name: "softirqs",
    column: "softirq",
    width: 16,
    entry: "tracepoint:irq:softirq_entry",
    exit: "tracepoint:irq:softirq_exit",
    key: "args.vec",
    label: soft_label,
};

const HARD: Kind = Kind {
    name: "hardirqs",
    column: "hardirq",
    width: 26,
    entry: "tracepoint:irq:irq_handler_entry",
    exit: "tracepoint:irq:irq_handler_exit",
    key: "@name[cpu]",
    label: hist::plain,
};

fn program(k: &Kind, a: &Args, cg: &[String]) -> String {
    let mut f = cg.to_vec();
    if let Some(c) = a.cpu {
        f.push(format!("cpu == {c}"));
    }
    let pred = super::predicate(&f);
    // A hard irq's exit has its number only: the entry keeps the handler's name by CPU.
    let name = if k.name == "hardirqs" { " @name[cpu] = str(args.name);" } else { "" };
    let div = if a.nanoseconds { 1 } else { 1000 };
    if a.count_events {
        return format!(
            "{} {pred}{{ @dist[{}] = count(); }}\n",
            k.entry,
            if k.name == "hardirqs" { "str(args.name)" } else { k.key }
        );
    }
    let record = if a.dist {
        format!("@dist[{}] = hist((nsecs - $t) / {div});", k.key)
    } else {
        format!("@dist[{}] = sum(nsecs - $t);", k.key)
    };
    format!(
        "{entry} {pred}{{ @start[cpu] = nsecs;{name} }}\n{exit} {{ $t = @start[cpu]; if ($t) {{ {record} delete(@start[cpu]); }} }}\n",
        entry = k.entry,
        exit = k.exit
    )
}

fn run_kind(k: &Kind, a: &Args) -> i32 {
    let cg = match a.common.filters() {
        Ok(f) => f,
        Err(code) => return code,
    };
    let what = if k.name == "softirqs" { "soft" } else { "hard" };
    let header = match (a.common.json, a.count_events) {
        (true, _) => String::new(),
        (false, true) => format!("Tracing {what} irq events... Hit Ctrl-C to end."),
        (false, false) => format!("Tracing {what} irq event time... Hit Ctrl-C to end."),
    };
    let unit = if a.count_events {
        "count"
    } else if a.nanoseconds {
        "nsecs"
    } else {
        "usecs"
    };
    let factor = if a.nanoseconds || a.count_events { 1 } else { 1000 };
    let label = k.label;
    let show = Show {
        map: "@dist",
        unit,
        section: k.column,
        label: &label,
        linear: false,
        timestamp: a.timestamp,
        json: a.common.json,
    };
    let routes = [Route::new("tracepoint", program(k, a, &cg))];
    let every = Every::positional(a.interval, a.outputs);
    super::run_summary(k.name, &routes, &header, &a.common, every, |r| {
        if a.dist {
            return hist::show(r, &show);
        }
        let mut rows: Vec<(String, u64)> = r
            .map("@dist")
            .map(|d| d.entries)
            .unwrap_or_default()
            .iter()
            .filter_map(|(key, v)| Some(((k.label)(key.as_ref()?), super::num(v).unwrap_or(0) / factor)))
            .collect();
        r.clear("@dist");
        rows.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        let time = super::hms();
        if a.common.json {
            return rows.iter().all(|(name, v)| {
                line(&format!(
                    "{{\"time\": {}, \"{}\": {}, \"{unit}\": {v}}}",
                    json_str(&time),
                    k.column,
                    json_str(name)
                ))
            });
        }
        let mut out = String::from("\n");
        if a.timestamp {
            out.push_str(&format!("{time:<8}\n"));
        }
        let w = k.width;
        out.push_str(&format!("{:<w$} {:>11}\n", k.column.to_uppercase(), format!("TOTAL_{unit}")));
        for (name, v) in &rows {
            out.push_str(&format!("{name:<w$} {v:>11}\n"));
        }
        line(out.trim_end_matches('\n'))
    })
}

fn run_soft(argv: Vec<OsString>) -> i32 {
    match crate::cmd::parse::<Soft>(argv) {
        Ok(s) => run_kind(&SOFT, &s.args),
        Err(code) => code,
    }
}

fn run_hard(argv: Vec<OsString>) -> i32 {
    match crate::cmd::parse::<Hard>(argv) {
        Ok(h) => run_kind(&HARD, &h.args),
        Err(code) => code,
    }
}
