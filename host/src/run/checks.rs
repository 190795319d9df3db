//! The invariants checked after every run (the pipeline file's `checks:`): nothing dropped
//! silently, and totals that must agree do.

use serde::Serialize;
use serde_json::Value;

use crate::config::{Plan, PlannedCheck};
use crate::sinks::{AMOUNT_SCALE, decimal_sum};
use crate::state::Figures;

use super::artifacts::Artifacts;

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
            let sums: Result<Vec<i128>, String> = columns
                .iter()
                .map(|(up, column, _)| {
                    let mut sum: i128 = 0;
                    for batch in artifacts.read_columns(name(up.stage), &up.port, &[column.as_str()])? {
                        let part = decimal_sum(&[batch?], column).map_err(|e| e.to_string())?;
                        sum = sum.checked_add(part).ok_or("sum overflows")?;
                    }
                    Ok(sum)
                })
                .collect();
            match sums {
                Ok(sums) => {
                    let passed = sums.windows(2).all(|w| w[0] == w[1]);
                    let detail = columns
                        .iter()
                        .zip(&sums)
                        .map(|((_, _, label), sum)| format!("{label} = {}", decimal(*sum)))
                        .collect::<Vec<_>>()
                        .join(if passed { " = " } else { " vs " });
                    let figures = Figures(
                        columns
                            .iter()
                            .zip(&sums)
                            .map(|((_, _, label), sum)| (label.clone(), decimal(*sum).into()))
                            .collect(),
                    );
                    CheckOutcome { check, passed, detail, figures }
                }
                Err(detail) => CheckOutcome { check, passed: false, detail, figures: Figures::default() },
            }
        }
    }
}

fn count(artifacts: &Artifacts, stage: &str, port: &str) -> Result<u64, String> {
    artifacts.count_rows(stage, port)
}

/// A sum of money at the warehouse's scale, for messages.
fn decimal(value: i128) -> String {
    let scale = 10i128.pow(AMOUNT_SCALE as u32);
    let sign = if value < 0 { "-" } else { "" };
    let value = value.unsigned_abs();
    format!("{sign}{}.{:0width$}", value / scale as u128, value % scale as u128, width = AMOUNT_SCALE as usize)
}
