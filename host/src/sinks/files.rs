//! Parquet files as the sinks write and read them: one set of writer properties (snappy,
//! statistics, bounded row groups, a fixed `created_by` so that the same rows give the same
//! bytes, dictionaries only where they pay), a writer that fsyncs what it wrote, and reading a
//! table's files back.

use std::collections::HashSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowSchemaConverter, ArrowWriter};
use parquet::basic::{Compression, Type as PhysicalType};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::schema::types::ColumnPath;

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
/// The most rows of a table's first batch [`ColumnEncodings::choose`] looks at.
const SAMPLE_ROWS: usize = 64 * 1024;
/// Rows per batch when reading a table back.
const READ_BATCH_ROWS: usize = 64 * 1024;
/// The writer named in every file's footer: no build date, no host name.
pub(crate) const CREATED_BY: &str = concat!("etl-host ", env!("CARGO_PKG_VERSION"), " (parquet-rs)");

/// How every sink writes Parquet.
fn writer_properties(encodings: &ColumnEncodings) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_dictionary_page_size_limit(DICTIONARY_PAGE_BYTES)
        .set_max_row_group_row_count(Some(MAX_ROW_GROUP_ROWS))
        .set_max_row_group_bytes(Some(MAX_ROW_GROUP_BYTES))
        .set_created_by(CREATED_BY.to_owned());
    for column in &encodings.plain {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(column.as_str()), false);
    }
    builder.build()
}

/// Which columns of a table's files are written without a dictionary (plain), the others with
/// one. The default: a dictionary for every column.
///
/// A dictionary pays when values repeat. In a column of nearly distinct values (an order id, an
/// email) it costs twice: each value is hashed and interned for nothing, and the writer gives the
/// dictionary up once its page is full, in every row group, after writing a page of values
/// twice (in the dictionary and as indices). [`choose`](Self::choose) decides from a sample.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ColumnEncodings {
    plain: Vec<String>,
}

impl ColumnEncodings {
    /// Chooses from `sample`, a table's first batch (its first [`SAMPLE_ROWS`] rows): a column
    /// is written plain when the distinct values of the sample alone would fill a dictionary page,
    /// or when the sample would be no smaller dictionary-encoded (its distinct values, then an
    /// index per value) than plain. The same first batch gives the same choice, so the same rows
    /// still give the same bytes.
    pub fn choose(sample: &RecordBatch) -> Self {
        let Ok(parquet) = ArrowSchemaConverter::new().convert(sample.schema_ref()) else {
            return ColumnEncodings::default();
        };
        let rows = sample.num_rows().min(SAMPLE_ROWS);
        let mut plain = Vec::new();
        // Nested columns have several leaves, or none: only flat columns are looked at.
        for (index, field) in sample.schema().fields().iter().enumerate() {
            let Some(leaf) = parquet.columns().iter().find(|leaf| leaf.path().parts() == [field.name().as_str()])
            else {
                continue;
            };
            let column = sample.column(index).slice(0, rows);
            let width = match leaf.physical_type() {
                PhysicalType::INT32 | PhysicalType::FLOAT => Some(4),
                PhysicalType::INT64 | PhysicalType::DOUBLE => Some(8),
                PhysicalType::FIXED_LEN_BYTE_ARRAY => usize::try_from(leaf.type_length()).ok(),
                PhysicalType::BYTE_ARRAY => None,
                PhysicalType::BOOLEAN | PhysicalType::INT96 => continue,
            };
            let mut sizes = DictionarySizes::default();
            let counted = match width {
                Some(width) => sizes.count_fixed(column.as_ref(), width),
                None => sizes.count_bytes(column.as_ref()),
            };
            if counted && !sizes.dictionary_pays() {
                plain.push(field.name().clone());
            }
        }
        ColumnEncodings { plain }
    }
}

/// A column sample's size encoded plain and dictionary-encoded, as the Parquet writer counts it.
#[derive(Debug, Default)]
struct DictionarySizes {
    values: usize,
    plain_bytes: usize,
    distinct: usize,
    dictionary_bytes: usize,
}

