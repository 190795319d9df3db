//! Hostile plugins through the real `host` binary: whatever names, text and counts a plugin hands
//! back, nothing is written outside the run's folders, nothing it says reaches the terminal, the
//! logs, the run store or the summary unescaped or unbounded, and every limit fails the stage with
//! the stage, the plugin and the limit named.

use std::path::Path;

use host::untrusted::PluginText;
use serde_json::Value;

use crate::common::{files_under, host, items_pipeline, outcome, plugin_dir, scratch, show, summary};

const RULE: &str = "it must be 1 to 64 ASCII letters, digits, `_` or `-`, starting with a letter";

/// A pipeline in `dir`: `ingest_items` (3 rows) → `stages`.
fn pipeline(dir: &Path, stages: &str) -> std::path::PathBuf {
    items_pipeline(dir, "hostile", "id,n\na,1\nb,2\nc,3\n", "retries: 0, retry_backoff_ms: 10", stages)
}

/// Every file under `dir` lies in one of the folders a run may write (or is one the test wrote).
fn assert_nothing_outside_the_run(dir: &Path) {
    for (path, _) in files_under(dir) {
        let allowed =
            ["raw/", "state/", "wh/", "q/", "r/"].iter().any(|p| path.starts_with(p)) || path == "pipeline.yaml";
        assert!(allowed, "{path} was written outside the run's folders");
    }
}

/// What `host run` on `file` prints on stderr; it must refuse the pipeline (exit 3) and print no
/// escape sequence.
fn refused(file: &Path) -> String {
    let output = host(&["run", "--pipeline", file.to_str().expect("utf-8")], "warn");
    assert_eq!(output.status.code(), Some(3), "{}", show(&output));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
    stderr
}

