//! The library facade on the real kernel: programs compiled, loaded, attached and read as
//! values, with no printing and no process-wide state between them.
use ferret::{Config, Event, Program, Value};
use std::time::{Duration, Instant};

/// Whether this test can run here (it says why not when it cannot).
fn can_run() -> bool {
    ferret_testing::skip_unless(&[ferret_testing::Need::Root])
}

/// Write `bytes` to /dev/null with write(2): the programs read the buffer it names.
fn write_null(bytes: &[u8]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().write(true).open("/dev/null").expect("/dev/null");
    f.write_all(bytes).expect("write");
}

/// Poll until a `print()` of a struct arrives, writing `bytes` while waiting.
fn record(running: &mut ferret::Running, bytes: &[u8]) -> Vec<(String, Value)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        write_null(bytes);
        for e in running.poll(Duration::from_millis(20)) {
            if let Event::Print(Value::Record(fields)) = e {
                return fields;
            }
        }
    }
    panic!("no struct was printed within 10 s");
}

#[test]
fn two_programs_with_their_own_options_and_structs_decode_independently() {
    if !can_run() {
        return;
    }
    let me = std::process::id() as i32;
    // Both define `struct S`, with different layouts; each prints the buffer write(2) is given
    // as its own S. One is compiled with --unsafe (system() needs it), one with a -p target.
    let a = Program::compile(
        "struct S { int x; int y; }
         tracepoint:syscalls:sys_enter_write /pid == $1 && args.count == 8/ {
             print(*(struct S *)uptr(args.buf));
             if (0) { system(\"true\"); }
         }",
        &Config::default().allow_unsafe().arg(me.to_string()),
    )
    .expect("program A compiles with --unsafe");
    let b = Program::compile(
        "struct S { long z; char tag[4]; }
         tracepoint:syscalls:sys_enter_write /pid == $1 && args.count == 12/ { print(*(struct S *)uptr(args.buf)); }",
        &Config::default().pid(me).arg(me.to_string()),
    )
    .expect("program B compiles with a target pid");
    // Without --unsafe, A's program is refused: the option belongs to A's compile alone.
    let refused = Program::compile("BEGIN { system(\"true\"); }", &Config::default());
    assert!(matches!(refused, Err(ferret::Error::Compile { .. })), "system() compiled without --unsafe");

    let mut ra = a.load().expect("A loads").attach().expect("A attaches");
    let mut rb = b.load().expect("B loads").attach().expect("B attaches");

    let mut abytes = vec![];
    abytes.extend_from_slice(&7i32.to_ne_bytes());
    abytes.extend_from_slice(&(-3i32).to_ne_bytes());
    let mut bbytes = vec![];
    bbytes.extend_from_slice(&0x1122_3344_5566i64.to_ne_bytes());
    bbytes.extend_from_slice(b"ab\0\0");

    let fa = record(&mut ra, &abytes);
    let fb = record(&mut rb, &bbytes);
    let names = |f: &[(String, Value)]| f.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&fa), ["x", "y"], "A's struct: {fa:?}");
    assert_eq!(names(&fb), ["z", "tag"], "B's struct: {fb:?}");
    assert_eq!(fa[0].1, Value::Int(7));
    assert_eq!(fa[1].1, Value::Int(-3));
    assert_eq!(fb[0].1, Value::Int(0x1122_3344_5566));
    assert_eq!(fb[1].1, Value::Str("ab".into()));
    // A's events still decode as A's struct after B was compiled and ran.
    let again = record(&mut ra, &abytes);
    assert_eq!(names(&again), ["x", "y"]);
}

#[test]
fn printf_events_carry_their_format_and_decoded_arguments() {
    if !can_run() {
        return;
    }
    let program = Program::compile(
        "BEGIN { printf(\"%s has %d\\n\", \"ferret\", 42); @n = 5; }
         END { printf(\"bye\\n\"); }",
        &Config::default(),
    )
    .expect("compiles");
    let mut loaded = program.load().expect("loads");
    let mut begin_errors = vec![];
    loaded.begin(&mut begin_errors);
    assert!(begin_errors.is_empty(), "{begin_errors:?}");
    let mut running = loaded.attach().expect("attaches");
    let events = running.poll(Duration::from_millis(10));
    let printf = events.iter().find_map(|e| match e {
        Event::Printf { format, args, text, .. } => Some((format.clone(), args.clone(), text.clone())),
        _ => None,
    });
    let (format, args, text) = printf.expect("BEGIN's printf arrives as an event");
    assert_eq!(format, "%s has %d\n");
    assert_eq!(args, [Value::Str("ferret".into()), Value::Int(42)]);
    assert_eq!(text, "ferret has 42\n");
    // stop() runs END; the maps stay readable.
    let end = running.stop();
    assert!(end.iter().any(|e| matches!(e, Event::Printf { text, .. } if text == "bye\n")), "{end:?}");
    let n = running.map("@n").expect("@n is readable after stop");
    assert_eq!(n.entries.len(), 1, "{n:?}");
    assert_eq!(running.lost(), 0);
    running.detach();
}

#[test]
fn kernel_errors_keep_their_errno() {
    if !can_run() {
        return;
    }
    // A map of 0 entries: the kernel refuses to create it (EINVAL), and the error says so
    // both as text and as a number.
    let mut config = Config::default();
    config.options.max_map_keys = 0;
    let program = Program::compile("BEGIN { @[1] = 1; }", &config).expect("compiles");
    let err = program.load().err().expect("a map of 0 entries is refused");
    assert!(matches!(err, ferret::Error::Kernel(_)), "{err:?}");
    assert_eq!(err.errno(), Some(libc::EINVAL), "{err}");
    assert!(err.to_string().starts_with("creating map @: bpf(BPF_MAP_CREATE)"), "{err}");
    // A compile error has no errno and renders at its line.
    let err = Program::compile("BEGIN { @x = nosuchfunc(); }", &Config::default()).err().expect("no such function");
    assert_eq!(err.errno(), None);
    assert!(err.to_string().starts_with("stdin:1:"), "{err}");
}
