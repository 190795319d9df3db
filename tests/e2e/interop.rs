//! The warehouse as another engine reads it: `tests/interop/duckdb_check.py` reads the tables
//! with DuckDB (`read_parquet(..., hive_partitioning = true)`, no other option), and its counts,
//! sums and column types must agree with what the parquet crate reads.
//!
//! The Python interpreter is `$ETL_PYTHON`, else `target/py-interop/bin/python` (made by
//! `just interop-env`, which `just test` runs first). Without either the test fails when `CI` is
//! set, and otherwise says loudly that it skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use arrow_array::cast::AsArray;
use arrow_array::types::Date32Type;
use arrow_array::{Date32Array, RecordBatch};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::DataType;
use host::config::{Source, TableColumn, load};
use serde_json::{Value, json};

use crate::common::{
    decimal_sum, decimal_text, ecommerce_args, files_under, generate_data, read_parquet, root, run_host, scratch, show,
};

/// The interpreter with DuckDB installed, or `None` (after saying so) when the test should skip.
fn python() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ETL_PYTHON") {
        let path = PathBuf::from(path);
        assert!(path.exists(), "ETL_PYTHON={} does not exist", path.display());
        return Some(path);
    }
    let venv = root().join("target/py-interop/bin/python");
    if venv.exists() {
        return Some(venv);
    }
    let missing = format!(
        "no Python with DuckDB: {} is missing and ETL_PYTHON is not set; run `just interop-env`",
        venv.display()
    );
    assert!(std::env::var_os("CI").is_none(), "{missing} (CI is set, so this is a failure)");
    eprintln!("\n{bar}\nSKIPPED the DuckDB interoperability test: {missing}\n{bar}\n", bar = "!".repeat(100));
    None
}

/// The name DuckDB gives a column of Arrow type `data_type`, for the types the warehouse stores.
fn duckdb_type(data_type: &DataType) -> String {
    match data_type {
        DataType::Utf8 => "VARCHAR".to_owned(),
        DataType::Int64 => "BIGINT".to_owned(),
        DataType::Int32 => "INTEGER".to_owned(),
        DataType::Date32 => "DATE".to_owned(),
        DataType::Decimal128(precision, scale) => format!("DECIMAL({precision},{scale})"),
        other => panic!("the warehouse stores no {other} column"),
    }
}

/// A warehouse table as `config/ecommerce.yaml` declares it: its typed columns, its partitions.
struct Declared {
    columns: Vec<(String, DataType)>,
    partition_by: Vec<String>,
}

/// The tables `config/ecommerce.yaml` declares, by name: the spec's (settled details 18-20).
fn declared_tables() -> BTreeMap<String, Declared> {
    let path = root().join("config/ecommerce.yaml");
    let loaded =
        load(&Source { path: &path, env: "development", env_required: false, set: &[], unset: &[] }).expect("loads");
    let tables = loaded.file.stages.iter().filter_map(|stage| stage.warehouse.as_ref()).flatten();
    tables
        .map(|table| {
            let columns = table.columns.as_ref().expect("ecommerce.yaml declares every table's columns");
            let columns = columns
                .iter()
                .map(|column| match column {
                    TableColumn::Typed(typed) => {
                        (typed.name.clone(), host::types::parse_type(&typed.ty).expect("a known type"))
                    }
                    TableColumn::Name(name) => panic!("ecommerce.yaml declares no type for {}.{name}", table.table),
                })
                .collect();
            (table.table.clone(), Declared { columns, partition_by: table.partition_by.clone() })
        })
        .collect()
}

/// Every batch of every Parquet file under `dir`, with the schema stored in them (checked to be
/// the declared one) and each file's path relative to `dir`.
fn read_table(dir: &Path, spec: &Declared) -> Vec<(String, Vec<RecordBatch>)> {
    let files = files_under(dir);
    assert!(!files.is_empty(), "{} has no files", dir.display());
    let expected: Vec<(&str, &DataType)> =
        spec.columns.iter().map(|(name, data_type)| (name.as_str(), data_type)).collect();
    files
        .into_iter()
        .map(|(relative, path)| {
            let (schema, batches) = read_parquet(&path).unwrap_or_else(|e| panic!("{e}"));
            let found: Vec<(&str, &DataType)> =
                schema.fields().iter().map(|f| (f.name().as_str(), f.data_type())).collect();
            assert_eq!(found, expected, "{}: the stored columns are not the spec's", path.display());
            (relative, batches)
        })
        .collect()
}

/// `order_date_year=2024/order_date_month=3/part-00000.parquet` → `(2024, 3)`.
fn partition_of(relative: &str) -> (i64, i64) {
    let value = |part: &str, column: &str| -> i64 {
        part.strip_prefix(column)
            .and_then(|rest| rest.strip_prefix('='))
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("{relative} is not under {column}=N"))
    };
    let parts: Vec<&str> = relative.split('/').collect();
    assert_eq!(parts.len(), 3, "{relative}");
    (value(parts[0], "order_date_year"), value(parts[1], "order_date_month"))
}

fn date_text(days: i32) -> String {
    let array = Date32Array::from(vec![days]);
    ArrayFormatter::try_new(&array, &FormatOptions::default()).expect("a date").value(0).to_string()
}

