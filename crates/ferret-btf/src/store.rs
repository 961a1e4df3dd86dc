//! Where a [`crate::Btf`]'s bytes live, and its indexes saved to disk.
//!
//! vmlinux BTF is mapped in place where the kernel allows it (Linux 6.16+ maps
//! /sys/kernel/btf/vmlinux read-only: no copy and nothing added to our RSS), else read. Its
//! three indexes (type offsets, names, enumerators: ~9 ms and ~2.5 MB to build from 5 MB of
//! BTF) are written once to an index file keyed by the BTF's content, and later processes map
//! that file instead of building them: a lookup then touches a few pages of it.
use ferret_sys::FileMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The BTF blob: owned bytes, or a read-only mapping of the file.
pub(crate) enum Data {
    Owned(Vec<u8>),
    Mapped(FileMap),
}

impl std::ops::Deref for Data {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Data::Owned(v) => v,
            Data::Mapped(m) => m,
        }
    }
}

/// A table of u32 words: built in memory, or a range of a mapped index file (read with
/// from_ne_bytes, so no alignment is assumed).
pub(crate) enum Words {
    Owned(Vec<u32>),
    Mapped { file: Arc<FileMap>, start: usize, len: usize },
}

impl Words {
    pub(crate) fn len(&self) -> usize {
        match self {
            Words::Owned(v) => v.len(),
            Words::Mapped { len, .. } => *len,
        }
    }

    pub(crate) fn get(&self, i: usize) -> Option<u32> {
        match self {
            Words::Owned(v) => v.get(i).copied(),
            Words::Mapped { file, start, len } => {
                if i >= *len {
                    return None;
                }
                let b = file.get(start + 4 * i..start + 4 * i + 4)?;
                Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
            }
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    fn write(&self, out: &mut Vec<u8>) {
        for w in self.iter() {
            out.extend_from_slice(&w.to_ne_bytes());
        }
    }
}

/// Bumped whenever the layout of an index file or of what it indexes changes.
const MAGIC: &[u8; 8] = b"FBTFIDX1";
const HEADER: usize = 40;

/// What an index file holds, besides the BTF it indexes.
pub(crate) struct Indexes {
    pub offsets: Words,
    pub names: Words,
    pub enum_slots: Words,
    /// `(enum id << 16 | index)` per enumerator, as (low, high) u32 pairs.
    pub enum_packed: Words,
}

/// A key for `data`: its length and a hash of 64 spread samples of 64 bytes, the header and
/// the tail (another kernel's BTF differs in length or in nearly every sample).
pub(crate) fn key(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ data.len() as u64;
    let mut eat = |b: &[u8]| {
        for &x in b {
            h ^= x as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    let n = data.len();
    for i in 0..64 {
        let at = n / 64 * i;
        eat(&data[at..(at + 64).min(n)]);
    }
    eat(&data[n.saturating_sub(64)..]);
    h
}

fn file_name(key: u64) -> String {
    format!("btf-vmlinux-{key:016x}.idx")
}

/// The index file for `data` in `dir`, if there is one that fits: right magic, key and sizes.
pub(crate) fn load(dir: &Path, data: &[u8]) -> Option<Indexes> {
    let k = key(data);
    let file = Arc::new(FileMap::open(&dir.join(file_name(k))).ok()?);
    let word = |i: usize| file.get(i..i + 4).map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    if file.get(..8)? != MAGIC
        || file.get(8..16)? != (data.len() as u64).to_ne_bytes()
        || file.get(16..24)? != k.to_ne_bytes()
    {
        return None;
    }
    let counts = [word(24)?, word(28)?, word(32)?, word(36)?].map(|c| c as usize);
    let total = HEADER + 4 * (counts[0] + counts[1] + counts[2] + 2 * counts[3]);
    if file.len() != total || !counts[1].is_power_of_two() || !counts[2].is_power_of_two() {
        return None;
    }
    let mut start = HEADER;
    let mut next = |len: usize| {
        let w = Words::Mapped { file: file.clone(), start, len };
        start += 4 * len;
        w
    };
    Some(Indexes {
        offsets: next(counts[0]),
        names: next(counts[1]),
        enum_slots: next(counts[2]),
        enum_packed: next(2 * counts[3]),
    })
}

/// Writes `ix` for `data` into `dir` (made if missing) through a temporary file and a rename,
/// so a reader never maps half a file, and removes the index files of other BTF (another
/// kernel's). A failure (read-only /var, say) only costs the next process the build again.
/// `parts` are the tables of [`Indexes`], in its order.
pub(crate) fn save(dir: &Path, data: &[u8], parts: [&Words; 4]) -> std::io::Result<()> {
    let k = key(data);
    let mut out = Vec::with_capacity(HEADER + 4 * parts.iter().map(|w| w.len()).sum::<usize>());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(data.len() as u64).to_ne_bytes());
    out.extend_from_slice(&k.to_ne_bytes());
    for (i, w) in parts.iter().enumerate() {
        let count = if i == 3 { w.len() / 2 } else { w.len() };
        out.extend_from_slice(&(count as u32).to_ne_bytes());
    }
    for w in parts {
        w.write(&mut out);
    }
    std::fs::create_dir_all(dir)?;
    let name = file_name(k);
    let tmp: PathBuf = dir.join(format!(".{name}.{}", std::process::id()));
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(&out))
        .and_then(|_| std::fs::rename(&tmp, dir.join(&name)));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return written;
    }
    for e in std::fs::read_dir(dir)?.flatten() {
        let other = e.file_name();
        let other = other.to_string_lossy();
        if other.starts_with("btf-vmlinux-") && other.ends_with(".idx") && other != name {
            let _ = std::fs::remove_file(e.path());
        }
    }
    Ok(())
}
