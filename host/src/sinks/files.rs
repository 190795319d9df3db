//! Parquet files as the sinks write and read them: one set of writer properties (snappy,
//! statistics, bounded row groups, a fixed `created_by` so that the same rows give the same
//! bytes), a writer that fsyncs what it wrote, and reading a table's files back.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::reader::{FileReader, SerializedFileReader};

use super::SinkError;
use crate::writeback::WriteBehind;

/// The most rows in one row group.
pub(crate) const MAX_ROW_GROUP_ROWS: usize = 1 << 20;
/// The most encoded bytes in one row group, whatever its rows.
const MAX_ROW_GROUP_BYTES: usize = 128 << 20;
/// The largest dictionary page of a column chunk before the writer falls back to plain encoding.
/// A column with few distinct values (a category, a region, a date) stays far below it; one with
/// a distinct value per row or so (an order id, an email) gives up after a quarter of the values
/// the default 1 MiB lets it intern first, for files of the same size.
const DICTIONARY_PAGE_BYTES: usize = 256 << 10;
/// Rows per batch when reading a table back.
const READ_BATCH_ROWS: usize = 64 * 1024;
/// The writer named in every file's footer: no build date, no host name.
pub(crate) const CREATED_BY: &str = concat!("etl-host ", env!("CARGO_PKG_VERSION"), " (parquet-rs)");

/// How every sink writes Parquet.
fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_dictionary_page_size_limit(DICTIONARY_PAGE_BYTES)
        .set_max_row_group_row_count(Some(MAX_ROW_GROUP_ROWS))
        .set_max_row_group_bytes(Some(MAX_ROW_GROUP_BYTES))
        .set_created_by(CREATED_BY.to_owned())
        .build()
}

/// One Parquet file being written.
#[derive(Debug)]
pub(crate) struct ParquetFile {
    path: PathBuf,
    writer: ArrowWriter<File>,
    rows: u64,
    writeback: WriteBehind,
}

impl ParquetFile {
    /// Creates `path` (and its directory) for batches of `schema`.
    pub fn create(target: &str, path: PathBuf, schema: SchemaRef) -> Result<Self, SinkError> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(SinkError::io(target, "create the directory", parent))?;
        }
        let file = File::create_new(&path).map_err(SinkError::io(target, "create", &path))?;
        let writer = ArrowWriter::try_new(file, schema, Some(writer_properties()))
            .map_err(SinkError::parquet(target, "create", &path))?;
        Ok(ParquetFile { path, writer, rows: 0, writeback: WriteBehind::default() })
    }

    pub fn write(&mut self, target: &str, batch: &RecordBatch) -> Result<(), SinkError> {
        self.writer.write(batch).map_err(SinkError::parquet(target, "write", &self.path))?;
        self.rows += batch.num_rows() as u64;
        self.writeback.wrote(self.writer.inner(), self.writer.bytes_written() as u64);
        Ok(())
    }

    /// The memory the writer holds for its row group in progress.
    pub fn memory_size(&self) -> usize {
        self.writer.memory_size()
    }

    /// Ends the row group in progress, writing it out and freeing its memory.
    pub fn flush_row_group(&mut self, target: &str) -> Result<(), SinkError> {
        self.writer.flush().map_err(SinkError::parquet(target, "write", &self.path))?;
        self.writeback.wrote(self.writer.inner(), self.writer.bytes_written() as u64);
        Ok(())
    }

    /// Writes the footer and fsyncs the file; returns its rows.
    pub fn finish(self, target: &str) -> Result<u64, SinkError> {
        let file = self.writer.into_inner().map_err(SinkError::parquet(target, "finish", &self.path))?;
        file.sync_all().map_err(SinkError::io(target, "fsync", &self.path))?;
        Ok(self.rows)
    }
}

/// Every `*.parquet` file under `dir`, recursively, sorted by path; none if `dir` doesn't exist.
pub(crate) fn parquet_files(target: &str, dir: &Path) -> Result<Vec<PathBuf>, SinkError> {
    fn walk(target: &str, dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), SinkError> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(SinkError::io(target, "list", dir)(error)),
        };
        for entry in entries {
            let entry = entry.map_err(SinkError::io(target, "list", dir))?;
            let path = entry.path();
            if entry.file_type().map_err(SinkError::io(target, "list", dir))?.is_dir() {
                walk(target, &path, out)?;
            } else if path.extension().is_some_and(|extension| extension == "parquet") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(target, dir, &mut files)?;
    files.sort();
    Ok(files)
}

/// The rows of the Parquet file at `path`, with the Arrow schema stored in it.
pub(crate) fn read_parquet(target: &str, path: &Path) -> Result<(SchemaRef, Vec<RecordBatch>), SinkError> {
    let file = File::open(path).map_err(SinkError::io(target, "open", path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(SinkError::parquet(target, "read", path))?;
    let schema = builder.schema().clone();
    let reader = builder.with_batch_size(READ_BATCH_ROWS).build().map_err(SinkError::parquet(target, "read", path))?;
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| SinkError::parquet(target, "read", path)(error.into()))?;
    Ok((schema, batches))
}

/// The number of rows in the Parquet file at `path`, from its footer.
pub(crate) fn parquet_rows(target: &str, path: &Path) -> Result<u64, SinkError> {
    let file = File::open(path).map_err(SinkError::io(target, "open", path))?;
    let reader = SerializedFileReader::new(file).map_err(SinkError::parquet(target, "read", path))?;
    Ok(reader.metadata().file_metadata().num_rows().max(0) as u64)
}
