//! The example pipelines of `config/examples/`, through the real binary and the real plugins: the
//! host knows nothing of e-commerce, so a pipeline of another domain runs on the same plugins.
//!
//! `weblogs.yaml` (the access log of a metered web API) runs on its checked-in data set
//! (`config/examples/weblogs/raw/`, its defects listed in `config/examples/weblogs/README.md`), and
//! every output is compared with `tests/golden/examples/weblogs/`, worked out from the plugins'
//! documented rules, not from the program's output:
//!
//! - a warehouse table as text (`requests.txt`, `customers.txt`, `traffic_daily.txt`): the file
//!   schema as `name: type|...`, then, for every Parquet file by its path in the table, `[path]`
//!   and its rows in file order, cells as Arrow displays them, `|`-separated, null `∅`;
//! - a source's quarantine (`quarantine/<source>.txt`): `line_number|stage|reasons|message`,
//!   sorted by line;
//! - the reports, byte for byte.
//!
//! On a mismatch the actual text is written under `target/e2e-scratch/<test>/actual/`.
//!
//! Both pipelines have a `customers` table, of different columns: each keeps its own shape, and
//! loading one into the other's warehouse fails instead of rewriting the table.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::common::{cache_dir, files_under, plugin_dir, read_parquet, root, row_texts, scratch, show, summary};

/// The example, relative to the repository root.
const WEBLOGS: &str = "config/examples/weblogs.yaml";

/// The weblogs example's tables, by the name of their expected file.
const WEBLOGS_TABLES: [&str; 3] = ["requests", "customers", "traffic_daily"];

/// `tests/golden/examples/weblogs/`.
fn expected_dir() -> PathBuf {
    root().join("tests/golden/examples/weblogs")
}

/// Runs `host` from the repository root, as the README does, so that the paths the pipeline
/// files give relative to it (the example's raw data) are the ones used.
fn host_at_root(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_host"))
        .args(args)
        .current_dir(root())
        .env("ETL_CACHE_DIR", cache_dir())
        .env("RUST_LOG", "warn")
        .output()
        .expect("host runs")
}

/// `host <command> --pipeline <pipeline>` with the built plugins and every output under `out`;
/// the raw data is the pipeline file's own unless `extra` sets it.
fn pipeline_args(command: &str, pipeline: &str, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec![command.to_owned(), "--pipeline".to_owned(), root().join(pipeline).display().to_string()];
    args.extend(["--set".to_owned(), format!("plugin_dir={}", plugin_dir().display())]);
    for key in ["warehouse", "quarantine", "reports", "state"] {
        args.extend(["--set".to_owned(), format!("paths.{key}={}", out.join(key).display())]);
    }
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    args
}

/// `host run --json` of `pipeline` with its outputs under `out`: the process and its outcome.
fn run(pipeline: &str, out: &Path, extra: &[&str]) -> (Output, Value) {
    let mut args = pipeline_args("run", pipeline, out, extra);
    args.push("--json".to_owned());
    let output = host_at_root(&args);
    let outcome =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("--json output: {e}\n{}", show(&output)));
    (output, outcome)
}

