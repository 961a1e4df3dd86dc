//! `ferret sigsnoop`: signals as they are generated (kill(), the kernel's own faults and
//! timers, ...), one line each, with libbpf-tools sigsnoop's flags and columns. Kernel side:
//! `signal:signal_generate`, or with -k the kill syscalls' tracepoints.
use super::{int, json_str, line, printf_args, string, Common, Route};
use clap::Parser;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command = crate::cmd::Command {
    name: "sigsnoop",
    about: "trace standard and real-time signals (libbpf-tools' sigsnoop)",
    run,
};

const EXAMPLES: &str = "examples:
    ferret sigsnoop             # trace signals system-wide
    ferret sigsnoop -k          # trace signals issued by kill syscall only
    ferret sigsnoop -x          # trace failed signals only
    ferret sigsnoop -p 1216     # only trace PID 1216
    ferret sigsnoop -s 1,9,15   # trace signal 1, 9, 15
    ferret sigsnoop -n          # signal names instead of numbers
    ferret sigsnoop -j          # JSON lines: time, pid, comm, sig, tpid, tcomm, ret";

/// Trace standard and real-time signals
#[derive(Parser, Debug)]
#[command(name = "ferret sigsnoop", after_help = EXAMPLES)]
struct Args {
    /// trace failed signals only
    #[arg(short = 'x', long = "failed")]
    failed: bool,
    /// trace signals issued by kill syscall only
    #[arg(short = 'k', long = "kill")]
    kill: bool,
    /// process ID to trace
    #[arg(short = 'p', long = "pid")]
    pid: Option<u32>,
    /// signals to trace
    #[arg(short = 's', long = "signal", value_delimiter = ',')]
    signal: Vec<u32>,
    /// output signal name instead of signal number
    #[arg(short = 'n', long = "name")]
    name: bool,
    #[command(flatten)]
    common: Common,
}

const EVENT: &str = "%d %d %d %d %s %s\n";

fn program(a: &Args, cg: &[String]) -> String {
    let mut f = cg.to_vec();
    if let Some(p) = a.pid {
        f.push(format!("pid == {p}"));
    }
    let sigs = |e: &str| {
        (!a.signal.is_empty())
            .then(|| format!("({})", a.signal.iter().map(|s| format!("{e} == {s}")).collect::<Vec<_>>().join(" || ")))
    };
    let e = EVENT.escape_default();
    if !a.kill {
        f.extend(sigs("args.sig"));
        if a.failed {
            f.push("args.errno != 0".into());
        }
        return format!(
            "tracepoint:signal:signal_generate {}{{ printf(\"{e}\", pid, args.sig, args.pid, args.errno, comm, args.comm); }}\n",
            super::predicate(&f)
        );
    }
    f.extend(sigs("args.sig"));
    let pred = super::predicate(&f);
    let fail = if a.failed { " && args.ret < 0" } else { "" };
    // kill(pid, sig), tkill(pid, sig), tgkill(tgid, pid, sig): `pid` is the target.
    format!(
        r#"tracepoint:syscalls:sys_enter_kill {pred}{{ @tpid[tid] = args.pid; @sig[tid] = args.sig; }}
tracepoint:syscalls:sys_enter_tkill, tracepoint:syscalls:sys_enter_tgkill {pred}{{ @tpid[tid] = args.pid; @sig[tid] = args.sig; }}
tracepoint:syscalls:sys_exit_kill, tracepoint:syscalls:sys_exit_tkill, tracepoint:syscalls:sys_exit_tgkill /(@sig[tid] || @tpid[tid]){fail}/ {{
    printf("{e}", pid, @sig[tid], @tpid[tid], args.ret, comm, "");
}}
tracepoint:syscalls:sys_exit_kill, tracepoint:syscalls:sys_exit_tkill, tracepoint:syscalls:sys_exit_tgkill {{ delete(@sig[tid]); delete(@tpid[tid]); }}
"#
    )
}

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let h = if a.common.json {
        String::new()
    } else {
        format!("{:<8} {:<7} {:<16} {:<12} {:<7} {:<16} {:<6}", "TIME", "PID", "COMM", "SIG", "TPID", "TCOMM", "RESULT")
    };
    super::run("sigsnoop", &[Route::new("tracepoint", program(&a, &cg))], h.trim_end(), &a.common, None, |e| {
        let Some(v) = printf_args(e, EVENT) else { return true };
        let (pid, sig, tpid, ret) = (int(&v[0]), int(&v[1]), int(&v[2]), int(&v[3]));
        let (comm, tcomm) = (string(&v[4]), string(&v[5]));
        let tcomm = if tcomm.is_empty() { super::proc_comm(tpid).unwrap_or_default() } else { tcomm };
        let time = super::hms();
        let signame = super::exitsnoop::signame(sig);
        if a.common.json {
            return line(&format!(
                "{{\"time\": {}, \"pid\": {pid}, \"comm\": {}, \"sig\": {sig}, \"signame\": \"{signame}\", \"tpid\": {tpid}, \"tcomm\": {}, \"ret\": {ret}}}",
                json_str(&time),
                json_str(&comm),
                json_str(&tcomm)
            ));
        }
        let sig = if a.name { signame } else { sig.to_string() };
        line(format!("{time:<8} {pid:<7} {comm:<16} {sig:<12} {tpid:<7} {tcomm:<16} {ret:<6}").trim_end())
    })
}
