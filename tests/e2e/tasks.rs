//! One run, many processes (`host run --run-id ID --stage S`, then `--finish`), as an Airflow DAG
//! runs it: the outputs equal a single-process run's byte for byte, a stage task killed mid-way
//! and run again completes the run identically, two stage tasks started at once both record,
//! a second process on a running stage is refused, and the exit codes say what an orchestrator
//! needs (retry, skip, fail).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use host::state::{RunStatus, RunStore, StageStatus, Trigger};

use crate::common::{
    cache_dir, ecommerce_args, files_under, generate_data, host, items_pipeline, run_host, scratch, show,
};

const RUN_ID: &str = "manual__2024-03-01T00_00_00_00_00";
const DATE: &str = "2024-03-01";

/// The e-commerce pipeline's stages in an order that respects their dependencies.
fn stage_order(args: &[String]) -> Vec<String> {
    let mut validate = args.to_vec();
    validate[0] = "validate".to_owned();
    let output = run_host(&validate);
    assert!(output.status.success(), "{}", show(&output));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().next().expect("a stage").to_owned())
        .collect()
}

/// `host run ARGS --run-id RUN_ID --date DATE --trigger airflow EXTRA`, as a command.
fn task(args: &[String], extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_host"));
    command
        .args(args)
        .args(["--run-id", RUN_ID, "--date", DATE, "--trigger", "airflow", "--no-progress"])
        .args(extra)
        .env("ETL_CACHE_DIR", cache_dir())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    command
}

fn run_task(args: &[String], extra: &[&str]) -> Output {
    task(args, extra).output().expect("host runs")
}

/// Every file under `a` and `b` (warehouse, reports, quarantine) is the same, byte for byte.
pub fn assert_same_files(a: &Path, b: &Path) {
    let (left, right) = (files_under(a), files_under(b));
    assert_eq!(left.keys().collect::<Vec<_>>(), right.keys().collect::<Vec<_>>(), "{} vs {}", a.display(), b.display());
    assert!(!left.is_empty(), "{} is empty", a.display());
    for (name, path) in &left {
        assert!(std::fs::read(path).unwrap() == std::fs::read(&right[name]).unwrap(), "{name} differs");
    }
}

/// A single-process run of the same data with the same run id, for comparison.
fn single_run(raw: &Path, out: &Path) {
    single_run_as(raw, out, RUN_ID, DATE);
}

/// A single-process run of the e-commerce pipeline on `raw` into `out`, as run `run_id` of `date`.
pub fn single_run_as(raw: &Path, out: &Path, run_id: &str, date: &str) {
    let mut args = ecommerce_args(raw, out);
    args.extend(["--run-id", run_id, "--date", date, "--no-progress"].map(str::to_owned));
    let output = run_host(&args);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
}

/// Warehouse, reports and quarantine under `single` and `tasks` are the same, byte for byte.
pub fn assert_outputs_equal(single: &Path, tasks: &Path) {
    for dir in ["warehouse", "reports", "quarantine"] {
        assert_same_files(&single.join(dir), &tasks.join(dir));
    }
}

#[test]
fn a_run_as_stage_tasks_equals_a_single_process_run() {
    let dir = scratch("tasks-equal");
    let raw = dir.join("raw");
    generate_data(&raw, 3000, 42);
    single_run(&raw, &dir.join("single"));
    let args = ecommerce_args(&raw, &dir.join("tasks"));
    let stages = stage_order(&args);

    // Finishing before any stage task ran: nothing to finish, said clearly.
    let early = run_task(&args, &["--finish"]);
    assert_eq!(early.status.code(), Some(3), "{}", show(&early));
    assert!(String::from_utf8_lossy(&early.stderr).contains("has no task records"), "{}", show(&early));
    // A stage whose upstream has not run is refused, naming it.
    let early = run_task(&args, &["--stage", "validate_orders"]);
    assert_eq!(early.status.code(), Some(3), "{}", show(&early));
    assert!(
        String::from_utf8_lossy(&early.stderr).contains(&format!(
            "stage validate_orders of run {RUN_ID} cannot start: its upstream stage ingest_orders has not run"
        )),
        "{}",
        show(&early)
    );

    for stage in &stages {
        let output = run_task(&args, &["--stage", stage, "--attempt", "1"]);
        assert_eq!(output.status.code(), Some(0), "{stage}: {}", show(&output));
    }
    // A task of the run with another logical date is refused: it would mix two runs' data.
    let mut other = args.clone();
    other.extend(["--run-id", RUN_ID, "--date", "2024-03-02", "--stage", "ingest_orders"].map(str::to_owned));
    let other = run_host(&other);
    assert_eq!(other.status.code(), Some(3), "{}", show(&other));
    assert!(
        String::from_utf8_lossy(&other.stderr).contains("was started for logical date 2024-03-01"),
        "{}",
        show(&other)
    );

    let finished = run_task(&args, &["--finish", "--json"]);
    assert_eq!(finished.status.code(), Some(0), "{}", show(&finished));
    assert_outputs_equal(&dir.join("single"), &dir.join("tasks"));

    // The run store has the whole run, as a single-process run records it.
    let store = RunStore::open_read_only(&dir.join("tasks/state")).unwrap();
    let run = store.get_run(RUN_ID).unwrap().expect("the run is recorded");
    assert_eq!(
        (run.run.status, run.run.trigger, run.run.logical_date.as_str()),
        (RunStatus::Success, Trigger::Airflow, DATE)
    );
    assert_eq!(run.stages.len(), stages.len());
    assert!(run.stages.iter().all(|s| s.record.status == StageStatus::Success && s.record.attempts == 1));
    assert!(run.checks.len() == 2 && run.checks.iter().all(|c| c.passed), "{:?}", run.checks);
    let single = RunStore::open_read_only(&dir.join("single/state")).unwrap().get_run(RUN_ID).unwrap().unwrap();
    for stage in &single.stages {
        let task = run.stages.iter().find(|s| s.record.stage == stage.record.stage).expect("the stage");
        assert_eq!(
            (task.record.rows_in, task.record.rows_out, task.record.rows_rejected, &task.record.plugin_sha256),
            (stage.record.rows_in, stage.record.rows_out, stage.record.rows_rejected, &stage.record.plugin_sha256),
            "{}",
            stage.record.stage
        );
    }
    assert_eq!(run.checks, single.checks);

    // Finishing again (an orchestrator's retry) records the same run once more.
    let again = run_task(&args, &["--finish"]);
    assert_eq!(again.status.code(), Some(0), "{}", show(&again));
    let store = RunStore::open_read_only(&dir.join("tasks/state")).unwrap();
    assert_eq!(store.list_runs(10).unwrap().len(), 1);
}

