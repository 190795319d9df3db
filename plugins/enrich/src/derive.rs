//! The computed columns of `derive`: exact products of two numeric columns, and the calendar parts
//! of a date column.

use std::sync::Arc;

use etl_sdk::arrow::RecordBatch;
use etl_sdk::arrow::array::types::{Decimal128Type, Int32Type, Int64Type};
use etl_sdk::arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, Date32Array, Decimal128Array, Int32Array, Int64Array, PrimitiveArray,
};
use etl_sdk::arrow::buffer::NullBuffer;
use etl_sdk::arrow::schema::DataType;
use etl_sdk::dates::civil_from_days;
use etl_sdk::decimal::DecimalText;
use etl_sdk::{Error, Result};

use crate::config::{DatePart, ResultType};

/// One factor of a product: a column read as integers at a scale (0 for Int32 and Int64).
struct Factor<'a> {
    name: &'a str,
    array: &'a ArrayRef,
    scale: u8,
}

impl<'a> Factor<'a> {
    fn of(batch: &'a RecordBatch, name: &'a str, derived: &str) -> Result<Self> {
        let array =
            batch.column_by_name(name).ok_or_else(|| Error::input(format!("missing required column `{name}`")))?;
        let scale = match array.data_type() {
            DataType::Int32 | DataType::Int64 => 0,
            DataType::Decimal128(_, scale) => u8::try_from(*scale).map_err(|_| {
                Error::input(format!("column `{name}` has a negative scale ({scale}), which {derived} cannot multiply"))
            })?,
            other => {
                return Err(Error::input(format!(
                    "column `{name}` has type {other}, expected Int32, Int64 or Decimal128 ({derived} multiplies it)"
                )));
            }
        };
        Ok(Factor { name, array, scale })
    }

    /// The value at `row` as written, for messages.
    fn show(&self, row: usize) -> String {
        let value = match self.array.data_type() {
            DataType::Int32 => downcast::<Int32Type>(self.array).map(|a| i128::from(a.value(row))),
            DataType::Int64 => downcast::<Int64Type>(self.array).map(|a| i128::from(a.value(row))),
            _ => downcast::<Decimal128Type>(self.array).map(|a| a.value(row)),
        };
        value.map(|v| DecimalText::new(v, i32::from(self.scale)).to_string()).unwrap_or_else(|_| "?".into())
    }
}

fn downcast<T: ArrowPrimitiveType>(array: &ArrayRef) -> Result<&PrimitiveArray<T>> {
    array.as_any().downcast_ref::<PrimitiveArray<T>>().ok_or_else(|| {
        Error::failed(format!(
            "array of type {} does not downcast to {}; this is a bug",
            array.data_type(),
            T::DATA_TYPE
        ))
    })
}

/// `left × right` for every row, exact, in `result`: null where either factor is null.
///
/// The product's scale is the sum of the factors' scales; it is raised to the result's scale by a
/// power of ten (never lowered: that would drop digits, and is refused). A value that does not fit
/// the result (`|v| >= 10^precision`, or beyond Int64) fails the batch, naming the row's `_line`.
pub fn multiply(
    batch: &RecordBatch,
    name: &str,
    (left, right): (&str, &str),
    result: ResultType,
    lines: Option<&Int64Array>,
) -> Result<ArrayRef> {
    let derived = format!("derive `{name}`");
    let (left, right) = (Factor::of(batch, left, &derived)?, Factor::of(batch, right, &derived)?);
    let product_scale = left.scale + right.scale;
    let Some(extra) = result.scale().checked_sub(product_scale) else {
        return Err(Error::input(format!(
            "{derived}: `{}` × `{}` has scale {product_scale}, more than the {} of {result}; rescaling would lose digits",
            left.name,
            right.name,
            result.scale()
        )));
    };
    let factor = crate::decimal::pow10(extra)
        .ok_or_else(|| Error::failed(format!("{derived}: scale factor 10^{extra} overflows; this is a bug")))?;
    let (min, max) = match result {
        ResultType::Decimal { precision, .. } => {
            let bound = crate::decimal::pow10(precision).unwrap_or(i128::MAX);
            (1 - bound, bound - 1)
        }
        ResultType::Int64 => (i128::from(i64::MIN), i128::from(i64::MAX)),
    };
    let bounds = Bounds { factor, min, max };

    macro_rules! product_of {
        ($a:ty, $b:ty) => {
            product(downcast::<$a>(left.array)?, downcast::<$b>(right.array)?, bounds)
        };
    }
    use DataType::{Decimal128 as Dec, Int32, Int64};
    let computed = match (left.array.data_type(), right.array.data_type()) {
        (Int64, Dec(..)) => product_of!(Int64Type, Decimal128Type),
        (Dec(..), Int64) => product_of!(Decimal128Type, Int64Type),
        (Dec(..), Dec(..)) => product_of!(Decimal128Type, Decimal128Type),
        (Int32, Dec(..)) => product_of!(Int32Type, Decimal128Type),
        (Dec(..), Int32) => product_of!(Decimal128Type, Int32Type),
        (Int64, Int64) => product_of!(Int64Type, Int64Type),
        (Int32, Int64) => product_of!(Int32Type, Int64Type),
        (Int64, Int32) => product_of!(Int64Type, Int32Type),
        (Int32, Int32) => product_of!(Int32Type, Int32Type),
        (a, b) => return Err(Error::failed(format!("{derived}: cannot multiply {a} by {b}; this is a bug"))),
    };
    let (values, nulls) = computed.map_err(|OutOfRange { row, value }| {
        let value = match value {
            Some(value) => DecimalText::new(value, i32::from(result.scale())).to_string(),
            None => "a value beyond 38 digits".into(),
        };
        Error::failed(format!(
            "{derived}: {} × {} = {value} does not fit {result} ({})",
            left.show(row),
            right.show(row),
            locate(lines, row)
        ))
    })?;

    Ok(match result {
        ResultType::Decimal { .. } => {
            Arc::new(Decimal128Array::new(values.into(), nulls).with_data_type(result.data_type()))
        }
        // Every value was checked against the Int64 range above, so the casts are exact.
        ResultType::Int64 => {
            Arc::new(Int64Array::new(values.into_iter().map(|v| v as i64).collect::<Vec<_>>().into(), nulls))
        }
    })
}

