//! Re-reading records by their byte offset, so that rows rejected by a stage after ingestion can
//! be quarantined with their text as read (settled detail 21): [`read_raw_records`].
//!
//! The records are read with the same reader as ingestion, so a field here is exactly the field
//! ingestion saw. A seek lands one byte before the record, on the line feed that ends the record
//! (or blank line) before it: the reader skips it as a blank line, which also keeps a record that
//! happens to start with the bytes of a BOM from losing them.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::path::Path;

use super::csv::{ReadError, Record, RecordReader};
use super::{CsvSchema, IngestError, MAX_RECORD_BYTES_LIMIT};

/// The read buffer of one seek: records are short, and a longer one grows it.
const SEEK_BUFFER_BYTES: usize = 64 << 10;
/// How far ahead the next offset may be for the reader to read on to it rather than seek.
const READ_ON_BYTES: u64 = 1 << 20;

/// One record read again: its text as in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// The record without its line terminator (lossy UTF-8), line breaks of quoted fields included.
    pub raw_line: String,
    /// One entry per declared column: the field as read (unquoted, unescaped, lossy UTF-8), `None`
    /// for an empty field or a missing one.
    pub fields: Vec<Option<String>>,
}

/// Reads the records starting at `offsets` (the `_offset` column of ingested rows) from the CSV
/// file at `path`, and returns them in the order of `offsets`.
///
/// The offsets are sorted internally and read in one pass, seeking over long gaps; an offset may
/// repeat. The file must be the one ingested, unchanged: an offset where no record starts (0, the
/// header's, or past the end) is an [`IngestError::Io`] with kind `InvalidData`.
pub fn read_raw_records(path: &Path, schema: &CsvSchema, offsets: &[u64]) -> Result<Vec<RawRecord>, IngestError> {
    let io_error = |source| IngestError::Io { path: path.to_owned(), source };
    let invalid = |message: String| io_error(io::Error::new(io::ErrorKind::InvalidData, message));
    let no_record = |offset: u64| {
        invalid(format!("no record starts at byte {offset} (has the file changed since it was ingested?)"))
    };

    let mut order: Vec<usize> = (0..offsets.len()).collect();
    order.sort_unstable_by_key(|&index| offsets[index]);
    let mut found: Vec<Option<RawRecord>> = vec![None; offsets.len()];
    if offsets.is_empty() {
        return Ok(Vec::new());
    }
    let file = File::open(path).map_err(io_error)?;
    // The reader, and the file offset its reading started at.
    let mut current: Option<(u64, RecordReader<&File>)> = None;
    let mut last: Option<(u64, usize)> = None;

    for index in order {
        let target = offsets[index];
        if let Some((offset, earlier)) = last
            && offset == target
        {
            found[index] = found[earlier].clone();
            continue;
        }
        let read_on = current.as_ref().is_some_and(|(base, reader)| {
            let position = base + reader.consumed();
            target >= position && target - position <= READ_ON_BYTES
        });
        // Start one byte early: a record starts after a line end, and if `target` is not such a
        // place the record read there won't start at `target`.
        let Some(before) = target.checked_sub(1) else { return Err(no_record(target)) };
        if !read_on {
            (&file).seek(SeekFrom::Start(before)).map_err(io_error)?;
            current = Some((before, RecordReader::new(&file, SEEK_BUFFER_BYTES, MAX_RECORD_BYTES_LIMIT)));
        }
        let Some((base, reader)) = current.as_mut() else {
            return Err(invalid("the raw record reader is missing (this is a bug)".to_owned()));
        };
        // Close ahead: move through the buffer (or read on) without parsing the records between.
        if read_on && before >= *base + reader.consumed() {
            reader.skip_to(before - *base).map_err(io_error)?;
        }
        loop {
            match reader.next_record() {
                Ok(Some(record)) => match (*base + record.offset).cmp(&target) {
                    std::cmp::Ordering::Less => continue,
                    std::cmp::Ordering::Equal => {
                        found[index] = Some(raw_record(&record, schema.columns.len()));
                        break;
                    }
                    std::cmp::Ordering::Greater => return Err(no_record(target)),
                },
                Ok(None) => return Err(no_record(target)),
                Err(ReadError::Io(source)) => return Err(io_error(source)),
                Err(ReadError::TooLarge { .. }) => {
                    return Err(invalid(format!(
                        "the record at byte {target} is longer than {MAX_RECORD_BYTES_LIMIT} bytes"
                    )));
                }
            }
        }
        last = Some((target, index));
    }
    found
        .into_iter()
        .map(|record| record.ok_or_else(|| invalid("a raw record was not read (this is a bug)".to_owned())))
        .collect()
}

