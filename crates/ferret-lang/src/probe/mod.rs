//! Probe types: the one registry that names every provider. Adding a probe type is one file here
//! plus one line in [`REGISTRY`]: names, target expansion, program type, context, attach, listing.
use ferret_syntax::ast::AttachPoint;
use ferret_syntax::Diagnostic;
use std::os::fd::{BorrowedFd, OwnedFd};

pub mod alternatives;
pub mod fentry;
pub mod hardware;
pub mod interval;
pub mod iter;
pub mod kfuncs;
pub mod kprobe;
pub mod listing;
pub mod profile;
pub mod rawtracepoint;
pub mod software;
pub mod special;
pub mod syscall;
pub mod tracepoint;
pub mod uprobe;
pub mod usdt;
pub mod watchpoint;

/// What the program's context pointer is, which decides what `args`, `argN` and `retval` read.
#[derive(Debug, Clone, PartialEq)]
pub enum Context {
    /// BEGIN/END: no useful context.
    None,
    /// A tracepoint record laid out as its tracefs format file says.
    Tracepoint { fields: Vec<TpField>, user_pointers: bool },
    /// `u64 args[]` of a raw tracepoint.
    RawArgs,
    /// `struct bpf_perf_event_data` (pt_regs first).
    PerfEvent,
    /// `struct pt_regs *` itself (kprobe-type programs: kprobes and uprobes). `ret` for return
    /// probes (`retval` reads rax); `user` when integers used as pointers point into user space.
    Regs { ret: bool, user: bool },
    /// A USDT probe site: pt_regs, with each argument's location from the probe's note.
    Usdt { args: Vec<ferret_symbols::usdt::UsdtArg> },
    /// `u64 args[]` of a BTF tracing program on a kernel function (fentry/fexit, and kprobes
    /// attached as fentry): the slots and types of its arguments, from the function's BTF.
    Func(FuncArgs),
}

/// A kernel function's arguments as a tracing program sees them.
#[derive(Debug, Clone, PartialEq)]
pub struct FuncArgs {
    pub args: Vec<FuncArg>,
    /// Slots the arguments take (fexit's return value is in the next one).
    pub slots: u32,
    /// `retval` of fexit: the slot after the arguments; `None` when the function returns void
    /// or the probe is an entry probe.
    pub retval: Option<FuncArg>,
    /// A return probe (fexit, or kretprobe attached as fexit).
    pub exit: bool,
    /// A kprobe/kretprobe attached as fentry/fexit: `argN` (not `args`) reads the slots, and
    /// values are u64 as kprobe registers are.
    pub kprobe: bool,
    /// An iterator's `struct bpf_iter__<name>` (`ctx.task`): the program ends at once when an
    /// object pointer it reads is NULL (the kernel's last call, after the last object), as
    /// bpftrace's iterators do.
    pub iter: bool,
}

/// One argument (or the return value) in the `u64 args[]` array.
#[derive(Debug, Clone, PartialEq)]
pub struct FuncArg {
    pub name: String,
    pub ty: crate::types::Type,
    /// Index of its (first) u64 slot.
    pub slot: u32,
    /// The verifier types a direct load of this slot as a kernel pointer (PTR_TO_BTF_ID) that
    /// no integer arithmetic may touch: read it with bpf_probe_read_kernel to get a plain value.
    pub read: bool,
}

impl FuncArgs {
    pub fn arg(&self, name: &str) -> Option<&FuncArg> {
        self.args.iter().find(|a| a.name == name)
    }
}

/// How a tracing program names its attach target at load time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtfAttach {
    /// `expected_attach_type` (BPF_TRACE_FENTRY / BPF_TRACE_FEXIT).
    pub attach_type: u32,
    /// The FUNC's id in the kernel's BTF (a module's ids continue vmlinux's).
    pub btf_id: u32,
    /// The module whose BTF object holds `btf_id`; `None` for vmlinux.
    pub module: Option<String>,
}

/// One tracepoint field as the program reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct TpField {
    pub name: String,
    pub c_type: String,
    pub offset: u32,
    pub size: u32,
    pub signed: bool,
    /// `char name[N]` arrays (read as strings when the element is char).
    pub array_len: Option<u32>,
    /// `__data_loc char[] x`: a u32 holding (len << 16 | offset) of data inside the record.
    pub data_loc: bool,
}

impl Context {
    /// Where an integer used as a pointer (`str(arg0)`) points.
    pub fn default_space(&self) -> crate::types::AddrSpace {
        match self {
            Context::Regs { user: true, .. } | Context::Usdt { .. } => crate::types::AddrSpace::User,
            _ => crate::types::AddrSpace::Kernel,
        }
    }
}

