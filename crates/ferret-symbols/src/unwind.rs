//! An ELF file's `.eh_frame` → a compact, sorted unwind table that a BPF program can search:
//! for each code range, where the canonical frame address (CFA) is relative to rsp or rbp, and
//! where the caller's rbp was saved. That is all x86-64 code compiled without frame pointers
//! needs to be unwound (the return address is always at CFA - 8).
use gimli::UnwindSection;
use object::{Object, ObjectSection, ObjectSegment};
use std::path::Path;

/// How the CFA is found from a frame's registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Cfa {
    /// No rule this table can express (or no unwind info): stop unwinding.
    Stop = 0,
    Rsp = 1,
    Rbp = 2,
}

/// One table row, from its start to the next row's. `start` is a file offset, so the BPF side
/// maps an address to a row with the mapping's start and file offset alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub start: u32,
    pub cfa: Cfa,
    /// CFA = register + `cfa_off`.
    pub cfa_off: u32,
    /// The caller's rbp is at CFA - `rbp_below` (0: rbp unchanged).
    pub rbp_below: u32,
}

/// Bytes of a row as the BPF side reads it: `u32 start`, `u8 cfa`, 3 bytes padding,
/// `u32 cfa_off`, `u32 rbp_below`.
pub const ROW_SIZE: usize = 16;

impl Row {
    pub fn to_bytes(self) -> [u8; ROW_SIZE] {
        let mut b = [0u8; ROW_SIZE];
        b[0..4].copy_from_slice(&self.start.to_ne_bytes());
        b[4] = self.cfa as u8;
        b[8..12].copy_from_slice(&self.cfa_off.to_ne_bytes());
        b[12..16].copy_from_slice(&self.rbp_below.to_ne_bytes());
        b
    }
}

const RSP: gimli::Register = gimli::X86_64::RSP;
const RBP: gimli::Register = gimli::X86_64::RBP;
const RA: gimli::Register = gimli::X86_64::RA;

/// The unwind table of the ELF file at `path`, sorted by start, with a `Stop` row wherever no
/// FDE covers the code.
pub fn table(path: &Path) -> Result<Vec<Row>, String> {
    // Read on demand: only the headers and .eh_frame are touched, not a 100 MB library whole
    // (a system-wide profile meets big ones, such as a compiler's).
    let f = std::fs::File::open(path).map_err(|e| format!("could not read {}: {e}", path.display()))?;
    let cache = object::ReadCache::new(f);
    table_of(&cache).map_err(|e| format!("{}: {e}", path.display()))
}

/// Files with more CFI than this are left to frame pointers: their table alone would take a
/// large share of the rows map, and parsing it costs user-space memory the tracer should not.
const MAX_EH_FRAME: u64 = 8 << 20;

fn table_of<'d, R: object::ReadRef<'d>>(data: R) -> Result<Vec<Row>, String> {
    let file = object::File::parse(data).map_err(|e| e.to_string())?;
    let Some(eh) = file.section_by_name(".eh_frame") else { return Ok(vec![]) };
    if eh.size() > MAX_EH_FRAME {
        return Ok(vec![]);
    }
    let eh_data = eh.uncompressed_data().map_err(|e| e.to_string())?;
    // Segments map virtual addresses (what the FDEs hold) to file offsets.
    let segments: Vec<(u64, u64, u64)> = file
        .segments()
        .map(|s| {
            let (off, size) = s.file_range();
            (s.address(), off, size)
        })
        .collect();
    let to_offset = |va: u64| -> Option<u32> {
        segments
            .iter()
            .find(|(a, _, size)| va >= *a && va < a + size)
            .and_then(|(a, off, _)| u32::try_from(va - a + off).ok())
    };
    let mut bases = gimli::BaseAddresses::default().set_eh_frame(eh.address());
    if let Some(text) = file.section_by_name(".text") {
        bases = bases.set_text(text.address());
    }
    if let Some(got) = file.section_by_name(".got") {
        bases = bases.set_got(got.address());
    }
    let eh_frame = gimli::EhFrame::new(&eh_data, gimli::LittleEndian);
    let mut ctx = gimli::UnwindContext::new();
    let mut rows = vec![];
    let mut entries = eh_frame.entries(&bases);
    while let Some(entry) = entries.next().map_err(|e| e.to_string())? {
        let gimli::CieOrFde::Fde(partial) = entry else { continue };
        let Ok(fde) = partial.parse(gimli::EhFrame::cie_from_offset) else { continue };
        let Ok(mut t) = fde.rows(&eh_frame, &bases, &mut ctx) else { continue };
        let mut end = None;
        while let Ok(Some(r)) = t.next_row() {
            let Some(start) = to_offset(r.start_address()) else { continue };
            rows.push(Row { start, ..rule(r) });
            end = Some(r.end_address());
        }
        if let Some(off) = end.and_then(|e| to_offset(e.saturating_sub(1))) {
            rows.push(Row { start: off + 1, cfa: Cfa::Stop, cfa_off: 0, rbp_below: 0 });
        }
    }
    // A real row wins over a Stop row at the same start (the next FDE begins where one ends).
    rows.sort_by_key(|r| (r.start, r.cfa == Cfa::Stop));
    rows.dedup_by_key(|r| r.start);
    // Consecutive rows with the same rule are one row.
    rows.dedup_by(|b, a| (a.cfa, a.cfa_off, a.rbp_below) == (b.cfa, b.cfa_off, b.rbp_below));
    Ok(rows)
}

/// A row's rule (its `start` is filled by the caller).
fn rule<R: gimli::ReaderOffset, S: gimli::UnwindContextStorage<R>>(r: &gimli::UnwindTableRow<R, S>) -> Row {
    let stop = Row { start: 0, cfa: Cfa::Stop, cfa_off: 0, rbp_below: 0 };
    // The return address must be at CFA - 8; anything else (the outermost frame marks it
    // undefined) ends the unwind.
    if !matches!(r.register(RA), gimli::RegisterRule::Offset(-8)) {
        return stop;
    }
    let (cfa, off) = match r.cfa() {
        gimli::CfaRule::RegisterAndOffset { register, offset } if *register == RSP => (Cfa::Rsp, *offset),
        gimli::CfaRule::RegisterAndOffset { register, offset } if *register == RBP => (Cfa::Rbp, *offset),
        // PLT stubs describe their CFA with an expression; rsp + 8 holds for most of a stub.
        gimli::CfaRule::Expression(_) => (Cfa::Rsp, 8),
        _ => return stop,
    };
    let Ok(cfa_off) = u32::try_from(off) else { return stop };
    let rbp_below = match r.register(RBP) {
        gimli::RegisterRule::Offset(o) if o < 0 => (-o) as u32,
        _ => 0,
    };
    Row { start: 0, cfa, cfa_off, rbp_below }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libc_has_a_sorted_table() {
        let Ok(path) = crate::resolve_binary("libc", None) else {
            ferret_testing::skip("needs a libc");
            return;
        };
        let rows = table(&path).unwrap();
        assert!(rows.len() > 1000, "{} rows", rows.len());
        assert!(rows.windows(2).all(|w| w[0].start < w[1].start));
        // Function entry: CFA = rsp + 8.
        assert!(rows.iter().any(|r| r.cfa == Cfa::Rsp && r.cfa_off == 8));
    }
}
