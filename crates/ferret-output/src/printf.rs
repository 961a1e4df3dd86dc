//! The printf engine used by `printf`, `errorf`, `warnf`, `system` and
//! `cat`: compile-time parsing and checking, run-time rendering.
//!
//! bpftrace master does **not** call C `printf`; it parses the format with
//! a regular expression and renders each specifier with C++ iostreams. The
//! observable consequences, all reproduced here:
//!
//! * Flags are only recognised in the order `-`, `+`, space, `#`, `0`, each
//!   at most once (`%0-5d` is not a specifier and prints literally).
//!   A `%` that does not start a valid specifier is literal text.
//! * `%d`/`%i` convert to C `int` unless a length modifier says otherwise
//!   (`hh` = char, `h` = short, `l`/`ll`/`j`/`z`/`t` = 64-bit), so `%d` of
//!   `1 << 32` prints `0`; `%u %o %x %X` likewise use `unsigned int` by
//!   default (`%x` of `-1` is `ffffffff`, `%lx` is `ffffffffffffffff`).
//! * Padding goes on the far left of the whole number, also with `0`:
//!   `%05d` of -5 is `000-5`, `%#06x` of 31 is `000x1f`; `-` with `0` pads
//!   zeros on the right (`%-05d` of 5 is `50000`).
//! * `+` only affects signed conversions; the space flag and precision are
//!   parsed but ignored (`%.2s` does not truncate). `*` as width or
//!   precision is accepted, ignored, and consumes no argument.
//! * `%#x`/`%#o` of 0 print `0`; `%p` prints `0x...` (or `0` for null).
//! * `%s` prints any value's text form; the width applies only to the
//!   first token (`(` for a tuple), and `%+s` puts `+` on signed integers.
//! * `%r` prints a buffer with non-printable bytes as `\xNN`, `%rx` every
//!   byte as `\xNN`, `%rh` as space-separated hex; on non-buffers they act
//!   like `%s`. `%gr` prints GFP flag names.
//! * A value that cannot be converted prints `!{invalid integer conversion: <value>}`.

use std::fmt;

use crate::gfp;
use crate::text::{emit, hex_buffer, Out};
use crate::value::Value;

/// The conversion character(s) of a specifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conv {
    D,
    I,
    U,
    O,
    /// `x`
    X,
    /// `X`
    UpperX,
    C,
    S,
    P,
    /// `r`: buffer, printable bytes kept.
    R,
    /// `rx`: buffer, every byte `\xNN`.
    Rx,
    /// `rh`: buffer, bytes as `NN NN NN`.
    Rh,
    /// `gr`: GFP flags.
    Gr,
    /// Recognised by the parser but rejected by [`Format::check`]:
    /// `e E f F g G a A n`.
    Unsupported(&'static str),
}

impl Conv {
    /// The specifier as bpftrace names it in messages (`d`, `rx`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Conv::D => "d",
            Conv::I => "i",
            Conv::U => "u",
            Conv::O => "o",
            Conv::X => "x",
            Conv::UpperX => "X",
            Conv::C => "c",
            Conv::S => "s",
            Conv::P => "p",
            Conv::R => "r",
            Conv::Rx => "rx",
            Conv::Rh => "rh",
            Conv::Gr => "gr",
            Conv::Unsupported(s) => s,
        }
    }
}

/// Length modifier; any other combination of `hlLjzt` is kept verbatim in
/// `Other` and behaves like no modifier.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Length {
    #[default]
    None,
    Hh,
    H,
    L,
    Ll,
    J,
    Z,
    T,
    Other(String),
}

/// What kind of argument a specifier accepts (for the type checker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Integers, booleans, pointers, enums: `d i u o x X c p gr`.
    Integer,
    /// `buf()` values: `r rx rh`.
    Buffer,
    /// Anything printable: `s`.
    Any,
    /// A specifier bpftrace rejects (`f`, `e`, `g`, `n`, ...).
    Unsupported,
}

/// One parsed `%...` specifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The specifier as written, e.g. `%-08lx`.
    pub text: String,
    pub left_align: bool,
    pub show_sign: bool,
    /// The space flag; parsed, has no effect.
    pub space: bool,
    pub alternate: bool,
    pub zero_pad: bool,
    /// Field width; 0 when absent or `*`.
    pub width: usize,
    /// Precision; has no effect on any supported conversion.
    pub precision: Option<usize>,
    pub length: Length,
    pub conv: Conv,
}

