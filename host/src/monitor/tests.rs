//! The monitor over a store written here: the documents' figures, the pages' escaping, the
//! metrics, the routes.

use std::fs;
use std::path::{Path, PathBuf};

use super::*;
use crate::state::{NewRun, RunStatus, RunStore, StageRecord, StageStatus, Timestamp, Trigger};

const HOSTILE: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>";

fn temp_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("host-monitor-{label}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(ms)
}

fn stage(name: &str, status: StageStatus, start: i64, end: i64, rows: (u64, u64, u64)) -> StageRecord {
    StageRecord {
        status,
        attempts: 1,
        started_at: Some(ts(start)),
        ended_at: Some(ts(end)),
        rows_in: rows.0,
        rows_out: rows.1,
        rows_rejected: rows.2,
        ..StageRecord::pending(name)
    }
}

/// Two runs of `items`: `ok` (success) and `bad` (failed in `work` with a hostile message
/// after a retry, `load` upstream_failed); `bad` has a run.log.
fn store(dir: &Path) {
    let store = RunStore::open(dir).unwrap();
    let now = Timestamp::now().unix_millis();
    for (id, start, status) in [("ok", now - 60_000, RunStatus::Success), ("bad", now - 30_000, RunStatus::Failed)] {
        store
            .start_run(&NewRun {
                id: id.into(),
                pipeline: "items".into(),
                env: "development".into(),
                logical_date: "2026-11-30".into(),
                started_at: ts(start),
                resumed_from: None,
                config_digest: "d".into(),
                trigger: Trigger::Manual,
            })
            .unwrap();
        store.upsert_stage(id, &stage("ingest", StageStatus::Success, start + 10, start + 1010, (10, 9, 1))).unwrap();
        if status == RunStatus::Success {
            let mut work = stage("work", StageStatus::Success, start + 20, start + 2020, (9, 9, 0));
            work.plugin_sha256 = Some("ab".repeat(32));
            store.upsert_stage(id, &work).unwrap();
            let mut load = stage("load", StageStatus::Success, start + 2020, start + 2500, (9, 0, 0));
            load.metrics = vec![("rows_loaded.items".into(), 9)];
            store.upsert_stage(id, &load).unwrap();
        } else {
            let mut work = stage("work", StageStatus::Failed, start + 20, start + 520, (9, 0, 0));
            work.attempts = 2;
            work.plugin_sha256 = Some("cd".repeat(32));
            work.error = Some(format!("stage \"work\": {HOSTILE}"));
            work.error_kind = Some("failed".into());
            store.upsert_stage(id, &work).unwrap();
            let load = StageRecord {
                status: StageStatus::UpstreamFailed,
                error_kind: Some("upstream_failed".into()),
                ..StageRecord::pending("load")
            };
            store.upsert_stage(id, &load).unwrap();
            let run_dir = dir.join("runs").join(id);
            fs::create_dir_all(&run_dir).unwrap();
            fs::write(run_dir.join("run.log"), format!("INFO started\nWARN {HOSTILE}\n")).unwrap();
        }
        store.finish_run(id, status, ts(start + 3000)).unwrap();
    }
}