/// A concrete thing to attach to, after wildcard expansion.
#[derive(Debug, Clone)]
pub struct Target {
    pub kind: &'static ProbeKind,
    /// The full probe name, as the `probe` builtin prints it (`tracepoint:syscalls:sys_enter_read`).
    pub name: String,
    /// Provider-specific parts (e.g. `["syscalls", "sys_enter_read"]`, `["s", "1"]`).
    pub parts: Vec<String>,
    pub context: Context,
    /// Tracing programs (fentry/fexit): what to load them against.
    pub btf: Option<BtfAttach>,
    /// The traced function (kprobes, fentry, uprobes): what the `func` builtin returns.
    pub func: Option<String>,
    /// Said with `-v` before attaching: how this probe is attached when that is not the
    /// obvious way (a kprobe attached as fentry on a kernel without kprobes).
    pub note: Option<String>,
    /// The kernel functions this one target attaches to through one kprobe_multi link (a
    /// wildcard kprobe on a kernel that has them); empty for every other target. Such a
    /// target's program reads `func` with bpf_get_func_ip, as it serves every function.
    pub multi: Vec<String>,
    /// A syscall tracepoint reached through raw_syscalls (see [`syscall`]).
    pub syscall: Option<syscall::Tail>,
}

impl Target {
    pub fn new(kind: &'static ProbeKind, name: String, parts: Vec<String>, context: Context) -> Target {
        Target { kind, name, parts, context, btf: None, func: None, note: None, multi: vec![], syscall: None }
    }

    /// How many probes this target counts as in `Attached N probes`: one per function; a
    /// raw_syscalls dispatcher none (its syscall tracepoints count).
    pub fn probe_count(&self) -> usize {
        if std::ptr::eq(self.kind, &syscall::DISPATCH) {
            return 0;
        }
        self.multi.len().max(1)
    }

    /// The `expected_attach_type` its program is loaded with.
    pub fn expected_attach_type(&self) -> u32 {
        match &self.btf {
            Some(b) => b.attach_type,
            None if !self.multi.is_empty() => ferret_sys::bpf::attach_type::TRACE_KPROBE_MULTI,
            None => 0,
        }
    }
}

/// Targets of a probe block whose body uses the `probe` builtin: a multi target is split into
/// one target per function, each with its own name (a program serving many functions cannot
/// know which one's name to give), as bpftrace does.
pub fn split_multi(targets: Vec<Target>) -> Vec<Target> {
    targets.into_iter().flat_map(|t| if t.multi.is_empty() { vec![t] } else { kprobe::per_function(&t) }).collect()
}

/// `expand` of a probe kind that is never written: what targets become when the kernel makes
/// ferret load them another way (a kprobe as fentry, a raw tracepoint as tp_btf). Such kinds
/// are not in the registry and are named like the probe the user wrote.
pub(crate) fn not_written(kind: &'static ProbeKind, ap: &AttachPoint) -> Result<Vec<Target>, Diagnostic> {
    Err(Diagnostic::error(ap.span, format!("internal: '{}' is not a probe type", kind.doc)))
}

/// `list` of a probe kind that lists nothing.
pub(crate) fn lists_nothing(_: &ListQuery<'_>) -> Vec<Listed> {
    vec![]
}

/// Options the attach step needs from the command line.
#[derive(Debug, Clone, Default)]
pub struct AttachOpts {
    /// `-p PID` / `-c` child: restrict per-task events to it where the probe type allows.
    pub pid: Option<i32>,
}

/// The special probes that user space runs itself rather than the kernel attaching them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    Begin,
    End,
    /// `self:signal:SIGUSR1`: run when ferret receives the signal.
    Signal,
    /// `bench:NAME`: run repeatedly and timed with `--bench`.
    Bench,
    /// `test:NAME`: run once with `--test`, passing when it neither fails nor errors.
    Test,
}

