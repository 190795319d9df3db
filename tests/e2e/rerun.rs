//! Re-running the e-commerce pipeline on the same input for the same `--date`: the warehouse
//! and the reports come out identical (rows and bytes), nothing is duplicated or lost, and the
//! quarantine keeps both runs' rows, each under its run id. Also what the run store records of
//! the pipeline's checks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{Value, json};

use crate::common::{
    decimal_sum, decimal_text, ecommerce_args, files_under, generate_data, host, outcome, read_parquet, row_texts,
    run_host, scratch, show, stage, summary,
};

const TABLES: [&str; 4] = ["sales", "customers", "products", "sales_by_category_daily"];
const REPORTS: [&str; 2] = ["daily_sales_report.csv", "customer_summary_report.csv"];

/// Every file of a warehouse table (or a quarantine run): its bytes and its rows read back.
#[derive(PartialEq)]
struct TableFiles(BTreeMap<String, (Vec<u8>, Vec<String>)>);

impl std::fmt::Debug for TableFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let files: BTreeMap<&String, String> = self
            .0
            .iter()
            .map(|(path, (bytes, rows))| (path, format!("{} bytes, {} rows", bytes.len(), rows.len())))
            .collect();
        f.debug_map().entries(files).finish()
    }
}

impl TableFiles {
    fn read(dir: &Path) -> Self {
        let files = files_under(dir);
        assert!(!files.is_empty(), "{} has no files", dir.display());
        TableFiles(
            files
                .into_iter()
                .map(|(relative, path)| {
                    let (_, batches) = read_parquet(&path).unwrap_or_else(|e| panic!("{e}"));
                    let bytes = std::fs::read(&path).expect("read file");
                    (relative, (bytes, row_texts(&batches)))
                })
                .collect(),
        )
    }

    fn rows(&self) -> Vec<&String> {
        self.0.values().flat_map(|(_, rows)| rows).collect()
    }
}

/// The column `column` of every file under `dir`, as text.
fn column_texts(dir: &Path, column: &str) -> Vec<String> {
    let mut values = Vec::new();
    for path in files_under(dir).values() {
        let (schema, batches) = read_parquet(path).unwrap_or_else(|e| panic!("{e}"));
        let index = schema.index_of(column).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let projected: Vec<_> = batches.iter().map(|b| b.project(&[index]).expect("project")).collect();
        values.extend(row_texts(&projected));
    }
    values
}

