//! Run store tests: each opens a real database in its own temporary directory.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::store::nearest_rank;
use super::*;
use serde_json::json;

/// A fresh directory under the system temp dir, removed on drop. Not created: `open` does that.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("host-state-test-{label}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(ms)
}

fn new_run(id: &str, pipeline: &str, started_ms: i64) -> NewRun {
    NewRun {
        id: id.to_owned(),
        pipeline: pipeline.to_owned(),
        env: "development".to_owned(),
        logical_date: "2026-11-25".to_owned(),
        started_at: ts(started_ms),
        resumed_from: None,
        config_digest: "sha256:c0ffee".to_owned(),
        trigger: Trigger::Manual,
    }
}

/// A stage that ran from `start` to `end` (ms) with `status` and `rows_out`.
fn ran(name: &str, status: StageStatus, start: i64, end: i64, rows_out: u64) -> StageRecord {
    StageRecord {
        status,
        attempts: 1,
        started_at: Some(ts(start)),
        ended_at: Some(ts(end)),
        rows_out,
        ..StageRecord::pending(name)
    }
}

fn approx(actual: Option<f64>, expected: f64) {
    let actual = actual.expect("a value");
    assert!((actual - expected).abs() < 1e-9, "expected {expected}, got {actual}");
}

fn ids(runs: &[RunSummary]) -> Vec<&str> {
    runs.iter().map(|r| r.id.as_str()).collect()
}

fn stage_names(detail: &RunDetail) -> Vec<&str> {
    detail.stages.iter().map(|s| s.record.stage.as_str()).collect()
}

#[test]
fn store_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<RunStore>();
}

