"""Output equality between two runs of the e-commerce pipeline (ours and a comparison engine's).

    from compare import compare_outputs
    differences, figures = compare_outputs(ours_dir, theirs_dir)

Each directory holds `warehouse/`, `reports/` and `quarantine/` as `host run` writes them. The
comparison reads the Parquet files with DuckDB and checks, in order:

- `warehouse/sales`: row count, sum of `total_amount`, rows per `order_date_year=/order_date_month=`
  partition, the stored column types, and every row (as text, order-free);
- `warehouse/customers`, `warehouse/products`, `warehouse/sales_by_category_daily`: column types
  and every row;
- `reports/*.csv`: byte for byte;
- `quarantine/<source>/`: rows per (stage, reasons), column types, and every row.

Rows are compared through an order-free fingerprint (count and sum of row hashes over the columns
cast to text); only when it differs are the rows themselves diffed, and the first rows that one
side has and the other has not are shown. An empty list of differences means equal outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

REPORTS = ["daily_sales_report.csv", "customer_summary_report.csv"]
DIMENSIONS = {
    "customers": "customer_id",
    "products": "product_id",
    "sales_by_category_daily": "order_date, category",
}
SOURCES = ["orders", "customers", "products"]
#: Rows shown per side when two tables differ.
SHOWN = 5


@dataclass
class Figures:
    """What the runner prints of one run's outputs."""

    fact_rows: int = 0
    total_amount: str = "0"
    quarantined: dict[str, int] = field(default_factory=dict)


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class _Reader:
    def __init__(self) -> None:
        self.con = duckdb.connect()

    def files(self, directory: Path) -> str | None:
        """A `read_parquet` call over every Parquet file under `directory`, or None if it has none."""
        if not any(directory.rglob("*.parquet")):
            return None
        return f"read_parquet({_lit(str(directory / '**' / '*.parquet'))}, hive_partitioning = false)"

    def types(self, relation: str) -> dict[str, str]:
        return {row[0]: row[1] for row in self.con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}

    def fingerprint(self, relation: str, columns: list[str]) -> tuple[int, int]:
        text = ", ".join(f"{c}::VARCHAR" for c in columns)
        count, digest = self.con.execute(
            f"SELECT count(*), coalesce(sum(hash({text})::HUGEINT), 0) FROM {relation}"
        ).fetchone()
        return count, digest

    def only_in(self, left: str, right: str, columns: list[str], order: str) -> list[tuple]:
        text = ", ".join(f"{c}::VARCHAR AS {c}" for c in columns)
        return self.con.execute(
            f"SELECT * FROM (SELECT {text} FROM {left} EXCEPT ALL SELECT {text} FROM {right}) ORDER BY {order} LIMIT {SHOWN}"
        ).fetchall()


def _compare_rows(reader: _Reader, what: str, ours: str, theirs: str, order: str, out: list[str]) -> None:
    """Types, then every row, of two relations over the same table."""
    our_types, their_types = reader.types(ours), reader.types(theirs)
    if our_types != their_types:
        names = sorted(set(our_types) | set(their_types))
        diff = [
            f"{n}: ours {our_types.get(n, '-')}, theirs {their_types.get(n, '-')}"
            for n in names
            if our_types.get(n) != their_types.get(n)
        ]
        out.append(f"{what}: column types differ: {'; '.join(diff)}")
    columns = [c for c in our_types if c in their_types]
    (our_count, our_digest), (their_count, their_digest) = (
        reader.fingerprint(ours, columns),
        reader.fingerprint(theirs, columns),
    )
    if (our_count, our_digest) == (their_count, their_digest):
        return
    out.append(f"{what}: rows differ ({our_count} ours, {their_count} theirs; columns {', '.join(columns)})")
    for label, left, right in [("only ours", ours, theirs), ("only theirs", theirs, ours)]:
        for row in reader.only_in(left, right, columns, order):
            out.append(f"  {label}: {row}")


def _compare_reports(ours: Path, theirs: Path, out: list[str]) -> None:
    for name in REPORTS:
        a, b = ours / "reports" / name, theirs / "reports" / name
        if not a.is_file() or not b.is_file():
            out.append(f"reports/{name}: missing ({'ours' if not a.is_file() else 'theirs'})")
            continue
        left, right = a.read_bytes(), b.read_bytes()
        if left == right:
            continue
        our_lines, their_lines = left.split(b"\n"), right.split(b"\n")
        first = next(
            (i for i, (x, y) in enumerate(zip(our_lines, their_lines)) if x != y), min(len(our_lines), len(their_lines))
        )
        ours_at = our_lines[first] if first < len(our_lines) else b"<end of file>"
        theirs_at = their_lines[first] if first < len(their_lines) else b"<end of file>"
        out.append(
            f"reports/{name}: differs ({len(left)} bytes ours, {len(right)} theirs); first at line {first + 1}: "
            f"ours {ours_at!r}, theirs {theirs_at!r}"
        )