fn integer_sum(batches: &[RecordBatch], column: &str) -> i128 {
    let mut sum = 0;
    for batch in batches {
        let values = batch.column_by_name(column).unwrap_or_else(|| panic!("no column {column}"));
        sum += values.as_primitive::<arrow_array::types::Int64Type>().iter().flatten().map(i128::from).sum::<i128>();
    }
    sum
}

#[test]
fn duckdb_reads_the_warehouse_as_the_parquet_crate_does() {
    let Some(python) = python() else { return };
    let dir = scratch("interop");
    let raw = dir.join("raw");
    generate_data(&raw, 5000, 42);
    let output = run_host(&ecommerce_args(&raw, &dir));
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));

    let warehouse = dir.join("warehouse");
    let script = root().join("tests/interop/duckdb_check.py");
    let duck = Command::new(&python).arg(&script).arg(&warehouse).output().expect("python runs");
    assert!(duck.status.success(), "{} {}: {}", python.display(), script.display(), show(&duck));
    let duck: Value = serde_json::from_slice(&duck.stdout).expect("the script prints JSON");
    eprintln!("DuckDB {} read the warehouse", duck["duckdb_version"]);

    // The fact table: rows, total, dates, and each partition's rows and total.
    let tables = declared_tables();
    assert_eq!(tables.keys().collect::<Vec<_>>(), ["customers", "products", "sales", "sales_by_category_daily"]);
    let sales = read_table(&warehouse.join("sales"), &tables["sales"]);
    let mut partitions: BTreeMap<(i64, i64), (usize, i128)> = BTreeMap::new();
    let (mut first, mut last) = (i32::MAX, i32::MIN);
    for (relative, batches) in &sales {
        let entry = partitions.entry(partition_of(relative)).or_default();
        entry.0 += batches.iter().map(RecordBatch::num_rows).sum::<usize>();
        entry.1 += decimal_sum(batches, "total_amount");
        for batch in batches {
            let dates = batch.column_by_name("order_date").expect("order_date").as_primitive::<Date32Type>();
            for day in dates.iter().flatten() {
                (first, last) = (first.min(day), last.max(day));
            }
        }
    }
    let rows: usize = partitions.values().map(|p| p.0).sum();
    let total: i128 = partitions.values().map(|p| p.1).sum();
    let d = &duck["sales"];
    assert!(rows > 4000, "{rows} fact rows");
    assert_eq!(d["rows"], json!(rows), "fact rows");
    assert_eq!(d["total_amount_sum"], json!(decimal_text(total, 2)), "sum(total_amount)");
    assert_eq!((&d["min_order_date"], &d["max_order_date"]), (&json!(date_text(first)), &json!(date_text(last))));
    assert_eq!(d["distinct_partitions"], json!(partitions.len()));
    let expected: Vec<Value> = partitions
        .iter()
        .map(|(&(year, month), &(rows, total))| {
            json!({"year": year, "month": month, "rows": rows, "total_amount_sum": decimal_text(total, 2)})
        })
        .collect();
    assert_eq!(d["partitions"], json!(expected), "per-partition rows and totals");

    // Column types: decimals stay decimals, dates are DATE, the partition columns integers.
    let types = d["types"].as_object().expect("types");
    let spec = &tables["sales"];
    for (column, data_type) in &spec.columns {
        assert_eq!(types.get(column), Some(&json!(duckdb_type(data_type))), "sales.{column}: {types:?}");
    }
    assert_eq!(types["total_amount"], "DECIMAL(18,2)");
    assert_eq!(types["order_date"], "DATE");
    for column in &spec.partition_by {
        let found = types.get(column).and_then(Value::as_str).unwrap_or_default();
        assert!(
            ["BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT"].contains(&found),
            "sales.{column} is {found:?}"
        );
    }
    assert_eq!(types.len(), spec.columns.len() + spec.partition_by.len(), "{types:?}");

    // The other tables: rows, exact sums, types.
    let sums: [(&str, &[&str]); 3] = [
        ("customers", &[]),
        ("products", &["list_price"]),
        ("sales_by_category_daily", &["total_amount_sum", "total_amount_count", "quantity_sum"]),
    ];
    for (table, columns) in sums {
        let spec = &tables[table];
        let batches: Vec<RecordBatch> =
            read_table(&warehouse.join(table), spec).into_iter().flat_map(|(_, batches)| batches).collect();
        let d = &duck[table];
        assert_eq!(d["rows"], json!(batches.iter().map(RecordBatch::num_rows).sum::<usize>()), "{table} rows");
        for column in columns {
            let expected = match spec.columns.iter().find(|(name, _)| name == column).map(|(_, t)| t) {
                Some(DataType::Decimal128(_, scale)) => decimal_text(decimal_sum(&batches, column), *scale as u32),
                _ => integer_sum(&batches, column).to_string(),
            };
            assert_eq!(d["sums"][*column], json!(expected), "sum({table}.{column})");
        }
        let expected: serde_json::Map<String, Value> =
            spec.columns.iter().map(|(name, data_type)| (name.clone(), json!(duckdb_type(data_type)))).collect();
        let found: serde_json::Map<String, Value> = d["types"].as_object().expect("types").clone();
        assert_eq!(found, expected, "{table} column types");
    }
}
