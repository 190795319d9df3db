//! Operations through the real `host` binary: alerts (webhooks to a real local HTTP receiver,
//! commands fed the summary, retries) that never change a run's outcome, and retention (the
//! pipeline's `retention:` after each run, `host runs prune [--dry-run]`, `--resume` of a pruned
//! run refused).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::mpsc;

use host::state::RunLease;
use serde_json::Value;

use crate::common::{host, items_pipeline, outcome, scratch, show, summary};

/// A pipeline in `dir`: `ingest_items` (3 rows) → `stages`, with `extra` (top-level YAML, e.g.
/// `alerts:`) after them.
fn pipeline(dir: &Path, defaults: &str, stages: &str, extra: &str) -> PathBuf {
    let file = items_pipeline(dir, "ops", "id,n\na,1\nb,2\nc,3\n", defaults, stages);
    let mut text = std::fs::read_to_string(&file).expect("pipeline");
    text.push_str(extra);
    std::fs::write(&file, text).expect("pipeline");
    file
}

const FAILING: &str = r#"  - name: broken
    plugin: hostile.wasm
    inputs: {in: ingest_items}
    config: {mode: fail, message: "no <good> & bad", repeat: 1}
"#;

const PASSING: &str = "  - name: copy\n    plugin: identity.wasm\n    inputs: {in: ingest_items}\n";

/// One HTTP request as the receiver read it.
#[derive(Debug)]
struct Request {
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Request {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// A real HTTP receiver on 127.0.0.1: each request it reads is sent on the channel before it
/// answers 200, so once the host has seen its answer the request is there to take.
fn receiver() -> (String, mpsc::Receiver<Request>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hooks/run", listener.local_addr().expect("address"));
    let (sender, requests) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            reader.read_line(&mut line).expect("request line");
            let mut parts = line.split_whitespace();
            let (method, path) = (parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("").to_owned());
            let mut headers = BTreeMap::new();
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).expect("header");
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                let (name, value) = header.split_once(':').expect("a header");
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
            }
            let length: usize = headers.get("content-length").map_or(0, |l| l.parse().expect("length"));
            let mut body = vec![0; length];
            reader.read_exact(&mut body).expect("body");
            if sender.send(Request { method, path, headers, body }).is_err() {
                return;
            }
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, requests)
}

/// What the run store calls a webhook without a `name`: its scheme and host, never its path.
fn origin(url: &str) -> String {
    url.splitn(4, '/').take(3).collect::<Vec<_>>().join("/")
}

/// A URL on which nothing listens: a port just bound and let go.
fn closed_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    format!("http://{}/nobody", listener.local_addr().expect("address"))
}

/// `host run --json` on `file` (plus `extra`): the output, the outcome, the run id.
fn run(file: &Path, extra: &[&str]) -> (Output, Value, String) {
    let mut args = vec!["run", "--pipeline", file.to_str().expect("utf-8"), "--json", "--no-progress"];
    args.extend_from_slice(extra);
    let output = host(&args, "warn");
    let value = outcome(&output);
    let run_id = value["run_id"].as_str().expect("run id").to_owned();
    (output, value, run_id)
}

