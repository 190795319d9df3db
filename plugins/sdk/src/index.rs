//! A hash index from byte strings to dense ids (0, 1, 2, … in order of first insertion).
//!
//! Built for the hot loop of a join or a group-by, and to be small. The keys live back to back in
//! one buffer, each as a record of its id, its length and its bytes. The open-addressing table
//! holds 8-byte slots, 32 bits of the key's hash and where its record starts, and is kept at most
//! 3/4 full. A probe reads consecutive slots (eight to a cache line) and, on a hash match, one
//! record, instead of chasing a pointer to a separately allocated key per comparison. That comes
//! to 11-21 bytes of table and 5 bytes of record header per key, plus the key itself. The hash
//! is deterministic (no per-process seed), so runs are reproducible; it is not meant to resist
//! keys crafted to collide.
//!
//! [`KeyIndex`] is the one type here: fill it with [`KeyIndex::insert_many`] (a group-by numbers
//! its groups this way), then probe it with [`KeyIndex::get_many`] (a join looks up its keys).

/// One slot of the table: 32 bits of a key's hash, which also pick the slot, and where the key's
/// record starts in [`KeyIndex::records`]; `at == EMPTY` marks a free slot.
#[derive(Debug, Clone, Copy)]
struct Slot {
    hash: u32,
    at: u32,
}

const EMPTY: u32 = u32::MAX;
const FREE: Slot = Slot { hash: 0, at: EMPTY };

/// The most bytes of a record besides the key: the id, and the key's length in LEB128 (one byte
/// below 128).
const MAX_HEADER: usize = 4 + 10;

/// Byte-string keys → dense `u32` ids.
#[derive(Debug)]
pub struct KeyIndex {
    /// Length a power of two, at most 3/4 full.
    slots: Vec<Slot>,
    /// One record per key, in id order: the id (4 bytes, little-endian), the key's length
    /// (LEB128), the key's bytes. Kept under 4 GiB, so that [`Slot::at`] can point anywhere in it.
    records: Vec<u8>,
    len: u32,
}

impl Default for KeyIndex {
    fn default() -> Self {
        KeyIndex { slots: vec![FREE; 16], records: Vec::new(), len: 0 }
    }
}

/// Keys are looked up this many at a time (see [`KeyIndex::warm`]).
const CHUNK: usize = 256;

impl KeyIndex {
    /// The id of each of `keys`: `None` for a null key or one never inserted.
    pub fn get_many(&self, keys: &[Option<&[u8]>]) -> Vec<Option<u32>> {
        self.get_many_by(keys, hash)
    }

    /// The id of each of `keys`, giving each new key the next id, in order; `true` marks the
    /// keys that were new. `None` once the keys would take 4 GiB (their bytes and 5 more each,
    /// so fewer than 2^32 - 1 ids); the keys before that one stay inserted.
    pub fn insert_many(&mut self, keys: &[&[u8]]) -> Option<Vec<(u32, bool)>> {
        self.insert_many_by(keys, hash)
    }

    /// The bytes of heap this index holds: its table and its keys, spare capacity included.
    pub fn memory_bytes(&self) -> usize {
        self.slots.capacity() * size_of::<Slot>() + self.records.capacity()
    }

    /// [`KeyIndex::get_many`] with `hash` as the hash function.
    fn get_many_by(&self, keys: &[Option<&[u8]>], hash: impl Fn(&[u8]) -> u32) -> Vec<Option<u32>> {
        let mut ids = Vec::with_capacity(keys.len());
        let mut hashes = Vec::with_capacity(CHUNK);
        for chunk in keys.chunks(CHUNK) {
            hashes.clear();
            hashes.extend(chunk.iter().map(|key| key.map_or(0, &hash)));
            self.warm(&hashes);
            for (key, &hash) in chunk.iter().zip(&hashes) {
                ids.push(key.and_then(|key| self.find(key, hash).ok()));
            }
        }
        ids
    }

    /// [`KeyIndex::insert_many`] with `hash` as the hash function.
    fn insert_many_by(&mut self, keys: &[&[u8]], hash: impl Fn(&[u8]) -> u32) -> Option<Vec<(u32, bool)>> {
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
    fn find(&self, key: &[u8], hash: u32) -> Result<u32, usize> {
        let mask = self.slots.len() - 1;
        let mut at = hash as usize & mask;
        loop {
            let slot = self.slots[at];
            if slot.at == EMPTY {
                return Err(at);
            }
            if slot.hash == hash {
                let (id, stored) = self.record(slot.at);
                if crate::bytes::equal(stored, key) {
                    return Ok(id);
                }
            }
            at = (at + 1) & mask;
        }
    }

    /// The id and the key of the record at `at`.
    fn record(&self, at: u32) -> (u32, &[u8]) {
        let at = at as usize;
        let id = u32::from_le_bytes(self.records[at..at + 4].try_into().expect("4 bytes"));
        let (mut len, mut shift, mut next) = (0usize, 0, at + 4);
        loop {
            let byte = self.records[next];
            next += 1;
            len |= usize::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return (id, &self.records[next..next + len]);
            }
            shift += 7;
        }
    }

