//! `ferret tcplife`: each TCP session when it closes, with its duration and bytes, with BCC
//! tcplife's flags and columns. Kernel side: `sock:inet_sock_set_state`, as BCC: the birth time
//! at any state before FIN_WAIT1, the process at SYN_SENT or LAST_ACK, the row at CLOSE with the
//! byte counts of the `struct tcp_sock` (kernel BTF).
use super::net::{family_filter, ip_version, ports_filter, TP_ADDRS};
use super::{int, json_str, line, printf_args, string, Common, Route};
use clap::Parser;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command =
    crate::cmd::Command { name: "tcplife", about: "trace TCP sessions and summarize lifespan (BCC's tcplife)", run };

const EXAMPLES: &str = "examples:
    ferret tcplife           # trace all TCP connect()s
    ferret tcplife -T        # include time column (HH:MM:SS)
    ferret tcplife -w        # wider columns (fit IPv6)
    ferret tcplife -stT      # csv output, with times & timestamps
    ferret tcplife -p 181    # only trace PID 181
    ferret tcplife -L 80     # only trace local port 80
    ferret tcplife -L 80,81  # only trace local ports 80 and 81
    ferret tcplife -D 80     # only trace remote port 80
    ferret tcplife -4        # only trace IPv4 family
    ferret tcplife -6        # only trace IPv6 family
    ferret tcplife -j        # JSON lines: ts, pid, comm, ip, laddr, lport, raddr, rport, tx_kb, rx_kb, ms";

/// Trace the lifespan of TCP sessions and summarize
#[derive(Parser, Debug)]
#[command(name = "ferret tcplife", after_help = EXAMPLES)]
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
    /// trace this PID only
    #[arg(short = 'p', long = "pid")]
    pid: Option<u32>,
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

const EVENT: &str = "%d %d %d %d %d %d %d %d %s %s %s\n";

fn program(a: &Args, cg: &[String]) -> String {
    let mut f = vec!["args.protocol == 6".to_string()];
    f.extend(family_filter(a.ipv4, a.ipv6, "args.family"));
    f.extend(ports_filter(&a.localport, "args.sport"));
    f.extend(ports_filter(&a.remoteport, "args.dport"));
    let pred = super::predicate(&f);
    // The process (and its cgroup) is known at SYN_SENT or LAST_ACK; -p and --cgroup decide there.
    let mut who = cg.to_vec();
    if let Some(p) = a.pid {
        who.push(format!("pid == {p}"));
    }
    let who = if who.is_empty() { "1".to_string() } else { who.join(" && ") };
    let known = if cg.is_empty() && a.pid.is_none() { "1" } else { "@pid[args.skaddr]" };
    format!(
        r#"tracepoint:sock:inet_sock_set_state {pred}{{
    if (args.newstate < 4) {{ @birth[args.skaddr] = nsecs; }}
    if ((args.newstate == 2 || args.newstate == 9) && {who}) {{ @pid[args.skaddr] = pid; @comm[args.skaddr] = comm; }}
    if (args.newstate == 7) {{
        $b = @birth[args.skaddr];
        if ($b && {known}) {{
            $tp = (struct tcp_sock *)args.skaddr;
            {TP_ADDRS}
            $p = @pid[args.skaddr]; $c = @comm[args.skaddr];
            if (!$p) {{ $p = pid; $c = comm; }}
            printf("{EVENT_E}", nsecs, $p, args.family, args.sport, args.dport, $tp->bytes_acked, $tp->bytes_received, nsecs - $b, $c, $l, $r);
        }}
        delete(@birth[args.skaddr]); delete(@pid[args.skaddr]); delete(@comm[args.skaddr]);
    }}
}}
"#,
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
        let cols = ["PID", "COMM", "IP", "LADDR", "LPORT", "RADDR", "RPORT", "TX_KB", "RX_KB", "MS"];
        if a.csv {
            h.push_str(&cols.join(","));
        } else if a.wide {
            h.push_str(&format!(
                "{:<5} {:<16} {:<2} {:<39} {:<5} {:<39} {:<5} {:>6} {:>6} {}",
                cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], cols[8], cols[9]
            ));
        } else {
            h.push_str(&format!(
                "{:<5} {:<10} {:<15} {:<5} {:<15} {:<5} {:>5} {:>5} {}",
                cols[0], cols[1], cols[3], cols[4], cols[5], cols[6], cols[7], cols[8], cols[9]
            ));
        }
    }
    let mut first: Option<i64> = None;
    super::run("tcplife", &[Route::new("tracepoint", program(&a, &cg))], &h, &a.common, None, |e| {
        let Some(v) = printf_args(e, EVENT) else { return true };
        let (ts, pid, fam, lport, rport) = (int(&v[0]), int(&v[1]), int(&v[2]), int(&v[3]), int(&v[4]));
        let (tx, rx, ns) = (int(&v[5]) / 1024, int(&v[6]) / 1024, int(&v[7]));
        let (comm, laddr, raddr) = (string(&v[8]), string(&v[9]), string(&v[10]));
        let secs = (ts - *first.get_or_insert(ts)) as f64 / 1e9;
        let ms = ns as f64 / 1e6;
        let ip = ip_version(fam);
        if a.common.json {
            return line(&format!(
                "{{\"ts\": {secs:.6}, \"pid\": {pid}, \"comm\": {}, \"ip\": {ip}, \"laddr\": {}, \"lport\": {lport}, \"raddr\": {}, \"rport\": {rport}, \"tx_kb\": {tx}, \"rx_kb\": {rx}, \"ms\": {ms:.2}}}",
                json_str(&comm),
                json_str(&laddr),
                json_str(&raddr)
            ));
        }
        let mut row = String::new();
        row.push_str(&super::net::time_cells(a.time, a.timestamp, a.csv, secs));
        if a.csv {
            row.push_str(&format!("{pid},{comm},{ip},{laddr},{lport},{raddr},{rport},{tx},{rx},{ms:.2}"));
        } else if a.wide {
            let comm: String = comm.chars().take(16).collect();
            row.push_str(&format!(
                "{pid:<5} {comm:<16} {ip:<2} {laddr:<39} {lport:<5} {raddr:<39} {rport:<5} {tx:>6} {rx:>6} {ms:.2}"
            ));
        } else {
            let comm: String = comm.chars().take(10).collect();
            row.push_str(&format!(
                "{pid:<5} {comm:<10} {laddr:<15} {lport:<5} {raddr:<15} {rport:<5} {tx:>5} {rx:>5} {ms:.2}"
            ));
        }
        line(&row)
    })
}
