//! `skboutput()`: packets from the `skb_output` perf buffer written to pcap files, in the
//! classic format bpftrace writes (microsecond timestamps, link type raw IP, snap length
//! 65535). Each file is created when its first packet arrives.
use std::collections::HashMap;
use std::io::Write;

/// LINKTYPE_RAW: packets start with their IP header.
const LINKTYPE_RAW: u32 = 101;
const SNAPLEN: u32 = 65535;

/// The global header of a pcap file.
fn file_header() -> Vec<u8> {
    let mut h = Vec::with_capacity(24);
    h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&0i32.to_le_bytes()); // thiszone
    h.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    h.extend_from_slice(&SNAPLEN.to_le_bytes());
    h.extend_from_slice(&LINKTYPE_RAW.to_le_bytes());
    h
}

/// One packet record: wall-clock time `realtime_ns`, the bytes kept (`data`, at most the
/// snap length) and the packet's length.
fn record(realtime_ns: i128, data: &[u8]) -> Vec<u8> {
    let ns = realtime_ns.max(0);
    let (secs, usecs) = ((ns / 1_000_000_000) as u32, ((ns % 1_000_000_000) / 1000) as u32);
    let kept = &data[..data.len().min(SNAPLEN as usize)];
    let mut r = Vec::with_capacity(16 + kept.len());
    r.extend_from_slice(&secs.to_le_bytes());
    r.extend_from_slice(&usecs.to_le_bytes());
    r.extend_from_slice(&(kept.len() as u32).to_le_bytes());
    r.extend_from_slice(&(data.len() as u32).to_le_bytes());
    r.extend_from_slice(kept);
    r
}

/// A sample's fields: `[u64 action][u64 boot ns][u64 offset][u64 len]` then the packet bytes.
pub struct Sample<'a> {
    pub action: usize,
    pub boot_ns: u64,
    /// The packet from the caller's offset on.
    pub packet: &'a [u8],
}

pub fn parse(raw: &[u8]) -> Option<Sample<'_>> {
    let word = |i: usize| raw.get(i * 8..i * 8 + 8).map(|b| u64::from_ne_bytes(b.try_into().unwrap_or([0; 8])));
    let (action, boot_ns, offset, len) = (word(0)?, word(1)?, word(2)?, word(3)?);
    let data = raw.get(32..)?;
    let data = &data[..(len as usize).min(data.len())];
    let packet = data.get((offset as usize).min(data.len())..)?;
    Some(Sample { action: action as usize, boot_ns, packet })
}

/// The open pcap files, by path.
#[derive(Default)]
pub struct Writers {
    files: HashMap<String, std::io::BufWriter<std::fs::File>>,
}

impl Writers {
    /// Append a packet to `path`, creating the file (and its header) on first use.
    pub fn write(&mut self, path: &str, realtime_ns: i128, packet: &[u8]) -> std::io::Result<()> {
        if !self.files.contains_key(path) {
            let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
            f.write_all(&file_header())?;
            self.files.insert(path.to_string(), f);
        }
        let f = self.files.get_mut(path).expect("inserted above");
        f.write_all(&record(realtime_ns, packet))
    }

    pub fn flush(&mut self) {
        for f in self.files.values_mut() {
            let _ = f.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_record_layout() {
        let h = file_header();
        assert_eq!(h.len(), 24);
        assert_eq!(&h[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(u32::from_le_bytes(h[20..24].try_into().unwrap()), 101);
        let r = record(1_500_000_123_456_789, &[1, 2, 3]);
        assert_eq!(u32::from_le_bytes(r[0..4].try_into().unwrap()), 1_500_000);
        assert_eq!(u32::from_le_bytes(r[4..8].try_into().unwrap()), 123_456);
        assert_eq!(u32::from_le_bytes(r[8..12].try_into().unwrap()), 3);
        assert_eq!(&r[16..], &[1, 2, 3]);
    }

    #[test]
    fn samples_keep_the_packet_from_the_offset() {
        let mut raw = vec![];
        for w in [7u64, 99, 2, 5] {
            raw.extend_from_slice(&w.to_ne_bytes());
        }
        raw.extend_from_slice(&[10, 11, 12, 13, 14, 0, 0, 0]); // kernel padding after len
        let s = parse(&raw).unwrap();
        assert_eq!((s.action, s.boot_ns, s.packet), (7, 99, &[12u8, 13, 14][..]));
    }
}
