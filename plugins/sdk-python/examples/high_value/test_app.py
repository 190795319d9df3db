"""The high-value filter, run natively through the SDK's harness (and its IPC codec)."""

import random
from decimal import Decimal

import pyarrow as pa
import pytest

from app import HighValue
from etl_stage import InvalidConfig, filter
from etl_stage.testing import run


def lines(*rows):
    """Order lines (order_id, quantity, unit_price), as ingest types them."""
    ids, quantities, prices = zip(*rows) if rows else ((), (), ())
    return pa.table(
        {
            "order_id": pa.array(ids, pa.string()),
            "quantity": pa.array(quantities, pa.int64()),
            "unit_price": pa.array([None if p is None else Decimal(p) for p in prices], pa.decimal128(10, 2)),
        }
    )


def test_keeps_the_lines_worth_more_than_min_amount():
    batch = lines(("a", 1, "99.99"), ("b", 2, "50.00"), ("c", 2, "50.01"), ("d", 10, "-20.00"), ("e", 100, "1.01"))
    result = run(HighValue, {"min_amount": "100.00"}, {"input": [batch]})
    assert result.pydict("output") == {
        "order_id": ["c", "e"],
        "quantity": [2, 100],
        "unit_price": [Decimal("50.01"), Decimal("1.01")],
    }
    assert result.metric("rows_kept") == 2
    # pyarrow reads what the SDK wrote: same schema as the input, the kept rows.
    assert result.table("output").equals(batch.take([2, 4]))


def test_drops_lines_with_a_null_quantity_or_price():
    batch = lines(("a", None, "500.00"), ("b", 5, None), ("c", 5, "500.00"))
    assert run(HighValue, {"min_amount": 1}, {"input": batch}).pydict("output")["order_id"] == ["c"]


def test_a_number_and_a_string_min_amount_mean_the_same():
    batch = lines(("a", 1, "100.10"), ("b", 1, "100.11"))
    for config in ({"min_amount": 100.10}, {"min_amount": "100.10"}, '{"min_amount": 100.10}'):
        assert run(HighValue, config, {"input": batch}).pydict("output")["order_id"] == ["b"]


def test_every_batch_is_filtered_and_an_empty_one_passes_through():
    result = run(HighValue, {"min_amount": "10"}, {"input": [lines(("a", 1, "20.00")), lines(), lines(("b", 1, "5.00"))]})
    assert [b.num_rows for b in result.batches("output")] == [1, 0, 0]
    assert result.pydict("output")["order_id"] == ["a"]


@pytest.mark.parametrize(
    "config, message",
    [
        ({}, "min_amount: required"),
        ({"min_amount": "lots"}, "min_amount: expected a decimal, got 'lots'"),
        ({"min_amount": "1", "max_amount": "2"}, "max_amount: unknown key (this stage reads: min_amount)"),
    ],
)
def test_refuses_a_bad_config_naming_the_key(config, message):
    with pytest.raises(InvalidConfig, match=message.replace("(", r"\(").replace(")", r"\)")):
        run(HighValue, config, {"input": lines()})


class HighValueOnUnits(HighValue):
    """The same filter on the prices' unscaled integers, the faster way the README shows."""

    def push(self, port, batch):
        quantity, price = batch["quantity"], batch["unit_price"]
        limit = self.min_amount.scaleb(price.type.scale)  # min_amount in units of the price's last digit
        valid = map(bool.__and__, quantity.is_valid(), price.is_valid())
        keep = [ok and q * u > limit for ok, q, u in zip(valid, quantity.to_pylist(), price.decimal_units())]
        self.emit("output", filter(batch, keep))


def test_the_unscaled_integer_version_keeps_the_same_rows():
    rng = random.Random(5)
    rows = [
        (f"o-{i}", None if rng.random() < 0.1 else rng.randint(-5, 50),
         None if rng.random() < 0.1 else f"{rng.randint(-99999, 99999) / 100:.2f}")
        for i in range(500)
    ]
    for min_amount in ("100.00", "0", "-20.5", "99.995"):
        want = run(HighValue, {"min_amount": min_amount}, {"input": lines(*rows)}).table("output")
        got = run(HighValueOnUnits, {"min_amount": min_amount}, {"input": lines(*rows)}).table("output")
        assert got.equals(want) and 0 < want.num_rows < 500, min_amount


def test_the_documents_show_this_example_as_it_is():
    """The SDK's README and the plugin guide show app.py verbatim, within the promised 15 lines."""
    from pathlib import Path

    here = Path(__file__).resolve().parent
    source = (here / "app.py").read_text()
    block = f"```python\n{source}```\n"
    for document in [here.parents[1] / "README.md", here.parents[3] / "docs" / "plugin-guide.md"]:
        assert block in document.read_text(), f"{document} does not show examples/high_value/app.py as it is"
    assert sum(1 for line in source.splitlines() if line.strip()) <= 15
