//! Expected outputs taken from bpftrace master's own test suite
//! (tests/runtime/* EXPECT lines, tests/runtime/outputs/*, tests/output.cpp).
//! Each test rebuilds the map a bpftrace program would produce and checks
//! the rendered bytes.

use ferret_output::printf::Format;
use ferret_output::{
    hist_bucket_count, hist_index, json, lhist_bucket_count, lhist_index, text, MapDump, MapValue, Num, Stack,
    StackFrame, StackMode, Value,
};

fn hist_of(values: &[i64], k: u32) -> MapValue {
    let mut buckets = vec![0u64; hist_bucket_count(k)];
    for &v in values {
        buckets[hist_index(v, k)] += 1;
    }
    MapValue::Hist { k, buckets }
}

fn lhist_of(values: &[i64], min: i64, max: i64, step: i64) -> MapValue {
    let mut buckets = vec![0u64; lhist_bucket_count(min, max, step)];
    for &v in values {
        buckets[lhist_index(v, min, max, step)] += 1;
    }
    MapValue::LHist { min, max, step, buckets }
}

fn avg_of(values: &[i64]) -> MapValue {
    MapValue::Avg { count: values.len() as u64, total: Num::Signed(values.iter().sum()) }
}

fn stats_of(values: &[i64]) -> MapValue {
    MapValue::Stats { count: values.len() as u64, total: Num::Signed(values.iter().sum()) }
}

fn key(v: impl Into<Value>) -> Option<Value> {
    Some(v.into())
}

fn tuple(vs: Vec<Value>) -> Value {
    Value::Tuple(vs)
}

