//! `ferret threadsnoop`: new threads (pthread_create()), one line each with the thread's start
//! function, with BCC threadsnoop's columns. Kernel side: a uprobe on libc's `pthread_create`
//! (libpthread's on old glibc), its third argument the start routine.
use super::{int, json_str, line, printf_args, string, Common, Route};
use clap::Parser;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command =
    crate::cmd::Command { name: "threadsnoop", about: "list new thread creation (BCC's threadsnoop)", run };

const EXAMPLES: &str = "examples:
    ferret threadsnoop      # list new thread creation
    ferret threadsnoop -j   # JSON lines: ts_ms, pid, comm, func";

/// List new thread creation
#[derive(Parser, Debug)]
#[command(name = "ferret threadsnoop", after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    common: Common,
}

const EVENT: &str = "%d %d %s %s\n";

fn program(lib: &str, cg: &[String]) -> String {
    format!(
        "uprobe:{lib}:pthread_create {}{{ printf(\"{}\", nsecs, pid, comm, usym(arg2)); }}\n",
        super::predicate(cg),
        EVENT.escape_default()
    )
}

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    // Since glibc 2.34 pthread_create is in libc itself.
    let routes =
        [Route::new("uprobe libc", program("libc", &cg)), Route::new("uprobe libpthread", program("libpthread", &cg))];
    let h = if a.common.json {
        String::new()
    } else {
        format!("{:<10} {:<7} {:<16} {}", "TIME(ms)", "PID", "COMM", "FUNC")
    };
    let mut first: Option<i64> = None;
    super::run("threadsnoop", &routes, &h, &a.common, None, |e| {
        let Some(v) = printf_args(e, EVENT) else { return true };
        let (ts, pid, comm, func) = (int(&v[0]), int(&v[1]), string(&v[2]), string(&v[3]));
        let ms = (ts - *first.get_or_insert(ts)) / 1_000_000;
        if a.common.json {
            return line(&format!(
                "{{\"ts_ms\": {ms}, \"pid\": {pid}, \"comm\": {}, \"func\": {}}}",
                json_str(&comm),
                json_str(&func)
            ));
        }
        line(&format!("{ms:<10} {pid:<7} {comm:<16} {func}"))
    })
}
