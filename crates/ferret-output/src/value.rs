//! The neutral value model: what the runtime hands to the renderers.
//!
//! Everything here is plain data. The runtime decodes BPF map / ring-buffer
//! bytes into these types (resolving symbols, enum names, string truncation
//! trailers, ...) and the renderers in [`crate::text`] and [`crate::json`]
//! turn them into bpftrace-identical output.

/// A single printable value (bpftrace's "primitive").
///
/// Text rendering (see [`crate::text::value`]) follows bpftrace master:
///
/// | variant | text | JSON |
/// |---|---|---|
/// | `None` | `null` | `null` |
/// | `Bool` | `true` / `false` | `true` / `false` |
/// | `Int`, `UInt` | decimal | number (a string if not exactly representable as an f64) |
/// | `Str` | raw, unquoted | JSON string |
/// | `Buffer` | printable ASCII kept, other bytes `\xNN` | array of *signed* byte values |
/// | `Symbolic` | `name` | `value` as a number |
/// | `Tuple` | `(1, abc, (2, 3))` | `[1,"abc",[2,3]]` |
/// | `Array` | `[1,2,3]` | `[1,2,3]` |
/// | `Record` | `{ .a = 1, .b = x }`, empty `{}` | `{"a": 1, "b": "x"}` |
/// | `Stack` | newline, then one line per frame (see [`Stack`]) | that text as a string |
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Absent / void value. bpftrace master prints it as `null` in both
    /// text and JSON (e.g. an unsupported union member in a struct).
    None,
    Bool(bool),
    /// Any signed integer (narrower C types are sign-extended by the caller).
    Int(i64),
    /// Any unsigned integer (narrower C types are zero-extended).
    UInt(u64),
    /// A string; the runtime has already cut it at the NUL and appended the
    /// truncation trailer (`..`) where bpftrace would.
    Str(String),
    /// A `buf()` value: raw bytes.
    Buffer(Vec<u8>),
    /// A value with both a symbolic and a numeric form: enum variants
    /// (`name` = `"ONE"`), pointers (`name` = `"0x7ffd1234"`), `usym`/`ksym`
    /// fallbacks. Text prints `name`, JSON prints `value`, `printf("%d")`
    /// uses `value` and `printf("%s")` uses `name`.
    Symbolic {
        name: String,
        value: u64,
    },
    Tuple(Vec<Value>),
    /// C arrays (struct fields like `int x[4]`).
    Array(Vec<Value>),
    /// Structs and bpftrace records, fields in declaration order.
    Record(Vec<(String, Value)>),
    Stack(Stack),
}

impl Value {
    /// Convenience constructor for [`Value::Str`].
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    /// Convenience constructor for [`Value::Symbolic`].
    pub fn symbolic(name: impl Into<String>, value: u64) -> Value {
        Value::Symbolic { name: name.into(), value }
    }

    /// Applies `print(@m, top, div)`'s divisor the way bpftrace does: every
    /// integer inside the value (recursing into tuples, arrays and records)
    /// is divided; symbolic values (enums, pointers), booleans, strings,
    /// buffers and stacks are left alone. Division truncates toward zero.
    pub fn divided(&self, div: u64) -> Value {
        if div <= 1 {
            return self.clone();
        }
        match self {
            Value::Int(v) => Value::Int(div_i64(*v, div)),
            Value::UInt(v) => Value::UInt(v / div),
            Value::Tuple(vs) => Value::Tuple(vs.iter().map(|v| v.divided(div)).collect()),
            Value::Array(vs) => Value::Array(vs.iter().map(|v| v.divided(div)).collect()),
            Value::Record(fs) => Value::Record(fs.iter().map(|(k, v)| (k.clone(), v.divided(div))).collect()),
            other => other.clone(),
        }
    }
}

/// Signed division by an unsigned divisor as C++ does it for
/// `int64_t / uint32_t` (the divisor is converted to `int64_t`).
pub(crate) fn div_i64(v: i64, div: u64) -> i64 {
    match i64::try_from(div) {
        Ok(d) if d != 0 => v.wrapping_div(d),
        // A divisor that does not fit in i64 makes every quotient 0.
        _ => 0,
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::UInt(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(v)
    }
}

/// How a stack is laid out, bpftrace's `stack_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StackMode {
    /// Eight spaces, then the symbol: `        vfs_read+12`.
    #[default]
    Bpftrace,
    /// Tab, hex address, space, symbol: `\tffffffff81b954cc vfs_read+12`.
    Perf,
    /// The bare hex address; `sym` is ignored.
    Raw,
    /// `sym` as it is, unindented (`ustack(build_id)`: `<build id> 0x<file offset>`).
    BuildId,
}

/// One stack line. Inlined frames share an address and appear as several
/// consecutive frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackFrame {
    /// Instruction address. `u64::MAX` is bpftrace's "unwind failure"
    /// marker: it prints `        <unwind failure>` (in every mode) and ends
    /// the stack.
    pub addr: u64,
    /// Symbolized frame, e.g. `vfs_read+12` or `main+4@/src/a.c:10`.
    pub sym: String,
}

/// A `kstack`/`ustack` value with already-symbolized frames.
///
/// Rendered (in text, JSON strings, `%s` and map keys alike) as `"\n"`
/// followed by one `\n`-terminated line per frame, so a keyed stack prints
/// as `@[\n        f1\n        f2\n]: 5`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stack {
    pub mode: StackMode,
    pub frames: Vec<StackFrame>,
}

