//! `ferret bitesize`: block I/O sizes by process, as BCC bitesize's histograms (Kbytes).
//! Kernel side: `block:block_rq_issue`, keyed by the issuing process's name.
use super::hist::{self, Show};
use super::{Common, Every, Route};
use clap::Parser;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command = crate::cmd::Command {
    name: "bitesize",
    about: "summarize block device I/O size as a histogram per process (BCC's bitesize)",
    run,
};

const EXAMPLES: &str = "examples:
    ferret bitesize          # histograms of I/O size by process name until Ctrl-C
    ferret bitesize 1 5      # print every second, 5 times
    ferret bitesize -j 1     # JSON lines: time, \"Process Name\", unit, hist";

/// Summarize block device I/O size as a histogram per process
#[derive(Parser, Debug)]
#[command(name = "ferret bitesize", after_help = EXAMPLES)]
struct Args {
    /// include timestamp on output
    #[arg(short = 'T', long = "timestamp")]
    timestamp: bool,
    /// output interval, in seconds
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    interval: Option<u64>,
    /// number of outputs
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    #[command(flatten)]
    common: Common,
}

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let text = format!(
        "tracepoint:block:block_rq_issue {}{{ @dist[comm] = hist(args.bytes / 1024); }}\n",
        super::predicate(&cg)
    );
    let header = if a.common.json { "" } else { "Tracing block I/O... Hit Ctrl-C to end." };
    let show = Show {
        map: "@dist",
        unit: "Kbytes",
        section: "Process Name",
        label: &hist::plain,
        linear: false,
        timestamp: a.timestamp,
        json: a.common.json,
    };
    let routes = [Route::new("tracepoint", text)];
    super::run_summary("bitesize", &routes, header, &a.common, Every::positional(a.interval, a.count), |r| {
        hist::show(r, &show)
    })
}
