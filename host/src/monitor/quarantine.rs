//! A run's quarantine read back for the run page and `/metrics`: rows by stage and reason, and
//! the first rejected rows, from `<quarantine>/<source>/run_id=<run id>/*.parquet`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;

use super::MonitorError;
use crate::untrusted;

/// Rejected rows a run page shows.
pub const SAMPLE_ROWS: usize = 20;
/// The longest raw line or message kept in a sample, in bytes.
const SAMPLE_TEXT_BYTES: usize = 512;

/// A run's quarantine.
#[derive(Debug, Clone, Default, Serialize)]
pub struct QuarantineSummary {
    pub rows: u64,
    /// Rows by stage and reason, sorted by stage then reason. A row rejected for several
    /// reasons (`not_null(id);in_range(n)`) counts once under each.
    pub counts: Vec<QuarantineCount>,
    /// The first [`SAMPLE_ROWS`] rows, by source and file order.
    pub sample: Vec<RejectedRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuarantineCount {
    pub stage: String,
    pub reason: String,
    pub rows: u64,
}

/// One quarantined row; its text fields have control characters escaped and are bounded.
#[derive(Debug, Clone, Serialize)]
pub struct RejectedRow {
    pub source: String,
    pub source_file: String,
    pub line_number: Option<i64>,
    pub stage: String,
    pub reasons: String,
    pub message: Option<String>,
    pub raw_line: Option<String>,
}

/// Reads the quarantine of run `run_id` under `root`; a run without one has an empty summary.
pub fn summarize(root: &Path, run_id: &str) -> Result<QuarantineSummary, MonitorError> {
    let mut summary = QuarantineSummary::default();
    let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
    for (source, file) in files(root, run_id) {
        let error = |message: String| MonitorError::Quarantine { path: file.clone(), message };
        let opened = fs::File::open(&file).map_err(|e| error(e.to_string()))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(opened)
            .and_then(|b| b.build())
            .map_err(|e| error(e.to_string()))?;
        for batch in reader {
            let batch = batch.map_err(|e| error(e.to_string()))?;
            let text = |name: &str, row: usize| -> Option<String> {
                let column = batch.column_by_name(name)?.as_string_opt::<i32>()?;
                column.is_valid(row).then(|| column.value(row).to_owned())
            };
            for row in 0..batch.num_rows() {
                let stage = text("stage", row).unwrap_or_default();
                let reasons = text("reasons", row).unwrap_or_default();
                summary.rows += 1;
                for reason in reasons.split(';').map(str::trim).filter(|r| !r.is_empty()) {
                    *counts.entry((stage.clone(), reason.to_owned())).or_default() += 1;
                }
                if summary.sample.len() < SAMPLE_ROWS {
                    let bounded = |s: String| untrusted::PluginText::new(&s, SAMPLE_TEXT_BYTES).into_string();
                    summary.sample.push(RejectedRow {
                        source: source.clone(),
                        source_file: bounded(text("source_file", row).unwrap_or_default()),
                        line_number: line_number(&batch, row),
                        stage: bounded(stage),
                        reasons: bounded(reasons),
                        message: text("message", row).map(bounded),
                        raw_line: text("raw_line", row).map(bounded),
                    });
                }
            }
        }
    }
    summary.counts =
        counts.into_iter().map(|((stage, reason), rows)| QuarantineCount { stage, reason, rows }).collect();
    Ok(summary)
}

fn line_number(batch: &RecordBatch, row: usize) -> Option<i64> {
    let column = batch.column_by_name("line_number")?.as_primitive_opt::<Int64Type>()?;
    column.is_valid(row).then(|| column.value(row))
}

/// `(source, file)` for every Parquet file of the run, sorted.
fn files(root: &Path, run_id: &str) -> Vec<(String, PathBuf)> {
    let mut found = Vec::new();
    let Ok(sources) = fs::read_dir(root) else { return found };
    for source in sources.flatten() {
        let Ok(source_name) = source.file_name().into_string() else { continue };
        let dir = source.path().join(format!("run_id={run_id}"));
        let Ok(parts) = fs::read_dir(&dir) else { continue };
        for part in parts.flatten() {
            let path = part.path();
            if path.extension().is_some_and(|e| e == "parquet") {
                found.push((source_name.clone(), path));
            }
        }
    }
    found.sort();
    found
}
