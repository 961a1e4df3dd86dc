//! `ferret argdist`: the distribution (-H, a histogram) or frequency (-C, counts) of function
//! arguments and return values, in BCC argdist's specifier language:
//! `{p,r,t,u}:{[library],category}:function(signature)[:type[,type...]:expr[,expr...][:filter]][#label]`.
//! Parameters are named by the signature; a return probe (`r`) has `$retval`, `$latency` (ns
//! since the entry) and `$entry(param)`; a tracepoint's fields are `args->field`. A kernel
//! function attaches through fentry (the signature's names are its parameters'), else kprobes.
use super::hist;
use super::{line, Common, Every, Route};
use clap::Parser;
use ferret::{MapValue, Value};
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command = crate::cmd::Command {
    name: "argdist",
    about: "trace a function and display a histogram or frequency count of its arguments (BCC's argdist)",
    run,
};

const EXAMPLES: &str = "examples:
    ferret argdist -H 'p::__kmalloc(u64 size):u64:size'
        print a histogram of allocation sizes passed to kmalloc
    ferret argdist -p 1005 -C 'p:c:malloc(size_t size):size_t:size:size==16'
        print a frequency count of how many times process 1005 called malloc with 16 bytes
    ferret argdist -C 'r:c:gets():char*:(char*)$retval#snooped strings'
        snoop on all strings returned by gets()
    ferret argdist -H 'r::__kmalloc(size_t size):u64:$latency/$entry(size)#ns per byte'
        print a histogram of nanoseconds per byte from kmalloc allocations
    ferret argdist -C 'p::__kmalloc(size_t sz, gfp_t flags):size_t:sz:flags&GFP_ATOMIC'
        print frequency count of kmalloc allocation sizes that have GFP_ATOMIC
    ferret argdist -C 't:syscalls:sys_enter_openat():int:args->dfd'
        count the directory descriptors openat() is called with
    ferret argdist -H 'r:c:read()' -n 1 -i 5
        a histogram of read()'s return values over 5 seconds";

/// Trace a function and display a summary of its parameter values
#[derive(Parser, Debug)]
#[command(name = "ferret argdist", after_help = EXAMPLES)]
struct Args {
    /// id of the process to trace (optional)
    #[arg(short = 'p', long = "pid")]
    pid: Option<u32>,
    /// id of the thread to trace (optional)
    #[arg(short = 't', long = "tid")]
    tid: Option<u32>,
    /// maximum string size to read from char* arguments (accepted for BCC compatibility)
    #[arg(short = 'z', long = "string-size", default_value_t = 80)]
    string_size: u32,
    /// output interval, in seconds (default 1 second)
    #[arg(short = 'i', long = "interval", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    interval: u64,
    /// total duration of trace, in seconds
    #[arg(short = 'd', long = "duration", value_parser = clap::value_parser!(u64).range(1..))]
    duration: Option<u64>,
    /// number of outputs
    #[arg(short = 'n', long = "number")]
    count: Option<u64>,
    /// do not clear histograms and freq counts at each interval
    #[arg(short = 'c', long = "cumulative")]
    cumulative: bool,
    /// number of top results to show (not applicable to histograms)
    #[arg(short = 'T', long = "top")]
    top: Option<usize>,
    /// probe specifier to capture histogram of (see examples below)
    #[arg(short = 'H', long = "histogram", value_name = "specifier")]
    histogram: Vec<String>,
    /// probe specifier to capture count of (see examples below)
    #[arg(short = 'C', long = "count", value_name = "specifier")]
    countspec: Vec<String>,
    #[command(flatten)]
    common: Common,
}

/// One specifier, parsed.
struct Spec {
    raw: String,
    hist: bool,
    kind: char,
    lib: String,
    func: String,
    params: Vec<String>,
    types: Vec<String>,
    exprs: Vec<String>,
    filter: Option<String>,
    label: Option<String>,
}

