"""The SDK's IPC reader and writer against pyarrow, both ways, for every supported type with nulls,
sliced arrays, several and empty batches, and the stream layout the spec asks for."""

import datetime
import decimal
import math
import random
import struct
from decimal import Decimal

import pyarrow as pa
import pytest

from conftest import pa_read, pa_stream
from etl_stage import Batch, Column, Field, Schema, filter, types as t
from etl_stage.ipc import read_stream, write_stream
from etl_stage.ipc import fbs

PA_TYPES = {
    "int8": pa.int8(), "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64(),
    "uint8": pa.uint8(), "uint16": pa.uint16(), "uint32": pa.uint32(), "uint64": pa.uint64(),
    "float32": pa.float32(), "float64": pa.float64(), "bool": pa.bool_(), "utf8": pa.string(),
    "large_utf8": pa.large_string(), "date32": pa.date32(),
}


def pa_type(dtype):
    if dtype.is_decimal:
        return pa.decimal128(dtype.precision, dtype.scale)
    return PA_TYPES[dtype.name]


def random_values(dtype, n, rng, null_rate=0.25):
    """``n`` values of ``dtype`` (extremes included), about ``null_rate`` of them null."""
    name = dtype.name
    if dtype.is_integer:
        bits = int(name.lstrip("uint"))
        low, high = (0, 2**bits - 1) if name.startswith("u") else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        pick = lambda: rng.choice([low, high, 0, 1, -1 if low < 0 else 2, rng.randint(low, high)])
    elif name == "float32":
        pick = lambda: rng.choice([0.0, -0.0, 1.5, -2.25, float("inf"), float("-inf"), struct.unpack("f", struct.pack("f", rng.uniform(-1e6, 1e6)))[0]])
    elif name == "float64":
        pick = lambda: rng.choice([0.0, -0.0, 1e308, -5e-324, float("inf"), rng.uniform(-1e12, 1e12)])
    elif name == "bool":
        pick = lambda: rng.random() < 0.5
    elif dtype.is_string:
        pick = lambda: rng.choice(["", "a", "héllo", "日本語テキスト", "tab\there", "x" * rng.randint(0, 40), "emoji 🎉"])
    elif name == "date32":
        pick = lambda: rng.choice([datetime.date(1970, 1, 1), datetime.date(1, 1, 1), datetime.date(9999, 12, 31),
                                   datetime.date(1969, 12, 31), datetime.date.fromordinal(rng.randint(1, 3_000_000))])
    else:
        limit = 10**dtype.precision - 1
        exact = decimal.Context(prec=100)  # the default 28 digits would round 38-digit values
        pick = lambda: Decimal(rng.choice([limit, -limit, 0, -1, 1, rng.randint(-limit, limit)])).scaleb(-dtype.scale, exact)
    return [None if rng.random() < null_rate else pick() for _ in range(n)]


ALL_TYPES = [
    t.int8, t.int16, t.int32, t.int64, t.uint8, t.uint16, t.uint32, t.uint64, t.float32, t.float64,
    t.bool_, t.utf8, t.large_utf8, t.date32,
    t.decimal128(1, 0), t.decimal128(10, 2), t.decimal128(18, 4), t.decimal128(19, 0),
    t.decimal128(38, 0), t.decimal128(38, 10), t.decimal128(38, 38),
]
IDS = [str(d) for d in ALL_TYPES]


def same_values(got, want):
    """Equal value for value, decimals to the digit (``12.50`` is not ``12.5``), NaN to NaN."""
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        if isinstance(w, float) and math.isnan(w):
            assert isinstance(g, float) and math.isnan(g), f"row {i}: {g!r} != {w!r}"
        elif isinstance(w, Decimal):
            assert isinstance(g, Decimal) and g.as_tuple() == w.as_tuple(), f"row {i}: {g!r} != {w!r}"
        else:
            assert g == w and type(g) is type(w), f"row {i}: {g!r} != {w!r}"


@pytest.mark.parametrize("dtype", ALL_TYPES, ids=IDS)
def test_reads_what_pyarrow_writes(dtype):
    values = random_values(dtype, 77, random.Random(str(dtype)))
    array = pa.array(values, pa_type(dtype))
    schema, batches = read_stream(pa_stream(pa.schema([("c", array.type)]), pa.record_batch([array], ["c"])))
    assert schema == Schema([Field("c", dtype)])
    assert len(batches) == 1 and batches[0].num_rows == 77
    column = batches[0].column("c")
    assert column.null_count == array.null_count > 0
    same_values(column.to_pylist(), array.to_pylist())


