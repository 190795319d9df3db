//! Copying and comparing short byte strings (text values, keys), fast inside the sandbox.
//!
//! A copy whose length is only known at run time compiles to WebAssembly's `memory.copy`, which
//! the runtime executes as a call out of the guest code: worth it for a batch's buffers, ten
//! times the cost of the copy itself for a 12-byte name. [`append`] copies values of up to 32
//! bytes with a few fixed-size moves instead (overlapping ones, as C libraries' `memcpy` does for
//! short sizes), and longer ones with `memcpy`. Comparing two slices (`==`, `cmp`) calls the
//! C library's `memcmp`, which in the sandbox goes byte by byte; [`equal`] and [`compare`] go 8
//! bytes at a time. Natively all three are about as fast as the standard library's.

use std::cmp::Ordering;

/// Appends `value` to `buffer`; see the module's docs.
#[inline]
pub fn append(buffer: &mut Vec<u8>, value: &[u8]) {
    let len = value.len();
    if len > 32 {
        buffer.extend_from_slice(value);
        return;
    }
    buffer.reserve(32);
    let start = buffer.len();
    let spare = &mut buffer.spare_capacity_mut()[..32];
    // Two copies of a fixed size `N` cover `len` bytes when `N <= len <= 2N`: the first `N`
    // bytes and the last `N`, overlapping in the middle.
    fn pair<const N: usize>(spare: &mut [std::mem::MaybeUninit<u8>], value: &[u8]) {
        let len = value.len();
        let head: [u8; N] = value[..N].try_into().unwrap_or([0; N]);
        let tail: [u8; N] = value[len - N..].try_into().unwrap_or([0; N]);
        for (slot, byte) in spare[..N].iter_mut().zip(head) {
            slot.write(byte);
        }
        for (slot, byte) in spare[len - N..len].iter_mut().zip(tail) {
            slot.write(byte);
        }
    }
    match len {
        0 => {}
        1..=3 => {
            // The first, middle and last bytes cover 1 to 3 bytes.
            spare[0].write(value[0]);
            spare[len / 2].write(value[len / 2]);
            spare[len - 1].write(value[len - 1]);
        }
        4..=7 => pair::<4>(spare, value),
        8..=15 => pair::<8>(spare, value),
        _ => pair::<16>(spare, value),
    }
    // SAFETY: the `len` bytes after `start` were written above (every case covers `0..len`),
    // and `reserve(32)` made room for them.
    unsafe { buffer.set_len(start + len) };
}

/// Whether `a` and `b` hold the same bytes; see the module's docs.
#[inline]
pub fn equal(a: &[u8], b: &[u8]) -> bool {
    let len = a.len();
    if len != b.len() {
        return false;
    }
    match len {
        0 => true,
        1..=3 => a[0] == b[0] && a[len / 2] == b[len / 2] && a[len - 1] == b[len - 1],
        4..=7 => word4(a, 0) == word4(b, 0) && word4(a, len - 4) == word4(b, len - 4),
        _ => {
            let mut differ = 0;
            let mut at = 0;
            while at + 8 <= len {
                differ |= word8(a, at) ^ word8(b, at);
                at += 8;
            }
            differ |= word8(a, len - 8) ^ word8(b, len - 8);
            differ == 0
        }
    }
}

/// `a.cmp(b)`: bytes in order, then the shorter first; see the module's docs.
#[inline]
pub fn compare(a: &[u8], b: &[u8]) -> Ordering {
    let common = a.len().min(b.len());
    let mut at = 0;
    while at + 8 <= common {
        // Big-endian, so that the first differing byte decides.
        let (x, y) = (word8(a, at).swap_bytes(), word8(b, at).swap_bytes());
        if x != y {
            return x.cmp(&y);
        }
        at += 8;
    }
    while at < common {
        if a[at] != b[at] {
            return a[at].cmp(&b[at]);
        }
        at += 1;
    }
    a.len().cmp(&b.len())
}

/// The 8 bytes of `bytes` at `at`, as a little-endian word.
#[inline]
fn word8(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

#[inline]
fn word4(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_and_compare_agree_with_the_standard_library() {
        let mut values: Vec<Vec<u8>> = vec![Vec::new()];
        for len in 1..=20u8 {
            let base: Vec<u8> = (0..len).map(|i| i.wrapping_mul(37)).collect();
            values.push(base.clone());
            // The same length, differing at the first, middle and last byte, up and down.
            for at in [0, usize::from(len / 2), usize::from(len - 1)] {
                for step in [1u8, 255] {
                    let mut other = base.clone();
                    other[at] = other[at].wrapping_add(step);
                    values.push(other);
                }
            }
        }
        for a in &values {
            for b in &values {
                assert_eq!(equal(a, b), a == b, "{a:?} {b:?}");
                assert_eq!(compare(a, b), a.cmp(b), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn appends_every_length_exactly() {
        let source: Vec<u8> = (0..100u8).collect();
        let mut buffer = Vec::new();
        let mut expected = Vec::new();
        for len in 0..=100 {
            let value = &source[100 - len..];
            append(&mut buffer, value);
            expected.extend_from_slice(value);
            assert_eq!(buffer, expected, "after a value of {len} bytes");
        }
    }
}
