//! `ferret pidstat`: sysstat's pidstat reports (-u CPU, -w context switches, -r faults and
//! memory, -d disk I/O) per process and interval, with sysstat's columns and `Average:` lines,
//! computed from kernel events rather than by polling /proc:
//! - CPU: `sched_switch` ends a task's time on CPU, the raw syscall tracepoints split it into
//!   user and system time (kernel threads are all system); %wait is the time runnable tasks
//!   waited in a run queue (from their wakeup or preemption to their switch-in);
//! - context switches: `sched_switch`, voluntary when the task left in a sleep state;
//! - faults: the minor- and major-fault software events; VSZ and RSS from the task's `mm`
//!   (kernel BTF) when it leaves a CPU;
//! - disk: bytes read as the task submits bios (`block:block_bio_queue`), written as it dirties
//!   page cache (`writeback:writeback_dirty_folio`, a page each), iodelay the clock ticks it
//!   spent in uninterruptible sleep. kB_ccwr/s (cancelled writes) has no event: shown as 0.
use super::{json_str, line, Common, Every, Route};
use clap::Parser;
use ferret::{MapValue, Running, Value};
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::time::Instant;

pub const COMMAND: crate::cmd::Command = crate::cmd::Command {
    name: "pidstat",
    about: "report statistics for tasks, as sysstat's pidstat, from kernel events",
    run,
};

const EXAMPLES: &str = "examples:
    ferret pidstat              # CPU use of active processes every second
    ferret pidstat 2 5          # every 2 seconds, 5 times, then the averages
    ferret pidstat -w 1         # context switches per second
    ferret pidstat -r 1         # page faults, VSZ and RSS
    ferret pidstat -d 1         # disk I/O
    ferret pidstat -u -w -p 181 # CPU and context switches of PID 181
    ferret pidstat -C nginx     # processes whose name matches nginx
    ferret pidstat -j 1 3       # JSON lines: time, uid, pid, command and each report's fields";

/// Report statistics for Linux tasks
#[derive(Parser, Debug)]
#[command(name = "ferret pidstat", after_help = EXAMPLES)]
struct Args {
    /// report CPU utilization (the default)
    #[arg(short = 'u')]
    cpu: bool,
    /// report task switching activity
    #[arg(short = 'w')]
    switches: bool,
    /// report page faults and memory utilization
    #[arg(short = 'r')]
    memory: bool,
    /// report I/O statistics
    #[arg(short = 'd')]
    disk: bool,
    /// select tasks (processes) by PID (comma-separated) or ALL
    #[arg(short = 'p', value_name = "PID[,...]|ALL")]
    pid: Option<String>,
    /// display only tasks whose command name matches this regular expression
    #[arg(short = 'C', value_name = "COMM")]
    comm: Option<String>,
    /// seconds between reports (default 1)
    #[arg(default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    interval: u64,
    /// number of reports
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    #[command(flatten)]
    common: Common,
}

const PF_KTHREAD: u64 = 0x0020_0000;

/// The resident pages of the `struct mm_struct *` in `$mm`: file, anon and shmem pages, in the
/// counters' layout since Linux 6.2 (percpu counters) or before (atomics).
const RSS_NEW: &str = "$mm->rss_stat[0].count + $mm->rss_stat[1].count + $mm->rss_stat[3].count";
const RSS_OLD: &str =
    "$mm->rss_stat.count[0].counter + $mm->rss_stat.count[1].counter + $mm->rss_stat.count[3].counter";

