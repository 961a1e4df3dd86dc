//! Functions whose effect happens in user space: `printf print exit time system cat errorf
//! warnf join`. Each sends an event record through the ring buffer; the action table tells user
//! space how to decode it.
use super::{arity, Builtin, CallSite};
use crate::codegen::{read_helper, read_str_helper, Gen, GenResult, Val};
use crate::sema::Sema;
use crate::types::{AddrSpace, Type, I64};
use crate::{Action, MAP_LOST, MAP_RINGBUF};
use ferret_bpf::helpers;
use ferret_bpf::insn::*;
use ferret_syntax::ast::ExprKind;

/// The value an argument is sent as: ints widened to 8 bytes, strings at their own size. Bools
/// stay bools (8 bytes): they print as `true`/`false`, and as 1/0 through `%d`.
fn wire_type(t: &Type) -> Type {
    match t {
        Type::Int { signed, .. } => Type::Int { bytes: 8, signed: *signed },
        Type::Agg(_) | Type::None | Type::Args => I64,
        other => other.clone(),
    }
}

fn format_arg(s: &mut Sema, site: &CallSite) -> Option<String> {
    match site.args.first().map(|a| &a.kind) {
        Some(ExprKind::Str(f)) => Some(f.clone()),
        _ => {
            let msg = format!("{}() expects a string literal as its first argument", site.name);
            s.error(site.span, msg);
            None
        }
    }
}

fn check_printf(s: &mut Sema, site: &CallSite) -> Type {
    if site.args.is_empty() {
        s.error(site.span, format!("{}() requires at least 1 argument (0 provided)", site.name));
        return Type::None;
    }
    let Some(fmt) = format_arg(s, site) else { return Type::None };
    let types: Vec<Type> = site.args[1..].iter().map(|a| s.check_expr(a)).collect();
    let wanted = match conversions(&fmt) {
        Ok(w) => w,
        Err(e) => {
            s.error(site.span, format!("{}: {e}", site.name));
            return Type::None;
        }
    };
    if wanted.len() != types.len() {
        let msg = if wanted.len() > types.len() {
            format!(
                "{}: Not enough arguments for format string ({} supplied, {} expected)",
                site.name,
                types.len(),
                wanted.len()
            )
        } else {
            format!(
                "{}: Too many arguments for format string ({} supplied, {} expected)",
                site.name,
                types.len(),
                wanted.len()
            )
        };
        s.error(site.span, msg);
        return Type::None;
    }
    for ((conv, t), a) in wanted.iter().zip(&types).zip(&site.args[1..]) {
        let ok = match conv {
            's' => {
                t.is_str()
                    || t.is_int()
                    || *t == Type::None
                    || matches!(
                        t,
                        Type::Tuple(_)
                            | Type::Buffer(_)
                            | Type::Inet
                            | Type::MacAddr
                            | Type::Resolved(_)
                            | Type::Timestamp
                            | Type::Ksym
                            | Type::Usym
                    )
            }
            'r' => matches!(t, Type::Buffer(_) | Type::Str(_)),
            _ => t.is_int() || *t == Type::None,
        };
        if !ok {
            let want = match conv {
                's' => "string",
                'r' => "buffer",
                _ => "integer",
            };
            let have = if t.is_str() { "string".to_string() } else { t.to_string() };
            let msg = format!("{}: %{conv} specifier expects a value of type {want} ({have} supplied)", site.name);
            s.error(a.span.to(site.span), msg);
        }
    }
    Type::None
}

/// The conversion character of each `%` specifier of a format string (`%%` excluded).
pub fn conversions(fmt: &str) -> Result<Vec<char>, String> {
    let mut out = vec![];
    let mut it = fmt.chars().peekable();
    while let Some(c) = it.next() {
        if c != '%' {
            continue;
        }
        if it.peek() == Some(&'%') {
            it.next();
            continue;
        }
        let mut number = 0u64;
        loop {
            let next = it.next();
            match next {
                Some(d @ '0'..='9') => {
                    number = number.saturating_mul(10).saturating_add(d as u64 - '0' as u64);
                    if number > ferret_output::printf::MAX_FIELD as u64 {
                        return Err(format!(
                            "field width or precision too large in format string (at most {})",
                            ferret_output::printf::MAX_FIELD
                        ));
                    }
                    continue;
                }
                _ => number = 0,
            }
            match next {
                Some(c @ ('d' | 'i' | 'u' | 'x' | 'X' | 'o' | 'c' | 's' | 'p')) => {
                    out.push(c);
                    break;
                }
                Some('r') => {
                    if matches!(it.peek(), Some('x' | 'h')) {
                        it.next();
                    }
                    out.push('r');
                    break;
                }
                // `%gr`: GFP allocation flags by name.
                Some('g') if it.peek() == Some(&'r') => {
                    it.next();
                    out.push('g');
                    break;
                }
                Some('-' | '+' | ' ' | '#' | '0'..='9' | '.' | 'h' | 'l' | 'z' | 'j' | 't') => {}
                Some(other) => return Err(format!("Invalid format specifier '%{other}'")),
                None => return Err("Incomplete format specifier at the end of the format string".to_string()),
            }
        }
    }
    Ok(out)
}

