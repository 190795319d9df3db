"""Batches and columns built and reshaped in Python: filter, slice, select, with_column, and the
checks that keep what a stage emits valid Arrow."""

import datetime
from decimal import Decimal

import pytest

from etl_stage import Batch, Column, Field, InvalidInput, Schema, concat, filter, types as t
from etl_stage.ipc import read_stream, write_stream


def sample() -> Batch:
    return Batch.from_pydict(
        {"id": ["a", "b", None, "d"], "n": [1, None, 3, 4], "price": [Decimal("1.50"), None, Decimal("-2.25"), Decimal("0.01")]},
        schema={"id": t.utf8, "n": t.int64, "price": t.decimal128(10, 2)},
    )


def decoded(batch: Batch) -> Batch:
    """``batch`` through the IPC writer and reader, as the host would see it."""
    _, [back] = read_stream(write_stream(batch.schema, [batch]))
    return back


def test_filter_keeps_true_rows_and_drops_false_and_none():
    kept = filter(sample(), [True, None, False, 1])
    assert kept.to_pydict() == {"id": ["a", "d"], "n": [1, 4], "price": [Decimal("1.50"), Decimal("0.01")]}
    assert decoded(kept) == kept


def test_filter_by_a_bool_column_and_the_shortcuts():
    batch = sample()
    mask = Column.from_values([False, True, None, True], t.bool_)
    assert filter(batch, mask).column("id").to_pylist() == ["b", "d"]
    assert filter(batch, [True] * 4) is batch
    empty = filter(batch, [False] * 4)
    assert empty.num_rows == 0 and empty.schema == batch.schema and decoded(empty).num_rows == 0


def test_filter_refuses_a_mask_of_the_wrong_length_or_type():
    with pytest.raises(ValueError, match="the mask has 3 entries but the batch 4 rows"):
        filter(sample(), [True] * 3)
    with pytest.raises(TypeError, match="a filter mask column must be bool, not int64"):
        filter(sample(), Column.from_values([1, 0, 1, 0], t.int64))


def test_with_column_select_drop_rename_slice():
    batch = sample()
    amounts = [None if n is None or p is None else n * p for n, p in batch.rows("n", "price")]
    wider = batch.with_column("amount", amounts, t.decimal128(18, 2))
    assert wider.column_names == ["id", "n", "price", "amount"]
    assert decoded(wider).column("amount").to_pylist() == [Decimal("1.50"), None, Decimal("-6.75"), Decimal("0.04")]
    assert wider.with_column("n", [0, 0, 0, 0]).column("n").type == t.int64, "a replaced column keeps its type"
    assert batch.select(["price", "id"]).column_names == ["price", "id"]
    assert batch.drop(["n"]).column_names == ["id", "price"]
    assert batch.rename({"n": "count"}).column_names == ["id", "count", "price"]
    assert batch.slice(1, 2).to_pydict() == {"id": ["b", None], "n": [None, 3], "price": [None, Decimal("-2.25")]}
    assert decoded(batch.slice(1)).column("id").to_pylist() == ["b", None, "d"]
    with pytest.raises(KeyError, match=r"no column\(s\) nope to drop"):
        batch.drop(["nope"])


def test_column_access_by_name_and_position():
    batch = sample()
    assert batch["n"] is batch.column(1)
    assert "price" in batch and "nope" not in batch
    assert batch["id"][0] == "a" and len(batch["id"]) == 4
    with pytest.raises(KeyError, match=r"^no column `nope` \(columns: id, n, price\)$"):
        batch.column("nope")
    with pytest.raises(InvalidInput):
        batch["nope"]


def test_values_that_do_not_fit_their_type_are_refused_naming_the_row():
    cases = [
        ([Decimal("1.234")], t.decimal128(10, 2), "row 0 is 1.234, with more than 2 digits after the point"),
        ([Decimal("100")], t.decimal128(3, 1), "row 0 is 100, more than 3 digits"),
        ([1.5], t.decimal128(10, 2), "floats are inexact: use decimal.Decimal or a str"),
        ([1, 128], t.int8, "int8 column: row 1 is 128, outside -128..=127"),
        ([-1], t.uint64, "row 0 is -1, outside 0..=18446744073709551615"),
        ([True], t.int64, "row 0 is True, not an int"),
        (["1"], t.float64, "row 0 is '1', not a float"),
        ([datetime.datetime(2024, 1, 1)], t.date32, "not a datetime.date"),
        ([b"x"], t.utf8, "row 0 is b'x', not a str"),
        ([1], t.bool_, "row 0 is 1, not a bool"),
    ]
    for values, dtype, message in cases:
        with pytest.raises((TypeError, ValueError)) as error:
            Column.from_values(values, dtype)
        assert message in str(error.value), (dtype, str(error.value))


def test_a_non_nullable_column_cannot_hold_nulls():
    with pytest.raises(ValueError, match="column `id` is not nullable but holds 1 nulls"):
        Batch(Schema([Field("id", t.int64, nullable=False)]), [Column.from_values([1, None], t.int64)])


def test_type_inference_and_its_limits():
    batch = Batch.from_pydict({"d": [Decimal("1.5"), Decimal("2.25"), None], "day": [datetime.date(2024, 1, 1)] * 3})
    assert batch.schema.field("d").type == t.decimal128(38, 2)
    assert batch.schema.field("day").type == t.date32
    with pytest.raises(ValueError, match="cannot infer the type of column `x`: every value is null"):
        Batch.from_pydict({"x": [None]})
    with pytest.raises(ValueError, match=r"column `b` has 1 values, `a` 2"):
        Batch.from_pydict({"a": [1, 2], "b": [1]})


def test_decimal_and_date_types_are_checked():
    with pytest.raises(ValueError, match="decimal128 precision 39 is outside 1..=38"):
        t.decimal128(39, 0)
    with pytest.raises(ValueError, match="decimal128 scale 3 is outside 0..=2"):
        t.decimal128(2, 3)
    out_of_range = Column(t.date32, 1, (3_000_000).to_bytes(4, "little"))
    with pytest.raises(ValueError, match="date32 value 3000000 .* outside the years 1..9999"):
        out_of_range.to_pylist()


def test_concat_and_pretty():
    batch = sample()
    both = concat([batch, batch.slice(0, 1)])
    assert both.column("id").to_pylist() == ["a", "b", None, "d", "a"]
    assert both.pretty().splitlines()[1] == "| id   | n    | price |"
    assert "| null | 3    | -2.25 |" in both.pretty()


def test_what_a_null_slot_holds_does_not_matter():
    # Arrow leaves the value under a null unspecified: a date out of range, bytes that are not
    # UTF-8. Only a valid row's value is decoded.
    dates = Column(t.date32, 2, (3_000_000).to_bytes(4, "little") + (1).to_bytes(4, "little"), bytes([0b10]), 1)
    assert dates.to_pylist() == [None, datetime.date(1970, 1, 2)]
    offsets = (0).to_bytes(4, "little") + (2).to_bytes(4, "little") + (4).to_bytes(4, "little")
    text = Column(t.utf8, 2, b"\xff\xfeok", bytes([0b10]), 1, offsets)
    assert text.to_pylist() == [None, "ok"]
    bad = Column(t.utf8, 2, b"\xff\xfeok", None, 0, offsets)
    with pytest.raises(ValueError, match="utf8 column holds invalid UTF-8"):
        bad.to_pylist()
