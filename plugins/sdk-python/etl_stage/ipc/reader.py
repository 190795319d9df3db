"""Reading an Arrow IPC stream (the streaming format: messages, no file footer) into batches.

Each message is an optional continuation marker ``0xFFFFFFFF``, an int32 metadata length, the
``Message`` flatbuffer, then ``bodyLength`` bytes of body holding the buffers. Column buffers are
kept as views of the input (no copy). Everything is checked against the bytes actually there, so a
truncated or malformed stream is refused with a message that says what and where.
"""

from __future__ import annotations

import struct
from typing import List, Tuple

from .. import types as t
from .._bits import count_set
from ..batch import Batch
from ..column import Column
from ..errors import IpcError
from ..types import DataType, Field, Schema
from . import fbs

_CONTINUATION = 0xFFFFFFFF


def read_stream(data) -> Tuple[Schema, List[Batch]]:
    """The schema and record batches of the IPC stream ``data`` (bytes-like).

    Raises :class:`~etl_stage.errors.IpcError` for anything it cannot read: a cut stream, an
    unsupported type, dictionaries, compression.
    """
    view = memoryview(data)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    size = len(view)
    pos = 0
    schema = None
    batches: List[Batch] = []
    index = 0
    while pos < size:
        if size - pos < 4:
            raise IpcError(f"truncated IPC stream: {size - pos} stray bytes at byte {pos}, where a message should start")
        (word,) = struct.unpack_from("<I", view, pos)
        if word == _CONTINUATION:
            if size - pos < 8:
                raise IpcError(f"truncated IPC stream: a message prefix at byte {pos} is cut off")
            (length,) = struct.unpack_from("<i", view, pos + 4)
            prefix = 8
        else:  # the pre-1.0 format, without the continuation marker
            (length,) = struct.unpack_from("<i", view, pos)
            prefix = 4
        if length == 0:
            break  # end-of-stream marker
        if length < 0:
            raise IpcError(f"malformed IPC stream: negative metadata length {length} at byte {pos}")
        meta_start = pos + prefix
        if meta_start + length > size:
            raise IpcError(
                f"truncated IPC stream: message {index} at byte {pos} declares {length} bytes of metadata, "
                f"{size - meta_start} are left"
            )
        try:
            message = fbs.Message(view[meta_start : meta_start + length])
        except IpcError:
            raise
        except (struct.error, IndexError, ValueError, TypeError, OverflowError) as error:
            raise IpcError(f"malformed IPC metadata in message {index} at byte {pos}: {error}") from None
        body_start = meta_start + length
        body_length = message.body_length
        if body_length < 0 or body_start + body_length > size:
            raise IpcError(
                f"truncated IPC stream: message {index} at byte {pos} declares a {body_length}-byte body, "
                f"{size - body_start} bytes are left"
            )
        if message.version < fbs.METADATA_V4:
            raise IpcError(f"IPC metadata version V{message.version + 1} is too old (V4 or V5 needed)")
        header = fbs.HEADER_NAMES.get(message.header_type, f"unknown ({message.header_type})")
        if message.header is None and message.header_type != fbs.HEADER_NONE:
            raise IpcError(f"malformed IPC stream: {header} message {index} has no header")
        if message.header_type == fbs.HEADER_SCHEMA:
            if schema is not None:
                raise IpcError(f"malformed IPC stream: a second Schema message at byte {pos}")
            schema = _schema(message.header)
        elif message.header_type == fbs.HEADER_RECORD_BATCH:
            if schema is None:
                raise IpcError("malformed IPC stream: a RecordBatch message before the Schema message")
            body = view[body_start : body_start + body_length]
            batches.append(_batch(schema, fbs.RecordBatchInfo(message.header), body, len(batches)))
        elif message.header_type == fbs.HEADER_DICTIONARY_BATCH:
            raise IpcError("the IPC stream carries a dictionary batch: dictionary-encoded columns are not supported")
        else:
            raise IpcError(f"unexpected {header} message in an IPC stream")
        pos = body_start + body_length
        index += 1
    if schema is None:
        raise IpcError("the IPC stream has no Schema message" + (" (it is empty)" if size == 0 else ""))
    return schema, batches


def _schema(node: fbs.Node) -> Schema:
    endianness, infos = fbs.read_schema(node)
    if endianness != fbs.ENDIAN_LITTLE:
        raise IpcError("the IPC stream is big-endian; only little-endian streams are supported")
    fields = []
    for info in infos:
        if info.dictionary is not None:
            raise IpcError(f"column `{info.name}` is dictionary-encoded: dictionaries are not supported (decode it upstream)")
        fields.append(Field(info.name, _data_type(info), info.nullable))
    return Schema(fields)