pub type AttachFn = fn(&Target, BorrowedFd<'_>, &AttachOpts) -> Result<Vec<OwnedFd>, AttachError>;

/// Why a probe could not be attached: a failed syscall (with its errno), or a reason of
/// ferret's own.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error(transparent)]
    Sys(#[from] ferret_sys::SysError),
    #[error("{0}")]
    Other(String),
}

impl AttachError {
    /// The errno of the syscall that failed, when one did.
    pub fn errno(&self) -> Option<i32> {
        match self {
            AttachError::Sys(e) => e.errno(),
            AttachError::Other(_) => None,
        }
    }
}

impl From<String> for AttachError {
    fn from(msg: String) -> AttachError {
        AttachError::Other(msg)
    }
}

impl From<&str> for AttachError {
    fn from(msg: &str) -> AttachError {
        AttachError::Other(msg.to_string())
    }
}

/// Run `prog` on perf event `pfd` (a tracepoint, kprobe, uprobe, software or hardware event):
/// the BPF link and the event both go into `fds`, which keep the program attached.
pub fn attach_perf(prog: BorrowedFd<'_>, pfd: OwnedFd, fds: &mut Vec<OwnedFd>) -> Result<(), AttachError> {
    use std::os::fd::AsRawFd;
    let link = ferret_sys::bpf::link_create(prog, pfd.as_raw_fd(), ferret_sys::bpf::attach_type::PERF_EVENT, 0)?;
    fds.push(link);
    fds.push(pfd);
    Ok(())
}

/// One `-l` query against one probe type: a glob for what follows `type:` (`vmlinux:vfs_*`,
/// `sched:*`, `*`), already stripped of the probe type.
#[derive(Debug, Clone, Copy)]
pub struct ListQuery<'a> {
    pub pattern: &'a str,
    /// `-lv`: also describe each probe's arguments.
    pub verbose: bool,
}

/// One listed probe: its full name (`fentry:vmlinux:vfs_read`) and, with `-lv`, the lines
/// describing its arguments (`struct file * file`), printed indented below it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Listed {
    pub name: String,
    pub details: Vec<String>,
}

impl Listed {
    pub fn new(name: String) -> Self {
        Listed { name, details: vec![] }
    }
}

impl std::fmt::Debug for ProbeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.names[0])
    }
}

/// A provider: everything ferret knows about one probe type, in one place.
pub struct ProbeKind {
    /// Canonical name (`tracepoint`), then aliases (`t`).
    pub names: &'static [&'static str],
    pub doc: &'static str,
    /// Expand one attach point into targets; errors carry the attach point's span.
    pub expand: fn(&'static ProbeKind, &AttachPoint) -> Result<Vec<Target>, Diagnostic>,
    /// BPF program type to load the block as.
    pub prog_type: u32,
    /// Attach a loaded program; returns the fds that keep it attached.
    pub attach: AttachFn,
    /// `-l`: the probes of this type matching a query, sorted.
    pub list: fn(&ListQuery<'_>) -> Vec<Listed>,
    /// Listed by a bare `-l` or a wildcarded type (`-l '*:vfs_*'`); bpftrace leaves out return
    /// probes and timers there.
    pub listed_by_default: bool,
    pub special: Option<Special>,
    /// Its programs run in the context of the task an event is about, so `signal()` reaches it.
    pub signal: bool,
    /// The kernel runs a hook's consumers newest-first (uprobes prepend each new consumer): the
    /// runtime attaches such programs in reverse, so that probes on one event fire in script
    /// order.
    pub consumers_newest_first: bool,
    /// In a list of alternatives (`kprobe:a, kprobe:b { }`, tools naming a function as
    /// different kernels or library builds call it), one that matches nothing is a warning
    /// when another matched, as bpftrace 0.17 had it.
    pub alternatives: bool,
    /// Its functions live in a user-space binary whose debug info types their arguments and
    /// structs (`args`, `args.NAME`, `struct Foo` casts, `uaddr()`).
    pub user_debug: Option<&'static UserDebug>,
    /// Whether this kernel can attach it (`ferret --info` lists every type with this answer).
    pub available: fn() -> bool,
}

/// [`ProbeKind::available`] of the types every kernel ferret runs on has.
pub fn always() -> bool {
    true
}

pub use uprobe::{RecordField, UserParam};

/// What a probe type reads from the debug info of the binary its functions are in.
pub struct UserDebug {
    /// `args.NAME`: the function's parameters and where they arrive (entry probes).
    pub params: Option<fn(&Target) -> Result<Vec<UserParam>, String>>,
    /// `args` as a whole: a record of the parameters (entry probes).
    pub record: Option<fn(&Target) -> Result<(crate::types::Type, Vec<RecordField>), String>>,
    /// `struct NAME` as the binary defines it.
    pub named_struct: fn(&Target, &str) -> Option<crate::types::Type>,
}

impl ProbeKind {
    /// The binary a user-space probe's functions are in (for `uaddr()`).
    pub fn binary<'t>(&self, t: &'t Target) -> Option<&'t str> {
        self.user_debug.and(t.parts.first().map(String::as_str))
    }
}

