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
    /// `buf()`: up to `n` raw bytes, stored as a u64 length followed by the `n`-byte data area
    /// (the length is known only at run time when `buf`'s length argument is not a literal).
    Buffer(u32),
    /// `ntop()`: an address family (u64: AF_INET or AF_INET6) and 16 address bytes; user space
    /// prints it as the address text.
    Inet,
    /// `macaddr()`: six bytes of a MAC address (padded to 8), printed `AA:BB:CC:DD:EE:FF`.
    MacAddr,
    /// A u64 that user space turns into text when printing (`strerror()`, `username`,
    /// `cgroup_path()`): see [`Resolve`].
    Resolved(Resolve),
    Tuple(Vec<Type>),
    /// `(a = 1, b = "x")`: a tuple with named fields (same layout as a tuple).
    Record(Vec<(String, Type)>),
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
    /// `kstack`/`ustack`: the u64 id of a stack recorded in the stacks map (see
    /// [`crate::stacks`]); `mode` and `limit` say how it was taken and how it prints.
    Stack {
        user: bool,
        mode: StackMode,
        limit: u16,
    },
    /// `ksym(addr)`: a kernel address (u64) that user space prints as its symbol name.
    Ksym,
    /// `usym(addr)`: a user address and the pid it belongs to (u64 each), printed as the
    /// symbol name.
    Usym,
    /// An aggregation stored in a map (its value is never a plain expression value).
    Agg(AggKind),
    /// `strftime(fmt, ns)`: a boot-clock time in ns plus the id of its format, rendered as text in
    /// user space (see [`TIMESTAMP_SIZE`] for the layout).
    Timestamp,
    /// An integer of a C enum type: prints as the variant's name when it names one.
    Enum(std::sync::Arc<EnumDef>),
    /// A kernel struct or union (from BTF) by value: only ever read member by member, through
    /// the address it lives at. `id` is its vmlinux BTF id.
    Struct {
        name: String,
        id: u32,
        size: u32,
    },
}

/// How user space renders a [`Type::Resolved`] value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resolve {
    /// an errno → its message
    Strerror,
    /// a uid → the user's name
    Username,
    /// a cgroup id → its path in each cgroup hierarchy
    CgroupPath,
    /// a signal number → its description (`Interrupt`)
    SignalName,
    /// a system call number → its name (`openat`)
    SyscallName,
}

impl Resolve {
    pub fn type_name(self) -> &'static str {
        match self {
            Resolve::Strerror => "strerror_t",
            Resolve::Username => "username_t",
            Resolve::CgroupPath => "cgroup_path_t",
            Resolve::SignalName => "signal_name_t",
            Resolve::SyscallName => "syscall_name_t",
        }
    }
}

/// How a stack prints (bpftrace's `stack_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StackMode {
    Bpftrace,
    Perf,
    Raw,
    /// User stacks only: each frame as its file's build id and the file offset.
    BuildId,
}

impl StackMode {
    pub fn parse(s: &str) -> Option<StackMode> {
        Some(match s {
            "bpftrace" => StackMode::Bpftrace,
            "perf" => StackMode::Perf,
            "raw" => StackMode::Raw,
            "build_id" => StackMode::BuildId,
            _ => return None,
        })
    }
}

/// A C enum from the script: its name and variants in declaration order.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct EnumDef {
    pub name: String,
    pub variants: Vec<(String, u64)>,
}

impl EnumDef {
    pub fn name_of(&self, v: u64) -> Option<&str> {
        self.variants.iter().find(|(_, x)| *x == v).map(|(n, _)| n.as_str())
    }
}

/// A [`Type::Timestamp`] value: `u32` format id (an index into the action table), `u32` clock
/// (1 = boot), `u64` nanoseconds.
pub const TIMESTAMP_SIZE: u32 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggKind {
    Count,
    Sum {
        signed: bool,
    },
    Min {
        signed: bool,
    },
    Max {
        signed: bool,
    },
    Avg {
        signed: bool,
    },
    Stats {
        signed: bool,
    },
    Hist {
        k: u32,
    },
    LHist {
        min: i64,
        max: i64,
        step: i64,
    },
    /// `tseries(v, interval, n[, agg])`: one value per time interval, the last `n` kept.
    TSeries {
        interval_ns: u64,
        n: u32,
        agg: TsAgg,
        signed: bool,
    },
}

/// How a `tseries()` interval combines the values written during it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TsAgg {
    /// the most recent value (the default)
    Last,
    Avg,
    Sum,
    Min,
    Max,
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
            AggKind::TSeries { .. } => "tseries",
        }
    }
    /// Keyed by (key, u64 bucket) in the map: histograms and time series.
    pub fn is_bucketed(self) -> bool {
        matches!(self, AggKind::Hist { .. } | AggKind::LHist { .. } | AggKind::TSeries { .. })
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
            // value, meta (count / set flag / timestamp), epoch
            AggKind::TSeries { .. } => 24,
        }
    }
}

