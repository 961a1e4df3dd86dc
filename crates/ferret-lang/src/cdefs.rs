//! C definitions written in scripts (`enum Foo { A = 1, B };`, `#define`, `struct ...`).
//! Enums are understood: their constants become identifiers typed with the enum, so values
//! print symbolically. Other definitions are tolerated (kernel types come from BTF).
use crate::types::EnumDef;
use ferret_syntax::ast::Program;
use std::collections::HashMap;
use std::sync::Arc;

/// What the script's C definitions declare.
#[derive(Debug, Default)]
pub struct CDefs {
    /// Named enums by name (`enum Foo` → "Foo").
    pub enums: HashMap<String, Arc<EnumDef>>,
    /// Every enum constant, with the enum it belongs to.
    pub constants: HashMap<String, (Arc<EnumDef>, u64)>,
    /// `#define NAME <integer>` lines.
    pub defines: HashMap<String, i64>,
}

/// Integer constants from the headers bpftrace's tools include (`<linux/sched.h>`,
/// `<sys/socket.h>`, `<errno.h>`): ferret reads no headers, so the values scripts commonly use
/// are known here. A script's own `#define` of the same name wins.
const HEADER_CONSTANTS: &[(&str, i64)] = &[
    ("TASK_RUNNING", 0),
    ("TASK_INTERRUPTIBLE", 1),
    ("TASK_UNINTERRUPTIBLE", 2),
    ("__TASK_STOPPED", 4),
    ("__TASK_TRACED", 8),
    ("EXIT_DEAD", 16),
    ("EXIT_ZOMBIE", 32),
    ("TASK_DEAD", 128),
    ("AF_UNSPEC", 0),
    ("AF_UNIX", 1),
    ("AF_LOCAL", 1),
    ("AF_INET", 2),
    ("AF_INET6", 10),
    ("AF_NETLINK", 16),
    ("AF_PACKET", 17),
    ("EPERM", 1),
    ("ENOENT", 2),
    ("ESRCH", 3),
    ("EINTR", 4),
    ("EIO", 5),
    ("ENXIO", 6),
    ("E2BIG", 7),
    ("ENOEXEC", 8),
    ("EBADF", 9),
    ("ECHILD", 10),
    ("EAGAIN", 11),
    ("ENOMEM", 12),
    ("EACCES", 13),
    ("EFAULT", 14),
    ("ENOTBLK", 15),
    ("EBUSY", 16),
    ("EEXIST", 17),
    ("EXDEV", 18),
    ("ENODEV", 19),
    ("ENOTDIR", 20),
    ("EISDIR", 21),
    ("EINVAL", 22),
    ("ENFILE", 23),
    ("EMFILE", 24),
    ("ENOTTY", 25),
    ("ETXTBSY", 26),
    ("EFBIG", 27),
    ("ENOSPC", 28),
    ("ESPIPE", 29),
    ("EROFS", 30),
    ("EMLINK", 31),
    ("EPIPE", 32),
    ("EDOM", 33),
    ("ERANGE", 34),
    ("EDEADLK", 35),
    ("ENAMETOOLONG", 36),
    ("ENOLCK", 37),
    ("ENOSYS", 38),
    ("ENOTEMPTY", 39),
    ("ELOOP", 40),
    ("ETIMEDOUT", 110),
    ("ECONNREFUSED", 111),
];

/// The errno name of a value (`2` -> `ENOENT`), from the well-known header constants.
pub fn errno_name(errno: i64) -> Option<&'static str> {
    HEADER_CONSTANTS.iter().find(|(n, v)| *v == errno && n.starts_with('E') && !n.contains('_')).map(|(n, _)| *n)
}

