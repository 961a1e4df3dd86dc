//! The types of the typed tree: what every expression, variable and map holds.
use std::fmt;

/// Where a pointer points: reads of it use the matching probe_read helper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddrSpace {
    Kernel,
    User,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Type {
    /// Nothing: statements, `exit()`, unknown map values before inference.
    None,
    Int {
        bytes: u8,
        signed: bool,
    },
    Bool,
    /// A NUL-terminated string held in a buffer of `n` bytes (including the NUL).
    Str(u32),
    /// Raw bytes of a fixed length (`buf()`).
    Buffer(u32),
    Tuple(Vec<Type>),
    /// A pointer; `pointee` is a description for printing only until BTF types arrive.
    Ptr {
        space: AddrSpace,
        pointee: Box<Type>,
    },
    /// A fixed-size array (tracepoint `char comm[16]`-style fields that are not strings).
    Array {
        elem: Box<Type>,
        len: u32,
    },
    /// The tracepoint `args` record: fields are read from the context.
    Args,
    /// A stack id (kernel or user) stored as a u64.
    Stack {
        user: bool,
    },
    /// An aggregation stored in a map (its value is never a plain expression value).
    Agg(AggKind),
    /// `strftime(fmt, ns)`: a boot-clock time in ns plus the id of its format, rendered as text in
    /// user space (see [`TIMESTAMP_SIZE`] for the layout).
    Timestamp,
}

/// A [`Type::Timestamp`] value: `u32` format id (an index into the action table), `u32` clock
/// (1 = boot), `u64` nanoseconds.
pub const TIMESTAMP_SIZE: u32 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggKind {
    Count,
    Sum { signed: bool },
    Min { signed: bool },
    Max { signed: bool },
    Avg { signed: bool },
    Stats { signed: bool },
    Hist { k: u32 },
    LHist { min: i64, max: i64, step: i64 },
}

impl AggKind {
    pub fn name(self) -> &'static str {
        match self {
            AggKind::Count => "count",
            AggKind::Sum { .. } => "sum",
            AggKind::Min { .. } => "min",
            AggKind::Max { .. } => "max",
            AggKind::Avg { .. } => "avg",
            AggKind::Stats { .. } => "stats",
            AggKind::Hist { .. } => "hist",
            AggKind::LHist { .. } => "lhist",
        }
    }
    pub fn is_hist(self) -> bool {
        matches!(self, AggKind::Hist { .. } | AggKind::LHist { .. })
    }
    /// Bytes of one (per-CPU) value in the map.
    pub fn value_size(self) -> u32 {
        match self {
            AggKind::Count | AggKind::Sum { .. } => 8,
            // value + "was set" count: an untouched CPU must not count as a 0.
            AggKind::Min { .. } | AggKind::Max { .. } => 16,
            // count + total
            AggKind::Avg { .. } | AggKind::Stats { .. } => 16,
            // Histograms keep one u64 per (key, bucket): the bucket index is the last key field.
            AggKind::Hist { .. } | AggKind::LHist { .. } => 8,
        }
    }
}

pub const U64: Type = Type::Int { bytes: 8, signed: false };
pub const I64: Type = Type::Int { bytes: 8, signed: true };
pub const U32: Type = Type::Int { bytes: 4, signed: false };

impl Type {
    pub fn is_int(&self) -> bool {
        matches!(self, Type::Int { .. } | Type::Bool | Type::Ptr { .. } | Type::Stack { .. })
    }
    pub fn is_str(&self) -> bool {
        matches!(self, Type::Str(_))
    }
    pub fn is_signed(&self) -> bool {
        matches!(self, Type::Int { signed: true, .. })
    }
    /// True for values that live in memory (strings, tuples, buffers) rather than a register.
    pub fn is_aggregate_value(&self) -> bool {
        matches!(self, Type::Str(_) | Type::Buffer(_) | Type::Tuple(_) | Type::Array { .. } | Type::Timestamp)
    }
    /// Bytes a value of this type takes in a map key/value or an event record.
    pub fn size(&self) -> u32 {
        match self {
            Type::None | Type::Args => 0,
            Type::Int { .. } | Type::Bool | Type::Ptr { .. } | Type::Stack { .. } => 8,
            Type::Str(n) | Type::Buffer(n) => *n,
            Type::Tuple(ts) => tuple_layout(ts).1,
            Type::Array { elem, len } => elem.size() * len,
            Type::Agg(a) => a.value_size(),
            Type::Timestamp => TIMESTAMP_SIZE,
        }
    }
}

/// Offsets of tuple members (each 8-byte aligned, so keys have no uninitialised holes) and the size.
pub fn tuple_layout(ts: &[Type]) -> (Vec<u32>, u32) {
    let mut offs = Vec::with_capacity(ts.len());
    let mut at = 0u32;
    for t in ts {
        offs.push(at);
        at += t.size().div_ceil(8) * 8;
    }
    (offs, at)
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::None => write!(f, "none"),
            Type::Int { bytes, signed } => write!(f, "{}int{}", if *signed { "" } else { "u" }, bytes * 8),
            Type::Bool => write!(f, "bool"),
            Type::Str(n) => write!(f, "string[{n}]"),
            Type::Buffer(n) => write!(f, "buffer[{n}]"),
            Type::Tuple(ts) => {
                write!(f, "(")?;
                for (i, t) in ts.iter().enumerate() {
                    if i > 0 {
                        write!(f, ",")?;
                    }
                    write!(f, "{t}")?;
                }
                write!(f, ")")
            }
            Type::Ptr { pointee, .. } => write!(f, "{pointee} *"),
            Type::Array { elem, len } => write!(f, "{elem}[{len}]"),
            Type::Args => write!(f, "args"),
            Type::Stack { user: false } => write!(f, "kstack"),
            Type::Stack { user: true } => write!(f, "ustack"),
            Type::Agg(a) => write!(f, "{}_t", a.name()),
            Type::Timestamp => write!(f, "timestamp"),
        }
    }
}
