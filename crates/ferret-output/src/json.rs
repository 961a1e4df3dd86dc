//! bpftrace's `-f json` output: one JSON object per line (NDJSON), with
//! bpftrace master's exact key order and spacing (`": "` and `", "` inside
//! objects, no spaces inside arrays).
//!
//! Every function returns a complete line including its `\n` (or an empty
//! string when bpftrace prints nothing); everything goes to stdout.

use crate::hist::HistRows;
use crate::shape::{shape, Kind, Shaped};
use crate::text;
use crate::value::{MapDump, Value};

/// A JSON string literal with bpftrace's escaping: `"` `\` `\n` `\r` `\t`
/// get backslash escapes, other control bytes `\u00XX`; everything else,
/// including DEL and non-ASCII UTF-8, is copied.
///
/// (bpftrace on x86 escapes bytes >= 0x80 as `\uffffffXX` because `char`
/// is signed there, and leaves the stream in hex mode afterwards; that is a
/// bug producing invalid JSON, so it is not reproduced.)
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) <= 0x1f => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Integers that a double cannot hold exactly are emitted as strings
/// (RFC 8259 interoperability), e.g. `"9007199254740993"`.
fn int(v: i64) -> String {
    let f = v as f64;
    // `f` may be 2^63, which does not round-trip to i64.
    if f >= 9_223_372_036_854_775_808.0 || (f as i64) != v {
        string(&v.to_string())
    } else {
        v.to_string()
    }
}

fn uint(v: u64) -> String {
    let f = v as f64;
    if f >= 18_446_744_073_709_551_616.0 || (f as u64) != v {
        string(&v.to_string())
    } else {
        v.to_string()
    }
}

/// The JSON encoding of a value (no surrounding record), e.g.
/// `[1,"abc",[4,5]]` or `{"m": 2, "n": 3}`.
pub fn encode(v: &Value) -> String {
    match v {
        Value::None => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => int(*i),
        Value::UInt(u) => uint(*u),
        Value::Str(s) => string(s),
        // bpftrace emits each byte as a (signed, on x86) `char` number.
        Value::Buffer(b) => format!("[{}]", b.iter().map(|&x| (x as i8).to_string()).collect::<Vec<_>>().join(",")),
        Value::Symbolic { value, .. } => uint(*value),
        Value::Tuple(vs) | Value::Array(vs) => {
            format!("[{}]", vs.iter().map(encode).collect::<Vec<_>>().join(","))
        }
        Value::Record(fs) => format!(
            "{{{}}}",
            fs.iter().map(|(k, v)| format!("{}: {}", string(k), encode(v))).collect::<Vec<_>>().join(", ")
        ),
        Value::Stack(s) => string(&s.render()),
    }
}

/// A histogram as `[{"min": 2, "max": 3, "count": 1},...]`. `max` is the
/// inclusive upper bound; the negative bucket has no `min`, the lhist
/// overflow bucket no `max`.
fn hist(h: &HistRows) -> String {
    let mut out = String::from("[");
    for (i, count) in h.counts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('{');
        let min = if i == 0 { h.lower_bound.as_ref() } else { h.labels.get(i - 1) };
        if let Some(min) = min {
            out.push_str("\"min\": ");
            out.push_str(&label(min));
            out.push_str(", ");
        }
        if let Some(upper) = h.labels.get(i) {
            out.push_str("\"max\": ");
            out.push_str(&int(upper.one_less()));
            out.push_str(", ");
        }
        // Counts are streamed raw, without the string fallback.
        out.push_str(&format!("\"count\": {count}"));
        out.push('}');
    }
    out.push(']');
    out
}

fn label(l: &crate::hist::Label) -> String {
    match l {
        crate::hist::Label::Int(v) => int(*v),
        crate::hist::Label::Sym { num, .. } => uint(*num),
    }
}

fn shaped(v: &Shaped) -> String {
    match v {
        Shaped::Prim(p) => encode(p),
        Shaped::Hist(h) => hist(h),
        Shaped::TSeries { points, .. } => crate::tseries::json(points),
    }
}

/// Object keys are the text form of the map key with a top-level tuple's
/// parentheses stripped and **all** spaces removed: `"bpftrace,2"`.
fn key(k: &Value) -> String {
    let s: String = text::key_text(k).chars().filter(|c| *c != ' ').collect();
    string(&s)
}

fn record(kind: &str, data: &str) -> String {
    format!("{{\"type\": \"{kind}\", \"data\": {data}}}\n")
}

