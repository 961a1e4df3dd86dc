//! Bytes from the kernel (event records, map keys and values) → the neutral output values.
use crate::resolve;
use ferret_lang::types::{record_types, slot_layout, tuple_layout, AggKind, StackMode, TsAgg, Type, BUF_HEADER};
use ferret_lang::{Action, MapSpec};
use ferret_output::tseries::TsPoint;
use ferret_output::{MapDump, MapValue, Num, Stack, Value};
use std::collections::BTreeMap;

/// What decoding needs beyond the bytes and their type: `strftime()` values carry the id of an
/// action holding their format, a boot-clock time needs the wall-clock time of boot, and stacks
/// and symbols need the stacks map and the symbol tables.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub actions: &'a [Action],
    /// CLOCK_REALTIME at boot, in ns (see [`crate::clock::boot_realtime_ns`]).
    pub boot_realtime_ns: i128,
    pub symbols: &'a dyn Symbols,
    /// Appended to strings that filled their buffer (truncated).
    pub trailer: &'a str,
}

impl Ctx<'_> {
    /// A context for values that hold no timestamps or stacks (tests, tools).
    pub const EMPTY: Ctx<'static> = Ctx { actions: &[], boot_realtime_ns: 0, symbols: &NoSymbols, trailer: ".." };
}

/// Stacks by id and addresses by symbol, for the values that print them.
pub trait Symbols {
    /// The stack recorded under `id`, laid out in `mode`.
    fn stack(&self, id: u64, mode: StackMode) -> Stack;
    /// `ksym(addr)`: the kernel symbol's name, or the address in hex.
    fn ksym(&self, addr: u64) -> String;
    /// `usym(addr)`: the symbol's name in process `pid`, or the address in hex.
    fn usym(&self, addr: u64, pid: u32) -> String;
}

/// No stacks and no symbols: stacks are empty and addresses print in hex.
pub struct NoSymbols;

impl Symbols for NoSymbols {
    fn stack(&self, _: u64, mode: StackMode) -> Stack {
        Stack { mode: output_mode(mode), frames: vec![] }
    }
    fn ksym(&self, addr: u64) -> String {
        format!("0x{addr:x}")
    }
    fn usym(&self, addr: u64, _: u32) -> String {
        format!("0x{addr:x}")
    }
}

/// The renderer's name for a stack mode.
pub fn output_mode(m: StackMode) -> ferret_output::StackMode {
    match m {
        StackMode::Bpftrace => ferret_output::StackMode::Bpftrace,
        StackMode::Perf => ferret_output::StackMode::Perf,
        StackMode::Raw => ferret_output::StackMode::Raw,
        StackMode::BuildId => ferret_output::StackMode::BuildId,
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4).map_or(0, |s| u32::from_ne_bytes(s.try_into().unwrap_or([0; 4])))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8).map_or(0, |s| u64::from_ne_bytes(s.try_into().unwrap_or([0; 8])))
}

/// A `bytes`-wide integer at the start of `b`, sign- or zero-extended.
fn narrow_int(b: &[u8], bytes: u8, signed: bool) -> Value {
    let mut raw = [0u8; 8];
    let n = (bytes as usize).min(b.len());
    raw[..n].copy_from_slice(&b[..n]);
    let v = u64::from_le_bytes(raw);
    let sh = 64 - bytes as u32 * 8;
    if signed {
        Value::Int(((v << sh) as i64) >> sh)
    } else {
        Value::UInt(v)
    }
}

