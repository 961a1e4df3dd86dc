//! Turns a [`MapDump`] into what bpftrace actually prints: entries sorted,
//! cut to `top`, divided by `div`, aggregations reduced to printable values.
//!
//! Shared by the text and JSON renderers so both order entries identically.

use std::cmp::Ordering;

use crate::hist::{build_hist, build_lhist, HistRows};
use crate::stlsort;
use crate::value::{MapDump, MapValue, Num, Value};

/// How the JSON renderer tags the map (`"map"`, `"stats"`, `"hist"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Plain,
    Stats,
    Hist,
    TSeries,
}

/// One printable map value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shaped {
    Prim(Value),
    Hist(HistRows),
    TSeries { header: String, points: Vec<crate::tseries::TsPoint> },
}

#[derive(Debug)]
pub(crate) struct ShapedMap<'a> {
    pub kind: Kind,
    /// `None` key = scalar map.
    pub entries: Vec<(Option<&'a Value>, Shaped)>,
}

/// Which of bpftrace's orderings applies to a map, decided by its value
/// type (all entries of one map share it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortBy {
    /// Hist/lhist: ascending total count over all buckets.
    Total,
    /// count/sum/integer values: ascending value.
    Value,
    /// min/max: ascending value compared as *unsigned* 64-bit (bpftrace
    /// reads them as `uint64_t` for sorting, so negatives sort last).
    UnsignedValue,
    /// avg/stats: ascending average.
    Average,
    /// Everything else (strings, tuples, records, booleans, symbolic
    /// values, stacks...): ascending key, see [`key_order`]. `Symbolic`
    /// values are treated as pointers here; bpftrace would sort an
    /// enum-valued map by value, which we cannot tell apart.
    Key,
}

fn sort_by(v: &MapValue) -> SortBy {
    match v {
        MapValue::Hist { .. } | MapValue::LHist { .. } => SortBy::Total,
        MapValue::TSeries { .. } => SortBy::Value,
        MapValue::Count(_) | MapValue::Sum(_) => SortBy::Value,
        MapValue::Value(Value::Int(_) | Value::UInt(_)) => SortBy::Value,
        MapValue::Min(_) | MapValue::Max(_) => SortBy::UnsignedValue,
        MapValue::Avg { .. } | MapValue::Stats { .. } => SortBy::Average,
        MapValue::Value(_) => SortBy::Key,
    }
}

/// `total / count` in the aggregation's signedness; 0 for no samples.
pub(crate) fn average(count: u64, total: Num) -> Num {
    if count == 0 {
        return match total {
            Num::Signed(_) => Num::Signed(0),
            Num::Unsigned(_) => Num::Unsigned(0),
        };
    }
    match total {
        Num::Signed(t) => Num::Signed(t.wrapping_div(count as i64)),
        Num::Unsigned(t) => Num::Unsigned(t / count),
    }
}

fn sort_key(v: &MapValue) -> i128 {
    match v {
        MapValue::Hist { buckets, .. } | MapValue::LHist { buckets, .. } => {
            buckets.iter().fold(0u64, |a, b| a.wrapping_add(*b)) as i128
        }
        MapValue::Count(c) => *c as i128,
        MapValue::TSeries { latest, .. } => *latest as i128,
        MapValue::Sum(n) => n.wide(),
        MapValue::Value(Value::Int(v)) => *v as i128,
        MapValue::Value(Value::UInt(v)) => *v as i128,
        MapValue::Min(n) | MapValue::Max(n) => n.bits() as i128,
        MapValue::Avg { count, total } | MapValue::Stats { count, total } => average(*count, *total).wide(),
        MapValue::Value(_) => 0,
    }
}

/// bpftrace's ordering of keys for maps sorted by key: integers (and enum
/// values) compare as signed 64-bit numbers, strings bytewise; for tuple
/// keys the integer/string fields are compared in order, first field most
/// significant, and fields of any other type are ignored. Keys of other
/// types are not ordered at all (input order is kept).
fn key_order(a: &Value, b: &Value) -> Ordering {
    fn scalar(a: &Value, b: &Value) -> Ordering {
        match (int_like(a), int_like(b)) {
            (Some(x), Some(y)) => return x.cmp(&y),
            (None, None) => {}
            _ => return Ordering::Equal,
        }
        match (a, b) {
            (Value::Str(x), Value::Str(y)) => x.as_bytes().cmp(y.as_bytes()),
            _ => Ordering::Equal,
        }
    }
    match (a, b) {
        (Value::Tuple(xs), Value::Tuple(ys)) => {
            xs.iter().zip(ys).map(|(x, y)| scalar(x, y)).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
        }
        _ => scalar(a, b),
    }
}

fn int_like(v: &Value) -> Option<i64> {
    match v {
        Value::Int(v) => Some(*v),
        Value::UInt(v) => Some(*v as i64),
        Value::Symbolic { value, .. } => Some(*value as i64),
        _ => None,
    }
}

