//! The warehouse: Parquet tables under a root directory, `<root>/<table>/`, each load published
//! atomically (see the [module documentation](super)).
//!
//! - [`FactTableWriter`] streams a fact table partitioned by integer columns into
//!   `<col>=<value>/...` directories (hive style, no zero padding) with dynamic partition
//!   overwrite: a partition this load has rows for is replaced whole, the others are kept.
//! - [`upsert_dimension`] merges a dimension on its key: new rows replace old ones with the same
//!   key, keys absent from the input are kept.
//! - [`replace_table`] replaces a table whole.
//!
//! What a table stores and how it is laid out is its [`TableSpec`], from the pipeline file's
//! `warehouse:` entry: the columns it keeps (with types to check, or all of the input's), its
//! [`Layout`] (partition columns, key or sort columns). The host knows no table of its own.
//!
//! The same input always gives the same bytes: files are named `part-NNNNN.parquet` in order,
//! the footer holds no time, fact rows keep their input order, dimensions are sorted by key and
//! replaced tables by their `sort_by` columns.
//!
//! A fact load holds at most [`FactTableWriter::with_memory_budget`] bytes of row groups in
//! progress across its partitions (flushing the biggest when over) and at most
//! [`FactTableWriter::with_max_open_files`] files open, and encodes a batch's partitions on up to
//! [`FactTableWriter::with_workers`] threads (the files are the same as on one). A dimension or a replaced table is merged
//! and sorted in memory: they are small beside the fact table.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, RecordBatch, UInt32Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use arrow_select::take::take_record_batch;
use serde::Serialize;

use super::SinkError;
use super::columns::{Projection, SortValue, gather, is_metadata, is_orderable, sort_values, sorted_rows};
use super::files::{ColumnEncodings, MAX_ROW_GROUP_ROWS, ParquetFile, parquet_files, parquet_rows, read_parquet};
use super::publish::{Lock, Staging, clean_leftovers, crash_point, sync_parent};
use crate::ingest::LINE_COLUMN;
use crate::types::type_name;
use crate::untrusted::{NameKind, check_name};

/// Rows gathered into one batch when a sorted table is written.
const WRITE_BATCH_ROWS: usize = 64 * 1024;
/// The default of [`FactTableWriter::with_memory_budget`].
pub const DEFAULT_MEMORY_BUDGET: usize = 128 << 20;
/// The default of [`FactTableWriter::with_max_open_files`].
pub const DEFAULT_MAX_OPEN_FILES: usize = 128;

/// The most threads [`FactTableWriter`] encodes partitions on.
pub const MAX_WORKERS: usize = 4;

/// A warehouse table as its pipeline file's `warehouse:` entry declares it: what it stores and
/// how it is laid out. Nothing about a table is known but what its spec says; two pipelines may
/// give one name two shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    name: String,
    columns: Option<Vec<StoredColumn>>,
    layout: Layout,
}

/// A column a table stores: its name and, when declared, its type (checked against the input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredColumn {
    pub name: String,
    pub data_type: Option<DataType>,
}

impl StoredColumn {
    /// A column stored with whatever type the input gives it.
    pub fn any(name: impl Into<String>) -> Self {
        StoredColumn { name: name.into(), data_type: None }
    }

    /// A column the input must give with type `data_type`.
    pub fn typed(name: impl Into<String>, data_type: DataType) -> Self {
        StoredColumn { name: name.into(), data_type: Some(data_type) }
    }
}

/// How a table is laid out and what a load does to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// A fact table in Hive partitions by these integer columns (outermost first; they live in
    /// the path only), loaded by a [`FactTableWriter`]: a partition a load has rows for is
    /// replaced whole, the others are kept. Rows keep their input order.
    Partitioned { partition_by: Vec<String> },
    /// A dimension merged on `key` by [`upsert_dimension`], sorted by it.
    Upsert { key: String },
    /// Replaced whole by [`replace_table`], sorted by `sort_by` (empty: by every orderable stored
    /// column, in order).
    Replace { sort_by: Vec<String> },
}