fn program(a: &Args, cg: &[String], pids: &[u32], rss: &str) -> String {
    let mut f = cg.to_vec();
    if !pids.is_empty() {
        f.push(format!("({})", pids.iter().map(|p| format!("pid == {p}")).collect::<Vec<_>>().join(" || ")));
    }
    let pred = super::predicate(&f);
    let cond = if f.is_empty() { "1".to_string() } else { f.join(" && ") };
    // Older kernels name the dirtied page tracepoint writeback_dirty_page; the per-thread maps
    // hold the threads of a busy host (10240, as libbpf-tools: maps are preallocated).
    let mut text = String::from("config = { missing_probes = \"ignore\"; max_map_keys = 10240 }\n");
    // Every report names the task when it leaves a CPU.
    let mut out_stmts = vec!["@comm[pid] = comm; @uid[pid] = uid; @tgid[tid] = pid;".to_string()];
    let mut in_stmts = vec![];
    if a.cpu {
        text.push_str(&format!(
            "tracepoint:raw_syscalls:sys_enter {pred}{{ $s = @seg[tid]; if ($s) {{ @usr[pid] = sum(nsecs - $s); }} @seg[tid] = nsecs; @insys[tid] = 1; }}
tracepoint:raw_syscalls:sys_exit {pred}{{ $s = @seg[tid]; if ($s) {{ @sys[pid] = sum(nsecs - $s); }} @seg[tid] = nsecs; delete(@insys[tid]); }}
tracepoint:sched:sched_wakeup, tracepoint:sched:sched_wakeup_new {{ @queued[args.pid] = nsecs; }}
"
        ));
        out_stmts.push(format!(
            "$s = @seg[tid];
        if ($s) {{ if (@insys[tid] || (curtask->flags & {PF_KTHREAD})) {{ @sys[pid] = sum(nsecs - $s); }} else {{ @usr[pid] = sum(nsecs - $s); }} }}
        delete(@seg[tid]); @cpu[pid] = cpu;
        if ((args.prev_state & 0xff) == 0) {{ @queued[tid] = nsecs; }}"
        ));
        in_stmts.push(
            "@seg[args.next_pid] = nsecs;
    $q = @queued[args.next_pid];
    if ($q) { $g = @tgid[args.next_pid]; if ($g) { @wait[$g] = sum(nsecs - $q); } delete(@queued[args.next_pid]); }"
                .to_string(),
        );
    }
    if a.switches {
        // The tracepoint shows a preempted task as 0x100 (TASK_REPORT_MAX): its low byte is the
        // state it slept in, 0 for an involuntary switch.
        out_stmts.push(
            "if ((args.prev_state & 0xff) == 0) { @nvcswch[pid] = count(); } else { @cswch[pid] = count(); }".into(),
        );
    }
    if a.memory {
        text.push_str(&format!(
            "software:minor-faults:1 {pred}{{ @minflt[pid] = count(); }}\nsoftware:major-faults:1 {pred}{{ @majflt[pid] = count(); }}\n"
        ));
        out_stmts.push(
            "$mm = curtask->mm;
        if ($mm) { @vsz[pid] = $mm->total_vm; @rss[pid] = RSS; }"
                .replace("RSS", rss),
        );
    }
    if a.disk {
        text.push_str(&format!(
            "tracepoint:block:block_bio_queue {pred}{{ @bio[pid, args.rwbs] = sum(args.nr_sector * 512); }}
tracepoint:writeback:writeback_dirty_folio, tracepoint:writeback:writeback_dirty_page {pred}{{ @dirtied[pid] = count(); }}
"
        ));
        out_stmts.push("if (args.prev_state & 2) { @dstart[tid] = nsecs; }".into());
        in_stmts.push(
            "$d = @dstart[args.next_pid];
    if ($d) { $g = @tgid[args.next_pid]; if ($g) { @iodelay[$g] = sum(nsecs - $d); } delete(@dstart[args.next_pid]); }"
                .into(),
        );
    }
    // A thread's state goes with it.
    let mut per_thread = vec!["@tgid"];
    if a.cpu {
        per_thread.extend(["@seg", "@insys", "@queued"]);
    }
    if a.disk {
        per_thread.push("@dstart");
    }
    let forget: Vec<String> = per_thread.iter().map(|m| format!("delete({m}[tid]);")).collect();
    text.push_str(&format!("tracepoint:sched:sched_process_exit {{ {} }}\n", forget.join(" ")));
    text.push_str(&format!(
        "tracepoint:sched:sched_switch {{
    if (args.prev_pid != 0 && {cond}) {{
        {}
    }}
    if (args.next_pid != 0) {{
    {}
    }}
}}
",
        out_stmts.join("\n        "),
        in_stmts.join("\n    ")
    ));
    text
}

/// A map keyed by process id, as numbers.
fn by_pid(r: &Running, name: &str) -> HashMap<i64, f64> {
    let mut out = HashMap::new();
    for (k, v) in r.map(name).map(|d| d.entries).unwrap_or_default() {
        let Some(k) = k else { continue };
        let n = match v {
            MapValue::Count(n) => n as f64,
            MapValue::Sum(ferret_output::Num::Unsigned(n)) => n as f64,
            MapValue::Sum(ferret_output::Num::Signed(n)) => n as f64,
            MapValue::Value(v) => super::int(&v) as f64,
            _ => continue,
        };
        out.insert(super::int(&k), n);
    }
    out
}

