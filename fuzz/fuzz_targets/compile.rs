//! The whole compile, text to BPF instructions, without loading anything: sema and codegen read
//! kernel types from a copy of the kernel's BTF (`$BPFTRACE_BTF`, copied at run time by
//! fuzz/run.sh, never committed) and tracepoint formats from fuzz/fixtures/tracefs
//! (`$FERRET_TRACEFS`). Every diagnostic is rendered and every program disassembled.
#![no_main]
use libfuzzer_sys::fuzz_target;

fn setup() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        if std::env::var_os("FERRET_TRACEFS").is_none() {
            std::env::set_var("FERRET_TRACEFS", here.join("fixtures/tracefs"));
        }
        if std::env::var_os("BPFTRACE_BTF").is_none() {
            std::env::set_var("BPFTRACE_BTF", here.join("work/vmlinux.btf"));
        }
        // Read the BTF once up front, as a process would at its first kernel type: that cost
        // (about 1 s under ASan) belongs to no input.
        let _ = ferret_lang::ktypes::btf();
    });
}

fuzz_target!(|data: &[u8]| {
    setup();
    let Ok(text) = std::str::from_utf8(data) else { return };
    // On a thread with the stack the ferret binary compiles on (crates/ferret/src/main.rs).
    let text = text.to_string();
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || compile(&text))
        .expect("thread")
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
});

fn compile(text: &str) {
    let opts = ferret_lang::Options::default();
    let src = ferret_syntax::Source { name: "stdin", text };
    match ferret_lang::compile(text, &opts) {
        Ok(c) => {
            let _ = src.render_all(&c.warnings);
            for p in &c.object.progs {
                let _ = ferret_bpf::disasm::program(&p.insns);
            }
        }
        Err(diags) => {
            let _ = src.render_all(&diags);
        }
    }
}
