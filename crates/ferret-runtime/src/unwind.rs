//! DWARF unwind tables → the maps the in-kernel unwinder searches (see `ferret_lang::unwind`):
//! each file's rows appended to the rows array, the file registered by (inode, device), and
//! each process seen registered with its executable mappings.
use ferret_lang::unwind::{MAX_ROWS, PID_MAPPINGS, PID_MAPPING_SIZE, PID_VALUE_SIZE};
use ferret_symbols::process::{kernel_dev, read_maps};
use ferret_symbols::unwind::table;
use ferret_sys::bpf::Map;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

pub struct Tables {
    rows: Map,
    files: Map,
    pids: Map,
    /// The next free row.
    next: u32,
    /// Files done, by (inode, device): their (first row, rows), or None without a table.
    seen: HashMap<(u64, u64), Option<(u32, u32)>>,
    /// A table did not fit in the rows map.
    pub full: bool,
    /// The user has been told.
    pub full_reported: bool,
}

impl Tables {
    pub fn new(rows: Map, files: Map, pids: Map) -> Tables {
        Tables { rows, files, pids, next: 0, seen: HashMap::new(), full: false, full_reported: false }
    }

    /// Every file process `pid` maps (through its root, so other mount namespaces work), and
    /// the process's entry: its executable mappings that have tables.
    pub fn load_process(&mut self, pid: u32) {
        let mut value = vec![0u8; PID_VALUE_SIZE as usize];
        let mut n = 0usize;
        for m in read_maps(pid).unwrap_or_default() {
            let path = format!("/proc/{pid}/root{}", m.path);
            let Some((first, rows)) = self.load(m.inode, m.dev, Path::new(&path)) else { continue };
            if n == PID_MAPPINGS as usize {
                break;
            }
            let at = 8 + n * PID_MAPPING_SIZE as usize;
            value[at..at + 8].copy_from_slice(&m.start.to_ne_bytes());
            value[at + 8..at + 16].copy_from_slice(&m.end.to_ne_bytes());
            value[at + 16..at + 24].copy_from_slice(&m.offset.to_ne_bytes());
            value[at + 24..at + 28].copy_from_slice(&first.to_ne_bytes());
            value[at + 28..at + 32].copy_from_slice(&rows.to_ne_bytes());
            n += 1;
        }
        if n > 0 {
            value[..8].copy_from_slice(&(n as u64).to_ne_bytes());
            let _ = self.pids.update(&pid.to_ne_bytes(), &value, 0);
        }
    }

    /// A file by path, before any process has mapped it (a probed binary, a `-c` command).
    pub fn load_path(&mut self, path: &Path) {
        if let Ok(md) = std::fs::metadata(path) {
            self.load(md.ino(), kernel_dev(md.dev()), path);
        }
    }

    /// Load a file's table once; its (first row, rows) when it has one.
    fn load(&mut self, inode: u64, dev: u64, path: &Path) -> Option<(u32, u32)> {
        if let Some(done) = self.seen.get(&(inode, dev)) {
            return *done;
        }
        let loaded = self.load_new(inode, dev, path);
        self.seen.insert((inode, dev), loaded);
        loaded
    }

    fn load_new(&mut self, inode: u64, dev: u64, path: &Path) -> Option<(u32, u32)> {
        let rows = table(path).ok().filter(|r| !r.is_empty())?;
        let n = rows.len() as u32;
        if self.next + n > MAX_ROWS {
            self.full = true;
            return None;
        }
        for (i, r) in rows.iter().enumerate() {
            self.rows.update(&(self.next + i as u32).to_ne_bytes(), &r.to_bytes(), 0).ok()?;
        }
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&inode.to_ne_bytes());
        key[8..].copy_from_slice(&dev.to_ne_bytes());
        let mut val = [0u8; 8];
        val[..4].copy_from_slice(&self.next.to_ne_bytes());
        val[4..].copy_from_slice(&n.to_ne_bytes());
        self.files.update(&key, &val, 0).ok()?;
        let first = self.next;
        self.next += n;
        Some((first, n))
    }
}
