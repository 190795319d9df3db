//! From records to batches: the check that sends each [`Record`] to the valid or the rejected
//! rows, and the column builders of both, flushed together into an [`IngestBatch`].
//!
//! A record is checked in full before anything is appended, so a rejected record leaves no trace
//! in the valid columns. Values go from the record's byte slices straight into the builders'
//! buffers; only a rejected record allocates (its message and lossy text).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;

use arrow_array::builder::{Date32Builder, Decimal128Builder, Int64Builder};
use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_buffer::{Buffer, NullBufferBuilder, OffsetBuffer, ScalarBuffer};
use arrow_schema::{ArrowError, SchemaRef};

use super::IngestBatch;
use super::csv::Record;
use super::parse::{parse_date, parse_decimal, parse_int64};
use super::schema::{ColumnType, CsvSchema};

/// The quarantine reason of every record ingestion rejects.
pub(super) const PARSE_ERROR: &str = "parse_error";
/// The message of a record whose quoting is malformed (settled detail 3).
pub(super) const MALFORMED_QUOTING: &str = "malformed CSV quoting";

/// What a record's checked field becomes in the valid columns.
#[derive(Debug, Clone, Copy)]
enum Value {
    Null,
    /// The field's text, valid UTF-8.
    Text,
    Int64(i64),
    Decimal(i128),
    Date(i32),
}

/// Routes records to the valid or rejected rows of the batch being built.
#[derive(Debug)]
pub(super) struct BatchBuilder {
    columns: Vec<(String, ColumnType)>,
    valid: ValidColumns,
    rejected: RejectedColumns,
    valid_schema: SchemaRef,
    rejected_schema: SchemaRef,
    /// Per-record scratch: the checked values and the error message.
    values: Vec<Value>,
    message: String,
    rows: usize,
    /// A bound on the text bytes of any one column since the last flush.
    text_bytes: usize,
    capacity: usize,
}

impl BatchBuilder {
    /// A builder for `schema` whose rejected rows name `source_file` and `stage`. `capacity` rows
    /// are reserved up front in every batch.
    pub fn new(schema: &CsvSchema, source_file: &str, stage: &str, capacity: usize) -> Self {
        let columns: Vec<_> = schema.columns.iter().map(|column| (column.name.clone(), column.ty)).collect();
        BatchBuilder {
            valid: ValidColumns::new(&columns, capacity),
            rejected: RejectedColumns::new(columns.len(), source_file, stage),
            columns,
            valid_schema: schema.arrow_schema(),
            rejected_schema: schema.quarantine_schema(),
            values: Vec::new(),
            message: String::new(),
            rows: 0,
            text_bytes: 0,
            capacity,
        }
    }

    /// Records (valid or rejected) since the last flush.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// A bound on the text bytes held by any one text column since the last flush: Arrow's
    /// `Utf8` offsets are 32-bit, so a batch must be flushed before this nears 2 GiB.
    pub fn text_bytes(&self) -> usize {
        self.text_bytes
    }

    /// Checks `record` and appends it to the valid or the rejected rows; returns whether it was valid.
    pub fn push(&mut self, record: &Record<'_>) -> bool {
        self.rows += 1;
        let expected = self.columns.len();
        if record.malformed {
            self.reject(record, MALFORMED_QUOTING);
            return false;
        }
        if record.len() != expected {
            self.reject(record, &format!("wrong field count: expected {expected}, found {}", record.len()));
            return false;
        }
        self.values.clear();
        self.message.clear();
        // Fields are slices of the record between ASCII delimiters (or the same, unescaped), so a
        // record of valid UTF-8 has valid fields: one check of the whole line is enough.
        let utf8 = record.raw.is_ascii() || std::str::from_utf8(record.raw).is_ok();
        for (index, (name, ty)) in self.columns.iter().enumerate() {
            let field = record.field(index);
            let value = check(field, *ty, utf8).unwrap_or_else(|| {
                describe_bad_field(&mut self.message, name, *ty, field);
                Value::Null
            });
            self.values.push(value);
        }
        if !self.message.is_empty() {
            let message = std::mem::take(&mut self.message);
            self.reject(record, &message);
            self.message = message;
            return false;
        }
        // The text columns together hold at most the record's bytes.
        self.text_bytes += record.raw.len();
        self.valid.push(record, &self.values);
        true
    }

    fn reject(&mut self, record: &Record<'_>, message: &str) {
        // Lossy decoding makes at most 3 bytes of one: the raw line and the raw fields each hold
        // at most 3 times the record's bytes.
        self.text_bytes += message.len() + 3 * record.raw.len();
        self.rejected.push(record, message);
    }

