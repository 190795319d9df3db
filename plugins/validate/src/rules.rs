//! The checked rules and how each finds the failing rows of a batch, one column at a time.

use std::collections::HashSet;

use etl_sdk::arrow::RecordBatch;
use etl_sdk::arrow::array::cast::AsArray;
use etl_sdk::arrow::array::types::{
    Date32Type, Decimal32Type, Decimal64Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use etl_sdk::arrow::array::{Array, ArrayRef, ArrowPrimitiveType, GenericStringArray, OffsetSizeTrait, PrimitiveArray};
use etl_sdk::arrow::buffer::NullBuffer;
use etl_sdk::arrow::schema::DataType;
use etl_sdk::{Error, Result};
use regex::Regex;

use crate::bound::{Decimal, IntRange};
use crate::config::Severity;
use etl_sdk::index::KeyIndex;
use etl_sdk::rows::KeyColumn;

/// One checked rule with its failure count.
#[derive(Debug)]
pub struct Rule {
    /// Where it was configured, for messages: `rules[2]`.
    pub key: String,
    /// `rule(column)`: its reason on a rejected row and its metric's suffix.
    pub label: String,
    /// The column it checks.
    pub column: String,
    pub severity: Severity,
    pub check: Check,
    /// Rows that failed it, whatever its severity.
    pub failures: i64,
}

/// What a rule checks.
#[derive(Debug)]
pub enum Check {
    /// `not_null`: fails on a null.
    NotNull,
    /// `in_range`: fails on a null or a value outside the range.
    InRange(Range),
    /// `accepted_values`: fails on a null or a string not in the set.
    AcceptedValues(HashSet<String>),
    /// `regex`: fails on a null or a string the regex does not match.
    Matches(Regex),
    /// `unique`: fails on a value seen before. Holds every non-null value seen so far, encoded
    /// by [`KeyColumn`].
    Unique(KeyIndex),
}

/// The bounds of an `in_range` rule, of one kind; `None` is unbounded.
#[derive(Debug, Clone, PartialEq)]
pub enum Range {
    /// For integer, decimal and float columns. The `f64`s are the bounds rounded to the nearest
    /// float, for float columns only.
    Numbers { min: Option<Decimal>, max: Option<Decimal>, min_f64: f64, max_f64: f64 },
    /// For `Date32` columns, in days since 1970-01-01.
    Dates { min: Option<i32>, max: Option<i32> },
}

impl Range {
    /// Number bounds, with their nearest floats.
    pub fn numbers(min: Option<Decimal>, max: Option<Decimal>) -> Self {
        // A decimal's text always parses as a float (to the nearest one); the fallbacks are
        // unbounded.
        let float = |bound: Option<Decimal>, unbounded: f64| {
            bound.and_then(|bound| bound.to_string().parse().ok()).unwrap_or(unbounded)
        };
        Range::Numbers { min, max, min_f64: float(min, f64::NEG_INFINITY), max_f64: float(max, f64::INFINITY) }
    }
}

impl Rule {
    /// The rule `name` on `column`, configured under `key`.
    pub fn new(key: String, name: &str, column: String, severity: Severity, check: Check) -> Self {
        Rule { key, label: format!("{name}({column})"), column, severity, check, failures: 0 }
    }

    /// Sets `fails` to one flag per row of `batch`, true where the row fails this rule, and
    /// counts the failures.
    pub fn evaluate(&mut self, batch: &RecordBatch, fails: &mut Vec<bool>) -> Result<()> {
        fails.clear();
        fails.resize(batch.num_rows(), false);
        let array = batch
            .column_by_name(&self.column)
            .ok_or_else(|| Error::input(format!("missing required column `{}`", self.column)))?;
        match &mut self.check {
            Check::NotNull => mark_nulls(array.logical_nulls().as_ref(), fails),
            Check::InRange(range) => in_range(&self.column, &self.key, array, range, fails)?,
            Check::AcceptedValues(values) => check_strings(batch, &self.column, fails, |v| values.contains(v))?,
            Check::Matches(regex) => check_strings(batch, &self.column, fails, |v| regex.is_match(v))?,
            Check::Unique(seen) => unique(&self.column, array, seen, fails)?,
        }
        let failed = fails.iter().filter(|&&fail| fail).count();
        self.failures = self.failures.saturating_add(i64::try_from(failed).unwrap_or(i64::MAX));
        Ok(())
    }
}

/// Sets the flag of every null row.
fn mark_nulls(nulls: Option<&NullBuffer>, fails: &mut [bool]) {
    if let Some(nulls) = nulls.filter(|nulls| nulls.null_count() > 0) {
        for (fail, valid) in fails.iter_mut().zip(nulls.iter()) {
            *fail |= !valid;
        }
    }
}

fn in_range(column: &str, key: &str, array: &ArrayRef, range: &Range, fails: &mut [bool]) -> Result<()> {
    let data_type = array.data_type();
    match (range, data_type) {
        (Range::Numbers { min, max, .. }, _) if data_type.is_integer() => {
            let range = IntRange::decimal(min.as_ref(), max.as_ref(), 0);
            match data_type {
                DataType::Int8 => check_ints(array.as_primitive::<Int8Type>(), range, fails),
                DataType::Int16 => check_ints(array.as_primitive::<Int16Type>(), range, fails),
                DataType::Int32 => check_ints(array.as_primitive::<Int32Type>(), range, fails),
                DataType::Int64 => check_ints(array.as_primitive::<Int64Type>(), range, fails),
                DataType::UInt8 => check_ints(array.as_primitive::<UInt8Type>(), range, fails),
                DataType::UInt16 => check_ints(array.as_primitive::<UInt16Type>(), range, fails),
                DataType::UInt32 => check_ints(array.as_primitive::<UInt32Type>(), range, fails),
                _ => check_ints(array.as_primitive::<UInt64Type>(), range, fails),
            }
        }
        (Range::Numbers { min, max, .. }, DataType::Decimal32(_, scale)) => {
            let range = IntRange::decimal(min.as_ref(), max.as_ref(), i32::from(*scale));
            check_ints(array.as_primitive::<Decimal32Type>(), range, fails);
        }
        (Range::Numbers { min, max, .. }, DataType::Decimal64(_, scale)) => {
            let range = IntRange::decimal(min.as_ref(), max.as_ref(), i32::from(*scale));
            check_ints(array.as_primitive::<Decimal64Type>(), range, fails);
        }
        (Range::Numbers { min, max, .. }, DataType::Decimal128(_, scale)) => {
            let range = IntRange::decimal(min.as_ref(), max.as_ref(), i32::from(*scale));
            check_ints(array.as_primitive::<Decimal128Type>(), range, fails);
        }
        (&Range::Numbers { min_f64, max_f64, .. }, DataType::Float32) => {
            check_floats(array.as_primitive::<Float32Type>(), min_f64, max_f64, fails);
        }
        (&Range::Numbers { min_f64, max_f64, .. }, DataType::Float64) => {
            check_floats(array.as_primitive::<Float64Type>(), min_f64, max_f64, fails);
        }
        (&Range::Dates { min, max }, DataType::Date32) => {
            check_ints(array.as_primitive::<Date32Type>(), IntRange::days(min, max), fails);
        }
        (Range::Dates { .. }, _) if data_type.is_numeric() => {
            return Err(Error::input(format!(
                "column `{column}` has type {data_type}, but the bounds of {key} (in_range) are dates"
            )));
        }
        (Range::Numbers { .. }, DataType::Date32) => {
            return Err(Error::input(format!(
                "column `{column}` has type Date32, but the bounds of {key} (in_range) are numbers, not ISO dates"
            )));
        }
        _ => {
            return Err(Error::input(format!(
                "column `{column}` has type {data_type}, expected an integer, decimal (up to Decimal128), float or \
                 Date32 column for {key} (in_range)"
            )));
        }
    }
    Ok(())
}

/// Integers, decimals (as their unscaled integers) and dates (as days) against `range`.
fn check_ints<T: ArrowPrimitiveType>(array: &PrimitiveArray<T>, range: IntRange, fails: &mut [bool])
where
    T::Native: Into<i128>,
{
    for (fail, &value) in fails.iter_mut().zip(array.values().iter()) {
        *fail = !range.contains(value.into());
    }
    mark_nulls(array.nulls(), fails);
}

/// Floats against bounds rounded to floats; `NaN` is in no range.
fn check_floats<T: ArrowPrimitiveType>(array: &PrimitiveArray<T>, min: f64, max: f64, fails: &mut [bool])
where
    T::Native: Into<f64>,
{
    for (fail, &value) in fails.iter_mut().zip(array.values().iter()) {
        let value: f64 = value.into();
        *fail = !(min <= value && value <= max);
    }
    mark_nulls(array.nulls(), fails);
}

/// A string rule: nulls fail, and values for which `accept` is false.
fn check_strings(batch: &RecordBatch, column: &str, fails: &mut [bool], accept: impl Fn(&str) -> bool) -> Result<()> {
    fn each<O: OffsetSizeTrait>(array: &GenericStringArray<O>, fails: &mut [bool], accept: impl Fn(&str) -> bool) {
        for (fail, value) in fails.iter_mut().zip(array.iter()) {
            *fail = !value.is_some_and(&accept);
        }
    }
    match batch.column_by_name(column).map(|array| array.data_type()) {
        Some(DataType::LargeUtf8) => {
            let array = etl_sdk::column_as::<GenericStringArray<i64>>(batch, column, &DataType::LargeUtf8)?;
            each(array, fails, accept);
        }
        _ => each(etl_sdk::column_as::<GenericStringArray<i32>>(batch, column, &DataType::Utf8)?, fails, accept),
    }
    Ok(())
}

/// Fails every non-null value seen before, in an earlier row of this batch or an earlier batch.
fn unique(column: &str, array: &ArrayRef, seen: &mut KeyIndex, fails: &mut [bool]) -> Result<()> {
    let values = KeyColumn::new(column, array.as_ref())?;
    // The batch's non-null keys, encoded back to back, and the row and end of each.
    let mut bytes = Vec::new();
    let mut rows = Vec::new();
    for row in (0..fails.len()).filter(|&row| !values.is_null(row)) {
        values.encode(row, &mut bytes);
        rows.push((row, bytes.len()));
    }
    let mut start = 0;
    let keys: Vec<&[u8]> = rows.iter().map(|&(_, end)| &bytes[std::mem::replace(&mut start, end)..end]).collect();
    let found = seen
        .insert_many(&keys)
        .ok_or_else(|| Error::failed(format!("unique({column}): too many distinct values to keep")))?;
    for (&(row, _), (_, new)) in rows.iter().zip(found) {
        fails[row] = !new;
    }
    Ok(())
}