/// The alerts recorded in a run's summary, as (event, alert, delivered, detail).
fn alerts(summary: &Value) -> Vec<(String, String, bool, String)> {
    summary["alerts"]
        .as_array()
        .expect("alerts in the summary")
        .iter()
        .map(|a| {
            (
                a["event"].as_str().unwrap().to_owned(),
                a["alert"].as_str().unwrap().to_owned(),
                a["delivered"].as_bool().unwrap(),
                a["detail"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_failed_run_is_posted_as_its_summary_and_as_a_slack_message_and_piped_to_a_command() {
    let dir = scratch("ops-alerts");
    let (json_url, json_requests) = receiver();
    let (slack_url, slack_requests) = receiver();
    let piped = dir.join("piped.json");
    let extra = format!(
        r#"alerts:
  - {{on: [failure], webhook: "{json_url}"}}
  - {{name: slack-ops, on: [failure, partial], webhook: "{slack_url}", format: slack, timeout_s: 5}}
  - {{on: [failure], command: [sh, -c, "cat > {piped}"]}}
  - {{on: [success], command: [sh, -c, "exit 9"]}}
"#,
        piped = piped.display()
    );
    let file = pipeline(&dir, "retries: 0", FAILING, &extra);
    let (output, _, run_id) = run(&file, &[]);
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));

    // The plain webhook: a JSON POST of the run's summary.
    let request = json_requests.try_recv().expect("the webhook was posted before the run ended");
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/hooks/run"));
    assert_eq!(request.headers.get("content-type").map(String::as_str), Some("application/json"));
    let posted = request.json();
    assert_eq!(posted["run"]["id"], run_id.as_str());
    assert_eq!(posted["run"]["status"], "failed");
    let broken = posted["stages"].as_array().unwrap().iter().find(|s| s["stage"] == "broken").expect("broken");
    assert_eq!(broken["status"], "failed");
    assert_eq!(broken["error_kind"], "failed");
    assert_eq!(broken["error"], "stage \"broken\" (plugin hostile.wasm): no <good> & bad");

    // The Slack webhook: text and blocks, Slack's markup escaped.
    let slack = slack_requests.try_recv().expect("the slack webhook was posted").json();
    let text = slack["text"].as_str().expect("text");
    assert!(text.starts_with(&format!(":x: pipeline ops run {run_id} (")), "{text}");
    assert!(text.ends_with(": broken failed"), "{text}");
    let blocks = slack["blocks"].as_array().expect("blocks");
    assert_eq!(blocks[0]["text"]["text"], text);
    assert_eq!(
        blocks[1]["text"]["text"],
        "*broken* (failed, 1 attempts)\n```stage \"broken\" (plugin hostile.wasm): no &lt;good&gt; &amp; bad```"
    );

    // The command: the same summary on its stdin.
    let piped: Value = serde_json::from_slice(&std::fs::read(&piped).expect("the command wrote")).expect("JSON");
    assert_eq!(piped, posted);

    // Each delivery is recorded on the run (the success alert did not fire), in summary.json and
    // `host runs show`.
    let state = dir.join("state");
    let recorded = summary(&state, &run_id);
    let command = format!("sh -c cat > {}", dir.join("piped.json").display());
    assert_eq!(
        alerts(&recorded),
        [
            ("failure".into(), origin(&json_url), true, "HTTP 200".into()),
            ("failure".into(), "slack-ops".into(), true, "HTTP 200".into()),
            ("failure".into(), command.clone(), true, "exit status 0".into()),
        ]
    );
    let shown = host(&["runs", "show", &run_id, "--state-dir", state.to_str().unwrap()], "warn");
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains(&format!("✓  failure {}\n", origin(&json_url))), "{shown}");
    assert!(!shown.contains("/hooks/run"), "a webhook's path is never shown: {shown}");
    assert!(shown.contains(&format!("✓  failure {command}\n")), "{shown}");
}

#[test]
fn alerts_that_fail_are_recorded_and_change_nothing_of_the_run() {
    let dir = scratch("ops-alerts-fail");
    let dead_url = closed_url();
    let dead = origin(&dead_url);
    // A receiver that takes connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent = format!("http://{}/hook", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        let held: Vec<_> = listener.incoming().collect();
        drop(held);
    });
    let extra = format!(
        r#"alerts:
  - {{on: [failure, success], webhook: "{dead_url}", timeout_s: 5}}
  - {{on: [failure, success], command: [sh, -c, "echo refused >&2; exit 1"]}}
  - {{on: [success], command: [/nonexistent/alert-program]}}
  - {{name: silent, on: [failure], webhook: "{silent}", timeout_s: 1}}
  - {{name: slow, on: [failure], command: [sleep, "60"], timeout_s: 1}}
"#
    );
    // A failed run exits 2 and a successful one 0, whatever their alerts did.
    for (stages, code, event) in [(FAILING, 2, "failure"), (PASSING, 0, "success")] {
        let file = pipeline(&dir, "retries: 0", stages, &extra);
        let (output, value, run_id) = run(&file, &[]);
        assert_eq!(output.status.code(), Some(code), "{}", show(&output));
        assert_eq!(value["status"], if code == 0 { "success" } else { "failed" });
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("alert not delivered"), "{stderr}");
        assert!(stderr.contains(&dead), "the warning names the alert: {stderr}");
        let recorded = alerts(&summary(&dir.join("state"), &run_id));
        let expected: Vec<(&str, bool)> = if code == 0 {
            vec![
                (dead.as_str(), false),
                ("sh -c echo refused >&2; exit 1", false),
                ("/nonexistent/alert-program", false),
            ]
        } else {
            vec![(dead.as_str(), false), ("sh -c echo refused >&2; exit 1", false), ("silent", false), ("slow", false)]
        };
        let got: Vec<(&str, bool)> = recorded.iter().map(|(_, a, d, _)| (a.as_str(), *d)).collect();
        assert_eq!(got, expected);
        assert!(recorded.iter().all(|(e, ..)| e == event));
        assert!(recorded[0].3.starts_with("POST failed: "), "{recorded:?}");
        assert_eq!(recorded[1].3, "exit status 1: refused");
        if code == 2 {
            assert!(recorded[2].3.starts_with("POST failed: ") && recorded[2].3.contains("imeout"), "{recorded:?}");
            assert_eq!(recorded[3].3, "timed out after 1s: killed");
        }
    }
}

