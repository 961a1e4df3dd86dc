//! `ferret filetop`: reads and writes by file and thread, refreshed like top, with BCC
//! filetop's flags and columns. Routes: the read/write syscall tracepoints, the file found
//! through the thread's file table (kernel BTF); then fentry, then kprobes on
//! `vfs_read`/`vfs_write` as BCC.
use super::{json_str, line, Common, Every, Route};
use clap::Parser;
use ferret::Value;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::IsTerminal;
use std::os::unix::fs::MetadataExt;

pub const COMMAND: crate::cmd::Command =
    crate::cmd::Command { name: "filetop", about: "file reads and writes by process, like top (BCC's filetop)", run };

const EXAMPLES: &str = "examples:
    ferret filetop            # file I/O top, 1 second refresh
    ferret filetop -C         # don't clear the screen
    ferret filetop -p 181     # PID 181 only
    ferret filetop -d /home/user # trace this directory only
    ferret filetop 5          # 5 second summaries
    ferret filetop 5 10       # 5 second summaries, 10 times only
    ferret filetop -j 1 3     # JSON lines: time, tid, comm, reads, writes, r_kb, w_kb, type, file";

/// File reads and writes by process
#[derive(Parser, Debug)]
#[command(name = "ferret filetop", after_help = EXAMPLES)]
struct Args {
    /// include non-regular file types (sockets, FIFOs, etc)
    #[arg(short = 'a', long = "all-files")]
    all_files: bool,
    /// don't clear the screen
    #[arg(short = 'C', long = "noclear")]
    noclear: bool,
    /// maximum rows to print, default 20
    #[arg(short = 'r', long = "maxrows", default_value_t = 20)]
    maxrows: usize,
    /// sort column, default all
    #[arg(short = 's', long = "sort", default_value = "all", value_parser = ["all", "reads", "writes", "rbytes", "wbytes"])]
    sort: String,
    /// trace this PID only
    #[arg(short = 'p', long = "pid")]
    pid: Option<u32>,
    /// trace only reads
    #[arg(long = "read-only", conflicts_with = "write_only")]
    read_only: bool,
    /// trace only writes
    #[arg(long = "write-only")]
    write_only: bool,
    /// trace this directory only
    #[arg(short = 'd', long = "directory")]
    directory: Option<String>,
    /// output interval, in seconds
    #[arg(default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    interval: u64,
    /// number of outputs
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    #[command(flatten)]
    common: Common,
}

/// The statements counting one read or write of `bytes` on the `struct file *` `$f`.
fn count(a: &Args, dir_ino: Option<u64>, write: bool, bytes: &str) -> String {
    let mut cond = vec![format!("({bytes}) > 0")];
    if !a.all_files {
        cond.push("($mode & 0170000) == 0100000".into());
    }
    if let Some(ino) = dir_ino {
        cond.push(format!("$f->f_path.dentry->d_parent->d_inode->i_ino == {ino}"));
    }
    let (n, b) = if write { ("@writes", "@wbytes") } else { ("@reads", "@rbytes") };
    format!(
        "$mode = $f->f_inode->i_mode;
    $t = ($mode & 0170000) == 0100000 ? 82 : (($mode & 0170000) == 0140000 ? 83 : 79);
    if ({}) {{ $k = (tid, comm, str($f->f_path.dentry->d_name.name), $t); {n}[$k] = count(); {b}[$k] = sum({bytes}); }}",
        cond.join(" && ")
    )
}

fn programs(a: &Args, cg: &[String], dir_ino: Option<u64>) -> Vec<Route> {
    let mut f = cg.to_vec();
    if let Some(p) = a.pid {
        f.push(format!("pid == {p}"));
    }
    let pred = super::predicate(&f);
    let sides: Vec<bool> = [false, true].into_iter().filter(|w| !(*w && a.read_only || !*w && a.write_only)).collect();
    // The syscalls: the fd kept at entry, the file looked up at exit.
    let mut sys = String::new();
    for &w in &sides {
        let calls = if w { ["write", "pwrite64", "writev", "pwritev"] } else { ["read", "pread64", "readv", "preadv"] };
        let enter: Vec<String> = calls.iter().map(|c| format!("tracepoint:syscalls:sys_enter_{c}")).collect();
        let exit: Vec<String> = calls.iter().map(|c| format!("tracepoint:syscalls:sys_exit_{c}")).collect();
        let m = if w { "@wfd" } else { "@rfd" };
        sys.push_str(&format!("{} {pred}{{ {m}[tid] = args.fd + 1; }}\n", enter.join(", ")));
        sys.push_str(&format!(
            "{} /{m}[tid]/ {{\n    $f = curtask->files->fdt->fd[{m}[tid] - 1];\n    {}\n    delete({m}[tid]);\n}}\n",
            exit.join(", "),
            count(a, dir_ino, w, "args.ret")
        ));
    }
    let vfs = |kind: &str, file: &str, bytes: &str| {
        sides
            .iter()
            .map(|&w| {
                let func = if w { "vfs_write" } else { "vfs_read" };
                format!(
                    "{kind}:{func} {pred}{{\n    $f = (struct file *)({file});\n    {}\n}}\n",
                    count(a, dir_ino, w, bytes)
                )
            })
            .collect::<String>()
    };
    vec![
        Route::new("tracepoint syscalls (read, write, ...)", sys),
        Route::new("fentry vfs_read/vfs_write", vfs("fentry", "args.file", "args.count")),
        Route::new("kprobe vfs_read/vfs_write", vfs("kprobe", "arg0", "arg2")),
    ]
}

