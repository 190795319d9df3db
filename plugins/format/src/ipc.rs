//! Arrow IPC streams as they cross the sandbox boundary.
//!
//! Decoding takes ownership of the received bytes and wraps them in an Arrow [`Buffer`] without
//! copying, so the only copy of an input batch is the host's write into guest memory.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_ipc::reader::{FileDecoder, StreamDecoder};
use arrow_ipc::writer::StreamWriter;
use arrow_ipc::{Block, MessageHeader};
use arrow_schema::{ArrowError, Schema, SchemaRef};

/// Encodes `batches` (all with `schema`) as one IPC stream.
pub fn encode<'a>(
    schema: &SchemaRef,
    batches: impl IntoIterator<Item = &'a RecordBatch>,
) -> Result<Vec<u8>, ArrowError> {
    let mut bytes = Vec::new();
    encode_into(&mut bytes, schema, batches)?;
    Ok(bytes)
}

/// Like [`encode`], into `bytes` (cleared first), so a caller that encodes batch after batch can
/// keep one buffer and not fault in fresh pages for every batch.
pub fn encode_into<'a>(
    bytes: &mut Vec<u8>,
    schema: &SchemaRef,
    batches: impl IntoIterator<Item = &'a RecordBatch>,
) -> Result<(), ArrowError> {
    bytes.clear();
    let batches: Vec<&RecordBatch> = batches.into_iter().collect();
    bytes.reserve(encoded_size_hint(schema, &batches));
    let mut writer = StreamWriter::try_new(bytes, schema)?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()
}

/// About the bytes an IPC stream of `batches` takes, a little more rather than less, so the
/// buffer is allocated once: the bytes each array's slice covers (not the allocations it
/// shares: a batch decoded zero-copy shares one buffer among all its arrays), plus padding and
/// message headers.
fn encoded_size_hint(schema: &SchemaRef, batches: &[&RecordBatch]) -> usize {
    let data: usize = batches
        .iter()
        .flat_map(|batch| batch.columns())
        .map(|column| column.to_data().get_slice_memory_size().unwrap_or_else(|_| column.get_array_memory_size()))
        .sum();
    // Per column and batch: up to three buffers padded to 64 bytes and a field node; per
    // message, its flatbuffer header; the schema message names every field.
    let per_batch = 1024 + schema.fields().len() * (3 * 64 + 64);
    data + batches.len() * per_batch + 1024 + schema.fields().len() * 256
}

/// Decodes one IPC stream into its schema and batches, borrowing `bytes` rather than copying.
/// Every buffer is validated: use this on bytes from anyone you do not trust.
pub fn decode(bytes: Vec<u8>) -> Result<(SchemaRef, Vec<RecordBatch>), ArrowError> {
    let mut decoder = StreamDecoder::new();
    let mut buffer = Buffer::from_vec(bytes);
    let mut batches = Vec::new();
    while !buffer.is_empty() {
        if let Some(batch) = decoder.decode(&mut buffer)? {
            batches.push(batch);
        }
    }
    decoder.finish()?;
    let schema = decoder.schema().ok_or_else(|| ArrowError::IpcError("IPC stream has no schema message".into()))?;
    Ok((schema, batches))
}

