//! `host run`, `validate`, `graph`, `runs` through the real binary: the sample e-commerce
//! pipeline, and small pipelines built around the hostile fixture for the run rules.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{
    ecommerce_in, host, items_pipeline, outcome, plugin_dir, root, run_host, scratch, show, stage, summary,
};

#[test]
fn the_sample_pipeline_succeeds_with_overlapping_ingests_and_conserves_rows() {
    let dir = scratch("pipeline-ecommerce");
    let mut args: Vec<String> = ["run", "--pipeline"].iter().map(|s| (*s).to_owned()).collect();
    args.push(root().join("config/ecommerce.yaml").display().to_string());
    args.extend(ecommerce_in(&dir, "20000"));
    args.extend(["--parallelism".to_owned(), "3".to_owned(), "--json".to_owned()]);
    let output = run_host(&args);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let run = outcome(&output);
    assert_eq!(run["status"], "success");

    let summary = summary(&dir.join("state"), run["run_id"].as_str().expect("run id"));
    let (orders, customers) = (stage(&summary, "ingest_orders"), stage(&summary, "ingest_customers"));
    let ms = |s: &Value, k: &str| s[k]["unix_ms"].as_i64().expect("timestamp");
    assert!(
        ms(orders, "started_at") <= ms(customers, "ended_at") && ms(customers, "started_at") <= ms(orders, "ended_at"),
        "ingest stages did not overlap: {orders} / {customers}"
    );

    // Conservation: raw orders = fact rows + every row quarantined on the way.
    let rows = |name: &str, key: &str| stage(&summary, name)[key].as_u64().expect("count");
    let raw = rows("ingest_orders", "rows_in");
    let quarantined = rows("ingest_orders", "rows_rejected")
        + rows("validate_orders", "rows_rejected")
        + rows("cleanse_orders", "rows_rejected");
    assert_eq!(raw, 20_000);
    assert_eq!(raw, rows("transform_orders", "rows_out") + quarantined);
    assert!(quarantined > 0);
    // The pipeline's own checks held: conservation and the three equal sums.
    let checks = run["checks"].as_array().expect("checks");
    assert_eq!(checks.len(), 2, "{run}");
    assert!(checks.iter().all(|c| c["passed"] == true), "{run}");

    // The warehouse loads every fact row (plus the dimensions and the daily table).
    assert!(rows("load_warehouse", "rows_in") > rows("transform_orders", "rows_out"));

    // The sinks: warehouse tables, the quarantine of every source, both reports.
    for table in ["sales", "customers", "products", "sales_by_category_daily"] {
        assert!(dir.join("warehouse").join(table).is_dir(), "warehouse table {table} missing");
    }
    for source in ["orders", "customers", "products"] {
        let run_dir =
            dir.join("quarantine").join(source).join(format!("run_id={}", run["run_id"].as_str().expect("id")));
        assert!(run_dir.is_dir(), "{} missing", run_dir.display());
    }
    let daily = std::fs::read_to_string(dir.join("reports/daily_sales_report.csv")).expect("daily report");
    assert!(
        daily.starts_with("order_date,category,total_amount_sum,total_amount_avg,total_amount_count,quantity_sum\n")
    );
    let customers = std::fs::read_to_string(dir.join("reports/customer_summary_report.csv")).expect("customer report");
    assert!(customers.starts_with("customer_id,name,region,total_amount_sum,total_amount_count\n"));
}

