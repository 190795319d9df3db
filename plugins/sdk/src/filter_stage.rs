//! [`Filter`]: the commonest stage, one that keeps some rows of each batch, without the rest of
//! [`Stage`]'s ceremony.

use arrow_array::{BooleanArray, RecordBatch};
use serde::de::DeserializeOwned;

use crate::{Emitter, Info, Metric, Result, Stage};

/// A stage that keeps some rows of every batch and drops the others. The filter is its own config
/// (declare it with [`crate::config!`]); it says which rows to keep, and the SDK does the rest.
///
/// Every input batch goes out on the output port with the rows [`Filter::keep`] marks `true`, in
/// their order and with every column; rows marked `false` or null are dropped. The ports are
/// `input` and `output` unless [`Filter::info`] declares its own (the first output is the one the
/// kept rows go to). Anything more (state across batches, several outputs, new columns) is a
/// [`Stage`].
///
/// ```
/// use etl_sdk::prelude::*;
///
/// etl_sdk::config! { pub struct Positive { column: String } }
///
/// impl Filter for Positive {
///     fn info() -> Info {
///         Info::new("positive", "0.1.0", "Keeps the rows whose `column` is above zero")
///     }
///     fn keep(&mut self, batch: &RecordBatch) -> Result<BooleanArray> {
///         Ok(primitive_column::<Int64Type>(batch, &self.column)?.iter().map(|n| Some(n? > 0)).collect())
///     }
/// }
///
/// let numbers = etl_sdk::testing::batch([("n", std::sync::Arc::new(Int64Array::from(vec![Some(3), None, Some(-1), Some(8)])) as _)]);
/// let run = etl_sdk::testing::run::<Positive>(r#"{"column": "n"}"#, [("input", vec![numbers])])?;
/// assert_eq!(run.rows("output"), 2);
/// # Ok::<(), etl_sdk::Error>(())
/// ```
pub trait Filter: DeserializeOwned + Sized {
    /// Name, version, description and config help. Ports it does not declare are added:
    /// `input` (the rows to filter) and `output` (the rows kept).
    fn info() -> Info;

    /// Checks the config beyond what its types say (refuse it with [`crate::Error::config`]),
    /// once, before the first batch.
    fn check(&self) -> Result<()> {
        Ok(())
    }

    /// Which rows of `batch` to keep: one flag per row, `true` to keep; `false` and null drop.
    fn keep(&mut self, batch: &RecordBatch) -> Result<BooleanArray>;

    /// Counters the host records with the run; rows in and out it counts itself.
    fn metrics(&self) -> Vec<Metric> {
        Vec::new()
    }
}

impl<F: Filter> Stage for F {
    type Config = F;

    fn info() -> Info {
        let mut info = F::info();
        if info.inputs.is_empty() {
            info = info.input("input", "the rows to filter");
        }
        if info.outputs.is_empty() {
            info = info.output("output", "the rows kept");
        }
        info
    }

    fn open(config: F) -> Result<F> {
        config.check()?;
        Ok(config)
    }

    fn push(&mut self, _port: &str, batch: RecordBatch, out: &mut Emitter) -> Result<()> {
        let keep = self.keep(&batch)?;
        let kept = crate::filter(&batch, &keep)?;
        // The first output port; `info` always has one (see above).
        let port = <F as Stage>::info().outputs.swap_remove(0).name;
        out.emit(&port, kept);
        Ok(())
    }

    fn metrics(&self) -> Vec<Metric> {
        Filter::metrics(self)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::types::Int64Type;
    use arrow_array::{ArrayRef, Int64Array, StringArray};

    use crate::testing::{batch, run};
    use crate::{Error, primitive_column};

    use super::*;

    crate::config! {
        struct AtLeast {
            min: i64,
            #[serde(default)]
            seen: i64,
        }
    }

    impl Filter for AtLeast {
        fn info() -> Info {
            Info::new("at-least", "1.2.3", "Keeps the rows whose n is at least min").config_help("min (integer)")
        }

        fn check(&self) -> Result<()> {
            if self.min < 0 { Err(Error::config("min: must not be negative")) } else { Ok(()) }
        }

        fn keep(&mut self, batch: &RecordBatch) -> Result<BooleanArray> {
            self.seen += batch.num_rows() as i64;
            Ok(primitive_column::<Int64Type>(batch, "n")?.iter().map(|n| Some(n? >= self.min)).collect())
        }

        fn metrics(&self) -> Vec<Metric> {
            vec![Metric::new("rows_seen", self.seen)]
        }
    }

    fn numbers(values: &[Option<i64>]) -> RecordBatch {
        let labels: Vec<String> = (0..values.len()).map(|i| format!("row-{i}")).collect();
        batch([
            ("label", Arc::new(StringArray::from(labels)) as ArrayRef),
            ("n", Arc::new(Int64Array::from(values.to_vec())) as ArrayRef),
        ])
    }

    #[test]
    fn keeps_the_marked_rows_with_every_column_and_drops_nulls() {
        let input = vec![numbers(&[Some(1), Some(5), None, Some(7)]), numbers(&[Some(2)]), numbers(&[])];
        let run = run::<AtLeast>(r#"{"min": 5}"#, [("input", input)]).unwrap();
        assert_eq!(run.batches("output").len(), 3, "one output batch per input batch");
        assert_eq!(run.rows("output"), 2);
        let kept = run.batches("output")[0].column(0).as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(kept.iter().flatten().collect::<Vec<_>>(), ["row-1", "row-3"]);
        assert_eq!(run.batches("output")[0].num_columns(), 2);
        assert_eq!(run.metrics, [Metric::new("rows_seen", 5)]);
    }

    #[test]
    fn adds_the_ports_it_does_not_declare() {
        let info = <AtLeast as Stage>::info();
        assert_eq!(
            (info.name.as_str(), info.version.as_str(), info.config_help.as_str()),
            ("at-least", "1.2.3", "min (integer)")
        );
        let names = |ports: &[crate::Port]| ports.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
        assert_eq!((names(&info.inputs), names(&info.outputs)), (vec!["input".to_owned()], vec!["output".to_owned()]));
    }

    #[test]
    fn refuses_a_config_its_check_refuses_or_its_types_do() {
        let error = run::<AtLeast>(r#"{"min": -1}"#, [("input", vec![numbers(&[])])]).unwrap_err();
        assert_eq!(error, Error::config("min: must not be negative"));
        let error = run::<AtLeast>(r#"{"min": 1, "max": 2}"#, [("input", vec![numbers(&[])])]).unwrap_err();
        assert!(error.message().contains("unknown field `max`"), "{error}");
    }

    #[test]
    fn a_flag_count_that_is_not_the_row_count_fails_the_batch() {
        crate::config! { struct Short {} }
        impl Filter for Short {
            fn info() -> Info {
                Info::new("short", "0.1.0", "").input("rows", "").output("kept", "")
            }
            fn keep(&mut self, _batch: &RecordBatch) -> Result<BooleanArray> {
                Ok(BooleanArray::from(vec![true]))
            }
        }
        assert_eq!(
            <Short as Stage>::info().outputs.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["kept"],
            "declared ports are kept"
        );
        let ok = run::<Short>("{}", [("rows", vec![numbers(&[Some(1)])])]).unwrap();
        assert_eq!(ok.rows("kept"), 1, "the kept rows go to the declared output");
        let error = run::<Short>("{}", [("rows", vec![numbers(&[Some(1), Some(2)])])]).unwrap_err();
        assert_eq!(error, Error::failed("filter: 1 keep flags for a batch of 2 rows"));
    }
}
