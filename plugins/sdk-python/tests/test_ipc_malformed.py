"""Streams the SDK must refuse, each with an error that says what is wrong, and never with
anything but an IpcError."""

import datetime
import random
import struct
from decimal import Decimal

import flatbuffers
import pyarrow as pa
import pytest

from conftest import pa_stream
from etl_stage.errors import IpcError
from etl_stage.ipc import END_OF_STREAM, read_stream, write_stream
from etl_stage.ipc import fbs
from etl_stage import Batch


def sample_stream() -> bytes:
    schema = pa.schema([("id", pa.string()), ("n", pa.int64()), ("d", pa.decimal128(10, 2)), ("day", pa.date32())])
    batch = pa.record_batch(
        [
            pa.array(["a", None, "ccc"]),
            pa.array([1, 2, None], pa.int64()),
            pa.array([Decimal("1.00"), None, Decimal("-2.50")], pa.decimal128(10, 2)),
            pa.array([datetime.date(2024, 1, 1), None, None], pa.date32()),
        ],
        schema=schema,
    )
    return pa_stream(schema, batch, batch)


def message_ends(data: bytes):
    """The byte positions where each message of ``data`` ends."""
    ends, pos = [], 0
    while True:
        _, length = struct.unpack_from("<Ii", data, pos)
        if length == 0:
            return ends
        reader = pa.ipc.MessageReader.open_stream(pa.py_buffer(data[pos:]))
        pos += 8 + length + reader.read_next_message().body.size
        ends.append(pos)


def test_every_cut_of_a_stream_is_refused_or_is_a_shorter_stream():
    data = sample_stream()
    ends = message_ends(data)
    for cut in range(len(data)):
        if cut in ends or cut == len(data) - len(END_OF_STREAM):
            # A cut between messages is a shorter stream (arrow-rs and pyarrow read it so too).
            schema, batches = read_stream(data[:cut])
            assert len(batches) == ends.index(cut) if cut in ends else 2
            continue
        with pytest.raises(IpcError) as error:
            read_stream(data[:cut])
        message = str(error.value)
        assert "truncated" in message or "no Schema message" in message or "malformed" in message, message


def test_a_cut_body_says_how_much_is_missing():
    data = sample_stream()
    first_batch_end = message_ends(data)[1]
    with pytest.raises(IpcError, match=r"truncated IPC stream: message 1 at byte \d+ declares a \d+-byte body, \d+ bytes are left"):
        read_stream(data[: first_batch_end - 9])


@pytest.mark.parametrize(
    "array, arrow_name",
    [
        (pa.array([datetime.datetime(2024, 1, 1)], pa.timestamp("us")), "Timestamp"),
        (pa.array([1], pa.time32("s")), "Time"),
        (pa.array([b"x"], pa.binary()), "Binary"),
        (pa.array([b"x"], pa.large_binary()), "LargeBinary"),
        (pa.array([b"xy"], pa.binary(2)), "FixedSizeBinary"),
        (pa.array([[1, 2]], pa.list_(pa.int64())), "List"),
        (pa.array([{"a": 1}], pa.struct([("a", pa.int64())])), "Struct_"),
        (pa.array([None], pa.null()), "Null"),
        (pa.array([1.5], pa.float16()), "float16"),
        (pa.array([datetime.date(2024, 1, 1)], pa.date64()), "date64"),
        (pa.array([Decimal("1.5")], pa.decimal256(40, 1)), "decimal256(40, 1)"),
        (pa.array([1], pa.duration("s")), "Duration"),
        (pa.array(["x"], pa.string_view()), "Utf8View"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_an_unsupported_type_is_refused_naming_the_column_and_type(array, arrow_name):
    schema = pa.schema([("ok", pa.int64()), ("bad", array.type)])
    data = pa_stream(schema, pa.record_batch([pa.array([1], pa.int64()), array], schema=schema))
    with pytest.raises(IpcError) as error:
        read_stream(data)
    assert str(error.value).startswith(f"column `bad` has Arrow type {arrow_name}, which the Python SDK does not read (supported: int8")


def test_a_dictionary_column_is_refused():
    array = pa.array(["a", "b", "a"]).dictionary_encode()
    data = pa_stream(pa.schema([("city", array.type)]), pa.record_batch([array], ["city"]))
    with pytest.raises(IpcError, match=r"column `city` is dictionary-encoded: dictionaries are not supported"):
        read_stream(data)


@pytest.mark.parametrize("codec", ["lz4", "zstd"])
def test_a_compressed_stream_is_refused(codec):
    table = pa.table({"n": pa.array(range(1000), pa.int64())})
    data = pa_stream(table.schema, table, compression=codec)
    with pytest.raises(IpcError, match=r"record batch 0 is compressed: compressed IPC bodies are not supported"):
        read_stream(data)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "the IPC stream has no Schema message (it is empty)"),
        (END_OF_STREAM, "the IPC stream has no Schema message"),
        (b"\xff\xff", "truncated IPC stream: 2 stray bytes at byte 0"),
        (b"\xff\xff\xff\xff\xf0\xff\xff\xff", "malformed IPC stream: negative metadata length -16 at byte 0"),
        (b"\xff\xff\xff\xff\x40\x00\x00\x00" + b"\x00" * 16, "truncated IPC stream: message 0 at byte 0 declares 64 bytes of metadata, 16 are left"),
        (b"\xff\xff\xff\xff\x08\x00\x00\x00" + b"\xff" * 8, "malformed IPC metadata"),
    ],
)
def test_garbage_is_refused_with_a_clear_error(data, message):
    with pytest.raises(IpcError) as error:
        read_stream(data)
    assert str(error.value).startswith(message), str(error.value)


