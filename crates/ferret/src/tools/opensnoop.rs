//! `ferret opensnoop`: open(), openat() and openat2() calls, one line each, with BCC opensnoop's
//! flags and columns. Kernel side: the syscall tracepoints; the entry keeps the path pointer and
//! flags by thread, the exit reads the path and reports it with the result.
use super::{int, json_str, line, printf_args, string, Common, Route};
use clap::Parser;
use std::ffi::OsString;
use std::time::Duration;

pub const COMMAND: crate::cmd::Command =
    crate::cmd::Command { name: "opensnoop", about: "trace open() syscalls (BCC's opensnoop)", run };

const EXAMPLES: &str = "examples:
    ferret opensnoop                        # trace all open() syscalls
    ferret opensnoop -T                     # include timestamps
    ferret opensnoop -U                     # include UID
    ferret opensnoop -x                     # only show failed opens
    ferret opensnoop -p 181                 # only trace PID 181
    ferret opensnoop -t 123                 # only trace TID 123
    ferret opensnoop -u 1000                # only trace UID 1000
    ferret opensnoop -d 10                  # trace for 10 seconds only
    ferret opensnoop -n main                # only print process names containing \"main\"
    ferret opensnoop -e                     # show extended fields
    ferret opensnoop -f O_WRONLY -f O_RDWR  # only print calls for writing
    ferret opensnoop -j                     # JSON lines: ts, uid, pid, tid, comm, fd, err, flags, mode, path";

/// Trace open() syscalls
#[derive(Parser, Debug)]
#[command(name = "ferret opensnoop", after_help = EXAMPLES)]
struct Args {
    /// include timestamp on output
    #[arg(short = 'T', long = "timestamp")]
    timestamp: bool,
    /// print UID column
    #[arg(short = 'U', long = "print-uid")]
    print_uid: bool,
    /// only show failed opens
    #[arg(short = 'x', long = "failed")]
    failed: bool,
    /// trace this PID only
    #[arg(short = 'p', long = "pid")]
    pid: Option<u32>,
    /// trace this TID only
    #[arg(short = 't', long = "tid")]
    tid: Option<u32>,
    /// trace this UID only
    #[arg(short = 'u', long = "uid")]
    uid: Option<u32>,
    /// total duration of trace in seconds
    #[arg(short = 'd', long = "duration")]
    duration: Option<u64>,
    /// only print process names containing this name
    #[arg(short = 'n', long = "name")]
    name: Option<String>,
    /// show extended fields
    #[arg(short = 'e', long = "extended_fields")]
    extended: bool,
    /// filter on flags argument (e.g., O_WRONLY)
    #[arg(short = 'f', long = "flag_filter")]
    flag_filter: Vec<String>,
    #[command(flatten)]
    common: Common,
}

const EVENT: &str = "%d %d %d %d %d %d %d %s %s\n";

/// open(2)'s flags by name (x86-64 values), for `-f`.
fn flag_value(name: &str) -> Option<i64> {
    Some(match name {
        "O_RDONLY" => 0o0,
        "O_WRONLY" => 0o1,
        "O_RDWR" => 0o2,
        "O_CREAT" => 0o100,
        "O_EXCL" => 0o200,
        "O_NOCTTY" => 0o400,
        "O_TRUNC" => 0o1000,
        "O_APPEND" => 0o2000,
        "O_NONBLOCK" => 0o4000,
        "O_DSYNC" => 0o10000,
        "O_ASYNC" => 0o20000,
        "O_DIRECT" => 0o40000,
        "O_LARGEFILE" => 0o100000,
        "O_DIRECTORY" => 0o200000,
        "O_NOFOLLOW" => 0o400000,
        "O_NOATIME" => 0o1000000,
        "O_CLOEXEC" => 0o2000000,
        "O_SYNC" => 0o4010000,
        "O_PATH" => 0o10000000,
        "O_TMPFILE" => 0o20200000,
        _ => return None,
    })
}

