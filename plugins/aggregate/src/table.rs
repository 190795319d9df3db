//! One configured table: its groups and aggregates, fed batch by batch, emitted sorted at the end.

use std::sync::Arc;

use etl_sdk::arrow::RecordBatch;
use etl_sdk::arrow::array::RecordBatchOptions;
use etl_sdk::arrow::schema::{Field, Schema, SchemaRef};
use etl_sdk::{Error, Result};

use crate::accumulate::Accumulator;
use crate::config::TableSpec;
use crate::groups::Groups;
use crate::values::{ValueType, Values};

/// Rows per emitted batch, at most.
pub const CHUNK_ROWS: usize = 64 * 1024;

/// One table being computed.
#[derive(Debug)]
pub struct Table {
    pub spec: TableSpec,
    /// Made from the first batch, whose column types it fixes.
    state: Option<State>,
}

#[derive(Debug)]
struct State {
    key_types: Vec<ValueType>,
    groups: Groups,
    /// Each aggregate with the type of its column (`None` for `count`, which reads no values).
    aggregates: Vec<(Accumulator, Option<ValueType>)>,
    schema: SchemaRef,
}

impl Table {
    pub fn new(spec: TableSpec) -> Self {
        Table { spec, state: None }
    }

    /// The number of groups so far.
    pub fn groups(&self) -> usize {
        self.state.as_ref().map_or(0, |s| s.groups.len())
    }

    /// Folds one input batch into the groups.
    pub fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        let in_table = |e: Error| match e {
            Error::InvalidInput(m) => Error::input(format!("table `{}`: {m}", self.spec.name)),
            other => other,
        };
        if self.state.is_none() {
            self.state = Some(State::new(&self.spec, batch).map_err(in_table)?);
        }
        let Some(state) = &mut self.state else { return Err(Error::failed("table state missing; this is a bug")) };
        let spec = &self.spec;
        let keys = spec
            .group_by
            .iter()
            .zip(&state.key_types)
            .map(|(name, &ty)| Values::read(batch, name, ty))
            .collect::<Result<Vec<_>>>()
            .map_err(in_table)?;
        let mut columns = Vec::with_capacity(spec.aggregates.len());
        for (aggregate, (_, ty)) in spec.aggregates.iter().zip(&state.aggregates) {
            columns.push(match ty {
                Some(ty) => Some(Values::read(batch, &aggregate.column, *ty).map_err(in_table)?),
                None => {
                    require(batch, &aggregate.column).map_err(in_table)?;
                    None
                }
            });
        }

        let ids = state.groups.assign(&keys, batch.num_rows())?;
        let groups = &state.groups;
        for ((accumulator, _), (values, aggregate)) in
            state.aggregates.iter_mut().zip(columns.iter().zip(&spec.aggregates))
        {
            let Some(values) = values else { continue };
            let fail = |g: u32, problem: String| failure(spec, groups, &aggregate.output, g, problem);
            accumulator.update(values, &ids, groups.len(), &fail)?;
        }
        Ok(())
    }

    /// The table's rows sorted by group, in batches of at most [`CHUNK_ROWS`]; one empty batch if
    /// there are no groups, and none at all if no batch ever arrived (the column types are unknown).
    pub fn finish(&self) -> Result<Vec<RecordBatch>> {
        let Some(state) = &self.state else { return Ok(Vec::new()) };
        let order = state.groups.sorted();
        let mut batches = Vec::with_capacity(order.len().div_ceil(CHUNK_ROWS).max(1));
        for chunk in order.chunks(CHUNK_ROWS) {
            batches.push(state.batch(&self.spec, chunk)?);
        }
        if batches.is_empty() {
            batches.push(state.batch(&self.spec, &[])?);
        }
        Ok(batches)
    }
}

impl State {
    /// Reads the column types off the first batch and checks each aggregate fits its column.
    fn new(spec: &TableSpec, batch: &RecordBatch) -> Result<Self> {
        let mut fields = Vec::new();
        let mut key_types = Vec::with_capacity(spec.group_by.len());
        for name in &spec.group_by {
            let data_type = require(batch, name)?;
            let ty = ValueType::of(data_type).ok_or_else(|| {
                Error::input(format!(
                    "group_by column `{name}` has type {data_type}; groups are made of Utf8, Int32, Int64, Date32 \
                     or Decimal128 columns"
                ))
            })?;
            key_types.push(ty);
            fields.push(Field::new(name, data_type.clone(), true));
        }
        let mut aggregates = Vec::with_capacity(spec.aggregates.len());
        for aggregate in &spec.aggregates {
            let data_type = require(batch, &aggregate.column)?;
            let accumulator = Accumulator::new(aggregate.func, data_type).map_err(|reason| {
                Error::input(format!("column `{}` {reason} (for `{}`)", aggregate.column, aggregate.output))
            })?;
            let nullable = !matches!(accumulator, Accumulator::Count);
            fields.push(Field::new(&aggregate.output, accumulator.output_type(), nullable));
            let reads = (!matches!(accumulator, Accumulator::Count)).then(|| ValueType::of(data_type)).flatten();
            aggregates.push((accumulator, reads));
        }
        let groups = Groups::new(&key_types);
        Ok(State { key_types, groups, aggregates, schema: Arc::new(Schema::new(fields)) })
    }

    /// One output batch: the groups of `order`, in that order.
    fn batch(&self, spec: &TableSpec, order: &[u32]) -> Result<RecordBatch> {
        let mut columns = self.groups.arrays(order)?;
        for ((accumulator, _), aggregate) in self.aggregates.iter().zip(&spec.aggregates) {
            let fail = |g: u32, problem: String| failure(spec, &self.groups, &aggregate.output, g, problem);
            columns.push(accumulator.finish(order, self.groups.rows(), &fail)?);
        }
        let options = RecordBatchOptions::new().with_row_count(Some(order.len()));
        Ok(RecordBatch::try_new_with_options(self.schema.clone(), columns, &options)?)
    }
}

/// The type of column `name`, which must exist.
fn require<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a etl_sdk::arrow::schema::DataType> {
    batch
        .column_by_name(name)
        .map(|c| c.data_type())
        .ok_or_else(|| Error::input(format!("missing required column `{name}`")))
}

/// A value that does not fit, named by table, output column and group.
fn failure(spec: &TableSpec, groups: &Groups, output: &str, group: u32, problem: String) -> Error {
    Error::failed(format!(
        "table `{}`: `{output}` = {problem} (group {})",
        spec.name,
        groups.describe(group, &spec.group_by)
    ))
}
