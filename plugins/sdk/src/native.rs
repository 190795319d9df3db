//! A stage run in the host's own process, without the sandbox: the same [`Stage`] code and the
//! same driving as inside it (config parsing, port checks, grouping by output port), behind a
//! trait object a host can hold without knowing the stage's type.
//!
//! This exists to measure what the sandbox costs (the host's `native-stages` build runs whole
//! pipelines this way); production runs always go through the sandbox.

use arrow_array::RecordBatch;

use crate::context::{self, RunContext};
use crate::driver::{Driver, PortBatches};
use crate::log::Level;
use crate::{Result, Stage};

/// What one call emitted: batches per output port, ports in first-emission order.
pub type Emitted = Vec<(String, Vec<RecordBatch>)>;

/// One opened stage. Every call must come from the thread that opened it: the run context and
/// the log records the stage sees are per thread.
pub trait NativeStage {
    /// The input ports, in the order the stage wants them delivered.
    fn inputs(&self) -> Vec<String>;
    fn push(&mut self, port: &str, batch: RecordBatch) -> Result<Emitted>;
    fn finish(&mut self) -> Result<Emitted>;
    fn metrics(&self) -> Vec<(String, i64)>;
    /// The messages the stage logged since the last call, oldest first.
    fn take_logs(&mut self) -> Vec<(Level, String)>;
}

/// Opens `S` on `config` (JSON) in `run`: [`context::current_run`] returns `run` on this thread.
pub fn open<S: Stage + 'static>(config: &str, run: RunContext) -> Result<Box<dyn NativeStage>> {
    context::set(Some(run));
    crate::log::take();
    Ok(Box::new(Driver::<S>::open(config)?))
}

fn emitted(groups: Vec<PortBatches>) -> Emitted {
    groups.into_iter().map(|g| (g.port, g.batches)).collect()
}

impl<S: Stage> NativeStage for Driver<S> {
    fn inputs(&self) -> Vec<String> {
        self.ports().inputs.iter().map(|p| p.name.clone()).collect()
    }

    fn push(&mut self, port: &str, batch: RecordBatch) -> Result<Emitted> {
        Driver::push(self, port, vec![batch]).map(emitted)
    }

    fn finish(&mut self) -> Result<Emitted> {
        Driver::finish(self).map(emitted)
    }

    fn metrics(&self) -> Vec<(String, i64)> {
        Driver::metrics(self).into_iter().map(|m| (m.name, m.value)).collect()
    }

    fn take_logs(&mut self) -> Vec<(Level, String)> {
        crate::log::take()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int64Array};

    use super::*;
    use crate::{Emitter, Info, NoConfig};

    /// Doubles `n`; logs the attempt it runs in; counts its batches.
    struct Double {
        batches: i64,
    }

    impl Stage for Double {
        type Config = NoConfig;

        fn info() -> Info {
            Info::new("double", "0", "doubles n").input("in", "numbers").output("out", "doubled")
        }

        fn open(_: NoConfig) -> Result<Self> {
            crate::log::info(&format!("attempt {}", context::current_run().attempt));
            Ok(Double { batches: 0 })
        }

        fn push(&mut self, _port: &str, batch: RecordBatch, out: &mut Emitter) -> Result<()> {
            self.batches += 1;
            let n: &Int64Array = crate::column_as(&batch, "n", &arrow_schema::DataType::Int64)?;
            let doubled: Int64Array = n.iter().map(|v| v.map(|v| v * 2)).collect();
            out.emit("out", crate::testing::batch([("n", Arc::new(doubled) as ArrayRef)]));
            Ok(())
        }

        fn metrics(&self) -> Vec<crate::Metric> {
            vec![crate::Metric { name: "batches".into(), value: self.batches }]
        }
    }

    #[test]
    fn drives_a_stage_behind_a_trait_object() {
        let run = RunContext { run_id: "r".into(), logical_date: "2024-06-30".into(), stage: "s".into(), attempt: 2 };
        let mut stage = open::<Double>("{}", run).unwrap();
        assert_eq!(stage.inputs(), ["in"]);
        assert_eq!(stage.take_logs(), [(Level::Info, "attempt 2".to_owned())]);
        let batch = crate::testing::batch([("n", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef)]);
        let out = stage.push("in", batch).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, "out");
        let n: &Int64Array = crate::column_as(&out[0].1[0], "n", &arrow_schema::DataType::Int64).unwrap();
        assert_eq!(n.values(), &[2, 4]);
        assert!(stage.finish().unwrap().is_empty());
        assert_eq!(stage.metrics(), [("batches".to_owned(), 1)]);
        let batch = crate::testing::batch([("n", Arc::new(Int64Array::from(vec![1])) as ArrayRef)]);
        assert!(stage.push("nope", batch).is_err(), "an undeclared port is refused");
    }
}
