//! `ferret biotop`: block I/O by process, refreshed like top, with BCC biotop's flags and
//! columns. Kernel side: the block tracepoints; the process is the one that started the I/O
//! (`block_io_start`) or, on kernels without it, the one that issued it.
use super::{json_str, line, Common, Every, Route};
use clap::Parser;
use ferret::Value;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::IsTerminal;

pub const COMMAND: crate::cmd::Command =
    crate::cmd::Command { name: "biotop", about: "block device (disk) I/O by process, like top (BCC's biotop)", run };

const EXAMPLES: &str = "examples:
    ferret biotop            # block device I/O top, 1 second refresh
    ferret biotop -C         # don't clear the screen
    ferret biotop -p 181     # only trace PID 181
    ferret biotop 5          # 5 second summaries
    ferret biotop 5 10       # 5 second summaries, 10 times only
    ferret biotop -j 1 3     # JSON lines: time, pid, comm, rwflag, major, minor, disk, io, kbytes, avg_ms";

/// Block device (disk) I/O by process
#[derive(Parser, Debug)]
#[command(name = "ferret biotop", after_help = EXAMPLES)]
struct Args {
    /// don't clear the screen
    #[arg(short = 'C', long = "noclear")]
    noclear: bool,
    /// maximum rows to print, default 20
    #[arg(short = 'r', long = "maxrows", default_value_t = 20)]
    maxrows: usize,
    /// trace this PID only
    #[arg(short = 'p', long = "pid")]
    pid: Option<u32>,
    /// output interval, in seconds
    #[arg(default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    interval: u64,
    /// number of outputs
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    #[command(flatten)]
    common: Common,
}

fn program(a: &Args, cg: &[String], start: Option<&str>) -> String {
    let mut f = cg.to_vec();
    if let Some(p) = a.pid {
        f.push(format!("pid == {p}"));
    }
    let pred = super::predicate(&f);
    let who = "@pid[args.dev, args.sector] = pid; @comm[args.dev, args.sector] = comm;";
    let (first, issue) = match start {
        Some(s) => (
            format!("tracepoint:block:{s} {pred}{{ {who} }}\n"),
            "if (@pid[args.dev, args.sector]) { @start[args.dev, args.sector] = nsecs; }".to_string(),
        ),
        None => (
            String::new(),
            format!(
                "if ({}) {{ {who} @start[args.dev, args.sector] = nsecs; }}",
                if f.is_empty() { "1".to_string() } else { f.join(" && ") }
            ),
        ),
    };
    format!(
        r#"{first}tracepoint:block:block_rq_issue {{ {issue} }}
tracepoint:block:block_rq_complete {{
    $t = @start[args.dev, args.sector];
    if ($t) {{
        $k = (@pid[args.dev, args.sector], @comm[args.dev, args.sector], args.rwbs, args.dev);
        @io[$k] = count(); @bytes[$k] = sum(args.nr_sector * 512); @ns[$k] = sum(nsecs - $t);
    }}
    delete(@start[args.dev, args.sector]); delete(@pid[args.dev, args.sector]); delete(@comm[args.dev, args.sector]);
}}
"#
    )
}

type Key = (i64, String, char, u64);

fn values(r: &ferret::Running, name: &str) -> HashMap<Key, u64> {
    let mut out: HashMap<Key, u64> = HashMap::new();
    for (k, v) in r.map(name).map(|d| d.entries).unwrap_or_default() {
        let Some(Value::Tuple(k)) = k else { continue };
        let Some(n) = super::num(&v) else { continue };
        let rw = if super::hist::plain(&k[2]).contains('W') { 'W' } else { 'R' };
        // rwbs variants (`W`, `WS`, `WFS`) of one process and disk add up.
        *out.entry((super::int(&k[0]), super::hist::plain(&k[1]), rw, super::int(&k[3]) as u64)).or_default() += n;
    }
    r.clear(name);
    out
}

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let routes = [
        Route::new("tracepoint block_io_start", program(&a, &cg, Some("block_io_start"))),
        Route::new("tracepoint block_rq_issue", program(&a, &cg, None)),
    ];
    let clear = !a.noclear && !a.common.json && std::io::stdout().is_terminal();
    let every = Every::positional(Some(a.interval), a.count);
    let status = super::run_summary("biotop", &routes, "", &a.common, every, |r| {
        let (io, bytes, ns) = (values(r, "@io"), values(r, "@bytes"), values(r, "@ns"));
        let mut rows: Vec<(&Key, u64, u64, u64)> = io
            .iter()
            .map(|(k, n)| (k, *n, bytes.get(k).copied().unwrap_or(0), ns.get(k).copied().unwrap_or(0)))
            .collect();
        rows.sort_by(|x, y| y.2.cmp(&x.2).then(x.0.cmp(y.0)));
        rows.truncate(a.maxrows);
        let time = super::hms();
        let disk = |dev: u64| super::block::disk_name(dev).replace("<unknown>", "?");
        if a.common.json {
            return rows.iter().all(|((pid, comm, rw, dev), n, b, t)| {
                line(&format!(
                    "{{\"time\": {}, \"pid\": {pid}, \"comm\": {}, \"rwflag\": \"{rw}\", \"major\": {}, \"minor\": {}, \"disk\": {}, \"io\": {n}, \"kbytes\": {}, \"avg_ms\": {:.2}}}",
                    json_str(&time),
                    json_str(comm),
                    dev >> 20,
                    dev & 0xfffff,
                    json_str(&disk(*dev)),
                    b / 1024,
                    *t as f64 / 1e6 / (*n).max(1) as f64
                ))
            });
        }
        let mut out = String::from(if clear { "\x1b[H\x1b[2J" } else { "\n" });
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        out.push_str(&format!("{time:<8} loadavg: {load}\n"));
        out.push_str(&format!(
            "{:<7} {:<16} {:>1} {:<3} {:<3} {:<8} {:>5} {:>7} {:>6}\n",
            "PID", "COMM", "D", "MAJ", "MIN", "DISK", "I/O", "Kbytes", "AVGms"
        ));
        for ((pid, comm, rw, dev), n, b, t) in &rows {
            out.push_str(&format!(
                "{pid:<7} {comm:<16} {rw} {:<3} {:<3} {:<8} {n:>5} {:>7} {:>6.2}\n",
                dev >> 20,
                dev & 0xfffff,
                disk(*dev),
                b / 1024,
                *t as f64 / 1e6 / (*n).max(1) as f64
            ));
        }
        line(out.trim_end_matches('\n'))
    });
    if status == 0 && !a.common.json {
        line("Detaching...");
    }
    status
}