impl TableSpec {
    /// The table `name` laid out as `layout`, storing `columns` (in this order; the input's
    /// other columns are not stored) or, with `None`, every column of the input but the
    /// metadata ones (`_line`, ...) and the partition columns. Every problem is listed.
    pub fn new(name: &str, columns: Option<Vec<StoredColumn>>, layout: Layout) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        if let Err(error) = check_name(NameKind::Table, name) {
            problems.push(error.to_string());
        }
        if let Some(columns) = &columns {
            if columns.is_empty() {
                problems.push("`columns` is empty: list the columns to store, or leave it out to store all".into());
            }
            for (i, column) in columns.iter().enumerate() {
                if columns[..i].iter().any(|other| other.name == column.name) {
                    problems.push(format!("column `{}` is listed twice", column.name));
                }
                if is_metadata(&column.name) {
                    problems.push(format!("column `{}` is row metadata (`_...`), never stored", column.name));
                }
            }
        }
        let stored = |column: &String| columns.as_ref().is_none_or(|columns| columns.iter().any(|c| &c.name == column));
        let (what, names): (&str, &[String]) = match &layout {
            Layout::Partitioned { partition_by } => ("partition_by", partition_by),
            Layout::Upsert { key } => ("key", std::slice::from_ref(key)),
            Layout::Replace { sort_by } => ("sort_by", sort_by),
        };
        if names.is_empty() && !matches!(layout, Layout::Replace { .. }) {
            problems.push(format!("`{what}` needs at least one column"));
        }
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                problems.push(format!("`{what}` lists `{name}` twice"));
            } else if matches!(layout, Layout::Partitioned { .. }) {
                if columns.is_some() && stored(name) {
                    problems.push(format!(
                        "partition column `{name}` is also in `columns`: partition values live in the path only"
                    ));
                }
            } else if !stored(name) {
                problems.push(format!("`{what}` column `{name}` is not one of the stored `columns`"));
            }
        }
        if problems.is_empty() { Ok(TableSpec { name: name.to_owned(), columns, layout }) } else { Err(problems) }
    }

    /// A table partitioned by `partition_by`, storing all of its input's other columns.
    pub fn partitioned(name: &str, partition_by: &[&str]) -> Result<Self, Vec<String>> {
        let partition_by = partition_by.iter().map(|c| (*c).to_owned()).collect();
        Self::new(name, None, Layout::Partitioned { partition_by })
    }

    /// A dimension keyed by `key`, storing all of its input's columns.
    pub fn upsert(name: &str, key: &str) -> Result<Self, Vec<String>> {
        Self::new(name, None, Layout::Upsert { key: key.to_owned() })
    }

    /// A table replaced whole and sorted by `sort_by`, storing all of its input's columns.
    pub fn replace(name: &str, sort_by: &[&str]) -> Result<Self, Vec<String>> {
        Self::new(name, None, Layout::Replace { sort_by: sort_by.iter().map(|c| (*c).to_owned()).collect() })
    }

    /// This spec storing exactly `columns`, in this order.
    pub fn with_columns(self, columns: Vec<StoredColumn>) -> Result<Self, Vec<String>> {
        Self::new(&self.name, Some(columns), self.layout)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The declared stored columns; `None`: all of the input's.
    pub fn columns(&self) -> Option<&[StoredColumn]> {
        self.columns.as_deref()
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The partition columns (none unless partitioned).
    pub fn partition_by(&self) -> &[String] {
        match &self.layout {
            Layout::Partitioned { partition_by } => partition_by,
            Layout::Upsert { .. } | Layout::Replace { .. } => &[],
        }
    }

    /// The Arrow schema of the files when every stored column has a declared type: what an empty
    /// table is created with.
    pub fn declared_schema(&self) -> Option<SchemaRef> {
        let fields = self.columns.as_ref()?.iter().map(|column| {
            let data_type = column.data_type.clone()?;
            Some(Field::new(&column.name, data_type, true))
        });
        Some(Arc::new(Schema::new(fields.collect::<Option<Vec<Field>>>()?)))
    }

    /// What is wrong with loading batches of `input` into this table: stored columns missing or
    /// of another type than declared, partition columns missing or not integers, a key or sort
    /// column missing or unsortable. `host validate` asks it of inputs whose schema it knows
    /// (ingest stages); every load asks it of its first batch.
    pub fn input_problems(&self, input: &Schema) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(columns) = &self.columns {
            for column in columns {
                match (input.field_with_name(&column.name), &column.data_type) {
                    (Err(_), _) => problems.push(format!("column `{}` is missing from the input", column.name)),
                    (Ok(field), Some(declared)) if field.data_type() != declared => problems.push(format!(
                        "column `{}` is {} in the input, the table declares {}",
                        column.name,
                        type_name(field.data_type()),
                        type_name(declared)
                    )),
                    (Ok(_), _) => {}
                }
            }
        }
        let orderable = |what: &str, name: &str, integer: bool, problems: &mut Vec<String>| match input
            .field_with_name(name)
        {
            // A missing stored column is reported above.
            Err(_) if self.columns.is_none() || what == "partition" => {
                problems.push(format!("{what} column `{name}` is missing from the input"))
            }
            Ok(field) if integer && !field.data_type().is_integer() => problems
                .push(format!("{what} column `{name}` is {}, expected an integer type", type_name(field.data_type()))),
            Ok(field) if !is_orderable(field.data_type()) => problems
                .push(format!("{what} column `{name}` is {}, which cannot be sorted", type_name(field.data_type()))),
            _ => {}
        };
        match &self.layout {
            Layout::Partitioned { partition_by } => {
                for name in partition_by {
                    orderable("partition", name, true, &mut problems);
                }
            }
            Layout::Upsert { key } => orderable("key", key, false, &mut problems),
            Layout::Replace { sort_by } => {
                for name in sort_by {
                    orderable("sort", name, false, &mut problems);
                }
            }
        }
        problems
    }

    /// The stored columns of batches of `input`, checked with [`input_problems`](Self::input_problems).
    fn projection(&self, target: &str, input: &Schema) -> Result<Projection, SinkError> {
        let problems = self.input_problems(input);
        if !problems.is_empty() {
            return Err(SinkError::Schema { target: target.to_owned(), problems });
        }
        let partition_by: Vec<&str> = self.partition_by().iter().map(String::as_str).collect();
        Ok(Projection::new(input, self.columns.as_deref(), &partition_by))
    }

    fn target(&self) -> String {
        format!("warehouse table {}", self.name)
    }
}

