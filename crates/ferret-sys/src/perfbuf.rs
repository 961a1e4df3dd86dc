//! Perf buffer consumer: how events emitted with `bpf_perf_event_output` reach user space on
//! kernels or paths without a ring buffer. One `PERF_COUNT_SW_BPF_OUTPUT` event per online CPU,
//! stored in a `PERF_EVENT_ARRAY` map at index `cpu`, each with its own mmap'd ring.
//!
//! Layout: page 0 is `struct perf_event_mmap_page` (`data_head` at 1024, written by the
//! kernel; `data_tail` at 1032, written by us; `data_offset`/`data_size` at 1040/1048), then
//! 2^n data pages. Records (`struct perf_event_header { u32 type; u16 misc; u16 size; }`) can
//! wrap around the end of the ring, so wrapped ones are copied out.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::bpf::{map_type, update_flags, Map};
use crate::mmap::Mmap;
use crate::perf::{self, PerfEventAttr, PERF_RECORD_LOST, PERF_RECORD_SAMPLE};
use crate::{cpus, page_size, Result, SysError};

const DATA_HEAD: usize = 1024;
const DATA_TAIL: usize = 1032;
const DATA_OFFSET: usize = 1040;
const DATA_SIZE: usize = 1048;

struct CpuRing {
    cpu: u32,
    fd: OwnedFd,
    mmap: Mmap,
}

/// Per-CPU perf rings behind one `PERF_EVENT_ARRAY` map.
pub struct PerfBuf {
    rings: Vec<CpuRing>,
    data_pages: usize,
    scratch: Vec<u8>,
}

impl std::fmt::Debug for PerfBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerfBuf")
            .field("cpus", &self.rings.iter().map(|r| r.cpu).collect::<Vec<_>>())
            .field("data_pages", &self.data_pages)
            .finish()
    }
}

impl PerfBuf {
    /// Opens a BPF_OUTPUT event on each online CPU with `pages_per_cpu` data pages (a power
    /// of two, as the kernel requires) and stores it in `map[cpu]`. The reader is woken after
    /// `wakeup_events` records (0 is taken as 1).
    pub fn new(map: &Map, pages_per_cpu: usize, wakeup_events: u32) -> Result<PerfBuf> {
        let what = format!("perf buffer '{}'", map.name);
        if map.map_type != map_type::PERF_EVENT_ARRAY {
            return Err(SysError::Invalid(format!("{what}: map type {} is not PERF_EVENT_ARRAY", map.map_type)));
        }
        if !pages_per_cpu.is_power_of_two() {
            return Err(SysError::Invalid(format!("{what}: {pages_per_cpu} pages per CPU is not a power of two")));
        }
        let page = page_size();
        let mut rings = Vec::new();
        for cpu in cpus::online()? {
            if cpu >= map.max_entries {
                return Err(SysError::Invalid(format!(
                    "{what}: CPU {cpu} does not fit in {} entries",
                    map.max_entries
                )));
            }
            let mut attr = PerfEventAttr {
                type_: perf::PERF_TYPE_SOFTWARE,
                config: perf::sw::BPF_OUTPUT,
                sample_type: perf::PERF_SAMPLE_RAW,
                sample_period_or_freq: 1,
                wakeup_events: wakeup_events.max(1),
                ..Default::default()
            };
            let fd = perf::perf_event_open(&mut attr, -1, cpu as i32, -1, 0)?;
            let mmap = Mmap::new(fd.as_fd(), page * (pages_per_cpu + 1), 0, true, &what)?;
            let raw = std::os::fd::AsRawFd::as_raw_fd(&fd) as u32;
            map.update(&cpu.to_ne_bytes(), &raw.to_ne_bytes(), update_flags::ANY)?;
            perf::enable(fd.as_fd())?;
            rings.push(CpuRing { cpu, fd, mmap });
        }
        Ok(PerfBuf { rings, data_pages: pages_per_cpu, scratch: Vec::new() })
    }

    /// `(cpu, fd)` of each ring, to register with [`crate::epoll::Epoll`].
    pub fn fds(&self) -> Vec<(u32, BorrowedFd<'_>)> {
        self.rings.iter().map(|r| (r.cpu, r.fd.as_fd())).collect()
    }

