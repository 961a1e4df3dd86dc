//! `ferret statsnoop`: stat() family calls, one line each, with BCC statsnoop's flags and
//! columns. Kernel side: the syscall tracepoints of every stat call; the entry keeps the path
//! pointer by thread, the exit reports it with the result.
use super::{int, json_str, line, printf_args, string, Common, Route};
use clap::Parser;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command =
    crate::cmd::Command { name: "statsnoop", about: "trace stat() syscalls (BCC's statsnoop)", run };

const EXAMPLES: &str = "examples:
    ferret statsnoop           # trace all stat() syscalls
    ferret statsnoop -t        # include timestamps
    ferret statsnoop -s        # include syscall name
    ferret statsnoop -x        # only show failed stats
    ferret statsnoop -p 181    # only trace PID 181
    ferret statsnoop -j        # JSON lines: ts, pid, comm, fd, err, syscall, path";

/// Trace stat() syscalls
#[derive(Parser, Debug)]
#[command(name = "ferret statsnoop", after_help = EXAMPLES)]
struct Args {
    /// include timestamp on output
    #[arg(short = 't', long = "timestamp")]
    timestamp: bool,
    /// include syscall name on output
    #[arg(short = 's', long = "sysname")]
    sysname: bool,
    /// only show failed stats
    #[arg(short = 'x', long = "failed")]
    failed: bool,
    /// trace this PID only
    #[arg(short = 'p', long = "pid")]
    pid: Option<u32>,
    #[command(flatten)]
    common: Common,
}

/// The stat calls (x86-64), with their path argument.
const CALLS: [(&str, &str); 5] = [
    ("statx", "filename"),
    ("statfs", "pathname"),
    ("newstat", "filename"),
    ("newlstat", "filename"),
    ("newfstatat", "filename"),
];

const EVENT: &str = "%d %d %d %d %s %s\n";

fn program(a: &Args, cg: &[String]) -> String {
    let mut f = cg.to_vec();
    if let Some(p) = a.pid {
        f.push(format!("pid == {p}"));
    }
    let pred = super::predicate(&f);
    // Not every architecture has every stat call.
    let mut text = String::from("config = { missing_probes = \"ignore\" }\n");
    for (i, (call, arg)) in CALLS.iter().enumerate() {
        text.push_str(&format!(
            "tracepoint:syscalls:sys_enter_{call} {pred}{{ @path[tid] = (uint64)args.{arg}; @call[tid] = {i}; @ts[tid] = nsecs; }}\n"
        ));
    }
    let exits: Vec<String> = CALLS.iter().map(|(c, _)| format!("tracepoint:syscalls:sys_exit_{c}")).collect();
    let fail = if a.failed { " && args.ret < 0" } else { "" };
    text.push_str(&format!(
        r#"{} /@ts[tid]{fail}/ {{
    printf("{}", @ts[tid], pid, args.ret, @call[tid], comm, str(uptr(@path[tid])));
}}
{} {{ delete(@ts[tid]); delete(@path[tid]); delete(@call[tid]); }}
"#,
        exits.join(", "),
        EVENT.escape_default(),
        exits.join(", ")
    ));
    text
}

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let mut h = String::new();
    if !a.common.json {
        if a.timestamp {
            h.push_str(&format!("{:<14}", "TIME(s)"));
        }
        h.push_str(&format!("{:<7} {:<16} {:>4} {:>3}", "PID", "COMM", "FD", "ERR"));
        if a.sysname {
            h.push_str(&format!(" {:<12}", "SYSCALL"));
        }
        h.push_str(" PATH");
    }
    let mut first: Option<i64> = None;
    super::run("statsnoop", &[Route::new("tracepoint", program(&a, &cg))], &h, &a.common, None, |e| {
        let Some(v) = printf_args(e, EVENT) else { return true };
        let (ts, pid, ret, call) = (int(&v[0]), int(&v[1]), int(&v[2]), int(&v[3]));
        let (comm, path) = (string(&v[4]), string(&v[5]));
        let (fd, err) = if ret >= 0 { (ret, 0) } else { (-1, -ret) };
        let secs = (ts - *first.get_or_insert(ts)) as f64 / 1e9;
        let name = CALLS.get(call as usize).map_or("N/A", |c| c.0);
        if a.common.json {
            return line(&format!(
                "{{\"ts\": {secs:.9}, \"pid\": {pid}, \"comm\": {}, \"fd\": {fd}, \"err\": {err}, \"syscall\": \"{name}\", \"path\": {}}}",
                json_str(&comm),
                json_str(&path)
            ));
        }
        let mut row = String::new();
        if a.timestamp {
            row.push_str(&format!("{secs:<14.9}"));
        }
        row.push_str(&format!("{pid:<7} {comm:<16} {fd:>4} {err:>3}"));
        if a.sysname {
            row.push_str(&format!(" {name:<12}"));
        }
        row.push_str(&format!(" {path}"));
        line(&row)
    })
}
