//! `uprobe:TARGET:func` → the file to probe. TARGET is a path (`/bin/bash`, `./a.out`), a
//! program name found on `$PATH` (`bash`), or a library name (`libc`, `libc.so.6`) found where
//! the dynamic loader looks, or in the mappings of the process given with `-p`.
use std::path::{Path, PathBuf};

const LIB_DIRS: [&str; 8] = [
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
    "/usr/local/lib",
    "/usr/local/lib64",
];

pub fn resolve_binary(spec: &str, pid: Option<i32>) -> Result<PathBuf, String> {
    if spec.contains('/') {
        let p = Path::new(spec);
        return if p.exists() {
            Ok(p.canonicalize().unwrap_or_else(|_| p.to_path_buf()))
        } else {
            Err(format!("{spec}: no such file"))
        };
    }
    if let Some(pid) = pid {
        if let Some(p) = mapped_library(pid, spec) {
            return Ok(p);
        }
    }
    if let Some(p) = on_path(spec) {
        return Ok(p);
    }
    if let Some(p) = library(spec) {
        return Ok(p);
    }
    Err(format!("could not find {spec} (not a path, not on $PATH, not a library the loader would find)"))
}

/// One file a uprobe/usdt target names: where to open it, and how probe names show it (the
/// path as written, so `uprobe:./a.out:f` stays `./a.out`; a resolved path for bare names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binary {
    pub path: PathBuf,
    pub shown: String,
}

/// Every file TARGET names: a path or name as [`resolve_binary`] finds it; a wildcarded path
/// (`./testprogs/usdt_*`), each match; and with `-p`, an empty or `*` target is every file the
/// process has mapped executable (its program and libraries). A path that exists only in the
/// process's mount namespace is opened through `/proc/PID/root`.
pub fn resolve_targets(spec: &str, pid: Option<i32>) -> Result<Vec<Binary>, String> {
    if let (Some(pid), "" | "*") = (pid, spec) {
        return Ok(mapped_files(pid));
    }
    if spec.contains(['*', '?']) {
        let found = glob_paths(spec);
        if found.is_empty() {
            return Err(format!("{spec}: no such file"));
        }
        return Ok(found);
    }
    if spec.contains('/') {
        if let Some(pid) = pid.filter(|_| spec.starts_with('/') && !Path::new(spec).exists()) {
            let inside = PathBuf::from(format!("/proc/{pid}/root{spec}"));
            if inside.exists() {
                return Ok(vec![Binary { path: inside, shown: spec.to_string() }]);
            }
        }
        if !Path::new(spec).exists() {
            return Err(format!("{spec}: no such file"));
        }
        return Ok(vec![Binary { path: PathBuf::from(spec), shown: spec.to_string() }]);
    }
    let path = resolve_binary(spec, pid)?;
    let shown = shown_path(&path);
    Ok(vec![Binary { path, shown }])
}

/// A resolved path as the probe names it: a file in another process's root keeps the path that
/// process sees.
fn shown_path(path: &Path) -> String {
    let s = path.to_string_lossy();
    if let Some(rest) = s.strip_prefix("/proc/") {
        if let Some((_, inner)) = rest.split_once("/root/") {
            return format!("/{inner}");
        }
    }
    s.into_owned()
}

/// The files process `pid` maps executable, in map order, each once.
fn mapped_files(pid: i32) -> Vec<Binary> {
    let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else { return vec![] };
    let mut out: Vec<Binary> = vec![];
    for l in maps.lines() {
        let mut f = l.split_whitespace();
        let perms = f.nth(1).unwrap_or("");
        let Some(path) = f.nth(3).filter(|p| p.starts_with('/')) else { continue };
        if !perms.contains('x') || out.iter().any(|b| b.shown == path) {
            continue;
        }
        out.push(Binary { path: PathBuf::from(format!("/proc/{pid}/root{path}")), shown: path.to_string() });
    }
    out
}

