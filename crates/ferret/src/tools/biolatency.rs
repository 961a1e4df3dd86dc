//! `ferret biolatency`: block I/O latency as BCC biolatency's histogram, from issue (or, with
//! -Q, from the I/O's start) to completion. Kernel side: the block tracepoints, a request
//! keyed by device and sector.
use super::hist::{self, Show};
use super::{Common, Every, Route};
use clap::Parser;
use ferret::Value;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command = crate::cmd::Command {
    name: "biolatency",
    about: "summarize block device I/O latency as a histogram (BCC's biolatency)",
    run,
};

const EXAMPLES: &str = "examples:
    ferret biolatency              # summarize block I/O latency as a histogram
    ferret biolatency 1 10         # print 1 second summaries, 10 times
    ferret biolatency -mT 1        # 1s summaries, milliseconds, and timestamps
    ferret biolatency -Q           # include OS queued time in I/O time
    ferret biolatency -D           # show each disk device separately
    ferret biolatency -d vda       # trace vda only
    ferret biolatency -e           # show extension summary (average, total, count)
    ferret biolatency -j 1         # JSON lines: time, [disk,] unit, hist [{interval-start, interval-end, count}]
                                   # (-e adds a record of time, unit, avg, total, count)";

/// Summarize block device I/O latency as a histogram
#[derive(Parser, Debug)]
#[command(name = "ferret biolatency", after_help = EXAMPLES)]
struct Args {
    /// include timestamp on output
    #[arg(short = 'T', long = "timestamp")]
    timestamp: bool,
    /// include OS queued time in I/O time
    #[arg(short = 'Q', long = "queued")]
    queued: bool,
    /// millisecond histogram
    #[arg(short = 'm', long = "milliseconds")]
    milliseconds: bool,
    /// print a histogram per disk device
    #[arg(short = 'D', long = "disks")]
    disks: bool,
    /// trace this disk only
    #[arg(short = 'd', long = "disk")]
    disk: Option<String>,
    /// summarize average/total value
    #[arg(short = 'e', long = "extension")]
    extension: bool,
    /// output interval, in seconds
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    interval: Option<u64>,
    /// number of outputs
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    #[command(flatten)]
    common: Common,
}

fn program(a: &Args, cg: &[String], start: &str, dev: Option<u64>) -> String {
    let mut f = cg.to_vec();
    if let Some(d) = dev {
        f.push(format!("args.dev == {d}"));
    }
    let pred = super::predicate(&f);
    let div = if a.milliseconds { 1_000_000 } else { 1000 };
    let key = if a.disks { "[args.dev]" } else { "" };
    // -e: the total (ns) and the count of all I/O, whatever the disk.
    let ext = if a.extension { " @ext_ns = sum(nsecs - $t); @ext_n = count();" } else { "" };
    // With -Q the start is the I/O's start, else its issue; a request issued without a start
    // seen (before tracing began) keeps its first stamp.
    let issue = if start == "block_rq_issue" {
        String::new()
    } else {
        format!("tracepoint:block:block_rq_issue {pred}{{ if (!@start[args.dev, args.sector]) {{ @start[args.dev, args.sector] = nsecs; }} }}\n")
    };
    format!(
        r#"tracepoint:block:{start} {pred}{{ @start[args.dev, args.sector] = nsecs; }}
{issue}tracepoint:block:block_rq_complete {{
    $t = @start[args.dev, args.sector];
    if ($t) {{ @dist{key} = hist((nsecs - $t) / {div});{ext} delete(@start[args.dev, args.sector]); }}
}}
"#
    )
}

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let dev = match super::block::disk_arg("biolatency", a.disk.as_deref()) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let routes: Vec<Route> = if a.queued {
        vec![
            Route::new("tracepoint block_io_start", program(&a, &cg, "block_io_start", dev)),
            Route::new("tracepoint block_rq_insert", program(&a, &cg, "block_rq_insert", dev)),
        ]
    } else {
        vec![Route::new("tracepoint", program(&a, &cg, "block_rq_issue", dev))]
    };
    let unit = if a.milliseconds { "msecs" } else { "usecs" };
    let header = if a.common.json { "" } else { "Tracing block device I/O... Hit Ctrl-C to end." };
    let label = |v: &Value| super::block::disk_name(super::int(v) as u64);
    let show = Show {
        map: "@dist",
        unit,
        section: if a.disks { "disk" } else { "" },
        label: &label,
        linear: false,
        timestamp: a.timestamp,
        json: a.common.json,
    };
    super::run_summary("biolatency", &routes, header, &a.common, Every::positional(a.interval, a.count), |r| {
        hist::show(r, &show) && (!a.extension || extension(r, unit, a.common.json))
    })
}

/// BCC's `-e` line after the histograms: `avg = A usecs, total: T usecs, count: N` (whole
/// units, as BCC's `%ld` prints them), for the interval's I/O; nothing when there was none.
fn extension(r: &ferret::Running, unit: &str, json: bool) -> bool {
    let (ns, n) = (super::scalar(r, "@ext_ns"), super::scalar(r, "@ext_n"));
    r.clear("@ext_ns");
    r.clear("@ext_n");
    if n == 0 {
        return true;
    }
    let total = ns / if unit == "msecs" { 1_000_000 } else { 1000 };
    if json {
        return super::line(&format!(
            "{{\"time\": {}, \"unit\": {}, \"avg\": {}, \"total\": {total}, \"count\": {n}}}",
            super::json_str(&super::hms()),
            super::json_str(unit),
            total / n
        ));
    }
    super::line(&format!("\navg = {} {unit}, total: {total} {unit}, count: {n}\n", total / n))
}
