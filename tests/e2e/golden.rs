//! The golden end-to-end test: `config/ecommerce.yaml` through the real binary and the real
//! plugins on the small hand-made data set of `tests/golden/raw/`, every output compared with the
//! tables written out by hand from the spec in `tests/golden/expected/` (see
//! `tests/golden/README.md` for which input row exercises which rule).
//!
//! Parquet tables are rendered to one text form, the same as the expected files':
//!
//! - a header row of column names, then one line per row, each ended by `\n`;
//! - a null is an empty cell, an empty string is `""`;
//! - decimals with their scale's digits, ISO dates, integers in decimal;
//! - inside a cell, `\` is written `\\`, LF `\n`, CR `\r`, TAB `\t`, and any other control
//!   character or whitespace but the plain space `\u{hex}` (so that every row is one line and
//!   invisible characters are visible);
//! - a cell holding `,` or `"` or starting or ending with a space is quoted, its quotes doubled.
//!
//! Rows are sorted by the table's key (nulls last, text by bytes), since a table's row order is
//! free. The two reports are compared byte for byte. When a comparison fails, the text actually
//! rendered is written under `target/e2e-scratch/golden/actual/` and the assertion message shows
//! a line diff (`-` expected, `+` actual).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

use crate::common::{host, plugin_dir, root, scratch, show};

/// `tests/golden/`.
fn golden() -> PathBuf {
    root().join("tests").join("golden")
}

/// Runs the e-commerce pipeline on the golden inputs with every output under `dir`, plus the
/// `extra` arguments.
fn run_golden(dir: &Path, extra: &[&str]) -> (Output, Value) {
    let mut args: Vec<String> = vec![
        "run".into(),
        "--pipeline".into(),
        root().join("config/ecommerce.yaml").display().to_string(),
        "--json".into(),
        "--set".into(),
        format!("paths.raw_data={}", golden().join("raw").display()),
        "--set".into(),
        format!("plugin_dir={}", plugin_dir().display()),
    ];
    for key in ["warehouse", "quarantine", "reports", "state"] {
        args.push("--set".into());
        args.push(format!("paths.{key}={}", dir.join(key).display()));
    }
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = host(&args, "warn");
    let run =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("--json output: {e}\n{}", show(&output)));
    (output, run)
}

