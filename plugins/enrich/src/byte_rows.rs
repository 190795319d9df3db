//! A lookup's text and binary columns stored row by row, for probing.
//!
//! Probing gathers the lookup values of rows in no particular order. From one array per column,
//! each value costs two cache misses (its offset, then its bytes), so enriching an order with a
//! customer's name, email and region cost six; with 250,000 customers that was most of what the
//! join cost. Here the values of one key sit together: the length of each column's value, then
//! the bytes, usually within one or two cache lines.

use std::sync::Arc;

use etl_sdk::arrow::array::types::{BinaryType, ByteArrayType, LargeBinaryType, LargeUtf8Type, Utf8Type};
use etl_sdk::arrow::array::{Array, ArrayRef, GenericByteArray, OffsetSizeTrait};
use etl_sdk::arrow::buffer::{ArrowNativeType, Buffer, NullBufferBuilder, OffsetBuffer, ScalarBuffer};
use etl_sdk::arrow::schema::DataType;
use etl_sdk::{Error, Result};

use crate::gather::Pick;

/// The length that marks a null value.
const NULL: u32 = u32::MAX;

/// Rows gathered at a time, each batch of them first [warmed](ByteRows::warm).
const WARM_ROWS: usize = 256;

/// Whether a column of `data_type` is kept in [`ByteRows`].
pub fn is_byte_type(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Utf8 | DataType::LargeUtf8 | DataType::Binary | DataType::LargeBinary)
}

/// The values of some byte-typed columns, row by row: row `r` is `data[starts[r]..starts[r + 1]]`,
/// holding one little-endian `u32` length per column ([`NULL`] for a null), then the values'
/// bytes in column order.
#[derive(Debug)]
pub struct ByteRows {
    types: Vec<DataType>,
    data: Vec<u8>,
    starts: Vec<usize>,
    /// Bytes of each column's values over all rows, to size a probe's buffers.
    column_bytes: Vec<usize>,
}