/// What a load stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LoadStats {
    /// Rows of this load stored (for a dimension, after keeping the first row of each key).
    pub rows_loaded: u64,
    /// Rows of the previous version kept: a fact table's untouched partitions, a dimension's rows
    /// whose key this load doesn't have.
    pub rows_kept: u64,
    /// Partitions this load wrote (replacing any previous version of them).
    pub partitions_loaded: u64,
    /// Partitions of the previous version kept as they were.
    pub partitions_kept: u64,
    /// Files this load wrote.
    pub files_written: u64,
}

/// One load of one table: its lock, the clean-up of what earlier loads left, its staging
/// directory.
#[derive(Debug)]
struct Load {
    target: String,
    destination: PathBuf,
    // Dropped in this order: the staging directory is deleted while the lock is held.
    staging: Staging,
    _lock: Lock,
}

impl Load {
    fn begin(root: &Path, table: &str) -> Result<Self, SinkError> {
        check_name(NameKind::Table, table)?;
        let target = format!("warehouse table {table}");
        if !root.is_dir() {
            fs::create_dir_all(root).map_err(SinkError::io(&target, "create the warehouse directory", root))?;
            sync_parent(&target, root)?;
        }
        let lock = Lock::acquire(&target, root, table)?;
        let destination = root.join(table);
        clean_leftovers(&target, root, |name| (name == table).then(|| destination.clone()))?;
        let staging = Staging::create(&target, root, table)?;
        Ok(Load { target, destination, staging, _lock: lock })
    }

    fn publish(self) -> Result<(), SinkError> {
        self.staging.publish(&self.destination)
    }
}

/// A partition's file and the rows of a batch to write into it.
type Job<'a> = (&'a mut ParquetFile, Vec<u32>);

/// The rows `rows` of `stored`, in that order. (`take`, not the sinks' multi-batch `gather`:
/// with one source batch it copies each value without looking up its array first.)
fn gather_rows(target: &str, stored: &RecordBatch, rows: Vec<u32>) -> Result<RecordBatch, SinkError> {
    take_record_batch(stored, &UInt32Array::from(rows)).map_err(SinkError::arrow(target))
}