    /// Drains every CPU's ring: calls `f` with the raw data of each sample and returns
    /// `(samples, lost)`, `lost` summing `PERF_RECORD_LOST` counts. The raw data is padded by
    /// the kernel so that `4 + len` is a multiple of 8 (24 payload bytes arrive as 28).
    pub fn poll(&mut self, mut f: impl FnMut(&[u8])) -> (usize, u64) {
        let page = page_size();
        let (mut n, mut lost) = (0, 0);
        for ring in &self.rings {
            let base = ring.mmap.as_ptr();
            // SAFETY: the metadata page is mapped for our lifetime; these u64 fields are
            // 8-aligned and shared with the kernel, so they are accessed atomically.
            let head_p = unsafe { &*(base.add(DATA_HEAD) as *const AtomicU64) };
            // SAFETY: as above.
            let tail_p = unsafe { &*(base.add(DATA_TAIL) as *const AtomicU64) };
            // SAFETY: as above (written once by the kernel at mmap time).
            let (off, size) = unsafe {
                (
                    (*(base.add(DATA_OFFSET) as *const AtomicU64)).load(Ordering::Relaxed),
                    (*(base.add(DATA_SIZE) as *const AtomicU64)).load(Ordering::Relaxed),
                )
            };
            // Kernels before 4.1 leave data_offset/data_size zero: data follows page 0.
            let (off, size) = if size == 0 { (page, self.data_pages * page) } else { (off as usize, size as usize) };
            if off + size > ring.mmap.len() || !size.is_power_of_two() {
                continue;
            }
            let head = head_p.load(Ordering::Acquire);
            let tail = tail_p.load(Ordering::Relaxed);
            // SAFETY: [off, off + size) lies inside the mapping (checked above).
            let ring_data = RingData { base: unsafe { base.add(off) }, size };
            let (new_tail, s, l) = drain(&ring_data, tail, head, &mut self.scratch, &mut f);
            n += s;
            lost += l;
            // Release: our reads of the records happen before the kernel may overwrite them.
            tail_p.store(new_tail, Ordering::Release);
        }
        (n, lost)
    }
}

/// The data area of one perf ring.
struct RingData {
    base: *const u8,
    size: usize,
}

impl RingData {
    /// `len` bytes at ring position `pos`: borrowed when contiguous, else copied to `scratch`.
    /// The caller keeps `len <= size` and the range between tail and head, which the kernel
    /// does not write until data_tail passes it.
    fn read<'a>(&'a self, pos: u64, len: usize, scratch: &'a mut Vec<u8>) -> &'a [u8] {
        let start = (pos as usize) & (self.size - 1);
        if start + len <= self.size {
            // SAFETY: inside the data area; committed bytes (see above).
            unsafe { std::slice::from_raw_parts(self.base.add(start), len) }
        } else {
            let first = self.size - start;
            scratch.clear();
            scratch.reserve(len);
            // SAFETY: both pieces lie inside the data area; scratch has capacity for len.
            unsafe {
                scratch.extend_from_slice(std::slice::from_raw_parts(self.base.add(start), first));
                scratch.extend_from_slice(std::slice::from_raw_parts(self.base, len - first));
            }
            scratch
        }
    }
}

