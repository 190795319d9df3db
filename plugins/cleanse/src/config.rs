//! The `config:` block of a cleanse stage, and its checking into a [`Cleanse`]: every problem is
//! reported at once, each under the key it comes from (`dedupe.key[1]: ...`).

use std::collections::HashMap;
use std::fmt;

use etl_sdk::serde::Deserialize;
use etl_sdk::serde::de::{self, Deserializer, SeqAccess, Unexpected, Visitor};
use etl_sdk::{Error, Result};

use crate::Cleanse;
use crate::dedupe::Dedupe;

/// `config:` of a cleanse stage.
#[derive(Debug, Deserialize)]
#[serde(crate = "etl_sdk::serde", deny_unknown_fields)]
pub struct CleanseConfig {
    /// Which text columns to trim; every one by default.
    #[serde(default)]
    pub trim: Trim,
    /// De-duplication on a key, after trimming; none if absent.
    #[serde(default)]
    pub dedupe: Option<DedupeConfig>,
}

/// `trim:`: `all` (every Utf8 column but `_` metadata), `none`, or a list of column names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Trim {
    #[default]
    All,
    Columns(Vec<String>),
}

/// `dedupe:`: keep the first row of every key, in input order across all batches.
#[derive(Debug, Deserialize)]
#[serde(crate = "etl_sdk::serde", deny_unknown_fields)]
pub struct DedupeConfig {
    /// The key columns, compared exactly after trimming; nulls equal each other.
    pub key: Vec<String>,
    /// The Int64 column holding a row's line number, quoted in `duplicate of line N`.
    #[serde(default = "default_line_column")]
    pub line_column: String,
}

fn default_line_column() -> String {
    "_line".to_owned()
}

impl CleanseConfig {
    /// Checks the config and builds the stage, or refuses it naming every bad key.
    pub fn build(self) -> Result<Cleanse> {
        let mut problems = Vec::new();
        if let Trim::Columns(columns) = &self.trim {
            check_columns("trim", columns, "trimmed", &mut problems);
        }
        if let Some(dedupe) = &self.dedupe {
            if dedupe.key.is_empty() {
                problems.push("dedupe.key: empty; list the key columns".to_owned());
            }
            check_columns("dedupe.key", &dedupe.key, "part of a key", &mut problems);
            if dedupe.line_column.is_empty() {
                problems.push("dedupe.line_column: empty".to_owned());
            }
        }
        if !problems.is_empty() {
            return Err(Error::config(problems.join("; ")));
        }
        let dedupe = self.dedupe.map(|config| Dedupe::new(config.key, config.line_column));
        Ok(Cleanse::new(self.trim, dedupe))
    }
}

/// Column names under `key`: none empty, none row metadata, none twice.
fn check_columns(key: &str, columns: &[String], what: &str, problems: &mut Vec<String>) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (index, column) in columns.iter().enumerate() {
        if column.is_empty() {
            problems.push(format!("{key}[{index}]: empty"));
        } else if column.starts_with('_') {
            problems.push(format!(
                "{key}[{index}]: `{column}` is row metadata (a name starting with `_`), which is never {what}"
            ));
        } else if let Some(first) = seen.insert(column, index) {
            problems.push(format!("{key}[{index}]: `{column}` is already listed as {key}[{first}]"));
        }
    }
}

impl<'de> Deserialize<'de> for Trim {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TrimVisitor)
    }
}

struct TrimVisitor;

impl<'de> Visitor<'de> for TrimVisitor {
    type Value = Trim;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("`all`, `none` or a list of column names")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Trim, E> {
        match value {
            "all" => Ok(Trim::All),
            "none" => Ok(Trim::Columns(Vec::new())),
            other => Err(E::invalid_value(Unexpected::Str(other), &self)),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Trim, A::Error> {
        let mut columns = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(column) = seq.next_element::<String>()? {
            columns.push(column);
        }
        Ok(Trim::Columns(columns))
    }
}
