//! Characters → tokens, plus the raw-text scanners the parser switches to at the top level
//! (attach points, `#` lines, C definitions).
//!
//! The lexer is a cursor over the source that the parser drives: there is no token vector,
//! because what a run of characters means depends on where the parser is (`1s` is a
//! duration in an expression but part of `interval:1s` in an attach point). The cursor is
//! `Clone`, so the parser looks ahead by lexing from a copy.
mod number;
pub use number::int_suffix;
mod raw;

pub use number::parse_int;
pub use raw::{split_attach_point, RawAttachPoint};

use crate::ast::BinOp;
use crate::diag::Diagnostic;
use crate::span::Span;
use crate::token::{Token, TokenKind};

/// Every syntax diagnostic starts with this, like bpftrace's parser errors.
pub(crate) fn syntax_error(span: Span, msg: impl AsRef<str>) -> Diagnostic {
    Diagnostic::error(span, format!("syntax: {}", msg.as_ref()))
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
                    } else {
                        bytes.push(value as u8);
                        bad_escape |= value >= 0x80;
                    }
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
