//! BPF maps from user space: create, read (one key, all keys, batched), write and clear — how
//! the runtime reads `@maps` that programs fill.

use std::collections::HashSet;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use super::{map_type, obj_name, owned_fd, sys_bpf, BpfAttr, Cmd};
use crate::{cpus, Result, SysError};

#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
    map_ifindex: u32,
    btf_fd: u32,
    btf_key_type_id: u32,
    btf_value_type_id: u32,
    btf_vmlinux_value_type_id: u32,
    map_extra: u64,
}
// SAFETY: repr(C), 72 bytes, no implicit padding (checked below), no pointers.
unsafe impl BpfAttr for MapCreateAttr {}
const _: () = assert!(std::mem::size_of::<MapCreateAttr>() == 72);

#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}
// SAFETY: repr(C), explicit padding; callers fill `key`/`value` with live buffers of the map's
// key and value sizes.
unsafe impl BpfAttr for MapElemAttr {}
const _: () = assert!(std::mem::size_of::<MapElemAttr>() == 32);

#[repr(C)]
#[derive(Default)]
struct MapBatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}
// SAFETY: repr(C), no implicit padding; callers size the buffers by `count`.
unsafe impl BpfAttr for MapBatchAttr {}
const _: () = assert!(std::mem::size_of::<MapBatchAttr>() == 56);

/// Rounds `v` up to a multiple of 8 (per-CPU values are laid out in 8-byte slots).
fn round8(v: usize) -> usize {
    (v + 7) & !7
}

/// A BPF map owned by this process (closed on drop).
#[derive(Debug)]
pub struct Map {
    fd: OwnedFd,
    /// `BPF_MAP_TYPE_*` (see [`map_type`]).
    pub map_type: u32,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes, for one CPU.
    pub value_size: u32,
    /// Capacity (bytes for a ring buffer).
    pub max_entries: u32,
    /// The name as given to [`Map::create`] (the kernel sees it sanitised, see
    /// [`super::kernel_obj_name`]); used in error messages.
    pub name: String,
}

impl AsFd for Map {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Map {
    /// `BPF_MAP_CREATE`. `flags` are `map_flags` such as [`super::map_flags::BPF_F_NO_PREALLOC`].
    pub fn create(
        map_type: u32,
        name: &str,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        flags: u32,
    ) -> Result<Map> {
        let mut a = MapCreateAttr {
            map_type,
            key_size,
            value_size,
            max_entries,
            map_flags: flags,
            map_name: obj_name(name),
            ..Default::default()
        };
        // SAFETY: the attr carries no addresses.
        let fd = unsafe { sys_bpf(Cmd::MapCreate, &mut a) }.map_err(|errno| {
            SysError::syscall(
                Cmd::MapCreate.call_name(),
                errno,
                format!(
                    "map '{name}' (type {map_type}, key {key_size}, value {value_size}, \
                     {max_entries} entries)"
                ),
            )
        })?;
        Ok(Map { fd: owned_fd(fd), map_type, key_size, value_size, max_entries, name: name.to_string() })
    }

    /// A second handle on the same map (a duplicated fd), for a reader that lives apart from
    /// the owner.
    pub fn try_clone(&self) -> std::io::Result<Map> {
        Ok(Map {
            fd: self.fd.try_clone()?,
            map_type: self.map_type,
            key_size: self.key_size,
            value_size: self.value_size,
            max_entries: self.max_entries,
            name: self.name.clone(),
        })
    }

    /// The map's fd, borrowed.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The raw fd number, for the `imm` of an `ld_imm64` with `src_reg = BPF_PSEUDO_MAP_FD`.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Whether lookups return one value per possible CPU.
    pub fn is_percpu(&self) -> bool {
        matches!(self.map_type, map_type::PERCPU_HASH | map_type::PERCPU_ARRAY | map_type::LRU_PERCPU_HASH)
    }

    fn is_hash(&self) -> bool {
        matches!(self.map_type, map_type::HASH | map_type::PERCPU_HASH | map_type::LRU_HASH | map_type::LRU_PERCPU_HASH)
    }