@pytest.mark.parametrize("dtype", ALL_TYPES, ids=IDS)
def test_pyarrow_reads_what_the_sdk_writes(dtype):
    values = random_values(dtype, 77, random.Random(str(dtype)))
    batch = Batch.from_pydict({"c": values}, schema={"c": dtype})
    table = pa_read(write_stream(batch.schema, [batch]))
    assert table.schema == pa.schema([("c", pa_type(dtype))])
    assert table.schema.metadata is None
    same_values(table.column("c").to_pylist(), values)
    assert table.column("c").null_count == sum(v is None for v in values)


@pytest.mark.parametrize("dtype", ALL_TYPES, ids=IDS)
def test_a_round_trip_through_the_sdk_gives_pyarrow_the_same_table(dtype):
    values = random_values(dtype, 40, random.Random(f"rt{dtype}"))
    table = pa.table({"c": pa.array(values, pa_type(dtype)), "n": pa.array(range(40), pa.int64())})
    table = table.cast(pa.schema([pa.field("c", pa_type(dtype)), pa.field("n", pa.int64(), nullable=False)]))
    schema, batches = read_stream(pa_stream(table.schema, table))
    assert schema[1] == Field("n", t.int64, nullable=False)
    assert pa_read(write_stream(schema, batches)).equals(table)


@pytest.mark.parametrize("dtype", ALL_TYPES, ids=IDS)
@pytest.mark.parametrize("offset, length", [(0, 5), (3, 11), (9, 0), (13, 27), (1, 39)])
def test_sliced_arrays_both_ways(dtype, offset, length):
    values = random_values(dtype, 40, random.Random(f"slice{dtype}"))
    full = pa.table({"c": pa.array(values, pa_type(dtype))})
    want = values[offset : offset + length]
    # pyarrow writes a sliced array (a zero-row one too): the SDK reads its rows.
    sliced_array = full.column("c").chunk(0).slice(offset, length)
    _, batches = read_stream(pa_stream(full.schema, pa.record_batch([sliced_array], ["c"])))
    same_values(batches[0].column("c").to_pylist(), want)
    # The SDK slices (sharing buffers where it can): pyarrow reads its rows.
    _, [whole] = read_stream(pa_stream(full.schema, full))
    sliced = whole.slice(offset, length)
    same_values(sliced.column("c").to_pylist(), want)
    table = pa_read(write_stream(sliced.schema, [sliced]))
    same_values(table.column("c").to_pylist(), want)
    # And a slice of a slice, which starts string offsets and bitmaps mid-way twice over.
    if length > 2:
        inner = sliced.slice(1, length - 2)
        same_values(pa_read(write_stream(inner.schema, [inner])).column("c").to_pylist(), want[1:-1])


def test_several_batches_and_empty_ones_both_ways():
    schema = pa.schema([("id", pa.string()), ("amount", pa.decimal128(10, 2)), ("day", pa.date32())])
    rng = random.Random(7)
    lengths = [5, 0, 7, 0, 1]
    pa_batches = [
        pa.record_batch(
            [pa.array(random_values(t.utf8, n, rng), pa.string()),
             pa.array(random_values(t.decimal128(10, 2), n, rng), pa.decimal128(10, 2)),
             pa.array(random_values(t.date32, n, rng), pa.date32())],
            schema=schema,
        )
        for n in lengths
    ]
    ours_schema, ours = read_stream(pa_stream(schema, *pa_batches))
    assert [b.num_rows for b in ours] == lengths
    for mine, theirs in zip(ours, pa_batches):
        for name in schema.names:
            same_values(mine.column(name).to_pylist(), theirs.column(name).to_pylist())

    reader = pa.ipc.open_stream(write_stream(ours_schema, ours))
    back = list(reader)
    assert [b.num_rows for b in back] == lengths
    for mine, theirs in zip(back, pa_batches):
        mine.validate(full=True)
        assert mine.equals(theirs)


