//! Runs tests/runtime/*.test against the real kernel: each test starts `ferret`, waits until its
//! probes are attached, drives a workload from this process, and checks the output.
//! Format: tests/runtime/README.md. Without root every test prints a SKIP line with the reason.
//! `FERRET_BIN` and `FERRET_TEST_DIR` override the binary and the directory of `.test` files:
//! tests/vm/run.sh runs this runner inside a QEMU guest on tests/vm/*.test.
use regex::Regex;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Default, Debug)]
struct Case {
    file: String,
    name: String,
    prog: String,
    args: Vec<String>,
    /// `RUN`: the whole command line instead of `ARGS -e PROG pid`.
    run: Option<Vec<String>>,
    /// Arguments after the program and the runner's pid (`-- --name=value`).
    tail: Vec<String>,
    workload: Vec<String>,
    expect: Vec<String>,
    expect_regex: Vec<String>,
    expect_none: Vec<String>,
    exit: i32,
    self_exit: bool,
    /// `REQUIRES name` / `REQUIRES !name`: `ferret --info` probe types that must (not) be there;
    /// `REQUIRES ksym:NAME`: a kernel function (kallsyms) that must (not) be there.
    requires: Vec<String>,
    /// `ENV NAME=VALUE`: set for ferret.
    env: Vec<(String, String)>,
    /// `WRAP command...`: run ferret under this command (`unshare --fork --pid --mount-proc`).
    wrap: Vec<String>,
    /// `SETUP command`: a shell command run before ferret starts (a cgroup to filter on).
    setup: Vec<String>,
    /// `CHECK command`: a shell command run after ferret ended, which must succeed (a file it
    /// wrote); its output is checked with ferret's.
    check: Vec<String>,
}

/// Split on spaces not escaped with a backslash.
fn split_args(s: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => cur.extend(chars.next()),
            ' ' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn parse(file: &Path) -> Vec<Case> {
    let text = std::fs::read_to_string(file).expect("read test file");
    let fname = file.file_stem().unwrap().to_string_lossy().to_string();
    let mut cases = vec![];
    for block in text.split("\n\n") {
        let mut c = Case { file: fname.clone(), ..Default::default() };
        for line in block.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
            let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "NAME" => c.name = rest.to_string(),
                // Several PROG lines make a multi-line program (`#define` needs its own line).
                "PROG" if !c.prog.is_empty() => c.prog = format!("{}\n{rest}", c.prog),
                "PROG" => c.prog = rest.to_string(),
                "ARGS" => c.args = split_args(rest),
                "RUN" => c.run = Some(split_args(rest)),
                "WRAP" => c.wrap = split_args(rest),
                "SETUP" => c.setup.push(rest.to_string()),
                "CHECK" => c.check.push(rest.to_string()),
                "TAIL" => c.tail = split_args(rest),
                "WORKLOAD" => c.workload = rest.split_whitespace().map(String::from).collect(),
                "EXPECT" => c.expect.push(rest.trim().to_string()),
                "EXPECT_REGEX" => c.expect_regex.push(rest.to_string()),
                "EXPECT_NONE" => c.expect_none.push(rest.to_string()),
                "EXIT" => c.exit = rest.trim().parse().expect("EXIT n"),
                "SELF_EXIT" => c.self_exit = true,
                "REQUIRES" => c.requires.push(rest.trim().to_string()),
                "ENV" => {
                    let (k, v) = rest.trim().split_once('=').expect("ENV NAME=VALUE");
                    c.env.push((k.to_string(), v.to_string()));
                }
                other => panic!("{}: unknown directive {other}", file.display()),
            }
        }
        if !c.name.is_empty() {
            cases.push(c);
        }
    }
    cases
}

/// The workload a case traces; an error (no loopback, say) fails that case, not the runner.
fn run_workload(w: &[String]) -> std::io::Result<()> {
    match w.first().map(String::as_str) {
        Some("getppid") => {
            let n: usize = w.get(1).and_then(|n| n.parse().ok()).unwrap_or(1000);
            for _ in 0..n {
                // SAFETY: getppid has no arguments and cannot fail.
                unsafe { libc::syscall(libc::SYS_getppid) };
            }
        }
        Some("sh") => {
            Command::new("sh").arg("-c").arg(w[1..].join(" ")).stdout(Stdio::null()).status()?;
        }
        Some("tcp") => {
            use std::io::Write;
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            let addr = l.local_addr()?;
            let t = std::thread::spawn(move || -> std::io::Result<()> {
                let (mut s, _) = l.accept()?;
                let mut b = [0u8; 5];
                s.read_exact(&mut b)?;
                s.write_all(b"world")
            });
            let mut c = std::net::TcpStream::connect(addr)?;
            c.write_all(b"hello")?;
            let mut b = [0u8; 5];
            c.read_exact(&mut b)?;
            t.join().map_err(|_| std::io::Error::other("the tcp server thread panicked"))??;
        }
        _ => {}
    }
    Ok(())
}

