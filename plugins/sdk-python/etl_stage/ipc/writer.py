"""Writing batches as one Arrow IPC stream, the way arrow-rs and pyarrow write it.

Layout: every message is ``0xFFFFFFFF``, the int32 length of its metadata (padded so the body
starts 8-byte aligned), the ``Message`` flatbuffer and its body; every buffer in a body starts at
a multiple of 8 and is zero-padded to one; the stream ends with ``0xFFFFFFFF 0x00000000``.
A column without nulls gets an empty validity buffer; string offsets always start at 0.
"""

from __future__ import annotations

import struct
from array import array
from typing import Iterable, List, Tuple

from ..batch import Batch
from ..column import Column
from ..errors import IpcError
from ..types import Schema
from . import fbs

#: The end-of-stream marker: a continuation marker and a zero metadata length.
END_OF_STREAM = b"\xff\xff\xff\xff\x00\x00\x00\x00"
_PADDING = bytes(8)


def write_stream(schema: Schema, batches: Iterable[Batch]) -> bytes:
    """One IPC stream: the schema message, a record batch message per batch, the end marker.

    Every batch must have exactly ``schema`` (same names, types and nullability).
    """
    parts: List[bytes] = []
    _frame(parts, fbs.schema_message(list(schema)))
    for index, batch in enumerate(batches):
        if batch.schema != schema:
            raise IpcError(f"batch {index} has schema {batch.schema}, the stream {schema}")
        _write_batch(parts, batch)
    parts.append(END_OF_STREAM)
    return b"".join(parts)


def _frame(parts: List[bytes], metadata: bytes) -> None:
    """Appends the prefix and the metadata, padded so that what follows is 8-byte aligned."""
    padding = -len(metadata) % 8
    parts.append(struct.pack("<Ii", 0xFFFFFFFF, len(metadata) + padding))
    parts.append(metadata)
    if padding:
        parts.append(_PADDING[:padding])


def _write_batch(parts: List[bytes], batch: Batch) -> None:
    nodes: List[Tuple[int, int]] = []
    buffers: List[Tuple[int, int]] = []
    body: List[bytes] = []
    position = 0
    for column in batch.columns:
        nodes.append((column.length, column.null_count))
        for buffer in _buffers(column):
            size = len(buffer)
            buffers.append((position, size))
            if size:
                body.append(buffer)
                padding = -size % 8
                if padding:
                    body.append(_PADDING[:padding])
                position += size + padding
    _frame(parts, fbs.record_batch_message(batch.num_rows, nodes, buffers, position))
    parts.extend(body)


def _buffers(column: Column) -> List[bytes]:
    """The column's buffers in IPC order, each cut to exactly what its rows use."""
    n = column.length
    kind = column.type
    bitmap_bytes = (n + 7) // 8
    validity = memoryview(column.validity)[:bitmap_bytes] if column.null_count else b""
    if kind.is_string:
        return [validity, *_string_buffers(column)]
    if kind.name == "bool":
        return [validity, memoryview(column.data)[:bitmap_bytes]]
    return [validity, memoryview(column.data)[: n * kind.byte_width]]


def _string_buffers(column: Column) -> Tuple[bytes, bytes]:
    """Offsets rebased to start at 0, and the data bytes they cover."""
    n = column.length
    code, width = ("i", 4) if column.type.name == "utf8" else ("q", 8)
    if n == 0:
        return bytes(width), b""
    offsets = memoryview(column.offsets)[: (n + 1) * width]
    first = struct.unpack_from("<" + code, offsets, 0)[0]
    last = struct.unpack_from("<" + code, offsets, n * width)[0]
    data = memoryview(column.data)[first:last]
    if first:
        offsets = array(code, [o - first for o in offsets.cast(code).tolist()]).tobytes()
    return offsets, data
