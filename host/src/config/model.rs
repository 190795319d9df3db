//! The pipeline file as written: serde types with `deny_unknown_fields`, no validation beyond
//! shape. [`super::plan`] turns it into a checked [`super::Plan`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::alerts::{AlertEvent, WebhookFormat};
use crate::runtime::Limits;

/// A pipeline file (`config/ecommerce.yaml`), after environment overlays and `--set` overrides.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineFile {
    /// The pipeline's name, recorded with every run.
    pub pipeline: String,
    #[serde(default)]
    pub description: String,
    pub paths: Paths,
    /// Where plugin files named by a relative path are looked up (default
    /// `target/wasm32-wasip2/plugin`, relative to the working directory).
    #[serde(default = "default_plugin_dir")]
    pub plugin_dir: PathBuf,
    #[serde(default)]
    pub defaults: StageDefaults,
    /// Limits of the run as a whole, over all its sandboxes.
    #[serde(default)]
    pub sandbox: SandboxConfig,
    /// Who is told how runs went: webhooks or commands, on failure, partial, success or retry.
    #[serde(default)]
    pub alerts: Vec<AlertConfig>,
    /// How long runs' artifacts are kept.
    pub retention: Option<RetentionConfig>,
    pub stages: Vec<StageConfig>,
    /// Invariants checked after every run; a violated one fails the run with its figures.
    #[serde(default)]
    pub checks: Checks,
    /// When `host schedule` runs the pipeline.
    pub schedule: Option<ScheduleConfig>,
}

/// The pipeline's `schedule:` block, for `host schedule`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// A cron pattern: 5 fields (minute hour day-of-month month day-of-week), 6 with seconds
    /// first, or `@yearly`, `@monthly`, `@weekly`, `@daily`, `@hourly`.
    pub cron: String,
    /// The IANA time zone the pattern's wall-clock times are in (default `UTC`).
    #[serde(default = "utc")]
    pub timezone: String,
    /// What to do with fire times missed while no scheduler ran (or while a run overran them).
    #[serde(default)]
    pub catchup: Catchup,
    /// No fire time before this date (`YYYY-MM-DD`, in the schedule's time zone) is run; with
    /// `catchup: all`, where catching up starts when no scheduled run was recorded yet.
    pub start_date: Option<String>,
    /// Runs of the pipeline at once; only 1 is supported.
    #[serde(default = "one")]
    pub max_active_runs: u32,
}

fn utc() -> String {
    "UTC".to_owned()
}

fn one() -> u32 {
    1
}

/// Which missed fire times a scheduler runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Catchup {
    /// None: the next run is at the next fire time from now.
    #[default]
    None,
    /// The most recent missed fire time only.
    Latest,
    /// Every missed fire time, oldest first.
    All,
}

impl Catchup {
    /// The name as the pipeline file writes it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Catchup::None => "none",
            Catchup::Latest => "latest",
            Catchup::All => "all",
        }
    }
}

/// Invariants a run must hold (the spec's "nothing is dropped silently").
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checks {
    /// Rows read by an ingest stage = rows of an output + rows quarantined from that source.
    #[serde(default)]
    pub conservation: Vec<ConservationCheck>,
    /// Each list's decimal columns (`stage.port:column`) must sum to the same value.
    #[serde(default)]
    pub equal_sums: Vec<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConservationCheck {
    /// The ingest stage whose rows are counted.
    pub source: String,
    /// `stage` or `stage.port`: where the rows that made it through end up.
    pub output: String,
}

fn default_plugin_dir() -> PathBuf {
    PathBuf::from("target/wasm32-wasip2/plugin")
}

/// Limits shared by all the sandboxes of a run (each stage's own are its `limits`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxConfig {
    /// The linear memory all plugin instances running at once may hold together (default: half
    /// the machine's memory). A growth past it fails that stage with the budget named.
    pub memory_budget_bytes: Option<u64>,
}

/// Where data comes from and goes to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Paths {
    pub raw_data: PathBuf,
    pub warehouse: PathBuf,
    pub quarantine: PathBuf,
    pub reports: PathBuf,
    pub state: PathBuf,
}

/// Settings every stage inherits unless it sets its own.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StageDefaults {
    pub retries: u32,
    /// The first retry waits this long; each later one twice as long as the one before.
    pub retry_backoff_ms: u64,
    /// Wall time a stage may take, all attempts counted separately.
    pub timeout_s: u64,
    /// Rows per batch read from CSV and pushed into plugins.
    pub batch_rows: usize,
    /// The most bytes of CSV records per batch: a batch ends at `batch_rows` records or once its
    /// records reach this size, whichever comes first, so that wide rows make shorter batches and
    /// a batch takes about the same memory in the host and in each plugin's sandbox.
    pub batch_bytes: usize,
    pub limits: Limits,
}

impl Default for StageDefaults {
    fn default() -> Self {
        StageDefaults {
            retries: 0,
            retry_backoff_ms: 1000,
            timeout_s: 3600,
            batch_rows: 131_072,
            batch_bytes: 32 << 20,
            limits: Limits::default(),
        }
    }
}