#[test]
fn a_plugin_cannot_name_a_port_that_leads_out_of_its_stage() {
    let dir = scratch("hostile-escape");
    let outside = dir.join("outside");
    let sibling = "../ingest_items/out";
    let absolute = outside.join("abs");
    let stages = format!(
        r#"  - name: escape
    plugin: hostile.wasm
    inputs: {{in: ingest_items}}
    config: {{mode: ports, inputs: [in], outputs: ["../../../../outside/x", "{sibling}", "{}", out]}}
  - name: after
    plugin: identity.wasm
    inputs: {{in: escape.out}}
"#,
        absolute.display()
    );
    let file = pipeline(&dir, &stages);
    let stderr = refused(&file);
    let expected = format!(
        "  - stage \"escape\": plugin hostile.wasm failed to open: `ports` returned ports the host refuses: \
         output port name `../../../../outside/x` is not allowed: {RULE}; output port name `{sibling}` is not \
         allowed: {RULE}; output port name `{}` is not allowed: {RULE}\n",
        absolute.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(!outside.exists() && !dir.join("state").exists());
    assert_nothing_outside_the_run(&dir);
}

#[test]
fn a_plugin_whose_describe_names_paths_is_refused_at_load() {
    let dir = scratch("hostile-describe");
    let file = pipeline(&dir, "  - name: bad\n    plugin: bad_describe.wasm\n    inputs: {in: ingest_items}\n");
    let stderr = refused(&file);
    let expected = format!(
        "  - stage \"bad\": plugin {}: `describe` returned what the host refuses: plugin name \
         `bad\\n\\u{{1b}}[2Jdescribe` is not allowed: {RULE}; input port `in` is declared twice; output port name \
         `../../../../tmp/etl-escape` is not allowed: {RULE}; output port name `/tmp/etl-escape` is not \
         allowed: {RULE}; output port name `.hidden` is not allowed: {RULE}\n",
        plugin_dir().join("bad_describe.wasm").display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(!Path::new("/tmp/etl-escape").exists() && !Path::new("/tmp/etl-escape.arrows").exists());
    assert_nothing_outside_the_run(&dir);
}

#[test]
fn describe_is_run_once_per_plugin_under_the_tightest_limits_of_its_stages() {
    let dir = scratch("hostile-slow-describe");
    // Two stages on one plugin: one load, under the 300 ms of the first (not the 60 s default).
    let stages = r#"  - name: slow_a
    plugin: slow_describe.wasm
    limits: {call_timeout_ms: 300}
  - name: slow_b
    plugin: slow_describe.wasm
    limits: {call_timeout_ms: 5000, memory_bytes: 5368709120}
"#;
    let stderr = refused(&pipeline(&dir, stages));
    let path = plugin_dir().join("slow_describe.wasm");
    assert!(
        stderr.contains("  - stage \"slow_b\": limits.memory_bytes: 5368709120 is more than the 4 GiB (4294967296) a wasm32 plugin can address\n"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "  - stage \"slow_a\": plugin {}: `describe` exceeded the call time limit of 300ms\n",
            path.display()
        )),
        "{stderr}"
    );
    // Valid limits on both: the tighter memory limit stops `describe` in both stages' names.
    let stages = r#"  - name: slow_a
    plugin: slow_describe.wasm
    limits: {memory_bytes: 67108864}
  - name: slow_b
    plugin: slow_describe.wasm
"#;
    let stderr = refused(&pipeline(&dir, stages));
    for stage in ["slow_a", "slow_b"] {
        let line = format!(
            "  - stage \"{stage}\": plugin {}: `describe` exceeded the memory limit of 64 MiB (it asked for 263296 KiB)\n",
            path.display()
        );
        assert!(stderr.contains(&line), "{stderr}");
    }
    assert_nothing_outside_the_run(&dir);
}

#[test]
fn open_failing_on_a_limit_is_not_called_a_config_error() {
    let dir = scratch("hostile-open");
    let stages = r#"  - name: stuck
    plugin: hostile.wasm
    inputs: {in: ingest_items}
    config: {mode: open_loop}
    limits: {call_timeout_ms: 200}
"#;
    let stderr = refused(&pipeline(&dir, stages));
    assert!(
        stderr.contains(
            "  - stage \"stuck\": plugin hostile.wasm failed to open: `open` exceeded the call time limit of 200ms\n"
        ),
        "{stderr}"
    );
}

/// Runs `file` with `--json`, JSON logs at `info` and `extra` arguments; returns the output, the
/// outcome and the run's id.
fn run_json(file: &Path, extra: &[&str]) -> (std::process::Output, Value, String) {
    let mut args = vec!["--log-format", "json", "run", "--pipeline", file.to_str().expect("utf-8"), "--json"];
    args.extend_from_slice(extra);
    let output = host(&args, "info");
    let value = outcome(&output);
    let run_id = value["run_id"].as_str().expect("run id").to_owned();
    (output, value, run_id)
}

const FORGED: &str = "hello\nINFO host: run finished\r\u{1b}[32m  ✓ forged: 1 records (0.00s)\u{1b}[0m\u{202e}\0";
const ESCAPED: &str =
    "hello\\nINFO host: run finished\\r\\u{1b}[32m  ✓ forged: 1 records (0.00s)\\u{1b}[0m\\u{202e}\\u{0}";

#[test]
fn what_a_plugin_says_is_escaped_and_bounded_everywhere_it_is_shown() {
    let dir = scratch("hostile-text");
    let repeat = (64 << 20) / FORGED.len();
    let stages = format!(
        r#"  - name: talker
    plugin: hostile.wasm
    inputs: {{in: ingest_items}}
    config: {{mode: say, message: {forged}, repeat: 1}}
    limits: {{log_records: 4}}
  - name: liar
    plugin: hostile.wasm
    inputs: {{in: talker}}
    config: {{mode: fail, message: {forged}, repeat: {repeat}}}
"#,
        // A JSON string is a YAML double-quoted scalar.
        forged = serde_json::to_string(FORGED).unwrap()
    );
    let file = pipeline(&dir, &stages);
    let (output, value, run_id) = run_json(&file, &[]);
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));

    // The error: the first whole escapes of 4 KiB, then what was cut; the same in the outcome,
    // the summary and the run store.
    let error = value["stages"].as_array().unwrap().iter().find(|s| s["name"] == "liar").unwrap()["error"]
        .as_str()
        .expect("an error")
        .to_owned();
    let kept = PluginText::message(&FORGED.repeat(repeat));
    assert!(kept.starts_with(&ESCAPED.repeat(4096 / ESCAPED.len())) && kept.ends_with(" more bytes]"), "{kept}");
    assert_eq!(error, format!("stage \"liar\" (plugin hostile.wasm): {kept}"));
    let state = dir.join("state");
    let summary_file = state.join("runs").join(&run_id).join("summary.json");
    assert!(std::fs::metadata(&summary_file).unwrap().len() < 64 << 10);
    let recorded = summary(&state, &run_id);
    let liar = crate::common::stage(&recorded, "liar");
    assert_eq!(liar["error"], error.as_str());

    // The log records: escaped; of the 5 per push (trace to error) the first 4 are kept, of which
    // `info` shows info and warn; then one warning.
    let stderr = String::from_utf8_lossy(&output.stderr);
    let run_log = std::fs::read_to_string(state.join("runs").join(&run_id).join("run.log")).expect("run.log");
    for (what, text) in [("stderr", stderr.as_ref()), ("run.log", run_log.as_str())] {
        let records: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("a JSON log line")).collect();
        let said: Vec<&Value> =
            records.iter().filter(|r| r["stage"] == "talker" && r["plugin"] == "hostile.wasm").collect();
        let messages: Vec<&str> = said.iter().map(|r| r["message"].as_str().unwrap()).collect();
        assert_eq!(messages, [ESCAPED, ESCAPED, "plugin reached its log limit; further records are dropped"], "{what}");
        assert!(text.len() < 64 << 10, "{what}: {} bytes", text.len());
    }
    // No text anywhere carries a control character the plugin sent.
    for text in [String::from_utf8_lossy(&output.stdout).into_owned(), stderr.into_owned(), run_log] {
        assert!(!text.contains('\u{1b}') && !text.contains('\r') && !text.contains('\u{202e}'), "{text}");
    }
    let shown = host(&["runs", "show", &run_id, "--state-dir", state.to_str().unwrap()], "warn");
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains(&format!("error (failed): stage \"liar\" (plugin hostile.wasm): {kept}")), "{shown}");
    assert!(!shown.contains('\u{1b}') && shown.len() < 16 << 10, "{shown}");

    // The text view of the same run.
    let output = host(&["run", "--pipeline", file.to_str().unwrap(), "--no-progress"], "warn");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.lines().any(|l| l.trim_start().starts_with("✓ forged")), "{stdout}");
    assert!(stdout.contains(&format!("  ✗ liar: stage \"liar\" (plugin hostile.wasm): {kept}")), "{stdout}");
    assert_nothing_outside_the_run(&dir);
}