/// Removes whitespace outside string literals, to compare our compact
/// NDJSON with the pretty-printed expected files (bpftrace's runner parses
/// those, so only content and key order are significant there).
fn squeeze_json(s: &str) -> String {
    let mut out = String::new();
    let mut in_str = false;
    let mut escaped = false;
    for c in s.chars() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '"' {
            in_str = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------- text

#[test]
fn hist_txt() {
    // call: begin { @=hist(-1); @=hist(2); @=hist(3); @=hist(7); @=hist(20); }
    let m = MapDump::scalar("@", hist_of(&[-1, 2, 3, 7, 20], 0));
    assert_eq!(
        text::map(&m, None, None),
        "@:
(..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[0]                    0 |                                                    |
[1]                    0 |                                                    |
[2, 4)                 2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[4, 8)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[8, 16)                0 |                                                    |
[16, 32)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |

"
    );
}

#[test]
fn hist_2_values_txt() {
    let m = MapDump::scalar("@", hist_of(&[3, 20], 0));
    assert_eq!(
        text::map(&m, None, None),
        "@:
[2, 4)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[4, 8)                 0 |                                                    |
[8, 16)                0 |                                                    |
[16, 32)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

"
    );
}

#[test]
fn hist_spec_example_with_suffixes() {
    // The spec's example values -5, 0, 1, 2, 3, 1024, 3M (master header).
    let m = MapDump::scalar("@h", hist_of(&[-5, 0, 1, 2, 3, 1024, 3 << 20], 0));
    let out = text::map(&m, None, None);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "@h:");
    assert_eq!(lines[1], "(..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |");
    assert_eq!(lines[2], "[0]                    1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |");
    assert_eq!(lines[4], "[2, 4)                 2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|");
    assert_eq!(lines[12], "[512, 1K)              0 |                                                    |");
    assert_eq!(lines[13], "[1K, 2K)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |");
    assert_eq!(lines[23], "[1M, 2M)               0 |                                                    |");
    assert_eq!(lines[24], "[2M, 4M)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |");
    assert_eq!(lines.len(), 26);
    assert!(out.ends_with("|\n\n"));
}

#[test]
fn lhist_txt() {
    // call: @=lhist(2,0,10,2); 3; 7; -1; 11
    let m = MapDump::scalar("@", lhist_of(&[2, 3, 7, -1, 11], 0, 10, 2));
    assert_eq!(
        text::map(&m, None, None),
        "@:
(..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[0, 2)                 0 |                                                    |
[2, 4)                 2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[4, 6)                 0 |                                                    |
[6, 8)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[8, 10)                0 |                                                    |
[10, ...)              1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |

"
    );
}

fn lhist_buckets(min: i64, max: i64, step: i64, buckets: Vec<u64>) -> MapDump {
    MapDump::scalar("@mymap", MapValue::LHist { min, max, step, buckets })
}

#[test]
fn lhist_no_suffix() {
    // tests/output.cpp: 640000 could be written 625K, but step 10000 is not
    // a multiple of 1024, so no bucket uses a suffix.
    let m = lhist_buckets(610000, 670000, 10000, vec![0, 1, 1, 1, 1, 1, 1, 0]);
    assert_eq!(
        text::map(&m, None, None),
        "@mymap:
[610000, 620000)       1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[620000, 630000)       1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[630000, 640000)       1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[640000, 650000)       1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[650000, 660000)       1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[660000, 670000)       1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

"
    );
}

#[test]
fn lhist_suffix() {
    let m = lhist_buckets(0, 5 * 1024, 1024, vec![0, 1, 1, 1, 1, 1, 0]);
    assert_eq!(
        text::map(&m, None, None),
        "@mymap:
[0, 1K)                1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[1K, 2K)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[2K, 3K)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[3K, 4K)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[4K, 5K)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

"
    );
}

#[test]
fn lhist_overflow_and_underflow_only() {
    let mut b = vec![0; 12];
    b[11] = 1;
    assert_eq!(
        text::map(&lhist_buckets(0, 100, 10, b), None, None),
        "@mymap:
[100, ...)             1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

"
    );
    let mut b = vec![0; 12];
    b[0] = 1;
    assert_eq!(
        text::map(&lhist_buckets(10, 110, 10, b), None, None),
        "@mymap:
(..., 10)              1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

"
    );
}

#[test]
fn lhist_step_one_prints_single_values() {
    let m = MapDump::scalar("@", lhist_of(&[0, 1, 1], 0, 10, 1));
    assert_eq!(
        text::map(&m, None, None),
        "@:
[0]                    1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[1]                    2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

"
    );
}

#[test]
fn keyed_hist_blocks() {
    // call: @["ok_key"] = hist(1) -> "@[ok_key]:" header.
    let m = MapDump::new("@", vec![(key("ok_key"), hist_of(&[1], 0)), (key("b"), hist_of(&[1, 1], 0))]);
    assert_eq!(
        text::map(&m, None, None),
        "@[ok_key]:
[1]                    1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

@[b]:
[1]                    2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

"
    );
}

#[test]
fn buffer_keys_in_hist() {
    // call: @[buf("ok_key", 7), 1] = hist(1) -> "@[ok_key\x00, 1]:"
    let m = MapDump::new(
        "@",
        vec![(key(tuple(vec![Value::Buffer(b"ok_key\0".to_vec()), Value::Int(1)])), hist_of(&[1], 0))],
    );
    assert!(text::map(&m, None, None).starts_with("@[ok_key\\x00, 1]:\n"));
}

#[test]
fn aggregations_text() {
    let cases = [
        (MapDump::scalar("@sum", MapValue::Sum(6i64.into())), "@sum: 6\n"),
        (MapDump::scalar("@avg", avg_of(&[1, 2, 3])), "@avg: 2\n"),
        (MapDump::scalar("@min", MapValue::Min(1i64.into())), "@min: 1\n"),
        (MapDump::scalar("@max", MapValue::Max(3i64.into())), "@max: 3\n"),
        (MapDump::scalar("@stats", stats_of(&[1, 2, 3])), "@stats: { .count = 3, .average = 2, .total = 6 }\n"),
        (
            // intcast: stats((int32)retval) with 221 samples of -10
            MapDump::scalar("@", stats_of(&[-10; 221])),
            "@: { .count = 221, .average = -10, .total = -2210 }\n",
        ),
        (MapDump::scalar("@", stats_of(&[])), "@: { .count = 0, .average = 0, .total = 0 }\n"),
        (MapDump::scalar("@", avg_of(&[-1, -1, -10])), "@: -4\n"),
        (MapDump::scalar("@", MapValue::Sum(Num::Signed(-10))), "@: -10\n"),
        (MapDump::new("@", vec![(key(-100i64), MapValue::Count(1))]), "@[-100]: 1\n"),
    ];
    for (m, want) in cases {
        assert_eq!(text::map(&m, None, None), want);
    }
}

#[test]
fn print_avg_map_args() {
    // print(@, 2, 10) and print(@, 10, 10) of avg(10..40) under "a".."d".
    let m = MapDump::new(
        "@",
        vec![
            (key("b"), avg_of(&[20])),
            (key("d"), avg_of(&[40])),
            (key("a"), avg_of(&[10])),
            (key("c"), avg_of(&[30])),
        ],
    );
    assert_eq!(text::map(&m, Some(2), Some(10)), "@[c]: 3\n@[d]: 4\n");
    assert_eq!(text::map(&m, Some(10), Some(10)), "@[a]: 1\n@[b]: 2\n@[c]: 3\n@[d]: 4\n");
    assert_eq!(json::map(&m, Some(2), Some(10)), "{\"type\": \"stats\", \"data\": {\"@\": {\"c\": 3, \"d\": 4}}}\n");
    assert_eq!(
        json::map(&m, Some(10), Some(10)),
        "{\"type\": \"stats\", \"data\": {\"@\": {\"a\": 1, \"b\": 2, \"c\": 3, \"d\": 4}}}\n"
    );
}

#[test]
fn print_hist_with_top_arg() {
    let m = MapDump::new(
        "@",
        vec![(key(1i64), hist_of(&[10], 0)), (key(2i64), hist_of(&[20], 0)), (key(3i64), hist_of(&[30], 0))],
    );
    assert_eq!(
        json::map(&m, Some(2), None),
        "{\"type\": \"hist\", \"data\": {\"@\": {\"2\": [{\"min\": 16, \"max\": 31, \"count\": 1}], \"3\": [{\"min\": 16, \"max\": 31, \"count\": 1}]}}}\n"
    );
    assert_eq!(
        json::map(&m, Some(10), None),
        "{\"type\": \"hist\", \"data\": {\"@\": {\"1\": [{\"min\": 8, \"max\": 15, \"count\": 1}], \"2\": [{\"min\": 16, \"max\": 31, \"count\": 1}], \"3\": [{\"min\": 16, \"max\": 31, \"count\": 1}]}}}\n"
    );
    let t = text::map(&m, Some(2), None);
    assert!(t.starts_with("@[2]:\n"));
    assert!(t.contains("\n\n@[3]:\n"));
}

#[test]
fn values_text() {
    let cases: Vec<(Value, &str)> = vec![
        (Value::Int(5), "5"),
        (Value::str("bpftrace"), "bpftrace"),
        (tuple(vec![Value::Int(1), Value::Int(2), Value::str("string")]), "(1, 2, string)"),
        (tuple(vec![Value::Int(1), tuple(vec![Value::Int(2), Value::str("XXXX")])]), "(1, (2, XXXX))"),
        (Value::Array(vec![Value::Int(1), Value::Int(2), Value::Int(3), Value::Int(4)]), "[1,2,3,4]"),
        (
            Value::Array(vec![
                Value::Array(vec![Value::Int(5), Value::Int(6)]),
                Value::Array(vec![Value::Int(7), Value::Int(8)]),
            ]),
            "[[5,6],[7,8]]",
        ),
        (Value::Record(vec![("m".into(), Value::Int(2)), ("n".into(), Value::Int(3))]), "{ .m = 2, .n = 3 }"),
        (
            Value::Record(vec![
                ("y".into(), Value::Record(vec![("m".into(), Value::Array(vec![Value::Int(2)]))])),
                ("a".into(), Value::Record(vec![("n".into(), Value::Int(3))])),
            ]),
            "{ .y = { .m = [2] }, .a = { .n = 3 } }",
        ),
        (
            Value::Record(vec![("a".into(), Value::Int(0)), ("b".into(), tuple(vec![Value::Int(0), Value::str("")]))]),
            "{ .a = 0, .b = (0, ) }",
        ),
        (Value::Record(vec![]), "{}"),
        (tuple(vec![Value::Bool(true), Value::Bool(false)]), "(true, false)"),
        (Value::Array(vec![Value::Bool(true), Value::Bool(false)]), "[true,false]"),
        (Value::Buffer(b"ok_value".to_vec()), "ok_value"),
        (Value::symbolic("0x33", 0x33), "0x33"),
        (tuple(vec![Value::symbolic("ONE", 1), Value::symbolic("TWO", 2)]), "(ONE, TWO)"),
        (Value::None, "null"),
    ];
    for (v, want) in cases {
        assert_eq!(text::value(&v), want);
    }
    assert_eq!(text::value_line(&Value::Int(5)), "5\n");
}

#[test]
fn map_keys_text() {
    let one = || Value::symbolic("ONE", 1);
    let two = || Value::symbolic("TWO", 2);
    let m = MapDump::new("@", vec![(key(tuple(vec![one(), two(), one()])), MapValue::Value(Value::Int(-1)))]);
    assert_eq!(text::map(&m, None, None), "@[ONE, TWO, ONE]: -1\n");

    let arr = Value::Array(vec![Value::Int(1), Value::Int(2), Value::Int(3), Value::Int(4)]);
    let m = MapDump::new("@x", vec![(key(tuple(vec![arr.clone(), Value::Int(42)])), MapValue::Value(Value::Int(0)))]);
    assert_eq!(text::map(&m, None, None), "@x[[1,2,3,4], 42]: 0\n");
    let m = MapDump::new("@x", vec![(key(arr), MapValue::Value(Value::Int(0)))]);
    assert_eq!(text::map(&m, None, None), "@x[[1,2,3,4]]: 0\n");

    let m = MapDump::new("@a", vec![(key(true), MapValue::Value(Value::Bool(false)))]);
    assert_eq!(text::map(&m, None, None), "@a[true]: false\n");

    let m = MapDump::new("@x", vec![(key(tuple(vec![Value::Int(2), Value::Int(1)])), MapValue::Value(Value::Int(2)))]);
    assert_eq!(text::map(&m, None, None), "@x[2, 1]: 2\n");
}

#[test]
fn stack_keys() {
    let m = MapDump::new(
        "@",
        vec![(Some(Value::Stack(Stack::from_symbols(["folios_put_refs+86", "free_pages+198"]))), MapValue::Count(1))],
    );
    assert_eq!(text::map(&m, None, None), "@[\n        folios_put_refs+86\n        free_pages+198\n]: 1\n");
    let perf = Stack {
        mode: StackMode::Perf,
        frames: vec![StackFrame { addr: 0xffffffff81b954cc, sym: "iowrite16+12".into() }],
    };
    let m = MapDump::new("@k", vec![(Some(Value::Stack(perf)), MapValue::Count(1))]);
    assert_eq!(text::map(&m, None, None), "@k[\n\tffffffff81b954cc iowrite16+12\n]: 1\n");
    let raw = Stack {
        mode: StackMode::Raw,
        frames: vec![
            StackFrame { addr: 0xabc, sym: String::new() },
            StackFrame { addr: u64::MAX, sym: String::new() },
            StackFrame { addr: 0xdef, sym: String::new() },
        ],
    };
    assert_eq!(raw.render(), "\nabc\n        <unwind failure>\n");
}

#[test]
fn map_ordering() {
    // Sorted ascending by value; ties in key byte order.
    let m = MapDump::new(
        "@c",
        vec![
            (key(tuple(vec![Value::str("foo"), Value::Int(2)])), MapValue::Count(1)),
            (key(tuple(vec![Value::str("bar"), Value::Int(3)])), MapValue::Count(2)),
            (key(tuple(vec![Value::str("baz"), Value::Int(1)])), MapValue::Count(1)),
        ],
    );
    assert_eq!(text::map(&m, None, None), "@c[baz, 1]: 1\n@c[foo, 2]: 1\n@c[bar, 3]: 2\n");
    // min/max sort as unsigned: negatives last.
    let m =
        MapDump::new("@m", vec![(key("a"), MapValue::Min(Num::Signed(-1))), (key("b"), MapValue::Min(Num::Signed(5)))]);
    assert_eq!(text::map(&m, None, None), "@m[b]: 5\n@m[a]: -1\n");
    // String values are sorted by key: ints numerically, strings bytewise.
    let m = MapDump::new(
        "@s",
        vec![
            (key(10i64), MapValue::Value(Value::str("x"))),
            (key(-2i64), MapValue::Value(Value::str("y"))),
            (key(3i64), MapValue::Value(Value::str("z"))),
        ],
    );
    assert_eq!(text::map(&m, None, None), "@s[-2]: y\n@s[3]: z\n@s[10]: x\n");
    let m = MapDump::new(
        "@s",
        vec![
            (key("b"), MapValue::Value(Value::str("1"))),
            (key("ab"), MapValue::Value(Value::str("2"))),
            (key("a"), MapValue::Value(Value::str("3"))),
        ],
    );
    assert_eq!(text::map(&m, None, None), "@s[a]: 3\n@s[ab]: 2\n@s[b]: 1\n");
    // Hist maps by total count.
    let m = MapDump::new(
        "@",
        vec![(key("curl"), hist_of(&[-1, 0, 511, 1024, 1025], 0)), (key("bpftrace"), hist_of(&[2], 0))],
    );
    assert!(text::map(&m, None, None).starts_with("@[bpftrace]:\n"));
}

#[test]
fn div_applies_to_values() {
    let m = MapDump::new("@", vec![(key("a"), MapValue::Count(25)), (key("b"), MapValue::Sum(Num::Signed(-25)))]);
    assert_eq!(text::map(&m, None, Some(10)), "@[b]: -2\n@[a]: 2\n");
    let m = MapDump::scalar("@t", MapValue::Value(tuple(vec![Value::Int(10), Value::symbolic("0x64", 100)])));
    assert_eq!(text::map(&m, None, Some(10)), "@t: (1, 0x64)\n");
    // Hist counts are divided, lhist counts are not.
    let m = MapDump::scalar("@", hist_of(&[1; 20], 0));
    assert!(text::map(&m, None, Some(10)).contains("[1]                    2 |"));
    let m = MapDump::scalar("@", lhist_of(&[1; 20], 0, 10, 1));
    assert!(text::map(&m, None, Some(10)).contains("[1]                   20 |"));
}

#[test]
fn empty_maps_and_exit() {
    let empty = MapDump::new("@x", vec![]);
    assert_eq!(text::map(&empty, None, None), "");
    assert_eq!(json::map(&empty, None, None), "");
    let mut empty_stats = MapDump::new("@s", vec![]);
    empty_stats.stats = true;
    assert_eq!(text::map(&empty_stats, None, None), "");
    assert_eq!(json::map(&empty_stats, None, None), "{\"type\": \"stats\", \"data\": {\"@s\": {}}}\n");
    // Zeroed histogram (zero(@h)): header and blank line only.
    let zero = MapDump::scalar("@h", MapValue::Hist { k: 0, buckets: vec![0; 65] });
    assert_eq!(text::map(&zero, None, None), "@h:\n\n");
    assert_eq!(json::map(&zero, None, None), "{\"type\": \"hist\", \"data\": {\"@h\": []}}\n");

    let maps = vec![
        MapDump::scalar("@m", MapValue::Value(Value::Int(5))),
        MapDump::new(
            "@c",
            vec![
                (key(tuple(vec![Value::str("bar"), Value::Int(3)])), MapValue::Count(2)),
                (key(tuple(vec![Value::str("foo"), Value::Int(2)])), MapValue::Count(1)),
            ],
        ),
        MapDump::new("@a", vec![(key(1i64), MapValue::Count(1))]),
        MapDump::new("@empty", vec![]),
        MapDump::scalar("@", MapValue::Count(7)),
        MapDump::scalar("@t", MapValue::Value(tuple(vec![Value::Int(1), Value::str("x")]))),
        MapDump::new("@str", vec![(key("a"), MapValue::Value(Value::str("hello")))]),
    ];
    assert_eq!(
        format!("{}{}", text::end(), text::maps_at_exit(&maps)),
        "\n\n@: 7\n@a[1]: 1\n@c[foo, 2]: 1\n@c[bar, 3]: 2\n@m: 5\n@str[a]: hello\n@t: (1, x)\n"
    );
    assert_eq!(json::end(), "");
}

#[test]
fn misc_text_events() {
    assert_eq!(text::attached_probes(1), "Attached 1 probe\n");
    assert_eq!(text::attached_probes(3), "Attached 3 probes\n");
    assert_eq!(text::lost_events(12), "Lost 12 events\n");
    assert_eq!(text::join("a b"), "a b\n");
    assert_eq!(
        text::helper_error_message("probe_read_user", -14, "Bad address"),
        "Bad address\nAdditional Info - helper: probe_read_user, retcode: -14"
    );
    assert!(text::helper_error_message("map_update_elem", -7, "x").starts_with("Map full;"));
}

// ---------------------------------------------------------------- json

#[test]
fn json_expect_lines() {
    let tup =
        tuple(vec![Value::Int(1), Value::Int(2), Value::str("string"), tuple(vec![Value::Int(4), Value::Int(5)])]);
    assert_eq!(
        json::map(&MapDump::scalar("@", MapValue::Value(tup)), None, None),
        "{\"type\": \"map\", \"data\": {\"@\": [1,2,\"string\",[4,5]]}}\n"
    );
    let foo = Value::Record(vec![("m".into(), Value::Int(2)), ("n".into(), Value::Int(3))]);
    assert_eq!(
        json::map(&MapDump::scalar("@", MapValue::Value(tuple(vec![Value::Int(0), foo.clone()]))), None, None),
        "{\"type\": \"map\", \"data\": {\"@\": [0,{\"m\": 2, \"n\": 3}]}}\n"
    );
    assert_eq!(
        json::map(
            &MapDump::scalar(
                "@",
                MapValue::Value(tuple(vec![Value::Int(1), Value::Int(2), Value::str("string with \"quotes\"")]))
            ),
            None,
            None
        ),
        "{\"type\": \"map\", \"data\": {\"@\": [1,2,\"string with \\\"quotes\\\"\"]}}\n"
    );
    let rec = Value::Record(vec![
        ("a".into(), Value::Int(0)),
        ("b".into(), Value::Int(1)),
        ("c".into(), Value::str("str")),
        ("d".into(), tuple(vec![Value::Int(5), Value::Int(6)])),
        ("e".into(), Value::Record(vec![("x".into(), Value::Int(1)), ("y".into(), Value::Int(2))])),
    ]);
    assert_eq!(
        json::map(&MapDump::scalar("@a", MapValue::Value(rec)), None, None),
        "{\"type\": \"map\", \"data\": {\"@a\": {\"a\": 0, \"b\": 1, \"c\": \"str\", \"d\": [5,6], \"e\": {\"x\": 1, \"y\": 2}}}}\n"
    );
    assert_eq!(json::value(&Value::Int(5)), "{\"type\": \"value\", \"data\": 5}\n");
    assert_eq!(json::value(&Value::str("bpftrace")), "{\"type\": \"value\", \"data\": \"bpftrace\"}\n");
    assert_eq!(
        json::value(&tuple(vec![Value::Int(1), Value::Int(2), Value::str("string")])),
        "{\"type\": \"value\", \"data\": [1,2,\"string\"]}\n"
    );
    assert_eq!(json::value(&foo), "{\"type\": \"value\", \"data\": {\"m\": 2, \"n\": 3}}\n");
    assert_eq!(
        json::value(&tuple(vec![Value::Bool(true), Value::Bool(false)])),
        "{\"type\": \"value\", \"data\": [true,false]}\n"
    );
    assert_eq!(
        json::value(&Value::Record(vec![
            ("m".into(), Value::Int(2)),
            ("n".into(), Value::Record(vec![("i".into(), Value::Int(5)), ("f".into(), Value::None)])),
        ])),
        "{\"type\": \"value\", \"data\": {\"m\": 2, \"n\": {\"i\": 5, \"f\": null}}}\n"
    );
    // Enums and pointers print their number in JSON.
    assert_eq!(json::value(&Value::symbolic("FOO", 333)), "{\"type\": \"value\", \"data\": 333}\n");
    assert_eq!(
        json::map(&MapDump::scalar("@", MapValue::Value(Value::symbolic("0x32", 0x32))), None, None),
        "{\"type\": \"map\", \"data\": {\"@\": 50}}\n"
    );
    assert_eq!(json::printf("test 5"), "{\"type\": \"printf\", \"data\": \"test 5\"}\n");
    assert_eq!(
        json::printf("test \r \n \t \\ \" bar"),
        "{\"type\": \"printf\", \"data\": \"test \\r \\n \\t \\\\ \\\" bar\"}\n"
    );
    assert_eq!(json::syscall("a b c\n"), "{\"type\": \"syscall\", \"data\": \"a b c\\n\"}\n");
    assert_eq!(json::join("/bin/echo,'A'"), "{\"type\": \"join\", \"data\": \"/bin/echo,'A'\"}\n");
    assert_eq!(json::attached_probes(1), "{\"type\": \"attached_probes\", \"count\": 1, \"data\": {\"probes\": 1}}\n");
    assert_eq!(json::lost_events(3), "{\"type\": \"lost_events\", \"count\": 3, \"data\": {\"events\": 3}}\n");
    assert_eq!(
        json::helper_error("Bad address", "probe_read_user", -14, "stdin", 1, 87),
        "{\"type\": \"helper_error\", \"msg\": \"Bad address\", \"helper\": \"probe_read_user\", \"retcode\": -14, \"filename\": \"stdin\", \"line\": 1, \"col\": 87}\n"
    );
    assert_eq!(
        json::errorf("bad", "stdin", 1, 9),
        "{\"type\": \"errorf\", \"msg\": \"bad\", \"filename\": \"stdin\", \"line\": 1, \"col\": 9}\n"
    );
}

#[test]
fn json_output_files() {
    let cases: Vec<(MapDump, &str)> = vec![
        (
            MapDump::scalar("@scalar", MapValue::Value(Value::Int(5))),
            r#"{"type": "map", "data": {
  "@scalar": 5
}}"#,
        ),
        (
            MapDump::scalar("@scalar_str", MapValue::Value(Value::str("a b \n d e"))),
            r#"{"type": "map", "data": {
  "@scalar_str": "a b \n d e"
}}"#,
        ),
        (
            MapDump::new(
                "@complex",
                vec![(key(tuple(vec![Value::str("bpftrace"), Value::Int(2)])), MapValue::Value(Value::Int(5)))],
            ),
            r#"{"type": "map", "data": {
  "@complex": {
    "bpftrace,2": 5}
}}"#,
        ),
        (
            MapDump::new(
                "@map",
                vec![(key("key2"), MapValue::Value(Value::Int(3))), (key("key1"), MapValue::Value(Value::Int(2)))],
            ),
            r#"{"type": "map", "data": {
  "@map": {
    "key1": 2,
    "key2": 3}
}}"#,
        ),
        (
            MapDump::scalar("@hist", hist_of(&[2, 1025], 0)),
            r#"{"type": "hist", "data": {
  "@hist": [
      {"min": 2, "max": 3, "count": 1},
      {"min": 4, "max": 7, "count": 0},
      {"min": 8, "max": 15, "count": 0},
      {"min": 16, "max": 31, "count": 0},
      {"min": 32, "max": 63, "count": 0},
      {"min": 64, "max": 127, "count": 0},
      {"min": 128, "max": 255, "count": 0},
      {"min": 256, "max": 511, "count": 0},
      {"min": 512, "max": 1023, "count": 0},
      {"min": 1024, "max": 2047, "count": 1}
    ]
}}"#,
        ),
        (
            MapDump::scalar("@", hist_of(&[10 << 30], 0)),
            r#"{"type": "hist", "data": {"@": [{"min": 8589934592, "max": 17179869183, "count": 1}]}}"#,
        ),
        (
            MapDump::new(
                "@",
                vec![(key("curl"), hist_of(&[-1, 0, 511, 1024, 1025], 0)), (key("bpftrace"), hist_of(&[2], 0))],
            ),
            r#"{"type": "hist", "data": {
  "@": {
    "bpftrace": [
      {"min": 2, "max": 3, "count": 1}
    ], "curl": [
      {"max": -1, "count": 1},
      {"min": 0, "max": 0, "count": 1},
      {"min": 1, "max": 1, "count": 0},
      {"min": 2, "max": 3, "count": 0},
      {"min": 4, "max": 7, "count": 0},
      {"min": 8, "max": 15, "count": 0},
      {"min": 16, "max": 31, "count": 0},
      {"min": 32, "max": 63, "count": 0},
      {"min": 64, "max": 127, "count": 0},
      {"min": 128, "max": 255, "count": 0},
      {"min": 256, "max": 511, "count": 1},
      {"min": 512, "max": 1023, "count": 0},
      {"min": 1024, "max": 2047, "count": 2}
    ]}
}}"#,
        ),
        (
            MapDump::new(
                "@",
                vec![
                    (key(tuple(vec![Value::str("curl"), Value::Int(3)])), hist_of(&[511, 1024], 0)),
                    (key(tuple(vec![Value::str("bpftrace"), Value::Int(2)])), hist_of(&[2], 0)),
                ],
            ),
            r#"{"type": "hist", "data": {"@": {
		"bpftrace,2": [{"min": 2, "max": 3, "count": 1}],
		"curl,3": [{"min": 256, "max": 511, "count": 1},
		  {"min": 512, "max": 1023, "count": 0},
		  {"min": 1024, "max": 2047, "count": 1}]}}}"#,
        ),
        (
            MapDump::scalar("@h", lhist_of(&[2, 50, 1000], 0, 100, 10)),
            r#"{"type": "hist", "data": {
  "@h": [
      {"min": 0, "max": 9, "count": 1},
      {"min": 10, "max": 19, "count": 0},
      {"min": 20, "max": 29, "count": 0},
      {"min": 30, "max": 39, "count": 0},
      {"min": 40, "max": 49, "count": 0},
      {"min": 50, "max": 59, "count": 1},
      {"min": 60, "max": 69, "count": 0},
      {"min": 70, "max": 79, "count": 0},
      {"min": 80, "max": 89, "count": 0},
      {"min": 90, "max": 99, "count": 0},
      {"min": 100, "count": 1}
    ]
}}"#,
        ),
        (
            MapDump::new(
                "@stats",
                vec![(key("bpftrace"), lhist_of(&[2, 1000], 0, 100, 10)), (key("curl"), lhist_of(&[50], 0, 100, 10))],
            ),
            r#"{"type": "hist", "data": {
  "@stats": {
    "curl": [
      {"min": 50, "max": 59, "count": 1}
    ], "bpftrace": [
      {"min": 0, "max": 9, "count": 1},
      {"min": 10, "max": 19, "count": 0},
      {"min": 20, "max": 29, "count": 0},
      {"min": 30, "max": 39, "count": 0},
      {"min": 40, "max": 49, "count": 0},
      {"min": 50, "max": 59, "count": 0},
      {"min": 60, "max": 69, "count": 0},
      {"min": 70, "max": 79, "count": 0},
      {"min": 80, "max": 89, "count": 0},
      {"min": 90, "max": 99, "count": 0},
      {"min": 100, "count": 1}
    ]}
}}"#,
        ),
        (
            MapDump::scalar("@h", MapValue::LHist { min: 0, max: 100, step: 10, buckets: vec![0; 12] }),
            r#"{"type": "hist", "data": {"@h": []}}"#,
        ),
        (
            MapDump::scalar("@stats", stats_of(&[2, 10])),
            r#"{"type": "stats", "data": {
  "@stats": {"count": 2, "average": 6, "total": 12}
}}"#,
        ),
        (
            MapDump::new("@stats", vec![(key("zsh"), stats_of(&[10])), (key("curl"), stats_of(&[2]))]),
            r#"{"type": "stats", "data": {
  "@stats": {
    "curl": {"count": 1, "average": 2, "total": 2},
    "zsh": {"count": 1, "average": 10, "total": 10}}
}}"#,
        ),
    ];
    for (m, want) in cases {
        let got = json::map(&m, None, None);
        assert!(got.ends_with("}\n") && got.matches('\n').count() == 1, "{got}");
        assert_eq!(squeeze_json(&got), squeeze_json(want), "\n{got}");
    }
}

