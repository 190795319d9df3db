"""Reads the warehouse the way an analyst would, with DuckDB and no special options, and prints
what it found as one JSON object: for each table its rows, its column types (as DuckDB names
them) and exact sums (decimals as strings), and for the fact table its partitions.

    python tests/interop/duckdb_check.py WAREHOUSE_DIR

The end-to-end test tests/e2e/interop.rs compares this with what the parquet crate reads.
"""

import json
import sys
from pathlib import Path

import duckdb


def sql_string(text):
    return "'" + text.replace("'", "''") + "'"


def describe(con, source):
    rows = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    return {name: column_type for name, column_type, *_ in rows}


def text(value):
    """Decimals, dates and other non-JSON values as their exact text."""
    return None if value is None else str(value)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: duckdb_check.py WAREHOUSE_DIR")
    warehouse = Path(sys.argv[1])
    con = duckdb.connect()
    out = {"duckdb_version": duckdb.__version__}

    sales_glob = sql_string(str(warehouse / "sales" / "**" / "*.parquet"))
    sales = f"read_parquet({sales_glob}, hive_partitioning = true)"
    rows, total, first, last = con.execute(
        f"SELECT count(*), sum(total_amount), min(order_date), max(order_date) FROM {sales}"
    ).fetchone()
    partitions = con.execute(
        f"""SELECT order_date_year, order_date_month, count(*), sum(total_amount)
            FROM {sales} GROUP BY ALL ORDER BY ALL"""
    ).fetchall()
    (distinct,) = con.execute(
        f"SELECT count(*) FROM (SELECT DISTINCT order_date_year, order_date_month FROM {sales})"
    ).fetchone()
    out["sales"] = {
        "rows": rows,
        "total_amount_sum": text(total),
        "min_order_date": text(first),
        "max_order_date": text(last),
        "distinct_partitions": distinct,
        "partitions": [
            {"year": year, "month": month, "rows": count, "total_amount_sum": text(amount)}
            for year, month, count, amount in partitions
        ],
        "types": describe(con, sales),
    }

    sums = {
        "customers": [],
        "products": ["list_price"],
        "sales_by_category_daily": ["total_amount_sum", "total_amount_count", "quantity_sum"],
    }
    for table, columns in sums.items():
        source = f"read_parquet({sql_string(str(warehouse / table / '*.parquet'))})"
        selects = ", ".join(["count(*)"] + [f"sum({column})" for column in columns])
        (count, *totals) = con.execute(f"SELECT {selects} FROM {source}").fetchone()
        out[table] = {
            "rows": count,
            "sums": {column: text(total) for column, total in zip(columns, totals)},
            "types": describe(con, source),
        }

    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