/// Where a row came from, for messages: its `_line` if the batch has one.
fn locate(lines: Option<&Int64Array>, row: usize) -> String {
    match lines {
        Some(lines) if row < lines.len() && lines.is_valid(row) => format!("line {}", lines.value(row)),
        _ => format!("row {row} of the batch"),
    }
}

#[derive(Clone, Copy)]
struct Bounds {
    factor: i128,
    min: i128,
    max: i128,
}

/// The first row whose product does not fit, with the product if it fits in i128.
struct OutOfRange {
    row: usize,
    value: Option<i128>,
}

/// `a[i] × b[i] × factor` for every row where both are valid; each checked against `bounds`.
fn product<A, B>(
    a: &PrimitiveArray<A>,
    b: &PrimitiveArray<B>,
    bounds: Bounds,
) -> Result<(Vec<i128>, Option<NullBuffer>), OutOfRange>
where
    A: ArrowPrimitiveType,
    B: ArrowPrimitiveType,
    A::Native: Into<i128>,
    B::Native: Into<i128>,
{
    let nulls = NullBuffer::union(a.nulls(), b.nulls());
    let (a, b) = (a.values(), b.values());
    let mut out = Vec::with_capacity(a.len());
    for (row, (&x, &y)) in a.iter().zip(b.iter()).enumerate() {
        if nulls.as_ref().is_some_and(|n| n.is_null(row)) {
            out.push(0);
            continue;
        }
        let value = x.into().checked_mul(y.into()).and_then(|v| v.checked_mul(bounds.factor));
        match value {
            Some(v) if (bounds.min..=bounds.max).contains(&v) => out.push(v),
            value => return Err(OutOfRange { row, value }),
        }
    }
    Ok((out, nulls))
}

/// The requested parts of the Date32 column `column`, as Int32 arrays in the order of `parts`.
pub fn date_parts(batch: &RecordBatch, column: &str, parts: &[DatePart]) -> Result<Vec<ArrayRef>> {
    let dates: &Date32Array = etl_sdk::column_as(batch, column, &DataType::Date32)?;
    let mut columns: Vec<Vec<i32>> = parts.iter().map(|_| Vec::with_capacity(dates.len())).collect();
    for &days in dates.values().iter() {
        // Slots under a null hold arbitrary days; converting them is harmless and branch-free.
        let (year, month, day) = civil_from_days(i64::from(days));
        for (values, part) in columns.iter_mut().zip(parts) {
            // Any i32 of days is within 6 million years of 1970, so the year fits an i32 too.
            values.push(match part {
                DatePart::Year => year as i32,
                DatePart::Month => month as i32,
                DatePart::Day => day as i32,
            });
        }
    }
    let nulls = dates.nulls().cloned();
    Ok(columns.into_iter().map(|values| Arc::new(Int32Array::new(values.into(), nulls.clone())) as ArrayRef).collect())
}