def test_a_record_batch_before_the_schema_is_refused():
    data = sample_stream()
    schema_end = message_ends(data)[0]
    with pytest.raises(IpcError, match="a RecordBatch message before the Schema message"):
        read_stream(data[schema_end:])


def test_a_second_schema_is_refused():
    data = sample_stream()
    schema_message = data[: message_ends(data)[0]]
    with pytest.raises(IpcError, match="a second Schema message"):
        read_stream(schema_message + data)


def frame(metadata: bytes, body: bytes = b"") -> bytes:
    metadata += bytes(-len(metadata) % 8)
    return struct.pack("<Ii", 0xFFFFFFFF, len(metadata)) + metadata + body


def test_a_batch_that_does_not_match_its_schema_is_refused():
    two_columns = Batch.from_pydict({"a": [1], "b": [2]})
    schema = frame(fbs.schema_message(list(two_columns.schema)))
    one_node = frame(fbs.record_batch_message(1, [(1, 0)], [(0, 0), (0, 8)], 8), bytes(8))
    with pytest.raises(IpcError, match="record batch 0 has 1 field nodes for 2 columns"):
        read_stream(schema + one_node)

    outside = frame(fbs.record_batch_message(1, [(1, 0), (1, 0)], [(0, 0), (0, 8), (0, 0), (8, 8)], 8), bytes(8))
    with pytest.raises(IpcError, match=r"column `b` has a buffer at 8\.\.16 outside the 8-byte body"):
        read_stream(schema + outside)

    wrong_length = frame(fbs.record_batch_message(2, [(2, 0), (1, 0)], [(0, 0), (0, 16), (0, 0), (0, 8)], 16), bytes(16))
    with pytest.raises(IpcError, match="column `a` has 1 rows, the batch 2|column `b` has 1 rows, the batch 2"):
        read_stream(schema + wrong_length)

    short_data = frame(fbs.record_batch_message(3, [(3, 0), (3, 0)], [(0, 0), (0, 8), (0, 0), (8, 8)], 16), bytes(16))
    with pytest.raises(IpcError, match=r"column `a`: the data buffer has 8 bytes, 3 rows of int64 need 24"):
        read_stream(schema + short_data)


def test_a_null_count_that_disagrees_with_the_bitmap_is_refused():
    batch = Batch.from_pydict({"a": [1, 2, 3]})
    schema = frame(fbs.schema_message(list(batch.schema)))
    body = bytes([0b111]) + bytes(7) + bytes(24)
    lying = frame(fbs.record_batch_message(3, [(3, 2)], [(0, 1), (8, 24)], 32), body)
    with pytest.raises(IpcError, match="column `a` says 2 nulls, its validity bitmap 0"):
        read_stream(schema + lying)


def test_string_offsets_outside_the_data_are_refused():
    batch = Batch.from_pydict({"s": ["ab", "c"]})
    schema = frame(fbs.schema_message(list(batch.schema)))
    offsets = struct.pack("<3i", 0, 2, 30) + bytes(4)
    body = offsets + b"abc" + bytes(5)
    bad = frame(fbs.record_batch_message(2, [(2, 0)], [(0, 0), (0, 12), (16, 3)], 24), body)
    with pytest.raises(IpcError, match=r"column `s`: string offsets run 0\.\.30 \(must rise, within the 3-byte data buffer\)"):
        read_stream(schema + bad)


def test_a_big_endian_schema_is_refused():
    builder = flatbuffers.Builder(64)
    builder.StartVector(4, 0, 4)
    fields = builder.EndVector()
    builder.StartObject(4)
    builder.PrependInt16Slot(0, fbs.ENDIAN_BIG, fbs.ENDIAN_LITTLE)
    builder.PrependUOffsetTRelativeSlot(1, fields, 0)
    metadata = fbs._message(builder, fbs.HEADER_SCHEMA, builder.EndObject(), 0)
    with pytest.raises(IpcError, match="big-endian"):
        read_stream(frame(metadata) + END_OF_STREAM)


def test_mutated_streams_fail_only_with_ipc_errors():
    """Flip bytes all over valid streams: the reader answers with batches or an IpcError, never
    another exception (the host's bytes are trusted, but the reader is also the codec of tests)."""
    rng = random.Random(99)
    data = sample_stream()
    ours = write_stream(*read_stream(data))
    refused = 0
    for _ in range(3000):
        mutated = bytearray(rng.choice([data, ours]))
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        try:
            read_stream(bytes(mutated))
        except IpcError:
            refused += 1
    assert refused > 100
