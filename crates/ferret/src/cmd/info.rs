//! `ferret info`: what this kernel supports (the same report as `ferret --info`).
use clap::Parser;
use std::ffi::OsString;

pub const COMMAND: super::Command =
    super::Command { name: "info", about: "what this kernel supports (as --info)", run };

/// What this kernel supports: kernel features and probe types, each `yes` or `no`.
#[derive(Parser)]
#[command(name = "ferret info")]
struct Args {
    /// Only these rows (`kprobe`, `ringbuf`, ...), one `name: yes|no` line each, for scripts.
    #[arg(value_name = "FEATURE")]
    only: Vec<String>,
}

fn run(args: Vec<OsString>) -> i32 {
    let args: Args = match super::parse(args) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let report = crate::info::report(&[]);
    if args.only.is_empty() {
        crate::say(&report);
        return 0;
    }
    let mut code = 0;
    for want in &args.only {
        let row = report.lines().map(str::trim).find(|l| l.split_once(": ").is_some_and(|(k, _)| k == want));
        match row {
            Some(row) => crate::say(&format!("{row}\n")),
            None => {
                eprintln!("ERROR: no feature named '{want}' (ferret info lists them)");
                code = 1;
            }
        }
    }
    code
}
