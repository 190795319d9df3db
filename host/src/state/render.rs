//! Plain-text renderings of what the run store returns, for `host runs list/show/stats`: aligned
//! columns, one status symbol per stage (`✓` success, `✗` failed, `⊘` upstream failed, `○`
//! skipped, `▸` running, `·` pending).

use std::fmt::Write;

use crate::untrusted;

use super::model::{RunDetail, RunStats, RunStatus, RunSummary, StageCounts, StageRecord, StageStatus};

/// `host runs list`: one line per run, newest first as given.
pub fn render_runs_table(runs: &[RunSummary]) -> String {
    if runs.is_empty() {
        return "no runs recorded\n".to_owned();
    }
    let headers = [
        ("RUN", Align::Left),
        ("PIPELINE", Align::Left),
        ("ENV", Align::Left),
        ("DATE", Align::Left),
        ("STATUS", Align::Left),
        ("STARTED (UTC)", Align::Left),
        ("DURATION", Align::Right),
        ("STAGES", Align::Left),
    ];
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|run| {
            vec![
                run.id.clone(),
                run.pipeline.clone(),
                run.env.clone(),
                run.logical_date.clone(),
                format!("{} {}", run_symbol(run.status), run.status),
                run.started_at.table_form(),
                run.duration_seconds.map_or_else(|| "-".to_owned(), seconds),
                stage_counts(&run.stage_counts),
            ]
        })
        .collect();
    lines(layout(&headers, &rows))
}

/// `host runs show`: the run's fields, then a table of its stages in start order, each failed
/// stage's error and each stage's plugin metrics beneath its line, then the pipeline's checks
/// (`✓` held, `✗` violated), each with its figures beneath it.
pub fn render_run_detail(detail: &RunDetail) -> String {
    let mut out = render_run_and_stages(detail);
    if !detail.checks.is_empty() {
        // Names and figures can be long: each check's figures go on their own line beneath it.
        out.push_str("\n   CHECK\n");
        for check in &detail.checks {
            let symbol = if check.passed { '✓' } else { '✗' };
            let _ = writeln!(out, "{symbol}  {}\n   {}", check.name, check.detail.replace('\n', " "));
        }
    }
    if !detail.alerts.is_empty() {
        out.push_str("\n   ALERT\n");
        for alert in &detail.alerts {
            let symbol = if alert.delivered { '✓' } else { '✗' };
            let _ = writeln!(
                out,
                "{symbol}  {} {}\n   {}: {}",
                alert.event.as_str(),
                untrusted::escape(&alert.alert),
                alert.at.table_form(),
                untrusted::escape(&alert.detail)
            );
        }
    }
    out
}

fn render_run_and_stages(detail: &RunDetail) -> String {
    let run = &detail.run;
    let mut out = String::new();
    let mut field = |name: &str, value: &str| {
        let _ = writeln!(out, "{name:<13} {value}");
    };
    field("run", &run.id);
    field("pipeline", &run.pipeline);
    field("env", &run.env);
    field("logical date", &run.logical_date);
    field("status", &format!("{} {}", run_symbol(run.status), run.status));
    field("started", &run.started_at.rfc3339());
    match (run.ended_at, run.duration_seconds) {
        (Some(end), Some(secs)) => field("ended", &format!("{end} ({})", seconds(secs))),
        _ => field("ended", "-"),
    }
    if let Some(from) = &run.resumed_from {
        field("resumed from", from);
    }
    field("config", &run.config_digest);
    if let Some(pruned) = &detail.pruned {
        let freed = format!("{} bytes freed", thousands(pruned.bytes));
        field("pruned", &format!("artifacts deleted by retention at {} ({freed})", pruned.at));
    }
    out.push('\n');

    if detail.stages.is_empty() {
        out.push_str("no stages recorded\n");
        return out;
    }
    let headers = [
        ("", Align::Left),
        ("STAGE", Align::Left),
        ("STATUS", Align::Left),
        ("ATTEMPTS", Align::Right),
        ("ROWS IN", Align::Right),
        ("ROWS OUT", Align::Right),
        ("REJECTED", Align::Right),
        ("DURATION", Align::Right),
        ("PLUGIN", Align::Left),
    ];
    let rows: Vec<Vec<String>> = detail
        .stages
        .iter()
        .map(|stage| {
            let s = &stage.record;
            vec![
                stage_symbol(s.status).to_string(),
                s.stage.clone(),
                s.status.to_string(),
                s.attempts.to_string(),
                s.rows_in.to_string(),
                s.rows_out.to_string(),
                s.rows_rejected.to_string(),
                stage.duration_seconds.map_or_else(|| "-".to_owned(), seconds),
                plugin_label(s),
            ]
        })
        .collect();
    let mut table = layout(&headers, &rows).into_iter();
    if let Some(header) = table.next() {
        out.push_str(&header);
        out.push('\n');
    }
    // Notes go under the stage name (past the symbol column and its two-space gap).
    let indent = "   ";
    for (line, stage) in table.zip(&detail.stages) {
        out.push_str(&line);
        out.push('\n');
        // Errors and metric names may be a plugin's words: escaped here too, whatever was stored
        // (records written before the host checked them, or by another tool).
        if let Some(error) = &stage.record.error {
            let label = match &stage.record.error_kind {
                Some(kind) => format!("error ({}): ", untrusted::escape(kind)),
                None => "error: ".to_owned(),
            };
            let lines: Vec<_> = error.split('\n').map(untrusted::escape).collect();
            let continued = format!("\n{indent}{}", " ".repeat(label.chars().count()));
            let _ = writeln!(out, "{indent}{label}{}", lines.join(&continued));
        }
        if let Some(sha) = &stage.record.plugin_sha256 {
            let path = stage.record.plugin_path.as_deref().map(|path| format!("{} ", untrusted::escape(path)));
            let _ = writeln!(out, "{indent}plugin: {}sha256:{}", path.unwrap_or_default(), untrusted::escape(sha));
        }
        if !stage.record.metrics.is_empty() {
            let metrics: Vec<String> = stage
                .record
                .metrics
                .iter()
                .map(|(name, value)| format!("{}={value}", untrusted::escape(name)))
                .collect();
            let _ = writeln!(out, "{indent}metrics: {}", metrics.join(" "));
        }
    }
    out
}

