//! Integer literals: their lexing and bpftrace's conversion rules.
use super::{is_ident_start, syntax_error, Lexer};
use crate::diag::Diagnostic;
use crate::span::Span;
use crate::token::TokenKind;

impl Lexer<'_> {
    /// Integer literals, following bpftrace: `[0-9_]+`, `0x` hex, an optional `eN` exponent,
    /// then an optional type (`u`, `ul`, `ull`, `l`, `ll`) or duration (`ns us ms s m h d`) suffix.
    pub(super) fn lex_number(&mut self, diags: &mut Vec<Diagnostic>) -> TokenKind {
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
}

/// What an integer suffix allows and multiplies by: C's type suffixes bound the value (`u` is
/// 32-bit, `l`/`ll` signed 64-bit), time suffixes scale to nanoseconds. `None` for anything else.
pub fn int_suffix(rest: &str) -> Option<(u64, u64)> {
    Some(match rest {
        "" | "ns" | "ul" | "ull" => (u64::MAX, 1),
        "u" => (u32::MAX as u64, 1),
        "l" | "ll" => (i64::MAX as u64, 1),
        "us" => (u64::MAX, 1_000),
        "ms" => (u64::MAX, 1_000_000),
        "s" => (u64::MAX, 1_000_000_000),
        "m" => (u64::MAX, 60_000_000_000),
        "h" => (u64::MAX, 3_600_000_000_000),
        "d" => (u64::MAX, 86_400_000_000_000),
        _ => return None,
    })
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
    let Some((max, mult)) = int_suffix(rest) else {
        return Err(format!("invalid trailing bytes: {text}"));
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
}
