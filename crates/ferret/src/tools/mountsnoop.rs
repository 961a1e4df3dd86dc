//! `ferret mountsnoop`: mount() and umount() calls with their arguments and result, as BCC
//! mountsnoop prints them. Kernel side: the syscall tracepoints; the entry keeps the
//! arguments by thread, the exit reports them with the result and the mount namespace.
use super::{int, json_str, line, printf_args, string, Common, Route};
use clap::Parser;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command =
    crate::cmd::Command { name: "mountsnoop", about: "trace mount() and umount() syscalls (BCC's mountsnoop)", run };

const EXAMPLES: &str = "examples:
    ferret mountsnoop      # trace mount() and umount() system-wide
    ferret mountsnoop -P   # also show the parent process
    ferret mountsnoop -j   # JSON lines: comm, pid, tid, pcomm, ppid, mnt_ns, call, ret";

/// Trace mount() and umount() syscalls
#[derive(Parser, Debug)]
#[command(name = "ferret mountsnoop", after_help = EXAMPLES)]
struct Args {
    /// also show the parent process
    #[arg(short = 'P', long = "parent_process")]
    parent_process: bool,
    #[command(flatten)]
    common: Common,
}

const MOUNT: &str = "M %d %d %d %d %d %s %s %d %s %s %s %s\n";
const UMOUNT: &str = "U %d %d %d %d %d %s %s %d %s\n";

/// mount(2)'s flags (include/uapi/linux/mount.h).
const MOUNT_FLAGS: &[(&str, u64)] = &[
    ("MS_RDONLY", 1),
    ("MS_NOSUID", 2),
    ("MS_NODEV", 4),
    ("MS_NOEXEC", 8),
    ("MS_SYNCHRONOUS", 16),
    ("MS_REMOUNT", 32),
    ("MS_MANDLOCK", 64),
    ("MS_DIRSYNC", 128),
    ("MS_NOSYMFOLLOW", 256),
    ("MS_NOATIME", 1024),
    ("MS_NODIRATIME", 2048),
    ("MS_BIND", 4096),
    ("MS_MOVE", 8192),
    ("MS_REC", 16384),
    ("MS_SILENT", 32768),
    ("MS_POSIXACL", 1 << 16),
    ("MS_UNBINDABLE", 1 << 17),
    ("MS_PRIVATE", 1 << 18),
    ("MS_SLAVE", 1 << 19),
    ("MS_SHARED", 1 << 20),
    ("MS_RELATIME", 1 << 21),
    ("MS_KERNMOUNT", 1 << 22),
    ("MS_I_VERSION", 1 << 23),
    ("MS_STRICTATIME", 1 << 24),
    ("MS_LAZYTIME", 1 << 25),
    ("MS_ACTIVE", 1 << 30),
    ("MS_NOUSER", 1 << 31),
];

/// umount2(2)'s flags.
const UMOUNT_FLAGS: &[(&str, u64)] = &[("MNT_FORCE", 1), ("MNT_DETACH", 2), ("MNT_EXPIRE", 4), ("UMOUNT_NOFOLLOW", 8)];

fn flags(v: u64, table: &[(&str, u64)]) -> String {
    let mut v = v;
    let mut names = vec![];
    if table == MOUNT_FLAGS && v & 0xffff_0000 == 0xc0ed_0000 {
        names.push("MS_MGC_VAL".to_string());
        v &= !0xffff_0000;
    }
    for (n, bit) in table {
        if v & bit != 0 {
            names.push(n.to_string());
            v &= !bit;
        }
    }
    if v != 0 {
        names.push(format!("0x{v:x}"));
    }
    names.join("|")
}

/// A string argument as BCC quotes it (C escapes).
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.escape_default())
}

fn errno(ret: i64) -> String {
    match ferret_lang::cdefs::errno_name(-ret) {
        Some(n) if ret < 0 => format!("-{n}"),
        _ => ret.to_string(),
    }
}

