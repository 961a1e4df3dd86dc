//! Snapshot tests of the parser: each snapshot holds the programs, then their AST dump
//! (`ferret_syntax::dump`) or their rendered errors.
use ferret_syntax::{dump, parse, Source};

/// `assert_snapshot!` without the (long) source expression in the snapshot header.
macro_rules! snap {
    ($value:expr) => {{
        let mut settings = insta::Settings::clone_current();
        settings.set_omit_expression(true);
        settings.bind(|| insta::assert_snapshot!($value));
    }};
}

fn render(src: &str) -> (bool, String) {
    match parse(src) {
        Ok(p) => (true, dump(&p)),
        Err(d) => (false, Source { name: "stdin", text: src }.render_all(&d)),
    }
}

/// Programs that must parse; their dumps.
fn good(srcs: &[&str]) -> String {
    let mut out = Vec::new();
    for src in srcs {
        let (ok, text) = render(src);
        assert!(ok, "expected {src:?} to parse, got:\n{text}");
        out.push(format!("{src}\n----\n{text}"));
    }
    out.join("\n========\n")
}

/// Programs that must fail; their rendered diagnostics.
fn bad(srcs: &[&str]) -> String {
    let mut out = Vec::new();
    for src in srcs {
        let (ok, text) = render(src);
        assert!(!ok, "expected {src:?} to fail, got:\n{text}");
        out.push(format!("{src}\n----\n{text}"));
    }
    out.join("\n========\n")
}

#[test]
fn tutorial_one_liners() {
    snap!(good(&[
        r#"BEGIN { printf("hello world\n"); }"#,
        r#"BEGIN { printf("hello\n"); exit(); }"#,
        r#"tracepoint:syscalls:sys_enter_openat { printf("%s %s\n", comm, str(args.filename)); }"#,
        r#"tracepoint:syscalls:sys_enter_openat { printf("%s %s\n", comm, str(args->filename)); }"#,
        "tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }",
        "tracepoint:syscalls:sys_exit_read /pid == 18644/ { @bytes = hist(args.ret); }",
        "tracepoint:syscalls:sys_exit_read /args.ret/ { @[comm] = sum(args.ret); }",
        "tracepoint:syscalls:sys_exit_read { @[comm] = hist(args.ret); }",
        "kretprobe:vfs_read { @bytes = lhist(retval, 0, 2000, 200); }",
        "kprobe:vfs_read { @start[tid] = nsecs; } kretprobe:vfs_read /@start[tid]/ { @ns[comm] = hist(nsecs - @start[tid]); delete(@start, tid); }",
        "kprobe:vfs_read { @start[tid] = nsecs; } kretprobe:vfs_read /@start[tid]/ { @ns[comm] = hist(nsecs - @start[tid]); delete(@start[tid]); }",
        "tracepoint:sched:sched* { @[probe] = count(); } interval:s:5 { exit(); }",
        "profile:hz:99 { @[kstack] = count(); }",
        "tracepoint:sched:sched_switch { @[kstack] = count(); }",
        "tracepoint:block:block_rq_issue { @ = hist(args.bytes); }",
        "tracepoint:block:block_rq_issue { @ = hist(args->bytes); }",
        r#"kprobe:do_nanosleep { printf("PID %d sleeping...\n", pid); }"#,
        "kprobe:vfs_* { @[func] = count() }",
    ]));
}

#[test]
fn attach_points() {
    snap!(good(&[
        "BEGIN {} begin {} END {} end {}",
        "BEGIN/1/{ }",
        "BEGIN,END{}",
        "t:sched:sched_switch, tracepoint:syscalls:sys_enter_* , t:syscalls:sys_*, {}",
        "interval:s:1 {} interval:1s {} interval:ms:100 {} profile:hz:99 {} i:s:1 {}",
        "kprobe:vfs_read+0x10 {} kprobe:vfs_read+16 {} kretprobe:vfs_read {} k:mod:fn {}",
        r#"k:"fn.abc"+1 {}"#,
        "uprobe:/bin/bash:readline {} uretprobe:/bin/bash:readline {} uprobe:libc:malloc {}",
        r#"uprobe:/bin/x:cpp:"ns::fn(int)" {}"#,
        r#"uprobe:"/path with spaces/bin":main {}"#,
        "uprobe:/bin/bash:readline /pid == 1/ { }",
        "usdt:/path:prov:probe {} U:/path:prov:probe {}",
        "rawtracepoint:sched_switch {} software:cpu-clock:1000 {} hardware:cycles {}",
        "fentry:vmlinux:vfs_read {} kfunc:vfs_read {} fexit:vfs_read {} iter:task {}",
        "iter:task_file:/sys/fs/bpf/files {}",
        "watchpoint:0x1234:8:w {} self:signal:SIGUSR1 {} uprobe:$1:main {}",
        "kprobe:f\n/ pid == 1 /\n{\n}",
        "kprobe:f // comment\n{ }",
        "kprobe:f /* comment */ { }",
        "kprobe:f/pid==1/{ }",
        "kprobe:f/ $x / 2 /{ }",
        "*:vfs_read, k*:foo {}",
    ]));
}