fn lower_args(g: &mut Gen, site: &CallSite, from: usize) -> GenResult<Vec<(Val, Type)>> {
    let mut out = vec![];
    for a in &site.args[from..] {
        let v = g.expr(a)?;
        let t = g.ty(a);
        out.push((v, wire_type(&t)));
    }
    Ok(out)
}

/// Lower a `f(fmt, args...)` call: the arguments go in the event, the format in the action.
fn lower_formatted(g: &mut Gen, site: &CallSite, action: fn(String, Vec<Type>, &CallSite) -> Action) -> GenResult<Val> {
    let ExprKind::Str(format) = &site.args[0].kind else { return Ok(Val::None) };
    let args = lower_args(g, site, 1)?;
    let types = args.iter().map(|(_, t)| t.clone()).collect();
    g.emit_event(action(format.clone(), types, site), &args, false);
    Ok(Val::None)
}

pub static PRINTF: Builtin = Builtin {
    name: "printf",
    doc: "formatted output: printf(\"%s %d\\n\", comm, pid)",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: check_printf,
    lower: |g, site| lower_formatted(g, site, |format, args, site| Action::Printf { format, args, span: site.span }),
};

pub static SYSTEM: Builtin = Builtin {
    name: "system",
    doc: "run a shell command (formatted like printf) and print its output; needs --unsafe",
    variable: false,
    aggregate: false,
    unsafe_only: true,
    check: check_printf,
    lower: |g, site| lower_formatted(g, site, |format, args, _| Action::System { format, args }),
};

pub static CAT: Builtin = Builtin {
    name: "cat",
    doc: "print the contents of a file (path formatted like printf): cat(\"/proc/%d/status\", pid)",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: check_printf,
    lower: |g, site| lower_formatted(g, site, |format, args, _| Action::Cat { format, args }),
};

pub static ERRORF: Builtin = Builtin {
    name: "errorf",
    doc: "print an ERROR message (formatted like printf) at the call's source location",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: check_printf,
    lower: |g, site| {
        lower_formatted(g, site, |format, args, site| Action::Report { error: true, format, args, span: site.span })
    },
};

pub static WARNF: Builtin = Builtin {
    name: "warnf",
    doc: "print a WARNING message (formatted like printf) at the call's source location; --no-warnings hides it",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: check_printf,
    lower: |g, site| {
        lower_formatted(g, site, |format, args, site| Action::Report { error: false, format, args, span: site.span })
    },
};

pub static PRINT: Builtin = Builtin {
    name: "print",
    doc: "print a value, or a map: print(@m[, top[, div]])",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: |s, site| {
        if !arity(s, site, 1, 3) {
            return Type::None;
        }
        match &site.args[0].kind {
            ExprKind::Map(_) => {
                s.check_expr(&site.args[0]);
                for a in &site.args[1..] {
                    super::literal_int(s, a, "print() top/div");
                }
            }
            _ => {
                if site.args.len() > 1 {
                    s.error(site.span, "Non-map print() only takes 1 argument");
                }
                let t = s.check_expr(&site.args[0]);
                if t == Type::None {
                    if let ExprKind::Call { name, .. } = &site.args[0].kind {
                        let msg = format!("{name}() does not return a value and cannot be printed");
                        s.error(site.args[0].span, msg);
                    }
                }
            }
        }
        Type::None
    },
    lower: |g, site| {
        if let ExprKind::Map(_) = &site.args[0].kind {
            let (map, _) = g.map_of(&site.args[0]);
            let top = site.args.get(1).map_or(0, |e| g.literal(e)) as u64;
            let div = site.args.get(2).map_or(0, |e| g.literal(e)) as u64;
            g.emit_event(Action::PrintMap { map, top, div }, &[], false);
            return Ok(Val::None);
        }
        let v = g.expr(&site.args[0])?;
        let ty = match g.ty(&site.args[0]) {
            // print() shows booleans as true/false, unlike printf's %d.
            Type::Bool => Type::Bool,
            t => wire_type(&t),
        };
        g.emit_event(Action::Print { ty: ty.clone() }, &[(v, ty)], false);
        Ok(Val::None)
    },
};

