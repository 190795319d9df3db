//! A load killed with SIGKILL at any point leaves every warehouse table whole: readers find the
//! previous version or the new one, table by table, never a mix, a half-written file or a staging
//! directory; and the next load completes and gives exactly the new version.
//!
//! Version 1 of the warehouse comes from one data set; a second, bigger data set's run leaves
//! its stage outputs in the run store, and `--only load_warehouse --resume RUN` loads them, which
//! makes version 2. Each trial puts version 1's tables back (leaving whatever hidden leftovers the
//! last kill made, for the next load to clean up), starts that load, waits for the host to log
//! that `load_warehouse` started, waits a seeded pseudo-random delay spread over the measured
//! duration of the stage, and kills the host. The assertions hold wherever the kill lands.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::{
    cache_dir, decimal_sum, ecommerce_args, files_under, generate_data, host, outcome, read_parquet, run_host, scratch,
    show, stage, summary,
};

const TABLES: [&str; 4] = ["sales", "customers", "products", "sales_by_category_daily"];
const TRIALS: u32 = 30;

/// One file of a table as a reader finds it.
#[derive(PartialEq)]
struct FileState {
    rows: usize,
    /// The sum of the table's money column (unscaled), 0 for a table without one.
    amount: i128,
    bytes: Vec<u8>,
}

impl fmt::Debug for FileState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} rows, amount {}, {} bytes", self.rows, self.amount, self.bytes.len())
    }
}

/// A table as a reader finds it: every file under its directory.
type TableState = BTreeMap<String, FileState>;

/// Reads table `table` under `warehouse` as a reader would: every file must be a visible
/// Parquet file that reads whole.
fn read_table(warehouse: &Path, table: &str) -> Result<TableState, String> {
    let amount_column = match table {
        "sales" => Some("total_amount"),
        "sales_by_category_daily" => Some("total_amount_sum"),
        "products" => Some("list_price"),
        _ => None,
    };
    let dir = warehouse.join(table);
    if !dir.is_dir() {
        return Err(format!("{} is missing", dir.display()));
    }
    let mut state = TableState::new();
    for (relative, path) in files_under(&dir) {
        if relative.split('/').any(|part| part.starts_with('.') || part.starts_with('_')) {
            return Err(format!("{table}/{relative}: a hidden entry inside the table"));
        }
        if !relative.ends_with(".parquet") {
            return Err(format!("{table}/{relative}: not a Parquet file"));
        }
        let (_, batches) = read_parquet(&path).map_err(|e| format!("{table}/{relative} does not read: {e}"))?;
        let rows = batches.iter().map(|b| b.num_rows()).sum();
        let amount = amount_column.map_or(0, |column| decimal_sum(&batches, column));
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        state.insert(relative, FileState { rows, amount, bytes });
    }
    if state.is_empty() {
        return Err(format!("{table} has no files"));
    }
    Ok(state)
}

fn read_warehouse(warehouse: &Path) -> BTreeMap<&'static str, TableState> {
    TABLES.iter().map(|&table| (table, read_table(warehouse, table).unwrap_or_else(|e| panic!("{e}")))).collect()
}

/// Every file of every quarantine run reads whole, with nothing hidden among them.
fn check_quarantine(quarantine: &Path) {
    for (relative, path) in files_under(quarantine) {
        let parts: Vec<&str> = relative.split('/').collect();
        if parts[0].starts_with('.') {
            continue; // a hidden staging entry beside the sources' directories, which readers glob
        }
        assert!(!parts.iter().any(|p| p.starts_with('.')), "quarantine/{relative}: a hidden entry readers can see");
        read_parquet(&path).unwrap_or_else(|e| panic!("quarantine/{relative} does not read: {e}"));
    }
}

/// Copies the directory tree `from` to `to`.
fn copy_tree(from: &Path, to: &Path) {
    for (relative, path) in files_under(from) {
        let target = to.join(&relative);
        std::fs::create_dir_all(target.parent().expect("a parent")).expect("create dir");
        std::fs::copy(&path, &target).expect("copy");
    }
}

/// A small deterministic generator (SplitMix64), so that every run of the test tries the same
/// delays.
struct SplitMix(u64);