/// The statistics of one process over one interval (rates per second, percentages).
#[derive(Default, Clone)]
struct Row {
    uid: i64,
    comm: String,
    usr: f64,
    sys: f64,
    wait: f64,
    cpu: i64,
    cswch: f64,
    nvcswch: f64,
    minflt: f64,
    majflt: f64,
    vsz: u64,
    rss: u64,
    mem: f64,
    rd: f64,
    wr: f64,
    iodelay: u64,
}

fn mem_total_kb() -> f64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Read and empty the interval's maps: one row per process with activity.
fn collect(a: &Args, r: &Running, secs: f64) -> BTreeMap<i64, Row> {
    let comms: HashMap<i64, String> = r
        .map("@comm")
        .map(|d| d.entries)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| match v {
            MapValue::Value(v) => Some((super::int(&k?), super::hist::plain(&v))),
            _ => None,
        })
        .collect();
    let uids = by_pid(r, "@uid");
    let get = |m: &HashMap<i64, f64>, p: i64| m.get(&p).copied().unwrap_or(0.0);
    let (usr, sys, wait, cpu) = (by_pid(r, "@usr"), by_pid(r, "@sys"), by_pid(r, "@wait"), by_pid(r, "@cpu"));
    let (cs, nvcs) = (by_pid(r, "@cswch"), by_pid(r, "@nvcswch"));
    let (minf, majf, vsz, rss) = (by_pid(r, "@minflt"), by_pid(r, "@majflt"), by_pid(r, "@vsz"), by_pid(r, "@rss"));
    let (dirtied, iodelay) = (by_pid(r, "@dirtied"), by_pid(r, "@iodelay"));
    let mut rd: HashMap<i64, f64> = HashMap::new();
    let mut wr: HashMap<i64, f64> = HashMap::new();
    for (k, v) in r.map("@bio").map(|d| d.entries).unwrap_or_default() {
        let (Some(Value::Tuple(k)), MapValue::Sum(n)) = (k, v) else { continue };
        let n = match n {
            ferret_output::Num::Unsigned(n) => n as f64,
            ferret_output::Num::Signed(n) => n as f64,
        };
        let rwbs = super::hist::plain(&k[1]);
        // Reads as they are submitted; of the writes, only direct (synchronous) ones: buffered
        // data counts when it is dirtied.
        if rwbs.contains('R') {
            *rd.entry(super::int(&k[0])).or_default() += n;
        } else if rwbs.starts_with("WS") {
            *wr.entry(super::int(&k[0])).or_default() += n;
        }
    }
    for m in [
        "@comm", "@uid", "@usr", "@sys", "@wait", "@cpu", "@cswch", "@nvcswch", "@minflt", "@majflt", "@vsz", "@rss",
        "@bio", "@dirtied", "@iodelay",
    ] {
        r.clear(m);
    }
    let total_kb = mem_total_kb();
    let mut pids: Vec<i64> = usr
        .keys()
        .chain(sys.keys())
        .chain(cs.keys())
        .chain(nvcs.keys())
        .chain(minf.keys())
        .chain(majf.keys())
        .chain(rd.keys())
        .chain(wr.keys())
        .chain(dirtied.keys())
        .chain(iodelay.keys())
        .copied()
        .collect();
    pids.sort_unstable();
    pids.dedup();
    // SAFETY: sysconf has no preconditions.
    let page_kb = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1024) as f64 / 1024.0;
    let mut out = BTreeMap::new();
    for p in pids {
        let Some(comm) = comms.get(&p).cloned().or_else(|| super::proc_comm(p)) else {
            continue;
        };
        if a.comm.as_ref().is_some_and(|re| !regex::Regex::new(re).is_ok_and(|re| re.is_match(&comm))) {
            continue;
        }
        let pct = |ns: f64| ns / 1e9 / secs * 100.0;
        let rss_kb = (get(&rss, p) * page_kb) as u64;
        let row = Row {
            uid: get(&uids, p) as i64,
            comm,
            usr: pct(get(&usr, p)),
            sys: pct(get(&sys, p)),
            wait: pct(get(&wait, p)),
            cpu: get(&cpu, p) as i64,
            cswch: get(&cs, p) / secs,
            nvcswch: get(&nvcs, p) / secs,
            minflt: get(&minf, p) / secs,
            majflt: get(&majf, p) / secs,
            vsz: (get(&vsz, p) * page_kb) as u64,
            rss: rss_kb,
            mem: if total_kb > 0.0 { rss_kb as f64 / total_kb * 100.0 } else { 0.0 },
            rd: get(&rd, p) / 1024.0 / secs,
            wr: (get(&wr, p) + get(&dirtied, p) * page_kb * 1024.0) / 1024.0 / secs,
            iodelay: (get(&iodelay, p) / 1e7) as u64,
        };
        out.insert(p, row);
    }
    out
}