/// `record`'s text, with `columns` fields: the first ones in order if it has too many, `None` for
/// the missing ones if too few (as ingestion's quarantine keeps them).
fn raw_record(record: &Record<'_>, columns: usize) -> RawRecord {
    let fields = (0..columns)
        .map(|index| {
            let field = if index < record.len() { record.field(index) } else { &[] };
            (!field.is_empty()).then(|| String::from_utf8_lossy(field).into_owned())
        })
        .collect();
    RawRecord { raw_line: String::from_utf8_lossy(record.raw).into_owned(), fields }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::ingest::{Column, ColumnType, IngestOptions, OFFSET_COLUMN, ingest};
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;

    fn schema() -> CsvSchema {
        CsvSchema::new(vec![
            Column::new("id", ColumnType::Utf8),
            Column::new("note", ColumnType::Utf8),
            Column::new("n", ColumnType::Int64),
        ])
    }

    fn file(name: &str, contents: &[u8]) -> PathBuf {
        let path = std::env::temp_dir().join(format!("host-ingest-raw-{}-{name}.csv", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// The `_offset` of every valid row, as ingestion reports them.
    fn ingested_offsets(path: &Path) -> Vec<u64> {
        let mut offsets = Vec::new();
        ingest(path, &schema(), &IngestOptions::default(), |batch| {
            let column = batch.valid.column_by_name(OFFSET_COLUMN).unwrap().as_primitive::<Int64Type>();
            offsets.extend(column.values().iter().map(|&offset| offset as u64));
            Ok::<_, IngestError>(())
        })
        .unwrap();
        offsets
    }

    fn record(raw_line: &str, fields: [Option<&str>; 3]) -> RawRecord {
        RawRecord { raw_line: raw_line.to_owned(), fields: fields.map(|field| field.map(str::to_owned)).to_vec() }
    }

    #[test]
    fn records_are_read_again_by_offset_in_the_order_asked() {
        let text = "\u{feff}id,note,n\r\n\"a1\",\"two\r\nlines, \"\"quoted\"\"\",1\r\n\r\n\u{feff}b2,,2\nc3, spaced ,3";
        let path = file("order", text.as_bytes());
        let offsets = ingested_offsets(&path);
        assert_eq!(offsets.len(), 3);
        let a = record(
            "\"a1\",\"two\r\nlines, \"\"quoted\"\"\",1",
            [Some("a1"), Some("two\r\nlines, \"quoted\""), Some("1")],
        );
        // A record starting with the BOM's bytes keeps them.
        let b = record("\u{feff}b2,,2", [Some("\u{feff}b2"), None, Some("2")]);
        let c = record("c3, spaced ,3", [Some("c3"), Some(" spaced "), Some("3")]);
        let asked = [offsets[2], offsets[0], offsets[2], offsets[1]];
        let read = read_raw_records(&path, &schema(), &asked).unwrap();
        assert_eq!(read, [c.clone(), a, c, b]);
        assert_eq!(read_raw_records(&path, &schema(), &[]).unwrap(), []);
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn far_apart_records_are_reached_by_seeking() {
        let filler = format!("{}\n", "x,y,0\n".repeat(400_000));
        let text = format!("id,note,n\nfirst,,1\n{filler}last,\"q\",9\n");
        let path = file("far", text.as_bytes());
        let first = "id,note,n\n".len() as u64;
        let last = (text.len() - "last,\"q\",9\n".len()) as u64;
        let read = read_raw_records(&path, &schema(), &[last, first]).unwrap();
        assert_eq!(
            read,
            [
                record("last,\"q\",9", [Some("last"), Some("q"), Some("9")]),
                record("first,,1", [Some("first"), None, Some("1")])
            ]
        );
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn near_records_are_reached_by_skipping_across_buffer_refills() {
        // 10,000 records of 16 bytes: about 160 KB, so skips cross the 64 KB buffer.
        let mut text = String::from("id,note,n\n");
        let mut offsets = Vec::new();
        for i in 0..10_000 {
            offsets.push(text.len() as u64);
            text.push_str(&format!("r{i:05},\"n\",{:04}\n", i % 10_000));
        }
        let path = file("near", text.as_bytes());
        let wanted = [0, 1, 4_999, 5_000, 9_999];
        let read = read_raw_records(&path, &schema(), &wanted.map(|i| offsets[i])).unwrap();
        let expected = wanted.map(|i| {
            let (id, n) = (format!("r{i:05}"), format!("{:04}", i % 10_000));
            record(&format!("{id},\"n\",{n}"), [Some(&id), Some("n"), Some(&n)])
        });
        assert_eq!(read, expected);
        // Skipped to, but not a record start: still refused.
        let error = read_raw_records(&path, &schema(), &[offsets[0], offsets[5_000] + 3]).unwrap_err();
        assert!(error.to_string().contains("no record starts at byte"), "{error}");
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn an_offset_where_no_record_starts_is_an_error() {
        let path = file("bad", b"id,note,n\nab,c,1\n");
        for offset in [0, 11, 17, 400] {
            let error = read_raw_records(&path, &schema(), &[offset]).unwrap_err();
            assert!(
                error.to_string().ends_with(&format!(
                    "no record starts at byte {offset} (has the file changed since it was ingested?)"
                )),
                "{error}"
            );
        }
        let missing = std::env::temp_dir().join("host-ingest-raw-missing.csv");
        assert!(matches!(read_raw_records(&missing, &schema(), &[10]), Err(IngestError::Io { .. })));
        std::fs::remove_file(path).unwrap();
    }
}