impl Spec {
    /// The specifier name used in error messages (`d`, `rx`, ...).
    pub fn specifier(&self) -> &'static str {
        self.conv.as_str()
    }

    /// The argument kind this specifier accepts.
    pub fn expects(&self) -> Expect {
        match self.conv {
            Conv::D | Conv::I | Conv::U | Conv::O | Conv::X | Conv::UpperX | Conv::C | Conv::P | Conv::Gr => {
                Expect::Integer
            }
            Conv::R | Conv::Rx | Conv::Rh => Expect::Buffer,
            Conv::S => Expect::Any,
            Conv::Unsupported(_) => Expect::Unsupported,
        }
    }
}

/// The type class of an argument as the type checker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// Any integer type, including enums.
    Integer,
    Boolean,
    Pointer,
    Buffer,
    String,
    /// `none`/`void` (e.g. the result of a void function).
    None,
    /// Anything else (tuples, records, stacks, ...).
    Other,
}

/// An argument's type for [`Format::check`]: its class plus the type's
/// name as it should appear in messages (`string[4]`, `int64`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgType<'a> {
    pub kind: ArgKind,
    pub name: &'a str,
}

/// A compile-time format error; `Display` gives bpftrace's message text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    NotEnoughArguments { supplied: usize, expected: usize },
    TooManyArguments { supplied: usize, expected: usize },
    NoneType { specifier: &'static str },
    UnsupportedSpecifier { specifier: &'static str },
    TypeMismatch { type_name: String, specifier: &'static str },
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::NotEnoughArguments { supplied, expected } => {
                write!(f, "not enough arguments for format string ({supplied} supplied, {expected} expected)")
            }
            FormatError::TooManyArguments { supplied, expected } => {
                write!(f, "too many arguments for format string ({supplied} supplied, {expected} expected)")
            }
            FormatError::NoneType { specifier } => {
                write!(f, "unable to print none type for specifier: {specifier}")
            }
            FormatError::UnsupportedSpecifier { specifier } => {
                write!(f, "unsupported format specifier: {specifier}")
            }
            FormatError::TypeMismatch { type_name, specifier } => {
                write!(f, "unsupported format specifier for type '{type_name}': {specifier}")
            }
        }
    }
}

impl std::error::Error for FormatError {}

/// A parsed format string: `fragments.len() == specs.len() + 1`, and the
/// output is `fragment, spec, fragment, ..., spec, fragment`. `%%` has
/// already been folded into the fragments as `%`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    source: String,
    fragments: Vec<String>,
    specs: Vec<Spec>,
}

/// Parses `fmt` and rejects conversions bpftrace does not support. For
/// bpftrace's exact error precedence (argument count first) use
/// [`Format::parse`] followed by [`Format::check`].
pub fn parse(fmt: &str) -> Result<Format, FormatError> {
    let f = Format::parse(fmt);
    if let Some(s) = f.specs.iter().find(|s| s.expects() == Expect::Unsupported) {
        return Err(FormatError::UnsupportedSpecifier { specifier: s.specifier() });
    }
    Ok(f)
}

/// The largest field width or precision honoured: the compiler refuses formats with larger
/// ones, and the renderer never pads further (a width of 10^11 would otherwise be allocated).
pub const MAX_FIELD: usize = 65535;