fn program(a: &Args, flags: i64, cg: &[String]) -> String {
    let mut filter = cg.to_vec();
    if let Some(p) = a.pid {
        filter.push(format!("pid == {p}"));
    }
    if let Some(t) = a.tid {
        filter.push(format!("tid == {t}"));
    }
    if let Some(u) = a.uid {
        filter.push(format!("uid == {u}"));
    }
    let enter = |flags_expr: &str, mode_expr: &str| {
        let mut f = filter.clone();
        if !a.flag_filter.is_empty() {
            // O_RDONLY is 0: a filter naming it matches calls without the access bits set.
            f.push(format!("(({flags_expr}) & {flags} || (({flags}) & 3) == 0 && (({flags_expr}) & 3) == 0)"));
        }
        let pred = if f.is_empty() { String::new() } else { format!("/{}/ ", f.join(" && ")) };
        format!(
            "{pred}{{ @path[tid] = (uint64)args.filename; @flags[tid] = (int64)({flags_expr}); @mode[tid] = (int64)({mode_expr}); @ts[tid] = nsecs; }}"
        )
    };
    format!(
        r#"tracepoint:syscalls:sys_enter_open {open}
tracepoint:syscalls:sys_enter_openat {open}
tracepoint:syscalls:sys_enter_openat2 {open2}
tracepoint:syscalls:sys_exit_open, tracepoint:syscalls:sys_exit_openat, tracepoint:syscalls:sys_exit_openat2 /@path[tid]/ {{
    printf("{EVENT_E}", @ts[tid], uid, pid, tid, args.ret, @flags[tid], @mode[tid], comm, str(uptr(@path[tid])));
    delete(@path, tid); delete(@flags, tid); delete(@mode, tid); delete(@ts, tid);
}}
"#,
        open = enter("args.flags", "args.mode"),
        // struct open_how { u64 flags; u64 mode; u64 resolve; }, read without kernel BTF.
        open2 = enter("*(uint64 *)uptr(args.how)", "*(uint64 *)uptr(args.how + 8)"),
        EVENT_E = EVENT.escape_default(),
    )
}

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let mut flags = 0;
    for f in &a.flag_filter {
        match flag_value(f) {
            Some(v) => flags |= v,
            None => {
                eprintln!("ferret opensnoop: error: argument -f/--flag_filter: unknown flag '{f}'");
                return 2;
            }
        }
    }
    let mut h = String::new();
    if !a.common.json {
        if a.timestamp {
            h.push_str(&format!("{:<14}", "TIME(s)"));
        }
        if a.print_uid {
            h.push_str(&format!("{:<6}", "UID"));
        }
        let id = if a.tid.is_some() { "TID" } else { "PID" };
        h.push_str(&format!("{id:<6} {:<16} {:>4} {:>3} ", "COMM", "FD", "ERR"));
        if a.extended {
            h.push_str(&format!("{:<8} {:<4} ", "FLAGS", "MODE"));
        }
        h.push_str("PATH");
    }
    let mut first_ts: Option<i64> = None;
    let duration = a.duration.map(Duration::from_secs);
    super::run("opensnoop", &[Route::new("tracepoint", program(&a, flags, &cg))], &h, &a.common, duration, |e| {
        let Some(v) = printf_args(e, EVENT) else { return true };
        let (ts, uid, pid, tid, ret) = (int(&v[0]), int(&v[1]), int(&v[2]), int(&v[3]), int(&v[4]));
        let (oflags, mode) = (int(&v[5]), int(&v[6]));
        let (comm, path) = (string(&v[7]), string(&v[8]));
        let (fd, err) = if ret >= 0 { (ret, 0) } else { (-1, -ret) };
        if a.failed && ret >= 0 {
            return true;
        }
        if a.name.as_ref().is_some_and(|n| !comm.contains(n.as_str())) {
            return true;
        }
        let first = *first_ts.get_or_insert(ts);
        let secs = (ts - first) as f64 / 1e9;
        if a.common.json {
            return line(&format!(
                "{{\"ts\": {secs:.9}, \"uid\": {uid}, \"pid\": {pid}, \"tid\": {tid}, \"comm\": {}, \"fd\": {fd}, \"err\": {err}, \"flags\": {oflags}, \"mode\": {mode}, \"path\": {}}}",
                json_str(&comm),
                json_str(&path)
            ));
        }
        let mut row = String::new();
        if a.timestamp {
            row.push_str(&format!("{secs:<14.9}"));
        }
        if a.print_uid {
            row.push_str(&format!("{uid:<6}"));
        }
        let id = if a.tid.is_some() { tid } else { pid };
        row.push_str(&format!("{id:<6} {comm:<16} {fd:>4} {err:>3} "));
        if a.extended {
            // open(2): the mode matters only with O_CREAT or O_TMPFILE.
            let o_tmpfile = 0o20200000;
            if mode == 0 && oflags & 0o100 == 0 && oflags & o_tmpfile != o_tmpfile {
                row.push_str(&format!("{oflags:08o} n/a  "));
            } else {
                row.push_str(&format!("{oflags:08o} {mode:04o} "));
            }
        }
        row.push_str(&path);
        line(&row)
    })
}
