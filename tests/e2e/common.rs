//! Shared fixtures: where the built plugins are, one runtime per test binary, sample batches.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, OnceLock};

use arrow_array::cast::AsArray;
use arrow_array::types::Decimal128Type;
use arrow_array::{ArrayRef, Date32Array, Decimal128Array, Int64Array, RecordBatch, StringArray};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::SchemaRef;
use host::runtime::{Plugin, Runtime, RuntimeOptions};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("host/ has a parent").to_owned()
}

/// Where `just build-plugins` puts the components.
pub fn plugin_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    target.join("wasm32-wasip2").join("plugin")
}

/// The path of the built plugin `name` (crate name, dashes allowed).
pub fn plugin_path(name: &str) -> PathBuf {
    let path = plugin_dir().join(format!("{}.wasm", name.replace('-', "_")));
    assert!(path.exists(), "{} is missing: run `just build-plugins` first", path.display());
    path
}

/// A scratch directory under `target/`, emptied for the test that asks for it.
pub fn scratch(name: &str) -> PathBuf {
    let dir = root().join("target").join("e2e-scratch").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// The compile cache shared by every test (compiling a plugin takes seconds).
pub fn cache_dir() -> PathBuf {
    root().join("target").join("e2e-cache")
}

/// One runtime for the whole test binary, as in the real host.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Runtime::new(RuntimeOptions { cache_dir: Some(cache_dir()), ..Default::default() }).expect("runtime starts")
    })
}

/// Loads plugin `name` once per test binary.
pub fn plugin(name: &str) -> Arc<Plugin> {
    static PLUGINS: OnceLock<std::sync::Mutex<std::collections::HashMap<String, Arc<Plugin>>>> = OnceLock::new();
    let plugins = PLUGINS.get_or_init(Default::default);
    let mut plugins = plugins.lock().expect("no test panicked while loading");
    let plugin = plugins.entry(name.to_owned()).or_insert_with(|| {
        Arc::new(
            runtime().load(&plugin_path(name), &Default::default()).unwrap_or_else(|e| panic!("loading {name}: {e}")),
        )
    });
    Arc::clone(plugin)
}

/// Runs the `host` binary with the shared compile cache, logging at `rust_log` (a `RUST_LOG`
/// filter: `"warn"` for most tests, `"info"` where a test reads the run's log).
pub fn host(args: &[&str], rust_log: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_host"))
        .args(args)
        .env("ETL_CACHE_DIR", cache_dir())
        .env("RUST_LOG", rust_log)
        .output()
        .expect("host runs")
}

/// A small order-shaped batch: the column types of the e-commerce spec.
pub fn orders(rows: usize) -> RecordBatch {
    let ids: Vec<String> = (0..rows).map(|i| format!("ORD-{i:08}")).collect();
    let customers: Vec<Option<String>> =
        (0..rows).map(|i| (i % 17 != 0).then(|| format!("CUST-{:05}", i % 997))).collect();
    let products: Vec<String> = (0..rows).map(|i| format!("PROD-{:04}", i % 61)).collect();
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("order_id", Arc::new(StringArray::from(ids))),
        ("customer_id", Arc::new(StringArray::from(customers))),
        ("product_id", Arc::new(StringArray::from(products))),
        ("quantity", Arc::new(Int64Array::from_iter_values((0..rows as i64).map(|i| i % 20 + 1)))),
        (
            "unit_price",
            Arc::new(
                Decimal128Array::from_iter_values((0..rows as i128).map(|i| 199 + i * 7 % 100_000))
                    .with_precision_and_scale(10, 2)
                    .expect("valid decimal type"),
            ),
        ),
        ("order_date", Arc::new(Date32Array::from_iter_values((0..rows as i32).map(|i| 19_358 + i % 731)))),
    ];
    RecordBatch::try_from_iter(columns).expect("valid batch")
}