#[test]
fn json_hist_2args() {
    // hist($i, 3) for $i in 0..1024: 16 single-value buckets, then 8 per
    // power of two.
    let vals: Vec<i64> = (0..1024).collect();
    let got = json::map(&MapDump::scalar("@", hist_of(&vals, 3)), None, None);
    assert!(got.starts_with(
        "{\"type\": \"hist\", \"data\": {\"@\": [{\"min\": 0, \"max\": 0, \"count\": 1},{\"min\": 1, \"max\": 1, \"count\": 1},"
    ));
    assert!(got.contains("{\"min\": 15, \"max\": 15, \"count\": 1},{\"min\": 16, \"max\": 17, \"count\": 2},"));
    assert!(got.contains("{\"min\": 240, \"max\": 255, \"count\": 16},{\"min\": 256, \"max\": 287, \"count\": 32},"));
    assert!(got.ends_with("{\"min\": 960, \"max\": 1023, \"count\": 64}]}}\n"));
    assert_eq!(got.matches("\"count\"").count(), 16 + 8 * 6);
}

#[test]
fn json_numbers_and_strings() {
    assert_eq!(json::encode(&Value::Int(1 << 53)), "9007199254740992");
    assert_eq!(json::encode(&Value::Int((1 << 53) + 1)), "\"9007199254740993\"");
    assert_eq!(json::encode(&Value::Int(i64::MAX)), "\"9223372036854775807\"");
    assert_eq!(json::encode(&Value::Int(i64::MIN)), "-9223372036854775808");
    assert_eq!(json::encode(&Value::UInt(u64::MAX)), "\"18446744073709551615\"");
    assert_eq!(json::encode(&Value::Buffer(vec![104, 0xff])), "[104,-1]");
    assert_eq!(json::string("a\u{1}\u{1f}\u{7f}é"), "\"a\\u0001\\u001f\u{7f}é\"");
    // Keys lose every space, not just the tuple separators.
    let m = MapDump::new("@", vec![(key("a b"), MapValue::Count(1))]);
    assert_eq!(json::map(&m, None, None), "{\"type\": \"map\", \"data\": {\"@\": {\"ab\": 1}}}\n");
}