#[test]
fn lifecycle_start_upsert_finish_then_read_back() {
    let dir = TempDir::new("lifecycle");
    let store = RunStore::open(dir.path()).unwrap();
    store.start_run(&new_run("r1", "ecommerce", 1_000_000)).unwrap();

    let running = store.get_run("r1").unwrap().unwrap();
    assert_eq!(running.run.status, RunStatus::Running);
    assert_eq!((running.run.ended_at, running.run.duration_seconds), (None, None));
    assert!(running.stages.is_empty());

    // The scheduler records the plan's stages as pending first, in plan order.
    for name in ["validate", "ingest", "report"] {
        store.upsert_stage("r1", &StageRecord::pending(name)).unwrap();
    }
    let ingest = StageRecord {
        bytes_out: 4096,
        metrics: vec![("files".into(), 2)],
        ..ran("ingest", StageStatus::Success, 1_000_100, 1_000_600, 1000)
    };
    let validate_first = StageRecord {
        error: Some("plugin trapped".into()),
        error_kind: Some("trap".into()),
        input_wait_ms: Some(40),
        metrics: vec![("checked".into(), 10), ("bad".into(), 3)],
        ..ran("validate", StageStatus::Failed, 1_000_700, 1_000_800, 0)
    };
    let validate_second = StageRecord {
        attempts: 2,
        rows_in: 1000,
        rows_rejected: 10,
        plugin_sha256: Some("ab".repeat(32)),
        metrics: vec![("checked".into(), 1000)],
        ..ran("validate", StageStatus::Success, 1_000_700, 1_002_700, 990)
    };
    store.upsert_stage("r1", &ingest).unwrap();
    store.upsert_stage("r1", &validate_first).unwrap();
    let failed = store.get_run("r1").unwrap().unwrap();
    assert_eq!(failed.stages[1].record, validate_first, "the error, its kind and the input wait are kept");
    approx(failed.stages[1].busy_seconds, 0.06);
    store.upsert_stage("r1", &validate_second).unwrap();
    store.finish_run("r1", RunStatus::Partial, ts(1_003_000)).unwrap();

    let detail = store.get_run("r1").unwrap().unwrap();
    assert_eq!(detail.run.status, RunStatus::Partial);
    assert_eq!(detail.run.ended_at, Some(ts(1_003_000)));
    approx(detail.run.duration_seconds, 3.0);
    assert_eq!(detail.run.config_digest, "sha256:c0ffee");
    // Start order; the stage that never started comes last.
    assert_eq!(stage_names(&detail), ["ingest", "validate", "report"]);
    assert_eq!(detail.stages[0].record, ingest);
    assert_eq!(detail.stages[1].record, validate_second, "the second upsert replaces the first");
    assert_eq!(detail.stages[2].record, StageRecord::pending("report"));
    approx(detail.stages[0].duration_seconds, 0.5);
    approx(detail.stages[1].duration_seconds, 2.0);
    assert_eq!(detail.stages[2].duration_seconds, None);
    assert_eq!(detail.run.stage_counts, StageCounts { total: 3, pending: 1, success: 2, ..StageCounts::default() });
    let metric_rows: i64 = store
        .conn_for_tests()
        .query_row("SELECT COUNT(*) FROM stage_metrics WHERE run_id = 'r1' AND stage = 'validate'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(metric_rows, 1, "replaced metrics are deleted");

    store.start_run(&new_run("r2", "ecommerce", 2_000_000)).unwrap();
    store.start_run(&new_run("r3", "other", 3_000_000)).unwrap();
    assert_eq!(ids(&store.list_runs(10).unwrap()), ["r3", "r2", "r1"]);
    assert_eq!(ids(&store.list_runs(2).unwrap()), ["r3", "r2"]);
    assert!(store.list_runs(0).unwrap().is_empty());
    assert_eq!(store.list_runs(10).unwrap()[2], detail.run, "list and get agree");
    assert_eq!(store.latest_run("ecommerce").unwrap().unwrap().run.id, "r2");
    assert_eq!(store.latest_run("other").unwrap().unwrap().run.id, "r3");
    assert!(store.latest_run("nothing").unwrap().is_none());
    assert!(store.get_run("nope").unwrap().is_none());
}

#[test]
fn metrics_and_counts_round_trip() {
    let dir = TempDir::new("metrics");
    let store = RunStore::open(dir.path()).unwrap();
    store.start_run(&new_run("m", "p", 0)).unwrap();
    let metrics = vec![
        ("rows_seen".to_owned(), 42),
        ("négatif".to_owned(), -7),
        ("min".to_owned(), i64::MIN),
        ("max".to_owned(), i64::MAX),
        ("rows_seen".to_owned(), 43), // a repeated name keeps both, in order
    ];
    let stage = StageRecord {
        metrics: metrics.clone(),
        rows_in: i64::MAX as u64,
        bytes_in: 1 << 40,
        ..ran("s", StageStatus::Success, 1, 2, 3)
    };
    store.upsert_stage("m", &stage).unwrap();
    store.upsert_stage("m", &StageRecord::pending("empty")).unwrap();
    let detail = store.get_run("m").unwrap().unwrap();
    assert_eq!(detail.stages[0].record, stage);
    assert_eq!(detail.stages[0].record.metrics, metrics);
    assert!(detail.stages[1].record.metrics.is_empty());

    // Counts beyond SQLite's i64 are an error, not a panic or a wrapped value.
    let too_big = StageRecord { rows_out: u64::MAX, ..StageRecord::pending("big") };
    let err = store.upsert_stage("m", &too_big).unwrap_err();
    assert!(matches!(err, StateError::Sql { .. }), "{err}");
    assert!(err.to_string().contains("record stage big of run m"), "{err}");
    assert_eq!(store.get_run("m").unwrap().unwrap().stages.len(), 2, "the failed write left nothing");
}

#[test]
fn stats_over_known_durations() {
    let dir = TempDir::new("stats");
    let store = RunStore::open(dir.path()).unwrap();
    // (id, status, start s, duration s, ingest rows, load stage)
    let runs = [
        ("a", RunStatus::Success, 10, 1, 100, Some((StageStatus::Success, 400, 10))),
        ("b", RunStatus::Success, 20, 2, 200, Some((StageStatus::Success, 600, 30))),
        ("c", RunStatus::Partial, 30, 3, 300, Some((StageStatus::Failed, 1000, 5))),
        ("d", RunStatus::Failed, 40, 4, 400, None),
        ("e", RunStatus::Success, 50, 10, 500, Some((StageStatus::Success, 2000, 50))),
    ];
    for (id, status, start_s, duration_s, ingest_rows, load) in runs {
        let start = start_s * 1000;
        store.start_run(&new_run(id, "ecommerce", start)).unwrap();
        store.upsert_stage(id, &ran("ingest", StageStatus::Success, start, start + 500, ingest_rows)).unwrap();
        let load = match load {
            Some((status, ms, rows)) => ran("load", status, start + 500, start + 500 + ms, rows),
            None => StageRecord { status: StageStatus::UpstreamFailed, ..StageRecord::pending("load") },
        };
        store.upsert_stage(id, &load).unwrap();
        store.finish_run(id, status, ts(start + duration_s * 1000)).unwrap();
    }
    // A run still going is not counted.
    store.start_run(&new_run("f", "ecommerce", 60_000)).unwrap();
    store.upsert_stage("f", &ran("ingest", StageStatus::Success, 60_000, 90_000, 9999)).unwrap();

    let stats = store.stats(10).unwrap();
    assert_eq!((stats.window, stats.runs, stats.success, stats.partial, stats.failed), (10, 5, 3, 1, 1));
    approx(stats.success_rate, 0.6);
    approx(stats.avg_duration_seconds, 4.0); // (1 + 2 + 3 + 4 + 10) / 5
    approx(stats.p95_duration_seconds, 10.0); // rank ⌈0.95 · 5⌉ = 5 of [1, 2, 3, 4, 10]
    assert_eq!(stats.stages.len(), 2);
    let [ingest, load] = [&stats.stages[0], &stats.stages[1]];
    assert_eq!(
        (ingest.pipeline.as_str(), ingest.stage.as_str(), ingest.runs, ingest.failures),
        ("ecommerce", "ingest", 5, 0)
    );
    approx(ingest.avg_duration_seconds, 0.5);
    approx(ingest.avg_rows_out, 300.0); // the running run's 9999 is not counted
    assert_eq!((load.stage.as_str(), load.runs, load.failures), ("load", 5, 1));
    approx(load.avg_duration_seconds, 1.0); // (0.4 + 0.6 + 1.0 + 2.0) / 4: d never started
    approx(load.avg_rows_out, 30.0); // successful executions only: (10 + 30 + 50) / 3

    let last3 = store.stats(3).unwrap(); // e, d, c: 10 s, 4 s, 3 s
    assert_eq!((last3.runs, last3.success, last3.partial, last3.failed), (3, 1, 1, 1));
    approx(last3.success_rate, 1.0 / 3.0);
    approx(last3.avg_duration_seconds, 17.0 / 3.0);
    approx(last3.p95_duration_seconds, 10.0);
    assert_eq!(last3.stages[1].runs, 3);
    approx(last3.stages[1].avg_duration_seconds, 1.5); // c 1.0, e 2.0

    let none = store.stats(0).unwrap();
    assert_eq!(
        (none.runs, none.success_rate, none.avg_duration_seconds, none.p95_duration_seconds),
        (0, None, None, None)
    );
    assert!(none.stages.is_empty());
}

#[test]
fn p95_is_nearest_rank() {
    let one_to = |n: u32| (1..=n).map(f64::from).collect::<Vec<_>>();
    assert_eq!(nearest_rank(&[], 95), None);
    assert_eq!(nearest_rank(&[7.0], 95), Some(7.0));
    assert_eq!(nearest_rank(&one_to(2), 95), Some(2.0));
    assert_eq!(nearest_rank(&one_to(19), 95), Some(19.0)); // ⌈18.05⌉ = 19
    assert_eq!(nearest_rank(&one_to(20), 95), Some(19.0)); // ⌈19⌉ = 19
    assert_eq!(nearest_rank(&one_to(21), 95), Some(20.0)); // ⌈19.95⌉ = 20
    assert_eq!(nearest_rank(&one_to(100), 95), Some(95.0));
    assert_eq!(nearest_rank(&one_to(100), 50), Some(50.0));
    assert_eq!(nearest_rank(&one_to(3), 0), Some(1.0));
}

#[test]
fn reader_reads_while_a_writer_writes() {
    let dir = TempDir::new("concurrent");
    let writer = RunStore::open(dir.path()).unwrap();
    writer.start_run(&new_run("r1", "p", 1_000)).unwrap();
    let reader = RunStore::open_read_only(dir.path()).unwrap();
    assert_eq!(ids(&reader.list_runs(10).unwrap()), ["r1"]);

    // The writer holds the write lock with uncommitted work: the reader is neither blocked nor
    // shown the uncommitted run.
    writer.conn_for_tests().execute_batch("BEGIN IMMEDIATE").unwrap();
    writer.start_run(&new_run("r2", "p", 2_000)).unwrap();
    assert_eq!(ids(&reader.list_runs(10).unwrap()), ["r1"]);
    assert!(reader.get_run("r1").unwrap().is_some());
    assert!(reader.stats(10).is_ok());
    writer.conn_for_tests().execute_batch("COMMIT").unwrap();
    assert_eq!(ids(&reader.list_runs(10).unwrap()), ["r2", "r1"]);

    // A reader thread polls while the writer records many stage updates.
    let poller = std::thread::spawn(move || {
        let mut seen = 0;
        for _ in 0..50 {
            let detail = reader.get_run("r2").unwrap().unwrap();
            assert!(detail.stages.len() >= seen, "stages never disappear");
            seen = detail.stages.len();
            reader.list_runs(10).unwrap();
        }
        reader
    });
    for i in 0..200 {
        let stage = ran(&format!("s{}", i % 20), StageStatus::Running, 2_000 + i, 2_001 + i, i as u64);
        writer.upsert_stage("r2", &stage).unwrap();
    }
    let reader = poller.join().unwrap();
    assert_eq!(reader.get_run("r2").unwrap().unwrap().stages.len(), 20);

    // The read-only store cannot write.
    let err = reader.start_run(&new_run("r3", "p", 3_000)).unwrap_err();
    assert!(matches!(err, StateError::Sql { .. }), "{err}");
}

#[test]
fn opening_again_migrates_nothing_and_keeps_data() {
    let dir = TempDir::new("migrate");
    let first = RunStore::open(dir.path()).unwrap();
    first.start_run(&new_run("kept", "p", 5)).unwrap();
    let second = RunStore::open(dir.path()).unwrap(); // while the first is still open
    drop(first);
    let third = RunStore::open(dir.path()).unwrap();
    for store in [&second, &third] {
        assert_eq!(ids(&store.list_runs(10).unwrap()), ["kept"]);
        let version: i64 = store.conn_for_tests().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, sql::SCHEMA_VERSION);
        let mode: String = store.conn_for_tests().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = store.conn_for_tests().query_row("PRAGMA foreign_keys", [], |r| r.get(0)).unwrap();
        assert_eq!(fk, 1);
    }
    drop((second, third));
    assert!(RunStore::open_read_only(dir.path()).unwrap().get_run("kept").unwrap().is_some());
}

