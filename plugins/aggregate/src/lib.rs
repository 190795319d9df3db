//! `aggregate`: groups the rows of `in` by configured columns and computes `sum`, `avg`, `count`,
//! `min` and `max` per group, for any number of tables at once, each on its own output port.
//!
//! Everything comes from the config, nothing from a data set. The stage keeps one entry per group
//! (never the rows) and emits every table, sorted by its group keys, when the input ends. See
//! [`Aggregate`] for the rules and `config_help` for the format.

mod accumulate;
mod config;
mod groups;
mod table;
#[cfg(test)]
mod tests;
mod values;

use etl_sdk::arrow::RecordBatch;
use etl_sdk::{Emitter, Info, Metric, Port, Ports, Result, Stage};

pub use config::AggregateConfig;
use table::Table;

/// The input port.
const IN: &str = "in";

/// The `aggregate` stage.
///
/// - Ports: input `in`; one output per configured table, named by it.
/// - Output columns: the `group_by` columns with their input types, then one column per aggregate
///   named `<column>_<fn>` (or its `as`), in config order. Columns whose name starts with `_` (the
///   host's row metadata) are ignored and may not be configured.
/// - Groups: `group_by` values compared exactly (Utf8, Int32, Int64, Date32, Decimal128); nulls
///   form their own group (null equals null). An empty `group_by` makes one group of all rows.
/// - `sum`: Decimal128(p, s) → decimal(18, s); Int32/Int64 → Int64. Exact (i128), nulls skipped;
///   a group whose values are all null sums to null; a sum beyond the output type fails the stage.
/// - `avg`: the exact sum of the non-null values divided by their number. Decimal128(p, s) →
///   decimal(18, s), rounded half away from zero to scale s (1.005 → 1.01, -1.005 → -1.01 at
///   scale 2); Int32/Int64 → Float64 (the nearest double). All null → null.
/// - `count`: Int64, the number of ROWS in the group, nulls in the column included (it is the
///   group's size; the column only has to exist).
/// - `min`/`max`: the least/greatest non-null value, in the column's type (text in byte order);
///   all null → null.
/// - Output: at `finish`, rows sorted ascending by the group columns (text in byte order, nulls
///   last), in batches of at most 65,536 rows; a table with no groups emits one empty batch, and a
///   run that received no batch at all emits nothing (the column types are unknown).
#[derive(Debug)]
pub struct Aggregate {
    tables: Vec<Table>,
    rows_in: i64,
}

const CONFIG_HELP: &str = "\
tables:                                  # one output port per table, named by `name`
  - name: daily_sales
    group_by: [order_date, category]     # Utf8, Int32, Int64, Date32 or Decimal128 columns; [] = one group
    aggregates:                          # output column <column>_<fn>, or `as`
      - { column: total_amount, fn: sum }    # decimal(p,s) -> decimal(18,s); integers -> int64
      - { column: total_amount, fn: avg }    # decimal -> decimal(18,s) rounded half away from zero; integers -> float64
      - { column: total_amount, fn: count }  # int64: rows in the group, nulls included
      - { column: quantity, fn: sum }
    # also: fn min / max (keep the column's type), and `as: other_name` to name the output column
  - name: customer_summary
    group_by: [customer_id, name, region]
    aggregates:
      - { column: total_amount, fn: sum }
      - { column: total_amount, fn: count }

Nulls form their own group; sums and averages skip nulls (all null -> null). A sum or average
that does not fit its type fails the stage. Rows come out sorted by the group columns (text in
byte order, nulls last). Columns starting with `_` (row metadata) are ignored.
Metrics: rows_in, groups.<table>.";

impl Stage for Aggregate {
    type Config = AggregateConfig;

    fn info() -> Info {
        Info::new(
            "aggregate",
            env!("CARGO_PKG_VERSION"),
            "Groups rows by configured columns and computes exact sum, avg, count, min and max per group, \
             for several tables at once",
        )
        .input(IN, "the rows to aggregate")
        .output("<table>", "one output per configured table, named by its `name`; emitted sorted by the group columns")
        .config_help(CONFIG_HELP)
    }

    fn open(config: AggregateConfig) -> Result<Self> {
        let tables = config.plan()?.into_iter().map(Table::new).collect();
        Ok(Aggregate { tables, rows_in: 0 })
    }

    fn ports(&self) -> Ports {
        let outputs = self
            .tables
            .iter()
            .map(|t| {
                let keys = if t.spec.group_by.is_empty() { "all rows".into() } else { t.spec.group_by.join(", ") };
                let values: Vec<&str> = t.spec.aggregates.iter().map(|a| a.output.as_str()).collect();
                Port::new(&t.spec.name, format!("per {keys}: {}", values.join(", ")))
            })
            .collect();
        Ports { inputs: Self::info().inputs, outputs }
    }

    fn push(&mut self, _port: &str, batch: RecordBatch, _out: &mut Emitter) -> Result<()> {
        for table in &mut self.tables {
            table.push(&batch)?;
        }
        self.rows_in += batch.num_rows() as i64;
        Ok(())
    }

    fn finish(&mut self, out: &mut Emitter) -> Result<()> {
        for table in &self.tables {
            for batch in table.finish()? {
                out.emit(&table.spec.name, batch);
            }
        }
        Ok(())
    }

    fn metrics(&self) -> Vec<Metric> {
        let mut metrics = vec![Metric::new("rows_in", self.rows_in)];
        metrics.extend(self.tables.iter().map(|t| Metric::new(format!("groups.{}", t.spec.name), t.groups() as i64)));
        metrics
    }
}

etl_sdk::export_stage!(Aggregate);