#[test]
fn expressions() {
    snap!(good(&[
        "k:f { 1 + 2 * 3 - 4 / 2 % 3; }",
        "k:f { 1 - 2 - 3; 1 << 2 + 3; 1 < 2 == 3 > 4; }",
        "k:f { $a || $b && $c | $d ^ $e & $f; }",
        "k:f { $a ? $b : $c ? $d : $e; $a ?: $b; $a || $b ? 1 : 2; }",
        "k:f { !$x; ~$x; -$x; *$p; &$x; &@m; - -1; !!$x; -1 - -1; }",
        "k:f { $x++; $x--; ++$x; --$x; @x++; @x[1]--; ++@x[1, 2]; }",
        "k:f { $a.b.c; $a->b->c; $a.0.1; $t.0; args.filename; args->filename; $a[1][2]; @m[1].f; (*$p).f; }",
        "k:f { -$a.b; *$p->q; !@m[1]; }",
        "k:f { f(); f(1); f(1, 2, 3); nsecs(monotonic); kstack(perf, 10); ustack(3); str(arg0, 16); }",
        "k:f { @; @m; @m[1]; @m[1, \"a\", $x]; $1; $22; $#; $x; pid; arg0; retval; kstack; curtask; }",
        "k:f { (1); ((1 + 2)) * 3; (1, 2); (1,); (1, 2,); (); (a = 1, b = \"x\"); (x = (y = 1)); ((1, 2), 3).0.1; }",
        "k:f { sizeof(uint32); sizeof(struct task_struct); sizeof($x); sizeof(foo); sizeof(foo *); sizeof(int8[4]); }",
        "k:f { offsetof(struct foo, a); offsetof(struct foo, a.b.c); offsetof(foo_t, x); }",
        "k:f { $x = { let $y = 1; $y + 1 }; $z = { 5 }; }",
        "k:f { $x = if $a > 1 { 1 } else { 2 }; $y = if ($a) { f(); 1 } else if $b { 2 } else { 3 }; }",
        "k:f { $x = { if 1 { 2 } else { 3 } }; $y = { f(); if $a { g(); 1 } else if $b { 2 } else { 3 } }; }",
        "k:f { true; false; true && !false; }",
        "k:f { 1 ==\n 2; }",
    ]));
}

#[test]
fn casts() {
    snap!(good(&[
        "k:f { (uint32)$x; (int8)$x; (uint8)arg0 + 1; (bool)1; (string)$s; (buffer)$b; (void *)0; }",
        "k:f { (struct task_struct *)curtask; (struct sock *)arg0; (struct foo)$x; (union u *)$p; (enum e)1; }",
        "k:f { (uint8[4])$x; (int32 *)$p; (int8**)$pp; (char *)arg0; (unsigned int)$x; (unsigned long long *)$p; (int)$x; }",
        "k:f { (u32)arg0; (size_t)$x; (pid_t)$y; (foo *)x; (foo_t)(1); (T)-1; (T *)-1; (uint64)-1; }",
        "k:f { (struct task_struct *)curtask->parent; ((struct task_struct *)curtask)->parent; *(uint32 *)arg0; }",
        "k:f { (pid); (pid) - 1; (retval) * 2; (X) - 1; (X) * 2; (X) & 1; (uint32); (arg0); }",
    ]));
}