#[test]
fn the_golden_data_set_gives_the_hand_written_tables() {
    let dir = scratch("golden");
    let (output, run) = run_golden(&dir, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let mut failures = Vec::new();
    check_run("first run", &dir, &run, &mut failures);

    // A second run on the same input into the same warehouse, reading 3 rows per batch: the same
    // tables (never duplicated rows), whatever the batches (first occurrences, groups and
    // averages span batches).
    let (output, rerun) = run_golden(&dir, &["--set", "defaults.batch_rows=3"]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    assert_ne!(run["run_id"], rerun["run_id"]);
    check_run("re-run with batch_rows=3", &dir, &rerun, &mut failures);

    assert!(failures.is_empty(), "{} golden comparison(s) failed:\n\n{}", failures.len(), failures.join("\n\n"));
}

/// Compares everything one run wrote with the expected files, adding a message per mismatch.
fn check_run(label: &str, dir: &Path, run: &Value, failures: &mut Vec<String>) {
    let run_id = run["run_id"].as_str().expect("run id");
    let expected = golden().join("expected");
    let actual_dir = dir.join("actual").join(run_id);
    let mut compare = |name: &str, actual: String| {
        let expected = fs::read_to_string(expected.join(name)).unwrap_or_else(|e| panic!("expected/{name}: {e}"));
        if expected != actual {
            let path = actual_dir.join(name);
            fs::create_dir_all(path.parent().expect("a parent")).expect("actual dir");
            fs::write(&path, &actual).expect("write actual");
            failures.push(format!(
                "{label} ({run_id}): {name} differs from tests/golden/expected/{name} (actual written to {}):\n{}",
                path.display(),
                diff(&expected, &actual)
            ));
        }
    };

    // The pipeline's own invariants (conservation, equal sums) were checked and held.
    let checks = run["checks"].as_array().expect("checks");
    assert!(!checks.is_empty(), "{label}: no checks ran: {run}");
    for check in checks {
        assert_eq!(check["passed"], true, "{label}: {check}");
    }

    let warehouse = dir.join("warehouse");
    let sales = read_sales(&warehouse.join("sales"));
    compare("sales.csv", render(&sales));
    let customers = read_table(
        &warehouse.join("customers"),
        &[
            ("customer_id", DataType::Utf8),
            ("name", DataType::Utf8),
            ("email", DataType::Utf8),
            ("region", DataType::Utf8),
            ("signup_date", DataType::Date32),
        ],
        &[0],
    );
    compare("customers.csv", render(&customers));
    let products = read_table(
        &warehouse.join("products"),
        &[
            ("product_id", DataType::Utf8),
            ("product_name", DataType::Utf8),
            ("category", DataType::Utf8),
            ("list_price", DataType::Decimal128(10, 2)),
        ],
        &[0],
    );
    compare("products.csv", render(&products));
    let daily = read_table(
        &warehouse.join("sales_by_category_daily"),
        &[
            ("order_date", DataType::Date32),
            ("category", DataType::Utf8),
            ("total_amount_sum", DataType::Decimal128(18, 2)),
            ("total_amount_avg", DataType::Decimal128(18, 2)),
            ("total_amount_count", DataType::Int64),
            ("quantity_sum", DataType::Int64),
        ],
        &[0, 1],
    );
    compare("sales_by_category_daily.csv", render(&daily));

    let quarantine = dir.join("quarantine");
    let sources = [
        ("orders", &["order_id", "customer_id", "product_id", "quantity", "unit_price", "order_date"][..]),
        ("customers", &["customer_id", "name", "email", "region", "signup_date"][..]),
        ("products", &["product_id", "product_name", "category", "list_price"][..]),
    ];
    let mut quarantined = Vec::new();
    for (source, columns) in sources {
        let table = read_quarantine(&quarantine.join(source).join(format!("run_id={run_id}")), columns);
        compare(&format!("quarantine/{source}.csv"), render(&table));
        quarantined.push(table);
    }

    let reports = dir.join("reports");
    for report in ["daily_sales_report.csv", "customer_summary_report.csv"] {
        let bytes = fs::read(reports.join(report)).unwrap_or_else(|e| panic!("report {report}: {e}"));
        let actual = String::from_utf8(bytes).unwrap_or_else(|e| panic!("report {report} is not UTF-8: {e}"));
        compare(&format!("reports/{report}"), actual);
    }

    let summary = summary(dir, run_id);
    let sources = [
        Source {
            name: "orders",
            ingest: "ingest_orders",
            stages: &["ingest_orders", "validate_orders", "cleanse_orders"],
            quarantine: &quarantined[0],
            kept: &sales,
            kept_figure: "fact_rows",
        },
        Source {
            name: "customers",
            ingest: "ingest_customers",
            stages: &["ingest_customers", "transform_customers"],
            quarantine: &quarantined[1],
            kept: &customers,
            kept_figure: "dimension_rows",
        },
        Source {
            name: "products",
            ingest: "ingest_products",
            stages: &["ingest_products", "transform_products"],
            quarantine: &quarantined[2],
            kept: &products,
            kept_figure: "dimension_rows",
        },
    ];
    let figures = figures(run, &summary, &sources, &daily, &reports);
    compare("run_summary.csv", figures);
}

/// A table as rendered: column names and rows of cells (`None` is null).
#[derive(Debug)]
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<Option<String>>>,
}

impl Table {
    fn column(&self, name: &str) -> usize {
        self.header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"))
    }
}

/// Every `.parquet` file under `dir`, recursively, sorted; hidden entries are skipped.
fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("dir entry").path();
        let name = path.file_name().expect("a name").to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            files.extend(parquet_files(&path));
        } else if name.ends_with(".parquet") {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let file = fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|builder| builder.build())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    reader.map(|batch| batch.unwrap_or_else(|e| panic!("{}: {e}", path.display()))).collect()
}

