//! Written types: `uint32`, `struct task_struct *`, `uint8[4]`, `unsigned long`, typedef
//! names. The grammar runs over any `TokenSource`, so the same code both decides by
//! lookahead whether `(` starts a cast and then parses the type for real.
use super::{PResult, Parser, TokenSource};
use crate::ast::TypeName;
use crate::token::TokenKind;
use crate::Span;

/// Type names bpftrace knows without BTF, plus the kernel's fixed-width typedefs.
const BUILTIN_TYPES: &[&str] = &[
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "void",
    "string",
    "buffer",
    "inet",
    "timestamp",
    "min_t",
    "max_t",
    "sum_t",
    "count_t",
    "avg_t",
    "stats_t",
    "umin_t",
    "umax_t",
    "usum_t",
    "uavg_t",
    "ustats_t",
    "macaddr_t",
    "cgroup_path_t",
    "username_t",
    "u8",
    "u16",
    "u32",
    "u64",
    "s8",
    "s16",
    "s32",
    "s64",
    "__u8",
    "__u16",
    "__u32",
    "__u64",
    "__s8",
    "__s16",
    "__s32",
    "__s64",
];

/// C base type words that combine: `unsigned long long`, `short int`, `char`.
const C_WORDS: &[&str] = &["unsigned", "signed", "long", "short", "int", "char"];

/// Words that can never name a type.
const KEYWORDS: &[&str] = &[
    "if", "else", "while", "for", "unroll", "return", "break", "continue", "let", "true", "false", "sizeof",
    "offsetof", "macro", "config", "import", "fn",
];

pub(crate) struct TypeScan {
    pub ty: TypeName,
    /// A name known to be a type, not just a plausible typedef.
    pub known: bool,
    /// Has `*` or `[N]`, which only a type can have.
    pub suffixed: bool,
}

/// Why tokens are not a type: not even a type name, or a name with a malformed rest
/// (the offending token is left unconsumed).
pub(crate) enum NotAType {
    NoName,
    Expected(&'static str),
}

/// Reads a type from `src`; tokens read up to a failure stay consumed.
pub(crate) fn scan_type(src: &mut impl TokenSource) -> Result<TypeScan, NotAType> {
    let first = src.peek().clone();
    let Some(word) = first.ident().map(str::to_owned) else { return Err(NotAType::NoName) };
    if KEYWORDS.contains(&word.as_str()) || super::expr::is_value_name(&word) {
        return Err(NotAType::NoName);
    }
    src.bump();
    let mut span = first.span;
    if word == "typeof" {
        // Lookahead only: the real parse (`Parser::parse_type`) reads the operand.
        span = span.to(skip_parens(src)?);
        let (pointers, array, end) = scan_suffix(src)?;
        let span = end.map_or(span, |e| span.to(e));
        let ty = TypeName { base: word, pointers, array, span, of: None };
        return Ok(TypeScan { ty, known: true, suffixed: pointers > 0 || array.is_some() });
    }
    let (base, known) = if matches!(word.as_str(), "struct" | "union" | "enum") {
        let name_tok = src.peek().clone();
        let Some(name) = name_tok.ident().map(str::to_owned) else {
            return Err(NotAType::Expected("expected identifier"));
        };
        src.bump();
        span = span.to(name_tok.span);
        (format!("{word} {name}"), true)
    } else if C_WORDS.contains(&word.as_str()) {
        let mut words = vec![word];
        while let Some(w) = src.peek().ident().filter(|w| C_WORDS.contains(w)).map(str::to_owned) {
            span = span.to(src.bump().span);
            words.push(w);
        }
        (words.join(" "), true)
    } else {
        let known = BUILTIN_TYPES.contains(&word.as_str());
        (word, known)
    };
    let (pointers, array, end) = scan_suffix(src)?;
    if let Some(end) = end {
        span = span.to(end);
    }
    let suffixed = pointers > 0 || array.is_some();
    Ok(TypeScan { ty: TypeName { base, pointers, array, span, of: None }, known, suffixed })
}

/// `*`s and an optional `[N]` after a type's name; the span of the last one read.
fn scan_suffix(src: &mut impl TokenSource) -> Result<(u32, Option<u64>, Option<Span>), NotAType> {
    let mut end = None;
    let mut pointers = 0;
    while src.peek().kind == TokenKind::Star {
        end = Some(src.bump().span);
        pointers += 1;
    }
    let mut array = None;
    if src.peek().kind == TokenKind::LBracket {
        src.bump();
        let size = match src.peek().kind {
            TokenKind::Int(n) => {
                src.bump();
                n
            }
            _ => 0,
        };
        if src.peek().kind != TokenKind::RBracket {
            return Err(NotAType::Expected("expected ']'"));
        }
        end = Some(src.bump().span);
        array = Some(size);
    }
    Ok((pointers, array, end))
}

/// Skips a balanced `( ... )`; the span of the closing parenthesis.
fn skip_parens(src: &mut impl TokenSource) -> Result<Span, NotAType> {
    if src.peek().kind != TokenKind::LParen {
        return Err(NotAType::Expected("expected '('"));
    }
    let mut depth = 0;
    loop {
        let tok = src.bump();
        match tok.kind {
            TokenKind::LParen => depth += 1,
            TokenKind::RParen if depth == 1 => return Ok(tok.span),
            TokenKind::RParen => depth -= 1,
            TokenKind::Eof => return Err(NotAType::Expected("expected ')'")),
            _ => {}
        }
    }
}

impl Parser<'_> {
    /// A type where one is required: casts, `let $x: T`, `sizeof(T)`, `offsetof(T, f)`.
    pub(crate) fn parse_type(&mut self) -> PResult<TypeName> {
        if matches!(self.peek_kind(), TokenKind::Ident(w) if w == "typeof") {
            return self.parse_typeof_type();
        }
        match scan_type(self) {
            Ok(scan) => Ok(scan.ty),
            Err(NotAType::NoName) => Err(self.error_here("expected type name")),
            Err(NotAType::Expected(msg)) => Err(self.error_here(msg)),
        }
    }
}

impl Parser<'_> {
    /// `typeof(type)` or `typeof(expr)`, then optional `*`s / `[N]`. The operand is a type when
    /// it is a known type name or has a type suffix, an expression otherwise (a bare unknown
    /// name stays an expression for sema to resolve, as in `sizeof`).
    pub(crate) fn parse_typeof_type(&mut self) -> PResult<TypeName> {
        let start = self.bump().span;
        self.expect(&TokenKind::LParen, "(")?;
        let mut look = self.look();
        let is_type = matches!(scan_type(&mut look), Ok(TypeScan { known, suffixed, .. }) if known || suffixed)
            && look.peek().kind == TokenKind::RParen;
        let mut ty = if is_type {
            self.parse_type()?
        } else {
            let e = self.with_blocks_allowed(|p| p.parse_expression())?;
            TypeName { base: "typeof".into(), pointers: 0, array: None, span: e.span, of: Some(Box::new(e)) }
        };
        self.expect(&TokenKind::RParen, ")")?;
        let (pointers, array, _) = scan_suffix(self).map_err(|e| match e {
            NotAType::Expected(msg) => self.error_here(msg),
            NotAType::NoName => self.error_here("expected type name"),
        })?;
        ty.pointers += pointers;
        if array.is_some() {
            if ty.array.is_some() {
                return Err(self.error_here("arrays of arrays are not supported"));
            }
            ty.array = array;
        }
        ty.span = self.span_from(start);
        Ok(ty)
    }
}
