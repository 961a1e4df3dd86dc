//! Snapshot tests of sema and codegen errors and warnings, rootless: each snapshot holds the
//! programs and what the compiler says about them, rendered as the CLI shows it (source line and
//! underline). The programs use probes that resolve without tracefs or privileges (BEGIN, END,
//! interval), so these run anywhere; tracepoint and kprobe errors are covered by the runtime
//! tests.
use ferret_lang::{compile, Options};
use ferret_syntax::Source;

/// `assert_snapshot!` without the (long) source expression in the snapshot header.
macro_rules! snap {
    ($value:expr) => {{
        let mut settings = insta::Settings::clone_current();
        settings.set_omit_expression(true);
        settings.bind(|| insta::assert_snapshot!($value));
    }};
}

fn render(src: &str, opts: &Options) -> (bool, String) {
    let source = Source { name: "stdin", text: src };
    match compile(src, opts) {
        Ok(c) => (true, source.render_all(&c.warnings)),
        Err(d) => (false, source.render_all(&d)),
    }
}

/// Programs that must fail to compile; their rendered diagnostics.
fn bad(srcs: &[&str]) -> String {
    let mut out = Vec::new();
    for src in srcs {
        let (ok, text) = render(src, &Options::default());
        assert!(!ok, "expected {src:?} to fail, got:\n{text}");
        assert!(text.contains("ERROR: "), "{src:?}: an error without ERROR:\n{text}");
        out.push(format!("{src}\n----\n{text}"));
    }
    out.join("\n========\n")
}

/// Programs that compile with warnings; the warnings.
fn warned(srcs: &[&str]) -> String {
    let mut out = Vec::new();
    for src in srcs {
        let (ok, text) = render(src, &Options::default());
        assert!(ok, "expected {src:?} to compile, got:\n{text}");
        assert!(text.contains("WARNING: "), "{src:?}: no warning");
        out.push(format!("{src}\n----\n{text}"));
    }
    out.join("\n========\n")
}

#[test]
fn type_mismatches() {
    snap!(bad(&[
        r#"BEGIN { @x = 1; @x = "a"; }"#,
        r#"BEGIN { $x = 1; $x = "a"; }"#,
        r#"BEGIN { $x = 1 + "a"; }"#,
        r#"BEGIN { $x = (uint8)1; $x = (uint64)1 - "s"; }"#,
        r#"BEGIN { $x = -"a"; }"#,
        r#"BEGIN { if ("a") { } }"#,
        r#"BEGIN { $t = (1, "a"); $t = ("a", 1); }"#,
        "BEGIN { $t = (1, 2); print($t.5); }",
        "BEGIN { $p = (int8 *)0; $q = $p->field; }",
        r#"BEGIN { exit("a"); }"#,
    ]));
}

#[test]
fn maps() {
    snap!(bad(&[
        r#"BEGIN { @m[1] = 1; @m["a"] = 2; }"#,
        "BEGIN { @x[1, 2] = 1; @x[1] = 2; }",
        "BEGIN { @x = count(); @x = 1; }",
        "BEGIN { delete(@nomap[1]); }",
        "BEGIN { @a = 1; clear(@a, 2); }",
        "BEGIN { zero(1); }",
        r#"BEGIN { @x = 1; print(@x, "a"); }"#,
    ]));
}

#[test]
fn calls_and_arguments() {
    snap!(bad(&[
        "BEGIN { nosuch(1); }",
        "BEGIN { @ = count(1); }",
        "BEGIN { @ = hist(); }",
        "BEGIN { @ = lhist(1, 0, 10); }",
        r#"BEGIN { @ = sum("a"); }"#,
        "BEGIN { @ = stats(1, 2); }",
        "BEGIN { str(1, 2, 3); }",
        r#"BEGIN { $x = strncmp("a", "b"); }"#,
        r#"BEGIN { $x = ntop("a"); }"#,
        r#"BEGIN { $x = buf("a", -1); }"#,
        "BEGIN { cat(1); }",
        "BEGIN { time(1); }",
        "BEGIN { kaddr(1); }",
        "BEGIN { @x = ustack(1, 2, 3); }",
        "interval:s:1 { @ = kstack(-1); }",
        "BEGIN { unroll(200) { } }",
        "BEGIN { print($undefined); }",
    ]));
}

#[test]
fn printf_formats() {
    snap!(bad(&[
        r#"BEGIN { printf("%d\n", "str"); }"#,
        r#"BEGIN { printf("%s %s\n", 1); }"#,
        r#"BEGIN { printf("%d\n", 1, 2); }"#,
        r#"BEGIN { printf("%Q\n", 1); }"#,
    ]));
}

#[test]
fn builtins_outside_their_probe_types() {
    snap!(bad(&["BEGIN { args.x; }", "BEGIN { retval; }", "BEGIN { func; }", "END { arg0; }", "BEGIN { sarg0; }"]));
}

#[test]
fn unsafe_functions_need_unsafe() {
    snap!(bad(&[r#"BEGIN { system("ls"); }"#, r#"interval:s:1 { signal("SIGKILL"); }"#]));
    // With --unsafe the same call compiles.
    let opts = Options { unsafe_: true, ..Options::default() };
    let (ok, text) = render(r#"BEGIN { system("ls"); }"#, &opts);
    assert!(ok, "{text}");
}

#[test]
fn stack_limits() {
    let long = "a".repeat(600);
    let while_loop = format!(r#"BEGIN {{ $i = 0; while ($i < 2) {{ $s = "{long}"; print($s); $i++; }} }}"#);
    snap!(bad(&[&while_loop]));
}

#[test]
fn warnings() {
    snap!(warned(&[r#"BEGIN { @x = 1; } END { exit(); printf("x\n"); }"#, "BEGIN { return; @y = 2; }"]));
}