    fn is_array(&self) -> bool {
        matches!(self.map_type, map_type::ARRAY | map_type::PERCPU_ARRAY)
    }

    /// Bytes of one value as user space reads or writes it: `value_size`, or for per-CPU maps
    /// `round_up(value_size, 8) * possible CPUs` (the kernel copies one 8-aligned slot per
    /// *possible* CPU, not per online one).
    pub fn value_buf_len(&self) -> Result<usize> {
        if self.is_percpu() {
            Ok(round8(self.value_size as usize) * cpus::possible_count()?)
        } else {
            Ok(self.value_size as usize)
        }
    }

    /// The per-CPU slot stride inside a per-CPU value buffer (`round_up(value_size, 8)`).
    pub fn percpu_stride(&self) -> usize {
        round8(self.value_size as usize)
    }

    fn what(&self) -> String {
        format!("map '{}'", self.name)
    }

    fn err(&self, cmd: Cmd, errno: i32) -> SysError {
        SysError::syscall(cmd.call_name(), errno, self.what())
    }

    fn check_key(&self, key: &[u8]) -> Result<()> {
        if key.len() != self.key_size as usize {
            return Err(SysError::Invalid(format!(
                "{}: key of {} bytes, map keys have {}",
                self.what(),
                key.len(),
                self.key_size
            )));
        }
        Ok(())
    }

    /// `BPF_MAP_LOOKUP_ELEM`: the value for `key`, or `None` when absent. Per-CPU maps return
    /// [`Map::value_buf_len`] bytes (one slot per possible CPU).
    pub fn lookup(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let mut value = vec![0u8; self.value_buf_len()?];
        Ok(self.lookup_into(key, &mut value)?.then_some(value))
    }

    /// Like [`Map::lookup`] into a caller buffer of exactly [`Map::value_buf_len`] bytes;
    /// returns whether the key was present.
    pub fn lookup_into(&self, key: &[u8], value: &mut [u8]) -> Result<bool> {
        self.check_key(key)?;
        let need = self.value_buf_len()?;
        if value.len() != need {
            return Err(SysError::Invalid(format!(
                "{}: lookup buffer of {} bytes, need {need}",
                self.what(),
                value.len()
            )));
        }
        let mut a = MapElemAttr {
            map_fd: self.raw_fd() as u32,
            key: key.as_ptr() as u64,
            value: value.as_mut_ptr() as u64,
            ..Default::default()
        };
        // SAFETY: key has key_size bytes, value has exactly the length the kernel writes.
        match unsafe { sys_bpf(Cmd::MapLookupElem, &mut a) } {
            Ok(_) => Ok(true),
            Err(libc::ENOENT) => Ok(false),
            Err(e) => Err(self.err(Cmd::MapLookupElem, e)),
        }
    }

    /// `BPF_MAP_UPDATE_ELEM` with [`super::update_flags`]; `value` must have
    /// [`Map::value_buf_len`] bytes.
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<()> {
        self.check_key(key)?;
        let need = self.value_buf_len()?;
        if value.len() != need {
            return Err(SysError::Invalid(format!("{}: value of {} bytes, need {need}", self.what(), value.len())));
        }
        let mut a = MapElemAttr {
            map_fd: self.raw_fd() as u32,
            key: key.as_ptr() as u64,
            value: value.as_ptr() as u64,
            flags,
            ..Default::default()
        };
        // SAFETY: key and value are live buffers of the sizes the kernel reads.
        unsafe { sys_bpf(Cmd::MapUpdateElem, &mut a) }.map(|_| ()).map_err(|e| self.err(Cmd::MapUpdateElem, e))
    }

