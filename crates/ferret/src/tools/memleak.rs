//! `ferret memleak`: allocations not freed, by stack, as BCC memleak prints them every
//! interval. With -p PID or -c COMMAND, a process's C library allocations (uprobes on malloc,
//! calloc, realloc, posix_memalign, aligned_alloc, memalign, valloc, pvalloc and free);
//! otherwise the kernel's (`kmem:` tracepoints: kmalloc, kmem_cache_alloc and their frees).
//! Each outstanding allocation is kept in maps by address: size, time, stack.
use super::{json_str, line, Common, Every};
use clap::Parser;
use ferret::{MapValue, Value};
use std::collections::HashMap;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command =
    crate::cmd::Command { name: "memleak", about: "trace outstanding memory allocations (BCC's memleak)", run };

const EXAMPLES: &str = "examples:
    ferret memleak -p 1234            # trace allocations and display each 5 seconds the top 10
                                      # stacks of allocations not freed
    ferret memleak -c ./allocs        # run ./allocs and trace its allocations
    ferret memleak -p 1234 -a         # also show each outstanding allocation's address and size
    ferret memleak -o 60000           # kernel allocations older than a minute
    ferret memleak -s 5               # trace roughly every 5th allocation, for less overhead
    ferret memleak -z 16 -Z 32        # allocations of 16 to 32 bytes only
    ferret memleak -j -p 1234         # JSON lines: time, bytes, allocations, stack";

/// Trace outstanding memory allocations that weren't freed
#[derive(Parser, Debug)]
#[command(name = "ferret memleak", after_help = EXAMPLES)]
struct Args {
    /// the PID to trace; if neither -p nor -c is given, kernel allocations are traced
    #[arg(short = 'p', long = "pid", conflicts_with = "command")]
    pid: Option<u32>,
    /// interval in seconds to print outstanding allocations
    #[arg(default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    interval: u64,
    /// number of times to print the report before exiting
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// show allocation addresses and sizes as well as call stacks
    #[arg(short = 'a', long = "show-allocs")]
    show_allocs: bool,
    /// prune allocations younger than this age in milliseconds
    #[arg(short = 'o', long = "older", default_value_t = 500)]
    older: u64,
    /// execute and trace the specified command
    #[arg(short = 'c', long = "command")]
    command: Option<String>,
    /// sample every N-th allocation to decrease the overhead
    #[arg(short = 's', long = "sample-rate", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    sample_rate: u64,
    /// display only this many top allocating stacks (by size)
    #[arg(short = 'T', long = "top", default_value_t = 10)]
    top: usize,
    /// capture only allocations larger than or equal to this size
    #[arg(short = 'z', long = "min-size")]
    min_size: Option<u64>,
    /// capture only allocations smaller than or equal to this size
    #[arg(short = 'Z', long = "max-size")]
    max_size: Option<u64>,
    /// attach to allocator functions in the specified object
    #[arg(short = 'O', long = "obj", default_value = "c")]
    obj: String,
    /// report sorted in given key; available key list: size, count
    #[arg(long = "sort", default_value = "size", value_parser = ["size", "count"])]
    sort: String,
    /// unwind user stacks with the binaries' DWARF CFI (.eh_frame), complete for code built
    /// without frame pointers, at a start-up cost (default: frame pointers, as BCC)
    #[arg(long = "dwarf")]
    dwarf: bool,
    #[command(flatten)]
    common: Common,
}

/// The statements keeping an allocation of `size` at `addr` (with the stack `stack`), sampled
/// and size-filtered as the flags say.
fn keep(a: &Args, addr: &str, size: &str, stack: &str) -> String {
    let mut cond = vec![format!("{addr} != 0")];
    if let Some(z) = a.min_size {
        cond.push(format!("{size} >= {z}"));
    }
    if let Some(z) = a.max_size {
        cond.push(format!("{size} <= {z}"));
    }
    if a.sample_rate > 1 {
        cond.push(format!("nsecs % {} == 0", a.sample_rate));
    }
    format!("if ({}) {{ @sz[{addr}] = {size}; @ts[{addr}] = nsecs; @st[{addr}] = {stack}; }}", cond.join(" && "))
}

