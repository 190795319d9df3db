//! Shared fixtures: where the built plugins are, one runtime per test binary, sample batches.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, OnceLock};

use arrow_array::{ArrayRef, Date32Array, Decimal128Array, Int64Array, RecordBatch, StringArray};
use host::runtime::{Plugin, Runtime, RuntimeOptions};

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
        Arc::new(runtime().load(&plugin_path(name)).unwrap_or_else(|e| panic!("loading {name}: {e}")))
    });
    Arc::clone(plugin)
}

/// Runs the `host` binary with the shared compile cache.
pub fn host(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_host"))
        .args(args)
        .env("ETL_CACHE_DIR", cache_dir())
        .env("RUST_LOG", "warn")
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
