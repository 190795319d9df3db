//! Row-level helpers for stages that split a batch: keeping the rows a mask selects ([`filter`],
//! arrow-select's kernel), taking rows by index ([`take`]; a contiguous run is a zero-copy
//! slice), building the `rejected` port's batches
//! ([`rejected`], [`check_pass_through`]), encoding key values so that equal values, and only
//! those, give equal bytes ([`KeyColumn`]; [`crate::index::KeyIndex`] keeps a set of them).

use std::sync::Arc;

use arrow_array::builder::GenericByteBuilder;
use arrow_array::cast::AsArray;
use arrow_array::types::ByteArrayType;
use arrow_array::{
    Array, ArrayRef, ArrowPrimitiveType, BooleanArray, GenericByteArray, NullArray, PrimitiveArray, RecordBatch,
    RecordBatchOptions, StringArray, downcast_primitive_array,
};
use arrow_buffer::{ArrowNativeType, NullBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::{Error, Result};

/// The column a `rejected` row carries its reasons in: `rule(column)` joined by `;`, never null.
pub const REASONS: &str = "_reasons";
/// The column a `rejected` row carries a free-text explanation in; nullable.
pub const MESSAGE: &str = "_message";

/// Checks, before any row is looked at, that every column of `schema` can be passed through
/// [`take`] and that none clashes with the columns [`rejected`] appends. Checking up front makes
/// an unsupported column fail on the first batch, not on the first batch that rejects a row.
pub fn check_pass_through(schema: &Schema) -> Result<()> {
    for field in schema.fields() {
        if field.name() == REASONS || field.name() == MESSAGE {
            return Err(Error::input(format!(
                "input column `{}` clashes with the column this stage adds to rejected rows",
                field.name()
            )));
        }
        if !can_take(field.data_type()) {
            return Err(Error::input(format!(
                "column `{}` has type {}, which this stage cannot pass through (supported: integers, floats, \
                 decimals, dates, times, timestamps, durations, intervals, Boolean, Utf8, LargeUtf8, Binary, \
                 LargeBinary, Null)",
                field.name(),
                field.data_type()
            )));
        }
    }
    Ok(())
}

fn can_take(data_type: &DataType) -> bool {
    data_type.is_primitive()
        || matches!(
            data_type,
            DataType::Boolean
                | DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Binary
                | DataType::LargeBinary
                | DataType::Null
        )
}

/// The rows of `batch` where `keep` is true (a null counts as false), with the same schema:
/// Arrow's own filter kernel. `keep` has one value per row.
///
/// ```
/// # use std::sync::Arc;
/// # use etl_sdk::arrow::array::{BooleanArray, Int64Array};
/// # let batch = etl_sdk::arrow::RecordBatch::try_from_iter([("n", Arc::new(Int64Array::from(vec![1, 5, 9])) as _)]).unwrap();
/// let big: BooleanArray = (0..batch.num_rows()).map(|_| Some(true)).collect();
/// assert_eq!(etl_sdk::filter(&batch, &big).unwrap().num_rows(), 3);
/// ```
pub fn filter(batch: &RecordBatch, keep: &BooleanArray) -> Result<RecordBatch> {
    if keep.len() != batch.num_rows() {
        return Err(Error::failed(format!(
            "filter: {} keep flags for a batch of {} rows",
            keep.len(),
            batch.num_rows()
        )));
    }
    arrow_select::filter::filter_record_batch(batch, keep).map_err(|e| Error::failed(format!("filter: {e}")))
}

/// The rows `rows` of `batch`, in that order, with the same schema. `rows` must be ascending row
/// indices of `batch`. A contiguous run is a zero-copy slice.
pub fn take(batch: &RecordBatch, rows: &[usize]) -> Result<RecordBatch> {
    match (rows.first(), rows.last()) {
        (None, _) | (_, None) => return Ok(batch.slice(0, 0)),
        (Some(&first), Some(&last)) if last - first + 1 == rows.len() => return Ok(batch.slice(first, rows.len())),
        _ => {}
    }
    let columns = batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, column)| take_array(field.name(), column.as_ref(), rows))
        .collect::<Result<Vec<_>>>()?;
    with_columns(batch.schema(), columns, rows.len())
}