/// Walks the records in `[tail, head)`; returns the new tail, samples delivered and lost count.
fn drain(
    data: &RingData,
    mut tail: u64,
    head: u64,
    scratch: &mut Vec<u8>,
    f: &mut impl FnMut(&[u8]),
) -> (u64, usize, u64) {
    let (mut n, mut lost) = (0, 0u64);
    while tail < head {
        let avail = head - tail;
        if avail < 8 {
            break;
        }
        let hdr = data.read(tail, 8, scratch);
        let ty = u32::from_ne_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
        let size = u16::from_ne_bytes([hdr[6], hdr[7]]) as usize;
        if size < 8 || size as u64 > avail || size > data.size {
            // A corrupt header: skip everything rather than loop or read out of bounds.
            return (head, n, lost);
        }
        let rec = data.read(tail, size, scratch);
        match ty {
            PERF_RECORD_SAMPLE if size >= 12 => {
                let raw = u32::from_ne_bytes([rec[8], rec[9], rec[10], rec[11]]) as usize;
                if let Some(body) = rec.get(12..12 + raw) {
                    f(body);
                    n += 1;
                }
            }
            // struct { header; u64 id; u64 lost; }
            PERF_RECORD_LOST if size >= 24 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&rec[16..24]);
                lost += u64::from_ne_bytes(b);
            }
            _ => {}
        }
        tail += size as u64;
    }
    (tail, n, lost)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::{self, insn, prog_type, ProgLoad};

    fn sample(payload: &[u8]) -> Vec<u8> {
        // header, u32 raw size, raw data padded so that 4 + raw is 8-aligned.
        let raw = (payload.len() + 4).div_ceil(8) * 8 - 4;
        let size = 8 + 4 + raw;
        let mut r = Vec::new();
        r.extend(PERF_RECORD_SAMPLE.to_ne_bytes());
        r.extend(0u16.to_ne_bytes());
        r.extend((size as u16).to_ne_bytes());
        r.extend((raw as u32).to_ne_bytes());
        r.extend(payload);
        r.resize(size, 0);
        r
    }

    fn lost(count: u64) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend(PERF_RECORD_LOST.to_ne_bytes());
        r.extend(0u16.to_ne_bytes());
        r.extend(24u16.to_ne_bytes());
        r.extend(0u64.to_ne_bytes());
        r.extend(count.to_ne_bytes());
        r
    }

    #[test]
    fn drain_handles_wrap_lost_and_garbage() {
        // A 64-byte ring; write records starting at position 40 so the second one wraps.
        let mut ring = vec![0u8; 64];
        let mut pos = 40u64;
        let mut put = |rec: &[u8], ring: &mut Vec<u8>| {
            for (i, b) in rec.iter().enumerate() {
                ring[((pos as usize) + i) % 64] = *b;
            }
            pos += rec.len() as u64;
        };
        put(&sample(b"abc"), &mut ring); // 16 bytes: 40..56
        put(&sample(b"0123456789"), &mut ring); // 24 bytes: 56..80 wraps
        put(&lost(5), &mut ring); // 24 bytes: 80..104
        let data = RingData { base: ring.as_ptr(), size: 64 };
        let mut got = Vec::new();
        let mut scratch = Vec::new();
        let (tail, n, l) = drain(&data, 40, pos, &mut scratch, &mut |b: &[u8]| got.push(b.to_vec()));
        assert_eq!((tail, n, l), (pos, 2, 5));
        assert_eq!(&got[0][..3], b"abc");
        assert_eq!(got[0].len(), 4);
        assert_eq!(&got[1][..10], b"0123456789");
        assert_eq!(got[1].len(), 12);

        // A zero-size header must not loop forever.
        let zeros = [0u8; 64];
        let data = RingData { base: zeros.as_ptr(), size: 64 };
        let (tail, n, _) = drain(&data, 0, 32, &mut scratch, &mut |_: &[u8]| {});
        assert_eq!((tail, n), (32, 0));
    }

    #[test]
    fn receives_samples_from_every_cpu_and_counts_lost() {
        if !ferret_testing::skip_unless(&[ferret_testing::Need::Root]) {
            return;
        }
        let ncpu = cpus::possible_count().expect("cpus") as u32;
        let m = Map::create(map_type::PERF_EVENT_ARRAY, "pb", 4, 4, ncpu, 0).expect("map");
        let mut pb = PerfBuf::new(&m, 1, 1).expect("perf buffer");
        // *(u64 *)(r10 - 24) = 0xabcdef; the rest of the 24 bytes zero;
        // bpf_perf_event_output(ctx, map, BPF_F_CURRENT_CPU, r10 - 24, 24); return 0
        let prog = [
            insn(0xbf, 6, 1, 0, 0),
            insn(0x7a, 10, 0, -24, 0xabcdef),
            insn(0x7a, 10, 0, -16, 0),
            insn(0x7a, 10, 0, -8, 0),
            insn(0xbf, 1, 6, 0, 0),
            insn(0x18, 2, 1, 0, m.raw_fd()),
            0,
            insn(0x18, 3, 0, 0, -1i32 as u32 as i32),
            0,
            insn(0xbf, 4, 10, 0, 0),
            insn(0x07, 4, 0, 0, -24),
            insn(0xb7, 5, 0, 0, 24),
            insn(0x85, 0, 0, 0, 25),
            insn(0xb7, 0, 0, 0, 0),
            insn(0x95, 0, 0, 0, 0),
        ];
        // ld_imm64 r3 = 0xffffffff: low word -1, high word 0.
        let fd = bpf::load_program(&ProgLoad {
            prog_type: prog_type::RAW_TRACEPOINT,
            insns: &prog,
            name: "pb_out",
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", e.log));
        let ctx = [0u8; 8];
        let online = cpus::online().expect("online");
        for &cpu in &online {
            bpf::prog_test_run(fd.as_fd(), &ctx, Some(cpu)).expect("run");
        }
        let mut recs = Vec::new();
        let (n, l) = pb.poll(|r| recs.push(r.to_vec()));
        assert_eq!((n, l), (online.len(), 0));
        for r in &recs {
            assert_eq!(r.len(), 28, "24 payload bytes padded to 28");
            assert_eq!(r[..8], 0xabcdefu64.to_ne_bytes());
        }

        // Wrap-around: 40-byte records in a 4096-byte ring straddle its end; drain often.
        let cpu0 = online[0];
        let mut total = 0;
        for i in 0..300 {
            bpf::prog_test_run(fd.as_fd(), &ctx, Some(cpu0)).expect("run");
            if i % 50 == 49 {
                let (n, l) = pb.poll(|r| assert_eq!(r[..8], 0xabcdefu64.to_ne_bytes()));
                assert_eq!(l, 0);
                total += n;
            }
        }
        assert_eq!(total, 300);

        // Overflow: 200 records do not fit; after draining, the next write reports the loss.
        for _ in 0..200 {
            bpf::prog_test_run(fd.as_fd(), &ctx, Some(cpu0)).expect("run");
        }
        let (kept, l) = pb.poll(|_| {});
        assert_eq!(l, 0);
        assert!(kept < 200, "kept {kept}");
        bpf::prog_test_run(fd.as_fd(), &ctx, Some(cpu0)).expect("run");
        let (n, l) = pb.poll(|_| {});
        assert_eq!(n, 1);
        assert_eq!(kept as u64 + l, 200, "kept {kept} lost {l}");
    }
}
