//! `ferret vfsstat`: VFS operations per second (read, write, fsync, open, create, unlink,
//! mkdir, rmdir), with BCC vfsstat's columns. Routes: the syscall tracepoints of those
//! operations (the calls processes make; the kernel's own VFS calls are not seen); then fentry,
//! then kprobes on the `vfs_*` functions, as BCC.
use super::{json_str, line, Common, Every, Route};
use clap::Parser;
use ferret::MapValue;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command =
    crate::cmd::Command { name: "vfsstat", about: "count some VFS calls, with a column per type (BCC's vfsstat)", run };

const EXAMPLES: &str = "examples:
    ferret vfsstat          # count some VFS calls per second
    ferret vfsstat -p 185   # trace PID 185 only
    ferret vfsstat 2 5      # print 2 second summaries, 5 times
    ferret vfsstat -j 1 3   # JSON lines: time and each count per second";

/// Count some VFS calls
#[derive(Parser, Debug)]
#[command(name = "ferret vfsstat", after_help = EXAMPLES)]
struct Args {
    /// trace this PID only
    #[arg(short = 'p', long = "pid")]
    pid: Option<u32>,
    /// output interval, in seconds
    #[arg(default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    interval: u64,
    /// number of outputs
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    #[command(flatten)]
    common: Common,
}

const TYPES: [&str; 8] = ["READ", "WRITE", "FSYNC", "OPEN", "CREATE", "UNLINK", "MKDIR", "RMDIR"];

/// The syscalls that make each VFS call (x86-64): (column, syscall entry, extra condition).
const SYSCALLS: &[(usize, &str, &str)] = &[
    (0, "read", ""),
    (0, "pread64", ""),
    (0, "readv", ""),
    (0, "preadv", ""),
    (1, "write", ""),
    (1, "pwrite64", ""),
    (1, "writev", ""),
    (1, "pwritev", ""),
    (2, "fsync", ""),
    (2, "fdatasync", ""),
    (3, "open", ""),
    (3, "openat", ""),
    (3, "openat2", ""),
    (4, "creat", ""),
    // O_CREAT
    (4, "open", "args.flags & 0100"),
    (4, "openat", "args.flags & 0100"),
    (5, "unlink", ""),
    // unlinkat without AT_REMOVEDIR removes a file, with it a directory.
    (5, "unlinkat", "!(args.flag & 0x200)"),
    (6, "mkdir", ""),
    (6, "mkdirat", ""),
    (7, "rmdir", ""),
    (7, "unlinkat", "args.flag & 0x200"),
];

const FUNCS: [&str; 8] =
    ["vfs_read", "vfs_write", "vfs_fsync_range", "vfs_open", "vfs_create", "vfs_unlink", "vfs_mkdir", "vfs_rmdir"];

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let mut f = cg.clone();
    if let Some(p) = a.pid {
        f.push(format!("pid == {p}"));
    }
    let mut sys = String::new();
    for (col, call, cond) in SYSCALLS {
        let mut g = f.clone();
        if !cond.is_empty() {
            g.push(format!("({cond})"));
        }
        sys.push_str(&format!(
            "tracepoint:syscalls:sys_enter_{call} {}{{ @s[{col}] = count(); }}\n",
            super::predicate(&g)
        ));
    }
    let funcs = |kind: &str| -> String {
        FUNCS
            .iter()
            .enumerate()
            .map(|(i, func)| format!("{kind}:{func} {}{{ @s[{i}] = count(); }}\n", super::predicate(&f)))
            .collect()
    };
    let routes = [
        Route::new("tracepoint syscalls", sys),
        Route::new("fentry vfs_*", funcs("fentry")),
        Route::new("kprobe vfs_*", funcs("kprobe")),
    ];
    let mut h = String::new();
    if !a.common.json {
        h = format!("{:<8}  ", "TIME");
        for t in TYPES {
            h.push_str(&format!(" {:>8}", format!("{t}/s")));
        }
    }
    let every = Every::positional(Some(a.interval), a.count);
    let interval = a.interval;
    let mut last = std::time::Instant::now();
    super::run_summary("vfsstat", &routes, &h, &a.common, every, |r| {
        let mut counts = [0u64; 8];
        for (k, v) in r.map("@s").map(|d| d.entries).unwrap_or_default() {
            if let (Some(k), MapValue::Count(n)) = (k, v) {
                if let Some(c) = counts.get_mut(super::int(&k) as usize) {
                    *c = n;
                }
            }
        }
        r.clear("@s");
        // The last interval may be cut short by Ctrl-C: per second over the time it lasted.
        let secs = last.elapsed().as_secs_f64().clamp(1e-3, interval as f64);
        last = std::time::Instant::now();
        let rate = |n: u64| (n as f64 / secs) as u64;
        let time = super::hms();
        if a.common.json {
            let fields: Vec<String> =
                TYPES.iter().zip(counts).map(|(t, n)| format!("\"{}_s\": {}", t.to_lowercase(), rate(n))).collect();
            return line(&format!("{{\"time\": {}, {}}}", json_str(&time), fields.join(", ")));
        }
        let mut row = format!("{time:<8}: ");
        for n in counts {
            row.push_str(&format!(" {:>8}", rate(n)));
        }
        line(&row)
    })
}