/// Outstanding allocations tracked at most (BCC's memleak: a million); the maps are
/// preallocated, a full map is reported.
const MAX_ALLOCS: u32 = 262_144;

const FORGET: &str = "delete(@sz[$p]); delete(@ts[$p]); delete(@st[$p]);";

fn user_program(a: &Args, cg: &[String], pid: u32, lib: &str) -> String {
    let mut f = cg.to_vec();
    f.push(format!("pid == {pid}"));
    let pred = super::predicate(&f);
    let u = |func: &str| format!("uprobe:{lib}:{func}");
    let r = |func: &str| format!("uretprobe:{lib}:{func}");
    let rets: Vec<String> = ["malloc", "calloc", "realloc", "aligned_alloc", "memalign", "valloc", "pvalloc"]
        .iter()
        .map(|f| r(f))
        .collect();
    format!(
        r#"config = {{ missing_probes = "ignore"; max_map_keys = {MAX_ALLOCS}{unwind} }}
{malloc}, {valloc}, {pvalloc} {pred}{{ @req[tid] = arg0; }}
{calloc} {pred}{{ @req[tid] = arg0 * arg1; }}
{realloc} {pred}{{ $p = arg0; {FORGET} @req[tid] = arg1; }}
{aligned}, {memalign} {pred}{{ @req[tid] = arg1; }}
{rets} /@req[tid]/ {{ {keep_ret} delete(@req[tid]); }}
{posix} {pred}{{ @memptr[tid] = arg0; @req[tid] = arg2; }}
{posix_ret} /@memptr[tid]/ {{
    if (retval == 0) {{ $a = *(uint64 *)uptr(@memptr[tid]); {keep_posix} }}
    delete(@memptr[tid]); delete(@req[tid]);
}}
{free} {pred}{{ $p = arg0; {FORGET} }}
"#,
        malloc = u("malloc"),
        valloc = u("valloc"),
        pvalloc = u("pvalloc"),
        calloc = u("calloc"),
        realloc = u("realloc"),
        aligned = u("aligned_alloc"),
        memalign = u("memalign"),
        rets = rets.join(", "),
        keep_ret = keep(a, "retval", "@req[tid]", "ustack"),
        posix = u("posix_memalign"),
        posix_ret = r("posix_memalign"),
        keep_posix = keep(a, "$a", "@req[tid]", "ustack"),
        free = u("free"),
        unwind = if a.dwarf { "" } else { "; ustack_unwind = \"fp\"" },
    )
}

fn kernel_program(a: &Args, cg: &[String]) -> String {
    let pred = super::predicate(cg);
    format!(
        r#"config = {{ max_map_keys = {MAX_ALLOCS} }}
tracepoint:kmem:kmalloc, tracepoint:kmem:kmem_cache_alloc {pred}{{ {} }}
tracepoint:kmem:kfree, tracepoint:kmem:kmem_cache_free {{ $p = args.ptr; {FORGET} }}
"#,
        keep(a, "args.ptr", "args.bytes_alloc", "kstack")
    )
}