fn program(cg: &[String]) -> String {
    let pred = super::predicate(cg);
    // The common fields: tid, pid, ppid, mount namespace, return value; then comm, parent's comm.
    let who = "tid, pid, curtask->real_parent->tgid, curtask->nsproxy->mnt_ns->ns.inum, args.ret, comm, curtask->real_parent->comm";
    format!(
        r#"tracepoint:syscalls:sys_enter_mount {pred}{{
    @src[tid] = (uint64)args.dev_name; @dst[tid] = (uint64)args.dir_name; @type[tid] = (uint64)args.type;
    @flags[tid] = args.flags; @data[tid] = (uint64)args.data; @on[tid] = 1;
}}
tracepoint:syscalls:sys_exit_mount /@on[tid]/ {{
    printf("{M}", {who}, @flags[tid], str(uptr(@src[tid])), str(uptr(@dst[tid])), str(uptr(@type[tid])), str(uptr(@data[tid])));
    delete(@src[tid]); delete(@dst[tid]); delete(@type[tid]); delete(@flags[tid]); delete(@data[tid]); delete(@on[tid]);
}}
tracepoint:syscalls:sys_enter_umount {pred}{{ @dst[tid] = (uint64)args.name; @flags[tid] = args.flags; @on[tid] = 2; }}
tracepoint:syscalls:sys_exit_umount /@on[tid] == 2/ {{
    printf("{U}", {who}, @flags[tid], str(uptr(@dst[tid])));
    delete(@dst[tid]); delete(@flags[tid]); delete(@on[tid]);
}}
"#,
        M = MOUNT.escape_default(),
        U = UMOUNT.escape_default(),
    )
}

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let h = match (a.common.json, a.parent_process) {
        (true, _) => String::new(),
        (false, true) => {
            format!("{:16} {:<7} {:<7} {:16} {:<7} {:<11} {}", "COMM", "PID", "TID", "PCOMM", "PPID", "MNT_NS", "CALL")
        }
        (false, false) => format!("{:16} {:<7} {:<7} {:<11} {}", "COMM", "PID", "TID", "MNT_NS", "CALL"),
    };
    super::run("mountsnoop", &[Route::new("tracepoint", program(&cg))], &h, &a.common, None, |e| {
        let (v, mount) = match (printf_args(e, MOUNT), printf_args(e, UMOUNT)) {
            (Some(v), _) => (v, true),
            (_, Some(v)) => (v, false),
            _ => return true,
        };
        let (tid, pid, ppid, ns, ret, fl) =
            (int(&v[0]), int(&v[1]), int(&v[2]), int(&v[3]), int(&v[4]), int(&v[7]) as u64);
        let (comm, pcomm) = (string(&v[5]), string(&v[6]));
        let call = if mount {
            format!(
                "mount({}, {}, {}, {}, {}) = {}",
                quoted(&string(&v[8])),
                quoted(&string(&v[9])),
                quoted(&string(&v[10])),
                flags(fl, MOUNT_FLAGS),
                quoted(&string(&v[11])),
                errno(ret)
            )
        } else {
            format!("umount({}, {}) = {}", quoted(&string(&v[8])), flags(fl, UMOUNT_FLAGS), errno(ret))
        };
        if a.common.json {
            return line(&format!(
                "{{\"comm\": {}, \"pid\": {pid}, \"tid\": {tid}, \"pcomm\": {}, \"ppid\": {ppid}, \"mnt_ns\": {ns}, \"call\": {}, \"ret\": {ret}}}",
                json_str(&comm),
                json_str(&pcomm),
                json_str(&call)
            ));
        }
        if a.parent_process {
            line(&format!("{comm:16} {pid:<7} {tid:<7} {pcomm:16} {ppid:<7} {ns:<11} {call}"))
        } else {
            line(&format!("{comm:16} {pid:<7} {tid:<7} {ns:<11} {call}"))
        }
    })
}
