//! `host plugin new`, as a team writing its own stages uses it: a Rust and a Python plugin
//! scaffolded outside this repository, built with the command their README gives, tested natively
//! and with `host plugin test`, wired into the e-commerce pipeline as two more warehouse tables,
//! run; then changed, rebuilt and run again by the same host binary, which records the new
//! behaviour and the new builds' digests and versions.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow_array::cast::AsArray;
use arrow_array::types::Decimal128Type;
use arrow_array::{Array, RecordBatch};
use serde_json::Value;
use serde_norway::Value as Yaml;

use crate::common::{
    ecommerce_args, files_under, generate_data, host, outcome, read_parquet, root, run_host, show, stage, summary,
};

/// A directory outside the repository, emptied: the plugin projects live there, as a team's own
/// repositories would.
fn outside_the_repo(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("etl-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let dir = dir.canonicalize().expect("canonical temp dir");
    assert!(!dir.starts_with(root()), "{} is inside the repository", dir.display());
    dir
}

/// Runs `program args` in `dir`, asserting it succeeds.
fn run_in(dir: &Path, program: &str, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(program);
    command.args(args).current_dir(dir);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(output.status.success(), "{program} {args:?} in {}:\n{}", dir.display(), show(&output));
    output
}

/// Where the Rust project builds: a target directory of this repository's, so that a second
/// `cargo test` reuses the compiled dependencies (the project does not know; its README's command
/// is what runs).
fn rust_target() -> PathBuf {
    root().join("target").join("plugin-new")
}

/// The e-commerce pipeline plus two stages of the scaffolded plugins, each loading a table of the
/// orders it keeps: `high_value_orders` (Python: total_amount above 500.00) and `premium_orders`
/// (Rust: unit_price above 400.00).
fn pipeline_with(dir: &Path, python: &Path, rust: &Path) -> PathBuf {
    let file = root().join("config/ecommerce.yaml");
    let mut pipeline: Yaml = serde_norway::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let stages = pipeline["stages"].as_sequence_mut().expect("stages");
    let load = stages.iter().position(|s| s["name"] == "load_warehouse").expect("load_warehouse");
    let sales_columns = stages[load]["warehouse"].as_sequence().expect("warehouse tables")[0]["columns"].clone();
    let filter = |name: &str, plugin: &Path, column: &str, min: &str| -> Yaml {
        serde_norway::from_str(&format!(
            "{{name: {name}, plugin: '{}', inputs: {{input: transform_orders}}, config: {{column: {column}, min: '{min}'}}}}",
            plugin.display()
        ))
        .unwrap()
    };
    stages.insert(load, filter("premium", rust, "unit_price", "400.00"));
    stages.insert(load, filter("high_value", python, "total_amount", "500.00"));
    let load = load + 2;
    let tables = stages[load]["warehouse"].as_sequence_mut().expect("warehouse tables");
    for (table, input) in [("high_value_orders", "high_value.output"), ("premium_orders", "premium.output")] {
        let mut entry: Yaml =
            serde_norway::from_str(&format!("{{table: {table}, input: {input}, mode: replace, sort_by: [order_id]}}"))
                .unwrap();
        entry["columns"] = sales_columns.clone();
        tables.push(entry);
    }
    let out = dir.join("pipeline");
    std::fs::create_dir_all(out.join("environments")).unwrap();
    for env in ["development", "production"] {
        let name = format!("environments/{env}.yaml");
        std::fs::copy(root().join("config").join(&name), out.join(&name)).unwrap();
    }
    std::fs::write(out.join("ecommerce.yaml"), serde_norway::to_string(&pipeline).unwrap()).unwrap();
    out.join("ecommerce.yaml")
}

/// Every row of a warehouse table, from all its Parquet files.
fn table(warehouse: &Path, name: &str) -> Vec<RecordBatch> {
    let files = files_under(&warehouse.join(name));
    let parquet: Vec<&PathBuf> = files.iter().filter(|(f, _)| f.ends_with(".parquet")).map(|(_, p)| p).collect();
    assert!(!parquet.is_empty(), "no Parquet files for {name}: {files:?}");
    parquet.into_iter().flat_map(|p| read_parquet(p).unwrap().1).collect()
}

/// The order ids of `batches` whose decimal `column` satisfies `keep` (on its unscaled value).
fn orders_where(batches: &[RecordBatch], column: &str, keep: impl Fn(i128) -> bool) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for batch in batches {
        let values = batch.column_by_name(column).unwrap().as_primitive::<Decimal128Type>();
        let order_ids = batch.column_by_name("order_id").unwrap().as_string::<i32>();
        for i in 0..batch.num_rows() {
            if values.is_valid(i) && keep(values.value(i)) {
                ids.insert(order_ids.value(i).to_owned());
            }
        }
    }
    ids
}