impl DictionarySizes {
    /// Counts the values of `column`, a fixed-width type stored in `width` bytes per value;
    /// false if it is of another kind.
    fn count_fixed(&mut self, column: &dyn Array, width: usize) -> bool {
        let Some(arrow_width) = column.data_type().primitive_width() else {
            return false;
        };
        let data = column.to_data();
        let Some(buffer) = data.buffers().first() else {
            return false;
        };
        let Some(bytes) = buffer.as_slice().get(data.offset() * arrow_width..) else {
            return false;
        };
        let values = (0..column.len())
            .filter(|&row| column.is_valid(row))
            .filter_map(|row| bytes.get(row * arrow_width..(row + 1) * arrow_width));
        self.count(values, |_| width);
        true
    }

    /// Counts the values of `column`, a string or binary type stored with a 4-byte length each;
    /// false if it is of another kind.
    fn count_bytes(&mut self, column: &dyn Array) -> bool {
        let stored = |value: &[u8]| value.len() + 4;
        match column.data_type() {
            DataType::Utf8 => self.count(column.as_string::<i32>().iter().flatten().map(str::as_bytes), stored),
            DataType::LargeUtf8 => self.count(column.as_string::<i64>().iter().flatten().map(str::as_bytes), stored),
            DataType::Utf8View => self.count(column.as_string_view().iter().flatten().map(str::as_bytes), stored),
            DataType::Binary => self.count(column.as_binary::<i32>().iter().flatten(), stored),
            DataType::LargeBinary => self.count(column.as_binary::<i64>().iter().flatten(), stored),
            DataType::BinaryView => self.count(column.as_binary_view().iter().flatten(), stored),
            _ => return false,
        }
        true
    }

