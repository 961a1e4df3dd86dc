//! BPF ring buffer consumer: how events that programs emit with `bpf_ringbuf_output` reach
//! user space (printf, join, async map prints).
//!
//! Layout (kernel/bpf/ringbuf.c): page 0 holds `consumer_pos` (we write it), page 1
//! `producer_pos` (kernel writes it), then the data area, which the kernel offers mapped twice
//! in a row so a record that wraps is contiguous. We map it once (every mapped page of a ring
//! counts in our RSS, 1 MB for the second copy of a 1 MB ring) and copy the rare record that
//! wraps. Each record has an 8-byte header: `u32 len` whose bit 31 is BUSY (reserved, not
//! committed yet) and bit 30 DISCARD, then `u32 pg_off`; records are 8-byte aligned, so a
//! header never wraps.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::bpf::{map_type, Map};
use crate::mmap::Mmap;
use crate::{page_size, Result, SysError};

pub use crate::epoll::Epoll;

/// `BPF_RINGBUF_BUSY_BIT`.
const BUSY: u32 = 1 << 31;
/// `BPF_RINGBUF_DISCARD_BIT`.
const DISCARD: u32 = 1 << 30;
/// `BPF_RINGBUF_HDR_SZ`.
const HDR: usize = 8;

/// A consumer of one `BPF_MAP_TYPE_RINGBUF` map.
pub struct RingBuf {
    fd: OwnedFd,
    consumer: Mmap,
    producer: Mmap,
    size: usize,
    name: String,
    /// Where a record that wraps around the end of the data area is put back together.
    scratch: Vec<u8>,
}

impl std::fmt::Debug for RingBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingBuf").field("map", &self.name).field("size", &self.size).finish()
    }
}

impl RingBuf {
    /// Maps the ring of `map` (which must be a RINGBUF map). The reader keeps its own
    /// duplicate of the map fd, so it stays valid if `map` is dropped first.
    pub fn new(map: &Map) -> Result<RingBuf> {
        let what = format!("ring buffer '{}'", map.name);
        if map.map_type != map_type::RINGBUF {
            return Err(SysError::Invalid(format!("{what}: map type {} is not RINGBUF", map.map_type)));
        }
        let page = page_size();
        let size = map.max_entries as usize;
        if !size.is_power_of_two() || size & (page - 1) != 0 {
            return Err(SysError::Invalid(format!(
                "{what}: size {size} is not a power-of-2 multiple of the page size"
            )));
        }
        let fd = map
            .fd()
            .try_clone_to_owned()
            .map_err(|e| SysError::syscall("fcntl(F_DUPFD_CLOEXEC)", e.raw_os_error().unwrap_or(libc::EIO), &what))?;
        let consumer = Mmap::new(fd.as_fd(), page, 0, true, &what)?;
        let producer = Mmap::new(fd.as_fd(), page + size, page, false, &what)?;
        Ok(RingBuf { fd, consumer, producer, size, name: map.name.clone(), scratch: vec![] })
    }

    /// The map fd, to register with [`Epoll`] (readable when records are committed).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Delivers every committed record to `f` in order and returns how many were delivered.
    /// Stops at a record still BUSY (reserved but not yet submitted); DISCARDed records are
    /// consumed silently. One call consumes at most two rings' worth, so a fast producer
    /// cannot keep the caller here forever.
    pub fn poll(&mut self, mut f: impl FnMut(&[u8])) -> usize {
        let page = page_size();
        let mask = (self.size - 1) as u64;
        // SAFETY: both pages are mapped for our lifetime; consumer_pos and producer_pos are
        // 8-byte aligned u64s at the start of their pages, shared with the kernel, so they
        // are accessed only atomically.
        let cons = unsafe { &*(self.consumer.as_ptr() as *const AtomicU64) };
        // SAFETY: as above.
        let prod = unsafe { &*(self.producer.as_ptr() as *const AtomicU64) };
        // SAFETY: the data area starts one page into the producer mapping of page + size.
        let data = unsafe { self.producer.as_ptr().add(page) };
        let budget = 2 * self.size as u64;
        let start = cons.load(Ordering::Relaxed);
        let mut c = start;
        let mut n = 0;
        loop {
            let p = prod.load(Ordering::Acquire);
            if c >= p || c - start >= budget {
                break;
            }
            while c < p {
                // SAFETY: (c & mask) < size and records are 8-aligned, so the header is an
                // aligned u32 inside the data area; the kernel publishes it with a release
                // store, hence the acquire load.
                let at = (c & mask) as usize;
                let hdr = unsafe { data.add(at) };
                // SAFETY: see above.
                let len = unsafe { &*(hdr as *const AtomicU32) }.load(Ordering::Acquire);
                if len & BUSY != 0 {
                    return n;
                }
                let real = (len & !(BUSY | DISCARD)) as usize;
                if real + HDR > self.size {
                    // Cannot happen with a sane kernel; do not read outside the mapping.
                    return n;
                }
                if len & DISCARD == 0 {
                    // The record's bytes start after the header, possibly at the start of the
                    // area, and may run past its end into the start.
                    let first = (at + HDR) % self.size;
                    let head = real.min(self.size - first);
                    // SAFETY: first < size and first + head <= size: inside the mapped data
                    // area; the record is committed and the kernel does not reuse it until we
                    // advance consumer_pos below.
                    let part = unsafe { std::slice::from_raw_parts(data.add(first), head) };
                    if head == real {
                        f(part);
                    } else {
                        self.scratch.clear();
                        self.scratch.extend_from_slice(part);
                        // SAFETY: the rest, real - head < size bytes, wrapped to the start.
                        let rest = unsafe { std::slice::from_raw_parts(data, real - head) };
                        self.scratch.extend_from_slice(rest);
                        f(&self.scratch);
                    }
                    n += 1;
                }
                c += ((real + HDR + 7) & !7) as u64;
                // Release: our reads of the record happen before the kernel may reuse it.
                cons.store(c, Ordering::Release);
            }
        }
        n
    }

