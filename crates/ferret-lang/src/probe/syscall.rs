//! `tracepoint:syscalls:sys_enter_X` / `sys_exit_X` attached through the two `raw_syscalls`
//! raw tracepoints instead of one perf event each. Closing a perf-event tracepoint waits for an
//! RCU grace period (60-80 ms, one after another), so a script on many syscalls stayed attached
//! for seconds after it ended; a raw tracepoint link closes in about 0.15 ms.
//!
//! Each probe block gets one small dispatcher program per direction on `raw_syscalls:sys_enter`
//! (or `sys_exit`): it reads the syscall number and tail-calls, through a `PROG_ARRAY` indexed
//! by number, the block's program for that syscall; numbers without one fall through at once.
//! The per-syscall programs are the block compiled as before, except that `args` is read from
//! the syscall's registers ([`field_source`]) laid out as the syscall's own format file says,
//! and that they leave out 32-bit tasks' syscalls and other processes (`-p`, `-c`) as the perf
//! tracepoints did. x86-64 only; elsewhere syscall tracepoints stay perf events.
use super::{AttachOpts, ProbeKind, Target};
use ferret_sys::bpf;
use std::os::fd::{BorrowedFd, OwnedFd};

/// How a syscall tracepoint reaches its program: the direction and the syscall number (its
/// slot in the probe block's program array).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tail {
    pub exit: bool,
    pub nr: u32,
}

/// Where a syscall tracepoint field's value comes from, by its offset in the format file
/// (`__syscall_nr` at 8, then 8-byte arguments, or `ret`, from 16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldSource {
    /// A slot of the raw tracepoint's `u64 ctx[]`: the syscall id (sys_enter) or `ret`
    /// (sys_exit), at this byte offset.
    Ctx(i16),
    /// A member of the `struct pt_regs` that `ctx[0]` points to, at this byte offset.
    Regs(i16),
}

/// x86-64 `struct pt_regs` offsets of the six syscall argument registers (di, si, dx, r10, r8,
/// r9), and of `orig_ax`, which holds the syscall number.
const ARG_REGS: [i16; 6] = [112, 104, 96, 56, 72, 64];
pub const ORIG_AX: i16 = 120;
/// `struct pt_regs` offset of `cs`, and the user code segment of 32-bit tasks (`__USER32_CS`):
/// their syscalls, which the perf tracepoints leave out (their numbers name other syscalls), are
/// left out too. (An `int $0x80` from 64-bit code is a 32-bit syscall with the 64-bit segment:
/// the perf tracepoints skip it, these programs see it under its 32-bit number.)
pub const PT_REGS_CS: i16 = 136;
pub const USER32_CS: i32 = 0x23;

/// Where the value of the field at `offset` of this syscall tracepoint's record comes from.
pub fn field_source(tail: Tail, offset: u32) -> Option<FieldSource> {
    match (offset, tail.exit) {
        (8, false) => Some(FieldSource::Ctx(8)),
        (8, true) => Some(FieldSource::Regs(ORIG_AX)),
        (16, true) => Some(FieldSource::Ctx(8)),
        (o, false) if o >= 16 && o % 8 == 0 => ARG_REGS.get((o as usize - 16) / 8).map(|r| FieldSource::Regs(*r)),
        _ => None,
    }
}

/// Tracepoint event names that differ from the syscall's (`SYSCALL_DEFINE(newfstat)` is
/// `__NR_fstat`).
const RENAMED: &[(&str, &str)] = &[
    ("newstat", "stat"),
    ("newlstat", "lstat"),
    ("newfstat", "fstat"),
    ("newuname", "uname"),
    ("sendfile64", "sendfile"),
    ("umount", "umount2"),
];

/// The direction and number of a `syscalls:sys_enter_X` / `sys_exit_X` tracepoint, where this
/// architecture has the raw_syscalls route and the syscall's number is known.
pub fn tail_of(t: &Target) -> Option<Tail> {
    if !cfg!(target_arch = "x86_64") || std::env::var_os("FERRET_SYSCALL_PERF").is_some_and(|v| !v.is_empty()) {
        return None;
    }
    if t.kind.names[0] != "tracepoint" || t.parts.len() != 2 || t.parts[0] != "syscalls" {
        return None;
    }
    let (exit, name) = match t.parts[1].strip_prefix("sys_enter_") {
        Some(n) => (false, n),
        None => (true, t.parts[1].strip_prefix("sys_exit_")?),
    };
    let name = RENAMED.iter().find(|(ev, _)| *ev == name).map_or(name, |(_, nr)| nr);
    Some(Tail { exit, nr: crate::syscalls::number(name)? })
}

/// Moves the syscall tracepoints among `instances` to the raw_syscalls route.
pub fn convert(instances: &mut [(usize, Target)]) {
    for (_, t) in instances.iter_mut() {
        if let Some(tail) = tail_of(t) {
            t.kind = &SYSCALL;
            t.syscall = Some(tail);
            let dir = if tail.exit { "sys_exit" } else { "sys_enter" };
            t.note = Some(format!("{}: attached through the raw tracepoint raw_syscalls:{dir}", t.name));
        }
    }
}

/// The dispatcher's target: `raw_syscalls:sys_enter` or `sys_exit`. It counts as no probe of
/// its own in `Attached N probes`.
pub fn dispatcher(exit: bool) -> Target {
    let event = if exit { "sys_exit" } else { "sys_enter" };
    Target::new(&DISPATCH, format!("rawtracepoint:raw_syscalls:{event}"), vec![event.into()], super::Context::RawArgs)
}

fn not_attached(t: &Target, _: BorrowedFd<'_>, _: &AttachOpts) -> Result<Vec<OwnedFd>, super::AttachError> {
    Err(format!("internal: {} is reached through its program array, not attached", t.name).into())
}

/// A syscall tracepoint's own program, tail-called by its block's dispatcher.
pub static SYSCALL: ProbeKind = ProbeKind {
    names: &["tracepoint", "t"],
    doc: "syscall tracepoint reached from raw_syscalls",
    expand: super::not_written,
    prog_type: bpf::prog_type::RAW_TRACEPOINT,
    attach: not_attached,
    list: super::lists_nothing,
    listed_by_default: false,
    special: None,
    signal: true,
    consumers_newest_first: false,
    alternatives: false,
    user_debug: None,
    available: super::always,
};

/// A block's dispatcher on raw_syscalls:sys_enter / sys_exit.
pub static DISPATCH: ProbeKind = ProbeKind {
    names: &["rawtracepoint", "rt"],
    doc: "raw_syscalls dispatcher",
    expand: super::not_written,
    prog_type: bpf::prog_type::RAW_TRACEPOINT,
    attach: super::rawtracepoint::attach,
    list: super::lists_nothing,
    listed_by_default: false,
    special: None,
    signal: true,
    consumers_newest_first: false,
    alternatives: false,
    user_debug: None,
    available: super::always,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_come_from_registers_or_the_context() {
        let enter = Tail { exit: false, nr: 0 };
        let exit = Tail { exit: true, nr: 0 };
        assert_eq!(field_source(enter, 8), Some(FieldSource::Ctx(8)));
        assert_eq!(field_source(enter, 16), Some(FieldSource::Regs(112)));
        assert_eq!(field_source(enter, 56), Some(FieldSource::Regs(64)));
        assert_eq!(field_source(enter, 64), None);
        assert_eq!(field_source(exit, 8), Some(FieldSource::Regs(ORIG_AX)));
        assert_eq!(field_source(exit, 16), Some(FieldSource::Ctx(8)));
    }
}
