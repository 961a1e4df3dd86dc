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
}

impl CDefs {
    pub fn from_program(p: &Program) -> CDefs {
        let mut defs = CDefs::default();
        let mut anon = 0;
        for d in &p.c_definitions {
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