/// `orders.csv` as a FIFO: a task reading it blocks until the test writes it.
fn fifo(path: &Path) {
    std::fs::remove_file(path).unwrap();
    let made = Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
    assert!(made.success(), "mkfifo {}", path.display());
}

fn kill(mut child: Child) {
    let killed = Command::new("kill").args(["-9", &child.id().to_string()]).status().expect("kill runs");
    assert!(killed.success());
    let status = child.wait().expect("the task ends");
    assert_eq!(status.code(), None, "killed by a signal");
}

#[test]
fn a_stage_task_killed_midway_runs_again_alone_and_the_run_completes_identically() {
    let dir = scratch("tasks-killed");
    let raw = dir.join("raw");
    generate_data(&raw, 2000, 42);
    single_run(&raw, &dir.join("single"));
    let args = ecommerce_args(&raw, &dir.join("tasks"));
    let stages = stage_order(&args);

    // The orders ingest reads a FIFO: it has read the first half of the file when it is killed.
    let orders = raw.join("orders.csv");
    let data = std::fs::read(&orders).unwrap();
    fifo(&orders);
    let first = task(&args, &["--stage", "ingest_orders", "--attempt", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let first = first.expect("the task starts");
    let mut input = std::fs::File::options().write(true).open(&orders).expect("the task opens its input");
    std::io::Write::write_all(&mut input, &data[..data.len() / 2]).unwrap();
    std::io::Write::flush(&mut input).unwrap();

    // While it runs, nobody else runs that stage of the run.
    let second = run_task(&args, &["--stage", "ingest_orders", "--attempt", "2"]);
    assert_eq!(second.status.code(), Some(2), "{}", show(&second));
    assert!(
        String::from_utf8_lossy(&second.stderr)
            .contains(&format!("stage ingest_orders of run {RUN_ID} is being run by another process")),
        "{}",
        show(&second)
    );
    kill(first);
    drop(input);
    let record: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("tasks/state/runs").join(RUN_ID).join("stages/ingest_orders.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(record["status"], "running", "the killed task left its record running: {record}");

    // The orchestrator's next attempt runs the stage again, on the whole file; the rest follows.
    std::fs::remove_file(&orders).unwrap();
    std::fs::write(&orders, &data).unwrap();
    for stage in &stages {
        let attempt = if stage == "ingest_orders" { "2" } else { "1" };
        let output = run_task(&args, &["--stage", stage, "--attempt", attempt]);
        assert_eq!(output.status.code(), Some(0), "{stage}: {}", show(&output));
    }
    let finished = run_task(&args, &["--finish"]);
    assert_eq!(finished.status.code(), Some(0), "{}", show(&finished));
    assert_outputs_equal(&dir.join("single"), &dir.join("tasks"));
    let run = RunStore::open_read_only(&dir.join("tasks/state")).unwrap().get_run(RUN_ID).unwrap().unwrap();
    let ingest = run.stages.iter().find(|s| s.record.stage == "ingest_orders").unwrap();
    assert_eq!((ingest.record.status, ingest.record.attempts), (StageStatus::Success, 2));
}

#[test]
fn two_stage_tasks_of_one_run_started_at_once_both_record() {
    let dir = scratch("tasks-concurrent");
    let raw = dir.join("raw");
    generate_data(&raw, 500, 42);
    let args = ecommerce_args(&raw, &dir.join("tasks"));
    // Two processes, the run's first tasks: both create the run's folder and record file.
    let children: Vec<Child> = ["ingest_customers", "ingest_products"]
        .iter()
        .map(|stage| {
            task(&args, &["--stage", stage, "--attempt", "1"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("starts")
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().expect("the task ends");
        assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    }
    for stage in ["ingest_customers", "ingest_products"] {
        let path = dir.join("tasks/state/runs").join(RUN_ID).join(format!("stages/{stage}.json"));
        let record: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(record["status"], "success", "{stage}: {record}");
        assert!(record["rows_out"].as_u64().unwrap() > 0, "{stage}: {record}");
    }
    // Finishing now: the stages that never ran are failed as not run, the run is failed.
    let finished = run_task(&args, &["--finish", "--json"]);
    assert_eq!(finished.status.code(), Some(2), "{}", show(&finished));
    let run = RunStore::open_read_only(&dir.join("tasks/state")).unwrap().get_run(RUN_ID).unwrap().unwrap();
    let status = |name: &str| run.stages.iter().find(|s| s.record.stage == name).map(|s| s.record.status);
    assert_eq!(status("ingest_customers"), Some(StageStatus::Success));
    assert_eq!(status("ingest_products"), Some(StageStatus::Success));
    assert_eq!(status("ingest_orders"), Some(StageStatus::Failed));
    assert_eq!(status("validate_orders"), Some(StageStatus::UpstreamFailed));
}

#[test]
fn exit_codes_tell_the_orchestrator_to_retry_skip_or_fail() {
    let dir = scratch("tasks-exit");
    // `after` comes before the stage it reads in the file: the run's order is the graph's.
    let stages = r#"  - name: after
    plugin: identity.wasm
    inputs: {in: flaky}
  - name: flaky
    plugin: hostile.wasm
    critical: false
    retries: 1
    inputs: {in: ingest_items}
    config: {mode: fail, message: "broken", repeat: 1}
  - name: copy
    plugin: identity.wasm
    inputs: {in: ingest_items}
"#;
    let file: PathBuf = items_pipeline(&dir, "tasks_exit", "id,n\na,1\nb,2\n", "retry_backoff_ms: 1", stages);
    let args: Vec<String> = ["run", "--pipeline", file.to_str().unwrap()].map(str::to_owned).to_vec();
    let code = |extra: &[&str]| run_task(&args, extra).status.code();
    assert_eq!(code(&["--stage", "ingest_items", "--attempt", "1"]), Some(0));
    assert_eq!(code(&["--stage", "copy", "--attempt", "1"]), Some(0));
    // A non-critical stage's failure: retry (2) while attempts remain, then skip (1).
    assert_eq!(code(&["--stage", "flaky", "--attempt", "1"]), Some(2));
    assert_eq!(code(&["--stage", "flaky", "--attempt", "2"]), Some(1));
    // The orchestrator says how many attempts it makes (a cleared Airflow task makes more).
    assert_eq!(code(&["--stage", "flaky", "--attempt", "3", "--max-attempts", "4"]), Some(2));
    assert_eq!(code(&["--stage", "flaky", "--attempt", "4", "--max-attempts", "4"]), Some(1));
    // Its downstream is never run by the orchestrator; finishing records the run as partial.
    let finished = run_task(&args, &["--finish"]);
    assert_eq!(finished.status.code(), Some(0), "{}", show(&finished));
    let run = RunStore::open_read_only(&dir.join("state")).unwrap().get_run(RUN_ID).unwrap().unwrap();
    assert_eq!(run.run.status, RunStatus::Partial);
    let flaky = run.stages.iter().find(|s| s.record.stage == "flaky").unwrap();
    assert_eq!((flaky.record.status, flaky.record.attempts), (StageStatus::Failed, 4));
    let after = run.stages.iter().find(|s| s.record.stage == "after").unwrap();
    assert_eq!(after.record.status, StageStatus::UpstreamFailed);
    assert_eq!(after.record.error.as_deref(), Some("not run: upstream stage \"flaky\" failed"));
    // A whole run may not take the id of one the store has.
    let taken = host(&["run", "--pipeline", file.to_str().unwrap(), "--run-id", RUN_ID, "--no-progress"], "warn");
    assert_eq!(taken.status.code(), Some(3), "{}", show(&taken));
    assert!(String::from_utf8_lossy(&taken.stderr).contains("already has a run"), "{}", show(&taken));
    // A bad run id is a usage error.
    let bad = host(&["run", "--pipeline", file.to_str().unwrap(), "--run-id", "../x", "--stage", "copy"], "warn");
    assert_eq!(bad.status.code(), Some(3), "{}", show(&bad));
}
