//! `ferret execsnoop`: new processes, one line per exec(), with BCC execsnoop's flags and
//! columns. Kernel side: the execve syscall tracepoints (no kprobes needed); each argument
//! arrives as its own event keyed by the process, and the exit event completes the line.
use super::{int, json_str, line, printf_args, string, Common, Route};
use clap::Parser;
use std::collections::HashMap;
use std::ffi::OsString;
use std::time::Instant;

pub const COMMAND: crate::cmd::Command =
    crate::cmd::Command { name: "execsnoop", about: "trace new processes via exec() syscalls (BCC's execsnoop)", run };

const EXAMPLES: &str = "examples:
    ferret execsnoop                 # trace all exec() syscalls
    ferret execsnoop -x              # include failed exec()s
    ferret execsnoop -T              # include time (HH:MM:SS)
    ferret execsnoop -P 181          # only trace new processes whose parent PID is 181
    ferret execsnoop -U              # include UID
    ferret execsnoop -C              # include CPU
    ferret execsnoop -M              # include PCOMM
    ferret execsnoop -u 1000         # only trace UID 1000
    ferret execsnoop -t              # include timestamps
    ferret execsnoop -q              # add \"quotemarks\" around arguments
    ferret execsnoop -n main         # only print command lines containing \"main\"
    ferret execsnoop -l tpkg         # only print command where arguments contains \"tpkg\"
    ferret execsnoop -j              # JSON lines: time, ts, uid, comm, pid, ppid, pcomm, cpu, ret, args";

/// Trace exec() syscalls
#[derive(Parser, Debug)]
#[command(name = "ferret execsnoop", after_help = EXAMPLES)]
struct Args {
    /// include time column on output (HH:MM:SS)
    #[arg(short = 'T', long = "time")]
    time: bool,
    /// include timestamp on output
    #[arg(short = 't', long = "timestamp")]
    timestamp: bool,
    /// include failed exec()s
    #[arg(short = 'x', long = "fails")]
    fails: bool,
    /// trace this UID only
    #[arg(short = 'u', long = "uid", value_name = "USER")]
    uid: Option<String>,
    /// add quotemarks (") around arguments
    #[arg(short = 'q', long = "quote")]
    quote: bool,
    /// only print commands matching this name (regex), any arg
    #[arg(short = 'n', long = "name")]
    name: Option<String>,
    /// only print commands where arg contains this line (regex)
    #[arg(short = 'l', long = "line")]
    line: Option<String>,
    /// print UID column
    #[arg(short = 'U', long = "print-uid")]
    print_uid: bool,
    /// print CPU column
    #[arg(short = 'C', long = "print-cpu")]
    print_cpu: bool,
    /// print parent command
    #[arg(short = 'M', long = "print-pcomm")]
    print_pcomm: bool,
    /// maximum number of arguments parsed and displayed
    #[arg(long = "max-args", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100))]
    max_args: u32,
    /// trace this parent PID only
    #[arg(short = 'P', long = "ppid")]
    ppid: Option<u32>,
    #[command(flatten)]
    common: Common,
}

/// The format strings of the program's two events (they tell the events apart).
const ARG: &str = "%d %s\n";
const RET: &str = "%d %d %d %d %d %s %s\n";

fn program(a: &Args, uid: Option<u32>, cg: &[String]) -> String {
    let mut filter = cg.to_vec();
    if let Some(u) = uid {
        filter.push(format!("uid == {u}"));
    }
    if let Some(p) = a.ppid {
        filter.push(format!("curtask->real_parent->tgid == {p}"));
    }
    let filter = if filter.is_empty() { String::new() } else { format!("/{}/", filter.join(" && ")) };
    let max = a.max_args;
    format!(
        r#"tracepoint:syscalls:sys_enter_execve {filter} {{
    $i = 0;
    while ($i < {max}) {{
        $p = args.argv[$i];
        if ($p == 0) {{ break; }}
        printf("{ARG_E}", pid, str($p));
        $i++;
    }}
    if ($i == {max} && args.argv[$i] != 0) {{ printf("{ARG_E}", pid, "..."); }}
}}
tracepoint:syscalls:sys_exit_execve {filter} {{
    printf("{RET_E}", pid, curtask->real_parent->tgid, uid, cpu, args.ret, comm, curtask->real_parent->comm);
}}
"#,
        ARG_E = ARG.escape_default(),
        RET_E = RET.escape_default(),
    )
}

