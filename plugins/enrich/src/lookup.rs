//! One configured lookup: its rows kept in memory and indexed by key (the build side of a hash
//! join), and the probe that gives each row to enrich its lookup columns (a LEFT join).
//!
//! While lookup batches arrive, the index gives every new key the next id and remembers where
//! its first row is. Before the first probe, the listed columns are compacted, row `id` holding
//! the columns of key `id`, and no duplicate rows kept: text and binary columns together row by
//! row ([`ByteRows`]), the others one array each.

use etl_sdk::arrow::RecordBatch;
use etl_sdk::arrow::array::{Array, ArrayRef, StringArray};
use etl_sdk::arrow::schema::{DataType, Field};
use etl_sdk::{Error, Result};

use crate::byte_rows::{ByteRows, is_byte_type};
use crate::config;
use crate::gather::{self, Pick};
use etl_sdk::index::KeyIndex;

/// The rows of one lookup port, as far as they have arrived.
#[derive(Debug)]
pub struct Lookup {
    pub spec: config::Lookup,
    /// The type of each listed column, fixed by the first batch.
    types: Option<Vec<DataType>>,
    /// The listed columns of every batch that brought a new key.
    sources: Vec<Vec<ArrayRef>>,
    /// Key → id, ids in order of first appearance.
    index: KeyIndex,
    /// The (source, row) of each id's first row.
    first_rows: Vec<Pick>,
    /// The listed columns with row `id` for key `id`; made from `sources` at the first probe.
    compacted: Option<Compacted>,
    /// Rows received on the port.
    pub rows: i64,
    /// Rows whose key was already indexed (the first row wins).
    pub duplicates: i64,
    /// `in` rows whose key was null or not found.
    pub orphans: i64,
}

impl Lookup {
    pub fn new(spec: config::Lookup) -> Self {
        Lookup {
            spec,
            types: None,
            sources: Vec::new(),
            index: KeyIndex::default(),
            first_rows: Vec::new(),
            compacted: None,
            rows: 0,
            duplicates: 0,
            orphans: 0,
        }
    }

    /// Indexes one batch of lookup rows. Rows with a null key can never match and are skipped;
    /// a key seen before keeps its first row.
    pub fn add(&mut self, batch: &RecordBatch) -> Result<()> {
        let port = &self.spec.port;
        let in_port = |e: Error| Error::input(format!("lookup port `{port}`: {}", e.message()));
        let keys: &StringArray = etl_sdk::column_as(batch, &self.spec.lookup_key, &DataType::Utf8).map_err(in_port)?;
        let columns = match &self.types {
            Some(types) => self
                .spec
                .columns
                .iter()
                .zip(types)
                .map(|(name, data_type)| etl_sdk::column(batch, name, data_type).cloned())
                .collect::<Result<Vec<_>>>()
                .map_err(in_port)?,
            None => {
                let columns = self
                    .spec
                    .columns
                    .iter()
                    .map(|name| {
                        let column = batch
                            .column_by_name(name)
                            .ok_or_else(|| Error::input(format!("missing required column `{name}`")))?;
                        gather::check_supported(column.data_type())
                            .map_err(|e| Error::input(format!("column `{name}`: {}", e.message())))?;
                        Ok(column.clone())
                    })
                    .collect::<Result<Vec<_>>>()
                    .map_err(in_port)?;
                self.types = Some(columns.iter().map(|c| c.data_type().clone()).collect());
                columns
            }
        };

        let source = u32::try_from(self.sources.len())
            .map_err(|_| Error::failed(format!("lookup port `{port}`: more than 2^32 batches")))?;
        // Rows with a null key can never match: they are not indexed.
        let (rows, present): (Vec<usize>, Vec<&[u8]>) =
            keys.iter().enumerate().filter_map(|(row, key)| Some((row, key?.as_bytes()))).unzip();
        let ids = self
            .index
            .insert_many(&present)
            .ok_or_else(|| Error::failed(format!("lookup port `{port}`: too many keys to index")))?;
        let mut added = false;
        for (row, (_, new)) in rows.into_iter().zip(ids) {
            if !new {
                self.duplicates += 1;
                continue;
            }
            let row = u32::try_from(row)
                .map_err(|_| Error::failed(format!("lookup port `{port}`: a batch of more than 2^32 rows")))?;
            self.first_rows.push(Some((source, row)));
            added = true;
        }
        if added {
            self.sources.push(columns);
        }
        self.rows += batch.num_rows() as i64;
        Ok(())
    }

