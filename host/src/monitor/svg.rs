//! The pages' pictures as inline SVG, drawn on the server: the duration trend, the Gantt chart
//! of a run's stages, and the pipeline graph. Colours come from the stylesheet (`class`), so
//! the pictures need no inline style; every label goes through [`escape`].

use std::fmt::Write;

use super::api::{RunRow, StageView};
use super::graph::PipelineGraph;
use super::html::escape;

const GANTT_WIDTH: f64 = 960.0;
const GANTT_LABEL: f64 = 190.0;
const GANTT_ROW: f64 = 24.0;
const GANTT_AXIS: f64 = 28.0;

/// The Gantt chart: one row per stage, its bar from start to end on the run's time axis
/// (`end_ms`: the run's length, or now for a running run). Stages that never started have no
/// bar.
pub fn gantt(stages: &[StageView], end_ms: i64) -> String {
    let span = stages.iter().filter_map(|s| s.end_offset_ms.or(s.start_offset_ms)).chain([end_ms, 1]).max().unwrap_or(1)
        as f64;
    let plot = GANTT_WIDTH - GANTT_LABEL - 20.0;
    let x = |ms: i64| GANTT_LABEL + plot * (ms.max(0) as f64 / span);
    let height = GANTT_AXIS + GANTT_ROW * stages.len() as f64 + 4.0;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="gantt" role="img" aria-label="stage timeline" viewBox="0 0 {GANTT_WIDTH} {height}" width="{GANTT_WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg">"#
    );
    for tick in 0..=5 {
        let ms = (span * f64::from(tick) / 5.0) as i64;
        let tx = x(ms);
        let _ = write!(
            out,
            r#"<line class="grid" x1="{tx:.1}" y1="{GANTT_AXIS}" x2="{tx:.1}" y2="{height}"/><text class="tick" x="{tx:.1}" y="16" text-anchor="middle">{}</text>"#,
            seconds(ms as f64 / 1000.0)
        );
    }
    for (i, stage) in stages.iter().enumerate() {
        let y = GANTT_AXIS + GANTT_ROW * i as f64;
        let name = escape(&stage.stage.record.stage);
        let _ = write!(
            out,
            r#"<text class="label" x="{:.1}" y="{:.1}" text-anchor="end">{name}</text>"#,
            GANTT_LABEL - 8.0,
            y + GANTT_ROW * 0.65
        );
        let Some(start) = stage.start_offset_ms else { continue };
        let end = stage.end_offset_ms.unwrap_or(end_ms).max(start);
        let width = (x(end) - x(start)).max(2.0);
        let status = stage.stage.record.status.as_str();
        let duration = seconds((end - start) as f64 / 1000.0);
        let _ = write!(
            out,
            r#"<rect class="bar status-{status}" data-stage="{name}" x="{:.1}" y="{:.1}" width="{width:.1}" height="{:.1}" rx="3"><title>{name}: {status}, {duration}</title></rect>"#,
            x(start),
            y + 4.0,
            GANTT_ROW - 8.0
        );
    }
    out.push_str("</svg>");
    out
}

/// The duration of each finished run, oldest to newest, as points coloured by status.
pub fn trend(runs: &[RunRow]) -> String {
    let points: Vec<(&RunRow, f64)> =
        runs.iter().rev().filter_map(|r| Some((r, r.summary.duration_seconds?))).collect();
    let (width, height, pad) = (960.0, 180.0, 36.0);
    let mut out = format!(
        r#"<svg class="trend" role="img" aria-label="run durations" viewBox="0 0 {width} {height}" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">"#
    );
    if points.is_empty() {
        let _ = write!(out, r#"<text class="tick" x="{pad}" y="{}">no finished runs yet</text></svg>"#, height / 2.0);
        return out;
    }
    let max = points.iter().map(|(_, d)| *d).fold(0.0_f64, f64::max).max(0.001);
    let step = if points.len() > 1 { (width - 2.0 * pad) / (points.len() - 1) as f64 } else { 0.0 };
    let at = |i: usize, d: f64| (pad + step * i as f64, height - pad - (height - 2.0 * pad) * d / max);
    let _ = write!(
        out,
        r#"<line class="axis" x1="{pad}" y1="{b}" x2="{r}" y2="{b}"/><line class="axis" x1="{pad}" y1="{pad}" x2="{pad}" y2="{b}"/><text class="tick" x="{pad}" y="{t}">{}</text><text class="tick" x="{pad}" y="{l}">0 s</text>"#,
        seconds(max),
        b = height - pad,
        r = width - pad,
        t = pad - 8.0,
        l = height - pad + 16.0
    );
    let line: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, (_, d))| {
            let (px, py) = at(i, *d);
            format!("{px:.1},{py:.1}")
        })
        .collect();
    let _ = write!(out, r#"<polyline class="line" points="{}"/>"#, line.join(" "));
    for (i, (run, d)) in points.iter().enumerate() {
        let (px, py) = at(i, *d);
        let _ = write!(
            out,
            r#"<circle class="dot status-{}" cx="{px:.1}" cy="{py:.1}" r="4"><title>{}: {}</title></circle>"#,
            run.summary.status.as_str(),
            escape(&run.summary.id),
            seconds(*d)
        );
    }
    out.push_str("</svg>");
    out
}

