//! What each kind of stage does when it runs: read its inputs' artifacts, do its work, write its
//! outputs' artifacts, report counts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use serde::Serialize;

use super::RunObserver;
use super::artifacts::{ArtifactReader, Artifacts, Follow, PortWriters};
use super::failure::StageFailure;
use crate::config::{PlannedStage, StageKind, Upstream};
use crate::ingest::{IngestOptions, ingest};
use crate::runtime::{InstanceStats, Output, RunInfo, StageError, StageErrorKind, StageInstance};

/// What one successful stage attempt reports.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StageReport {
    pub rows_in: u64,
    pub rows_out: u64,
    pub rows_rejected: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub metrics: Vec<(String, i64)>,
    pub plugin_sha256: Option<String>,
    /// Seconds the stage waited for running upstreams to write more of its inputs.
    pub input_wait_s: f64,
    /// A plugin stage's linear memory at its largest, in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guest_memory_bytes: Option<u64>,
}

/// Everything a stage attempt needs from the run.
pub struct StageContext<'a> {
    pub stage: &'a PlannedStage,
    /// Stage names by index, to find upstream artifacts.
    pub names: &'a [String],
    pub artifacts: &'a Artifacts,
    /// When the stage times out, not counting the time it waits for running upstreams.
    pub deadline: Instant,
    /// What reading inputs from running upstreams cost and whether one failed under the stage.
    pub follow: Arc<Follow>,
    /// The run and attempt, as plugins see them.
    pub run: RunInfo,
    /// Run plugin stages natively instead of in the sandbox (`native-stages` builds only).
    pub native_stages: bool,
    /// Told the rows read so far, as the stage goes (for the progress display).
    pub observer: &'a dyn RunObserver,
    /// Set when the run is cancelled: the stage fails at its next batch.
    pub cancel: Option<&'a std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for StageContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageContext").field("stage", &self.stage.name).field("deadline", &self.deadline).finish()
    }
}

impl StageContext<'_> {
    /// Reports that the stage has read `rows_in` rows so far in this attempt.
    pub(crate) fn progress(&self, rows_in: u64) {
        self.observer.stage_progress(&self.stage.name, rows_in);
    }

    /// Streams one of the stage's inputs, following it if its stage is still running.
    pub(crate) fn read(&self, upstream: &Upstream) -> Result<ArtifactReader, StageFailure> {
        Ok(self.artifacts.follow(&self.names[upstream.stage], &upstream.port, &self.follow)?)
    }

    /// The deadline, moved on by the time spent waiting for running upstreams.
    fn deadline(&self) -> Instant {
        self.deadline + self.follow.waited()
    }

    /// Fails the stage if it ran past its time limit or the run was cancelled.
    pub(crate) fn check_deadline(&self) -> Result<(), StageFailure> {
        if self.cancel.is_some_and(|cancel| cancel.load(std::sync::atomic::Ordering::SeqCst)) {
            Err(StageFailure::Cancelled)
        } else if Instant::now() > self.deadline() {
            Err(self.timed_out())
        } else {
            Ok(())
        }
    }

    fn remaining(&self) -> Duration {
        self.deadline().saturating_duration_since(Instant::now())
    }

    fn timed_out(&self) -> StageFailure {
        StageFailure::Timeout { limit: self.stage.timeout }
    }
}

