//! De-duplication on a key: the first row of every key value is kept, in input order across all
//! batches; later rows of that key are duplicates of the first's line.
//!
//! State is one entry per distinct key: the key's compact encoding ([`KeyColumn`], kept in a
//! [`KeyIndex`], about 45 bytes a key besides the key itself) and the line of its first row. It
//! grows with the number of distinct keys, not with the width of the rows.

use etl_sdk::arrow::RecordBatch;
use etl_sdk::arrow::array::{Array, Int64Array};
use etl_sdk::arrow::schema::DataType;
use etl_sdk::{Error, Result};

use etl_sdk::index::KeyIndex;
use etl_sdk::rows::KeyColumn;

/// Stands for a first occurrence whose line number was null.
const NO_LINE: i64 = i64::MIN;

/// The de-duplication state of one run.
#[derive(Debug)]
pub struct Dedupe {
    key: Vec<String>,
    line_column: String,
    /// `duplicate(<key columns joined by ",">)`.
    reason: String,
    /// Every key seen so far, encoded.
    keys: KeyIndex,
    /// Per key (by its id in `keys`), the line of its first row.
    first_line: Vec<i64>,
}

/// How one batch splits.
#[derive(Debug, Default)]
pub struct Split {
    /// The rows whose key was new.
    pub first: Vec<usize>,
    /// The other rows.
    pub duplicates: Vec<usize>,
    /// Per duplicate, its `_message`: `duplicate of line N`, N the first row's line.
    pub messages: Vec<String>,
}

impl Dedupe {
    /// De-duplication on the columns `key`, quoting first rows' lines from `line_column`.
    pub fn new(key: Vec<String>, line_column: String) -> Self {
        let reason = format!("duplicate({})", key.join(","));
        Dedupe { key, line_column, reason, keys: KeyIndex::default(), first_line: Vec::new() }
    }

    /// The reason every duplicate carries.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Splits `batch` into the first rows of their key and duplicates, remembering the new keys.
    pub fn split(&mut self, batch: &RecordBatch) -> Result<Split> {
        let lines = self.lines(batch)?;
        let columns = self
            .key
            .iter()
            .map(|name| {
                let array = batch.column_by_name(name).ok_or_else(|| {
                    Error::input(format!("missing required column `{name}` (listed under `dedupe.key`)"))
                })?;
                KeyColumn::new(name, array.as_ref())
            })
            .collect::<Result<Vec<_>>>()?;

        // Every row's key, encoded back to back, then looked up (and added) all at once.
        let mut encoded = Vec::new();
        let mut ends = Vec::with_capacity(batch.num_rows());
        for row in 0..batch.num_rows() {
            for column in &columns {
                column.encode(row, &mut encoded);
            }
            ends.push(encoded.len());
        }
        let keys: Vec<&[u8]> =
            ends.iter().scan(0, |start, &end| Some(&encoded[std::mem::replace(start, end)..end])).collect();
        let ids = self
            .keys
            .insert_many(&keys)
            .ok_or_else(|| Error::failed("more distinct keys than dedupe can hold (4 GiB of encoded keys)"))?;

        let mut split = Split { first: Vec::with_capacity(batch.num_rows()), ..Split::default() };
        for (row, (id, new)) in ids.into_iter().enumerate() {
            if new {
                self.first_line.push(if lines.is_valid(row) { lines.value(row) } else { NO_LINE });
                split.first.push(row);
            } else {
                split.duplicates.push(row);
                split.messages.push(match self.first_line.get(id as usize) {
                    Some(&NO_LINE) | None => {
                        format!("duplicate of an earlier row (its `{}` is null)", self.line_column)
                    }
                    Some(line) => format!("duplicate of line {line}"),
                });
            }
        }
        Ok(split)
    }

    fn lines<'a>(&self, batch: &'a RecordBatch) -> Result<&'a Int64Array> {
        if batch.column_by_name(&self.line_column).is_none() {
            return Err(Error::input(format!(
                "missing required column `{}`: dedupe quotes the line of a duplicate's first occurrence from it \
                 (set `dedupe.line_column`)",
                self.line_column
            )));
        }
        etl_sdk::column_as::<Int64Array>(batch, &self.line_column, &DataType::Int64)
    }
}
