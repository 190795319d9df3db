//! Trimming text columns: leading and trailing Unicode whitespace, as Rust's `str::trim` removes.

use std::sync::Arc;

use etl_sdk::arrow::RecordBatch;
use etl_sdk::arrow::array::builder::GenericStringBuilder;
use etl_sdk::arrow::array::cast::AsArray;
use etl_sdk::arrow::array::{Array, ArrayRef, GenericStringArray, OffsetSizeTrait};
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
    let untrimmed = |value: &str| value.trim().len() != value.len();
    if !array.iter().any(|value| value.is_some_and(untrimmed)) {
        return None;
    }
    let mut builder = GenericStringBuilder::<O>::with_capacity(array.len(), array.value_data().len());
    let mut changed = 0u64;
    for value in array.iter() {
        match value {
            None => builder.append_null(),
            Some(value) => {
                let trimmed = value.trim();
                changed += u64::from(trimmed.len() != value.len());
                builder.append_value(trimmed);
            }
        }
    }
    Some((Arc::new(builder.finish()), changed))
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
}