/// Split on commas outside parentheses.
fn split_top(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth) = (vec![], String::new(), 0i32);
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur).trim().to_string());
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

fn parse(raw: &str, hist: bool) -> Result<Spec, String> {
    let (body, label) = match raw.split_once('#') {
        Some((b, l)) => (b, Some(l.to_string())),
        None => (raw, None),
    };
    let parts: Vec<&str> = body.trim().splitn(6, ':').collect();
    if parts.len() < 3 {
        return Err(format!(
            "'{raw}': expected {{p,r,t,u}}:{{[library],category}}:function(signature)[:type:expr[:filter]]"
        ));
    }
    let kind = match parts[0] {
        "p" | "r" | "t" | "u" => parts[0].chars().next().unwrap_or('p'),
        other => return Err(format!("'{raw}': probe type must be p, r, t or u, not '{other}'")),
    };
    let (func, sig) = match parts[2].split_once('(') {
        Some((f, rest)) => {
            (f.to_string(), rest.strip_suffix(')').ok_or_else(|| format!("'{raw}': unclosed signature"))?)
        }
        None => (parts[2].to_string(), ""),
    };
    // Each parameter's name is the last word of its declaration (`size_t size`, `char *buf`).
    let params = sig
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| p.trim().rsplit([' ', '*']).next().unwrap_or_default().to_string())
        .collect();
    let types = parts.get(3).map_or(vec![], |t| split_top(t));
    let exprs = parts.get(4).map_or(vec![], |e| split_top(e));
    if types.len() != exprs.len() && !exprs.is_empty() {
        return Err(format!("'{raw}': {} types for {} expressions", types.len(), exprs.len()));
    }
    Ok(Spec {
        raw: raw.to_string(),
        hist,
        kind,
        lib: parts[1].to_string(),
        func,
        params,
        types,
        exprs,
        filter: parts.get(5).map(|f| f.to_string()),
        label,
    })
}

/// The language's expression for one of BCC's: parameters by name, `$retval`, `$latency`,
/// `$entry(p)`, `args->f`, and `(char*)` casts read as strings.
fn rewrite(s: &Spec, i: usize, expr: &str, fentry: bool) -> String {
    let mut e = expr.to_string();
    let entry = regex::Regex::new(r"\$entry\((\w+)\)").expect("valid regex");
    e = entry.replace_all(&e, |c: &regex::Captures| format!("@a{i}_{}[tid]", &c[1])).into_owned();
    e = e.replace("$retval", "retval").replace("$latency", &format!("(nsecs - @t{i}[tid])"));
    e = e.replace("(char*)", "").replace("(char *)", "");
    if s.kind != 'r' {
        for (n, p) in s.params.iter().enumerate() {
            let word = regex::Regex::new(&format!(r"\b{}\b", regex::escape(p))).expect("valid regex");
            let to = if fentry { format!("args.{p}") } else { format!("arg{n}") };
            e = word.replace_all(&e, to.as_str()).into_owned();
        }
    }
    e
}

