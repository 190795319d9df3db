//! The groups of one table: each distinct combination of group-by values gets a dense id, in
//! order of first appearance, and its values are kept once. Memory grows with the number of
//! groups, never with the number of rows.

use std::cmp::Ordering;

use etl_sdk::arrow::array::ArrayRef;
use etl_sdk::{Error, Result};

use crate::values::{self, ValueType, Values};
use etl_sdk::index::KeyIndex;

/// The distinct values of one group-by column, one per group.
#[derive(Debug)]
enum KeyColumn {
    /// Every group's text, concatenated; group `g` is `text[ends[g - 1]..ends[g]]`.
    Utf8 {
        text: String,
        ends: Vec<usize>,
        valid: Vec<bool>,
    },
    Numeric {
        ty: ValueType,
        values: Vec<i128>,
        valid: Vec<bool>,
    },
}

impl KeyColumn {
    fn new(ty: ValueType) -> Self {
        match ty {
            ValueType::Utf8 => KeyColumn::Utf8 { text: String::new(), ends: Vec::new(), valid: Vec::new() },
            ty => KeyColumn::Numeric { ty, values: Vec::new(), valid: Vec::new() },
        }
    }

    fn push(&mut self, values: &Values, row: usize) {
        match self {
            KeyColumn::Utf8 { text, ends, valid } => {
                let value = values.text(row);
                text.push_str(value.unwrap_or_default());
                ends.push(text.len());
                valid.push(value.is_some());
            }
            KeyColumn::Numeric { values: stored, valid, .. } => {
                let value = values.number(row);
                stored.push(value.unwrap_or_default());
                valid.push(value.is_some());
            }
        }
    }

    fn text(&self, group: usize) -> Option<&str> {
        let KeyColumn::Utf8 { text, .. } = self else { return None };
        let range = self.text_range(group)?;
        text.get(range)
    }

    /// Where group `group`'s text is in `text`, if it is not null.
    fn text_range(&self, group: usize) -> Option<std::ops::Range<usize>> {
        let KeyColumn::Utf8 { ends, valid, .. } = self else { return None };
        if !valid.get(group).copied().unwrap_or(false) {
            return None;
        }
        let start = if group == 0 { 0 } else { ends[group - 1] };
        Some(start..ends[group])
    }

    fn number(&self, group: usize) -> Option<i128> {
        let KeyColumn::Numeric { values, valid, .. } = self else { return None };
        valid.get(group).copied().unwrap_or(false).then(|| values[group])
    }

    /// Ascending, text in byte order, nulls last.
    fn compare(&self, a: usize, b: usize) -> Ordering {
        fn nulls_last<T: Ord>(a: Option<T>, b: Option<T>) -> Ordering {
            match (a, b) {
                (Some(a), Some(b)) => a.cmp(&b),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            }
        }
        match self {
            // Text orders by its UTF-8 bytes.
            KeyColumn::Utf8 { text, .. } => {
                let bytes = |group| self.text_range(group).and_then(|range| text.as_bytes().get(range));
                match (bytes(a), bytes(b)) {
                    (Some(a), Some(b)) => etl_sdk::bytes::compare(a, b),
                    (a, b) => nulls_last(a, b),
                }
            }
            KeyColumn::Numeric { .. } => nulls_last(self.number(a), self.number(b)),
        }
    }

    /// The values of the groups in `order`, as an array of the column's type.
    fn array(&self, order: &[u32]) -> Result<ArrayRef> {
        match self {
            KeyColumn::Utf8 { .. } => values::utf8_array(order.iter().map(|&g| self.text(g as usize))),
            KeyColumn::Numeric { ty, .. } => values::numeric_array(*ty, order.iter().map(|&g| self.number(g as usize))),
        }
    }

    fn show(&self, group: usize) -> String {
        match self {
            KeyColumn::Utf8 { .. } => self.text(group).map_or("null".into(), |t| format!("{t:?}")),
            KeyColumn::Numeric { ty, .. } => self.number(group).map_or("null".into(), |v| values::show(*ty, v)),
        }
    }
}

/// The groups of one table.
#[derive(Debug)]
pub struct Groups {
    /// Encoded key (see [`Values::encode`]) → group id.
    index: KeyIndex,
    keys: Vec<KeyColumn>,
    /// Rows per group.
    rows: Vec<i64>,
    /// The keys being encoded, kept to reuse the allocation.
    scratch: Vec<u8>,
}

impl Groups {
    pub fn new(types: &[ValueType]) -> Self {
        Groups {
            index: KeyIndex::default(),
            keys: types.iter().map(|&ty| KeyColumn::new(ty)).collect(),
            rows: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// The number of groups so far.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Rows per group.
    pub fn rows(&self) -> &[i64] {
        &self.rows
    }

    /// The group id of each of `rows` rows whose group-by columns are `columns`; makes new groups
    /// as needed. Keys are encoded and looked up a few thousand rows at a time.
    pub fn assign(&mut self, columns: &[Values], rows: usize) -> Result<Vec<u32>> {
        const CHUNK: usize = 4096;
        let mut ids = Vec::with_capacity(rows);
        let mut ends = Vec::with_capacity(CHUNK);
        for first in (0..rows).step_by(CHUNK) {
            let chunk = first..rows.min(first + CHUNK);
            self.scratch.clear();
            ends.clear();
            for row in chunk.clone() {
                for column in columns {
                    column.encode(row, &mut self.scratch);
                }
                ends.push(self.scratch.len());
            }
            let keys: Vec<&[u8]> =
                ends.iter().scan(0, |start, &end| Some(&self.scratch[std::mem::replace(start, end)..end])).collect();
            let found = self.index.insert_many(&keys).ok_or_else(|| Error::failed("too many groups in one table"))?;
            for (row, (id, new)) in chunk.zip(found) {
                if new {
                    for (key, column) in self.keys.iter_mut().zip(columns) {
                        key.push(column, row);
                    }
                    self.rows.push(0);
                }
                self.rows[id as usize] += 1;
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// Group ids sorted by their keys: ascending column by column, text in byte order, nulls last.
    pub fn sorted(&self) -> Vec<u32> {
        // Ids are u32 by construction (see `assign`).
        let mut order: Vec<u32> = (0..self.rows.len()).map(|g| g as u32).collect();
        order.sort_unstable_by(|&a, &b| {
            self.keys
                .iter()
                .map(|key| key.compare(a as usize, b as usize))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        });
        order
    }

    /// The group-by columns of the groups in `order`.
    pub fn arrays(&self, order: &[u32]) -> Result<Vec<ArrayRef>> {
        self.keys.iter().map(|key| key.array(order)).collect()
    }

    /// A group's key for messages: `order_date=2024-01-01, category="Books"`.
    pub fn describe(&self, group: u32, names: &[String]) -> String {
        let parts: Vec<String> =
            names.iter().zip(&self.keys).map(|(name, key)| format!("{name}={}", key.show(group as usize))).collect();
        if parts.is_empty() { "the single group".into() } else { parts.join(", ") }
    }
}