#[test]
fn schema_versions_other_than_ours_are_refused_clearly() {
    let dir = TempDir::new("versions");
    fs::create_dir_all(dir.path()).unwrap();
    let db = dir.path().join(DB_FILE);

    // An empty database (version 0): read-only refuses, a writer migrates it.
    drop(rusqlite::Connection::open(&db).unwrap());
    let err = RunStore::open_read_only(dir.path()).unwrap_err();
    assert!(matches!(err, StateError::SchemaTooOld { found: 0, supported: 7, .. }), "{err}");
    RunStore::open(dir.path()).unwrap();
    RunStore::open_read_only(dir.path()).unwrap();

    // A database from a newer host.
    rusqlite::Connection::open(&db).unwrap().pragma_update(None, "user_version", 99).unwrap();
    for err in [RunStore::open(dir.path()).unwrap_err(), RunStore::open_read_only(dir.path()).unwrap_err()] {
        assert!(matches!(err, StateError::SchemaTooNew { found: 99, supported: 7, .. }), "{err}");
        assert_eq!(
            err.to_string(),
            format!("run store {} has schema version 99, newer than this host's 7: use a newer host", db.display())
        );
    }
}

#[test]
fn a_run_keeps_what_triggered_it() {
    let dir = TempDir::new("trigger");
    let store = RunStore::open(dir.path()).unwrap();
    store.start_run(&new_run("manual", "p", 1)).unwrap();
    store.start_run(&NewRun { trigger: Trigger::Schedule, ..new_run("scheduled", "p", 2) }).unwrap();
    let triggers: Vec<(String, Trigger)> =
        store.list_runs(10).unwrap().into_iter().map(|run| (run.id, run.trigger)).collect();
    assert_eq!(triggers, [("scheduled".to_owned(), Trigger::Schedule), ("manual".to_owned(), Trigger::Manual)]);
    assert_eq!(store.get_run("scheduled").unwrap().unwrap().run.trigger, Trigger::Schedule);
    let json = serde_json::to_value(store.latest_run("p").unwrap().unwrap().run).unwrap();
    assert_eq!(json["trigger"], "schedule");
}