    /// Bytes committed but not yet consumed (for stats and tests).
    pub fn pending(&self) -> u64 {
        // SAFETY: as in poll.
        let cons = unsafe { &*(self.consumer.as_ptr() as *const AtomicU64) };
        // SAFETY: as in poll.
        let prod = unsafe { &*(self.producer.as_ptr() as *const AtomicU64) };
        prod.load(Ordering::Acquire).saturating_sub(cons.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::{self, insn, prog_type, ProgLoad};

    fn ld_map(dst: u8, fd: i32) -> [u64; 2] {
        [insn(0x18, dst, 1, 0, fd), 0]
    }

    #[test]
    fn rejects_non_ringbuf_maps() {
        if !ferret_testing::skip_unless(&[ferret_testing::Need::Root]) {
            return;
        }
        let m = Map::create(map_type::ARRAY, "arr", 4, 8, 1, 0).expect("create");
        assert!(matches!(RingBuf::new(&m), Err(SysError::Invalid(_))));
    }

    #[test]
    fn delivers_output_skips_discarded_and_wakes_epoll() {
        if !ferret_testing::skip_unless(&[ferret_testing::Need::Root]) {
            return;
        }
        let m = Map::create(map_type::RINGBUF, "events", 0, 0, 64 * 1024, 0).expect("ringbuf");
        let mut rb = RingBuf::new(&m).expect("mmap ring");
        let ep = Epoll::new().expect("epoll");
        ep.add(rb.fd(), 7).expect("epoll add");

        // *(u64 *)(r10 - 16) = 0x11223344; *(u64 *)(r10 - 8) = 0x55667788;
        // bpf_ringbuf_output(map, r10 - 16, 16, 0); return 0
        let mut out = vec![insn(0x7a, 10, 0, -16, 0x1122_3344), insn(0x7a, 10, 0, -8, 0x5566_7788)];
        out.extend(ld_map(1, m.raw_fd()));
        out.extend([
            insn(0xbf, 2, 10, 0, 0),
            insn(0x07, 2, 0, 0, -16),
            insn(0xb7, 3, 0, 0, 16),
            insn(0xb7, 4, 0, 0, 0),
            insn(0x85, 0, 0, 0, 130),
            insn(0xb7, 0, 0, 0, 0),
            insn(0x95, 0, 0, 0, 0),
        ]);
        // p = bpf_ringbuf_reserve(map, 8, 0); if (p) bpf_ringbuf_discard(p, 0); return 0
        let mut discard = ld_map(1, m.raw_fd()).to_vec();
        discard.extend([
            insn(0xb7, 2, 0, 0, 8),
            insn(0xb7, 3, 0, 0, 0),
            insn(0x85, 0, 0, 0, 131),
            insn(0x15, 0, 0, 3, 0),
            insn(0xbf, 1, 0, 0, 0),
            insn(0xb7, 2, 0, 0, 0),
            insn(0x85, 0, 0, 0, 133),
            insn(0xb7, 0, 0, 0, 0),
            insn(0x95, 0, 0, 0, 0),
        ]);
        let load = |insns: &[u64], name: &str| {
            bpf::load_program(&ProgLoad { prog_type: prog_type::RAW_TRACEPOINT, insns, name, ..Default::default() })
                .unwrap_or_else(|e| panic!("{e}\n{}", e.log))
        };
        let p_out = load(&out, "rb_output");
        let p_discard = load(&discard, "rb_discard");
        let ctx = [0u8; 8];
        use std::os::fd::AsFd;
        assert_eq!(bpf::prog_test_run(p_out.as_fd(), &ctx, None).expect("run"), 0);
        bpf::prog_test_run(p_discard.as_fd(), &ctx, None).expect("run");
        bpf::prog_test_run(p_out.as_fd(), &ctx, Some(0)).expect("run on cpu 0");

        // The wakeup comes from irq_work, so wait for it rather than assume it is done.
        assert_eq!(ep.wait(2000).expect("wait"), vec![7]);
        let mut recs: Vec<Vec<u8>> = Vec::new();
        let n = rb.poll(|r| recs.push(r.to_vec()));
        assert_eq!(n, 2);
        let mut want = 0x1122_3344u64.to_ne_bytes().to_vec();
        want.extend(0x5566_7788u64.to_ne_bytes());
        assert_eq!(recs, vec![want.clone(), want.clone()]);
        assert_eq!(rb.pending(), 0);
        assert_eq!(rb.poll(|_| panic!("nothing left")), 0);

        // Wrap-around: push more than the ring holds in total, draining as we go. Records
        // take 24 bytes, which does not divide the ring's 64 KiB, so some records run past
        // its end (mapped once, they are put back together) and must still read whole.
        let mut total = 0;
        for i in 0..8000 {
            bpf::prog_test_run(p_out.as_fd(), &ctx, None).expect("run");
            if i % 1000 == 999 {
                total += rb.poll(|r| assert_eq!(r, &want[..]));
            }
        }
        total += rb.poll(|r| assert_eq!(r, &want[..]));
        assert_eq!(total, 8000);
    }
}