#[test]
fn a_broken_pipeline_lists_every_problem_and_exits_3() {
    let dir = scratch("pipeline-broken");
    let file = dir.join("broken.yaml");
    std::fs::write(
        &file,
        format!(
            r#"pipeline: broken
paths: {{raw_data: {d}, warehouse: {d}, quarantine: {d}, reports: {d}, state: {d}}}
plugin_dir: {plugins}
stages:
  - name: a
    plugin: identity.wasm
    inputs: {{in: b}}
  - name: b
    plugin: identity.wasm
    inputs: {{in: a}}
  - name: c
    plugin: identity.wasm
    inputs: {{in: nowhere}}
  - name: d
    plugin: missing.wasm
"#,
            d = dir.display(),
            plugins = plugin_dir().display()
        ),
    )
    .expect("write pipeline");
    let output = host(&["validate", "--pipeline", file.to_str().expect("utf-8")], "warn");
    assert_eq!(output.status.code(), Some(3), "{}", show(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cycle: a -> b -> a"), "{stderr}");
    assert!(stderr.contains("stage \"c\": input \"in\" from \"nowhere\" doesn't match any stage"), "{stderr}");
    let looked = format!(
        "stage \"d\": plugin file not found: looked for {} (under plugin_dir {});",
        plugin_dir().join("missing.wasm").display(),
        plugin_dir().display()
    );
    assert!(stderr.contains(&looked), "{stderr}");
}

/// A pipeline: ingest a tiny CSV → `first` (hostile, mode from `first_mode`) → `second`
/// (identity); plus an independent branch `side` (identity on the same input).
fn hostile_pipeline(dir: &Path, first_critical: bool) -> PathBuf {
    let stages = format!(
        r#"  - name: first
    plugin: hostile.wasm
    critical: {first_critical}
    inputs: {{in: ingest_items}}
    config: {{mode: echo}}
  - name: second
    plugin: identity.wasm
    inputs: {{in: first}}
  - name: side
    plugin: identity.wasm
    inputs: {{in: ingest_items}}
"#
    );
    items_pipeline(dir, "hostile", "id,n\na,1\nb,2\nc,x\n", "retries: 0, retry_backoff_ms: 10", &stages)
}

fn run_pipeline(file: &Path, extra: &[&str]) -> (std::process::Output, Value) {
    let mut args = vec!["run", "--pipeline", file.to_str().expect("utf-8"), "--json"];
    args.extend_from_slice(extra);
    let output = host(&args, "warn");
    let value = outcome(&output);
    (output, value)
}

fn statuses(run: &Value) -> Vec<(String, String)> {
    run["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| (s["name"].as_str().expect("name").to_owned(), s["status"].as_str().expect("status").to_owned()))
        .collect()
}

fn status_of(run: &Value, name: &str) -> String {
    statuses(run).into_iter().find(|(n, _)| n == name).map(|(_, s)| s).unwrap_or_default()
}

#[test]
fn a_failing_critical_stage_fails_the_run_and_spares_unrelated_branches() {
    let dir = scratch("pipeline-critical");
    let file = hostile_pipeline(&dir, true);
    let (output, run) = run_pipeline(&file, &["--set", "stages.first.config.mode=panic"]);
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    assert_eq!(run["status"], "failed");
    assert_eq!(status_of(&run, "first"), "failed");
    assert_eq!(status_of(&run, "second"), "upstream_failed");
    assert_eq!(status_of(&run, "side"), "success");
    let error =
        run["stages"].as_array().expect("stages").iter().find(|s| s["name"] == "first").expect("first")["error"]
            .as_str()
            .expect("error text")
            .to_owned();
    assert!(
        error.starts_with(
            "stage \"first\" (plugin hostile.wasm): plugin panicked in `push`: hostile fixture panics on purpose (at "
        ),
        "{error}"
    );
}

#[test]
fn a_failing_non_critical_stage_makes_the_run_partial() {
    let dir = scratch("pipeline-partial");
    let file = hostile_pipeline(&dir, false);
    let (output, run) = run_pipeline(&file, &["--set", "stages.first.config.mode=garbage"]);
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    assert_eq!(run["status"], "partial");
    assert_eq!(status_of(&run, "second"), "upstream_failed");
    assert_eq!(status_of(&run, "side"), "success");
}

#[test]
fn a_stage_past_its_timeout_fails_with_timeout_after_its_retries() {
    let dir = scratch("pipeline-timeout");
    let file = hostile_pipeline(&dir, true);
    let (output, run) = run_pipeline(
        &file,
        &[
            "--set",
            "stages.first.config.mode=loop",
            "--set",
            "stages.first.timeout_s=1",
            "--set",
            "stages.first.retries=1",
        ],
    );
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    let first = run["stages"].as_array().expect("stages").iter().find(|s| s["name"] == "first").expect("first").clone();
    assert_eq!(first["attempts"], 2, "{first}");
    assert_eq!(first["error"], "timeout: stage exceeded its time limit of 1s", "{first}");
}

#[test]
fn resume_reruns_only_the_failed_stage_and_its_downstream() {
    let dir = scratch("pipeline-resume");
    let file = hostile_pipeline(&dir, true);
    let (output, failed) = run_pipeline(&file, &["--set", "stages.first.config.mode=panic"]);
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    let failed_id = failed["run_id"].as_str().expect("run id").to_owned();

    let (output, resumed) = run_pipeline(&file, &["--resume", &failed_id]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    assert_eq!(
        statuses(&resumed),
        vec![
            ("ingest_items".to_owned(), "skipped".to_owned()),
            ("first".to_owned(), "success".to_owned()),
            ("second".to_owned(), "success".to_owned()),
            ("side".to_owned(), "skipped".to_owned()),
        ]
    );
    // The resumed stages read the reused ingest output: 2 valid rows of 3.
    let second =
        resumed["stages"].as_array().expect("stages").iter().find(|s| s["name"] == "second").expect("second").clone();
    assert_eq!(second["report"]["rows_out"], 2, "{second}");

    let list = host(&["runs", "list", "--state-dir", dir.join("state").to_str().expect("utf-8"), "--json"], "warn");
    assert!(list.status.success(), "{}", show(&list));
    let runs: Value = serde_json::from_slice(&list.stdout).expect("runs list is JSON");
    assert_eq!(runs.as_array().map(Vec::len), Some(2));
    assert_eq!(runs[0]["resumed_from"], failed_id.as_str());

    let state = dir.join("state");
    let state = state.to_str().expect("utf-8");
    let show_run = host(&["runs", "show", &failed_id, "--state-dir", state], "warn");
    assert!(show_run.status.success(), "{}", show(&show_run));
    let text = String::from_utf8_lossy(&show_run.stdout);
    assert!(text.contains("first") && text.contains("hostile fixture panics on purpose"), "{text}");
    let stats = host(&["runs", "stats", "--state-dir", state, "--json"], "warn");
    assert!(stats.status.success(), "{}", show(&stats));
    let stats: Value = serde_json::from_slice(&stats.stdout).expect("stats are JSON");
    assert_eq!(stats["runs"], 2, "{stats}");
}

#[test]
fn only_reruns_one_stage_on_the_latest_outputs() {
    let dir = scratch("pipeline-only");
    let file = hostile_pipeline(&dir, true);
    let (output, _) = run_pipeline(&file, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let (output, only) = run_pipeline(&file, &["--only", "second"]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    assert_eq!(
        statuses(&only),
        vec![
            ("ingest_items".to_owned(), "skipped".to_owned()),
            ("first".to_owned(), "skipped".to_owned()),
            ("second".to_owned(), "success".to_owned()),
            ("side".to_owned(), "skipped".to_owned()),
        ]
    );
    let output = host(&["run", "--pipeline", file.to_str().expect("utf-8"), "--only", "nope"], "warn");
    assert_eq!(output.status.code(), Some(3), "{}", show(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--only nope: no such stage"), "{}", show(&output));
}

#[test]
fn a_violated_check_fails_the_run_with_its_figures() {
    let dir = scratch("pipeline-check");
    let file = hostile_pipeline(&dir, true);
    let conserved = "checks.conservation=[{source: ingest_items, output: side}]";
    let (output, run) = run_pipeline(&file, &["--set", conserved]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    assert_eq!(run["checks"][0]["detail"], "raw rows 3 = 2 on side.out + 1 quarantined");

    // `first` now invents rows: 5 out of 2, so the rows no longer add up.
    let invented = "checks.conservation=[{source: ingest_items, output: first}]";
    let (output, run) =
        run_pipeline(&file, &["--set", invented, "--set", "stages.first.config={mode: huge_output, rows: 5}"]);
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    assert_eq!(run["status"], "failed");
    assert_eq!(run["checks"][0]["passed"], false);
    assert_eq!(run["checks"][0]["detail"], "raw rows 3 ≠ 5 on first.out + 1 quarantined");

    // The run store has the checks too: in summary.json with their figures, and in `runs show`.
    let (run_id, state) = (run["run_id"].as_str().expect("run id"), dir.join("state"));
    let expected = serde_json::json!([{
        "name": "conservation(ingest_items)",
        "passed": false,
        "detail": "raw rows 3 ≠ 5 on first.out + 1 quarantined",
        "figures": {"raw_rows": 3, "output_rows": 5, "quarantined": 1},
    }]);
    assert_eq!(summary(&state, run_id)["checks"], expected);
    assert_eq!(run["checks"][0]["figures"], expected[0]["figures"]);
    let shown = host(&["runs", "show", run_id, "--state-dir", state.to_str().expect("utf-8")], "warn");
    assert!(shown.status.success(), "{}", show(&shown));
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(text.contains("✗  conservation(ingest_items)\n   raw rows 3 ≠ 5 on first.out + 1 quarantined\n"), "{text}");
}

#[test]
fn graph_prints_mermaid_and_dot() {
    let dir = scratch("pipeline-graph");
    let file = hostile_pipeline(&dir, true);
    let mermaid = host(&["graph", "--pipeline", file.to_str().expect("utf-8")], "warn");
    assert!(mermaid.status.success(), "{}", show(&mermaid));
    let text = String::from_utf8_lossy(&mermaid.stdout);
    assert!(text.starts_with("flowchart LR\n"), "{text}");
    assert!(text.contains("  ingest_items -->|out| first\n"), "{text}");
    let dot = host(&["graph", "--format", "dot", "--pipeline", file.to_str().expect("utf-8")], "warn");
    assert!(
        String::from_utf8_lossy(&dot.stdout).contains("\"first\" -> \"second\" [label=\"out\"];"),
        "{}",
        show(&dot)
    );
}

#[test]
fn a_stage_that_fails_once_is_retried_and_the_run_log_has_both_attempts() {
    let dir = scratch("pipeline-retry");
    let file = hostile_pipeline(&dir, true);
    let pipeline = file.to_str().expect("utf-8");
    let output = host(
        &[
            "run",
            "--pipeline",
            pipeline,
            "--json",
            "--date",
            "2024-06-30",
            "--log-format",
            "json",
            "--set",
            "stages.first.config.mode=flaky",
            "--set",
            "stages.first.config.fail_attempts=1",
            "--set",
            "stages.first.retries=2",
        ],
        "info",
    );
    let run = outcome(&output);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let first = run["stages"].as_array().expect("stages").iter().find(|s| s["name"] == "first").expect("first").clone();
    assert_eq!((first["status"].as_str(), first["attempts"].as_u64()), (Some("success"), Some(2)), "{first}");
    assert_eq!(first["report"]["rows_out"], 2, "the retry starts over: no rows from the failed attempt: {first}");
    assert_eq!(status_of(&run, "second"), "success");

    // Every line on stderr and in the run's log file is a JSON object; the file has the plugin's
    // view of both attempts (through etl:stage/context) and the retry between them.
    let run_id = run["run_id"].as_str().expect("run id");
    let parse = |text: &str| -> Vec<Value> {
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect()
    };
    let stderr = parse(&String::from_utf8_lossy(&output.stderr));
    assert!(stderr.iter().any(|e| e["message"] == "run started" && e["run_id"] == run_id), "{stderr:?}");
    let log = std::fs::read_to_string(dir.join("state/runs").join(run_id).join("run.log")).expect("run.log");
    let log = parse(&log);
    for attempt in [1, 2] {
        let said = format!("run {run_id} dated 2024-06-30: stage first attempt {attempt}");
        assert!(
            log.iter().any(|e| e["message"] == said.as_str() && e["stage"] == "first" && e["plugin"] == "hostile.wasm"),
            "no `{said}` in the run log: {log:?}"
        );
    }
    let retry = log.iter().find(|e| e["message"] == "stage failed; retrying").expect("a retry in the run log");
    assert_eq!((retry["stage"].as_str(), retry["attempt"].as_u64()), (Some("first"), Some(1)), "{retry}");
    assert!(retry["error"].as_str().is_some_and(|e| e.contains("attempt 1 fails on purpose")), "{retry}");
    assert!(log.iter().any(|e| e["message"] == "run finished" && e["status"] == "success"), "{log:?}");
}

/// Wide rows: 400 records of about 2 KiB through `identity`, whose output per call is capped at
/// 256 KiB. Batches of up to `batch_rows` records alone would be 800 KiB and be refused; with
/// `batch_bytes` they end at 128 KiB of the file.
#[test]
fn batches_of_wide_rows_are_cut_by_bytes_and_stay_within_a_plugin_s_limits() {
    let wide = "w".repeat(2000);
    let csv: String =
        std::iter::once("id,n\n".to_owned()).chain((0..400).map(|i| format!("{wide}{i},{i}\n"))).collect();
    let stages = r#"  - name: copy
    plugin: identity.wasm
    inputs: {in: ingest_items}
    limits: {output_bytes: 262144}
"#;
    let defaults = |batch_bytes: usize| format!("retries: 0, batch_rows: 100000, batch_bytes: {batch_bytes}");

    let dir = scratch("pipeline-wide-rows");
    let file = items_pipeline(&dir, "wide", &csv, &defaults(128 << 10), stages);
    let (output, run) = run_pipeline(&file, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let copy = &named(&run, "copy")["report"];
    assert_eq!((copy["rows_in"].as_u64(), copy["rows_out"].as_u64()), (Some(400), Some(400)), "{run}");
    // Records of 2,004-2,008 bytes: 66 of them reach 128 KiB, so 400 make 7 batches.
    assert!(copy["metrics"].as_array().is_some_and(|m| m.contains(&serde_json::json!(["batches", 7]))), "{copy}");

    let dir = scratch("pipeline-wide-rows-one-batch");
    let file = items_pipeline(&dir, "wide", &csv, &defaults(64 << 20), stages);
    let (output, run) = run_pipeline(&file, &[]);
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    let error = named(&run, "copy")["error"].as_str().unwrap_or_default().to_owned();
    assert!(error.contains("more than the output limit of 256 KiB"), "{error}");
}

/// Stage `name` of what `host run --json` printed.
fn named<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["stages"].as_array().and_then(|stages| stages.iter().find(|s| s["name"] == name)).unwrap_or(&Value::Null)
}

/// A pinned plugin whose file changed is refused, naming both digests; `--unset` lifts the pin
/// for one run (rolling back or forward without a second pipeline file), and refuses a key that
/// is not there.
#[test]
fn a_pin_is_checked_and_unset_lifts_it() {
    let dir = scratch("pin-unset");
    let stages = "  - name: copy\n    plugin: identity.wasm\n    sha256: \"00ff\"\n    inputs: {in: ingest_items}\n";
    let file = items_pipeline(&dir, "pinned", "id,n\na,1\n", "retries: 0", stages);
    let path = file.to_str().unwrap();
    let refused = host(&["validate", "--pipeline", path], "warn");
    assert_eq!(refused.status.code(), Some(3), "{}", show(&refused));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("but the pipeline pins 00ff"), "{}", show(&refused));
    let lifted = host(&["run", "--pipeline", path, "--unset", "stages.copy.sha256", "--no-progress"], "warn");
    assert_eq!(lifted.status.code(), Some(0), "{}", show(&lifted));
    let typo = host(&["validate", "--pipeline", path, "--unset", "stages.copy.sha265"], "warn");
    assert_eq!(typo.status.code(), Some(3), "{}", show(&typo));
    assert!(
        String::from_utf8_lossy(&typo.stderr).contains("--unset stages.copy.sha265: there is no `sha265` to remove"),
        "{}",
        show(&typo)
    );
}