/// `host`'s stdout and stderr, for assertion messages.
pub fn show(output: &Output) -> String {
    format!(
        "status: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `host run` of `config/ecommerce.yaml` reading the CSV files in `raw` and writing everything
/// under `out` (`warehouse`, `quarantine`, `reports`, `state`), with the built plugins. Add
/// `--set` arguments to override one of them (the last one wins).
pub fn ecommerce_args(raw: &Path, out: &Path) -> Vec<String> {
    let mut args =
        vec!["run".to_owned(), "--pipeline".to_owned(), root().join("config/ecommerce.yaml").display().to_string()];
    args.extend(["--set".to_owned(), format!("paths.raw_data={}", raw.display())]);
    for key in ["warehouse", "quarantine", "reports", "state"] {
        args.extend(["--set".to_owned(), format!("paths.{key}={}", out.join(key).display())]);
    }
    args.extend(["--set".to_owned(), format!("plugin_dir={}", plugin_dir().display())]);
    args
}

/// Writes the deterministic sample data set of `orders` orders and `seed` into `raw`.
pub fn generate_data(raw: &Path, orders: u64, seed: u64) {
    let (orders, seed) = (orders.to_string(), seed.to_string());
    let output =
        host(&["generate-data", "--orders", &orders, "--seed", &seed, "--out", raw.to_str().expect("utf-8")], "warn");
    assert!(output.status.success(), "{}", show(&output));
}

/// Generates sample data into `dir/raw` and returns the `--set` arguments that point the
/// e-commerce pipeline at `dir`.
pub fn ecommerce_in(dir: &Path, orders: &str) -> Vec<String> {
    generate_data(&dir.join("raw"), orders.parse().expect("a number of orders"), 42);
    ecommerce_args(&dir.join("raw"), dir).split_off(3)
}

/// Runs the `host` binary (see [`host`]) with owned arguments.
pub fn run_host(args: &[String]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    host(&args, "warn")
}

/// A run's `summary.json`.
pub fn summary(state: &Path, run_id: &str) -> Value {
    let path = state.join("runs").join(run_id).join("summary.json");
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .expect("summary is JSON")
}

/// Stage `name` of a run's summary.
pub fn stage<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .find(|s| s["stage"] == name)
        .unwrap_or_else(|| panic!("no stage {name} in {summary}"))
}

/// What `host run --json` printed.
pub fn outcome(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("--json output: {e}\n{}", show(output)))
}

/// Every file under `dir` by its path relative to `dir` (`/`-separated), hidden ones included;
/// none if `dir` doesn't exist.
pub fn files_under(dir: &Path) -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, PathBuf>) {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => panic!("{}: {e}", dir.display()),
        };
        for entry in entries {
            let entry = entry.expect("directory entry");
            let name = entry.file_name().into_string().expect("a UTF-8 file name");
            let relative = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
            if entry.file_type().expect("file type").is_dir() {
                walk(&entry.path(), &relative, out);
            } else {
                out.insert(relative, entry.path());
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(dir, "", &mut files);
    files
}

/// A Parquet file read with the parquet crate: the Arrow schema stored in it and its rows.
pub fn read_parquet(path: &Path) -> Result<(SchemaRef, Vec<RecordBatch>), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| format!("{}: {e}", path.display()))?;
    let schema = reader.schema().clone();
    let batches = reader.build().map_err(|e| format!("{}: {e}", path.display()))?;
    let batches = batches.collect::<Result<Vec<_>, _>>().map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((schema, batches))
}

/// Every row of `batches` as one line of text: the cells as Arrow displays them, `|`-separated,
/// null as `∅`.
pub fn row_texts(batches: &[RecordBatch]) -> Vec<String> {
    let options = FormatOptions::default().with_null("∅");
    let mut rows = Vec::new();
    for batch in batches {
        let formatters: Vec<ArrayFormatter<'_>> = batch
            .columns()
            .iter()
            .map(|column| ArrayFormatter::try_new(column.as_ref(), &options).expect("a displayable column"))
            .collect();
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = formatters.iter().map(|f| f.value(row).to_string()).collect();
            rows.push(cells.join("|"));
        }
    }
    rows
}

/// The sum of the decimal column `column` over `batches` (unscaled; nulls count 0).
pub fn decimal_sum(batches: &[RecordBatch], column: &str) -> i128 {
    batches
        .iter()
        .map(|batch| {
            let values = batch.column_by_name(column).unwrap_or_else(|| panic!("no column {column}"));
            values.as_primitive::<Decimal128Type>().iter().flatten().sum::<i128>()
        })
        .sum()
}

/// An unscaled decimal as text with `scale` digits after the point: `(-5, 2)` → `-0.05`.
pub fn decimal_text(value: i128, scale: u32) -> String {
    let unit = 10u128.pow(scale);
    let sign = if value < 0 { "-" } else { "" };
    let (whole, fraction) = (value.unsigned_abs() / unit, value.unsigned_abs() % unit);
    format!("{sign}{whole}.{fraction:0width$}", width = scale as usize)
}

/// Writes `raw/items.csv` (`csv`) under `dir` and a pipeline file named `name` whose paths all lie
/// in `dir`, with the built plugins, the `defaults` given (a YAML flow mapping's inside), and an
/// `ingest_items` stage (`id` text, `n` int64) followed by `stages` (YAML list items). Returns the
/// pipeline file.
pub fn items_pipeline(dir: &Path, name: &str, csv: &str, defaults: &str, stages: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("raw")).expect("raw dir");
    std::fs::write(dir.join("raw/items.csv"), csv).expect("csv");
    let file = dir.join("pipeline.yaml");
    let text = format!(
        r#"pipeline: {name}
paths: {{raw_data: {d}/raw, warehouse: {d}/wh, quarantine: {d}/q, reports: {d}/r, state: {d}/state}}
plugin_dir: {plugins}
defaults: {{{defaults}}}
stages:
  - name: ingest_items
    ingest:
      file: items.csv
      columns: [{{name: id, type: text}}, {{name: n, type: int64}}]
{stages}"#,
        d = dir.display(),
        plugins = plugin_dir().display()
    );
    std::fs::write(&file, text).expect("write pipeline");
    file
}
