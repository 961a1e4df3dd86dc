//! User addresses → symbols: a process's executable mappings (from `/proc/PID/maps`, read
//! while the process lives and kept after it exits) and the ELF files behind them.
use crate::lines::{Lines, Source};
use crate::Elf;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One executable, file-backed mapping of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    /// File offset of `start`.
    pub offset: u64,
    /// The file's device as the kernel encodes it (`major << 20 | minor`) and inode: what a
    /// BPF program reads from the mapping's inode.
    pub dev: u64,
    pub inode: u64,
    /// The file as the process names it.
    pub path: String,
}

/// The executable file mappings of process `pid`, if it is alive.
pub fn read_maps(pid: u32) -> Option<Vec<Mapping>> {
    std::fs::read_to_string(format!("/proc/{pid}/maps")).ok().map(|t| parse_maps(&t))
}

/// The kernel's encoding of a user-space `st_dev` (glibc's major/minor split).
pub fn kernel_dev(st_dev: u64) -> u64 {
    let major = ((st_dev >> 8) & 0xfff) | ((st_dev >> 32) & !0xfff);
    let minor = (st_dev & 0xff) | ((st_dev >> 12) & !0xff);
    major << 20 | minor
}

/// Whether `path` is the file mapping `m` maps (by device and inode).
fn same_file(path: &Path, m: &Mapping) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).is_ok_and(|md| md.ino() == m.inode && kernel_dev(md.dev()) == m.dev)
}

/// The executable file mappings in `/proc/PID/maps` text.
pub fn parse_maps(text: &str) -> Vec<Mapping> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_ascii_whitespace();
            let (range, perms, offset) = (f.next()?, f.next()?, f.next()?);
            let (dev, inode) = (f.next()?, f.next()?);
            let path = f.collect::<Vec<_>>().join(" ");
            if !perms.contains('x') || !path.starts_with('/') {
                return None;
            }
            let (a, b) = range.split_once('-')?;
            let (major, minor) = dev.split_once(':')?;
            Some(Mapping {
                start: u64::from_str_radix(a, 16).ok()?,
                end: u64::from_str_radix(b, 16).ok()?,
                offset: u64::from_str_radix(offset, 16).ok()?,
                dev: u64::from_str_radix(major, 16).ok()? << 20 | u64::from_str_radix(minor, 16).ok()?,
                inode: inode.parse().ok()?,
                path,
            })
        })
        .collect()
}

/// A symbolized user address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSymbol {
    /// Demangled (C++ and Rust) function name.
    pub name: String,
    pub offset: u64,
    /// The file the address is in.
    pub module: String,
}

/// A process's mappings and their opened files.
#[derive(Debug, Default)]
struct Process {
    maps: Vec<(Mapping, Option<Arc<Elf>>)>,
}

/// Per-pid mappings and per-file symbol tables, kept for the whole session.
#[derive(Debug, Default)]
pub struct UserSymbolizer {
    procs: HashMap<u32, Process>,
    files: HashMap<PathBuf, Option<Arc<Elf>>>,
    /// Line tables by file, parsed on first use.
    lines: HashMap<PathBuf, Option<Lines>>,
    /// Print symbol names as they are in the file (config `cpp_demangle = 0`).
    pub no_demangle: bool,
}

impl UserSymbolizer {
    /// Record `pid`'s mappings and open their files, once: later calls (and symbolization after
    /// the process has exited) use what was recorded. Returns whether the process is known.
    pub fn capture(&mut self, pid: u32) -> bool {
        if self.procs.contains_key(&pid) {
            return true;
        }
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else { return false };
        let maps = parse_maps(&text);
        if maps.is_empty() {
            // A zombie's maps are empty: nothing to keep, and maybe a later pid reuse.
            return false;
        }
        let maps = maps
            .into_iter()
            .map(|m| {
                let elf = self.open(pid, &m);
                (m, elf)
            })
            .collect();
        self.procs.insert(pid, Process { maps });
        true
    }

    /// Record process `pid` from what the kernel said about it when it was first seen (its
    /// program's code range and file), for a process that exited before its mappings could be
    /// read: its program's frames still symbolize. `files` are candidate paths for the program
    /// (the probed binaries, the `-c` command), matched by inode and device.
    pub fn capture_program(&mut self, pid: u32, code: (u64, u64), file: (u64, u64), files: &[PathBuf]) {
        use std::os::unix::fs::MetadataExt;
        if self.procs.contains_key(&pid) || code.0 == 0 {
            return;
        }
        let Some(path) = files
            .iter()
            .find(|p| std::fs::metadata(p).is_ok_and(|md| md.ino() == file.0 && kernel_dev(md.dev()) == file.1))
        else {
            return;
        };
        let Some(elf) = self.open_path(path) else { return };
        let Some(offset) = elf.exec_vaddr.and_then(|va| elf.file_offset(va)) else { return };
        let m = Mapping {
            start: code.0,
            end: code.1,
            offset,
            dev: file.1,
            inode: file.0,
            path: path.to_string_lossy().into_owned(),
        };
        self.procs.insert(pid, Process { maps: vec![(m, Some(elf))] });
    }

    fn open_path(&mut self, path: &Path) -> Option<Arc<Elf>> {
        if let Some(e) = self.files.get(path) {
            return e.clone();
        }
        let elf = Elf::open(path).ok().map(Arc::new);
        self.files.insert(path.to_path_buf(), elf.clone());
        elf
    }