/// One stage. Exactly one of `ingest`, `plugin`, `warehouse` or `reports` says what it is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    pub name: String,
    /// A failed critical stage fails the run; a failed non-critical one makes it partial.
    #[serde(default = "yes")]
    pub critical: bool,
    pub retries: Option<u32>,
    pub timeout_s: Option<u64>,
    /// Stages that must finish first, besides those the inputs name.
    #[serde(default)]
    pub depends_on: Vec<String>,

    /// A CSV file read natively.
    pub ingest: Option<IngestConfig>,

    /// A wasm stage plugin: its file (relative to `plugin_dir`, or absolute).
    pub plugin: Option<PathBuf>,
    /// Pin: the plugin file's sha256 must be this.
    pub sha256: Option<String>,
    /// Plugin input port → `stage` or `stage.port` whose output feeds it.
    #[serde(default)]
    pub inputs: BTreeMap<String, String>,
    /// The plugin's `config:` block, handed to it as JSON.
    pub config: Option<serde_json::Value>,
    /// Sandbox limits for this stage (each field defaults to `defaults.limits`).
    pub limits: Option<LimitsOverride>,

    /// Tables loaded into the Parquet warehouse.
    pub warehouse: Option<Vec<TableConfig>>,
    /// CSV reports.
    pub reports: Option<Vec<ReportConfig>>,
}

fn yes() -> bool {
    true
}

/// Per-stage overrides of [`Limits`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsOverride {
    pub memory_bytes: Option<u64>,
    pub call_timeout_ms: Option<u64>,
    pub output_bytes: Option<u64>,
    pub total_output_bytes: Option<u64>,
    pub output_rows: Option<u64>,
    pub log_records: Option<u64>,
}

impl LimitsOverride {
    pub fn apply(&self, base: &Limits) -> Limits {
        Limits {
            memory_bytes: self.memory_bytes.unwrap_or(base.memory_bytes),
            call_timeout: self.call_timeout_ms.map_or(base.call_timeout, std::time::Duration::from_millis),
            output_bytes: self.output_bytes.unwrap_or(base.output_bytes),
            total_output_bytes: self.total_output_bytes.unwrap_or(base.total_output_bytes),
            output_rows: self.output_rows.unwrap_or(base.output_rows),
            log_records: self.log_records.unwrap_or(base.log_records),
        }
    }
}

/// A CSV input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// The file, relative to `paths.raw_data`.
    pub file: PathBuf,
    /// The quarantine folder for rows of this file (default: the file's stem, e.g. `orders`).
    pub source: Option<String>,
    /// The declared columns, in file order.
    pub columns: Vec<ColumnConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnConfig {
    pub name: String,
    /// `text`, `int64`, `decimal(p,s)` or `date`.
    #[serde(rename = "type")]
    pub ty: String,
}

/// One warehouse table: what it stores and how a load writes it. The host knows no table but
/// from here: two pipelines may give one name two shapes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    pub table: String,
    /// `stage` or `stage.port`.
    pub input: String,
    pub mode: TableMode,
    /// The stored columns, in file order, each a name or `{ name, type }` (a declared type is
    /// checked). Left out: every column of the input but the metadata (`_...`) and partition
    /// ones, in the input's order.
    pub columns: Option<Vec<TableColumn>>,
    /// With `partitioned`: the integer columns of the Hive partitions, outermost first. They are
    /// stored in the path only.
    #[serde(default)]
    pub partition_by: Vec<String>,
    /// With `upsert`: the key column.
    pub key: Option<String>,
    /// With `replace`: the columns rows are sorted by (default: every orderable stored column).
    #[serde(default)]
    pub sort_by: Vec<String>,
}

/// A stored column of a warehouse table: `order_id`, or `{ name: quantity, type: int64 }`.
#[derive(Debug, Clone)]
pub enum TableColumn {
    Name(String),
    Typed(TypedColumn),
}

impl<'de> Deserialize<'de> for TableColumn {
    /// A string or a map, each with the error its own shape gives (an untagged enum would only
    /// say that neither matched).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = TableColumn;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a column name or `{ name: ..., type: ... }`")
            }

            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<TableColumn, E> {
                Ok(TableColumn::Name(name.to_owned()))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<TableColumn, A::Error> {
                TypedColumn::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(TableColumn::Typed)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl TableColumn {
    pub fn name(&self) -> &str {
        match self {
            TableColumn::Name(name) | TableColumn::Typed(TypedColumn { name, .. }) => name,
        }
    }
}

/// A stored column with its type (`text`, `int64`, `decimal(18,2)`, ...: [`crate::types`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypedColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableMode {
    /// A fact table: Hive partitions, each replaced whole by a load that has rows for it.
    Partitioned,
    /// A dimension: rows replace those with the same key; other keys are kept.
    Upsert,
    /// Replaced whole by every load.
    Replace,
}

/// One CSV report.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// The file name under `paths.reports`.
    pub file: String,
    /// `stage` or `stage.port`.
    pub input: String,
    pub columns: Vec<String>,
    pub sort_by: Vec<String>,
}

/// One `alerts:` entry: when to tell (`on`) and whom, a `webhook` or a `command` (one of the
/// two). [`crate::alerts::Alert::build`] checks it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertConfig {
    /// What logs and the run store call it (default: the webhook's scheme and host, or the
    /// command line; a webhook's path and query are never shown, they often hold its secret).
    pub name: Option<String>,
    /// The events that fire it: `failure`, `partial`, `success`, `retry`.
    pub on: Vec<AlertEvent>,
    /// An `http://` or `https://` URL the payload is POSTed to as JSON.
    pub webhook: Option<String>,
    /// The webhook's payload: `json` (default: the run's summary) or `slack`.
    pub format: Option<WebhookFormat>,
    /// A program and its arguments, run with the payload on its standard input; exit status 0
    /// means delivered.
    pub command: Option<Vec<String>>,
    /// How long one delivery may take, in seconds (default 10).
    pub timeout_s: Option<u64>,
}

/// The `retention:` block: artifacts of runs beyond the newest `keep_runs` of the pipeline or
/// older than `keep_days` days are deleted after each run and by `host runs prune`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    pub keep_runs: Option<u64>,
    pub keep_days: Option<u64>,
}
