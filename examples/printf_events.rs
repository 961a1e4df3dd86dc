//! Receive printf events as values: each carries its format, its decoded arguments and the text
//! bpftrace would print. Traces five openat calls and shows the pieces.
//!
//!     cargo run --example printf_events        # as root
use ferret::{Config, Event, Program};
use std::io::Write;
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let program = Program::compile(
        r#"tracepoint:syscalls:sys_enter_openat { printf("%s opened %s\n", comm, str(args.filename)); }"#,
        &Config::default(),
    )?;
    let mut running = program.load()?.attach()?;
    let mut seen = 0;
    let mut out = std::io::stdout().lock();
    'events: while seen < 5 {
        // Something to trace, in case the machine is quiet.
        let _ = std::fs::read("/etc/hostname");
        for event in running.poll(Duration::from_millis(100)) {
            match event {
                Event::Printf { id, format, args, text } => {
                    seen += 1;
                    // A closed output (`| head`) ends the example.
                    if write!(out, "printf #{id} {format:?} args={args:?}\n  -> {text}").is_err() {
                        break 'events;
                    }
                }
                Event::Lost(n) => eprintln!("{n} events lost"),
                _ => {}
            }
        }
    }
    running.detach();
    Ok(())
}