#[test]
fn a_rerun_on_the_same_input_gives_identical_tables_and_reports_and_keeps_both_quarantines() {
    let dir = scratch("rerun");
    let raw = dir.join("raw");
    generate_data(&raw, 5000, 42);
    let mut args = ecommerce_args(&raw, &dir);
    args.extend(["--date", "2024-06-30", "--json"].map(str::to_owned));

    let mut runs = Vec::new();
    let mut tables = Vec::new();
    let mut reports = Vec::new();
    for _ in 0..2 {
        let output = run_host(&args);
        assert_eq!(output.status.code(), Some(0), "{}", show(&output));
        runs.push(outcome(&output));
        tables.push(TABLES.map(|table| TableFiles::read(&dir.join("warehouse").join(table))));
        reports.push(REPORTS.map(|report| std::fs::read(dir.join("reports").join(report)).expect("report")));
    }
    let ids: Vec<&str> = runs.iter().map(|run| run["run_id"].as_str().expect("run id")).collect();
    assert_ne!(ids[0], ids[1]);

    // Identical: the same files, the same rows, the same bytes.
    for (table, (first, second)) in TABLES.iter().zip(tables[0].iter().zip(&tables[1])) {
        assert_eq!(first.rows(), second.rows(), "table {table}: the rows differ between the runs");
        assert_eq!(first, second, "table {table}: the files differ between the runs");
    }
    assert_eq!(reports[0], reports[1], "the reports differ between the runs");
    // Nothing but the tables and their lock files is left in the warehouse.
    let root: BTreeSet<String> = std::fs::read_dir(dir.join("warehouse"))
        .expect("warehouse")
        .map(|entry| entry.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    let expected: BTreeSet<String> = TABLES.iter().flat_map(|t| [t.to_string(), format!(".{t}.lock")]).collect();
    assert_eq!(root, expected);

    // Nothing duplicated, nothing lost: every fact and dimension row once, as many as the run made.
    let state = dir.join("state");
    let last = summary(&state, ids[1]);
    let rows_out = |name: &str| stage(&last, name)["rows_out"].as_u64().expect("rows_out") as usize;
    let [sales, customers, products, daily] = &tables[1];
    assert_eq!(sales.rows().len(), rows_out("transform_orders"));
    let order_ids = column_texts(&dir.join("warehouse/sales"), "order_id");
    assert_eq!(order_ids.iter().collect::<BTreeSet<_>>().len(), order_ids.len(), "an order_id is duplicated");
    for (files, table, key, source) in [
        (customers, "customers", "customer_id", "transform_customers"),
        (products, "products", "product_id", "transform_products"),
    ] {
        assert_eq!(files.rows().len(), rows_out(source), "{table}");
        let keys = column_texts(&dir.join("warehouse").join(table), key);
        assert_eq!(keys.iter().collect::<BTreeSet<_>>().len(), keys.len(), "a {key} is duplicated in {table}");
    }
    let daily_report = String::from_utf8(reports[1][0].clone()).expect("utf-8");
    assert_eq!(daily.rows().len(), daily_report.lines().count() - 1, "sales_by_category_daily vs its report");

    // The quarantine has both runs, each under its run id, with the same rows.
    let quarantined = runs[1]["quarantine"].as_array().expect("quarantine totals").clone();
    assert_eq!(runs[0]["quarantine"], runs[1]["quarantine"]);
    assert_eq!(quarantined.len(), 3, "{quarantined:?}");
    for total in &quarantined {
        let (source, count) = (total[0].as_str().expect("source"), total[1].as_u64().expect("count") as usize);
        let source_dir = dir.join("quarantine").join(source);
        let run_dirs: BTreeSet<String> = std::fs::read_dir(&source_dir)
            .expect("quarantine source dir")
            .map(|entry| entry.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        assert_eq!(run_dirs, ids.iter().map(|id| format!("run_id={id}")).collect(), "{source}");
        let [first, second] = [0, 1].map(|i| TableFiles::read(&source_dir.join(format!("run_id={}", ids[i]))));
        assert_eq!(first.rows().len(), count, "{source}: run {}", ids[0]);
        assert_eq!(first.rows(), second.rows(), "{source}: the quarantined rows differ between the runs");
    }

    // The checks are in summary.json (and the run store) with their figures, as `--json` had them.
    let checks = &last["checks"];
    assert_eq!(checks.as_array().map(Vec::len), Some(2), "{last}");
    for (recorded, printed) in
        checks.as_array().expect("checks").iter().zip(runs[1]["checks"].as_array().expect("checks"))
    {
        assert_eq!(recorded["name"], printed["check"]);
        assert_eq!((&recorded["passed"], &recorded["detail"]), (&json!(true), &printed["detail"]));
        assert_eq!(recorded["figures"], printed["figures"]);
    }
    let orders_quarantined = quarantined.iter().find(|t| t[0] == "orders").expect("orders")[1].clone();
    assert_eq!(
        checks[0]["figures"],
        json!({"raw_rows": 5000, "output_rows": sales.rows().len(), "quarantined": orders_quarantined})
    );
    // Each sum the equal_sums check compared is the fact table's total as the warehouse has it.
    let batches: Vec<_> = files_under(&dir.join("warehouse/sales"))
        .values()
        .flat_map(|path| read_parquet(path).unwrap_or_else(|e| panic!("{e}")).1)
        .collect();
    let total = Value::from(decimal_text(decimal_sum(&batches, "total_amount"), 2));
    let figures = checks[1]["figures"].as_object().expect("figures");
    assert_eq!(figures.len(), 3, "{figures:?}");
    assert!(figures.values().all(|sum| *sum == total), "{figures:?} vs the warehouse's {total}");

    let shown = host(&["runs", "show", ids[1], "--state-dir", state.to_str().expect("utf-8")], "warn");
    assert!(shown.status.success(), "{}", show(&shown));
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.contains(&format!(
            "✓  conservation(ingest_orders)\n   {}\n",
            checks[0]["detail"].as_str().expect("detail")
        )),
        "{text}"
    );
    assert!(text.contains("✓  equal_sums(aggregate_sales.daily_sales:total_amount_sum, "), "{text}");
}
