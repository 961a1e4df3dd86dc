//! Addresses → source file and line, from a file's DWARF line tables (`.debug_line` and the
//! units around it), for bpftrace's `show_debug_info` frames (`main+4@/src/a.c:10`).
use gimli::{EndianArcSlice, RunTimeEndian};
use object::{Object, ObjectSection};
use std::path::Path;
use std::sync::Arc;

type Reader = EndianArcSlice<RunTimeEndian>;

/// A file's line tables, parsed lazily per compilation unit by `addr2line`.
pub struct Lines {
    ctx: addr2line::Context<Reader>,
}

impl std::fmt::Debug for Lines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lines")
    }
}

impl Lines {
    /// The line tables of the ELF file at `path`, or of its separate debug file (see
    /// [`crate::debugfile`]); `None` without debug info.
    pub fn open(path: &Path) -> Option<Lines> {
        // On demand: only the .debug_* sections are read, not the whole file.
        let cache = object::ReadCache::new(std::fs::File::open(path).ok()?);
        let file = object::File::parse(&cache).ok()?;
        if file.section_by_name(".debug_line").is_none() {
            let (_, data) = crate::debugfile::find(path, &file)?;
            return Self::from_file(&object::File::parse(&*data).ok()?);
        }
        Self::from_file(&file)
    }

    fn from_file<'d, R: object::ReadRef<'d>>(file: &object::File<'d, R>) -> Option<Lines> {
        file.section_by_name(".debug_line")?;
        let endian = if file.is_little_endian() { RunTimeEndian::Little } else { RunTimeEndian::Big };
        let load = |id: gimli::SectionId| -> Result<Reader, gimli::Error> {
            let bytes = file.section_by_name(id.name()).and_then(|s| s.uncompressed_data().ok()).unwrap_or_default();
            Ok(EndianArcSlice::new(Arc::from(&*bytes), endian))
        };
        let dwarf = gimli::Dwarf::load(load).ok()?;
        let ctx = addr2line::Context::from_dwarf(dwarf).ok()?;
        Some(Lines { ctx })
    }

    /// The source of the code at virtual address `vaddr`: the functions inlined there,
    /// innermost first, each with its `file:line`, then the `file:line` in the function that
    /// holds the code (where the outermost inlined call is).
    pub fn location(&self, vaddr: u64) -> Option<Source> {
        let mut frames = self.ctx.find_frames(vaddr).skip_all_loads().ok()?;
        let mut all = vec![];
        while let Ok(Some(f)) = frames.next() {
            let name = f.function.as_ref().and_then(|n| n.raw_name().ok()).map(|n| n.to_string());
            let loc = f.location.and_then(|l| Some(format!("{}:{}", l.file?, l.line?)));
            all.push((name, loc));
        }
        let (_, line) = all.pop()?;
        let inlined = all.into_iter().filter_map(|(name, loc)| Some((name?, loc))).collect();
        Some(Source { inlined, line })
    }
}

/// Where an address is in the source (see [`Lines::location`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Inlined functions (raw names) and their locations, innermost first.
    pub inlined: Vec<(String, Option<String>)>,
    /// `file:line` in the containing function.
    pub line: Option<String>,
}
