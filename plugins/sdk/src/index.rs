//! A hash index from byte strings to dense ids (0, 1, 2, … in order of first insertion).
//!
//! Built for the hot loop of a join or a group-by: the keys live back to back in one buffer and
//! each slot of the open-addressing table carries the key's full hash and position, so a probe
//! touches one slot and, on a hash match, one run of bytes, instead of chasing a pointer to a
//! separately allocated key per comparison. The hash is deterministic (no per-process seed), so
//! runs are reproducible; it is not meant to resist keys crafted to collide.
//!
//! [`KeyIndex`] is the one type here: fill it with [`KeyIndex::insert_many`] (a group-by numbers
//! its groups this way), then probe it with [`KeyIndex::get_many`] (a join looks up its keys).

/// One slot of the table; `id == EMPTY` marks a free one.
#[derive(Debug, Clone, Copy)]
struct Slot {
    hash: u64,
    start: usize,
    len: u32,
    id: u32,
}

const EMPTY: u32 = u32::MAX;
const FREE: Slot = Slot { hash: 0, start: 0, len: 0, id: EMPTY };

/// Byte-string keys → dense `u32` ids.
#[derive(Debug)]
pub struct KeyIndex {
    /// Length a power of two, at most half full.
    slots: Vec<Slot>,
    /// Every key's bytes, in id order.
    bytes: Vec<u8>,
    len: usize,
}

impl Default for KeyIndex {
    fn default() -> Self {
        KeyIndex { slots: vec![FREE; 16], bytes: Vec::new(), len: 0 }
    }
}

/// Keys are looked up this many at a time (see [`KeyIndex::warm`]).
const CHUNK: usize = 256;

impl KeyIndex {
    /// The id of each of `keys`: `None` for a null key or one never inserted.
    pub fn get_many(&self, keys: &[Option<&[u8]>]) -> Vec<Option<u32>> {
        let mut ids = Vec::with_capacity(keys.len());
        let mut hashes = Vec::with_capacity(CHUNK);
        for chunk in keys.chunks(CHUNK) {
            hashes.clear();
            hashes.extend(chunk.iter().map(|key| key.map_or(0, hash)));
            self.warm(&hashes);
            for (key, &hash) in chunk.iter().zip(&hashes) {
                ids.push(key.and_then(|key| self.find(key, hash).ok()));
            }
        }
        ids
    }

    /// The id of each of `keys`, giving each new key the next id, in order; `true` marks the
    /// keys that were new. `None` if a key is longer than 4 GiB or there would be 2^32 - 1 ids.
    pub fn insert_many(&mut self, keys: &[&[u8]]) -> Option<Vec<(u32, bool)>> {
        let mut ids = Vec::with_capacity(keys.len());
        let mut hashes = Vec::with_capacity(CHUNK);
        for chunk in keys.chunks(CHUNK) {
            hashes.clear();
            hashes.extend(chunk.iter().map(|key| hash(key)));
            self.warm(&hashes);
            for (key, &hash) in chunk.iter().zip(&hashes) {
                ids.push(match self.find(key, hash) {
                    Ok(id) => (id, false),
                    Err(free) => (self.place(free, key, hash)?, true),
                });
            }
        }
        Some(ids)
    }

    /// The id of `key` (whose hash is `hash`), or the free slot where it would go.
    fn find(&self, key: &[u8], hash: u64) -> Result<u32, usize> {
        let mask = self.slots.len() - 1;
        let mut at = hash as usize & mask;
        loop {
            let slot = &self.slots[at];
            if slot.id == EMPTY {
                return Err(at);
            }
            if slot.hash == hash && self.bytes_of(slot) == key {
                return Ok(slot.id);
            }
            at = (at + 1) & mask;
        }
    }

    /// Stores `key` in the free slot `at` with the next id.
    fn place(&mut self, at: usize, key: &[u8], hash: u64) -> Option<u32> {
        let id = u32::try_from(self.len).ok().filter(|&id| id != EMPTY)?;
        let len = u32::try_from(key.len()).ok()?;
        self.slots[at] = Slot { hash, start: self.bytes.len(), len, id };
        self.bytes.extend_from_slice(key);
        self.len += 1;
        if self.len * 2 > self.slots.len() {
            self.grow();
        }
        Some(id)
    }

    /// Reads the first slot, and the first byte of its key, that each of `hashes` will probe.
    /// The reads are independent of each other, so the processor overlaps their cache misses;
    /// the probes that follow then find the lines in cache instead of missing one at a time.
    /// This is a portable prefetch (it makes no difference to any result).
    fn warm(&self, hashes: &[u64]) {
        let mask = self.slots.len() - 1;
        let mut sink = 0usize;
        for &hash in hashes {
            sink ^= self.slots[hash as usize & mask].start;
        }
        for &hash in hashes {
            let slot = &self.slots[hash as usize & mask];
            sink ^= usize::from(self.bytes.get(slot.start).copied().unwrap_or(0));
        }
        std::hint::black_box(sink);
    }

    fn bytes_of(&self, slot: &Slot) -> &[u8] {
        self.bytes.get(slot.start..slot.start + slot.len as usize).unwrap_or_default()
    }

    /// Doubles the table, placing every slot again by its stored hash.
    fn grow(&mut self) {
        let doubled = vec![FREE; self.slots.len() * 2];
        let slots = std::mem::replace(&mut self.slots, doubled);
        let mask = self.slots.len() - 1;
        for slot in slots.into_iter().filter(|s| s.id != EMPTY) {
            let mut at = slot.hash as usize & mask;
            while self.slots[at].id != EMPTY {
                at = (at + 1) & mask;
            }
            self.slots[at] = slot;
        }
    }
}

/// A fast 64-bit hash of `bytes`: a multiply-rotate step per 8-byte word, then a full avalanche
/// (MurmurHash3's finalizer), so the low bits used to pick a slot depend on every input bit.
fn hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = (bytes.len() as u64).wrapping_mul(K);
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(word);
        h = (h ^ u64::from_le_bytes(buf)).wrapping_mul(K).rotate_left(31);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut buf = [0u8; 8];
        buf[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(buf)).wrapping_mul(K).rotate_left(31);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_dense_ids_in_insertion_order_across_growth() {
        let keys: Vec<String> = (0..10_000).map(|i| format!("key-{i}")).collect();
        let mut index = KeyIndex::default();
        let mut batch: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
        batch.extend([b"key-42".as_slice(), b"", b"key-7"]);
        let ids = index.insert_many(&batch).unwrap();
        assert!(ids[..10_000].iter().enumerate().all(|(i, &(id, new))| id as usize == i && new));
        assert_eq!(ids[10_000..], [(42, false), (10_000, true), (7, false)]);

        let probes: Vec<Option<&[u8]>> = vec![Some(b"key-9999"), None, Some(b""), Some(b"key-10000"), Some(b"key-4\0")];
        assert_eq!(index.get_many(&probes), [Some(9_999), None, Some(10_000), None, None]);
    }

    #[test]
    fn keys_differing_only_in_padding_are_distinct() {
        let mut index = KeyIndex::default();
        let ids = index.insert_many(&[b"abc", b"abc\0", b"abc\0\0\0\0\0\0", b"abc"]).unwrap();
        assert_eq!(ids, [(0, true), (1, true), (2, true), (0, false)]);
        assert_ne!(hash(b"abc"), hash(b"abc\0"));
    }
}
