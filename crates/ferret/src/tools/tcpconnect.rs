//! `ferret tcpconnect`: active TCP connections (connect()), one line each, with BCC
//! tcpconnect's flags and columns. Kernel side: `sock:inet_sock_set_state`: a socket going from
//! CLOSE to SYN_SENT runs in the connecting process; with -L the row waits for the handshake's
//! end (SYN_SENT to ESTABLISHED or CLOSE), when the local port is known.
use super::net::{family_filter, ip_version, ports_filter, TP_ADDRS};
use super::{int, json_str, line, printf_args, string, Common, Route};
use clap::Parser;
use std::collections::BTreeMap;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command =
    crate::cmd::Command { name: "tcpconnect", about: "trace TCP active connections (BCC's tcpconnect)", run };

const EXAMPLES: &str = "examples:
    ferret tcpconnect            # trace all TCP connect()s
    ferret tcpconnect -t         # include timestamps
    ferret tcpconnect -p 181     # only trace PID 181
    ferret tcpconnect -P 80      # only trace port 80
    ferret tcpconnect -P 80,81   # only trace port 80 and 81
    ferret tcpconnect -4         # only trace IPv4 family
    ferret tcpconnect -6         # only trace IPv6 family
    ferret tcpconnect -U         # include UID
    ferret tcpconnect -u 1000    # only trace UID 1000
    ferret tcpconnect -L         # include LPORT while printing outputs
    ferret tcpconnect -c         # count connects per src ip and dest ip/port
    ferret tcpconnect -j         # JSON lines: ts, uid, pid, comm, ip, saddr, lport, daddr, dport";

/// Trace TCP connects
#[derive(Parser, Debug)]
#[command(name = "ferret tcpconnect", after_help = EXAMPLES)]
struct Args {
    /// include timestamp on output
    #[arg(short = 't', long = "timestamp")]
    timestamp: bool,
    /// trace this PID only
    #[arg(short = 'p', long = "pid")]
    pid: Option<u32>,
    /// comma-separated list of destination ports to trace
    #[arg(short = 'P', long = "port", value_delimiter = ',')]
    port: Vec<u16>,
    /// trace IPv4 family only
    #[arg(short = '4', long = "ipv4", conflicts_with = "ipv6")]
    ipv4: bool,
    /// trace IPv6 family only
    #[arg(short = '6', long = "ipv6")]
    ipv6: bool,
    /// include LPORT on output
    #[arg(short = 'L', long = "lport")]
    lport: bool,
    /// include UID on output
    #[arg(short = 'U', long = "print-uid")]
    print_uid: bool,
    /// trace this UID only
    #[arg(short = 'u', long = "uid")]
    uid: Option<u32>,
    /// count connects per src ip and dest ip/port
    #[arg(short = 'c', long = "count")]
    count: bool,
    #[command(flatten)]
    common: Common,
}

const EVENT: &str = "%d %d %d %d %d %d %s %s %s\n";

