"""Arrow IPC streams, the bytes a stage and the host exchange, in pure Python.

``read_stream(bytes) -> (Schema, [Batch])`` and ``write_stream(schema, batches) -> bytes``. Types:
the signed and unsigned integers, float32/64, bool, utf8, large_utf8, date32 and decimal128, each
with nulls. Dictionaries, compression and nested types are refused with an error that says so.
"""

from .reader import read_stream
from .writer import END_OF_STREAM, write_stream

__all__ = ["read_stream", "write_stream", "END_OF_STREAM"]