/// Which reports to show, in sysstat's order.
#[derive(Clone, Copy, PartialEq)]
enum Report {
    Cpu,
    Switches,
    Memory,
    Disk,
}

fn active(rep: Report, r: &Row) -> bool {
    match rep {
        Report::Cpu => r.usr + r.sys + r.wait > 0.0,
        Report::Switches => r.cswch + r.nvcswch > 0.0,
        Report::Memory => r.minflt + r.majflt > 0.0,
        Report::Disk => r.rd + r.wr > 0.0 || r.iodelay > 0,
    }
}

fn header(rep: Report) -> String {
    match rep {
        Report::Cpu => format!(
            " {:>5} {:>9} {:>7} {:>7} {:>7} {:>7} {:>7} {:>5}  Command",
            "UID", "PID", "%usr", "%system", "%guest", "%wait", "%CPU", "CPU"
        ),
        Report::Switches => format!(" {:>5} {:>9} {:>9} {:>9}  Command", "UID", "PID", "cswch/s", "nvcswch/s"),
        Report::Memory => format!(
            " {:>5} {:>9} {:>9} {:>9} {:>7} {:>7} {:>6}  Command",
            "UID", "PID", "minflt/s", "majflt/s", "VSZ", "RSS", "%MEM"
        ),
        Report::Disk => {
            format!(
                " {:>5} {:>9} {:>9} {:>9} {:>9} {:>7}  Command",
                "UID", "PID", "kB_rd/s", "kB_wr/s", "kB_ccwr/s", "iodelay"
            )
        }
    }
}

fn format_row(rep: Report, pid: i64, r: &Row, cpu_col: bool) -> String {
    match rep {
        Report::Cpu => {
            let cpu = if cpu_col { format!("{:>5}", r.cpu) } else { format!("{:>5}", "-") };
            format!(
                " {:>5} {pid:>9} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {cpu}  {}",
                r.uid,
                r.usr,
                r.sys,
                0.0,
                r.wait,
                r.usr + r.sys,
                r.comm
            )
        }
        Report::Switches => format!(" {:>5} {pid:>9} {:>9.2} {:>9.2}  {}", r.uid, r.cswch, r.nvcswch, r.comm),
        Report::Memory => format!(
            " {:>5} {pid:>9} {:>9.2} {:>9.2} {:>7} {:>7} {:>6.2}  {}",
            r.uid, r.minflt, r.majflt, r.vsz, r.rss, r.mem, r.comm
        ),
        Report::Disk => {
            format!(" {:>5} {pid:>9} {:>9.2} {:>9.2} {:>9.2} {:>7}  {}", r.uid, r.rd, r.wr, 0.0, r.iodelay, r.comm)
        }
    }
}

fn json(pid: i64, r: &Row, reports: &[Report], time: &str) -> String {
    let mut f = vec![format!("\"time\": {}", json_str(time)), format!("\"uid\": {}", r.uid), format!("\"pid\": {pid}")];
    for rep in reports {
        match rep {
            Report::Cpu => f.push(format!(
                "\"usr\": {:.2}, \"system\": {:.2}, \"guest\": 0.00, \"wait\": {:.2}, \"cpu_pct\": {:.2}, \"cpu\": {}",
                r.usr,
                r.sys,
                r.wait,
                r.usr + r.sys,
                r.cpu
            )),
            Report::Switches => f.push(format!("\"cswch_s\": {:.2}, \"nvcswch_s\": {:.2}", r.cswch, r.nvcswch)),
            Report::Memory => f.push(format!(
                "\"minflt_s\": {:.2}, \"majflt_s\": {:.2}, \"vsz_kb\": {}, \"rss_kb\": {}, \"mem_pct\": {:.2}",
                r.minflt, r.majflt, r.vsz, r.rss, r.mem
            )),
            Report::Disk => f.push(format!(
                "\"kb_rd_s\": {:.2}, \"kb_wr_s\": {:.2}, \"kb_ccwr_s\": 0.00, \"iodelay\": {}",
                r.rd, r.wr, r.iodelay
            )),
        }
    }
    f.push(format!("\"command\": {}", json_str(&r.comm)));
    format!("{{{}}}", f.join(", "))
}

