//! The CLI against hostile or mistaken input and missing privileges, and the exit path as a
//! user sees it: invalid UTF-8 anywhere, unprivileged runs, `-c`/`-p` that cannot work,
//! nesting and size limits, and probes detached (and pipelines ended) when ferret exits.
//! Tests that need root print SKIP with the reason without it.
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const FERRET: &str = env!("CARGO_BIN_EXE_ferret");

fn root() -> bool {
    ferret_testing::skip_unless(&[ferret_testing::Need::Root])
}

fn run(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(FERRET).args(args).stdin(Stdio::null()).output().expect("run ferret")
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exited 1 (not 0, not a signal or a panic's 101) with `want` in its stderr.
fn fails_with(o: &Output, want: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "status {:?}, stderr:\n{err}", o.status);
    assert!(err.contains(want), "wanted {want:?} in:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
}

fn temp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ferret-hardening-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::File::create(&p).and_then(|mut f| f.write_all(bytes)).expect("write temp file");
    p
}

#[test]
fn invalid_utf8_is_an_error_never_a_panic() {
    let prog = std::ffi::OsStr::from_bytes(b"BEGIN { \xc3( exit(); }");
    let o = run(&[os("-e"), prog]);
    fails_with(&o, "stdin:1:9-10: ERROR: invalid UTF-8 in the program (byte 0xc3)");
    assert!(stderr(&o).contains("        ~\n"), "{}", stderr(&o));

    let file = temp_file("bad.bt", b"BEGIN {\n  printf(\"x\\n\"); \xff exit();\n}\n");
    let o = run(&[file.as_os_str()]);
    fails_with(&o, "bad.bt:2:18-19: ERROR: invalid UTF-8 in the program (byte 0xff)");

    let o = run(&[os("-e"), os("BEGIN { exit(); }"), std::ffi::OsStr::from_bytes(b"a\xffb")]);
    fails_with(&o, "ERROR: positional parameter $1 is not valid UTF-8");
    let o = run(&[os("-e"), os("BEGIN { exit(); }"), os("--"), std::ffi::OsStr::from_bytes(b"--n=\xff")]);
    fails_with(&o, "ERROR: a program argument after -- is not valid UTF-8");
    let o = run(&[os("-p"), std::ffi::OsStr::from_bytes(b"1\xff"), os("-e"), os("BEGIN { exit(); }")]);
    fails_with(&o, "ERROR: the value of -p is not valid UTF-8");
}

/// Found by the `compile` fuzz target: a non-ASCII character in a script struct's member type
/// made the C tokenizer slice inside the character, and the binary abort.
#[test]
fn non_ascii_text_in_a_script_struct_is_no_panic() {
    if !root() {
        return;
    }
    let o = run(&[
        os("-e"),
        os("struct A { int3\u{3a6}t a; char c; }; BEGIN { printf(\"%d\\n\", sizeof(struct A)); exit(); }"),
    ]);
    assert!(o.status.code().is_some() && !stderr(&o).contains("panicked"), "{:?}: {}", o.status, stderr(&o));
}

#[test]
fn invalid_utf8_in_a_command_or_path_passes_through() {
    if !root() {
        return;
    }
    // A script whose name is not UTF-8 runs; so does a -c command with such an argument.
    let file = temp_file("ok-\u{e9}.bt", b"BEGIN { printf(\"ran\\n\"); exit(); }\n");
    let mut raw = file.as_os_str().as_bytes().to_vec();
    let at = raw.len() - "\u{e9}.bt".len();
    raw.splice(at..at + 2, [0xe9]); // Latin-1 é: not UTF-8
    std::fs::rename(&file, std::ffi::OsStr::from_bytes(&raw)).expect("rename");
    let o = run(&[std::ffi::OsStr::from_bytes(&raw)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("ran"));

    let o = run(&[
        os("-c"),
        std::ffi::OsStr::from_bytes(b"/bin/echo a\xffb"),
        os("-e"),
        os("tracepoint:syscalls:sys_enter_write /pid == cpid/ { @ = count(); }"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stdout.windows(3).any(|w| w == b"a\xffb"), "{:?}", String::from_utf8_lossy(&o.stdout));
}

/// `args` run as uid 65534 with exactly the capabilities `caps` (setpriv's names).
fn as_nobody(caps: &str, args: &[&str]) -> Option<Output> {
    if Command::new("setpriv").arg("--version").output().is_err() {
        ferret_testing::skip("needs setpriv (util-linux)");
        return None;
    }
    // The test binary's directory may be closed to nobody: run a copy, one per call (tests
    // run in parallel, and rewriting a binary another test is running fails with ETXTBSY).
    static COPIES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COPIES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let bin = temp_file(&format!("ferret-{n}"), &std::fs::read(FERRET).expect("read binary"));
    let dir = bin.parent().expect("dir");
    for p in [dir, bin.as_path()] {
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    }
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
    if caps.is_empty() {
        c.arg("--inh-caps=-all");
    } else {
        c.arg(format!("--inh-caps={caps}")).arg(format!("--ambient-caps={caps}"));
    }
    Some(c.arg("--").arg(&bin).args(args).stdin(Stdio::null()).output().expect("setpriv"))
}

#[test]
fn unprivileged_runs_say_what_is_missing() {
    if !root() {
        return;
    }
    let want = "ERROR: ferret needs root or CAP_BPF and CAP_PERFMON (running as uid 65534)";
    let script = temp_file("getppid.bt", b"tracepoint:syscalls:sys_enter_getppid { @ = count(); }\n");
    let script = script.to_str().expect("utf-8 temp path");
    for args in [
        &["-e", "tracepoint:syscalls:sys_enter_getppid { @ = count(); }"][..],
        &["-l", "syscalls:*getppid"][..],
        &["-lv", "tracepoint:sched:sched_switch"][..],
        &[script][..],
    ] {
        let Some(o) = as_nobody("", args) else { return };
        fails_with(&o, want);
        assert!(!stderr(&o).contains("No matches"), "{}", stderr(&o));
    }
}

#[test]
fn the_needed_capabilities_are_enough() {
    if !root() {
        return;
    }
    let tp = "tracepoint:syscalls:sys_enter_getppid { @ = count(); } interval:ms:100 { exit(); }";
    // CAP_BPF + CAP_PERFMON load and attach; tracefs (mode 0700) also needs a read capability.
    let Some(o) = as_nobody("+bpf,+perfmon,+dac_read_search", &["-e", tp]) else { return };
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("Attached 2 probes"), "{}", stderr(&o));
    let Some(o) = as_nobody("+bpf,+perfmon", &["-e", "profile:hz:99 { @ = count(); } interval:ms:100 { exit(); }"])
    else {
        return;
    };
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let Some(o) = as_nobody("+bpf,+perfmon", &["-e", tp]) else { return };
    fails_with(&o, "ERROR: ferret cannot read tracefs (/sys/kernel/tracing: Permission denied");
}

#[test]
fn a_command_or_process_that_cannot_run_is_an_error_every_time() {
    let tp = "tracepoint:syscalls:sys_enter_getppid { @ = count(); }";
    let not_exec = temp_file("not-executable", b"#!/bin/sh\necho hi\n");
    let not_exec = not_exec.to_str().expect("utf-8 temp path").to_string();
    for _ in 0..20 {
        fails_with(
            &run(&[os("-c"), os("/nonexistent/binary"), os("-e"), os(tp)]),
            "ERROR: -c /nonexistent/binary: No such file or directory",
        );
        fails_with(
            &run(&[os("-c"), os(&not_exec), os("-e"), os(tp)]),
            &format!("ERROR: -c {not_exec}: Permission denied"),
        );
        fails_with(
            &run(&[os("-c"), os("no-such-command-here"), os("-e"), os(tp)]),
            "ERROR: -c no-such-command-here: command not found in $PATH",
        );
        // pid_max is at most 4194304: 4194303 is (practically) never a live process.
        fails_with(&run(&[os("-p"), os("4194303"), os("-e"), os(tp)]), "ERROR: -p 4194303: No such process");
    }
}

#[test]
fn nesting_and_size_limits_end_in_located_errors() {
    if !root() {
        return;
    }
    let deep_parens = format!("BEGIN {{ $x = {}1{}; exit(); }}", "(".repeat(100_000), ")".repeat(100_000));
    let long_chain = format!("BEGIN {{ $x = 0; $y = {}; exit(); }}", vec!["$x"; 5000].join(" + "));
    let macros: String = (0..1000).map(|i| format!("macro m{i}(x) {{ m{}(x) + 1 }}\n", i + 1)).collect();
    let macro_chain = format!("{macros}macro m1000(x) {{ x }}\nBEGIN {{ printf(\"%d\\n\", m0(1)); exit(); }}");
    let double = format!("macro a(x) {{ x + x }}\nBEGIN {{ @ = {}1{}; exit(); }}", "a(".repeat(40), ")".repeat(40));
    let structs: String = (1..10_000).map(|i| format!("struct s{i} {{ struct s{} a; }};\n", i - 1)).collect();
    let struct_chain = format!("struct s0 {{ int x; }};\n{structs}BEGIN {{ exit(); }}");
    let inline =
        format!("struct t {{ {}int x; {}}};\nBEGIN {{ exit(); }}", "struct { ".repeat(10_000), "} a; ".repeat(10_000));
    let printf_width = "BEGIN { printf(\"%99999999999d\\n\", 1); exit(); }".to_string();
    for (prog, want) in [
        (deep_parens, "stdin:1:112-113: ERROR: syntax: program is nested too deeply"),
        (long_chain, "ERROR: syntax: expression is too long (over 1000 operators in a chain)"),
        (macro_chain, "stdin:100:16-23: ERROR: macro calls are nested too deeply (more than 100 levels: m0 > ...)"),
        (double, "ERROR: macro expansion is too large (over 1000000 expressions)"),
        (struct_chain, "stdin:100:1-30: ERROR: struct s99 is nested too deeply (more than 100 levels of types)"),
        (inline, "stdin:1:1-140021: ERROR: struct t is nested too deeply (more than 100 levels of types)"),
        (printf_width, "ERROR: printf: field width or precision too large in format string (at most 65535)"),
    ] {
        let t = Instant::now();
        // From stdin (named `stdin`): some of these are longer than one argument may be.
        let mut child = Command::new(FERRET)
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ferret");
        child.stdin.take().expect("stdin").write_all(prog.as_bytes()).expect("write program");
        fails_with(&child.wait_with_output().expect("wait"), want);
        assert!(t.elapsed() < Duration::from_secs(20), "{want}: {:?}", t.elapsed());
    }
    // 10 MB of script: compiled (here: comments and one probe), never a hang.
    let big = format!(
        "{}BEGIN {{ printf(\"big\\n\"); exit(); }}\n",
        "// padding padding padding padding padding\n".repeat(240_000)
    );
    assert!(big.len() > 10_000_000);
    let file = temp_file("big.bt", big.as_bytes());
    let t = Instant::now();
    let o = run(&[file.as_os_str()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("big"));
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}

/// Names of the BPF programs loaded on the system (BPF_PROG_GET_NEXT_ID, GET_FD_BY_ID,
/// OBJ_GET_INFO_BY_FD).
fn loaded_program_names() -> Vec<String> {
    #[repr(C)]
    struct IdAttr {
        id: u32,
        next_id: u32,
        open_flags: u32,
    }
    #[repr(C)]
    struct InfoAttr {
        fd: u32,
        info_len: u32,
        info: u64,
    }
    let mut names = vec![];
    let mut id = 0u32;
    loop {
        let mut a = IdAttr { id, next_id: 0, open_flags: 0 };
        // SAFETY: bpf(BPF_PROG_GET_NEXT_ID = 11) reads and writes the attribute for the call.
        if unsafe { libc::syscall(libc::SYS_bpf, 11, &mut a as *mut IdAttr, std::mem::size_of::<IdAttr>()) } != 0 {
            break;
        }
        id = a.next_id;
        let mut a = IdAttr { id, next_id: 0, open_flags: 0 };
        // SAFETY: bpf(BPF_PROG_GET_FD_BY_ID = 13).
        let fd = unsafe { libc::syscall(libc::SYS_bpf, 13, &mut a as *mut IdAttr, std::mem::size_of::<IdAttr>()) };
        if fd < 0 {
            continue;
        }
        let mut info = [0u8; 256];
        let mut ia = InfoAttr { fd: fd as u32, info_len: info.len() as u32, info: info.as_mut_ptr() as u64 };
        // SAFETY: bpf(BPF_OBJ_GET_INFO_BY_FD = 15) writes at most info_len bytes into `info`.
        let r = unsafe { libc::syscall(libc::SYS_bpf, 15, &mut ia as *mut InfoAttr, std::mem::size_of::<InfoAttr>()) };
        // SAFETY: closing the fd we were given.
        unsafe { libc::close(fd as i32) };
        if r == 0 {
            let name = &info[64..80];
            let end = name.iter().position(|&b| b == 0).unwrap_or(16);
            names.push(String::from_utf8_lossy(&name[..end]).into_owned());
        }
    }
    names
}

#[test]
fn a_pipeline_ends_with_ferret_and_nothing_stays_attached() {
    if !root() {
        return;
    }
    // 360 syscall tracepoints, a perf-event tracepoint, and a one-syscall program whose name
    // no other test uses (sys_enter_ustat).
    for prog in [
        "tracepoint:syscalls:sys_enter_* { @[probe] = count(); } interval:ms:200 { exit(); }",
        "tracepoint:syscalls:sys_enter_ustat { @ = count(); } tracepoint:sched:sched_process_fork { @f = count(); } BEGIN { exit(); }",
    ] {
        let t = Instant::now();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("'{FERRET}' -e '{prog}' | cat"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sh");
        let mut out = String::new();
        std::io::Read::read_to_string(child.stdout.as_mut().expect("stdout"), &mut out).expect("read");
        let status = child.wait().expect("wait");
        let took = t.elapsed();
        assert!(status.success(), "{status:?}");
        // The pipeline ends when ferret does: well before the seconds a serial perf-event
        // detach of 360 tracepoints took.
        assert!(took < Duration::from_secs(3), "{prog}: the pipeline took {took:?}");
        if prog.contains("sys_enter_*") {
            assert!(out.contains("@[tracepoint:syscalls:sys_enter_"), "{out}");
        }
        std::thread::sleep(Duration::from_secs(1));
        let left: Vec<String> = loaded_program_names()
            .into_iter()
            .filter(|n| n == "sys_enter_ustat" || n == "sched_process_f" || n == "sys_enter_accep" && prog.contains('*'))
            .collect();
        assert!(left.is_empty(), "{prog}: still loaded 1 s after exit: {left:?}");
    }
}

/// `ferret tools` lists every tool of issue 11's list, and `ferret TOOL -h` shows each one's
/// usage with examples (exit 0), without root; an unknown flag is a usage error (exit 2).
#[test]
fn every_tool_has_help_and_usage_errors() {
    const WANTED: &[&str] = &[
        "execsnoop",
        "opensnoop",
        "tcptop",
        "filetop",
        "trace",
        "funccount",
        "profile",
        "pidstat",
        "syscount",
        "tcpconnect",
        "tcpaccept",
        "tcplife",
        "tcpstates",
        "tcpretrans",
        "tcpdrop",
        "runqlat",
        "runqlen",
        "runqslower",
        "cpudist",
        "offcputime",
        "biolatency",
        "biosnoop",
        "biotop",
        "bitesize",
        "killsnoop",
        "exitsnoop",
        "statsnoop",
        "syncsnoop",
        "mountsnoop",
        "sigsnoop",
        "capable",
        "oomkill",
        "softirqs",
        "hardirqs",
        "stackcount",
        "funclatency",
        "argdist",
        "memleak",
        "bashreadline",
        "gethostlatency",
        "threadsnoop",
        "vfsstat",
        "cachestat",
    ];
    let list = run(&[os("tools")]);
    assert_eq!(list.status.code(), Some(0));
    let listed: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect();
    for tool in WANTED {
        assert!(listed.iter().any(|l| l == tool), "ferret tools does not list {tool}");
    }
    for tool in &listed {
        let help = run(&[os(tool), os("-h")]);
        let out = String::from_utf8_lossy(&help.stdout);
        assert_eq!(help.status.code(), Some(0), "ferret {tool} -h: {}", stderr(&help));
        assert!(out.contains(&format!("Usage: ferret {tool}")), "ferret {tool} -h:\n{out}");
        assert!(
            out.contains("examples:") && out.contains(&format!("ferret {tool}")),
            "ferret {tool} -h has no examples:\n{out}"
        );
        assert!(
            out.contains("--json") && out.contains("--container"),
            "ferret {tool} -h lacks the common flags:\n{out}"
        );
        let bad = run(&[os(tool), os("--no-such-flag")]);
        assert_eq!(bad.status.code(), Some(2), "ferret {tool} --no-such-flag: {}", stderr(&bad));
        assert!(stderr(&bad).contains("Usage:"), "{}", stderr(&bad));
    }
}
