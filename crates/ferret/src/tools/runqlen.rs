//! `ferret runqlen`: run queue length, sampled on every CPU at 99 Hz, as BCC runqlen's linear
//! histogram (or with -O the run queue occupancy). Kernel side: a CPU clock perf event reading
//! the running task's CFS run queue (kernel BTF): `nr_queued` on Linux 6.13+, `nr_running`
//! before, less the running task, as BCC.
use super::hist::{self, Show};
use super::{json_str, line, Common, Every, Route};
use clap::Parser;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command = crate::cmd::Command {
    name: "runqlen",
    about: "summarize scheduler run queue length as a histogram (BCC's runqlen)",
    run,
};

const EXAMPLES: &str = "examples:
    ferret runqlen            # summarize run queue length as a histogram
    ferret runqlen 1 10       # print 1 second summaries, 10 times
    ferret runqlen -T 1       # 1s summaries and timestamps
    ferret runqlen -O         # report run queue occupancy
    ferret runqlen -C         # show each CPU separately";

/// Summarize scheduler run queue length as a histogram
#[derive(Parser, Debug)]
#[command(name = "ferret runqlen", after_help = EXAMPLES)]
struct Args {
    /// include timestamp on output
    #[arg(short = 'T', long = "timestamp")]
    timestamp: bool,
    /// report run queue occupancy
    #[arg(short = 'O', long = "runqocc")]
    runqocc: bool,
    /// print output for each CPU separately
    #[arg(short = 'C', long = "cpus")]
    cpus: bool,
    /// output interval, in seconds
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    interval: Option<u64>,
    /// number of outputs
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    #[command(flatten)]
    common: Common,
}

fn program(a: &Args, cg: &[String], field: &str) -> String {
    let key = if a.cpus { "[cpu]" } else { "" };
    format!(
        "profile:hz:99 {}{{ $n = (int64)curtask->se.cfs_rq->{field}; $len = $n > 0 ? $n - 1 : 0; @len{key} = lhist($len, 0, 100, 1); }}\n",
        super::predicate(cg)
    )
}

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let routes = [
        Route::new("perf event cpu-clock (cfs_rq nr_queued)", program(&a, &cg, "nr_queued")),
        Route::new("perf event cpu-clock (cfs_rq nr_running)", program(&a, &cg, "nr_running")),
    ];
    let header = if a.common.json { "" } else { "Sampling run queue length... Hit Ctrl-C to end." };
    let show = Show {
        map: "@len",
        unit: "runqlen",
        section: if a.cpus { "cpu" } else { "" },
        label: &hist::plain,
        linear: true,
        timestamp: a.timestamp,
        json: a.common.json,
    };
    super::run_summary("runqlen", &routes, header, &a.common, Every::positional(a.interval, a.count), |r| {
        if !a.runqocc {
            return hist::show(r, &show);
        }
        let mut occ: Vec<(String, f64)> = vec![];
        for (k, v) in r.map("@len").map(|d| d.entries).unwrap_or_default() {
            let b = hist::linear_buckets(&v);
            let total: u64 = b.iter().sum();
            let queued: u64 = b.iter().skip(1).sum();
            let pct = if total > 0 { queued as f64 / total as f64 * 100.0 } else { 0.0 };
            occ.push((k.as_ref().map_or_else(String::new, hist::plain), pct));
        }
        r.clear("@len");
        occ.sort_by_key(|(cpu, _)| cpu.parse::<u64>().unwrap_or(0));
        let time = super::hms();
        if a.common.json {
            return occ.iter().all(|(cpu, p)| {
                let c = if a.cpus { format!(", \"cpu\": {cpu}") } else { String::new() };
                line(&format!("{{\"time\": {}{c}, \"runqocc\": {p:.2}}}", json_str(&time)))
            });
        }
        let mut out = String::from("\n");
        if a.timestamp {
            out.push_str(&format!("{time:<8}\n"));
        }
        for (cpu, p) in &occ {
            if a.cpus {
                out.push_str(&format!("runqocc, CPU {cpu:<3} {p:6.2}%\n"));
            } else {
                out.push_str(&format!("runqocc: {p:0.2}%\n"));
            }
        }
        line(out.trim_end_matches('\n'))
    })
}