/// Order of the raw key bytes (`memcmp`), which is the order bpftrace
/// collects histogram keys in before its sort by total, and therefore the
/// order of ties for small maps. Integers are little-endian, strings are
/// NUL-padded. For other maps bpftrace's tie order is the kernel's hash
/// order, i.e. arbitrary; we use this same order to stay deterministic.
fn key_bytes_order(a: &Value, b: &Value) -> Ordering {
    fn le(v: &Value) -> Option<[u8; 8]> {
        match v {
            Value::Int(v) => Some(v.to_le_bytes()),
            Value::UInt(v) => Some(v.to_le_bytes()),
            Value::Symbolic { value, .. } => Some(value.to_le_bytes()),
            Value::Bool(b) => Some(u64::from(*b).to_le_bytes()),
            _ => None,
        }
    }
    if let (Some(x), Some(y)) = (le(a), le(b)) {
        return x.cmp(&y);
    }
    let seq = |xs: &[Value], ys: &[Value]| {
        xs.iter().zip(ys).map(|(x, y)| key_bytes_order(x, y)).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
    };
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Buffer(x), Value::Buffer(y)) => {
            (x.len() as u32).to_le_bytes().cmp(&(y.len() as u32).to_le_bytes()).then_with(|| x.cmp(y))
        }
        (Value::Tuple(xs), Value::Tuple(ys)) | (Value::Array(xs), Value::Array(ys)) => seq(xs, ys),
        (Value::Record(xs), Value::Record(ys)) => xs
            .iter()
            .zip(ys)
            .map(|((_, x), (_, y))| key_bytes_order(x, y))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal),
        _ => Ordering::Equal,
    }
}

fn opt_key_bytes_order(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => key_bytes_order(a, b),
        _ => Ordering::Equal,
    }
}

/// Sorts, applies `top` (0 = all) and `div` (0 = 1), and reduces each
/// aggregation to its printed form.
pub(crate) fn shape<'a>(map: &'a MapDump, top: Option<usize>, div: Option<u64>) -> ShapedMap<'a> {
    let div = div.filter(|d| *d != 0).unwrap_or(1);
    let kind = match map.entries.first() {
        Some((_, MapValue::Hist { .. } | MapValue::LHist { .. })) => Kind::Hist,
        Some((_, MapValue::TSeries { .. })) => Kind::TSeries,
        Some((_, v)) if v.is_stats() => Kind::Stats,
        Some(_) => Kind::Plain,
        None if map.stats => Kind::Stats,
        None => Kind::Plain,
    };

    // Each entry with its sort key, computed once (a histogram's total
    // walks all of its buckets).
    let mut order: Vec<(i128, &(Option<Value>, MapValue))> = map.entries.iter().map(|e| (sort_key(&e.1), e)).collect();
    if let Some((_, first)) = map.entries.first() {
        match sort_by(first) {
            SortBy::Key => order.sort_by(|(_, a), (_, b)| match (&a.0, &b.0) {
                (Some(x), Some(y)) => key_order(x, y),
                _ => Ordering::Equal,
            }),
            // Histogram keys arrive in memcmp order and are then sorted
            // with libstdc++'s unstable std::sort, which decides the order
            // of equal totals; replay it exactly.
            SortBy::Total => {
                order.sort_by(|(_, a), (_, b)| opt_key_bytes_order(a.0.as_ref(), b.0.as_ref()));
                stlsort::sort(&mut order, |a, b| a.0 < b.0);
            }
            // bpftrace's input order here is the kernel's hash order, so
            // ties are arbitrary there; order them by key bytes instead.
            _ => {
                order.sort_by(|(_, a), (_, b)| opt_key_bytes_order(a.0.as_ref(), b.0.as_ref()));
                order.sort_by_key(|e| e.0);
            }
        }
    }

    let skip = match top {
        Some(t) if t > 0 && order.len() > t => order.len() - t,
        _ => 0,
    };

    let entries = order.into_iter().skip(skip).map(|(_, (key, value))| (key.as_ref(), reduce(value, div))).collect();
    ShapedMap { kind, entries }
}

fn reduce(v: &MapValue, div: u64) -> Shaped {
    match v {
        MapValue::Value(v) => Shaped::Prim(v.divided(div)),
        MapValue::Count(c) => Shaped::Prim(Value::UInt(c / div)),
        MapValue::Sum(n) | MapValue::Min(n) | MapValue::Max(n) => Shaped::Prim(n.divided(div).to_value()),
        MapValue::Avg { count, total } => Shaped::Prim(average(*count, *total).divided(div).to_value()),
        // Only the average is divided; count and total are printed raw.
        MapValue::Stats { count, total } => {
            let count = match total {
                Num::Signed(_) => Value::Int(*count as i64),
                Num::Unsigned(_) => Value::UInt(*count),
            };
            Shaped::Prim(Value::Record(vec![
                ("count".to_string(), count),
                ("average".to_string(), average_of(v).divided(div).to_value()),
                ("total".to_string(), total.to_value()),
            ]))
        }
        MapValue::Hist { k, buckets } => Shaped::Hist(build_hist(buckets, div, *k)),
        MapValue::LHist { min, max, step, buckets } => Shaped::Hist(build_lhist(buckets, *min, *max, *step)),
        MapValue::TSeries { header, points, .. } => Shaped::TSeries { header: header.clone(), points: points.clone() },
    }
}

fn average_of(v: &MapValue) -> Num {
    match v {
        MapValue::Avg { count, total } | MapValue::Stats { count, total } => average(*count, *total),
        _ => Num::Signed(0),
    }
}
