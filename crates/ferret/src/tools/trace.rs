//! `ferret trace`: BCC trace's one-liners: each probe spec (`[p|r][:lib]:func`, `t:cat:event`,
//! `u:lib:probe`), an optional `(filter)` and an optional `"format", args`, printed as
//! `PID TID COMM FUNC -` rows. BCC's names in filters and arguments carry over (`arg1`.. the
//! first argument, `retval`, `$uid`, `$gid`, `$pid` the thread, `$tgid` the process, `$cpu`,
//! `$task`, `args->field` of a tracepoint); `%s` reads a string, `%K`/`%U` name a kernel or
//! user address. A kernel function attaches through fentry, else kprobes.
use super::spec::{self, Target};
use super::{int, line, string, Common, Route};
use clap::Parser;
use ferret::Event;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command =
    crate::cmd::Command { name: "trace", about: "trace a function and print a trace message (BCC's trace)", run };

const EXAMPLES: &str = "examples:
    ferret trace 't:syscalls:sys_enter_openat \"%s\", args->filename'
        trace openat() and print the file name
    ferret trace 'c:malloc \"size = %d\", arg1'
        trace malloc calls and print the size being allocated
    ferret trace 'r:c:malloc (retval == 0) \"malloc failed\"'
        trace failed mallocs
    ferret trace 'p:c:write (arg1 == 1) \"writing %d bytes to STDOUT\", arg3'
        trace writes to stdout
    ferret trace 'do_sys_open \"%s\", arg2@user'
        trace the open syscall's kernel function (fentry, else kprobe)
    ferret trace -p 1234 't:sched:sched_switch \"%s -> %s\", args->prev_comm, args->next_comm'
        trace context switches of PID 1234
    ferret trace 'u:pthread:pthread_create \"start addr = %U\", arg1'
        trace a USDT probe
    ferret trace -M 10 't:raw_syscalls:sys_enter'
        print 10 events, then exit
    ferret trace -K -U 't:syscalls:sys_enter_openat'
        print the kernel and the user stack of each openat()";

/// Trace a function and print a trace message based on its parameters, with an optional filter
#[derive(Parser, Debug)]
#[command(name = "ferret trace", after_help = EXAMPLES)]
struct Args {
    /// id of the process to trace (optional)
    #[arg(short = 'p', long = "pid")]
    pid: Option<u32>,
    /// id of the thread to trace (optional)
    #[arg(short = 'L', long = "tid")]
    tid: Option<u32>,
    /// id of the user to trace (optional)
    #[arg(long = "uid")]
    uid: Option<u32>,
    /// number of events to print before quitting
    #[arg(short = 'M', long = "max-events")]
    max_events: Option<u64>,
    /// print timestamp column (offset from trace start)
    #[arg(short = 't', long = "timestamp")]
    timestamp: bool,
    /// print time column
    #[arg(short = 'T', long = "time")]
    time: bool,
    /// print CPU id
    #[arg(short = 'C', long = "print_cpu")]
    print_cpu: bool,
    /// cgroup path (as --cgroup)
    #[arg(short = 'c', long = "cgroup-path")]
    cgroup_path: Option<String>,
    /// only print the msg of event whose comm contains this name
    #[arg(short = 'n', long = "name")]
    name: Option<String>,
    /// also trace ferret itself (left out by default)
    #[arg(short = 'S', long = "include-self")]
    include_self: bool,
    /// only print the msg of event who contains this string
    #[arg(short = 'f', long = "msg-filter")]
    msg_filter: Option<String>,
    /// output kernel stack trace
    #[arg(short = 'K', long = "kernel-stack")]
    kernel_stack: bool,
    /// output user stack trace
    #[arg(short = 'U', long = "user-stack")]
    user_stack: bool,
    /// probe specifier (see examples)
    #[arg(required = true)]
    probes: Vec<String>,
    #[command(flatten)]
    common: Common,
}

/// One probe of the command line, parsed.
struct Probe {
    target: Target,
    /// What the FUNC column shows.
    func: String,
    filter: Option<String>,
    format: String,
    args: Vec<String>,
}

