//! Values the program records as numbers and user space turns into text: addresses (`ntop`),
//! errno messages (`strerror`), user names (`username`), cgroup paths (`cgroup_path`).
use ferret_lang::types::Resolve;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::OnceLock;

const AF_INET: u64 = 2;
const AF_INET6: u64 = 10;

/// An `inet` value's text: dotted IPv4, or IPv6 the way glibc's inet_ntop writes it; empty for
/// an unknown family, as bpftrace prints.
pub fn inet(af: u64, addr: &[u8]) -> String {
    match (af, addr.len()) {
        (AF_INET, 4..) => Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]).to_string(),
        (AF_INET6, 16..) => {
            let mut words = [0u16; 8];
            for (i, w) in words.iter_mut().enumerate() {
                *w = u16::from_be_bytes([addr[2 * i], addr[2 * i + 1]]);
            }
            ipv6(&words)
        }
        _ => String::new(),
    }
}

/// RFC 5952 text as glibc prints it: the longest run (first on ties, at least two) of zero words
/// becomes `::`, and IPv4-mapped (`::ffff:a.b.c.d`) and IPv4-compatible (`::a.b.c.d`) addresses
/// end in dotted form.
fn ipv6(w: &[u16; 8]) -> String {
    let (mut best, mut cur) = ((0usize, 0usize), (0usize, 0usize));
    for (i, &x) in w.iter().enumerate() {
        if x == 0 {
            if cur.1 == 0 {
                cur.0 = i;
            }
            cur.1 += 1;
            if cur.1 > best.1 {
                best = cur;
            }
        } else {
            cur.1 = 0;
        }
    }
    if best.1 < 2 {
        best = (usize::MAX, 0);
    }
    let embedded_v4 = best.0 == 0 && (best.1 == 6 || (best.1 == 7 && w[7] != 1) || (best.1 == 5 && w[5] == 0xffff));
    let mut out = String::new();
    let mut i = 0;
    while i < 8 {
        if i == best.0 {
            out.push_str(if i == 0 { "::" } else { ":" });
            i += best.1;
            continue;
        }
        if embedded_v4 && i == 6 {
            let [a, b] = w[6].to_be_bytes();
            let [c, d] = w[7].to_be_bytes();
            out.push_str(&Ipv4Addr::new(a, b, c, d).to_string());
            break;
        }
        out.push_str(&format!("{:x}", w[i]));
        if i < 7 {
            out.push(':');
        }
        i += 1;
    }
    out
}

/// The C library's message for an errno; negative values (kernel return codes) are negated.
pub fn strerror(errno: i64) -> String {
    ferret_sys::strerror(errno.unsigned_abs().min(i32::MAX as u64) as i32)
}

/// The user name of `uid` from /etc/passwd (read once), or empty when it has none, as bpftrace.
/// The text of a [`Resolve`]d value.
pub fn resolved(how: Resolve, v: u64) -> String {
    match how {
        Resolve::Strerror => strerror(v as i64),
        Resolve::Username => username(v),
        Resolve::CgroupPath => cgroup_path(v),
        Resolve::SignalName => signal_name(v as i64),
        Resolve::SyscallName => {
            ferret_lang::syscalls::name(u64::from(v as u32)).unwrap_or("Unknown syscall").to_string()
        }
    }
}

