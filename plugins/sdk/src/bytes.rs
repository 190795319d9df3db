//! Appending short byte strings (text values, keys) to a buffer, fast inside the sandbox.
//!
//! A copy whose length is only known at run time compiles to WebAssembly's `memory.copy`, which
//! the runtime executes as a call out of the guest code: worth it for a batch's buffers, ten
//! times the cost of the copy itself for a 12-byte name. [`append`] copies values of up to 32
//! bytes with a few fixed-size moves instead (overlapping ones, as C libraries' `memcpy` does for
//! short sizes), and longer ones with `memcpy`. Natively it is about as fast as
//! `extend_from_slice`.

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

#[cfg(test)]
mod tests {
    use super::*;

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
