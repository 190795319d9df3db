"""Hand-written accessors and builders for the parts of Arrow's ``Schema.fbs`` and ``Message.fbs``
the SDK uses, on the ``flatbuffers`` runtime (no flatc output: it is not available offline, and
this is a few dozen slots).

Every table field is addressed by its slot number, the field's position in the ``.fbs`` table
declaration (vtable offset ``4 + 2 * slot``); the numbers are commented where they are used and
listed in the table classes' docstrings. Reading checks every position against the buffer, because
the runtime does not verify buffers and a stream may come from anyone.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import flatbuffers
from flatbuffers import number_types as N
from flatbuffers.table import Table

from ..errors import IpcError

# MetadataVersion (Schema.fbs): V1 = 0 ... V4 = 3 (Arrow 0.8+), V5 = 4 (Arrow 1.0+).
METADATA_V4 = 3
METADATA_V5 = 4

# MessageHeader union (Message.fbs).
HEADER_NONE = 0
HEADER_SCHEMA = 1
HEADER_DICTIONARY_BATCH = 2
HEADER_RECORD_BATCH = 3
HEADER_TENSOR = 4
HEADER_SPARSE_TENSOR = 5
HEADER_NAMES = {0: "NONE", 1: "Schema", 2: "DictionaryBatch", 3: "RecordBatch", 4: "Tensor", 5: "SparseTensor"}

# Type union (Schema.fbs), in declaration order.
TYPE_NAMES = (
    "NONE", "Null", "Int", "FloatingPoint", "Binary", "Utf8", "Bool", "Decimal", "Date", "Time",
    "Timestamp", "Interval", "List", "Struct_", "Union", "FixedSizeBinary", "FixedSizeList", "Map",
    "Duration", "LargeBinary", "LargeUtf8", "LargeList", "RunEndEncoded", "BinaryView", "Utf8View",
    "ListView", "LargeListView",
)
TYPE_INT = 2
TYPE_FLOATING_POINT = 3
TYPE_UTF8 = 5
TYPE_BOOL = 6
TYPE_DECIMAL = 7
TYPE_DATE = 8
TYPE_LARGE_UTF8 = 20

# enum Precision : short { HALF, SINGLE, DOUBLE }
PRECISION_HALF, PRECISION_SINGLE, PRECISION_DOUBLE = 0, 1, 2
# enum DateUnit : short { DAY, MILLISECOND }; the Date table's default is MILLISECOND.
DATE_DAY, DATE_MILLISECOND = 0, 1
# enum Endianness : short { Little, Big }
ENDIAN_LITTLE, ENDIAN_BIG = 0, 1


class Node:
    """A flatbuffer table in a buffer, read field by field with bounds checks."""

    __slots__ = ("_tab", "_size")

    def __init__(self, buf, pos: int) -> None:
        size = len(buf)
        _check(pos, 4, size, "table")
        tab = Table(buf, pos)
        vtable = pos - tab.Get(N.SOffsetTFlags, pos)
        _check(vtable, 4, size, "vtable")
        vtable_len = tab.Get(N.VOffsetTFlags, vtable)
        _check(vtable, vtable_len, size, "vtable")
        self._tab = tab
        self._size = size

    @classmethod
    def root(cls, buf) -> "Node":
        """The root table of a finished flatbuffer."""
        _check(0, 4, len(buf), "root offset")
        return cls(buf, flatbuffers.encode.Get(flatbuffers.packer.uoffset, buf, 0))

    def _at(self, slot: int) -> int:
        """The absolute position of field ``slot``, 0 when absent."""
        offset = self._tab.Offset(4 + 2 * slot)
        return self._tab.Pos + offset if offset else 0

    def scalar(self, slot: int, flags, default):
        at = self._at(slot)
        if not at:
            return default
        _check(at, flags.bytewidth, self._size, "field")
        return self._tab.Get(flags, at)

    def table(self, slot: int) -> Optional["Node"]:
        """A table-typed (or union-valued) field."""
        at = self._at(slot)
        if not at:
            return None
        _check(at, 4, self._size, "table offset")
        return Node(self._tab.Bytes, self._tab.Indirect(at))

    def string(self, slot: int) -> Optional[str]:
        at = self._at(slot)
        if not at:
            return None
        start, length = self._vector_at(at, 1)
        try:
            return bytes(self._tab.Bytes[start : start + length]).decode("utf-8")
        except UnicodeDecodeError as error:
            raise IpcError(f"malformed IPC metadata: a string is not UTF-8 ({error})") from None

    def vector(self, slot: int, element_size: int) -> Tuple[int, int]:
        """The start and element count of a vector field; ``(0, 0)`` when absent."""
        at = self._at(slot)
        return self._vector_at(at, element_size) if at else (0, 0)

    def tables(self, slot: int) -> List["Node"]:
        """A vector-of-tables field."""
        start, count = self.vector(slot, 4)
        buf = self._tab.Bytes
        return [Node(buf, start + 4 * i + flatbuffers.encode.Get(flatbuffers.packer.uoffset, buf, start + 4 * i)) for i in range(count)]

    def structs_of_two_longs(self, slot: int) -> List[Tuple[int, int]]:
        """A vector of 16-byte structs of two int64s (``FieldNode``, ``Buffer``)."""
        start, count = self.vector(slot, 16)
        if not count:
            return []
        longs = memoryview(self._tab.Bytes)[start : start + 16 * count].cast("q").tolist()
        return list(zip(longs[0::2], longs[1::2]))

    def _vector_at(self, at: int, element_size: int) -> Tuple[int, int]:
        _check(at, 4, self._size, "vector offset")
        vector = self._tab.Indirect(at)
        _check(vector, 4, self._size, "vector")
        count = flatbuffers.encode.Get(flatbuffers.packer.uoffset, self._tab.Bytes, vector)
        _check(vector + 4, count * element_size, self._size, "vector")
        return vector + 4, count


def _check(pos: int, length: int, size: int, what: str) -> None:
    if pos < 0 or length < 0 or pos + length > size:
        raise IpcError(f"malformed IPC metadata: a {what} at byte {pos} lies outside the {size}-byte message")


# -- reading ---------------------------------------------------------------------------------------


class Message:
    """``table Message``: version (slot 0, short), header_type (1, ubyte), header (2, union),
    bodyLength (3, long), custom_metadata (4, [KeyValue]; ignored)."""

    __slots__ = ("version", "header_type", "header", "body_length")

    def __init__(self, metadata) -> None:
        root = Node.root(metadata)
        self.version = root.scalar(0, N.Int16Flags, 0)
        self.header_type = root.scalar(1, N.Uint8Flags, HEADER_NONE)
        self.header = root.table(2)
        self.body_length = root.scalar(3, N.Int64Flags, 0)


class FieldInfo:
    """``table Field``: name (slot 0, string), nullable (1, bool), type_type (2, ubyte),
    type (3, union), dictionary (4, DictionaryEncoding), children (5, [Field]),
    custom_metadata (6; ignored)."""

    __slots__ = ("name", "nullable", "type_type", "type", "dictionary", "children")

    def __init__(self, node: Node) -> None:
        self.name = node.string(0) or ""
        self.nullable = bool(node.scalar(1, N.BoolFlags, False))
        self.type_type = node.scalar(2, N.Uint8Flags, 0)
        self.type = node.table(3)
        self.dictionary = node.table(4)
        self.children = node.vector(5, 4)[1]


def read_schema(node: Node) -> Tuple[int, List[FieldInfo]]:
    """``table Schema``: endianness (slot 0, short), fields (1, [Field]), custom_metadata (2),
    features (3, [long]). Returns the endianness and the fields."""
    return node.scalar(0, N.Int16Flags, ENDIAN_LITTLE), [FieldInfo(f) for f in node.tables(1)]


def read_int(node: Node) -> Tuple[int, bool]:
    """``table Int``: bitWidth (slot 0, int), is_signed (1, bool)."""
    return node.scalar(0, N.Int32Flags, 0), bool(node.scalar(1, N.BoolFlags, False))


def read_floating_point(node: Node) -> int:
    """``table FloatingPoint``: precision (slot 0, Precision short)."""
    return node.scalar(0, N.Int16Flags, PRECISION_HALF)


def read_decimal(node: Node) -> Tuple[int, int, int]:
    """``table Decimal``: precision (slot 0, int), scale (1, int), bitWidth (2, int, default 128)."""
    return node.scalar(0, N.Int32Flags, 0), node.scalar(1, N.Int32Flags, 0), node.scalar(2, N.Int32Flags, 128)


def read_date(node: Node) -> int:
    """``table Date``: unit (slot 0, DateUnit short, default MILLISECOND)."""
    return node.scalar(0, N.Int16Flags, DATE_MILLISECOND)


class RecordBatchInfo:
    """``table RecordBatch``: length (slot 0, long), nodes (1, [FieldNode]), buffers (2, [Buffer]),
    compression (3, BodyCompression), variadicBufferCounts (4, [long]).

    ``struct FieldNode { length: long; null_count: long; }`` and
    ``struct Buffer { offset: long; length: long; }`` are 16 bytes each."""

    __slots__ = ("length", "nodes", "buffers", "compressed", "variadic")

    def __init__(self, node: Node) -> None:
        self.length = node.scalar(0, N.Int64Flags, 0)
        self.nodes = node.structs_of_two_longs(1)
        self.buffers = node.structs_of_two_longs(2)
        self.compressed = node.table(3) is not None
        self.variadic = node.vector(4, 8)[1]


# -- building --------------------------------------------------------------------------------------


def _type_table(builder: flatbuffers.Builder, name: str, precision: int, scale: int) -> Tuple[int, int]:
    """Builds the type table of a :class:`~etl_stage.types.DataType`; returns (type_type, offset)."""
    ints = {"int8": (8, True), "int16": (16, True), "int32": (32, True), "int64": (64, True),
            "uint8": (8, False), "uint16": (16, False), "uint32": (32, False), "uint64": (64, False)}
    if name in ints:
        width, signed = ints[name]
        builder.StartObject(2)
        builder.PrependInt32Slot(0, width, 0)  # bitWidth
        builder.PrependBoolSlot(1, signed, False)  # is_signed
        return TYPE_INT, builder.EndObject()
    if name in ("float32", "float64"):
        builder.StartObject(1)
        builder.PrependInt16Slot(0, PRECISION_SINGLE if name == "float32" else PRECISION_DOUBLE, PRECISION_HALF)
        return TYPE_FLOATING_POINT, builder.EndObject()
    if name == "decimal128":
        builder.StartObject(3)
        builder.PrependInt32Slot(0, precision, 0)  # precision
        builder.PrependInt32Slot(1, scale, 0)  # scale
        builder.PrependInt32Slot(2, 128, 0)  # bitWidth, written although 128 is the default
        return TYPE_DECIMAL, builder.EndObject()
    if name == "date32":
        builder.StartObject(1)
        builder.PrependInt16Slot(0, DATE_DAY, DATE_MILLISECOND)  # unit
        return TYPE_DATE, builder.EndObject()
    empty = {"utf8": TYPE_UTF8, "large_utf8": TYPE_LARGE_UTF8, "bool": TYPE_BOOL}
    if name in empty:  # Utf8, LargeUtf8 and Bool are tables without fields
        builder.StartObject(0)
        return empty[name], builder.EndObject()
    raise IpcError(f"cannot write Arrow type {name} (this is a bug: DataType accepted it)")


def _message(builder: flatbuffers.Builder, header_type: int, header: int, body_length: int) -> bytes:
    builder.StartObject(5)
    builder.PrependInt16Slot(0, METADATA_V5, 0)  # version
    builder.PrependUint8Slot(1, header_type, HEADER_NONE)  # header_type
    builder.PrependUOffsetTRelativeSlot(2, header, 0)  # header
    builder.PrependInt64Slot(3, body_length, 0)  # bodyLength
    builder.Finish(builder.EndObject())
    return bytes(builder.Output())


def schema_message(fields) -> bytes:
    """The metadata of a Schema message for ``fields`` (:class:`~etl_stage.types.Field`s)."""
    builder = flatbuffers.Builder(256 + 64 * len(fields))
    offsets = []
    for field in fields:
        name = builder.CreateString(field.name)
        type_type, type_table = _type_table(builder, field.type.name, field.type.precision, field.type.scale)
        builder.StartVector(4, 0, 4)  # children: always present, empty for these flat types
        children = builder.EndVector()
        builder.StartObject(7)
        builder.PrependUOffsetTRelativeSlot(0, name, 0)  # name
        builder.PrependBoolSlot(1, field.nullable, False)  # nullable
        builder.PrependUint8Slot(2, type_type, 0)  # type_type
        builder.PrependUOffsetTRelativeSlot(3, type_table, 0)  # type
        builder.PrependUOffsetTRelativeSlot(5, children, 0)  # children
        offsets.append(builder.EndObject())
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    field_vector = builder.EndVector()
    builder.StartObject(4)
    builder.PrependInt16Slot(0, ENDIAN_LITTLE, ENDIAN_LITTLE)  # endianness
    builder.PrependUOffsetTRelativeSlot(1, field_vector, 0)  # fields
    schema = builder.EndObject()
    return _message(builder, HEADER_SCHEMA, schema, 0)


def _struct_vector(builder: flatbuffers.Builder, pairs: List[Tuple[int, int]]) -> int:
    """A vector of 16-byte structs of two longs, first member first in memory."""
    builder.StartVector(16, len(pairs), 8)
    for first, second in reversed(pairs):
        builder.Prep(8, 16)
        builder.PrependInt64(second)
        builder.PrependInt64(first)
    return builder.EndVector()


def record_batch_message(length: int, nodes: List[Tuple[int, int]], buffers: List[Tuple[int, int]], body_length: int) -> bytes:
    """The metadata of a RecordBatch message: ``nodes`` are (length, null_count) per column,
    ``buffers`` (offset, length) in the body."""
    builder = flatbuffers.Builder(128 + 16 * (len(nodes) + len(buffers)))
    buffer_vector = _struct_vector(builder, buffers)
    node_vector = _struct_vector(builder, nodes)
    builder.StartObject(5)
    builder.PrependInt64Slot(0, length, 0)  # length
    builder.PrependUOffsetTRelativeSlot(1, node_vector, 0)  # nodes
    builder.PrependUOffsetTRelativeSlot(2, buffer_vector, 0)  # buffers
    batch = builder.EndObject()
    return _message(builder, HEADER_RECORD_BATCH, batch, body_length)