/// A user name or number as a uid.
fn parse_uid(s: &str) -> Result<u32, String> {
    if let Ok(n) = s.parse() {
        return Ok(n);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&s)).then(|| f.get(2).and_then(|u| u.parse().ok())).flatten()
        })
        .ok_or_else(|| format!("'{s}' is not valid UID or user entry"))
}

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let uid = match a.uid.as_deref().map(parse_uid).transpose() {
        Ok(u) => u,
        Err(e) => {
            eprintln!("ferret execsnoop: error: argument -u/--uid: {e}");
            return 2;
        }
    };
    let regex = |r: &Option<String>, flag: &str| -> Result<Option<regex::Regex>, i32> {
        r.as_deref().map(regex::Regex::new).transpose().map_err(|e| {
            eprintln!("ferret execsnoop: error: argument {flag}: {e}");
            2
        })
    };
    let (name, line_re) = match (regex(&a.name, "-n/--name"), regex(&a.line, "-l/--line")) {
        (Ok(n), Ok(l)) => (n, l),
        (Err(c), _) | (_, Err(c)) => return c,
    };
    let mut h = String::new();
    if !a.common.json {
        if a.time {
            h.push_str(&format!("{:<9}", "TIME"));
        }
        if a.timestamp {
            h.push_str(&format!("{:<8}", "TIME(s)"));
        }
        if a.print_uid {
            h.push_str(&format!("{:<6}", "UID"));
        }
        h.push_str(&format!("{:<16} {:<7} ", "COMM", "PID"));
        if a.print_pcomm {
            h.push_str(&format!("{:<16} ", "PCOMM"));
        }
        h.push_str(&format!("{:<7} ", "PPID"));
        if a.print_cpu {
            h.push_str(&format!("{:<4} ", "CPU"));
        }
        h.push_str(&format!("{:>3} {}", "RET", "ARGS"));
    }
    let start = Instant::now();
    let mut argv: HashMap<i64, Vec<String>> = HashMap::new();
    super::run("execsnoop", &[Route::new("tracepoint", program(&a, uid, &cg))], &h, &a.common, None, |e| {
        if let Some(v) = printf_args(e, ARG) {
            argv.entry(int(&v[0])).or_default().push(string(&v[1]));
            return true;
        }
        let Some(v) = printf_args(e, RET) else { return true };
        let (pid, ppid, uid, cpu, ret) = (int(&v[0]), int(&v[1]), int(&v[2]), int(&v[3]), int(&v[4]));
        let (comm, pcomm) = (string(&v[5]), string(&v[6]));
        let mut args = argv.remove(&pid).unwrap_or_default();
        if ret != 0 && !a.fails {
            return true;
        }
        if name.as_ref().is_some_and(|r| !r.is_match(&comm)) {
            return true;
        }
        if line_re.as_ref().is_some_and(|r| !r.is_match(&args.join(" "))) {
            return true;
        }
        if a.quote {
            args = args.iter().map(|s| format!("\"{}\"", s.replace('"', "\\\""))).collect();
        }
        if a.common.json {
            let list: Vec<String> = args.iter().map(|s| json_str(s)).collect();
            return line(&format!(
                "{{\"time\": {}, \"ts\": {:.3}, \"uid\": {uid}, \"comm\": {}, \"pid\": {pid}, \"ppid\": {ppid}, \"pcomm\": {}, \"cpu\": {cpu}, \"ret\": {ret}, \"args\": [{}]}}",
                json_str(&super::hms()),
                start.elapsed().as_secs_f64(),
                json_str(&comm),
                json_str(&pcomm),
                list.join(", ")
            ));
        }
        let mut row = String::new();
        if a.time {
            row.push_str(&format!("{:<9}", super::hms()));
        }
        if a.timestamp {
            row.push_str(&format!("{:<8.3}", start.elapsed().as_secs_f64()));
        }
        if a.print_uid {
            row.push_str(&format!("{uid:<6}"));
        }
        row.push_str(&format!("{comm:<16} {pid:<7} "));
        if a.print_pcomm {
            row.push_str(&format!("{pcomm:<16} "));
        }
        let ppid = if ppid > 0 { ppid.to_string() } else { "?".to_string() };
        row.push_str(&format!("{ppid:<7} "));
        if a.print_cpu {
            row.push_str(&format!("{cpu:<4} "));
        }
        row.push_str(&format!("{ret:>3} {}", args.join(" ").replace('\n', "\\n")));
        line(&row)
    })
}
