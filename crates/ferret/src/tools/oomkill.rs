//! `ferret oomkill`: OOM killer kills, one line each with the process that triggered it and the
//! victim, as BCC oomkill prints them. Routes: the `oom:mark_victim` tracepoint (run by the
//! triggering task; the page count is the victim's total VM, the tracepoint has no OOM
//! domain size), then BCC's kprobe on `oom_kill_process` (the domain's total pages).
use super::{int, json_str, line, printf_args, string, Common, Route};
use clap::Parser;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command =
    crate::cmd::Command { name: "oomkill", about: "trace the OOM killer (BCC's oomkill)", run };

const EXAMPLES: &str = "examples:
    ferret oomkill      # trace OOM kills
    ferret oomkill -j   # JSON lines: time, fpid, fcomm, tpid, tcomm, pages, loadavg";

/// Trace the OOM killer
#[derive(Parser, Debug)]
#[command(name = "ferret oomkill", after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    common: Common,
}

const EVENT: &str = "%d %d %d %s %s\n";

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let pred = super::predicate(&cg);
    // SAFETY: sysconf has no preconditions.
    let page_kb = (unsafe { libc::sysconf(libc::_SC_PAGESIZE) } / 1024).max(1);
    let e = EVENT.escape_default().to_string();
    let routes = [
        Route::new(
            "tracepoint oom:mark_victim",
            format!("tracepoint:oom:mark_victim {pred}{{ printf(\"{e}\", pid, args.pid, args.total_vm / {page_kb}, comm, str(args.comm)); }}\n"),
        ),
        Route::new(
            "kprobe oom_kill_process",
            format!(
                "kprobe:oom_kill_process {pred}{{ $oc = (struct oom_control *)arg0; printf(\"{e}\", pid, $oc->chosen->tgid, $oc->totalpages, comm, $oc->chosen->comm); }}\n"
            ),
        ),
    ];
    let h = if a.common.json { "" } else { "Tracing OOM kills... Ctrl-C to stop." };
    super::run("oomkill", &routes, h, &a.common, None, |e| {
        let Some(v) = printf_args(e, EVENT) else { return true };
        let (fpid, tpid, pages) = (int(&v[0]), int(&v[1]), int(&v[2]));
        let (fcomm, tcomm) = (string(&v[3]), string(&v[4]));
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim_end().to_string();
        let time = super::hms();
        if a.common.json {
            return line(&format!(
                "{{\"time\": {}, \"fpid\": {fpid}, \"fcomm\": {}, \"tpid\": {tpid}, \"tcomm\": {}, \"pages\": {pages}, \"loadavg\": {}}}",
                json_str(&time),
                json_str(&fcomm),
                json_str(&tcomm),
                json_str(&load)
            ));
        }
        line(&format!(
            "{time} Triggered by PID {fpid} (\"{fcomm}\"), OOM kill of PID {tpid} (\"{tcomm}\"), {pages} pages, loadavg: {load}"
        ))
    })
}