// ---------------------------------------------------------------- printf

fn pf(fmt: &str, args: &[Value]) -> String {
    Format::parse(fmt).render(args)
}

#[test]
fn printf_runtime_expectations() {
    let i = Value::Int;
    assert_eq!(pf("hi!\n", &[]), "hi!\n");
    assert_eq!(pf("value: %dms100\n", &[i(100)]), "value: 100ms100\n");
    assert_eq!(
        pf(
            "%dst: %sa; %dnd: %sb;; %drd: %sc;;; %dth: %sd;;;;\n",
            &[i(1), Value::str("a"), i(2), Value::str("ab"), i(3), Value::str("abc"), i(4), Value::str("abcd")]
        ),
        "1st: aa; 2nd: abb;; 3rd: abcc;;; 4th: abcdd;;;;\n"
    );
    let x = i(0x12345678abcdef);
    assert_eq!(pf("%hhx %hx %x %jx\n", &[x.clone(), x.clone(), x.clone(), x]), "ef cdef 78abcdef 12345678abcdef\n");
    assert_eq!(pf("%c%c%c%c\n", &[i(0x41), i(0x42), i(0x43), i(0x44)]), "ABCD\n");
    let one = Value::symbolic("ONE", 1);
    let two = Value::symbolic("TWO", 2);
    let other = Value::symbolic("OTHER", 99999);
    assert_eq!(
        pf("%d %s %d %s %d %s\n", &[one.clone(), one, two.clone(), two, other.clone(), other]),
        "1 ONE 2 TWO 99999 OTHER\n"
    );
    assert_eq!(
        pf("%-5s %5s %s\n", &[Value::symbolic("A", 0), Value::symbolic("B", 1), Value::symbolic("C", 2)]),
        "A         B C\n"
    );
    assert_eq!(pf("%5s %04x", &[Value::str("ba"), i(2)]), "   ba 0002");
    assert_eq!(
        pf("Something bad with args: %d, %s", &[i(10), Value::str("arg2")]),
        "Something bad with args: 10, arg2"
    );
    let d = Value::UInt(3u64.wrapping_sub(5));
    assert_eq!(pf("%d %lu\n", &[d.clone(), d]), "-2 18446744073709551614\n");
    assert_eq!(pf("%d %d %d %d\n", &[i(-10), i(-5555), i(-123), i(100)]), "-10 -5555 -123 100\n");
    assert_eq!(pf("%lu", &[Value::UInt(u64::MAX)]), "18446744073709551615");
    assert_eq!(pf("%llx", &[i(0x8877665544332211u64 as i64)]), "8877665544332211");
    assert_eq!(pf("%x", &[i(0x78563412)]), "78563412");
    assert_eq!(pf("0x%x -- 0x%x\n", &[i(0x55555555), i(0x33333333)]), "0x55555555 -- 0x33333333\n");
    assert_eq!(pf("GFPFlags: %gr\n", &[i(1)]), "GFPFlags: GFP_DMA\n");
    assert_eq!(pf("%d-%d\n", &[Value::UInt(1), i(10)]), "1-10\n");
    assert_eq!(pf("map len: %d\n", &[i(2)]), "map len: 2\n");
    assert_eq!(pf("%d %d\n", &[Value::Bool(false), Value::Bool(true)]), "0 1\n");
}

