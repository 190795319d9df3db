//! The invariants checked after every run (the pipeline file's `checks:`): nothing dropped
//! silently, and totals that must agree do.

use serde::Serialize;
use serde_json::Value;

use crate::config::{Plan, PlannedCheck};
use crate::sinks::write_decimal;
use crate::state::Figures;

use super::artifacts::{Artifacts, DecimalSum};

/// The figures of one check and whether it held.
#[derive(Debug, Clone, Serialize)]
pub struct CheckOutcome {
    pub check: String,
    pub passed: bool,
    pub detail: String,
    /// The figures compared, by name (none when they could not be computed): conservation's
    /// `raw_rows`, `output_rows` and `quarantined`; each summed column's label and its sum as a
    /// decimal string.
    pub figures: Figures,
}

/// Evaluates every check of `plan` on the run's artifacts and quarantine totals.
pub fn evaluate(plan: &Plan, artifacts: &Artifacts, quarantined: &[(String, u64)]) -> Vec<CheckOutcome> {
    plan.checks.iter().map(|check| evaluate_one(plan, artifacts, quarantined, check)).collect()
}

fn evaluate_one(
    plan: &Plan,
    artifacts: &Artifacts,
    quarantined: &[(String, u64)],
    check: &PlannedCheck,
) -> CheckOutcome {
    let name = |s: usize| plan.stages[s].name.as_str();
    match check {
        PlannedCheck::Conservation { source, quarantine, output } => {
            let check = format!("conservation({})", name(*source));
            let counts = (|| -> Result<(u64, u64), String> {
                let raw = count(artifacts, name(*source), "out")? + count(artifacts, name(*source), "rejected")?;
                Ok((raw, count(artifacts, name(output.stage), &output.port)?))
            })();
            match counts {
                Ok((raw, out)) => {
                    let q = quarantined.iter().find(|(s, _)| s == quarantine).map_or(0, |(_, n)| *n);
                    let passed = raw == out + q;
                    let relation = if passed { "=" } else { "≠" };
                    let detail = format!(
                        "raw rows {raw} {relation} {out} on {}.{} + {q} quarantined",
                        name(output.stage),
                        output.port
                    );
                    let figures = Figures(vec![
                        ("raw_rows".to_owned(), Value::from(raw)),
                        ("output_rows".to_owned(), Value::from(out)),
                        ("quarantined".to_owned(), Value::from(q)),
                    ]);
                    CheckOutcome { check, passed, detail, figures }
                }
                Err(detail) => CheckOutcome { check, passed: false, detail, figures: Figures::default() },
            }
        }
        PlannedCheck::EqualSums { columns } => {
            let check = format!("equal_sums({})", columns.iter().map(|c| c.2.as_str()).collect::<Vec<_>>().join(", "));
            let sums = columns
                .iter()
                .map(|(up, column, _)| Ok(artifacts.decimal_sum(name(up.stage), &up.port, column)?))
                .collect::<Result<Vec<DecimalSum>, String>>()
                .and_then(|sums| at_one_scale(&sums));
            match sums {
                Ok((sums, scale)) => {
                    let passed = sums.windows(2).all(|w| w[0] == w[1]);
                    let labelled: Vec<(String, String)> = columns
                        .iter()
                        .zip(&sums)
                        .map(|((_, _, label), &sum)| (label.clone(), decimal(sum, scale)))
                        .collect();
                    let detail = labelled
                        .iter()
                        .map(|(label, sum)| format!("{label} = {sum}"))
                        .collect::<Vec<_>>()
                        .join(if passed { " = " } else { " vs " });
                    let figures = Figures(labelled.into_iter().map(|(label, sum)| (label, sum.into())).collect());
                    CheckOutcome { check, passed, detail, figures }
                }
                Err(detail) => CheckOutcome { check, passed: false, detail, figures: Figures::default() },
            }
        }
    }
}

/// The sums at the largest of their scales, so that `1.5` at scale 1 equals `1.50` at scale 2.
fn at_one_scale(sums: &[DecimalSum]) -> Result<(Vec<i128>, i8), String> {
    let scale = sums.iter().map(|s| s.scale).max().unwrap_or(0);
    let sums = sums
        .iter()
        .map(|s| {
            let factor = 10i128.checked_pow(u32::from((i16::from(scale) - i16::from(s.scale)).unsigned_abs()));
            s.sum.zip(factor).and_then(|(sum, factor)| sum.checked_mul(factor)).ok_or("the sum overflows 128 bits")
        })
        .collect::<Result<Vec<i128>, &str>>()?;
    Ok((sums, scale))
}

fn count(artifacts: &Artifacts, stage: &str, port: &str) -> Result<u64, String> {
    Ok(artifacts.count_rows(stage, port)?)
}

/// A sum as decimal text, for messages.
fn decimal(value: i128, scale: i8) -> String {
    let mut text = String::new();
    write_decimal(&mut text, value, scale);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_sums_at_the_largest_scale() {
        let sums = [DecimalSum { scale: 1, sum: Some(15) }, DecimalSum { scale: 2, sum: Some(150) }];
        assert_eq!(at_one_scale(&sums).unwrap(), (vec![150, 150], 2));
        assert_eq!(decimal(150, 2), "1.50");
        let unknown = [DecimalSum { scale: 2, sum: None }];
        assert_eq!(at_one_scale(&unknown).unwrap_err(), "the sum overflows 128 bits");
        let too_big = [DecimalSum { scale: 0, sum: Some(i128::MAX / 2) }, DecimalSum { scale: 1, sum: Some(0) }];
        assert!(at_one_scale(&too_big).is_err());
    }
}
