//! The invariants every run reports and must hold (the spec's "Invariants" section):
//! conservation of orders and agreement of the three amount sums.

use std::fmt;

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::Decimal128Type;
use arrow_schema::DataType;
use serde::{Deserialize, Serialize};

use super::SinkError;
use super::columns::write_decimal;

/// The scale of the amounts compared: `total_amount` and `total_amount_sum` are decimal(18,2).
pub const AMOUNT_SCALE: i8 = 2;

/// A run's figures and whether each invariant holds. Sums are unscaled decimal(18,2) values
/// (hundredths).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invariants {
    /// Order records read (valid or not).
    pub raw_orders: u64,
    /// Rows loaded into the fact table.
    pub fact_rows: u64,
    /// Order rows quarantined, by any stage.
    pub quarantined_orders: u64,
    /// `raw_orders == fact_rows + quarantined_orders`.
    pub conservation: bool,
    /// `sum(daily_sales.total_amount_sum)`.
    pub sum_daily: i128,
    /// `sum(customer_summary.total_amount_sum)`.
    pub sum_customer: i128,
    /// `sum(fact.total_amount)`.
    pub sum_fact: i128,
    /// The three sums are equal.
    pub sums_agree: bool,
}

impl Invariants {
    /// Whether every invariant holds.
    pub fn hold(&self) -> bool {
        self.conservation && self.sums_agree
    }
}

/// Invariants that don't hold; prints every figure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invariants violated: {0}")]
pub struct InvariantError(pub Invariants);

impl fmt::Display for Invariants {
    /// `conservation: raw orders 10 = fact rows 8 + quarantined 2 (holds); sums: daily 1.50,
    /// customer 1.50, fact 1.50 (agree)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let amount = |value: i128| {
            let mut text = String::new();
            write_decimal(&mut text, value, AMOUNT_SCALE);
            text
        };
        let (equals, holds) = if self.conservation { ("=", "holds") } else { ("≠", "violated") };
        write!(
            f,
            "conservation: raw orders {} {equals} fact rows {} + quarantined {} ({holds}); ",
            self.raw_orders, self.fact_rows, self.quarantined_orders
        )?;
        write!(
            f,
            "sums: daily {}, customer {}, fact {} ({})",
            amount(self.sum_daily),
            amount(self.sum_customer),
            amount(self.sum_fact),
            if self.sums_agree { "agree" } else { "differ" }
        )
    }
}

/// Checks the run's invariants from its figures: `raw_orders = fact_rows + quarantined_orders`
/// and `sum_daily = sum_customer = sum_fact` (unscaled decimal(18,2) sums, see [`decimal_sum`]).
pub fn check_invariants(
    raw_orders: u64,
    fact_rows: u64,
    quarantined_orders: u64,
    sum_daily: i128,
    sum_customer: i128,
    sum_fact: i128,
) -> Result<Invariants, InvariantError> {
    let invariants = Invariants {
        raw_orders,
        fact_rows,
        quarantined_orders,
        conservation: fact_rows.checked_add(quarantined_orders) == Some(raw_orders),
        sum_daily,
        sum_customer,
        sum_fact,
        sums_agree: sum_daily == sum_customer && sum_customer == sum_fact,
    };
    if invariants.hold() { Ok(invariants) } else { Err(InvariantError(invariants)) }
}

/// The exact sum of the Decimal128 column `column` over `batches`, as an unscaled value of the
/// column's scale; nulls are skipped. Every batch must have the column with one scale, and an
/// overflow of i128 is an error.
pub fn decimal_sum(batches: &[RecordBatch], column: &str) -> Result<i128, SinkError> {
    let target = format!("sum of {column}");
    let mut scale = None;
    let mut sum: i128 = 0;
    for batch in batches {
        let Some(array) = batch.column_by_name(column) else {
            return Err(SinkError::Schema { target, problems: vec![format!("column `{column}` is missing")] });
        };
        let (DataType::Decimal128(_, this_scale), Some(values)) =
            (array.data_type(), array.as_primitive_opt::<Decimal128Type>())
        else {
            let problem = format!("column `{column}` is {}, expected a Decimal128", array.data_type());
            return Err(SinkError::Schema { target, problems: vec![problem] });
        };
        if *scale.get_or_insert(*this_scale) != *this_scale {
            return Err(SinkError::Schema {
                target,
                problems: vec![format!("column `{column}` changes scale between batches")],
            });
        }
        for value in values.iter().flatten() {
            sum = sum
                .checked_add(value)
                .ok_or_else(|| SinkError::data(&target, "the sum overflows a 128-bit integer"))?;
        }
    }
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Decimal128Array, Int64Array};

    use super::*;

    #[test]
    fn invariants_that_hold_pass() {
        let invariants = check_invariants(10, 8, 2, 150, 150, 150).unwrap();
        assert!(invariants.hold());
        assert_eq!(
            serde_json::to_string(&invariants).unwrap(),
            r#"{"raw_orders":10,"fact_rows":8,"quarantined_orders":2,"conservation":true,"sum_daily":150,"sum_customer":150,"sum_fact":150,"sums_agree":true}"#
        );
    }

    #[test]
    fn a_violation_prints_every_figure() {
        let error = check_invariants(10, 8, 1, 150, -50, 150).unwrap_err();
        assert!(!error.0.conservation && !error.0.sums_agree);
        assert_eq!(
            error.to_string(),
            "invariants violated: conservation: raw orders 10 ≠ fact rows 8 + quarantined 1 (violated); \
             sums: daily 1.50, customer -0.50, fact 1.50 (differ)"
        );
        let error = check_invariants(3, 3, 0, 1, 2, 1).unwrap_err();
        assert!(error.0.conservation && !error.0.sums_agree);
    }

    #[test]
    fn decimal_sums_are_exact() {
        let batch = |values: Vec<Option<i128>>, scale: i8| {
            let array = Decimal128Array::from(values).with_precision_and_scale(18, scale).unwrap();
            RecordBatch::try_from_iter([("total_amount", Arc::new(array) as ArrayRef)]).unwrap()
        };
        let batches = [batch(vec![Some(10), None, Some(-3)], 2), batch(vec![Some(100_000_000_000_000_000)], 2)];
        assert_eq!(decimal_sum(&batches, "total_amount").unwrap(), 100_000_000_000_000_007);
        assert_eq!(decimal_sum(&[], "total_amount").unwrap(), 0);
        let mixed = [batch(vec![Some(1)], 2), batch(vec![Some(1)], 3)];
        assert_eq!(
            decimal_sum(&mixed, "total_amount").unwrap_err().to_string(),
            "sum of total_amount: column `total_amount` changes scale between batches"
        );
        let ints =
            RecordBatch::try_from_iter([("total_amount", Arc::new(Int64Array::from(vec![1])) as ArrayRef)]).unwrap();
        assert_eq!(
            decimal_sum(&[ints], "total_amount").unwrap_err().to_string(),
            "sum of total_amount: column `total_amount` is Int64, expected a Decimal128"
        );
    }
}
