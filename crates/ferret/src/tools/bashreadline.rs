//! `ferret bashreadline`: commands typed into bash, as BCC bashreadline prints them. Kernel
//! side: a uretprobe on bash's `readline` (or, with -s, a shared libreadline's).
use super::{int, json_str, line, printf_args, string, Common, Route};
use clap::Parser;
use std::ffi::OsString;

pub const COMMAND: crate::cmd::Command = crate::cmd::Command {
    name: "bashreadline",
    about: "print entered bash commands system wide (BCC's bashreadline)",
    run,
};

const EXAMPLES: &str = "examples:
    ferret bashreadline                         # commands typed into /bin/bash
    ferret bashreadline -s /lib/libreadline.so  # bash linked against a shared libreadline
    ferret bashreadline -j                      # JSON lines: time, pid, command";

/// Print entered bash commands from all running shells
#[derive(Parser, Debug)]
#[command(name = "ferret bashreadline", after_help = EXAMPLES)]
struct Args {
    /// specify the location of libreadline.so library
    #[arg(short = 's', long = "shared")]
    shared: Option<String>,
    #[command(flatten)]
    common: Common,
}

const EVENT: &str = "%d %s\n";

fn run(argv: Vec<OsString>) -> i32 {
    let (a, cg) = match super::parse_tool::<Args>(argv, |a| &a.common) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let mut f = cg.clone();
    f.push("retval != 0".into());
    let (file, func) = match &a.shared {
        Some(lib) => (lib.clone(), "readline"),
        // Debian's bash exports readline as readline_internal_teardown's caller too: the symbol
        // is `readline` in /bin/bash.
        None => ("/bin/bash".to_string(), "readline"),
    };
    let text = format!(
        "uretprobe:{file}:{func} {}{{ printf(\"{}\", pid, str(retval)); }}\n",
        super::predicate(&f),
        EVENT.escape_default()
    );
    let h = if a.common.json { String::new() } else { format!("{:<9} {:<7} {}", "TIME", "PID", "COMMAND") };
    super::run("bashreadline", &[Route::new("uretprobe", text)], &h, &a.common, None, |e| {
        let Some(v) = printf_args(e, EVENT) else { return true };
        let (pid, cmd) = (int(&v[0]), string(&v[1]));
        let time = super::hms();
        if a.common.json {
            return line(&format!(
                "{{\"time\": {}, \"pid\": {pid}, \"command\": {}}}",
                json_str(&time),
                json_str(&cmd)
            ));
        }
        line(&format!("{time:<9} {pid:<7} {cmd}"))
    })
}
