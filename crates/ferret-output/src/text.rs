//! bpftrace's default text output, byte-exact with bpftrace master.
//!
//! Every function returns the exact bytes bpftrace writes, including the
//! trailing newlines; the doc comment says which stream they go to.

use crate::hist::{single_value, HistRows, Label};
use crate::shape::{shape, Shaped};
use crate::value::{MapDump, Value};

/// An output sink that mimics the one piece of C++ iostream state that
/// leaks into bpftrace's output: `printf` sets width/fill/alignment/showpos
/// on a stream and then lets the ordinary value printer write to it. The
/// width applies to the *first* write only (iostreams reset it after each
/// formatted insertion); `showpos` applies to every signed integer.
/// For plain text rendering all of this is off.
pub(crate) struct Out {
    buf: Vec<u8>,
    width: usize,
    fill: u8,
    left: bool,
    showpos: bool,
}

impl Out {
    pub(crate) fn new() -> Out {
        Out::with_format(0, b' ', false, false)
    }

    pub(crate) fn with_format(width: usize, fill: u8, left: bool, showpos: bool) -> Out {
        Out { buf: Vec::new(), width, fill, left, showpos }
    }

    /// One formatted insertion.
    pub(crate) fn put(&mut self, s: &[u8]) {
        let pad = self.width.saturating_sub(s.len());
        self.width = 0;
        if !self.left {
            self.buf.resize(self.buf.len() + pad, self.fill);
        }
        self.buf.extend_from_slice(s);
        if self.left {
            self.buf.resize(self.buf.len() + pad, self.fill);
        }
    }

    pub(crate) fn put_str(&mut self, s: &str) {
        self.put(s.as_bytes());
    }

    pub(crate) fn put_i64(&mut self, v: i64) {
        if self.showpos && v >= 0 {
            self.put_str(&format!("+{v}"));
        } else {
            self.put_str(&v.to_string());
        }
    }