#[test]
fn a_retried_stage_fires_a_retry_alert() {
    let dir = scratch("ops-alerts-retry");
    let (url, requests) = receiver();
    let stages = r#"  - name: wobbly
    plugin: hostile.wasm
    inputs: {in: ingest_items}
    config: {mode: flaky, fail_attempts: 1}
"#;
    let extra = format!("alerts:\n  - {{on: [retry], webhook: \"{url}\"}}\n");
    let file = pipeline(&dir, "retries: 2, retry_backoff_ms: 10", stages, &extra);
    let (output, _, run_id) = run(&file, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let retry = requests.try_recv().expect("the retry alert was posted").json();
    assert_eq!(retry["event"], "retry");
    assert_eq!(retry["run_id"], run_id.as_str());
    assert_eq!(retry["pipeline"], "ops");
    assert_eq!(retry["stage"], "wobbly");
    assert_eq!(retry["attempt"], 1);
    assert_eq!(retry["error_kind"], "failed");
    assert!(retry["error"].as_str().unwrap().starts_with("stage \"wobbly\" (plugin hostile.wasm): "), "{retry}");
    assert!(requests.try_recv().is_err(), "one retry, and the run's success fires nothing");
    assert_eq!(
        alerts(&summary(&dir.join("state"), &run_id)),
        [("retry".into(), origin(&url), true, "HTTP 200".into())]
    );
}

/// Whether run `run_id` still has its artifacts; its record files must be there either way.
fn has_artifacts(state: &Path, run_id: &str) -> bool {
    let run = state.join("runs").join(run_id);
    assert!(run.join("summary.json").is_file() && run.join("run.log").is_file(), "{run_id} lost its record");
    run.join("artifacts").exists()
}

#[test]
fn retention_keeps_the_newest_runs_artifacts_and_every_record() {
    let dir = scratch("ops-retention");
    let file = pipeline(&dir, "retries: 0", PASSING, "retention: {keep_runs: 2}\n");
    let state = dir.join("state");
    let ids: Vec<String> = (0..3)
        .map(|_| {
            let (output, _, run_id) = run(&file, &[]);
            assert_eq!(output.status.code(), Some(0), "{}", show(&output));
            run_id
        })
        .collect();
    let kept: Vec<bool> = ids.iter().map(|id| has_artifacts(&state, id)).collect();
    assert_eq!(kept, [false, true, true]);

    // The record says so.
    let shown = host(&["runs", "show", &ids[0], "--state-dir", state.to_str().unwrap(), "--json"], "warn");
    let detail: Value = serde_json::from_slice(&shown.stdout).expect("JSON");
    assert!(detail["pruned"]["at"]["unix_ms"].as_i64().is_some(), "{detail}");
    assert!(detail["pruned"]["bytes"].as_u64().unwrap() > 0, "{detail}");
    assert_eq!(detail["run"]["status"], "success");
    assert_eq!(summary(&state, &ids[0])["pruned"], detail["pruned"], "its summary.json says so too");
    let shown = host(&["runs", "show", &ids[0], "--state-dir", state.to_str().unwrap()], "warn");
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(text.contains("pruned        artifacts deleted by retention at "), "{text}");
    let listed = host(&["runs", "list", "--state-dir", state.to_str().unwrap(), "--json"], "warn");
    assert_eq!(serde_json::from_slice::<Value>(&listed.stdout).unwrap().as_array().unwrap().len(), 3);

    // Reusing its outputs is refused, naming the run and what went.
    let output = host(&["run", "--pipeline", file.to_str().unwrap(), "--resume", &ids[0], "--no-progress"], "warn");
    assert_eq!(output.status.code(), Some(3), "{}", show(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "--resume: run {}'s artifacts (the stage outputs --resume reuses) were pruned by retention at ",
            ids[0]
        )),
        "{stderr}"
    );
}