#[test]
fn read_only_without_a_database_names_the_path() {
    let dir = TempDir::new("missing");
    let err = RunStore::open_read_only(dir.path()).unwrap_err();
    let db = dir.path().join("runs.sqlite");
    assert!(matches!(&err, StateError::Missing { path } if *path == db), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "cannot open run store {}: no such file (no run has been recorded in this state directory)",
            db.display()
        )
    );
    assert!(!dir.path().exists(), "a read-only open creates nothing");
}

#[test]
fn misuse_gives_errors_naming_the_run() {
    let dir = TempDir::new("errors");
    let store = RunStore::open(dir.path()).unwrap();
    let db = dir.path().join(DB_FILE);
    store.start_run(&new_run("r1", "p", 0)).unwrap();

    let err = store.finish_run("nope", RunStatus::Success, ts(1)).unwrap_err();
    assert_eq!(err.to_string(), format!("run nope not found in run store {}", db.display()));
    let err = store.upsert_stage("nope", &StageRecord::pending("s")).unwrap_err();
    assert!(matches!(&err, StateError::RunNotFound { run_id, .. } if run_id == "nope"), "{err}");
    let err = store.write_summary(dir.path(), "nope").unwrap_err();
    assert!(matches!(&err, StateError::RunNotFound { run_id, .. } if run_id == "nope"), "{err}");

    let err = store.start_run(&new_run("r1", "p", 0)).unwrap_err();
    assert!(matches!(err, StateError::RunExists { .. }), "{err}");
    let err = store.finish_run("r1", RunStatus::Running, ts(1)).unwrap_err();
    assert!(matches!(err, StateError::NotFinal { .. }), "{err}");
    assert_eq!(store.get_run("r1").unwrap().unwrap().run.status, RunStatus::Running);

    for bad in ["", "../x", "a/b", ".hidden", "sp ace", &"x".repeat(129)] {
        let err = store.start_run(&new_run(bad, "p", 0)).unwrap_err();
        assert!(matches!(err, StateError::InvalidRunId { .. }), "{bad:?}: {err}");
    }
    for bad in ["2026-02-30", "2026-13-01", "2026-1-01", "20261125", "2026-11-25T00:00"] {
        let run = NewRun { logical_date: bad.to_owned(), ..new_run("r9", "p", 0) };
        let err = store.start_run(&run).unwrap_err();
        assert!(matches!(err, StateError::InvalidLogicalDate { .. }), "{bad:?}: {err}");
    }

    let resumed = NewRun { resumed_from: Some("ghost".into()), ..new_run("r2", "p", 1) };
    let err = store.start_run(&resumed).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("cannot start run r2 resumed from ghost: run ghost not found in run store {}", db.display())
    );
    let resumed = NewRun { resumed_from: Some("r1".into()), ..new_run("r2", "p", 1) };
    store.start_run(&resumed).unwrap();
    assert_eq!(store.get_run("r2").unwrap().unwrap().run.resumed_from.as_deref(), Some("r1"));
}

#[test]
fn summary_json_is_written_atomically_and_parses() {
    let dir = TempDir::new("summary");
    let store = RunStore::open(dir.path()).unwrap();
    let id = "20261125T190700Z-3f9a";
    store.start_run(&new_run(id, "ecommerce", 1_795_633_620_123)).unwrap();
    let stage = StageRecord {
        metrics: vec![("files".into(), 2)],
        plugin_sha256: Some("ab".repeat(32)),
        ..ran("ingest", StageStatus::Success, 1_795_633_620_200, 1_795_633_621_700, 1000)
    };
    store.upsert_stage(id, &stage).unwrap();
    store.finish_run(id, RunStatus::Success, ts(1_795_633_622_123)).unwrap();

    let path = store.write_summary(dir.path(), id).unwrap();
    assert_eq!(path, dir.path().join("runs").join(id).join("summary.json"));
    let path = store.write_summary(dir.path(), id).unwrap(); // rewriting replaces
    let text = fs::read_to_string(&path).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["run"]["id"], id);
    assert_eq!(json["run"]["status"], "success");
    assert_eq!(json["run"]["started_at"]["unix_ms"], 1_795_633_620_123_i64);
    assert_eq!(json["run"]["started_at"]["utc"], "2026-11-25T19:07:00.123Z");
    assert_eq!(json["run"]["duration_seconds"], 2.0);
    assert_eq!(json["run"]["stage_counts"]["success"], 1);
    assert_eq!(json["stages"][0]["stage"], "ingest");
    assert_eq!(json["stages"][0]["status"], "success");
    assert_eq!(json["stages"][0]["duration_seconds"], 1.5);
    assert_eq!(json["stages"][0]["rows_out"], 1000);
    assert_eq!(json["stages"][0]["error"], serde_json::Value::Null);
    assert_eq!(json["stages"][0]["metrics"], serde_json::json!([{"name": "files", "value": 2}]));
    assert_eq!(json, serde_json::to_value(store.get_run(id).unwrap().unwrap()).unwrap());
    let names: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["summary.json"], "no temporary file is left behind");
}