/// Bytes before a buffer's data: its length as a u64.
pub const BUF_HEADER: u32 = 8;
/// An `inet` value: u64 address family, then 16 address bytes (IPv4 uses the first 4).
pub const INET_SIZE: u32 = 24;

pub const U64: Type = Type::Int { bytes: 8, signed: false };
pub const I64: Type = Type::Int { bytes: 8, signed: true };
pub const U32: Type = Type::Int { bytes: 4, signed: false };

impl Type {
    pub fn is_int(&self) -> bool {
        matches!(self, Type::Int { .. } | Type::Bool | Type::Ptr { .. } | Type::Stack { .. } | Type::Enum(_))
    }
    pub fn is_str(&self) -> bool {
        matches!(self, Type::Str(_))
    }
    pub fn is_signed(&self) -> bool {
        matches!(self, Type::Int { signed: true, .. })
    }
    /// True for values that live in memory (strings, tuples, buffers) rather than a register.
    pub fn is_aggregate_value(&self) -> bool {
        matches!(
            self,
            Type::Str(_)
                | Type::Buffer(_)
                | Type::Inet
                | Type::MacAddr
                | Type::Tuple(_)
                | Type::Record(_)
                | Type::Array { .. }
                | Type::Timestamp
                | Type::Struct { .. }
                | Type::Usym
        )
    }
    /// The bytes one step of pointer arithmetic moves (`p + 1`): the pointee's size, at least 1.
    /// `None` for non-pointers.
    pub fn ptr_step(&self) -> Option<u32> {
        match self {
            Type::Ptr { pointee, .. } => Some(pointee.elem_size().max(1)),
            _ => None,
        }
    }

    /// Bytes of one element of an array of this type: C's packed layout (`char[4]` is 4 bytes),
    /// unlike the 8 bytes a lone integer takes.
    pub fn elem_size(&self) -> u32 {
        match self {
            Type::Int { bytes, .. } => *bytes as u32,
            Type::Bool => 1,
            other => other.size(),
        }
    }

    /// Bytes a value of this type takes in C memory (struct members): integers at their width.
    pub fn size_in_c(&self) -> u32 {
        match self {
            Type::Int { bytes, .. } => *bytes as u32,
            Type::Bool => 1,
            Type::Array { elem, len } => elem.size_in_c() * len,
            t => t.size(),
        }
    }

    /// Bytes this type takes as a tuple or record member: integers and bools at their C width
    /// (bpftrace's `(int8, int16)` is 4 bytes), everything else as it is stored on its own.
    pub fn member_size(&self) -> u32 {
        match self {
            Type::Int { bytes, .. } => *bytes as u32,
            Type::Bool => 1,
            t => t.size(),
        }
    }

    /// Alignment of this type as a tuple or record member (bpftrace's in-tuple alignment):
    /// integers at their width, strings byte-aligned, arrays at their element's alignment,
    /// structs at their C alignment. ferret's own multi-word values (buffers, inet, usym,
    /// timestamps) hold u64 fields its code reads as such, so they stay 8-byte aligned.
    pub fn member_align(&self) -> u32 {
        match self {
            Type::Int { bytes, .. } => (*bytes as u32).clamp(1, 8),
            Type::Bool | Type::Str(_) | Type::None | Type::Args => 1,
            Type::Array { elem, .. } => elem.member_align(),
            Type::Tuple(ts) => ts.iter().map(Type::member_align).max().unwrap_or(1),
            Type::Record(fs) => fs.iter().map(|(_, t)| t.member_align()).max().unwrap_or(1),
            Type::Struct { id, .. } => crate::ktypes::struct_align(*id),
            _ => 8,
        }
    }

    /// Bytes a value of this type takes in a map key/value or an event record.
    pub fn size(&self) -> u32 {
        match self {
            Type::None | Type::Args => 0,
            Type::Int { .. } | Type::Bool | Type::Ptr { .. } | Type::Stack { .. } | Type::Enum(_) => 8,
            Type::Resolved(_) | Type::Ksym => 8,
            Type::Usym => 16,
            Type::Str(n) => *n,
            Type::Buffer(n) => BUF_HEADER + *n,
            Type::Inet => INET_SIZE,
            Type::MacAddr => 8,
            Type::Tuple(ts) => tuple_layout(ts).1,
            Type::Record(fs) => tuple_layout(&record_types(fs)).1,
            Type::Array { elem, len } => elem.elem_size() * len,
            Type::Agg(a) => a.value_size(),
            Type::Timestamp => TIMESTAMP_SIZE,
            Type::Struct { size, .. } => *size,
        }
    }
}

/// Offsets of tuple (and record) members and the total size, laid out as a C struct like
/// bpftrace does: each member at its [`Type::member_align`], the size rounded up to the largest
/// alignment. Integers and bools take their C width ([`Type::member_size`]). Padding is never
/// written by member stores, so code building a tuple zeroes it first (equal tuple keys must
/// hash equal).
pub fn tuple_layout(ts: &[Type]) -> (Vec<u32>, u32) {
    let mut offs = Vec::with_capacity(ts.len());
    let (mut at, mut align) = (0u32, 1u32);
    for t in ts {
        let a = t.member_align();
        align = align.max(a);
        at = at.next_multiple_of(a);
        offs.push(at);
        at += t.member_size();
    }
    (offs, at.next_multiple_of(align))
}