impl ByteRows {
    /// One row per pick: row `i` holds the values at `picks[i] = Some((s, r))`, row `r` of
    /// source `s` of each column (nulls for `None`). `columns[c]` holds column `c`'s arrays, one
    /// per source, each of type `types[c]`, a byte type. Built straight from the sources, so the
    /// values are copied once.
    pub fn new(types: &[DataType], columns: &[Vec<&dyn Array>], picks: &[Pick]) -> Result<Self> {
        let views = types
            .iter()
            .zip(columns)
            .map(|(data_type, sources)| {
                sources
                    .iter()
                    .map(|source| match source.data_type() == data_type {
                        true => ByteView::of(*source),
                        false => Err(Error::failed(format!(
                            "a {} lookup column has a {} batch; this is a bug",
                            data_type,
                            source.data_type()
                        ))),
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        let mut rows_out = ByteRows {
            types: types.to_vec(),
            data: Vec::new(),
            starts: Vec::with_capacity(picks.len() + 1),
            column_bytes: vec![0; types.len()],
        };
        let mut values: Vec<Option<&[u8]>> = Vec::with_capacity(views.len());
        for pick in picks {
            values.clear();
            for sources in &views {
                values.push(match *pick {
                    None => None,
                    Some((source, row)) => sources
                        .get(source as usize)
                        .filter(|view| (row as usize) < view.len())
                        .ok_or_else(|| Error::failed(format!("lookup row {pick:?} does not exist; this is a bug")))?
                        .value(row as usize),
                });
            }
            rows_out.starts.push(rows_out.data.len());
            for value in &values {
                let len = match value {
                    None => NULL,
                    Some(value) => u32::try_from(value.len())
                        .ok()
                        .filter(|&len| len != NULL)
                        .ok_or_else(|| Error::failed("a lookup value of 4 GiB or more cannot be joined"))?,
                };
                rows_out.data.extend_from_slice(&len.to_le_bytes());
            }
            for (value, bytes) in values.iter().zip(&mut rows_out.column_bytes) {
                if let Some(value) = value {
                    rows_out.data.extend_from_slice(value);
                    *bytes += value.len();
                }
            }
        }
        rows_out.starts.push(rows_out.data.len());
        Ok(rows_out)
    }

    /// One array per column: row `i` holds row `ids[i]`'s value, or null for `None`.
    pub fn gather(&self, ids: &[Option<u32>]) -> Result<Vec<ArrayRef>> {
        if self.types.is_empty() {
            return Ok(Vec::new());
        }
        let keys = self.starts.len().saturating_sub(1);
        let mut outputs: Vec<Output> = self
            .column_bytes
            .iter()
            .map(|&bytes| {
                // Room for the average value on every row; the buffer grows if the rows are longer.
                let estimate = bytes / keys.max(1) * ids.len();
                Output::with_capacity(ids.len(), estimate)
            })
            .collect();
        let width = 4 * outputs.len();
        for chunk in ids.chunks(WARM_ROWS) {
            self.warm(chunk);
            self.gather_chunk(chunk, width, &mut outputs)?;
        }
        outputs.into_iter().zip(&self.types).map(|(output, data_type)| output.finish(data_type)).collect()
    }

    /// Reads the start of each row of `ids` (that exists) once, ahead of gathering them. The
    /// reads are independent of each other, so the processor overlaps their cache misses (two
    /// per row: its start, then its record), and the gather that follows finds the rows in
    /// cache. A portable prefetch: it makes no difference to any result.
    fn warm(&self, ids: &[Option<u32>]) {
        let mut sink = 0u8;
        for &id in ids.iter().flatten() {
            if let Some(&start) = self.starts.get(id as usize) {
                sink ^= self.data.get(start).copied().unwrap_or(0);
            }
        }
        std::hint::black_box(sink);
    }

    fn gather_chunk(&self, ids: &[Option<u32>], width: usize, outputs: &mut [Output]) -> Result<()> {
        let keys = self.starts.len().saturating_sub(1);
        for id in ids {
            let Some(row) = id.map(|id| id as usize).filter(|&row| row < keys) else {
                if id.is_some() {
                    return Err(Error::failed(format!("lookup row {id:?} does not exist; this is a bug")));
                }
                outputs.iter_mut().for_each(Output::push_null);
                continue;
            };
            let record = &self.data[self.starts[row]..self.starts[row + 1]];
            let (lengths, mut values) = record.split_at(width);
            for (output, length) in outputs.iter_mut().zip(lengths.chunks_exact(4)) {
                let length = u32::from_le_bytes([length[0], length[1], length[2], length[3]]);
                if length == NULL {
                    output.push_null();
                } else {
                    let (value, rest) = values.split_at(length as usize);
                    output.push(value);
                    values = rest;
                }
            }
        }
        Ok(())
    }
}

/// A byte-typed array, for reading its values whatever its offset width.
enum ByteView<'a> {
    Small(&'a GenericByteArray<BinaryType>),
    Large(&'a GenericByteArray<LargeBinaryType>),
    SmallText(&'a GenericByteArray<Utf8Type>),
    LargeText(&'a GenericByteArray<LargeUtf8Type>),
}

impl<'a> ByteView<'a> {
    fn of(array: &'a dyn Array) -> Result<Self> {
        let any = array.as_any();
        let view = match array.data_type() {
            DataType::Binary => any.downcast_ref().map(ByteView::Small),
            DataType::LargeBinary => any.downcast_ref().map(ByteView::Large),
            DataType::Utf8 => any.downcast_ref().map(ByteView::SmallText),
            DataType::LargeUtf8 => any.downcast_ref().map(ByteView::LargeText),
            _ => None,
        };
        view.ok_or_else(|| Error::failed(format!("a {} column is not a byte column; this is a bug", array.data_type())))
    }

    fn len(&self) -> usize {
        match *self {
            ByteView::Small(a) => a.len(),
            ByteView::Large(a) => a.len(),
            ByteView::SmallText(a) => a.len(),
            ByteView::LargeText(a) => a.len(),
        }
    }

    fn value(&self, row: usize) -> Option<&'a [u8]> {
        fn get<T: ByteArrayType>(array: &GenericByteArray<T>, row: usize) -> Option<&[u8]> {
            array.is_valid(row).then(|| array.value(row).as_ref())
        }
        match *self {
            ByteView::Small(a) => get(a, row),
            ByteView::Large(a) => get(a, row),
            ByteView::SmallText(a) => get(a, row),
            ByteView::LargeText(a) => get(a, row),
        }
    }
}

/// One column being gathered.
struct Output {
    values: Vec<u8>,
    ends: Vec<usize>,
    nulls: NullBufferBuilder,
}

impl Output {
    fn with_capacity(rows: usize, bytes: usize) -> Self {
        let mut ends = Vec::with_capacity(rows + 1);
        ends.push(0);
        Output { values: Vec::with_capacity(bytes), ends, nulls: NullBufferBuilder::new(rows) }
    }

    fn push(&mut self, value: &[u8]) {
        etl_sdk::bytes::append(&mut self.values, value);
        self.ends.push(self.values.len());
        self.nulls.append_non_null();
    }

    fn push_null(&mut self) {
        self.ends.push(self.values.len());
        self.nulls.append_null();
    }

    fn finish(self, data_type: &DataType) -> Result<ArrayRef> {
        match data_type {
            DataType::Utf8 => self.array::<Utf8Type>(),
            DataType::LargeUtf8 => self.array::<LargeUtf8Type>(),
            DataType::Binary => self.array::<BinaryType>(),
            DataType::LargeBinary => self.array::<LargeBinaryType>(),
            other => Err(Error::failed(format!("a {other} column is not a byte column; this is a bug"))),
        }
    }

    fn array<T: ByteArrayType>(mut self) -> Result<ArrayRef>
    where
        T::Offset: OffsetSizeTrait,
    {
        let bytes = self.values.len();
        let offsets: Vec<T::Offset> = self.ends.iter().map_while(|&end| T::Offset::from_usize(end)).collect();
        if offsets.len() != self.ends.len() {
            return Err(Error::failed(format!(
                "the joined {} column would hold {bytes} bytes in one batch, more than its offsets can address; \
                 send smaller batches",
                T::DATA_TYPE
            )));
        }
        // SAFETY: the offsets start at 0 and never decrease, the last is the length of `values`,
        // and every value between two of them was copied whole from an array of the same type
        // (so text is valid UTF-8).
        let array = unsafe {
            GenericByteArray::<T>::new_unchecked(
                OffsetBuffer::new_unchecked(ScalarBuffer::from(offsets)),
                Buffer::from_vec(self.values),
                self.nulls.finish(),
            )
        };
        Ok(Arc::new(array))
    }
}

#[cfg(test)]
mod tests {
    use etl_sdk::arrow::array::{BinaryArray, LargeStringArray, StringArray};

    use super::*;

    #[test]
    fn gathers_each_column_of_the_rows_asked_for() {
        let names = StringArray::from(vec![Some("Ada"), None, Some("a name longer than thirty-two bytes")]);
        let emails = LargeStringArray::from(vec![Some(""), Some("b@x"), Some("c@x")]);
        let blobs = BinaryArray::from(vec![Some(&b"\x00\x01"[..]), Some(b"z"), None]);
        let types = [DataType::Utf8, DataType::LargeUtf8, DataType::Binary];
        let columns: Vec<Vec<&dyn Array>> = vec![vec![&names], vec![&emails], vec![&blobs]];
        let picks: Vec<Pick> = (0..3).map(|row| Some((0, row))).collect();
        let rows = ByteRows::new(&types, &columns, &picks).unwrap();

        let out = rows.gather(&[Some(2), None, Some(0), Some(1), Some(2)]).unwrap();
        let expected_names = StringArray::from(vec![
            Some("a name longer than thirty-two bytes"),
            None,
            Some("Ada"),
            None,
            Some("a name longer than thirty-two bytes"),
        ]);
        assert_eq!(out[0].as_ref(), &expected_names as &dyn Array);
        let expected_emails = LargeStringArray::from(vec![Some("c@x"), None, Some(""), Some("b@x"), Some("c@x")]);
        assert_eq!(out[1].as_ref(), &expected_emails as &dyn Array);
        let expected_blobs = BinaryArray::from(vec![None, None, Some(&b"\x00\x01"[..]), Some(b"z"), None]);
        assert_eq!(out[2].as_ref(), &expected_blobs as &dyn Array);

        assert!(rows.gather(&[Some(3)]).unwrap_err().message().ends_with("this is a bug"));
        assert_eq!(rows.gather(&[]).unwrap()[0].len(), 0);
    }
}
