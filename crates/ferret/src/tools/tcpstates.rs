//! `ferret tcpstates`: each TCP state change with the time spent in the old state, with BCC
//! tcpstates' flags and columns. Kernel side: `sock:inet_sock_set_state`.
use super::net::{family_filter, ip_version, ports_filter, state_name, TP_ADDRS};
use super::{int, json_str, line, printf_args, string, Common, Route};
use clap::Parser;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command = crate::cmd::Command {
    name: "tcpstates",
    about: "trace TCP session state changes and durations (BCC's tcpstates)",
    run,
};

const EXAMPLES: &str = "examples:
    ferret tcpstates           # trace all TCP state changes
    ferret tcpstates -t        # include timestamp column
    ferret tcpstates -T        # include time column (HH:MM:SS)
    ferret tcpstates -w        # wider columns (fit IPv6)
    ferret tcpstates -stT      # csv output, with times & timestamps
    ferret tcpstates -L 80     # only trace local port 80
    ferret tcpstates -L 80,81  # only trace local ports 80 and 81
    ferret tcpstates -D 80     # only trace remote port 80
    ferret tcpstates -4        # trace IPv4 family only
    ferret tcpstates -6        # trace IPv6 family only
    ferret tcpstates -j        # JSON lines: ts, skaddr, pid, comm, ip, laddr, lport, raddr, rport, oldstate, newstate, ms";

/// Trace TCP session state changes with durations
#[derive(Parser, Debug)]
#[command(name = "ferret tcpstates", after_help = EXAMPLES)]
struct Args {
    /// include time column on output (HH:MM:SS)
    #[arg(short = 'T', long = "time")]
    time: bool,
    /// include timestamp on output (seconds)
    #[arg(short = 't', long = "timestamp")]
    timestamp: bool,
    /// wide column output (fits IPv6 addresses)
    #[arg(short = 'w', long = "wide")]
    wide: bool,
    /// comma separated values output
    #[arg(short = 's', long = "csv")]
    csv: bool,
    /// comma-separated list of local ports to trace
    #[arg(short = 'L', long = "localport", value_delimiter = ',')]
    localport: Vec<u16>,
    /// comma-separated list of remote ports to trace
    #[arg(short = 'D', long = "remoteport", value_delimiter = ',')]
    remoteport: Vec<u16>,
    /// trace IPv4 family only
    #[arg(short = '4', long = "ipv4", conflicts_with = "ipv6")]
    ipv4: bool,
    /// trace IPv6 family only
    #[arg(short = '6', long = "ipv6")]
    ipv6: bool,
    #[command(flatten)]
    common: Common,
}

const EVENT: &str = "%d %d %d %d %d %d %d %d %d %s %s %s\n";

fn program(a: &Args, cg: &[String]) -> String {
    let mut f = cg.to_vec();
    f.push("args.protocol == 6".into());
    f.extend(family_filter(a.ipv4, a.ipv6, "args.family"));
    f.extend(ports_filter(&a.localport, "args.sport"));
    f.extend(ports_filter(&a.remoteport, "args.dport"));
    format!(
        r#"tracepoint:sock:inet_sock_set_state {pred}{{
    $last = @last[args.skaddr];
    {TP_ADDRS}
    printf("{EVENT_E}", nsecs, args.skaddr, pid, args.family, args.sport, args.dport, args.oldstate, args.newstate,
        $last ? nsecs - $last : 0, comm, $l, $r);
    if (args.newstate == 7) {{ delete(@last[args.skaddr]); }} else {{ @last[args.skaddr] = nsecs; }}
}}
"#,
        pred = super::predicate(&f),
        EVENT_E = EVENT.escape_default(),
    )
}

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let mut h = String::new();
    if !a.common.json {
        h.push_str(&super::net::time_titles(a.time, a.timestamp, a.csv));
        let c = ["SKADDR", "C-PID", "C-COMM", "IP", "LADDR", "LPORT", "RADDR", "RPORT", "OLDSTATE", "NEWSTATE", "MS"];
        if a.csv {
            h.push_str(&c.join(","));
        } else if a.wide {
            h.push_str(&format!(
                "{:<16} {:<5} {:<16} {:<2} {:<39} {:<5} {:<39} {:<5} {:<11} -> {:<11} {}",
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10]
            ));
        } else {
            h.push_str(&format!(
                "{:<16} {:<5} {:<10} {:<15} {:<5} {:<15} {:<5} {:<11} -> {:<11} {}",
                c[0], c[1], c[2], c[4], c[5], c[6], c[7], c[8], c[9], c[10]
            ));
        }
    }
    let mut first: Option<i64> = None;
    super::run("tcpstates", &[Route::new("tracepoint", program(&a, &cg))], &h, &a.common, None, |e| {
        let Some(v) = printf_args(e, EVENT) else { return true };
        let (ts, skaddr, pid, fam, lport, rport) =
            (int(&v[0]), int(&v[1]) as u64, int(&v[2]), int(&v[3]), int(&v[4]), int(&v[5]));
        let (old, new, ns) = (state_name(int(&v[6])), state_name(int(&v[7])), int(&v[8]));
        let (comm, laddr, raddr) = (string(&v[9]), string(&v[10]), string(&v[11]));
        let secs = (ts - *first.get_or_insert(ts)) as f64 / 1e9;
        let ms = ns as f64 / 1e6;
        let ip = ip_version(fam);
        if a.common.json {
            return line(&format!(
                "{{\"ts\": {secs:.6}, \"skaddr\": \"{skaddr:x}\", \"pid\": {pid}, \"comm\": {}, \"ip\": {ip}, \"laddr\": {}, \"lport\": {lport}, \"raddr\": {}, \"rport\": {rport}, \"oldstate\": \"{old}\", \"newstate\": \"{new}\", \"ms\": {ms:.3}}}",
                json_str(&comm),
                json_str(&laddr),
                json_str(&raddr)
            ));
        }
        let mut row = String::new();
        row.push_str(&super::net::time_cells(a.time, a.timestamp, a.csv, secs));
        if a.csv {
            row.push_str(&format!("{skaddr:x},{pid},{comm},{ip},{laddr},{lport},{raddr},{rport},{old},{new},{ms:.3}"));
        } else if a.wide {
            let comm: String = comm.chars().take(16).collect();
            row.push_str(&format!(
                "{skaddr:<16x} {pid:<5} {comm:<16} {ip:<2} {laddr:<39} {lport:<5} {raddr:<39} {rport:<5} {old:<11} -> {new:<11} {ms:.3}"
            ));
        } else {
            let comm: String = comm.chars().take(10).collect();
            row.push_str(&format!(
                "{skaddr:<16x} {pid:<5} {comm:<10} {laddr:<15} {lport:<5} {raddr:<15} {rport:<5} {old:<11} -> {new:<11} {ms:.3}"
            ));
        }
        line(&row)
    })
}
