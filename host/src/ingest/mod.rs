//! Native CSV → Arrow ingestion: what a pipeline's `ingest:` stages run (for the e-commerce
//! pipeline, the spec's stage 1 and settled details 1-7, 16 and 21).
//!
//! [`IngestReader`] streams a CSV file into [`IngestBatch`]es of at most
//! [`IngestOptions::batch_rows`] records and about [`IngestOptions::batch_bytes`] of the file:
//! the rows that parse against the declared [`CsvSchema`] go to `valid` (typed, with `_line` and
//! `_offset` to find the record again), the rows that don't go to `rejected`, already in the
//! quarantine layout with reason `parse_error` and a message naming every bad column and value.
//! Only a file that can't be read, is empty or whose header differs from the declared columns
//! fails the stage.
//!
//! Memory stays bounded by the batch size and the read buffer (1 MiB, growing only for a record
//! longer than that, up to [`IngestOptions::max_record_bytes`]); the file is never loaded whole.
//!
//! The grammar is strict: see [`ColumnType`] for values, and `csv.rs` for records. Two points
//! the spec leaves open are settled here: a decimal needs digits on both sides of a dot (`.5`
//! and `5.` are errors) and leading zeros don't count against its integer digits (`000012.50`
//! is a decimal(10,2)); and a record whose fields aren't valid UTF-8 is rejected
//! (`name: invalid UTF-8 in 'Caf�'`), its text kept with replacement characters.
//!
//! ```no_run
//! use host::ingest::{Column, ColumnType, CsvSchema, IngestOptions, ingest};
//!
//! let schema = CsvSchema::new(vec![
//!     Column::new("customer_id", ColumnType::Utf8),
//!     Column::new("signup_date", ColumnType::Date),
//! ]);
//! let stats = ingest("customers.csv".as_ref(), &schema, &IngestOptions::new("ingest_customers"), |batch| {
//!     println!("{} valid, {} rejected", batch.valid.num_rows(), batch.rejected.num_rows());
//!     Ok::<_, anyhow::Error>(())
//! })?;
//! assert_eq!(stats.rows_read, stats.rows_valid + stats.rows_rejected);
//! # Ok::<(), anyhow::Error>(())
//! ```

mod batch;
mod csv;
mod parse;
mod raw;
mod schema;

#[cfg(test)]
mod tests;

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::ArrowError;

use batch::BatchBuilder;
use csv::{ReadError, RecordReader};

pub use parse::parse_date;
pub use raw::{RawRecord, read_raw_records};
pub use schema::{Column, ColumnType, CsvSchema, LINE_COLUMN, OFFSET_COLUMN, RAW_SUFFIX};

/// The size of the read buffer.
const READ_BUFFER_BYTES: usize = 1 << 20;
/// The text one column of a batch may hold before the batch is flushed early, whatever its row
/// count: Arrow's `Utf8` offsets are 32-bit, so a column must stay under 2 GiB.
const FLUSH_TEXT_BYTES: usize = 256 << 20;
/// The largest accepted [`IngestOptions::max_record_bytes`]. A rejected record adds at most about
/// 6 × its size to a column (its message and its raw text, lossy decoding tripling invalid
/// bytes), so a column stays under 256 MiB + 6 × 128 MiB, well within 2 GiB.
const MAX_RECORD_BYTES_LIMIT: usize = 128 << 20;

/// How to ingest one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestOptions {
    /// The stage name written to the quarantine's `stage` column (`ingest_orders`).
    pub stage: String,
    /// Records (valid and rejected together) per batch; at least 1. Default 262,144.
    pub batch_rows: usize,
    /// The most bytes of the file per batch: a batch ends with the record that reaches it (so a
    /// batch holds at least one record), if `batch_rows` did not end it first. Default 32 MiB.
    pub batch_bytes: usize,
    /// The longest record accepted, in bytes; a longer one (typically an unterminated quote
    /// swallowing the rest of a big file) fails the file. Default 16 MiB, at most 128 MiB.
    pub max_record_bytes: usize,
}

impl IngestOptions {
    /// The defaults, for stage `stage`.
    pub fn new(stage: impl Into<String>) -> Self {
        IngestOptions { stage: stage.into(), batch_rows: 262_144, batch_bytes: 32 << 20, max_record_bytes: 16 << 20 }
    }
}

impl Default for IngestOptions {
    /// The defaults, for stage `ingest`.
    fn default() -> Self {
        IngestOptions::new("ingest")
    }
}

/// The records of one stretch of the file, split by outcome. Either side may have no rows.
#[derive(Debug, Clone)]
pub struct IngestBatch {
    /// Records that parsed, with the schema of [`CsvSchema::arrow_schema`].
    pub valid: RecordBatch,
    /// Records that didn't, with the schema of [`CsvSchema::quarantine_schema`].
    pub rejected: RecordBatch,
}

/// What a file held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestStats {
    /// Records after the header (blank lines are no records).
    pub rows_read: u64,
    pub rows_valid: u64,
    pub rows_rejected: u64,
    /// Bytes of the file consumed, header included: the file's size once it is read through.
    pub bytes: u64,
}