/// One partition of a fact load.
#[derive(Debug)]
struct Partition {
    /// `order_date_year=2024/order_date_month=3`.
    dir: String,
    file: Option<ParquetFile>,
    /// Files opened so far (a partition's file is closed when too many are open, and the next
    /// rows go to a new one).
    files: u32,
    last_used: u64,
}

/// Streams a partitioned fact table (`sales`) into a new version of it, published by
/// [`commit`](Self::commit) with dynamic partition overwrite.
///
/// Until then the previous version stays as it was; [`abort`](Self::abort), dropping the writer
/// or a crash leave it so (a crash leaves a hidden staging directory that the next load deletes).
#[derive(Debug)]
pub struct FactTableWriter {
    // Declared first, so that the files are closed before the staging directory is deleted.
    partitions: BTreeMap<Vec<i128>, Partition>,
    load: Load,
    spec: TableSpec,
    projection: Option<Projection>,
    /// Chosen from the first batch with rows.
    encodings: Option<ColumnEncodings>,
    memory_budget: usize,
    max_open_files: usize,
    workers: usize,
    open_files: usize,
    tick: u64,
    rows: u64,
}

impl FactTableWriter {
    /// Starts a load of the partitioned table `spec` under `root`. Fails with
    /// [`SinkError::Busy`] while another load of the table runs.
    pub fn create(root: &Path, spec: &TableSpec) -> Result<Self, SinkError> {
        if !matches!(spec.layout, Layout::Partitioned { .. }) {
            let problem = "the table is not partitioned: load it with upsert_dimension or replace_table".to_owned();
            return Err(SinkError::Schema { target: spec.target(), problems: vec![problem] });
        }
        Ok(FactTableWriter {
            partitions: BTreeMap::new(),
            load: Load::begin(root, &spec.name)?,
            spec: spec.clone(),
            projection: None,
            encodings: None,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            max_open_files: DEFAULT_MAX_OPEN_FILES,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_WORKERS),
            open_files: 0,
            tick: 0,
            rows: 0,
        })
    }

    /// The most memory the row groups in progress may hold across partitions before the biggest
    /// are flushed (default [`DEFAULT_MEMORY_BUDGET`]).
    pub fn with_memory_budget(mut self, bytes: usize) -> Self {
        self.memory_budget = bytes;
        self
    }

    /// The most threads encoding a batch's partitions at once (default: the cores, at most
    /// [`MAX_WORKERS`]); 1 encodes them one after the other.
    pub fn with_workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// The most partition files open at once (default [`DEFAULT_MAX_OPEN_FILES`]); past that the
    /// least recently written one is finished, and that partition's next rows start a new file.
    pub fn with_max_open_files(mut self, files: usize) -> Self {
        self.max_open_files = files.max(1);
        self
    }

    /// Adds `batch`'s rows, each to the partition its partition columns name. Columns starting
    /// with `_` and the partition columns are not stored. The first batch is checked against the
    /// spec and fixes the stored columns.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), SinkError> {
        let target = self.load.target.as_str();
        let projection = match &self.projection {
            Some(projection) => projection,
            None => {
                let projection = self.spec.projection(target, batch.schema_ref())?;
                self.projection.insert(projection)
            }
        };
        let stored = projection.apply(target, batch, "a later batch")?;
        let schema = projection.schema.clone();
        if self.encodings.is_none() && stored.num_rows() > 0 {
            self.encodings = Some(ColumnEncodings::choose(&stored));
        }
        let groups = self.partition_rows(batch)?;
        if groups.len() == 1 {
            if let Some((key, _)) = groups.into_iter().next() {
                self.write_partition(key, &schema, &stored)?;
            }
        } else if self.workers > 1 && groups.len() <= self.max_open_files {
            self.write_side_by_side(groups, &schema, &stored)?;
        } else {
            for (key, rows) in groups {
                let part = gather_rows(&self.load.target, &stored, rows)?;
                self.write_partition(key, &schema, &part)?;
            }
        }
        self.rows += batch.num_rows() as u64;
        self.bound_memory()?;
        crash_point("after_write");
        Ok(())
    }

    /// Writes the rows of each partition of `groups` into its file, the partitions shared out
    /// among [`workers`](Self::with_workers) threads: encoding is most of a load's work, and the
    /// partitions' files are independent. The files are opened first, in key order, so the
    /// files and their names are the same as when written one after the other.
    fn write_side_by_side(
        &mut self,
        mut groups: BTreeMap<Vec<i128>, Vec<u32>>,
        schema: &SchemaRef,
        stored: &RecordBatch,
    ) -> Result<(), SinkError> {
        for key in groups.keys() {
            // No file of this batch is closed to make room: there are at most as many
            // partitions as files may be open, and those opened last are closed last.
            self.open_file(key.clone(), schema)?;
        }
        let target = self.load.target.as_str();
        let mut jobs: Vec<Job<'_>> = self
            .partitions
            .iter_mut()
            .filter_map(|(key, partition)| Some((partition.file.as_mut()?, groups.remove(key)?)))
            .collect();
        // The largest partitions first, each to the least loaded worker.
        jobs.sort_by_key(|(_, rows)| std::cmp::Reverse(rows.len()));
        let mut shares: Vec<(usize, Vec<Job<'_>>)> = (0..self.workers).map(|_| (0, Vec::new())).collect();
        for job in jobs {
            if let Some(share) = shares.iter_mut().min_by_key(|(rows, _)| *rows) {
                share.0 += job.1.len();
                share.1.push(job);
            }
        }
        let write_share = |share: Vec<Job<'_>>| -> Result<(), SinkError> {
            for (file, rows) in share {
                file.write(target, &gather_rows(target, stored, rows)?)?;
            }
            Ok(())
        };
        std::thread::scope(|scope| {
            let mut shares = shares.into_iter().map(|(_, share)| share);
            let mine = shares.next().unwrap_or_default();
            let others: Vec<_> = shares.map(|share| scope.spawn(move || write_share(share))).collect();
            let mut result = write_share(mine);
            for other in others {
                let outcome = other
                    .join()
                    .unwrap_or_else(|_| Err(SinkError::data(target, "a partition writer panicked; this is a bug")));
                result = result.and(outcome);
            }
            result
        })
    }

    /// `batch`'s rows grouped by their partition values.
    fn partition_rows(&self, batch: &RecordBatch) -> Result<BTreeMap<Vec<i128>, Vec<u32>>, SinkError> {
        let target = self.load.target.as_str();
        let mut problems = Vec::new();
        let partition_by = self.spec.partition_by();
        let mut columns = Vec::with_capacity(partition_by.len());
        for name in partition_by {
            match batch.column_by_name(name) {
                None => problems.push(format!("partition column `{name}` is missing")),
                Some(column) if !column.data_type().is_integer() => problems.push(format!(
                    "partition column `{name}` is {}, expected an integer type",
                    type_name(column.data_type())
                )),
                Some(column) => columns.push(sort_values(column.as_ref()).unwrap_or_default()),
            }
        }
        if !problems.is_empty() {
            return Err(SinkError::Schema { target: target.to_owned(), problems });
        }
        let rows =
            u32::try_from(batch.num_rows()).map_err(|_| SinkError::data(target, "a batch has more than 2^32 rows"))?;
        let mut groups: BTreeMap<Vec<i128>, Vec<u32>> = BTreeMap::new();
        let mut key = Vec::with_capacity(columns.len());
        for row in 0..rows {
            key.clear();
            for (values, name) in columns.iter().zip(partition_by) {
                match values.get(row as usize) {
                    Some(SortValue::Number(value)) => key.push(*value),
                    _ => {
                        return Err(SinkError::data(
                            target,
                            format!(
                                "{} has a null `{name}`: a partition value cannot be null",
                                describe_row(batch, row as usize)
                            ),
                        ));
                    }
                }
            }
            match groups.get_mut(key.as_slice()) {
                Some(rows) => rows.push(row),
                None => {
                    groups.insert(key.clone(), vec![row]);
                }
            }
        }
        Ok(groups)
    }

    fn write_partition(&mut self, key: Vec<i128>, schema: &SchemaRef, batch: &RecordBatch) -> Result<(), SinkError> {
        self.open_file(key.clone(), schema)?;
        match self.partitions.get_mut(&key).and_then(|partition| partition.file.as_mut()) {
            Some(file) => file.write(&self.load.target, batch),
            None => Err(SinkError::data(&self.load.target, "a partition's file is not open; this is a bug")),
        }
    }

    /// Makes sure partition `key` has an open file, opening one (and closing the least recently
    /// used if too many are open) if it has none.
    fn open_file(&mut self, key: Vec<i128>, schema: &SchemaRef) -> Result<(), SinkError> {
        self.tick += 1;
        let needs_file = self.partitions.get(&key).is_none_or(|partition| partition.file.is_none());
        if needs_file && self.open_files >= self.max_open_files {
            self.close_least_recently_used()?;
        }
        let partition_by = self.spec.partition_by();
        let partition = self.partitions.entry(key).or_insert_with_key(|key| Partition {
            dir: partition_by
                .iter()
                .zip(key)
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("/"),
            file: None,
            files: 0,
            last_used: 0,
        });
        partition.last_used = self.tick;
        if partition.file.is_none() {
            let path =
                self.load.staging.path().join(&partition.dir).join(format!("part-{:05}.parquet", partition.files));
            partition.files += 1;
            self.open_files += 1;
            let encodings = self.encodings.clone().unwrap_or_default();
            partition.file = Some(ParquetFile::create(&self.load.target, path, schema.clone(), &encodings)?);
        }
        Ok(())
    }

    fn close_least_recently_used(&mut self) -> Result<(), SinkError> {
        let oldest = self
            .partitions
            .values_mut()
            .filter(|partition| partition.file.is_some())
            .min_by_key(|partition| partition.last_used);
        if let Some(file) = oldest.and_then(|partition| partition.file.take()) {
            self.open_files -= 1;
            file.finish(&self.load.target)?;
        }
        Ok(())
    }

    /// Flushes the biggest row groups in progress while they hold more than the budget, down to
    /// half of it.
    fn bound_memory(&mut self) -> Result<(), SinkError> {
        let mut open: Vec<(usize, &mut ParquetFile)> = self
            .partitions
            .values_mut()
            .filter_map(|partition| partition.file.as_mut())
            .map(|file| (file.memory_size(), file))
            .collect();
        let mut total: usize = open.iter().map(|(size, _)| size).sum();
        if total <= self.memory_budget {
            return Ok(());
        }
        open.sort_by_key(|(size, _)| std::cmp::Reverse(*size));
        for (size, file) in open {
            if total <= self.memory_budget / 2 {
                break;
            }
            file.flush_row_group(&self.load.target)?;
            total -= size;
        }
        Ok(())
    }

    /// Finishes the files and publishes the new version: the partitions this load wrote replace
    /// their previous versions whole, the others are hard-linked from the previous version.
    pub fn commit(mut self) -> Result<LoadStats, SinkError> {
        let target = self.load.target.clone();
        let mut stats = LoadStats { rows_loaded: self.rows, ..LoadStats::default() };
        let mut written = BTreeSet::new();
        for partition in std::mem::take(&mut self.partitions).into_values() {
            if let Some(file) = partition.file {
                file.finish(&target)?;
            }
            stats.partitions_loaded += 1;
            stats.files_written += u64::from(partition.files);
            written.insert(partition.dir);
        }
        crash_point("after_files");
        let partition_by: Vec<&str> = self.spec.partition_by().iter().map(String::as_str).collect();
        let keep = KeepUnchanged { target: &target, partition_by: &partition_by, written: &written };
        keep.link(&self.load.destination, self.load.staging.path(), "", &mut stats)?;
        crash_point("after_links");
        self.load.publish()?;
        Ok(stats)
    }

    /// Gives up this load: the previous version stays as it was.
    pub fn abort(self) {}
}

