//! Checking `alerts:` entries and building payloads.

use super::*;
use crate::state::{RunStatus, RunSummary, StageCounts, StageRecord, StageRun, StageStatus, Trigger};

fn config(yaml: &str) -> AlertConfig {
    serde_norway::from_str(yaml).unwrap()
}

#[test]
fn builds_webhooks_and_commands_with_their_defaults() {
    let alert =
        Alert::build(&config("{on: [failure, retry], webhook: 'https://hooks.example.com/x', format: slack}"), 0);
    assert_eq!(
        alert.unwrap(),
        Alert {
            name: None,
            on: vec![AlertEvent::Failure, AlertEvent::Retry],
            target: Target::Webhook { url: "https://hooks.example.com/x".into(), format: WebhookFormat::Slack },
            timeout: DEFAULT_TIMEOUT,
        }
    );
    let slack = Alert::build(&config("{on: [failure], webhook: 'https://hooks.example.com:8443/T0/B0/secret?x=1'}"), 0);
    assert_eq!(slack.unwrap().label(), "https://hooks.example.com:8443", "never the path or query");
    let named = Alert::build(&config("{name: ops-channel, on: [failure], webhook: 'https://h/secret'}"), 0);
    assert_eq!(named.unwrap().label(), "ops-channel");
    let alert = Alert::build(&config("{on: [success], command: [sh, -c, 'cat > x'], timeout_s: 3}"), 0).unwrap();
    assert_eq!(alert.target, Target::Command { argv: vec!["sh".into(), "-c".into(), "cat > x".into()] });
    assert_eq!(alert.timeout, Duration::from_secs(3));
    assert_eq!(alert.label(), "sh -c cat > x");
}

#[test]
fn reports_every_problem_naming_the_entry() {
    let problems = |yaml: &str| Alert::build(&config(yaml), 2).unwrap_err();
    assert_eq!(
        problems("{on: [], webhook: 'ftp://x/y', timeout_s: 0}"),
        [
            "alerts[2]: `on` is empty: list the events that fire it (failure, partial, success, retry)",
            "alerts[2]: timeout_s must be more than 0",
            "alerts[2]: webhook \"ftp://x/y\": the scheme is ftp; use http or https",
        ]
    );
    assert_eq!(
        problems("{on: [failure], webhook: 'hooks.example.com/x'}"),
        ["alerts[2]: webhook \"hooks.example.com/x\": no scheme: write http://... or https://..."]
    );
    assert_eq!(
        problems("{on: [failure], command: []}"),
        ["alerts[2]: command is empty: give the program and its arguments"]
    );
    assert_eq!(
        problems("{on: [failure], command: [x], format: slack}"),
        ["alerts[2]: format applies to webhooks only (a command gets the JSON)"]
    );
    assert_eq!(
        problems("{on: [failure], command: [x], webhook: 'http://h/'}"),
        ["alerts[2]: give either webhook or command, not both"]
    );
    assert_eq!(problems("{on: [failure]}"), ["alerts[2]: give a webhook (URL) or a command (program and arguments)"]);
    let error = serde_norway::from_str::<AlertConfig>("{on: [sometimes], command: [x]}").unwrap_err();
    assert!(error.to_string().contains("unknown variant `sometimes`"), "{error}");
}

fn failed_run() -> RunDetail {
    let stage = StageRecord {
        status: StageStatus::Failed,
        attempts: 2,
        error: Some("stage \"t\" (plugin x.wasm): a <b> & c\\n".into()),
        error_kind: Some("failed".into()),
        ..StageRecord::pending("t")
    };
    RunDetail {
        run: RunSummary {
            id: "20261125T190700Z-3f9a".into(),
            pipeline: "shop".into(),
            env: "development".into(),
            logical_date: "2026-11-25".into(),
            status: RunStatus::Failed,
            started_at: Timestamp::from_unix_millis(1_795_633_620_000),
            ended_at: Some(Timestamp::from_unix_millis(1_795_633_622_500)),
            duration_seconds: Some(2.5),
            resumed_from: None,
            config_digest: "d".into(),
            trigger: Trigger::Manual,
            stage_counts: StageCounts { total: 1, failed: 1, ..StageCounts::default() },
        },
        stages: vec![StageRun { record: stage, duration_seconds: None, busy_seconds: None }],
        checks: Vec::new(),
        alerts: Vec::new(),
        pruned: None,
    }
}

#[test]
fn a_run_payload_is_its_summary() {
    let detail = failed_run();
    let payload = run_payload(&detail);
    assert_eq!(payload, serde_json::to_value(&detail).unwrap());
    assert_eq!(payload["run"]["status"], "failed");
    assert_eq!(payload["stages"][0]["error_kind"], "failed");
}

#[test]
fn slack_messages_escape_what_slack_reads_as_markup() {
    let message = slack_run(&failed_run());
    assert_eq!(message["text"], ":x: pipeline shop run 20261125T190700Z-3f9a (2026-11-25) failed in 2.5s: t failed");
    assert_eq!(message["blocks"][0]["type"], "section");
    assert_eq!(
        message["blocks"][1]["text"]["text"],
        "*t* (failed, 2 attempts)\n```stage \"t\" (plugin x.wasm): a &lt;b&gt; &amp; c\\n```"
    );
    let retry = RetryEvent {
        event: "retry",
        run_id: "r1".into(),
        pipeline: "shop".into(),
        stage: "t".into(),
        attempt: 1,
        error: "boom\u{1b}[2J".into(),
        error_kind: "failed",
    };
    let message = slack_retry(&retry);
    assert_eq!(message["text"], ":repeat: pipeline shop run r1: stage t attempt 1 failed (failed); retrying");
    assert_eq!(message["blocks"][1]["text"]["text"], "```boom\\u{1b}[2J```");
    let text = serde_json::to_string(&message).unwrap();
    assert!(!text.chars().any(char::is_control), "{text}");
}