/// A value of type `t` stored at the start of `b`.
pub fn value(b: &[u8], t: &Type, ctx: &Ctx) -> Value {
    match t {
        Type::Int { signed: true, .. } => Value::Int(u64_at(b, 0) as i64),
        Type::Int { signed: false, .. } => Value::UInt(u64_at(b, 0)),
        Type::Stack { mode, .. } => Value::Stack(ctx.symbols.stack(u64_at(b, 0), *mode)),
        Type::Ksym => Value::Str(ctx.symbols.ksym(u64_at(b, 0))),
        Type::Usym => Value::Str(ctx.symbols.usym(u64_at(b, 0), u64_at(b, 8) as u32)),
        // Pointers print in hex, and stay numbers for printf's integer conversions and JSON.
        Type::Ptr { .. } => {
            let p = u64_at(b, 0);
            Value::symbolic(format!("0x{p:x}"), p)
        }
        Type::Bool => Value::Bool(u64_at(b, 0) != 0),
        Type::Enum(def) => {
            let v = u64_at(b, 0);
            def.name_of(v).map_or(Value::UInt(v), |n| Value::symbolic(n, v))
        }
        Type::Str(n) => {
            let s = &b[..(*n as usize).min(b.len())];
            // No NUL in the whole buffer: the string was cut short there (str() reads one byte
            // more than its type keeps, so a string that fits always keeps its NUL).
            match s.iter().position(|&c| c == 0) {
                Some(end) => Value::Str(String::from_utf8_lossy(&s[..end]).into_owned()),
                None => Value::Str(String::from_utf8_lossy(s).into_owned() + ctx.trailer),
            }
        }
        Type::Buffer(n) => {
            let len = u64_at(b, 0).min(*n as u64) as usize;
            let data = b.get(BUF_HEADER as usize..).unwrap_or(&[]);
            Value::Buffer(data[..len.min(data.len())].to_vec())
        }
        Type::Inet => Value::Str(resolve::inet(u64_at(b, 0), b.get(8..).unwrap_or(&[]))),
        Type::MacAddr => Value::Str(b.iter().take(6).map(|x| format!("{x:02X}")).collect::<Vec<_>>().join(":")),
        Type::Resolved(r) => Value::Str(resolve::resolved(*r, u64_at(b, 0))),
        Type::Tuple(ts) => {
            let (offs, _) = tuple_layout(ts);
            Value::Tuple(ts.iter().zip(offs).map(|(t, o)| member(b.get(o as usize..).unwrap_or(&[]), t, ctx)).collect())
        }
        Type::Struct { id, .. } => Value::Record(
            ferret_lang::ktypes::struct_fields(*id)
                .into_iter()
                .map(|(name, f)| {
                    let at = b.get(f.offset as usize..).unwrap_or(&[]);
                    let v = match (f.bitfield, &f.ty) {
                        (Some((shift, width)), _) => {
                            let mut raw = [0u8; 8];
                            let n = ((shift + width).div_ceil(8) as usize).min(8).min(at.len());
                            raw[..n].copy_from_slice(&at[..n]);
                            let v = u64::from_le_bytes(raw) >> shift;
                            Value::UInt(if width >= 64 { v } else { v & ((1u64 << width) - 1) })
                        }
                        (None, t) => member(at, t, ctx),
                    };
                    (name, v)
                })
                .collect(),
        ),
        Type::Record(fs) => {
            let (offs, _) = tuple_layout(&record_types(fs));
            Value::Record(
                fs.iter()
                    .zip(offs)
                    .map(|((n, t), o)| (n.clone(), member(b.get(o as usize..).unwrap_or(&[]), t, ctx)))
                    .collect(),
            )
        }
        Type::Array { elem, len } => {
            // Elements are packed as in C; integers narrower than 8 bytes are widened here.
            let esz = elem.elem_size() as usize;
            let at = |i: usize| b.get(i * esz..).unwrap_or(&[]);
            let elems = (0..*len as usize).map(|i| match **elem {
                Type::Int { bytes, signed } if bytes < 8 => narrow_int(at(i), bytes, signed),
                Type::Bool => Value::Bool(at(i).first().is_some_and(|&c| c != 0)),
                _ => value(at(i), elem, ctx),
            });
            Value::Array(elems.collect())
        }
        Type::Timestamp => {
            let format = match ctx.actions.get(u32_at(b, 0) as usize) {
                Some(Action::Strftime { format }) => format.as_str(),
                _ => "",
            };
            // Clock 1 is the boot clock; any other is already wall-clock time.
            let base = if u32_at(b, 4) == 1 { ctx.boot_realtime_ns } else { 0 };
            Value::Str(crate::clock::strftime(format, base + u64_at(b, 8) as i128))
        }
        _ => Value::None,
    }
}