/// How a row is named in errors: by its CSV line if it has one.
fn describe_row(batch: &RecordBatch, row: usize) -> String {
    match batch.column_by_name(LINE_COLUMN).and_then(|column| column.as_primitive_opt::<Int64Type>()) {
        Some(lines) if lines.is_valid(row) => format!("the row from line {}", lines.value(row)),
        _ => format!("row {row} of a batch"),
    }
}

/// Hard-links what a fact load keeps from the previous version into the new one.
struct KeepUnchanged<'a> {
    target: &'a str,
    partition_by: &'a [&'a str],
    /// The partition directories this load wrote.
    written: &'a BTreeSet<String>,
}

impl KeepUnchanged<'_> {
    /// Links the entries of `from` (at `relative` in the table, `depth` partition levels down)
    /// into `to`, except the partitions this load wrote.
    fn link(&self, from: &Path, to: &Path, relative: &str, stats: &mut LoadStats) -> Result<(), SinkError> {
        let depth = if relative.is_empty() { 0 } else { relative.split('/').count() };
        let entries = match fs::read_dir(from) {
            Ok(entries) => entries,
            // The first load.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && depth == 0 => return Ok(()),
            Err(error) => return Err(SinkError::io(self.target, "list", from)(error)),
        };
        for entry in entries {
            let entry = entry.map_err(SinkError::io(self.target, "list", from))?;
            let name = entry.file_name();
            let (source, destination) = (entry.path(), to.join(&name));
            let is_dir = entry.file_type().map_err(SinkError::io(self.target, "list", &source))?.is_dir();
            let partition = name.to_str().filter(|name| {
                is_dir
                    && self
                        .partition_by
                        .get(depth)
                        .is_some_and(|column| name.strip_prefix(column).is_some_and(|rest| rest.starts_with('=')))
            });
            match partition {
                Some(name) => {
                    let relative = if relative.is_empty() { name.to_owned() } else { format!("{relative}/{name}") };
                    if depth + 1 < self.partition_by.len() {
                        self.link(&source, &destination, &relative, stats)?;
                    } else if !self.written.contains(&relative) {
                        stats.partitions_kept += 1;
                        self.link_tree(&source, &destination, Some(stats))?;
                    }
                }
                None if is_dir => self.link_tree(&source, &destination, None)?,
                None => self.link_file(&source, &destination, None)?,
            }
        }
        Ok(())
    }

    /// Links everything under `from` into `to`, counting the rows of its Parquet files.
    fn link_tree(&self, from: &Path, to: &Path, mut stats: Option<&mut LoadStats>) -> Result<(), SinkError> {
        fs::create_dir_all(to).map_err(SinkError::io(self.target, "create the directory", to))?;
        for entry in fs::read_dir(from).map_err(SinkError::io(self.target, "list", from))? {
            let entry = entry.map_err(SinkError::io(self.target, "list", from))?;
            let (source, destination) = (entry.path(), to.join(entry.file_name()));
            if entry.file_type().map_err(SinkError::io(self.target, "list", &source))?.is_dir() {
                self.link_tree(&source, &destination, stats.as_deref_mut())?;
            } else {
                self.link_file(&source, &destination, stats.as_deref_mut())?;
            }
        }
        Ok(())
    }

    /// Hard-links the file `from` as `to` (copying it where links are refused).
    fn link_file(&self, from: &Path, to: &Path, stats: Option<&mut LoadStats>) -> Result<(), SinkError> {
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).map_err(SinkError::io(self.target, "create the directory", parent))?;
        }
        if fs::hard_link(from, to).is_err() {
            fs::copy(from, to).map_err(SinkError::io(self.target, "copy", from))?;
            fs::File::open(to).and_then(|file| file.sync_all()).map_err(SinkError::io(self.target, "fsync", to))?;
        }
        if let Some(stats) = stats
            && from.extension().is_some_and(|extension| extension == "parquet")
        {
            stats.rows_kept += parquet_rows(self.target, from)?;
        }
        Ok(())
    }
}

