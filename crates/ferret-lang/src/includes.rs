//! `#include` lines. ferret reads no C headers: the kernel's types come from its BTF and the
//! constants scripts take from libc headers (`AF_INET`) are built in. So kernel headers
//! (`<linux/sched.h>`, `<net/sock.h>`) and the C and POSIX system headers (`<sys/socket.h>`)
//! are accepted whether or not they are installed, but any other header must exist where a C
//! compiler would look (the `-I` directories, the script's directory for `"..."`, the system
//! include directories), so that a misspelt or missing header is an error at its line rather
//! than silently nothing.
use ferret_syntax::ast::Program;
use ferret_syntax::{Diagnostic, Span};
use std::path::{Path, PathBuf};

/// Top-level directories of the kernel's include trees: headers under them describe kernel
/// types, which BTF supplies.
const KERNEL_DIRS: &[&str] = &[
    "linux",
    "net",
    "asm",
    "asm-generic",
    "uapi",
    "trace",
    "crypto",
    "keys",
    "scsi",
    "sound",
    "video",
    "xen",
    "rdma",
    "media",
    "drm",
    "acpi",
    "clocksource",
    "kunit",
    "vdso",
    "misc",
    "pcmcia",
    "soc",
    "dt-bindings",
    "ras",
    "math-emu",
    "target",
    "generated",
    "bpf",
];

/// Directories of the C library's headers.
const SYSTEM_DIRS: &[&str] = &["sys", "netinet", "arpa", "bits", "netpacket", "gnu"];

/// The C and POSIX headers (some a compiler provides itself: bpftrace ships clang's), plus the
/// BTF-generated `vmlinux.h`.
const SYSTEM_HEADERS: &[&str] = &[
    "assert.h",
    "complex.h",
    "ctype.h",
    "errno.h",
    "fenv.h",
    "float.h",
    "inttypes.h",
    "iso646.h",
    "limits.h",
    "locale.h",
    "math.h",
    "setjmp.h",
    "signal.h",
    "stdalign.h",
    "stdarg.h",
    "stdatomic.h",
    "stdbool.h",
    "stddef.h",
    "stdint.h",
    "stdio.h",
    "stdlib.h",
    "stdnoreturn.h",
    "string.h",
    "tgmath.h",
    "threads.h",
    "time.h",
    "uchar.h",
    "wchar.h",
    "wctype.h",
    "varargs.h",
    "unistd.h",
    "fcntl.h",
    "syscall.h",
    "poll.h",
    "pthread.h",
    "sched.h",
    "dirent.h",
    "dlfcn.h",
    "netdb.h",
    "pwd.h",
    "grp.h",
    "termios.h",
    "endian.h",
    "byteswap.h",
    "elf.h",
    "link.h",
    "malloc.h",
    "memory.h",
    "strings.h",
    "alloca.h",
    "features.h",
    "vmlinux.h",
];

/// The header an `#include` line names, whether it was written `<...>`, and where its name
/// starts in the line.
fn parse(line: &str) -> Option<(&str, bool, usize)> {
    let t = line.trim_start();
    let rest = t.strip_prefix('#')?.trim_start().strip_prefix("include")?;
    let lead = line.len() - rest.len();
    let body = rest.trim_start();
    let at = lead + (rest.len() - body.len());
    let (close, angle) = match body.chars().next()? {
        '<' => ('>', true),
        '"' => ('"', false),
        _ => return None,
    };
    let end = body[1..].find(close)?;
    Some((&body[1..1 + end], angle, at + 1))
}

fn system_dirs() -> Vec<PathBuf> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "x86_64-linux-gnu",
        "aarch64" => "aarch64-linux-gnu",
        other => other,
    };
    ["/usr/local/include".to_string(), format!("/usr/include/{arch}"), "/usr/include".to_string()]
        .into_iter()
        .map(PathBuf::from)
        .collect()
}

/// Whether header `name` can be found (or needs no file).
pub fn found(name: &str, angle: bool, include_dirs: &[String], script_dir: Option<&Path>) -> bool {
    let first = name.split('/').next().unwrap_or(name);
    let in_dir = name.contains('/') && (KERNEL_DIRS.contains(&first) || SYSTEM_DIRS.contains(&first));
    if in_dir || SYSTEM_HEADERS.contains(&name) {
        return true;
    }
    let mut dirs: Vec<PathBuf> = vec![];
    if !angle {
        dirs.push(script_dir.map_or_else(|| PathBuf::from("."), Path::to_path_buf));
    }
    dirs.extend(include_dirs.iter().map(PathBuf::from));
    dirs.extend(system_dirs());
    Path::new(name).is_absolute() && Path::new(name).exists() || dirs.iter().any(|d| d.join(name).exists())
}

/// Every `#include` of the program whose header cannot be found, as an error at its name.
pub fn check(program: &Program, include_dirs: &[String], script_dir: Option<&Path>) -> Result<(), Vec<Diagnostic>> {
    let mut diags = vec![];
    for d in &program.c_definitions {
        let mut line_start = 0usize;
        for line in d.text.split_inclusive('\n') {
            if let Some((name, angle, at)) = parse(line.trim_end_matches('\n')) {
                if !found(name, angle, include_dirs, script_dir) {
                    let start = d.span.start as usize + line_start + at;
                    let span = Span { start: start as _, end: (start + name.len()) as _ };
                    diags.push(Diagnostic::error(span, format!("'{name}' file not found")));
                }
            }
            line_start += line.len();
        }
    }
    if diags.is_empty() {
        Ok(())
    } else {
        Err(diags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_lines() {
        assert_eq!(parse("#include <linux/sched.h>"), Some(("linux/sched.h", true, 10)));
        assert_eq!(parse("  #  include \"my.h\""), Some(("my.h", false, 14)));
        assert_eq!(parse("#define X 1"), None);
    }

    #[test]
    fn kernel_headers_need_no_file_others_do() {
        assert!(found("linux/sched.h", true, &[], None));
        assert!(found("net/sock.h", true, &[], None));
        assert!(found("stddef.h", true, &[], None));
        assert!(found("sys/socket.h", true, &[], None));
        assert!(!found("lol/no.h", true, &[], None));
        let dir = std::env::temp_dir().join(format!("ferret-inc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("mine.h"), "").unwrap();
        assert!(found("mine.h", false, &[], Some(&dir)));
        assert!(!found("mine.h", true, &[], Some(&dir)));
        assert!(found("mine.h", true, &[dir.to_string_lossy().into_owned()], None));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