fn program(a: &Args, cg: &[String]) -> String {
    let mut f = cg.to_vec();
    f.push("args.protocol == 6 && args.oldstate == 7 && args.newstate == 2".into());
    if let Some(p) = a.pid {
        f.push(format!("pid == {p}"));
    }
    if let Some(u) = a.uid {
        f.push(format!("uid == {u}"));
    }
    f.extend(family_filter(a.ipv4, a.ipv6, "args.family"));
    f.extend(ports_filter(&a.port, "args.dport"));
    let pred = super::predicate(&f);
    let print = |ts: &str, pid: &str, uid: &str, comm: &str| {
        format!(
            "{TP_ADDRS}\n    printf(\"{}\", {ts}, {pid}, {uid}, args.family, args.sport, args.dport, {comm}, $l, $r);",
            EVENT.escape_default()
        )
    };
    if !a.lport {
        return format!(
            "tracepoint:sock:inet_sock_set_state {pred}{{\n    {}\n}}\n",
            print("nsecs", "pid", "uid", "comm")
        );
    }
    format!(
        r#"tracepoint:sock:inet_sock_set_state {pred}{{ @ts[args.skaddr] = nsecs; @pid[args.skaddr] = pid; @uid[args.skaddr] = uid; @comm[args.skaddr] = comm; }}
tracepoint:sock:inet_sock_set_state /args.protocol == 6 && args.oldstate == 2 && @ts[args.skaddr]/ {{
    {}
    delete(@ts[args.skaddr]); delete(@pid[args.skaddr]); delete(@uid[args.skaddr]); delete(@comm[args.skaddr]);
}}
"#,
        print("@ts[args.skaddr]", "@pid[args.skaddr]", "@uid[args.skaddr]", "@comm[args.skaddr]")
    )
}

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let mut h = String::new();
    if !a.common.json && !a.count {
        if a.timestamp {
            h.push_str(&format!("{:<9}", "TIME(s)"));
        }
        if a.print_uid {
            h.push_str(&format!("{:<6}", "UID"));
        }
        if a.lport {
            h.push_str(&format!(
                "{:<7} {:<12} {:<2} {:<16} {:<6} {:<16} {:<6}",
                "PID", "COMM", "IP", "SADDR", "LPORT", "DADDR", "DPORT"
            ));
        } else {
            h.push_str(&format!(
                "{:<7} {:<12} {:<2} {:<16} {:<16} {:<6}",
                "PID", "COMM", "IP", "SADDR", "DADDR", "DPORT"
            ));
        }
    }
    if a.count && !a.common.json {
        h = "Tracing connect ... Hit Ctrl-C to end".into();
    }
    let mut first: Option<i64> = None;
    let mut counts: BTreeMap<(String, String, i64), u64> = BTreeMap::new();
    let code = super::run(
        "tcpconnect",
        &[Route::new("tracepoint", program(&a, &cg))],
        h.trim_end(),
        &a.common,
        None,
        |e| {
            let Some(v) = printf_args(e, EVENT) else { return true };
            let (ts, pid, uid, fam, lport, dport) =
                (int(&v[0]), int(&v[1]), int(&v[2]), int(&v[3]), int(&v[4]), int(&v[5]));
            let (comm, saddr, daddr) = (string(&v[6]), string(&v[7]), string(&v[8]));
            if a.count {
                *counts.entry((saddr, daddr, dport)).or_default() += 1;
                return true;
            }
            let secs = (ts - *first.get_or_insert(ts)) as f64 / 1e9;
            let ip = ip_version(fam);
            if a.common.json {
                return line(&format!(
                "{{\"ts\": {secs:.6}, \"uid\": {uid}, \"pid\": {pid}, \"comm\": {}, \"ip\": {ip}, \"saddr\": {}, \"lport\": {lport}, \"daddr\": {}, \"dport\": {dport}}}",
                json_str(&comm),
                json_str(&saddr),
                json_str(&daddr)
            ));
            }
            let mut row = String::new();
            if a.timestamp {
                row.push_str(&format!("{secs:<9.3}"));
            }
            if a.print_uid {
                row.push_str(&format!("{uid:<6}"));
            }
            let comm: String = comm.chars().take(12).collect();
            if a.lport {
                row.push_str(&format!("{pid:<7} {comm:<12} {ip:<2} {saddr:<16} {lport:<6} {daddr:<16} {dport:<6}"));
            } else {
                row.push_str(&format!("{pid:<7} {comm:<12} {ip:<2} {saddr:<16} {daddr:<16} {dport:<6}"));
            }
            line(row.trim_end())
        },
    );
    if a.count && code == 0 {
        let mut rows: Vec<_> = counts.into_iter().collect();
        rows.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        if a.common.json {
            for ((s, d, p), n) in rows {
                line(&format!(
                    "{{\"saddr\": {}, \"daddr\": {}, \"dport\": {p}, \"connects\": {n}}}",
                    json_str(&s),
                    json_str(&d)
                ));
            }
        } else {
            line(&format!("\n{:<25} {:<25} {:<20} {:<10}", "LADDR", "RADDR", "RPORT", "CONNECTS"));
            for ((s, d, p), n) in rows {
                line(format!("{s:<25} {d:<25} {p:<20} {n:<10}").trim_end());
            }
        }
    }
    code
}