def compare_outputs(ours: Path, theirs: Path) -> tuple[list[str], Figures]:
    """The differences between the outputs under `ours` and `theirs` (empty: equal), and the
    figures of `theirs`."""
    reader = _Reader()
    out: list[str] = []
    figures = Figures()

    # The fact table.
    our_sales, their_sales = reader.files(ours / "warehouse" / "sales"), reader.files(theirs / "warehouse" / "sales")
    if our_sales is None or their_sales is None:
        out.append(f"warehouse/sales: no Parquet files ({'ours' if our_sales is None else 'theirs'})")
    else:
        stats = {}
        for side, relation in [("ours", our_sales), ("theirs", their_sales)]:
            stats[side] = reader.con.execute(f"SELECT count(*), sum(total_amount)::VARCHAR FROM {relation}").fetchone()
        figures.fact_rows, figures.total_amount = stats["theirs"][0], stats["theirs"][1] or "0"
        if stats["ours"][0] != stats["theirs"][0]:
            out.append(f"warehouse/sales: {stats['ours'][0]} rows ours, {stats['theirs'][0]} theirs")
        if stats["ours"][1] != stats["theirs"][1]:
            out.append(f"warehouse/sales: sum(total_amount) {stats['ours'][1]} ours, {stats['theirs'][1]} theirs")
        partitions = {}
        for side, root in [("ours", ours), ("theirs", theirs)]:
            relation = f"read_parquet({_lit(str(root / 'warehouse' / 'sales' / '**' / '*.parquet'))}, hive_partitioning = true)"
            partitions[side] = dict(
                reader.con.execute(
                    f"SELECT order_date_year || '/' || order_date_month, count(*) FROM {relation} GROUP BY ALL"
                ).fetchall()
            )
        for key in sorted(set(partitions["ours"]) | set(partitions["theirs"])):
            a, b = partitions["ours"].get(key, 0), partitions["theirs"].get(key, 0)
            if a != b:
                out.append(f"warehouse/sales partition {key}: {a} rows ours, {b} theirs")
        _compare_rows(reader, "warehouse/sales", our_sales, their_sales, "order_id, order_date", out)

    # Dimensions and the daily aggregate.
    for table, order in DIMENSIONS.items():
        a, b = reader.files(ours / "warehouse" / table), reader.files(theirs / "warehouse" / table)
        if a is None or b is None:
            out.append(f"warehouse/{table}: no Parquet files ({'ours' if a is None else 'theirs'})")
            continue
        _compare_rows(reader, f"warehouse/{table}", a, b, order, out)

    _compare_reports(ours, theirs, out)

    # The quarantine.
    for source in SOURCES:
        a, b = reader.files(ours / "quarantine" / source), reader.files(theirs / "quarantine" / source)
        if a is None and b is None:
            figures.quarantined[source] = 0
            continue
        if a is None or b is None:
            out.append(f"quarantine/{source}: no Parquet files ({'ours' if a is None else 'theirs'})")
            continue
        reasons = {}
        for side, relation in [("ours", a), ("theirs", b)]:
            reasons[side] = dict(
                reader.con.execute(f"SELECT stage || ': ' || reasons, count(*) FROM {relation} GROUP BY ALL").fetchall()
            )
        figures.quarantined[source] = sum(reasons["theirs"].values())
        for key in sorted(set(reasons["ours"]) | set(reasons["theirs"])):
            x, y = reasons["ours"].get(key, 0), reasons["theirs"].get(key, 0)
            if x != y:
                out.append(f"quarantine/{source} [{key}]: {x} rows ours, {y} theirs")
        _compare_rows(reader, f"quarantine/{source}", a, b, "line_number, stage", out)
    return out, figures


def quarantine_counts(root: Path) -> dict[str, dict[str, int]]:
    """Rows per source and `stage: reasons` under `root/quarantine` (for the report)."""
    reader = _Reader()
    counts: dict[str, dict[str, int]] = {}
    for source in SOURCES:
        relation = reader.files(root / "quarantine" / source)
        if relation is None:
            continue
        counts[source] = dict(
            reader.con.execute(
                f"SELECT stage || ': ' || reasons, count(*) FROM {relation} GROUP BY ALL ORDER BY 1"
            ).fetchall()
        )
    return counts