pub static EXIT: Builtin = Builtin {
    name: "exit",
    doc: "stop tracing: run END, print maps and exit (exit(code) sets the exit status)",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: |s, site| {
        if arity(s, site, 0, 1) {
            if let Some(a) = site.args.first() {
                s.check_int(a, "exit() code");
            }
        }
        Type::None
    },
    lower: |g, site| {
        let args = lower_args(g, site, 0)?;
        g.emit_event(Action::Exit { code: !args.is_empty() }, &args, true);
        g.jump_to_exit();
        Ok(Val::None)
    },
};

pub static TIME: Builtin = Builtin {
    name: "time",
    doc: "print the current time with a strftime format: time(\"%H:%M:%S\\n\")",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: |s, site| {
        if arity(s, site, 0, 1) && !site.args.is_empty() {
            format_arg(s, site);
        }
        Type::None
    },
    lower: |g, site| {
        let format = match site.args.first().map(|a| &a.kind) {
            Some(ExprKind::Str(f)) => f.clone(),
            _ => "%H:%M:%S\n".to_string(),
        };
        g.emit_event(Action::Time { format }, &[], false);
        Ok(Val::None)
    },
};

/// Strings `join()` reads from the array, and the bytes kept of each.
const JOIN_SLOTS: u32 = 16;
const JOIN_SLOT_SIZE: u32 = 1024;

pub static JOIN: Builtin = Builtin {
    name: "join",
    doc: "print an array of string pointers (like args.argv) joined by a delimiter (default \" \")",
    variable: false,
    aggregate: false,
    unsafe_only: false,
    check: |s, site| {
        if arity(s, site, 1, 2) {
            let t = s.check_expr(&site.args[0]);
            if !(t.is_int() || t == Type::None) {
                s.error(site.span, format!("join() only supports int or pointer arguments ({t} provided)"));
            }
            if let Some(d) = site.args.get(1) {
                if !matches!(d.kind, ExprKind::Str(_)) {
                    s.error(d.span, "join() expects a string literal as its delimiter");
                }
            }
        }
        Type::None
    },
    lower: lower_join,
};

/// The strings are read straight into a reserved ring buffer record: 16 KiB would not fit on
/// the BPF stack.
fn lower_join(g: &mut Gen, site: &CallSite) -> GenResult<Val> {
    let delim = match site.args.get(1).map(|d| &d.kind) {
        Some(ExprKind::Str(d)) => d.clone(),
        _ => " ".to_string(),
    };
    let space = match g.ty(&site.args[0]) {
        Type::Ptr { space, .. } => space,
        _ => AddrSpace::Kernel,
    };
    let base = g.expr(&site.args[0])?;
    let base = g.addr_of(base);
    let id = g.actions.len();
    g.actions.push(Action::Join { delim, slots: JOIN_SLOTS, slot_size: JOIN_SLOT_SIZE });
    let ((rec_base, rec), ptr) = (g.pointer_slot(), g.new_slot());
    let (lost, done) = (g.asm.new_label(), g.asm.new_label());
    g.asm.ld_map_fd(R1, MAP_RINGBUF as i32);
    g.asm.mov64_imm(R2, (8 + JOIN_SLOTS * JOIN_SLOT_SIZE) as i32);
    g.asm.mov64_imm(R3, 0);
    g.asm.call(helpers::RINGBUF_RESERVE);
    g.asm.jmp_imm(Cond::Eq, R0, 0, lost);
    g.asm.stx(8, rec_base, rec, R0);
    g.asm.st_imm(8, R0, 0, id as i32);
    for i in 0..JOIN_SLOTS {
        // ptr = base[i], then the string it points to into slot i (both zeroed on failure).
        g.asm.mov64(R1, R10);
        g.asm.alu64_imm(BPF_ADD, R1, ptr as i32);
        g.asm.mov64_imm(R2, 8);
        g.asm.ldx(8, R3, R10, base);
        g.asm.alu64_imm(BPF_ADD, R3, (i * 8) as i32);
        g.asm.call(read_helper(space));
        g.asm.ldx(8, R1, rec_base, rec);
        g.asm.alu64_imm(BPF_ADD, R1, (8 + i * JOIN_SLOT_SIZE) as i32);
        g.asm.mov64_imm(R2, JOIN_SLOT_SIZE as i32);
        g.asm.ldx(8, R3, R10, ptr);
        g.asm.call(read_str_helper(space));
    }
    g.asm.ldx(8, R1, rec_base, rec);
    // BPF_RB_NO_WAKEUP, as for every other event (see `emit_event`).
    g.asm.mov64_imm(R2, 1);
    g.asm.call(helpers::RINGBUF_SUBMIT);
    g.asm.ja(done);
    g.asm.bind(lost);
    g.count_in(MAP_LOST, 0);
    g.asm.bind(done);
    Ok(Val::None)
}

pub static ALL: &[&Builtin] = &[&PRINTF, &PRINT, &EXIT, &TIME, &SYSTEM, &CAT, &ERRORF, &WARNF, &JOIN];
