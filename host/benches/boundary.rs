//! The sandbox boundary benchmark (`just bench`): order-shaped batches through the `identity`
//! plugin in the sandbox and through the same `Stage` natively, plus plugin load times.
//!
//! `cargo bench -p host --bench boundary -- --rows 1000000 --batches 8`

use std::time::Instant;

use arrow_array::RecordBatch;
use host::runtime::{Limits, Runtime, RuntimeOptions};

#[allow(dead_code)]
#[path = "../../tests/e2e/common.rs"]
mod common;
#[allow(dead_code)]
mod support;

use support::{Args, mb, median, ms};

fn main() {
    let args = Args::from_env();
    let rows = args.number("--rows", 1_000_000);
    let batches = args.number("--batches", 8);
    let repeats = args.number("--repeats", 5);

    let batch = common::orders(rows);
    let bytes = batch.get_array_memory_size();
    println!(
        "boundary benchmark: {batches} batches of {rows} order rows ({:.1} MB each), median of {repeats}",
        mb(bytes)
    );

    load_times();
    let runtime = Runtime::new(RuntimeOptions { cache_dir: Some(common::cache_dir()), ..Default::default() })
        .expect("runtime starts");
    let plugin = runtime.load(&common::plugin_path("identity"), &Default::default()).expect("identity loads");

    let native = median(repeats, || {
        let started = Instant::now();
        let mut harness = etl_sdk::testing::Harness::<identity::Identity>::open("{}").expect("opens");
        for _ in 0..batches {
            harness.push("in", batch.clone()).expect("push");
        }
        let run = harness.finish().expect("finish");
        assert_eq!(run.rows("out"), rows * batches);
        started.elapsed()
    });
    let limits = Limits::default();
    let wasm = median(repeats, || {
        let started = Instant::now();
        let mut stage = plugin.open("identity", "{}", &limits).expect("opens");
        let mut out = 0;
        for _ in 0..batches {
            out += stage.push("in", &batch).expect("push").iter().map(|o| o.rows()).sum::<usize>();
        }
        stage.finish().expect("finish");
        assert_eq!(out, rows * batches);
        started.elapsed()
    });
    let dispatch = median(repeats * 20, || {
        let tiny: RecordBatch = common::orders(1);
        let started = Instant::now();
        let mut stage = plugin.open("identity", "{}", &limits).expect("opens");
        stage.push("in", &tiny).expect("push");
        stage.finish().expect("finish");
        started.elapsed()
    });

    let total_rows = (rows * batches) as f64;
    let total_bytes = (bytes * batches) as f64;
    println!("{:<8} {:>12} {:>14} {:>12}", "", "time", "rows/s", "MB/s");
    for (name, time) in [("native", native), ("wasm", wasm)] {
        let secs = time.as_secs_f64();
        println!("{name:<8} {:>10.1}ms {:>14.0} {:>12.0}", secs * 1e3, total_rows / secs, total_bytes / secs / 1e6);
    }
    // Natively the identity stage only clones `Arc`s, so the ratio is all boundary: encoding into
    // IPC, the copy into the guest, decoding there, encoding the output, the copy out, and the
    // host's full validation of what came back.
    println!("wasm/native ratio: {:.0}x (identity does no work natively)", wasm.as_secs_f64() / native.as_secs_f64());
    println!(
        "sandbox cost per {rows}-row batch: {:.2} ms",
        (wasm.as_secs_f64() - native.as_secs_f64()) * 1e3 / batches as f64
    );
    println!("stage dispatch (open + 1-row push + finish): {:.3} ms", dispatch.as_secs_f64() * 1e3);
}

/// First compile (empty cache) vs load from a warm compile cache, in fresh runtimes.
fn load_times() {
    let dir = common::scratch("bench-cache");
    let path = common::plugin_path("identity");
    let runtime =
        || Runtime::new(RuntimeOptions { cache_dir: Some(dir.clone()), ..Default::default() }).expect("runtime");
    let cold = {
        let plugin = runtime().load(&path, &Default::default()).expect("identity compiles");
        plugin.load_time()
    };
    let warm = median(9, || runtime().load(&path, &Default::default()).expect("identity loads from cache").load_time());
    println!("plugin load: first compile {:.0} ms, warm compile cache {:.2} ms", ms(cold), ms(warm));
}
