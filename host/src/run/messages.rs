//! An artifact's IPC messages, one at a time, as Arrow buffers over the file's pages.
//!
//! Reading a message into memory costs a fresh allocation for its body (tens of megabytes per
//! batch: mapped, zeroed and faulted in page by page, then unmapped when the batch is dropped)
//! and a copy out of the page cache, where the stage upstream has just written it. Mapping the
//! message instead makes the page cache's pages the batch's buffers: no zeroing, no copy. Each
//! message gets its own mapping, released with the last array that uses it, so a reader holds
//! the pages of the batches it holds and not the file it has read.
//!
//! Artifact files are only ever appended to, and a new attempt at a stage deletes its files and
//! creates new ones ([`super::artifacts::Artifacts::reset_stage`]): a mapped file is never
//! truncated under its reader, which would fault on the pages cut off.

use std::fs::File;
use std::io;
use std::sync::Arc;

use arrow_buffer::Buffer;
use etl_format::ipc::{Prefix, message_info, message_prefix};

/// Messages smaller than this are read, not mapped: a mapping costs two system calls and a page.
const MAP_FROM: usize = 64 << 10;

/// The framing of the message at some offset of a stream file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Frame {
    /// The whole message's bytes: its prefix, metadata and body.
    pub len: u64,
    /// The rows of a record batch message.
    pub rows: Option<u64>,
    /// The end-of-stream marker.
    pub end: bool,
}

/// Reads the framing of the message at `offset` of `file`, of which the first `available`
/// bytes may be read: its prefix, then its metadata (the SDK's [`message_prefix`] and
/// [`message_info`], as plugins frame what they are pushed). `None` at `available`.
pub(crate) fn frame_at(file: &File, offset: u64, available: u64) -> io::Result<Option<Frame>> {
    if offset >= available {
        return Ok(None);
    }
    let truncated = || io::Error::new(io::ErrorKind::UnexpectedEof, "truncated stream");
    let mut head = [0u8; 8];
    let head = &mut head[..(available - offset).min(8) as usize];
    read_at(file, head, offset)?;
    let (prefix, metadata) = match message_prefix(head).map_err(io::Error::other)?.ok_or_else(truncated)? {
        Prefix::End { len } => return Ok(Some(Frame { len: len as u64, rows: None, end: true })),
        Prefix::Message { len, metadata } => (len as u64, metadata),
    };
    if offset + prefix + metadata as u64 > available {
        return Err(truncated());
    }
    let mut bytes = vec![0u8; metadata];
    read_at(file, &mut bytes, offset + prefix)?;
    let info = message_info(&bytes).map_err(io::Error::other)?;
    let len = prefix + metadata as u64 + info.body_len as u64;
    if offset + len > available {
        return Err(truncated());
    }
    Ok(Some(Frame { len, rows: info.rows, end: false }))
}

/// Bytes `offset..offset + len` of `file` as one buffer: mapped if large, else read.
pub(crate) fn load(file: &File, offset: u64, len: u64) -> io::Result<Buffer> {
    let len = usize::try_from(len).map_err(|_| io::Error::other("message too large for this machine"))?;
    #[cfg(unix)]
    if len >= MAP_FROM {
        return map(file, offset, len);
    }
    let mut bytes = vec![0u8; len];
    read_at(file, &mut bytes, offset)?;
    Ok(Buffer::from_vec(bytes))
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(not(unix))]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = file;
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buf)
}

/// A read-only shared mapping of part of a file, unmapped when the last buffer slicing it is
/// dropped.
#[cfg(unix)]
#[derive(Debug)]
struct Mapping {
    // An address, not a pointer: the mapping is immutable and owned by this value alone, so it
    // may be shared and sent between threads.
    address: usize,
    len: usize,
}

#[cfg(unix)]
impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `address..address + len` is a mapping this value made and nothing else unmaps;
        // every buffer over it holds an `Arc` to this value, so none is left.
        unsafe {
            libc::munmap(self.address as *mut libc::c_void, self.len);
        }
    }
}

#[cfg(unix)]
fn map(file: &File, offset: u64, len: usize) -> io::Result<Buffer> {
    use std::os::fd::AsRawFd;
    use std::ptr::NonNull;

    // SAFETY: sysconf has no preconditions.
    let page = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096).max(1);
    let start = offset - offset % page;
    let skip = (offset - start) as usize;
    let mapped_len = skip + len;
    let file_offset = libc::off_t::try_from(start).map_err(|_| io::Error::other("offset too large to map"))?;
    // SAFETY: a new read-only mapping at an address the kernel chooses; nothing else is touched.
    let address = unsafe {
        libc::mmap(std::ptr::null_mut(), mapped_len, libc::PROT_READ, libc::MAP_SHARED, file.as_raw_fd(), file_offset)
    };
    if address == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let mapping = Arc::new(Mapping { address: address as usize, len: mapped_len });
    let pointer = NonNull::new(address.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))?;
    // SAFETY: the mapping is `mapped_len` readable bytes, none of them beyond the end of the file
    // (the caller read the message's framing within it), and stays mapped for as long as the
    // buffer or any slice of it holds `mapping`. The file is never truncated while read (see the
    // module's docs).
    let buffer = unsafe { Buffer::from_custom_allocation(pointer, mapped_len, mapping) };
    Ok(buffer.slice(skip))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::sinks::test_util::Scratch;

    #[test]
    fn loads_small_ranges_by_reading_and_large_ones_by_mapping_with_the_same_bytes() {
        let scratch = Scratch::new("messages");
        let path = scratch.path().join("f");
        let bytes: Vec<u8> = (0..3 * MAP_FROM as u32).map(|i| (i % 251) as u8).collect();
        File::create(&path).unwrap().write_all(&bytes).unwrap();
        let file = File::open(&path).unwrap();
        for (offset, len) in [(0, 10), (5, MAP_FROM), (4097, 2 * MAP_FROM), (0, bytes.len())] {
            let buffer = load(&file, offset as u64, len as u64).unwrap();
            assert_eq!(buffer.as_slice(), &bytes[offset..offset + len], "{offset}+{len}");
        }
        assert_eq!(frame_at(&file, bytes.len() as u64, bytes.len() as u64).unwrap(), None);
    }
}