/// Merges `batches` into the dimension `spec` (laid out [`Layout::Upsert`]) under `root` on its
/// key column: a row of the input replaces the stored row with the same key, stored keys absent
/// from the input are kept, and of input rows sharing a key the first is kept (null keys are
/// one key). The new version is one file sorted by key (nulls last), published atomically.
///
/// With no batches the table is rewritten as it was (or, if it doesn't exist yet and every
/// stored column has a declared type, created empty).
pub fn upsert_dimension(root: &Path, spec: &TableSpec, batches: &[RecordBatch]) -> Result<LoadStats, SinkError> {
    let target = spec.target();
    let Layout::Upsert { key } = &spec.layout else {
        let problem = "the table is not keyed: load it with a FactTableWriter or replace_table".to_owned();
        return Err(SinkError::Schema { target, problems: vec![problem] });
    };
    let load = Load::begin(root, &spec.name)?;
    let mut previous = Vec::new();
    for path in parquet_files(&target, &load.destination)? {
        previous.extend(read_parquet(&target, &path)?.1);
    }
    let source = match (batches.first(), spec.declared_schema(), previous.first()) {
        (Some(batch), _, _) => batch.schema(),
        (None, Some(declared), _) => declared,
        (None, None, Some(batch)) => batch.schema(),
        // Nothing to store and nothing stored.
        (None, None, None) => return Ok(LoadStats::default()),
    };
    let projection = spec.projection(&target, &source)?;
    let mut all = Vec::with_capacity(batches.len() + previous.len());
    for batch in batches {
        all.push(projection.apply(&target, batch, "a later batch")?);
    }
    let new_batches = all.len();
    for batch in &previous {
        all.push(projection.apply(&target, batch, "the table's current files")?);
    }
    drop(previous);
    let keys: Vec<Vec<SortValue<'_>>> = all
        .iter()
        .map(|batch| batch.column_by_name(key).and_then(|column| sort_values(column.as_ref())).unwrap_or_default())
        .collect();
    let mut stats = LoadStats::default();
    let mut kept = Vec::new();
    let mut last: Option<SortValue<'_>> = None;
    // Sorted stably by key: for each key, the input's rows come first, in input order.
    for (batch, row) in sorted_rows(&target, &all, &[key])? {
        let value = keys[batch as usize].get(row as usize).copied().unwrap_or(SortValue::Null);
        if last == Some(value) {
            continue;
        }
        last = Some(value);
        kept.push((batch, row));
        if (batch as usize) < new_batches {
            stats.rows_loaded += 1;
        } else {
            stats.rows_kept += 1;
        }
    }
    write_rows(&load, &projection.schema, &all, &kept)?;
    stats.files_written = 1;
    load.publish()?;
    Ok(stats)
}

