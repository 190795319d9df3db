//! Column plumbing the sinks share: choosing and checking the stored columns ([`Projection`],
//! [`pick_columns`]), gathering rows from batches into a new one ([`gather`]), ordering rows
//! ([`SortValue`]) and writing values as text ([`write_value`]).
//!
//! Gathering and ordering cover the types the pipeline's tables use (integers, decimals, dates,
//! booleans, text and binary); another type is an error naming it, never a panic.

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    BinaryType, Date32Type, Date64Type, Decimal128Type, Int8Type, Int16Type, Int32Type, Int64Type, LargeBinaryType,
    LargeUtf8Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type, Utf8Type,
};
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, RecordBatch, RecordBatchOptions, new_empty_array};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use arrow_select::interleave::interleave;
use etl_format::dates::IsoDate;
use etl_format::decimal::DecimalText;

use super::warehouse::StoredColumn;
use super::{METADATA_PREFIX, SinkError};
use crate::types::type_name;

/// Whether `name` is a row-metadata column (`_line`, `_reasons`, ...), never stored.
pub(crate) fn is_metadata(name: &str) -> bool {
    name.starts_with(METADATA_PREFIX)
}

/// The columns a table stores, picked by name from each batch: the declared ones, in their order,
/// or every column but the metadata ones and the `excluded` ones (partition columns); all
/// nullable, so that files of the same table have the same schema whatever nullability the
/// batches declared.
#[derive(Debug, Clone)]
pub(crate) struct Projection {
    pub schema: SchemaRef,
    /// Whether the columns were declared: then a batch's other columns are simply not stored;
    /// otherwise a stored column only some batches have is an error.
    declared: bool,
    excluded: Vec<String>,
}

impl Projection {
    /// The stored columns of batches like `input`: `declared` (named columns, the input's type
    /// where none is declared; the caller has checked they are there) or all but `excluded`.
    pub fn new(input: &Schema, declared: Option<&[StoredColumn]>, excluded: &[&str]) -> Self {
        let fields: Vec<Field> = match declared {
            Some(columns) => columns
                .iter()
                .map(|column| {
                    let input_type = input.field_with_name(&column.name).map(|field| field.data_type().clone());
                    let data_type = column.data_type.clone().or(input_type.ok()).unwrap_or(DataType::Null);
                    Field::new(&column.name, data_type, true)
                })
                .collect(),
            None => input
                .fields()
                .iter()
                .filter(|field| !is_metadata(field.name()) && !excluded.contains(&field.name().as_str()))
                .map(|field| Field::new(field.name(), field.data_type().clone(), true))
                .collect(),
        };
        Projection {
            schema: Arc::new(Schema::new(fields)),
            declared: declared.is_some(),
            excluded: excluded.iter().map(|name| (*name).to_owned()).collect(),
        }
    }

    /// The stored columns of `batch`, which must have them all (by name, with their types) and,
    /// unless the columns were declared, no other stored column. `source` says where the batch
    /// comes from, for errors (`a later batch`).
    pub fn apply(&self, target: &str, batch: &RecordBatch, source: &str) -> Result<RecordBatch, SinkError> {
        let mut problems = Vec::new();
        let columns = pick_columns(&self.schema, batch, Some(source), &mut problems);
        if !self.declared {
            for field in batch.schema_ref().fields() {
                let name = field.name();
                let stored = !is_metadata(name) && !self.excluded.contains(name);
                if stored && self.schema.field_with_name(name).is_err() {
                    problems.push(format!("column `{name}` is only in {source}"));
                }
            }
        }
        if !problems.is_empty() {
            return Err(SinkError::Schema { target: target.to_owned(), problems });
        }
        let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        RecordBatch::try_new_with_options(self.schema.clone(), columns, &options).map_err(SinkError::arrow(target))
    }
}

/// The columns of `schema` taken by name from `batch`, in `schema`'s order. Each one missing or
/// of another type is a problem added to `problems` instead, naming `source` (where the batch
/// comes from) when given: ``column `id` is missing from a later batch``.
pub(crate) fn pick_columns(
    schema: &Schema,
    batch: &RecordBatch,
    source: Option<&str>,
    problems: &mut Vec<String>,
) -> Vec<ArrayRef> {
    let place = |preposition: &str| source.map_or_else(String::new, |source| format!(" {preposition} {source}"));
    let mut columns = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        match batch.column_by_name(field.name()) {
            Some(column) if column.data_type() == field.data_type() => columns.push(column.clone()),
            Some(column) => problems.push(format!(
                "column `{}` is {}{}, expected {}",
                field.name(),
                type_name(column.data_type()),
                place("in"),
                type_name(field.data_type())
            )),
            None => problems.push(format!("column `{}` is missing{}", field.name(), place("from"))),
        }
    }
    columns
}