#[test]
fn run_ids_sort_in_creation_order_and_are_unique() {
    let now = 1_795_633_620_123; // 2026-11-25T19:07:00.123Z
    let mut made: Vec<String> = (0..1000).map(|_| RunStore::new_run_id(ts(now))).collect();
    made.extend((0..1000).map(|i| RunStore::new_run_id(ts(now + i * 7))));
    made.push(RunStore::new_run_id(ts(0))); // the clock stepped back
    for id in &made {
        let (time, suffix) = id.split_once('-').unwrap();
        assert!(time.len() == 16 && time.starts_with("2026112") && time.ends_with('Z'), "{id}");
        assert!(suffix.len() == 4 && suffix.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
    }
    let mut sorted = made.clone();
    sorted.sort();
    assert_eq!(sorted, made, "ids sort in the order they were made");
    assert_eq!(made.iter().collect::<HashSet<_>>().len(), made.len(), "ids are unique");

    // Every id is a valid run id.
    let dir = TempDir::new("ids");
    let store = RunStore::open(dir.path()).unwrap();
    store.start_run(&new_run(&made[0], "p", now)).unwrap();
}

#[test]
fn timestamps_in_utc() {
    let cases = [
        (0, "1970-01-01T00:00:00.000Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (1_795_633_620_123, "2026-11-25T19:07:00.123Z"),
        (1_709_251_199_999, "2024-02-29T23:59:59.999Z"),
        (-2_203_891_200_000, "1900-03-01T00:00:00.000Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),
    ];
    for (ms, text) in cases {
        assert_eq!(ts(ms).rfc3339(), text);
        assert_eq!(ts(ms).to_string(), text);
    }
    assert_eq!(ts(1_795_633_620_123).compact(), "20261125T190700Z");
    assert_eq!(
        serde_json::to_string(&ts(1_795_633_620_123)).unwrap(),
        r#"{"unix_ms":1795633620123,"utc":"2026-11-25T19:07:00.123Z"}"#
    );
    let epoch_plus = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1500);
    assert_eq!(Timestamp::from(epoch_plus), ts(1500));
    assert_eq!(ts(2000).seconds_until(ts(500)), 0.0);

    for good in ["2026-11-25", "2024-02-29", "2000-02-29", "0001-01-01"] {
        assert!(time::is_logical_date(good), "{good}");
    }
    for bad in ["2023-02-29", "1900-02-29", "2026-04-31", "2026-00-10", "2026-11-00", "２０２６-11-25", "2026-11-2x"]
    {
        assert!(!time::is_logical_date(bad), "{bad}");
    }
}

#[test]
fn statuses_parse_and_print() {
    for status in RunStatus::ALL {
        assert_eq!(status.as_str().parse::<RunStatus>(), Ok(status));
        assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
    }
    for status in StageStatus::ALL {
        assert_eq!(status.to_string().parse::<StageStatus>(), Ok(status));
        assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
    }
    assert_eq!(StageStatus::UpstreamFailed.as_str(), "upstream_failed");
    assert_eq!(
        "done".parse::<RunStatus>().unwrap_err().to_string(),
        r#"unknown run status "done" (expected one of: running, success, partial, failed)"#
    );
}

/// A fixed run for the rendering tests: a partial run with one success, one failure, one stage
/// that never ran.
fn sample_detail() -> RunDetail {
    let dir = TempDir::new("render");
    let store = RunStore::open(dir.path()).unwrap();
    let id = "20261125T190700Z-3f9a";
    store.start_run(&new_run(id, "ecommerce", 1_795_633_620_000)).unwrap();
    let stages = [
        StageRecord {
            plugin_sha256: Some("0123456789abcdef".repeat(4)),
            ..ran("ingest", StageStatus::Success, 1_795_633_620_000, 1_795_633_620_520, 1000)
        },
        StageRecord {
            attempts: 3,
            rows_in: 1000,
            error: Some("plugin trapped: out of fuel".into()),
            error_kind: Some("trap".into()),
            plugin_sha256: Some("ab".repeat(32)),
            plugin_path: Some("/opt/etl/plugins/enrich.wasm".into()),
            plugin_name: Some("enrich".into()),
            plugin_version: Some("0.3.1".into()),
            metrics: vec![("checked".into(), 640), ("bad".into(), 2)],
            ..ran("enrich", StageStatus::Failed, 1_795_633_620_600, 1_795_633_745_600, 0)
        },
        StageRecord {
            status: StageStatus::UpstreamFailed,
            error: Some("not run: upstream stage \"enrich\" failed".into()),
            error_kind: Some("upstream_failed".into()),
            ..StageRecord::pending("report")
        },
    ];
    for stage in &stages {
        store.upsert_stage(id, stage).unwrap();
    }
    store.finish_run(id, RunStatus::Partial, ts(1_795_633_752_345)).unwrap();
    store.get_run(id).unwrap().unwrap()
}

#[test]
fn renders_runs_table() {
    let detail = sample_detail();
    let running = RunSummary {
        id: "20261125T200000Z-0001".into(),
        status: RunStatus::Running,
        ended_at: None,
        duration_seconds: None,
        env: "production".into(),
        stage_counts: StageCounts { total: 1, running: 1, ..StageCounts::default() },
        ..detail.run.clone()
    };
    let expected = "\
RUN                    PIPELINE   ENV          DATE        STATUS     STARTED (UTC)        DURATION  STAGES
20261125T200000Z-0001  ecommerce  production   2026-11-25  ▸ running  2026-11-25 19:07:00         -  ▸1
20261125T190700Z-3f9a  ecommerce  development  2026-11-25  ! partial  2026-11-25 19:07:00     2m12s  ✓1 ✗1 ⊘1
";
    assert_eq!(render_runs_table(&[running, detail.run]), expected);
    assert_eq!(render_runs_table(&[]), "no runs recorded\n");
}

#[test]
fn renders_run_detail() {
    let expected = "\
run           20261125T190700Z-3f9a
pipeline      ecommerce
env           development
logical date  2026-11-25
status        ! partial
started       2026-11-25T19:07:00.000Z
ended         2026-11-25T19:09:12.345Z (2m12s)
config        sha256:c0ffee

   STAGE   STATUS           ATTEMPTS  ROWS IN  ROWS OUT  REJECTED  DURATION  PLUGIN
✓  ingest  success                 1        0      1000         0     0.52s  0123456789ab
   plugin: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
✗  enrich  failed                  3     1000         0         0     2m05s  enrich 0.3.1
   error (trap): plugin trapped: out of fuel
   plugin: /opt/etl/plugins/enrich.wasm sha256:abababababababababababababababababababababababababababababababab
   metrics: checked=640 bad=2
⊘  report  upstream_failed         0        0         0         0         -  -
   error (upstream_failed): not run: upstream stage \"enrich\" failed
";
    assert_eq!(render_run_detail(&sample_detail()), expected);
}

#[test]
fn renders_stats() {
    let dir = TempDir::new("render-stats");
    let store = RunStore::open(dir.path()).unwrap();
    for (i, (status, secs)) in [(RunStatus::Success, 1), (RunStatus::Failed, 3)].into_iter().enumerate() {
        let id = format!("r{i}");
        let start = i as i64 * 10_000;
        store.start_run(&new_run(&id, "ecommerce", start)).unwrap();
        store
            .upsert_stage(&id, &ran("ingest", StageStatus::Success, start, start + 250, 100 * (i as u64 + 1)))
            .unwrap();
        store.finish_run(&id, status, ts(start + secs * 1000)).unwrap();
    }
    let expected = "\
all 2 finished runs: 1 success, 0 partial, 1 failed (success rate 50.0%)
duration: avg 2.00s, p95 3.00s

PIPELINE   STAGE   RUNS  FAILURES  AVG DURATION  AVG ROWS OUT
ecommerce  ingest     2         0         0.25s         150.0
";
    assert_eq!(render_stats(&store.stats(20).unwrap()), expected);
    assert!(render_stats(&store.stats(2).unwrap()).starts_with("last 2 finished runs"));
    assert_eq!(render_stats(&store.stats(0).unwrap()), "no finished runs recorded\n");
}

/// The checks of a run in which the conservation held and the sums did not agree.
fn sample_checks() -> Vec<CheckRecord> {
    vec![
        CheckRecord {
            name: "conservation(ingest_orders)".into(),
            passed: true,
            detail: "raw rows 10 = 7 on transform_orders.out + 3 quarantined".into(),
            figures: Figures(vec![
                ("raw_rows".into(), json!(10)),
                ("output_rows".into(), json!(7)),
                ("quarantined".into(), json!(3)),
            ]),
        },
        CheckRecord {
            name: "equal_sums(b:x, a:x)".into(),
            passed: false,
            detail: "b:x = 12.50 vs a:x = -0.05".into(),
            // Not in name order: the order is kept.
            figures: Figures(vec![("b:x".into(), json!("12.50")), ("a:x".into(), json!("-0.05"))]),
        },
    ]
}

#[test]
fn checks_round_trip_in_order_and_are_replaced() {
    let dir = TempDir::new("checks");
    let store = RunStore::open(dir.path()).unwrap();
    store.start_run(&new_run("c1", "p", 0)).unwrap();
    store.start_run(&new_run("c2", "p", 1)).unwrap();
    assert!(store.get_run("c1").unwrap().unwrap().checks.is_empty(), "no checks before they are recorded");

    let checks = sample_checks();
    store.record_checks("c1", &checks).unwrap();
    store.record_checks("c2", &checks[..1]).unwrap();
    store.finish_run("c1", RunStatus::Failed, ts(5)).unwrap();
    assert_eq!(store.get_run("c1").unwrap().unwrap().checks, checks);
    assert_eq!(store.latest_run("p").unwrap().unwrap().checks, checks[..1], "each run has its own");
    let reader = RunStore::open_read_only(dir.path()).unwrap();
    assert_eq!(reader.get_run("c1").unwrap().unwrap().checks, checks);

    // Recording again replaces; recording none clears.
    store.record_checks("c1", &checks[1..]).unwrap();
    assert_eq!(store.get_run("c1").unwrap().unwrap().checks, checks[1..]);
    store.record_checks("c1", &[]).unwrap();
    assert!(store.get_run("c1").unwrap().unwrap().checks.is_empty());

    // Stored as JSON pairs, so the figures' order survives.
    store.record_checks("c1", &checks).unwrap();
    let stored: String = store
        .conn_for_tests()
        .query_row("SELECT figures FROM run_checks WHERE run_id = 'c1' AND seq = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, r#"[["b:x","12.50"],["a:x","-0.05"]]"#);

    let err = store.record_checks("nope", &checks).unwrap_err();
    assert!(matches!(&err, StateError::RunNotFound { run_id, .. } if run_id == "nope"), "{err}");
}

#[test]
fn checks_are_in_the_summary_json() {
    let dir = TempDir::new("checks-summary");
    let store = RunStore::open(dir.path()).unwrap();
    store.start_run(&new_run("s1", "p", 0)).unwrap();
    store.record_checks("s1", &sample_checks()).unwrap();
    store.finish_run("s1", RunStatus::Failed, ts(5)).unwrap();
    let path = store.write_summary(dir.path(), "s1").unwrap();
    let json: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    assert_eq!(
        json["checks"],
        json!([
            {
                "name": "conservation(ingest_orders)",
                "passed": true,
                "detail": "raw rows 10 = 7 on transform_orders.out + 3 quarantined",
                "figures": {"raw_rows": 10, "output_rows": 7, "quarantined": 3}
            },
            {
                "name": "equal_sums(b:x, a:x)",
                "passed": false,
                "detail": "b:x = 12.50 vs a:x = -0.05",
                "figures": {"b:x": "12.50", "a:x": "-0.05"}
            }
        ])
    );
    // The object keeps the figures' order.
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.find("\"b:x\": \"12.50\"").unwrap() < text.find("\"a:x\": \"-0.05\"").unwrap(), "{text}");
}

/// A database as a host of schema version 1 (before checks were recorded) left it.
fn version_1_store(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    let conn = rusqlite::Connection::open(dir.join(DB_FILE)).unwrap();
    conn.pragma_update(None, "journal_mode", "wal").unwrap();
    conn.execute_batch(sql::MIGRATIONS[0]).unwrap();
    conn.execute_batch(
        "INSERT INTO runs (id, pipeline, env, logical_date, status, started_at_ms, ended_at_ms, config_digest)
         VALUES ('old', 'ecommerce', 'development', '2026-11-25', 'success', 1000, 3000, 'sha256:0');
         INSERT INTO stage_runs (run_id, stage, status, attempts, started_at_ms, ended_at_ms,
                                 rows_in, rows_out, rows_rejected, bytes_in, bytes_out)
         VALUES ('old', 'ingest', 'success', 1, 1000, 2000, 5, 5, 0, 0, 0);
         INSERT INTO stage_metrics (run_id, stage, seq, name, value) VALUES ('old', 'ingest', 0, 'files', 1);",
    )
    .unwrap();
    conn.pragma_update(None, "user_version", 1).unwrap();
}

#[test]
fn a_version_1_store_stays_readable_and_migrates_keeping_its_runs() {
    let dir = TempDir::new("v1");
    version_1_store(dir.path());

    // `host runs list/show/stats` read it as it is, without migrating: no checks.
    let reader = RunStore::open_read_only(dir.path()).unwrap();
    let old = reader.get_run("old").unwrap().unwrap();
    assert_eq!((old.run.status, old.stages.len()), (RunStatus::Success, 1));
    assert_eq!(old.run.trigger, Trigger::Manual, "runs before triggers were recorded were all manual");
    assert_eq!(old.stages[0].record.error_kind, None);
    assert_eq!(old.stages[0].record.metrics, [("files".to_owned(), 1)]);
    assert!(old.checks.is_empty());
    assert_eq!(ids(&reader.list_runs(10).unwrap()), ["old"]);
    assert_eq!(reader.stats(10).unwrap().runs, 1);
    assert!(render_run_detail(&old).contains("ingest"));
    let version: i64 = reader.conn_for_tests().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, 1, "a reader migrates nothing");

    // A writer migrates it (while the reader is open), keeping every run.
    let writer = RunStore::open(dir.path()).unwrap();
    let version: i64 = writer.conn_for_tests().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, sql::SCHEMA_VERSION);
    assert_eq!(writer.get_run("old").unwrap().unwrap(), old);
    writer.record_checks("old", &sample_checks()).unwrap();
    assert_eq!(writer.get_run("old").unwrap().unwrap().checks, sample_checks());
    // The reader opened at version 1 still reads (without checks); a new one reads them.
    assert!(reader.get_run("old").unwrap().unwrap().checks.is_empty());
    assert_eq!(RunStore::open_read_only(dir.path()).unwrap().get_run("old").unwrap().unwrap().checks, sample_checks());
}

