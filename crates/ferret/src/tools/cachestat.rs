//! `ferret cachestat`: page cache hits, misses and dirtied pages per interval, with BCC
//! cachestat's columns. Routes: the `filemap:` tracepoints (page cache lookups by
//! `filemap_get_pages` and faults as accesses, pages added as misses), `writeback:` and
//! `block:block_dirty_buffer` for dirtied pages; then fentry, then kprobes on BCC's functions
//! (`filemap_add_folio`, `folio_mark_accessed`, `folio_account_dirtied`, `mark_buffer_dirty`).
//! Counts: accesses (A), pages added (P), folios dirtied (D), buffers dirtied (B); as BCC:
//! misses = P - D, hits = A - misses (with BCC's functions A counts `mark_buffer_dirty`'s
//! accesses too, and B is taken from it).
use super::{json_str, line, Common, Every, Route};
use clap::Parser;
use ferret::MapValue;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command =
    crate::cmd::Command { name: "cachestat", about: "count cache kernel function calls (BCC's cachestat)", run };

const EXAMPLES: &str = "examples:
    ferret cachestat         # show page cache hits and misses every second
    ferret cachestat -T 1    # include timestamps
    ferret cachestat 1 5     # print 1 second summaries, 5 times
    ferret cachestat -j 1 3  # JSON lines: time, hits, misses, dirties, hitratio, buffers_mb, cached_mb";

/// Count cache kernel function calls
#[derive(Parser, Debug)]
#[command(name = "ferret cachestat", after_help = EXAMPLES)]
struct Args {
    /// include timestamp on output
    #[arg(short = 'T', long = "timestamp")]
    timestamp: bool,
    /// output interval, in seconds
    #[arg(default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    interval: u64,
    /// number of outputs
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    #[command(flatten)]
    common: Common,
}

// The counters: accesses, pages added, folios dirtied, buffers dirtied.
const A: usize = 0;
const P: usize = 1;
const D: usize = 2;
const B: usize = 3;

fn routes(pred: &str) -> Vec<Route> {
    let tp = format!(
        "tracepoint:filemap:mm_filemap_get_pages {pred}{{ @c[{A}] = sum(args.last_index - args.index + 1); }}
tracepoint:filemap:mm_filemap_fault {pred}{{ @c[{A}] = sum(1); }}
tracepoint:filemap:mm_filemap_add_to_page_cache {pred}{{ @c[{P}] = sum(1 << args.order); }}
tracepoint:writeback:writeback_dirty_folio {pred}{{ @c[{D}] = sum(1); }}
tracepoint:block:block_dirty_buffer {pred}{{ @c[{B}] = sum(1); }}
"
    );
    let funcs = |kind: &str| {
        format!(
            "{kind}:filemap_add_folio {pred}{{ @c[{P}] = sum(1); }}
{kind}:folio_mark_accessed {pred}{{ @c[{A}] = sum(1); }}
{kind}:folio_account_dirtied {pred}{{ @c[{D}] = sum(1); }}
{kind}:mark_buffer_dirty {pred}{{ @c[{B}] = sum(1); @c[{A}] = sum(-1); }}
"
        )
    };
    vec![
        Route::new("tracepoint filemap/writeback", tp),
        Route::new("fentry", funcs("fentry")),
        Route::new("kprobe", funcs("kprobe")),
    ]
}

fn meminfo_mb(field: &str) -> f64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let mut h = String::new();
    if !a.common.json {
        if a.timestamp {
            h.push_str(&format!("{:<8} ", "TIME"));
        }
        h.push_str(&format!(
            "{:>8} {:>8} {:>8} {:>8} {:>12} {:>10}",
            "HITS", "MISSES", "DIRTIES", "HITRATIO", "BUFFERS_MB", "CACHED_MB"
        ));
    }
    let every = Every::positional(Some(a.interval), a.count);
    let status = super::run_summary("cachestat", &routes(&super::predicate(&cg)), &h, &a.common, every, |r| {
        let mut c = [0i64; 4];
        for (k, v) in r.map("@c").map(|d| d.entries).unwrap_or_default() {
            let n = match v {
                MapValue::Sum(ferret_output::Num::Signed(n)) => n,
                MapValue::Sum(ferret_output::Num::Unsigned(n)) => n as i64,
                _ => continue,
            };
            if let Some(slot) = k.and_then(|k| c.get_mut(super::int(&k) as usize)) {
                *slot = n;
            }
        }
        r.clear("@c");
        let total = c[A].max(0);
        let mut misses = (c[P] - c[D]).max(0);
        let mut hits = total - misses;
        // Read-ahead can add more pages than were asked for: then all accesses were misses.
        if hits < 0 {
            misses = total;
            hits = 0;
        }
        let ratio = if total > 0 { hits as f64 / total as f64 * 100.0 } else { 0.0 };
        let (buffers, cached) = (meminfo_mb("Buffers"), meminfo_mb("Cached"));
        let time = super::hms();
        if a.common.json {
            return line(&format!(
                "{{\"time\": {}, \"hits\": {hits}, \"misses\": {misses}, \"dirties\": {}, \"hitratio\": {ratio:.2}, \"buffers_mb\": {buffers:.0}, \"cached_mb\": {cached:.0}}}",
                json_str(&time),
                c[B]
            ));
        }
        let mut row = String::new();
        if a.timestamp {
            row.push_str(&format!("{time:<8} "));
        }
        row.push_str(&format!("{hits:>8} {misses:>8} {:>8} {ratio:>7.2}% {buffers:>12.0} {cached:>10.0}", c[B]));
        line(&row)
    });
    if status == 0 && !a.common.json {
        line("Detaching...");
    }
    status
}