/// Checks that `batch` holds exactly the columns `columns` with their types (column order is
/// free, settled details 18-21).
fn check_schema(what: &str, batch: &RecordBatch, columns: &[(&str, DataType)]) {
    let mut found: Vec<String> =
        batch.schema().fields().iter().map(|f| format!("{} {}", f.name(), f.data_type())).collect();
    let mut wanted: Vec<String> = columns.iter().map(|(name, ty)| format!("{name} {ty}")).collect();
    found.sort();
    wanted.sort();
    assert_eq!(found, wanted, "{what}: columns and types");
}

/// The cells of `columns` of `batch`, row by row.
fn cells(batch: &RecordBatch, columns: &[&str]) -> Vec<Vec<Option<String>>> {
    let options = FormatOptions::default();
    let arrays: Vec<&dyn Array> = columns
        .iter()
        .map(|name| batch.column_by_name(name).unwrap_or_else(|| panic!("no column {name}")).as_ref())
        .collect();
    let formatters: Vec<ArrayFormatter<'_>> =
        arrays.iter().map(|array| ArrayFormatter::try_new(*array, &options).expect("a formatter")).collect();
    (0..batch.num_rows())
        .map(|row| {
            arrays
                .iter()
                .zip(&formatters)
                .map(|(array, formatter)| {
                    if array.is_null(row) {
                        None
                    } else if let Some(text) = array.as_string_opt::<i32>() {
                        Some(text.value(row).to_owned())
                    } else {
                        Some(formatter.value(row).to_string())
                    }
                })
                .collect()
        })
        .collect()
}