/// Tries to read a specifier at `b[start] == b'%'`; returns it (None for
/// `%%`-like specifiers) and the index just past it.
fn parse_spec(b: &[u8], start: usize) -> Option<(Option<Spec>, usize)> {
    let mut i = start + 1;
    let flag = |c: u8, i: &mut usize| {
        if b.get(*i) == Some(&c) {
            *i += 1;
            true
        } else {
            false
        }
    };
    let left_align = flag(b'-', &mut i);
    let show_sign = flag(b'+', &mut i);
    let space = flag(b' ', &mut i);
    let alternate = flag(b'#', &mut i);
    let zero_pad = flag(b'0', &mut i);

    let digits = |i: &mut usize| -> Option<usize> {
        let s = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        (*i > s).then(|| {
            b[s..*i]
                .iter()
                .fold(0usize, |a, d| a.saturating_mul(10).saturating_add(usize::from(d - b'0')).min(MAX_FIELD))
        })
    };
    let width = if b.get(i) == Some(&b'*') {
        i += 1;
        0
    } else {
        digits(&mut i).unwrap_or(0)
    };
    let mut precision = None;
    if b.get(i) == Some(&b'.') {
        match b.get(i + 1) {
            Some(b'*') => i += 2,
            Some(d) if d.is_ascii_digit() => {
                i += 1;
                precision = digits(&mut i);
            }
            // `.` not followed by `*` or a digit: the optional group does
            // not match and nothing later can match a `.`, so no specifier.
            _ => return None,
        }
    }
    let len_start = i;
    while b.get(i).is_some_and(|c| b"hlLjzt".contains(c)) {
        i += 1;
    }
    let length = match &b[len_start..i] {
        b"" => Length::None,
        b"hh" => Length::Hh,
        b"h" => Length::H,
        b"l" => Length::L,
        b"ll" => Length::Ll,
        b"j" => Length::J,
        b"z" => Length::Z,
        b"t" => Length::T,
        other => Length::Other(String::from_utf8_lossy(other).into_owned()),
    };
    let rest = &b[i..];
    let (conv, n) = match rest.first()? {
        b'%' => return Some((None, i + 1)),
        b'd' => (Conv::D, 1),
        b'i' => (Conv::I, 1),
        b'o' => (Conv::O, 1),
        b'u' => (Conv::U, 1),
        b'x' => (Conv::X, 1),
        b'X' => (Conv::UpperX, 1),
        b'c' => (Conv::C, 1),
        b's' => (Conv::S, 1),
        b'p' => (Conv::P, 1),
        b'e' => (Conv::Unsupported("e"), 1),
        b'E' => (Conv::Unsupported("E"), 1),
        b'f' => (Conv::Unsupported("f"), 1),
        b'F' => (Conv::Unsupported("F"), 1),
        b'G' => (Conv::Unsupported("G"), 1),
        b'a' => (Conv::Unsupported("a"), 1),
        b'A' => (Conv::Unsupported("A"), 1),
        b'n' => (Conv::Unsupported("n"), 1),
        // Two-letter forms win over their one-letter prefixes.
        b'g' if rest.starts_with(b"gr") => (Conv::Gr, 2),
        b'g' => (Conv::Unsupported("g"), 1),
        b'r' if rest.starts_with(b"rh") => (Conv::Rh, 2),
        b'r' if rest.starts_with(b"rx") => (Conv::Rx, 2),
        b'r' => (Conv::R, 1),
        _ => return None,
    };
    let end = i + n;
    let spec = Spec {
        text: String::from_utf8_lossy(&b[start..end]).into_owned(),
        left_align,
        show_sign,
        space,
        alternate,
        zero_pad,
        width,
        precision,
        length,
        conv,
    };
    Some((Some(spec), end))
}

/// The 64 bits of a value usable as a number, if it is one.
fn number(v: &Value) -> Option<u64> {
    match v {
        Value::Int(i) => Some(*i as u64),
        Value::UInt(u) => Some(*u),
        Value::Bool(b) => Some(u64::from(*b)),
        Value::Symbolic { value, .. } => Some(*value),
        _ => None,
    }
}

fn signed_cast(bits: u64, length: &Length) -> i64 {
    match length {
        Length::Hh => bits as i8 as i64,
        Length::H => bits as i16 as i64,
        Length::L | Length::Ll | Length::J | Length::Z | Length::T => bits as i64,
        Length::None | Length::Other(_) => bits as i32 as i64,
    }
}

fn unsigned_cast(bits: u64, length: &Length) -> u64 {
    match length {
        Length::Hh => bits as u8 as u64,
        Length::H => bits as u16 as u64,
        Length::L | Length::Ll | Length::J | Length::Z | Length::T => bits,
        Length::None | Length::Other(_) => bits as u32 as u64,
    }
}