/// A plugin stage's `name version` as the plugin declared them (the digest's first 12 digits
/// for records older than that), `-` for native stages.
fn plugin_label(stage: &StageRecord) -> String {
    match (&stage.plugin_name, &stage.plugin_version, &stage.plugin_sha256) {
        (Some(name), Some(version), _) => format!("{} {}", untrusted::escape(name), untrusted::escape(version)),
        (_, _, Some(sha)) => untrusted::escape(sha.get(..12).unwrap_or(sha)).into_owned(),
        _ => "-".to_owned(),
    }
}

/// `host runs stats`: run outcomes and durations, then one line per stage.
pub fn render_stats(stats: &RunStats) -> String {
    if stats.runs == 0 {
        return match stats.days {
            Some(days) => format!("no finished runs in the last {days} days\n"),
            None => "no finished runs recorded\n".to_owned(),
        };
    }
    let mut out = String::new();
    let scope = match stats.days {
        Some(days) => format!("last {days} days, {}", stats.runs),
        None if stats.runs < stats.window as u64 => format!("all {}", stats.runs),
        None => format!("last {}", stats.runs),
    };
    let _ = writeln!(
        out,
        "{scope} finished runs: {} success, {} partial, {} failed (success rate {})",
        stats.success,
        stats.partial,
        stats.failed,
        stats.success_rate.map_or_else(|| "-".to_owned(), |rate| format!("{:.1}%", rate * 100.0)),
    );
    let _ = writeln!(
        out,
        "duration: avg {}, p95 {}",
        stats.avg_duration_seconds.map_or_else(|| "-".to_owned(), seconds),
        stats.p95_duration_seconds.map_or_else(|| "-".to_owned(), seconds),
    );
    if stats.stages.is_empty() {
        return out;
    }
    out.push('\n');
    let headers = [
        ("PIPELINE", Align::Left),
        ("STAGE", Align::Left),
        ("RUNS", Align::Right),
        ("FAILURES", Align::Right),
        ("AVG DURATION", Align::Right),
        ("AVG ROWS OUT", Align::Right),
    ];
    let rows: Vec<Vec<String>> = stats
        .stages
        .iter()
        .map(|s| {
            vec![
                s.pipeline.clone(),
                s.stage.clone(),
                s.runs.to_string(),
                s.failures.to_string(),
                s.avg_duration_seconds.map_or_else(|| "-".to_owned(), seconds),
                s.avg_rows_out.map_or_else(|| "-".to_owned(), |rows| format!("{rows:.1}")),
            ]
        })
        .collect();
    out.push_str(&lines(layout(&headers, &rows)));
    out
}

const fn stage_symbol(status: StageStatus) -> char {
    match status {
        StageStatus::Pending => '·',
        StageStatus::Running => '▸',
        StageStatus::Success => '✓',
        StageStatus::Failed => '✗',
        StageStatus::Skipped => '○',
        StageStatus::UpstreamFailed => '⊘',
    }
}

const fn run_symbol(status: RunStatus) -> char {
    match status {
        RunStatus::Running => '▸',
        RunStatus::Success => '✓',
        RunStatus::Partial => '!',
        RunStatus::Failed => '✗',
    }
}

/// `✓5 ✗1 ⊘2`: the non-zero counts, in lifecycle order; `-` for none.
fn stage_counts(counts: &StageCounts) -> String {
    let parts: Vec<String> = StageStatus::ALL
        .into_iter()
        .filter(|&status| counts.get(status) > 0)
        .map(|status| format!("{}{}", stage_symbol(status), counts.get(status)))
        .collect();
    if parts.is_empty() { "-".to_owned() } else { parts.join(" ") }
}

/// `0.52s`, `59.99s`, `2m05s`, `1h02m`.
fn seconds(secs: f64) -> String {
    if secs < 60.0 {
        return format!("{secs:.2}s");
    }
    let whole = secs.round() as u64;
    if whole < 3600 {
        format!("{}m{:02}s", whole / 60, whole % 60)
    } else {
        format!("{}h{:02}m", whole / 3600, whole % 3600 / 60)
    }
}

#[derive(Debug, Clone, Copy)]
enum Align {
    Left,
    Right,
}

/// The header line and one line per row, columns padded to their widest cell (in characters)
/// and two spaces apart, without trailing spaces.
fn layout(headers: &[(&str, Align)], rows: &[Vec<String>]) -> Vec<String> {
    let mut widths: Vec<usize> = headers.iter().map(|(name, _)| name.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| -> String {
        let mut line = String::new();
        for (i, (((_, align), width), cell)) in headers.iter().zip(&widths).zip(cells).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let _ = match align {
                Align::Left => write!(line, "{cell:<width$}"),
                Align::Right => write!(line, "{cell:>width$}"),
            };
        }
        line.trim_end().to_owned()
    };
    let mut out = vec![line(&mut headers.iter().map(|(name, _)| *name))];
    out.extend(rows.iter().map(|row| line(&mut row.iter().map(String::as_str))));
    out
}

fn lines(lines: Vec<String>) -> String {
    lines.into_iter().flat_map(|line| [line, "\n".to_owned()]).collect()
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}