/// Offsets of event record arguments and the record size: every argument in its own 8-byte
/// slot (scalars stored as u64). Event records are internal to ferret, so they keep the simple
/// layout; user space decodes them with the same function.
pub fn slot_layout(ts: &[Type]) -> (Vec<u32>, u32) {
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
            Type::Inet => write!(f, "inet"),
            Type::MacAddr => write!(f, "macaddr_t"),
            Type::Resolved(r) => write!(f, "{}", r.type_name()),
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
            Type::Record(fs) => {
                write!(f, "record {{ ")?;
                for (i, (n, t)) in fs.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{n}: {t}")?;
                }
                write!(f, " }}")
            }
            Type::Ptr { pointee, .. } => write!(f, "{pointee} *"),
            Type::Array { elem, len } => write!(f, "{elem}[{len}]"),
            Type::Args => write!(f, "args"),
            Type::Stack { user: false, .. } => write!(f, "kstack"),
            Type::Stack { user: true, .. } => write!(f, "ustack"),
            Type::Ksym => write!(f, "ksym_t"),
            Type::Usym => write!(f, "usym_t"),
            Type::Agg(a) => write!(f, "{}_t", a.name()),
            Type::Enum(e) => write!(f, "enum {}", e.name),
            Type::Struct { name, .. } => write!(f, "{name}"),
            Type::Timestamp => write!(f, "timestamp"),
        }
    }
}

/// The member types of a record, in layout order.
pub fn record_types(fs: &[(String, Type)]) -> Vec<Type> {
    fs.iter().map(|(_, t)| t.clone()).collect()
}

/// The type that holds values of both `a` and `b` (strings widen to the longer, tuples and
/// records member by member, integers to 64 bits), or None when they are incompatible.
/// Record fields are matched by name; the result keeps `a`'s order.
pub fn widen(a: &Type, b: &Type) -> Option<Type> {
    Some(match (a, b) {
        (Type::None, t) | (t, Type::None) => t.clone(),
        (Type::Str(x), Type::Str(y)) => Type::Str((*x).max(*y)),
        (Type::Int { bytes: x, signed: s }, Type::Int { bytes: y, signed: t }) => {
            Type::Int { bytes: (*x).max(*y), signed: *s || *t }
        }
        // Pointers of any pointee mix (`$p = args->function; $p = (void *)0;`); the first wins.
        (Type::Ptr { .. }, Type::Ptr { .. }) | (Type::Ptr { .. }, Type::Int { bytes: 8, .. }) => a.clone(),
        (Type::Int { bytes: 8, .. }, Type::Ptr { .. }) => b.clone(),
        (Type::Int { .. }, Type::Enum(_)) => a.clone(),
        (Type::Enum(_), Type::Int { .. }) => b.clone(),
        (Type::Tuple(xs), Type::Tuple(ys)) if xs.len() == ys.len() => {
            Type::Tuple(xs.iter().zip(ys).map(|(x, y)| widen(x, y)).collect::<Option<_>>()?)
        }
        (Type::Record(xs), Type::Record(ys)) if xs.len() == ys.len() => Type::Record(
            xs.iter()
                .map(|(n, x)| ys.iter().find(|(m, _)| m == n).and_then(|(_, y)| widen(x, y)).map(|t| (n.clone(), t)))
                .collect::<Option<_>>()?,
        ),
        (x, y) if x == y => x.clone(),
        _ => return None,
    })
}

/// The value of a constant integer expression (`2`, `-1`, `1 + 1`), if it is one.
pub fn const_int(e: &ferret_syntax::ast::Expr) -> Option<i64> {
    use ferret_syntax::ast::{BinOp, ExprKind, UnOp};
    match &e.kind {
        ExprKind::Int(n) => Some(*n as i64),
        ExprKind::Unary { op: UnOp::Neg, expr } => const_int(expr).map(i64::wrapping_neg),
        ExprKind::Binary { op, lhs, rhs } => {
            let (a, b) = (const_int(lhs)?, const_int(rhs)?);
            Some(match op {
                BinOp::Add => a.wrapping_add(b),
                BinOp::Sub => a.wrapping_sub(b),
                BinOp::Mul => a.wrapping_mul(b),
                BinOp::Div if b != 0 => a / b,
                BinOp::Mod if b != 0 => a % b,
                BinOp::Shl => a.wrapping_shl(b as u32),
                BinOp::Shr => a.wrapping_shr(b as u32),
                BinOp::BitAnd => a & b,
                BinOp::BitOr => a | b,
                BinOp::BitXor => a ^ b,
                _ => return None,
            })
        }
        _ => None,
    }
}
