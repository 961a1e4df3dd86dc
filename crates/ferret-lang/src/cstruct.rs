//! Struct and union definitions written in scripts (`struct Foo { int x; char c[4]; };`):
//! parsed and laid out as a C compiler would (natural alignment, bitfields, `packed`), so
//! `sizeof`, `offsetof` and `->` work on them. Member types may name kernel types, which come
//! from BTF.
use crate::types::{AddrSpace, Type};

/// A laid-out script struct or union.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptStruct {
    /// `struct Foo` / `union Bar`.
    pub name: String,
    pub size: u32,
    pub align: u32,
    pub fields: Vec<ScriptField>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScriptField {
    pub name: String,
    pub ty: Type,
    /// Byte offset of the field (of the storage unit holding it, for bitfields).
    pub offset: u32,
    /// (bit shift within the bytes at `offset`, width) for bitfields.
    pub bitfield: Option<(u32, u32)>,
}

/// Types nested deeper than this (members of struct type, arrays, pointers, inline definitions)
/// are refused: printing and comparing values walks them recursively.
pub const MAX_NESTING: u32 = 100;

/// How deeply `t` nests (an integer is 1); `structs` holds the depth of each script struct
/// defined so far. Never walks deeper than [`MAX_NESTING`] + 1: every type it meets was checked
/// when it was defined.
fn nesting(t: &Type, structs: &std::collections::HashMap<String, u32>) -> u32 {
    match t {
        Type::Ptr { pointee, .. } => 1 + nesting(pointee, structs),
        Type::Array { elem, .. } => 1 + nesting(elem, structs),
        Type::Record(fs) => 1 + fs.iter().map(|(_, t)| nesting(t, structs)).max().unwrap_or(0),
        Type::Tuple(ts) => 1 + ts.iter().map(|t| nesting(t, structs)).max().unwrap_or(0),
        Type::Struct { name, id, .. } if *id >= SCRIPT_ID_BASE => structs.get(name).copied().unwrap_or(1),
        _ => 1,
    }
}

/// Parse every `struct`/`union` definition in C text. Unknown member types are skipped with the
/// struct they are in (the definition is then left to BTF). A definition nested deeper than
/// [`MAX_NESTING`] ends the parse: its name (`struct s`) is returned.
pub fn parse_all(text: &str, known: &mut Vec<ScriptStruct>) -> Option<String> {
    let toks = tokens(text);
    let mut p = Parser { toks, i: 0, known, char_base: false, nest: 0, too_deep: false, depths: Default::default() };
    while p.i < p.toks.len() {
        if (p.at("struct") || p.at("union")) && p.peek_is(2, "{") {
            let save = p.i;
            match p.definition() {
                Some(s) => {
                    p.known.retain(|k| k.name != s.name);
                    p.known.push(s);
                }
                None => p.i = save + 1,
            }
            if p.too_deep {
                return Some(format!("{} {}", p.toks[save], p.toks[save + 1]));
            }
        } else {
            p.i += 1;
        }
    }
    None
}

/// C tokens: identifiers and numbers as words, any other character alone; comments and
/// preprocessor lines skipped. Walks characters, not bytes: scripts are UTF-8, and a byte of a
/// multi-byte character read as Latin-1 could look like a letter.
fn tokens(text: &str) -> Vec<String> {
    let mut out = vec![];
    let mut i = 0;
    while let Some(c) = text[i..].chars().next() {
        let rest = &text[i..];
        if c.is_whitespace() {
            i += c.len_utf8();
        } else if rest.starts_with("//") || c == '#' {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if let Some(body) = rest.strip_prefix("/*") {
            i = body.find("*/").map_or(text.len(), |e| i + 2 + e + 2);
        } else if c.is_alphanumeric() || c == '_' {
            let len = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
            out.push(rest[..len].to_string());
            i += len;
        } else {
            out.push(c.to_string());
            i += c.len_utf8();
        }
    }
    out
}

struct Parser<'a> {
    toks: Vec<String>,
    i: usize,
    known: &'a mut Vec<ScriptStruct>,
    /// The last base type was spelled with `char` (its arrays are text; `uint8_t` ones are
    /// numbers).
    char_base: bool,
    /// Inline definitions being parsed (`struct { struct { ...`).
    nest: u32,
    /// A definition nested deeper than [`MAX_NESTING`] was found: the parse ends.
    too_deep: bool,
    /// How deeply each script struct defined so far nests, by name.
    depths: std::collections::HashMap<String, u32>,
}