/// strsignal(3)'s description of a signal; `N/A` beyond the real-time signals, as bpftrace.
pub fn signal_name(sig: i64) -> String {
    if !(0..=64).contains(&sig) {
        return "N/A".to_string();
    }
    // SAFETY: strsignal returns a pointer to a static or thread-local NUL-terminated string.
    let p = unsafe { libc::strsignal(sig as i32) };
    if p.is_null() {
        return "N/A".to_string();
    }
    // SAFETY: non-null and NUL-terminated, read before any other strsignal call on this thread.
    unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// Where cgroup `id` lives in each mounted cgroup hierarchy, bpftrace's way:
/// `unified:/a/b` for cgroup v2, `cpu:/a` (controller names) for v1, `;`-separated. The id
/// is the cgroup directory's inode number.
pub fn cgroup_path(id: u64) -> String {
    // Walking the hierarchies is slow on hosts with many cgroups: once per id.
    static CACHE: OnceLock<std::sync::Mutex<HashMap<u64, String>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(p) = cache.lock().ok().and_then(|c| c.get(&id).cloned()) {
        return p;
    }
    let p = find_cgroup(id);
    if let Ok(mut c) = cache.lock() {
        c.insert(id, p.clone());
    }
    p
}

fn find_cgroup(id: u64) -> String {
    use std::os::unix::fs::MetadataExt;
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out = vec![];
    for line in mounts.lines() {
        let (pre, post) = line.split_once(" - ").unwrap_or((line, ""));
        let mut post = post.split_whitespace();
        let (fstype, _src, opts) = (post.next().unwrap_or(""), post.next(), post.next().unwrap_or(""));
        let mount_point = pre.split_whitespace().nth(4).unwrap_or("");
        let name = match fstype {
            "cgroup2" => "unified".to_string(),
            "cgroup" => opts
                .split(',')
                .filter(|o| !matches!(*o, "rw" | "ro") && !o.contains("relatime") && !o.starts_with("no"))
                .map(|o| o.trim_start_matches("name="))
                .collect::<Vec<_>>()
                .join(","),
            _ => continue,
        };
        let root = std::path::Path::new(mount_point);
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            if std::fs::metadata(&dir).is_ok_and(|m| m.ino() == id) {
                let rel = dir.strip_prefix(root).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
                out.push(format!("{name}:/{rel}"));
                break;
            }
            if let Ok(rd) = std::fs::read_dir(&dir) {
                stack.extend(rd.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()));
            }
        }
    }
    out.join(";")
}

pub fn username(uid: u64) -> String {
    static USERS: OnceLock<HashMap<u64, String>> = OnceLock::new();
    let users = USERS.get_or_init(|| parse_passwd(&std::fs::read_to_string("/etc/passwd").unwrap_or_default()));
    users.get(&uid).cloned().unwrap_or_default()
}

/// `name:x:uid:...` lines to uid → name; the first line for a uid wins.
fn parse_passwd(text: &str) -> HashMap<u64, String> {
    let mut users = HashMap::new();
    for l in text.lines() {
        let mut f = l.split(':');
        if let (Some(name), Some(_), Some(uid)) = (f.next(), f.next(), f.next()) {
            if let Ok(uid) = uid.parse::<u64>() {
                users.entry(uid).or_insert_with(|| name.to_string());
            }
        }
    }
    users
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6(s: &str) -> String {
        inet(AF_INET6, &s.parse::<std::net::Ipv6Addr>().unwrap().octets())
    }

    #[test]
    fn formats_addresses_like_inet_ntop() {
        assert_eq!(inet(AF_INET, &[127, 0, 0, 1]), "127.0.0.1");
        assert_eq!(v6("::1"), "::1");
        assert_eq!(v6("::"), "::");
        assert_eq!(v6("fe80::1:2"), "fe80::1:2");
        assert_eq!(v6("1:0:0:2:0:0:0:3"), "1:0:0:2::3");
        assert_eq!(v6("1:0:2:3:4:5:6:7"), "1:0:2:3:4:5:6:7");
        assert_eq!(v6("::ffff:1.2.3.4"), "::ffff:1.2.3.4");
        assert_eq!(v6("::1.2.3.4"), "::1.2.3.4");
        assert_eq!(v6("2001:db8::"), "2001:db8::");
        assert_eq!(inet(7, &[0; 16]), "");
    }

    #[test]
    fn errno_messages_and_users() {
        assert_eq!(strerror(22), "Invalid argument");
        assert_eq!(strerror(-7), "Argument list too long");
        let users = parse_passwd("root:x:0:0::/root:/bin/sh\nbad line\nnobody:x:65534:65534::/:/x\n");
        assert_eq!(users[&0], "root");
        assert_eq!(users[&65534], "nobody");
    }
}
