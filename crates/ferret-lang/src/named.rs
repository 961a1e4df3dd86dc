//! Named program options: `getopt("name"[, default[, description]])` reads `--name[=value]`
//! given after `--` on the command line. The command line is known before code generation, so
//! each `getopt()` compiles to a constant; this module finds the options a program declares,
//! parses their values and produces bpftrace's messages for bad or unknown options.
use ferret_syntax::ast::*;
use ferret_syntax::visit::{walk_expr, Visit};
use ferret_syntax::{Diagnostic, Span};

/// The value of a named option (its default decides which kind it is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    Bool(bool),
    Str(String),
    /// A non-negative integer default makes the option unsigned.
    UInt(u64),
    /// A negative integer default makes the option signed.
    Int(i64),
}

impl std::fmt::Display for ParamValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamValue::Bool(b) => write!(f, "{b}"),
            ParamValue::Str(s) => write!(f, "{s}"),
            ParamValue::UInt(v) => write!(f, "{v}"),
            ParamValue::Int(v) => write!(f, "{v}"),
        }
    }
}

/// One option the program reads with `getopt()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedParam {
    pub name: String,
    pub default: ParamValue,
    pub description: String,
}

/// Why `getopt(...)`'s arguments are not usable, in bpftrace's words, with the span to blame.
pub fn check_args(args: &[Expr], call: Span) -> Result<(), (Span, &'static str)> {
    let Some(first) = args.first() else {
        return Err((
            call,
            "The 'getopt' function can take a maximum of three arguments and a minimum of one argument.",
        ));
    };
    if !matches!(first.kind, ExprKind::Str(_)) {
        return Err((first.span, "First argument to 'getopt' must be a string literal."));
    }
    if args.len() > 3 {
        return Err((
            call,
            "The 'getopt' function can take a maximum of three arguments and a minimum of one argument.",
        ));
    }
    if let Some(d) = args.get(1) {
        if literal_default(d).is_none() {
            return Err((
                d.span,
                "Second argument to 'getopt' must be a string literal, integer literal, or a boolean literal.",
            ));
        }
    }
    if let Some(d) = args.get(2) {
        if !matches!(d.kind, ExprKind::Str(_)) {
            return Err((d.span, "Function 'getopt' requires the third parameter to be a string literal."));
        }
    }
    Ok(())
}

fn literal_default(e: &Expr) -> Option<ParamValue> {
    match &e.kind {
        ExprKind::Bool(b) => Some(ParamValue::Bool(*b)),
        ExprKind::Str(s) => Some(ParamValue::Str(s.clone())),
        ExprKind::Int(n) => Some(ParamValue::UInt(*n)),
        ExprKind::Unary { op: UnOp::Neg, expr } => match expr.kind {
            ExprKind::Int(n) => Some(ParamValue::Int((n as i64).wrapping_neg())),
            _ => None,
        },
        _ => None,
    }
}

/// The option a well-formed `getopt(...)` call declares (`None` if [`check_args`] rejects it).
pub fn declared(args: &[Expr]) -> Option<NamedParam> {
    let ExprKind::Str(name) = &args.first()?.kind else { return None };
    let default = match args.get(1) {
        Some(d) => literal_default(d)?,
        None => ParamValue::Bool(false),
    };
    let description = match args.get(2).map(|d| &d.kind) {
        Some(ExprKind::Str(s)) => s.clone(),
        _ => String::new(),
    };
    Some(NamedParam { name: name.clone(), default, description })
}

/// Every option the program declares, in order of first use. Uses of one option must agree on
/// the default and (where given) the description.
pub fn collect(program: &Program) -> Result<Vec<NamedParam>, Vec<Diagnostic>> {
    let mut out: Vec<NamedParam> = vec![];
    let mut diags = vec![];
    for (args, span) in getopt_calls(program) {
        let Some(np) = declared(&args) else { continue };
        match out.iter_mut().find(|p| p.name == np.name) {
            None => out.push(np),
            Some(prev) if prev.default != np.default => diags.push(Diagnostic::error(
                span,
                format!(
                    "Command line option '{}' needs to have the same default value in all places it is used. Previous default value: {}",
                    np.name, prev.default
                ),
            )),
            Some(prev) if !np.description.is_empty() && !prev.description.is_empty() && prev.description != np.description => {
                diags.push(Diagnostic::error(
                    span,
                    format!(
                        "Command line option '{}' must have the same description in all places it's used. Hint: You can wrap it in a macro",
                        np.name
                    ),
                ))
            }
            Some(prev) => {
                if prev.description.is_empty() {
                    prev.description = np.description;
                }
            }
        }
    }
    if diags.is_empty() {
        Ok(out)
    } else {
        Err(diags)
    }
}