/// The block(s) for specifier `i` at `probe` (and `entry` for a return probe's entry).
fn blocks(a: &Args, cg: &[String], s: &Spec, i: usize, probe: &str, entry: Option<&str>, fentry: bool) -> String {
    let mut f = cg.to_vec();
    if let Some(p) = a.pid {
        f.push(format!("pid == {p}"));
    }
    if let Some(t) = a.tid {
        f.push(format!("tid == {t}"));
    }
    let mut text = String::new();
    let needs_entry = s.kind == 'r' && (s.raw.contains("$latency") || s.raw.contains("$entry("));
    if let (true, Some(entry)) = (needs_entry, entry) {
        let mut keep = vec![format!("@t{i}[tid] = nsecs;")];
        for (n, p) in s.params.iter().enumerate() {
            let v = if fentry { format!("args.{p}") } else { format!("arg{n}") };
            keep.push(format!("@a{i}_{p}[tid] = {v};"));
        }
        text.push_str(&format!("{entry} {}{{ {} }}\n", super::predicate(&f), keep.join(" ")));
    }
    let mut g = f.clone();
    if needs_entry {
        g.push(format!("@t{i}[tid]"));
    }
    if let Some(flt) = &s.filter {
        g.push(format!("({})", rewrite(s, i, flt, fentry)));
    }
    let exprs: Vec<String> = if s.exprs.is_empty() {
        if s.kind == 'r' {
            vec!["retval".into()]
        } else {
            vec![]
        }
    } else {
        s.exprs
            .iter()
            .zip(&s.types)
            .map(|(e, t)| {
                let e = rewrite(s, i, e, fentry);
                if t.replace(' ', "").contains("char*") {
                    format!("str({e})")
                } else {
                    e
                }
            })
            .collect()
    };
    let record = if s.hist {
        format!("@v{i} = hist({});", exprs.first().cloned().unwrap_or_else(|| "1".into()))
    } else if exprs.is_empty() {
        format!("@v{i} = count();")
    } else {
        format!("@v{i}[{}] = count();", exprs.join(", "))
    };
    // The entry's time and parameters are forgotten at the return.
    let mut cleanup = String::new();
    if needs_entry {
        cleanup.push_str(&format!(" delete(@t{i}[tid]);"));
        for p in &s.params {
            cleanup.push_str(&format!(" delete(@a{i}_{p}[tid]);"));
        }
    }
    text.push_str(&format!("{probe} {}{{ {record}{cleanup} }}\n", super::predicate(&g)));
    text
}

/// The attach points of a specifier per route: (route, probe, entry probe, fentry naming).
fn attach(s: &Spec) -> Vec<(&'static str, String, Option<String>, bool)> {
    let func = &s.func;
    match (s.kind, s.lib.is_empty()) {
        ('t', _) => vec![("tracepoint", format!("tracepoint:{}:{func}", s.lib), None, false)],
        ('u', _) => vec![("usdt", format!("usdt:{}:{func}", s.lib), None, false)],
        ('p', true) => {
            vec![("fentry", format!("fentry:{func}"), None, true), ("kprobe", format!("kprobe:{func}"), None, false)]
        }
        ('r', true) => vec![
            ("fexit", format!("fexit:{func}"), Some(format!("fentry:{func}")), true),
            ("kretprobe", format!("kretprobe:{func}"), Some(format!("kprobe:{func}")), false),
        ],
        (k, false) => {
            let lib = match super::spec::parse(&format!("{}:{func}", s.lib)) {
                Ok(super::spec::Target::User { lib, .. }) => lib,
                _ => s.lib.clone(),
            };
            if k == 'r' {
                vec![("uretprobe", format!("uretprobe:{lib}:{func}"), Some(format!("uprobe:{lib}:{func}")), false)]
            } else {
                vec![("uprobe", format!("uprobe:{lib}:{func}"), None, false)]
            }
        }
        _ => vec![],
    }
}