#[test]
fn runs_prune_dry_run_deletes_nothing_and_then_prunes() {
    let dir = scratch("ops-prune");
    let file = pipeline(&dir, "retries: 0", PASSING, "");
    let state = dir.join("state");
    let ids: Vec<String> = (0..2).map(|_| run(&file, &[]).2).collect();
    let pipeline_arg = file.to_str().unwrap();

    // No retention: block and no flags: refused.
    let output = host(&["runs", "prune", "--pipeline", pipeline_arg], "warn");
    assert_eq!(output.status.code(), Some(3), "{}", show(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("has no retention: block; give --keep-runs N"));

    let artifacts = state.join("runs").join(&ids[0]).join("artifacts");
    let output = host(&["runs", "prune", "--pipeline", pipeline_arg, "--keep-runs", "1", "--dry-run"], "warn");
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(&format!("would delete {} (", artifacts.display())), "{stdout}");
    assert!(stdout.contains("dry run: would prune the artifacts of 1 run(s), freeing "), "{stdout}");
    assert!(has_artifacts(&state, &ids[0]) && has_artifacts(&state, &ids[1]));

    // A run whose outputs a `--resume`/`--only` run may be reading (it holds a share of the
    // run's lease) is kept until that run lets go.
    let reader = RunLease::share(&state, &ids[0]).expect("a shared hold");
    let output = host(&["runs", "prune", "--state-dir", state.to_str().unwrap(), "--keep-runs", "1"], "warn");
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("pruned the artifacts of 0 run(s)"), "{}", show(&output));
    assert!(has_artifacts(&state, &ids[0]));
    drop(reader);

    let output = host(&["runs", "prune", "--state-dir", state.to_str().unwrap(), "--keep-runs", "1", "--json"], "warn");
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(report["dry_run"], false);
    assert_eq!(report["runs"].as_array().unwrap().len(), 1);
    assert_eq!(report["runs"][0]["run_id"], ids[0].as_str());
    assert!(report["bytes"].as_u64().unwrap() > 0);
    assert!(!has_artifacts(&state, &ids[0]) && has_artifacts(&state, &ids[1]));

    // Nothing left to prune.
    let output = host(&["runs", "prune", "--pipeline", pipeline_arg, "--keep-runs", "1"], "warn");
    assert!(String::from_utf8_lossy(&output.stdout).contains("pruned the artifacts of 0 run(s): 0 bytes freed"));
}

/// Moves run `run_id`'s start `days` days into the past, as if it had run then.
fn age(state: &Path, run_id: &str, days: i64) {
    let db = rusqlite::Connection::open(state.join("runs.sqlite")).expect("the run store");
    let shift = days * 86_400_000;
    let changed = db
        .execute(
            "UPDATE runs SET started_at_ms = started_at_ms - ?2, ended_at_ms = ended_at_ms - ?2 WHERE id = ?1",
            rusqlite::params![run_id, shift],
        )
        .expect("update");
    assert_eq!(changed, 1, "{run_id}");
}