def test_a_stream_with_a_schema_and_no_batch_both_ways():
    schema = pa.schema([("a", pa.int64()), ("s", pa.string())])
    ours_schema, batches = read_stream(pa_stream(schema))
    assert batches == [] and ours_schema.names == ["a", "s"]
    table = pa_read(write_stream(ours_schema, []))
    assert table.num_rows == 0 and table.schema == schema


def test_zero_row_batches_of_every_type_both_ways():
    schema = Schema([Field(f"c{i}", d) for i, d in enumerate(ALL_TYPES)])
    empty = Batch.from_pydict({f.name: [] for f in schema}, schema=schema)
    reader = pa.ipc.open_stream(write_stream(schema, [empty, empty]))
    back = list(reader)
    assert [b.num_rows for b in back] == [0, 0]
    for b in back:
        b.validate(full=True)
    arrow_schema = pa.schema([(f.name, pa_type(f.type)) for f in schema])
    _, ours = read_stream(pa_stream(arrow_schema, pa.RecordBatch.from_pylist([], schema=arrow_schema)))
    assert [b.num_rows for b in ours] == [0]
    assert all(c.to_pylist() == [] for c in ours[0].columns)


def test_large_and_negative_decimals_keep_every_digit():
    values = [
        Decimal("-9999999999999999999999999999.9999999999"),
        Decimal("9999999999999999999999999999.9999999999"),
        Decimal("-0.0000000001"),
        Decimal("-1.0000000000"),
        Decimal("-922337203.6854775808"),  # -2**63 units: the edge of the 64-bit fast path
        Decimal("-922337203.6854775809"),
        Decimal("922337203.6854775807"),
        Decimal("922337203.6854775808"),
        None,
    ]
    array = pa.array(values, pa.decimal128(38, 10))
    _, [batch] = read_stream(pa_stream(pa.schema([("d", array.type)]), pa.record_batch([array], ["d"])))
    assert batch.schema[0].type == t.decimal128(38, 10)
    same_values(batch.column("d").to_pylist(), values)
    assert batch.column("d").decimal_units()[:4] == [-(10**38 - 1), 10**38 - 1, -1, -(10**10)]
    back = pa_read(write_stream(batch.schema, [batch]))
    same_values(back.column("d").to_pylist(), values)


def test_filtered_batches_are_what_pyarrow_filters():
    rng = random.Random(11)
    table = pa.table({str(d): pa.array(random_values(d, 100, rng), pa_type(d)) for d in ALL_TYPES})
    _, [batch] = read_stream(pa_stream(table.schema, table))
    masks = [[rng.random() < rate for _ in range(100)] for rate in (0.0, 0.1, 0.5, 0.9, 1.0)]
    # Long runs (copied a run at a time) and short ones (gathered value by value), None as false.
    masks += [[3 <= i < 60 or i > 90 for i in range(100)], [None if i % 7 else True for i in range(100)]]
    for mask in masks:
        kept = filter(batch, mask)
        want = table.filter(pa.array([bool(m) for m in mask]))
        assert kept.num_rows == want.num_rows
        assert pa_read(write_stream(kept.schema, [kept])).equals(want)
        for name in table.column_names:  # the decoded values agree too, cached or not
            same_values(kept.column(name).to_pylist(), want.column(name).to_pylist())


def test_a_filter_moves_float_bits_unchanged():
    nan_with_payload = struct.unpack("<d", struct.pack("<Q", 0x7FF8_0000_DEAD_BEEF))[0]
    batch = Batch.from_pydict({"x": [1.0, nan_with_payload, -0.0]}, schema={"x": t.float64})
    kept = filter(batch, [False, True, True])
    raw = bytes(pa_read(write_stream(kept.schema, [kept])).column("x").chunk(0).buffers()[1])[:16]
    assert struct.unpack("<QQ", raw) == (0x7FF8_0000_DEAD_BEEF, 0x8000_0000_0000_0000)


def test_nullability_survives_and_the_schema_has_no_metadata():
    schema = pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("s", pa.string(), nullable=True)])
    table = pa.table({"id": [1, 2], "s": ["a", None]}, schema=schema)
    ours_schema, batches = read_stream(pa_stream(schema, table))
    assert [f.nullable for f in ours_schema] == [False, True]
    back = pa_read(write_stream(ours_schema, batches))
    assert back.schema == schema and back.schema.metadata is None
    assert back.schema.field("id").metadata is None