    /// The rows since the last flush as a batch; the builder starts over, empty.
    pub fn flush(&mut self) -> Result<IngestBatch, ArrowError> {
        self.rows = 0;
        self.text_bytes = 0;
        let valid = RecordBatch::try_new(self.valid_schema.clone(), self.valid.finish(&self.columns, self.capacity)?)?;
        let rejected = RecordBatch::try_new(self.rejected_schema.clone(), self.rejected.finish()?)?;
        Ok(IngestBatch { valid, rejected })
    }
}

/// What `field` becomes in a column of type `ty`, or `None` if it doesn't parse. `utf8` says
/// whether the whole record is known to be valid UTF-8.
fn check(field: &[u8], ty: ColumnType, utf8: bool) -> Option<Value> {
    if field.is_empty() {
        return Some(Value::Null);
    }
    match ty {
        ColumnType::Utf8 => (utf8 || std::str::from_utf8(field).is_ok()).then_some(Value::Text),
        ColumnType::Int64 => parse_int64(field).map(Value::Int64),
        // The schema was checked: 0 <= scale <= precision <= 38.
        ColumnType::Decimal { precision, scale } => parse_decimal(field, precision, scale as u8).map(Value::Decimal),
        ColumnType::Date => parse_date(field).map(Value::Date),
    }
}

/// Appends why `field` doesn't fit column `name` of type `ty` to a record's `message` (settled
/// detail 7): `quantity: cannot parse 'abc' as int64`, after a `; ` if the message has a part already.
fn describe_bad_field(message: &mut String, name: &str, ty: ColumnType, field: &[u8]) {
    if !message.is_empty() {
        message.push_str("; ");
    }
    // Writing to a String cannot fail.
    let _ = match std::str::from_utf8(field) {
        Ok(text) => write!(message, "{name}: cannot parse '{text}' as {ty}"),
        Err(_) => write!(message, "{name}: invalid UTF-8 in '{}'", String::from_utf8_lossy(field)),
    };
}

/// A `Utf8` column built from byte slices already known to be UTF-8 (Arrow checks again, in one
/// pass over the whole buffer, when the array is made).
#[derive(Debug)]
struct TextColumn {
    offsets: Vec<i32>,
    bytes: Vec<u8>,
    nulls: NullBufferBuilder,
}

impl TextColumn {
    fn with_capacity(rows: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        TextColumn { offsets, bytes: Vec::with_capacity(rows * 8), nulls: NullBufferBuilder::new(rows) }
    }

    fn push(&mut self, text: &[u8]) {
        self.bytes.extend_from_slice(text);
        // Batches are flushed long before 2 GiB of text (see `BatchBuilder::text_bytes`).
        self.offsets.push(self.bytes.len() as i32);
        self.nulls.append_non_null();
    }

    /// Null for an empty field, the text otherwise.
    fn push_field(&mut self, text: &[u8]) {
        if text.is_empty() { self.push_null() } else { self.push(text) }
    }

    fn push_null(&mut self) {
        self.offsets.push(self.bytes.len() as i32);
        self.nulls.append_null();
    }

    fn finish(&mut self, rows: usize) -> Result<ArrayRef, ArrowError> {
        let mut done = std::mem::replace(self, TextColumn::with_capacity(rows));
        let array = StringArray::try_new(
            OffsetBuffer::new(ScalarBuffer::from(done.offsets)),
            Buffer::from_vec(done.bytes),
            done.nulls.finish(),
        )?;
        Ok(Arc::new(array))
    }
}

/// The builder of one declared column in the valid rows.
#[derive(Debug)]
enum ColumnBuilder {
    Text(TextColumn),
    Int64(Int64Builder),
    Decimal(Decimal128Builder),
    Date(Date32Builder),
}

impl ColumnBuilder {
    fn new(ty: ColumnType, rows: usize) -> Self {
        match ty {
            ColumnType::Utf8 => ColumnBuilder::Text(TextColumn::with_capacity(rows)),
            ColumnType::Int64 => ColumnBuilder::Int64(Int64Builder::with_capacity(rows)),
            ColumnType::Decimal { .. } => {
                ColumnBuilder::Decimal(Decimal128Builder::with_capacity(rows).with_data_type(ty.data_type()))
            }
            ColumnType::Date => ColumnBuilder::Date(Date32Builder::with_capacity(rows)),
        }
    }
}

