//! `enrich`: adds computed columns and LEFT-joined lookup columns to every row, batch for batch.
//!
//! Everything comes from the config, nothing from a data set: `derive` computes exact products of
//! two numeric columns and the calendar parts of date columns; each entry of `lookups` opens an
//! input port whose rows are kept in memory, keyed by a Utf8 column, and copied onto the rows of
//! `in` that carry the same key. See [`Enrich`] for the rules and `config_help` for the format.

mod byte_rows;
mod config;
mod decimal;
mod derive;
mod gather;
mod lookup;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::sync::Arc;

use etl_sdk::arrow::RecordBatch;
use etl_sdk::arrow::array::{ArrayRef, Int64Array, RecordBatchOptions};
use etl_sdk::arrow::schema::{DataType, Field, Schema, SchemaRef};
use etl_sdk::{Emitter, Error, Info, Metric, Port, Ports, Result, Stage};

pub use config::EnrichConfig;
use config::{Derive, IN, Plan};
use lookup::Lookup;

/// The output port.
const OUT: &str = "out";

/// The `enrich` stage.
///
/// - Ports: one input per lookup, named by its `port`, in config order (so the host delivers every
///   lookup row before the first row to enrich), then `in`; one output, `out`.
/// - Output: one batch per `in` batch, with every input column in order (the host's `_` metadata
///   columns included), then the derived columns in config order, then the lookup columns in
///   config order. A name that would appear twice is refused.
/// - `multiply` is exact: i128 arithmetic at the sum of the factors' scales, raised to the declared
///   scale; a result that does not fit the declared type fails the stage (never wraps). A null
///   factor gives a null.
/// - `date_parts` reads Date32 in the proleptic Gregorian calendar (any date, 1970 or not).
/// - A lookup matches Utf8 keys exactly. If a key repeats among the lookup rows, its FIRST row
///   (in arrival order) wins and the others are counted in `lookup_duplicate_keys.<port>`.
///   Lookup rows with a null key never match. An `in` row whose key is null or unknown gets nulls
///   and is counted in the lookup's orphan metric.
#[derive(Debug)]
pub struct Enrich {
    plan: Plan,
    lookups: Vec<Lookup>,
    /// The columns of the first `in` batch and the output schema made from them.
    schemas: Option<(SchemaRef, SchemaRef)>,
    rows_in: i64,
    rows_out: i64,
}

const CONFIG_HELP: &str = "\
derive:                       # computed columns, added after the input columns, in this order
  - name: total_amount        # exact product of two Int32/Int64/Decimal128 columns
    multiply: [quantity, unit_price]
    type: decimal(18,2)       # decimal(P,S) or int64; a value that does not fit fails the stage
  - date_parts: order_date    # a Date32 column -> Int32 columns <column>_<part>
    parts: [year, month, day] # optional, default all three
lookups:                      # LEFT joins on a Utf8 key, added after the derived columns
  - port: products            # input port of the lookup rows (delivered before `in`)
    key: product_id           # key column of `in` (and of the lookup rows)
    columns: [product_name, category]  # copied onto each `in` row; nulls when the key has no match
    orphan_metric: orphan_product      # counts rows with a null or unknown key (default orphan_<port>)
  - port: customers
    key: customer_id
    lookup_key: customer_id   # optional: the key column of the lookup rows, if named differently
    columns: [name, email, region]
    orphan_metric: orphan_customer

Multiplying never rounds: the product's scale (sum of the factors' scales) may not exceed the
declared scale. If a key repeats among the lookup rows, the first row wins. Columns starting with
`_` (row metadata) pass through unchanged. Metrics: rows_in, rows_out, each orphan metric,
lookup_rows.<port>, lookup_duplicate_keys.<port>.";

impl Stage for Enrich {
    type Config = EnrichConfig;

    fn info() -> Info {
        Info::new(
            "enrich",
            env!("CARGO_PKG_VERSION"),
            "Adds exact computed columns (products, date parts) and LEFT-joined lookup columns to every row",
        )
        .input(IN, "the rows to enrich; each configured lookup adds an input port before it, named by its `port`")
        .output(OUT, "every input row with its input columns, then the derived columns, then the lookup columns")
        .config_help(CONFIG_HELP)
    }

    fn open(config: EnrichConfig) -> Result<Self> {
        let plan = config.plan()?;
        let lookups = plan.lookups.iter().cloned().map(Lookup::new).collect();
        Ok(Enrich { plan, lookups, schemas: None, rows_in: 0, rows_out: 0 })
    }

