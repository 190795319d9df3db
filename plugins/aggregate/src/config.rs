//! The `config:` block of `aggregate` as written in YAML ([`AggregateConfig`]) and the checked
//! tables the stage computes ([`TableSpec`]).

use etl_sdk::serde::Deserialize;
use etl_sdk::{Error, Result};

/// The stage's `config:` block, as written.
#[derive(Debug, Deserialize)]
#[serde(crate = "etl_sdk::serde", deny_unknown_fields)]
pub struct AggregateConfig {
    /// The tables to compute, each emitted on the output port of its name.
    pub tables: Vec<TableConfig>,
}

/// One entry of `tables`.
#[derive(Debug, Deserialize)]
#[serde(crate = "etl_sdk::serde", deny_unknown_fields)]
pub struct TableConfig {
    /// The table's name and output port.
    pub name: String,
    /// The columns whose distinct combinations make the groups (may be empty: one group).
    pub group_by: Vec<String>,
    /// What to compute per group, in output order after the group columns.
    pub aggregates: Vec<AggregateEntry>,
}

/// One entry of `aggregates`.
#[derive(Debug, Deserialize)]
#[serde(crate = "etl_sdk::serde", deny_unknown_fields)]
pub struct AggregateEntry {
    pub column: String,
    #[serde(rename = "fn")]
    pub func: Func,
    /// The output column's name; default `<column>_<fn>`.
    #[serde(rename = "as")]
    pub alias: Option<String>,
}

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(crate = "etl_sdk::serde", rename_all = "lowercase")]
pub enum Func {
    Sum,
    Avg,
    Count,
    Min,
    Max,
}

impl Func {
    pub fn name(self) -> &'static str {
        match self {
            Func::Sum => "sum",
            Func::Avg => "avg",
            Func::Count => "count",
            Func::Min => "min",
            Func::Max => "max",
        }
    }
}

/// A checked table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub name: String,
    pub group_by: Vec<String>,
    pub aggregates: Vec<AggregateSpec>,
}

/// A checked aggregate: `func` of `column`, output as `output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregateSpec {
    pub column: String,
    pub func: Func,
    pub output: String,
}

impl AggregateConfig {
    /// Checks every table; the first problem is reported with its key.
    pub fn plan(self) -> Result<Vec<TableSpec>> {
        if self.tables.is_empty() {
            return Err(Error::config("tables: give at least one table"));
        }
        let mut tables: Vec<TableSpec> = Vec::with_capacity(self.tables.len());
        for (i, table) in self.tables.into_iter().enumerate() {
            let at = format!("tables[{i}]");
            let table = table.check(&at)?;
            if let Some(j) = tables.iter().position(|t| t.name == table.name) {
                return Err(Error::config(format!(
                    "{at}.name: table `{}` is already defined by tables[{j}]",
                    table.name
                )));
            }
            tables.push(table);
        }
        Ok(tables)
    }
}

impl TableConfig {
    fn check(self, at: &str) -> Result<TableSpec> {
        if self.name.is_empty() {
            return Err(Error::config(format!("{at}.name: empty table name")));
        }
        if !self.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(Error::config(format!(
                "{at}.name: `{}` names an output port; use ASCII letters, digits, `_` and `-`",
                self.name
            )));
        }
        for (i, column) in self.group_by.iter().enumerate() {
            check_input_name(column, &format!("{at}.group_by[{i}]"))?;
            if self.group_by[..i].contains(column) {
                return Err(Error::config(format!("{at}.group_by[{i}]: `{column}` is listed twice")));
            }
        }
        let mut aggregates: Vec<AggregateSpec> = Vec::with_capacity(self.aggregates.len());
        for (i, entry) in self.aggregates.into_iter().enumerate() {
            let at = format!("{at}.aggregates[{i}]");
            check_input_name(&entry.column, &format!("{at}.column"))?;
            let output = match entry.alias {
                Some(alias) if alias.is_empty() => return Err(Error::config(format!("{at}.as: empty column name"))),
                Some(alias) => alias,
                None => format!("{}_{}", entry.column, entry.func.name()),
            };
            if self.group_by.contains(&output) {
                return Err(Error::config(format!("{at}: output column `{output}` is also a group_by column")));
            }
            if let Some(j) = aggregates.iter().position(|a| a.output == output) {
                return Err(Error::config(format!(
                    "{at}: output column `{output}` is already made by aggregates[{j}]; name one with `as`"
                )));
            }
            aggregates.push(AggregateSpec { column: entry.column, func: entry.func, output });
        }
        Ok(TableSpec { name: self.name, group_by: self.group_by, aggregates })
    }
}

/// An input column the config names: not empty, and not one of the host's `_` metadata columns.
fn check_input_name(name: &str, at: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::config(format!("{at}: empty column name")));
    }
    if name.starts_with('_') {
        return Err(Error::config(format!(
            "{at}: `{name}` is row metadata (it starts with `_`), which aggregate ignores"
        )));
    }
    Ok(())
}