/// Every `getopt(...)` call of the program, outermost first: its arguments and span.
fn getopt_calls(program: &Program) -> Vec<(Vec<Expr>, Span)> {
    struct Calls(Vec<(Vec<Expr>, Span)>);
    impl Visit for Calls {
        fn expr(&mut self, e: &Expr) {
            if let ExprKind::Call { name, args } = &e.kind {
                if name == "getopt" {
                    self.0.push((args.clone(), e.span));
                }
            }
            walk_expr(self, e);
        }
    }
    let mut calls = Calls(vec![]);
    for p in &program.probes {
        if let Some(pred) = &p.predicate {
            calls.expr(pred);
        }
        calls.block(&p.body);
    }
    calls.0
}

/// `--name=value` / `--name` as given (without the dashes): the last occurrence wins.
fn given<'a>(raw: &'a [String], name: &str) -> Option<Option<&'a str>> {
    raw.iter().rev().find_map(|r| {
        let (n, v) = split_param(r);
        (n == name).then_some(v)
    })
}

/// `aa=20` → (`aa`, Some(`20`)); `dd` → (`dd`, None). As bpftrace splits on every `=`
/// (dropping empty pieces), anything but exactly one value is an empty value.
fn split_param(raw: &str) -> (&str, Option<&str>) {
    if !raw.contains('=') {
        return (raw, None);
    }
    let parts: Vec<&str> = raw.split('=').filter(|p| !p.is_empty()).collect();
    let name = parts.first().copied().unwrap_or("");
    (name, Some(if parts.len() == 2 { parts[1] } else { "" }))
}

/// The value option `p` takes from the command line, or bpftrace's complaint about it.
pub fn value(raw: &[String], p: &NamedParam) -> Result<ParamValue, String> {
    let bad = |val: &str, why: &str| format!("program command line option --{} {why} (value: {val})", p.name);
    let Some(given) = given(raw, &p.name) else { return Ok(p.default.clone()) };
    let Some(val) = given else {
        return match p.default {
            ParamValue::Bool(_) => Ok(ParamValue::Bool(true)),
            ParamValue::Str(_) => Err(bad("true", "expects a string")),
            _ => Err(bad("true", "expects an integer")),
        };
    };
    let int_err = |e: IntError| match e {
        IntError::Overflow => bad(val, "value is out of range"),
        IntError::Format(msg) => bad(val, msg),
    };
    match p.default {
        ParamValue::Str(_) => Ok(ParamValue::Str(val.to_string())),
        ParamValue::UInt(_) => parse_uint(val).map(ParamValue::UInt).map_err(int_err),
        ParamValue::Int(_) => parse_int(val).map(ParamValue::Int).map_err(int_err),
        ParamValue::Bool(_) => match val.to_ascii_lowercase().as_str() {
            "1" | "true" | "on" | "yes" => Ok(ParamValue::Bool(true)),
            "0" | "false" | "off" | "no" => Ok(ParamValue::Bool(false)),
            _ => Err(bad(val, "expects a boolean (e.g. 'true')")),
        },
    }
}

/// What is wrong with the command line's named options: an `ERROR:` line and/or a `HINT:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    pub error: Option<String>,
    pub hint: Option<String>,
}

/// Check the command line's named options against the program's: unknown names (`--help`
/// lists the known ones) and values that do not parse.
pub fn check(params: &[NamedParam], raw: &[String]) -> Result<(), ParamError> {
    let unknown: Vec<&str> =
        raw.iter().map(|r| split_param(r).0).filter(|n| !params.iter().any(|p| p.name == *n)).collect();
    if !unknown.is_empty() {
        let help = unknown.contains(&"help");
        let named: Vec<String> = unknown.iter().filter(|n| **n != "help").map(|n| format!("--{n}")).collect();
        let error =
            (!named.is_empty()).then(|| format!("unexpected program command line options: {}", named.join(", ")));
        let hint = if params.is_empty() {
            "no custom program options defined.".to_string()
        } else if help {
            let lines: Vec<String> = params
                .iter()
                .map(|p| match p.description.as_str() {
                    "" => format!("--{}", p.name),
                    d => format!("--{}: {d}", p.name),
                })
                .collect();
            format!("expected program options:\n{}", lines.join("\n"))
        } else {
            let names: Vec<String> = params.iter().map(|p| format!("--{}", p.name)).collect();
            format!("expected program options: {}", names.join(": "))
        };
        return Err(ParamError { error, hint: Some(hint) });
    }
    for p in params {
        value(raw, p).map_err(|e| ParamError { error: Some(e), hint: None })?;
    }
    Ok(())
}

/// Why a number does not parse, as bpftrace's integer parser words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntError {
    Format(&'static str),
    Overflow,
}