impl Format {
    /// Splits a format string into fragments and specifiers. Never fails:
    /// like bpftrace, anything that is not a valid specifier is literal.
    pub fn parse(fmt: &str) -> Format {
        let b = fmt.as_bytes();
        let mut fragments = Vec::new();
        let mut specs = Vec::new();
        let mut fragment = String::new();
        let mut last = 0;
        let mut i = 0;
        while let Some(off) = b[i..].iter().position(|&c| c == b'%') {
            let pos = i + off;
            match parse_spec(b, pos) {
                Some((spec, end)) => {
                    fragment.push_str(&fmt[last..pos]);
                    match spec {
                        None => fragment.push('%'),
                        Some(spec) => {
                            fragments.push(std::mem::take(&mut fragment));
                            specs.push(spec);
                        }
                    }
                    last = end;
                    i = end;
                }
                None => i = pos + 1,
            }
        }
        fragment.push_str(&fmt[last..]);
        fragments.push(fragment);
        Format { source: fmt.to_string(), fragments, specs }
    }

    /// The original format string.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn specs(&self) -> &[Spec] {
        &self.specs
    }

    pub fn fragments(&self) -> &[String] {
        &self.fragments
    }

    /// bpftrace's compile-time check, in its order: argument count, then
    /// per argument a none/void type, an unsupported specifier, a type the
    /// specifier does not accept.
    pub fn check(&self, args: &[ArgType<'_>]) -> Result<(), FormatError> {
        let (supplied, expected) = (args.len(), self.specs.len());
        if supplied < expected {
            return Err(FormatError::NotEnoughArguments { supplied, expected });
        }
        if supplied > expected {
            return Err(FormatError::TooManyArguments { supplied, expected });
        }
        for (spec, arg) in self.specs.iter().zip(args) {
            let specifier = spec.specifier();
            if arg.kind == ArgKind::None {
                return Err(FormatError::NoneType { specifier });
            }
            let ok = match spec.expects() {
                Expect::Unsupported => return Err(FormatError::UnsupportedSpecifier { specifier }),
                Expect::Any => true,
                Expect::Integer => matches!(arg.kind, ArgKind::Integer | ArgKind::Boolean | ArgKind::Pointer),
                Expect::Buffer => arg.kind == ArgKind::Buffer,
            };
            if !ok {
                return Err(FormatError::TypeMismatch { type_name: arg.name.to_string(), specifier });
            }
        }
        Ok(())
    }

    /// Renders with run-time values. Output may contain arbitrary bytes
    /// (`%c`), so this is the exact form; see [`Format::render`].
    pub fn render_bytes(&self, args: &[Value]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, (spec, arg)) in self.specs.iter().zip(args).enumerate() {
            out.extend_from_slice(self.fragments[i].as_bytes());
            match apply(spec, arg) {
                Ok(bytes) => out.extend_from_slice(&bytes),
                // Like Go, embed the error in place of the value.
                Err(msg) => out.extend_from_slice(format!("!{{{msg}}}").as_bytes()),
            }
        }
        if let Some(last) = self.fragments.last() {
            out.extend_from_slice(last.as_bytes());
        }
        out
    }

    /// [`Format::render_bytes`] as a string (invalid UTF-8, only possible
    /// through `%c`, is replaced with U+FFFD).
    pub fn render(&self, args: &[Value]) -> String {
        match String::from_utf8(self.render_bytes(args)) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }
    }
}

fn invalid_integer(v: &Value) -> String {
    format!("invalid integer conversion: {}", crate::text::value(v))
}

