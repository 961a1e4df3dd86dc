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
