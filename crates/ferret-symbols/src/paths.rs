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

fn library(name: &str) -> Option<PathBuf> {
    let extra = std::env::var("LD_LIBRARY_PATH").unwrap_or_default();
    let dirs =
        extra.split(':').filter(|d| !d.is_empty()).map(str::to_string).chain(LIB_DIRS.iter().map(|d| d.to_string()));
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| e.file_name().to_str().is_some_and(|f| is_library(f, name) && f.contains(".so")))
            .map(|e| e.path())
            .collect();
        // Prefer the versioned runtime name (libc.so.6) over a linker script (libc.so).
        found.sort_by_key(|p| (p.file_name().map_or(0, |f| f.len()) == name.len() + 3, p.clone()));
        if let Some(p) = found.into_iter().find(|p| is_elf(p)) {
            return Some(p.canonicalize().unwrap_or(p));
        }
    }
    None
}

fn is_elf(p: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(p).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && magic == *b"\x7fELF"
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
