//! What the run store records and returns: a new run, a stage's record, and the
//! summaries, details and statistics read back. Every result type serializes for `--json`.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};

use super::time::Timestamp;
pub use crate::alerts::AlertEvent;
pub use crate::dag::{ParseStatusError, RunStatus, StageStatus};

/// Statuses are stored by their lowercase names.
macro_rules! status_sql_impls {
    ($ty:ident) => {
        impl ToSql for $ty {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $ty {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                value.as_str()?.parse().map_err(|e| FromSqlError::Other(Box::new(e)))
            }
        }
    };
}

status_sql_impls!(RunStatus);
status_sql_impls!(StageStatus);

impl ToSql for AlertEvent {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for AlertEvent {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        AlertEvent::ALL
            .into_iter()
            .find(|e| e.as_str() == text)
            .ok_or_else(|| FromSqlError::Other(format!("unknown alert event {text:?}").into()))
    }
}

impl ToSql for Timestamp {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.unix_millis()))
    }
}

impl FromSql for Timestamp {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_i64().map(Timestamp::from_unix_millis)
    }
}

/// A run about to start, as [`RunStore::start_run`](super::RunStore::start_run) records it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewRun {
    /// From [`RunStore::new_run_id`](super::RunStore::new_run_id): letters, digits, `.`, `_`, `-`.
    pub id: String,
    pub pipeline: String,
    pub env: String,
    /// The date the run is for (`--date`), `YYYY-MM-DD`.
    pub logical_date: String,
    pub started_at: Timestamp,
    /// The failed run this one resumes; it must be in the same store.
    pub resumed_from: Option<String>,
    /// Digest of the validated plan the run executes.
    pub config_digest: String,
    pub trigger: Trigger,
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// `host run`.
    Manual,
    /// `host schedule`, at a fire time of the pipeline's `schedule:`.
    Schedule,
    /// Tasks of an Airflow DAG (`host export airflow`).
    Airflow,
}

impl Trigger {
    pub const ALL: [Trigger; 3] = [Trigger::Manual, Trigger::Schedule, Trigger::Airflow];

    /// The lowercase name, as stored and printed.
    pub const fn as_str(self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Schedule => "schedule",
            Trigger::Airflow => "airflow",
        }
    }
}

impl ToSql for Trigger {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for Trigger {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        Trigger::ALL.into_iter().find(|t| t.as_str() == text).ok_or_else(|| {
            FromSqlError::Other(format!("unknown run trigger {text:?} (expected manual, schedule or airflow)").into())
        })
    }
}

/// Everything recorded about one stage of one run. [`RunStore::upsert_stage`] replaces the
/// stage's previous record, metrics included.
///
/// [`RunStore::upsert_stage`]: super::RunStore::upsert_stage
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageRecord {
    pub stage: String,
    pub status: StageStatus,
    /// Executions so far, retries included; 0 while pending.
    pub attempts: u32,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub rows_in: u64,
    pub rows_out: u64,
    pub rows_rejected: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub error: Option<String>,
    /// Why the stage failed, as a short fixed label (`memory`, `timeout`, `trap`, `invalid_input`,
    /// `upstream_failed`, `abandoned`, ...; see `run::StageFailure::kind`).
    pub error_kind: Option<String>,
    /// Milliseconds the stage waited for running upstreams to write more of its inputs.
    pub input_wait_ms: Option<u64>,
    /// Digest of the plugin component that ran (none for native stages).
    pub plugin_sha256: Option<String>,
    /// The plugin's `.wasm` file as the pipeline resolved it.
    pub plugin_path: Option<String>,
    /// The name and version the plugin declares (`describe`), escaped and bounded.
    pub plugin_name: Option<String>,
    pub plugin_version: Option<String>,
    /// The plugin's own metrics, in the order it reported them. Serialized as
    /// `[{"name": ..., "value": ...}]`.
    #[serde(serialize_with = "serialize_metrics")]
    pub metrics: Vec<(String, i64)>,
}

impl StageRecord {
    /// A stage that has not started: no attempts, no timestamps, zero counts.
    pub fn pending(stage: impl Into<String>) -> Self {
        StageRecord {
            stage: stage.into(),
            status: StageStatus::Pending,
            attempts: 0,
            started_at: None,
            ended_at: None,
            rows_in: 0,
            rows_out: 0,
            rows_rejected: 0,
            bytes_in: 0,
            bytes_out: 0,
            error: None,
            error_kind: None,
            input_wait_ms: None,
            plugin_sha256: None,
            plugin_path: None,
            plugin_name: None,
            plugin_version: None,
            metrics: Vec::new(),
        }
    }

    /// Wall-clock seconds from start to end, when both are known.
    pub fn duration_seconds(&self) -> Option<f64> {
        Some(self.started_at?.seconds_until(self.ended_at?))
    }

    /// The seconds the stage worked: its duration less the time it waited for running upstreams
    /// (the duration itself when that wait is not known).
    pub fn busy_seconds(&self) -> Option<f64> {
        let wait = self.input_wait_ms.unwrap_or(0) as f64 / 1000.0;
        self.duration_seconds().map(|duration| (duration - wait).max(0.0))
    }
}

fn serialize_metrics<S: Serializer>(metrics: &[(String, i64)], serializer: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Metric<'a> {
        name: &'a str,
        value: i64,
    }
    let mut seq = serializer.serialize_seq(Some(metrics.len()))?;
    for (name, value) in metrics {
        seq.serialize_element(&Metric { name, value: *value })?;
    }
    seq.end()
}