impl SplitMix {
    fn next_unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[test]
fn a_load_killed_at_any_point_leaves_every_table_whole() {
    let started = Instant::now();
    let dir = scratch("crash");
    let (raw_v1, raw_v2) = (dir.join("raw-v1"), dir.join("raw-v2"));
    generate_data(&raw_v1, 10_000, 42);
    generate_data(&raw_v2, 20_000, 7);
    // Orders of 2022 in version 1 only: the second load keeps their partitions (hard-linked).
    let mut orders = std::fs::OpenOptions::new().append(true).open(raw_v1.join("orders.csv")).expect("orders.csv");
    for (n, date) in ["2022-06-15", "2022-07-01", "2022-07-20"].iter().enumerate() {
        writeln!(orders, "O2022-{n},C000036,P00032,{},19.99,{date}", n + 1).expect("append an order");
    }
    drop(orders);
    let warehouse = dir.join("warehouse");
    let set_warehouse = |args: &mut Vec<String>, path: &Path| {
        args.extend(["--set".to_owned(), format!("paths.warehouse={}", path.display())]);
    };

    // Version 1: the first data set, loaded into the warehouse.
    let output = run_host(&ecommerce_args(&raw_v1, &dir));
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let v1 = read_warehouse(&warehouse);
    let v1_copy = dir.join("warehouse-v1");
    for table in TABLES {
        copy_tree(&warehouse.join(table), &v1_copy.join(table));
    }

    // The second data set's stage outputs, loaded elsewhere.
    let mut args = ecommerce_args(&raw_v2, &dir);
    args.push("--json".to_owned());
    set_warehouse(&mut args, &dir.join("warehouse-elsewhere"));
    let output = run_host(&args);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let v2_run = outcome(&output)["run_id"].as_str().expect("run id").to_owned();
    let fact_rows = stage(&summary(&dir.join("state"), &v2_run), "transform_orders")["rows_out"].as_u64();

    // Version 2: loading those outputs over version 1, once uninterrupted, in a copy.
    let mut load = ecommerce_args(&raw_v2, &dir);
    load.extend(["--only", "load_warehouse", "--resume", &v2_run, "--json"].map(str::to_owned));
    let reference = dir.join("warehouse-v2");
    copy_tree(&v1_copy, &reference);
    let mut reference_load = load.clone();
    set_warehouse(&mut reference_load, &reference);
    let output = run_host(&reference_load);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let reference_run = outcome(&output)["run_id"].as_str().expect("run id").to_owned();
    let load_seconds = stage(&summary(&dir.join("state"), &reference_run), "load_warehouse")["duration_seconds"]
        .as_f64()
        .expect("the load's duration");
    let v2 = read_warehouse(&reference);
    for table in TABLES {
        assert_ne!(v1[table], v2[table], "table {table} is the same in both versions: the test would prove nothing");
    }
    let kept: Vec<&String> = v2["sales"].keys().filter(|path| path.starts_with("order_date_year=2022/")).collect();
    assert_eq!(kept.len(), 2, "the 2022 partitions of version 1 are kept: {kept:?}");
    for path in kept {
        assert_eq!(v2["sales"][path], v1["sales"][path], "{path}");
    }
    let kept_rows = 3;
    assert_eq!(v2["sales"].values().map(|f| f.rows as u64).sum::<u64>(), fact_rows.expect("fact rows") + kept_rows);

    // The trials: kill the load somewhere in [0, 2 × its duration) after it started.
    let mut delays = SplitMix(0x5eed_c4a5);
    let mut seen: BTreeMap<&str, [u32; 2]> = TABLES.iter().map(|&t| (t, [0, 0])).collect();
    let mut completed = 0;
    for trial in 0..TRIALS {
        for table in TABLES {
            std::fs::remove_dir_all(warehouse.join(table)).expect("remove table");
            copy_tree(&v1_copy.join(table), &warehouse.join(table));
        }
        let delay = Duration::from_secs_f64(load_seconds * 2.0 * delays.next_unit());
        let mut child = Command::new(env!("CARGO_BIN_EXE_host"))
            .args(&load)
            .env("ETL_CACHE_DIR", cache_dir())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("host starts");
        let stderr = child.stderr.take().expect("stderr");
        let (started_tx, started_rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("stage started") && line.contains("load_warehouse") {
                    let _ = started_tx.send(());
                }
                lines.push(line);
            }
            lines
        });
        let signalled = started_rx.recv_timeout(Duration::from_secs(60));
        if signalled.is_ok() {
            std::thread::sleep(delay);
        }
        let _ = child.kill(); // SIGKILL
        let status = child.wait().expect("wait for the host");
        let log = reader.join().expect("stderr reader").join("\n");
        assert!(signalled.is_ok(), "trial {trial}: load_warehouse never started ({status}):\n{log}");
        completed += u32::from(status.success());

        for table in TABLES {
            let found = read_table(&warehouse, table)
                .unwrap_or_else(|e| panic!("trial {trial} (killed {delay:?} into the load): {e}"));
            let version = if found == v1[table] {
                0
            } else if found == v2[table] {
                1
            } else {
                panic!(
                    "trial {trial} (killed {delay:?} into the load): table {table} is neither version:\n\
                     found {found:#?}\nversion 1 {:#?}\nversion 2 {:#?}",
                    v1[table], v2[table]
                );
            };
            seen.get_mut(table).expect("a table")[version] += 1;
        }
        check_quarantine(&dir.join("quarantine"));
    }
    eprintln!(
        "{TRIALS} kills over {load_seconds:.3}s × 2 ({completed} runs had finished): \
         tables found at (version 1, version 2): {seen:?}"
    );

    // The next load completes and leaves exactly version 2, and no leftovers.
    let mut final_load = load.clone();
    set_warehouse(&mut final_load, &warehouse);
    let output = run_host(&final_load);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    assert_eq!(read_warehouse(&warehouse), v2);
    let mut left: Vec<String> = std::fs::read_dir(&warehouse)
        .expect("warehouse")
        .map(|entry| entry.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    left.sort();
    let mut expected: Vec<String> = TABLES.iter().flat_map(|t| [t.to_string(), format!(".{t}.lock")]).collect();
    expected.sort();
    assert_eq!(left, expected, "leftovers in the warehouse after a completed load");
    check_quarantine(&dir.join("quarantine"));

    // The killed runs' records don't stay `running`: the next run marked them failed.
    let state = dir.join("state");
    let runs =
        host(&["runs", "list", "--state-dir", state.to_str().expect("utf-8"), "--limit", "1000", "--json"], "warn");
    let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).expect("runs list --json");
    let runs = runs.as_array().expect("runs");
    let still_running: Vec<&serde_json::Value> = runs.iter().filter(|r| r["status"] == "running").collect();
    assert!(still_running.is_empty(), "runs left running after a later run: {still_running:?}");
    eprintln!("crash test took {:.1}s", started.elapsed().as_secs_f64());
}