type Key = (i64, String, String, char);

fn values(r: &ferret::Running, name: &str) -> HashMap<Key, u64> {
    let mut out = HashMap::new();
    for (k, v) in r.map(name).map(|d| d.entries).unwrap_or_default() {
        let Some(Value::Tuple(k)) = k else { continue };
        let Some(n) = super::num(&v) else { continue };
        let t = char::from_u32(super::int(&k[3]) as u32).unwrap_or('O');
        out.insert((super::int(&k[0]), super::hist::plain(&k[1]), super::hist::plain(&k[2]), t), n);
    }
    r.clear(name);
    out
}

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let dir_ino = match &a.directory {
        Some(d) => match std::fs::metadata(d) {
            Ok(m) if m.is_dir() => Some(m.ino()),
            _ => {
                eprintln!("ferret filetop: error: argument -d/--directory: {d} is not a directory");
                return 2;
            }
        },
        None => None,
    };
    let routes = programs(&a, &cg, dir_ino);
    let clear = !a.noclear && !a.common.json && std::io::stdout().is_terminal();
    let every = Every::positional(Some(a.interval), a.count);
    let status = super::run_summary("filetop", &routes, "", &a.common, every, |r| {
        let (reads, writes, rb, wb) =
            (values(r, "@reads"), values(r, "@writes"), values(r, "@rbytes"), values(r, "@wbytes"));
        let mut keys: Vec<&Key> = reads.keys().chain(writes.keys()).collect();
        keys.sort();
        keys.dedup();
        let get = |m: &HashMap<Key, u64>, k: &Key| m.get(k).copied().unwrap_or(0);
        let mut rows: Vec<(&Key, [u64; 4])> =
            keys.into_iter().map(|k| (k, [get(&reads, k), get(&writes, k), get(&rb, k), get(&wb, k)])).collect();
        let sort = |v: &[u64; 4]| match a.sort.as_str() {
            "reads" => v[0],
            "writes" => v[1],
            "rbytes" => v[2],
            "wbytes" => v[3],
            _ => v.iter().sum(),
        };
        rows.sort_by(|x, y| sort(&y.1).cmp(&sort(&x.1)).then(x.0.cmp(y.0)));
        rows.truncate(a.maxrows);
        let time = super::hms();
        if a.common.json {
            return rows.iter().all(|((tid, comm, file, t), [r_, w, rbytes, wbytes])| {
                line(&format!(
                    "{{\"time\": {}, \"tid\": {tid}, \"comm\": {}, \"reads\": {r_}, \"writes\": {w}, \"r_kb\": {}, \"w_kb\": {}, \"type\": \"{t}\", \"file\": {}}}",
                    json_str(&time),
                    json_str(comm),
                    rbytes / 1024,
                    wbytes / 1024,
                    json_str(file)
                ))
            });
        }
        let mut out = String::from(if clear { "\x1b[H\x1b[2J" } else { "\n" });
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        out.push_str(&format!("{time:<8} loadavg: {load}\n"));
        out.push_str(&format!(
            "{:<7} {:<16} {:<6} {:<6} {:<7} {:<7} {:>1} FILE\n",
            "TID", "COMM", "READS", "WRITES", "R_Kb", "W_Kb", "T"
        ));
        for ((tid, comm, file, t), [r_, w, rbytes, wbytes]) in &rows {
            out.push_str(&format!(
                "{tid:<7} {comm:<16} {r_:<6} {w:<6} {:<7} {:<7} {t} {file}\n",
                rbytes / 1024,
                wbytes / 1024
            ));
        }
        line(out.trim_end_matches('\n'))
    });
    if status == 0 && !a.common.json {
        line("Detaching...");
    }
    status
}
