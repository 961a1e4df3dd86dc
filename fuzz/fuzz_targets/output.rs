//! printf format strings and the output renderers on arbitrary records: a format and argument
//! types (as sema would type them) and event bytes from the input, decoded as the runtime decodes
//! ring-buffer records, then rendered with printf, as text and as JSON; and map entries of an
//! arbitrary key type and aggregation, decoded and printed as maps are at exit.
#![no_main]
use arbitrary::{Arbitrary, Result, Unstructured};
use ferret_lang::types::{AggKind, Resolve, Type};
use ferret_lang::MapSpec;
use ferret_runtime::decode::{self, Ctx};
use libfuzzer_sys::fuzz_target;

/// A value type as sema gives them, at most `depth` levels of tuples/records/arrays deep.
fn value_type(u: &mut Unstructured, depth: u32) -> Result<Type> {
    let leaf = |u: &mut Unstructured| -> Result<Type> {
        Ok(match u.int_in_range(0..=9)? {
            0 => Type::Int { bytes: *u.choose(&[1u8, 2, 4, 8])?, signed: u.arbitrary()? },
            1 => Type::Bool,
            2 => Type::Str(u.int_in_range(1..=200)?),
            3 => Type::Buffer(u.int_in_range(1..=64)?),
            4 => Type::Inet,
            5 => Type::MacAddr,
            6 => Type::Resolved(*u.choose(&[Resolve::Strerror, Resolve::SignalName, Resolve::SyscallName])?),
            7 => Type::Ksym,
            8 => Type::Usym,
            _ => Type::Timestamp,
        })
    };
    if depth == 0 || u.ratio(2, 3)? {
        return leaf(u);
    }
    Ok(match u.int_in_range(0..=2)? {
        0 => Type::Tuple((0..u.int_in_range(1..=4)?).map(|_| value_type(u, depth - 1)).collect::<Result<_>>()?),
        1 => Type::Record(
            (0..u.int_in_range(1..=4)?)
                .map(|i| Ok((format!("f{i}"), value_type(u, depth - 1)?)))
                .collect::<Result<_>>()?,
        ),
        _ => Type::Array {
            elem: Box::new(Type::Int { bytes: *u.choose(&[1u8, 2, 4, 8])?, signed: u.arbitrary()? }),
            len: u.int_in_range(1..=16)?,
        },
    })
}

/// An aggregation as sema allows it (lhist at most 1000 buckets, hist k ≤ 5).
fn agg(u: &mut Unstructured) -> Result<AggKind> {
    let signed = u.arbitrary()?;
    Ok(match u.int_in_range(0..=7)? {
        0 => AggKind::Count,
        1 => AggKind::Sum { signed },
        2 => AggKind::Min { signed },
        3 => AggKind::Max { signed },
        4 => AggKind::Avg { signed },
        5 => AggKind::Stats { signed },
        6 => AggKind::Hist { k: u.int_in_range(0..=5)? },
        _ => {
            let min: i64 = u.int_in_range(-1_000_000..=1_000_000)?;
            let step: i64 = u.int_in_range(1..=1000)?;
            let n: i64 = u.int_in_range(1..=1000)?;
            AggKind::LHist { min, max: min + step * n, step }
        }
    })
}

fn bytes(u: &mut Unstructured, n: usize) -> Result<Vec<u8>> {
    let mut v = u.bytes(n.min(u.len()))?.to_vec();
    v.resize(n, 0);
    Ok(v)
}

fn run(u: &mut Unstructured) -> Result<()> {
    let ctx = Ctx::EMPTY;
    // An event: printf's format and arguments.
    let fmt = String::arbitrary(u)?;
    let types: Vec<Type> = (0..u.int_in_range(0..=6)?).map(|_| value_type(u, 3)).collect::<Result<_>>()?;
    let (_, size) = ferret_lang::types::slot_layout(&types);
    let record = bytes(u, size as usize)?;
    let values = decode::args(&record, &types, &ctx);
    let _ = ferret_output::printf::Format::parse(&fmt).render(&values);
    let _ = ferret_output::printf::parse(&fmt);
    for v in &values {
        let _ = ferret_output::text::value(v);
        let _ = ferret_output::json::value(v);
    }
    // A map at exit.
    let key = if u.arbitrary()? { Some(value_type(u, 2)?) } else { None };
    let value = if u.arbitrary()? { Type::Agg(agg(u)?) } else { value_type(u, 2)? };
    let is_hist = matches!(value, Type::Agg(AggKind::Hist { .. } | AggKind::LHist { .. }));
    let key_size = key.as_ref().map_or(8, Type::size) + if is_hist { 8 } else { 0 };
    let value_size = value.size().max(8);
    let cpus: usize = u.int_in_range(0..=3)?;
    let stride = if cpus == 0 { 0 } else { value_size as usize };
    let spec = MapSpec { name: "@m".into(), map_type: 1, key_size, value_size, max_entries: 64, key, value };
    let entries = (0..u.int_in_range(0..=8)?)
        .map(|_| Ok((bytes(u, key_size as usize)?, bytes(u, value_size as usize * cpus.max(1))?)))
        .collect::<Result<Vec<_>>>()?;
    let dump = decode::map(&spec, &entries, stride, &ctx);
    let top = u.arbitrary::<Option<u8>>()?.map(usize::from);
    let div = u.arbitrary::<Option<u8>>()?.map(u64::from);
    let _ = ferret_output::text::map(&dump, top, div);
    let _ = ferret_output::json::map(&dump, top, div);
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