#[test]
fn keep_days_prunes_older_runs_and_only_then_refuses_to_reuse_them() {
    let dir = scratch("ops-keep-days");
    let file = pipeline(&dir, "retries: 0", PASSING, "");
    let state = dir.join("state");
    let ids: Vec<String> = (0..2).map(|_| run(&file, &[]).2).collect();
    let prune = || {
        let output =
            host(&["runs", "prune", "--state-dir", state.to_str().unwrap(), "--keep-days", "7", "--json"], "warn");
        assert_eq!(output.status.code(), Some(0), "{}", show(&output));
        let report: Value = serde_json::from_slice(&output.stdout).expect("JSON");
        let pruned: Vec<String> =
            report["runs"].as_array().unwrap().iter().map(|r| r["run_id"].as_str().unwrap().to_owned()).collect();
        pruned
    };

    // Runs of today are kept; one of 8 days ago goes, the newest run or not.
    assert_eq!(prune(), Vec::<String>::new());
    // (While a process holds the latest run, as its host or a prune does, `--only` waits for
    // nobody: it is refused, naming the run.)
    let holder = RunLease::take(&state, &ids[1]).expect("the run's lease");
    let output = host(&["run", "--pipeline", file.to_str().unwrap(), "--only", "copy", "--no-progress"], "warn");
    assert_eq!(output.status.code(), Some(3), "{}", show(&output));
    let expected = format!("--only: run {} is in use: ", ids[1]);
    assert!(String::from_utf8_lossy(&output.stderr).contains(&expected), "{}", show(&output));
    drop(holder);
    age(&state, &ids[0], 8);
    assert_eq!(prune(), [ids[0].clone()]);
    assert_eq!((has_artifacts(&state, &ids[0]), has_artifacts(&state, &ids[1])), (false, true));
    age(&state, &ids[1], 8);
    assert_eq!(prune(), [ids[1].clone()]);

    // `--only` reuses the latest run's outputs: refused, naming it.
    let output = host(&["run", "--pipeline", file.to_str().unwrap(), "--only", "copy", "--no-progress"], "warn");
    assert_eq!(output.status.code(), Some(3), "{}", show(&output));
    let expected =
        format!("--only: run {}'s artifacts (the stage outputs --only reuses) were pruned by retention at ", ids[1]);
    assert!(String::from_utf8_lossy(&output.stderr).contains(&expected), "{}", show(&output));
}

#[test]
fn bad_alerts_and_retention_are_configuration_errors() {
    let dir = scratch("ops-invalid");
    let extra = "alerts:\n  - {on: [], webhook: \"ftp://example.com/x\"}\n  - {on: [failure], command: []}\n\
                 retention: {keep_runs: 0}\n";
    let file = pipeline(&dir, "retries: 0", PASSING, extra);
    let output = host(&["validate", "--pipeline", file.to_str().unwrap()], "warn");
    assert_eq!(output.status.code(), Some(3), "{}", show(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for problem in [
        "  - alerts[0]: `on` is empty: list the events that fire it (failure, partial, success, retry)\n",
        "  - alerts[0]: webhook \"ftp://example.com/x\": the scheme is ftp; use http or https\n",
        "  - alerts[1]: command is empty: give the program and its arguments\n",
        "  - retention.keep_runs: must be at least 1\n",
    ] {
        assert!(stderr.contains(problem), "{problem}\n{stderr}");
    }
}

#[test]
fn a_command_gets_the_retry_then_the_partial_run_in_order() {
    let dir = scratch("ops-alerts-partial");
    let log = dir.join("alerts.jsonl");
    let stages = r#"  - name: optional
    plugin: hostile.wasm
    inputs: {in: ingest_items}
    critical: false
    retries: 1
    config: {mode: fail, message: "still broken", repeat: 1}
"#;
    let extra = format!(
        "alerts:\n  - {{on: [partial, retry], command: [sh, -c, \"cat >> {log}; echo >> {log}\"]}}\n",
        log = log.display()
    );
    let file = pipeline(&dir, "retries: 0, retry_backoff_ms: 10", stages, &extra);
    let (output, _, run_id) = run(&file, &[]);
    assert_eq!(output.status.code(), Some(1), "a partial run exits 1: {}", show(&output));
    let text = std::fs::read_to_string(&log).expect("the command ran");
    let told: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("one JSON document a line")).collect();
    assert_eq!(told.len(), 2, "{text}");
    assert_eq!((told[0]["event"].as_str(), told[0]["stage"].as_str()), (Some("retry"), Some("optional")));
    assert_eq!((told[0]["attempt"].as_u64(), told[0]["error_kind"].as_str()), (Some(1), Some("failed")));
    assert_eq!(told[1]["run"]["id"], run_id.as_str());
    assert_eq!(told[1]["run"]["status"], "partial");
    let events: Vec<String> = alerts(&summary(&dir.join("state"), &run_id)).into_iter().map(|a| a.0).collect();
    assert_eq!(events, ["retry", "partial"]);
}