/// Why a file could not be ingested. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{} is empty: expected a header row", path.display())]
    Empty { path: PathBuf },
    #[error("{}: the header does not match the declared columns: expected {expected:?}, found {found:?}", path.display())]
    Header { path: PathBuf, expected: Vec<String>, found: Vec<String> },
    #[error(
        "{}: the record starting at line {line} is longer than {limit} bytes (an unterminated quote?)",
        path.display()
    )]
    RecordTooLarge { path: PathBuf, line: u64, limit: usize },
    #[error("cannot ingest {}: invalid schema: {message}", path.display())]
    Schema { path: PathBuf, message: String },
    #[error("{}: cannot build an Arrow batch (this is a bug): {source}", path.display())]
    Arrow { path: PathBuf, source: ArrowError },
}

/// Reads `path` against `schema` and hands each batch to `sink` as it fills; returns what the
/// file held once it is read through.
///
/// The sink's error type only needs to take an [`IngestError`] in (`anyhow::Error` does); a
/// sink error stops the reading and is returned as is.
pub fn ingest<E>(
    path: &Path,
    schema: &CsvSchema,
    options: &IngestOptions,
    mut sink: impl FnMut(IngestBatch) -> Result<(), E>,
) -> Result<IngestStats, E>
where
    E: From<IngestError>,
{
    let mut reader = IngestReader::open(path, schema, options)?;
    for batch in reader.by_ref() {
        sink(batch?)?;
    }
    Ok(reader.stats())
}

/// An open CSV file yielding [`IngestBatch`]es; see the [module documentation](self).
///
/// After an error the iterator ends.
#[derive(Debug)]
pub struct IngestReader {
    path: PathBuf,
    records: RecordReader<File>,
    batch: BatchBuilder,
    batch_rows: usize,
    batch_bytes: u64,
    /// Where the batch in progress starts in the file.
    batch_start: u64,
    max_record_bytes: usize,
    stats: IngestStats,
    finished: bool,
}

impl IngestReader {
    /// Opens `path` and checks its header against `schema`.
    pub fn open(path: &Path, schema: &CsvSchema, options: &IngestOptions) -> Result<Self, IngestError> {
        schema.check().map_err(|message| IngestError::Schema { path: path.to_owned(), message })?;
        let file = File::open(path).map_err(|source| IngestError::Io { path: path.to_owned(), source })?;
        let max_record_bytes = options.max_record_bytes.clamp(1, MAX_RECORD_BYTES_LIMIT);
        let mut records = RecordReader::new(file, READ_BUFFER_BYTES.min(max_record_bytes), max_record_bytes);
        let header = match records.next_record() {
            Ok(Some(header)) => header,
            Ok(None) => return Err(IngestError::Empty { path: path.to_owned() }),
            Err(error) => return Err(read_error(path, error, max_record_bytes)),
        };
        let found: Vec<String> = header.fields().map(|name| String::from_utf8_lossy(name).trim().to_owned()).collect();
        if !found.iter().eq(schema.columns.iter().map(|column| &column.name)) {
            let expected = schema.columns.iter().map(|column| column.name.clone()).collect();
            return Err(IngestError::Header { path: path.to_owned(), expected, found });
        }
        let source_file = path.file_name().unwrap_or(path.as_os_str()).to_string_lossy();
        let batch_rows = options.batch_rows.max(1);
        Ok(IngestReader {
            batch: BatchBuilder::new(schema, &source_file, &options.stage, batch_rows.min(262_144)),
            stats: IngestStats { bytes: records.consumed(), ..IngestStats::default() },
            path: path.to_owned(),
            batch_start: records.consumed(),
            records,
            batch_rows,
            batch_bytes: options.batch_bytes.max(1) as u64,
            max_record_bytes,
            finished: false,
        })
    }

    /// What the file held so far; the whole file's once the iterator has ended without error.
    pub fn stats(&self) -> IngestStats {
        self.stats
    }

    fn flush(&mut self) -> Result<IngestBatch, IngestError> {
        self.stats.bytes = self.records.consumed();
        self.batch_start = self.stats.bytes;
        self.batch.flush().map_err(|source| IngestError::Arrow { path: self.path.clone(), source })
    }
}

impl Iterator for IngestReader {
    type Item = Result<IngestBatch, IngestError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        loop {
            match self.records.next_record() {
                Ok(Some(record)) => {
                    let valid = self.batch.push(&record);
                    self.stats.rows_read += 1;
                    if valid {
                        self.stats.rows_valid += 1;
                    } else {
                        self.stats.rows_rejected += 1;
                    }
                    if self.batch.rows() >= self.batch_rows
                        || self.records.consumed() - self.batch_start >= self.batch_bytes
                        || self.batch.text_bytes() >= FLUSH_TEXT_BYTES
                    {
                        return Some(self.flush());
                    }
                }
                Ok(None) => {
                    self.finished = true;
                    self.stats.bytes = self.records.consumed();
                    return (self.batch.rows() > 0).then(|| self.flush());
                }
                Err(error) => {
                    self.finished = true;
                    return Some(Err(read_error(&self.path, error, self.max_record_bytes)));
                }
            }
        }
    }
}

fn read_error(path: &Path, error: ReadError, limit: usize) -> IngestError {
    match error {
        ReadError::Io(source) => IngestError::Io { path: path.to_owned(), source },
        ReadError::TooLarge { line } => IngestError::RecordTooLarge { path: path.to_owned(), line, limit },
    }
}
