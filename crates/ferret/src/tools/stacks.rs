//! What the stack tools (profile, offcputime, stackcount) share: a map keyed by kernel and user
//! stacks, a process name and id, shown as BCC shows it (frames, then `-  comm (pid)` and the
//! count), folded for flame graphs (`comm;user frames;kernel frames count`), or as an SVG
//! flame graph drawn by inferno.
use super::{json_str, line};
use ferret::{MapDump, Value};

/// Which stacks a tool collects and how it shows them.
#[derive(Clone, Copy, Default)]
pub struct Opts {
    pub kernel: bool,
    pub user: bool,
    /// `--` between the kernel and the user stack (`-d`).
    pub delimited: bool,
    /// Offsets after the function names (`+0x1f`).
    pub offsets: bool,
    /// `_[k]` after kernel frames in folded output (`-a`).
    pub annotate: bool,
}

impl Opts {
    /// Read the kernel's symbols on a thread of their own while tracing, when kernel stacks
    /// are shown: kallsyms costs ~50 ms of kernel time to read, which would otherwise come
    /// between Ctrl-C and the report. Symbolizing waits for it if it is not done.
    pub fn prefetch_symbols(&self) {
        if self.kernel {
            prefetch_kernel_symbols();
        }
    }

    /// The stacks a map key starts with, in the order [`entries`] reads them back.
    pub fn stack_keys(&self) -> Vec<&'static str> {
        [(self.kernel, "kstack"), (self.user, "ustack")].into_iter().filter_map(|(on, k)| on.then_some(k)).collect()
    }
}

/// One counted stack: kernel frames and user frames innermost first, the process.
pub struct Counted {
    pub kernel: Vec<String>,
    pub user: Vec<String>,
    pub comm: String,
    pub pid: i64,
    pub count: u64,
}

/// A frame as BCC names it: `func+0x1f` with offsets, `func` without; an address the
/// symbolizer could not name is `[unknown]`.
pub fn frame(sym: &str, offsets: bool) -> String {
    if sym.starts_with("0x") {
        return "[unknown]".to_string();
    }
    // Source lines (`func+4@file.c:10`) are not part of BCC's frames.
    let sym = sym.split_once('@').map_or(sym, |(s, _)| s);
    let (name, off) = match sym.rsplit_once('+') {
        Some((n, o)) if o.bytes().all(|b| b.is_ascii_digit()) => (n, o.parse::<u64>().ok()),
        _ => (sym, None),
    };
    match (offsets, off) {
        (true, Some(o)) => format!("{name}+{o:#x}"),
        _ => name.to_string(),
    }
}

/// The frames of the tracing machinery itself (the BPF program, the tracepoint's and the perf
/// event's glue) that a kernel stack taken in a probe starts with: left out, so a stack starts
/// where the event happened.
const GLUE: [&str; 10] = [
    "bpf_prog_",
    "bpf_trace_run",
    "__bpf_trace_",
    "__traceiter_",
    "trace_call_bpf",
    "perf_trace_",
    "perf_syscall_",
    "kprobe_perf_func",
    "kprobe_ftrace_handler",
    "bpf_trampoline_",
];

fn frames(v: Option<&Value>, offsets: bool) -> Vec<String> {
    match v {
        Some(Value::Stack(s)) => s
            .frames
            .iter()
            .skip_while(|f| GLUE.iter().any(|g| f.sym.starts_with(g)))
            .take_while(|f| f.addr != u64::MAX)
            // One frame per address, as BCC: the functions inlined there are left out.
            .filter(|f| !f.sym.starts_with("[inlined]"))
            .map(|f| frame(&f.sym, offsets))
            .collect(),
        _ => vec![],
    }
}

/// Read the kernel's symbols on a thread of their own (see [`Opts::prefetch_symbols`]).
pub fn prefetch_kernel_symbols() {
    std::thread::spawn(|| {
        ferret_symbols::KernelSymbols::get();
    });
}

/// The config line choosing how user stacks unwind: frame pointers as BCC (cheap to start), or
/// with `--dwarf` the DWARF-CFI unwinder (tables of every mapped file's .eh_frame loaded first).
pub fn unwind_config(dwarf: bool) -> &'static str {
    if dwarf {
        ""
    } else {
        "config = { ustack_unwind = \"fp\" }\n"
    }
}

/// A kernel stack's frames as BCC prints them (with offsets), the tracing glue left out.
pub fn kernel_frames(v: &Value) -> Vec<String> {
    frames(Some(v), true)
}

/// A user stack's frames as BCC prints them (with offsets; `[unknown]` where no symbol).
pub fn user_frames(v: &Value) -> Vec<String> {
    frames(Some(v), true)
}

/// The entries of a map keyed `[kstack?, ustack?, comm, pid]` (the stacks as `o` says), least
/// counted first, as BCC sorts them.
pub fn entries(dump: Option<MapDump>, o: &Opts) -> Vec<Counted> {
    let mut out = vec![];
    for (k, v) in dump.map(|d| d.entries).unwrap_or_default() {
        let Some(Value::Tuple(k)) = k else { continue };
        let Some(count) = super::num(&v) else { continue };
        let mut i = 0;
        let mut next = || {
            i += 1;
            k.get(i - 1)
        };
        let kernel = if o.kernel { frames(next(), o.offsets) } else { vec![] };
        let user = if o.user { frames(next(), o.offsets) } else { vec![] };
        let comm = next().map(super::hist::plain).unwrap_or_default();
        let pid = next().map_or(0, super::int);
        out.push(Counted { kernel, user, comm, pid, count });
    }
    out.sort_by(|a, b| a.count.cmp(&b.count).then(a.pid.cmp(&b.pid)));
    out
}