def messages(data):
    """(prefix position, metadata length, body) of every message, walking the framing by hand."""
    out, pos = [], 0
    reader = pa.ipc.MessageReader.open_stream(pa.py_buffer(data))
    while True:
        marker, length = struct.unpack_from("<Ii", data, pos)
        assert marker == 0xFFFFFFFF, f"no continuation marker at byte {pos}"
        if length == 0:
            assert pos + 8 == len(data), "bytes after the end-of-stream marker"
            return out
        message = reader.read_next_message()
        out.append((pos, length, message))
        pos += 8 + length + message.body.size


def test_the_stream_layout_is_8_byte_aligned_with_exact_buffers():
    rng = random.Random(3)
    values = {str(d): random_values(d, 13, rng) for d in ALL_TYPES}
    values["no_nulls"] = list(range(13))
    batch = Batch.from_pydict(values, schema={**{str(d): d for d in ALL_TYPES}, "no_nulls": t.int64})
    data = write_stream(batch.schema, [batch, batch.slice(3, 5)])
    assert len(data) % 8 == 0
    found = messages(data)
    assert [m.type for _, _, m in found] == ["schema", "record batch", "record batch"]
    for pos, length, message in found:
        assert (8 + length) % 8 == 0, "the body must start 8-byte aligned"
        assert message.body.size % 8 == 0
        if message.type != "record batch":
            continue
        # Every buffer pyarrow maps starts at a multiple of 8 in the body.
        read = pa.ipc.read_record_batch(message, pa.ipc.open_stream(data).schema)
        read.validate(full=True)
        for column in read.columns:
            for buffer in column.buffers():
                if buffer is not None and buffer.size:
                    assert (buffer.address - message.body.address) % 8 == 0
        # The metadata says what the spec asks: no validity buffer without nulls, lengths exact.
        info = fbs.RecordBatchInfo(fbs.Message(memoryview(data)[pos + 8 : pos + 8 + length]).header)
        assert all(offset % 8 == 0 for offset, _ in info.buffers)
        assert info.nodes[-1] == (read.num_rows, 0)
        assert info.buffers[-2][1] == 0, "a column without nulls has an empty validity buffer"
        assert info.buffers[-1][1] == 8 * read.num_rows


def test_random_tables_survive_both_ways():
    rng = random.Random(2024)
    for _ in range(60):
        types = rng.sample(ALL_TYPES, rng.randint(1, 6))
        n = rng.choice([0, 1, 7, 8, 9, 63, 64, 65, 200])
        null_rate = rng.choice([0.0, 0.05, 0.5, 1.0])
        columns = {f"c{i}": random_values(d, n, rng, null_rate) for i, d in enumerate(types)}
        table = pa.table({k: pa.array(v, pa_type(d)) for (k, v), d in zip(columns.items(), types)})
        pieces = []
        start = 0
        while start < n:
            size = rng.randint(1, n - start)
            pieces.append(table.slice(start, size))
            start += size
        schema, batches = read_stream(pa_stream(table.schema, *pieces))
        assert sum(b.num_rows for b in batches) == n
        got = pa_read(write_stream(schema, batches))
        assert got.equals(table), f"types {types}, {n} rows, null rate {null_rate}"
        for name, want in columns.items():
            same_values([v for b in batches for v in b.column(name).to_pylist()], want)


def test_column_values_are_python_values():
    batch = Batch.from_pydict(
        {
            "d": [Decimal("12.50"), None],
            "day": [datetime.date(2024, 2, 29), None],
            "s": ["x", None],
            "n": [1, None],
            "b": [True, None],
        }
    )
    assert batch.schema == Schema([
        Field("d", t.decimal128(38, 2)), Field("day", t.date32), Field("s", t.utf8), Field("n", t.int64), Field("b", t.bool_),
    ])
    _, [back] = read_stream(write_stream(batch.schema, [batch]))
    row, nulls = back.to_pylist()
    assert row == {"d": Decimal("12.50"), "day": datetime.date(2024, 2, 29), "s": "x", "n": 1, "b": True}
    assert str(row["d"]) == "12.50"
    assert set(nulls.values()) == {None}
    assert isinstance(back["d"], Column) and list(back["d"]) == [Decimal("12.50"), None]