impl Stack {
    /// A bpftrace-mode stack from symbol strings (addresses unknown).
    pub fn from_symbols<I, S>(syms: I) -> Stack
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Stack {
            mode: StackMode::Bpftrace,
            frames: syms.into_iter().map(|s| StackFrame { addr: 0, sym: s.into() }).collect(),
        }
    }

    /// The exact text bpftrace produces for this stack.
    pub fn render(&self) -> String {
        const PADDING: &str = "        ";
        let mut out = String::from("\n");
        for f in &self.frames {
            if f.addr == u64::MAX {
                out.push_str(PADDING);
                out.push_str("<unwind failure>\n");
                break;
            }
            match self.mode {
                StackMode::Bpftrace => {
                    out.push_str(PADDING);
                    out.push_str(&f.sym);
                }
                StackMode::Perf => {
                    out.push('\t');
                    out.push_str(&format!("{:x} ", f.addr));
                    out.push_str(&f.sym);
                }
                StackMode::Raw => out.push_str(&format!("{:x}", f.addr)),
                StackMode::BuildId => out.push_str(&f.sym),
            }
            out.push('\n');
        }
        out
    }
}

/// An aggregation's integer, signed or unsigned depending on the argument
/// type (bpftrace keeps `sum(uint64)` unsigned and `sum(int64)` signed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Num {
    Signed(i64),
    Unsigned(u64),
}

impl Num {
    /// Value widened for comparisons.
    pub(crate) fn wide(self) -> i128 {
        match self {
            Num::Signed(v) => v as i128,
            Num::Unsigned(v) => v as i128,
        }
    }

    /// The 64 bits reinterpreted as unsigned.
    pub(crate) fn bits(self) -> u64 {
        match self {
            Num::Signed(v) => v as u64,
            Num::Unsigned(v) => v,
        }
    }

    pub(crate) fn divided(self, div: u64) -> Num {
        match self {
            Num::Signed(v) => Num::Signed(div_i64(v, div)),
            Num::Unsigned(v) => Num::Unsigned(v / div.max(1)),
        }
    }

    pub(crate) fn to_value(self) -> Value {
        match self {
            Num::Signed(v) => Value::Int(v),
            Num::Unsigned(v) => Value::UInt(v),
        }
    }
}

impl From<i64> for Num {
    fn from(v: i64) -> Self {
        Num::Signed(v)
    }
}

impl From<u64> for Num {
    fn from(v: u64) -> Self {
        Num::Unsigned(v)
    }
}

/// The value stored under one map key, after the runtime has reduced the
/// per-CPU copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapValue {
    /// A plain assigned value (`@x = 5`, `@s[k] = "str"`, tuples, ...).
    Value(Value),
    /// `count()`.
    Count(u64),
    /// `sum()`.
    Sum(Num),
    /// `min()`.
    Min(Num),
    /// `max()`.
    Max(Num),
    /// `avg()`: printed as `total / count` (0 when `count` is 0).
    Avg { count: u64, total: Num },
    /// `stats()`: printed as `{ .count = C, .average = A, .total = T }`.
    Stats { count: u64, total: Num },
    /// `hist(v, k)`: `buckets[i]` is the count of bucket
    /// [`hist_index`](crate::hist::hist_index)` == i`; missing trailing
    /// buckets count as zero.
    Hist { k: u32, buckets: Vec<u64> },
    /// `lhist(v, min, max, step)`: `buckets[i]` is the count of bucket
    /// [`lhist_index`](crate::hist::lhist_index)` == i`.
    LHist { min: i64, max: i64, step: i64, buckets: Vec<u64> },
    /// `tseries()`: the intervals to show, oldest first; `header` titles the time column
    /// (`hh:mm:ss.ms`); `latest` (the newest epoch written) orders keys.
    TSeries { header: String, points: Vec<crate::tseries::TsPoint>, latest: u64 },
}

impl MapValue {
    pub(crate) fn is_stats(&self) -> bool {
        matches!(self, MapValue::Avg { .. } | MapValue::Stats { .. })
    }
}

/// A whole map as read from the kernel, ready to be printed.
///
/// * `name` includes the sigil: `"@x"`, or `"@"` for the anonymous map.
/// * `entries` are in any order (the renderer sorts exactly like bpftrace);
///   the key is `None` for a scalar map (`@x = 1`), which has at most one
///   entry.
/// * For `print(@scalar)` of an *empty* non-histogram scalar map bpftrace
///   prints the type's zero value (`@x: 0`,
///   `@s: { .count = 0, .average = 0, .total = 0 }`, `@r: { .a = 0, .b = (0, ) }`).
///   The renderer cannot know the type, so the caller supplies that zero
///   entry. At exit, empty maps are simply passed with no entries.
/// * `stats` marks an `avg()`/`stats()` map. It only matters when `entries`
///   is empty: bpftrace's JSON output then still prints
///   `{"type": "stats", "data": {"@x": {}}}`. [`MapDump::new`] infers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapDump {
    pub name: String,
    pub entries: Vec<(Option<Value>, MapValue)>,
    pub stats: bool,
}

impl MapDump {
    /// Builds a dump, inferring `stats` from the entries.
    pub fn new(name: impl Into<String>, entries: Vec<(Option<Value>, MapValue)>) -> MapDump {
        let stats = entries.first().is_some_and(|(_, v)| v.is_stats());
        MapDump { name: name.into(), entries, stats }
    }

    /// A scalar map holding one value.
    pub fn scalar(name: impl Into<String>, value: MapValue) -> MapDump {
        MapDump::new(name, vec![(None, value)])
    }
}