/// A batch of `schema` holding, in order, the rows `rows` (batch index, row index) of `batches`,
/// which all have `schema`.
pub(crate) fn gather(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    rows: &[(u32, u32)],
) -> Result<RecordBatch, ArrowError> {
    let indices: Vec<(usize, usize)> = rows.iter().map(|&(batch, row)| (batch as usize, row as usize)).collect();
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (index, field) in schema.fields().iter().enumerate() {
        let arrays: Vec<&dyn Array> = batches.iter().map(|batch| batch.column(index).as_ref()).collect();
        if arrays.iter().any(|array| array.data_type() != field.data_type()) {
            return Err(ArrowError::SchemaError(format!("column `{}` changes type between batches", field.name())));
        }
        columns.push(if rows.is_empty() { new_empty_array(field.data_type()) } else { interleave(&arrays, &indices)? });
    }
    let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
    RecordBatch::try_new_with_options(schema.clone(), columns, &options)
}

/// One value as rows are ordered by: numbers (integers, decimals of one scale, dates) by value,
/// text and binary by bytes, and nulls after everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum SortValue<'a> {
    Number(i128),
    Bytes(&'a [u8]),
    Null,
}

/// The values of `array` to order rows by, or `None` if its type can't be ordered.
pub(crate) fn sort_values(array: &dyn Array) -> Option<Vec<SortValue<'_>>> {
    fn numbers<T: ArrowPrimitiveType>(
        array: &dyn Array,
        to_i128: impl Fn(T::Native) -> i128,
    ) -> Option<Vec<SortValue<'_>>> {
        let array = array.as_primitive_opt::<T>()?;
        Some(
            (0..array.len())
                .map(
                    |row| {
                        if array.is_valid(row) { SortValue::Number(to_i128(array.value(row))) } else { SortValue::Null }
                    },
                )
                .collect(),
        )
    }
    fn bytes<T: arrow_array::types::ByteArrayType>(array: &dyn Array) -> Option<Vec<SortValue<'_>>> {
        let array = array.as_bytes_opt::<T>()?;
        Some(
            (0..array.len())
                .map(
                    |row| {
                        if array.is_valid(row) { SortValue::Bytes(array.value(row).as_ref()) } else { SortValue::Null }
                    },
                )
                .collect(),
        )
    }
    match array.data_type() {
        DataType::Int8 => numbers::<Int8Type>(array, i128::from),
        DataType::Int16 => numbers::<Int16Type>(array, i128::from),
        DataType::Int32 => numbers::<Int32Type>(array, i128::from),
        DataType::Int64 => numbers::<Int64Type>(array, i128::from),
        DataType::UInt8 => numbers::<UInt8Type>(array, i128::from),
        DataType::UInt16 => numbers::<UInt16Type>(array, i128::from),
        DataType::UInt32 => numbers::<UInt32Type>(array, i128::from),
        DataType::UInt64 => numbers::<UInt64Type>(array, i128::from),
        DataType::Date32 => numbers::<Date32Type>(array, i128::from),
        DataType::Date64 => numbers::<Date64Type>(array, i128::from),
        DataType::Decimal128(..) => numbers::<Decimal128Type>(array, |value| value),
        DataType::Boolean => {
            let array = array.as_boolean_opt()?;
            Some(
                (0..array.len())
                    .map(|row| {
                        if array.is_valid(row) {
                            SortValue::Number(i128::from(array.value(row)))
                        } else {
                            SortValue::Null
                        }
                    })
                    .collect(),
            )
        }
        DataType::Utf8 => bytes::<Utf8Type>(array),
        DataType::LargeUtf8 => bytes::<LargeUtf8Type>(array),
        DataType::Binary => bytes::<BinaryType>(array),
        DataType::LargeBinary => bytes::<LargeBinaryType>(array),
        _ => None,
    }
}