#[test]
fn a_store_of_every_older_version_stays_readable() {
    for version in 1..sql::SCHEMA_VERSION {
        let dir = TempDir::new(&format!("v{version}"));
        version_1_store(dir.path());
        let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
        for step in &sql::MIGRATIONS[1..version as usize] {
            conn.execute_batch(step).unwrap();
        }
        conn.pragma_update(None, "user_version", version).unwrap();
        let reader = RunStore::open_read_only(dir.path()).unwrap();
        let old = reader.get_run("old").unwrap_or_else(|e| panic!("version {version}: {e}")).unwrap();
        assert_eq!((old.stages.len(), old.stages[0].record.rows_out), (1, 5), "version {version}");
        assert_eq!(old.stages[0].record.plugin_name, None, "version {version}");
        assert_eq!(ids(&reader.list_runs(10).unwrap()), ["old"], "version {version}");
        reader.stats(10).unwrap_or_else(|e| panic!("version {version}: {e}"));
    }
}

#[test]
fn renders_run_detail_with_checks() {
    let detail = RunDetail { checks: sample_checks(), ..sample_detail() };
    let text = render_run_detail(&detail);
    let expected_tail = "\
⊘  report  upstream_failed         0        0         0         0         -  -
   error (upstream_failed): not run: upstream stage \"enrich\" failed

   CHECK
✓  conservation(ingest_orders)
   raw rows 10 = 7 on transform_orders.out + 3 quarantined
✗  equal_sums(b:x, a:x)
   b:x = 12.50 vs a:x = -0.05
";
    assert!(text.ends_with(expected_tail), "{text}");
    assert_eq!(text, render_run_detail(&sample_detail()) + &expected_tail[expected_tail.find("\n\n").unwrap() + 1..]);
}

