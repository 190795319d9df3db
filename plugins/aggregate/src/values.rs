//! The column types `aggregate` groups by and aggregates, read from a batch ([`Values`]) and
//! written back into arrays; numbers are carried as i128 in between, exactly.

use std::sync::Arc;

use etl_sdk::arrow::RecordBatch;
use etl_sdk::arrow::array::{Array, ArrayRef, Date32Array, Decimal128Array, Int32Array, Int64Array, StringArray};
use etl_sdk::arrow::schema::DataType;
use etl_sdk::dates::IsoDate;
use etl_sdk::decimal::DecimalText;
use etl_sdk::{Error, Result};

/// A column type `aggregate` understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    Utf8,
    Int32,
    Int64,
    Date32,
    Decimal { precision: u8, scale: i8 },
}

impl ValueType {
    pub fn of(data_type: &DataType) -> Option<Self> {
        Some(match data_type {
            DataType::Utf8 => ValueType::Utf8,
            DataType::Int32 => ValueType::Int32,
            DataType::Int64 => ValueType::Int64,
            DataType::Date32 => ValueType::Date32,
            DataType::Decimal128(precision, scale) => ValueType::Decimal { precision: *precision, scale: *scale },
            _ => return None,
        })
    }

    pub fn data_type(self) -> DataType {
        match self {
            ValueType::Utf8 => DataType::Utf8,
            ValueType::Int32 => DataType::Int32,
            ValueType::Int64 => DataType::Int64,
            ValueType::Date32 => DataType::Date32,
            ValueType::Decimal { precision, scale } => DataType::Decimal128(precision, scale),
        }
    }
}