/// A value of type `t` stored at the start of `b` as a C struct or tuple member: integers and
/// bools at their C width, the rest as [`value`] reads them.
fn member(b: &[u8], t: &Type, ctx: &Ctx) -> Value {
    match t {
        Type::Int { bytes, signed } if *bytes < 8 => narrow_int(b, *bytes, *signed),
        Type::Bool => Value::Bool(b.first().is_some_and(|&c| c != 0)),
        t => value(b, t, ctx),
    }
}

/// Values of an event record's arguments, laid out as the code generator wrote them.
pub fn args(b: &[u8], types: &[Type], ctx: &Ctx) -> Vec<Value> {
    let (offs, _) = slot_layout(types);
    types.iter().zip(offs).map(|(t, o)| value(b.get(o as usize..).unwrap_or(&[]), t, ctx)).collect()
}

/// The key value of a map entry (`None` for maps without keys). Several keys print as a tuple.
fn key(b: &[u8], spec: &MapSpec, ctx: &Ctx) -> Option<Value> {
    spec.key.as_ref().map(|t| value(b, t, ctx))
}

fn num(v: u64, signed: bool) -> Num {
    if signed {
        Num::Signed(v as i64)
    } else {
        Num::Unsigned(v)
    }
}

/// Fold per-CPU copies of an aggregation value into one.
fn reduce(agg: AggKind, per_cpu: &[&[u8]]) -> MapValue {
    let sum = |at: usize| per_cpu.iter().map(|b| u64_at(b, at)).fold(0u64, u64::wrapping_add);
    match agg {
        AggKind::Count => MapValue::Count(sum(0)),
        AggKind::Sum { signed } => MapValue::Sum(num(sum(0), signed)),
        AggKind::Avg { signed } => MapValue::Avg { count: sum(0), total: num(sum(8), signed) },
        AggKind::Stats { signed } => MapValue::Stats { count: sum(0), total: num(sum(8), signed) },
        AggKind::Min { signed } | AggKind::Max { signed } => {
            let is_min = matches!(agg, AggKind::Min { .. });
            let set: Vec<u64> = per_cpu.iter().filter(|b| u64_at(b, 8) != 0).map(|b| u64_at(b, 0)).collect();
            let pick = |a: u64, b: u64| {
                let a_wins = if signed { (a as i64) < (b as i64) } else { a < b };
                if a_wins == is_min {
                    a
                } else {
                    b
                }
            };
            let v = set.into_iter().reduce(pick).unwrap_or(0);
            if is_min {
                MapValue::Min(num(v, signed))
            } else {
                MapValue::Max(num(v, signed))
            }
        }
        AggKind::Hist { .. } | AggKind::LHist { .. } | AggKind::TSeries { .. } => MapValue::Count(sum(0)),
    }
}