#[test]
fn statements() {
    snap!(good(&[
        "k:f { $x = 1; @x = 1; @x[1] = 2; @x[1, 2] = 3; @ = 4; }",
        "k:f { $x += 1; $x -= 1; $x *= 2; $x /= 2; $x %= 2; $x &= 1; $x |= 1; $x ^= 1; $x <<= 1; $x >>= 1; @m[1] += 1; }",
        "k:f { let $x; let $y = 1; let $z: uint8 = 2; let $p: struct foo * = 0; let $a: int8[4]; }",
        "k:f { if (pid > 1) { @a = 1; } }",
        "k:f { if pid > 1 { @a = 1 } else { @a = 2 } }",
        "k:f { if (1) { } else if (2) { $x = 1; } else if 3 { } else { $x = 2 } }",
        "k:f { if (1) { }; if (2) { } @x = 1 }",
        "k:f { while ($i < 10) { $i++; } while $i < 20 { $i++; if $i == 15 { break; } continue } }",
        "k:f { unroll(5) { $i++ } unroll 3 { } unroll($1) { } }",
        "k:f { for ($kv : @map) { print($kv.0); } for $kv : @m { } for ($i : 0..10) { } for $i : $a..$b { } for ($i : -1..(1 + 2)) { } }",
        "k:f { return; } k:g { return 1; } k:h { return }",
        "k:f { { $x = 1; } { } $y = 2; }",
        "k:f { ;; $x = 1;; ; }",
        "k:f { _ = f(); }",
        "k:f { $x = 1 }",
        "k:f { printf(\"%d\\n\", $x) }",
        "k:f {}",
        "k:f { @x++ }",
    ]));
}

#[test]
fn literals() {
    snap!(good(&[
        "k:f { 0; 1; 123; 0x10; 0XfF; 010; 08; 1_000_000; 0x_ff; 1e6; 5e3; 2E2; }",
        "k:f { 1ns; 1us; 1ms; 1s; 1m; 1h; 1d; 10ms; 1_000us; 1u; 1ul; 1ull; 1l; 1ll; }",
        "k:f { 18446744073709551615; 4294967295u; 9223372036854775807l; -9223372036854775808; }",
        r#"k:f { "plain"; "esc \n \t \r \\ \" end"; "\0"; "\101\102"; "\x41\X42"; "\x4"; ""; "utf-8 é ✓"; "\303\251"; }"#,
        "k:f { \"a\\\\b\" }",
    ]));
}

#[test]
fn top_level() {
    snap!(good(&[
        "#!/usr/bin/env bpftrace\nBEGIN { }",
        "#include <linux/sched.h>\n#include <net/sock.h>\n#define FOO 1\n#define BAR(x) \\\n  ((x) + 1)\nBEGIN { }",
        "struct foo { int a; char b[16]; };\nunion u { int x; long y; }\nenum e { A = 1, B };\nBEGIN { }",
        "struct foo {\n  struct bar { int x; } b; /* } */ // }\n  int y;\n} __attribute__((packed));\nBEGIN { }",
        "struct foo { } __attribute__ ((packed)) __attribute__ ((aligned(8)))\nBEGIN { }",
        "config = { BPFTRACE_STACK_MODE = perf; max_map_keys = 1024; str = \"x\"; flag = true; other = false }\nBEGIN { }",
        "config = { }\nBEGIN { }",
        "let @a = hash(10);\nlet @b = lruhash(100)\nlet @c = percpuarray(1); BEGIN { @a[1] = 1; }",
        "macro add_one($x) { $x + 1 }\nmacro set(@m, k) { @m[k] = 1; }\nmacro none() { }\nBEGIN { set(@m, add_one(1)); }",
        "BEGIN { } ; END { };",
        "// only a comment",
        "",
        "struct:probe { }",
    ]));
}

#[test]
fn scripts() {
    snap!(good(&[
        include_str!("scripts/opensnoop.bt"),
        include_str!("scripts/runqlat.bt"),
        include_str!("scripts/tcpstates.bt"),
        include_str!("scripts/histo.bt"),
    ]));
}

#[test]
fn syntax_errors() {
    snap!(bad(&[
        "kprobe:f { $0 }",
        "kprobe:f { $99999999999 }",
        "kprobe:sys_open { $ x = 1; }",
        "kprobe:f /pid == 1 { 0; }",
        "kprobe:f /pid == 1",
        "kprobe:f",
        "kprobe:f { 1 + }",
        "i:s:1 { < }",
        "i:s:1\t\t\t$a",
        "begin { f(struct task_struct*); }",
        "BEGIN { @x = 1 @y = 2 }",
        "BEGIN { printf(\"x\") ",
        "BEGIN { $x = (1 + 2; }",
        "BEGIN { @x[1 = 2; }",
        "BEGIN { } }",
        "BEGIN { if 1 { } else print(1); }",
        "BEGIN { $x = if 1 { 2 }; }",
        "BEGIN { $x = { f(); }; }",
        "BEGIN { $x = { if 1 { 2 } }; }",
        "BEGIN { let x = 1; }",
        "BEGIN { let $x: = 1; }",
        "BEGIN { $x.; }",
        "BEGIN { $x->1; }",
        "BEGIN { (struct 1)$x; }",
        "begin { for (@kv : @map) { } }",
        "begin { for ($i : 1+1..10) { print($i) } }",
        "begin { for ($kv : @map) print($kv); }",
        "begin { for ($kv : 1) { } }",
        "k:f { print((,)); }",
        "k:f { print((hello=1, 5)); }",
        "k:f { print((hello=1,)); }",
        "k:f { offsetof(struct Foo, bar->x); }",
        "k:f { 1 ? 2 }",
        "config = { exit(); } i:s:1 { exit(); }",
        "config = { @start = nsecs; } i:s:1 { exit(); }",
        "config { BPFTRACE_STACK_MODE=perf } i:s:1 { exit(); }",
        "config = { a = 1 b = 2 } i:s:1 { exit(); }",
        "BPFTRACE_STACK_MODE=perf; i:s:1 { exit(); }",
        "let @a = hash(x);",
        "let $a = 1;",
        "macro m(1) { }",
        "macro m(pid) { }",
        "fn f(): int64 { }",
        "import \"foo\";",
        "struct foo { int a;",
        "struct foo {} __attribute__ begin {}",
        "struct foo {} __attribute__ ((packed) begin {}",
    ]));
}

