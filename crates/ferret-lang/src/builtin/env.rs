//! Functions tied to what surrounds the probe: `getopt` (the command line), `strftime` (the
//! wall clock, rendered in user space), `signal`/`signal_thread` (the traced task) and `debugf`
//! (the kernel's trace pipe).
use super::{arity, Builtin, CallSite};
use crate::codegen::{Gen, GenResult, Val};
use crate::named::{self, ParamValue};
use crate::sema::Sema;
use crate::types::{Type, I64, U64};
use crate::Action;
use ferret_bpf::helpers;
use ferret_bpf::insn::*;
use ferret_syntax::ast::{ExprKind, UnOp};

pub static GETOPT: Builtin = Builtin {
    name: "getopt",
    doc: "a named program option given after `--` as --name[=value]: getopt(\"name\"[, default[, description]])",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: |s, site| {
        if let Err((span, msg)) = named::check_args(site.args, site.span) {
            s.error(span, msg);
            return Type::None;
        }
        match named::declared(site.args).map(|p| p.default) {
            Some(ParamValue::Bool(_)) => Type::Bool,
            Some(ParamValue::Str(_)) => Type::Str(s.opts.strlen),
            Some(ParamValue::UInt(_)) => U64,
            Some(ParamValue::Int(_)) => I64,
            None => Type::None,
        }
    },
    lower: |g, site| {
        let Some(p) = named::declared(site.args) else { return Ok(Val::None) };
        // A bad value has been reported before the program runs (see `named::check`).
        let v = named::value(&g.opts.named, &p).unwrap_or(p.default);
        Ok(match v {
            ParamValue::Bool(b) => Val::Imm(b as i64),
            ParamValue::UInt(n) => Val::Imm(n as i64),
            ParamValue::Int(n) => Val::Imm(n),
            ParamValue::Str(text) => {
                let n = g.opts.strlen;
                let bytes = &text.as_bytes()[..text.len().min(n as usize - 1)];
                g.string_lit(bytes, n)
            }
        })
    },
};

pub static STRFTIME: Builtin = Builtin {
    name: "strftime",
    doc: "a boot-clock time in ns (like nsecs) formatted as local time with strftime(3); %f is microseconds",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: |s, site| {
        if !arity(s, site, 2, 2) {
            return Type::Timestamp;
        }
        if !matches!(site.args[0].kind, ExprKind::Str(_)) {
            s.error(site.span, "strftime() expects a string literal as its first argument");
        }
        s.check_int(&site.args[1], "strftime() timestamp");
        if let ExprKind::Unary { op: UnOp::Neg, .. } = site.args[1].kind {
            s.error(site.span, "strftime() does not accept negative timestamps");
        }
        Type::Timestamp
    },
    lower: |g, site| {
        let ExprKind::Str(format) = &site.args[0].kind else { return Ok(Val::None) };
        let ns = g.expr(&site.args[1])?;
        let id = g.actions.len();
        g.actions.push(Action::Strftime { format: format.clone() });
        let off = g.alloc(crate::types::TIMESTAMP_SIZE);
        g.asm.st_imm(4, R10, off, id as i32);
        g.asm.st_imm(4, R10, off + 4, 1); // the boot clock
        g.load(R1, ns);
        g.asm.stx(8, R10, off + 8, R1);
        Ok(Val::Mem(off))
    },
};

/// Signal numbers by name, as `kill -l` lists them (x86-64 numbering).
const SIGNALS: &[(&str, i64)] = &[
    ("SIGHUP", 1),
    ("SIGINT", 2),
    ("SIGQUIT", 3),
    ("SIGILL", 4),
    ("SIGTRAP", 5),
    ("SIGABRT", 6),
    ("SIGBUS", 7),
    ("SIGFPE", 8),
    ("SIGKILL", 9),
    ("SIGUSR1", 10),
    ("SIGSEGV", 11),
    ("SIGUSR2", 12),
    ("SIGPIPE", 13),
    ("SIGALRM", 14),
    ("SIGTERM", 15),
    ("SIGCHLD", 17),
    ("SIGCONT", 18),
    ("SIGSTOP", 19),
    ("SIGTSTP", 20),
    ("SIGTTIN", 21),
    ("SIGTTOU", 22),
    ("SIGURG", 23),
    ("SIGXCPU", 24),
    ("SIGXFSZ", 25),
    ("SIGVTALRM", 26),
    ("SIGWINCH", 28),
    ("SIGPOLL", 29),
    ("SIGSYS", 31),
];

