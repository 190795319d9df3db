//! The dashboard's pages, rendered on the server from the API's documents. Every string that
//! did not come from this file goes through [`escape`]; the page script only reloads.

use std::fmt::Write;

use super::api::{RunPage, RunRow, RunsPage, Window};
use super::graph::PipelineGraph;
use super::svg;
use crate::state::{StageRecord, thousands};

/// `text` safe as HTML text and as a double- or single-quoted attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A plugin stage's declared name and version, then its digest's first 12 digits; the path and
/// the whole digest in the tooltip.
fn plugin_cell(record: &StageRecord) -> String {
    let Some(digest) = record.plugin_sha256.as_deref() else { return String::new() };
    let named = match (&record.plugin_name, &record.plugin_version) {
        (Some(name), Some(version)) => format!("{} {} ", escape(name), escape(version)),
        _ => String::new(),
    };
    let path = record.plugin_path.as_deref().unwrap_or("");
    format!(
        r#"{named}<span class="mono" title="{}&#10;sha256:{}">{}</span>"#,
        escape(path),
        escape(digest),
        escape(digest.get(..12).unwrap_or(digest))
    )
}

/// A whole page: `live` is the API address the script polls while something is running.
fn layout(title: &str, live: Option<&str>, body: &str) -> String {
    let live = live.map(|url| format!(r#" data-live="{}""#, escape(url))).unwrap_or_default();
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · etl-host</title><link rel="stylesheet" href="/assets/app.css"><script src="/assets/app.js" defer></script></head>
<body{live}><header><a class="brand" href="/">etl-host</a><nav><a href="/">Runs</a><a href="/pipeline">Pipeline</a><a href="/metrics">Metrics</a></nav><span id="live-status"></span></header>
<main>
{body}
</main></body></html>
"#,
        title = escape(title)
    )
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "–".to_owned(), |r| format!("{:.1}%", r * 100.0))
}

fn opt_seconds(s: Option<f64>) -> String {
    s.map_or_else(|| "–".to_owned(), svg::seconds)
}

fn window_card(out: &mut String, title: &str, window: &Window) {
    let _ = write!(
        out,
        r#"<div class="card"><h3>{}</h3><p class="big">{}</p><p>{} runs: {} success, {} partial, {} failed</p><p>avg {} · p95 {}</p></div>"#,
        escape(title),
        percent(window.success_rate),
        window.runs,
        window.success,
        window.partial,
        window.failed,
        opt_seconds(window.avg_duration_seconds),
        opt_seconds(window.p95_duration_seconds)
    );
}

