//! The JSON API's documents (`/api/runs`, `/api/runs/<id>`): what the store holds, with the
//! figures the pages show computed once, here.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde::Serialize;

use super::graph::NodeKind;
use super::quarantine::{self, QuarantineSummary};
use super::{Monitor, MonitorError};
use crate::state::{CheckRecord, RunStats, RunSummary, StageRun, Timestamp};
use crate::untrusted;

/// Lines of `run.log` a run page shows.
pub const LOG_TAIL_LINES: usize = 50;
/// Bytes read from the end of `run.log` to find them.
const LOG_TAIL_BYTES: u64 = 64 << 10;

/// `/api/runs?limit=N&days=D`: the latest runs and the success rate and average duration over
/// the last `limit` runs and the last `days` days (the lab's `PipelineMetrics`).
#[derive(Debug, Clone, Serialize)]
pub struct RunsPage {
    /// The pipeline the monitor was started for, if any.
    pub pipeline: Option<String>,
    pub limit: usize,
    pub days: u32,
    pub runs: Vec<RunRow>,
    pub last_runs: Window,
    pub last_days: Window,
}

/// Aggregates over a window of finished runs.
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    pub runs: u64,
    pub success: u64,
    pub partial: u64,
    pub failed: u64,
    pub success_rate: Option<f64>,
    pub avg_duration_seconds: Option<f64>,
    pub p95_duration_seconds: Option<f64>,
}

impl From<RunStats> for Window {
    fn from(stats: RunStats) -> Self {
        Window {
            runs: stats.runs,
            success: stats.success,
            partial: stats.partial,
            failed: stats.failed,
            success_rate: stats.success_rate,
            avg_duration_seconds: stats.avg_duration_seconds,
            p95_duration_seconds: stats.p95_duration_seconds,
        }
    }
}

/// One run in the runs table: its summary and its row counts.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    #[serde(flatten)]
    pub summary: RunSummary,
    /// Rows its source (ingest) stages read.
    pub rows_in: u64,
    /// Rows its sink stages (warehouse, reports) received.
    pub rows_out: u64,
    /// Rows rejected by any stage: every one of them is in the quarantine.
    pub quarantined: u64,
}

/// `/api/runs/<id>`: one run, its stages on a time axis, checks, log tail and quarantine.
#[derive(Debug, Clone, Serialize)]
pub struct RunPage {
    pub run: RunRow,
    pub stages: Vec<StageView>,
    pub checks: Vec<CheckRecord>,
    /// The last [`LOG_TAIL_LINES`] lines of `run.log`, control characters escaped.
    pub log_tail: Vec<String>,
    /// With `--pipeline`: the run's quarantine by stage and reason, with a sample.
    pub quarantine: Option<QuarantineSummary>,
}

/// One stage of a run page.
#[derive(Debug, Clone, Serialize)]
pub struct StageView {
    #[serde(flatten)]
    pub stage: StageRun,
    /// `source`, `plugin` or `sink`.
    pub kind: &'static str,
    /// Milliseconds from the run's start to the stage's start and end (the Gantt chart's bars).
    pub start_offset_ms: Option<i64>,
    pub end_offset_ms: Option<i64>,
    /// `attempts - 1`.
    pub retries: u32,
}

impl Monitor {
    /// The runs page's data: the latest `limit` runs, stats over them and over `days` days.
    pub fn runs_page(&self, limit: usize, days: u32, now: Timestamp) -> Result<RunsPage, MonitorError> {
        let pipeline = self.pipeline().map(|p| p.name.clone());
        let empty = || {
            Window::from(RunStats {
                window: 0,
                days: None,
                runs: 0,
                success: 0,
                partial: 0,
                failed: 0,
                success_rate: None,
                avg_duration_seconds: None,
                p95_duration_seconds: None,
                stages: Vec::new(),
            })
        };
        let Some(store) = self.store()? else {
            return Ok(RunsPage { pipeline, limit, days, runs: Vec::new(), last_runs: empty(), last_days: empty() });
        };
        let mut runs = Vec::new();
        for summary in store.list_runs(limit)? {
            // A run deleted between the two reads is left out.
            if let Some(detail) = store.get_run(&summary.id)? {
                runs.push(self.run_row(summary, &detail.stages));
            }
        }
        Ok(RunsPage {
            pipeline,
            limit,
            days,
            runs,
            last_runs: store.stats(limit)?.into(),
            last_days: store.stats_for_days(days, now)?.into(),
        })
    }

