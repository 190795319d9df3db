//! `identity`: forwards every input batch unchanged. It measures what the sandbox boundary costs
//! (`just bench`) and is the smallest complete example of a stage plugin.

use etl_sdk::arrow::RecordBatch;
use etl_sdk::{Emitter, Info, NoConfig, Result, Stage};

/// The identity stage: `in` → `out`, batch for batch.
#[derive(Debug)]
pub struct Identity {
    rows: i64,
    batches: i64,
}

impl Stage for Identity {
    type Config = NoConfig;

    fn info() -> Info {
        Info::new("identity", env!("CARGO_PKG_VERSION"), "Forwards every input batch unchanged")
            .input("in", "any batches")
            .output("out", "the same batches, in the same order")
            .config_help("Takes no configuration.")
    }

    fn open(_config: NoConfig) -> Result<Self> {
        Ok(Identity { rows: 0, batches: 0 })
    }

    fn push(&mut self, _port: &str, batch: RecordBatch, out: &mut Emitter) -> Result<()> {
        self.rows += batch.num_rows() as i64;
        self.batches += 1;
        out.emit("out", batch);
        Ok(())
    }

    fn metrics(&self) -> Vec<etl_sdk::Metric> {
        vec![etl_sdk::Metric::new("rows", self.rows), etl_sdk::Metric::new("batches", self.batches)]
    }
}

etl_sdk::export_stage!(Identity);

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use etl_sdk::arrow::array::{ArrayRef, Int64Array, StringArray};

    use super::*;

    #[test]
    fn forwards_batches_unchanged() {
        let batch = RecordBatch::try_from_iter([
            ("id", Arc::new(StringArray::from(vec![Some("a"), None])) as ArrayRef),
            ("n", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
        ])
        .unwrap();
        let run = etl_sdk::testing::run::<Identity>("", [("in", vec![batch.clone(), batch.clone()])]).unwrap();
        assert_eq!(run.batches("out"), &[batch.clone(), batch]);
        assert_eq!(run.metric("rows"), Some(4));
        assert_eq!(run.metric("batches"), Some(2));
    }

    #[test]
    fn refuses_any_config() {
        let error = etl_sdk::testing::run::<Identity>(r#"{"x": 1}"#, []).unwrap_err();
        assert!(matches!(error, etl_sdk::Error::InvalidConfig(_)), "{error}");
    }
}