    /// Stores `key` in the free slot `at` with the next id.
    fn place(&mut self, at: usize, key: &[u8], hash: u32) -> Option<u32> {
        // Fewer than 2^32 / 5 records fit in 4 GiB: the bytes run out before the ids do.
        let start = record_start(self.records.len(), key.len())?;
        let id = self.len;
        self.records.extend_from_slice(&id.to_le_bytes());
        let mut len = key.len();
        while len >= 0x80 {
            self.records.push((len & 0x7f) as u8 | 0x80);
            len >>= 7;
        }
        self.records.push(len as u8);
        crate::bytes::append(&mut self.records, key);
        self.slots[at] = Slot { hash, at: start };
        self.len += 1;
        // With fewer than 2^32 / 5 keys the table stays below 2^32 slots, so the 32-bit hash
        // reaches every slot.
        if self.len as usize > self.slots.len() / 4 * 3 {
            self.grow();
        }
        Some(id)
    }

    /// Reads the first slot that each of `hashes` will probe, then, for each, the record of the
    /// first slot of its probe whose hash matches. The reads of one round are independent of
    /// each other, so the processor overlaps their cache misses; the probes that follow then
    /// find the lines in cache instead of missing one at a time. This is a portable prefetch (it
    /// makes no difference to any result).
    fn warm(&self, hashes: &[u32]) {
        let mask = self.slots.len() - 1;
        let mut sink = 0u32;
        for &hash in hashes {
            sink ^= self.slots[hash as usize & mask].at;
        }
        for &hash in hashes {
            let mut at = hash as usize & mask;
            loop {
                let slot = self.slots[at];
                if slot.at == EMPTY {
                    break;
                }
                if slot.hash == hash {
                    sink ^= u32::from(self.records[slot.at as usize]);
                    break;
                }
                at = (at + 1) & mask;
            }
        }
        std::hint::black_box(sink);
    }

    /// Doubles the table, placing every slot again by its stored hash.
    fn grow(&mut self) {
        let doubled = vec![FREE; self.slots.len() * 2];
        let slots = std::mem::replace(&mut self.slots, doubled);
        let mask = self.slots.len() - 1;
        for slot in slots.into_iter().filter(|s| s.at != EMPTY) {
            let mut at = slot.hash as usize & mask;
            while self.slots[at].at != EMPTY {
                at = (at + 1) & mask;
            }
            self.slots[at] = slot;
        }
    }
}

/// Where the record of a `key_len`-byte key starts when `used` bytes of records precede it, if
/// the records still fit in 4 GiB with it (so no record starts at `EMPTY`).
fn record_start(used: usize, key_len: usize) -> Option<u32> {
    let end = used.checked_add(MAX_HEADER)?.checked_add(key_len)?;
    u32::try_from(end).ok().and(u32::try_from(used).ok())
}

