//! Characters → tokens, plus the raw-text scanners the parser switches to at the top level
//! (attach points, `#` lines, C definitions).
//!
//! The lexer is a cursor over the source that the parser drives: there is no token vector,
//! because what a run of characters means depends on where the parser is (`1s` is a
//! duration in an expression but part of `interval:1s` in an attach point). The cursor is
//! `Clone`, so the parser looks ahead by lexing from a copy.
use crate::ast::BinOp;
use crate::diag::Diagnostic;
use crate::span::Span;
use crate::token::{Token, TokenKind};

/// Every syntax diagnostic starts with this, like bpftrace's parser errors.
pub(crate) fn syntax_error(span: Span, msg: impl AsRef<str>) -> Diagnostic {
    Diagnostic::error(span, format!("syntax: {}", msg.as_ref()))
}

/// Providers whose arguments are file paths, so a `/` inside them is not a predicate.
const PATH_PROVIDERS: &[&str] = &["uprobe", "u", "uretprobe", "ur", "usdt", "iter", "it"];

/// An attach point as scanned: raw text, its span, and the text split on `:` outside quotes.
pub struct RawAttachPoint {
    pub raw: String,
    pub span: Span,
    pub parts: Vec<String>,
}

#[derive(Clone)]
pub struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident_body(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a str) -> Lexer<'a> {
        Lexer { src, pos: 0 }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn set_pos(&mut self, pos: usize) {
        self.pos = pos.min(self.src.len());
    }

    fn byte(&self, at: usize) -> u8 {
        self.src.as_bytes().get(at).copied().unwrap_or(0)
    }

    fn peek_byte(&self) -> u8 {
        self.byte(self.pos)
    }

    pub fn at_eof(&self) -> bool {
        self.pos >= self.src.len()
    }

    /// The character at the cursor (after the caller skipped trivia).
    pub fn peek_char(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn ident_end(&self, from: usize) -> usize {
        let mut i = from;
        while is_ident_body(self.byte(i)) {
            i += 1;
        }
        i
    }

    /// The identifier at the cursor, if any, without consuming it.
    pub fn peek_word(&self) -> &'a str {
        if !is_ident_start(self.peek_byte()) {
            return "";
        }
        &self.src[self.pos..self.ident_end(self.pos)]
    }

    /// The first byte after the word at the cursor and any trivia following it.
    pub fn byte_after_word(&self) -> u8 {
        let mut l = self.clone();
        l.pos = l.ident_end(l.pos);
        l.skip_trivia();
        l.peek_byte()
    }

    /// Skips whitespace and comments. Returns a diagnostic for an unterminated `/* */`.
    pub fn skip_trivia(&mut self) -> Option<Diagnostic> {
        loop {
            let b = self.peek_byte();
            if b.is_ascii_whitespace() || b == 0x0b {
                self.pos += 1;
            } else if b == b'/' && self.byte(self.pos + 1) == b'/' {
                while !self.at_eof() && self.peek_byte() != b'\n' {
                    self.pos += 1;
                }
            } else if b == b'/' && self.byte(self.pos + 1) == b'*' {
                let start = self.pos;
                match self.src[self.pos + 2..].find("*/") {
                    Some(i) => self.pos += 2 + i + 2,
                    None => {
                        self.pos = self.src.len();
                        return Some(syntax_error(Span::new(start, start + 2), "unterminated comment"));
                    }
                }
            } else {
                return None;
            }
        }
    }

    /// Skips a `#!` line at the very start of the program.
    pub fn skip_shebang(&mut self) {
        if self.src[self.pos..].starts_with("#!") {
            self.pos = self.src[self.pos..].find('\n').map_or(self.src.len(), |i| self.pos + i + 1);
        }
    }

    /// Lexes one token in expression mode, skipping leading trivia.
    pub fn next_token(&mut self) -> Token {
        let mut diags = Vec::new();
        if let Some(d) = self.skip_trivia() {
            diags.push(d);
        }
        let start = self.pos;
        let kind = if self.at_eof() { TokenKind::Eof } else { self.lex_kind(&mut diags) };
        Token { kind, span: Span::new(start, self.pos), diags }
    }

    fn lex_kind(&mut self, diags: &mut Vec<Diagnostic>) -> TokenKind {
        use TokenKind::*;
        let start = self.pos;
        let b = self.peek_byte();
        if is_ident_start(b) {
            self.pos = self.ident_end(self.pos);
            return Ident(self.src[start..self.pos].to_string());
        }
        if b.is_ascii_digit() {
            return self.lex_number(diags);
        }
        match b {
            b'"' => return self.lex_string(diags),
            b'$' => return self.lex_dollar(diags),
            b'@' => {
                let end = if is_ident_start(self.byte(start + 1)) { self.ident_end(start + 1) } else { start + 1 };
                self.pos = end;
                return Map(self.src[start + 1..end].to_string());
            }
            _ => {}
        }
        // Operators and punctuation, longest match first.
        let rest = &self.src.as_bytes()[start..];
        const THREE: &[(&[u8], TokenKind)] =
            &[(b"<<=", CompoundAssign(BinOp::Shl)), (b">>=", CompoundAssign(BinOp::Shr))];
        const TWO: &[(&[u8], TokenKind)] = &[
            (b"..", DotDot),
            (b"->", Arrow),
            (b"==", Eq),
            (b"!=", Ne),
            (b"<=", Le),
            (b">=", Ge),
            (b"<<", Shl),
            (b">>", Shr),
            (b"&&", AndAnd),
            (b"||", OrOr),
            (b"++", PlusPlus),
            (b"--", MinusMinus),
            (b"+=", CompoundAssign(BinOp::Add)),
            (b"-=", CompoundAssign(BinOp::Sub)),
            (b"*=", CompoundAssign(BinOp::Mul)),
            (b"/=", CompoundAssign(BinOp::Div)),
            (b"%=", CompoundAssign(BinOp::Mod)),
            (b"&=", CompoundAssign(BinOp::BitAnd)),
            (b"|=", CompoundAssign(BinOp::BitOr)),
            (b"^=", CompoundAssign(BinOp::BitXor)),
        ];
        for (text, kind) in THREE.iter().chain(TWO) {
            if rest.starts_with(text) {
                self.pos += text.len();
                return kind.clone();
            }
        }
        let kind = match b {
            b'(' => LParen,
            b')' => RParen,
            b'{' => LBrace,
            b'}' => RBrace,
            b'[' => LBracket,
            b']' => RBracket,
            b',' => Comma,
            b';' => Semi,
            b':' => Colon,
            b'?' => Question,
            b'.' => Dot,
            b'=' => Assign,
            b'<' => Lt,
            b'>' => Gt,
            b'+' => Plus,
            b'-' => Minus,
            b'*' => Star,
            b'/' => Slash,
            b'%' => Percent,
            b'&' => Amp,
            b'|' => Pipe,
            b'^' => Caret,
            b'!' => Bang,
            b'~' => Tilde,
            _ => {
                let c = self.peek_char().unwrap_or('\0');
                self.pos += c.len_utf8();
                diags.push(syntax_error(Span::new(start, self.pos), format!("invalid character '{c}'")));
                return Error;
            }
        };
        self.pos += 1;
        kind
    }

    fn lex_dollar(&mut self, diags: &mut Vec<Diagnostic>) -> TokenKind {
        let start = self.pos;
        let next = self.byte(start + 1);
        if next == b'#' {
            self.pos += 2;
            return TokenKind::PositionalCount;
        }
        if next.is_ascii_digit() {
            let mut end = start + 1;
            while self.byte(end).is_ascii_digit() {
                end += 1;
            }
            self.pos = end;
            let digits = &self.src[start + 1..end];
            return match digits.parse::<u32>() {
                Ok(n) if n >= 1 => TokenKind::Positional(n),
                _ => {
                    diags.push(syntax_error(
                        Span::new(start, end),
                        format!("param ${digits} is out of integer range [1, {}]", u32::MAX),
                    ));
                    TokenKind::Positional(0)
                }
            };
        }
        if is_ident_start(next) {
            self.pos = self.ident_end(start + 1);
            return TokenKind::Var(self.src[start + 1..self.pos].to_string());
        }
        self.pos += 1;
        diags.push(syntax_error(Span::new(start, start + 1), "expected identifier after '$'"));
        TokenKind::Error
    }

    /// Integer literals, following bpftrace: `[0-9_]+`, `0x` hex, an optional `eN` exponent,
    /// then an optional type (`u`, `ul`, `ull`, `l`, `ll`) or duration (`ns us ms s m h d`) suffix.
    fn lex_number(&mut self, diags: &mut Vec<Diagnostic>) -> TokenKind {
        let start = self.pos;
        let mut trailing_underscore = |lexer: &Lexer| {
            if lexer.pos > start && lexer.byte(lexer.pos - 1) == b'_' {
                diags.push(syntax_error(Span::new(lexer.pos - 1, lexer.pos), "trailing underscore in integer literal"));
            }
        };
        let hex = self.peek_byte() == b'0' && matches!(self.byte(start + 1), b'x' | b'X');
        if hex {
            self.pos += 2;
            while self.peek_byte().is_ascii_hexdigit() || self.peek_byte() == b'_' {
                self.pos += 1;
            }
            trailing_underscore(self);
        } else {
            while self.peek_byte().is_ascii_digit() || self.peek_byte() == b'_' {
                self.pos += 1;
            }
            trailing_underscore(self);
            if matches!(self.peek_byte(), b'e' | b'E') {
                self.pos += 1;
                while self.peek_byte().is_ascii_digit() || self.peek_byte() == b'_' {
                    self.pos += 1;
                }
                trailing_underscore(self);
            }
            self.lex_int_suffix();
        }
        let text_end = self.pos;
        if is_ident_start(self.peek_byte()) {
            let bad_start = self.pos;
            self.pos = self.ident_end(self.pos);
            diags.push(syntax_error(
                Span::new(bad_start, self.pos),
                format!("invalid integer suffix '{}'", &self.src[bad_start..self.pos]),
            ));
        }
        let text = &self.src[start..text_end];
        match parse_int(text) {
            Ok(v) => TokenKind::Int(v),
            Err(msg) => {
                diags.push(syntax_error(Span::new(start, text_end), msg));
                TokenKind::Int(0)
            }
        }
    }

    fn lex_int_suffix(&mut self) {
        let b = self.peek_byte();
        let next = self.byte(self.pos + 1);
        if matches!(b, b'n' | b'u' | b'm') && next == b's' {
            self.pos += 2;
        } else if matches!(b, b's' | b'm' | b'h' | b'd') {
            self.pos += 1;
        } else if matches!(b, b'u' | b'U') {
            self.pos += 1;
            for _ in 0..2 {
                if matches!(self.peek_byte(), b'l' | b'L') {
                    self.pos += 1;
                } else {
                    break;
                }
            }
        } else if matches!(b, b'l' | b'L') {
            self.pos += 1;
            if matches!(self.peek_byte(), b'l' | b'L') {
                self.pos += 1;
            }
        }
    }

    /// String literals. The value is assembled as bytes because `\xNN` and octal escapes
    /// produce bytes; the result must still be UTF-8, which is all `ast::ExprKind::Str` holds.
    fn lex_string(&mut self, diags: &mut Vec<Diagnostic>) -> TokenKind {
        let start = self.pos;
        self.pos += 1;
        let mut bytes: Vec<u8> = Vec::new();
        let mut bad_escape = false;
        loop {
            if self.at_eof() || self.peek_byte() == b'\n' {
                diags.push(syntax_error(Span::new(start, self.pos), "unterminated string"));
                return TokenKind::Str(String::from_utf8_lossy(&bytes).into_owned());
            }
            let b = self.peek_byte();
            if b == b'"' {
                self.pos += 1;
                break;
            }
            if b != b'\\' {
                bytes.push(b);
                self.pos += 1;
                continue;
            }
            let esc_start = self.pos;
            self.pos += 1;
            if self.at_eof() {
                continue; // reported as unterminated on the next turn
            }
            let e = self.peek_byte();
            match e {
                b'n' => bytes.push(b'\n'),
                b't' => bytes.push(b'\t'),
                b'r' => bytes.push(b'\r'),
                b'"' => bytes.push(b'"'),
                b'\\' => bytes.push(b'\\'),
                b'0'..=b'7' => {
                    let mut end = self.pos;
                    while end < self.pos + 3 && matches!(self.byte(end), b'0'..=b'7') {
                        end += 1;
                    }
                    let digits = &self.src[self.pos..end];
                    let value = u32::from_str_radix(digits, 8).unwrap_or(0);
                    self.pos = end;
                    if value > 0xff {
                        diags.push(syntax_error(
                            Span::new(esc_start, end),
                            format!("octal escape sequence out of range '\\{digits}'"),
                        ));
                    }
                    bytes.push(value as u8);
                    bad_escape |= value >= 0x80;
                    continue;
                }
                b'x' | b'X' => {
                    self.pos += 1;
                    let mut end = self.pos;
                    while end < self.pos + 2 && self.byte(end).is_ascii_hexdigit() {
                        end += 1;
                    }
                    if end == self.pos {
                        diags.push(syntax_error(Span::new(esc_start, self.pos), "invalid hex escape sequence"));
                    } else {
                        let value = u8::from_str_radix(&self.src[self.pos..end], 16).unwrap_or(0);
                        bytes.push(value);
                        bad_escape |= value >= 0x80;
                    }
                    self.pos = end;
                    continue;
                }
                _ => {
                    let c = self.peek_char().unwrap_or('\0');
                    diags.push(syntax_error(
                        Span::new(esc_start, self.pos + c.len_utf8()),
                        format!("invalid escape character '\\{c}'"),
                    ));
                    self.pos += c.len_utf8();
                    continue;
                }
            }
            self.pos += 1;
        }
        match String::from_utf8(bytes) {
            Ok(s) => TokenKind::Str(s),
            Err(e) => {
                // Only escapes can break UTF-8: the source text itself is a `str`.
                debug_assert!(bad_escape);
                diags.push(syntax_error(
                    Span::new(start, self.pos),
                    "string literal escapes do not form valid UTF-8 (raw non-UTF-8 bytes are not supported)",
                ));
                TokenKind::Str(String::from_utf8_lossy(e.as_bytes()).into_owned())
            }
        }
    }

    /// Scans one attach point at the cursor (trivia already skipped).
    ///
    /// An attach point runs until whitespace, `,` or `{`. A `/` ends it too (it starts the
    /// predicate, as in `BEGIN/1/{`) unless the provider takes a path (`uprobe`, `usdt`,
    /// `iter` and their aliases) and a `:` was seen: `uprobe:/bin/bash:readline`. Such
    /// probes need whitespace before their predicate. Double-quoted pieces may contain
    /// anything but a newline.
    pub fn scan_attach_point(&mut self) -> Result<RawAttachPoint, Diagnostic> {
        let start = self.pos;
        let mut provider_end: Option<usize> = None;
        while let Some(c) = self.peek_char() {
            if c.is_whitespace() || c == '{' || c == ',' {
                break;
            }
            if c == '/' {
                let provider = &self.src[start..provider_end.unwrap_or(self.pos)];
                let path_provider = PATH_PROVIDERS.contains(&provider.to_ascii_lowercase().as_str());
                if provider_end.is_none() || !path_provider {
                    break;
                }
            }
            if c == '"' {
                let quote = self.pos;
                self.pos += 1;
                loop {
                    match self.peek_char() {
                        None | Some('\n') => {
                            return Err(syntax_error(Span::new(quote, self.pos), "unterminated string"));
                        }
                        Some('"') => {
                            self.pos += 1;
                            break;
                        }
                        Some('\\') => {
                            self.pos += 1;
                            if let Some(e) = self.peek_char().filter(|&e| e != '\n') {
                                self.pos += e.len_utf8();
                            }
                        }
                        Some(other) => self.pos += other.len_utf8(),
                    }
                }
                continue;
            }
            if c == ':' && provider_end.is_none() {
                provider_end = Some(self.pos);
            }
            self.pos += c.len_utf8();
        }
        let raw = self.src[start..self.pos].to_string();
        let parts = split_attach_point(&raw);
        Ok(RawAttachPoint { raw, span: Span::new(start, self.pos), parts })
    }

    /// Scans a `#...` line (with `\` continuations) at the cursor.
    pub fn scan_preprocessor_line(&mut self) -> (String, Span) {
        let start = self.pos;
        loop {
            let line_end = self.src[self.pos..].find('\n').map_or(self.src.len(), |i| self.pos + i);
            let continued = self.src[self.pos..line_end].trim_end().ends_with('\\');
            self.pos = line_end;
            if !continued || self.at_eof() {
                break;
            }
            self.pos += 1;
        }
        let text = self.src[start..self.pos].trim_end().to_string();
        (text.clone(), Span::new(start, start + text.len()))
    }

    /// Whether the `struct`/`union`/`enum` at the cursor starts a C definition (`struct foo {`)
    /// rather than an attach point or a cast: after the keyword, only identifiers and balanced
    /// `(...)`/`[...]` groups (attributes) may precede the `{`.
    pub fn looks_like_c_definition(&self) -> bool {
        let mut l = self.clone();
        l.pos = l.ident_end(l.pos);
        loop {
            l.skip_trivia();
            match l.peek_byte() {
                b'{' => return true,
                b if is_ident_start(b) => l.pos = l.ident_end(l.pos),
                open @ (b'(' | b'[') => {
                    let close = if open == b'(' { b')' } else { b']' };
                    let mut depth = 0usize;
                    loop {
                        let b = l.peek_byte();
                        if l.at_eof() {
                            return false;
                        }
                        l.pos += 1;
                        if b == open {
                            depth += 1;
                        } else if b == close {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                    }
                }
                _ => return false,
            }
        }
    }

    /// Scans a C `struct/union/enum NAME { ... }` definition: brace-matched (comments and
    /// strings inside are skipped over), then any `__attribute__((...))` and an optional `;`.
    pub fn scan_c_definition(&mut self) -> Result<(String, Span), Diagnostic> {
        let start = self.pos;
        while !self.at_eof() && self.peek_byte() != b'{' {
            self.pos += 1;
        }
        let mut depth = 0usize;
        loop {
            if let Some(d) = self.skip_comment() {
                return Err(d);
            }
            if self.at_eof() {
                return Err(syntax_error(Span::new(self.pos, self.pos), "expected '}'"));
            }
            let b = self.peek_byte();
            self.pos += 1;
            if b == b'{' {
                depth += 1;
            } else if b == b'}' {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
        }
        let mut end = self.pos;
        loop {
            let mut l = self.clone();
            l.skip_trivia();
            if l.peek_word() != "__attribute__" {
                break;
            }
            l.pos += "__attribute__".len();
            l.skip_trivia();
            let open = l.pos;
            if !(l.peek_byte() == b'(' && l.byte(l.pos + 1) == b'(') {
                let tok = l.next_token();
                return Err(syntax_error(tok.span, "__attribute__ syntax error, expected '(('"));
            }
            let mut depth = 0usize;
            loop {
                if l.at_eof() {
                    return Err(syntax_error(
                        Span::new(open, open + 1),
                        "__attribute__ syntax error, mismatched '(' and ')'",
                    ));
                }
                let b = l.peek_byte();
                l.pos += 1;
                if b == b'(' {
                    depth += 1;
                } else if b == b')' {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
            }
            self.pos = l.pos;
            end = l.pos;
        }
        let mut l = self.clone();
        l.skip_trivia();
        if l.peek_byte() == b';' {
            self.pos = l.pos + 1;
            end = self.pos;
        }
        Ok((self.src[start..end].to_string(), Span::new(start, end)))
    }

    /// Inside C definitions: steps over a comment at the cursor so its braces do not count.
    fn skip_comment(&mut self) -> Option<Diagnostic> {
        while self.peek_byte() == b'/' && matches!(self.byte(self.pos + 1), b'/' | b'*') {
            let mut l = self.clone();
            let d = l.skip_trivia_comments_only();
            self.pos = l.pos;
            if d.is_some() {
                return d;
            }
        }
        None
    }

    fn skip_trivia_comments_only(&mut self) -> Option<Diagnostic> {
        if self.byte(self.pos + 1) == b'/' {
            while !self.at_eof() && self.peek_byte() != b'\n' {
                self.pos += 1;
            }
            None
        } else {
            let start = self.pos;
            match self.src[self.pos + 2..].find("*/") {
                Some(i) => {
                    self.pos += 2 + i + 2;
                    None
                }
                None => {
                    self.pos = self.src.len();
                    Some(syntax_error(Span::new(start, start + 2), "unterminated comment"))
                }
            }
        }
    }
}

/// Splits attach point text on `:` outside double quotes; quotes are dropped and `\x` inside
/// quotes stands for `x`.
pub fn split_attach_point(raw: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => in_quotes = !in_quotes,
            '\\' if in_quotes => {
                if let Some(e) = chars.next() {
                    cur.push(e);
                }
            }
            ':' if !in_quotes => parts.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    parts.push(cur);
    parts
}

/// Converts integer literal text to its value with bpftrace's rules: `_` separators,
/// `0x` hex, leading-`0` octal, `NeM` meaning N·10^M (N in 1..=9), and suffixes that bound
/// the type (`u` = 32-bit, `l`/`ll` = signed 64-bit) or scale to nanoseconds.
/// Errors are bpftrace's messages, without the `syntax: ` prefix.
pub fn parse_int(text: &str) -> Result<u64, String> {
    let n: String = text.chars().filter(|&c| c != '_').collect();
    let overflow = |max: u64| format!("overflow error, maximum value is {max}: {text}");
    let (digits, radix) = if n.len() >= 2 && (n.starts_with("0x") || n.starts_with("0X")) {
        (&n[2..], 16)
    } else if n.len() >= 2 && n.starts_with('0') && matches!(n.as_bytes()[1], b'0'..=b'7') {
        (&n[1..], 8)
    } else {
        (&n[..], 10)
    };
    let end = digits.find(|c: char| !c.is_digit(radix)).unwrap_or(digits.len());
    if end == 0 {
        return Err(format!("invalid integer: {text}"));
    }
    let mut value = u64::from_str_radix(&digits[..end], radix).map_err(|_| overflow(u64::MAX))?;
    let mut rest = &digits[end..];
    let rb = rest.as_bytes();
    if rb.len() >= 2 && matches!(rb[0], b'e' | b'E') && matches!(rb[1], b'1'..=b'9') {
        if !(1..=9).contains(&value) {
            return Err(format!("coefficient part of scientific literal must be 1-9: {text}"));
        }
        let exp_digits = &rest[1..];
        let exp_end = exp_digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(exp_digits.len());
        let exp: u64 = exp_digits[..exp_end].parse().map_err(|_| overflow(u64::MAX))?;
        for _ in 0..exp {
            value = value.checked_mul(10).ok_or_else(|| overflow(u64::MAX))?;
        }
        rest = &exp_digits[exp_end..];
    }
    let (max, mult): (u64, u64) = match rest {
        "" | "ns" | "ul" | "ull" => (u64::MAX, 1),
        "u" => (u32::MAX as u64, 1),
        "l" | "ll" => (i64::MAX as u64, 1),
        "us" => (u64::MAX, 1_000),
        "ms" => (u64::MAX, 1_000_000),
        "s" => (u64::MAX, 1_000_000_000),
        "m" => (u64::MAX, 60_000_000_000),
        "h" => (u64::MAX, 3_600_000_000_000),
        "d" => (u64::MAX, 86_400_000_000_000),
        _ => return Err(format!("invalid trailing bytes: {text}")),
    };
    if value > max / mult {
        return Err(overflow(max));
    }
    Ok(value * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_follow_bpftrace() {
        assert_eq!(parse_int("1_000_000"), Ok(1_000_000));
        assert_eq!(parse_int("0x10"), Ok(16));
        assert_eq!(parse_int("010"), Ok(8));
        assert_eq!(parse_int("08"), Ok(8));
        assert_eq!(parse_int("0"), Ok(0));
        assert_eq!(parse_int("1e6"), Ok(1_000_000));
        assert_eq!(parse_int("5e3"), Ok(5_000));
        assert_eq!(parse_int("1s"), Ok(1_000_000_000));
        assert_eq!(parse_int("10ms"), Ok(10_000_000));
        assert_eq!(parse_int("5us"), Ok(5_000));
        assert_eq!(parse_int("100ns"), Ok(100));
        assert_eq!(parse_int("1m"), Ok(60_000_000_000));
        assert_eq!(parse_int("1h"), Ok(3_600_000_000_000));
        assert_eq!(parse_int("1d"), Ok(86_400_000_000_000));
        assert_eq!(parse_int("1ull"), Ok(1));
        assert_eq!(parse_int("4294967296u"), Err("overflow error, maximum value is 4294967295: 4294967296u".into()));
        assert_eq!(parse_int("12e4"), Err("coefficient part of scientific literal must be 1-9: 12e4".into()));
        assert_eq!(parse_int("5e"), Err("invalid trailing bytes: 5e".into()));
        assert_eq!(parse_int("1e21"), Err("overflow error, maximum value is 18446744073709551615: 1e21".into()));
        assert_eq!(
            parse_int("18446744073709551616"),
            Err("overflow error, maximum value is 18446744073709551615: 18446744073709551616".into())
        );
        assert_eq!(parse_int("18446744073709551615"), Ok(u64::MAX));
    }

    #[test]
    fn attach_point_parts() {
        assert_eq!(split_attach_point("t:sched:sched_switch"), ["t", "sched", "sched_switch"]);
        assert_eq!(
            split_attach_point(r#"uprobe:/bin/x:cpp:"ns::fn(int)""#),
            ["uprobe", "/bin/x", "cpp", "ns::fn(int)"]
        );
        assert_eq!(split_attach_point(r#"k:"fn.abc"+1"#), ["k", "fn.abc+1"]);
        assert_eq!(split_attach_point("BEGIN"), ["BEGIN"]);
    }

    fn kinds(src: &str) -> Vec<TokenKind> {
        let mut l = Lexer::new(src);
        let mut out = vec![];
        loop {
            let t = l.next_token();
            if t.kind == TokenKind::Eof {
                return out;
            }
            out.push(t.kind);
        }
    }

    #[test]
    fn operators_longest_match() {
        use TokenKind::*;
        assert_eq!(
            kinds("a->b <<= 1 .. . $x-- @ @m $# $3"),
            vec![
                Ident("a".into()),
                Arrow,
                Ident("b".into()),
                CompoundAssign(BinOp::Shl),
                Int(1),
                DotDot,
                Dot,
                Var("x".into()),
                MinusMinus,
                Map("".into()),
                Map("m".into()),
                PositionalCount,
                Positional(3),
            ]
        );
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(kinds(r#""a\n\t\"\\\101\x41""#), vec![TokenKind::Str("a\n\t\"\\AA".into())]);
        let t = Lexer::new(r#""\777""#).next_token();
        assert_eq!(t.diags[0].message, "syntax: octal escape sequence out of range '\\777'");
    }
}