/// Shell-style `*`/`?` matching of one path component.
fn component_match(pat: &[u8], s: &[u8]) -> bool {
    match (pat.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => component_match(&pat[1..], s) || (!s.is_empty() && component_match(pat, &s[1..])),
        (Some(b'?'), Some(_)) => component_match(&pat[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => component_match(&pat[1..], &s[1..]),
        _ => false,
    }
}

/// The regular files a wildcarded path matches, each shown as written up to its wildcards.
fn glob_paths(spec: &str) -> Vec<Binary> {
    let mut found = vec![String::new()];
    let parts: Vec<&str> = spec.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        let join = |base: &str, name: &str| if i == 0 { name.to_string() } else { format!("{base}/{name}") };
        if !part.contains(['*', '?']) {
            found = found.iter().map(|b| join(b, part)).collect();
            continue;
        }
        let mut next = vec![];
        for base in &found {
            let dir = if base.is_empty() { "/".to_string() } else { base.clone() };
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            let mut names: Vec<String> = entries.flatten().filter_map(|e| e.file_name().into_string().ok()).collect();
            names.sort();
            next.extend(
                names.into_iter().filter(|n| component_match(part.as_bytes(), n.as_bytes())).map(|n| join(base, &n)),
            );
        }
        found = next;
    }
    found.into_iter().filter(|p| Path::new(p).is_file()).map(|p| Binary { path: PathBuf::from(&p), shown: p }).collect()
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file()).map(|p| p.canonicalize().unwrap_or(p))
}

/// Whether a file name is the library `name`: `libc` matches `libc.so.6`, `libc.so` matches
/// `libc.so.6`, `c` does not match.
fn is_library(file: &str, name: &str) -> bool {
    let base = if name.starts_with("lib") { name.to_string() } else { format!("lib{name}") };
    file == name || file.strip_prefix(&base).is_some_and(|rest| rest.starts_with(".so") || rest.starts_with('-'))
}

/// Where the dynamic loader would find library `name`: `$LD_LIBRARY_PATH`'s directories, then
/// the loader's cache (/etc/ld.so.cache, as BCC and bpftrace look libraries up), then the usual
/// library directories (systems without a cache).
fn library(name: &str) -> Option<PathBuf> {
    let extra = std::env::var("LD_LIBRARY_PATH").unwrap_or_default();
    let wanted = |f: &str| is_library(f, name) && f.contains(".so");
    let in_dir = |dir: &str| {
        let entries = std::fs::read_dir(dir).ok()?;
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.file_name().and_then(|f| f.to_str()).is_some_and(wanted))
            .collect();
        // A listing has no order of its own: by name.
        found.sort();
        best(name, found)
    };
    extra
        .split(':')
        .filter(|d| !d.is_empty())
        .find_map(in_dir)
        .or_else(|| best(name, ld_cache(LD_CACHE, wanted)))
        .or_else(|| LIB_DIRS.iter().find_map(|d| in_dir(d)))
}

/// The one of `found` (files named like library `name`, in the order of preference: the loader
/// cache's, or a listing's by name) to probe: the versioned runtime name (libc.so.6) before a
/// linker script (libc.so), an ELF file, its links resolved.
fn best(name: &str, mut found: Vec<PathBuf>) -> Option<PathBuf> {
    found.sort_by_key(|p| p.file_name().map_or(0, |f| f.len()) == name.len() + 3);
    let p = found.into_iter().find(|p| is_elf(p))?;
    Some(p.canonicalize().unwrap_or(p))
}

/// glibc's loader cache.
const LD_CACHE: &str = "/etc/ld.so.cache";

/// Paths of the 64-bit libraries in loader cache `path` whose file names `want` admits.
/// The cache (glibc 2.32+ writes only this "new" format; older ones put it after the old one):
/// the magic `glibc-ld.so.cache1.1`, `u32 nlibs`, ..., 48 bytes of header, then `nlibs` entries
/// of 24 bytes (`i32 flags, u32 name, u32 path, u32 _, u64 hwcap`) whose string offsets count
/// from the header. Entries for 32-bit libraries (multilib) are left out by their ELF class,
/// entries for a CPU level by their hwcap.
fn ld_cache(path: &str, want: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    const MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
    let Ok(data) = std::fs::read(path) else { return vec![] };
    let Some(start) = data.windows(MAGIC.len()).position(|w| w == MAGIC) else { return vec![] };
    let d = &data[start..];
    let u32_at = |o: usize| d.get(o..o + 4).map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    let str_at = |o: u32| {
        let s = d.get(o as usize..)?;
        std::str::from_utf8(&s[..s.iter().position(|&b| b == 0)?]).ok()
    };
    let Some(nlibs) = u32_at(20) else { return vec![] };
    let hwcap = |i: usize| d.get(48 + 24 * i + 16..48 + 24 * i + 24).map(|b| b.iter().any(|&x| x != 0));
    (0..nlibs as usize)
        // Entries for one CPU level (glibc-hwcaps, hwcap subdirectories) are left out: the
        // baseline library is what processes load wherever they run.
        .filter(|&i| hwcap(i) == Some(false))
        .map_while(|i| Some((u32_at(48 + 24 * i + 4)?, u32_at(48 + 24 * i + 8)?)))
        .filter_map(|(name, path)| if want(str_at(name)?) { str_at(path).map(PathBuf::from) } else { None })
        .filter(|p| elf_class(p) == Some(2))
        .collect()
}

