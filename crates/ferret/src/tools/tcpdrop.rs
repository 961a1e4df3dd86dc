//! `ferret tcpdrop`: TCP packets the kernel drops, with the connection, its state, the
//! packet's flags, the drop reason and the kernel stack, as BCC tcpdrop prints them. Kernel
//! side: `skb:kfree_skb` with a drop reason, the packet's headers and socket read through the
//! `struct sk_buff` (kernel BTF). Reason names come from the tracepoint's own format.
use super::net::{family_filter, state_name};
use super::{int, json_str, line, Common, Route};
use clap::Parser;
use ferret::Event;
use std::collections::HashMap;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command =
    crate::cmd::Command { name: "tcpdrop", about: "trace TCP drops by the kernel (BCC's tcpdrop)", run };

const EXAMPLES: &str = "examples:
    ferret tcpdrop       # trace kernel TCP drops
    ferret tcpdrop -4    # trace IPv4 family only
    ferret tcpdrop -6    # trace IPv6 family only
    ferret tcpdrop -j    # JSON lines: time, pid, ip, saddr, sport, daddr, dport, state, flags, reason, code, stack";

/// Trace TCP drops by the kernel
#[derive(Parser, Debug)]
#[command(name = "ferret tcpdrop", after_help = EXAMPLES)]
struct Args {
    /// trace IPv4 family only
    #[arg(short = '4', long = "ipv4", conflicts_with = "ipv6")]
    ipv4: bool,
    /// trace IPv6 family only
    #[arg(short = '6', long = "ipv6")]
    ipv6: bool,
    #[command(flatten)]
    common: Common,
}

const EVENT: &str = "%d %d %d %d %d %d %d %s %s %s\n";

/// The drop reasons by number, from the tracepoint's `__print_symbolic` list.
fn reasons() -> HashMap<i64, String> {
    // tracefs as the compiler finds it (mounted first where it is not).
    let text = ferret_sys::tracefs::root()
        .ok()
        .and_then(|r| std::fs::read_to_string(r.join("events/skb/kfree_skb/format")).ok())
        .unwrap_or_default();
    let re = regex::Regex::new(r#"\{\s*(\d+),\s*"([A-Z0-9_]+)"\s*\}"#).expect("valid regex");
    re.captures_iter(&text).filter_map(|c| Some((c[1].parse().ok()?, c[2].to_string()))).collect()
}

/// TCP header flags as BCC's `tcp.flags2str` names them.
fn flags(f: i64) -> String {
    const NAMES: [(i64, &str); 8] = [
        (0x01, "FIN"),
        (0x02, "SYN"),
        (0x04, "RST"),
        (0x08, "PSH"),
        (0x10, "ACK"),
        (0x20, "URG"),
        (0x40, "ECE"),
        (0x80, "CWR"),
    ];
    NAMES.iter().filter(|(b, _)| f & b != 0).map(|(_, n)| *n).collect::<Vec<_>>().join("|")
}

fn program(a: &Args, cg: &[String], not_specified: i64) -> String {
    let mut after = vec!["$sk != 0".to_string(), "$sk->sk_protocol == 6".to_string()];
    after.extend(family_filter(a.ipv4, a.ipv6, "$fam"));
    format!(
        r#"tracepoint:skb:kfree_skb /args.reason > {not_specified}{cg}/ {{
    $skb = (struct sk_buff *)args.skbaddr;
    // A received packet's socket is the tracepoint's rx_sk (Linux 6.11+); a sent one's skb->sk.
    $sk = (struct sock *)(args.rx_sk ? args.rx_sk : $skb->sk);
    $fam = $sk->__sk_common.skc_family;
    if ({cond}) {{
        $th = $skb->head + $skb->transport_header;
        $nh = $skb->head + $skb->network_header;
        $sport = bswap(*(uint16 *)$th); $dport = bswap(*(uint16 *)($th + 2));
        $l = ntop(*(uint32 *)($nh + 12)); $r = ntop(*(uint32 *)($nh + 16));
        if ($fam == 10) {{ $l = ntop(((struct ipv6hdr *)$nh)->saddr.in6_u.u6_addr8); $r = ntop(((struct ipv6hdr *)$nh)->daddr.in6_u.u6_addr8); }}
        printf("{EVENT_E}", pid, $fam, $sport, $dport, $sk->__sk_common.skc_state, *(uint8 *)($th + 13), args.reason, $l, $r, kstack);
    }}
}}
"#,
        cg = if cg.is_empty() { String::new() } else { format!(" && {}", cg.join(" && ")) },
        cond = after.join(" && "),
        EVENT_E = EVENT.escape_default(),
    )
}

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let names = reasons();
    let not_specified = names.iter().find(|(_, n)| *n == "NOT_SPECIFIED").map_or(1, |(v, _)| *v);
    let h = if a.common.json {
        String::new()
    } else {
        format!(
            "{:<8} {:<7} {:<2} {:<20} > {:<20} {:<20} {}",
            "TIME", "PID", "IP", "SADDR:SPORT", "DADDR:DPORT", "STATE (FLAGS)", "REASON (CODE)"
        )
    };
    super::run(
        "tcpdrop",
        &[Route::new("tracepoint skb:kfree_skb", program(&a, &cg, not_specified))],
        &h,
        &a.common,
        None,
        |e| {
            let Event::Printf { format, args: v, .. } = e else { return true };
            if format != EVENT {
                return true;
            }
            let (pid, fam, sport, dport, state, fl, code) =
                (int(&v[0]), int(&v[1]), int(&v[2]), int(&v[3]), int(&v[4]), int(&v[5]), int(&v[6]));
            let (saddr, daddr) = (super::hist::plain(&v[7]), super::hist::plain(&v[8]));
            let stack = super::stacks::kernel_frames(&v[9]);
            let reason = names.get(&code).cloned().unwrap_or_else(|| "UNKNOWN".into());
            let ip = super::net::ip_version(fam);
            let (state, fl) = (state_name(state), flags(fl));
            let time = super::hms();
            if a.common.json {
                let st: Vec<String> = stack.iter().map(|s| json_str(s)).collect();
                return line(&format!(
                "{{\"time\": {}, \"pid\": {pid}, \"ip\": {ip}, \"saddr\": {}, \"sport\": {sport}, \"daddr\": {}, \"dport\": {dport}, \"state\": \"{state}\", \"flags\": \"{fl}\", \"reason\": \"{reason}\", \"code\": {code}, \"stack\": [{}]}}",
                json_str(&time),
                json_str(&saddr),
                json_str(&daddr),
                st.join(", ")
            ));
            }
            let mut out = format!(
                "{time:<8} {pid:<7} {ip:<2} {:<20} > {:<20} {:<20} {reason} ({code})\n",
                format!("{saddr}:{sport}"),
                format!("{daddr}:{dport}"),
                format!("{state} ({fl})")
            );
            for f in &stack {
                out.push_str(&format!("\t{f}\n"));
            }
            line(&out)
        },
    )
}
