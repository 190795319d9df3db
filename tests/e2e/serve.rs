//! `host serve`: the dashboard, its JSON API and `/metrics` through the real binary, over the run
//! store of a small pipeline run twice (once successfully, once failing with a hostile error
//! message), and the pages in a real headless browser (Debian's `chromium`).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use host::state::{RunStatus, RunStore, StageStatus};
use serde_json::Value;

use crate::common::{cache_dir, host, items_pipeline, outcome, root, scratch, show};

/// Markup a plugin's error message tries to slip into the pages.
const HOSTILE: &str = r#"boom <script>alert(1)</script> <img src=x onerror="alert(2)"> & 'done'"#;
const HOSTILE_ESCAPED: &str =
    "boom &lt;script&gt;alert(1)&lt;/script&gt; &lt;img src=x onerror=&quot;alert(2)&quot;&gt; &amp; &#39;done&#39;";

/// Three items, one of which (`c,abc`) doesn't parse and goes to the quarantine.
const ITEMS: &str = "id,n\na,1\nb,2\nc,abc\nd,4\n";

/// The pipeline in `dir` and its two runs: `(file, success run id, failed run id)`.
fn two_runs(dir: &Path) -> (PathBuf, String, String) {
    let stages = format!(
        r#"  - name: talker
    plugin: hostile.wasm
    inputs: {{in: ingest_items}}
    config: {{mode: say, message: {hostile}, repeat: 1}}
  - name: write_reports
    reports:
      - {{file: items.csv, input: talker, columns: [id, n], sort_by: [id]}}
"#,
        hostile = serde_json::to_string(HOSTILE).unwrap()
    );
    let file = items_pipeline(dir, "serve_items", ITEMS, "retries: 1, retry_backoff_ms: 1", &stages);
    let path = file.to_str().expect("utf-8");
    let ok = host(&["run", "--pipeline", path, "--json", "--no-progress", "--date", "2026-11-30"], "info");
    assert_eq!(ok.status.code(), Some(0), "{}", show(&ok));
    let failed = host(
        &["run", "--pipeline", path, "--json", "--no-progress", "--set", "stages.talker.config.mode=fail"],
        "info",
    );
    assert_eq!(failed.status.code(), Some(2), "{}", show(&failed));
    let id = |output| outcome(output)["run_id"].as_str().expect("a run id").to_owned();
    (file, id(&ok), id(&failed))
}

/// How long the browser test waits for one thing to happen before it fails.
const PATIENCE: Duration = Duration::from_secs(120);

/// `host serve` running on a free port; killed when dropped. Its access log (stderr) arrives
/// line by line on `log`.
struct Served {
    child: Child,
    addr: String,
    log: Receiver<String>,
}

impl Served {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_host"))
            .arg("serve")
            .args(args)
            .args(["--bind", "127.0.0.1:0"])
            .env("ETL_CACHE_DIR", cache_dir())
            .env("RUST_LOG", "warn,host::monitor::server=info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("host serve starts");
        let (send, log) = mpsc::channel();
        let stderr = BufReader::new(child.stderr.take().expect("stderr"));
        thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        // The server prints its address once it listens: no need to wait any longer.
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read the address");
        let addr = line.trim().strip_prefix("serving http://").and_then(|a| a.strip_suffix('/'));
        let Some(addr) = addr.map(str::to_owned) else {
            let _ = child.kill();
            panic!("host serve printed {line:?}");
        };
        Served { child, addr, log }
    }

