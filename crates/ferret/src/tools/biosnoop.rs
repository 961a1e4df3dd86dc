//! `ferret biosnoop`: each block I/O with its process, disk, direction, sector, size and
//! latency, with BCC biosnoop's columns. Kernel side: the block tracepoints; the issue (and with
//! -Q the I/O's start) keeps the time and the issuing process by device and sector, the
//! completion reports them.
use super::{int, json_str, line, printf_args, string, Common, Route};
use clap::Parser;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command =
    crate::cmd::Command { name: "biosnoop", about: "trace block I/O with latency (BCC's biosnoop)", run };

const EXAMPLES: &str = "examples:
    ferret biosnoop           # trace all block I/O
    ferret biosnoop -Q        # include OS queued time
    ferret biosnoop -d vda    # trace vda only
    ferret biosnoop -j        # JSON lines: ts, comm, pid, disk, rwflag, sector, bytes, qlat_ms, lat_ms";

/// Trace block I/O
#[derive(Parser, Debug)]
#[command(name = "ferret biosnoop", after_help = EXAMPLES)]
struct Args {
    /// include OS queued time
    #[arg(short = 'Q', long = "queue")]
    queue: bool,
    /// trace this disk only
    #[arg(short = 'd', long = "disk")]
    disk: Option<String>,
    #[command(flatten)]
    common: Common,
}

const EVENT: &str = "%d %d %d %d %d %d %d %s %s\n";

fn program(cg: &[String], dev: Option<u64>, start: Option<&str>) -> String {
    let mut f = cg.to_vec();
    if let Some(d) = dev {
        f.push(format!("args.dev == {d}"));
    }
    let pred = super::predicate(&f);
    let queued = start.map_or(String::new(), |s| {
        format!("tracepoint:block:{s} {pred}{{ @queued[args.dev, args.sector] = nsecs; @pid[args.dev, args.sector] = pid; @comm[args.dev, args.sector] = comm; }}\n")
    });
    // The issuing process is the one that started the I/O when its start was seen.
    format!(
        r#"{queued}tracepoint:block:block_rq_issue {pred}{{
    @issued[args.dev, args.sector] = nsecs; @bytes[args.dev, args.sector] = args.bytes;
    if (!@pid[args.dev, args.sector]) {{ @pid[args.dev, args.sector] = pid; @comm[args.dev, args.sector] = comm; }}
}}
tracepoint:block:block_rq_complete {{
    $t = @issued[args.dev, args.sector];
    if ($t) {{
        printf("{EVENT_E}", $t, {qlat}, nsecs - $t, @pid[args.dev, args.sector], args.dev, args.sector,
            @bytes[args.dev, args.sector], @comm[args.dev, args.sector], args.rwbs);
        delete(@issued[args.dev, args.sector]);{delq} delete(@bytes[args.dev, args.sector]);
        delete(@pid[args.dev, args.sector]); delete(@comm[args.dev, args.sector]);
    }}
}}
"#,
        EVENT_E = EVENT.escape_default(),
        qlat = if start.is_some() {
            "@queued[args.dev, args.sector] ? $t - @queued[args.dev, args.sector] : 0"
        } else {
            "0"
        },
        delq = if start.is_some() { " delete(@queued[args.dev, args.sector]);" } else { "" },
    )
}

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let dev = match super::block::disk_arg("biosnoop", a.disk.as_deref()) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let routes: Vec<Route> = if a.queue {
        vec![
            Route::new("tracepoint block_io_start", program(&cg, dev, Some("block_io_start"))),
            Route::new("tracepoint block_rq_insert", program(&cg, dev, Some("block_rq_insert"))),
        ]
    } else {
        vec![Route::new("tracepoint", program(&cg, dev, None))]
    };
    let mut h = String::new();
    if !a.common.json {
        h = format!(
            "{:<11} {:<14} {:<7} {:<9} {:<1} {:<10} {:<7}",
            "TIME(s)", "COMM", "PID", "DISK", "T", "SECTOR", "BYTES"
        );
        if a.queue {
            h.push_str(&format!("{:>7} ", "QUE(ms)"));
        }
        h.push_str(&format!("{:>7}", "LAT(ms)"));
    }
    let mut first: Option<i64> = None;
    super::run("biosnoop", &routes, &h, &a.common, None, |e| {
        let Some(v) = printf_args(e, EVENT) else { return true };
        let (ts, qns, ns, pid, dev, sector, bytes) =
            (int(&v[0]), int(&v[1]), int(&v[2]), int(&v[3]), int(&v[4]) as u64, int(&v[5]), int(&v[6]));
        let (comm, rwbs) = (string(&v[7]), string(&v[8]));
        let secs = (ts - *first.get_or_insert(ts)) as f64 / 1e9;
        let rw = if rwbs.contains('W') { "W" } else { "R" };
        let disk = super::block::disk_name(dev);
        let (qms, ms) = (qns as f64 / 1e6, ns as f64 / 1e6);
        if a.common.json {
            let q = if a.queue { format!(", \"qlat_ms\": {qms:.3}") } else { String::new() };
            return line(&format!(
                "{{\"ts\": {secs:.6}, \"comm\": {}, \"pid\": {pid}, \"disk\": {}, \"rwflag\": \"{rw}\", \"sector\": {sector}, \"bytes\": {bytes}{q}, \"lat_ms\": {ms:.3}}}",
                json_str(&comm),
                json_str(&disk)
            ));
        }
        let comm: String = comm.chars().take(14).collect();
        let mut row = format!("{secs:<11.6} {comm:<14} {pid:<7} {disk:<9} {rw:<1} {sector:<10} {bytes:<7}");
        if a.queue {
            row.push_str(&format!("{qms:7.2} "));
        }
        row.push_str(&format!("{ms:7.2}"));
        line(&row)
    })
}
