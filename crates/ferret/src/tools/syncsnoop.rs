//! `ferret syncsnoop`: sync() family calls, one line each, with BCC syncsnoop's columns.
//! Kernel side: the syscall entry tracepoints.
use super::{int, json_str, line, printf_args, string, Common, Route};
use clap::Parser;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command =
    crate::cmd::Command { name: "syncsnoop", about: "trace sync() family syscalls (BCC's syncsnoop)", run };

const EXAMPLES: &str = "examples:
    ferret syncsnoop       # trace sync, fsync, fdatasync, msync, sync_file_range and syncfs
    ferret syncsnoop -j    # JSON lines: ts, pid, comm, call";

/// Trace sync() family syscalls
#[derive(Parser, Debug)]
#[command(name = "ferret syncsnoop", after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    common: Common,
}

const CALLS: [&str; 6] = ["sync", "fsync", "fdatasync", "msync", "sync_file_range", "syncfs"];

const EVENT: &str = "%d %d %d %s\n";

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let pred = super::predicate(&cg);
    let text: String = CALLS
        .iter()
        .enumerate()
        .map(|(i, c)| {
            format!(
                "tracepoint:syscalls:sys_enter_{c} {pred}{{ printf(\"{}\", nsecs, pid, {i}, comm); }}\n",
                EVENT.escape_default()
            )
        })
        .collect();
    let h = if a.common.json { String::new() } else { format!("{:<18} {:<16} {:<16}", "TIME(s)", "COMM", "CALL") };
    super::run("syncsnoop", &[Route::new("tracepoint", text)], h.trim_end(), &a.common, None, |e| {
        let Some(v) = printf_args(e, EVENT) else { return true };
        let (ts, pid, call, comm) = (int(&v[0]), int(&v[1]), int(&v[2]), string(&v[3]));
        let call = CALLS.get(call as usize).copied().unwrap_or("N/A");
        // BCC shows the monotonic clock's seconds.
        let secs = ts as f64 / 1e9;
        if a.common.json {
            return line(&format!(
                "{{\"ts\": {secs:.9}, \"pid\": {pid}, \"comm\": {}, \"call\": \"{call}\"}}",
                json_str(&comm)
            ));
        }
        line(&format!("{secs:<18.9} {comm:<16} {call}"))
    })
}