/// Runs one attempt of a native or plugin stage. Warehouse and report stages are run by the
/// sinks (see `super::sinks`).
pub fn run_data_stage(ctx: &StageContext<'_>) -> Result<StageReport, StageFailure> {
    let stage = ctx.stage;
    ctx.artifacts
        .reset_stage(&stage.name)
        .map_err(|source| StageFailure::Io { path: ctx.artifacts.stage_dir(&stage.name), source: Arc::new(source) })?;
    ctx.artifacts.live().begin(&stage.name);
    match &stage.kind {
        StageKind::Ingest { path, schema, batch_rows, batch_bytes, .. } => {
            let mut options = IngestOptions::new(stage.name.clone());
            options.batch_rows = *batch_rows;
            options.batch_bytes = *batch_bytes;
            let mut writers = PortWriters::default();
            let mut rows_read = 0;
            let stats = ingest(path, schema, &options, |batch| -> Result<(), StageFailure> {
                ctx.check_deadline()?;
                rows_read += (batch.valid.num_rows() + batch.rejected.num_rows()) as u64;
                ctx.progress(rows_read);
                if batch.valid.num_rows() > 0 {
                    writers.write(ctx.artifacts, &stage.name, "out", &batch.valid)?;
                }
                if batch.rejected.num_rows() > 0 {
                    writers.write(ctx.artifacts, &stage.name, "rejected", &batch.rejected)?;
                }
                Ok(())
            })?;
            writers.finish(ctx.artifacts, &stage.name)?;
            Ok(StageReport {
                rows_in: stats.rows_read,
                rows_out: stats.rows_valid,
                rows_rejected: stats.rows_rejected,
                bytes_in: stats.bytes,
                ..StageReport::default()
            })
        }
        StageKind::Plugin { plugin, config, limits, inputs } => {
            let mut limits = limits.clone();
            limits.call_timeout = limits.call_timeout.min(ctx.remaining());
            let mut opened: Box<dyn OpenedStage> = if ctx.native_stages {
                super::native::open(plugin, &stage.name, &ctx.run, config).map_err(StageFailure::Native)?
            } else {
                Box::new(
                    plugin
                        .open_in_run(&stage.name, &ctx.run, config, &limits)
                        .map_err(|e| plugin_error(ctx, e.kind))?,
                )
            };
            let mut writers = PortWriters::default();
            let mut emit = |outputs: Vec<Output>| -> Result<(), StageFailure> {
                for output in outputs {
                    for batch in &output.batches {
                        writers.write(ctx.artifacts, &stage.name, &output.port, batch)?;
                    }
                }
                Ok(())
            };
            let call_timeout = || limits.call_timeout.min(ctx.remaining());
            let mut rows_read = 0;
            for (port, upstream) in inputs {
                for batch in ctx.read(upstream)? {
                    let batch = batch?;
                    ctx.check_deadline()?;
                    emit(opened.push(port, &batch, call_timeout()).map_err(|e| plugin_error(ctx, e))?)?;
                    rows_read += batch.num_rows() as u64;
                    ctx.progress(rows_read);
                }
            }
            ctx.check_deadline()?;
            emit(opened.finish(call_timeout()).map_err(|e| plugin_error(ctx, e))?)?;
            let metrics = opened.metrics().map_err(|e| plugin_error(ctx, e))?;
            let stats = opened.stats();
            let rows_rejected = writers.rows("rejected");
            writers.finish(ctx.artifacts, &stage.name)?;
            Ok(StageReport {
                rows_in: stats.rows_in,
                rows_out: stats.rows_out.saturating_sub(rows_rejected),
                rows_rejected,
                bytes_in: stats.bytes_in,
                bytes_out: stats.bytes_out,
                metrics,
                plugin_sha256: Some(plugin.sha256().to_owned()),
                guest_memory_bytes: (!ctx.native_stages).then_some(stats.memory_bytes),
                ..StageReport::default()
            })
        }
        StageKind::Warehouse { .. } | StageKind::Reports { .. } => Err(StageFailure::Internal(format!(
            "stage \"{}\": {} stages run in the sinks",
            stage.name,
            stage.kind.label()
        ))),
    }
}

/// One opened plugin stage: a sandboxed instance, or (the `native-stages` build, which measures
/// what the sandbox costs) the plugin's crate compiled into the host.
pub(super) trait OpenedStage {
    /// Pushes `batch` on `port`; the call may take at most `timeout` (enforced in the sandbox).
    fn push(&mut self, port: &str, batch: &RecordBatch, timeout: Duration) -> Result<Vec<Output>, StageErrorKind>;
    fn finish(&mut self, timeout: Duration) -> Result<Vec<Output>, StageErrorKind>;
    fn metrics(&mut self) -> Result<Vec<(String, i64)>, StageErrorKind>;
    fn stats(&self) -> InstanceStats;
}

impl OpenedStage for StageInstance {
    fn push(&mut self, port: &str, batch: &RecordBatch, timeout: Duration) -> Result<Vec<Output>, StageErrorKind> {
        self.set_call_timeout(timeout);
        StageInstance::push(self, port, batch).map_err(|e| e.kind)
    }

    fn finish(&mut self, timeout: Duration) -> Result<Vec<Output>, StageErrorKind> {
        self.set_call_timeout(timeout);
        StageInstance::finish(self).map_err(|e| e.kind)
    }

    fn metrics(&mut self) -> Result<Vec<(String, i64)>, StageErrorKind> {
        StageInstance::metrics(self).map_err(|e| e.kind)
    }

    fn stats(&self) -> InstanceStats {
        StageInstance::stats(self)
    }
}

/// A plugin failure, naming the stage, the plugin and what happened (the limit, if one was
/// hit), or the stage's own time limit when that is what ran out.
fn plugin_error(ctx: &StageContext<'_>, kind: StageErrorKind) -> StageFailure {
    if matches!(kind, StageErrorKind::Timeout { .. }) && Instant::now() >= ctx.deadline() {
        return ctx.timed_out();
    }
    let plugin = match &ctx.stage.kind {
        StageKind::Plugin { plugin, .. } => plugin.label().to_owned(),
        other => other.label().to_owned(),
    };
    StageError { stage: ctx.stage.name.clone(), plugin, kind }.into()
}