/// A laid-out `{ members }`.
struct Body {
    size: u32,
    align: u32,
    fields: Vec<ScriptField>,
    /// How deeply its types nest (see [`nesting`]).
    depth: u32,
}

/// One member before layout.
struct Decl {
    name: String,
    ty: Type,
    size: u32,
    align: u32,
    bits: Option<u32>,
}

impl Parser<'_> {
    fn at(&self, s: &str) -> bool {
        self.toks.get(self.i).is_some_and(|t| t == s)
    }
    fn peek_is(&self, k: usize, s: &str) -> bool {
        self.toks.get(self.i + k).is_some_and(|t| t == s)
    }
    fn eat(&mut self, s: &str) -> bool {
        if self.at(s) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn next(&mut self) -> Option<String> {
        let t = self.toks.get(self.i).cloned();
        self.i += 1;
        t
    }

    /// `struct NAME { ... } [attributes]` at the cursor.
    fn definition(&mut self) -> Option<ScriptStruct> {
        let kw = self.next()?;
        let name = self.next()?;
        let Body { size, align, fields, depth } = self.body(kw == "union")?;
        let packed = self.attributes();
        let (size, align) = if packed { (packed_size(&fields), 1) } else { (size, align) };
        self.depths.insert(format!("{kw} {name}"), depth);
        Some(ScriptStruct { name: format!("{kw} {name}"), size, align, fields })
    }

    /// `__attribute__((packed))` and friends after a body; whether `packed` was among them.
    fn attributes(&mut self) -> bool {
        let mut packed = false;
        while self.at("__attribute__") || self.at("__attribute") {
            self.i += 1;
            let mut depth = 0;
            while let Some(t) = self.next() {
                match t.as_str() {
                    "(" => depth += 1,
                    ")" => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    "packed" | "__packed__" => packed = true,
                    _ => {}
                }
            }
        }
        packed
    }

    /// `{ members }`, laid out.
    fn body(&mut self, union: bool) -> Option<Body> {
        if !self.eat("{") {
            return None;
        }
        self.nest += 1;
        let r = self.members();
        self.nest -= 1;
        let decls = r?;
        let depth = 1 + decls.iter().map(|d| nesting(&d.ty, &self.depths)).max().unwrap_or(0);
        if depth > MAX_NESTING {
            self.too_deep = true;
            return None;
        }
        let (size, align, fields) = layout(decls, union);
        Some(Body { size, align, fields, depth })
    }

    fn members(&mut self) -> Option<Vec<Decl>> {
        if self.nest > MAX_NESTING {
            self.too_deep = true;
            return None;
        }
        let mut decls: Vec<Decl> = vec![];
        while !self.eat("}") {
            if self.i >= self.toks.len() || self.too_deep {
                return None;
            }
            if self.eat(";") {
                continue;
            }
            decls.extend(self.member()?);
        }
        Some(decls)
    }

    /// One member line: `TYPE a, *b, c[4], d:3;` (the last `;` may be missing before `}`).
    fn member(&mut self) -> Option<Vec<Decl>> {
        self.char_base = false;
        let (base, base_size, base_align) = self.base_type()?;
        let is_char = self.char_base;
        let mut out = vec![];
        loop {
            let mut ptrs = 0;
            while self.eat("*") {
                ptrs += 1;
            }
            let name = if self.at(";") || self.at("}") || self.at(":") {
                String::new() // anonymous struct/union member
            } else {
                self.next()?
            };
            let mut dims = vec![];
            while self.eat("[") {
                let n: u32 = self.next()?.parse().ok()?;
                self.eat("]").then_some(())?;
                dims.push(n);
            }
            let bits = if self.eat(":") { Some(self.next()?.parse().ok()?) } else { None };
            let (mut ty, mut size, mut align) = (base.clone(), base_size, base_align);
            for _ in 0..ptrs {
                ty = Type::Ptr { space: AddrSpace::Kernel, pointee: Box::new(ty) };
                (size, align) = (8, 8);
            }
            for n in dims.iter().rev() {
                ty = match ty {
                    Type::Int { bytes: 1, .. } if ptrs == 0 && is_char => Type::Str(*n),
                    t => Type::Array { elem: Box::new(t), len: *n },
                };
                size *= n;
            }
            out.push(Decl { name, ty, size, align, bits });
            if !self.eat(",") {
                break;
            }
        }
        self.attributes();
        if !self.eat(";") && !self.at("}") {
            return None;
        }
        Some(out)
    }

    /// A member's base type: C integer spellings, fixed-width names, `struct X` (script or BTF),
    /// inline `struct { ... }`, typedefs from BTF.
    fn base_type(&mut self) -> Option<(Type, u32, u32)> {
        while self.eat("const") || self.eat("volatile") {}
        if self.at("struct") || self.at("union") {
            let kw = self.next()?;
            if self.at("{") {
                let Body { size, align, fields, depth } = self.body(kw == "union")?;
                let s = ScriptStruct { name: format!("{kw} <anon {}>", self.known.len()), size, align, fields };
                self.depths.insert(s.name.clone(), depth);
                let ty = script_type(&s, self.known.len());
                self.known.push(s);
                return Some((ty, size, align));
            }
            let name = format!("{kw} {}", self.next()?);
            if self.at("{") {
                // a named nested definition: define it, then use it
                let Body { size, align, fields, depth } = self.body(kw == "union")?;
                let s = ScriptStruct { name: name.clone(), size, align, fields };
                self.depths.insert(name.clone(), depth);
                self.known.retain(|k| k.name != name);
                let ty = script_type(&s, self.known.len());
                self.known.push(s);
                return Some((ty, size, align));
            }
            if let Some((idx, s)) = self.known.iter().enumerate().find(|(_, s)| s.name == name) {
                return Some((script_type(s, idx), s.size, s.align));
            }
            if self.at("*") {
                // a pointer to a struct known to neither: bytes will do
                return Some((Type::Int { bytes: 1, signed: false }, 1, 1));
            }
            let id = crate::ktypes::lookup(&name)?;
            let size = crate::ktypes::size_of(id)?;
            let align = crate::ktypes::btf().ok()?.align_of(id);
            return Some((crate::ktypes::type_of(id), size, align));
        }
        let mut words = vec![];
        while let Some(t) = self.toks.get(self.i) {
            if matches!(t.as_str(), "unsigned" | "signed" | "long" | "short" | "int" | "char" | "const" | "volatile") {
                if t != "const" && t != "volatile" {
                    words.push(t.clone());
                }
                self.i += 1;
            } else {
                break;
            }
        }
        if words.is_empty() {
            let name = self.next()?;
            let (bytes, signed) = match name.as_str() {
                "bool" | "_Bool" => (1, false),
                "u8" | "__u8" | "uint8_t" | "uint8" => (1, false),
                "s8" | "__s8" | "int8_t" | "int8" => (1, true),
                "u16" | "__u16" | "uint16_t" | "uint16" => (2, false),
                "s16" | "__s16" | "int16_t" | "int16" => (2, true),
                "u32" | "__u32" | "uint32_t" | "uint32" => (4, false),
                "s32" | "__s32" | "int32_t" | "int32" => (4, true),
                "u64" | "__u64" | "uint64_t" | "uint64" | "size_t" => (8, false),
                "s64" | "__s64" | "int64_t" | "int64" | "ssize_t" => (8, true),
                "void" => (1, false),
                other => {
                    let id = crate::ktypes::lookup(other)?;
                    let size = crate::ktypes::size_of(id)?;
                    let align = crate::ktypes::btf().ok()?.align_of(id);
                    return Some((crate::ktypes::type_of(id), size, align));
                }
            };
            return Some((Type::Int { bytes, signed }, bytes as u32, bytes as u32));
        }
        let signed = !words.iter().any(|w| w == "unsigned");
        self.char_base = words.iter().any(|w| w == "char");
        let longs = words.iter().filter(|w| *w == "long").count();
        let bytes = if words.iter().any(|w| w == "char") {
            1
        } else if words.iter().any(|w| w == "short") {
            2
        } else if longs > 0 {
            8
        } else {
            4
        };
        Some((Type::Int { bytes, signed }, bytes as u32, bytes as u32))
    }
}