/// A whole map as read from the kernel: `(key, value)` byte pairs, per-CPU values concatenated
/// with `stride` bytes per CPU.
pub fn map(spec: &MapSpec, entries: &[(Vec<u8>, Vec<u8>)], stride: usize, ctx: &Ctx) -> MapDump {
    let per_cpu = |v: &[u8]| -> Vec<Vec<u8>> {
        if stride == 0 {
            return vec![v.to_vec()];
        }
        v.chunks(stride).map(|c| c.to_vec()).collect()
    };
    match &spec.value {
        Type::Agg(agg @ (AggKind::Hist { .. } | AggKind::LHist { .. })) => {
            // The bucket index is the key's last 8 bytes; group buckets by the rest of the key.
            let key_len = (spec.key_size as usize).saturating_sub(8);
            // The programs only write buckets below this; a larger index is never trusted with
            // an allocation.
            let buckets = match *agg {
                AggKind::Hist { k } => ferret_output::hist_bucket_count(k),
                AggKind::LHist { min, max, step } => ferret_output::lhist_bucket_count(min, max, step),
                _ => 0,
            };
            let mut groups: BTreeMap<Vec<u8>, Vec<u64>> = BTreeMap::new();
            for (k, v) in entries {
                let bucket = u64_at(k, key_len) as usize;
                if bucket >= buckets || k.len() < key_len {
                    continue;
                }
                let cpus = per_cpu(v);
                let count: u64 = cpus.iter().map(|c| u64_at(c, 0)).sum();
                let b = groups.entry(k[..key_len].to_vec()).or_default();
                if b.len() <= bucket {
                    b.resize(bucket + 1, 0);
                }
                b[bucket] += count;
            }
            let entries = groups
                .into_iter()
                .map(|(k, buckets)| {
                    let mv = match *agg {
                        AggKind::Hist { k } => MapValue::Hist { k, buckets },
                        AggKind::LHist { min, max, step } => MapValue::LHist { min, max, step, buckets },
                        _ => unreachable!("only histograms reach here"),
                    };
                    (key(&k, spec, ctx), mv)
                })
                .collect();
            MapDump::new(&spec.name, entries)
        }
        Type::Agg(AggKind::TSeries { interval_ns, n, agg, signed }) => {
            tseries_map(spec, entries, stride, *interval_ns, *n, *agg, *signed, ctx)
        }
        Type::Agg(agg) => {
            let entries = entries
                .iter()
                .map(|(k, v)| {
                    let cpus = per_cpu(v);
                    let refs: Vec<&[u8]> = cpus.iter().map(|c| c.as_slice()).collect();
                    (key(k, spec, ctx), reduce(*agg, &refs))
                })
                .collect();
            MapDump::new(&spec.name, entries)
        }
        t => {
            let entries = entries.iter().map(|(k, v)| (key(k, spec, ctx), MapValue::Value(value(v, t, ctx)))).collect();
            MapDump::new(&spec.name, entries)
        }
    }
}

/// One bucket of a `tseries()` map over all CPUs, bpftrace's way: copies from the newest epoch
/// are combined (`Last`: the latest write wins; the rest as their aggregation says). A bucket
/// never written gives epoch 0 with value 0, which bpftrace shows too.
fn tseries_bucket(per_cpu: &[&[u8]], agg: TsAgg, signed: bool) -> (u64, u64) {
    let mut best: Option<(u64, u64, u64)> = None; // (epoch, value, meta)
    for c in per_cpu {
        let (val, meta, epoch) = (u64_at(c, 0), u64_at(c, 8), u64_at(c, 16));
        if epoch == 0 {
            continue;
        }
        best = Some(match best {
            Some((e, _, _)) if epoch > e => (epoch, val, meta),
            Some((e, v, m)) if epoch == e => match agg {
                TsAgg::Last if meta > m => (e, val, meta),
                TsAgg::Last => (e, v, m),
                TsAgg::Avg => (e, v.wrapping_add(val), m + meta),
                TsAgg::Sum => (e, v.wrapping_add(val), m),
                TsAgg::Min | TsAgg::Max => {
                    let less = if signed { (val as i64) < (v as i64) } else { val < v };
                    if less == (agg == TsAgg::Min) {
                        (e, val, m)
                    } else {
                        (e, v, m)
                    }
                }
            },
            Some(b) => b,
            None => (epoch, val, meta),
        });
    }
    match best {
        None => (0, 0),
        Some((e, v, m)) if agg == TsAgg::Avg && m > 0 => {
            (e, if signed { ((v as i64) / m as i64) as u64 } else { v / m })
        }
        Some((e, v, _)) => (e, v),
    }
}