/// The rows `rows` of `batch` (see [`take`]) with [`REASONS`] and [`MESSAGE`] appended: what a
/// stage emits on its `rejected` port. `reasons` and `messages` hold one value per row of `rows`.
pub fn rejected(
    batch: &RecordBatch,
    rows: &[usize],
    reasons: StringArray,
    messages: StringArray,
) -> Result<RecordBatch> {
    let taken = take(batch, rows)?;
    let schema = taken.schema();
    let mut fields = schema.fields().to_vec();
    fields.push(Arc::new(Field::new(REASONS, DataType::Utf8, false)));
    fields.push(Arc::new(Field::new(MESSAGE, DataType::Utf8, true)));
    let mut columns = taken.columns().to_vec();
    columns.push(Arc::new(reasons));
    columns.push(Arc::new(messages));
    with_columns(Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())), columns, rows.len())
}

fn with_columns(schema: SchemaRef, columns: Vec<ArrayRef>, rows: usize) -> Result<RecordBatch> {
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(schema, columns, &options)?)
}

fn take_array(name: &str, array: &dyn Array, rows: &[usize]) -> Result<ArrayRef> {
    Ok(downcast_primitive_array!(
        array => Arc::new(take_primitive(array, rows)),
        DataType::Boolean => Arc::new(take_boolean(array.as_boolean(), rows)),
        DataType::Utf8 => Arc::new(take_bytes(array.as_string::<i32>(), rows)),
        DataType::LargeUtf8 => Arc::new(take_bytes(array.as_string::<i64>(), rows)),
        DataType::Binary => Arc::new(take_bytes(array.as_binary::<i32>(), rows)),
        DataType::LargeBinary => Arc::new(take_bytes(array.as_binary::<i64>(), rows)),
        DataType::Null => Arc::new(NullArray::new(rows.len())),
        other => return Err(Error::input(format!("column `{name}` has type {other}, which this stage cannot pass through"))),
    ))
}

fn take_nulls(nulls: Option<&NullBuffer>, rows: &[usize]) -> Option<NullBuffer> {
    let nulls = nulls.filter(|nulls| nulls.null_count() > 0)?;
    let taken: NullBuffer = rows.iter().map(|&row| nulls.is_valid(row)).collect();
    (taken.null_count() > 0).then_some(taken)
}

fn take_primitive<T: ArrowPrimitiveType>(array: &PrimitiveArray<T>, rows: &[usize]) -> PrimitiveArray<T> {
    let values = array.values();
    let taken: ScalarBuffer<T::Native> = rows.iter().map(|&row| values[row]).collect();
    // Keeps the parameters of the type (a decimal's precision and scale, a timestamp's zone).
    PrimitiveArray::new(taken, take_nulls(array.nulls(), rows)).with_data_type(array.data_type().clone())
}

fn take_boolean(array: &BooleanArray, rows: &[usize]) -> BooleanArray {
    let values = array.values();
    BooleanArray::new(rows.iter().map(|&row| values.value(row)).collect(), take_nulls(array.nulls(), rows))
}

fn take_bytes<T: ByteArrayType>(array: &GenericByteArray<T>, rows: &[usize]) -> GenericByteArray<T> {
    let offsets = array.value_offsets();
    let bytes = rows.iter().map(|&row| offsets[row + 1].as_usize() - offsets[row].as_usize()).sum();
    let mut builder = GenericByteBuilder::<T>::with_capacity(rows.len(), bytes);
    let nulls = array.nulls().filter(|nulls| nulls.null_count() > 0);
    for &row in rows {
        if nulls.is_some_and(|nulls| nulls.is_null(row)) {
            builder.append_null();
        } else {
            builder.append_value(array.value(row));
        }
    }
    builder.finish()
}

