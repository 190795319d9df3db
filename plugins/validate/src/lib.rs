//! `validate`: checks every row against configured rules and splits each batch into the rows that
//! pass (`valid`) and those that fail an `error` rule (`rejected`, with the rules they failed).
//!
//! Nothing here knows a data set: columns, rules, bounds and severities all come from the config
//! (see [`config::ValidateConfig`] and the help text in [`Validate::info`]). Columns whose name
//! starts with `_` are row metadata added by the host; they pass through untouched and are never
//! validated.

mod bound;
pub mod config;
mod rules;
#[cfg(test)]
mod tests;

use etl_sdk::arrow::RecordBatch;
use etl_sdk::arrow::array::StringArray;
use etl_sdk::arrow::array::builder::StringBuilder;
use etl_sdk::{Emitter, Info, Metric, Result, Stage, rows};

use crate::config::{Severity, ValidateConfig};
use crate::rules::Rule;

const CONFIG_HELP: &str = r#"Rules are checked in order on every row; a row failing any `error` rule goes to `rejected`.

rules:                                   # required, at least one
  - { rule: not_null, column: order_id } # fails on null only (an empty string is a value)
  - { rule: in_range, column: quantity, min: 1, max: 1000 }
  - { rule: in_range, column: unit_price, min: "0.01", max: "100000" }
  - { rule: in_range, column: order_date, min: "2023-01-01" }
  - { rule: accepted_values, column: region, values: [north, south], severity: warn }
  - { rule: regex, column: email, pattern: "^[^@]+@[^@]+$" }
  - { rule: unique, column: order_id }

Every rule takes `column` and `severity` (`error`, the default: the row is rejected; `warn`: the
failure is only counted).
  not_null         fails on a null.
  in_range         fails on a null or a value outside [min, max], bounds inclusive, either one
                   optional. Integer and decimal columns compare exactly at the column's scale
                   (write decimal bounds as strings or plain numbers: "0.01", 100000); float
                   columns compare as floats (NaN fails); Date32 columns take ISO dates.
  accepted_values  fails on a null or a string not exactly (case-sensitively) one of `values`.
  regex            fails on a null or a string `pattern` does not match (Rust regex syntax; it
                   searches, so anchor with ^...$ to match the whole value).
  unique           fails on a value already seen in an earlier row, across all batches; nulls
                   are not values and never fail it (pair it with not_null).

Columns whose name starts with `_` are row metadata: passed through, never validated.
`rejected` rows carry every input column unchanged plus `_reasons` (e.g.
`not_null(customer_id);in_range(quantity)`: the failed error rules in config order) and
`_message` (null). Metrics: rows_in, rows_valid, rows_rejected, and failures.<rule>(<column>)
for every rule (rows that failed it, warn or error)."#;

/// The validate stage: `in` → `valid` + `rejected`.
#[derive(Debug)]
pub struct Validate {
    rules: Vec<Rule>,
    /// Per rule, per row of the current batch: did the row fail it. Kept to reuse the memory.
    fails: Vec<Vec<bool>>,
    rows_in: i64,
    rows_valid: i64,
    rows_rejected: i64,
}

impl Stage for Validate {
    type Config = ValidateConfig;

    fn info() -> Info {
        Info::new(
            "validate",
            env!("CARGO_PKG_VERSION"),
            "Checks every row against configured rules (not_null, in_range, accepted_values, regex, unique) and \
             routes the rows that fail an error rule to `rejected` with the rules they failed",
        )
        .input("in", "the rows to check; `_`-prefixed columns are row metadata and pass through")
        .output("valid", "the rows that passed every error rule, columns unchanged, in input order")
        .output("rejected", "the other rows, columns unchanged, plus `_reasons` (failed rules) and `_message` (null)")
        .config_help(CONFIG_HELP)
    }

    fn open(config: ValidateConfig) -> Result<Self> {
        config.build()
    }

    fn push(&mut self, _port: &str, batch: RecordBatch, out: &mut Emitter) -> Result<()> {
        rows::check_pass_through(&batch.schema())?;
        let rows = batch.num_rows();
        let mut rejected = vec![false; rows];
        for (rule, fails) in self.rules.iter_mut().zip(&mut self.fails) {
            rule.evaluate(&batch, fails)?;
            if rule.severity == Severity::Error {
                for (reject, &fail) in rejected.iter_mut().zip(fails.iter()) {
                    *reject |= fail;
                }
            }
        }
        let (bad, good): (Vec<usize>, Vec<usize>) = (0..rows).partition(|&row| rejected[row]);
        self.rows_in = self.rows_in.saturating_add(count(rows));
        self.rows_valid = self.rows_valid.saturating_add(count(good.len()));
        self.rows_rejected = self.rows_rejected.saturating_add(count(bad.len()));
        if bad.is_empty() {
            out.emit("valid", batch);
            return Ok(());
        }
        out.emit("valid", rows::take(&batch, &good)?);
        let reasons = self.reasons(&bad);
        out.emit("rejected", rows::rejected(&batch, &bad, reasons, StringArray::new_null(bad.len()))?);
        Ok(())
    }

    fn metrics(&self) -> Vec<Metric> {
        let mut metrics = vec![
            Metric::new("rows_in", self.rows_in),
            Metric::new("rows_valid", self.rows_valid),
            Metric::new("rows_rejected", self.rows_rejected),
        ];
        metrics.extend(self.rules.iter().map(|rule| Metric::new(format!("failures.{}", rule.label), rule.failures)));
        metrics
    }
}

impl Validate {
    fn new(rules: Vec<Rule>) -> Self {
        let fails = rules.iter().map(|_| Vec::new()).collect();
        Validate { rules, fails, rows_in: 0, rows_valid: 0, rows_rejected: 0 }
    }

    /// The `_reasons` of the rejected rows `rows` of the current batch: the labels of the error
    /// rules each failed, in config order, joined by `;`.
    fn reasons(&self, rows: &[usize]) -> StringArray {
        let mut reasons = StringBuilder::with_capacity(rows.len(), rows.len() * 16);
        let mut text = String::new();
        for &row in rows {
            text.clear();
            for (rule, fails) in self.rules.iter().zip(&self.fails) {
                if rule.severity == Severity::Error && fails[row] {
                    if !text.is_empty() {
                        text.push(';');
                    }
                    text.push_str(&rule.label);
                }
            }
            reasons.append_value(&text);
        }
        reasons.finish()
    }
}

/// A row count as a metric value.
fn count(rows: usize) -> i64 {
    i64::try_from(rows).unwrap_or(i64::MAX)
}

etl_sdk::export_stage!(Validate);