/// CLOCK_MONOTONIC now, in nanoseconds: the clock of the language's `nsecs`.
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime fills the timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn by_addr(r: &ferret::Running, name: &str) -> HashMap<u64, Value> {
    let mut out = HashMap::new();
    for (k, v) in r.map(name).map(|d| d.entries).unwrap_or_default() {
        if let (Some(k), MapValue::Value(v)) = (k, v) {
            out.insert(super::int(&k) as u64, v);
        }
    }
    out
}

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let mut child = None;
    let pid = match (&a.command, a.pid) {
        (Some(cmd), _) => match ferret_runtime::child::Child::spawn_held(OsString::from(cmd).as_os_str()) {
            Ok(c) => {
                let pid = c.pid as u32;
                child = Some(c);
                Some(pid)
            }
            Err(e) => {
                eprintln!("ERROR: {e}");
                return 1;
            }
        },
        (None, p) => p,
    };
    let lib = if a.obj == "c" {
        "libc".to_string()
    } else {
        super::spec::parse(&format!("{}:x", a.obj)).map_or(a.obj.clone(), |t| match t {
            super::spec::Target::User { lib, .. } => lib,
            _ => a.obj.clone(),
        })
    };
    let route = match pid {
        Some(p) => super::Route::new("uprobes", user_program(&a, &cg, p, &lib)).for_pid(Some(p)),
        None => super::Route::new("tracepoint kmem", kernel_program(&a, &cg)),
    };
    if pid.is_none() {
        super::stacks::prefetch_kernel_symbols();
    }
    let header = if a.common.json {
        String::new()
    } else if let Some(p) = pid {
        format!("Attaching to pid {p}, Ctrl+C to quit.")
    } else {
        "Attaching to kernel allocators, Ctrl+C to quit.".to_string()
    };
    let every = Every::positional(Some(a.interval), a.count);
    super::run_summary_with("memleak", &[route], &header, &a.common, every, child, |r| {
        let now = monotonic_ns();
        let (sizes, times, stacks) = (by_addr(r, "@sz"), by_addr(r, "@ts"), by_addr(r, "@st"));
        let min_age = a.older.saturating_mul(1_000_000);
        // Allocations by stack: (frames, bytes, count); the addresses with -a.
        let mut groups: HashMap<Vec<u64>, (Vec<String>, u64, u64)> = HashMap::new();
        let mut allocs = vec![];
        for (addr, size) in &sizes {
            let ts = times.get(addr).map_or(0, |t| super::int(t) as u64);
            if now.saturating_sub(ts) < min_age {
                continue;
            }
            let Some(Value::Stack(st)) = stacks.get(addr) else { continue };
            let size = super::int(size) as u64;
            let key: Vec<u64> = st.frames.iter().map(|f| f.addr).collect();
            let g = groups.entry(key).or_insert_with(|| {
                let frames = st
                    .frames
                    .iter()
                    .take_while(|f| f.addr != u64::MAX)
                    .filter(|f| !f.sym.starts_with("[inlined]"))
                    .map(|f| format!("0x{:016x}\t{}", f.addr, super::stacks::frame(&f.sym, true)))
                    .collect();
                (frames, 0, 0)
            });
            g.1 += size;
            g.2 += 1;
            allocs.push((*addr, size));
        }
        let mut shown: Vec<(Vec<String>, u64, u64)> = groups.into_values().collect();
        if a.sort == "count" {
            shown.sort_by(|x, y| x.2.cmp(&y.2).then(x.1.cmp(&y.1)));
        } else {
            shown.sort_by(|x, y| x.1.cmp(&y.1).then(x.2.cmp(&y.2)));
        }
        let skip = shown.len().saturating_sub(a.top);
        let time = super::hms();
        if a.common.json {
            return shown.iter().skip(skip).all(|(frames, bytes, n)| {
                let st: Vec<String> = frames.iter().map(|f| json_str(f.split('\t').nth(1).unwrap_or(f))).collect();
                line(&format!(
                    "{{\"time\": {}, \"bytes\": {bytes}, \"allocations\": {n}, \"stack\": [{}]}}",
                    json_str(&time),
                    st.join(", ")
                ))
            });
        }
        let mut out = format!("[{time}] Top {} stacks with outstanding allocations:\n", a.top);
        if a.show_allocs {
            allocs.sort_by_key(|(_, s)| *s);
            for (addr, size) in &allocs {
                out.push_str(&format!("\taddr = {addr:x} size = {size}\n"));
            }
        }
        for (frames, bytes, n) in shown.iter().skip(skip) {
            out.push_str(&format!("\t{bytes} bytes in {n} allocations from stack\n\t\t{}\n", frames.join("\n\t\t")));
        }
        line(out.trim_end_matches('\n'))
    })
}
