"""The e-commerce pipeline of /work/shared/ecommerce-spec.md, in Polars: the benchmark's comparison.

    target/py-bench/bin/python bench/polars_pipeline.py --raw DIR --out DIR

Reads `orders.csv`, `customers.csv` and `products.csv` from `--raw` and writes what
`host run --pipeline config/ecommerce.yaml` writes, under `--out`:

- `warehouse/sales/order_date_year=YYYY/order_date_month=M/*.parquet` (partition columns in the
  path only), `warehouse/customers/`, `warehouse/products/`, `warehouse/sales_by_category_daily/`;
- `reports/daily_sales_report.csv`, `reports/customer_summary_report.csv`;
- `quarantine/<source>/run_id=polars/part-0.parquet` with the spec's quarantine columns.

Prints a JSON object of step timings (seconds) on stdout. Threads: `POLARS_MAX_THREADS` (default:
every core). Every rule is the spec's; where Polars has no native way to express one, it is
written out with expressions (see BENCHMARKS.md):

- CSV: Polars' reader neither reports a record's physical line nor turns a malformed record into
  a row, so the file is read with `read_lines` and tokenised with the regular expressions of
  `spec_csv` (lines it cannot decide go through `spec_csv.exceptional_records`). Values must
  match the spec's strict grammar before they are cast: `str.to_decimal` truncates `1.234` to
  1.23 and `str.to_date` accepts `2023-1-01`.
- `total_amount_avg`: Polars' `mean` returns a float and `Decimal.round` rounds half to even, so
  the exact average is Int128 arithmetic on cents, rounded half away from zero.

Rules are those of config/ecommerce.yaml, written here as expressions rather than read from the file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
import spec_csv  # noqa: E402

TYPE_GRAMMAR = {"int64": spec_csv.INT64_RE, "decimal(10,2)": spec_csv.DECIMAL_10_2_RE, "date": spec_csv.DATE_RE}
AMOUNT = pl.Decimal(18, 2)


def null_if_empty(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr == "").then(None).otherwise(expr)


def typed(raw: pl.Expr, type_name: str) -> pl.Expr:
    """The value of a raw field of a typed column: null unless it matches the strict grammar."""
    text = pl.when(raw.str.contains(TYPE_GRAMMAR[type_name])).then(raw)
    if type_name == "int64":
        return text.str.to_integer(strict=False)
    if type_name == "decimal(10,2)":
        return text.str.to_decimal(scale=2).cast(pl.Decimal(10, 2))
    return text.str.to_date("%Y-%m-%d", strict=False)


class Pipeline:
    def __init__(self, raw: Path, out: Path) -> None:
        self.raw = raw
        self.out = out
        self.timings: dict[str, float] = {}
        #: Per source: physical lines (line_no, line), for the quarantine's raw lines.
        self.lines: dict[str, pl.DataFrame] = {}
        #: Per source: records the fast path could not read (line_no, raw_line).
        self.exceptional: dict[str, pl.DataFrame] = {}
        #: Per source: one row per record after the header (values, raw text, message).
        self.parsed: dict[str, pl.DataFrame] = {}
        #: Per source: (line_no, stage, reasons, message) of every rejected row, per stage.
        self.rejections: dict[str, list[pl.DataFrame]] = {source: [] for source in spec_csv.SCHEMAS}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - started, 3)

    def reject(self, source: str, rows: pl.DataFrame, stage: str, reasons: pl.Expr, message: pl.Expr) -> None:
        self.rejections[source].append(
            rows.select("line_no", stage=pl.lit(stage), reasons=reasons, message=message.cast(pl.String))
        )

    # --- stage 1: ingest ----------------------------------------------------------------------

    def records(self, source: str, path: Path) -> pl.LazyFrame:
        """Every record of the file, the header's included, in no particular order:
        `line_no`, `malformed`, `fields`."""
        lines = pl.read_lines(path, row_index_name="line_no", row_index_offset=1).with_columns(
            pl.col("line_no").cast(pl.Int64),
            # read_lines drops one CR before each LF; a BOM is skipped at the very start of the file.
            pl.when(pl.col("line_no") == 1)
            .then(pl.col("line").str.strip_prefix(spec_csv.BOM))
            .otherwise(pl.col("line")),
        )
        self.lines[source] = lines
        line = pl.col("line")
        # A line without a quote is a strict record; only quoted ones need the full grammar.
        candidates = lines.lazy().filter(line != "").with_columns(quoted=line.str.contains('"', literal=True))
        suspicious = (
            candidates.filter(pl.col("quoted") & ~line.str.contains(spec_csv.STRICT_RECORD))
            .select("line_no")
            .collect()["line_no"]
            .to_list()
        )
        exceptional, covered = spec_csv.exceptional_records(path, suspicious)
        if covered:
            candidates = candidates.filter(~pl.col("line_no").is_in(sorted(covered)))
        plain = candidates.filter(~pl.col("quoted")).select(
            "line_no", malformed=pl.lit(False), fields=line.str.split(",")
        )
        field = pl.element().str.slice(1).str.strip_prefix('"').str.strip_suffix('"')
        quoted = candidates.filter(pl.col("quoted")).select(
            "line_no",
            malformed=pl.lit(False),
            fields=(pl.lit(",") + line)
            .str.extract_all(spec_csv.FIELD)
            .list.eval(field.str.replace_all('""', '"', literal=True)),
        )
        self.exceptional[source] = pl.DataFrame(
            {"line_no": [r.line_no for r in exceptional], "raw_line": [r.raw_line for r in exceptional]},
            schema={"line_no": pl.Int64, "raw_line": pl.String},
        )
        odd = pl.LazyFrame(
            {
                "line_no": [r.line_no for r in exceptional],
                "malformed": [r.malformed for r in exceptional],
                "fields": [r.fields for r in exceptional],
            },
            schema={"line_no": pl.Int64, "malformed": pl.Boolean, "fields": pl.List(pl.String)},
        )
        return pl.concat([plain, quoted, odd])

    def ingest(self, source: str) -> None:
        """`self.parsed[source]`: one row per record after the header with `line_no`, every
        column's value (text as read; typed columns parsed, with their text as `<column>_raw`) and
        the parse error `message` (null for a valid row)."""
        path = self.raw / f"{source}.csv"
        if not path.is_file():
            raise SystemExit(f"cannot read {path}: no such file")
        columns = spec_csv.SCHEMAS[source]
        records = self.records(source, path)
        first = records.select(pl.col("line_no").min()).collect().item()
        if first is None:
            raise SystemExit(f"{path} is empty: expected a header row")
        header = records.filter(pl.col("line_no") == first).collect()
        expected = [name for name, _ in columns]
        found = [name.strip(spec_csv.WHITESPACE) for name in header["fields"][0]]
        if found != expected:
            raise SystemExit(spec_csv.header_error(path, expected, found))

        # Settled details 3-7: every field as read (null when empty), then each typed column's
        # value if its text matches the strict grammar, and the message naming every bad column.
        fields = pl.col("fields")
        raw = {
            (name if type_name == "text" else f"{name}_raw"): null_if_empty(fields.list.get(i, null_on_oob=True))
            for i, (name, type_name) in enumerate(columns)
        }
        values = {name: typed(pl.col(f"{name}_raw"), type_name) for name, type_name in columns if type_name != "text"}
        problems = [
            pl.when(pl.col(f"{name}_raw").is_not_null() & pl.col(name).is_null()).then(
                pl.lit(f"{name}: cannot parse '") + pl.col(f"{name}_raw") + pl.lit(f"' as {type_name}")
            )
            for name, type_name in columns
            if type_name != "text"
        ]
        value_problems = pl.concat_str(problems, separator="; ", ignore_nulls=True) if problems else pl.lit(None)
        message = (
            pl.when(pl.col("malformed"))
            .then(pl.lit(spec_csv.MALFORMED_QUOTING))
            .when(pl.col("n_fields") != len(columns))
            .then(pl.format("wrong field count: expected {}, found {}", pl.lit(len(columns)), pl.col("n_fields")))
            .otherwise(null_if_empty(value_problems))
        )
        parsed = (
            records.filter(pl.col("line_no") > first)
            .select("line_no", "malformed", n_fields=fields.list.len(), **raw)
            .with_columns(**values)
            .with_columns(message=message)
            .drop("malformed", "n_fields")
            .collect()
        )
        self.parsed[source] = parsed
        self.reject(
            source,
            parsed.filter(pl.col("message").is_not_null()),
            f"ingest_{source}",
            pl.lit(spec_csv.PARSE_ERROR),
            pl.col("message"),
        )

    def valid(self, source: str) -> pl.DataFrame:
        return self.parsed[source].filter(pl.col("message").is_null())

    # --- stages 2-3: validate, cleanse ------------------------------------------------------------

    def validate_orders(self) -> pl.DataFrame:
        """validate_orders: the rules of config/ecommerce.yaml, before trimming (settled detail 9)."""
        low, high = spec_csv.QUANTITY_RANGE
        price_low, price_high = (Decimal(cents) / 100 for cents in spec_csv.UNIT_PRICE_RANGE_CENTS)
        quantity, price = pl.col("quantity"), pl.col("unit_price")
        failures = [pl.when(pl.col(c).is_null()).then(pl.lit(f"not_null({c})")) for c in spec_csv.NOT_NULL_COLUMNS]
        failures.append(
            pl.when(quantity.is_null() | (quantity < low) | (quantity > high)).then(pl.lit("in_range(quantity)"))
        )
        failures.append(
            pl.when(
                price.is_null()
                | (price < pl.lit(price_low, dtype=pl.Decimal(10, 2)))
                | (price > pl.lit(price_high, dtype=pl.Decimal(10, 2)))
            ).then(pl.lit("in_range(unit_price)"))
        )
        checked = (
            self.valid("orders")
            .select("line_no", "order_id", "customer_id", "product_id", "quantity", "unit_price", "order_date")
            .with_columns(reasons=pl.concat_str(failures, separator=";", ignore_nulls=True))
        )
        self.reject(
            "orders", checked.filter(pl.col("reasons") != ""), "validate_orders", pl.col("reasons"), pl.lit(None)
        )
        return checked.filter(pl.col("reasons") == "").drop("reasons")

    def cleanse(self, source: str, rows: pl.DataFrame) -> pl.DataFrame:
        """Trim every text column, then keep the first row of each key in line order; the others
        are rejected as duplicates of it."""
        key, stage = spec_csv.DEDUPE[source]
        columns = [name for name, _ in spec_csv.SCHEMAS[source]]
        texts = [name for name, type_name in spec_csv.SCHEMAS[source] if type_name == "text"]
        ranked = (
            rows.lazy()
            .select("line_no", *columns)
            .with_columns(pl.col(texts).str.strip_chars(spec_csv.WHITESPACE))
            .with_columns(first_line=pl.col("line_no").min().over(key))
            .collect()
        )
        duplicates = ranked.filter(pl.col("line_no") != pl.col("first_line"))
        self.reject(
            source,
            duplicates,
            stage,
            pl.lit(f"duplicate({key})"),
            pl.format("duplicate of line {}", pl.col("first_line")),
        )
        return ranked.filter(pl.col("line_no") == pl.col("first_line"))

    # --- stages 3-4: enrich, aggregate ------------------------------------------------------------

    @staticmethod
    def enrich(orders: pl.DataFrame, customers: pl.DataFrame, products: pl.DataFrame) -> pl.DataFrame:
        """transform_orders: exact total, date parts, LEFT joins on the de-duplicated dimensions."""
        date = pl.col("order_date")
        return (
            orders.lazy()
            .select("order_id", "customer_id", "product_id", "quantity", "unit_price", "order_date")
            .with_columns(
                total_amount=(pl.col("quantity") * pl.col("unit_price")).cast(AMOUNT),
                order_date_year=date.dt.year().cast(pl.Int32),
                order_date_month=date.dt.month().cast(pl.Int32),
                order_date_day=date.dt.day().cast(pl.Int32),
            )
            .join(
                products.lazy()
                .select("product_id", "product_name", "category")
                .filter(pl.col("product_id").is_not_null()),
                on="product_id",
                how="left",
            )
            .join(
                customers.lazy()
                .select("customer_id", "name", "email", "region")
                .filter(pl.col("customer_id").is_not_null()),
                on="customer_id",
                how="left",
            )
            .collect()
        )

    @staticmethod
    def aggregate(fact: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """aggregate_sales: exact sums; the average of cents rounded half away from zero."""
        cents = (pl.col("total_amount_sum") * 100).cast(pl.Int128)
        n = pl.col("n").cast(pl.Int128)
        avg_cents = ((2 * cents.abs() + n) // (2 * n)) * cents.sign()
        avg = pl.when(n > 0).then(
            (avg_cents.cast(pl.Decimal(38, 0)) * pl.lit(Decimal("0.01"), dtype=pl.Decimal(3, 2))).cast(AMOUNT)
        )
        amount = pl.col("total_amount")
        daily = (
            fact.lazy()
            .group_by("order_date", "category")
            .agg(
                total_amount_sum=amount.sum(),
                n=amount.count(),
                total_amount_count=pl.len().cast(pl.Int64),
                quantity_sum=pl.col("quantity").sum().cast(pl.Int64),
            )
            .select(
                "order_date",
                "category",
                pl.col("total_amount_sum").cast(AMOUNT),
                total_amount_avg=avg,
                total_amount_count="total_amount_count",
                quantity_sum="quantity_sum",
            )
        )
        customers = (
            fact.lazy()
            .group_by("customer_id", "name", "region")
            .agg(total_amount_sum=amount.sum().cast(AMOUNT), total_amount_count=pl.len().cast(pl.Int64))
        )
        daily_sales, customer_summary = pl.collect_all([daily, customers])
        return daily_sales, customer_summary

    # --- stages 5-6 and the quarantine ------------------------------------------------------------

    @staticmethod
    def write_parquet(frame: pl.DataFrame, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(directory / "part-0.parquet", compression="snappy")

    def load_warehouse(
        self, fact: pl.DataFrame, customers: pl.DataFrame, products: pl.DataFrame, daily: pl.DataFrame
    ) -> None:
        warehouse = self.out / "warehouse"
        # One file per partition. (`sink_parquet(pl.PartitionBy(..., include_key=False))` writes the
        # same files, but took 1.5x as long at 5M orders.)
        keys = ["order_date_year", "order_date_month"]
        for (year, month), rows in fact.partition_by(keys, as_dict=True).items():
            self.write_parquet(
                rows.drop(keys), warehouse / "sales" / f"order_date_year={year}" / f"order_date_month={month}"
            )
        self.write_parquet(
            customers.select("customer_id", "name", "email", "region", "signup_date"), warehouse / "customers"
        )
        self.write_parquet(
            products.select("product_id", "product_name", "category", "list_price"), warehouse / "products"
        )
        self.write_parquet(daily, warehouse / "sales_by_category_daily")

    def reports(self, daily: pl.DataFrame, customers: pl.DataFrame) -> None:
        reports = self.out / "reports"
        reports.mkdir(parents=True, exist_ok=True)
        keys = ["order_date", "category"]
        daily.sort(keys, nulls_last=True).select(
            *keys, "total_amount_sum", "total_amount_avg", "total_amount_count", "quantity_sum"
        ).write_csv(reports / "daily_sales_report.csv")
        keys = ["customer_id", "name", "region"]
        customers.sort(keys, nulls_last=True).select(*keys, "total_amount_sum", "total_amount_count").write_csv(
            reports / "customer_summary_report.csv"
        )

    def quarantine(self) -> dict[str, int]:
        """Every rejected row with its text as read: the raw fields from the parsed rows (text
        columns before trimming), the raw line from the lines (or the exceptional records)."""
        counts = {}
        for source, rejections in self.rejections.items():
            raw = [
                pl.col(name).alias(f"{name}_raw") if type_name == "text" else pl.col(f"{name}_raw")
                for name, type_name in spec_csv.SCHEMAS[source]
            ]
            rejected = pl.concat(rejections)
            wanted = pl.col("line_no").is_in(rejected["line_no"].implode())
            rows = (
                rejected.join(self.parsed[source].filter(wanted).select("line_no", *raw), on="line_no", how="left")
                .join(self.lines[source].filter(wanted), on="line_no", how="left")
                .join(self.exceptional[source], on="line_no", how="left")
                .select(
                    pl.lit(f"{source}.csv").alias("source_file"),
                    pl.col("line_no").alias("line_number"),
                    "stage",
                    "reasons",
                    "message",
                    pl.coalesce("raw_line", "line").alias("raw_line"),
                    *[f"{name}_raw" for name, _ in spec_csv.SCHEMAS[source]],
                )
            )
            counts[source] = rows.height
            if rows.height:
                self.write_parquet(rows, self.out / "quarantine" / source / "run_id=polars")
        return counts

    def checks(
        self, quarantined: dict[str, int], fact: pl.DataFrame, daily: pl.DataFrame, customers: pl.DataFrame
    ) -> None:
        """The spec's invariants: conservation of orders and equal sums."""
        raw = self.parsed["orders"].height
        if raw != fact.height + quarantined["orders"]:
            raise SystemExit(
                f"conservation violated: {raw} raw orders, {fact.height} fact rows, {quarantined['orders']} quarantined"
            )
        sums = {
            frame[column].sum()
            for frame, column in [(daily, "total_amount_sum"), (customers, "total_amount_sum"), (fact, "total_amount")]
        }
        if len(sums) != 1:
            raise SystemExit(f"equal sums violated: {sums}")

    def run(self) -> None:
        for source in ("orders", "customers", "products"):
            with self.step(f"ingest_{source}"):
                self.ingest(source)
        with self.step("validate_orders"):
            orders = self.validate_orders()
        with self.step("cleanse"):
            orders = self.cleanse("orders", orders)
            customers = self.cleanse("customers", self.valid("customers"))
            products = self.cleanse("products", self.valid("products"))
        with self.step("transform_orders"):
            fact = self.enrich(orders, customers, products)
        with self.step("aggregate_sales"):
            daily, summary = self.aggregate(fact)
        with self.step("load_warehouse"):
            self.load_warehouse(fact, customers, products, daily)
        with self.step("generate_reports"):
            self.reports(daily, summary)
        with self.step("quarantine"):
            quarantined = self.quarantine()
        with self.step("checks"):
            self.checks(quarantined, fact, daily, summary)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--raw", type=Path, required=True, help="directory with orders.csv, customers.csv, products.csv"
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory (warehouse/, reports/, quarantine/)")
    args = parser.parse_args()
    started = time.perf_counter()
    pipeline = Pipeline(args.raw, args.out)
    pipeline.run()
    pipeline.timings["total"] = round(time.perf_counter() - started, 3)
    print(json.dumps(pipeline.timings))


if __name__ == "__main__":
    main()