def _data_type(info: fbs.FieldInfo) -> DataType:
    kind = info.type_type
    name = fbs.TYPE_NAMES[kind] if kind < len(fbs.TYPE_NAMES) else f"unknown type #{kind}"
    node = info.type

    def refuse(what: str) -> IpcError:
        return IpcError(f"column `{info.name}` has Arrow type {what}, which the Python SDK does not read (supported: {t.SUPPORTED})")

    if node is None and kind != fbs.TYPE_NAMES.index("NONE"):
        raise IpcError(f"malformed IPC schema: column `{info.name}` has no type table")
    if kind == fbs.TYPE_INT:
        width, signed = fbs.read_int(node)
        if width not in (8, 16, 32, 64):
            raise refuse(f"Int({width}-bit)")
        return DataType(f"{'' if signed else 'u'}int{width}")
    if kind == fbs.TYPE_FLOATING_POINT:
        precision = fbs.read_floating_point(node)
        if precision == fbs.PRECISION_SINGLE:
            return t.float32
        if precision == fbs.PRECISION_DOUBLE:
            return t.float64
        raise refuse("float16" if precision == fbs.PRECISION_HALF else f"FloatingPoint(precision {precision})")
    if kind == fbs.TYPE_BOOL:
        return t.bool_
    if kind == fbs.TYPE_UTF8:
        return t.utf8
    if kind == fbs.TYPE_LARGE_UTF8:
        return t.large_utf8
    if kind == fbs.TYPE_DATE:
        unit = fbs.read_date(node)
        if unit == fbs.DATE_DAY:
            return t.date32
        raise refuse("date64" if unit == fbs.DATE_MILLISECOND else f"Date(unit {unit})")
    if kind == fbs.TYPE_DECIMAL:
        precision, scale, width = fbs.read_decimal(node)
        if width != 128:
            raise refuse(f"decimal{width}({precision}, {scale})")
        try:
            return t.decimal128(precision, scale)
        except ValueError as error:
            raise IpcError(f"column `{info.name}`: {error}") from None
    raise refuse(name)


def _batch(schema: Schema, info: fbs.RecordBatchInfo, body: memoryview, index: int) -> Batch:
    where = f"record batch {index}"
    if info.compressed:
        raise IpcError(f"{where} is compressed: compressed IPC bodies are not supported")
    if info.variadic:
        raise IpcError(f"{where} has variadic buffers (view types), which are not supported")
    n = info.length
    if n < 0:
        raise IpcError(f"malformed IPC: {where} has a negative length {n}")
    if len(info.nodes) != len(schema):
        raise IpcError(f"malformed IPC: {where} has {len(info.nodes)} field nodes for {len(schema)} columns")
    buffers = info.buffers
    next_buffer = 0
    columns = []
    for field, (length, null_count) in zip(schema, info.nodes):
        context = f"{where}, column `{field.name}`"
        if length != n:
            raise IpcError(f"malformed IPC: {context} has {length} rows, the batch {n}")
        if not 0 <= null_count <= n:
            raise IpcError(f"malformed IPC: {context} has null count {null_count} for {n} rows")
        count = 3 if field.type.is_string else 2
        if next_buffer + count > len(buffers):
            raise IpcError(f"malformed IPC: {where} lists {len(buffers)} buffers, too few for its columns")
        views = []
        for offset, size in buffers[next_buffer : next_buffer + count]:
            if offset < 0 or size < 0 or offset + size > len(body):
                raise IpcError(
                    f"malformed IPC: {context} has a buffer at {offset}..{offset + size} "
                    f"outside the {len(body)}-byte body"
                )
            views.append(body[offset : offset + size])
        next_buffer += count
        columns.append(_column(field, n, null_count, views, context))
    if next_buffer != len(buffers):
        raise IpcError(f"malformed IPC: {where} lists {len(buffers)} buffers, its columns use {next_buffer}")
    try:
        return Batch(schema, columns, n)
    except ValueError as error:
        raise IpcError(f"{where}: {error}") from None


def _column(field: Field, n: int, null_count: int, views: List[memoryview], context: str) -> Column:
    kind = field.type
    validity = None
    if null_count:
        validity = views[0]
        if len(validity) < (n + 7) // 8:
            raise IpcError(f"malformed IPC: {context}: the validity bitmap has {len(validity)} bytes for {n} rows")
        nulls = n - count_set(validity, n)
        if nulls != null_count:
            raise IpcError(f"malformed IPC: {context} says {null_count} nulls, its validity bitmap {nulls}")
    if kind.is_string:
        offsets, data = views[1], views[2]
        width = 4 if kind.name == "utf8" else 8
        if n == 0:
            return Column(kind, 0, b"", None, 0, bytes(width))
        if len(offsets) < (n + 1) * width:
            raise IpcError(f"malformed IPC: {context}: the offsets buffer has {len(offsets)} bytes for {n} rows")
        values = offsets[: (n + 1) * width].cast("i" if width == 4 else "q").tolist()
        if values[0] < 0 or values[-1] > len(data) or values != sorted(values):
            raise IpcError(
                f"malformed IPC: {context}: string offsets run {values[0]}..{values[-1]} "
                f"(must rise, within the {len(data)}-byte data buffer)"
            )
        return Column(kind, n, data, validity, null_count, offsets)
    data = views[1]
    need = (n + 7) // 8 if kind.name == "bool" else n * kind.byte_width
    if len(data) < need:
        raise IpcError(f"malformed IPC: {context}: the data buffer has {len(data)} bytes, {n} rows of {kind} need {need}")
    return Column(kind, n, data, validity, null_count)
