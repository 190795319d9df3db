//! Per-group state of one aggregate (`sum`, `avg`, `count`, `min`, `max`), updated batch by batch
//! from group ids and turned into one output column at the end.
//!
//! Numbers are summed exactly in i128 and checked when the result is made: a `sum` or `avg` that
//! does not fit its output type is an error, never a wrap.

use std::cmp::Ordering;
use std::sync::Arc;

use etl_sdk::arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, Decimal128Array, Float64Array, Int64Array, PrimitiveArray,
};
use etl_sdk::arrow::schema::DataType;
use etl_sdk::{Error, Result};

use crate::config::Func;
use crate::values::{self, ValueType, Values};

/// The precision of decimal sums and averages: `decimal(18, s)`.
pub const SUM_PRECISION: u8 = 18;

/// What went wrong in which group: the table turns it into a message naming the group.
pub type Fail<'a> = &'a dyn Fn(u32, String) -> Error;

/// The state of one aggregate over all groups of a table.
#[derive(Debug)]
pub enum Accumulator {
    /// Rows per group, which the table's groups already count.
    Count,
    /// Sum of the non-null values; `seen` is false while a group has only nulls.
    Sum { input: ValueType, sums: Vec<i128>, seen: Vec<bool> },
    /// Sum and number of the non-null values.
    Avg { input: ValueType, sums: Vec<i128>, counts: Vec<i64> },
    /// The least (`keep == Less`) or greatest (`Greater`) non-null value.
    Extreme { keep: Ordering, input: ValueType, best: Best },
}

/// The best value so far of each group.
#[derive(Debug)]
pub enum Best {
    Numeric { values: Vec<i128>, valid: Vec<bool> },
    Utf8(Vec<Option<String>>),
}

impl Accumulator {
    /// The state of `func` over a column of `data_type`, or why the pair makes no sense.
    pub fn new(func: Func, data_type: &DataType) -> Result<Self, String> {
        let input = ValueType::of(data_type);
        match func {
            Func::Count => Ok(Accumulator::Count),
            Func::Sum | Func::Avg => match input {
                Some(ValueType::Decimal { scale, .. }) if !(0..=SUM_PRECISION as i8).contains(&scale) => Err(format!(
                    "has scale {scale}; `{}` gives decimal({SUM_PRECISION}, scale) for scales 0 to {SUM_PRECISION}",
                    func.name()
                )),
                Some(input @ (ValueType::Int32 | ValueType::Int64 | ValueType::Decimal { .. })) => {
                    Ok(if func == Func::Sum {
                        Accumulator::Sum { input, sums: Vec::new(), seen: Vec::new() }
                    } else {
                        Accumulator::Avg { input, sums: Vec::new(), counts: Vec::new() }
                    })
                }
                _ => Err(format!("has type {data_type}; `{}` needs Int32, Int64 or Decimal128", func.name())),
            },
            Func::Min | Func::Max => {
                let Some(input) = input else {
                    return Err(format!(
                        "has type {data_type}; `{}` needs Utf8, Int32, Int64, Date32 or Decimal128",
                        func.name()
                    ));
                };
                let keep = if func == Func::Min { Ordering::Less } else { Ordering::Greater };
                let best = match input {
                    ValueType::Utf8 => Best::Utf8(Vec::new()),
                    _ => Best::Numeric { values: Vec::new(), valid: Vec::new() },
                };
                Ok(Accumulator::Extreme { keep, input, best })
            }
        }
    }

    /// The type of the output column.
    pub fn output_type(&self) -> DataType {
        match self {
            Accumulator::Count => DataType::Int64,
            Accumulator::Sum { input: ValueType::Decimal { scale, .. }, .. }
            | Accumulator::Avg { input: ValueType::Decimal { scale, .. }, .. } => {
                DataType::Decimal128(SUM_PRECISION, *scale)
            }
            Accumulator::Sum { .. } => DataType::Int64,
            Accumulator::Avg { .. } => DataType::Float64,
            Accumulator::Extreme { input, .. } => input.data_type(),
        }
    }

