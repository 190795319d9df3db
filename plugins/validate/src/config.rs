//! The `config:` block of a validate stage, and its checking into a [`Validate`]: every problem
//! is reported at once, each under the key it comes from (`rules[2].max: ...`).

use std::collections::HashSet;

use etl_sdk::serde::Deserialize;
use etl_sdk::{Error, Result};

use crate::Validate;
use crate::bound::{Bound, RawBound};
use crate::rules::{Check, Range, Rule};
use etl_sdk::index::KeyIndex;

/// `config:` of a validate stage: the rules, checked in this order on every row.
#[derive(Debug, Deserialize)]
#[serde(crate = "etl_sdk::serde", deny_unknown_fields)]
pub struct ValidateConfig {
    pub rules: Vec<RuleConfig>,
}

/// One rule as configured; `rule:` names the kind.
#[derive(Debug, Deserialize)]
#[serde(crate = "etl_sdk::serde", tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
pub enum RuleConfig {
    /// Fails on a null.
    NotNull {
        column: String,
        #[serde(default)]
        severity: Severity,
    },
    /// Fails on a null or a value outside `[min, max]` (either bound may be left out).
    InRange {
        column: String,
        #[serde(default)]
        min: Option<RawBound>,
        #[serde(default)]
        max: Option<RawBound>,
        #[serde(default)]
        severity: Severity,
    },
    /// Fails on a null or a value that is not exactly one of `values`.
    AcceptedValues {
        column: String,
        values: Vec<String>,
        #[serde(default)]
        severity: Severity,
    },
    /// Fails on a null or a value `pattern` does not match (anchor it for a whole-value match).
    Regex {
        column: String,
        pattern: String,
        #[serde(default)]
        severity: Severity,
    },
    /// Fails on a value already seen in an earlier row (of this batch or an earlier one).
    Unique {
        column: String,
        #[serde(default)]
        severity: Severity,
    },
}

/// What a failed rule does to its row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(crate = "etl_sdk::serde", rename_all = "lowercase")]
pub enum Severity {
    /// The row goes to `rejected`, with this rule among its reasons.
    #[default]
    Error,
    /// The failure is only counted.
    Warn,
}

impl ValidateConfig {
    /// Checks every rule and builds the stage, or refuses the config naming every bad key.
    pub fn build(self) -> Result<Validate> {
        let mut problems = Vec::new();
        if self.rules.is_empty() {
            problems.push("rules: empty; list at least one rule".to_owned());
        }
        let mut rules: Vec<Rule> = Vec::with_capacity(self.rules.len());
        for (index, config) in self.rules.into_iter().enumerate() {
            let key = format!("rules[{index}]");
            let Some(rule) = config.build(&key, &mut problems) else { continue };
            if let Some(earlier) = rules.iter().find(|earlier| earlier.label == rule.label) {
                problems.push(format!(
                    "{key}: repeats {} (`{}`): each rule may check a column once",
                    earlier.key, rule.label
                ));
            }
            rules.push(rule);
        }
        match problems.is_empty() {
            true => Ok(Validate::new(rules)),
            false => Err(Error::config(problems.join("; "))),
        }
    }
}

impl RuleConfig {
    /// The runtime rule, or `None` after adding what is wrong to `problems`.
    fn build(self, key: &str, problems: &mut Vec<String>) -> Option<Rule> {
        let before = problems.len();
        let (name, column, severity, check) = match self {
            RuleConfig::NotNull { column, severity } => ("not_null", column, severity, Some(Check::NotNull)),
            RuleConfig::InRange { column, min, max, severity } => {
                ("in_range", column, severity, range(key, min, max, problems).map(Check::InRange))
            }
            RuleConfig::AcceptedValues { column, values, severity } => {
                if values.is_empty() {
                    problems.push(format!("{key}.values: empty; list the accepted values"));
                }
                let values: HashSet<String> = values.into_iter().collect();
                ("accepted_values", column, severity, Some(Check::AcceptedValues(values)))
            }
            RuleConfig::Regex { column, pattern, severity } => {
                let regex = regex::Regex::new(&pattern)
                    .map_err(|error| problems.push(format!("{key}.pattern: invalid regex: {error}")))
                    .ok();
                ("regex", column, severity, regex.map(Check::Matches))
            }
            RuleConfig::Unique { column, severity } => {
                ("unique", column, severity, Some(Check::Unique(KeyIndex::default())))
            }
        };
        if column.is_empty() {
            problems.push(format!("{key}.column: empty"));
        } else if column.starts_with('_') {
            problems.push(format!(
                "{key}.column: `{column}` is row metadata (a name starting with `_`), which is never validated"
            ));
        }
        let check = check?;
        (problems.len() == before).then(|| Rule::new(key.to_owned(), name, column, severity, check))
    }
}

/// Checks an `in_range` rule's bounds: each a number or a date, both of one kind, `min <= max`.
fn range(key: &str, min: Option<RawBound>, max: Option<RawBound>, problems: &mut Vec<String>) -> Option<Range> {
    let mut parse = |name: &str, raw: Option<RawBound>| match raw.as_ref().map(Bound::parse) {
        None => Some(None),
        Some(Ok(bound)) => Some(Some(bound)),
        Some(Err(why)) => {
            problems.push(format!("{key}.{name}: {why}"));
            None
        }
    };
    let (min, max) = (parse("min", min), parse("max", max));
    let range = match (min?, max?) {
        (None, None) => {
            problems.push(format!("{key}: in_range needs `min`, `max` or both"));
            return None;
        }
        (Some(Bound::Number(min)), Some(Bound::Number(max))) if min > max => Err((min.to_string(), max.to_string())),
        (Some(Bound::Date(min)), Some(Bound::Date(max))) if min > max => {
            Err((Bound::Date(min).to_string(), Bound::Date(max).to_string()))
        }
        (Some(Bound::Number(_)), Some(Bound::Date(_))) | (Some(Bound::Date(_)), Some(Bound::Number(_))) => {
            problems.push(format!("{key}: `min` and `max` must both be numbers or both be dates"));
            return None;
        }
        (min @ (None | Some(Bound::Number(_))), max @ (None | Some(Bound::Number(_)))) => {
            Ok(Range::numbers(number(min), number(max)))
        }
        (min, max) => Ok(Range::Dates { min: date(min), max: date(max) }),
    };
    range.map_err(|(min, max)| problems.push(format!("{key}: `min` ({min}) is greater than `max` ({max})"))).ok()
}

fn number(bound: Option<Bound>) -> Option<crate::bound::Decimal> {
    match bound {
        Some(Bound::Number(decimal)) => Some(decimal),
        _ => None,
    }
}

fn date(bound: Option<Bound>) -> Option<i32> {
    match bound {
        Some(Bound::Date(days)) => Some(days),
        _ => None,
    }
}
