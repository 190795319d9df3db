//! Trimming text columns: leading and trailing Unicode whitespace, as Rust's `str::trim` removes.

use std::sync::Arc;

use etl_sdk::arrow::RecordBatch;
use etl_sdk::arrow::array::cast::AsArray;
use etl_sdk::arrow::array::{Array, ArrayRef, GenericStringArray, OffsetSizeTrait};
use etl_sdk::arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use etl_sdk::arrow::schema::DataType;
use etl_sdk::{Error, Result};

use crate::config::Trim;

/// `batch` with the text columns `trim` selects trimmed, and how many values changed. A column
/// in which no value changes is passed on as it is, without a copy.
pub fn trim_batch(batch: RecordBatch, trim: &Trim) -> Result<(RecordBatch, u64)> {
    let schema = batch.schema();
    let selected: Vec<usize> = match trim {
        Trim::All => (0..schema.fields().len())
            .filter(|&index| {
                let field = schema.field(index);
                !field.name().starts_with('_') && is_text(field.data_type())
            })
            .collect(),
        Trim::Columns(columns) => {
            columns.iter().map(|column| listed_column(&batch, column)).collect::<Result<Vec<usize>>>()?
        }
    };
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    let mut changed = 0u64;
    for index in selected {
        let trimmed = match columns[index].data_type() {
            DataType::LargeUtf8 => trim_strings(columns[index].as_string::<i64>()),
            _ => trim_strings(columns[index].as_string::<i32>()),
        };
        if let Some((array, count)) = trimmed {
            columns[index] = array;
            changed = changed.saturating_add(count);
        }
    }
    if changed == 0 {
        return Ok((batch, 0));
    }
    Ok((RecordBatch::try_new(schema, columns)?, changed))
}

fn is_text(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Utf8 | DataType::LargeUtf8)
}

/// The index of `column`, listed under `trim:`, which must exist and hold text.
fn listed_column(batch: &RecordBatch, column: &str) -> Result<usize> {
    let index = batch
        .schema()
        .index_of(column)
        .map_err(|_| Error::input(format!("missing required column `{column}` (listed under `trim`)")))?;
    match batch.column(index).data_type() {
        data_type if is_text(data_type) => Ok(index),
        other => Err(Error::input(format!("column `{column}` has type {other}, expected Utf8 (listed under `trim`)"))),
    }
}

/// The trimmed array and how many values changed, or `None` if none would.
fn trim_strings<O: OffsetSizeTrait>(array: &GenericStringArray<O>) -> Option<(ArrayRef, u64)> {
    let trimmed = |row: usize| -> Option<&str> {
        let value = array.value(row);
        (array.is_valid(row) && may_need_trim(value.as_bytes()))
            .then(|| value.trim())
            .filter(|t| t.len() != value.len())
    };
    let first = (0..array.len()).find(|&row| trimmed(row).is_some())?;
    let mut values = Vec::with_capacity(array.value_data().len());
    let mut offsets: Vec<O> = Vec::with_capacity(array.len() + 1);
    offsets.push(O::usize_as(0));
    let mut changed = 0u64;
    for row in 0..array.len() {
        if array.is_valid(row) {
            let value = if row < first { None } else { trimmed(row) };
            changed += u64::from(value.is_some());
            etl_sdk::bytes::append(&mut values, value.unwrap_or_else(|| array.value(row)).as_bytes());
        }
        // No longer than the array's own values, so it fits its offsets.
        offsets.push(O::usize_as(values.len()));
    }
    // SAFETY: the offsets start at 0, never decrease and end at the length of `values`, which
    // holds, one after the other, whole values of `array` or `str::trim` slices of them: UTF-8.
    let array = unsafe {
        GenericStringArray::<O>::new_unchecked(
            OffsetBuffer::new_unchecked(ScalarBuffer::from(offsets)),
            Buffer::from_vec(values),
            array.nulls().cloned(),
        )
    };
    Some((Arc::new(array), changed))
}

/// Whether `value` may start or end with whitespace: an ASCII whitespace byte, or any byte of a
/// multi-byte character (a few are Unicode whitespace) at either end. Two byte tests instead of
/// decoding characters from both ends; exact when it says no.
fn may_need_trim(value: &[u8]) -> bool {
    let edge = |byte: u8| matches!(byte, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ') || byte >= 0x80;
    value.first().is_some_and(|&b| edge(b)) || value.last().is_some_and(|&b| edge(b))
}

#[cfg(test)]
mod tests {
    use etl_sdk::arrow::array::StringArray;

    use super::*;

    #[test]
    fn trims_unicode_whitespace_and_counts_changes() {
        let array =
            StringArray::from(vec![Some("a"), Some("\u{3000}x\t"), None, Some(" "), Some("b c"), Some("\u{a0}y")]);
        let (trimmed, changed) = trim_strings(&array).unwrap();
        let trimmed = trimmed.as_string::<i32>();
        let values: Vec<Option<&str>> = trimmed.iter().collect();
        assert_eq!(values, [Some("a"), Some("x"), None, Some(""), Some("b c"), Some("y")]);
        assert_eq!(changed, 3);
        assert!(trim_strings(&StringArray::from(vec![Some("a"), None, Some("b c")])).is_none());
    }

    #[test]
    fn the_edge_test_misses_no_whitespace_character() {
        // Every character `str::trim` removes makes a value `may_need_trim`.
        for c in (0..=char::MAX as u32).filter_map(char::from_u32).filter(|c| c.is_whitespace()) {
            for value in [format!("{c}x"), format!("x{c}"), c.to_string()] {
                assert!(may_need_trim(value.as_bytes()), "{c:?} in {value:?}");
            }
        }
        assert!(!may_need_trim(b"plain") && !may_need_trim(b"") && !may_need_trim(b"in side"));
    }

    #[test]
    fn keeps_nulls_and_large_offsets_and_copies_only_what_changes() {
        use etl_sdk::arrow::array::LargeStringArray;
        let array = LargeStringArray::from(vec![Some("a"), None, Some(" b "), Some("é\u{2003}"), Some("")]);
        let (trimmed, changed) = trim_strings(&array).unwrap();
        let trimmed = trimmed.as_string::<i64>();
        assert_eq!(trimmed.iter().collect::<Vec<_>>(), [Some("a"), None, Some("b"), Some("é"), Some("")]);
        assert_eq!((changed, trimmed.null_count()), (2, 1));
        // A sliced array's offsets need not start at 0.
        let sliced = StringArray::from(vec![Some(" x"), Some("y "), Some("z")]).slice(1, 2);
        let (trimmed, changed) = trim_strings(&sliced).unwrap();
        assert_eq!(trimmed.as_string::<i32>().iter().collect::<Vec<_>>(), [Some("y"), Some("z")]);
        assert_eq!(changed, 1);
    }
}