/// Renders one argument (bpftrace's `FormatSpec::apply`).
fn apply(spec: &Spec, v: &Value) -> Result<Vec<u8>, String> {
    let fill = if spec.zero_pad { b'0' } else { b' ' };
    let mut out = Out::with_format(spec.width, fill, spec.left_align, spec.show_sign);
    let as_string = |out: &mut Out| emit(out, v);
    match spec.conv {
        Conv::D | Conv::I => {
            let n = number(v).ok_or_else(|| invalid_integer(v))?;
            out.put_i64(signed_cast(n, &spec.length));
        }
        Conv::U | Conv::O | Conv::X | Conv::UpperX => {
            let n = unsigned_cast(number(v).ok_or_else(|| invalid_integer(v))?, &spec.length);
            let s = match spec.conv {
                Conv::U => n.to_string(),
                // `showbase` adds no prefix to zero, like C's `#`.
                Conv::O if spec.alternate && n != 0 => format!("0{n:o}"),
                Conv::O => format!("{n:o}"),
                Conv::X if spec.alternate && n != 0 => format!("0x{n:x}"),
                Conv::X => format!("{n:x}"),
                _ if spec.alternate && n != 0 => format!("0X{n:X}"),
                _ => format!("{n:X}"),
            };
            out.put_str(&s);
        }
        Conv::C => {
            // Converted through the length modifier's type, then to `char`:
            // always the low byte.
            let n = number(v).ok_or_else(|| invalid_integer(v))?;
            out.put(&[n as u8]);
        }
        Conv::P => {
            let n = number(v).ok_or_else(|| invalid_integer(v))?;
            // iostreams print a pointer as lowercase `0x...`, null as `0`.
            if n == 0 {
                out.put_str("0");
            } else {
                out.put_str(&format!("0x{n:x}"));
            }
        }
        Conv::Gr => {
            let n = match v {
                Value::Int(i) => *i as u64,
                Value::UInt(u) => *u,
                Value::Symbolic { value, .. } => *value,
                _ => return Err(format!("invalid GFP flags conversion: {}", crate::text::value(v))),
            };
            out.put_str(&gfp::format(n));
        }
        Conv::R | Conv::Rx | Conv::Rh => match v {
            Value::Buffer(b) => {
                let (keep_ascii, escape) = match spec.conv {
                    Conv::R => (true, true),
                    Conv::Rx => (false, true),
                    _ => (false, false),
                };
                out.put_str(&hex_buffer(b, keep_ascii, escape));
            }
            _ => as_string(&mut out),
        },
        // Unsupported conversions never pass the type checker; if one gets
        // here, print the value like `%s`.
        Conv::S | Conv::Unsupported(_) => as_string(&mut out),
    }
    Ok(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(fmt: &str, v: Value) -> String {
        Format::parse(fmt).render(&[v])
    }

    /// Expected strings produced by g++/libstdc++ running bpftrace's
    /// iostream formatting logic (a 1125-case corpus matched exactly; these
    /// are the instructive ones).
    #[test]
    fn iostream_semantics() {
        let i = Value::Int;
        let cases: Vec<(&str, Value, &str)> = vec![
            ("%05d", i(-5), "000-5"),
            ("%05d", i(4294967296), "00000"),
            ("%05d", Value::UInt(u64::MAX), "000-1"),
            ("%-05d|", i(-5), "-5000|"),
            ("%+05d", i(255), "0+255"),
            ("%+d", i(0), "+0"),
            ("%+u", i(5), "5"),
            ("%+x", i(5), "5"),
            ("%hhu", i(-5), "251"),
            ("%hhd", i(255), "-1"),
            ("%hd", Value::UInt(u64::MAX), "-1"),
            ("%zd", i(4294967296), "4294967296"),
            ("%tu", i(-5), "18446744073709551611"),
            ("%Ld", i(4294967296), "0"),
            ("%#X", i(-5), "0XFFFFFFFB"),
            ("%#X", i(0), "0"),
            ("%#o", i(255), "0377"),
            ("%#08x", i(255), "00000xff"),
            ("%#08x", i(-5), "0xfffffffb"),
            ("%p", i(0), "0"),
            ("%p", i(255), "0xff"),
            ("%010p", i(255), "0000000xff"),
            ("%10s", Value::Bool(true), "      true"),
            ("%-10s|", Value::str("ab"), "ab        |"),
            ("%010s", Value::str("ab"), "00000000ab"),
            ("%+s", i(5), "+5"),
            ("%+s", Value::UInt(5), "5"),
            ("%.3s", Value::str("abcdef"), "abcdef"),
            ("%5.2d", i(7), "    7"),
            ("%*d", i(7), "7"),
            ("%-+ #012lld", i(0), "+00000000000"),
            ("%5c", i(65), "    A"),
            ("%d", Value::str("ab"), "!{invalid integer conversion: ab}"),
            ("%gr", Value::Bool(true), "!{invalid GFP flags conversion: true}"),
        ];
        for (fmt, v, want) in cases {
            assert_eq!(r(fmt, v.clone()), want, "{fmt} {v:?}");
        }
    }

    #[test]
    fn huge_widths_are_capped() {
        // Found by the `output` fuzz target: `%99999999999p` padded to 10^11 bytes.
        let out = Format::parse("%99999999999d|%.99999999999s").render(&[Value::Int(1), Value::str("x")]);
        assert_eq!(out.len(), MAX_FIELD + 2);
    }

    #[test]
    fn width_applies_to_first_token_only() {
        let t = Value::Tuple(vec![Value::Int(1), Value::Int(-2)]);
        assert_eq!(r("%8s|", t.clone()), "       (1, -2)|");
        assert_eq!(r("%+s", t), "(+1, -2)");
    }

    #[test]
    fn literal_percent_and_non_specifiers() {
        let f = |s: &str| Format::parse(s).render(&[Value::Int(7), Value::Int(8)]);
        assert_eq!(f("100%% sure %d%%"), "100% sure 7%");
        assert_eq!(f("%5%"), "%");
        assert_eq!(f("%0-5d"), "%0-5d");
        assert_eq!(f("%.d"), "%.d");
        assert_eq!(f("abc%"), "abc%");
        assert_eq!(f("%q%d"), "%q7");
        assert_eq!(f("%rhh"), "7h");
        assert_eq!(f("%d%d%d"), "78");
    }

    #[test]
    fn parse_structure() {
        let f = Format::parse("a%-08lxb%%c%rxd%gr");
        assert_eq!(f.fragments(), ["a", "b%c", "d", ""]);
        let s = &f.specs()[0];
        assert_eq!(s.text, "%-08lx");
        assert!(s.left_align && s.zero_pad && !s.show_sign);
        assert_eq!((s.width, &s.length, s.conv), (8, &Length::L, Conv::X));
        assert_eq!(f.specs()[1].conv, Conv::Rx);
        assert_eq!(f.specs()[2].conv, Conv::Gr);
        assert_eq!(f.specs()[2].expects(), Expect::Integer);
        assert_eq!(f.specs()[1].expects(), Expect::Buffer);
        assert_eq!(Format::parse("%s").specs()[0].expects(), Expect::Any);
        assert_eq!(Format::parse("%hlld").specs()[0].length, Length::Other("hll".into()));
        assert_eq!(Format::parse("%.5d").specs()[0].precision, Some(5));
        assert!(matches!(parse("%f"), Err(FormatError::UnsupportedSpecifier { specifier: "f" })));
        assert!(parse("%d %s").is_ok());
    }

    #[test]
    fn check_messages() {
        let int = ArgType { kind: ArgKind::Integer, name: "int64" };
        let s = ArgType { kind: ArgKind::String, name: "string[6]" };
        let none = ArgType { kind: ArgKind::None, name: "none" };
        let f = Format::parse("%d %s");
        assert_eq!(
            f.check(&[int]).unwrap_err().to_string(),
            "not enough arguments for format string (1 supplied, 2 expected)"
        );
        assert_eq!(
            f.check(&[int, s, int]).unwrap_err().to_string(),
            "too many arguments for format string (3 supplied, 2 expected)"
        );
        assert_eq!(f.check(&[int, s]), Ok(()));
        assert_eq!(f.check(&[int, int]), Ok(()));
        assert_eq!(f.check(&[s, s]).unwrap_err().to_string(), "unsupported format specifier for type 'string[6]': d");
        assert_eq!(f.check(&[none, s]).unwrap_err().to_string(), "unable to print none type for specifier: d");
        assert_eq!(Format::parse("%f").check(&[int]).unwrap_err().to_string(), "unsupported format specifier: f");
        assert_eq!(
            Format::parse("%r").check(&[s]).unwrap_err().to_string(),
            "unsupported format specifier for type 'string[6]': r"
        );
        let b = ArgType { kind: ArgKind::Boolean, name: "bool" };
        let p = ArgType { kind: ArgKind::Pointer, name: "int32 *" };
        assert_eq!(Format::parse("%c %p").check(&[b, p]), Ok(()));
    }

    #[test]
    fn raw_bytes_from_char() {
        assert_eq!(Format::parse("%c").render_bytes(&[Value::Int(0xc3)]), vec![0xc3]);
        assert_eq!(Format::parse("%c").render(&[Value::Int(0xc3)]), "\u{fffd}");
    }
}
