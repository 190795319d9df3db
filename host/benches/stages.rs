//! Per-stage throughput of the e-commerce pipeline, sandboxed vs native (`just bench-stages`).
//!
//! Generates `--rows` sample orders (with their customers and products) with `sample_data`,
//! ingests them natively the way the pipeline does (its `batch_rows`), then runs every plugin
//! stage of `config/ecommerce.yaml` on its real upstream output, in pipeline order, with the
//! stage's `config:` block and limits as the host's own plan of that file has them:
//!
//! - native: the plugin crate's `Stage` under `etl_sdk::testing::Harness`, timed from `open`
//!   (config parsed from JSON) through one `push` per batch to `finish` (metrics read, the stage's
//!   state dropped). Batches are handed over as Arrow arrays: no IPC at all.
//! - wasm: the built `.wasm` through `host::runtime`, as `run_data_stage` drives it, timed from
//!   `Plugin::open` (a fresh store and instance with the stage's limits) through one `push` per
//!   batch, `finish` and `metrics` to dropping the instance. That includes the host encoding every
//!   input batch as Arrow IPC, the copies into and out of the guest, the guest decoding its input
//!   and encoding its output, and the host decoding and fully validating what comes back.
//!
//! Neither includes reading or writing the artifact files between stages, nor loading the plugin
//! (compiled once per digest and cached; its load time is printed). Every stage's outputs (every
//! port, every value) and metrics must agree between the two runs, or the bench stops. Each
//! stage's inputs are the native run's outputs of its upstream stages.
//!
//! To show where the wasm time goes (the tax, wasm - native), the bench also
//!
//! - reads the time spent inside guest calls (`InstanceStats::guest_time`); the rest is the host's;
//! - sends the stage's inputs, and separately its outputs, there and back through identity.wasm
//!   (the `just bench` plugin): the sandbox boundary on the same batches with no work, whose half
//!   sum estimates the boundary's share of the tax; the remainder is the stage's own work in wasm;
//! - times, natively, the IPC work the boundary implies on the same batches: encoding the inputs
//!   (host), decoding them without validation (guest), encoding the outputs (guest), decoding them
//!   with validation (host), and copying both into fresh buffers.
//!
//! `cargo bench -p host --bench stages -- --rows 1000000 --reps 5 [--seed 42] [--json]`

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use etl_sdk::Stage;
use etl_sdk::testing::{Harness, Run};
use host::config::{Source, StageKind};
use host::ingest::{IngestError, IngestOptions};
use host::runtime::{InstanceStats, Limits, Output, Plugin, StageError};
use host::state::thousands;
use serde_json::json;

#[allow(dead_code)]
#[path = "../../tests/e2e/common.rs"]
mod common;
#[allow(dead_code)]
mod support;

use support::{Args, mb, median_of, ms};

/// The plugins of `config/ecommerce.yaml`, each also a dev-dependency for its native run.
const PLUGINS: [&str; 4] = ["validate", "cleanse", "enrich", "aggregate"];

/// Batches per output port.
type Ports = BTreeMap<String, Vec<RecordBatch>>;
/// Input ports in delivery order, with their batches.
type Inputs = [(String, Vec<RecordBatch>)];
type NativeRun = fn(&str, &Inputs) -> etl_sdk::Result<(Duration, Run)>;