    fn count<'a>(&mut self, values: impl Iterator<Item = &'a [u8]>, stored: impl Fn(&[u8]) -> usize) {
        let mut seen = HashSet::new();
        for value in values {
            let size = stored(value);
            self.values += 1;
            self.plain_bytes += size;
            if seen.insert(value) {
                self.distinct += 1;
                self.dictionary_bytes += size;
                if self.dictionary_bytes >= DICTIONARY_PAGE_BYTES {
                    return;
                }
            }
        }
    }

    /// Whether a dictionary would hold the sample's distinct values in one page and make it
    /// smaller: the distinct values, then an RLE index per value of `log2(distinct)` bits.
    fn dictionary_pays(&self) -> bool {
        if self.values == 0 {
            return true;
        }
        let index_bits = usize::BITS - self.distinct.saturating_sub(1).leading_zeros();
        let indices = (self.values * index_bits as usize).div_ceil(8);
        self.dictionary_bytes < DICTIONARY_PAGE_BYTES && self.dictionary_bytes + indices < self.plain_bytes
    }
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
    /// Creates `path` (and its directory) for batches of `schema`, its columns encoded as
    /// `encodings` say.
    pub fn create(
        target: &str,
        path: PathBuf,
        schema: SchemaRef,
        encodings: &ColumnEncodings,
    ) -> Result<Self, SinkError> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(SinkError::io(target, "create the directory", parent))?;
        }
        let file = File::create_new(&path).map_err(SinkError::io(target, "create", &path))?;
        let writer = ArrowWriter::try_new(file, schema, Some(writer_properties(encodings)))
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, BooleanArray, Decimal128Array, Int32Array, Int64Array, StringArray};
    use arrow_schema::{Field, Schema};
    use parquet::basic::Encoding;

    use super::*;
    use crate::sinks::test_util::{Scratch, read_parquet as read_back};

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        let fields: Vec<Field> =
            columns.iter().map(|(name, array)| Field::new(*name, array.data_type().clone(), true)).collect();
        let arrays = columns.into_iter().map(|(_, array)| array).collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
    }

    fn plain(encodings: &ColumnEncodings) -> Vec<&str> {
        encodings.plain.iter().map(String::as_str).collect()
    }

    #[test]
    fn columns_of_nearly_distinct_values_are_written_plain() {
        let rows = 20_000;
        let sample = batch(vec![
            // 20,000 × 18 bytes: more than a dictionary page.
            ("order_id", Arc::new(StringArray::from_iter_values((0..rows).map(|i| format!("order-{i:08}"))))),
            ("category", Arc::new(StringArray::from_iter_values((0..rows).map(|i| ["a", "b", "c"][i % 3])))),
            // Distinct, 8 bytes each in the file: the dictionary fits a page, but indices on top of
            // it make it bigger than plain.
            (
                "amount",
                Arc::new(
                    Decimal128Array::from_iter_values((0..rows).map(|i| i as i128))
                        .with_precision_and_scale(18, 2)
                        .unwrap(),
                ),
            ),
            // Stored in 16 bytes: 320,000 bytes of distinct values.
            (
                "big",
                Arc::new(
                    Decimal128Array::from_iter_values((0..rows).map(|i| i as i128))
                        .with_precision_and_scale(38, 2)
                        .unwrap(),
                ),
            ),
            ("day", Arc::new(Int32Array::from_iter_values((0..rows).map(|i| (i % 31) as i32)))),
            ("flag", Arc::new(BooleanArray::from_iter((0..rows).map(|i| Some(i % 2 == 0))))),
            ("nothing", Arc::new(Int64Array::from(vec![None; rows]))),
            // Mostly null: the few values repeat.
            ("rare", Arc::new(Int64Array::from_iter((0..rows).map(|i| (i % 1000 == 0).then_some(7))))),
        ]);
        assert_eq!(plain(&ColumnEncodings::choose(&sample)), ["order_id", "amount", "big"]);
    }

    #[test]
    fn only_the_first_rows_of_the_sample_count() {
        let rows = SAMPLE_ROWS + 50_000;
        let values = (0..rows).map(|i| if i < SAMPLE_ROWS { "same".to_owned() } else { format!("value-{i:010}") });
        let sample = batch(vec![("late", Arc::new(StringArray::from_iter_values(values)))]);
        assert!(plain(&ColumnEncodings::choose(&sample)).is_empty());
        let sliced = sample.slice(SAMPLE_ROWS, 50_000);
        assert_eq!(plain(&ColumnEncodings::choose(&sliced)), ["late"]);
    }

    #[test]
    fn a_small_or_empty_table_keeps_its_dictionaries_where_values_repeat() {
        let repeated = batch(vec![("region", Arc::new(StringArray::from(vec!["north", "south", "north", "north"])))]);
        assert!(plain(&ColumnEncodings::choose(&repeated)).is_empty());
        assert!(plain(&ColumnEncodings::choose(&repeated.slice(0, 0))).is_empty());
    }

    #[test]
    fn the_file_follows_the_choice_and_reads_back_the_same() {
        let scratch = Scratch::new("encodings");
        let rows = 20_000;
        let sample = batch(vec![
            ("order_id", Arc::new(StringArray::from_iter_values((0..rows).map(|i| format!("order-{i:08}"))))),
            ("category", Arc::new(StringArray::from_iter_values((0..rows).map(|i| ["a", "b", "c"][i % 3])))),
        ]);
        let encodings = ColumnEncodings::choose(&sample);
        let path = scratch.path().join("part-00000.parquet");
        let mut file = ParquetFile::create("test", path.clone(), sample.schema(), &encodings).unwrap();
        file.write("test", &sample).unwrap();
        assert_eq!(file.finish("test").unwrap(), rows as u64);

        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        let chunk_encodings =
            |column: usize| reader.metadata().row_group(0).column(column).encodings().collect::<Vec<_>>();
        assert!(!chunk_encodings(0).contains(&Encoding::RLE_DICTIONARY), "{:?}", chunk_encodings(0));
        assert!(chunk_encodings(1).contains(&Encoding::RLE_DICTIONARY), "{:?}", chunk_encodings(1));
        let back = read_back(&path);
        assert_eq!(arrow_select::concat::concat_batches(&sample.schema(), &back).unwrap(), sample);
    }
}