/// Rewrite BCC's names in an expression to the language's: `arg1` is `arg0` (a kernel or user
/// function's), `$tgid` is `pid`, `$pid` is `tid`, `args->f` is a tracepoint's field.
fn rewrite(expr: &str) -> String {
    let re = regex::Regex::new(r"\$(uid|gid|pid|tgid|cpu|task)\b|\barg([1-9])(@user)?\b").expect("valid regex");
    re.replace_all(expr, |c: &regex::Captures| match (c.get(1).map(|m| m.as_str()), c.get(2)) {
        (Some("uid"), _) => "uid".to_string(),
        (Some("gid"), _) => "gid".to_string(),
        (Some("pid"), _) => "tid".to_string(),
        (Some("tgid"), _) => "pid".to_string(),
        (Some("cpu"), _) => "cpu".to_string(),
        (Some("task"), _) => "curtask".to_string(),
        (_, Some(n)) => {
            let arg = format!("arg{}", n.as_str().parse::<u32>().unwrap_or(1) - 1);
            // `argN@user`: a user-space pointer, read as one.
            if c.get(3).is_some() {
                format!("uptr({arg})")
            } else {
                arg
            }
        }
        _ => c[0].to_string(),
    })
    .into_owned()
}

/// Split `"fmt", a, b` on the commas outside strings and parentheses.
fn split_args(s: &str) -> Vec<String> {
    let mut out = vec![];
    let (mut depth, mut quoted, mut cur) = (0i32, false, String::new());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => {
                cur.push(c);
                cur.extend(chars.next());
                continue;
            }
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
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

fn parse_probe(text: &str) -> Result<Probe, String> {
    let text = text.trim();
    let end = text.find([' ', '\t', '(']).unwrap_or(text.len());
    let (spec_text, rest) = text.split_at(end);
    let target = spec::parse(spec_text)?;
    if rest.starts_with('(') {
        return Err(format!("{spec_text}: function signatures are not supported: use arg1, arg2, ..."));
    }
    let mut rest = rest.trim_start();
    let mut filter = None;
    if rest.starts_with('(') {
        let mut depth = 0;
        let close = rest
            .char_indices()
            .find(|&(_, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .map(|(i, _)| i)
            .ok_or_else(|| format!("{text}: unmatched end of predicate"))?;
        filter = Some(rewrite(&rest[1..close]));
        rest = rest[close + 1..].trim_start();
    }
    let (mut format, mut args) = (String::new(), vec![]);
    if !rest.is_empty() {
        let parts = split_args(rest);
        let fmt = parts.first().map(String::as_str).unwrap_or_default();
        if !(fmt.len() >= 2 && fmt.starts_with('"') && fmt.ends_with('"')) {
            return Err(format!("{text}: expected format string in \"s"));
        }
        format = fmt[1..fmt.len() - 1].to_string();
        args = parts[1..].iter().map(|a| rewrite(a)).collect();
    }
    let func = match &target {
        Target::Kernel { func, .. } | Target::User { func, .. } => func.clone(),
        Target::Tracepoint { event, .. } => event.clone(),
        Target::Usdt { probe, .. } => probe.clone(),
    };
    Ok(Probe { target, func, filter, format, args })
}

/// The block of probe `i` at `attach`: printf of the row's fields, a 0x1f separator, then the
/// user's message, then (`stacks`: `kstack`, `ustack` or both) a 0x1e and the stacks, which
/// come back as the last arguments.
fn block(i: usize, p: &Probe, attach: &str, filters: &[String], stacks: &[&str]) -> Result<String, String> {
    let mut f = filters.to_vec();
    f.extend(p.filter.as_ref().map(|x| format!("({x})")));
    let conv = regex::Regex::new(r"%(-?\d*)(l{0,2}|h)([sdiuxcKUp%])").expect("valid regex");
    let mut args = p.args.iter();
    let mut extra = vec![];
    let mut err = None;
    let fmt = conv.replace_all(&p.format, |c: &regex::Captures| {
        let conv = &c[3];
        if conv == "%" {
            return "%%".to_string();
        }
        let Some(a) = args.next() else {
            err = Some(format!("{}: more format conversions than arguments", p.func));
            return String::new();
        };
        let (spec, expr) = match conv {
            "s" if a.starts_with('"') || a.starts_with("str(") || a.contains("comm") => ("s", a.clone()),
            "s" => ("s", format!("str({a})")),
            "K" => ("s", format!("ksym({a})")),
            "U" => ("s", format!("usym({a})")),
            "i" => ("d", a.clone()),
            other => (other, a.clone()),
        };
        extra.push(expr);
        format!("%{}{}{spec}", &c[1], &c[2])
    });
    if let Some(e) = err {
        return Err(e);
    }
    let fmt = format!("{fmt}").replace('"', "\\\"");
    let mut all = vec!["nsecs".to_string(), "pid".into(), "tid".into(), "cpu".into(), "comm".into()];
    all.extend(extra);
    all.extend(stacks.iter().map(|s| s.to_string()));
    let tail = if stacks.is_empty() { String::new() } else { format!("\\x1e{}", "%s".repeat(stacks.len())) };
    Ok(format!(
        "{attach} {}{{ printf(\"%d %d %d %d %s\\x1f{i}\\x1f{fmt}{tail}\\n\", {}); }}\n",
        super::predicate(&f),
        all.join(", ")
    ))
}

fn run(argv: Vec<OsString>) -> i32 {
    let mut a: Args = match crate::cmd::parse(argv) {
        Ok(a) => a,
        Err(code) => return code,
    };
    if a.common.cgroup.is_none() {
        a.common.cgroup = a.cgroup_path.take();
    }
    let cg = match a.common.filters() {
        Ok(f) => f,
        Err(code) => return code,
    };
    let probes: Vec<Probe> = match a.probes.iter().map(|p| parse_probe(p)).collect() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ferret trace: error: {e}");
            return 2;
        }
    };
    let mut f = cg.clone();
    if let Some(p) = a.pid {
        f.push(format!("pid == {p}"));
    }
    if let Some(t) = a.tid {
        f.push(format!("tid == {t}"));
    }
    if let Some(u) = a.uid {
        f.push(format!("uid == {u}"));
    }
    if !a.include_self {
        f.push(format!("pid != {}", std::process::id()));
    }
    let stacks = super::stacks::Opts {
        kernel: a.kernel_stack,
        user: a.user_stack,
        delimited: false,
        offsets: true,
        annotate: false,
    }
    .stack_keys();
    // A route for each choice of the first alternatives (fentry) or the last (kprobes):
    // enough, as only kernel functions have two.
    let mut routes = vec![];
    for (route, pick_last) in [("fentry", false), ("kprobe", true)] {
        let mut text = String::new();
        for (i, p) in probes.iter().enumerate() {
            let attach = p.target.probes();
            let (_, probe) = if pick_last { attach.last() } else { attach.first() }.expect("a probe").clone();
            match block(i, p, &probe, &f, &stacks) {
                Ok(b) => text.push_str(&b),
                Err(e) => {
                    eprintln!("ferret trace: error: {e}");
                    return 2;
                }
            }
        }
        if routes.iter().all(|r: &Route| r.text != text) {
            let name =
                if probes.iter().any(|p| matches!(p.target, Target::Kernel { .. })) { route } else { "as given" };
            routes.push(Route::new(name, text).for_pid(a.pid));
        }
    }
    let trivial = probes.iter().all(|p| p.format.is_empty());
    let mut h = String::new();
    if !a.common.json {
        if a.timestamp || a.time {
            h.push_str(&format!("{:<8} ", "TIME"));
        }
        if a.print_cpu {
            h.push_str(&format!("{:<3} ", "CPU"));
        }
        h.push_str(&format!(
            "{:<7} {:<7} {:<15} {:<16} {}",
            "PID",
            "TID",
            "COMM",
            "FUNC",
            if trivial { "" } else { "-" }
        ));
    }
    // Frame pointers for user stacks, as BCC (the DWARF unwinder's tables cost ~200 ms first).
    if a.user_stack {
        for r in &mut routes {
            r.text.insert_str(0, super::stacks::unwind_config(false));
        }
    }
    let mut first: Option<i64> = None;
    let mut printed = 0u64;
    super::run("trace", &routes, h.trim_end(), &a.common, None, |e| {
        let Event::Printf { args, text, .. } = e else { return true };
        let mut parts = text.splitn(3, '\x1f');
        let (Some(_), Some(idx), Some(msg)) = (parts.next(), parts.next(), parts.next()) else { return true };
        let Some(p) = idx.parse::<usize>().ok().and_then(|i| probes.get(i)) else { return true };
        let msg = msg.strip_suffix('\n').unwrap_or(msg);
        // The stacks' text follows a 0x1e; their values are the last arguments.
        let msg = msg.split_once('\x1e').map_or(msg, |(m, _)| m);
        let taken = &args[args.len().saturating_sub(stacks.len())..];
        let kernel = a.kernel_stack.then(|| taken.first().map(super::stacks::kernel_frames).unwrap_or_default());
        let user = a.user_stack.then(|| taken.last().map(super::stacks::user_frames).unwrap_or_default());
        let (ts, pid, tid, cpu, comm) = (int(&args[0]), int(&args[1]), int(&args[2]), int(&args[3]), string(&args[4]));
        if a.name.as_ref().is_some_and(|n| !comm.contains(n.as_str())) {
            return true;
        }
        if a.msg_filter.as_ref().is_some_and(|m| !msg.contains(m.as_str())) {
            return true;
        }
        if a.max_events.is_some_and(|m| printed >= m) {
            return false;
        }
        printed += 1;
        let secs = (ts - *first.get_or_insert(ts)) as f64 / 1e9;
        let more = a.max_events.is_none_or(|m| printed < m);
        if a.common.json {
            let mut stack_fields = String::new();
            if let Some(k) = &kernel {
                stack_fields.push_str(&format!(", \"kernel_stack\": {}", super::stacks::json_frames(k)));
            }
            if let Some(u) = &user {
                stack_fields.push_str(&format!(", \"user_stack\": {}", super::stacks::json_frames(u)));
            }
            return line(&format!(
                "{{\"ts\": {secs:.6}, \"pid\": {pid}, \"tid\": {tid}, \"cpu\": {cpu}, \"comm\": {}, \"func\": {}, \"msg\": {}{stack_fields}}}",
                super::json_str(&comm),
                super::json_str(&p.func),
                super::json_str(msg)
            )) && more;
        }
        let mut row = String::new();
        if a.time {
            row.push_str(&format!("{:<8} ", super::hms()));
        } else if a.timestamp {
            row.push_str(&format!("{:<8} ", format!("{secs:.6}").chars().take(8).collect::<String>()));
        }
        if a.print_cpu {
            row.push_str(&format!("{cpu:<3} "));
        }
        row.push_str(&format!("{pid:<7} {tid:<7} {comm:<15} {:<16} {msg}", p.func));
        let mut text = row.trim_end().to_string();
        // BCC's layout: each frame on a line of its own, eight spaces in, the module after it.
        for (frames, module) in [(&kernel, "kernel"), (&user, "")] {
            for f in frames.iter().flatten() {
                text.push_str(&format!("\n        {f}"));
                if !module.is_empty() && f != "[unknown]" {
                    text.push_str(&format!(" [{module}]"));
                }
            }
        }
        line(&text) && more
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_parse_as_bcc_writes_them() {
        let p = parse_probe(r#"p:c:write (arg1 == 1) "writing %d bytes to STDOUT", arg3"#).unwrap();
        assert_eq!(p.func, "write");
        assert_eq!(p.filter.as_deref(), Some("arg0 == 1"));
        assert_eq!(p.format, "writing %d bytes to STDOUT");
        assert_eq!(p.args, vec!["arg2"]);
        let t = parse_probe(r#"t:syscalls:sys_enter_openat "%s", args->filename"#).unwrap();
        assert_eq!(t.func, "sys_enter_openat");
        assert_eq!(t.args, vec!["args->filename"]);
        assert_eq!(rewrite("$tgid == 5 && $pid != arg2"), "pid == 5 && tid != arg1");
        assert!(parse_probe("p:c:write(int fd)").is_err());
        assert!(parse_probe("p:c:write (arg1 == 1").is_err());
        assert_eq!(split_args(r#""a, b", f(x, y), z"#), vec![r#""a, b""#, "f(x, y)", "z"]);
    }
}