fn status(status: &str) -> String {
    format!(r#"<span class="badge status-{0}">{0}</span>"#, escape(status))
}

/// `/`: the runs table, the success rates and the duration trend.
pub fn runs_page(page: &RunsPage) -> String {
    let mut body = String::new();
    let title = match &page.pipeline {
        Some(name) => format!("Runs of {name}"),
        None => "Runs".to_owned(),
    };
    let _ = write!(body, "<h1>{}</h1><section class=\"cards\">", escape(&title));
    window_card(&mut body, &format!("Last {} runs", page.limit), &page.last_runs);
    window_card(&mut body, &format!("Last {} days", page.days), &page.last_days);
    body.push_str("</section><h2>Duration trend</h2>");
    body.push_str(&svg::trend(&page.runs));
    body.push_str(
        r#"<h2>Runs</h2><table id="runs"><thead><tr><th>run</th><th>status</th><th>trigger</th><th>logical date</th><th>started (UTC)</th><th class="num">duration</th><th class="num">rows in</th><th class="num">rows out</th><th class="num">quarantined</th><th class="num">stages ok</th></tr></thead><tbody>"#,
    );
    if page.runs.is_empty() {
        body.push_str(r#"<tr><td colspan="10">no runs recorded yet</td></tr>"#);
    }
    for row in &page.runs {
        run_tr(&mut body, row);
    }
    body.push_str("</tbody></table>");
    let running = page.runs.iter().any(|r| !r.summary.status.is_finished());
    let live = format!("/api/runs?limit={}&days={}", page.limit, page.days);
    layout(&title, running.then_some(live.as_str()), &body)
}

fn run_tr(out: &mut String, row: &RunRow) {
    let run = &row.summary;
    let id = escape(&run.id);
    let _ = write!(
        out,
        r#"<tr data-run="{id}"><td><a href="/runs/{id}">{id}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}/{}</td></tr>"#,
        status(run.status.as_str()),
        run.trigger.as_str(),
        escape(&run.logical_date),
        &run.started_at.rfc3339()[..19].replace('T', " "),
        opt_seconds(run.duration_seconds),
        thousands(row.rows_in),
        thousands(row.rows_out),
        thousands(row.quarantined),
        run.stage_counts.success,
        run.stage_counts.total
    );
}

/// `/runs/<id>`: the Gantt chart, stages, checks, quarantine, errors and the log's tail.
pub fn run_page(page: &RunPage, now_ms: i64) -> String {
    let run = &page.run.summary;
    let id = escape(&run.id);
    let mut body = String::new();
    let _ = write!(
        body,
        r#"<h1>Run <span class="mono">{id}</span> {}</h1><p class="meta">{} · {} · logical date {} · trigger {} · started {} · duration {}{}</p>"#,
        status(run.status.as_str()),
        escape(&run.pipeline),
        escape(&run.env),
        escape(&run.logical_date),
        run.trigger.as_str(),
        run.started_at.rfc3339(),
        opt_seconds(run.duration_seconds),
        run.resumed_from.as_deref().map(|r| format!(" · resumes {}", escape(r))).unwrap_or_default()
    );
    let _ = write!(
        body,
        r#"<section class="cards"><div class="card"><h3>rows in</h3><p class="big">{}</p></div><div class="card"><h3>rows out</h3><p class="big">{}</p></div><div class="card"><h3>quarantined</h3><p class="big">{}</p></div></section>"#,
        thousands(page.run.rows_in),
        thousands(page.run.rows_out),
        thousands(page.run.quarantined)
    );
    let end_ms = match run.ended_at {
        Some(end) => end.unix_millis() - run.started_at.unix_millis(),
        None => now_ms - run.started_at.unix_millis(),
    };
    body.push_str("<h2>Timeline</h2>");
    body.push_str(&svg::gantt(&page.stages, end_ms));

    body.push_str(
        r#"<h2>Stages</h2><table id="stages"><thead><tr><th>stage</th><th>kind</th><th>status</th><th class="num">start</th><th class="num">duration</th><th class="num" title="duration less the time spent waiting for running upstreams">busy</th><th class="num">rows in</th><th class="num">rows out</th><th class="num">rejected</th><th class="num">attempts</th><th class="num">retries</th><th>error kind</th><th>plugin</th></tr></thead><tbody>"#,
    );
    for stage in &page.stages {
        let record = &stage.stage.record;
        let _ = write!(
            body,
            r#"<tr data-stage="{name}"><td>{name}</td><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td><td>{}</td></tr>"#,
            stage.kind,
            status(record.status.as_str()),
            opt_seconds(stage.start_offset_ms.map(|ms| ms as f64 / 1000.0)),
            opt_seconds(stage.stage.duration_seconds),
            opt_seconds(stage.stage.busy_seconds),
            thousands(record.rows_in),
            thousands(record.rows_out),
            thousands(record.rows_rejected),
            record.attempts,
            stage.retries,
            escape(record.error_kind.as_deref().unwrap_or("")),
            plugin_cell(record),
            name = escape(&record.stage),
        );
    }
    body.push_str("</tbody></table>");

    let errors: Vec<_> =
        page.stages.iter().filter_map(|s| Some((&s.stage.record, s.stage.record.error.as_ref()?))).collect();
    if !errors.is_empty() {
        body.push_str(r#"<h2>Errors</h2><ul id="errors">"#);
        for (record, error) in errors {
            let _ = write!(
                body,
                r#"<li><b>{}</b> <span class="kind">{}</span><pre class="error">{}</pre></li>"#,
                escape(&record.stage),
                escape(record.error_kind.as_deref().unwrap_or("")),
                escape(error)
            );
        }
        body.push_str("</ul>");
    }

    if !page.checks.is_empty() {
        body.push_str(r#"<h2>Checks</h2><table id="checks"><thead><tr><th>check</th><th>result</th><th>figures</th></tr></thead><tbody>"#);
        for check in &page.checks {
            let (class, result) = if check.passed { ("success", "passed") } else { ("failed", "failed") };
            let _ = write!(
                body,
                r#"<tr><td class="mono">{}</td><td><span class="badge status-{class}">{result}</span></td><td>{}</td></tr>"#,
                escape(&check.name),
                escape(&check.detail)
            );
        }
        body.push_str("</tbody></table>");
    }

    body.push_str("<h2>Quarantine</h2>");
    match &page.quarantine {
        None => {
            body.push_str("<p class=\"meta\">Start <code>host serve --pipeline FILE</code> to read the quarantine.</p>")
        }
        Some(q) if q.rows == 0 => body.push_str("<p class=\"meta\">No rows quarantined.</p>"),
        Some(q) => {
            let _ = write!(
                body,
                r#"<p>{} rows quarantined.</p><table id="quarantine-counts"><thead><tr><th>stage</th><th>reason</th><th class="num">rows</th></tr></thead><tbody>"#,
                thousands(q.rows)
            );
            for count in &q.counts {
                let _ = write!(
                    body,
                    r#"<tr><td>{}</td><td class="mono">{}</td><td class="num">{}</td></tr>"#,
                    escape(&count.stage),
                    escape(&count.reason),
                    thousands(count.rows)
                );
            }
            body.push_str(r#"</tbody></table><h3>First rejected rows</h3><table id="quarantine-sample"><thead><tr><th>file</th><th class="num">line</th><th>stage</th><th>reasons</th><th>message</th><th>raw line</th></tr></thead><tbody>"#);
            for row in &q.sample {
                let _ = write!(
                    body,
                    r#"<tr><td>{}</td><td class="num">{}</td><td>{}</td><td class="mono">{}</td><td>{}</td><td class="mono">{}</td></tr>"#,
                    escape(&row.source_file),
                    row.line_number.map(|n| n.to_string()).unwrap_or_default(),
                    escape(&row.stage),
                    escape(&row.reasons),
                    escape(row.message.as_deref().unwrap_or("")),
                    escape(row.raw_line.as_deref().unwrap_or(""))
                );
            }
            body.push_str("</tbody></table>");
        }
    }

    body.push_str("<h2>Log (last lines of run.log)</h2><pre id=\"log\">");
    for line in &page.log_tail {
        body.push_str(&escape(line));
        body.push('\n');
    }
    body.push_str("</pre>");
    let live = format!("/api/runs/{}", run.id);
    layout(&format!("Run {}", run.id), (!run.status.is_finished()).then_some(live.as_str()), &body)
}

/// `/pipeline`: the stage graph, or what to do to get one.
pub fn pipeline_page(graph: Option<&PipelineGraph>) -> String {
    let body = match graph {
        Some(graph) => format!(
            "<h1>Pipeline {}</h1><p class=\"meta\">{} stages, {} edges; dashed: <code>depends_on</code>.</p>{}",
            escape(&graph.pipeline),
            graph.nodes.len(),
            graph.edges.len(),
            svg::graph(graph)
        ),
        None => "<h1>Pipeline</h1><p class=\"meta\">Start <code>host serve --pipeline FILE</code> to see the stage graph.</p>".to_owned(),
    };
    layout("Pipeline", None, &body)
}

/// A page for a missing run or address.
pub fn not_found(what: &str) -> String {
    layout("Not found", None, &format!("<h1>Not found</h1><p>{}</p>", escape(what)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_leaves_no_markup() {
        let hostile = r#"<script>alert(1)</script><img src=x onerror="alert('x')">&"#;
        let escaped = escape(hostile);
        assert_eq!(
            escaped,
            "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;"
        );
        assert!(!escaped.contains(['<', '>', '"', '\'']));
    }
}