/// The first line of sysstat's reports: kernel, host, date, architecture, CPUs.
fn banner() -> String {
    // SAFETY: uname fills the zeroed struct with NUL-terminated fields.
    let u = unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        libc::uname(&mut u);
        u
    };
    let field = |f: &[libc::c_char]| {
        let b: Vec<u8> = f.iter().take_while(|c| **c != 0).map(|c| *c as u8).collect();
        String::from_utf8_lossy(&b).into_owned()
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!(
        "{} {} ({}) \t{} \t_{}_\t({cpus} CPU)\n",
        field(&u.sysname),
        field(&u.release),
        field(&u.nodename),
        ferret_runtime::clock::now("%m/%d/%Y"),
        field(&u.machine)
    )
}

fn run(argv: Vec<OsString>) -> i32 {
    let (mut a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if !(a.cpu || a.switches || a.memory || a.disk) {
        a.cpu = true;
    }
    let pids: Vec<u32> = match a.pid.as_deref() {
        None | Some("ALL") => vec![],
        Some(list) => match list.split(',').map(str::parse).collect() {
            Ok(p) => p,
            Err(_) => {
                eprintln!("ferret pidstat: error: -p takes PID[,PID...] or ALL, not '{list}'");
                return 2;
            }
        },
    };
    if let Some(re) = &a.comm {
        if let Err(e) = regex::Regex::new(re) {
            eprintln!("ferret pidstat: error: -C: {e}");
            return 2;
        }
    }
    let reports: Vec<Report> =
        [(a.cpu, Report::Cpu), (a.switches, Report::Switches), (a.memory, Report::Memory), (a.disk, Report::Disk)]
            .into_iter()
            .filter_map(|(on, r)| on.then_some(r))
            .collect();
    let routes = [
        Route::new("tracepoints and software events", program(&a, &cg, &pids, RSS_NEW)),
        Route::new("tracepoints and software events (mm counters before Linux 6.2)", program(&a, &cg, &pids, RSS_OLD)),
    ];
    let head = if a.common.json { String::new() } else { banner() };
    let every = Every::positional(Some(a.interval), a.count);
    let mut last = Instant::now();
    let mut sums: BTreeMap<i64, (Row, u32)> = BTreeMap::new();
    let mut intervals = 0u32;
    let status = super::run_summary("pidstat", &routes, head.trim_end_matches('\n'), &a.common, every, |r| {
        let secs = last.elapsed().as_secs_f64().max(1e-3);
        last = Instant::now();
        let rows = collect(&a, r, secs);
        intervals += 1;
        let time = ferret_runtime::clock::now("%H:%M:%S");
        for (p, row) in &rows {
            let e =
                sums.entry(*p).or_insert_with(|| (Row { comm: row.comm.clone(), uid: row.uid, ..Row::default() }, 0));
            let s = &mut e.0;
            s.usr += row.usr;
            s.sys += row.sys;
            s.wait += row.wait;
            s.cswch += row.cswch;
            s.nvcswch += row.nvcswch;
            s.minflt += row.minflt;
            s.majflt += row.majflt;
            s.vsz = row.vsz;
            s.rss = row.rss;
            s.mem = row.mem;
            s.rd += row.rd;
            s.wr += row.wr;
            s.iodelay += row.iodelay;
        }
        if a.common.json {
            return rows.iter().all(|(p, row)| line(&json(*p, row, &reports, &time)));
        }
        let mut out = String::new();
        for rep in &reports {
            out.push_str(&format!("\n{time:<11}{}\n", header(*rep)));
            for (p, r) in rows.iter().filter(|(_, r)| active(*rep, r)) {
                out.push_str(&format!("{time:<11}{}\n", format_row(*rep, *p, r, true)));
            }
        }
        line(out.trim_end_matches('\n'))
    });
    if status == 0 && !a.common.json && intervals > 0 {
        // The averages over the intervals shown: rates and percentages averaged, VSZ and RSS
        // the last seen.
        let n = f64::from(intervals);
        let mut out = String::new();
        for rep in &reports {
            out.push_str(&format!("\n{:<11}{}\n", "Average:", header(*rep)));
            for (p, (s, _)) in &sums {
                let avg = Row {
                    usr: s.usr / n,
                    sys: s.sys / n,
                    wait: s.wait / n,
                    cswch: s.cswch / n,
                    nvcswch: s.nvcswch / n,
                    minflt: s.minflt / n,
                    majflt: s.majflt / n,
                    rd: s.rd / n,
                    wr: s.wr / n,
                    iodelay: s.iodelay,
                    ..s.clone()
                };
                if active(*rep, &avg) {
                    out.push_str(&format!("{:<11}{}\n", "Average:", format_row(*rep, *p, &avg, false)));
                }
            }
        }
        line(out.trim_end_matches('\n'));
    }
    status
}
