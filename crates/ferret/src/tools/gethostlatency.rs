//! `ferret gethostlatency`: host name lookups (getaddrinfo(), gethostbyname(),
//! gethostbyname2()) with their latency, as BCC gethostlatency prints them. Kernel side:
//! uprobes and uretprobes on libc's functions.
use super::{int, json_str, line, printf_args, string, Common, Route};
use clap::Parser;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command = crate::cmd::Command {
    name: "gethostlatency",
    about: "show latency for getaddrinfo/gethostbyname[2] calls (BCC's gethostlatency)",
    run,
};

const EXAMPLES: &str = "examples:
    ferret gethostlatency          # time getaddrinfo/gethostbyname[2] calls
    ferret gethostlatency -p 181   # only trace PID 181
    ferret gethostlatency -j       # JSON lines: time, pid, comm, lat_ms, host";

/// Show latency for getaddrinfo/gethostbyname[2] calls
#[derive(Parser, Debug)]
#[command(name = "ferret gethostlatency", after_help = EXAMPLES)]
struct Args {
    /// trace this PID only
    #[arg(short = 'p', long = "pid")]
    pid: Option<u32>,
    #[command(flatten)]
    common: Common,
}

const EVENT: &str = "%d %d %s %s\n";

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let mut f = cg.clone();
    if let Some(p) = a.pid {
        f.push(format!("pid == {p}"));
    }
    let funcs = ["getaddrinfo", "gethostbyname", "gethostbyname2"];
    let entries: Vec<String> = funcs.iter().map(|fn_| format!("uprobe:libc:{fn_}")).collect();
    let exits: Vec<String> = funcs.iter().map(|fn_| format!("uretprobe:libc:{fn_}")).collect();
    let text = format!(
        r#"{} {}{{ @start[tid] = nsecs; @host[tid] = str(arg0); }}
{} /@start[tid]/ {{
    printf("{}", pid, nsecs - @start[tid], comm, @host[tid]);
    delete(@start[tid]); delete(@host[tid]);
}}
"#,
        entries.join(", "),
        super::predicate(&f),
        exits.join(", "),
        EVENT.escape_default()
    );
    let h = if a.common.json {
        String::new()
    } else {
        format!("{:<9} {:<7} {:<16} {:>10} {}", "TIME", "PID", "COMM", "LATms", "HOST")
    };
    super::run("gethostlatency", &[Route::new("uprobe", text).for_pid(a.pid)], &h, &a.common, None, |e| {
        let Some(v) = printf_args(e, EVENT) else { return true };
        let (pid, ns, comm, host) = (int(&v[0]), int(&v[1]), string(&v[2]), string(&v[3]));
        let ms = ns as f64 / 1e6;
        let time = super::hms();
        if a.common.json {
            return line(&format!(
                "{{\"time\": {}, \"pid\": {pid}, \"comm\": {}, \"lat_ms\": {ms:.2}, \"host\": {}}}",
                json_str(&time),
                json_str(&comm),
                json_str(&host)
            ));
        }
        line(&format!("{time:<9} {pid:<7} {comm:<16} {ms:>10.2} {host}"))
    })
}