/// Sorts rows by the cells `keys` (text by bytes, nulls last).
fn sort_rows(rows: &mut [Vec<Option<String>>], keys: &[usize]) {
    rows.sort_by(|a, b| {
        keys.iter()
            .map(|&k| match (&a[k], &b[k]) {
                (Some(x), Some(y)) => x.as_bytes().cmp(y.as_bytes()),
                (x, y) => x.is_none().cmp(&y.is_none()),
            })
            .find(|ordering| ordering.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
}

/// An unpartitioned warehouse table with exactly `columns`, sorted by the columns `keys`.
fn read_table(dir: &Path, columns: &[(&str, DataType)], keys: &[usize]) -> Table {
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    let mut rows = Vec::new();
    for file in parquet_files(dir) {
        for batch in read_parquet(&file) {
            check_schema(&file.display().to_string(), &batch, columns);
            rows.extend(cells(&batch, &names));
        }
    }
    sort_rows(&mut rows, keys);
    Table { header: names.iter().map(|n| (*n).to_owned()).collect(), rows }
}

/// The columns of the fact table's files (settled detail 18), in the spec's order.
const SALES_COLUMNS: [(&str, DataType); 13] = [
    ("order_id", DataType::Utf8),
    ("customer_id", DataType::Utf8),
    ("product_id", DataType::Utf8),
    ("quantity", DataType::Int64),
    ("unit_price", DataType::Decimal128(10, 2)),
    ("order_date", DataType::Date32),
    ("total_amount", DataType::Decimal128(18, 2)),
    ("order_date_day", DataType::Int32),
    ("product_name", DataType::Utf8),
    ("category", DataType::Utf8),
    ("name", DataType::Utf8),
    ("email", DataType::Utf8),
    ("region", DataType::Utf8),
];

/// The fact table: `order_date_year` and `order_date_month` from each file's partition path
/// (`order_date_year=YYYY/order_date_month=M/`, settled detail 16), then the stored columns;
/// sorted by `order_id`.
fn read_sales(dir: &Path) -> Table {
    let names: Vec<&str> = SALES_COLUMNS.iter().map(|(name, _)| *name).collect();
    let mut rows = Vec::new();
    for file in parquet_files(dir) {
        let relative = file.strip_prefix(dir).expect("under the table");
        let parts: Vec<String> = relative.iter().map(|part| part.to_string_lossy().into_owned()).collect::<Vec<_>>();
        let [year, month, _file] = &parts[..] else {
            panic!("sales file {} is not under order_date_year=YYYY/order_date_month=M/", relative.display())
        };
        let value = |part: &str, key: &str| -> String {
            let value = part.strip_prefix(&format!("{key}=")).unwrap_or_else(|| panic!("{part}: expected {key}=..."));
            assert!(
                !value.starts_with('0') && value.bytes().all(|b| b.is_ascii_digit()),
                "partition {part}: an unpadded number"
            );
            value.to_owned()
        };
        let (year, month) = (value(year, "order_date_year"), value(month, "order_date_month"));
        for batch in read_parquet(&file) {
            check_schema(&file.display().to_string(), &batch, &SALES_COLUMNS);
            for row in cells(&batch, &names) {
                let mut full = vec![Some(year.clone()), Some(month.clone())];
                full.extend(row);
                rows.push(full);
            }
        }
    }
    sort_rows(&mut rows, &[2]);
    let mut header = vec!["order_date_year".to_owned(), "order_date_month".to_owned()];
    header.extend(names.iter().map(|n| (*n).to_owned()));
    Table { header, rows }
}

/// One run's quarantine of one source (settled details 16 and 21), sorted by line number.
fn read_quarantine(dir: &Path, columns: &[&str]) -> Table {
    let mut layout: Vec<(String, DataType)> = vec![
        ("source_file".into(), DataType::Utf8),
        ("line_number".into(), DataType::Int64),
        ("stage".into(), DataType::Utf8),
        ("reasons".into(), DataType::Utf8),
        ("message".into(), DataType::Utf8),
        ("raw_line".into(), DataType::Utf8),
    ];
    layout.extend(columns.iter().map(|c| (format!("{c}_raw"), DataType::Utf8)));
    let typed: Vec<(&str, DataType)> = layout.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
    let names: Vec<&str> = typed.iter().map(|(n, _)| *n).collect();
    let mut rows = Vec::new();
    for file in parquet_files(dir) {
        for batch in read_parquet(&file) {
            check_schema(&file.display().to_string(), &batch, &typed);
            rows.extend(cells(&batch, &names));
        }
    }
    rows.sort_by_key(|row| row[1].as_deref().and_then(|line| line.parse::<i64>().ok()));
    Table { header: names.iter().map(|n| (*n).to_owned()).collect(), rows }
}

/// The text form of the module documentation.
fn render(table: &Table) -> String {
    let mut out = String::new();
    let line = |cells: Vec<String>| cells.join(",") + "\n";
    out.push_str(&line(table.header.iter().map(|h| cell(Some(h))).collect()));
    for row in &table.rows {
        out.push_str(&line(row.iter().map(|value| cell(value.as_deref())).collect()));
    }
    out
}

fn cell(value: Option<&str>) -> String {
    let Some(value) = value else { return String::new() };
    let mut text = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => text.push_str("\\\\"),
            '\n' => text.push_str("\\n"),
            '\r' => text.push_str("\\r"),
            '\t' => text.push_str("\\t"),
            c if c.is_control() || (c.is_whitespace() && c != ' ') || c == '\u{feff}' => {
                let _ = write!(text, "\\u{{{:x}}}", u32::from(c));
            }
            c => text.push(c),
        }
    }
    if text.is_empty() || text.contains([',', '"']) || text.starts_with(' ') || text.ends_with(' ') {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn summary(dir: &Path, run_id: &str) -> Value {
    let path = dir.join("state").join("runs").join(run_id).join("summary.json");
    serde_json::from_slice(&fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .expect("summary is JSON")
}

fn stage<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .find(|s| s["stage"] == name)
        .unwrap_or_else(|| panic!("no stage {name} in the run summary"))
}

fn count(summary: &Value, name: &str, key: &str) -> u64 {
    stage(summary, name)[key].as_u64().unwrap_or_else(|| panic!("{name}.{key} in the run summary"))
}

fn metric(summary: &Value, name: &str, metric: &str) -> i64 {
    stage(summary, name)["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .find(|m| m["name"] == metric)
        .and_then(|m| m["value"].as_i64())
        .unwrap_or_else(|| panic!("no metric {metric} on stage {name}"))
}

/// One source's rows in a run: the stage that read them, the stages that quarantine them, where
/// they were quarantined and where the others ended up.
struct Source<'a> {
    name: &'static str,
    ingest: &'static str,
    stages: &'static [&'static str],
    quarantine: &'a Table,
    kept: &'a Table,
    kept_figure: &'static str,
}

/// The run's figures, as `expected/run_summary.csv` lists them; asserts on the way that each
/// source's rows are conserved and that the run summary agrees with the quarantine files.
fn figures(run: &Value, summary: &Value, sources: &[Source<'_>], daily: &Table, reports: &Path) -> String {
    let mut out = String::from("figure,value\n");
    let mut figure = |name: &str, value: String| {
        let _ = writeln!(out, "{name},{value}");
    };
    figure("run.status", run["status"].as_str().expect("status").to_owned());

    // Per source: raw rows = rows kept + rows quarantined by each stage, and each stage's
    // rejected count in the run summary is its rows in the quarantine.
    for &Source { name: source, ingest, stages, quarantine, kept, kept_figure: kept_name } in sources {
        let raw = count(summary, ingest, "rows_in");
        figure(&format!("{source}.raw_rows"), raw.to_string());
        let stage_column = quarantine.column("stage");
        let mut total = 0;
        for name in stages {
            let rows = quarantine.rows.iter().filter(|row| row[stage_column].as_deref() == Some(name)).count() as u64;
            assert_eq!(rows, count(summary, name, "rows_rejected"), "{name}: quarantined rows vs the run summary");
            figure(&format!("{source}.quarantined.{name}"), rows.to_string());
            total += rows;
        }
        assert_eq!(total, quarantine.rows.len() as u64, "{source}: quarantined by a stage not listed");
        let reasons = quarantine.column("reasons");
        assert!(
            quarantine.rows.iter().all(|row| row[reasons].as_deref().is_some_and(|r| !r.is_empty())),
            "{source}: a quarantined row without a reason"
        );
        figure(&format!("{source}.{kept_name}"), kept.rows.len().to_string());
        if source == "orders" {
            assert_eq!(kept.rows.len() as u64, count(summary, "transform_orders", "rows_out"), "fact rows");
            figure("orders.orphan_product", metric(summary, "transform_orders", "orphan_product").to_string());
            figure("orders.orphan_customer", metric(summary, "transform_orders", "orphan_customer").to_string());
            let rules = [
                "not_null(order_id)",
                "not_null(customer_id)",
                "not_null(product_id)",
                "not_null(order_date)",
                "in_range(quantity)",
                "in_range(unit_price)",
            ];
            let failed: Vec<&str> = quarantine
                .rows
                .iter()
                .filter(|row| row[stage_column].as_deref() == Some("validate_orders"))
                .flat_map(|row| row[reasons].as_deref().unwrap_or_default().split(';'))
                .collect();
            assert!(failed.iter().all(|rule| rules.contains(rule)), "unknown validation reasons: {failed:?}");
            for rule in rules {
                figure(&format!("orders.rule.{rule}"), failed.iter().filter(|r| **r == rule).count().to_string());
            }
        }
        assert_eq!(
            raw,
            kept.rows.len() as u64 + total,
            "{source}: raw rows = kept rows + quarantined rows (conservation)"
        );
    }

    let customer_report = fs::read_to_string(reports.join("customer_summary_report.csv")).expect("customer report");
    let report_sum = report_column_sum(&customer_report, 3);
    figure("sum.sales.total_amount", sum_cents(sources[0].kept, "total_amount"));
    figure("sum.sales_by_category_daily.total_amount_sum", sum_cents(daily, "total_amount_sum"));
    figure("sum.customer_summary_report.total_amount_sum", report_sum);
    out
}

/// The sum of a decimal(_, 2) column as rendered, exactly.
fn sum_cents(table: &Table, column: &str) -> String {
    let index = table.column(column);
    cents_text(table.rows.iter().filter_map(|row| row[index].as_deref()).map(cents).sum())
}

fn cents(text: &str) -> i128 {
    let (units, fraction) = text.split_once('.').unwrap_or_else(|| panic!("{text}: not a 2-place decimal"));
    assert_eq!(fraction.len(), 2, "{text}: not a 2-place decimal");
    let negative = units.starts_with('-');
    let value =
        units.trim_start_matches('-').parse::<i128>().expect("units") * 100 + fraction.parse::<i128>().expect("cents");
    if negative { -value } else { value }
}

fn cents_text(value: i128) -> String {
    let sign = if value < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", value.abs() / 100, value.abs() % 100)
}

/// The sum of field `index` of a report: the last fields of every record are plain numbers, so
/// a record's fields are counted from its end (its text keys may be quoted and hold line breaks).
fn report_column_sum(report: &str, index: usize) -> String {
    let mut records = Vec::new();
    let mut record = String::new();
    let mut quoted = false;
    for c in report.chars() {
        match c {
            '"' => quoted = !quoted,
            '\n' if !quoted => records.push(std::mem::take(&mut record)),
            _ => {}
        }
        if c != '\n' || quoted {
            record.push(c);
        }
    }
    let header: Vec<&str> = records[0].split(',').collect();
    let from_end = header.len() - index;
    cents_text(
        records[1..]
            .iter()
            .map(|record| {
                let fields: Vec<&str> = record.rsplitn(from_end + 1, ',').collect();
                cents(fields[from_end - 1])
            })
            .sum(),
    )
}

/// A line diff of `expected` and `actual`: `-` lines only expected, `+` lines only actual, with
/// the expected file's line numbers; lines shown escaped.
fn diff(expected: &str, actual: &str) -> String {
    let e: Vec<&str> = expected.split_inclusive('\n').collect();
    let a: Vec<&str> = actual.split_inclusive('\n').collect();
    let mut lcs = vec![vec![0usize; a.len() + 1]; e.len() + 1];
    for i in (0..e.len()).rev() {
        for j in (0..a.len()).rev() {
            lcs[i][j] = if e[i] == a[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let show = |line: &str| line.escape_debug().to_string();
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < e.len() || j < a.len() {
        if i < e.len() && j < a.len() && e[i] == a[j] {
            i += 1;
            j += 1;
        } else if i < e.len() && (j == a.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            let _ = writeln!(out, "-{:>5} {}", i + 1, show(e[i]));
            i += 1;
        } else {
            let _ = writeln!(out, "+      {}", show(a[j]));
            j += 1;
        }
    }
    out
}

#[test]
fn the_golden_diff_and_cells_render_as_documented() {
    assert_eq!(cell(None), "");
    assert_eq!(cell(Some("")), "\"\"");
    assert_eq!(cell(Some("a,b")), "\"a,b\"");
    assert_eq!(cell(Some("say \"hi\"")), "\"say \"\"hi\"\"\"");
    assert_eq!(cell(Some(" x")), "\" x\"");
    assert_eq!(cell(Some("a\r\nb\t\\")), "a\\r\\nb\\t\\\\");
    assert_eq!(cell(Some("\u{a0}x\u{3000}")), "\\u{a0}x\\u{3000}");
    assert_eq!(cell(Some("Électronique")), "Électronique");
    assert_eq!(diff("a\nb\nc\n", "a\nc\nd\n"), "-    2 b\\n\n+      d\\n\n");
    assert_eq!(report_column_sum("k,n,s,c\n\"x\ny\",,1.50,1\nz,\"a,b\",2.25,2\n", 2), "3.75");
}