    /// Folds one batch in: `values` is the aggregated column and `ids[row]` the group of each row;
    /// there are `groups` groups in all (new ones start empty).
    pub fn update(&mut self, values: &Values, ids: &[u32], groups: usize, fail: Fail) -> Result<()> {
        match self {
            Accumulator::Count => Ok(()),
            Accumulator::Sum { sums, seen, .. } => {
                sums.resize(groups, 0);
                seen.resize(groups, false);
                each_number(values, ids, |g, v| {
                    sums[g] = sums[g].checked_add(v).ok_or_else(|| fail(g as u32, "a sum beyond 38 digits".into()))?;
                    seen[g] = true;
                    Ok(())
                })
            }
            Accumulator::Avg { sums, counts, .. } => {
                sums.resize(groups, 0);
                counts.resize(groups, 0);
                each_number(values, ids, |g, v| {
                    sums[g] = sums[g].checked_add(v).ok_or_else(|| fail(g as u32, "a sum beyond 38 digits".into()))?;
                    counts[g] += 1;
                    Ok(())
                })
            }
            Accumulator::Extreme { keep, best: Best::Numeric { values: best, valid }, .. } => {
                best.resize(groups, 0);
                valid.resize(groups, false);
                let keep = *keep;
                each_number(values, ids, |g, v| {
                    if !valid[g] || v.cmp(&best[g]) == keep {
                        best[g] = v;
                        valid[g] = true;
                    }
                    Ok(())
                })
            }
            Accumulator::Extreme { keep, best: Best::Utf8(best), .. } => {
                best.resize(groups, None);
                let Values::Utf8(array) = values else {
                    return Err(Error::failed("text extreme fed a non-text column; this is a bug"));
                };
                for (&g, value) in ids.iter().zip(array.iter()) {
                    let (Some(value), slot) = (value, &mut best[g as usize]) else { continue };
                    match slot {
                        Some(current) if value.cmp(current.as_str()) == *keep => {
                            current.clear();
                            current.push_str(value);
                        }
                        Some(_) => {}
                        None => *slot = Some(value.to_owned()),
                    }
                }
                Ok(())
            }
        }
    }

    /// The output column for the groups in `order`; `rows` is the number of rows per group.
    pub fn finish(&self, order: &[u32], rows: &[i64], fail: Fail) -> Result<ArrayRef> {
        match self {
            Accumulator::Count => Ok(Arc::new(Int64Array::from_iter_values(order.iter().map(|&g| rows[g as usize])))),
            Accumulator::Sum { input, sums, seen } => {
                let sum = |g: u32| seen[g as usize].then(|| sums[g as usize]);
                fit(*input, order, sum, fail)
            }
            Accumulator::Avg { input: input @ ValueType::Decimal { .. }, sums, counts } => {
                let avg = |g: u32| {
                    let count = counts[g as usize];
                    (count > 0).then(|| divide_half_away_from_zero(sums[g as usize], count))
                };
                fit(*input, order, avg, fail)
            }
            Accumulator::Avg { sums, counts, .. } => {
                // An integer average is a Float64: the exact sum divided by the count in double
                // precision.
                let avg = |&g: &u32| {
                    let (sum, count) = (sums[g as usize], counts[g as usize]);
                    (count > 0).then(|| sum as f64 / count as f64)
                };
                Ok(Arc::new(order.iter().map(avg).collect::<Float64Array>()))
            }
            Accumulator::Extreme { input, best: Best::Numeric { values, valid }, .. } => {
                values::numeric_array(*input, order.iter().map(|&g| valid[g as usize].then(|| values[g as usize])))
            }
            Accumulator::Extreme { best: Best::Utf8(best), .. } => {
                values::utf8_array(order.iter().map(|&g| best[g as usize].as_deref()))
            }
        }
    }
}

