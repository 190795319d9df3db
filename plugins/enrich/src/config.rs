//! The `config:` block of `enrich` as written in YAML ([`EnrichConfig`]) and the checked plan the
//! stage runs ([`Plan`]), built in two steps so every rule about names lives here.

use std::collections::HashMap;

use etl_sdk::arrow::schema::DataType;
use etl_sdk::serde::Deserialize;
use etl_sdk::{Error, Result};

/// The stage's `config:` block, as written.
#[derive(Debug, Deserialize)]
#[serde(crate = "etl_sdk::serde", deny_unknown_fields)]
pub struct EnrichConfig {
    /// Computed columns, added after the input columns in this order.
    #[serde(default)]
    pub derive: Vec<DeriveConfig>,
    /// Left joins, one input port each; their columns follow the derived ones.
    #[serde(default)]
    pub lookups: Vec<LookupConfig>,
}

/// One entry of `derive`: either `multiply` (with `name` and `type`) or `date_parts` (with
/// `parts`). One struct rather than an untagged enum, so a mistake gets a message that names it.
#[derive(Debug, Deserialize)]
#[serde(crate = "etl_sdk::serde", deny_unknown_fields)]
pub struct DeriveConfig {
    pub name: Option<String>,
    pub multiply: Option<Vec<String>>,
    #[serde(rename = "type")]
    pub result_type: Option<String>,
    pub date_parts: Option<String>,
    pub parts: Option<Vec<DatePart>>,
}

/// A part of a date that `date_parts` can extract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(crate = "etl_sdk::serde", rename_all = "lowercase")]
pub enum DatePart {
    Year,
    Month,
    Day,
}

impl DatePart {
    pub fn name(self) -> &'static str {
        match self {
            DatePart::Year => "year",
            DatePart::Month => "month",
            DatePart::Day => "day",
        }
    }
}

/// One entry of `lookups`.
#[derive(Debug, Deserialize)]
#[serde(crate = "etl_sdk::serde", deny_unknown_fields)]
pub struct LookupConfig {
    /// The input port the lookup rows arrive on.
    pub port: String,
    /// The key column of `in` (and of the lookup rows, unless `lookup_key` is given).
    pub key: String,
    /// The key column of the lookup rows, when it is named differently from `key`.
    pub lookup_key: Option<String>,
    /// The lookup columns copied onto every `in` row.
    pub columns: Vec<String>,
    /// The metric counting `in` rows with a null or unknown key; default `orphan_<port>`.
    pub orphan_metric: Option<String>,
}

/// The type of a `multiply` result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultType {
    Decimal { precision: u8, scale: u8 },
    Int64,
}

impl ResultType {
    /// Reads `decimal(P,S)` (1 ≤ P ≤ 38, S ≤ P) or `int64`, case-insensitively.
    fn parse(text: &str) -> Option<Self> {
        let text = text.trim().to_ascii_lowercase();
        if text == "int64" {
            return Some(ResultType::Int64);
        }
        let (precision, scale) = text.strip_prefix("decimal(")?.strip_suffix(')')?.split_once(',')?;
        let precision: u8 = precision.trim().parse().ok()?;
        let scale: u8 = scale.trim().parse().ok()?;
        ((1..=38).contains(&precision) && scale <= precision).then_some(ResultType::Decimal { precision, scale })
    }

    /// The Arrow type of the result column.
    pub fn data_type(self) -> DataType {
        match self {
            // `scale <= precision <= 38`, so it fits an i8.
            ResultType::Decimal { precision, scale } => DataType::Decimal128(precision, scale as i8),
            ResultType::Int64 => DataType::Int64,
        }
    }

    /// The scale of the result: digits after the decimal point.
    pub fn scale(self) -> u8 {
        match self {
            ResultType::Decimal { scale, .. } => scale,
            ResultType::Int64 => 0,
        }
    }
}

impl std::fmt::Display for ResultType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResultType::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            ResultType::Int64 => f.write_str("int64"),
        }
    }
}

