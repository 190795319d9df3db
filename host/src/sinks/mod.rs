//! The native sinks: the warehouse load, the quarantine and the reports, each shaped by the
//! pipeline file (for the e-commerce pipeline, the spec's stages 5-6 and settled details 14-16
//! and 18-22). The run's invariants are the pipeline's
//! `checks:`, evaluated from the artifacts (`run/checks.rs`).
//!
//! - [`warehouse`]: Parquet tables under a root directory. [`FactTableWriter`] streams a
//!   partitioned fact table with dynamic partition overwrite, [`upsert_dimension`] merges a
//!   dimension on its key, [`replace_table`] replaces a table whole.
//! - [`QuarantineWriter`]: the rows rejected by any stage, with their text as read, as Parquet
//!   under `quarantine/<source>/run_id=<run_id>/`.
//! - [`write_report_csv`]: a small table as a sorted CSV report.
//!
//! Columns whose names start with `_` (`_line`, `_offset`, `_reasons`, `_message`) are row
//! metadata: the warehouse never stores them.
//!
//! # Atomic publication
//!
//! Every table (and every quarantine run) is a plain directory that readers glob, e.g. DuckDB's
//! `read_parquet('warehouse/sales/**/*.parquet', hive_partitioning = true)`. A load never writes
//! into it. Instead:
//!
//! 1. Under the table's lock (`<root>/.<table>.lock`, an `flock` held by the loading process),
//!    leftovers of earlier loads that died are deleted: hidden `.<table>.staging-<pid>-<n>`
//!    directories beside the table that no live process holds locked.
//! 2. The complete new version is built in a new staging directory (itself `flock`ed while it is
//!    built): new files are written there; files that stay the same (fact partitions this load
//!    doesn't touch) are hard-linked from the current version, never copied or moved. Every file
//!    and directory is fsynced.
//! 3. One `renameat2(RENAME_EXCHANGE)` swaps the staging directory and the table (a plain
//!    `rename` on the first load), and the parent directory is fsynced. The previous version now
//!    sits at the staging path and is deleted.
//!
//! A reader sees the old version or the new one, never a mix; a crash before step 3 leaves the
//! old version in place and a crash after it the new one, with garbage in hidden directories
//! that the next load (step 1) deletes. On a file system without `RENAME_EXCHANGE` the swap falls
//! back to two renames, and step 1 also puts a previous version back if a crash came between them.
//!
//! One process loads a table at a time: a second load of the same table fails with
//! [`SinkError::Busy`] while the first holds the lock. A quarantine run follows the same steps
//! without the table lock (runs of different ids may be written at once; their staging
//! directories are told apart by their own locks), with its staging directory beside the
//! source's directory, `quarantine/.<source>.run_id=<id>.staging-<pid>-<n>`.

mod columns;
mod files;
mod publish;
mod quarantine;
mod report;
pub mod warehouse;

#[cfg(test)]
pub(crate) mod test_util;

use std::path::PathBuf;

use arrow_schema::ArrowError;
use parquet::errors::ParquetError;

use crate::ingest::IngestError;
use crate::untrusted::NameError;

pub(crate) use columns::write_decimal;
pub use quarantine::{MESSAGE_COLUMN, QuarantineWriter, REASONS_COLUMN};
pub use report::write_report_csv;
pub use warehouse::{FactTableWriter, Layout, LoadStats, StoredColumn, TableSpec, replace_table, upsert_dimension};

/// The prefix of row-metadata columns, never stored in the warehouse.
pub const METADATA_PREFIX: &str = "_";

/// Why a sink failed. Each names what it was writing (`warehouse table sales`,
/// `quarantine orders/run_id=r1`, `report daily_sales_report.csv`) and, where one is involved, the
/// path and the operation.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{target}: cannot {operation} {}: {source}", path.display())]
    Io { target: String, operation: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{target}: cannot {operation} Parquet file {}: {source}", path.display())]
    Parquet { target: String, operation: &'static str, path: PathBuf, source: ParquetError },
    /// The batches don't have the columns (or types) the target needs; every problem is listed.
    #[error("{target}: {}", problems.join("; "))]
    Schema { target: String, problems: Vec<String> },
    /// A value the target cannot take (a null partition value, a key of an unsortable type, ...).
    #[error("{target}: {message}")]
    Data { target: String, message: String },
    #[error("{target}: another load is in progress (the lock {} is held)", path.display())]
    Busy { target: String, path: PathBuf },
    /// A table, source or run name that can't be a directory name ([`crate::untrusted::check_name`]).
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("{target}: cannot re-read the rejected rows' raw text: {source}")]
    RawRecords { target: String, source: IngestError },
    #[error("{target}: cannot build a batch (this is a bug): {source}")]
    Arrow { target: String, source: ArrowError },
}

impl SinkError {
    /// A closure making an [`SinkError::Io`] for `operation` on `path`, for `map_err`.
    pub(crate) fn io<'a>(
        target: &'a str,
        operation: &'static str,
        path: &'a std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> SinkError + 'a {
        move |source| SinkError::Io { target: target.to_owned(), operation, path: path.to_owned(), source }
    }

    /// A closure making an [`SinkError::Parquet`] for `operation` on `path`, for `map_err`.
    pub(crate) fn parquet<'a>(
        target: &'a str,
        operation: &'static str,
        path: &'a std::path::Path,
    ) -> impl FnOnce(ParquetError) -> SinkError + 'a {
        move |source| SinkError::Parquet { target: target.to_owned(), operation, path: path.to_owned(), source }
    }

    /// A closure making an [`SinkError::Arrow`], for `map_err`.
    pub(crate) fn arrow(target: &str) -> impl FnOnce(ArrowError) -> SinkError + '_ {
        move |source| SinkError::Arrow { target: target.to_owned(), source }
    }

    pub(crate) fn data(target: &str, message: impl Into<String>) -> SinkError {
        SinkError::Data { target: target.to_owned(), message: message.into() }
    }
}