/// The language type of script struct number `idx`.
pub fn script_type(s: &ScriptStruct, idx: usize) -> Type {
    Type::Struct { name: s.name.clone(), id: SCRIPT_ID_BASE + idx as u32, size: s.size }
}

/// Struct ids at and above this refer to script structs, below to kernel BTF.
pub const SCRIPT_ID_BASE: u32 = 0x4000_0000;

/// Lay members out as C does: each at its alignment (bitfields packed into storage units of
/// their declared type); a union's members all at 0. Returns (size, align, fields).
fn layout(decls: Vec<Decl>, union: bool) -> (u32, u32, Vec<ScriptField>) {
    let mut fields = vec![];
    let mut bit: u32 = 0; // current position in bits
    let mut size = 0;
    let mut align = 1;
    for d in decls {
        align = align.max(d.align);
        if union {
            size = size.max(d.size);
            fields.push(ScriptField { name: d.name, ty: d.ty, offset: 0, bitfield: d.bits.map(|w| (0, w)) });
            continue;
        }
        match d.bits {
            Some(width) => {
                let unit = d.size * 8;
                // start a new storage unit when the field would straddle one
                if unit > 0 && (bit % unit) + width > unit {
                    bit = bit.div_ceil(unit) * unit;
                }
                let offset = (bit / 8) / d.align.max(1) * d.align.max(1);
                let shift = bit - offset * 8;
                fields.push(ScriptField { name: d.name, ty: d.ty, offset, bitfield: Some((shift, width)) });
                bit += width;
            }
            None => {
                let byte = bit.div_ceil(8).div_ceil(d.align.max(1)) * d.align.max(1);
                fields.push(ScriptField { name: d.name, ty: d.ty, offset: byte, bitfield: None });
                bit = (byte + d.size) * 8;
            }
        }
    }
    if !union {
        size = bit.div_ceil(8);
    }
    (size.div_ceil(align) * align, align, fields)
}