/// `value(g)` for the groups in `order`, as `decimal(18, s)` for decimal input or Int64 for
/// integers; a value out of that range fails.
fn fit(input: ValueType, order: &[u32], value: impl Fn(u32) -> Option<i128>, fail: Fail) -> Result<ArrayRef> {
    if let ValueType::Decimal { scale, .. } = input {
        let bound = 10u128.pow(u32::from(SUM_PRECISION));
        let checked = |&g: &u32| match value(g) {
            Some(v) if v.unsigned_abs() >= bound => {
                let shown = values::show(input, v);
                Err(fail(g, format!("{shown} does not fit decimal({SUM_PRECISION},{scale})")))
            }
            v => Ok(v),
        };
        let out = order.iter().map(checked).collect::<Result<Vec<_>>>()?;
        return Ok(Arc::new(Decimal128Array::from(out).with_precision_and_scale(SUM_PRECISION, scale)?));
    }
    let checked = |&g: &u32| {
        value(g).map(|v| i64::try_from(v).map_err(|_| fail(g, format!("{v} does not fit int64")))).transpose()
    };
    Ok(Arc::new(Int64Array::from(order.iter().map(checked).collect::<Result<Vec<_>>>()?)))
}

/// `sum / count` rounded to the nearest integer, a tie (a remainder of exactly half) away from
/// zero: 1005 / 10 → 101, -1005 / 10 → -101. `count` is positive.
pub fn divide_half_away_from_zero(sum: i128, count: i64) -> i128 {
    let count = i128::from(count);
    let (quotient, remainder) = (sum / count, sum % count);
    // |remainder| < count <= i64::MAX, so doubling it cannot overflow.
    if 2 * remainder.abs() >= count { quotient + sum.signum() } else { quotient }
}

/// Calls `f(group, value)` for every non-null number of `values`, with one loop per array type.
fn each_number(values: &Values, ids: &[u32], mut f: impl FnMut(usize, i128) -> Result<()>) -> Result<()> {
    fn run<T: ArrowPrimitiveType>(
        array: &PrimitiveArray<T>,
        ids: &[u32],
        f: &mut impl FnMut(usize, i128) -> Result<()>,
    ) -> Result<()>
    where
        T::Native: Into<i128>,
    {
        let pairs = ids.iter().zip(array.values().iter());
        match array.nulls().filter(|n| n.null_count() > 0) {
            None => pairs.into_iter().try_for_each(|(&g, &v)| f(g as usize, v.into())),
            Some(nulls) => pairs
                .enumerate()
                .filter(|(row, _)| nulls.is_valid(*row))
                .try_for_each(|(_, (&g, &v))| f(g as usize, v.into())),
        }
    }
    match values {
        Values::Int32(a) => run(*a, ids, &mut f),
        Values::Int64(a) => run(*a, ids, &mut f),
        Values::Date32(a) => run(*a, ids, &mut f),
        Values::Decimal(a) => run(*a, ids, &mut f),
        Values::Utf8(_) => Err(Error::failed("numbers read from a text column; this is a bug")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_half_away_from_zero() {
        assert_eq!(divide_half_away_from_zero(1005, 10), 101);
        assert_eq!(divide_half_away_from_zero(-1005, 10), -101);
        assert_eq!(divide_half_away_from_zero(1004, 10), 100);
        assert_eq!(divide_half_away_from_zero(-1004, 10), -100);
        assert_eq!(divide_half_away_from_zero(10, 3), 3);
        assert_eq!(divide_half_away_from_zero(20, 3), 7);
        assert_eq!(divide_half_away_from_zero(-20, 3), -7);
        assert_eq!(divide_half_away_from_zero(0, 7), 0);
        assert_eq!(divide_half_away_from_zero(i128::MIN, 1), i128::MIN);
    }
}
