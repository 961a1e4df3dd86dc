//! `ferret syscount`: system call counts (and with -L their total latency), the top N by
//! syscall or by process, with BCC syscount's flags and columns. Kernel side: the raw_syscalls
//! tracepoints counting into maps; user space reads and empties the maps each interval.
use super::{json_str, line, Common, Route};
use clap::Parser;
use ferret::{MapDump, Value};
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command =
    crate::cmd::Command { name: "syscount", about: "summarize syscall counts and latencies (BCC's syscount)", run };

const EXAMPLES: &str = "examples:
    ferret syscount                 # count syscalls until Ctrl-C, top 10
    ferret syscount -i 1            # print every second
    ferret syscount -P              # count by process
    ferret syscount -L -m           # with total latency, in milliseconds
    ferret syscount -x              # only failed syscalls
    ferret syscount -e ENOENT       # only syscalls that fail with ENOENT
    ferret syscount --syscall read  # only read()
    ferret syscount -j -i 1         # JSON lines: time, key (syscall or pid and comm), count, time_us";

/// Summarize syscall counts and latencies.
#[derive(Parser, Debug)]
#[command(name = "ferret syscount", after_help = EXAMPLES)]
struct Args {
    /// trace only this pid
    #[arg(short = 'p', long = "pid")]
    pid: Option<u32>,
    /// trace only this tid
    #[arg(short = 't', long = "tid")]
    tid: Option<u32>,
    /// trace only child of this pid
    #[arg(short = 'c', long = "ppid")]
    ppid: Option<u32>,
    /// print summary at this interval (seconds)
    #[arg(short = 'i', long = "interval", value_parser = clap::value_parser!(u64).range(1..))]
    interval: Option<u64>,
    /// total duration of trace, in seconds
    #[arg(short = 'd', long = "duration", value_parser = clap::value_parser!(u64).range(1..))]
    duration: Option<u64>,
    /// print only the top syscalls by count or latency
    #[arg(short = 'T', long = "top", default_value_t = 10)]
    top: usize,
    /// trace only failed syscalls (return < 0)
    #[arg(short = 'x', long = "failures")]
    failures: bool,
    /// trace only syscalls that return this error (numeric or EPERM, etc.)
    #[arg(short = 'e', long = "errno")]
    errno: Option<String>,
    /// collect syscall latency
    #[arg(short = 'L', long = "latency")]
    latency: bool,
    /// display latency in milliseconds (default: microseconds)
    #[arg(short = 'm', long = "milliseconds")]
    milliseconds: bool,
    /// count by process and not by syscall
    #[arg(short = 'P', long = "process")]
    process: bool,
    /// print list of recognized syscalls and exit
    #[arg(short = 'l', long = "list")]
    list: bool,
    /// trace this syscall only (use --list for syscall list)
    #[arg(long = "syscall")]
    syscall: Option<String>,
    #[command(flatten)]
    common: Common,
}

/// An errno by number or name (`ENOENT`), as `-e` takes it.
fn errno(s: &str) -> Option<i64> {
    // The header constants named E<NAME> without an underscore are the errno values.
    let errno_name = s.starts_with('E') && !s.contains('_');
    s.parse().ok().or_else(|| errno_name.then(|| ferret_lang::cdefs::header_constant(s)).flatten())
}

fn program(a: &Args, err: Option<i64>, nr: Option<u32>, cg: &[String]) -> String {
    let mut enter = cg.to_vec();
    let mut exit = vec![];
    if let Some(p) = a.pid {
        enter.push(format!("pid == {p}"));
    }
    if let Some(t) = a.tid {
        enter.push(format!("tid == {t}"));
    }
    if let Some(p) = a.ppid {
        enter.push(format!("curtask->real_parent->tgid == {p}"));
    }
    if let Some(n) = nr {
        enter.push(format!("args.id == {n}"));
    }
    exit.extend(enter.iter().cloned());
    if a.failures {
        exit.push("args.ret < 0".into());
    }
    if let Some(e) = err {
        exit.push(format!("args.ret == -{e}"));
    }
    let pred = |f: &[String]| if f.is_empty() { String::new() } else { format!("/{}/ ", f.join(" && ")) };
    let key = if a.process { "pid" } else { "args.id" };
    if a.latency {
        format!(
            "tracepoint:raw_syscalls:sys_enter {}{{ @start[tid] = nsecs; }}
tracepoint:raw_syscalls:sys_exit /@start[tid]/ {{
    {}{{ @count[{key}] = count(); @ns[{key}] = sum(nsecs - @start[tid]); }}
    delete(@start, tid);
}}
",
            pred(&enter),
            if exit.is_empty() { "if (1) ".to_string() } else { format!("if ({}) ", exit.join(" && ")) }
        )
    } else {
        format!("tracepoint:raw_syscalls:sys_exit {}{{ @count[{key}] = count(); }}\n", pred(&exit))
    }
}