/// `EI_CLASS` of an ELF file: 1 for 32-bit, 2 for 64-bit.
fn elf_class(p: &Path) -> Option<u8> {
    use std::io::Read;
    let mut ident = [0u8; 5];
    std::fs::File::open(p).and_then(|mut f| f.read_exact(&mut ident)).ok()?;
    (ident[..4] == *b"\x7fELF").then_some(ident[4])
}

fn is_elf(p: &Path) -> bool {
    elf_class(p).is_some()
}

/// A file mapped into process `pid` whose name is the library or program `name`.
fn mapped_library(pid: i32, name: &str) -> Option<PathBuf> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    maps.lines().filter_map(|l| l.split_whitespace().nth(5)).find_map(|path| {
        let file = Path::new(path).file_name()?.to_str()?;
        (is_library(file, name) || file == name).then(|| PathBuf::from(format!("/proc/{pid}/root{path}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_paths_match_files_as_written() {
        let found = resolve_targets("/bin/s?", None).unwrap();
        assert!(found.iter().any(|b| b.shown == "/bin/sh"), "{found:?}");
        assert!(resolve_targets("/nonexistent/*", None).is_err());
        assert!(component_match(b"usdt_*", b"usdt_test"));
        assert!(!component_match(b"usdt_?", b"usdt_test"));
    }

    #[test]
    fn the_loader_cache_finds_what_the_library_directories_hold() {
        if !Path::new(LD_CACHE).exists() {
            return ferret_testing::skip("no /etc/ld.so.cache on this system");
        }
        let libc = ld_cache(LD_CACHE, |f| f == "libc.so.6");
        assert_eq!(libc.len(), 1, "{libc:?}");
        // The directory scan, as systems without a cache are served, agrees.
        let scanned = LIB_DIRS.iter().find_map(|d| {
            let p = Path::new(d).join("libc.so.6");
            p.exists().then(|| p.canonicalize().unwrap())
        });
        assert_eq!(Some(libc[0].canonicalize().unwrap()), scanned);
        assert_eq!(library("c"), scanned);
        assert_eq!(library("libc"), scanned);
        assert!(ld_cache(LD_CACHE, |f| f == "libno-such-library.so.1").is_empty());
        assert!(ld_cache("/nonexistent/ld.so.cache", |_| true).is_empty());
    }

    #[test]
    fn a_process_maps_its_program_and_libc() {
        let me = std::process::id() as i32;
        let files = resolve_targets("*", Some(me)).unwrap();
        assert!(files.iter().any(|b| b.shown.contains("libc")), "{files:?}");
        assert!(files.iter().all(|b| b.path.to_string_lossy().starts_with("/proc/")));
    }

    #[test]
    fn library_names() {
        assert!(is_library("libc.so.6", "libc"));
        assert!(is_library("libc.so.6", "c"));
        assert!(is_library("libc.so.6", "libc.so.6"));
        assert!(!is_library("libcrypt.so.1", "libc"));
        assert!(!is_library("libc_nonshared.a", "libc"));
    }

    #[test]
    fn finds_programs_and_libraries() {
        assert!(resolve_binary("sh", None).is_ok());
        let libc = resolve_binary("libc", None).unwrap();
        assert!(libc.to_string_lossy().contains("libc"), "{libc:?}");
        assert!(resolve_binary("/no/such/bin", None).is_err());
    }
}
