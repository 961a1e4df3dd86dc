//! `ferret tcptop`: TCP throughput by connection and process, refreshed like top, with BCC
//! tcptop's flags and columns. Routes: the `sock:sock_send_length`/`sock_recv_length`
//! tracepoints (Linux 6.3+) reading the connection from the `struct sock` (kernel BTF), then
//! fentry, then kprobes on `tcp_sendmsg`/`tcp_cleanup_rbuf`, as BCC.
use super::net::{family_filter, SK_ADDRS};
use super::{json_str, line, Common, Every, Route};
use clap::Parser;
use ferret::Value;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::IsTerminal;

pub const COMMAND: crate::cmd::Command =
    crate::cmd::Command { name: "tcptop", about: "summarize TCP send/recv throughput by host (BCC's tcptop)", run };

const EXAMPLES: &str = "examples:
    ferret tcptop            # trace TCP send/recv by host, refreshed every second
    ferret tcptop -C         # don't clear the screen
    ferret tcptop -p 181     # only trace PID 181
    ferret tcptop -4         # trace IPv4 family only
    ferret tcptop -6         # trace IPv6 family only
    ferret tcptop -j 1 5     # JSON lines: time, pid, comm, laddr, lport, raddr, rport, rx_kb, tx_kb";

/// Summarize TCP send/recv throughput by host
#[derive(Parser, Debug)]
#[command(name = "ferret tcptop", after_help = EXAMPLES)]
struct Args {
    /// don't clear the screen
    #[arg(short = 'C', long = "noclear")]
    noclear: bool,
    /// skip system summary line
    #[arg(short = 'S', long = "nosummary")]
    nosummary: bool,
    /// trace this PID only
    #[arg(short = 'p', long = "pid")]
    pid: Option<u32>,
    /// trace IPv4 family only
    #[arg(short = '4', long = "ipv4", conflicts_with = "ipv6")]
    ipv4: bool,
    /// trace IPv6 family only
    #[arg(short = '6', long = "ipv6")]
    ipv6: bool,
    /// output interval, in seconds (default 1)
    #[arg(default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    interval: u64,
    /// number of outputs
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    #[command(flatten)]
    common: Common,
}

/// The program: `send` and `recv` are (probe, `struct sock *` expression, bytes expression).
fn program(a: &Args, cg: &[String], send: [&str; 3], recv: [&str; 3]) -> String {
    let mut f = cg.to_vec();
    if let Some(p) = a.pid {
        f.push(format!("pid == {p}"));
    }
    let pred = super::predicate(&f);
    let mut after = vec!["($fam == 2 || $fam == 10)".to_string()];
    after.extend(family_filter(a.ipv4, a.ipv6, "$fam"));
    let block = |[probe, sk, bytes]: [&str; 3], map: &str| {
        format!(
            "{probe} {pred}{{\n    $sk = (struct sock *)({sk});\n    {SK_ADDRS}\n    if ({} && ({bytes}) > 0) {{ {map}[pid, comm, $l, $lport, $r, $rport] = sum({bytes}); }}\n}}\n",
            after.join(" && ")
        )
    };
    block(send, "@tx") + &block(recv, "@rx")
}

type Conn = (i64, String, String, i64, String, i64);