    /// `BPF_MAP_DELETE_ELEM`: whether the key was there.
    pub fn delete(&self, key: &[u8]) -> Result<bool> {
        self.check_key(key)?;
        let mut a = MapElemAttr { map_fd: self.raw_fd() as u32, key: key.as_ptr() as u64, ..Default::default() };
        // SAFETY: key is a live buffer of key_size bytes.
        match unsafe { sys_bpf(Cmd::MapDeleteElem, &mut a) } {
            Ok(_) => Ok(true),
            Err(libc::ENOENT) => Ok(false),
            Err(e) => Err(self.err(Cmd::MapDeleteElem, e)),
        }
    }

    /// `BPF_MAP_GET_NEXT_KEY`: the key after `key`, or the first key for `None`.
    pub fn next_key(&self, key: Option<&[u8]>) -> Result<Option<Vec<u8>>> {
        if let Some(k) = key {
            self.check_key(k)?;
        }
        let mut next = vec![0u8; self.key_size as usize];
        let mut a = MapElemAttr {
            map_fd: self.raw_fd() as u32,
            key: key.map_or(0, |k| k.as_ptr() as u64),
            value: next.as_mut_ptr() as u64,
            ..Default::default()
        };
        // SAFETY: key (if any) and next are live buffers of key_size bytes.
        match unsafe { sys_bpf(Cmd::MapGetNextKey, &mut a) } {
            Ok(_) => Ok(Some(next)),
            Err(libc::ENOENT) => Ok(None),
            Err(e) => Err(self.err(Cmd::MapGetNextKey, e)),
        }
    }

    /// All keys, by a `BPF_MAP_GET_NEXT_KEY` walk.
    ///
    /// When a hash map's current key is deleted under us, the kernel restarts the walk from the
    /// first bucket, so keys are deduplicated and the walk is bounded.
    pub fn keys(&self) -> Result<Vec<Vec<u8>>> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut seen: HashSet<Vec<u8>> = HashSet::new();
        let limit = (self.max_entries as usize).saturating_mul(2).saturating_add(16);
        let mut cur: Option<Vec<u8>> = None;
        for _ in 0..limit {
            match self.next_key(cur.as_deref())? {
                None => break,
                Some(k) => {
                    if seen.insert(k.clone()) {
                        out.push(k.clone());
                    }
                    cur = Some(k);
                }
            }
        }
        Ok(out)
    }

    /// All (key, value) pairs. Hash maps use `BPF_MAP_LOOKUP_BATCH` (a few syscalls for the
    /// whole map); other maps, or kernels without batch ops, walk the keys and look each up.
    /// Keys deleted between the walk and the lookup are skipped.
    pub fn entries(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        if self.is_hash() {
            if let Some(all) = self.entries_batch()? {
                return Ok(all);
            }
        }
        let vlen = self.value_buf_len()?;
        let mut out = Vec::new();
        let mut value = vec![0u8; vlen];
        for k in self.keys()? {
            if self.lookup_into(&k, &mut value)? {
                out.push((k, value.clone()));
            }
        }
        Ok(out)
    }