/// `"KILL"`, `"sigkill"` or `"SIGKILL"` → 9.
pub fn signal_number(name: &str) -> Option<i64> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with('S') { upper } else { format!("SIG{upper}") };
    SIGNALS.iter().find(|(n, _)| *n == full).map(|(_, v)| *v)
}

fn check_signal(s: &mut Sema, site: &CallSite) -> Type {
    if !arity(s, site, 1, 1) {
        return Type::None;
    }
    let kind = s.target.kind.names[0];
    if !s.target.kind.signal {
        let msg = format!("{}() can not be used for this probetype {}", site.name, kind.to_ascii_lowercase());
        s.error(site.span, msg);
    }
    let arg = &site.args[0];
    let bad_range = format!("{}() accepts a string literal or an integer between 1 and 64 (inclusive)", site.name);
    match &arg.kind {
        ExprKind::Str(name) => {
            if signal_number(name).is_none() {
                s.error(arg.span, format!("Invalid signal: {name}"));
            }
        }
        ExprKind::Int(n) if !(1..=64).contains(n) => s.error(arg.span, bad_range),
        _ => {
            let t = s.check_expr(arg);
            if !(t.is_int() || t == Type::None) {
                s.error(arg.span, format!("{}() accepts a string literal or an integer", site.name));
            }
        }
    }
    Type::None
}

fn lower_signal(g: &mut Gen, site: &CallSite, helper: u32) -> GenResult<Val> {
    let v = match &site.args[0].kind {
        ExprKind::Str(name) => Val::Imm(signal_number(name).unwrap_or(0)),
        _ => g.expr(&site.args[0])?,
    };
    g.load(R1, v);
    g.asm.call(helper);
    Ok(Val::None)
}

pub static SIGNAL: Builtin = Builtin {
    name: "signal",
    doc: "send a signal (number or name like \"KILL\") to the current process; needs --unsafe",
    variable: false,
    aggregate: false,
    unsafe_only: true,
    check: check_signal,
    lower: |g, site| lower_signal(g, site, helpers::SEND_SIGNAL),
};

pub static SIGNAL_THREAD: Builtin = Builtin {
    name: "signal_thread",
    doc: "send a signal (number or name) to the current thread only; needs --unsafe",
    variable: false,
    aggregate: false,
    unsafe_only: true,
    check: check_signal,
    lower: |g, site| lower_signal(g, site, helpers::SEND_SIGNAL_THREAD),
};

/// `write_user(dst, src, len)`: write `len` bytes of `src` (a string, buffer or integer) to
/// user address `dst` of the current task; true when written. Only with `--unsafe`.
pub static WRITE_USER: Builtin = Builtin {
    name: "write_user",
    doc: "write len bytes of src to user address dst of the current task; needs --unsafe",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: |s, site| {
        if !s.opts.unsafe_ {
            s.error(site.span, "write_user() is unsafe. To use you need the --unsafe flag");
            return Type::Bool;
        }
        if !arity(s, site, 3, 3) {
            return Type::Bool;
        }
        s.check_int(&site.args[0], "write_user() destination");
        let src = s.check_expr(&site.args[1]);
        match crate::types::const_int(&site.args[2]) {
            Some(n) if n > 0 && (n as u32) <= src.size().max(8) => {}
            Some(n) => s.error(
                site.args[2].span,
                format!("write_user() length {n} is not within the source's {} bytes", src.size().max(8)),
            ),
            None => s.error(site.args[2].span, "write_user() length must be a constant"),
        }
        Type::Bool
    },
    lower: |g, site| {
        let dst = g.expr(&site.args[0])?;
        let src = g.expr(&site.args[1])?;
        let n = crate::types::const_int(&site.args[2]).unwrap_or(1).max(1) as i32;
        let at = g.addr_of(src);
        g.load(R1, dst);
        g.asm.mov64(R2, R10);
        g.asm.alu64_imm(BPF_ADD, R2, at as i32);
        g.asm.mov64_imm(R3, n);
        g.asm.call(helpers::PROBE_WRITE_USER);
        // true when the helper returned 0
        let out = g.new_slot();
        g.asm.st_imm(8, R10, out, 0);
        let fail = g.asm.new_label();
        g.asm.jmp_imm(Cond::Ne, R0, 0, fail);
        g.asm.st_imm(8, R10, out, 1);
        g.asm.bind(fail);
        Ok(Val::Slot(out))
    },
};

