//! The sink stages (warehouse, reports) and the quarantine every run writes beside them.

use std::time::Instant;

use arrow_array::RecordBatch;

use crate::config::{Plan, StageKind};
use crate::sinks::{
    FactTableWriter, Layout, QuarantineWriter, SinkError, replace_table, upsert_dimension, write_report_csv,
};

use super::artifacts::Artifacts;
use super::failure::StageFailure;
use super::stages::{StageContext, StageReport};

/// Runs a warehouse or reports stage.
pub fn run_sink_stage(ctx: &StageContext<'_>, plan: &Plan) -> Result<StageReport, StageFailure> {
    let mut report = StageReport::default();
    match &ctx.stage.kind {
        StageKind::Warehouse { tables } => {
            for (table, upstream) in tables {
                let source = ctx.read(upstream)?;
                let root = &plan.paths.warehouse;
                let stats = match table.layout() {
                    Layout::Partitioned { .. } => {
                        let mut writer = FactTableWriter::create(root, table)?;
                        for batch in source {
                            let batch = batch?;
                            ctx.check_deadline()?;
                            report.rows_in += batch.num_rows() as u64;
                            ctx.progress(report.rows_in);
                            writer.write(&batch)?;
                        }
                        writer.commit()?
                    }
                    Layout::Upsert { .. } | Layout::Replace { .. } => {
                        let batches = collect(source)?;
                        report.rows_in += batches.iter().map(|b| b.num_rows() as u64).sum::<u64>();
                        ctx.check_deadline()?;
                        match table.layout() {
                            Layout::Upsert { .. } => upsert_dimension(root, table, &batches)?,
                            _ => replace_table(root, table, &batches)?,
                        }
                    }
                };
                report.rows_out += stats.rows_loaded;
                report.metrics.push((format!("rows_loaded.{}", table.name()), stats.rows_loaded as i64));
                report.metrics.push((format!("rows_kept.{}", table.name()), stats.rows_kept as i64));
            }
        }
        StageKind::Reports { reports } => {
            std::fs::create_dir_all(&plan.paths.reports).map_err(|source| SinkError::Io {
                target: "reports".to_owned(),
                operation: "create the directory",
                path: plan.paths.reports.clone(),
                source,
            })?;
            for (config, upstream) in reports {
                let batches = collect(ctx.read(upstream)?)?;
                let columns: Vec<&str> = config.columns.iter().map(String::as_str).collect();
                let sort_by: Vec<&str> = config.sort_by.iter().map(String::as_str).collect();
                let path = plan.paths.reports.join(&config.file);
                let rows = write_report_csv(&path, &batches, &columns, &sort_by)?;
                report.rows_in += rows;
                report.rows_out += rows;
                report.metrics.push((format!("rows.{}", config.file), rows as i64));
            }
        }
        StageKind::Ingest { .. } | StageKind::Plugin { .. } => {
            return Err(StageFailure::Internal(format!("stage \"{}\" is not a sink", ctx.stage.name)));
        }
    }
    Ok(report)
}

fn collect(source: super::artifacts::ArtifactReader) -> Result<Vec<RecordBatch>, StageFailure> {
    Ok(source.collect::<Result<_, _>>()?)
}

/// Writes every rejected row of the run to `quarantine/<source>/run_id=<id>/`: the parse errors
/// of each ingest stage and the `rejected` output of every plugin stage, traced back through its
/// `in` input (or its only input) to the ingest stage its rows came from. Returns rows per source.
///
/// Runs beside the stages: each source's quarantine is written once the stages feeding it have
/// succeeded, or once no stage runs any more (then with what failed stages rejected).
pub fn write_quarantine(plan: &Plan, artifacts: &Artifacts, run_id: &str) -> Result<Vec<(String, u64)>, StageFailure> {
    let mut totals = Vec::new();
    for (index, stage) in plan.stages.iter().enumerate() {
        let StageKind::Ingest { path, source, schema, .. } = &stage.kind else { continue };
        let feeders: Vec<usize> = (0..plan.stages.len()).filter(|&s| origin(plan, s) == Some(index)).collect();
        let names: Vec<&str> = feeders.iter().map(|&s| plan.stages[s].name.as_str()).collect();
        artifacts.live().wait_finished(&names);
        let writing = Instant::now();
        let has_rows = |s: usize| artifacts.path(&plan.stages[s].name, "rejected").exists();
        if !feeders.iter().any(|&s| has_rows(s)) {
            continue;
        }
        let file_name = path.file_name().map_or_else(|| source.clone(), |n| n.to_string_lossy().into_owned());
        let mut writer = QuarantineWriter::create(&plan.paths.quarantine, source, run_id, &file_name, path, schema)?;
        for s in feeders {
            let name = &plan.stages[s].name;
            for batch in artifacts.read(name, "rejected")? {
                let batch = batch?;
                let result =
                    if s == index { writer.write_parse_errors(&batch) } else { writer.write_rejected(name, &batch) };
                result?;
            }
        }
        let rows = writer.finish()?;
        tracing::info!(source, rows, seconds = writing.elapsed().as_secs_f64(), "quarantine written");
        totals.push((source.clone(), rows));
    }
    Ok(totals)
}

/// The ingest stage whose rows stage `stage` carries, following `in` (or the only input).
fn origin(plan: &Plan, mut stage: usize) -> Option<usize> {
    for _ in 0..=plan.stages.len() {
        match &plan.stages[stage].kind {
            StageKind::Ingest { .. } => return Some(stage),
            StageKind::Plugin { inputs, .. } => {
                let main = inputs.iter().find(|(port, _)| port == "in").or(if inputs.len() == 1 {
                    inputs.first()
                } else {
                    None
                });
                stage = main?.1.stage;
            }
            _ => return None,
        }
    }
    None
}