/// Run a `SETUP` or `CHECK` shell command: its output, or why it failed.
fn shell(what: &str, cmd: &str) -> Result<String, String> {
    let out = Command::new("sh").arg("-c").arg(cmd).output().map_err(|e| format!("{what} {cmd:?}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("{what} {cmd:?} failed ({}):\n{text}", out.status))
    }
}

/// Run one case; Err carries the reason and the output.
fn run(bin: &Path, c: &Case) -> Result<(), String> {
    for cmd in &c.setup {
        shell("SETUP", cmd)?;
    }
    let mut cmd = match c.wrap.split_first() {
        Some((wrapper, wrap_args)) => {
            let mut cmd = Command::new(wrapper);
            cmd.args(wrap_args).arg(bin);
            cmd
        }
        None => Command::new(bin),
    };
    match &c.run {
        Some(args) => cmd.args(args),
        None => cmd.args(&c.args).arg("-e").arg(&c.prog).arg(std::process::id().to_string()).args(&c.tail),
    };
    cmd.env("__BPFTRACE_NOTIFY_PROBES_ATTACHED", "1");
    cmd.envs(c.env.iter().map(|(k, v)| (k, v)));
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("spawn: {e}"))?;
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    // Collect stdout on a thread, watching for the attach marker.
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let out_t = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        let mut told = false;
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    all.extend_from_slice(&buf[..n]);
                    if !told && String::from_utf8_lossy(&all).contains("__BPFTRACE_NOTIFY_PROBES_ATTACHED") {
                        told = true;
                        let _ = tx.send(());
                    }
                }
            }
        }
        all
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v);
        v
    });
    let attached = rx.recv_timeout(Duration::from_secs(10)).is_ok();
    let mut workload = Ok(());
    if attached {
        workload = run_workload(&c.workload);
        // A RUN test without a workload (a listing) ends by itself; one with a workload traces.
        if !c.self_exit && (c.run.is_none() || !c.workload.is_empty()) {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break child.wait().map_err(|e| e.to_string())?;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut out =
        String::from_utf8_lossy(&out_t.join().unwrap()).to_string() + &String::from_utf8_lossy(&err_t.join().unwrap());
    for cmd in &c.check {
        match shell("CHECK", cmd) {
            Ok(text) => out.push_str(&text),
            Err(e) => return Err(format!("{e}\n--- output ---\n{out}--------------")),
        }
    }
    let fail = |why: String| Err(format!("{why}\n--- output ---\n{out}--------------"));
    if let Err(e) = workload {
        return fail(format!("workload {:?}: {e}", c.workload.join(" ")));
    }
    let code = status.code().unwrap_or(-1);
    if code != c.exit {
        return fail(format!("exit code {code}, expected {}", c.exit));
    }
    for e in &c.expect {
        if !out.lines().any(|l| l.trim() == e) {
            return fail(format!("no line equal to {e:?}"));
        }
    }
    for r in &c.expect_regex {
        let re = Regex::new(&format!("(?m){r}")).map_err(|e| e.to_string())?;
        if !re.is_match(&out) {
            return fail(format!("no match for /{r}/"));
        }
    }
    for r in &c.expect_none {
        let re = Regex::new(&format!("(?m){r}")).map_err(|e| e.to_string())?;
        if re.is_match(&out) {
            return fail(format!("unexpected match for /{r}/"));
        }
    }
    Ok(())
}

/// Wait (up to 10 s) until no earlier ferret is still detaching in the background: its
/// release child is a session leader named `ferret` (runtime's release_in_background). A test
/// starts on a kernel with no probes left from the one before; on Debian's 6.1.192 a kprobe and
/// an fentry on one function (do_filp_open) detaching while the next test's ferret called
/// openat crashed the guest kernel (RIP 0 in the ftrace path).
fn settle() {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && detaching() {
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn detaching() -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else { return false };
    dir.flatten().any(|e| {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { return false };
        let Some(rest) = stat.strip_prefix(&format!("{} (ferret) ", e.file_name().to_string_lossy())) else {
            return false;
        };
        // state ppid pgrp session: a session leader's session id is its own pid.
        rest.split(' ').nth(3) == Some(&*e.file_name().to_string_lossy())
    })
}

/// Build tests/runtime/progs/*.c (uprobe targets) into a fresh directory that tests refer to as
/// `{{progs}}`. Err names why not (no gcc), and the tests using them skip with that reason.
fn build_progs(dir: &Path) -> Result<PathBuf, String> {
    let out = std::env::temp_dir().join(format!("ferret-test-progs-{}", std::process::id()));
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    for entry in std::fs::read_dir(dir.join("progs")).map_err(|e| e.to_string())?.flatten() {
        let src = entry.path();
        if src.extension().is_none_or(|x| x != "c") {
            continue;
        }
        let exe = out.join(src.file_stem().unwrap());
        let status = Command::new("gcc")
            .args(["-O2", "-g"])
            .args(extra_cflags(&src))
            .arg("-o")
            .arg(&exe)
            .arg(&src)
            .status()
            .map_err(|e| format!("gcc not available ({e})"))?;
        if !status.success() {
            return Err(format!("gcc failed on {}", src.display()));
        }
        for cmd in post_build(&src) {
            let status = Command::new("sh")
                .args(["-c", &cmd])
                .current_dir(&out)
                .env("SRC", &src)
                .status()
                .map_err(|e| format!("sh not available ({e})"))?;
            if !status.success() {
                return Err(format!("{}: POSTBUILD failed: {cmd}", src.display()));
            }
        }
    }
    Ok(out)
}

/// Shell commands a test program's first comment asks for after it is built, one per
/// `POSTBUILD: ...` line: run in the output directory with `$SRC` the source (separate debug
/// files made with objcopy, split-DWARF builds).
fn post_build(src: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(src).unwrap_or_default();
    let comment = text.split("*/").next().unwrap_or_default().to_string();
    comment.lines().filter_map(|l| l.split_once("POSTBUILD:").map(|(_, c)| c.trim().to_string())).collect()
}

/// What `ferret --info` says this kernel has: `name: yes|no` lines (`kprobe`, `fentry`, ...).
fn kernel_features(bin: &Path) -> Vec<(String, bool)> {
    let Ok(out) = Command::new(bin).arg("--info").output() else { return vec![] };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (k, v) = l.trim().split_once(": ")?;
            matches!(v, "yes" | "no").then(|| (k.to_string(), v == "yes"))
        })
        .collect()
}

