//! Where a [`crate::Btf`]'s bytes live, and its indexes saved to disk.
//!
//! vmlinux BTF is mapped in place where the kernel allows it (Linux 6.16+ maps
//! /sys/kernel/btf/vmlinux read-only: no copy and nothing added to our RSS), else read. Its
//! three indexes (type offsets, names, enumerators: ~9 ms and ~2.5 MB to build from 5 MB of
//! BTF) are written once to an index file keyed by the BTF's content, and later processes read
//! the pages of that file their lookups touch instead of building them. Read, not mapped: the
//! kernel maps 64 KiB around each faulting page of a file mapping, so a dozen lookups put
//! ~800 KiB of a mapped index in RSS where reading them puts ~50 KiB.
use ferret_sys::FileMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

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

/// A table of u32 words: built in memory, or a range of an index file.
pub(crate) enum Words {
    Owned(Vec<u32>),
    File { file: Arc<IndexFile>, start: usize, len: usize },
}

const PAGE: usize = 4096;

/// An index file, read a page at a time as lookups reach its pages (and kept). A page once
/// read is reached without a lock: a scan of every type (wildcards, listings) reads a word per
/// type.
pub(crate) struct IndexFile {
    file: std::fs::File,
    len: usize,
    pages: Vec<OnceLock<Box<[u8; PAGE]>>>,
}

impl IndexFile {
    fn open(path: &Path) -> Option<IndexFile> {
        let file = std::fs::File::open(path).ok()?;
        let len = usize::try_from(file.metadata().ok()?.len()).ok()?;
        Some(IndexFile { file, len, pages: (0..len.div_ceil(PAGE)).map(|_| OnceLock::new()).collect() })
    }

    /// Page `n` of the file, read on first use (two threads may both read it; one copy stays).
    fn page(&self, n: usize) -> Option<&[u8; PAGE]> {
        use std::os::unix::fs::FileExt;
        let slot = self.pages.get(n)?;
        if let Some(p) = slot.get() {
            return Some(p);
        }
        let mut buf = Box::new([0u8; PAGE]);
        let want = PAGE.min(self.len - n * PAGE);
        self.file.read_exact_at(&mut buf[..want], (n * PAGE) as u64).ok()?;
        Some(slot.get_or_init(|| buf))
    }

    /// The `N` bytes at `at`, if the file has them.
    fn bytes<const N: usize>(&self, at: usize) -> Option<[u8; N]> {
        if at.checked_add(N)? > self.len {
            return None;
        }
        let mut out = [0u8; N];
        let mut done = 0;
        // Words are 4-aligned, so this is one page; the loop serves any N.
        while done < N {
            let (page, off) = ((at + done) / PAGE, (at + done) % PAGE);
            let buf = self.page(page)?;
            let n = (N - done).min(PAGE - off);
            out[done..done + n].copy_from_slice(&buf[off..off + n]);
            done += n;
        }
        Some(out)
    }
}

impl Words {
    pub(crate) fn len(&self) -> usize {
        match self {
            Words::Owned(v) => v.len(),
            Words::File { len, .. } => *len,
        }
    }

    pub(crate) fn get(&self, i: usize) -> Option<u32> {
        match self {
            Words::Owned(v) => v.get(i).copied(),
            Words::File { file, start, len } => {
                if i >= *len {
                    return None;
                }
                file.bytes::<4>(start + 4 * i).map(u32::from_ne_bytes)
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

/// A key for `data`: its length, `salt` (the kernel's /proc/version: release, build number and
/// date) and a hash of 64 spread samples of 64 bytes, the header and the tail (another
/// kernel's BTF differs in length or in nearly every sample).
pub(crate) fn key(data: &[u8], salt: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ data.len() as u64;
    let mut eat = |b: &[u8]| {
        for &x in b {
            h ^= x as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(salt);
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

/// Whether index files in `dir` may be trusted: a directory owned by root or by us that no one
/// else may write (a planted index could hang lookups or give wrong types). `write`: whether we
/// may also write there, as its owner (so a process without root, which cannot write root's
/// directory, does not build indexes only to fail to save them); it makes the directory (mode
/// 0755) where it is missing.
pub(crate) fn trusted(dir: &Path, write: bool) -> bool {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    if write && !dir.exists() {
        let _ = std::fs::DirBuilder::new().recursive(true).mode(0o755).create(dir);
    }
    let (Ok(m), Ok(me)) = (std::fs::symlink_metadata(dir), std::fs::metadata("/proc/self")) else { return false };
    let owner = if write { m.uid() == me.uid() } else { m.uid() == 0 || m.uid() == me.uid() };
    m.is_dir() && owner && m.mode() & 0o022 == 0
}

/// The index file for `data` in `dir`, if there is one that fits: right magic, key and sizes.
pub(crate) fn load(dir: &Path, data: &[u8], salt: &[u8]) -> Option<Indexes> {
    if !trusted(dir, false) {
        return None;
    }
    let k = key(data, salt);
    let file = Arc::new(IndexFile::open(&dir.join(file_name(k)))?);
    let word = |i: usize| file.bytes::<4>(i).map(u32::from_ne_bytes);
    if file.bytes::<8>(0)? != *MAGIC
        || file.bytes::<8>(8)? != (data.len() as u64).to_ne_bytes()
        || file.bytes::<8>(16)? != k.to_ne_bytes()
    {
        return None;
    }
    let counts = [word(24)?, word(28)?, word(32)?, word(36)?].map(|c| c as usize);
    let total = HEADER + 4 * (counts[0] + counts[1] + counts[2] + 2 * counts[3]);
    if file.len != total || !counts[1].is_power_of_two() || !counts[2].is_power_of_two() {
        return None;
    }
    let mut start = HEADER;
    let mut next = |len: usize| {
        let w = Words::File { file: file.clone(), start, len };
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

/// Writes `ix` for `data` into `dir` through a temporary file and a rename,
/// so a reader never reads half a file, and removes the index files of other BTF (another
/// kernel's). A failure (read-only /var, say) only costs the next process the build again.
/// `parts` are the tables of [`Indexes`], in its order; `dir` is [`trusted`] for writing.
pub(crate) fn save(dir: &Path, data: &[u8], salt: &[u8], parts: [&Words; 4]) -> std::io::Result<()> {
    let k = key(data, salt);
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
    let name = file_name(k);
    let tmp: PathBuf = dir.join(format!(".{name}.{}", std::process::id()));
    // create_new: never through a link or into a file that is there.
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
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