    /// Unsigned integers never get a `+` (libstdc++ only adds it to
    /// signed types).
    pub(crate) fn put_u64(&mut self, v: u64) {
        self.put_str(&v.to_string());
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    fn into_string(self) -> String {
        String::from_utf8(self.buf).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

/// bpftrace's `hex_format_buffer`: with `keep_ascii`, bytes 32..=126 are
/// copied; other bytes become `\xNN` with `escape_hex`, or bare `NN`
/// separated by single spaces without it (`%rh`).
pub(crate) fn hex_buffer(data: &[u8], keep_ascii: bool, escape_hex: bool) -> String {
    let mut s = String::with_capacity(data.len() * 4);
    for (i, &b) in data.iter().enumerate() {
        if keep_ascii && (32..=126).contains(&b) {
            s.push(b as char);
        } else if escape_hex {
            s.push_str(&format!("\\x{b:02x}"));
        } else if i == data.len() - 1 {
            s.push_str(&format!("{b:02x}"));
        } else {
            s.push_str(&format!("{b:02x} "));
        }
    }
    s
}

/// Writes `v` as a sequence of insertions, exactly as bpftrace's text
/// emitter does (this granularity matters only for `printf("%10s", tuple)`).
pub(crate) fn emit(out: &mut Out, v: &Value) {
    match v {
        Value::None => out.put_str("null"),
        Value::Bool(b) => out.put_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.put_i64(*i),
        Value::UInt(u) => out.put_u64(*u),
        Value::Str(s) => out.put_str(s),
        Value::Buffer(b) => out.put_str(&hex_buffer(b, true, true)),
        Value::Symbolic { name, .. } => out.put_str(name),
        Value::Tuple(vs) => {
            // Tuples are spaced, arrays are not.
            out.put_str("(");
            for (i, e) in vs.iter().enumerate() {
                if i > 0 {
                    out.put_str(", ");
                }
                emit(out, e);
            }
            out.put_str(")");
        }
        Value::Array(vs) => {
            out.put_str("[");
            for (i, e) in vs.iter().enumerate() {
                if i > 0 {
                    out.put_str(",");
                }
                emit(out, e);
            }
            out.put_str("]");
        }
        Value::Record(fs) => {
            if fs.is_empty() {
                out.put_str("{}");
                return;
            }
            out.put_str("{ ");
            for (i, (k, e)) in fs.iter().enumerate() {
                if i > 0 {
                    out.put_str(", ");
                }
                out.put_str(".");
                out.put_str(k);
                out.put_str(" = ");
                emit(out, e);
            }
            out.put_str(" }");
        }
        Value::Stack(s) => out.put_str(&s.render()),
    }
}

/// The text form of a value, no newline: `1`, `abc`, `(1, abc)`,
/// `{ .a = 1 }`, `[1,2]`. Also what `printf("%s")` prints.
pub fn value(v: &Value) -> String {
    let mut out = Out::new();
    emit(&mut out, v);
    out.into_string()
}

/// What `print(v)` of a non-map value writes to stdout: the value and a
/// newline.
pub fn value_line(v: &Value) -> String {
    let mut s = value(v);
    s.push('\n');
    s
}

/// Key text inside `@m[...]`: a top-level tuple loses its parentheses
/// (bpftrace strips any text that starts with `(` and ends with `)`).
pub(crate) fn key_text(key: &Value) -> String {
    let s = value(key);
    strip_parens(&s).to_string()
}

pub(crate) fn strip_parens(s: &str) -> &str {
    if s.len() >= 2 && s.starts_with('(') && s.ends_with(')') {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

fn label_text(l: &Label) -> String {
    l.text()
}

/// Histogram rows, each `label(16, left) count(8, right) |bar(52)|`.
fn hist_rows(out: &mut String, h: &HistRows) {
    const MAX_WIDTH: usize = 52;
    let max_value = h.counts.iter().copied().max().unwrap_or(0);
    for (i, &count) in h.counts.iter().enumerate() {
        // bpftrace computes `(count / (float)max) * 52` in single precision
        // and truncates; keep f32 so rounding matches. (All-zero counts,
        // possible after a divisor, would be 0/0 in bpftrace; draw no bar.)
        let bar = if max_value == 0 { 0 } else { ((count as f32 / max_value as f32) * MAX_WIDTH as f32) as usize };
        let header = if i == 0 {
            match (&h.lower_bound, h.labels.first()) {
                (None, Some(l)) => format!("(..., {})", label_text(l)),
                (Some(lb), None) => format!("[{}, ...)", label_text(lb)),
                (Some(lb), Some(l)) if single_value(lb, l) => format!("[{}]", label_text(lb)),
                (Some(lb), Some(l)) => format!("[{}, {})", label_text(lb), label_text(l)),
                (None, None) => "(..., ...)".to_string(),
            }
        } else if i >= h.labels.len() {
            format!("[{}, ...)", label_text(&h.labels[i - 1]))
        } else if single_value(&h.labels[i - 1], &h.labels[i]) {
            format!("[{}]", label_text(&h.labels[i - 1]))
        } else {
            format!("[{}, {})", label_text(&h.labels[i - 1]), label_text(&h.labels[i]))
        };
        let bar = "@".repeat(bar.min(MAX_WIDTH));
        out.push_str(&format!("{header:<16}{count:>8} |{bar:<52}|\n"));
    }
}

/// What `print(@m)` / `print(@m, top, div)` writes to stdout.
///
/// * scalar: `@x: 5\n`; keyed: `@x[k1, k2]: 5\n` per entry.
/// * histograms: `@h:\n` (or `@h[k]:\n`), one row per bucket from the
///   first to the last non-empty one, then an empty line.
/// * avg: `@a: 2`; stats: `@s: { .count = 3, .average = 2, .total = 6 }`.
/// * An empty map prints nothing.
///
/// Entries are sorted as bpftrace does (by value for count/sum/min/max/avg/
/// stats and integer maps, by total count for histograms, by key
/// otherwise), `top` keeps the last N (`Some(0)` = all) and `div` divides
/// printed values (`Some(0)` = 1; lhist and the count/total of stats are
/// not divided).
pub fn map(m: &MapDump, top: Option<usize>, div: Option<u64>) -> String {
    let shaped = shape(m, top, div);
    let mut out = String::new();
    for (key, v) in &shaped.entries {
        out.push_str(&m.name);
        if let Some(k) = key {
            out.push('[');
            out.push_str(&key_text(k));
            out.push(']');
        }
        match v {
            Shaped::Prim(p) => {
                out.push_str(": ");
                out.push_str(&value(p));
                out.push('\n');
            }
            Shaped::Hist(h) => {
                out.push_str(":\n");
                hist_rows(&mut out, h);
                out.push('\n');
            }
            Shaped::TSeries { header, points } => {
                out.push_str(":\n");
                out.push_str(&crate::tseries::graph(header, points));
                out.push('\n');
            }
        }
    }
    out
}

/// What bpftrace writes to stdout when tracing stops, before the maps:
/// two newlines (printed even if no map follows).
pub fn end() -> &'static str {
    "\n\n"
}

/// The maps printed at exit (after [`end`]), in map-name byte order, each
/// as by [`map`] with no top/div. Empty maps print nothing.
pub fn maps_at_exit(maps: &[MapDump]) -> String {
    let mut sorted: Vec<&MapDump> = maps.iter().collect();
    sorted.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    sorted.into_iter().map(|m| map(m, None, None)).collect()
}

/// `Attached N probe(s)` line, written to **stderr** (v0.24+).
pub fn attached_probes(n: u64) -> String {
    if n == 1 {
        format!("Attached {n} probe\n")
    } else {
        format!("Attached {n} probes\n")
    }
}

/// Lost-events notice, written to **stderr**.
pub fn lost_events(n: u64) -> String {
    format!("Lost {n} events\n")
}

/// `join()` output: the joined string and a newline (stdout).
pub fn join(s: &str) -> String {
    format!("{s}\n")
}

/// `system()` output: the command's output and a newline (stdout).
pub fn syscall(s: &str) -> String {
    format!("{s}\n")
}

/// Message body of a helper-error warning (the caller prefixes the
/// `file:line:col: WARNING: ` location and appends the source context).
/// `helper` is the kernel helper name without `bpf_` (`map_update_elem`),
/// `strerror` the C `strerror(-retcode)` text.
pub fn helper_error_message(helper: &str, retcode: i32, strerror: &str) -> String {
    const E2BIG: i32 = 7;
    const ENOENT: i32 = 2;
    let msg = if helper == "map_update_elem" && retcode == -E2BIG {
        "Map full; can't update element. Try increasing max_map_keys config or manually \
         setting the max entries in a map declaration e.g. `let @a = hash(5000)`"
    } else if helper == "map_delete_elem" && retcode == -ENOENT {
        "Can't delete map element because it does not exist."
    } else if helper == "map_lookup_elem" {
        // bpftrace reports lookups with retcode 0, so it does not check it.
        "Can't lookup map element because it does not exist."
    } else {
        strerror
    };
    format!("{msg}\nAdditional Info - helper: {helper}, retcode: {retcode}")
}

/// The column width of benchmark names: at least 40, or the longest name.
fn bench_name_width(names: &[String]) -> usize {
    names.iter().map(|n| n.len()).max().unwrap_or(0).max(40)
}

/// The header of `--bench` results (before the first row): column titles and a dashed rule.
pub fn benchmark_header(names: &[String]) -> String {
    let w = bench_name_width(names) + 1;
    format!("{:<w$}{:<15}Iterations\n{}\n", "Benchmark", "Time(ns)", "-".repeat(w + 15 + "Iterations".len()))
}

/// One `--bench` result row: name, mean nanoseconds per run, runs.
pub fn benchmark_row(names: &[String], name: &str, mean_ns: u64, iters: u64) -> String {
    let w = bench_name_width(names) + 1;
    format!("{name:<w$}{mean_ns:<15}{iters}\n")
}

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const RESET: &str = "\x1b[0m";

/// A duration as `N unit` in the largest unit it reaches (ns, us, ms, s).
fn duration(ns: u64) -> String {
    let (scale, unit) = match ns {
        1_000_000_000.. => (1_000_000_000, "s"),
        1_000_000.. => (1_000_000, "ms"),
        1_000.. => (1_000, "us"),
        _ => (1, "ns"),
    };
    format!("{} {unit}", ns / scale)
}

/// The lines `--test` prints for one test, gtest style: a banner before the first, RUN, the
/// test's output only when it failed, OK or FAILED with its time, and after the last a summary.
pub fn test_result(names: &[String], index: usize, duration_ns: u64, passed: &[bool], output: &str) -> String {
    let mut s = String::new();
    let name = &names[index];
    if index == 0 {
        s += &format!("{GREEN}[==========]{RESET} Running {} tests.\n", names.len());
    }
    s += &format!("{GREEN}[ RUN      ]{RESET} {name}\n");
    if passed[index] {
        s += &format!("{GREEN}[       OK ]{RESET} {name}");
    } else {
        for line in output.lines().filter(|l| !l.is_empty()) {
            s += line;
            s.push('\n');
        }
        s += &format!("{RED}[  FAILED  ]{RESET} {name}");
    }
    s += &format!(" ({})\n", duration(duration_ns));
    if index + 1 == names.len() {
        let plural = |n: usize| if n == 1 { "test" } else { "tests" };
        let ok = passed.iter().filter(|p| **p).count();
        let failed = passed.len() - ok;
        s += &format!("{GREEN}[==========]{RESET} {} {} ran.\n", names.len(), plural(names.len()));
        s += &format!("{GREEN}[  PASSED  ]{RESET} {ok} {}.\n", plural(ok));
        if failed > 0 {
            s += &format!("{RED}[  FAILED  ]{RESET} {failed} {}, listed below:\n", plural(failed));
            for (n, _) in names.iter().zip(passed).filter(|(_, p)| !**p) {
                s += &format!("{RED}[  FAILED  ]{RESET} {n}\n");
            }
        }
    }
    s
}
