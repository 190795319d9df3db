//! `/metrics`: the run store as Prometheus text (format 0.0.4), built with the official client
//! (`prometheus-client`) at every scrape from the last [`RUNS`] runs, read-only.
//!
//! | metric | type | labels |
//! | --- | --- | --- |
//! | `etl_runs` | gauge | pipeline, status |
//! | `etl_run_duration_seconds` | histogram | pipeline |
//! | `etl_stage_duration_seconds` | histogram | pipeline, stage |
//! | `etl_stage_rows_in`, `etl_stage_rows_out`, `etl_stage_rows_rejected` | gauge | pipeline, stage |
//! | `etl_stage_retries` | gauge | pipeline, stage |
//! | `etl_stage_plugin_seconds` | gauge | pipeline, stage |
//! | `etl_quarantined_rows` | gauge | pipeline, stage, reason |
//! | `etl_last_success_timestamp_seconds` | gauge | pipeline |
//! | `etl_runs_window` | gauge | |
//!
//! The gauges are sums over the runs in the window (it slides, so they are not counters).
//! Quarantine counts come from the files of the last [`QUARANTINE_RUNS`] runs of the pipeline
//! the monitor was started for (`--pipeline`).

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::graph::NodeKind;
use super::{Monitor, MonitorError, quarantine};
use crate::state::{RunStatus, StageRun};

/// How many of the latest runs a scrape reads.
pub const RUNS: usize = 1000;
/// How many of the latest runs' quarantines a scrape reads.
pub const QUARANTINE_RUNS: usize = 20;
/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

const DURATION_BUCKETS: [f64; 12] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0];

type Labels = Vec<(&'static str, String)>;
type Histograms = Family<Labels, Histogram, fn() -> Histogram>;
type FloatGauge = Gauge<f64, AtomicU64>;

fn histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

impl Monitor {
    /// The metrics text of the store as it is now.
    pub fn metrics_text(&self) -> Result<String, MonitorError> {
        let mut registry = Registry::with_prefix("etl");
        let runs: Family<Labels, Gauge> = Family::default();
        let run_duration: Histograms = Family::new_with_constructor(histogram);
        let stage_duration: Histograms = Family::new_with_constructor(histogram);
        let rows_in: Family<Labels, Gauge> = Family::default();
        let rows_out: Family<Labels, Gauge> = Family::default();
        let rows_rejected: Family<Labels, Gauge> = Family::default();
        let retries: Family<Labels, Gauge> = Family::default();
        let plugin_seconds: Family<Labels, FloatGauge> = Family::default();
        let quarantined: Family<Labels, Gauge> = Family::default();
        let last_success: Family<Labels, FloatGauge> = Family::default();
        let window: Gauge = Gauge::default();

        if let Some(store) = self.store()? {
            let summaries = store.list_runs(RUNS)?;
            window.set(summaries.len() as i64);
            let mut latest_success: BTreeMap<String, i64> = BTreeMap::new();
            let mut quarantine_reads = 0;
            for summary in summaries {
                let pipeline = summary.pipeline.clone();
                runs.get_or_create(&vec![
                    ("pipeline", pipeline.clone()),
                    ("status", summary.status.as_str().to_owned()),
                ])
                .inc();
                if let Some(seconds) = summary.duration_seconds {
                    run_duration.get_or_create(&vec![("pipeline", pipeline.clone())]).observe(seconds);
                }
                if summary.status == RunStatus::Success {
                    let end = summary.ended_at.unwrap_or(summary.started_at).unix_millis();
                    let latest = latest_success.entry(pipeline.clone()).or_insert(end);
                    *latest = (*latest).max(end);
                }
                let Some(detail) = store.get_run(&summary.id)? else { continue };
                for stage in &detail.stages {
                    let labels = vec![("pipeline", pipeline.clone()), ("stage", stage.record.stage.clone())];
                    add_stage(stage, &labels, [&rows_in, &rows_out, &rows_rejected, &retries]);
                    if let Some(seconds) = stage.duration_seconds {
                        stage_duration.get_or_create(&labels).observe(seconds);
                    }
                    if let Some(busy) = stage.busy_seconds.filter(|_| self.stage_kind(stage) == NodeKind::Plugin) {
                        plugin_seconds.get_or_create(&labels).inc_by(busy);
                    }
                }
                let ours = self.pipeline().filter(|p| p.name == pipeline);
                if let Some(context) = ours.filter(|_| quarantine_reads < QUARANTINE_RUNS) {
                    quarantine_reads += 1;
                    for count in quarantine::summarize(&context.quarantine, &summary.id)?.counts {
                        let labels =
                            vec![("pipeline", pipeline.clone()), ("stage", count.stage), ("reason", count.reason)];
                        quarantined.get_or_create(&labels).inc_by(count.rows as i64);
                    }
                }
            }
            for (pipeline, ms) in latest_success {
                last_success.get_or_create(&vec![("pipeline", pipeline)]).set(ms as f64 / 1000.0);
            }
        }

        registry.register("runs", format!("Runs by pipeline and status, among the last {RUNS}"), runs);
        registry.register("run_duration_seconds", "Durations of finished runs", run_duration);
        registry.register("stage_duration_seconds", "Durations of stages, from start to end", stage_duration);
        registry.register("stage_rows_in", "Rows read by each stage, summed over the runs", rows_in);
        registry.register("stage_rows_out", "Rows written by each stage, summed over the runs", rows_out);
        registry.register("stage_rows_rejected", "Rows rejected by each stage, summed over the runs", rows_rejected);
        registry.register("stage_retries", "Retries (attempts beyond the first) of each stage", retries);
        registry.register(
            "stage_plugin_seconds",
            "Time plugin stages worked (duration less input waits), summed over the runs",
            plugin_seconds,
        );
        registry.register(
            "quarantined_rows",
            format!("Quarantined rows by stage and reason, over the last {QUARANTINE_RUNS} runs' quarantines"),
            quarantined,
        );
        registry.register("last_success_timestamp_seconds", "When the latest successful run ended", last_success);
        registry.register("runs_window", "Runs the other figures are over", window);
        let mut text = String::new();
        prometheus_text::encode(&mut text, &registry).map_err(MonitorError::Metrics)?;
        Ok(text)
    }
}

fn add_stage(stage: &StageRun, labels: &Labels, [rows_in, rows_out, rejected, retries]: [&Family<Labels, Gauge>; 4]) {
    let record = &stage.record;
    let gauge = |family: &Family<Labels, Gauge>, value: u64| {
        family.get_or_create(labels).inc_by(i64::try_from(value).unwrap_or(i64::MAX));
    };
    gauge(rows_in, record.rows_in);
    gauge(rows_out, record.rows_out);
    gauge(rejected, record.rows_rejected);
    gauge(retries, u64::from(record.attempts.saturating_sub(1)));
}