#[test]
fn groups_thousands() {
    assert_eq!(thousands(0), "0");
    assert_eq!(thousands(999), "999");
    assert_eq!(thousands(1000), "1,000");
    assert_eq!(thousands(1234567), "1,234,567");
}

#[test]
fn runs_no_live_host_holds_are_reaped_as_failed() {
    let dir = TempDir::new("reap");
    let store = RunStore::open(dir.path()).unwrap();
    for (id, at) in [("dead", 1_000_000), ("live", 2_000_000), ("done", 3_000_000)] {
        store.start_run(&new_run(id, "ecommerce", at)).unwrap();
    }
    store.upsert_stage("dead", &ran("ingest", StageStatus::Success, 1_000_100, 1_000_600, 10)).unwrap();
    let mut running = StageRecord::pending("validate");
    running.status = StageStatus::Running;
    running.attempts = 1;
    running.started_at = Some(ts(1_000_700));
    store.upsert_stage("dead", &running).unwrap();
    store.upsert_stage("dead", &StageRecord::pending("load")).unwrap();
    store.finish_run("done", RunStatus::Success, ts(3_000_500)).unwrap();

    // "dead" had a lease once (its process is gone); "live" is held by this process.
    drop(RunLease::take(dir.path(), "dead").unwrap());
    let lease = RunLease::take(dir.path(), "live").unwrap();
    assert!(RunLease::take(dir.path(), "live").is_err(), "one holder at a time");
    assert!(is_live(dir.path(), "live") && !is_live(dir.path(), "dead") && !is_live(dir.path(), "never"));

    assert_eq!(store.reap_abandoned(dir.path(), ts(5_000_000)).unwrap(), ["dead"]);
    let dead = store.get_run("dead").unwrap().unwrap();
    assert_eq!((dead.run.status, dead.run.ended_at), (RunStatus::Failed, Some(ts(5_000_000))));
    let statuses: Vec<_> = dead.stages.iter().map(|s| (s.record.stage.as_str(), s.record.status)).collect();
    assert_eq!(
        statuses,
        [("ingest", StageStatus::Success), ("validate", StageStatus::Failed), ("load", StageStatus::Failed)]
    );
    assert_eq!(dead.stages[1].record.error.as_deref(), Some(ABANDONED));
    assert_eq!(store.get_run("live").unwrap().unwrap().run.status, RunStatus::Running);
    assert_eq!(store.get_run("done").unwrap().unwrap().run.status, RunStatus::Success);

    drop(lease);
    assert_eq!(store.reap_abandoned(dir.path(), ts(6_000_000)).unwrap(), ["live"]);
    assert!(store.reap_abandoned(dir.path(), ts(7_000_000)).unwrap().is_empty());
}