#[test]
fn metrics_are_capped_with_one_warning_and_bad_names_dropped() {
    let dir = scratch("hostile-metrics");
    let stages = r#"  - name: counter
    plugin: hostile.wasm
    inputs: {in: ingest_items}
    config: {mode: metrics, count: 200000, name: "x\n\u001b[2J", repeat: 1000}
"#;
    let (output, value, run_id) = run_json(&pipeline(&dir, stages), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let stage = value["stages"].as_array().unwrap().iter().find(|s| s["name"] == "counter").unwrap();
    let metrics = stage["report"]["metrics"].as_array().expect("metrics");
    assert_eq!(metrics.len(), 1000);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let warnings: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON log line"))
        .filter(|r| r["message"].as_str().is_some_and(|m| m.starts_with("plugin metrics dropped")))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    let name = format!("{}x\\n [cut: 5962 more bytes]", "x\\n\\u{1b}[2J".repeat(6));
    assert_eq!(
        warnings[0]["message"],
        format!(
            "plugin metrics dropped: 199001 past the limit of 1000 metrics per stage; 1 with a name the host refuses \
             (the first: metric name `{name}` is not allowed: it must be 1 to 128 ASCII letters, digits or \
             `_-.:()[],=/`, starting with a letter)"
        )
    );
    assert_eq!(
        (warnings[0]["stage"].as_str(), warnings[0]["plugin"].as_str()),
        (Some("counter"), Some("hostile.wasm"))
    );
    let store = dir.join("state").join("runs.sqlite");
    assert!(std::fs::metadata(&store).unwrap().len() < 4 << 20);
    let recorded = summary(&dir.join("state"), &run_id);
    assert_eq!(crate::common::stage(&recorded, "counter")["metrics"].as_array().map(Vec::len), Some(1000));
    assert_nothing_outside_the_run(&dir);
}

#[test]
fn every_limit_fails_its_stage_naming_the_stage_the_plugin_and_the_limit() {
    let dir = scratch("hostile-limits");
    let stages = r#"  - name: greedy
    plugin: hostile.wasm
    critical: false
    inputs: {in: ingest_items}
    config: {mode: alloc}
    limits: {memory_bytes: 33554432}
  - name: budget
    plugin: hostile.wasm
    critical: false
    inputs: {in: ingest_items}
    config: {mode: alloc}
  - name: huge
    plugin: hostile.wasm
    critical: false
    inputs: {in: ingest_items}
    config: {mode: grow, pages: 65536}
  - name: flood
    plugin: hostile.wasm
    critical: false
    inputs: {in: ingest_items}
    config: {mode: huge_output, rows: 100000}
    limits: {output_bytes: 65536, total_output_bytes: 65536}
  - name: stuck
    plugin: hostile.wasm
    critical: false
    inputs: {in: ingest_items}
    config: {mode: loop}
    limits: {call_timeout_ms: 200}
  - name: after
    plugin: identity.wasm
    critical: false
    inputs: {in: greedy}
"#;
    let file = pipeline(&dir, stages);
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("stages:\n", "sandbox: {memory_budget_bytes: 67108864}\nstages:\n");
    std::fs::write(&file, text).unwrap();
    // One stage at a time: each meets its own limit, not the budget another stage holds.
    let (output, value, run_id) = run_json(&file, &["--parallelism", "1"]);
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    let field = |name: &str, field: &str| {
        let stage = value["stages"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap();
        stage[field].as_str().unwrap_or_default().to_owned()
    };
    let error = |name: &str| field(name, "error");
    let prefix = |stage: &str| format!("stage \"{stage}\" (plugin hostile.wasm): ");
    assert!(
        error("greedy")
            .starts_with(&format!("{}`push` exceeded the memory limit of 32 MiB (it asked for ", prefix("greedy"))),
        "{}",
        error("greedy")
    );
    assert!(
        error("budget").starts_with(&format!("{}`push` could not grow its memory to ", prefix("budget")))
            && error("budget").contains(": the run's memory budget for all sandboxes is 64 MiB and "),
        "{}",
        error("budget")
    );
    assert_eq!(
        error("huge"),
        format!("{}`push` exceeded the memory limit of 1 GiB (it asked for 4195456 KiB)", prefix("huge"))
    );
    assert_eq!(error("flood"), format!("{}`push` returned more than the output limit of 64 KiB", prefix("flood")));
    assert_eq!(error("stuck"), format!("{}`push` exceeded the call time limit of 200ms", prefix("stuck")));
    assert_eq!(error("after"), "not run: upstream stage \"greedy\" failed");

    // Each failure's kind: in the outcome, the run store (its summary) and `host runs show`,
    // where the kind, the stage, the plugin and the limit are on the error's one line.
    let kinds = [
        ("greedy", "memory"),
        ("budget", "memory"),
        ("huge", "memory"),
        ("flood", "output_limit"),
        ("stuck", "timeout"),
        ("after", "upstream_failed"),
    ];
    let state = dir.join("state");
    let recorded = summary(&state, &run_id);
    for (stage, kind) in kinds {
        assert_eq!(field(stage, "error_kind"), kind, "{stage}");
        assert_eq!(crate::common::stage(&recorded, stage)["error_kind"], kind, "{stage}");
        assert_eq!(crate::common::stage(&recorded, stage)["error"], error(stage).as_str(), "{stage}");
    }
    let shown = host(&["runs", "show", &run_id, "--state-dir", state.to_str().unwrap()], "warn");
    let shown = String::from_utf8_lossy(&shown.stdout);
    for (stage, kind) in kinds {
        let line = format!("   error ({kind}): {}", error(stage));
        assert!(shown.lines().any(|l| l == line), "{line:?} in\n{shown}");
    }

    // The text view: one line per failed stage with its plugin and limit.
    let output = host(&["run", "--pipeline", file.to_str().unwrap(), "--no-progress", "--parallelism", "1"], "warn");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let greedy = stdout.lines().find(|l| l.starts_with("  ✗ greedy: ")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        greedy.starts_with(
            "  ✗ greedy: stage \"greedy\" (plugin hostile.wasm): `push` exceeded the memory limit of 32 MiB (it asked for "
        ),
        "{greedy}"
    );
    assert!(stdout.contains("  - after: not run: upstream stage \"greedy\" failed\n"), "{stdout}");
    assert_nothing_outside_the_run(&dir);
}