/// Like [`decode`], without validating offsets and UTF-8 (the costliest part of decoding).
///
/// # Safety
///
/// `bytes` must have been encoded from valid Arrow arrays, as the host does for every batch it
/// pushes into a plugin. Invalid data decoded this way is undefined behaviour.
pub unsafe fn decode_trusted(bytes: Vec<u8>) -> Result<(SchemaRef, Vec<RecordBatch>), ArrowError> {
    // arrow-ipc's StreamDecoder validates record batches whatever its skip-validation flag says
    // (it passes the flag to dictionaries only), so the messages are framed here and each one is
    // decoded by a FileDecoder, which honours it.
    let buffer = Buffer::from_vec(bytes);
    let mut decoder: Option<(SchemaRef, FileDecoder)> = None;
    let mut batches = Vec::new();
    let mut offset = 0;
    while let Some(frame) = frame_at(&buffer, offset)? {
        let message = buffer.slice_with_length(offset, frame.len);
        let block = Block::new(0, frame.metadata_len, frame.body_len);
        match (frame.header, decoder.as_mut().map(|(_, decoder)| decoder)) {
            (MessageHeader::Schema, None) => {
                let parsed = arrow_ipc::root_as_message(&buffer[frame.metadata_range(offset)])
                    .map_err(|e| ArrowError::IpcError(format!("bad IPC message: {e}")))?;
                let fb = parsed.header_as_schema().ok_or_else(|| ArrowError::IpcError("bad schema message".into()))?;
                let schema = Arc::new(arrow_ipc::convert::try_fb_to_schema(fb)?);
                // SAFETY: the caller vouches that the stream was encoded from valid arrays.
                let file_decoder = FileDecoder::new(Arc::clone(&schema), parsed.version());
                decoder = Some((schema, unsafe { file_decoder.with_skip_validation(true) }));
            }
            (MessageHeader::RecordBatch, Some(decoder)) => batches.extend(decoder.read_record_batch(&block, &message)?),
            (MessageHeader::DictionaryBatch, Some(decoder)) => decoder.read_dictionary(&block, &message)?,
            (header, _) => return Err(ArrowError::IpcError(format!("unexpected {header:?} message in an IPC stream"))),
        }
        offset += frame.len;
    }
    let (schema, _) = decoder.ok_or_else(|| ArrowError::IpcError("IPC stream has no schema message".into()))?;
    Ok((schema, batches))
}

/// One message of an IPC stream: its prefix and metadata, then its body.
struct Frame {
    header: MessageHeader,
    /// The prefix (continuation marker and length) and the metadata flatbuffer.
    metadata_len: i32,
    prefix_len: usize,
    body_len: i64,
    /// The whole message.
    len: usize,
}

impl Frame {
    fn metadata_range(&self, offset: usize) -> std::ops::Range<usize> {
        offset + self.prefix_len..offset + self.metadata_len as usize
    }
}

/// The message at `offset` of `stream`, or `None` at the end-of-stream marker or the end.
fn frame_at(stream: &[u8], offset: usize) -> Result<Option<Frame>, ArrowError> {
    let truncated = || ArrowError::IpcError("truncated IPC stream".into());
    let rest = stream.get(offset..).ok_or_else(truncated)?;
    if rest.is_empty() {
        return Ok(None);
    }
    let (prefix_len, metadata) = match message_prefix(&rest[..rest.len().min(8)])?.ok_or_else(truncated)? {
        Prefix::End { .. } => return Ok(None),
        Prefix::Message { len, metadata } => (len, metadata),
    };
    let info = message_info(rest.get(prefix_len..prefix_len + metadata).ok_or_else(truncated)?)?;
    let len = prefix_len + metadata + info.body_len;
    if len > rest.len() {
        return Err(truncated());
    }
    let metadata_len = i32::try_from(prefix_len + metadata).map_err(|_| truncated())?;
    let body_len = i64::try_from(info.body_len).map_err(|_| truncated())?;
    Ok(Some(Frame { header: info.header, metadata_len, prefix_len, body_len, len }))
}

/// How an IPC stream message starts: the continuation marker (`0xFFFFFFFF`, absent in the
/// legacy format), then the metadata's length, zero for the end-of-stream marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    /// The end-of-stream marker, `len` bytes.
    End { len: usize },
    /// A message: `len` bytes of prefix, then `metadata` bytes of metadata (a flatbuffer
    /// `Message`; see [`message_info`]), then its body.
    Message { len: usize, metadata: usize },
}

/// The prefix of the message whose first bytes are `head` (8 bytes, or fewer where the stream
/// ends sooner); `None` if `head` is too short to hold it, that is the stream is cut.
pub fn message_prefix(head: &[u8]) -> Result<Option<Prefix>, ArrowError> {
    let word = |at: usize| head.get(at..at + 4).and_then(|w| <[u8; 4]>::try_from(w).ok());
    let (len, length) = match word(0) {
        None => return Ok(None),
        Some([0xff, 0xff, 0xff, 0xff]) => match word(4) {
            None => return Ok(None),
            Some(length) => (8, i32::from_le_bytes(length)),
        },
        Some(length) => (4, i32::from_le_bytes(length)),
    };
    match usize::try_from(length) {
        Ok(0) => Ok(Some(Prefix::End { len })),
        Ok(metadata) => Ok(Some(Prefix::Message { len, metadata })),
        Err(_) => Err(ArrowError::IpcError(format!("negative IPC message length {length}"))),
    }
}