/// A checked `derive` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Derive {
    /// `name = left × right`, exact, in `result`.
    Multiply { name: String, left: String, right: String, result: ResultType },
    /// `<column>_<part>` Int32 columns from a Date32 column.
    DateParts { column: String, parts: Vec<DatePart> },
}

impl Derive {
    /// The names of the columns this entry adds, in order.
    pub fn outputs(&self) -> Vec<String> {
        match self {
            Derive::Multiply { name, .. } => vec![name.clone()],
            Derive::DateParts { column, parts } => parts.iter().map(|p| format!("{column}_{}", p.name())).collect(),
        }
    }

    /// How messages name this entry: ``derive `total_amount` `` or ``date_parts of `order_date` ``.
    pub fn label(&self) -> String {
        match self {
            Derive::Multiply { name, .. } => format!("derive `{name}`"),
            Derive::DateParts { column, .. } => format!("date_parts of `{column}`"),
        }
    }
}

/// A checked `lookups` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub port: String,
    pub key: String,
    pub lookup_key: String,
    pub columns: Vec<String>,
    pub orphan_metric: String,
}

/// The checked config: what the stage computes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub derive: Vec<Derive>,
    pub lookups: Vec<Lookup>,
}

/// The port the rows to enrich arrive on.
pub const IN: &str = "in";

impl EnrichConfig {
    /// Checks every entry and the names they add; the first problem is reported with its key.
    pub fn plan(self) -> Result<Plan> {
        let derive = self
            .derive
            .into_iter()
            .enumerate()
            .map(|(i, d)| d.check(&format!("derive[{i}]")))
            .collect::<Result<_>>()?;
        let lookups = self
            .lookups
            .into_iter()
            .enumerate()
            .map(|(i, l)| l.check(&format!("lookups[{i}]")))
            .collect::<Result<Vec<_>>>()?;
        let plan = Plan { derive, lookups };
        plan.check_names()?;
        Ok(plan)
    }
}

impl DeriveConfig {
    fn check(self, at: &str) -> Result<Derive> {
        match (self.multiply, self.date_parts) {
            (Some(factors), None) => {
                if self.parts.is_some() {
                    return Err(Error::config(format!("{at}.parts: only `date_parts` takes `parts`")));
                }
                let name = self.name.ok_or_else(|| Error::config(format!("{at}: `multiply` needs a `name`")))?;
                check_new_name(&name, &format!("{at}.name"))?;
                let [left, right]: [String; 2] = factors.try_into().map_err(|factors: Vec<String>| {
                    Error::config(format!("{at}.multiply: give exactly two columns, found {}", factors.len()))
                })?;
                for (column, i) in [(&left, 0), (&right, 1)] {
                    if column.is_empty() {
                        return Err(Error::config(format!("{at}.multiply[{i}]: empty column name")));
                    }
                }
                let text = self.result_type.ok_or_else(|| {
                    Error::config(format!("{at}: `multiply` needs a `type`, e.g. \"decimal(18,2)\" or \"int64\""))
                })?;
                let result = ResultType::parse(&text).ok_or_else(|| {
                    Error::config(format!(
                        "{at}.type: expected \"decimal(P,S)\" with 1 <= P <= 38 and S <= P, or \"int64\"; found \"{text}\""
                    ))
                })?;
                Ok(Derive::Multiply { name, left, right, result })
            }
            (None, Some(column)) => {
                if self.name.is_some() || self.result_type.is_some() {
                    return Err(Error::config(format!(
                        "{at}: `date_parts` takes no `name` or `type`; its columns are named `<column>_<part>` (Int32)"
                    )));
                }
                if column.is_empty() {
                    return Err(Error::config(format!("{at}.date_parts: empty column name")));
                }
                let parts = self.parts.unwrap_or_else(|| vec![DatePart::Year, DatePart::Month, DatePart::Day]);
                if parts.is_empty() {
                    return Err(Error::config(format!("{at}.parts: give at least one of year, month, day")));
                }
                for (i, part) in parts.iter().enumerate() {
                    if parts[..i].contains(part) {
                        return Err(Error::config(format!("{at}.parts[{i}]: `{}` is listed twice", part.name())));
                    }
                }
                Ok(Derive::DateParts { column, parts })
            }
            (Some(_), Some(_)) => Err(Error::config(format!("{at}: give either `multiply` or `date_parts`, not both"))),
            (None, None) => Err(Error::config(format!("{at}: give `multiply` or `date_parts`"))),
        }
    }
}