fn run(argv: Vec<OsString>) -> i32 {
    let a: Args = match crate::cmd::parse(argv) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let specs: Result<Vec<Spec>, String> =
        a.histogram.iter().map(|s| parse(s, true)).chain(a.countspec.iter().map(|s| parse(s, false))).collect();
    let specs = match specs {
        Ok(s) if s.is_empty() => {
            eprintln!("ferret argdist: error: at least one specifier is required (-H or -C)");
            return 2;
        }
        Ok(s) => s,
        Err(e) => {
            eprintln!("ferret argdist: error: {e}");
            return 2;
        }
    };
    let cg = match a.common.filters() {
        Ok(f) => f,
        Err(code) => return code,
    };
    // Route 0 takes each specifier's first attach point (fentry for kernel functions), route 1
    // its last (kprobes).
    let mut routes: Vec<Route> = vec![];
    for (name, last) in [("fentry", false), ("kprobe", true)] {
        let mut text = String::new();
        for (i, s) in specs.iter().enumerate() {
            let points = attach(s);
            let Some((_, probe, entry, fentry)) = (if last { points.last() } else { points.first() }) else { continue };
            text.push_str(&blocks(&a, &cg, s, i, probe, entry.as_deref(), *fentry));
        }
        if routes.iter().all(|r| r.text != text) {
            let kernel = specs.iter().any(|s| matches!(s.kind, 'p' | 'r') && s.lib.is_empty());
            routes.push(Route::new(if kernel { name } else { "as given" }, text).for_pid(a.pid));
        }
    }
    let every = Every::secs(Some(a.interval), a.count, a.duration);
    super::run_summary("argdist", &routes, "", &a.common, every, |r| {
        let mut out = format!("[{}]\n", super::hms());
        for (i, s) in specs.iter().enumerate() {
            let map = format!("@v{i}");
            let entries = r.map(&map).map(|d| d.entries).unwrap_or_default();
            if !a.cumulative {
                r.clear(&map);
            }
            if s.hist {
                let label =
                    s.label.clone().unwrap_or_else(|| s.exprs.first().cloned().unwrap_or_else(|| "retval".into()));
                let vals = entries.first().map(|(_, v)| hist::log2_buckets(v)).unwrap_or_default();
                out.push_str(&hist::log2_text(&vals, &label));
                continue;
            }
            out.push_str(&format!("{}\n\t{:<10} EVENT\n", s.label.as_deref().unwrap_or(&s.raw), "COUNT"));
            let mut rows: Vec<(u64, String)> = entries
                .iter()
                .filter_map(|(k, v)| {
                    let MapValue::Count(n) = v else { return None };
                    let key = match (k, s.exprs.is_empty(), s.kind) {
                        (None, _, _) => "total calls".to_string(),
                        (Some(k), true, 'r') => format!("retval = {}", hist::plain(k)),
                        (Some(k), _, _) => {
                            let vals: Vec<String> = match k {
                                Value::Tuple(t) => t.iter().map(hist::plain).collect(),
                                v => vec![hist::plain(v)],
                            };
                            s.exprs.iter().zip(vals).map(|(e, v)| format!("{e} = {v}")).collect::<Vec<_>>().join(", ")
                        }
                    };
                    Some((*n, key))
                })
                .collect();
            rows.sort();
            let skip = a.top.map_or(0, |t| rows.len().saturating_sub(t));
            for (n, key) in rows.iter().skip(skip) {
                out.push_str(&format!("\t{n:<10} {key}\n"));
            }
        }
        line(out.trim_end_matches('\n'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specifiers_parse_as_bcc_writes_them() {
        let s = parse("p:c:malloc(size_t size):size_t:size:size==16", false).unwrap();
        assert_eq!((s.kind, s.lib.as_str(), s.func.as_str()), ('p', "c", "malloc"));
        assert_eq!(s.params, vec!["size"]);
        assert_eq!(s.exprs, vec!["size"]);
        assert_eq!(s.filter.as_deref(), Some("size==16"));
        assert_eq!(rewrite(&s, 0, "size==16", false), "arg0==16");
        let r = parse("r::__kmalloc(size_t size):u64:$latency/$entry(size)#ns per byte", true).unwrap();
        assert_eq!(r.label.as_deref(), Some("ns per byte"));
        assert_eq!(rewrite(&r, 2, &r.exprs[0], false), "(nsecs - @t2[tid])/@a2_size[tid]");
        let t = parse("t:syscalls:sys_enter_openat():int:args->dfd", false).unwrap();
        assert_eq!((t.kind, t.func.as_str()), ('t', "sys_enter_openat"));
        assert!(parse("x:c:malloc", false).is_err());
        assert!(parse("p:c", false).is_err());
    }
}