#[test]
fn non_fatal_errors() {
    snap!(bad(&[
        "i:s:1 { @=5++}",
        "i:s:1 { @=++5}",
        "i:s:1 { @=\"a\"++}",
        "i:s:1 { $x = &1; }",
        "i:s:1 { (1, 0) = 0; }",
        "i:s:1 { $a = 1; $a.2 = 3; }",
        "i:s:1 { @x = (1, 2); @x.1 = 1; }",
        "k:f { print((hello=1,hello=2)); }",
        "i:s:1 { exit(); } config = { BPFTRACE_STACK_MODE=perf }",
        "config = { a = 1 } config = { b = 2 } i:s:1 { }",
        "BEGIN { } #include <foo.h>",
        "BEGIN { } struct foo { int x; }",
    ]));
}

#[test]
fn lexical_errors() {
    snap!(bad(&[
        "kprobe:sys_open { \"\\777\" }",
        "kprobe:sys_open { \"\\q\" }",
        "kprobe:sys_open { \"\\x\" }",
        "kprobe:sys_open { \"\\xff\" }",
        "kprobe:f { \"asdf }",
        "kprobe:f { \"asdf\n\" }",
        "kprobe:f { \"asdf\\",
        "BEGIN { x £ }",
        "BEGIN { # }",
        "BEGIN { /* foo",
        "/* foo",
        "uprobe:\"/bin/x:main {}",
        "k:asdf+123abc",
        "k:f { print(5e-9); }",
        "k:f { print(1e21); }",
        "k:f { print(10000000000m); }",
        "k:f { print(12e4); }",
        "k:f { print(1_1e100); }",
        "k:f { print(1e1_1_); }",
        "k:f { print(1_1_e100); }",
        "k:f { print(1_1_); }",
        "k:f { print(1ulll); }",
        "k:f { print(1lul); }",
        "k:f { print(1min); }",
        "k:f { print(0x); }",
        "k:f { print(018); }",
        "k:f { print(18446744073709551616); }",
        "k:f { print(4294967296u); }",
    ]));
}

/// Spans: probes cover their attach points, statements exclude the `;`, expressions
/// cover their operands, a grouped expression covers its parentheses.
#[test]
fn spans() {
    use ferret_syntax::ast::*;
    let src = "kprobe:a, kprobe:b /pid/ { $x = (1 + 2) * 3; @m[1, 2]++; }";
    let p = parse(src).unwrap();
    let text = |s: ferret_syntax::Span| &src[s.range()];
    let probe = &p.probes[0];
    assert_eq!(text(probe.span), "kprobe:a, kprobe:b");
    assert_eq!(text(probe.attach_points[1].span), "kprobe:b");
    assert_eq!(text(probe.predicate.as_ref().unwrap().span), "pid");
    assert_eq!(text(probe.body.span), "{ $x = (1 + 2) * 3; @m[1, 2]++; }");
    let s0 = &probe.body.stmts[0];
    assert_eq!(text(s0.span), "$x = (1 + 2) * 3");
    let StmtKind::Assign { target, value: Some(value), .. } = &s0.kind else { panic!("{s0:?}") };
    assert_eq!(text(target.span), "$x");
    assert_eq!(text(value.span), "(1 + 2) * 3");
    let ExprKind::Binary { lhs, .. } = &value.kind else { panic!() };
    assert_eq!(text(lhs.span), "(1 + 2)");
    let s1 = &probe.body.stmts[1];
    assert_eq!(text(s1.span), "@m[1, 2]++");
    let StmtKind::Expr(Expr { kind: ExprKind::Unary { expr, .. }, .. }) = &s1.kind else { panic!() };
    assert_eq!(text(expr.span), "@m[1, 2]");

    let src = "#define X 1  \nstruct s { int a; };\nconfig = { a = 1 }\nlet @h = hash(2);\nmacro m($a) { $a }\nBEGIN { (struct s *)0; }";
    let p = parse(src).unwrap();
    assert_eq!(text2(src, p.c_definitions[0].span), "#define X 1");
    assert_eq!(text2(src, p.c_definitions[1].span), "struct s { int a; };");
    assert_eq!(text2(src, p.config[0].span), "a = 1");
    assert_eq!(text2(src, p.map_decls[0].span), "let @h = hash(2)");
    assert_eq!(text2(src, p.macros[0].span), "macro m");
    let StmtKind::Expr(e) = &p.probes[0].body.stmts[0].kind else { panic!() };
    assert_eq!(text2(src, e.span), "(struct s *)0");
    let ExprKind::Cast { ty, .. } = &e.kind else { panic!() };
    assert_eq!(text2(src, ty.span), "struct s *");
}