/// The rows of a map keyed by an integer: (key, value as u64).
fn rows(dump: Option<MapDump>) -> Vec<(i64, u64)> {
    let Some(dump) = dump else { return vec![] };
    dump.entries
        .into_iter()
        .filter_map(|(k, v)| {
            let k = match k? {
                Value::Int(i) => i,
                Value::UInt(u) => u as i64,
                _ => return None,
            };
            let v = super::num(&v)?;
            Some((k, v))
        })
        .collect()
}

fn comm_of(pid: i64) -> String {
    super::proc_comm(pid).unwrap_or_else(|| "[unknown]".into())
}

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if a.list {
        let names: Vec<&str> = ferret_lang::syscalls::X86_64.iter().map(|(n, _)| *n).collect();
        let mut out = String::new();
        for group in names.chunks(4) {
            let cells: Vec<String> = group.iter().map(|n| format!("{n:<22}")).collect();
            out.push_str(cells.join("   ").trim_end());
            out.push('\n');
        }
        crate::say(&out);
        return 0;
    }
    let err = match a.errno.as_deref().map(|e| errno(e).ok_or(e)).transpose() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("ferret syscount: error: argument -e/--errno: couldn't map {e} to an errno");
            return 2;
        }
    };
    let nr = match a.syscall.as_deref().map(|s| ferret_lang::syscalls::number(s).ok_or(s)).transpose() {
        Ok(n) => n,
        Err(s) => {
            eprintln!("Error: syscall '{s}' not found. Exiting.");
            return 1;
        }
    };
    let failed = if a.failures { "failed " } else { "" };
    let header = match (&a.syscall, a.common.json) {
        (_, true) => String::new(),
        (Some(s), false) => format!("Tracing {failed}syscall '{s}'... Ctrl+C to quit."),
        (None, false) => format!("Tracing {failed}syscalls, printing top {}... Ctrl+C to quit.", a.top),
    };
    let key_col = if a.process { "PID    COMM" } else { "SYSCALL" };
    let time_col = if a.milliseconds { "TIME (ms)" } else { "TIME (us)" };
    let every = super::Every::secs(a.interval, None, a.duration);
    let code = super::run_summary(
        "syscount",
        &[Route::new("tracepoint", program(&a, err, nr, &cg))],
        &header,
        &a.common,
        every,
        |r| {
            let counts = rows(r.map("@count"));
            let ns: std::collections::HashMap<i64, u64> = rows(r.map("@ns")).into_iter().collect();
            r.clear("@count");
            r.clear("@ns");
            let mut rows: Vec<(i64, u64, u64)> =
                counts.into_iter().map(|(k, c)| (k, c, ns.get(&k).copied().unwrap_or(0))).collect();
            if a.latency {
                rows.sort_by(|x, y| y.2.cmp(&x.2).then(x.0.cmp(&y.0)));
            } else {
                rows.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
            }
            rows.truncate(a.top);
            let time = super::hms();
            let label = |k: i64| -> String {
                if a.process {
                    format!("{k:<6} {:<15}", comm_of(k))
                } else {
                    ferret_lang::syscalls::name(k as u64).map_or_else(|| format!("[unknown: {k}]"), str::to_string)
                }
            };
            let divisor = if a.milliseconds { 1e6 } else { 1e3 };
            if a.common.json {
                return rows.iter().all(|&(k, c, t)| {
                    let key = if a.process {
                        format!("\"pid\": {k}, \"comm\": {}", json_str(&comm_of(k)))
                    } else {
                        format!("\"syscall\": {}", json_str(&label(k)))
                    };
                    let lat = if a.latency { format!(", \"time_us\": {:.3}", t as f64 / 1e3) } else { String::new() };
                    line(&format!("{{\"time\": {}, {key}, \"count\": {c}{lat}}}", json_str(&time)))
                });
            }
            let mut out = vec![format!("[{time}]")];
            if a.latency {
                out.push(format!("{key_col:<22} {:>8} {time_col:>16}", "COUNT"));
            } else {
                out.push(format!("{key_col:<22} {:>8}", "COUNT"));
            }
            for (k, c, t) in &rows {
                if a.latency {
                    let v = *t as f64 / divisor;
                    let v = if a.milliseconds { format!("{v:>16.6}") } else { format!("{v:>16.3}") };
                    out.push(format!("{:<22} {c:>8} {v}", label(*k)));
                } else {
                    out.push(format!("{:<22} {c:>8}", label(*k)));
                }
            }
            out.push(String::new());
            line(&out.join("\n"))
        },
    );
    if code == 0 && !a.common.json {
        line("Detaching...");
    }
    code
}