/// What a message's metadata says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageInfo {
    pub header: MessageHeader,
    /// The bytes of the body after the metadata.
    pub body_len: usize,
    /// The rows of a record batch message.
    pub rows: Option<u64>,
}

/// Reads a message's metadata flatbuffer (the bytes after its [`Prefix`]).
pub fn message_info(metadata: &[u8]) -> Result<MessageInfo, ArrowError> {
    let message =
        arrow_ipc::root_as_message(metadata).map_err(|e| ArrowError::IpcError(format!("bad IPC message: {e}")))?;
    let body = message.bodyLength();
    let body_len = usize::try_from(body).map_err(|_| ArrowError::IpcError(format!("IPC body length {body}")))?;
    let rows = match message.header_as_record_batch() {
        Some(batch) => Some(
            u64::try_from(batch.length())
                .map_err(|_| ArrowError::IpcError(format!("IPC batch length {}", batch.length())))?,
        ),
        None => None,
    };
    Ok(MessageInfo { header: message.header_type(), body_len, rows })
}

/// Whether two schemas describe the same columns: the same names and data types in the same
/// order. Nullability and metadata may differ between batches of one port (a batch without nulls
/// often says "not nullable"); they do not make a new schema.
pub fn same_columns(a: &Schema, b: &Schema) -> bool {
    a.fields().len() == b.fields().len()
        && a.fields().iter().zip(b.fields()).all(|(x, y)| x.name() == y.name() && x.data_type() == y.data_type())
}