#[test]
fn printf_buffers() {
    let b = |bytes: &[u8]| Value::Buffer(bytes.to_vec());
    assert_eq!(
        pf("P: %r-%r-%r\n", &[b(&[9, 8, 7, 6]), b(&[5, 4, 3, 2]), b(&[1, 2, 3, 4])]),
        "P: \\x09\\x08\\x07\\x06-\\x05\\x04\\x03\\x02-\\x01\\x02\\x03\\x04\n"
    );
    assert_eq!(pf("%rx", &[b(b"Hello\0")]), "\\x48\\x65\\x6c\\x6c\\x6f\\x00");
    assert_eq!(pf("%rh", &[b(b"Hello\0")]), "48 65 6c 6c 6f 00");
    assert_eq!(pf("%r", &[b(b"Hi\n")]), "Hi\\x0a");
    // On a non-buffer %r acts like %s.
    assert_eq!(pf("%r", &[Value::str("s")]), "s");
}

#[test]
fn printf_stacks() {
    let s = Value::Stack(Stack::from_symbols(["a+1", "b+2"]));
    assert_eq!(pf("%s\n", &[s]), "\n        a+1\n        b+2\n\n");
}

#[test]
fn hist_map_tie_order_follows_libstdcxx_sort() {
    // 20 keys (0..20, already in memcmp order) with totals (i*7)%3+1: the
    // order g++'s std::ranges::sort produces for that input.
    let entries = (0..20i64).map(|i| (key(i), hist_of(&vec![1; ((i * 7) % 3 + 1) as usize], 0))).rev().collect();
    let m = MapDump::new("@", entries);
    let got: Vec<String> =
        text::map(&m, None, None).lines().filter(|l| l.starts_with("@[")).map(|l| l.to_string()).collect();
    let want: Vec<String> = [18, 3, 15, 6, 12, 9, 0, 10, 19, 16, 13, 7, 4, 1, 11, 8, 14, 5, 17, 2]
        .iter()
        .map(|i| format!("@[{i}]:"))
        .collect();
    assert_eq!(got, want);
}
