//! `ferret tcpretrans`: each TCP retransmit, with BCC tcpretrans' columns. Kernel side: the
//! `tcp:tcp_retransmit_skb` tracepoint (and `tcp:tcp_retransmit_synack` for a listener's
//! SYN-ACKs).
use super::net::{family_filter, ip_version, state_name, TP_ADDRS};
use super::{int, json_str, line, printf_args, string, Common, Route};
use clap::Parser;
use std::collections::BTreeMap;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command =
    crate::cmd::Command { name: "tcpretrans", about: "trace TCP retransmits (BCC's tcpretrans)", run };

const EXAMPLES: &str = "examples:
    ferret tcpretrans      # trace TCP retransmits
    ferret tcpretrans -c   # count retransmits per connection, shown at Ctrl-C
    ferret tcpretrans -4   # trace IPv4 family only
    ferret tcpretrans -6   # trace IPv6 family only
    ferret tcpretrans -j   # JSON lines: time, pid, ip, laddr, lport, raddr, rport, state";

/// Trace TCP retransmits
#[derive(Parser, Debug)]
#[command(name = "ferret tcpretrans", after_help = EXAMPLES)]
struct Args {
    /// count connects per src ip and dest ip/port
    #[arg(short = 'c', long = "count")]
    count: bool,
    /// trace IPv4 family only
    #[arg(short = '4', long = "ipv4", conflicts_with = "ipv6")]
    ipv4: bool,
    /// trace IPv6 family only
    #[arg(short = '6', long = "ipv6")]
    ipv6: bool,
    #[command(flatten)]
    common: Common,
}

const EVENT: &str = "%d %d %d %d %d %s %s\n";

fn program(a: &Args, cg: &[String]) -> String {
    let mut f = cg.to_vec();
    f.extend(family_filter(a.ipv4, a.ipv6, "args.family"));
    format!(
        r#"tracepoint:tcp:tcp_retransmit_skb {pred}{{
    {TP_ADDRS}
    printf("{EVENT_E}", pid, args.family, args.sport, args.dport, args.state, $l, $r);
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
        h = "Tracing retransmits ... Hit Ctrl-C to end".to_string();
        if !a.count {
            h.push_str(&format!(
                "\n{:<8} {:<7} {:<2} {:<20} {:>1}> {:<20} {:<4}",
                "TIME", "PID", "IP", "LADDR:LPORT", "T", "RADDR:RPORT", "STATE"
            ));
        }
    }
    let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
    let code = super::run(
        "tcpretrans",
        &[Route::new("tracepoint", program(&a, &cg))],
        h.trim_end(),
        &a.common,
        None,
        |e| {
            let Some(v) = printf_args(e, EVENT) else { return true };
            let (pid, fam, lport, rport, state) = (int(&v[0]), int(&v[1]), int(&v[2]), int(&v[3]), int(&v[4]));
            let (laddr, raddr) = (string(&v[5]), string(&v[6]));
            let ip = ip_version(fam);
            if a.count {
                *counts.entry((format!("[{laddr}]#{lport}"), format!("[{raddr}]#{rport}"))).or_default() += 1;
                return true;
            }
            let state = state_name(state);
            if a.common.json {
                return line(&format!(
                "{{\"time\": {}, \"pid\": {pid}, \"ip\": {ip}, \"laddr\": {}, \"lport\": {lport}, \"raddr\": {}, \"rport\": {rport}, \"state\": \"{state}\"}}",
                json_str(&super::hms()),
                json_str(&laddr),
                json_str(&raddr)
            ));
            }
            line(&format!(
                "{:<8} {pid:<7} {ip:<2} {:<20} R> {:<20} {state}",
                super::hms(),
                format!("{laddr}:{lport}"),
                format!("{raddr}:{rport}")
            ))
        },
    );
    if a.count && code == 0 {
        let mut rows: Vec<_> = counts.into_iter().collect();
        rows.sort_by(|x, y| x.1.cmp(&y.1).then(x.0.cmp(&y.0)));
        if a.common.json {
            for ((l, r), n) in rows {
                line(&format!("{{\"local\": {}, \"remote\": {}, \"retransmits\": {n}}}", json_str(&l), json_str(&r)));
            }
        } else {
            line(&format!("\n{:<25} {:<25} {:<10}", "LADDR:LPORT", "RADDR:RPORT", "RETRANSMITS"));
            for ((l, r), n) in rows {
                line(&format!("{l:<20} <-> {r:<20} {n:>10}"));
            }
        }
    }
    code
}