#[test]
fn stats_over_the_last_days() {
    let dir = TempDir::new("stats-days");
    let store = RunStore::open(dir.path()).unwrap();
    let day = 86_400_000;
    let now = 10 * day;
    // 9 days ago: failed; 2 days ago: success; 1 day ago: partial; an hour ago: still running.
    for (id, status, start) in [
        ("old", RunStatus::Failed, now - 9 * day),
        ("two", RunStatus::Success, now - 2 * day),
        ("one", RunStatus::Partial, now - day),
    ] {
        store.start_run(&new_run(id, "ecommerce", start)).unwrap();
        store.upsert_stage(id, &ran("ingest", StageStatus::Success, start, start + 1000, 10)).unwrap();
        store.finish_run(id, status, ts(start + 4000)).unwrap();
    }
    store.start_run(&new_run("now", "ecommerce", now - 3_600_000)).unwrap();

    let week = store.stats_for_days(7, ts(now)).unwrap();
    assert_eq!((week.days, week.window, week.runs, week.success, week.partial, week.failed), (Some(7), 2, 2, 1, 1, 0));
    approx(week.success_rate, 0.5);
    approx(week.avg_duration_seconds, 4.0);
    assert_eq!(week.stages[0].runs, 2);
    let all = store.stats_for_days(30, ts(now)).unwrap();
    assert_eq!((all.runs, all.failed), (3, 1));
    let none = store.stats_for_days(0, ts(now)).unwrap();
    assert_eq!((none.runs, none.success_rate), (0, None));
    assert!(render_stats(&week).starts_with("last 7 days, 2 finished runs: 1 success, 1 partial, 0 failed"));
    assert_eq!(render_stats(&none), "no finished runs in the last 0 days\n");
    assert!(!serde_json::to_string(&store.stats(5).unwrap()).unwrap().contains("days"));
}

#[test]
fn alerts_and_pruning_are_recorded_and_read_back() {
    let dir = TempDir::new("operations");
    let store = RunStore::open(dir.path()).unwrap();
    store.start_run(&new_run("r1", "ecommerce", 1_000)).unwrap();
    store.start_run(&new_run("r2", "ecommerce", 2_000)).unwrap();
    store.finish_run("r1", RunStatus::Failed, ts(1_500)).unwrap();
    let alert = |event, delivered, detail: &str, at| AlertRecord {
        alert: "http://127.0.0.1:9/hook".into(),
        event,
        delivered,
        detail: detail.into(),
        at: ts(at),
    };
    let recorded = [
        alert(crate::alerts::AlertEvent::Retry, true, "HTTP 200", 1_200),
        alert(crate::alerts::AlertEvent::Failure, false, "HTTP 500", 1_600),
    ];
    for record in &recorded {
        store.record_alert("r1", record).unwrap();
    }
    assert!(matches!(store.record_alert("nope", &recorded[0]), Err(StateError::RunNotFound { .. })));
    store.mark_pruned("r1", ts(5_000), 4096).unwrap();
    store.mark_pruned("r1", ts(6_000), 1).unwrap();

    let detail = store.get_run("r1").unwrap().unwrap();
    assert_eq!(detail.alerts, recorded);
    assert_eq!(detail.pruned, Some(Pruned { at: ts(5_000), bytes: 4096 }), "the first prune is kept");
    assert_eq!(store.get_run("r2").unwrap().unwrap().pruned, None);
    let ages: Vec<(String, RunStatus, bool)> =
        store.runs_for_retention().unwrap().into_iter().map(|r| (r.id, r.status, r.pruned)).collect();
    assert_eq!(ages, [("r2".into(), RunStatus::Running, false), ("r1".into(), RunStatus::Failed, true)]);

    let text = render_run_detail(&detail);
    assert!(
        text.contains("pruned        artifacts deleted by retention at 1970-01-01T00:00:05.000Z (4,096 bytes freed)\n"),
        "{text}"
    );
    assert!(
        text.ends_with(
            "   ALERT\n✓  retry http://127.0.0.1:9/hook\n   1970-01-01 00:00:01: HTTP 200\n\
         ✗  failure http://127.0.0.1:9/hook\n   1970-01-01 00:00:01: HTTP 500\n"
        ),
        "{text}"
    );
    let json = serde_json::to_value(&detail).unwrap();
    assert_eq!(json["alerts"][1]["event"], "failure");
    assert_eq!(json["pruned"]["bytes"], 4096);

    // A store of an older schema reads with neither.
    let old = TempDir::new("operations-v1");
    version_1_store(old.path());
    let reader = RunStore::open_read_only(old.path()).unwrap();
    let detail = reader.get_run("old").unwrap().unwrap();
    assert!(detail.alerts.is_empty() && detail.pruned.is_none());
    assert_eq!(reader.runs_for_retention().unwrap().len(), 1);
}
