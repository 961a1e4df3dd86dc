//! Count system calls by process through the library and show the top five every second, for
//! five seconds.
//!
//!     cargo run --example syscount            # as root
use ferret::{Config, MapValue, Program, Value};
use std::io::Write;
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let program = Program::compile("tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }", &Config::default())?;
    let mut running = program.load()?.attach()?;
    for second in 1..=5 {
        let tick = Instant::now() + Duration::from_secs(1);
        while Instant::now() < tick {
            // Events are not used here, but polling keeps lost-event and full-map checks going.
            running.poll(Duration::from_millis(100));
        }
        let counts = running.map("@").map(|m| m.entries).unwrap_or_default();
        let mut rows: Vec<(String, u64)> = counts
            .into_iter()
            .filter_map(|(key, value)| match (key, value) {
                (Some(Value::Str(comm)), MapValue::Count(n)) => Some((comm, n)),
                _ => None,
            })
            .collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        // A closed output (`| head`) ends the example.
        let mut out = std::io::stdout().lock();
        let mut shown = writeln!(out, "-- {second} s: top processes by system calls");
        for (comm, n) in rows.iter().take(5) {
            shown = shown.and_then(|()| writeln!(out, "{comm:<16} {n:>10}"));
        }
        if shown.is_err() {
            break;
        }
    }
    let _ = running.stop();
    Ok(())
}