/// One column of a batch, downcast to its type.
#[derive(Debug, Clone, Copy)]
pub enum Values<'a> {
    Utf8(&'a StringArray),
    Int32(&'a Int32Array),
    Int64(&'a Int64Array),
    Date32(&'a Date32Array),
    Decimal(&'a Decimal128Array),
}

impl<'a> Values<'a> {
    /// The column `name` of `batch`, which must have type `ty`.
    pub fn read(batch: &'a RecordBatch, name: &str, ty: ValueType) -> Result<Self> {
        let data_type = ty.data_type();
        Ok(match ty {
            ValueType::Utf8 => Values::Utf8(etl_sdk::column_as(batch, name, &data_type)?),
            ValueType::Int32 => Values::Int32(etl_sdk::column_as(batch, name, &data_type)?),
            ValueType::Int64 => Values::Int64(etl_sdk::column_as(batch, name, &data_type)?),
            ValueType::Date32 => Values::Date32(etl_sdk::column_as(batch, name, &data_type)?),
            ValueType::Decimal { .. } => Values::Decimal(etl_sdk::column_as(batch, name, &data_type)?),
        })
    }

    pub fn is_valid(&self, row: usize) -> bool {
        match self {
            Values::Utf8(a) => a.is_valid(row),
            Values::Int32(a) => a.is_valid(row),
            Values::Int64(a) => a.is_valid(row),
            Values::Date32(a) => a.is_valid(row),
            Values::Decimal(a) => a.is_valid(row),
        }
    }

    /// Appends the value at `row` to `key` so that two rows append the same bytes exactly when
    /// their values are equal (nulls equal each other): a tag byte, then the value's bytes, with
    /// text prefixed by its length.
    pub fn encode(&self, row: usize, key: &mut Vec<u8>) {
        if !self.is_valid(row) {
            key.push(0);
            return;
        }
        key.push(1);
        match self {
            Values::Utf8(a) => {
                let text = a.value(row).as_bytes();
                key.extend_from_slice(&(text.len() as u64).to_le_bytes());
                etl_sdk::bytes::append(key, text);
            }
            Values::Int32(a) => key.extend_from_slice(&a.value(row).to_le_bytes()),
            Values::Int64(a) => key.extend_from_slice(&a.value(row).to_le_bytes()),
            Values::Date32(a) => key.extend_from_slice(&a.value(row).to_le_bytes()),
            Values::Decimal(a) => key.extend_from_slice(&a.value(row).to_le_bytes()),
        }
    }

    /// The text at `row` of a Utf8 column (`None` for a null, or for another type).
    pub fn text(&self, row: usize) -> Option<&'a str> {
        match self {
            Values::Utf8(a) if a.is_valid(row) => Some(a.value(row)),
            _ => None,
        }
    }

    /// The number at `row` of a numeric column, as an exact i128 (`None` for a null or for text).
    pub fn number(&self, row: usize) -> Option<i128> {
        if !self.is_valid(row) {
            return None;
        }
        match self {
            Values::Utf8(_) => None,
            Values::Int32(a) => Some(a.value(row).into()),
            Values::Int64(a) => Some(a.value(row).into()),
            Values::Date32(a) => Some(a.value(row).into()),
            Values::Decimal(a) => Some(a.value(row)),
        }
    }
}

/// An array of `ty` (numeric) from exact values; a value outside the type is a bug.
pub fn numeric_array(ty: ValueType, values: impl ExactSizeIterator<Item = Option<i128>>) -> Result<ArrayRef> {
    fn narrow<T: TryFrom<i128>>(values: impl Iterator<Item = Option<i128>>) -> Result<Vec<Option<T>>> {
        values
            .map(|v| {
                v.map(|v| {
                    T::try_from(v)
                        .map_err(|_| Error::failed(format!("value {v} does not fit its column; this is a bug")))
                })
                .transpose()
            })
            .collect()
    }
    Ok(match ty {
        ValueType::Int32 => Arc::new(Int32Array::from(narrow::<i32>(values)?)),
        ValueType::Date32 => Arc::new(Date32Array::from(narrow::<i32>(values)?)),
        ValueType::Int64 => Arc::new(Int64Array::from(narrow::<i64>(values)?)),
        ValueType::Decimal { precision, scale } => {
            Arc::new(Decimal128Array::from_iter(values).with_precision_and_scale(precision, scale)?)
        }
        ValueType::Utf8 => return Err(Error::failed("a text column built as numbers; this is a bug")),
    })
}

/// A Utf8 array of `values`, refusing (rather than overflowing) more text than one array holds.
pub fn utf8_array<'a>(values: impl Iterator<Item = Option<&'a str>> + Clone) -> Result<ArrayRef> {
    let bytes = values.clone().flatten().map(str::len).fold(0usize, usize::saturating_add);
    if i32::try_from(bytes).is_err() {
        return Err(Error::failed(format!("{bytes} bytes of text in one output batch, more than a Utf8 array holds")));
    }
    Ok(Arc::new(values.collect::<StringArray>()))
}

/// A value as text for messages: decimals at their scale (`-0.05`; a negative scale as an
/// exponent, `42e2`), dates in ISO form.
pub fn show(ty: ValueType, value: i128) -> String {
    match ty {
        ValueType::Decimal { scale, .. } if scale < 0 => format!("{value}e{}", -i32::from(scale)),
        ValueType::Decimal { scale, .. } => DecimalText::new(value, i32::from(scale)).to_string(),
        ValueType::Date32 => match i32::try_from(value) {
            Ok(days) => IsoDate(i64::from(days)).to_string(),
            Err(_) => value.to_string(),
        },
        _ => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_values_for_messages() {
        let decimal = ValueType::Decimal { precision: 18, scale: 2 };
        assert_eq!(show(decimal, -5), "-0.05");
        assert_eq!(show(decimal, 123_456), "1234.56");
        assert_eq!(show(ValueType::Decimal { precision: 5, scale: 0 }, 42), "42");
        assert_eq!(show(ValueType::Decimal { precision: 5, scale: -2 }, 42), "42e2");
        assert_eq!(show(ValueType::Date32, 0), "1970-01-01");
        assert_eq!(show(ValueType::Date32, -1), "1969-12-31");
        assert_eq!(show(ValueType::Date32, 19_782), "2024-02-29");
        assert_eq!(show(ValueType::Int64, -7), "-7");
    }
}