    /// Waits for an access-log line containing `text`; returns how many lines containing
    /// `count` went by up to and including it.
    fn await_log(&self, text: &str, count: &str) -> usize {
        let deadline = Instant::now() + PATIENCE;
        let mut seen = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.log.recv_timeout(left).unwrap_or_else(|e| panic!("no log line with {text:?}: {e}"));
            seen += usize::from(line.contains(count));
            if line.contains(text) {
                return seen;
            }
        }
    }

    /// `GET path`: the status, the `Content-Type` and the body.
    fn get(&self, path: &str) -> (u16, String, String) {
        let mut stream = TcpStream::connect(&self.addr).expect("connect");
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", self.addr).expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("a UTF-8 response");
        let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status code");
        let content_type = head
            .lines()
            .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-type")))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default();
        (status, content_type, body.to_owned())
    }

    fn json(&self, path: &str) -> Value {
        let (status, content_type, body) = self.get(path);
        assert_eq!((status, content_type.as_str()), (200, "application/json"), "{path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}\n{body}"))
    }

    fn page(&self, path: &str) -> String {
        let (status, content_type, body) = self.get(path);
        assert_eq!((status, content_type.as_str()), (200, "text/html; charset=utf-8"), "{path}: {body}");
        body
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// No markup from the hostile message reaches `html`; its escaped form does where `expect_text`.
fn assert_escaped(what: &str, html: &str, expect_text: bool) {
    for raw in ["<script>alert", "<img", "</script> <"] {
        assert!(!html.contains(raw), "{what} contains the raw {raw:?}:\n{html}");
    }
    if expect_text {
        // As served, every special character is escaped; a browser's DOM serializes text with
        // `<`, `>` and `&` escaped only.
        let as_text = HOSTILE.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        assert!(html.contains(HOSTILE_ESCAPED) || html.contains(&as_text), "{what} lacks the escaped message:\n{html}");
    }
}

#[test]
fn the_api_pages_and_metrics_show_the_run_store_escaped() {
    let dir = scratch("serve-api");
    let (file, ok_id, failed_id) = two_runs(&dir);
    let served = Served::start(&["--pipeline", file.to_str().unwrap()]);
    let store = RunStore::open_read_only(&dir.join("state")).unwrap();

    // /api/runs: the runs of the store, newest first, with their figures.
    let runs = served.json("/api/runs?limit=10&days=30");
    assert_eq!(runs["pipeline"], "serve_items");
    let listed: Vec<&str> = runs["runs"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(listed, [failed_id.as_str(), ok_id.as_str()]);
    for run in runs["runs"].as_array().unwrap() {
        let detail = store.get_run(run["id"].as_str().unwrap()).unwrap().expect("the run is in the store");
        assert_eq!(run["status"], detail.run.status.as_str());
        assert_eq!(run["trigger"], "manual");
        assert_eq!(run["logical_date"], detail.run.logical_date.as_str());
        assert_eq!(run["duration_seconds"].as_f64(), detail.run.duration_seconds);
        let rejected: u64 = detail.stages.iter().map(|s| s.record.rows_rejected).sum();
        assert_eq!(run["quarantined"], rejected);
        assert_eq!(run["quarantined"], 1, "c,abc");
        let ingest = detail.stages.iter().find(|s| s.record.stage == "ingest_items").unwrap();
        assert_eq!((run["rows_in"].as_u64(), ingest.record.rows_in), (Some(4), 4));
    }
    assert_eq!(runs["runs"][1]["rows_out"], 3, "the report got a, b and d");
    assert_eq!(runs["runs"][0]["rows_out"], 0, "the failed run wrote no report");
    let stats = store.stats(10).unwrap();
    for window in ["last_runs", "last_days"] {
        let w = &runs[window];
        assert_eq!((w["runs"].as_u64(), w["success"].as_u64(), w["failed"].as_u64()), (Some(2), Some(1), Some(1)));
        assert_eq!(w["success_rate"].as_f64(), Some(0.5));
        // The two windows average the same runs, perhaps in another order: equal to rounding.
        let (avg, expected) = (w["avg_duration_seconds"].as_f64().unwrap(), stats.avg_duration_seconds.unwrap());
        assert!((avg - expected).abs() < 1e-9, "{window}: {avg} vs {expected}");
    }

    // /api/runs/<id>: the stages on one time axis, the error, the quarantine, the log.
    let failed = served.json(&format!("/api/runs/{failed_id}"));
    let detail = store.get_run(&failed_id).unwrap().unwrap();
    assert_eq!(failed["run"]["status"], "failed");
    let stages = failed["stages"].as_array().unwrap();
    assert_eq!(stages.len(), detail.stages.len());
    for (view, stage) in stages.iter().zip(&detail.stages) {
        let record = &stage.record;
        assert_eq!(view["stage"], record.stage.as_str());
        assert_eq!(
            (view["rows_in"].as_u64(), view["rows_out"].as_u64()),
            (Some(record.rows_in), Some(record.rows_out))
        );
        assert_eq!(view["retries"], record.attempts.saturating_sub(1));
        let offset = |t: Option<host::state::Timestamp>| {
            t.map(|t| t.unix_millis() - detail.run.started_at.unix_millis()).map_or(Value::Null, Value::from)
        };
        assert_eq!(view["start_offset_ms"], offset(record.started_at));
        assert_eq!(view["end_offset_ms"], offset(record.ended_at));
    }
    let talker = stages.iter().find(|s| s["stage"] == "talker").unwrap();
    assert_eq!(talker["status"], "failed");
    assert_eq!(talker["attempts"], 2, "retries: 1");
    assert_eq!(talker["retries"], 1);
    assert!(talker["error"].as_str().unwrap().ends_with(HOSTILE), "{talker}");
    let ok = served.json(&format!("/api/runs/{ok_id}"));
    let ok_talker = ok["stages"].as_array().unwrap().iter().find(|s| s["stage"] == "talker").unwrap();
    assert!(ok_talker["plugin_sha256"].as_str().is_some_and(|d| d.len() == 64), "{ok_talker}");
    // A failed plugin stage shows its plugin too, and every stage its busy time (duration less
    // input waits).
    assert_eq!(talker["plugin_sha256"], ok_talker["plugin_sha256"], "{talker}");
    // ... with the name and version it declares and the path the pipeline resolved.
    for view in [talker, ok_talker] {
        assert_eq!((view["plugin_name"].as_str(), view["plugin_version"].as_str()), (Some("hostile"), Some("0.1.0")));
        let path = view["plugin_path"].as_str().expect("a plugin path");
        assert!(Path::new(path).is_absolute() && path.ends_with("hostile.wasm"), "{view}");
    }
    let page = served.page(&format!("/runs/{ok_id}"));
    assert!(
        page.contains(&format!(
            "hostile 0.1.0 <span class=\"mono\" title=\"{}",
            ok_talker["plugin_path"].as_str().unwrap()
        )),
        "{page}"
    );
    for stage in stages {
        let (busy, duration) = (stage["busy_seconds"].as_f64(), stage["duration_seconds"].as_f64());
        if let (Some(busy), Some(duration)) = (busy, duration) {
            assert!(busy >= 0.0 && busy <= duration, "{stage}");
        }
    }
    let reports = stages.iter().find(|s| s["stage"] == "write_reports").unwrap();
    assert_eq!(
        (reports["status"].as_str(), reports["error_kind"].as_str()),
        (Some("upstream_failed"), Some("upstream_failed"))
    );
    assert_eq!(failed["quarantine"]["rows"], 1);
    assert_eq!(
        failed["quarantine"]["counts"],
        serde_json::json!([{"stage": "ingest_items", "reason": "parse_error", "rows": 1}])
    );
    let sample = &failed["quarantine"]["sample"][0];
    assert_eq!((sample["line_number"].as_i64(), sample["raw_line"].as_str()), (Some(4), Some("c,abc")));
    assert!(!failed["log_tail"].as_array().unwrap().is_empty());
    assert!(failed["checks"].as_array().is_some());
    let (status, _, _) = served.get("/api/runs/no-such-run");
    assert_eq!(status, 404);

    // /api/pipeline: the graph from the file.
    let graph = served.json("/api/pipeline");
    let nodes: Vec<(&str, &str, u64)> = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["name"].as_str().unwrap(), n["kind"].as_str().unwrap(), n["level"].as_u64().unwrap()))
        .collect();
    assert_eq!(nodes, [("ingest_items", "source", 0), ("talker", "plugin", 1), ("write_reports", "sink", 2)]);
    assert_eq!(graph["edges"].as_array().unwrap().len(), 2);

    // The pages: the hostile message is shown, escaped, on the failed run's page; no page has
    // its markup.
    let failed_page = served.page(&format!("/runs/{failed_id}"));
    assert_escaped("the failed run's page", &failed_page, true);
    assert!(failed_page.contains(r#"<rect class="bar status-failed" data-stage="talker""#), "{failed_page}");
    let ok_page = served.page(&format!("/runs/{ok_id}"));
    // The plugin logged the message: the log's tail shows it, escaped.
    assert_escaped("the successful run's page", &ok_page, false);
    assert!(ok_page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{ok_page}");
    for (path, page) in [("/", served.page("/")), ("/pipeline", served.page("/pipeline"))] {
        assert_escaped(path, &page, false);
    }
    let (_, content_type, css) = served.get("/assets/app.css");
    assert_eq!(content_type, "text/css; charset=utf-8");
    assert!(css.contains(".status-failed"));

    // /metrics: strict Prometheus text whose figures are the store's.
    let (status, content_type, text) = served.get("/metrics");
    assert_eq!((status, content_type.as_str()), (200, "text/plain; version=0.0.4; charset=utf-8"));
    let metrics = parse_prometheus(&text);
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        let key = series(name, labels);
        *metrics.get(&key).unwrap_or_else(|| panic!("no {key} in\n{text}"))
    };
    let p = ("pipeline", "serve_items");
    assert_eq!(value("etl_runs", &[p, ("status", "success")]), 1.0);
    assert_eq!(value("etl_runs", &[p, ("status", "failed")]), 1.0);
    assert_eq!(value("etl_runs_window", &[]), 2.0);
    assert_eq!(value("etl_run_duration_seconds_count", &[p]), 2.0);
    let durations: f64 =
        [&ok_id, &failed_id].iter().map(|id| store.get_run(id).unwrap().unwrap().run.duration_seconds.unwrap()).sum();
    assert!((value("etl_run_duration_seconds_sum", &[p]) - durations).abs() < 1e-9);
    assert_eq!(value("etl_run_duration_seconds_bucket", &[p, ("le", "+Inf")]), 2.0);
    assert_eq!(value("etl_stage_rows_in", &[p, ("stage", "ingest_items")]), 8.0, "4 rows read by each run");
    assert_eq!(value("etl_stage_rows_out", &[p, ("stage", "ingest_items")]), 6.0);
    assert_eq!(value("etl_stage_rows_rejected", &[p, ("stage", "ingest_items")]), 2.0);
    assert_eq!(value("etl_stage_retries", &[p, ("stage", "talker")]), 1.0, "the failed run's retry");
    assert_eq!(value("etl_stage_duration_seconds_count", &[p, ("stage", "talker")]), 2.0);
    assert!(value("etl_stage_plugin_seconds", &[p, ("stage", "talker")]) > 0.0);
    assert_eq!(value("etl_quarantined_rows", &[p, ("stage", "ingest_items"), ("reason", "parse_error")]), 2.0);
    let ok_end = store.get_run(&ok_id).unwrap().unwrap().run.ended_at.unwrap().unix_millis();
    assert_eq!(value("etl_last_success_timestamp_seconds", &[p]), ok_end as f64 / 1000.0);
    let talker_ok = store.get_run(&ok_id).unwrap().unwrap();
    assert_eq!(
        talker_ok.stages.iter().find(|s| s.record.stage == "talker").unwrap().record.status,
        StageStatus::Success
    );
    assert_eq!(detail.run.status, RunStatus::Failed);
}

#[test]
fn serve_refuses_an_address_it_cannot_bind_naming_it() {
    let dir = scratch("serve-bind");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = listener.local_addr().unwrap().to_string();
    let output = host(&["serve", "--state-dir", dir.to_str().unwrap(), "--bind", &taken], "warn");
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("cannot listen on {taken}")), "{stderr}");
}

