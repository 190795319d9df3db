//! The run store: every run's record, its stages, their plugin metrics, and a JSON summary per
//! run, under the pipeline's `paths.state` directory.
//!
//! ```text
//! <state>/runs.sqlite                  runs, stage_runs, stage_metrics, run_checks, run_alerts (WAL; schema by user_version)
//! <state>/runs/<run_id>/summary.json   the run's RunDetail, written atomically at the end of a run
//! ```
//!
//! [`crate::run::record`] holds one [`RunStore::open`] behind a `Mutex` and calls
//! [`start_run`](RunStore::start_run), [`upsert_stage`](RunStore::upsert_stage) as each stage
//! changes status, [`record_checks`](RunStore::record_checks) with the pipeline's checks,
//! [`finish_run`](RunStore::finish_run) and
//! [`write_summary`](RunStore::write_summary). `host runs list/show/stats` use
//! [`RunStore::open_read_only`] and the `render_*` functions (or print the result types as JSON)
//! while a run may be writing.
//!
//! Timestamps are unix milliseconds ([`Timestamp`]); JSON shows them with their RFC 3339 UTC
//! form beside. Durations are seconds as `f64`.

mod error;
mod lease;
mod model;
mod render;
mod sql;
mod store;
mod time;

#[cfg(test)]
mod tests;

pub use error::StateError;
pub use lease::{ABANDONED, RunLease, is_live};
pub use model::{
    AlertRecord, CheckRecord, Figures, NewRun, ParseStatusError, Pruned, RunAge, RunDetail, RunStats, RunStatus,
    RunSummary, StageCounts, StageRecord, StageRun, StageStats, StageStatus, Trigger,
};
pub use render::{render_run_detail, render_runs_table, render_stats, thousands};
pub use store::{DB_FILE, RunStore, is_run_id};
pub use time::Timestamp;