    fn ports(&self) -> Ports {
        let mut inputs: Vec<Port> = self
            .plan
            .lookups
            .iter()
            .map(|l| Port::new(&l.port, format!("lookup rows keyed by `{}`: {}", l.lookup_key, l.columns.join(", "))))
            .collect();
        inputs.push(Port::new(IN, "the rows to enrich, after every lookup row"));
        Ports { inputs, outputs: Self::info().outputs }
    }

    fn push(&mut self, port: &str, batch: RecordBatch, out: &mut Emitter) -> Result<()> {
        if port == IN {
            let enriched = self.enrich(&batch)?;
            self.rows_in += batch.num_rows() as i64;
            self.rows_out += enriched.num_rows() as i64;
            out.emit(OUT, enriched);
            return Ok(());
        }
        let lookup = self
            .lookups
            .iter_mut()
            .find(|l| l.spec.port == port)
            .ok_or_else(|| Error::input(format!("no input port `{port}`")))?;
        if self.schemas.is_some() {
            return Err(Error::input(format!(
                "lookup port `{port}` received a batch after rows on `{IN}`; lookups must arrive first"
            )));
        }
        lookup.add(&batch)
    }

    fn metrics(&self) -> Vec<Metric> {
        let mut metrics = vec![Metric::new("rows_in", self.rows_in), Metric::new("rows_out", self.rows_out)];
        for lookup in &self.lookups {
            metrics.push(Metric::new(&lookup.spec.orphan_metric, lookup.orphans));
            metrics.push(Metric::new(format!("lookup_rows.{}", lookup.spec.port), lookup.rows));
            metrics.push(Metric::new(format!("lookup_duplicate_keys.{}", lookup.spec.port), lookup.duplicates));
        }
        metrics
    }
}

impl Enrich {
    /// One output batch for one `in` batch.
    fn enrich(&mut self, batch: &RecordBatch) -> Result<RecordBatch> {
        let schema = self.output_schema(batch)?;
        let lines = batch.column_by_name("_line").and_then(|c| c.as_any().downcast_ref::<Int64Array>());
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        for derive in &self.plan.derive {
            match derive {
                Derive::Multiply { name, left, right, result } => {
                    columns.push(derive::multiply(batch, name, (left, right), *result, lines)?);
                }
                Derive::DateParts { column, parts } => columns.extend(derive::date_parts(batch, column, parts)?),
            }
        }
        for lookup in &mut self.lookups {
            columns.extend(lookup.probe(batch)?);
        }
        let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        Ok(RecordBatch::try_new_with_options(schema, columns, &options)?)
    }

    /// The output schema for `batch`: made from the first `in` batch, then reused. A later batch
    /// with other columns is refused (one port, one schema).
    fn output_schema(&mut self, batch: &RecordBatch) -> Result<SchemaRef> {
        if let Some((input, output)) = &self.schemas {
            if etl_sdk::columns::same_columns(input, &batch.schema()) {
                return Ok(output.clone());
            }
            return Err(Error::input(format!(
                "port `{IN}` changed columns between batches: {} then {}",
                etl_sdk::columns::describe_columns(input),
                etl_sdk::columns::describe_columns(&batch.schema())
            )));
        }
        let input = batch.schema();
        // Input columns are marked nullable: a first batch without nulls may say "not nullable",
        // and the schema must fit every later batch too.
        let mut fields: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect();
        let mut added: Vec<(Field, String)> = Vec::new();
        for derive in &self.plan.derive {
            let data_type = match derive {
                Derive::Multiply { result, .. } => result.data_type(),
                Derive::DateParts { .. } => DataType::Int32,
            };
            added.extend(
                derive.outputs().into_iter().map(|name| (Field::new(name, data_type.clone(), true), derive.label())),
            );
        }
        for lookup in &self.lookups {
            let label = format!("lookup `{}`", lookup.spec.port);
            added.extend(lookup.fields()?.into_iter().map(|field| (field, label.clone())));
        }
        let existing: HashSet<&str> = input.fields().iter().map(|f| f.name().as_str()).collect();
        if let Some((field, label)) = added.iter().find(|(field, _)| existing.contains(field.name().as_str())) {
            return Err(Error::input(format!(
                "column `{}` is already in the input on `{IN}`; {label} would add it again",
                field.name()
            )));
        }
        fields.extend(added.into_iter().map(|(field, _)| field));
        let output = Arc::new(Schema::new_with_metadata(fields, input.metadata().clone()));
        self.schemas = Some((input, output.clone()));
        Ok(output)
    }
}

etl_sdk::export_stage!(Enrich);