/// The sample lines of a Prometheus text exposition (format 0.0.4) by series
/// (`name{k="v",...}` with the labels sorted), checked strictly: every line is a `# HELP`, a
/// `# TYPE` or a sample of a family typed before it, names and labels follow the grammar, label
/// values are properly escaped, values are floats, no series appears twice, and a histogram's
/// buckets are cumulative up to `+Inf`, which equals its `_count`.
fn parse_prometheus(text: &str) -> BTreeMap<String, f64> {
    fn is_name(s: &str) -> bool {
        !s.is_empty()
            && !s.starts_with(|c: char| c.is_ascii_digit())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    type Sample = (String, Vec<(String, String)>, f64);
    let mut parsed: Vec<Sample> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _) = rest.split_once(' ').unwrap_or((rest, ""));
            assert!(is_name(name), "bad HELP line {line:?}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("bad TYPE line {line:?}"));
            assert!(is_name(name), "bad TYPE line {line:?}");
            assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind), "{line:?}");
            assert!(types.insert(name.to_owned(), kind.to_owned()).is_none(), "TYPE twice: {line:?}");
            continue;
        }
        assert!(!line.is_empty() && !line.starts_with('#'), "unexpected line {line:?}");
        let name_end = line.find(['{', ' ']).unwrap_or_else(|| panic!("no value: {line:?}"));
        let name = &line[..name_end];
        assert!(is_name(name), "bad metric name in {line:?}");
        let histogram = |f: &&str| types.get(*f).is_some_and(|t| t == "histogram");
        let family = ["_bucket", "_sum", "_count"].iter().find_map(|x| name.strip_suffix(x).filter(histogram));
        assert!(types.contains_key(family.unwrap_or(name)), "{name} has no TYPE before it");
        let mut rest = &line[name_end..];
        let mut labels = Vec::new();
        if rest.starts_with('{') {
            let mut at = 1;
            loop {
                if rest[at..].starts_with('}') {
                    rest = &rest[at + 1..];
                    break;
                }
                let eq = at + rest[at..].find("=\"").unwrap_or_else(|| panic!("label=\"value\" in {line:?}"));
                let key = &rest[at..eq];
                assert!(is_name(key) && !key.contains(':'), "bad label name in {line:?}");
                let mut value = String::new();
                at = eq + 2;
                loop {
                    let c = rest[at..].chars().next().unwrap_or_else(|| panic!("unterminated value: {line:?}"));
                    at += c.len_utf8();
                    match c {
                        '"' => break,
                        '\\' => {
                            let e = rest[at..].chars().next().unwrap_or_else(|| panic!("bad escape: {line:?}"));
                            at += e.len_utf8();
                            value.push(match e {
                                'n' => '\n',
                                '\\' => '\\',
                                '"' => '"',
                                other => panic!("bad escape \\{other} in {line:?}"),
                            });
                        }
                        c => value.push(c),
                    }
                }
                labels.push((key.to_owned(), value));
                if rest[at..].starts_with(',') {
                    at += 1;
                } else {
                    assert!(rest[at..].starts_with('}'), "expected , or }} in {line:?}");
                }
            }
        }
        let value = rest.strip_prefix(' ').unwrap_or_else(|| panic!("no space before the value: {line:?}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        labels.sort();
        parsed.push((name.to_owned(), labels, value));
    }
    let mut samples = BTreeMap::new();
    let mut buckets: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for (name, labels, value) in &parsed {
        let refs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert!(samples.insert(series(name, &refs), *value).is_none(), "{} twice", series(name, &refs));
        if let Some(family) = name.strip_suffix("_bucket").filter(|f| types.get(*f).is_some_and(|t| t == "histogram")) {
            let le = labels.iter().find(|(k, _)| k == "le").map(|(_, v)| v).expect("a bucket has le");
            let le = if le == "+Inf" { f64::INFINITY } else { le.parse().expect("le is a number") };
            let rest: Vec<(&str, &str)> = refs.iter().copied().filter(|(k, _)| *k != "le").collect();
            buckets.entry(series(family, &rest)).or_default().push((le, *value));
        }
    }
    for (key, mut counts) in buckets {
        counts.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(counts.windows(2).all(|w| w[0].1 <= w[1].1), "{key}: buckets not cumulative");
        let (le, total) = *counts.last().expect("buckets");
        assert_eq!(le, f64::INFINITY, "{key}: no +Inf bucket");
        let (family, labels) =
            key.split_once('{').map_or((key.as_str(), String::new()), |(f, l)| (f, format!("{{{l}")));
        assert_eq!(samples.get(&format!("{family}_count{labels}")), Some(&total), "{key}: +Inf is not _count");
    }
    samples
}