#[test]
fn the_runs_document_has_the_stores_figures() {
    let dir = temp_dir("runs");
    store(&dir);
    let monitor = Monitor::for_state_dir(&dir);
    let page = monitor.runs_page(10, 7, Timestamp::now()).unwrap();
    let ids: Vec<&str> = page.runs.iter().map(|r| r.summary.id.as_str()).collect();
    assert_eq!(ids, ["bad", "ok"]);
    let ok = &page.runs[1];
    assert_eq!((ok.rows_in, ok.rows_out, ok.quarantined), (10, 9, 1), "ingest read 10, load got 9, 1 rejected");
    assert_eq!((page.runs[0].rows_in, page.runs[0].rows_out), (10, 0));
    assert_eq!((page.last_runs.runs, page.last_runs.success_rate), (2, Some(0.5)));
    assert_eq!(page.last_runs.avg_duration_seconds, Some(3.0));
    assert_eq!(page.last_days.runs, 2);
    assert_eq!(monitor.runs_page(10, 0, Timestamp::now()).unwrap().last_days.runs, 0);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_store_is_an_empty_dashboard() {
    let dir = temp_dir("empty");
    let monitor = Monitor::for_state_dir(&dir.join("nothing"));
    let page = monitor.runs_page(10, 7, Timestamp::now()).unwrap();
    assert!(page.runs.is_empty() && page.last_runs.success_rate.is_none());
    assert!(monitor.run_page("x").unwrap().is_none());
    assert!(monitor.metrics_text().unwrap().contains("etl_runs_window 0"));
    assert_eq!(monitor.reply("/").status, 200);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn the_run_document_puts_stages_on_the_runs_time_axis() {
    let dir = temp_dir("run");
    store(&dir);
    let monitor = Monitor::for_state_dir(&dir);
    let page = monitor.run_page("bad").unwrap().expect("run bad");
    type Bar<'a> = (&'a str, &'a str, Option<i64>, Option<i64>, u32);
    let stages: Vec<Bar<'_>> = page
        .stages
        .iter()
        .map(|s| (s.stage.record.stage.as_str(), s.kind, s.start_offset_ms, s.end_offset_ms, s.retries))
        .collect();
    assert_eq!(
        stages,
        [
            ("ingest", "source", Some(10), Some(1010), 0),
            ("work", "plugin", Some(20), Some(520), 1),
            ("load", "source", None, None, 0), // never ran: nothing says it is a sink
        ]
    );
    assert_eq!(page.log_tail, ["INFO started".to_owned(), format!("WARN {HOSTILE}")]);
    assert!(page.quarantine.is_none(), "no --pipeline, no quarantine");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn pages_escape_what_plugins_wrote() {
    let dir = temp_dir("pages");
    store(&dir);
    let monitor = Monitor::for_state_dir(&dir);
    for url in ["/", "/runs/bad", "/runs/ok", "/pipeline", "/runs/%3Cscript%3E", "/<script>"] {
        let reply = monitor.reply(url);
        let body = String::from_utf8(reply.body).unwrap();
        assert!(!body.contains("<script>") && !body.contains("<img"), "{url}:\n{body}");
    }
    let bad = String::from_utf8(monitor.reply("/runs/bad").body).unwrap();
    assert!(bad.contains("&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"), "{bad}");
    assert!(bad.contains(r#"<rect class="bar status-failed" data-stage="work""#), "{bad}");
    assert!(!bad.contains("data-live"), "a finished run is not polled");
    assert_eq!(monitor.reply("/runs/nope").status, 404);
    assert_eq!(monitor.reply("/api/runs/nope").status, 404);
    assert_eq!(monitor.reply("/api/pipeline").status, 404);
    let js = monitor.reply("/assets/app.js");
    assert_eq!((js.status, js.content_type), (200, "text/javascript; charset=utf-8"));
    assert!(!String::from_utf8(js.body).unwrap().contains("innerHTML"), "text is set with textContent only");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn metrics_are_the_stores_figures() {
    let dir = temp_dir("metrics");
    store(&dir);
    let text = Monitor::for_state_dir(&dir).metrics_text().unwrap();
    for line in [
        "# TYPE etl_runs gauge",
        r#"etl_runs{pipeline="items",status="success"} 1"#,
        r#"etl_runs{pipeline="items",status="failed"} 1"#,
        r#"etl_run_duration_seconds_count{pipeline="items"} 2"#,
        r#"etl_run_duration_seconds_sum{pipeline="items"} 6.0"#,
        r#"etl_stage_rows_in{pipeline="items",stage="ingest"} 20"#,
        r#"etl_stage_rows_out{pipeline="items",stage="work"} 9"#,
        r#"etl_stage_retries{pipeline="items",stage="work"} 1"#,
        r#"etl_stage_plugin_seconds{pipeline="items",stage="work"} 2.5"#,
        r#"etl_stage_duration_seconds_count{pipeline="items",stage="load"} 1"#,
        "etl_runs_window 2",
    ] {
        assert!(text.lines().any(|l| l == line), "no line {line:?} in\n{text}");
    }
    assert!(text.contains(r#"etl_last_success_timestamp_seconds{pipeline="items"} "#), "{text}");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn the_graph_comes_from_the_pipeline_file() {
    let dir = temp_dir("graph");
    let file = dir.join("p.yaml");
    fs::write(
        &file,
        format!(
            r#"pipeline: g
paths: {{raw_data: {d}, warehouse: {d}/wh, quarantine: {d}/q, reports: {d}/r, state: {d}/state}}
stages:
  - name: read
    ingest: {{file: a.csv, columns: [{{name: id, type: text}}]}}
  - name: check
    plugin: validate.wasm
    inputs: {{in: read}}
  - name: store
    depends_on: [read]
    warehouse:
      - {{table: t, input: check.valid, mode: replace}}
"#,
            d = dir.display()
        ),
    )
    .unwrap();
    let monitor = Monitor::for_pipeline(&file, None).unwrap();
    let graph = &monitor.pipeline().unwrap().graph;
    let nodes: Vec<(&str, NodeKind, usize)> = graph.nodes.iter().map(|n| (n.name.as_str(), n.kind, n.level)).collect();
    assert_eq!(nodes, [("read", NodeKind::Source, 0), ("check", NodeKind::Plugin, 1), ("store", NodeKind::Sink, 2)]);
    let edges: Vec<(&str, &str, &str)> =
        graph.edges.iter().map(|e| (e.from.as_str(), e.to.as_str(), e.label.as_str())).collect();
    assert_eq!(edges, [("read", "check", "out -> in"), ("check", "store", "table t"), ("read", "store", "depends_on")]);
    let svg = String::from_utf8(monitor.reply("/pipeline").body).unwrap();
    assert_eq!(svg.matches("<g class=\"node").count(), 3);
    assert_eq!(monitor.reply("/api/pipeline").status, 200);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn pages_of_a_running_run_poll_the_api() {
    let dir = temp_dir("live");
    store(&dir);
    let store = RunStore::open(&dir).unwrap();
    let start = Timestamp::now().unix_millis() - 5_000;
    store
        .start_run(&NewRun {
            id: "live".into(),
            pipeline: "items".into(),
            env: "development".into(),
            logical_date: "2026-12-01".into(),
            started_at: ts(start),
            resumed_from: None,
            config_digest: "d".into(),
            trigger: Trigger::Schedule,
        })
        .unwrap();
    let running = StageRecord {
        status: StageStatus::Running,
        ended_at: None,
        ..stage("ingest", StageStatus::Running, start, start, (0, 0, 0))
    };
    store.upsert_stage("live", &running).unwrap();
    let monitor = Monitor::for_state_dir(&dir);
    let runs = String::from_utf8(monitor.reply("/?limit=5&days=3").body).unwrap();
    assert!(runs.contains(r#"<body data-live="/api/runs?limit=5&amp;days=3">"#), "{runs}");
    assert!(runs.contains("<td>schedule</td>"), "{runs}");
    let run = String::from_utf8(monitor.reply("/runs/live").body).unwrap();
    assert!(run.contains(r#"<body data-live="/api/runs/live">"#), "{run}");
    // The running stage's bar reaches now.
    assert!(run.contains(r#"<rect class="bar status-running" data-stage="ingest""#), "{run}");
    let page = monitor.run_page("live").unwrap().unwrap();
    assert_eq!((page.stages[0].start_offset_ms, page.stages[0].end_offset_ms), (Some(0), None));
    let _ = fs::remove_dir_all(&dir);
}