/// The stage graph: one column per level, edges as curves from a stage's right to the next's
/// left.
pub fn graph(graph: &PipelineGraph) -> String {
    let (box_w, box_h, col, row, pad) = (170.0, 44.0, 230.0, 64.0, 20.0);
    let mut rows_used: Vec<usize> = Vec::new();
    let mut at = Vec::new();
    for node in &graph.nodes {
        if rows_used.len() <= node.level {
            rows_used.resize(node.level + 1, 0);
        }
        let r = rows_used[node.level];
        rows_used[node.level] += 1;
        at.push((pad + col * node.level as f64, pad + row * r as f64));
    }
    let width = pad * 2.0 + col * rows_used.len().max(1) as f64;
    let height = pad * 2.0 + row * rows_used.iter().copied().max().unwrap_or(1) as f64;
    let mut out = format!(
        r#"<svg class="graph" role="img" aria-label="stage graph" viewBox="0 0 {width} {height}" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg"><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" class="arrowhead"/></marker></defs>"#
    );
    let find = |name: &str| graph.nodes.iter().position(|n| n.name == name);
    for edge in &graph.edges {
        let (Some(from), Some(to)) = (find(&edge.from), find(&edge.to)) else { continue };
        let (x1, y1) = (at[from].0 + box_w, at[from].1 + box_h / 2.0);
        let (x2, y2) = (at[to].0, at[to].1 + box_h / 2.0);
        let mid = (x1 + x2) / 2.0;
        let class = if edge.label == "depends_on" { "edge dep" } else { "edge" };
        let _ = write!(
            out,
            r#"<path class="{class}" d="M {x1:.1} {y1:.1} C {mid:.1} {y1:.1}, {mid:.1} {y2:.1}, {x2:.1} {y2:.1}" marker-end="url(#arrow)"><title>{} → {}: {}</title></path>"#,
            escape(&edge.from),
            escape(&edge.to),
            escape(&edge.label)
        );
    }
    for (node, (x, y)) in graph.nodes.iter().zip(&at) {
        let _ = write!(
            out,
            r#"<g class="node kind-{}"><rect x="{x:.1}" y="{y:.1}" width="{box_w}" height="{box_h}" rx="6"/><text class="name" x="{:.1}" y="{:.1}">{}</text><text class="detail" x="{:.1}" y="{:.1}">{}</text><title>{}: {}</title></g>"#,
            node.kind.label(),
            x + 8.0,
            y + 18.0,
            escape(&node.name),
            x + 8.0,
            y + 35.0,
            escape(&shorten(&node.detail, 26)),
            escape(&node.name),
            escape(&node.detail)
        );
    }
    out.push_str("</svg>");
    out
}

/// `0 ms`, `250 ms`, `1.23 s`, `45.6 s`, `12m 03s`.
pub fn seconds(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else if s < 10.0 {
        format!("{s:.2} s")
    } else if s < 120.0 {
        format!("{s:.1} s")
    } else {
        let whole = s.round() as u64;
        format!("{}m {:02}s", whole / 60, whole % 60)
    }
}

fn shorten(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars { text.to_owned() } else { text.chars().take(chars - 1).chain(['…']).collect() }
}