/// `name{k="v",...}` with the labels sorted by name: a series' key in [`parse_prometheus`].
fn series(name: &str, labels: &[(&str, &str)]) -> String {
    let mut labels = labels.to_vec();
    labels.sort();
    if labels.is_empty() {
        return name.to_owned();
    }
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{name}{{{}}}", inner.join(","))
}

/// Debian's chromium, headless, with a fresh profile. A missing chromium fails the test, on CI
/// and off it: `just browser-env` installs it.
fn chromium(args: &[&str], profile: &Path) -> Output {
    chromium_command(args, profile).stdin(Stdio::null()).output().expect("chromium runs")
}

fn chromium_command(args: &[&str], profile: &Path) -> Command {
    let path = Path::new("/usr/bin/chromium");
    assert!(
        path.exists(),
        "{} is missing: run `just browser-env` (apt-get install chromium); the dashboard's browser test does not skip",
        path.display()
    );
    let _ = std::fs::remove_dir_all(profile);
    let mut command = Command::new(path);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args);
    command
}

#[test]
fn the_dashboard_in_a_headless_browser() {
    let dir = scratch("serve-browser");
    let (file, ok_id, failed_id) = two_runs(&dir);
    let served = Served::start(&["--pipeline", file.to_str().unwrap()]);
    let screenshots = root().join("target").join("screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    let store = RunStore::open_read_only(&dir.join("state")).unwrap();

    let dom = |path: &str| -> String {
        let url = format!("http://{}{path}", served.addr);
        let output = chromium(&["--dump-dom", &url], &dir.join("chromium-dom"));
        assert!(output.status.success(), "{}", show(&output));
        let dom = String::from_utf8(output.stdout).expect("a UTF-8 DOM");
        // The page's script ran (the CSP lets the page's own script run, nothing else).
        assert!(dom.contains(r#"data-js="ready""#), "{path}: the script did not run:\n{dom}");
        dom
    };
    let shoot = |path: &str, name: &str| {
        let url = format!("http://{}{path}", served.addr);
        let png = screenshots.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&png);
        let shot = format!("--screenshot={}", png.display());
        let output = chromium(&[&shot, "--window-size=1280,1100", &url], &dir.join("chromium-shot"));
        assert!(output.status.success() && png.exists(), "{}", show(&output));
    };

    // The runs page lists both runs, newest first, with their status.
    let runs = dom("/");
    let rows: Vec<&str> =
        runs.match_indices("<tr data-run=\"").map(|(i, _)| &runs[i + 14..i + 14 + ok_id.len()]).collect();
    assert_eq!(rows, [failed_id.as_str(), ok_id.as_str()], "{runs}");
    assert!(runs.contains("50.0%"), "success rate of 1 in 2:\n{runs}");
    assert!(runs.contains(r#"<svg class="trend""#) && runs.matches("<circle class=\"dot").count() == 2, "{runs}");
    assert_escaped("the runs page", &runs, false);
    shoot("/", "runs");

    // The successful run's page: one Gantt bar per stage, the stage table's figures.
    let ok = dom(&format!("/runs/{ok_id}"));
    let detail = store.get_run(&ok_id).unwrap().unwrap();
    for stage in &detail.stages {
        let record = &stage.record;
        let bar = format!(r#"<rect class="bar status-success" data-stage="{}""#, record.stage);
        assert!(ok.contains(&bar), "no Gantt bar for {}:\n{ok}", record.stage);
        let row_start = ok.find(&format!(r#"<tr data-stage="{}">"#, record.stage)).expect("a stage row");
        let row = &ok[row_start..row_start + ok[row_start..].find("</tr>").unwrap()];
        for figure in [record.rows_in, record.rows_out, record.rows_rejected] {
            assert!(
                row.contains(&format!(r#"<td class="num">{figure}</td>"#)),
                "{} lacks {figure}: {row}",
                record.stage
            );
        }
    }
    assert_eq!(ok.matches("<rect class=\"bar").count(), detail.stages.len());
    assert!(ok.contains("id=\"quarantine-sample\"") && ok.contains("c,abc"), "{ok}");
    assert_escaped("the successful run's page", &ok, false);
    shoot(&format!("/runs/{ok_id}"), "run");

    // The failed run's page shows the error as text, never as markup.
    let failed = dom(&format!("/runs/{failed_id}"));
    assert_escaped("the failed run's page", &failed, true);
    assert!(
        !failed.contains("<img") && failed.matches("<script").count() == 1,
        "only the page's own script:\n{failed}"
    );
    shoot(&format!("/runs/{failed_id}"), "run-failed");

    let graph = dom("/pipeline");
    assert_eq!(graph.matches("<g class=\"node").count(), 3, "{graph}");
    shoot("/pipeline", "pipeline");

    live_refresh(&served, &dir, &file);
}

/// A run page opened while the run goes on follows it to the end by itself. The run reads its
/// CSV from a FIFO the test holds, so it is in progress exactly until the test lets it finish:
/// chromium opens the run's page, the test waits for the page's first poll of the run's API
/// document in the server's access log, then feeds the input. Chromium runs on virtual time
/// (its timers fire as soon as nothing else is pending) and dumps the DOM once the page has no
/// timer left: a live page keeps polling, so the dump is the page after it reloaded itself.
fn live_refresh(served: &Served, dir: &Path, file: &Path) {
    let raw = dir.join("live-raw");
    std::fs::create_dir_all(&raw).unwrap();
    let fifo = raw.join("items.csv");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
    assert!(made.success(), "mkfifo {}", fifo.display());
    let run = Command::new(env!("CARGO_BIN_EXE_host"))
        .args(["run", "--pipeline", file.to_str().unwrap(), "--no-progress", "--json"])
        .arg("--set")
        .arg(format!("paths.raw_data={}", raw.display()))
        .env("ETL_CACHE_DIR", cache_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("host run starts");
    // Opening a FIFO to write returns once a reader opened it: the run's ingest stage.
    let (opened, open) = mpsc::channel();
    let path = fifo.clone();
    thread::spawn(move || opened.send(File::options().write(true).open(path)));
    let mut input = open.recv_timeout(PATIENCE).expect("the run opens its input").expect("the FIFO opens");
    let runs = served.json("/api/runs");
    let running: Vec<&str> = runs["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter(|r| r["status"] == "running")
        .map(|r| r["id"].as_str().expect("an id"))
        .collect();
    let [id] = running[..] else { panic!("one run in progress: {runs}") };

    let page = format!("/runs/{id}");
    let mut browser = chromium_command(
        &["--dump-dom", "--virtual-time-budget=86400000", &format!("http://{}{page}", served.addr)],
        &dir.join("chromium-live"),
    );
    let browser = browser.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
    let browser = browser.expect("chromium starts");
    let (done, dumped) = mpsc::channel();
    thread::spawn(move || done.send(browser.wait_with_output()));
    // The page was served while the run was in progress, and its script polls the run.
    let loads = served.await_log(&format!("url=/api/runs/{id} "), &format!("url={page} "));
    assert_eq!(loads, 1, "the page loaded once before it polled");

    input.write_all(ITEMS.as_bytes()).expect("feed the run");
    drop(input);
    let run = run.wait_with_output().expect("host run ends");
    assert_eq!(run.status.code(), Some(0), "{}", show(&run));
    let output = dumped.recv_timeout(PATIENCE).expect("chromium ends").expect("chromium runs");
    assert!(output.status.success(), "{}", show(&output));
    let dom = String::from_utf8(output.stdout).expect("a UTF-8 DOM");
    // The page the browser ends on is the finished run's, reloaded by the page itself (the
    // server served it a second time): no longer polled, every stage done.
    served.await_log(&format!("url={page} "), "");
    assert!(!dom.contains("data-live"), "the finished run's page is not polled:\n{dom}");
    for stage in ["ingest_items", "talker", "write_reports"] {
        let bar = format!(r#"<rect class="bar status-success" data-stage="{stage}""#);
        assert!(dom.contains(&bar), "no finished Gantt bar for {stage}:\n{dom}");
    }
}