/// Size with `packed`: members back to back (a simplification that holds without bitfields).
fn packed_size(fields: &[ScriptField]) -> u32 {
    fields.iter().map(|f| f.ty.size_in_c()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> ScriptStruct {
        let mut v = vec![];
        let _ = parse_all(text, &mut v);
        v.pop().expect("a struct")
    }

    #[test]
    fn natural_alignment_and_packing() {
        assert_eq!(one("struct foo { int x; char y; int z; }").size, 12);
        assert_eq!(one("struct bar { int x; char y; int z; } __attribute__((packed))").size, 9);
        let a = one("struct A {int32_t a; int32_t b; char c[28] };");
        assert_eq!(a.size, 36);
        assert_eq!(a.fields[2].ty, Type::Str(28));
        let f = one("struct Foo { int x; char c; }");
        assert_eq!((f.size, f.fields[1].offset), (8, 4));
    }

    /// Found by the `compile` fuzz target: a multi-byte character in a member's type name
    /// (`int3Φt`) cut the tokenizer's identifier inside the character (a panic).
    #[test]
    fn non_ascii_text_is_tokenized_by_characters() {
        let mut v = vec![];
        let _ =
            parse_all("struct A { int3\u{3a6}t a; char c; }; struct B { int x; }; // \u{e9}\n/* \u{3a6} */", &mut v);
        assert!(v.iter().any(|s| s.name == "struct B"));
        assert_eq!(tokens("a\u{3a6}b \u{e9}+1"), vec!["a\u{3a6}b", "\u{e9}", "+", "1"]);
    }

    #[test]
    fn nested_and_bitfields() {
        let mut v = vec![];
        let _ = parse_all("struct Foo { int x; struct Bar { int x; } bar; }", &mut v);
        let foo = v.iter().find(|s| s.name == "struct Foo").unwrap();
        assert_eq!(foo.fields[1].offset, 4);
        let b = one("struct foo { unsigned long long x_0:1; unsigned long long x_1:1; unsigned long long x_2:2; }");
        assert_eq!(b.size, 8);
        assert_eq!(b.fields[2].bitfield, Some((2, 2)));
        let c = one("struct cfs_rq { unsigned long weight; unsigned int nr_running, h_nr_running; };");
        assert_eq!((c.fields[1].offset, c.fields[2].offset, c.size), (8, 12, 16));
    }
}
