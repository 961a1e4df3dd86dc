//! An open-addressing hash index from names to small non-zero values, storing no strings: the
//! caller resolves a value back to its name to confirm a hit. Building it for vmlinux (~100k
//! named types) is one pass with no per-name allocation.
use crate::store::Words;

/// Slots hold a value (0 = empty); the table is a power of two at most half full.
pub(crate) struct NameIndex {
    mask: usize,
    slots: Words,
}

/// FNV-1a over the bytes up to the first NUL (so a name can be hashed in place in the string
/// section), then a multiply to spread the low bits used for the slot.
pub(crate) fn hash(bytes: &[u8]) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        if b == 0 {
            break;
        }
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h ^ (h >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9) as usize
}

impl NameIndex {
    /// Index `entries` (value, [`hash`] of its name). `max_entries` must bound their number:
    /// the table is sized once, to keep it at most half full, and never grows.
    pub(crate) fn build(max_entries: usize, entries: impl Iterator<Item = (u32, usize)>) -> NameIndex {
        let cap = (max_entries.max(8) * 2).next_power_of_two();
        let mask = cap - 1;
        let mut slots = vec![0u32; cap];
        for (used, (value, h)) in entries.enumerate() {
            assert!(used < max_entries.max(8), "NameIndex::build: more entries than announced");
            let mut i = h & mask;
            while slots[i] != 0 {
                i = (i + 1) & mask;
            }
            slots[i] = value;
        }
        NameIndex { mask, slots: Words::Owned(slots) }
    }

    /// An index saved earlier (its slots; their number is a power of two).
    pub(crate) fn from_slots(slots: Words) -> NameIndex {
        NameIndex { mask: slots.len().max(1) - 1, slots }
    }

    /// The slots, to save.
    pub(crate) fn slots(&self) -> &Words {
        &self.slots
    }

    /// Values whose name (as `name_of` says) equals `name`.
    pub(crate) fn lookup<'s, F>(&'s self, name: &'s str, name_of: F) -> impl Iterator<Item = u32> + 's
    where
        F: Fn(u32) -> &'s str + 's,
    {
        let mut i = hash(name.as_bytes()) & self.mask;
        let mut done = false;
        // At most every slot once: a table read from a file might have no empty slot.
        let mut left = self.mask + 1;
        std::iter::from_fn(move || {
            while !done {
                let v = self.slots.get(i).unwrap_or(0);
                if v == 0 || left == 0 {
                    done = true;
                    return None;
                }
                left -= 1;
                i = (i + 1) & self.mask;
                if name_of(v) == name {
                    return Some(v);
                }
            }
            None
        })
    }
}