    /// The fields this lookup adds to the output: the listed columns with their lookup types,
    /// nullable (a row without a match gets nulls).
    pub fn fields(&self) -> Result<Vec<Field>> {
        let types = self.types.as_ref().ok_or_else(|| {
            Error::input(format!(
                "lookup port `{}` received no batch before `{}`, so the types of its columns ({}) are unknown; \
                 send at least one batch, even an empty one",
                self.spec.port,
                config::IN,
                self.spec.columns.join(", ")
            ))
        })?;
        Ok(self.spec.columns.iter().zip(types).map(|(name, t)| Field::new(name, t.clone(), true)).collect())
    }

    /// The lookup columns for the rows of `batch` (of the `in` port), matched on the key column.
    /// Counts every row whose key is null or unknown as an orphan.
    pub fn probe(&mut self, batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
        let fields = self.fields()?;
        let keys: &StringArray = etl_sdk::column_as(batch, &self.spec.key, &DataType::Utf8)?;
        let keys: Vec<Option<&[u8]>> = keys.iter().map(|key| key.map(str::as_bytes)).collect();
        let ids = self.index.get_many(&keys);
        self.orphans += ids.iter().filter(|id| id.is_none()).count() as i64;
        let compacted = match &mut self.compacted {
            Some(compacted) => compacted,
            empty => {
                let sources = std::mem::take(&mut self.sources);
                let first_rows = std::mem::take(&mut self.first_rows);
                empty.insert(Compacted::new(&fields, &sources, &first_rows)?)
            }
        };
        compacted.gather(&ids)
    }
}

/// A lookup's listed columns, row `id` holding key `id`'s values.
#[derive(Debug)]
struct Compacted {
    /// The text and binary columns.
    bytes: ByteRows,
    /// The other columns, with their position among the listed ones.
    others: Vec<(usize, ArrayRef)>,
    /// Which of the listed columns each of `bytes`' columns is.
    byte_positions: Vec<usize>,
}

impl Compacted {
    /// Compacts `sources` (the listed columns of the batches that brought new keys), taking key
    /// `id`'s values from `first_rows[id]`.
    fn new(fields: &[Field], sources: &[Vec<ArrayRef>], first_rows: &[Pick]) -> Result<Self> {
        let mut byte_types = Vec::new();
        let mut byte_columns = Vec::new();
        let mut byte_positions = Vec::new();
        let mut others = Vec::new();
        for (c, field) in fields.iter().enumerate() {
            let columns: Vec<&dyn Array> =
                sources.iter().filter_map(|columns| columns.get(c)).map(|a| a.as_ref()).collect();
            if is_byte_type(field.data_type()) {
                byte_types.push(field.data_type().clone());
                byte_columns.push(columns);
                byte_positions.push(c);
            } else {
                others.push((c, gather::gather(field.data_type(), &columns, first_rows)?));
            }
        }
        let bytes = ByteRows::new(&byte_types, &byte_columns, first_rows)?;
        Ok(Compacted { bytes, others, byte_positions })
    }

    /// The listed columns for rows with ids `ids` (`None`: no match, nulls).
    fn gather(&self, ids: &[Option<u32>]) -> Result<Vec<ArrayRef>> {
        let mut columns: Vec<Option<ArrayRef>> = vec![None; self.byte_positions.len() + self.others.len()];
        for (position, array) in self.byte_positions.iter().zip(self.bytes.gather(ids)?) {
            columns[*position] = Some(array);
        }
        if !self.others.is_empty() {
            let picks: Vec<Pick> = ids.iter().map(|id| id.map(|id| (0, id))).collect();
            for (position, column) in &self.others {
                columns[*position] = Some(gather::gather(column.data_type(), &[column.as_ref()], &picks)?);
            }
        }
        columns
            .into_iter()
            .map(|c| c.ok_or_else(|| Error::failed("a lookup column went missing; this is a bug")))
            .collect()
    }
}
