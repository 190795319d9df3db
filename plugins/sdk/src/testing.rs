//! A native test harness: runs a [`Stage`] in plain `cargo test` exactly as the host drives it in
//! the sandbox (config as JSON, inputs port by port in declared order, outputs checked against the
//! declared ports and for one schema per port), without a wasm toolchain; [`batch`] builds the
//! inputs.
//!
//! ```
//! # use etl_sdk::{Emitter, Info, Result, Stage};
//! # use etl_sdk::arrow::array::{ArrayRef, Int64Array, RecordBatch};
//! # use std::sync::Arc;
//! # struct Echo;
//! # impl Stage for Echo {
//! #     type Config = etl_sdk::NoConfig;
//! #     fn info() -> Info { Info::new("echo", "0.1.0", "").input("in", "").output("out", "") }
//! #     fn open(_: Self::Config) -> Result<Self> { Ok(Echo) }
//! #     fn push(&mut self, _: &str, b: RecordBatch, out: &mut Emitter) -> Result<()> { out.emit("out", b); Ok(()) }
//! # }
//! let batch = etl_sdk::testing::batch([("n", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef)]);
//! let run = etl_sdk::testing::run::<Echo>("{}", [("in", vec![batch])])?;
//! assert_eq!(run.rows("out"), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;

use crate::driver::Driver;
use crate::log::Level;
use crate::{Error, Metric, Result, Stage};

/// Everything one native run of a stage produced.
#[derive(Debug, Default)]
pub struct Run {
    /// Batches per output port, in emission order.
    pub outputs: BTreeMap<String, Vec<RecordBatch>>,
    pub metrics: Vec<Metric>,
    /// What the stage logged through [`crate::log`].
    pub logs: Vec<(Level, String)>,
}

impl Run {
    /// The batches emitted on `port` (none if it emitted nothing).
    pub fn batches(&self, port: &str) -> &[RecordBatch] {
        self.outputs.get(port).map(Vec::as_slice).unwrap_or_default()
    }

    /// Rows emitted on `port`.
    pub fn rows(&self, port: &str) -> usize {
        self.batches(port).iter().map(RecordBatch::num_rows).sum()
    }

    /// The output of `port` as a table, for comparing in tests.
    pub fn pretty(&self, port: &str) -> String {
        match arrow_cast::pretty::pretty_format_batches(self.batches(port)) {
            Ok(table) => table.to_string(),
            Err(e) => format!("<cannot format port `{port}`: {e}>"),
        }
    }

    /// The value of metric `name`, if the stage reported it.
    pub fn metric(&self, name: &str) -> Option<i64> {
        self.metrics.iter().find(|m| m.name == name).map(|m| m.value)
    }
}

/// A batch of `columns` (name, array) in that order, for building a stage's inputs in tests:
/// `batch(vec![("id", ids), ("_line", lines)])`.
///
/// # Panics
///
/// If Arrow refuses the columns (arrays of different lengths, no columns at all).
#[track_caller]
pub fn batch<'a>(columns: impl IntoIterator<Item = (&'a str, ArrayRef)>) -> RecordBatch {
    match RecordBatch::try_from_iter(columns) {
        Ok(batch) => batch,
        Err(e) => panic!("cannot build the test batch: {e}"),
    }
}

/// Opens stage `S` with `config` (JSON), feeds it `inputs` the way the host does (ports in the
/// order the opened stage lists them, whatever order they are given in here; one push per batch),
/// finishes it and returns what it emitted.
pub fn run<'a, S: Stage>(config: &str, inputs: impl IntoIterator<Item = (&'a str, Vec<RecordBatch>)>) -> Result<Run> {
    let mut harness = Harness::<S>::open(config)?;
    let mut inputs: Vec<(&str, Vec<RecordBatch>)> = inputs.into_iter().collect();
    let order = &harness.driver.ports().inputs;
    let rank = |port: &str| order.iter().position(|p| p.name == port).unwrap_or(usize::MAX);
    inputs.sort_by_key(|(port, _)| rank(port));

    for (port, batches) in inputs {
        for batch in batches {
            harness.push(port, batch)?;
        }
    }
    harness.finish()
}

/// Step-by-step control over one native run, for tests that look between calls.
#[allow(missing_debug_implementations)]
pub struct Harness<S> {
    driver: Driver<S>,
    run: Run,
    schemas: BTreeMap<String, SchemaRef>,
}

impl<S: Stage> Harness<S> {
    /// Parses `config` (JSON) and opens the stage, outside any run: [`crate::context::current_run`]
    /// says so (empty id and date, attempt 0).
    pub fn open(config: &str) -> Result<Self> {
        crate::context::set(None);
        Self::open_stage(config)
    }

    /// Opens the stage as if the host ran it in `run`: [`crate::context::current_run`] returns
    /// `run` on this thread until the next `open`.
    pub fn open_in_run(config: &str, run: crate::context::RunContext) -> Result<Self> {
        crate::context::set(Some(run));
        Self::open_stage(config)
    }

    fn open_stage(config: &str) -> Result<Self> {
        crate::log::take();
        let driver = Driver::open(config)?;
        Ok(Harness { driver, run: Run::default(), schemas: BTreeMap::new() })
    }

    /// The ports of the opened stage.
    pub fn ports(&self) -> &crate::Ports {
        self.driver.ports()
    }

    /// Pushes one batch on `port` and returns how many rows each output port received from it.
    pub fn push(&mut self, port: &str, batch: RecordBatch) -> Result<Vec<(String, usize)>> {
        let outputs = self.driver.push(port, vec![batch])?;
        self.record(outputs)
    }

    /// Finishes the stage and returns the whole run.
    pub fn finish(mut self) -> Result<Run> {
        let outputs = self.driver.finish()?;
        self.record(outputs)?;
        self.run.metrics = self.driver.metrics();
        self.run.logs = crate::log::take();
        Ok(self.run)
    }

    fn record(&mut self, outputs: Vec<crate::driver::PortBatches>) -> Result<Vec<(String, usize)>> {
        let mut counts = Vec::with_capacity(outputs.len());
        for group in outputs {
            let mut rows = 0;
            for batch in group.batches {
                let schema = self.schemas.entry(group.port.clone()).or_insert_with(|| batch.schema());
                if !etl_format::ipc::same_columns(schema, &batch.schema()) {
                    return Err(Error::failed(format!(
                        "output port `{}` changed schema between batches: {} then {}",
                        group.port,
                        etl_format::ipc::describe_columns(schema),
                        etl_format::ipc::describe_columns(&batch.schema())
                    )));
                }
                rows += batch.num_rows();
                self.run.outputs.entry(group.port.clone()).or_default().push(batch);
            }
            counts.push((group.port, rows));
        }
        Ok(counts)
    }
}