/// A `tseries()` map: per key, the intervals from the newest epoch any key wrote back
/// `n` intervals (a key's rows start at its first recorded interval in that window).
#[allow(clippy::too_many_arguments)]
fn tseries_map(
    spec: &MapSpec,
    entries: &[(Vec<u8>, Vec<u8>)],
    stride: usize,
    interval_ns: u64,
    n: u32,
    agg: TsAgg,
    signed: bool,
    ctx: &Ctx,
) -> MapDump {
    let key_len = spec.key_size as usize - 8;
    let mut groups: BTreeMap<Vec<u8>, BTreeMap<u64, u64>> = BTreeMap::new();
    for (k, v) in entries {
        let cpus: Vec<&[u8]> = if stride == 0 { vec![v.as_slice()] } else { v.chunks(stride).collect() };
        let (epoch, val) = tseries_bucket(&cpus, agg, signed);
        groups.entry(k[..key_len].to_vec()).or_default().insert(epoch, val);
    }
    let last = groups.values().filter_map(|g| g.keys().next_back().copied()).max().unwrap_or(u64::MAX);
    let first = last.wrapping_sub(n as u64 - 1);
    let tai = crate::clock::tai_offset_ns();
    let num = |v: u64| if signed { Num::Signed(v as i64) } else { Num::Unsigned(v) };
    let entries = groups
        .into_iter()
        .map(|(k, values)| {
            let latest = values.keys().next_back().copied().unwrap_or(0);
            let start = values.range(first..).next().map_or(last, |(e, _)| *e);
            let epochs: Vec<u64> = if first <= last { (first.max(start)..=last).collect() } else { vec![] };
            let step = match epochs.as_slice() {
                [a, .., b] => (b - a) * interval_ns / (epochs.len() as u64 - 1),
                _ => 0,
            };
            let (unit, digits) = match step {
                s if s >= 1_000_000_000 => ("", 0),
                s if s >= 1_000_000 => ("ms", 3),
                s if s >= 1_000 => ("μs", 6),
                _ => ("ns", 9),
            };
            let header = if unit.is_empty() { "hh:mm:ss".to_string() } else { format!("hh:mm:ss.{unit}") };
            let points = epochs
                .iter()
                .map(|e| {
                    let ns = (*e as i128) * interval_ns as i128 - tai;
                    let (secs, frac) = (ns.div_euclid(1_000_000_000) as i64, ns.rem_euclid(1_000_000_000) as u64);
                    let mut time = crate::clock::format_local("%H:%M:%S", secs);
                    if digits > 0 {
                        time.push_str(&format!(".{:0w$}", frac / 10u64.pow(9 - digits), w = digits as usize));
                    }
                    let iso = format!("{}.{frac:09}", crate::clock::format_local("%Y-%m-%d %H:%M:%S", secs));
                    TsPoint { time, iso, value: values.get(e).map(|v| num(*v)) }
                })
                .collect();
            (key(&k, spec, ctx), MapValue::TSeries { header, points, latest })
        })
        .collect();
    MapDump::new(&spec.name, entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `output` fuzz target: a histogram key whose bucket index is far past the
    /// histogram's buckets made the decoder allocate that many (an out-of-memory abort).
    #[test]
    fn hist_bucket_index_past_the_end_is_skipped() {
        let spec = MapSpec {
            name: "@h".into(),
            map_type: 1,
            key_size: 8,
            value_size: 8,
            max_entries: 8,
            key: None,
            value: Type::Agg(AggKind::Hist { k: 0 }),
        };
        let entries = vec![
            (u64::MAX.to_ne_bytes().to_vec(), 5u64.to_ne_bytes().to_vec()),
            (3u64.to_ne_bytes().to_vec(), 7u64.to_ne_bytes().to_vec()),
        ];
        let dump = map(&spec, &entries, 0, &Ctx::EMPTY);
        let [(_, MapValue::Hist { buckets, .. })] = dump.entries.as_slice() else { panic!("{dump:?}") };
        assert_eq!(buckets, &vec![0, 0, 0, 7]);
    }
}