/// The rows (batch index, row index) of `batches` in ascending order of the columns `keys`
/// (nulls last), ties kept in input order. Every key column must exist and be orderable.
pub(crate) fn sorted_rows(target: &str, batches: &[RecordBatch], keys: &[&str]) -> Result<Vec<(u32, u32)>, SinkError> {
    // values[batch][key][row]
    let mut values = Vec::with_capacity(batches.len());
    for batch in batches {
        let mut columns = Vec::with_capacity(keys.len());
        for key in keys {
            let column = batch.column_by_name(key).ok_or_else(|| SinkError::Schema {
                target: target.to_owned(),
                problems: vec![format!("column `{key}` to sort by is missing")],
            })?;
            let sortable = sort_values(column.as_ref()).ok_or_else(|| {
                SinkError::data(target, format!("cannot sort by column `{key}` of type {}", column.data_type()))
            })?;
            columns.push(sortable);
        }
        values.push(columns);
    }
    let mut rows = row_ids(target, batches)?;
    let compare = |&(a_batch, a_row): &(u32, u32), &(b_batch, b_row): &(u32, u32)| {
        let (a, b) = (&values[a_batch as usize], &values[b_batch as usize]);
        (0..keys.len())
            .map(|key| a[key][a_row as usize].cmp(&b[key][b_row as usize]))
            .find(|order| order.is_ne())
            .unwrap_or(Ordering::Equal)
    };
    rows.sort_by(compare);
    Ok(rows)
}

/// Every row of `batches` as (batch index, row index), in order.
pub(crate) fn row_ids(target: &str, batches: &[RecordBatch]) -> Result<Vec<(u32, u32)>, SinkError> {
    let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if u32::try_from(batches.len()).is_err() || batches.iter().any(|batch| u32::try_from(batch.num_rows()).is_err()) {
        return Err(SinkError::data(target, "too many batches or rows to sort in memory"));
    }
    let mut rows = Vec::with_capacity(total);
    for (index, batch) in batches.iter().enumerate() {
        rows.extend((0..batch.num_rows() as u32).map(|row| (index as u32, row)));
    }
    Ok(rows)
}

/// Appends the value of `array` at `row` as text to `out`: nothing for null, integers and
/// booleans as Rust prints them, decimals with exactly their scale (`-0.50`), dates as ISO
/// `YYYY-MM-DD`, text as is. Returns `false` (appending nothing) for another type.
pub(crate) fn write_value(out: &mut String, array: &dyn Array, row: usize) -> bool {
    fn number<T: ArrowPrimitiveType>(out: &mut String, array: &dyn Array, row: usize) -> bool
    where
        T::Native: std::fmt::Display,
    {
        let Some(array) = array.as_primitive_opt::<T>() else { return false };
        let _ = write!(out, "{}", array.value(row));
        true
    }
    if array.is_null(row) {
        return true;
    }
    match array.data_type() {
        DataType::Int8 => number::<Int8Type>(out, array, row),
        DataType::Int16 => number::<Int16Type>(out, array, row),
        DataType::Int32 => number::<Int32Type>(out, array, row),
        DataType::Int64 => number::<Int64Type>(out, array, row),
        DataType::UInt8 => number::<UInt8Type>(out, array, row),
        DataType::UInt16 => number::<UInt16Type>(out, array, row),
        DataType::UInt32 => number::<UInt32Type>(out, array, row),
        DataType::UInt64 => number::<UInt64Type>(out, array, row),
        DataType::Decimal128(_, scale) => {
            let Some(array) = array.as_primitive_opt::<Decimal128Type>() else { return false };
            write_decimal(out, array.value(row), *scale);
            true
        }
        DataType::Date32 => {
            let Some(array) = array.as_primitive_opt::<Date32Type>() else { return false };
            let _ = write!(out, "{}", IsoDate(i64::from(array.value(row))));
            true
        }
        DataType::Boolean => {
            let Some(array) = array.as_boolean_opt() else { return false };
            out.push_str(if array.value(row) { "true" } else { "false" });
            true
        }
        DataType::Utf8 => {
            let Some(array) = array.as_string_opt::<i32>() else { return false };
            out.push_str(array.value(row));
            true
        }
        DataType::LargeUtf8 => {
            let Some(array) = array.as_string_opt::<i64>() else { return false };
            out.push_str(array.value(row));
            true
        }
        _ => false,
    }
}

/// Whether [`sort_values`] can order values of `data_type`.
pub(crate) fn is_orderable(data_type: &DataType) -> bool {
    data_type.is_integer()
        || matches!(
            data_type,
            DataType::Date32
                | DataType::Date64
                | DataType::Decimal128(..)
                | DataType::Boolean
                | DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Binary
                | DataType::LargeBinary
        )
}

/// Whether [`write_value`] can write values of `data_type`.
pub(crate) fn is_writable(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Decimal128(..)
            | DataType::Date32
            | DataType::Boolean
            | DataType::Utf8
            | DataType::LargeUtf8
    )
}