/// What `print(@m[, top, div])` (and exit-time printing) writes:
/// `{"type": "map", "data": {"@m": {"k": 1, "k2": 2}}}`, type `"hist"` for
/// hist/lhist maps and `"stats"` for avg/stats maps; scalar maps put the
/// value directly under the name. Ordering, `top` and `div` as in
/// [`crate::text::map`]. An empty map prints nothing, except an empty
/// avg/stats map, which bpftrace still prints as `{"@m": {}}`.
pub fn map(m: &MapDump, top: Option<usize>, div: Option<u64>) -> String {
    let s = shape(m, top, div);
    if s.entries.is_empty() && s.kind != Kind::Stats {
        return String::new();
    }
    let kind = match s.kind {
        Kind::Plain => "map",
        Kind::Stats => "stats",
        Kind::Hist => "hist",
        Kind::TSeries => "tseries",
    };
    let body = match s.entries.as_slice() {
        [(None, v), ..] => shaped(v),
        entries => format!(
            "{{{}}}",
            entries
                .iter()
                .map(|(k, v)| match k {
                    Some(k) => format!("{}: {}", key(k), shaped(v)),
                    None => format!("\"\": {}", shaped(v)),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    record(kind, &format!("{{{}: {}}}", string(&m.name), body))
}

/// JSON mode prints nothing when tracing stops (text mode prints two
/// newlines).
pub fn end() -> &'static str {
    ""
}

/// The maps printed at exit, in map-name byte order.
pub fn maps_at_exit(maps: &[MapDump]) -> String {
    let mut sorted: Vec<&MapDump> = maps.iter().collect();
    sorted.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    sorted.into_iter().map(|m| map(m, None, None)).collect()
}

/// `print(v)` of a non-map value: `{"type": "value", "data": 5}`.
pub fn value(v: &Value) -> String {
    record("value", &encode(v))
}

/// `printf()` output: `{"type": "printf", "data": "x 1\n"}`.
pub fn printf(s: &str) -> String {
    record("printf", &string(s))
}

/// `time()` output.
pub fn time(s: &str) -> String {
    record("time", &string(s))
}

/// `cat()` output.
pub fn cat(s: &str) -> String {
    record("cat", &string(s))
}

/// `join()` output (no trailing newline inside the data, unlike text mode).
pub fn join(s: &str) -> String {
    record("join", &string(s))
}

/// `system()` output.
pub fn syscall(s: &str) -> String {
    record("syscall", &string(s))
}

/// `{"type": "lost_events", "count": N, "data": {"events": N}}`.
pub fn lost_events(n: u64) -> String {
    format!("{{\"type\": \"lost_events\", \"count\": {n}, \"data\": {{\"events\": {n}}}}}\n")
}

/// `{"type": "attached_probes", "count": N, "data": {"probes": N}}`.
pub fn attached_probes(n: u64) -> String {
    format!("{{\"type\": \"attached_probes\", \"count\": {n}, \"data\": {{\"probes\": {n}}}}}\n")
}

fn location(filename: &str, line: u64, col: u64) -> String {
    format!(", \"filename\": {}, \"line\": {}, \"col\": {}}}\n", string(filename), uint(line), uint(col))
}

/// A failed helper call (`-k`):
/// `{"type": "helper_error", "msg": "Bad address", "helper": "probe_read_user", "retcode": -14, "filename": "stdin", "line": 1, "col": 87}`.
/// `msg` is `strerror(-retcode)` (JSON mode never uses the friendlier
/// map-full messages of text mode).
pub fn helper_error(msg: &str, helper: &str, retcode: i64, filename: &str, line: u64, col: u64) -> String {
    format!(
        "{{\"type\": \"helper_error\", \"msg\": {}, \"helper\": {}, \"retcode\": {}{}",
        string(msg),
        string(helper),
        int(retcode),
        location(filename, line, col)
    )
}

/// Any other runtime error: `{"type": "runtime_error", "msg": ..., "filename": ..., "line": N, "col": N}`.
pub fn runtime_error(msg: &str, filename: &str, line: u64, col: u64) -> String {
    format!("{{\"type\": \"runtime_error\", \"msg\": {}{}", string(msg), location(filename, line, col))
}

/// `errorf()` output: `{"type": "errorf", "msg": ..., "filename": ..., "line": N, "col": N}`.
pub fn errorf(msg: &str, filename: &str, line: u64, col: u64) -> String {
    format!("{{\"type\": \"errorf\", \"msg\": {}{}", string(msg), location(filename, line, col))
}

/// `warnf()` output, shaped like [`errorf`] with type `"warnf"`.
pub fn warnf(msg: &str, filename: &str, line: u64, col: u64) -> String {
    format!("{{\"type\": \"warnf\", \"msg\": {}{}", string(msg), location(filename, line, col))
}

/// One `--bench` result: `{"type": "benchmark_result", "data": {NAME: {"average": ns, "iters": n}}}`.
pub fn benchmark_result(name: &str, mean_ns: u64, iters: u64) -> String {
    format!(
        "{{\"type\": \"benchmark_result\", \"data\": {{{}: {{\"average\": {mean_ns}, \"iters\": {iters}}}}}}}\n",
        string(name)
    )
}

/// One `--test` result: duration, whether it passed, and what it printed.
pub fn test_result(name: &str, duration_ns: u64, passed: bool, output: &str) -> String {
    format!(
        "{{\"type\": \"test_result\", \"data\": {{{}: {{\"duration\": {duration_ns}, \"passed\": {passed}, \"output\": {}}}}}}}\n",
        string(name),
        string(output)
    )
}