/// A well-known header constant by name (`ENOENT`, `AF_INET`, `TASK_RUNNING`).
pub fn header_constant(name: &str) -> Option<i64> {
    HEADER_CONSTANTS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

impl CDefs {
    /// The value of a `#define`d or well-known header constant.
    pub fn define(&self, name: &str) -> Option<i64> {
        self.defines.get(name).copied().or_else(|| header_constant(name)).or_else(|| {
            // <syscall.h> / <asm/unistd.h>: system call numbers.
            let call = name.strip_prefix("__NR_").or_else(|| name.strip_prefix("SYS_"))?;
            crate::syscalls::number(call).map(i64::from)
        })
    }
}

impl CDefs {
    pub fn from_program(p: &Program) -> CDefs {
        let mut defs = CDefs::default();
        let mut anon = 0;
        for d in &p.c_definitions {
            for line in d.text.lines() {
                let mut words = line.trim().strip_prefix("#define").map(str::split_whitespace).into_iter().flatten();
                if let (Some(name), Some(value), None) = (words.next(), words.next(), words.next()) {
                    if let Some(v) = parse_c_int(value.trim_matches(|c| c == '(' || c == ')')) {
                        defs.defines.insert(name.to_string(), v);
                    }
                }
            }
            let mut rest = d.text.as_str();
            while let Some(at) = find_word(rest, "enum") {
                rest = &rest[at + 4..];
                let Some(open) = rest.find('{') else { break };
                let name = rest[..open].trim();
                if !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                    continue; // `enum foo x;`: a use, not a definition
                }
                let Some(close) = rest[open..].find('}') else { break };
                let body = &rest[open + 1..open + close];
                rest = &rest[open + close..];
                let def_name = if name.is_empty() {
                    anon += 1;
                    format!("<anonymous {anon}>")
                } else {
                    name.to_string()
                };
                let def = Arc::new(EnumDef { name: def_name.clone(), variants: variants(body) });
                for (n, v) in &def.variants {
                    defs.constants.insert(n.clone(), (def.clone(), *v));
                }
                if !name.is_empty() {
                    defs.enums.insert(def_name, def);
                }
            }
        }
        defs
    }
}

/// `A = 1, B, C = 0x10,` → [(A, 1), (B, 2), (C, 16)]: implicit values count up from the last.
fn variants(body: &str) -> Vec<(String, u64)> {
    let mut out = vec![];
    let mut next: i64 = 0;
    for item in body.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let (name, value) = match item.split_once('=') {
            Some((n, v)) => (n.trim(), parse_c_int(v.trim()).unwrap_or(next)),
            None => (item, next),
        };
        out.push((name.to_string(), value as u64));
        next = value.wrapping_add(1);
    }
    out
}

fn parse_c_int(s: &str) -> Option<i64> {
    let s = s.trim_end_matches(['u', 'U', 'l', 'L']);
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r.trim()),
        None => (false, s),
    };
    let v = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if s.len() > 1 && s.starts_with('0') {
        i64::from_str_radix(&s[1..], 8).ok()?
    } else {
        s.parse().ok()?
    };
    Some(if neg { -v } else { v })
}

/// Byte offset of `word` as a whole word in `s`.
fn find_word(s: &str, word: &str) -> Option<usize> {
    let b = s.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut from = 0;
    while let Some(i) = s[from..].find(word) {
        let at = from + i;
        let before = at == 0 || !ident(b[at - 1]);
        let after = b.get(at + word.len()).is_none_or(|c| !ident(*c));
        if before && after {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_with_implicit_and_explicit_values() {
        let p = ferret_syntax::parse("enum Foo { A, B = 5, C, D = -1, E = 0x10 }; enum { X }; BEGIN {}").unwrap();
        let d = CDefs::from_program(&p);
        let foo = &d.enums["Foo"];
        let want: Vec<(String, u64)> = [("A", 0), ("B", 5), ("C", 6), ("D", u64::MAX), ("E", 16)]
            .iter()
            .map(|(n, v)| (n.to_string(), *v))
            .collect();
        assert_eq!(foo.variants, want);
        assert_eq!(d.constants["X"].1, 0);
        assert_eq!(d.enums.len(), 1);
    }
}
