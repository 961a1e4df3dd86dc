//! `ferret killsnoop`: signals sent by kill(), one line each with the result, with BCC
//! killsnoop's flags and columns. Kernel side: the kill syscall tracepoints; the entry keeps the
//! target and signal by thread, the exit reports them with the result.
use super::{int, json_str, line, printf_args, string, Common, Route};
use clap::Parser;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command = crate::cmd::Command {
    name: "killsnoop",
    about: "trace signals issued by the kill() syscall (BCC's killsnoop)",
    run,
};

const EXAMPLES: &str = "examples:
    ferret killsnoop           # trace all kill() signals
    ferret killsnoop -x        # only show failed kills
    ferret killsnoop -p 181    # only trace PID 181
    ferret killsnoop -T 189    # only trace target PID 189
    ferret killsnoop -s 9      # only trace signal 9
    ferret killsnoop -s 9,15   # trace signal 9 and 15
    ferret killsnoop -j        # JSON lines: time, pid, comm, sig, tpid, ret";

/// Trace signals issued by the kill() syscall
#[derive(Parser, Debug)]
#[command(name = "ferret killsnoop", after_help = EXAMPLES)]
struct Args {
    /// only show failed kill syscalls
    #[arg(short = 'x', long = "failed")]
    failed: bool,
    /// trace this PID only which is the sender of signal
    #[arg(short = 'p', long = "pid")]
    pid: Option<u32>,
    /// trace this target PID only which is the receiver of signal
    #[arg(short = 'T', long = "tpid")]
    tpid: Option<i32>,
    /// trace a signal or a signal list
    #[arg(short = 's', long = "signal", value_delimiter = ',')]
    signal: Vec<u32>,
    #[command(flatten)]
    common: Common,
}

const EVENT: &str = "%d %d %d %d %s\n";

fn program(a: &Args, cg: &[String]) -> String {
    let mut filter = cg.to_vec();
    if let Some(p) = a.pid {
        filter.push(format!("pid == {p}"));
    }
    if let Some(t) = a.tpid {
        filter.push(format!("args.pid == {t}"));
    }
    if !a.signal.is_empty() {
        let any: Vec<String> = a.signal.iter().map(|s| format!("args.sig == {s}")).collect();
        filter.push(format!("({})", any.join(" || ")));
    }
    let pred = if filter.is_empty() { String::new() } else { format!("/{}/ ", filter.join(" && ")) };
    format!(
        r#"tracepoint:syscalls:sys_enter_kill {pred}{{ @tpid[tid] = args.pid; @sig[tid] = args.sig; @on[tid] = 1; }}
tracepoint:syscalls:sys_exit_kill /@on[tid]/ {{
    printf("{EVENT_E}", pid, @sig[tid], @tpid[tid], args.ret, comm);
    delete(@on, tid); delete(@sig, tid); delete(@tpid, tid);
}}
"#,
        EVENT_E = EVENT.escape_default(),
    )
}

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    // BCC sizes the PID columns by the digits of the largest pid.
    let width = std::fs::read_to_string("/proc/sys/kernel/pid_max").map_or(6, |s| s.trim().len() + 1);
    let header = if a.common.json {
        String::new()
    } else {
        format!("{:<9} {:<width$} {:<16} {:<4} {:<width$} RESULT", "TIME", "PID", "COMM", "SIG", "TPID")
    };
    super::run("killsnoop", &[Route::new("tracepoint", program(&a, &cg))], &header, &a.common, None, |e| {
        let Some(v) = printf_args(e, EVENT) else { return true };
        let (pid, sig, tpid, ret) = (int(&v[0]), int(&v[1]), int(&v[2]), int(&v[3]));
        let comm = string(&v[4]);
        if a.failed && ret >= 0 {
            return true;
        }
        let time = super::hms();
        if a.common.json {
            return line(&format!(
                "{{\"time\": {}, \"pid\": {pid}, \"comm\": {}, \"sig\": {sig}, \"tpid\": {tpid}, \"ret\": {ret}}}",
                json_str(&time),
                json_str(&comm)
            ));
        }
        line(&format!("{time:<9} {pid:<width$} {comm:<16} {sig:<4} {tpid:<width$} {ret}"))
    })
}