#[test]
fn the_weblogs_example_gives_the_expected_tables_reports_and_quarantine() {
    let dir = scratch("examples-weblogs");
    let mut failures = Vec::new();

    let (output, first) = run(WEBLOGS, &dir, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    check_weblogs("first run", &dir, &first, &mut failures);

    // Again into the same warehouse, 3 rows per batch: the same tables (partitions overwritten,
    // the dimension merged on its key), whatever the batches.
    let (output, rerun) = run(WEBLOGS, &dir, &["--set", "defaults.batch_rows=3"]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    assert_ne!(first["run_id"], rerun["run_id"]);
    check_weblogs("re-run with batch_rows=3", &dir, &rerun, &mut failures);

    assert!(failures.is_empty(), "{} comparison(s) failed:\n\n{}", failures.len(), failures.join("\n\n"));
}

/// Checks everything one run of the weblogs example wrote under `dir`, adding a message per
/// output that differs from its expected file.
fn check_weblogs(label: &str, dir: &Path, run: &Value, failures: &mut Vec<String>) {
    assert_eq!(run["status"], "success", "{label}: {run}");
    let run_id = run["run_id"].as_str().expect("run id");
    let mut compare = |name: &str, actual: String| {
        let expected = std::fs::read_to_string(expected_dir().join(name))
            .unwrap_or_else(|e| panic!("tests/golden/examples/weblogs/{name}: {e}"));
        if expected != actual {
            let path = dir.join("actual").join(run_id).join(name);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("actual dir");
            std::fs::write(&path, &actual).expect("write actual");
            failures.push(format!(
                "{label}: {name} differs from tests/golden/examples/weblogs/{name} (actual in {}):\n{}",
                path.display(),
                line_diff(&expected, &actual)
            ));
        }
    };

    // The pipeline's own checks, with their figures.
    let checks: Vec<(&str, bool, &Value)> = run["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| (c["check"].as_str().expect("check name"), c["passed"] == true, &c["figures"]))
        .collect();
    let request_time = "104.628";
    let compute_cost = "0.1639625";
    assert_eq!(
        checks,
        [
            ("conservation(ingest_requests)", true, &json!({"raw_rows": 43, "output_rows": 20, "quarantined": 23})),
            ("conservation(ingest_customers)", true, &json!({"raw_rows": 11, "output_rows": 5, "quarantined": 6})),
            (
                "equal_sums(aggregate_traffic.traffic_daily:request_time_sum, \
                 aggregate_traffic.status_summary:request_time_sum, aggregate_traffic.tenant_usage:request_time_sum, \
                 meter_requests.out:request_time)",
                true,
                &json!({
                    "aggregate_traffic.traffic_daily:request_time_sum": request_time,
                    "aggregate_traffic.status_summary:request_time_sum": request_time,
                    "aggregate_traffic.tenant_usage:request_time_sum": request_time,
                    "meter_requests.out:request_time": request_time,
                })
            ),
            (
                "equal_sums(aggregate_traffic.traffic_daily:compute_cost_sum, \
                 aggregate_traffic.tenant_usage:compute_cost_sum, meter_requests.out:compute_cost)",
                true,
                &json!({
                    "aggregate_traffic.traffic_daily:compute_cost_sum": compute_cost,
                    "aggregate_traffic.tenant_usage:compute_cost_sum": compute_cost,
                    "meter_requests.out:compute_cost": compute_cost,
                })
            ),
        ],
        "{label}: checks"
    );

    // Every stage did something visible: rows in, out and rejected (stages in any order), and the
    // plugins' metrics.
    let summary = summary(&dir.join("state"), run_id);
    let stages: BTreeSet<(String, u64, u64, u64)> = summary["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| {
            let count = |key: &str| s[key].as_u64().unwrap_or_else(|| panic!("{key} of {s}"));
            (
                s["stage"].as_str().expect("stage").to_owned(),
                count("rows_in"),
                count("rows_out"),
                count("rows_rejected"),
            )
        })
        .collect();
    let expected_stages = [
        ("ingest_requests", 43, 35, 8),
        ("ingest_customers", 11, 8, 3),
        ("validate_requests", 35, 24, 11),
        ("cleanse_requests", 24, 20, 4),
        ("cleanse_customers", 8, 7, 1),
        ("validate_customers", 7, 5, 2),
        ("enrich_requests", 25, 20, 0), // 5 customers on the lookup port, 20 requests
        ("meter_requests", 20, 20, 0),
        ("aggregate_traffic", 20, 30, 0), // 13 + 9 + 8 groups
        ("load_warehouse", 38, 38, 0),    // 20 requests + 5 customers + 13 daily rows
        ("generate_reports", 17, 17, 0),  // 9 + 8 report rows
    ];
    let expected_stages: BTreeSet<(String, u64, u64, u64)> =
        expected_stages.iter().map(|&(s, i, o, r)| (s.to_owned(), i, o, r)).collect();
    assert_eq!(stages, expected_stages, "{label}: rows in, out and rejected per stage");
    let metrics = |stage: &str| -> Vec<(String, i64)> {
        summary["stages"]
            .as_array()
            .expect("stages")
            .iter()
            .find(|s| s["stage"] == stage)
            .unwrap_or_else(|| panic!("no stage {stage}"))["metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .map(|m| (m["name"].as_str().expect("name").to_owned(), m["value"].as_i64().expect("value")))
            .collect()
    };
    let named = |pairs: &[(&str, i64)]| -> Vec<(String, i64)> {
        pairs.iter().map(|&(name, value)| (name.to_owned(), value)).collect()
    };
    assert_eq!(
        metrics("validate_requests"),
        named(&[
            ("rows_in", 35),
            ("rows_valid", 24),
            ("rows_rejected", 11),
            ("failures.not_null(request_id)", 1),
            ("failures.not_null(date)", 1),
            ("failures.not_null(customer_id)", 1),
            ("failures.accepted_values(method)", 2),
            ("failures.not_null(path)", 1),
            // A warning: /health, /favicon.ico, and two rows rejected anyway (`/x`, a null path).
            ("failures.regex(path)", 4),
            ("failures.in_range(status)", 3),
            ("failures.in_range(bytes)", 2),
            ("failures.in_range(request_time)", 2),
        ]),
        "{label}: validate_requests"
    );
    assert_eq!(
        metrics("cleanse_requests"),
        named(&[("rows_in", 24), ("rows_out", 20), ("duplicates", 4), ("trimmed_values", 3)]),
        "{label}: cleanse_requests"
    );
    assert_eq!(
        metrics("cleanse_customers"),
        named(&[("rows_in", 8), ("rows_out", 7), ("duplicates", 1), ("trimmed_values", 4)]),
        "{label}: cleanse_customers"
    );
    assert_eq!(
        metrics("validate_customers"),
        named(&[
            ("rows_in", 7),
            ("rows_valid", 5),
            ("rows_rejected", 2),
            ("failures.accepted_values(plan)", 1),
            ("failures.in_range(price_per_s)", 1),
        ]),
        "{label}: validate_customers"
    );
    assert_eq!(
        metrics("enrich_requests"),
        named(&[
            ("rows_in", 20),
            ("rows_out", 20),
            ("orphan_customer", 3), // T99 unknown, T05 rejected, T06 a parse error
            ("lookup_rows.customers", 5),
            ("lookup_duplicate_keys.customers", 0),
        ]),
        "{label}: enrich_requests"
    );
    assert_eq!(
        metrics("aggregate_traffic"),
        named(&[
            ("rows_in", 20),
            ("groups.traffic_daily", 13),
            ("groups.status_summary", 9),
            ("groups.tenant_usage", 8)
        ]),
        "{label}: aggregate_traffic"
    );

    // The warehouse: these three tables and nothing else (but their lock files).
    let warehouse = dir.join("warehouse");
    let tables: Vec<String> = std::fs::read_dir(&warehouse)
        .expect("warehouse dir")
        .map(|entry| entry.expect("entry").file_name().into_string().expect("utf-8"))
        .filter(|name| !name.starts_with('.'))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(tables, ["customers", "requests", "traffic_daily"], "{label}: warehouse tables");
    for table in WEBLOGS_TABLES {
        compare(&format!("{table}.txt"), table_text(&warehouse.join(table)));
    }

    // The quarantine of this run, per source; every rejected row has its stage and reasons.
    let quarantined: BTreeSet<(&str, u64)> = run["quarantine"]
        .as_array()
        .expect("quarantine")
        .iter()
        .map(|q| (q[0].as_str().expect("source"), q[1].as_u64().expect("rows")))
        .collect();
    assert_eq!(
        quarantined,
        BTreeSet::from([("requests", 23), ("customers", 6)]),
        "{label}: quarantined rows per source"
    );
    for source in ["requests", "customers"] {
        let text = quarantine_text(&dir.join("quarantine").join(source).join(format!("run_id={run_id}")));
        compare(&format!("quarantine/{source}.txt"), text);
    }

    for report in ["status_report.csv", "tenant_usage_report.csv"] {
        let path = dir.join("reports").join(report);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        compare(&format!("reports/{report}"), String::from_utf8(bytes).expect("a UTF-8 report"));
    }
}

#[test]
fn the_example_and_ecommerce_each_keep_their_own_customers_table() {
    let dir = scratch("examples-shared-names");
    for pipeline in ["config/ecommerce.yaml", WEBLOGS] {
        let output = host_at_root(&pipeline_args("validate", pipeline, &dir.join("validate"), &[]));
        assert_eq!(output.status.code(), Some(0), "host validate {pipeline}\n{}", show(&output));
    }

    let ecommerce_raw = format!("paths.raw_data={}", root().join("tests/golden/raw").display());
    let (output, ecommerce) = run("config/ecommerce.yaml", &dir.join("ecommerce"), &["--set", &ecommerce_raw]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    assert_eq!(ecommerce["status"], "success", "{ecommerce}");
    let (output, weblogs) = run(WEBLOGS, &dir.join("weblogs"), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    assert_eq!(weblogs["status"], "success", "{weblogs}");

    // One name, two shapes: each pipeline's `customers` holds its own columns.
    let customers = |root: &Path| root.join("warehouse/customers/part-00000.parquet");
    let columns = |root: &Path| -> Vec<String> {
        let (schema, _) = read_parquet(&customers(root)).unwrap_or_else(|e| panic!("{e}"));
        schema.fields().iter().map(|f| format!("{}: {}", f.name(), f.data_type())).collect()
    };
    assert_eq!(
        columns(&dir.join("ecommerce")),
        ["customer_id: Utf8", "name: Utf8", "email: Utf8", "region: Utf8", "signup_date: Date32"]
    );
    let weblogs_customers = std::fs::read_to_string(expected_dir().join("customers.txt")).expect("customers.txt");
    let weblogs_header = weblogs_customers.lines().next().expect("a header");
    assert_eq!(columns(&dir.join("weblogs")).join("|"), weblogs_header);
    assert_eq!(table_text(&dir.join("weblogs/warehouse/customers")), weblogs_customers);

    // Into one warehouse root, the second pipeline's load of the other `customers` fails: the
    // table already there keeps its shape and its bytes.
    let before = std::fs::read(customers(&dir.join("ecommerce"))).expect("ecommerce customers");
    let shared = format!("paths.warehouse={}", dir.join("ecommerce/warehouse").display());
    let (output, clash) = run(WEBLOGS, &dir.join("clash"), &["--set", &shared, "--set", "defaults.retries=0"]);
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    let load = clash["stages"].as_array().expect("stages").iter().find(|s| s["name"] == "load_warehouse");
    let error = load.and_then(|s| s["error"].as_str()).unwrap_or_else(|| panic!("load_warehouse failed: {clash}"));
    assert!(error.contains("warehouse table customers"), "{error}");
    assert_eq!(std::fs::read(customers(&dir.join("ecommerce"))).expect("ecommerce customers"), before);
}

/// A warehouse table as the module documentation describes it.
fn table_text(table: &Path) -> String {
    let mut text = String::new();
    let mut header = String::new();
    for (relative, path) in files_under(table) {
        if relative.split('/').any(|part| part.starts_with('.')) {
            continue;
        }
        let (schema, batches) = read_parquet(&path).unwrap_or_else(|e| panic!("{e}"));
        let columns: Vec<String> = schema.fields().iter().map(|f| format!("{}: {}", f.name(), f.data_type())).collect();
        let columns = columns.join("|");
        if columns != header {
            text.push_str(&columns);
            text.push('\n');
            header = columns;
        }
        text.push_str(&format!("[{relative}]\n"));
        for row in row_texts(&batches) {
            text.push_str(&row);
            text.push('\n');
        }
    }
    text
}

/// One run's quarantine of one source: `line_number|stage|reasons|message`, sorted by line.
fn quarantine_text(dir: &Path) -> String {
    let mut rows: Vec<(i64, String)> = Vec::new();
    for (relative, path) in files_under(dir) {
        if !relative.ends_with(".parquet") {
            continue;
        }
        let (_, batches) = read_parquet(&path).unwrap_or_else(|e| panic!("{e}"));
        let columns = ["line_number", "stage", "reasons", "message"];
        let picked: Vec<_> = batches
            .iter()
            .map(|batch| batch.project(&columns.map(|c| batch.schema().index_of(c).expect("a quarantine column"))))
            .collect::<Result<_, _>>()
            .expect("projection");
        for row in row_texts(&picked) {
            let line = row.split('|').next().and_then(|n| n.parse().ok()).expect("a line number");
            rows.push((line, row));
        }
    }
    rows.sort();
    let mut text = String::from("line_number|stage|reasons|message\n");
    for (_, row) in rows {
        text.push_str(&row);
        text.push('\n');
    }
    text
}

/// A line diff of `expected` and `actual`: `-` lines only expected (with their line numbers),
/// `+` lines only actual.
fn line_diff(expected: &str, actual: &str) -> String {
    let e: Vec<&str> = expected.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    let mut lcs = vec![vec![0usize; a.len() + 1]; e.len() + 1];
    for i in (0..e.len()).rev() {
        for j in (0..a.len()).rev() {
            lcs[i][j] = if e[i] == a[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < e.len() || j < a.len() {
        if i < e.len() && j < a.len() && e[i] == a[j] {
            (i, j) = (i + 1, j + 1);
        } else if i < e.len() && (j == a.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str(&format!("-{:>4} {}\n", i + 1, e[i].escape_debug()));
            i += 1;
        } else {
            out.push_str(&format!("+     {}\n", a[j].escape_debug()));
            j += 1;
        }
    }
    out
}