/// One column's values read as part of a key. [`KeyColumn::encode`] appends a value's encoding:
/// a null is `0`; a value is `1` then its bytes (fixed-width values as they are stored, variable
/// ones behind their LEB128 length), so the concatenated encodings of several columns are equal
/// exactly when every value is (nulls equal each other) and keys never run into each other.
#[derive(Debug)]
pub enum KeyColumn<'a> {
    /// A `Null` column: every value is null.
    Null,
    /// A `Boolean` column: one byte per value.
    Boolean(&'a BooleanArray),
    /// Utf8 or Binary values: `data[offsets[row]..offsets[row + 1]]`.
    Bytes { nulls: Option<&'a NullBuffer>, offsets: &'a [i32], data: &'a [u8] },
    /// LargeUtf8 or LargeBinary values.
    LargeBytes { nulls: Option<&'a NullBuffer>, offsets: &'a [i64], data: &'a [u8] },
    /// Integers, decimals, dates, times...: `width` bytes per value.
    Fixed { nulls: Option<&'a NullBuffer>, data: &'a [u8], width: usize },
}

impl<'a> KeyColumn<'a> {
    /// Reads column `name` as a key part. Floating-point columns are refused: their values have
    /// no exact equality (`NaN`, `-0.0`).
    pub fn new(name: &str, array: &'a dyn Array) -> Result<Self> {
        fn fixed<T: ArrowPrimitiveType>(array: &PrimitiveArray<T>) -> KeyColumn<'_> {
            let nulls = array.nulls().filter(|nulls| nulls.null_count() > 0);
            // The values buffer is already offset to the array's first row.
            KeyColumn::Fixed { nulls, data: array.values().inner().as_slice(), width: size_of::<T::Native>() }
        }
        let nulls = array.nulls().filter(|nulls| nulls.null_count() > 0);
        Ok(downcast_primitive_array!(
            array => {
                if array.data_type().is_floating() {
                    return Err(Error::input(format!(
                        "column `{name}` has type {}: floating-point values cannot be compared exactly as keys",
                        array.data_type()
                    )));
                }
                fixed(array)
            }
            DataType::Null => KeyColumn::Null,
            DataType::Boolean => KeyColumn::Boolean(array.as_boolean()),
            DataType::Utf8 => {
                let array = array.as_string::<i32>();
                KeyColumn::Bytes { nulls, offsets: array.value_offsets(), data: array.value_data() }
            }
            DataType::LargeUtf8 => {
                let array = array.as_string::<i64>();
                KeyColumn::LargeBytes { nulls, offsets: array.value_offsets(), data: array.value_data() }
            }
            DataType::Binary => {
                let array = array.as_binary::<i32>();
                KeyColumn::Bytes { nulls, offsets: array.value_offsets(), data: array.value_data() }
            }
            DataType::LargeBinary => {
                let array = array.as_binary::<i64>();
                KeyColumn::LargeBytes { nulls, offsets: array.value_offsets(), data: array.value_data() }
            }
            other => {
                return Err(Error::input(format!("column `{name}` has type {other}, which cannot be used as a key")));
            }
        ))
    }

    /// Appends the encoding of row `row`'s value to `key`.
    pub fn encode(&self, row: usize, key: &mut Vec<u8>) {
        if self.is_null(row) {
            key.push(0);
            return;
        }
        key.push(1);
        match self {
            KeyColumn::Null => {}
            KeyColumn::Boolean(array) => key.push(u8::from(array.value(row))),
            KeyColumn::Bytes { offsets, data, .. } => {
                push_bytes(key, &data[offsets[row] as usize..offsets[row + 1] as usize]);
            }
            KeyColumn::LargeBytes { offsets, data, .. } => {
                push_bytes(key, &data[offsets[row] as usize..offsets[row + 1] as usize]);
            }
            KeyColumn::Fixed { data, width, .. } => crate::bytes::append(key, &data[row * width..(row + 1) * width]),
        }
    }

    /// Whether row `row`'s value is null.
    pub fn is_null(&self, row: usize) -> bool {
        match self {
            KeyColumn::Null => true,
            KeyColumn::Boolean(array) => array.is_null(row),
            KeyColumn::Bytes { nulls, .. } | KeyColumn::LargeBytes { nulls, .. } | KeyColumn::Fixed { nulls, .. } => {
                nulls.is_some_and(|nulls| nulls.is_null(row))
            }
        }
    }
}

/// Appends `value` behind its length (LEB128).
fn push_bytes(key: &mut Vec<u8>, value: &[u8]) {
    let mut length = value.len();
    while length >= 0x80 {
        key.push((length & 0x7f) as u8 | 0x80);
        length >>= 7;
    }
    key.push(length as u8);
    crate::bytes::append(key, value);
}

#[cfg(test)]
mod tests {
    use arrow_array::{Date32Array, Decimal128Array, Float64Array, Int64Array, StringArray};

    use super::*;

    fn batch() -> RecordBatch {
        let price =
            Decimal128Array::from(vec![Some(1), None, Some(300), Some(4)]).with_precision_and_scale(10, 2).unwrap();
        RecordBatch::try_from_iter([
            ("id", Arc::new(StringArray::from(vec![Some("a"), Some("bb"), None, Some("d")])) as ArrayRef),
            ("n", Arc::new(Int64Array::from(vec![Some(1), None, Some(3), Some(4)])) as ArrayRef),
            ("price", Arc::new(price) as ArrayRef),
            ("day", Arc::new(Date32Array::from(vec![0, 1, 2, 3])) as ArrayRef),
            ("ok", Arc::new(BooleanArray::from(vec![Some(true), Some(false), None, Some(true)])) as ArrayRef),
        ])
        .unwrap()
    }

    #[test]
    fn filter_keeps_the_rows_the_mask_selects() {
        let batch = batch();
        let kept = filter(&batch, &BooleanArray::from(vec![Some(true), None, Some(false), Some(true)])).unwrap();
        assert_eq!(kept.schema(), batch.schema());
        assert_eq!(kept.num_rows(), 2, "a null keeps nothing");
        let ids = kept.column(0).as_string::<i32>();
        assert_eq!((ids.value(0), ids.value(1)), ("a", "d"));
        let error = filter(&batch, &BooleanArray::from(vec![true])).unwrap_err();
        assert_eq!(error.to_string(), "filter: 1 keep flags for a batch of 4 rows");
    }

    #[test]
    fn take_keeps_types_values_and_nulls() {
        let batch = batch();
        let taken = take(&batch, &[0, 2, 3]).unwrap();
        assert_eq!(taken.schema(), batch.schema());
        let expected = [0, 2, 3].map(|row| batch.slice(row, 1));
        for (column, _) in batch.schema().fields().iter().enumerate() {
            for (i, row) in expected.iter().enumerate() {
                assert_eq!(taken.column(column).slice(i, 1).to_data(), row.column(column).to_data());
            }
        }
        assert_eq!(take(&batch, &[1, 2]).unwrap(), batch.slice(1, 2));
        assert_eq!(take(&batch, &[]).unwrap().num_rows(), 0);
    }

    #[test]
    fn keys_tell_null_from_empty_and_never_run_together() {
        let array = StringArray::from(vec![Some("ab"), Some(""), None, Some("a")]);
        let other = StringArray::from(vec![Some(""), Some("ab"), Some(""), Some("b")]);
        let (a, b) = (KeyColumn::new("a", &array).unwrap(), KeyColumn::new("b", &other).unwrap());
        let keys: Vec<Vec<u8>> = (0..4)
            .map(|row| {
                let mut key = Vec::new();
                a.encode(row, &mut key);
                b.encode(row, &mut key);
                key
            })
            .collect();
        for i in 0..4 {
            for j in 0..4 {
                assert_eq!(keys[i] == keys[j], i == j, "rows {i} and {j}");
            }
        }
        assert!(a.is_null(2) && !a.is_null(1));
    }

    #[test]
    fn float_keys_are_refused() {
        let array = Float64Array::from(vec![1.0]);
        assert_eq!(
            KeyColumn::new("x", &array).unwrap_err(),
            Error::input("column `x` has type Float64: floating-point values cannot be compared exactly as keys")
        );
    }
}
