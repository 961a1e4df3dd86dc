//! The raw-text scanners the parser switches to at the top level: attach points, `#` lines
//! and C definitions, whose characters mean something else in expressions.
use super::{is_ident_start, syntax_error, Lexer};
use crate::diag::Diagnostic;
use crate::span::Span;

/// Providers whose arguments are file paths, so a `/` inside them is not a predicate.
const PATH_PROVIDERS: &[&str] = &["uprobe", "u", "uretprobe", "ur", "usdt", "iter", "it"];

/// An attach point as scanned: raw text, its span, and the text split on `:` outside quotes.
pub struct RawAttachPoint {
    pub raw: String,
    pub span: Span,
    pub parts: Vec<String>,
}

impl Lexer<'_> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