/// A schema on one line for messages: `(order_id: Utf8, quantity: Int64)`.
pub fn describe_columns(schema: &Schema) -> String {
    let columns: Vec<String> = schema.fields().iter().map(|f| format!("{}: {}", f.name(), f.data_type())).collect();
    format!("({})", columns.join(", "))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Decimal128Array, Int64Array, StringArray};

    use super::*;

    fn wide(rows: usize) -> RecordBatch {
        let text = |i: usize| format!("value {i:08} of a text column");
        RecordBatch::try_from_iter((0..12).map(|c| {
            let column: ArrayRef = if c % 2 == 0 {
                Arc::new(StringArray::from_iter_values((0..rows).map(text)))
            } else {
                Arc::new(Int64Array::from_iter_values((0..rows as i64).map(|i| i * c)))
            };
            (format!("c{c}"), column)
        }))
        .unwrap()
    }

    #[test]
    fn reserves_about_the_encoded_size_once() {
        // Built natively, and decoded zero-copy (every array a slice of one shared buffer, whose
        // memory size counts the whole stream once per array).
        let built = wide(20_000);
        let (schema, decoded) = decode(encode(&built.schema(), [&built]).unwrap()).unwrap();
        for batch in [&built, &decoded[0]] {
            let mut bytes = Vec::new();
            encode_into(&mut bytes, &schema, [batch]).unwrap();
            let hint = encoded_size_hint(&schema, &[batch]);
            assert!(hint >= bytes.len(), "hint {hint} < encoded {}: the buffer grew", bytes.len());
            assert!(hint < bytes.len() + bytes.len() / 10, "hint {hint} far above encoded {}", bytes.len());
        }
    }

    #[test]
    fn round_trips_batches() {
        let batch = RecordBatch::try_from_iter([
            ("id", Arc::new(StringArray::from(vec![Some("a"), None])) as ArrayRef),
            ("n", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
            (
                "price",
                Arc::new(Decimal128Array::from(vec![123, -5]).with_precision_and_scale(10, 2).unwrap()) as ArrayRef,
            ),
        ])
        .unwrap();
        let bytes = encode(&batch.schema(), [&batch, &batch]).unwrap();
        let (schema, batches) = decode(bytes.clone()).unwrap();
        assert_eq!(schema, batch.schema());
        assert_eq!(batches, vec![batch.clone(), batch.clone()]);
        // SAFETY: encoded just above from valid arrays.
        let (schema, batches) = unsafe { decode_trusted(bytes) }.unwrap();
        assert_eq!(schema, batch.schema());
        assert_eq!(batches, vec![batch.clone(), batch]);
    }

    #[test]
    fn trusted_decoding_reads_dictionaries_and_streams_without_batches() {
        use arrow_array::DictionaryArray;
        use arrow_array::types::Int32Type;
        let categories: DictionaryArray<Int32Type> = vec!["books", "toys", "books"].into_iter().collect();
        let batch = RecordBatch::try_from_iter([("category", Arc::new(categories) as ArrayRef)]).unwrap();
        let bytes = encode(&batch.schema(), [&batch, &batch]).unwrap();
        // SAFETY: encoded just above from valid arrays.
        let (_, batches) = unsafe { decode_trusted(bytes) }.unwrap();
        assert_eq!(batches, vec![batch.clone(), batch.clone()]);

        let bytes = encode(&batch.schema(), []).unwrap();
        // SAFETY: as above.
        let (schema, batches) = unsafe { decode_trusted(bytes) }.unwrap();
        assert_eq!((schema, batches.len()), (batch.schema(), 0));
    }

    #[test]
    fn message_prefixes_with_and_without_the_continuation_marker() {
        let ff = [0xffu8; 4];
        let with = |length: i32| [ff, length.to_le_bytes()].concat();
        assert_eq!(message_prefix(&with(120)).unwrap(), Some(Prefix::Message { len: 8, metadata: 120 }));
        assert_eq!(message_prefix(&120i32.to_le_bytes()).unwrap(), Some(Prefix::Message { len: 4, metadata: 120 }));
        assert_eq!(message_prefix(&with(0)).unwrap(), Some(Prefix::End { len: 8 }));
        assert_eq!(message_prefix(&[0; 4]).unwrap(), Some(Prefix::End { len: 4 }));
        // Cut short: no prefix yet.
        assert_eq!(message_prefix(&ff).unwrap(), None);
        assert_eq!(message_prefix(&[0xff; 3]).unwrap(), None);
        assert!(message_prefix(&with(-5)).is_err());

        let batch = RecordBatch::try_from_iter([("n", Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef)]).unwrap();
        let bytes = encode(&batch.schema(), [&batch]).unwrap();
        let Some(Prefix::Message { len, metadata }) = message_prefix(&bytes[..8]).unwrap() else { panic!() };
        let schema = message_info(&bytes[len..len + metadata]).unwrap();
        assert_eq!((schema.header, schema.body_len, schema.rows), (MessageHeader::Schema, 0, None));
        let frame = frame_at(&bytes, 0).unwrap().unwrap();
        let second = frame_at(&bytes, frame.len).unwrap().unwrap();
        assert_eq!(second.header, MessageHeader::RecordBatch);
        let info = message_info(&bytes[second.metadata_range(frame.len)]).unwrap();
        assert_eq!((info.rows, info.body_len as i64), (Some(3), second.body_len));
    }

    #[test]
    fn same_columns_ignores_nullability_only() {
        use arrow_schema::{DataType, Field};
        let a = Schema::new(vec![Field::new("a", DataType::Utf8, false)]);
        assert!(same_columns(&a, &Schema::new(vec![Field::new("a", DataType::Utf8, true)])));
        assert!(!same_columns(&a, &Schema::new(vec![Field::new("b", DataType::Utf8, false)])));
        assert!(!same_columns(&a, &Schema::new(vec![Field::new("a", DataType::LargeUtf8, false)])));
        assert!(!same_columns(&a, &Schema::empty()));
    }

    #[test]
    fn refuses_garbage_and_truncation() {
        assert!(decode(b"definitely not arrow".to_vec()).is_err());
        let batch = RecordBatch::try_from_iter([("n", Arc::new(Int64Array::from(vec![1])) as ArrayRef)]).unwrap();
        let bytes = encode(&batch.schema(), [&batch]).unwrap();
        assert!(decode(bytes[..bytes.len() - 12].to_vec()).is_err());
        assert!(decode(Vec::new()).is_err(), "an empty stream has no schema");
        // Trusted decoding still frames the stream: a cut or empty one is an error, not a fault.
        for cut in [bytes.len() - 12, 6, 0] {
            // SAFETY: a prefix of a stream encoded from valid arrays.
            assert!(unsafe { decode_trusted(bytes[..cut].to_vec()) }.is_err(), "cut at {cut}");
        }
    }
}
