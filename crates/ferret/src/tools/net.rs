//! What the TCP tools share: the kernel's TCP state names, the statements that read a socket's
//! addresses and ports (from `sock:inet_sock_set_state`'s fields or from a `struct sock`), and
//! the family and port filters.

/// The kernel's TCP states (include/net/tcp_states.h), by number.
pub fn state_name(s: i64) -> String {
    const NAMES: [&str; 13] = [
        "",
        "ESTABLISHED",
        "SYN_SENT",
        "SYN_RECV",
        "FIN_WAIT1",
        "FIN_WAIT2",
        "TIME_WAIT",
        "CLOSE",
        "CLOSE_WAIT",
        "LAST_ACK",
        "LISTEN",
        "CLOSING",
        "NEW_SYN_RECV",
    ];
    NAMES.get(s as usize).filter(|n| !n.is_empty()).map_or_else(|| format!("UNKNOWN_{s}"), |n| n.to_string())
}

/// Statements setting `$l` and `$r` to the local and remote address of a tracepoint with
/// `saddr`/`daddr` and `saddr_v6`/`daddr_v6` fields (`sock:inet_sock_set_state`,
/// `tcp:tcp_retransmit_skb`).
pub const TP_ADDRS: &str = "$l = ntop(args.saddr); $r = ntop(args.daddr);
    if (args.family == 10) { $l = ntop(args.saddr_v6); $r = ntop(args.daddr_v6); }";

/// Statements setting `$fam`, `$l`, `$lport`, `$r`, `$rport` from the `struct sock *` in `$sk`.
pub const SK_ADDRS: &str = "$fam = $sk->__sk_common.skc_family;
    $lport = $sk->__sk_common.skc_num; $rport = bswap($sk->__sk_common.skc_dport);
    $l = ntop($sk->__sk_common.skc_rcv_saddr); $r = ntop($sk->__sk_common.skc_daddr);
    if ($fam == 10) { $l = ntop($sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8); $r = ntop($sk->__sk_common.skc_v6_daddr.in6_u.u6_addr8); }";

/// `-4`/`-6` as a predicate on `family` (an expression), if given.
pub fn family_filter(v4: bool, v6: bool, family: &str) -> Option<String> {
    match (v4, v6) {
        (true, false) => Some(format!("{family} == 2")),
        (false, true) => Some(format!("{family} == 10")),
        _ => None,
    }
}

/// A comma-separated port list (`-P 80,443`) as a predicate on `port`, if given.
pub fn ports_filter(ports: &[u16], port: &str) -> Option<String> {
    (!ports.is_empty())
        .then(|| format!("({})", ports.iter().map(|p| format!("{port} == {p}")).collect::<Vec<_>>().join(" || ")))
}

/// The IP version column of a family (2 -> 4, 10 -> 6).
pub fn ip_version(family: i64) -> i64 {
    if family == 10 {
        6
    } else {
        4
    }
}

/// The TIME (`-T`, `HH:MM:SS`) and TIME(s) (`-t`) column titles of tcplife and tcpstates,
/// padded or (`-s`) comma-separated.
pub fn time_titles(time: bool, timestamp: bool, csv: bool) -> String {
    let mut h = String::new();
    if time {
        h.push_str(if csv { "TIME," } else { "TIME     " });
    }
    if timestamp {
        h.push_str(if csv { "TIME(s)," } else { "TIME(s)   " });
    }
    h
}

/// The cells under [`time_titles`]: now, and `secs` since the first event.
pub fn time_cells(time: bool, timestamp: bool, csv: bool, secs: f64) -> String {
    let mut row = String::new();
    if time {
        row.push_str(&if csv { format!("{},", super::hms()) } else { format!("{:<8} ", super::hms()) });
    }
    if timestamp {
        row.push_str(&if csv { format!("{secs:.6},") } else { format!("{secs:<9.6} ") });
    }
    row
}
