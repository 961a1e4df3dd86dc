//! `ferret tcpaccept`: passive TCP connections (accept()), one line each, with BCC tcpaccept's
//! flags and columns. Routes: the accept syscalls' exit, reading the new socket through the
//! process's file table (kernel BTF), then a kretprobe on `inet_csk_accept`, as BCC.
use super::net::{family_filter, ip_version, ports_filter, SK_ADDRS};
use super::{int, json_str, line, printf_args, string, Common, Route};
use clap::Parser;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command =
    crate::cmd::Command { name: "tcpaccept", about: "trace TCP passive connections (BCC's tcpaccept)", run };

const EXAMPLES: &str = "examples:
    ferret tcpaccept              # trace all TCP accept()s
    ferret tcpaccept -t           # include timestamps
    ferret tcpaccept -P 80,81     # only trace port 80 and 81
    ferret tcpaccept -p 181       # only trace PID 181
    ferret tcpaccept -4           # only trace IPv4 family
    ferret tcpaccept -6           # only trace IPv6 family
    ferret tcpaccept -j           # JSON lines: ts, pid, comm, ip, raddr, rport, laddr, lport";

/// Trace TCP accepts
#[derive(Parser, Debug)]
#[command(name = "ferret tcpaccept", after_help = EXAMPLES)]
struct Args {
    /// include timestamp on output
    #[arg(short = 'T', long = "time")]
    time: bool,
    /// include timestamp on output
    #[arg(short = 't', long = "timestamp")]
    timestamp: bool,
    /// trace this PID only
    #[arg(short = 'p', long = "pid")]
    pid: Option<u32>,
    /// comma-separated list of local ports to trace
    #[arg(short = 'P', long = "port", value_delimiter = ',')]
    port: Vec<u16>,
    /// trace IPv4 family only
    #[arg(short = '4', long = "ipv4", conflicts_with = "ipv6")]
    ipv4: bool,
    /// trace IPv6 family only
    #[arg(short = '6', long = "ipv6")]
    ipv6: bool,
    #[command(flatten)]
    common: Common,
}

const EVENT: &str = "%d %d %d %d %d %s %s %s\n";

/// The program: `probe` runs with the accepted `struct sock *` in `$sk` after `sk`.
fn program(a: &Args, cg: &[String], probe: &str, sk: &str) -> String {
    let mut f = cg.to_vec();
    if let Some(p) = a.pid {
        f.push(format!("pid == {p}"));
    }
    let pred = super::predicate(&f);
    let mut after = vec!["($fam == 2 || $fam == 10)".to_string(), "$sk->sk_protocol == 6".to_string()];
    after.extend(family_filter(a.ipv4, a.ipv6, "$fam"));
    after.extend(ports_filter(&a.port, "$lport"));
    format!(
        r#"{probe} {pred}{{
    {sk}
    {SK_ADDRS}
    if ({cond}) {{ printf("{EVENT_E}", nsecs, pid, $fam, $lport, $rport, comm, $r, $l); }}
}}
"#,
        cond = after.join(" && "),
        EVENT_E = EVENT.escape_default(),
    )
}

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let routes = [
        Route::new(
            "tracepoint syscalls (accept, accept4)",
            program(
                &a,
                &cg,
                "tracepoint:syscalls:sys_exit_accept, tracepoint:syscalls:sys_exit_accept4",
                "if (args.ret < 0) { return; }\n    $sk = ((struct socket *)curtask->files->fdt->fd[args.ret]->private_data)->sk;",
            ),
        ),
        Route::new(
            "kretprobe inet_csk_accept",
            program(&a, &cg, "kretprobe:inet_csk_accept", "if (retval == 0) { return; }\n    $sk = (struct sock *)retval;"),
        ),
    ];
    let mut h = String::new();
    if !a.common.json {
        if a.time {
            h.push_str(&format!("{:<9}", "TIME"));
        }
        if a.timestamp {
            h.push_str(&format!("{:<9}", "TIME(s)"));
        }
        h.push_str(&format!(
            "{:<7} {:<12} {:<2} {:<16} {:<5} {:<16} {:<5}",
            "PID", "COMM", "IP", "RADDR", "RPORT", "LADDR", "LPORT"
        ));
    }
    let mut first: Option<i64> = None;
    super::run("tcpaccept", &routes, &h, &a.common, None, |e| {
        let Some(v) = printf_args(e, EVENT) else { return true };
        let (ts, pid, fam, lport, rport) = (int(&v[0]), int(&v[1]), int(&v[2]), int(&v[3]), int(&v[4]));
        let (comm, raddr, laddr) = (string(&v[5]), string(&v[6]), string(&v[7]));
        let secs = (ts - *first.get_or_insert(ts)) as f64 / 1e9;
        let ip = ip_version(fam);
        if a.common.json {
            return line(&format!(
                "{{\"ts\": {secs:.6}, \"pid\": {pid}, \"comm\": {}, \"ip\": {ip}, \"raddr\": {}, \"rport\": {rport}, \"laddr\": {}, \"lport\": {lport}}}",
                json_str(&comm),
                json_str(&raddr),
                json_str(&laddr)
            ));
        }
        let mut row = String::new();
        if a.time {
            row.push_str(&format!("{:<9}", super::hms()));
        }
        if a.timestamp {
            row.push_str(&format!("{secs:<9.3}"));
        }
        let comm: String = comm.chars().take(12).collect();
        row.push_str(&format!("{pid:<7} {comm:<12} {ip:<2} {raddr:<16} {rport:<5} {laddr:<16} {lport:<5}"));
        line(row.trim_end())
    })
}
