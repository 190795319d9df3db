//! What alerts send: the run's summary as JSON (what `summary.json` holds), a retry's details,
//! and both as Slack messages. Every text in them is the host's, or a plugin's already escaped
//! where it entered the host (no control characters); JSON encoding escapes the rest, and Slack
//! text gets Slack's own escaping of `&`, `<` and `>`.

use serde::Serialize;
use serde_json::{Value, json};

use crate::state::{RunDetail, StageStatus};
use crate::untrusted;

/// The details of a retried stage attempt, as a `retry` alert sends them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetryEvent {
    /// Always `retry`.
    pub event: &'static str,
    pub run_id: String,
    pub pipeline: String,
    pub stage: String,
    /// The attempt that failed (1 for the first).
    pub attempt: u32,
    pub error: String,
    /// The failure's kind: `memory`, `timeout`, `failed`, ...
    pub error_kind: &'static str,
}

/// The run's summary as `summary.json` holds it.
pub fn run_payload(detail: &RunDetail) -> Value {
    serde_json::to_value(detail).unwrap_or_default()
}

/// The most bytes of one error shown in a Slack message (a section's text holds 3000).
const SLACK_ERROR_BYTES: usize = 500;

/// A finished run as a Slack message: a line saying how it went, then one section per failed
/// stage with its error.
pub fn slack_run(detail: &RunDetail) -> Value {
    let run = &detail.run;
    let icon = match run.status {
        crate::dag::RunStatus::Success => ":white_check_mark:",
        crate::dag::RunStatus::Partial => ":warning:",
        _ => ":x:",
    };
    let duration = run.duration_seconds.map(|s| format!(" in {s:.1}s")).unwrap_or_default();
    let failed: Vec<&str> = detail
        .stages
        .iter()
        .filter(|s| s.record.status == StageStatus::Failed)
        .map(|s| s.record.stage.as_str())
        .collect();
    let failed_text = if failed.is_empty() { String::new() } else { format!(": {} failed", failed.join(", ")) };
    let text = slack_escape(&format!(
        "{icon} pipeline {} run {} ({}) {}{duration}{failed_text}",
        run.pipeline, run.id, run.logical_date, run.status
    ));
    let mut blocks = vec![section(&text)];
    for stage in detail.stages.iter().filter(|s| s.record.status == StageStatus::Failed) {
        let s = &stage.record;
        let kind = s.error_kind.as_deref().unwrap_or("error");
        let error = s.error.as_deref().unwrap_or("failed");
        blocks.push(section(&format!(
            "*{}* ({}, {} attempts)\n```{}```",
            slack_escape(&s.stage),
            slack_escape(kind),
            s.attempts,
            slack_escape(&cut(error, SLACK_ERROR_BYTES))
        )));
    }
    json!({ "text": text, "blocks": blocks })
}

/// A retried attempt as a Slack message.
pub fn slack_retry(retry: &RetryEvent) -> Value {
    let text = slack_escape(&format!(
        ":repeat: pipeline {} run {}: stage {} attempt {} failed ({}); retrying",
        retry.pipeline, retry.run_id, retry.stage, retry.attempt, retry.error_kind
    ));
    let error = format!("```{}```", slack_escape(&cut(&retry.error, SLACK_ERROR_BYTES)));
    json!({ "text": text, "blocks": [section(&text), section(&error)] })
}

fn section(text: &str) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } })
}

/// Slack's escaping of message text: `&`, `<` and `>` (so text can't make links or mentions),
/// and every control character escaped as the host does (a stored error may predate that).
fn slack_escape(text: &str) -> String {
    untrusted::escape(text).replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// `text` cut to at most `max` bytes at a character boundary, saying so.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let end = (0..=max).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    format!("{} [cut: {} more bytes]", &text[..end], text.len() - end)
}