/// bpftrace's unsigned integer syntax: `_` separators, `0x`/`0b`/`0` prefixes, `1e6`, and the
/// suffixes `u ul ull l ll` and `ns us ms s m h d` (durations in nanoseconds).
pub fn parse_uint(s: &str) -> Result<u64, IntError> {
    let n: String = s.chars().filter(|c| *c != '_').collect();
    let (digits, radix) = if n.len() >= 2 {
        match &n[..2] {
            "0x" | "0X" => (&n[2..], 16),
            "0b" | "0B" => (&n[2..], 2),
            p if p.starts_with('0') && (b'0'..=b'7').contains(&p.as_bytes()[1]) => (&n[1..], 8),
            _ => (&n[..], 10),
        }
    } else {
        (&n[..], 10)
    };
    let end = digits.find(|c: char| !c.is_digit(radix)).unwrap_or(digits.len());
    if end == 0 {
        return Err(IntError::Format("invalid integer"));
    }
    let mut v = u64::from_str_radix(&digits[..end], radix).map_err(|_| IntError::Overflow)?;
    let mut rest = &digits[end..];
    let b = rest.as_bytes();
    if b.len() >= 2 && (b[0] == b'e' || b[0] == b'E') && (b'1'..=b'9').contains(&b[1]) {
        if !(1..10).contains(&v) {
            return Err(IntError::Format("coefficient part of scientific literal must be 1-9"));
        }
        let exp_end = rest[1..].find(|c: char| !c.is_ascii_digit()).map_or(rest.len(), |i| i + 1);
        let exp: u32 = rest[1..exp_end].parse().map_err(|_| IntError::Format("invalid exponent"))?;
        v = 10u64.checked_pow(exp).and_then(|p| p.checked_mul(v)).ok_or(IntError::Overflow)?;
        rest = &rest[exp_end..];
    }
    let Some((max, mul)) = ferret_syntax::lexer::int_suffix(rest) else {
        return Err(IntError::Format("invalid trailing bytes"));
    };
    if v > max / mul {
        return Err(IntError::Overflow);
    }
    Ok(v * mul)
}

/// [`parse_uint`] with an optional leading `-`.
pub fn parse_int(s: &str) -> Result<i64, IntError> {
    match s.strip_prefix('-') {
        Some(m) => {
            let v = parse_uint(m)?;
            if v > i64::MAX as u64 + 1 {
                return Err(IntError::Overflow);
            }
            Ok((v as i64).wrapping_neg())
        }
        None if s.is_empty() => Ok(0),
        None => i64::try_from(parse_uint(s)?).map_err(|_| IntError::Overflow),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn np(name: &str, default: ParamValue, description: &str) -> NamedParam {
        NamedParam { name: name.into(), default, description: description.into() }
    }
    fn raw(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn integers_parse_like_bpftrace() {
        assert_eq!(parse_uint("0xffffffffffffffff"), Ok(u64::MAX));
        assert_eq!(parse_uint("1_000"), Ok(1000));
        assert_eq!(parse_uint("010"), Ok(8));
        assert_eq!(parse_uint("2e3"), Ok(2000));
        assert_eq!(parse_uint("5ms"), Ok(5_000_000));
        assert_eq!(parse_uint("a1111"), Err(IntError::Format("invalid integer")));
        assert_eq!(parse_uint("111a1"), Err(IntError::Format("invalid trailing bytes")));
        assert_eq!(parse_int("-10"), Ok(-10));
        assert_eq!(parse_int("99999999999999999999"), Err(IntError::Overflow));
    }

    #[test]
    fn values_come_from_the_command_line_or_the_default() {
        let r = raw(&["dd", "aa=0xffffffffffffffff", "bb=-10", "cc=False"]);
        assert_eq!(value(&r, &np("aa", ParamValue::UInt(20), "")), Ok(ParamValue::UInt(u64::MAX)));
        assert_eq!(value(&r, &np("bb", ParamValue::Int(-1), "")), Ok(ParamValue::Int(-10)));
        assert_eq!(value(&r, &np("cc", ParamValue::Bool(true), "")), Ok(ParamValue::Bool(false)));
        assert_eq!(value(&r, &np("dd", ParamValue::Bool(false), "")), Ok(ParamValue::Bool(true)));
        assert_eq!(value(&r, &np("ee", ParamValue::Str("hello".into()), "")), Ok(ParamValue::Str("hello".into())));
        assert_eq!(
            value(&raw(&["aa=False"]), &np("aa", ParamValue::UInt(10), "")),
            Err("program command line option --aa invalid integer (value: False)".into())
        );
    }

    #[test]
    fn unknown_options_and_help() {
        let ps = [np("aa", ParamValue::UInt(10), "Description of aa"), np("bb", ParamValue::UInt(1), "")];
        let e = check(&ps, &raw(&["bb", "cc"])).unwrap_err();
        assert_eq!(e.error.as_deref(), Some("unexpected program command line options: --cc"));
        assert_eq!(e.hint.as_deref(), Some("expected program options: --aa: --bb"));
        let e = check(&ps, &raw(&["help"])).unwrap_err();
        assert_eq!(e.error, None);
        assert_eq!(e.hint.as_deref(), Some("expected program options:\n--aa: Description of aa\n--bb"));
        assert!(check(&ps, &raw(&["aa=3"])).is_ok());
    }
}