    /// `BPF_MAP_LOOKUP_BATCH` over the whole map; `None` when the kernel refuses batch ops
    /// (pre-5.6, or an error before anything was read), so the caller falls back.
    fn entries_batch(&self) -> Result<Option<Vec<(Vec<u8>, Vec<u8>)>>> {
        let ksize = self.key_size as usize;
        let vlen = self.value_buf_len()?;
        if ksize == 0 || self.max_entries == 0 {
            return Ok(None);
        }
        // Bound one batch to ~4 MiB of buffers; at least one element.
        let per = ksize + vlen;
        let mut chunk = (self.max_entries as usize).min(4096).min(((4 << 20) / per.max(1)).max(1));
        let mut out = Vec::new();
        // For hash maps the batch token is a bucket index (u32), but the kernel copies
        // `key_size` bytes of it, so size it for both.
        let token_len = ksize.max(8);
        let mut in_batch: Option<Vec<u8>> = None;
        let mut out_batch = vec![0u8; token_len];
        let mut keys = vec![0u8; chunk * ksize];
        let mut values = vec![0u8; chunk * vlen];
        let mut first = true;
        loop {
            let mut a = MapBatchAttr {
                in_batch: in_batch.as_ref().map_or(0, |b| b.as_ptr() as u64),
                out_batch: out_batch.as_mut_ptr() as u64,
                keys: keys.as_mut_ptr() as u64,
                values: values.as_mut_ptr() as u64,
                count: chunk as u32,
                map_fd: self.raw_fd() as u32,
                ..Default::default()
            };
            // SAFETY: keys/values hold `count` elements of key/value size, the batch tokens
            // hold token_len >= key_size bytes.
            let r = unsafe { sys_bpf(Cmd::MapLookupBatch, &mut a) };
            let got = (a.count as usize).min(chunk);
            let done = match r {
                Ok(_) => false,
                // ENOENT: the walk reached the end; `count` still reports the last elements.
                Err(libc::ENOENT) => true,
                // ENOSPC: one bucket holds more elements than fit; grow and retry this batch.
                Err(libc::ENOSPC) if got == 0 && chunk < self.max_entries as usize => {
                    chunk = (chunk * 2).min(self.max_entries as usize);
                    keys.resize(chunk * ksize, 0);
                    values.resize(chunk * vlen, 0);
                    continue;
                }
                Err(_) if first => return Ok(None),
                Err(e) => return Err(self.err(Cmd::MapLookupBatch, e)),
            };
            first = false;
            for i in 0..got {
                out.push((keys[i * ksize..(i + 1) * ksize].to_vec(), values[i * vlen..(i + 1) * vlen].to_vec()));
            }
            if done {
                return Ok(Some(out));
            }
            in_batch = Some(out_batch.clone());
        }
    }

