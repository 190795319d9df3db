//! The generator's randomness: SplitMix64, named streams derived from the seed, and exact
//! sampling of distinct row indices.
//!
//! Everything here is part of the byte-stability contract: changing a constant, a stream tag or
//! the order of draws changes every generated file.

use std::collections::BTreeSet;

/// The golden-ratio increment of SplitMix64.
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 output function (Stafford's "Mix13" variant): a bijection on `u64` with full
/// avalanche, used both to produce outputs and to derive seeds.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// SplitMix64 (Steele, Lea and Flood, 2014), the generator of Java's `SplittableRandom`: small,
/// fast, statistically sound for data generation, and fully specified by the few lines below.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The generator of stream `tag` of a seed. Streams are independent of each other, so adding
    /// a stream never changes what another one draws.
    pub fn stream(seed: u64, tag: u64) -> Self {
        SplitMix64::new(stream_key(seed, tag))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        mix64(self.state)
    }

    /// A uniform integer in `0..n` (`n > 0`), without modulo bias (Lemire's multiply-and-reject).
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0, "below(0) is empty; this is a bug");
        let mut product = u128::from(self.next_u64()) * u128::from(n);
        if (product as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (product as u64) < threshold {
                product = u128::from(self.next_u64()) * u128::from(n);
            }
        }
        (product >> 64) as u64
    }

    /// A uniform integer in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// A uniform element of a non-empty slice.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// True with probability `percent / 100`.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The stream tags. They are part of the byte-stability contract.
pub(crate) mod stream {
    pub const CUSTOMER_ROWS: u64 = 1;
    pub const PRODUCT_ROWS: u64 = 2;
    pub const ORDER_ROWS: u64 = 3;
    /// Row selection of a file's defect kinds: the kind's index in the file's kind list is added.
    pub const CUSTOMER_DEFECTS: u64 = 100;
    pub const PRODUCT_DEFECTS: u64 = 200;
    pub const ORDER_DEFECTS: u64 = 300;
}

fn stream_key(seed: u64, tag: u64) -> u64 {
    mix64(seed ^ mix64(tag.wrapping_mul(GAMMA)))
}

/// One generator per row of a stream: rows can be regenerated in any order, which is how a
/// duplicate learns about the row it copies without the generator keeping rows around.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowStreams {
    key: u64,
}

impl RowStreams {
    pub fn new(seed: u64, tag: u64) -> Self {
        RowStreams { key: stream_key(seed, tag) }
    }

    pub fn at(&self, index: u64) -> SplitMix64 {
        SplitMix64::new(mix64(self.key.wrapping_add(mix64(index.wrapping_add(1)))))
    }
}

/// `k` distinct indices drawn uniformly from `lo..n` minus `excluded` (sorted ascending, any
/// values), returned in ascending order. `k` is capped at the number of candidates.
///
/// Floyd's algorithm samples `k` ranks among the candidates in O(k log k) draws and memory;
/// ranks are then mapped to indices by walking the excluded list once.
pub(crate) fn sample_sorted(rng: &mut SplitMix64, k: u64, lo: u64, n: u64, excluded: &[u64]) -> Vec<u64> {
    let excluded: Vec<u64> = excluded.iter().copied().filter(|&e| lo <= e && e < n).collect();
    let candidates = n.saturating_sub(lo) - excluded.len() as u64;
    let k = k.min(candidates);
    let mut ranks = BTreeSet::new();
    for j in candidates - k..candidates {
        let t = rng.below(j + 1);
        if !ranks.insert(t) {
            ranks.insert(j);
        }
    }
    // The r-th candidate v satisfies v = lo + r + |{e in excluded : e < v}|.
    let mut skipped = 0;
    ranks
        .into_iter()
        .map(|rank| {
            while skipped < excluded.len() && excluded[skipped] <= lo + rank + skipped as u64 {
                skipped += 1;
            }
            lo + rank + skipped as u64
        })
        .collect()
}

/// Ascending iteration over a sorted index set, one row at a time.
#[derive(Debug)]
pub(crate) struct Cursor<'a> {
    indices: &'a [u64],
    next: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(indices: &'a [u64]) -> Self {
        Cursor { indices, next: 0 }
    }

    /// Whether `row` is in the set; rows must be asked about in ascending order.
    pub fn hit(&mut self, row: u64) -> bool {
        if self.indices.get(self.next) == Some(&row) {
            self.next += 1;
            true
        } else {
            false
        }
    }
}

/// Whether the sorted `indices` contain `row`.
pub(crate) fn contains(indices: &[u64], row: u64) -> bool {
    indices.binary_search(&row).is_ok()
}

/// `round(rate × n)` for a rate in parts per 10,000, half away from zero, in exact arithmetic.
pub(crate) fn count_at_rate(per_10k: u64, n: u64) -> u64 {
    ((u128::from(n) * u128::from(per_10k) + 5_000) / 10_000) as u64
}