    /// The run page's data, or `None` for an unknown run.
    pub fn run_page(&self, run_id: &str) -> Result<Option<RunPage>, MonitorError> {
        let Some(store) = self.store()? else { return Ok(None) };
        let Some(detail) = store.get_run(run_id)? else { return Ok(None) };
        let started = detail.run.started_at.unix_millis();
        let offset = |t: Option<Timestamp>| t.map(|t| t.unix_millis() - started);
        let stages = detail
            .stages
            .iter()
            .map(|s| StageView {
                kind: self.stage_kind(s).label(),
                start_offset_ms: offset(s.record.started_at),
                end_offset_ms: offset(s.record.ended_at),
                retries: s.record.attempts.saturating_sub(1),
                stage: s.clone(),
            })
            .collect();
        let run_dir = self.state_dir().join("runs").join(&detail.run.id);
        let quarantine = match self.pipeline() {
            Some(pipeline) => Some(quarantine::summarize(&pipeline.quarantine, &detail.run.id)?),
            None => None,
        };
        Ok(Some(RunPage {
            run: self.run_row(detail.run, &detail.stages),
            stages,
            checks: detail.checks,
            log_tail: log_tail(&run_dir.join("run.log")),
            quarantine,
        }))
    }

    fn run_row(&self, summary: RunSummary, stages: &[StageRun]) -> RunRow {
        let mut row = RunRow { summary, rows_in: 0, rows_out: 0, quarantined: 0 };
        for stage in stages {
            let record = &stage.record;
            match self.stage_kind(stage) {
                NodeKind::Source => row.rows_in += record.rows_in,
                NodeKind::Sink => row.rows_out += record.rows_in,
                NodeKind::Plugin => {}
            }
            row.quarantined += record.rows_rejected;
        }
        row
    }

    /// From the pipeline's graph when the stage is in it; else from the record: a plugin stage
    /// has a digest, a sink reports what it loaded (`rows_loaded.<table>`, `rows.<file>`), and
    /// any other native stage is an ingest.
    pub(super) fn stage_kind(&self, stage: &StageRun) -> NodeKind {
        let record = &stage.record;
        if let Some(node) = self.pipeline().and_then(|p| p.graph.nodes.iter().find(|n| n.name == record.stage)) {
            return node.kind;
        }
        if record.plugin_sha256.is_some() {
            NodeKind::Plugin
        } else if record.metrics.iter().any(|(name, _)| name.starts_with("rows_loaded.") || name.starts_with("rows.")) {
            NodeKind::Sink
        } else {
            NodeKind::Source
        }
    }
}

/// The last [`LOG_TAIL_LINES`] lines of the file at `path` (none if it can't be read), each
/// with control characters escaped.
fn log_tail(path: &Path) -> Vec<String> {
    let read = || -> std::io::Result<String> {
        let mut file = fs::File::open(path)?;
        let len = file.metadata()?.len();
        let start = len.saturating_sub(LOG_TAIL_BYTES);
        file.seek(SeekFrom::Start(start))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        if start > 0 {
            // Drop the partial first line.
            let first = bytes.iter().position(|&b| b == b'\n').map_or(bytes.len(), |i| i + 1);
            bytes.drain(..first);
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    let Ok(text) = read() else { return Vec::new() };
    let lines: Vec<&str> = text.lines().collect();
    let skip = lines.len().saturating_sub(LOG_TAIL_LINES);
    lines[skip..].iter().map(|line| untrusted::escape(line).into_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_tail_is_the_last_lines_escaped() {
        let dir = std::env::temp_dir().join(format!("monitor-log-tail-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("run.log");
        let text: String = (0..120).map(|i| format!("line {i}\n")).collect::<String>() + "last \u{1b}[31mred\n";
        fs::write(&path, text).unwrap();
        let tail = log_tail(&path);
        assert_eq!(tail.len(), LOG_TAIL_LINES);
        assert_eq!(tail[0], "line 71");
        assert_eq!(tail[LOG_TAIL_LINES - 1], "last \\u{1b}[31mred");
        assert!(log_tail(&dir.join("missing.log")).is_empty());
        let _ = fs::remove_dir_all(&dir);
    }
}