    /// Empties the map: deletes every key, or for arrays (whose elements always exist)
    /// writes zeros into every slot.
    pub fn clear(&self) -> Result<()> {
        if self.is_array() {
            let zeros = vec![0u8; self.value_buf_len()?];
            for i in 0..self.max_entries {
                self.update(&i.to_ne_bytes(), &zeros, super::update_flags::ANY)?;
            }
            return Ok(());
        }
        for k in self.keys()? {
            self.delete(&k)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::update_flags;

    fn root() -> bool {
        if !ferret_testing::skip_unless(&[ferret_testing::Need::Root]) {
            return false;
        }
        true
    }

    #[test]
    fn hash_map_round_trip() {
        if !root() {
            return;
        }
        let m = Map::create(map_type::HASH, "@test_hash", 4, 8, 64, 0).expect("create");
        assert!(m.lookup(&1u32.to_ne_bytes()).expect("lookup").is_none());
        for i in 0..10u32 {
            m.update(&i.to_ne_bytes(), &(i as u64 * 100).to_ne_bytes(), update_flags::ANY).expect("update");
        }
        let v = m.lookup(&3u32.to_ne_bytes()).expect("lookup");
        assert_eq!(v, Some(300u64.to_ne_bytes().to_vec()));
        // NOEXIST on an existing key is EEXIST, and the error names the map.
        let e = m.update(&3u32.to_ne_bytes(), &[0; 8], update_flags::NOEXIST).unwrap_err();
        assert_eq!(e.errno(), Some(libc::EEXIST));
        assert!(e.to_string().contains("map '@test_hash'"), "{e}");
        assert!(m.delete(&3u32.to_ne_bytes()).expect("delete"));
        assert!(!m.delete(&3u32.to_ne_bytes()).expect("delete again"));

        let mut keys: Vec<u32> =
            m.keys().expect("keys").iter().map(|k| u32::from_ne_bytes([k[0], k[1], k[2], k[3]])).collect();
        keys.sort();
        assert_eq!(keys, vec![0, 1, 2, 4, 5, 6, 7, 8, 9]);

        let mut e = m.entries().expect("entries");
        e.sort();
        assert_eq!(e.len(), 9);
        for (k, v) in &e {
            let k = u32::from_ne_bytes([k[0], k[1], k[2], k[3]]);
            assert_eq!(v, &(k as u64 * 100).to_ne_bytes().to_vec());
        }
        // Batch and walk agree.
        let mut walked = Vec::new();
        for k in m.keys().expect("keys") {
            let v = m.lookup(&k).expect("lookup").expect("present");
            walked.push((k, v));
        }
        walked.sort();
        assert_eq!(walked, e);

        // Wrong key size is rejected before the syscall.
        assert!(matches!(m.lookup(&[0u8; 3]), Err(SysError::Invalid(_))));

        m.clear().expect("clear");
        assert!(m.keys().expect("keys").is_empty());
        assert!(m.entries().expect("entries").is_empty());
    }

    #[test]
    fn batch_lookup_crosses_many_batches() {
        if !root() {
            return;
        }
        // More entries than one 4096-element batch, plus a key wider than the batch token.
        let m = Map::create(map_type::HASH, "big", 16, 8, 10000, 0).expect("create");
        for i in 0..9000u64 {
            let mut k = [0u8; 16];
            k[..8].copy_from_slice(&i.to_ne_bytes());
            m.update(&k, &i.to_ne_bytes(), update_flags::ANY).expect("update");
        }
        let e = m.entries().expect("entries");
        assert_eq!(e.len(), 9000);
        let mut seen: Vec<u64> = e
            .iter()
            .map(|(k, v)| {
                assert_eq!(k[..8], v[..]);
                u64::from_ne_bytes(v[..8].try_into().unwrap_or_default())
            })
            .collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 9000);
    }

    #[test]
    fn percpu_hash_has_one_slot_per_possible_cpu() {
        if !root() {
            return;
        }
        let ncpu = cpus::possible_count().expect("possible cpus");
        let m = Map::create(map_type::PERCPU_HASH, "pcpu", 4, 4, 16, 0).expect("create");
        assert!(m.is_percpu());
        // value_size 4 still occupies an 8-byte slot per CPU.
        assert_eq!(m.value_buf_len().expect("len"), 8 * ncpu);
        let mut val = vec![0u8; 8 * ncpu];
        for cpu in 0..ncpu {
            val[cpu * 8..cpu * 8 + 4].copy_from_slice(&(cpu as u32 + 10).to_ne_bytes());
        }
        m.update(&7u32.to_ne_bytes(), &val, update_flags::ANY).expect("update");
        let got = m.lookup(&7u32.to_ne_bytes()).expect("lookup").expect("present");
        assert_eq!(got, val);
        let e = m.entries().expect("entries");
        assert_eq!(e, vec![(7u32.to_ne_bytes().to_vec(), val.clone())]);
        // A value of one CPU's size is refused with a clear message.
        let err = m.update(&7u32.to_ne_bytes(), &[0u8; 4], update_flags::ANY).unwrap_err();
        assert!(err.to_string().contains("need"), "{err}");
        m.clear().expect("clear");
        assert!(m.entries().expect("entries").is_empty());
    }

    #[test]
    fn array_clear_writes_zeros() {
        if !root() {
            return;
        }
        let m = Map::create(map_type::PERCPU_ARRAY, "parr", 4, 8, 4, 0).expect("create");
        let len = m.value_buf_len().expect("len");
        m.update(&2u32.to_ne_bytes(), &vec![0xab; len], update_flags::ANY).expect("update");
        // Arrays are not hash maps: entries() walks keys, and every slot exists.
        assert_eq!(m.entries().expect("entries").len(), 4);
        m.clear().expect("clear");
        let v = m.lookup(&2u32.to_ne_bytes()).expect("lookup").expect("present");
        assert!(v.iter().all(|&b| b == 0));
    }

    #[test]
    fn create_error_names_the_map() {
        if !root() {
            return;
        }
        // Hash maps need a non-zero key size: EINVAL.
        let e = Map::create(map_type::HASH, "bad", 0, 8, 1, 0).unwrap_err();
        assert_eq!(e.errno(), Some(libc::EINVAL));
        let s = e.to_string();
        assert!(s.starts_with("bpf(BPF_MAP_CREATE) for map 'bad'"), "{s}");
    }
}