fn main() {
    let args = Args::from_env();
    let rows = args.number("--rows", 1_000_000);
    let reps = args.number("--reps", 5).max(1);
    let seed = args.number("--seed", 42);
    let json = args.flag("--json");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for plugin in PLUGINS {
        common::plugin_path(plugin);
    }

    let data = common::scratch("bench-stages");
    let started = Instant::now();
    let spec = sample_data::SampleSpec { orders: rows as u64, seed: seed as u64 };
    let summary = sample_data::generate(&spec, &data).expect("sample data is generated");
    eprintln!(
        "generated {} orders, {} customers, {} products in {:.0} ms",
        thousands(summary.orders),
        thousands(summary.customers),
        thousands(summary.products),
        ms(started.elapsed())
    );

    // The pipeline as the host plans it, reading the generated data and the built plugins.
    let pipeline = common::root().join("config").join("ecommerce.yaml");
    let set = [format!("paths.raw_data={}", data.display()), format!("plugin_dir={}", common::plugin_dir().display())];
    let source = Source { path: &pipeline, env: "development", env_required: false, set: &set, unset: &[] };
    let loaded = host::config::load(&source).unwrap_or_else(|e| panic!("{e}"));
    let plan = host::config::plan(&loaded.file, &pipeline, common::runtime()).unwrap_or_else(|e| panic!("{e}"));

    let mut outputs: Vec<Ports> = vec![Ports::new(); plan.stages.len()];
    let mut batch_rows = 0;
    for &s in &plan.order {
        let stage = &plan.stages[s];
        let StageKind::Ingest { path, schema, batch_rows: per_batch, .. } = &stage.kind else { continue };
        batch_rows = *per_batch;
        let mut options = IngestOptions::new(stage.name.clone());
        options.batch_rows = *per_batch;
        let ports = &mut outputs[s];
        let started = Instant::now();
        let stats = host::ingest::ingest(path, schema, &options, |batch| -> Result<(), IngestError> {
            for (port, batch) in [("out", batch.valid), ("rejected", batch.rejected)] {
                if batch.num_rows() > 0 {
                    ports.entry(port.to_owned()).or_default().push(batch);
                }
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{}: {e}", stage.name));
        eprintln!(
            "{}: {} rows ({} valid, {} rejected) in {:.0} ms",
            stage.name,
            thousands(stats.rows_read),
            thousands(stats.rows_valid),
            thousands(stats.rows_rejected),
            ms(started.elapsed())
        );
    }

    // The boundary alone: the same batches through identity.wasm.
    let identity =
        common::runtime().load(&common::plugin_path("identity"), &Default::default()).expect("identity.wasm loads");
    let mut results: Vec<(usize, StageResult)> = Vec::new();
    for &s in &plan.order {
        let stage = &plan.stages[s];
        let StageKind::Plugin { plugin, config, limits, inputs } = &stage.kind else { continue };
        eprintln!(
            "{}: plugin {} ({}, loaded in {:.1} ms), {reps} reps ...",
            stage.name,
            plugin.label(),
            match plugin.compile_source() {
                host::runtime::CompileSource::Cache => "from the compile cache",
                host::runtime::CompileSource::Compiled => "compiled",
            },
            ms(plugin.load_time())
        );
        let inputs: Vec<(String, Vec<RecordBatch>)> = inputs
            .iter()
            .map(|(port, up)| (port.clone(), outputs[up.stage].get(&up.port).cloned().unwrap_or_default()))
            .collect();
        let (result, kept) = bench_stage(&stage.name, plugin, config, limits, &inputs, &identity, reps);
        outputs[s] = kept;
        results.push((s, result));
    }
    results.sort_by_key(|(s, _)| *s);
    let results: Vec<StageResult> = results.into_iter().map(|(_, r)| r).collect();

    if json {
        let report = json!({
            "rows": rows,
            "seed": seed,
            "reps": reps,
            "batch_rows": batch_rows,
            "cores": cores,
            "stages": results.iter().map(StageResult::to_json).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&report).expect("serializable"));
    } else {
        print_tables(&results, rows, seed, reps, batch_rows, cores);
    }
}

/// What one stage measured.
#[derive(Debug)]
struct StageResult {
    stage: String,
    plugin: String,
    rows_in: Vec<(String, usize)>,
    rows_out: Vec<(String, usize)>,
    /// Arrow IPC bytes that crossed the boundary, and the guest calls, in one wasm run.
    stats: InstanceStats,
    native: Vec<Duration>,
    wasm: Vec<Duration>,
    guest: Vec<Duration>,
    /// identity.wasm on the stage's inputs, and on its outputs.
    identity_in: Vec<Duration>,
    identity_out: Vec<Duration>,
    codec: Vec<Codec>,
}

/// The IPC work the boundary implies, timed natively on the stage's own batches.
#[derive(Debug, Clone, Copy, Default)]
struct Codec {
    /// Host: each input batch to an IPC stream (into a reused buffer, as the host does).
    encode_in: Duration,
    /// Host ↔ guest: copying the input streams in and the output streams out.
    copy: Duration,
    /// Guest: decoding the input streams without validation.
    decode_in: Duration,
    /// Guest: encoding each emitted batch.
    encode_out: Duration,
    /// Host: decoding and fully validating the returned streams.
    decode_out: Duration,
}

/// Medians of the samples of one stage, in milliseconds.
#[derive(Debug)]
struct Medians {
    native: f64,
    wasm: f64,
    guest: f64,
    host: f64,
    identity_in: f64,
    identity_out: f64,
    encode_in: f64,
    copy: f64,
    decode_in: f64,
    encode_out: f64,
    decode_out: f64,
}

impl Medians {
    /// What the sandbox adds to the native time.
    fn tax(&self) -> f64 {
        self.wasm - self.native
    }

    /// The boundary's share of the tax: identity.wasm carries the inputs in and back out, and the
    /// outputs in and back out; a stage carries its inputs in and its outputs out, half of each.
    fn boundary(&self) -> f64 {
        (self.identity_in + self.identity_out) / 2.0
    }

    /// The rest of the tax: the stage's own work (and its memory) running in wasm.
    fn excess(&self) -> f64 {
        self.tax() - self.boundary()
    }
}

impl StageResult {
    fn rows_in_total(&self) -> usize {
        self.rows_in.iter().map(|(_, r)| r).sum()
    }

    fn medians(&self) -> Medians {
        let codec = |f: fn(&Codec) -> Duration| ms(median_of(self.codec.iter().map(f).collect()));
        Medians {
            native: ms(median_of(self.native.clone())),
            wasm: ms(median_of(self.wasm.clone())),
            guest: ms(median_of(self.guest.clone())),
            host: ms(median_of(self.wasm.iter().zip(&self.guest).map(|(w, g)| w.saturating_sub(*g)).collect())),
            identity_in: ms(median_of(self.identity_in.clone())),
            identity_out: ms(median_of(self.identity_out.clone())),
            encode_in: codec(|c| c.encode_in),
            copy: codec(|c| c.copy),
            decode_in: codec(|c| c.decode_in),
            encode_out: codec(|c| c.encode_out),
            decode_out: codec(|c| c.decode_out),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        let m = self.medians();
        let rows = self.rows_in_total() as f64;
        let samples = |times: &[Duration]| times.iter().map(|t| round(ms(*t))).collect::<Vec<_>>();
        json!({
            "stage": self.stage,
            "plugin": self.plugin,
            "rows_in": self.rows_in.iter().cloned().collect::<BTreeMap<_, _>>(),
            "rows_in_total": self.rows_in_total(),
            "rows_out": self.rows_out.iter().cloned().collect::<BTreeMap<_, _>>(),
            "native_ms": round(m.native),
            "wasm_ms": round(m.wasm),
            "native_rows_per_s": (rows / m.native * 1e3).round() as u64,
            "wasm_rows_per_s": (rows / m.wasm * 1e3).round() as u64,
            "wasm_native_ratio": round(m.wasm / m.native),
            "tax_ms": round(m.tax()),
            "wasm_breakdown_ms": {
                "guest": round(m.guest),
                "host": round(m.host),
                "guest_calls": self.stats.calls,
                "ipc_bytes_in": self.stats.bytes_in,
                "ipc_bytes_out": self.stats.bytes_out,
            },
            "boundary_ms": {
                "identity_on_inputs": round(m.identity_in),
                "identity_on_outputs": round(m.identity_out),
                "estimate": round(m.boundary()),
            },
            "excess_ms": round(m.excess()),
            "logic_slowdown": round((m.native + m.excess()) / m.native),
            "native_ipc_ms": {
                "encode_in": round(m.encode_in),
                "copy": round(m.copy),
                "decode_in": round(m.decode_in),
                "encode_out": round(m.encode_out),
                "decode_out_validated": round(m.decode_out),
            },
            "samples_ms": { "native": samples(&self.native), "wasm": samples(&self.wasm), "guest": samples(&self.guest) },
            "outputs_checked": "every port's rows and values, and the metrics, equal between wasm and native",
        })
    }
}

/// Runs one stage `reps` times natively and in the sandbox, alternating, checks the first runs
/// agree, times the boundary alone (identity.wasm) and its IPC work (natively) on the same batches,
/// and returns the measurements and the native outputs.
fn bench_stage(
    stage: &str,
    plugin: &Plugin,
    config: &str,
    limits: &Limits,
    inputs: &Inputs,
    identity: &Plugin,
    reps: usize,
) -> (StageResult, Ports) {
    let plugin_name = plugin.info().name.clone();
    let native = native_runner(&plugin_name);
    let mut result = StageResult {
        stage: stage.to_owned(),
        plugin: plugin.label().to_owned(),
        rows_in: inputs.iter().map(|(port, b)| (port.clone(), b.iter().map(RecordBatch::num_rows).sum())).collect(),
        rows_out: Vec::new(),
        stats: InstanceStats::default(),
        native: Vec::new(),
        wasm: Vec::new(),
        guest: Vec::new(),
        identity_in: Vec::new(),
        identity_out: Vec::new(),
        codec: Vec::new(),
    };
    let mut kept = Ports::new();
    for rep in 0..reps {
        let (time, run) = native(config, inputs).unwrap_or_else(|e| panic!("{stage}: native run failed: {e}"));
        result.native.push(time);
        let wasm = wasm_run(plugin, stage, config, limits, inputs).unwrap_or_else(|e| panic!("wasm run failed: {e}"));
        result.wasm.push(wasm.time);
        result.guest.push(wasm.stats.guest_time);
        if rep == 0 {
            check_same(stage, &run, &wasm);
            result.stats = wasm.stats;
            result.rows_out = run.outputs.keys().map(|port| (port.clone(), run.rows(port))).collect();
            kept = run.outputs;
        }
        result.identity_in.push(identity_run(identity, limits, inputs.iter().map(|(_, b)| b)));
        result.identity_out.push(identity_run(identity, limits, kept.values()));
        result.codec.push(codec(inputs, &kept));
    }
    let m = result.medians();
    eprintln!("  native {:.1} ms, wasm {:.1} ms ({:.2}x)", m.native, m.wasm, m.wasm / m.native);
    (result, kept)
}

fn native_runner(plugin: &str) -> NativeRun {
    match plugin {
        "validate" => native::<validate::Validate>,
        "cleanse" => native::<cleanse::Cleanse>,
        "enrich" => native::<enrich::Enrich>,
        "aggregate" => native::<aggregate::Aggregate>,
        other => panic!("plugin `{other}` has no native build here: add its crate to host's dev-dependencies"),
    }
}

/// One native run of `S`, as `etl_sdk::testing` drives it: open on the JSON config, one push per
/// batch, port by port, then finish.
fn native<S: Stage>(config: &str, inputs: &Inputs) -> etl_sdk::Result<(Duration, Run)> {
    let started = Instant::now();
    let mut harness = Harness::<S>::open(config)?;
    for (port, batches) in inputs {
        for batch in batches {
            harness.push(port, batch.clone())?;
        }
    }
    let run = harness.finish()?;
    Ok((started.elapsed(), run))
}

/// One sandboxed run, as `run_data_stage` drives a plugin stage (without the artifact files).
#[derive(Debug)]
struct WasmRun {
    time: Duration,
    outputs: Ports,
    metrics: Vec<(String, i64)>,
    stats: InstanceStats,
}

fn wasm_run(
    plugin: &Plugin,
    stage: &str,
    config: &str,
    limits: &Limits,
    inputs: &Inputs,
) -> Result<WasmRun, StageError> {
    let started = Instant::now();
    let mut instance = plugin.open(stage, config, limits)?;
    let mut outputs = Ports::new();
    let mut keep = |emitted: Vec<Output>| {
        for output in emitted {
            outputs.entry(output.port).or_default().extend(output.batches);
        }
    };
    for (port, batches) in inputs {
        for batch in batches {
            keep(instance.push(port, batch)?);
        }
    }
    keep(instance.finish()?);
    let metrics = instance.metrics()?;
    let stats = instance.stats();
    drop(instance);
    Ok(WasmRun { time: started.elapsed(), outputs, metrics, stats })
}

/// The batches of each port there and back through identity.wasm, one instance per port (a port
/// keeps one schema), timed like [`wasm_run`]: the sandbox boundary without a stage's work.
fn identity_run<'a>(identity: &Plugin, limits: &Limits, ports: impl Iterator<Item = &'a Vec<RecordBatch>>) -> Duration {
    // The guest's encoder reserves `get_array_memory_size()` of what it emits, which for a batch
    // decoded zero-copy from one IPC stream counts the whole stream once per array buffer: echoing
    // a 53 MB enrich output batch asks for 1.5 GiB, over the default 1 GiB. The reservation is
    // never touched, so allow what wasm32 can address rather than fail on it.
    let limits = Limits { memory_bytes: 4 << 30, ..limits.clone() };
    let mut returned: Vec<Output> = Vec::new();
    let started = Instant::now();
    for batches in ports.filter(|b| !b.is_empty()) {
        let mut instance = identity.open("identity", "{}", &limits).expect("identity opens");
        let mut rows = 0;
        for batch in batches {
            let outputs = instance.push("in", batch).expect("identity takes the batch");
            rows += outputs.iter().map(Output::rows).sum::<usize>();
            returned.extend(outputs);
        }
        instance.finish().expect("identity finishes");
        assert_eq!(rows, batches.iter().map(RecordBatch::num_rows).sum::<usize>(), "identity returns every row");
    }
    let time = started.elapsed();
    drop(returned);
    time
}

/// Stops the bench unless both runs emitted the same rows and values on every port and the same
/// metrics: a broken run is never timed.
fn check_same(stage: &str, native: &Run, wasm: &WasmRun) {
    let ports: BTreeSet<&String> = native.outputs.keys().chain(wasm.outputs.keys()).collect();
    for port in ports {
        let theirs = wasm.outputs.get(port).map(Vec::as_slice).unwrap_or_default();
        if let Err(problem) = same_rows(native.batches(port), theirs) {
            panic!("{stage}: output `{port}` differs between wasm and native: {problem}");
        }
    }
    let metrics: Vec<(String, i64)> = native.metrics.iter().map(|m| (m.name.clone(), m.value)).collect();
    assert_eq!(metrics, wasm.metrics, "{stage}: metrics differ between native (left) and wasm (right)");
}

/// Whether two batch lists hold the same columns and values, however the rows are split in batches.
fn same_rows(a: &[RecordBatch], b: &[RecordBatch]) -> Result<(), String> {
    let rows = |batches: &[RecordBatch]| batches.iter().map(RecordBatch::num_rows).sum::<usize>();
    if rows(a) != rows(b) {
        return Err(format!("{} rows natively, {} in wasm", rows(a), rows(b)));
    }
    let (mut i, mut j, mut at_a, mut at_b, mut row) = (0, 0, 0, 0, 0);
    while i < a.len() && j < b.len() {
        let (x, y) = (&a[i], &b[j]);
        if !etl_format::ipc::same_columns(&x.schema(), &y.schema()) {
            let describe = |batch: &RecordBatch| etl_format::ipc::describe_columns(&batch.schema());
            return Err(format!("columns {} natively, {} in wasm", describe(x), describe(y)));
        }
        let len = (x.num_rows() - at_a).min(y.num_rows() - at_b);
        for (k, (p, q)) in x.columns().iter().zip(y.columns()).enumerate() {
            if p.slice(at_a, len) != q.slice(at_b, len) {
                return Err(format!("column `{}` differs in rows {row}..{}", x.schema().field(k).name(), row + len));
            }
        }
        (at_a, at_b, row) = (at_a + len, at_b + len, row + len);
        if at_a == x.num_rows() {
            (i, at_a) = (i + 1, 0);
        }
        if at_b == y.num_rows() {
            (j, at_b) = (j + 1, 0);
        }
    }
    Ok(())
}

/// Times, natively, the IPC work one sandboxed run of the stage does on these batches.
fn codec(inputs: &Inputs, outputs: &Ports) -> Codec {
    let mut codec = Codec::default();
    let mut scratch = Vec::new();
    for batch in inputs.iter().flat_map(|(_, batches)| batches) {
        let started = Instant::now();
        etl_format::ipc::encode_into(&mut scratch, &batch.schema(), [batch]).expect("input encodes");
        codec.encode_in += started.elapsed();
        let started = Instant::now();
        let bytes = scratch.clone();
        codec.copy += started.elapsed();
        let started = Instant::now();
        // SAFETY: `bytes` was encoded just above from valid arrays, as the host's pushes are.
        let decoded = unsafe { etl_format::ipc::decode_trusted(bytes) }.expect("input decodes");
        codec.decode_in += started.elapsed();
        drop(decoded);
    }
    for batch in outputs.values().flatten() {
        let started = Instant::now();
        let bytes = etl_format::ipc::encode(&batch.schema(), [batch]).expect("output encodes");
        codec.encode_out += started.elapsed();
        let started = Instant::now();
        let copied = bytes.clone();
        codec.copy += started.elapsed();
        drop(bytes);
        let started = Instant::now();
        let decoded = etl_format::ipc::decode(copied).expect("output decodes");
        codec.decode_out += started.elapsed();
        drop(decoded);
    }
    codec
}

fn print_tables(results: &[StageResult], rows: usize, seed: usize, reps: usize, batch_rows: usize, cores: usize) {
    println!(
        "per-stage throughput, wasm vs native: {} orders (seed {seed}), batches of {} rows, median of {reps}, \
         {cores} cores",
        thousands(rows as u64),
        thousands(batch_rows as u64)
    );
    println!();
    println!(
        "{:<20} {:>10} {:>10} {:>10} {:>13} {:>13} {:>11}  outputs (rows per port, checked equal)",
        "stage", "rows in", "native ms", "wasm ms", "native rows/s", "wasm rows/s", "wasm/native"
    );
    for r in results {
        let m = r.medians();
        let rows_in = r.rows_in_total() as f64;
        let outputs: Vec<String> =
            r.rows_out.iter().map(|(port, n)| format!("{port} {}", thousands(*n as u64))).collect();
        println!(
            "{:<20} {:>10} {:>10.1} {:>10.1} {:>13} {:>13} {:>10.2}x  {}",
            r.stage,
            thousands(r.rows_in_total() as u64),
            m.native,
            m.wasm,
            thousands((rows_in / m.native * 1e3) as u64),
            thousands((rows_in / m.wasm * 1e3) as u64),
            m.wasm / m.native,
            outputs.join(", ")
        );
    }
    println!(
        "  rows in: every input port (transform_orders: its lookups + in). native: the Stage under\n  \
         etl_sdk::testing::Harness, no IPC. wasm: host::runtime open/push/finish/metrics with the stage's limits,\n  \
         IPC both ways included. Neither: artifact files, plugin load."
    );
    println!();
    println!("where the wasm tax (wasm - native) goes, ms, medians:");
    println!(
        "{:<20} {:>8} | {:>8} {:>8} | {:>8} {:>8} {:>8} | {:>8} {:>7} | {:>8} {:>8}",
        "stage", "tax", "host", "guest", "id in", "id out", "boundary", "excess", "logic", "MB in", "MB out"
    );
    for r in results {
        let m = r.medians();
        println!(
            "{:<20} {:>8.1} | {:>8.1} {:>8.1} | {:>8.1} {:>8.1} {:>8.1} | {:>8.1} {:>6.2}x | {:>8.1} {:>8.1}",
            r.stage,
            m.tax(),
            m.host,
            m.guest,
            m.identity_in,
            m.identity_out,
            m.boundary(),
            m.excess(),
            (m.native + m.excess()) / m.native,
            mb(r.stats.bytes_in as usize),
            mb(r.stats.bytes_out as usize)
        );
    }
    println!(
        "  host / guest: the wasm time outside guest calls (instantiate, encode inputs, decode + validate outputs,\n  \
         drop the store) and inside them (the stage's work, decoding, encoding, copies across the boundary).\n  \
         id in / id out: the stage's inputs / outputs there and back through identity.wasm (the boundary with\n  \
         no work); boundary = (id in + id out) / 2, as a stage carries its inputs in and its outputs out.\n  \
         excess = tax - boundary: the stage's own work run in wasm; logic = (native + excess) / native.\n  \
         MB in / out: Arrow IPC bytes pushed to / returned by the stage."
    );
    println!();
    println!("the boundary's IPC work timed natively on the same batches (ms, medians):");
    println!(
        "{:<20} {:>12} {:>12} {:>12} {:>12} {:>14}",
        "stage", "host enc in", "guest dec in", "guest enc out", "host dec out", "copies in+out"
    );
    for r in results {
        let m = r.medians();
        println!(
            "{:<20} {:>12.1} {:>12.1} {:>12.1} {:>12.1} {:>14.1}",
            r.stage, m.encode_in, m.decode_in, m.encode_out, m.decode_out, m.copy
        );
    }
    println!(
        "  host dec out validates every buffer; guest dec in does not. copies: into a fresh buffer, as into a\n  \
         fresh guest memory."
    );
}

/// Two decimals, for JSON.
fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