impl LookupConfig {
    fn check(self, at: &str) -> Result<Lookup> {
        if self.port.is_empty() {
            return Err(Error::config(format!("{at}.port: empty port name")));
        }
        if self.port == IN {
            return Err(Error::config(format!("{at}.port: `{IN}` is the port of the rows to enrich")));
        }
        if self.key.is_empty() {
            return Err(Error::config(format!("{at}.key: empty column name")));
        }
        let lookup_key = self.lookup_key.unwrap_or_else(|| self.key.clone());
        if lookup_key.is_empty() {
            return Err(Error::config(format!("{at}.lookup_key: empty column name")));
        }
        if self.columns.is_empty() {
            return Err(Error::config(format!("{at}.columns: give at least one column to add")));
        }
        for (i, column) in self.columns.iter().enumerate() {
            check_new_name(column, &format!("{at}.columns[{i}]"))?;
        }
        let orphan_metric = self.orphan_metric.unwrap_or_else(|| format!("orphan_{}", self.port));
        if orphan_metric.is_empty() {
            return Err(Error::config(format!("{at}.orphan_metric: empty metric name")));
        }
        Ok(Lookup { port: self.port, key: self.key, lookup_key, columns: self.columns, orphan_metric })
    }
}

/// A column the stage adds must have a name, and not one of the host's `_` metadata names.
fn check_new_name(name: &str, at: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::config(format!("{at}: empty column name")));
    }
    if name.starts_with('_') {
        return Err(Error::config(format!("{at}: `{name}` starts with `_`, which is reserved for row metadata")));
    }
    Ok(())
}

impl Plan {
    /// Refuses two entries that add the same column, two lookups on one port, and two lookups
    /// that report into one metric.
    fn check_names(&self) -> Result<()> {
        let mut added: HashMap<String, String> = HashMap::new();
        for (i, derive) in self.derive.iter().enumerate() {
            for name in derive.outputs() {
                if let Some(first) = added.insert(name.clone(), derive.label()) {
                    return Err(Error::config(format!("derive[{i}]: column `{name}` is already added by {first}")));
                }
            }
        }
        for (i, lookup) in self.lookups.iter().enumerate() {
            let at = format!("lookups[{i}]");
            if let Some(j) = self.lookups[..i].iter().position(|l| l.port == lookup.port) {
                return Err(Error::config(format!(
                    "{at}.port: port `{}` is already used by lookups[{j}]",
                    lookup.port
                )));
            }
            if let Some(j) = self.lookups[..i].iter().position(|l| l.orphan_metric == lookup.orphan_metric) {
                return Err(Error::config(format!(
                    "{at}.orphan_metric: metric `{}` is already reported by lookups[{j}]",
                    lookup.orphan_metric
                )));
            }
            for (c, name) in lookup.columns.iter().enumerate() {
                if let Some(first) = added.insert(name.clone(), format!("lookup `{}`", lookup.port)) {
                    return Err(Error::config(format!(
                        "{at}.columns[{c}]: column `{name}` is already added by {first}"
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_result_types() {
        assert_eq!(ResultType::parse("decimal(18,2)"), Some(ResultType::Decimal { precision: 18, scale: 2 }));
        assert_eq!(ResultType::parse(" Decimal( 38 , 0 ) "), Some(ResultType::Decimal { precision: 38, scale: 0 }));
        assert_eq!(ResultType::parse("INT64"), Some(ResultType::Int64));
        for bad in ["decimal(39,2)", "decimal(0,0)", "decimal(2,3)", "decimal(18)", "decimal(18,-1)", "float", ""] {
            assert_eq!(ResultType::parse(bad), None, "{bad}");
        }
    }
}