/// The folded line of a stack: `comm;user frames outermost first;[-;]kernel frames count`.
pub fn folded(c: &Counted, o: &Opts) -> String {
    let mut parts = vec![c.comm.clone()];
    parts.extend(c.user.iter().rev().cloned());
    if o.delimited && !c.user.is_empty() && !c.kernel.is_empty() {
        parts.push("-".into());
    }
    let k = if o.annotate { "_[k]" } else { "" };
    parts.extend(c.kernel.iter().rev().map(|f| format!("{f}{k}")));
    format!("{} {}", parts.join(";"), c.count)
}

/// BCC's multi-line form: frames indented by `indent`, then `comm` (as `tail` formats it) and
/// the count.
pub fn multiline(c: &Counted, o: &Opts, indent: &str, tail: &str, count_indent: &str) -> String {
    let mut out = String::new();
    for f in &c.kernel {
        out.push_str(&format!("{indent}{f}\n"));
    }
    if o.delimited && !c.user.is_empty() && !c.kernel.is_empty() {
        out.push_str("    --\n");
    }
    for f in &c.user {
        out.push_str(&format!("{indent}{f}\n"));
    }
    if !tail.is_empty() {
        out.push_str(tail);
        out.push('\n');
    }
    out.push_str(&format!("{count_indent}{}\n", c.count));
    out
}

/// Frames as a JSON array of strings.
pub fn json_frames(frames: &[String]) -> String {
    format!("[{}]", frames.iter().map(|f| json_str(f)).collect::<Vec<_>>().join(", "))
}

/// One JSON object for a stack: `{"comm", "pid", "kernel": [...], "user": [...], "count"}`.
pub fn json(c: &Counted) -> String {
    format!(
        "{{\"comm\": {}, \"pid\": {}, \"kernel\": {}, \"user\": {}, \"count\": {}}}",
        json_str(&c.comm),
        c.pid,
        json_frames(&c.kernel),
        json_frames(&c.user),
        c.count
    )
}

/// Write an interactive SVG flame graph of `stacks` to `path`.
pub fn flamegraph(path: &str, title: &str, count_name: &str, stacks: &[Counted], o: &Opts) -> Result<(), String> {
    let o = Opts { offsets: false, ..*o };
    let lines: Vec<String> = stacks.iter().map(|c| folded(c, &o)).collect();
    let file = std::fs::File::create(path).map_err(|e| format!("{path}: {e}"))?;
    let mut opts = inferno::flamegraph::Options::default();
    opts.title = title.to_string();
    opts.count_name = count_name.to_string();
    inferno::flamegraph::from_lines(&mut opts, lines.iter().map(String::as_str), std::io::BufWriter::new(file))
        .map_err(|e| format!("{path}: {e}"))
}

/// How a profile-like tool (profile, offcputime) shows its stacks at the end.
pub struct Report<'a> {
    /// Write this SVG flame graph instead of printing.
    pub flamegraph: Option<&'a str>,
    pub title: &'a str,
    /// What a stack's count is (`samples`, `us`).
    pub count_name: &'a str,
    pub folded: bool,
    pub json: bool,
}

impl Report<'_> {
    /// Write the flame graph (`failed` set when it cannot be written), or print the stacks
    /// folded, as JSON or in BCC's layout (a blank line, then each stack with its process and
    /// count); false once the output is closed.
    pub fn print(&self, all: &[Counted], o: &Opts, failed: &mut bool) -> bool {
        if let Some(path) = self.flamegraph {
            if let Err(e) = flamegraph(path, self.title, self.count_name, all, o) {
                eprintln!("ERROR: {e}");
                *failed = true;
            }
            return true;
        }
        if !self.folded && !self.json && !line("") {
            return false;
        }
        show(all, o, self.json, self.folded, |c| {
            let tail = format!("    {:<16} {} ({})", "-", c.comm, c.pid);
            multiline(c, o, "    ", &tail, "        ")
        })
    }
}

/// Print `stacks` as `folded`, JSON or BCC's multi-line form (`each` formats one), or write the
/// flame graph; false once the output is closed.
pub fn show(stacks: &[Counted], o: &Opts, json_out: bool, fold: bool, each: impl Fn(&Counted) -> String) -> bool {
    stacks.iter().all(|c| {
        if json_out {
            line(&json(c))
        } else if fold {
            line(&folded(c, o))
        } else {
            line(&each(c))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_folded_lines() {
        assert_eq!(frame("vfs_read+12", true), "vfs_read+0xc");
        assert_eq!(frame("vfs_read+12", false), "vfs_read");
        assert_eq!(frame("0x7f3c6d307503", true), "[unknown]");
        assert_eq!(frame("a+b", false), "a+b");
        assert_eq!(frame("main+4@/src/a.c:10", true), "main+0x4");
        let c = Counted {
            kernel: vec!["schedule".into(), "do_nanosleep".into()],
            user: vec!["nanosleep".into(), "main".into()],
            comm: "sleep".into(),
            pid: 7,
            count: 3,
        };
        let o = Opts { kernel: true, user: true, delimited: true, offsets: false, annotate: true };
        assert_eq!(folded(&c, &o), "sleep;main;nanosleep;-;do_nanosleep_[k];schedule_[k] 3");
        let text = multiline(&c, &o, "    ", "    -                sleep (7)", "        ");
        assert_eq!(text, "    schedule\n    do_nanosleep\n    --\n    nanosleep\n    main\n    -                sleep (7)\n        3\n");
    }
}