/// Whether /proc/kallsyms names this function (kernel or module).
fn kernel_has_symbol(name: &str) -> bool {
    let text = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
    text.lines().any(|l| l.split_whitespace().nth(2) == Some(name))
}

/// Why a case cannot run on this kernel, if it cannot.
fn unmet(c: &Case, features: &[(String, bool)]) -> Option<String> {
    for r in &c.requires {
        let (want, name) = match r.strip_prefix('!') {
            Some(n) => (false, n),
            None => (true, r.as_str()),
        };
        if let Some(sym) = name.strip_prefix("ksym:") {
            if kernel_has_symbol(sym) != want {
                return Some(format!("needs a kernel {} {sym}", if want { "with" } else { "without" }));
            }
            continue;
        }
        match features.iter().find(|(k, _)| k == name) {
            Some((_, have)) if *have == want => {}
            Some(_) => return Some(format!("needs {}{name}", if want { "" } else { "a kernel without " })),
            None => return Some(format!("unknown feature {name}")),
        }
    }
    None
}

/// Flags a test program asks for on a `CFLAGS: ...` line in its first comment (stack tests
/// need builds with and without frame pointers).
fn extra_cflags(src: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(src).unwrap_or_default();
    text.lines()
        .take(3)
        .find_map(|l| l.split_once("CFLAGS:").map(|(_, f)| f.split_whitespace().map(str::to_string).collect()))
        .unwrap_or_default()
}

fn main() {
    let bin = std::env::var_os("FERRET_BIN").map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_ferret")), PathBuf::from);
    let dir = std::env::var_os("FERRET_TEST_DIR")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/runtime"), PathBuf::from);
    let progs = build_progs(&dir);
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/runtime")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let features = if root { kernel_features(&bin) } else { vec![] };
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for f in files {
        for mut c in parse(&f) {
            let full = format!("{}: {}", c.file, c.name);
            let uses_progs = c.prog.contains("{{progs}}")
                || c.workload
                    .iter()
                    .chain(&c.args)
                    .chain(&c.wrap)
                    .chain(c.run.iter().flatten())
                    .any(|w| w.contains("{{progs}}"));
            if uses_progs {
                match &progs {
                    Ok(p) => {
                        let p = p.to_string_lossy();
                        c.prog = c.prog.replace("{{progs}}", &p);
                        for w in c
                            .workload
                            .iter_mut()
                            .chain(c.args.iter_mut())
                            .chain(c.wrap.iter_mut())
                            .chain(c.run.iter_mut().flatten())
                        {
                            *w = w.replace("{{progs}}", &p);
                        }
                    }
                    Err(why) => {
                        println!("SKIP {full}: cannot build the test programs: {why}");
                        skipped += 1;
                        continue;
                    }
                }
            }
            // `{{pid}}`: the runner's own pid (a live process with libc mapped), for `-p` runs.
            let me = std::process::id().to_string();
            for w in c.args.iter_mut().chain(c.run.iter_mut().flatten()) {
                *w = w.replace("{{pid}}", &me);
            }
            if filter.as_ref().is_some_and(|flt| !full.contains(flt.as_str())) {
                continue;
            }
            if !root {
                println!("SKIP {full}: needs root to load BPF programs");
                skipped += 1;
                continue;
            }
            if let Some(why) = unmet(&c, &features) {
                println!("SKIP {full}: {why}");
                skipped += 1;
                continue;
            }
            settle();
            let t0 = Instant::now();
            match run(&bin, &c) {
                Ok(()) => {
                    println!("PASS {full} ({} ms)", t0.elapsed().as_millis());
                    passed += 1;
                }
                Err(why) => {
                    println!("FAIL {full}: {why}");
                    failed += 1;
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    if failed > 0 {
        std::process::exit(1);
    }
}
