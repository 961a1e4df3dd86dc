//! `ferret capable`: security capability checks (`cap_capable()`), one line each, with BCC
//! capable's flags and columns. Routes: fentry, then a kprobe on `cap_capable` (the kernel has
//! no tracepoint for capability checks).
use super::{int, json_str, line, printf_args, string, Common, Route};
use clap::Parser;
use std::collections::HashSet;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command =
    crate::cmd::Command { name: "capable", about: "trace security capability checks (BCC's capable)", run };

const EXAMPLES: &str = "examples:
    ferret capable             # trace capability checks
    ferret capable -v          # verbose: include non-audit checks
    ferret capable -p 181      # only trace PID 181
    ferret capable -x          # extra fields: show TID and INSETID columns
    ferret capable --unique    # don't repeat a capability for the same process
    ferret capable -j          # JSON lines: time, uid, pid, tid, comm, cap, name, audit, insetid";

/// Trace security capability checks
#[derive(Parser, Debug)]
#[command(name = "ferret capable", after_help = EXAMPLES)]
struct Args {
    /// include non-audit checks
    #[arg(long = "non-audit")]
    non_audit: bool,
    /// trace this PID only
    #[arg(short = 'p', long = "pid")]
    pid: Option<u32>,
    /// show extra fields in TID and INSETID columns
    #[arg(short = 'x', long = "extra")]
    extra: bool,
    /// don't repeat stacks for the same pid or cgroup
    #[arg(long = "unique")]
    unique: bool,
    #[command(flatten)]
    common: Common,
}

/// include/uapi/linux/capability.h.
const CAPS: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

const EVENT: &str = "%d %d %d %d %d %s\n";

/// cap_capable(cred, ns, cap, opts): CAP_OPT_NOAUDIT is bit 1, CAP_OPT_INSETID bit 2.
fn program(a: &Args, cg: &[String], probe: &str, cap: &str, opts: &str) -> String {
    let mut f = cg.to_vec();
    if let Some(p) = a.pid {
        f.push(format!("pid == {p}"));
    }
    if !a.non_audit {
        f.push(format!("!(({opts}) & 2)"));
    }
    format!(
        "{probe} {}{{ printf(\"{}\", uid, pid, tid, {cap}, {opts}, comm); }}\n",
        super::predicate(&f),
        EVENT.escape_default()
    )
}

fn run(argv: Vec<OsString>) -> i32 {
    // BCC's -v (verbose: include non-audit checks) is ferret's --non-audit: -v says the route.
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let routes = [
        Route::new("fentry cap_capable", program(&a, &cg, "fentry:cap_capable", "args.cap", "args.opts")),
        Route::new("kprobe cap_capable", program(&a, &cg, "kprobe:cap_capable", "(int32)arg2", "(uint32)arg3")),
    ];
    let mut h = String::new();
    if !a.common.json {
        if a.extra {
            h = format!(
                "{:<9} {:<6} {:<6} {:<6} {:<16} {:<4} {:<20} {:<6} {}",
                "TIME", "UID", "PID", "TID", "COMM", "CAP", "NAME", "AUDIT", "INSETID"
            );
        } else {
            h = format!(
                "{:<9} {:<6} {:<6} {:<16} {:<4} {:<20} {:<6}",
                "TIME", "UID", "PID", "COMM", "CAP", "NAME", "AUDIT"
            );
        }
    }
    let mut seen = HashSet::new();
    super::run("capable", &routes, h.trim_end(), &a.common, None, |e| {
        let Some(v) = printf_args(e, EVENT) else { return true };
        let (uid, pid, tid, cap, opts) = (int(&v[0]), int(&v[1]), int(&v[2]), int(&v[3]), int(&v[4]));
        let comm = string(&v[5]);
        if a.unique && !seen.insert((pid, cap)) {
            return true;
        }
        let name = CAPS.get(cap as usize).map_or_else(|| "?".to_string(), |n| n.to_string());
        let (audit, insetid) = (i64::from(opts & 2 == 0), i64::from(opts & 4 != 0));
        let time = super::hms();
        if a.common.json {
            return line(&format!(
                "{{\"time\": {}, \"uid\": {uid}, \"pid\": {pid}, \"tid\": {tid}, \"comm\": {}, \"cap\": {cap}, \"name\": \"{name}\", \"audit\": {audit}, \"insetid\": {insetid}}}",
                json_str(&time),
                json_str(&comm)
            ));
        }
        if a.extra {
            line(&format!("{time:<9} {uid:<6} {pid:<6} {tid:<6} {comm:<16} {cap:<4} {name:<20} {audit:<6} {insetid}"))
        } else {
            line(format!("{time:<9} {uid:<6} {pid:<6} {comm:<16} {cap:<4} {name:<20} {audit:<6}").trim_end())
        }
    })
}
