"""The `{{name}}` stage, run natively through the SDK's harness: `./test.sh`."""

from decimal import Decimal

import pytest

from app import {{type}}
from etl_stage import InvalidConfig, InvalidInput
from etl_stage.testing import run


def orders(*amounts):
    """Rows (order_id, amount) as a pyarrow table, amount a decimal(18,2)."""
    import pyarrow as pa

    return pa.table(
        {
            "order_id": pa.array([f"o-{i}" for i in range(len(amounts))], pa.string()),
            "amount": pa.array([None if a is None else Decimal(a) for a in amounts], pa.decimal128(18, 2)),
        }
    )


def test_keeps_the_rows_above_min():
    result = run({{type}}, {"column": "amount", "min": "500.00"}, {"input": orders("500.00", "500.01", None, "-1.00", "999.99")})
    assert result.pydict("output")["order_id"] == ["o-1", "o-4"]
    assert result.metric("rows_kept") == 2


def test_refuses_a_config_without_min():
    with pytest.raises(InvalidConfig, match="min: required"):
        run({{type}}, {"column": "amount"}, {"input": orders()})


def test_names_a_missing_column():
    with pytest.raises(InvalidInput, match="total"):
        run({{type}}, {"column": "total", "min": 1}, {"input": orders("1.00")})
