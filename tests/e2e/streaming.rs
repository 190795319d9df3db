//! Stages streaming from running upstreams: a chain whose head fails part-way through an attempt
//! must end with exactly the rows of the attempt that succeeded, or with its dependents
//! `upstream_failed` when none does, the same as when each stage waits for its inputs.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{items_pipeline, outcome, run_host, scratch, show};

/// ingest (one row per batch) -> flaky -> second -> third, plus a warehouse table of third.
fn chain(dir: &Path, fail_attempts: u32) -> PathBuf {
    let stages = format!(
        r#"  - name: flaky
    plugin: hostile.wasm
    inputs: {{in: ingest_items}}
    config: {{mode: flaky, fail_attempts: {fail_attempts}, fail_after: 2}}
  - name: second
    plugin: identity.wasm
    inputs: {{in: flaky}}
  - name: third
    plugin: identity.wasm
    inputs: {{in: second}}
  - name: load
    warehouse:
      - {{table: items, input: third, mode: replace}}
"#
    );
    let csv = "id,n\na,1\nb,2\nc,x\nd,4\ne,5\n";
    items_pipeline(dir, "streaming", csv, "retries: 1, retry_backoff_ms: 50, batch_rows: 1", &stages)
}

fn run(file: &Path, extra: &[&str]) -> (std::process::Output, Value) {
    let mut args: Vec<String> =
        ["run", "--pipeline", file.to_str().expect("utf-8"), "--json"].iter().map(|s| (*s).to_owned()).collect();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let output = run_host(&args);
    let value = outcome(&output);
    (output, value)
}

/// (status, attempts, rows out) of each stage.
fn stages(run: &Value) -> Vec<(String, String, u64, u64)> {
    run["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().expect("name").to_owned(),
                s["status"].as_str().expect("status").to_owned(),
                s["attempts"].as_u64().expect("attempts"),
                s["report"]["rows_out"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

fn expected(flaky_attempts: u64) -> Vec<(String, String, u64, u64)> {
    [("ingest_items", 1, 4), ("flaky", flaky_attempts, 4), ("second", 1, 4), ("third", 1, 4), ("load", 1, 4)]
        .iter()
        .map(|(name, attempts, rows)| ((*name).to_owned(), "success".to_owned(), *attempts, *rows))
        .collect()
}

#[test]
fn a_chain_streaming_from_a_stage_that_fails_mid_attempt_keeps_only_the_retry_s_rows() {
    // The flaky stage emits two rows, then fails; its dependents, reading as it writes, start
    // over on its second attempt without using one of their own.
    for mode in [&[][..], &["--no-stream"][..]] {
        let dir = scratch(if mode.is_empty() { "streaming-retry" } else { "streaming-retry-off" });
        let (output, run) = run(&chain(&dir, 1), mode);
        assert_eq!(output.status.code(), Some(0), "{mode:?}: {}", show(&output));
        assert_eq!(stages(&run), expected(2), "{mode:?}: {run}");
        let table = crate::common::files_under(&dir.join("wh/items"));
        let rows: usize = table
            .values()
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .map(|p| crate::common::read_parquet(p).expect("parquet").1.iter().map(|b| b.num_rows()).sum::<usize>())
            .sum();
        assert_eq!(rows, 4, "{mode:?}: the table has each row once");
    }
}

#[test]
fn a_chain_streaming_from_a_stage_that_never_succeeds_is_upstream_failed() {
    let dir = scratch("streaming-failed");
    let (output, run) = run(&chain(&dir, 9), &[]);
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    assert_eq!(run["status"], "failed");
    let got: Vec<(String, String)> = stages(&run).into_iter().map(|(name, status, ..)| (name, status)).collect();
    let want: Vec<(String, String)> = [
        ("ingest_items", "success"),
        ("flaky", "failed"),
        ("second", "upstream_failed"),
        ("third", "upstream_failed"),
        ("load", "upstream_failed"),
    ]
    .iter()
    .map(|(n, s)| ((*n).to_owned(), (*s).to_owned()))
    .collect();
    assert_eq!(got, want, "{run}");
    assert!(!dir.join("wh/items").exists(), "nothing was published");
}