/// What `host plugin inspect --json` says of a component.
fn inspect(component: &Path) -> Value {
    let output = host(&["plugin", "inspect", component.to_str().unwrap(), "--json"], "warn");
    assert!(output.status.success(), "{}", show(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Runs the pipeline, returns the run's stage records for the two plugins.
fn run_pipeline(pipeline: &Path, raw: &Path, out: &Path) -> (Value, Value) {
    let mut args = ecommerce_args(raw, out);
    args[2] = pipeline.display().to_string();
    args.push("--json".into());
    let output = run_host(&args);
    assert!(output.status.success(), "{}", show(&output));
    let run = summary(&out.join("state"), outcome(&output)["run_id"].as_str().unwrap());
    (stage(&run, "high_value").clone(), stage(&run, "premium").clone())
}

fn assert_recorded(stage: &Value, component: &Path, version: &str) {
    let inspected = inspect(component);
    assert_eq!(stage["status"], "success", "{stage}");
    assert_eq!(stage["plugin_sha256"], inspected["sha256"], "{stage}");
    assert_eq!(stage["plugin_path"], component.display().to_string(), "{stage}");
    assert_eq!(stage["plugin_version"], version, "{stage}");
}

/// Replaces `from` by `to` in `file`, which must contain it.
fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{} has no {from:?}", file.display());
    std::fs::write(file, text.replace(from, to)).unwrap();
}

#[test]
fn scaffolded_plugins_build_test_run_in_the_pipeline_and_swap_without_rebuilding_the_host() {
    let dir = outside_the_repo("plugin-new");
    let (rust, python) = (dir.join("premium"), dir.join("high-value"));
    for (name, lang, project) in [("premium", "rust", &rust), ("high-value", "python", &python)] {
        let output = host(&["plugin", "new", name, "--lang", lang, "--dir", project.to_str().unwrap()], "warn");
        assert!(output.status.success(), "{}", show(&output));
    }
    // Nothing but the generated files, and no marker left in them.
    for project in [&rust, &python] {
        for (file, path) in files_under(project) {
            assert!(!std::fs::read_to_string(path).unwrap().contains("{{"), "{file} keeps a template marker");
        }
    }

    // Built with the commands their READMEs give, and their native tests pass.
    let target = rust_target();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let build = |project: &Path| {
        run_in(project, &cargo, &["build", "--release", "--target", "wasm32-wasip2"], &[("CARGO_TARGET_DIR", &target)])
    };
    build(&rust);
    run_in(&rust, &cargo, &["test"], &[("CARGO_TARGET_DIR", &target)]);
    assert!(
        std::fs::read_to_string(rust.join("README.md"))
            .unwrap()
            .contains("cargo build --release --target wasm32-wasip2")
    );
    run_in(&python, "./build.sh", &[], &[]);
    run_in(&python, "./test.sh", &["-q"], &[]);
    let rust_wasm = target.join("wasm32-wasip2/release/premium.wasm");
    let python_wasm = python.join("high_value.wasm");

    // `host plugin test` on a CSV in the real sandbox.
    std::fs::write(dir.join("orders.csv"), "order_id,amount\no-1,500.00\no-2,500.01\no-3,\no-4,999.99\no-5,-3.00\n")
        .unwrap();
    for component in [&rust_wasm, &python_wasm] {
        let csv = format!("input={}:order_id text,amount decimal(18,2)", dir.join("orders.csv").display());
        let args = [
            "plugin",
            "test",
            component.to_str().unwrap(),
            "--input",
            &csv,
            "--config",
            r#"{"column": "amount", "min": "500.00"}"#,
            "--json",
        ];
        let output = host(&args, "warn");
        assert!(output.status.success(), "{}", show(&output));
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(report["outputs"], serde_json::json!([["output", 2]]), "{report}");
        assert_eq!(report["metrics"], serde_json::json!([["rows_kept", 2]]), "{report}");
    }

    // In the e-commerce pipeline: the tables hold exactly the orders above each minimum.
    let raw = dir.join("raw");
    generate_data(&raw, 2_000, 42);
    let pipeline = pipeline_with(&dir, &python_wasm, &rust_wasm);
    let first = dir.join("first");
    let (high_value, premium) = run_pipeline(&pipeline, &raw, &first);
    assert_recorded(&high_value, &python_wasm, "0.1.0");
    assert_recorded(&premium, &rust_wasm, "0.1.0");
    let sales = table(&first.join("warehouse"), "sales");
    let above_500 = orders_where(&sales, "total_amount", |cents| cents > 50_000);
    let above_400 = orders_where(&sales, "unit_price", |cents| cents > 40_000);
    assert!(!above_500.is_empty() && !above_400.is_empty() && above_500.len() < 2_000);
    assert_eq!(
        orders_where(&table(&first.join("warehouse"), "high_value_orders"), "total_amount", |_| true),
        above_500
    );
    assert_eq!(orders_where(&table(&first.join("warehouse"), "premium_orders"), "unit_price", |_| true), above_400);

    // A new version of each, rebuilt the same way; the same host binary runs them.
    let (old_rust, old_python) = (inspect(&rust_wasm)["sha256"].clone(), inspect(&python_wasm)["sha256"].clone());
    edit(&rust.join("Cargo.toml"), "version = \"0.1.0\"", "version = \"0.2.0\"");
    edit(&rust.join("src/lib.rs"), "v > self.config.min", "v <= self.config.min");
    edit(&python.join("app.py"), "version = \"0.1.0\"", "version = \"0.2.0\"");
    edit(&python.join("app.py"), "value > self.min", "value <= self.min");
    build(&rust);
    run_in(&python, "./build.sh", &[], &[]);
    let second = dir.join("second");
    let (high_value, premium) = run_pipeline(&pipeline, &raw, &second);
    assert_recorded(&high_value, &python_wasm, "0.2.0");
    assert_recorded(&premium, &rust_wasm, "0.2.0");
    assert_ne!(high_value["plugin_sha256"], old_python);
    assert_ne!(premium["plugin_sha256"], old_rust);
    let at_most_500 = orders_where(&sales, "total_amount", |cents| cents <= 50_000);
    let at_most_400 = orders_where(&sales, "unit_price", |cents| cents <= 40_000);
    assert_eq!(
        orders_where(&table(&second.join("warehouse"), "high_value_orders"), "total_amount", |_| true),
        at_most_500
    );
    assert_eq!(orders_where(&table(&second.join("warehouse"), "premium_orders"), "unit_price", |_| true), at_most_400);

    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn plugin_new_refuses_bad_names_and_a_directory_in_use() {
    let dir = outside_the_repo("plugin-new-refusals");
    for (name, message) in [("High", "is not valid"), ("a/b", "is not valid"), ("test", "is reserved")] {
        let output = host(&["plugin", "new", name, "--dir", dir.join("x").to_str().unwrap()], "warn");
        assert_eq!(output.status.code(), Some(3), "{}", show(&output));
        assert!(String::from_utf8_lossy(&output.stderr).contains(message), "{}", show(&output));
    }
    std::fs::write(dir.join("keep.txt"), "mine").unwrap();
    let output = host(&["plugin", "new", "fine", "--dir", dir.to_str().unwrap()], "warn");
    assert_eq!(output.status.code(), Some(3), "{}", show(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("exists and is not empty"), "{}", show(&output));
    assert_eq!(std::fs::read_to_string(dir.join("keep.txt")).unwrap(), "mine");
    let output = host(
        &["plugin", "new", "fine", "--dir", dir.join("p").to_str().unwrap(), "--sdk", dir.to_str().unwrap()],
        "warn",
    );
    assert_eq!(output.status.code(), Some(3), "{}", show(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no plugins/sdk/Cargo.toml there"), "{}", show(&output));
    assert!(!dir.join("p").exists(), "a refused scaffold leaves nothing behind");
    let _ = std::fs::remove_dir_all(&dir);
}