/// How many of a run's stages are in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StageCounts {
    pub total: u64,
    pub pending: u64,
    pub running: u64,
    pub success: u64,
    pub failed: u64,
    pub skipped: u64,
    pub upstream_failed: u64,
}

impl StageCounts {
    /// The count for one status.
    pub fn get(&self, status: StageStatus) -> u64 {
        match status {
            StageStatus::Pending => self.pending,
            StageStatus::Running => self.running,
            StageStatus::Success => self.success,
            StageStatus::Failed => self.failed,
            StageStatus::Skipped => self.skipped,
            StageStatus::UpstreamFailed => self.upstream_failed,
        }
    }
}

/// One run as `host runs list` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    pub id: String,
    pub pipeline: String,
    pub env: String,
    pub logical_date: String,
    pub status: RunStatus,
    pub started_at: Timestamp,
    /// Set once the run has finished.
    pub ended_at: Option<Timestamp>,
    /// Seconds from start to end, once finished.
    pub duration_seconds: Option<f64>,
    pub resumed_from: Option<String>,
    pub config_digest: String,
    /// What started it: `manual` or `schedule`.
    pub trigger: Trigger,
    pub stage_counts: StageCounts,
}

/// One stage of a run read back: its record and its duration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageRun {
    #[serde(flatten)]
    pub record: StageRecord,
    pub duration_seconds: Option<f64>,
    /// [`StageRecord::busy_seconds`].
    pub busy_seconds: Option<f64>,
}

/// A run and all its stages (in start order), as `host runs show` and the summary file hold it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunDetail {
    pub run: RunSummary,
    pub stages: Vec<StageRun>,
    /// The pipeline's checks as evaluated after the run, in order. Empty for a run that failed
    /// before its checks, one still going, or one recorded by a host that didn't record them.
    pub checks: Vec<CheckRecord>,
    /// Every alert delivery attempted for the run, in order (empty before schema 5).
    pub alerts: Vec<AlertRecord>,
    /// When retention deleted the run's artifacts (`runs/<id>/artifacts/`); none while they are
    /// kept. The record, `summary.json` and `run.log` stay.
    pub pruned: Option<Pruned>,
}

/// One alert delivery attempt (see [`RunStore::record_alert`](super::RunStore::record_alert)).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRecord {
    /// The alert's target as text: its URL or its command line.
    pub alert: String,
    pub event: AlertEvent,
    pub delivered: bool,
    /// `HTTP 200`, `exit status 0`, or why it was not delivered.
    pub detail: String,
    pub at: Timestamp,
}

/// A run whose artifacts retention deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Pruned {
    pub at: Timestamp,
    /// Bytes the deletion freed (files no later run shares).
    pub bytes: u64,
}

/// One of the pipeline's `checks:` as evaluated after a run (see
/// [`RunStore::record_checks`](super::RunStore::record_checks)).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckRecord {
    /// `conservation(ingest_orders)`, `equal_sums(daily_sales.total_amount_sum, ...)`.
    pub name: String,
    pub passed: bool,
    /// The figures in words: `raw rows 20000 = 19000 on transform_orders.out + 1000 quarantined`.
    pub detail: String,
    pub figures: Figures,
}

/// The named figures a check compared, in order: counts as JSON integers, sums of money as
/// exact decimal strings (`"1234.50"`). Serialized as a JSON object (`{"raw_rows": 20000, ...}`)
/// keeping that order; stored as a JSON array of `[name, value]` pairs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures(pub Vec<(String, serde_json::Value)>);

impl Serialize for Figures {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

impl ToSql for Figures {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        let text = serde_json::to_string(&self.0).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(ToSqlOutput::from(text))
    }
}

impl FromSql for Figures {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        serde_json::from_str(value.as_str()?).map(Figures).map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

/// Aggregates over the most recent finished runs (see [`RunStore::stats`]).
///
/// [`RunStore::stats`]: super::RunStore::stats
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunStats {
    /// How many runs were asked for; `runs` is fewer when the store holds fewer. Over `days`,
    /// the finished runs those days hold.
    pub window: usize,
    /// The days covered ([`RunStore::stats_for_days`]), or none for the last `window` runs.
    ///
    /// [`RunStore::stats_for_days`]: super::RunStore::stats_for_days
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    /// Finished runs counted.
    pub runs: u64,
    pub success: u64,
    pub partial: u64,
    pub failed: u64,
    /// `success / runs` in [0, 1]; none without runs.
    pub success_rate: Option<f64>,
    pub avg_duration_seconds: Option<f64>,
    /// 95th percentile of run durations by the nearest-rank method: the ⌈0.95·n⌉-th smallest.
    pub p95_duration_seconds: Option<f64>,
    /// Per pipeline and stage, in the order stages typically start.
    pub stages: Vec<StageStats>,
}

/// One stage's aggregates over the runs a [`RunStats`] covers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageStats {
    pub pipeline: String,
    pub stage: String,
    /// Runs that recorded this stage, whatever its status.
    pub runs: u64,
    /// Runs in which this stage itself failed (`upstream_failed` is not counted).
    pub failures: u64,
    /// Mean over executions with both a start and an end.
    pub avg_duration_seconds: Option<f64>,
    /// Mean over successful executions.
    pub avg_rows_out: Option<f64>,
}

/// A run as retention sees it (see [`RunStore::runs_for_retention`](super::RunStore::runs_for_retention)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAge {
    pub id: String,
    pub pipeline: String,
    pub status: RunStatus,
    pub started_at: Timestamp,
    /// Its artifacts were already pruned.
    pub pruned: bool,
}