    /// The ELF file behind a mapping, through the process's root (its mount namespace), cached
    /// by path.
    fn open(&mut self, pid: u32, m: &Mapping) -> Option<Arc<Elf>> {
        let via_root = PathBuf::from(format!("/proc/{pid}/root{}", m.path));
        let key = PathBuf::from(&m.path);
        if let Some(e) = self.files.get(&key) {
            return e.clone();
        }
        let elf = Elf::open(&via_root).or_else(|_| Elf::open(Path::new(&m.path))).ok().map(Arc::new);
        self.files.insert(key, elf.clone());
        elf
    }

    /// The function `addr` is in, in process `pid`.
    pub fn resolve(&mut self, pid: u32, addr: u64) -> Option<UserSymbol> {
        self.capture(pid);
        let proc = self.procs.get(&pid)?;
        let (m, elf) = proc.maps.iter().find(|(m, _)| addr >= m.start && addr < m.end)?;
        let elf = elf.as_ref()?;
        let vaddr = elf.vaddr_of_offset(addr - m.start + m.offset)?;
        let (sym, offset) = elf.symbolize(vaddr)?;
        let name = if self.no_demangle { sym.name.clone() } else { demangle(&sym.name) };
        Some(UserSymbol { name, offset, module: m.path.clone() })
    }

    /// The source of `addr` in `pid` (inlined functions demangled), when its file has DWARF
    /// line tables.
    pub fn location(&mut self, pid: u32, addr: u64) -> Option<Source> {
        self.capture(pid);
        let proc = self.procs.get(&pid)?;
        let (m, elf) = proc.maps.iter().find(|(m, _)| addr >= m.start && addr < m.end)?;
        let elf = elf.as_ref()?;
        let vaddr = elf.vaddr_of_offset(addr - m.start + m.offset)?;
        // The file was opened through /proc/PID/root while the process lived; once it has exited
        // that path is gone, and the same file (same inode) is read by its own path.
        let lines = self.lines.entry(elf.path.clone()).or_insert_with(|| {
            Lines::open(&elf.path)
                .or_else(|| same_file(Path::new(&m.path), m).then(|| Lines::open(Path::new(&m.path)))?)
        });
        let mut src = lines.as_ref()?.location(vaddr)?;
        if !self.no_demangle {
            for (name, _) in &mut src.inlined {
                *name = demangle(name);
            }
        }
        Some(src)
    }

    /// The build id of the file mapped at `addr` in `pid`, and the address's offset in it.
    pub fn build_id(&mut self, pid: u32, addr: u64) -> Option<(Vec<u8>, u64)> {
        self.capture(pid);
        let proc = self.procs.get(&pid)?;
        let (m, elf) = proc.maps.iter().find(|(m, _)| addr >= m.start && addr < m.end)?;
        let id = elf.as_ref()?.build_id.clone()?;
        Some((id, addr - m.start + m.offset))
    }
}

/// A Rust (legacy or v0) or C++ (Itanium) symbol name demangled, without Rust's hash suffix;
/// other names unchanged.
pub fn demangle(name: &str) -> String {
    if let Ok(d) = rustc_demangle::try_demangle(name) {
        return format!("{d:#}");
    }
    if name.starts_with("_Z") {
        if let Ok(sym) = cpp_demangle::Symbol::new(name) {
            if let Ok(d) = sym.demangle(&cpp_demangle::DemangleOptions::default()) {
                return d;
            }
        }
    }
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_executable_file_mappings() {
        let text = "\
5581a000-5581b000 r--p 00000000 08:01 123 /usr/bin/prog
5581b000-5581c000 r-xp 00001000 08:01 123 /usr/bin/prog
7f00000000-7f00001000 r-xp 00000000 00:00 0 [vdso]
7f10000000-7f10100000 r-xp 00028000 08:01 456 /lib/x86_64-linux-gnu/libc.so.6
7f20000000-7f20001000 r-xp 00000000 08:01 789 /tmp/a b (deleted)
";
        let m = parse_maps(text);
        assert_eq!(m.len(), 3);
        assert_eq!(
            m[0],
            Mapping {
                start: 0x5581b000,
                end: 0x5581c000,
                offset: 0x1000,
                dev: 8 << 20 | 1,
                inode: 123,
                path: "/usr/bin/prog".into()
            }
        );
        assert_eq!(m[1].offset, 0x28000);
        assert_eq!(m[2].path, "/tmp/a b (deleted)");
    }

    #[test]
    fn demangles_cpp_and_rust() {
        assert_eq!(demangle("_ZN3foo3barEv"), "foo::bar()");
        assert_eq!(demangle("_ZN4core3fmt5write17h0123456789abcdefE"), "core::fmt::write");
        assert_eq!(demangle("main"), "main");
    }

    #[test]
    fn symbolizes_this_process() {
        let mut s = UserSymbolizer::default();
        let pid = std::process::id();
        assert!(s.capture(pid));
        let f: fn(&str) -> String = demangle;
        let addr = f as usize as u64;
        let sym = s.resolve(pid, addr).expect("own function symbolized");
        assert!(sym.name.contains("demangle"), "{sym:?}");
        assert_eq!(sym.offset, 0);
    }
}