/// Arguments bpf_trace_printk takes in registers; more go through bpf_trace_vprintk.
const PRINTK_REG_ARGS: usize = 3;
/// The kernel's limit on bpf_trace_vprintk arguments (MAX_BPRINTF_VARARGS).
const VPRINTK_MAX_ARGS: usize = 12;

fn check_debugf(s: &mut Sema, site: &CallSite) -> Type {
    (super::output::PRINTF.check)(s, site);
    let Some(ExprKind::Str(fmt)) = site.args.first().map(|a| &a.kind) else { return Type::None };
    let Ok(convs) = super::output::conversions(fmt) else { return Type::None };
    if site.args.len() - 1 > VPRINTK_MAX_ARGS {
        s.error(site.span, format!("debugf() takes at most {VPRINTK_MAX_ARGS} arguments after the format"));
    }
    for (conv, arg) in convs.iter().zip(&site.args[1..]) {
        let t = s.check_expr(arg);
        let ok = match conv {
            'd' | 'u' | 'x' | 'p' => t.is_int(),
            's' => t.is_str(),
            _ => {
                s.error(site.args[0].span, format!("Invalid format specifier for `debugf`: {conv}"));
                continue;
            }
        };
        if !ok && t != Type::None {
            s.error(arg.span, format!("Type does not match format specifier: {conv}"));
        }
    }
    Type::None
}

/// `debugf(fmt, ...)`: bpf_trace_printk, read from /sys/kernel/debug/tracing/trace_pipe.
/// Strings are passed by their stack address, which the kernel reads for `%s`.
fn lower_debugf(g: &mut Gen, site: &CallSite) -> GenResult<Val> {
    let ExprKind::Str(fmt) = &site.args[0].kind else { return Ok(Val::None) };
    let mut vals = vec![];
    for a in &site.args[1..] {
        vals.push(g.expr(a)?);
    }
    let fmt_val = g.string_lit(fmt.as_bytes(), fmt.len() as u32 + 1);
    if vals.len() <= PRINTK_REG_ARGS {
        for (v, r) in vals.iter().zip([R3, R4, R5]) {
            g.load(r, *v);
        }
        g.load(R1, fmt_val);
        g.asm.mov64_imm(R2, fmt.len() as i32 + 1);
        g.asm.call(helpers::TRACE_PRINTK);
        return Ok(Val::None);
    }
    let data = g.alloc(vals.len() as u32 * 8);
    for (i, v) in vals.iter().enumerate() {
        g.load(R1, *v);
        g.asm.stx(8, R10, data + (i * 8) as i16, R1);
    }
    g.load(R1, fmt_val);
    g.asm.mov64_imm(R2, fmt.len() as i32 + 1);
    g.load(R3, Val::Mem(data));
    g.asm.mov64_imm(R4, vals.len() as i32 * 8);
    g.asm.call(helpers::TRACE_VPRINTK);
    Ok(Val::None)
}

pub static DEBUGF: Builtin = Builtin {
    name: "debugf",
    doc: "write a message to the kernel trace pipe with bpf_trace_printk (%d %u %x %p %s only)",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: check_debugf,
    lower: lower_debugf,
};

pub static ALL: &[&Builtin] = &[&GETOPT, &STRFTIME, &SIGNAL, &SIGNAL_THREAD, &DEBUGF, &WRITE_USER];

#[cfg(test)]
mod tests {
    #[test]
    fn signal_names() {
        assert_eq!(super::signal_number("KILL"), Some(9));
        assert_eq!(super::signal_number("sigusr1"), Some(10));
        assert_eq!(super::signal_number("NOPE"), None);
    }
}