fn text2(src: &str, s: ferret_syntax::Span) -> &str {
    &src[s.range()]
}

/// A sample of every construct, to cut into pieces for the no-panic test.
const CORPUS: &[&str] = &[
    include_str!("scripts/opensnoop.bt"),
    include_str!("scripts/runqlat.bt"),
    include_str!("scripts/tcpstates.bt"),
    include_str!("scripts/histo.bt"),
    r#"uprobe:/bin/x:cpp:"ns::fn(int)", BEGIN/1/{ $x = "a\x41\101\n"; @[1e6, 1s, 0x1f, 010] = (uint8[4])$x; }"#,
    "k:f { $x = if $a { let $b: struct s * = 0; $b } else { (a = 1, b = (2,)) }; for $i : 0..$x.a { } }",
    "k:f { sizeof(unsigned long); offsetof(struct x, a.b); $x ?: -~!*&$y; ++@m[1]; _ = $1 + $#; }",
];

/// Every prefix and every one-character deletion of the corpus parses without panicking.
#[test]
fn never_panics_on_mangled_input() {
    for src in CORPUS {
        let bounds: Vec<usize> = src.char_indices().map(|(i, _)| i).chain([src.len()]).collect();
        for &end in &bounds {
            let _ = parse(&src[..end]);
        }
        for w in bounds.windows(2) {
            let mangled = format!("{}{}", &src[..w[0]], &src[w[1]..]);
            if let Err(diags) = parse(&mangled) {
                // Rendering must cope with every span the parser produced.
                let _ = Source { name: "stdin", text: &mangled }.render_all(&diags);
            }
        }
    }
    for junk in
        ["", "{", "}", "/", "//", "/*", "\"", "$", "@", "#", "(", "k:f {", "k:f /", "k:f { (", "ä", "\0", "k:f{é}"]
    {
        let _ = parse(junk);
    }
}

/// Deep nesting is refused with an error instead of overflowing the stack (test threads
/// have 2 MiB of stack, and this runs unoptimised).
#[test]
fn deep_nesting_is_an_error() {
    let exprs = [
        ("(", ")"),
        ("- ", ""),
        ("!", ""),
        ("f(", ")"),
        ("@m[", "]"),
        ("1 + (", ")"),
        ("1 ? ", " : 2"),
        ("(uint8)", ""),
    ];
    let stmts =
        [("{ ", " }"), ("if 1 { ", " }"), ("while 1 { ", " }"), ("for $i : 0..1 { ", " }"), ("if 1 { } else ", "")];
    let cases = exprs
        .iter()
        .map(|(o, c)| format!("k:f {{ $x = {}1{}; }}", o.repeat(5_000), c.repeat(5_000)))
        .chain(stmts.iter().map(|(o, c)| format!("k:f {{ {} $x = 1; {} }}", o.repeat(5_000), c.repeat(5_000))));
    for src in cases {
        let err = parse(&src).unwrap_err();
        assert!(err.iter().any(|d| d.message.contains("nested too deeply")), "{}: {err:?}", &src[..20]);
    }
    // Reasonable nesting is fine.
    parse(&format!("k:f {{ $x = {}1{}; }}", "(".repeat(40), ")".repeat(40))).unwrap();
    parse(&format!("k:f {{ {} $x = 1; {} }}", "if 1 { ".repeat(20), " }".repeat(20))).unwrap();
}
