//! `cleanse`: trims text columns, then (optionally) removes duplicate keys, keeping the first row
//! of every key in input order across all batches and routing the others to `rejected`.
//!
//! Nothing here knows a data set: the trimmed columns, the key and the line column come from the
//! config (see [`config::CleanseConfig`] and the help text in [`Cleanse::info`]). Columns whose
//! name starts with `_` are row metadata added by the host; they pass through untouched.

pub mod config;
mod dedupe;
#[cfg(test)]
mod tests;
mod trim;

use etl_sdk::arrow::RecordBatch;
use etl_sdk::arrow::array::StringArray;
use etl_sdk::{Emitter, Info, Metric, Result, Stage, rows};

use crate::config::{CleanseConfig, Trim};
use crate::dedupe::Dedupe;

const CONFIG_HELP: &str = r#"Trims text, then keeps the first row of every key.

trim: all              # default: every Utf8 column except `_` metadata; or `none`, or a list:
                       #   trim: [order_id, customer_id]  (each must exist and be Utf8)
dedupe:                # optional; without it no row is rejected
  key: [order_id]      # one or more columns, compared exactly after trimming (case-sensitive);
                       # null keys equal each other; float columns cannot be keys
  line_column: _line   # default `_line`: the Int64 column quoted in `duplicate of line N`

Trimming removes leading and trailing Unicode whitespace (what Rust's str::trim removes); an
all-space value becomes the empty string, not null. De-duplication keeps the first row of each
key in input order across all batches; later rows go to `rejected` with `_reasons` =
`duplicate(<key columns joined by ",">)` and `_message` = `duplicate of line N`, N being the
line column of the first row. Rejected rows carry their TRIMMED values. The stage remembers one
entry per distinct key. Columns whose name starts with `_` are row metadata: passed through,
never trimmed. Metrics: rows_in, rows_out, duplicates, trimmed_values (values trimming changed)."#;

/// The cleanse stage: `in` → `out` + `rejected`.
#[derive(Debug)]
pub struct Cleanse {
    trim: Trim,
    dedupe: Option<Dedupe>,
    rows_in: i64,
    rows_out: i64,
    duplicates: i64,
    trimmed_values: i64,
}

impl Cleanse {
    fn new(trim: Trim, dedupe: Option<Dedupe>) -> Self {
        Cleanse { trim, dedupe, rows_in: 0, rows_out: 0, duplicates: 0, trimmed_values: 0 }
    }
}

impl Stage for Cleanse {
    type Config = CleanseConfig;

    fn info() -> Info {
        Info::new(
            "cleanse",
            env!("CARGO_PKG_VERSION"),
            "Trims leading and trailing whitespace of text columns, then removes duplicate keys, keeping the first \
             row of each key in input order and routing the others to `rejected`",
        )
        .input("in", "the rows to clean; `_`-prefixed columns are row metadata and pass through")
        .output("out", "every row with its text trimmed, less the duplicates, in input order")
        .output(
            "rejected",
            "the duplicates, trimmed, plus `_reasons` (`duplicate(<key>)`) and `_message` (`duplicate of line N`)",
        )
        .config_help(CONFIG_HELP)
    }

    fn open(config: CleanseConfig) -> Result<Self> {
        config.build()
    }

    fn push(&mut self, _port: &str, batch: RecordBatch, out: &mut Emitter) -> Result<()> {
        if self.dedupe.is_some() {
            rows::check_pass_through(&batch.schema())?;
        }
        let (batch, trimmed) = trim::trim_batch(batch, &self.trim)?;
        self.rows_in = self.rows_in.saturating_add(count(batch.num_rows()));
        self.trimmed_values = self.trimmed_values.saturating_add(i64::try_from(trimmed).unwrap_or(i64::MAX));
        let Some(dedupe) = &mut self.dedupe else {
            self.rows_out = self.rows_out.saturating_add(count(batch.num_rows()));
            out.emit("out", batch);
            return Ok(());
        };
        let split = dedupe.split(&batch)?;
        self.rows_out = self.rows_out.saturating_add(count(split.first.len()));
        self.duplicates = self.duplicates.saturating_add(count(split.duplicates.len()));
        out.emit("out", rows::take(&batch, &split.first)?);
        if !split.duplicates.is_empty() {
            let reasons = StringArray::from_iter_values(split.duplicates.iter().map(|_| dedupe.reason()));
            let messages = StringArray::from_iter_values(split.messages);
            out.emit("rejected", rows::rejected(&batch, &split.duplicates, reasons, messages)?);
        }
        Ok(())
    }

    fn metrics(&self) -> Vec<Metric> {
        vec![
            Metric::new("rows_in", self.rows_in),
            Metric::new("rows_out", self.rows_out),
            Metric::new("duplicates", self.duplicates),
            Metric::new("trimmed_values", self.trimmed_values),
        ]
    }
}

/// A row count as a metric value.
fn count(rows: usize) -> i64 {
    i64::try_from(rows).unwrap_or(i64::MAX)
}

etl_sdk::export_stage!(Cleanse);