/// The valid rows: the declared columns, then `_line` and `_offset`.
#[derive(Debug)]
struct ValidColumns {
    columns: Vec<ColumnBuilder>,
    line: Int64Builder,
    offset: Int64Builder,
}

impl ValidColumns {
    fn new(columns: &[(String, ColumnType)], rows: usize) -> Self {
        ValidColumns {
            columns: columns.iter().map(|&(_, ty)| ColumnBuilder::new(ty, rows)).collect(),
            line: Int64Builder::with_capacity(rows),
            offset: Int64Builder::with_capacity(rows),
        }
    }

    /// Appends a record whose fields all checked into `values`.
    fn push(&mut self, record: &Record<'_>, values: &[Value]) {
        for (index, (column, value)) in self.columns.iter_mut().zip(values).enumerate() {
            match (column, *value) {
                (ColumnBuilder::Text(builder), Value::Text) => builder.push(record.field(index)),
                (ColumnBuilder::Text(builder), _) => builder.push_null(),
                (ColumnBuilder::Int64(builder), Value::Int64(value)) => builder.append_value(value),
                (ColumnBuilder::Int64(builder), _) => builder.append_null(),
                (ColumnBuilder::Decimal(builder), Value::Decimal(value)) => builder.append_value(value),
                (ColumnBuilder::Decimal(builder), _) => builder.append_null(),
                (ColumnBuilder::Date(builder), Value::Date(value)) => builder.append_value(value),
                (ColumnBuilder::Date(builder), _) => builder.append_null(),
            }
        }
        self.line.append_value(record.line as i64);
        self.offset.append_value(record.offset as i64);
    }

    fn finish(&mut self, types: &[(String, ColumnType)], rows: usize) -> Result<Vec<ArrayRef>, ArrowError> {
        let mut arrays = Vec::with_capacity(self.columns.len() + 2);
        for (column, &(_, ty)) in self.columns.iter_mut().zip(types) {
            let mut done = std::mem::replace(column, ColumnBuilder::new(ty, rows));
            arrays.push(match &mut done {
                ColumnBuilder::Text(builder) => builder.finish(rows)?,
                ColumnBuilder::Int64(builder) => Arc::new(builder.finish()),
                ColumnBuilder::Decimal(builder) => Arc::new(builder.finish()),
                ColumnBuilder::Date(builder) => Arc::new(builder.finish()),
            });
        }
        arrays.push(Arc::new(self.line.finish()));
        arrays.push(Arc::new(self.offset.finish()));
        Ok(arrays)
    }
}

/// The rejected rows, in the quarantine layout of [`CsvSchema::quarantine_schema`].
#[derive(Debug)]
struct RejectedColumns {
    source_file: String,
    stage: String,
    line_number: Int64Builder,
    message: TextColumn,
    raw_line: TextColumn,
    raw: Vec<TextColumn>,
    rows: usize,
}

impl RejectedColumns {
    fn new(columns: usize, source_file: &str, stage: &str) -> Self {
        RejectedColumns {
            source_file: source_file.to_owned(),
            stage: stage.to_owned(),
            line_number: Int64Builder::new(),
            message: TextColumn::with_capacity(0),
            raw_line: TextColumn::with_capacity(0),
            raw: (0..columns).map(|_| TextColumn::with_capacity(0)).collect(),
            rows: 0,
        }
    }

    /// Appends `record` with `message`: its raw line and its fields as text (lossy where not
    /// UTF-8), the first ones in order if it has too many or too few.
    fn push(&mut self, record: &Record<'_>, message: &str) {
        self.rows += 1;
        self.line_number.append_value(record.line as i64);
        self.message.push(message.as_bytes());
        self.raw_line.push(lossy(record.raw).as_bytes());
        let mut fields = record.fields();
        for column in &mut self.raw {
            match fields.next() {
                Some(field) => column.push_field(lossy(field).as_bytes()),
                None => column.push_null(),
            }
        }
    }

    fn finish(&mut self) -> Result<Vec<ArrayRef>, ArrowError> {
        let rows = std::mem::take(&mut self.rows);
        let repeated = |text: &str| Arc::new(StringArray::new_repeated(text, rows)) as ArrayRef;
        let mut arrays = vec![
            repeated(&self.source_file),
            Arc::new(self.line_number.finish()),
            repeated(&self.stage),
            repeated(PARSE_ERROR),
            self.message.finish(0)?,
            self.raw_line.finish(0)?,
        ];
        for column in &mut self.raw {
            arrays.push(column.finish(0)?);
        }
        Ok(arrays)
    }
}

fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}
