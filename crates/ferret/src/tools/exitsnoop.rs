//! `ferret exitsnoop`: process terminations (exit, fatal signal) with their age and exit code,
//! with BCC exitsnoop's flags and columns. Kernel side: the `sched:sched_process_exit`
//! tracepoint, reading the exiting task's start time, parent and exit code.
use super::{int, json_str, line, printf_args, string, Common, Route};
use clap::Parser;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command = crate::cmd::Command {
    name: "exitsnoop",
    about: "trace all process termination: exit, fatal signal (BCC's exitsnoop)",
    run,
};

const EXAMPLES: &str = "examples:
    ferret exitsnoop                # trace all process termination
    ferret exitsnoop -x             # trace only fails, exclude exit(0)
    ferret exitsnoop -t             # include timestamp (local time)
    ferret exitsnoop --utc          # include timestamp in UTC
    ferret exitsnoop -p 181         # only trace PID 181
    ferret exitsnoop --label=exit   # label each output line with 'exit'
    ferret exitsnoop --per-thread   # trace per thread termination
    ferret exitsnoop -j             # JSON lines: time, comm, pid, ppid, tid, age, exit_code, signal, core";

/// Trace all process termination (exit, fatal signal)
#[derive(Parser, Debug)]
#[command(name = "ferret exitsnoop", after_help = EXAMPLES)]
struct Args {
    /// include timestamp (local time default)
    #[arg(short = 't', long = "timestamp")]
    timestamp: bool,
    /// include timestamp in UTC (-t implied)
    #[arg(long = "utc")]
    utc: bool,
    /// trace this PID only
    #[arg(short = 'p', long = "pid")]
    pid: Option<u32>,
    /// label each line
    #[arg(long = "label", num_args = 0..=1, default_missing_value = "")]
    label: Option<String>,
    /// trace only fails, exclude exit(0)
    #[arg(short = 'x', long = "failed")]
    failed: bool,
    /// trace per thread termination
    #[arg(long = "per-thread")]
    per_thread: bool,
    #[command(flatten)]
    common: Common,
}

const EVENT: &str = "%d %d %d %d %d %s\n";

fn program(a: &Args, cg: &[String]) -> String {
    let mut filter = cg.to_vec();
    if !a.per_thread {
        filter.push("pid == tid".to_string());
    }
    if let Some(p) = a.pid {
        filter.push(format!("pid == {p}"));
    }
    if a.failed {
        filter.push("curtask->exit_code != 0".to_string());
    }
    let pred = if filter.is_empty() { String::new() } else { format!("/{}/ ", filter.join(" && ")) };
    format!(
        r#"tracepoint:sched:sched_process_exit {pred}{{
    printf("{EVENT_E}", pid, curtask->real_parent->tgid, tid, nsecs - curtask->start_time, curtask->exit_code, comm);
}}
"#,
        EVENT_E = EVENT.escape_default(),
    )
}

/// A signal's name (x86-64 numbering).
pub(super) fn signame(sig: i64) -> String {
    const NAMES: &[&str] = &[
        "",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    match NAMES.get(sig as usize) {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => format!("SIGRT{sig}"),
    }
}

/// `HH:MM:SS.mmm` now, local or UTC.
fn clock(utc: bool) -> String {
    let ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i128);
    if !utc {
        return ferret_runtime::clock::strftime("%H:%M:%S.%l", ns);
    }
    // UTC has no offsets to apply: the time of day is the seconds since midnight.
    let day = (ns / 1_000_000_000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}.{:03}", day / 3600, day / 60 % 60, day % 60, ns / 1_000_000 % 1000)
}

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let timestamp = a.timestamp || a.utc;
    let mut header = String::new();
    if !a.common.json {
        if timestamp {
            let zone = if a.utc { "UTC".to_string() } else { ferret_runtime::clock::now("%Z") };
            let title = format!("TIME-{zone}");
            header.push_str(&format!("{title:<13}"));
        }
        if a.label.is_some() {
            header.push_str(&format!("{:<6}", "LABEL"));
        }
        header.push_str(&format!(
            "{:<16} {:<7} {:<7} {:<7} {:<7} {:<10}",
            "PCOMM", "PID", "PPID", "TID", "AGE(s)", "EXIT_CODE"
        ));
    }
    super::run("exitsnoop", &[Route::new("tracepoint", program(&a, &cg))], &header, &a.common, None, |e| {
        let Some(v) = printf_args(e, EVENT) else { return true };
        let (pid, ppid, tid, age_ns, code) = (int(&v[0]), int(&v[1]), int(&v[2]), int(&v[3]), int(&v[4]));
        let comm = string(&v[5]);
        let (exit_code, sig, core) = (code >> 8, code & 0x7f, code & 0x80 != 0);
        let age = age_ns as f64 / 1e9;
        if a.common.json {
            let signal = if sig != 0 { json_str(&signame(sig)) } else { "null".into() };
            return line(&format!(
                "{{\"time\": {}, \"comm\": {}, \"pid\": {pid}, \"ppid\": {ppid}, \"tid\": {tid}, \"age\": {age:.2}, \"exit_code\": {exit_code}, \"signal\": {signal}, \"core\": {core}}}",
                json_str(&clock(a.utc)),
                json_str(&comm)
            ));
        }
        let mut row = String::new();
        if timestamp {
            row.push_str(&format!("{:<13}", clock(a.utc)));
        }
        if let Some(l) = &a.label {
            row.push_str(&format!("{:<6}", if l.is_empty() { "exit" } else { l }));
        }
        row.push_str(&format!("{comm:<16} {pid:<7} {ppid:<7} {tid:<7} {age:<7.2} "));
        if code & 0xff == 0 {
            row.push_str(&if exit_code == 0 { "0".to_string() } else { format!("code {exit_code}") });
        } else {
            if sig != 0 {
                row.push_str(&format!("signal {sig} ({})", signame(sig)));
            }
            if core {
                row.push_str(", core dumped ");
            }
        }
        line(&row)
    })
}