/// A fast hash of `bytes`: a multiply-rotate step per 8-byte word, then a full avalanche
/// (MurmurHash3's 64-bit finalizer), of which the high half is kept: its low bits, which pick a
/// slot, depend on every input bit.
fn hash(bytes: &[u8]) -> u32 {
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
    ((h ^ (h >> 33)) >> 32) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slices(keys: &[Vec<u8>]) -> Vec<&[u8]> {
        keys.iter().map(Vec::as_slice).collect()
    }

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

    #[test]
    fn many_keys_survive_many_growths_in_batches() {
        let keys: Vec<Vec<u8>> = (0..300_000u32).map(|i| format!("ORD-{i:010}").into_bytes()).collect();
        let mut index = KeyIndex::default();
        for (n, batch) in keys.chunks(7_919).enumerate() {
            let ids = index.insert_many(&slices(batch)).unwrap();
            let first = (n * 7_919) as u32;
            assert!(ids.iter().zip(first..).all(|(&found, id)| found == (id, true)));
        }
        // 300k keys at most 3/4 full: 2^19 slots, grown 15 times from 16.
        assert_eq!(index.slots.len(), 1 << 19);

        let again = index.insert_many(&slices(&keys)).unwrap();
        assert!(again.iter().zip(0..).all(|(&found, id)| found == (id, false)));
        let mut probes: Vec<Option<&[u8]>> = keys.iter().rev().map(|key| Some(key.as_slice())).collect();
        probes.extend([Some(b"ORD-0000300000".as_slice()), Some(b"ORD-000000000"), None]);
        let found = index.get_many(&probes);
        assert!(found[..300_000].iter().zip((0..300_000).rev()).all(|(&found, id)| found == Some(id)));
        assert_eq!(found[300_000..], [None, None, None]);
    }

    #[test]
    fn keys_sharing_a_hash_are_told_apart_by_their_bytes() {
        // Every key has the same 32-bit hash: one cluster, rehashed through several growths.
        let keys: Vec<Vec<u8>> = [b"".as_slice(), b"a", b"a\0", b"ab", b"b"]
            .map(<[u8]>::to_vec)
            .into_iter()
            .chain((0..200u32).map(|i| i.to_le_bytes().to_vec()))
            .collect();
        let same = |_: &[u8]| 0xDEAD_BEEF;
        let mut index = KeyIndex::default();
        let ids = index.insert_many_by(&slices(&keys), same).unwrap();
        assert!(ids.iter().zip(0..).all(|(&found, id)| found == (id, true)));
        assert!(index.slots.len() > 16);

        let ids = index.insert_many_by(&slices(&keys), same).unwrap();
        assert!(ids.iter().zip(0..).all(|(&found, id)| found == (id, false)));
        let probes = [Some(b"a".as_slice()), Some(b""), Some(b"ab\0"), None, Some(&7u32.to_le_bytes())];
        assert_eq!(index.get_many_by(&probes, same), [Some(1), Some(0), None, None, Some(12)]);
        // Under their real hashes the keys are in other slots: not found, not confused.
        assert_eq!(index.get_many(&probes[..2]), [None, None]);
    }

    #[test]
    fn keys_sharing_a_home_slot_but_not_a_hash_are_distinct() {
        // The hashes differ only above the bits that pick the slot, at every table size here.
        let keys: Vec<Vec<u8>> = (0..100u32).map(|i| i.to_le_bytes().to_vec()).collect();
        let high = |key: &[u8]| u32::from_le_bytes(key.try_into().unwrap()) << 24 | 5;
        let mut index = KeyIndex::default();
        let ids = index.insert_many_by(&slices(&keys), high).unwrap();
        assert!(ids.iter().zip(0..).all(|(&found, id)| found == (id, true)));
        let probes: Vec<Option<&[u8]>> = keys.iter().map(|key| Some(key.as_slice())).collect();
        assert!(index.get_many_by(&probes, high).iter().zip(0..).all(|(&found, id)| found == Some(id)));
    }

    #[test]
    fn empty_and_null_keys() {
        let mut index = KeyIndex::default();
        assert_eq!(index.get_many(&[None, Some(b"")]), [None, None]);
        assert_eq!(index.insert_many(&[b"x", b"", b""]).unwrap(), [(0, true), (1, true), (1, false)]);
        // A null key is never found, not even with an empty key present.
        assert_eq!(index.get_many(&[None, Some(b""), Some(b"x")]), [None, Some(1), Some(0)]);
        assert_eq!(index.insert_many(&[]).unwrap(), []);
    }

    #[test]
    fn long_keys_keep_their_length() {
        let keys: Vec<Vec<u8>> = [0, 1, 127, 128, 129, 16_383, 16_384, 100_000].map(|len| vec![b'k'; len]).to_vec();
        let mut index = KeyIndex::default();
        let ids = index.insert_many(&slices(&keys)).unwrap();
        assert!(ids.iter().zip(0..).all(|(&found, id)| found == (id, true)));
        let probes: Vec<Option<&[u8]>> =
            keys.iter().map(|key| Some(key.as_slice())).chain([Some(&[b'k'; 130][..])]).collect();
        assert_eq!(
            index.get_many(&probes),
            [Some(0), Some(1), Some(2), Some(3), Some(4), Some(5), Some(6), Some(7), None]
        );
    }

    #[test]
    fn records_stop_short_of_4_gib() {
        let max = u32::MAX as usize;
        assert_eq!(record_start(0, 12), Some(0));
        assert_eq!(record_start(1000, 12), Some(1000));
        assert_eq!(record_start(max - 14 - 12, 12), Some(u32::MAX - 26));
        assert_eq!(record_start(max - 14 - 11, 12), None);
        assert_eq!(record_start(0, max), None);
        assert_eq!(record_start(usize::MAX - 3, 1), None);
    }

    #[test]
    fn a_million_12_byte_keys_take_under_40_bytes_each() {
        let keys: Vec<Vec<u8>> = (0..1_000_000u32).map(|i| format!("K-{i:010}").into_bytes()).collect();
        assert_eq!(keys[0].len(), 12);
        let mut index = KeyIndex::default();
        for batch in keys.chunks(65_536) {
            index.insert_many(&slices(batch)).unwrap();
        }
        let per_key = index.memory_bytes() as f64 / keys.len() as f64;
        assert!(per_key < 40.0, "{per_key:.1} bytes per key");
    }
}
