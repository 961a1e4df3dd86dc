//! `--info`: the system and what this kernel lets ferret use, in bpftrace's layout (sections of
//! `  name: value` lines). Every answer comes from a trial load or a sysfs check.
use ferret_sys::bpf::{attach_type, prog_type};
use ferret_sys::features::{self, probe_load};

fn yes(b: bool) -> String {
    (if b { "yes" } else { "no" }).to_string()
}

/// `uname -s -r -v` and the machine name.
fn system() -> Vec<(&'static str, String)> {
    // SAFETY: uname fills the zeroed struct with NUL-terminated fields.
    let u = unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        libc::uname(&mut u);
        u
    };
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f.iter().take_while(|c| **c != 0).map(|c| *c as u8).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    vec![
        ("OS", format!("{} {} {}", field(&u.sysname), field(&u.release), field(&u.version))),
        ("Arch", field(&u.machine)),
    ]
}

fn section(out: &mut String, title: &str, rows: &[(&str, String)]) {
    out.push_str(title);
    out.push('\n');
    for (k, v) in rows {
        out.push_str(&format!("  {k}: {v}\n"));
    }
    out.push('\n');
}

/// The whole report.
pub fn report(no_features: &[String]) -> String {
    let disabled = |name: &str| no_features.iter().any(|n| n == name);
    let f = features::features().snapshot();
    // A multi-attach link type is usable when the kernel knows it and the PMU it needs exists
    // (kprobe_multi: a trial link, as ferret decides by it), unless `--no-feature` said not to.
    let kprobe_session = !disabled("kprobe_session")
        && f.kprobe
        && probe_load(prog_type::KPROBE, attach_type::TRACE_KPROBE_SESSION, 0).is_ok();
    let uprobe_multi = !disabled("uprobe_multi")
        && f.uprobe
        && probe_load(prog_type::KPROBE, attach_type::TRACE_UPROBE_MULTI, 0).is_ok();
    let mut out = String::new();
    section(&mut out, "System", &system());
    section(
        &mut out,
        "Build",
        &[("version", format!("ferret v{}", env!("CARGO_PKG_VERSION"))), ("LLVM", "not used".into())],
    );
    section(
        &mut out,
        "Kernel features",
        &[
            ("btf", yes(features::btf_available())),
            ("ringbuf", yes(f.ringbuf)),
            ("prog_test_run (BEGIN/END)", yes(f.prog_test_run_raw_tp)),
        ],
    );
    // Every probe type of the registry with its own answer, then the link types and
    // watchpoints on kernel data, which some kernels lack although they have the probe type.
    let mut rows: Vec<(&str, String)> = vec![];
    for kind in ferret_lang::probe::REGISTRY.iter().filter(|k| k.special.is_none()) {
        rows.push((kind.names[0], yes((kind.available)())));
    }
    rows.extend([
        ("tp_btf", yes(f.tp_btf)),
        ("kprobe_multi", yes(!disabled("kprobe_multi") && features::features().kprobe_multi())),
        ("kprobe_session", yes(kprobe_session)),
        ("uprobe_multi", yes(uprobe_multi)),
        ("kernel_watchpoint", yes(kernel_watchpoint())),
    ]);
    section(&mut out, "Probe types", &rows);
    out
}

/// Whether a hardware breakpoint on a kernel address (`watchpoint:` on kernel data) is
/// allowed here: a trial breakpoint on kernel data (closed at once) on every CPU. Some
/// hypervisors' guests refuse them (EPERM) even to root.
fn kernel_watchpoint() -> bool {
    use ferret_sys::perf::{self, hw_breakpoint};
    let addr = ["jiffies", "__start_rodata", "_stext"]
        .iter()
        .find_map(|n| ferret_sys::kallsyms::lookup(n).filter(|a| *a != 0));
    let Some(addr) = addr else { return false };
    let Ok(cpus) = ferret_sys::cpus::online() else { return false };
    cpus.iter().all(|&cpu| perf::breakpoint_event(addr, 8, hw_breakpoint::W, -1, cpu as i32).is_ok())
}