/// Appends the decimal of unscaled value `value` and `scale` with exactly `scale` fraction digits.
pub(crate) fn write_decimal(out: &mut String, value: i128, scale: i8) {
    let _ = write!(out, "{}", DecimalText::new(value, i32::from(scale)));
}

#[cfg(test)]
mod tests {
    use arrow_array::{ArrayRef, Date32Array, Decimal128Array, Int32Array, StringArray};
    use arrow_cast::pretty::pretty_format_batches;

    use super::*;

    fn batch(ids: &[Option<&str>], amounts: &[Option<i128>]) -> RecordBatch {
        let amounts = Decimal128Array::from(amounts.to_vec()).with_precision_and_scale(18, 2).unwrap();
        RecordBatch::try_from_iter([
            ("id", Arc::new(StringArray::from(ids.to_vec())) as ArrayRef),
            ("amount", Arc::new(amounts) as ArrayRef),
        ])
        .unwrap()
    }

    #[test]
    fn rows_are_gathered_across_batches_and_sorted_nulls_last() {
        let batches = [
            batch(&[Some("b"), None, Some("a")], &[Some(150), Some(-50), None]),
            batch(&[Some("a"), Some("B")], &[Some(1), Some(2)]),
        ];
        let rows = sorted_rows("t", &batches, &["id"]).unwrap();
        assert_eq!(rows, [(1, 1), (0, 2), (1, 0), (0, 0), (0, 1)]);
        let gathered = gather(&batches[0].schema(), &batches, &rows).unwrap();
        assert_eq!(
            pretty_format_batches(&[gathered]).unwrap().to_string(),
            "+----+--------+\n\
             | id | amount |\n\
             +----+--------+\n\
             | B  | 0.02   |\n\
             | a  |        |\n\
             | a  | 0.01   |\n\
             | b  | 1.50   |\n\
             |    | -0.50  |\n\
             +----+--------+"
        );
        let by_amount = sorted_rows("t", &batches, &["amount", "id"]).unwrap();
        assert_eq!(by_amount, [(0, 1), (1, 0), (1, 1), (0, 0), (0, 2)]);
        let empty = gather(&batches[0].schema(), &batches, &[]).unwrap();
        assert_eq!(empty.num_rows(), 0);
    }

    #[test]
    fn columns_are_picked_by_name_and_problems_name_the_source() {
        let stored = Schema::new(vec![
            Field::new("amount", DataType::Decimal128(18, 2), true),
            Field::new("id", DataType::Int64, true),
            Field::new("region", DataType::Utf8, true),
        ]);
        let input = batch(&[Some("a")], &[Some(1)]);
        let mut problems = Vec::new();
        let columns = pick_columns(&stored, &input, None, &mut problems);
        assert_eq!(columns.len(), 1);
        assert_eq!(problems, ["column `id` is text, expected int64", "column `region` is missing"]);
        let projection = Projection::new(&stored, None, &[]);
        let error = projection.apply("t", &input, "a later batch").unwrap_err();
        assert_eq!(
            error.to_string(),
            "t: column `id` is text in a later batch, expected int64; column `region` is missing from a later batch"
        );
    }

    #[test]
    fn an_unsupported_type_is_an_error() {
        let floats: ArrayRef = Arc::new(arrow_array::Float64Array::from(vec![1.0]));
        let batch = RecordBatch::try_from_iter([("x", floats)]).unwrap();
        let error = sorted_rows("report r", &[batch], &["x"]).unwrap_err();
        assert_eq!(error.to_string(), "report r: cannot sort by column `x` of type Float64");
    }

    #[test]
    fn values_are_written_as_text() {
        let text = |array: &dyn Array, row| {
            let mut out = String::new();
            assert!(write_value(&mut out, array, row));
            out
        };
        let amounts = Decimal128Array::from(vec![Some(-50), Some(123_456), Some(-1), None, Some(0)])
            .with_precision_and_scale(18, 2)
            .unwrap();
        let written: Vec<String> = (0..5).map(|row| text(&amounts, row)).collect();
        assert_eq!(written, ["-0.50", "1234.56", "-0.01", "", "0.00"]);
        let dates = Date32Array::from(vec![0, 19_723, -1, 11_016, 2_932_896]);
        let written: Vec<String> = (0..5).map(|row| text(&dates, row)).collect();
        assert_eq!(written, ["1970-01-01", "2024-01-01", "1969-12-31", "2000-02-29", "9999-12-31"]);
        assert_eq!(text(&Int32Array::from(vec![-7]), 0), "-7");
        let mut out = String::new();
        write_decimal(&mut out, 12, -2);
        write_decimal(&mut out, 7, 0);
        assert_eq!(out, "12007");
    }
}