/// Every probe type ferret knows. Lookup is by any of each kind's names, case-insensitive.
pub static REGISTRY: &[&ProbeKind] = &[
    &special::BEGIN,
    &special::END,
    &special::SELF,
    &special::BENCH,
    &special::TEST,
    &tracepoint::TRACEPOINT,
    &rawtracepoint::RAWTRACEPOINT,
    &interval::INTERVAL,
    &profile::PROFILE,
    &software::SOFTWARE,
    &uprobe::UPROBE,
    &uprobe::URETPROBE,
    &usdt::USDT,
    &hardware::HARDWARE,
    &kprobe::KPROBE,
    &kprobe::KRETPROBE,
    &fentry::FENTRY,
    &fentry::FEXIT,
    &iter::ITER,
    &watchpoint::WATCHPOINT,
];

pub fn find(name: &str) -> Option<&'static ProbeKind> {
    // Exact first: `U` is usdt, `u` is uprobe.
    REGISTRY
        .iter()
        .copied()
        .find(|k| k.names.contains(&name))
        .or_else(|| REGISTRY.iter().copied().find(|k| k.names.iter().any(|n| n.eq_ignore_ascii_case(name))))
}

/// Whether resolving the program's probes reads tracefs: tracepoints, and providers written as a
/// wildcard. Checked with privileges before anything is resolved.
pub fn needs_tracefs(program: &ferret_syntax::ast::Program) -> bool {
    program.probes.iter().flat_map(|p| &p.attach_points).any(|ap| {
        let provider = ap.parts.first().map(String::as_str).unwrap_or("");
        provider.contains(['*', '?']) || find(provider).is_some_and(|k| std::ptr::eq(k, &tracepoint::TRACEPOINT))
    })
}

/// Resolve an attach point to its targets.
pub fn expand(ap: &AttachPoint) -> Result<Vec<Target>, Diagnostic> {
    let provider = ap.parts.first().map(String::as_str).unwrap_or("");
    let kind = find(provider).ok_or_else(|| {
        watchpoint::removed_provider(ap, provider)
            .unwrap_or_else(|| Diagnostic::error(ap.span, format!("Invalid probe type: {provider}")))
    })?;
    (kind.expand)(kind, ap)
}

/// Glob match with `*` (any run) — bpftrace's wildcard for attach points and `-l`.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == t[ti] || p[pi] == b'?') {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            pi += 1;
            mark = ti;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

/// `--unsafe`, as the current compile's context says (see [`crate::context`]).
pub fn unsafe_allowed() -> bool {
    crate::context::current().unsafe_
}

/// The process given with `-p` (or started with `-c`), as the current compile's context says:
/// user-space probe targets named by library are looked up in its mappings first.
pub fn target_pid() -> Option<i32> {
    crate::context::current().target_pid
}

/// A count or rate in an attach point: `1000`, `1_000`, `1e6`, `0x10`.
pub fn parse_count(s: &str) -> Option<u64> {
    let s = s.replace('_', "");
    if let Some(h) = s.strip_prefix("0x") {
        return u64::from_str_radix(h, 16).ok();
    }
    if let Some((m, e)) = s.split_once(['e', 'E']) {
        let (m, e): (u64, u32) = (m.parse().ok()?, e.parse().ok()?);
        return m.checked_mul(10u64.checked_pow(e)?);
    }
    s.parse().ok()
}

/// The error for a wrong number of attach point fields.
pub fn arity_error(ap: &AttachPoint, provider: &str, want: &str) -> Diagnostic {
    Diagnostic::error(ap.span, format!("{provider} probe type requires {want}"))
}

/// The error for a probe type ferret can list but not attach: names what is missing.
pub fn not_attachable(kind: &ProbeKind, ap: &AttachPoint, what: &str) -> Diagnostic {
    Diagnostic::error(ap.span, format!("{} probes cannot be attached: {what}", kind.names[0]))
        .with_hint("ferret -l lists them; tracepoint: and rawtracepoint: probes give access to the same kernel events")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("sys_enter_*", "sys_enter_read"));
        assert!(glob("*read*", "sys_enter_pread64"));
        assert!(!glob("sys_enter_*", "sys_exit_read"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
    }

    #[test]
    fn finds_by_alias_case_insensitively() {
        assert_eq!(find("t").unwrap().names[0], "tracepoint");
        assert_eq!(find("begin").unwrap().names[0], "BEGIN");
        assert!(find("nope").is_none());
    }
}
