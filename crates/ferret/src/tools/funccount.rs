//! `ferret funccount`: how often functions, tracepoints or USDT probes fire, with BCC
//! funccount's flags and columns. A kernel function attaches through fentry, else kprobes.
use super::spec;
use super::{json_str, line, Common, Every, Route};
use clap::Parser;
use ferret::MapValue;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command = crate::cmd::Command {
    name: "funccount",
    about: "count functions, tracepoints and USDT probes (BCC's funccount)",
    run,
};

const EXAMPLES: &str = "examples:
    ferret funccount 'vfs_*'             # count kernel fns starting with \"vfs\"
    ferret funccount -p 185 'vfs_*'      # count vfs calls for PID 185 only
    ferret funccount -i 1 'vfs_*'        # print output every 1 second
    ferret funccount -d 5 'vfs_*'        # trace for 5 seconds only
    ferret funccount 'c:my*'             # count all C library functions starting with \"my\"
    ferret funccount t:sched:sched_fork  # count calls to the sched_fork tracepoint
    ferret funccount 't:syscalls:*'      # count every syscall tracepoint
    ferret funccount -c 1 'vfs_*'        # count vfs calls on CPU 1 only
    ferret funccount -j 'c:malloc'       # JSON lines: time, func, count";

/// Count functions, tracepoints, and USDT probes
#[derive(Parser, Debug)]
#[command(name = "ferret funccount", after_help = EXAMPLES)]
struct Args {
    /// trace this PID only
    #[arg(short = 'p', long = "pid")]
    pid: Option<u32>,
    /// summary interval, seconds
    #[arg(short = 'i', long = "interval", value_parser = clap::value_parser!(u64).range(1..))]
    interval: Option<u64>,
    /// total duration of trace, seconds
    #[arg(short = 'd', long = "duration", value_parser = clap::value_parser!(u64).range(1..))]
    duration: Option<u64>,
    /// include timestamp on output
    #[arg(short = 'T', long = "timestamp")]
    timestamp: bool,
    /// trace this CPU only
    #[arg(short = 'c', long = "cpu")]
    cpu: Option<u32>,
    /// search expression for events ([p:|t:|u:][lib:]name, with * wildcards)
    pattern: String,
    #[command(flatten)]
    common: Common,
}

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let target = match spec::parse(&a.pattern) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("ferret funccount: error: {e}");
            return 2;
        }
    };
    let mut f = cg.clone();
    if let Some(p) = a.pid {
        f.push(format!("pid == {p}"));
    }
    if let Some(c) = a.cpu {
        f.push(format!("cpu == {c}"));
    }
    let pred = super::predicate(&f);
    let routes: Vec<Route> = target
        .probes()
        .into_iter()
        .map(|(name, p)| Route::new(name, format!("{p} {pred}{{ @c[probe] = count(); }}\n")).for_pid(a.pid))
        .collect();
    let header = if a.common.json {
        String::new()
    } else {
        format!("Tracing {{probes}} functions for \"{}\"... Hit Ctrl-C to end.", a.pattern)
    };
    let every = Every::secs(a.interval, None, a.duration);
    let status = super::run_summary("funccount", &routes, &header, &a.common, every, |r| {
        let mut rows: Vec<(String, u64)> = r
            .map("@c")
            .map(|d| d.entries)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| match v {
                MapValue::Count(n) if n > 0 => Some((spec::short_name(&super::hist::plain(&k?)), n)),
                _ => None,
            })
            .collect();
        r.clear("@c");
        rows.sort_by(|x, y| x.1.cmp(&y.1).then(x.0.cmp(&y.0)));
        let time = super::hms();
        if a.common.json {
            return rows.iter().all(|(name, n)| {
                line(&format!("{{\"time\": {}, \"func\": {}, \"count\": {n}}}", json_str(&time), json_str(name)))
            });
        }
        let mut out = String::from("\n");
        if a.timestamp {
            out.push_str(&format!("{time:<8}\n"));
        }
        out.push_str(&format!("{:<36} {:>8}\n", "FUNC", "COUNT"));
        for (name, n) in &rows {
            out.push_str(&format!("{name:<36} {n:>8}\n"));
        }
        line(out.trim_end_matches('\n'))
    });
    if status == 0 && !a.common.json {
        line("Detaching...");
    }
    status
}
