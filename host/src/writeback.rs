//! Writeback started as a file grows. The host fsyncs every artifact and Parquet file it finishes
//! (a resumed run trusts them), and by default the kernel only starts writing dirty pages back
//! once gigabytes of them pile up, so the fsync at the end had to wait for the whole file: 1 GB
//! for the enriched orders at 5M orders, 4 s on a 255 MB/s disk, with every stage downstream
//! waiting for the end of that stream. Handing each few megabytes to the disk as soon as they are
//! written (what RocksDB's `bytes_per_sync` does) overlaps the writing with the work, and the
//! final fsync waits for the last few megabytes only.

use std::fs::File;

/// Bytes between two writeback requests.
const STEP: u64 = 8 << 20;

/// Tracks how much of one file has been handed to the disk.
#[derive(Debug, Default)]
pub(crate) struct WriteBehind {
    requested: u64,
}

impl WriteBehind {
    /// `file` now holds `written` bytes: once at least [`STEP`] of them are new, asks the kernel
    /// to start writing them back, without waiting for it.
    pub(crate) fn wrote(&mut self, file: &File, written: u64) {
        if written >= self.requested + STEP {
            start_writeback(file, self.requested, written - self.requested);
            self.requested = written;
        }
    }
}

#[cfg(target_os = "linux")]
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (libc::off64_t::try_from(offset), libc::off64_t::try_from(len)) else { return };
    // SAFETY: the descriptor is open for as long as `file` is borrowed, and
    // SYNC_FILE_RANGE_WRITE only starts writeback of the range's dirty pages. A failure is
    // ignored on purpose: this is a hint, and the fsync when the file is finished reports any
    // error writing it.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File, _offset: u64, _len: u64) {}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::sinks::test_util::Scratch;

    #[test]
    fn asks_every_step_and_leaves_the_file_as_written() {
        let dir = Scratch::new("writeback");
        let path = dir.path().join("f");
        let mut file = File::create(&path).unwrap();
        let mut behind = WriteBehind::default();
        let chunk = vec![7u8; (STEP / 2) as usize];
        let mut written = 0;
        for _ in 0..5 {
            file.write_all(&chunk).unwrap();
            written += chunk.len() as u64;
            behind.wrote(&file, written);
        }
        assert_eq!(behind.requested, 2 * STEP);
        file.sync_data().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), written);
    }
}