/// Replaces the table `spec` (laid out [`Layout::Replace`]) under `root` whole with `batches`,
/// as one file sorted by its `sort_by` columns (none given: by every orderable stored column, in
/// order), published atomically. With no batches the table is empty (with the declared columns
/// when every one has a type, else with none).
pub fn replace_table(root: &Path, spec: &TableSpec, batches: &[RecordBatch]) -> Result<LoadStats, SinkError> {
    let target = spec.target();
    let Layout::Replace { sort_by } = &spec.layout else {
        let problem = "the table is not replaced whole: load it with a FactTableWriter or upsert_dimension".to_owned();
        return Err(SinkError::Schema { target, problems: vec![problem] });
    };
    let load = Load::begin(root, &spec.name)?;
    let source = match (batches.first(), spec.declared_schema()) {
        (Some(batch), _) => batch.schema(),
        (None, Some(declared)) => declared,
        // No rows and no columns: an empty table.
        (None, None) => {
            load.publish()?;
            return Ok(LoadStats::default());
        }
    };
    let projection = spec.projection(&target, &source)?;
    let all =
        batches.iter().map(|batch| projection.apply(&target, batch, "a later batch")).collect::<Result<Vec<_>, _>>()?;
    let sort_by: Vec<&str> = if sort_by.is_empty() {
        let fields = projection.schema.fields().iter();
        fields.filter(|field| is_orderable(field.data_type())).map(|field| field.name().as_str()).collect()
    } else {
        sort_by.iter().map(String::as_str).collect()
    };
    let rows = sorted_rows(&target, &all, &sort_by)?;
    write_rows(&load, &projection.schema, &all, &rows)?;
    load.publish()?;
    Ok(LoadStats { rows_loaded: rows.len() as u64, files_written: 1, ..LoadStats::default() })
}

/// Writes `rows` of `batches`, in that order, to the load's one file.
fn write_rows(load: &Load, schema: &SchemaRef, batches: &[RecordBatch], rows: &[(u32, u32)]) -> Result<(), SinkError> {
    let target = load.target.as_str();
    let mut chunks = rows.chunks(WRITE_BATCH_ROWS.min(MAX_ROW_GROUP_ROWS));
    let first = gather(schema, batches, chunks.next().unwrap_or_default()).map_err(SinkError::arrow(target))?;
    let path = load.staging.path().join("part-00000.parquet");
    let mut file = ParquetFile::create(target, path, schema.clone(), &ColumnEncodings::choose(&first))?;
    if first.num_rows() > 0 {
        file.write(target, &first)?;
    }
    for chunk in chunks {
        file.write(target, &gather(schema, batches, chunk).map_err(SinkError::arrow(target))?)?;
    }
    file.finish(target)?;
    Ok(())
}

#[cfg(test)]
mod tests;
