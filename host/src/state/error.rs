//! The run store's errors. Each names the database (or file) and what was being done.

use std::path::PathBuf;

/// A run store operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot create state directory {path}: {source}")]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("cannot open run store {path}: {source}")]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error("cannot open run store {path}: no such file (no run has been recorded in this state directory)")]
    Missing { path: PathBuf },
    #[error(
        "cannot open run store {path}: journal mode is {mode:?}, not \"wal\" \
         (is the state directory on a file system without shared memory?)"
    )]
    NoWal { path: PathBuf, mode: String },
    #[error(
        "run store {path} has schema version {found}, newer than this host's {supported}: \
         use a newer host"
    )]
    SchemaTooNew { path: PathBuf, found: i64, supported: i64 },
    #[error(
        "run store {path} has schema version {found}, older than this host's {supported}: \
         run a pipeline (or any writing command) once to migrate it"
    )]
    SchemaTooOld { path: PathBuf, found: i64, supported: i64 },
    #[error("run store {path}: cannot {op}: {source}")]
    Sql { path: PathBuf, op: String, source: rusqlite::Error },
    #[error("run {run_id} not found in run store {path}")]
    RunNotFound { path: PathBuf, run_id: String },
    #[error("run {run_id} already exists in run store {path}")]
    RunExists { path: PathBuf, run_id: String },
    #[error("cannot start run {run_id} resumed from {resumed_from}: run {resumed_from} not found in run store {path}")]
    ResumedFromNotFound { path: PathBuf, run_id: String, resumed_from: String },
    #[error(
        "invalid run id {run_id:?}: use 1 to 128 letters, digits, '.', '_' or '-', \
         starting with a letter or digit"
    )]
    InvalidRunId { run_id: String },
    #[error("run {run_id}: invalid logical date {date:?}: expected a calendar date as YYYY-MM-DD")]
    InvalidLogicalDate { run_id: String, date: String },
    #[error("cannot finish run {run_id} as {status}: a finished run is success, partial or failed (this is a bug)")]
    NotFinal { run_id: String, status: super::RunStatus },
    #[error("cannot encode the summary of run {run_id}: {source}")]
    EncodeSummary { run_id: String, source: serde_json::Error },
    #[error("cannot write run summary {path}: {source}")]
    WriteSummary { path: PathBuf, source: std::io::Error },
}