fn conns(dump: Option<ferret::MapDump>) -> HashMap<Conn, u64> {
    let mut out = HashMap::new();
    for (k, v) in dump.map(|d| d.entries).unwrap_or_default() {
        let (Some(Value::Tuple(k)), Some(n)) = (k, super::num(&v)) else { continue };
        let s = |i: usize| super::hist::plain(&k[i]);
        out.insert((super::int(&k[0]), s(1), s(2), super::int(&k[3]), s(4), super::int(&k[5])), n);
    }
    out
}

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let routes = [
        Route::new(
            "tracepoint sock_send_length/sock_recv_length",
            program(
                &a,
                &cg,
                ["tracepoint:sock:sock_send_length", "args.sk", "args.protocol == 6 ? args.ret : 0"],
                // MSG_PEEK (2) reads leave the data queued: not counted, as the tracepoint's own format.
                [
                    "tracepoint:sock:sock_recv_length",
                    "args.sk",
                    "args.protocol == 6 && !(args.flags & 2) ? args.ret : 0",
                ],
            ),
        ),
        Route::new(
            "fentry tcp_sendmsg/tcp_cleanup_rbuf",
            program(
                &a,
                &cg,
                ["fentry:tcp_sendmsg", "args.sk", "args.size"],
                ["fentry:tcp_cleanup_rbuf", "args.sk", "args.copied"],
            ),
        ),
        Route::new(
            "kprobe tcp_sendmsg/tcp_cleanup_rbuf",
            program(
                &a,
                &cg,
                ["kprobe:tcp_sendmsg", "arg0", "arg2"],
                ["kprobe:tcp_cleanup_rbuf", "arg0", "(int32)arg1"],
            ),
        ),
    ];
    let clear = !a.noclear && !a.common.json && std::io::stdout().is_terminal();
    let every = Every::positional(Some(a.interval), a.count);
    super::run_summary("tcptop", &routes, "", &a.common, every, |r| {
        let tx = conns(r.map("@tx"));
        let rx = conns(r.map("@rx"));
        r.clear("@tx");
        r.clear("@rx");
        let mut all: HashMap<Conn, (u64, u64)> = HashMap::new();
        for (k, n) in tx {
            all.entry(k).or_default().1 = n;
        }
        for (k, n) in rx {
            all.entry(k).or_default().0 = n;
        }
        let mut rows: Vec<(Conn, (u64, u64))> = all.into_iter().collect();
        rows.sort_by(|x, y| (y.1 .0 + y.1 .1).cmp(&(x.1 .0 + x.1 .1)).then(x.0.cmp(&y.0)));
        let time = super::hms();
        if a.common.json {
            return rows.iter().all(|((pid, comm, l, lp, r, rp), (rxb, txb))| {
                line(&format!(
                    "{{\"time\": {}, \"pid\": {pid}, \"comm\": {}, \"laddr\": {}, \"lport\": {lp}, \"raddr\": {}, \"rport\": {rp}, \"rx_kb\": {}, \"tx_kb\": {}}}",
                    json_str(&time),
                    json_str(comm),
                    json_str(l),
                    json_str(r),
                    rxb / 1024,
                    txb / 1024
                ))
            });
        }
        let mut out = String::new();
        out.push_str(if clear { "\x1b[H\x1b[2J" } else { "\n" });
        if !a.nosummary {
            let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
            out.push_str(&format!("{time:<8} loadavg: {load}\n"));
        }
        let (v4, v6): (Vec<_>, Vec<_>) = rows.iter().partition(|((_, _, l, ..), _)| !l.contains(':'));
        if !v4.is_empty() {
            out.push_str(&format!(
                "{:<7} {:<12} {:<21} {:<21} {:>6} {:>6}\n",
                "PID", "COMM", "LADDR", "RADDR", "RX_KB", "TX_KB"
            ));
        }
        for ((pid, comm, l, lp, r, rp), (rxb, txb)) in &v4 {
            let comm: String = comm.chars().take(12).collect();
            out.push_str(&format!(
                "{pid:<7} {comm:<12} {:<21} {:<21} {:>6} {:>6}\n",
                format!("{l}:{lp}"),
                format!("{r}:{rp}"),
                rxb / 1024,
                txb / 1024
            ));
        }
        if !v6.is_empty() {
            out.push_str(&format!(
                "\n{:<7} {:<12} {:<32} {:<32} {:>6} {:>6}\n",
                "PID", "COMM", "LADDR6", "RADDR6", "RX_KB", "TX_KB"
            ));
        }
        for ((pid, comm, l, lp, r, rp), (rxb, txb)) in &v6 {
            let comm: String = comm.chars().take(12).collect();
            out.push_str(&format!(
                "{pid:<7} {comm:<12} {:<32} {:<32} {:>6} {:>6}\n",
                format!("{l}:{lp}"),
                format!("{r}:{rp}"),
                rxb / 1024,
                txb / 1024
            ));
        }
        line(out.trim_end_matches('\n'))
    })
}
