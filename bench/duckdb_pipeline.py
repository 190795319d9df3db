"""The e-commerce pipeline of /work/shared/ecommerce-spec.md, in DuckDB: the benchmark's comparison.

    target/py-bench/bin/python bench/duckdb_pipeline.py --raw DIR --out DIR [--threads N]

Reads `orders.csv`, `customers.csv` and `products.csv` from `--raw` and writes what
`host run --pipeline config/ecommerce.yaml` writes, under `--out`:

- `warehouse/sales/order_date_year=YYYY/order_date_month=M/*.parquet` (partition columns in the
  path only), `warehouse/customers/`, `warehouse/products/`, `warehouse/sales_by_category_daily/`;
- `reports/daily_sales_report.csv`, `reports/customer_summary_report.csv`;
- `quarantine/<source>/run_id=duckdb/part-0.parquet` with the spec's quarantine columns.

Prints a JSON object of step timings (seconds) on stdout. Every rule is the spec's; where DuckDB has
no native way to express one, it is written out in SQL (see BENCHMARKS.md):

- CSV: DuckDB's reader neither reports a record's physical line nor turns a malformed record into a
  row, and it ends records at a lone CR, so the file is read with `read_text`, split on LF and
  tokenised with the regular expressions of `spec_csv` (lines it cannot decide go through
  `spec_csv.exceptional_records`). Values must match the spec's strict grammar before `TRY_CAST`,
  which accepts `' 1'`.
- Trimming: `trim(x, characters)` with the Unicode White_Space set (plain `trim` strips spaces
  only); it costs about 1 µs a value, so only values a regular expression finds padded go through it.
- `total_amount_avg`: DuckDB's `avg` and decimal division return DOUBLE, so the exact average is
  integer arithmetic on cents, rounded half away from zero.

Rules are those of config/ecommerce.yaml, written here as SQL rather than read from the file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
import spec_csv  # noqa: E402

TYPE_NAMES = {"int64": "BIGINT", "decimal(10,2)": "DECIMAL(10,2)", "date": "DATE"}
TYPE_GRAMMAR = {"int64": spec_csv.INT64_RE, "decimal(10,2)": spec_csv.DECIMAL_10_2_RE, "date": spec_csv.DATE_RE}


def lit(text: str) -> str:
    """`text` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


#: The White_Space characters as an SQL expression (constant-folded once).
WS = "(" + " || ".join(f"chr({ord(c)})" for c in spec_csv.WHITESPACE) + ")"
_WS_CLASS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in spec_csv.WHITESPACE) + "]"
#: A value that starts or ends with White_Space (an RE2 character class of exactly those).
NEEDS_TRIM = f"^{_WS_CLASS}|{_WS_CLASS}$"
#: A quoted field's text: its inside with doubled quotes made single.
UNQUOTE = "lambda f: CASE WHEN starts_with(f, '\"') THEN replace(f[2:-2], '\"\"', '\"') ELSE f END"


class Pipeline:
    def __init__(self, raw: Path, out: Path, threads: int) -> None:
        self.raw = raw
        self.out = out
        self.con = duckdb.connect()
        self.con.execute(f"SET threads = {threads}")
        self.timings: dict[str, float] = {}
        #: Per source: queries of (line_no, stage, reasons, message), one per rejecting stage.
        self.rejections: dict[str, list[str]] = {source: [] for source in spec_csv.SCHEMAS}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - started, 3)

    def sql(self, query: str) -> duckdb.DuckDBPyConnection:
        return self.con.execute(query)

    # --- stage 1: ingest ----------------------------------------------------------------------

    def read_records(self, source: str, path: Path) -> None:
        """`{source}_lines` (line_no, line: terminator and BOM stripped), `{source}_exceptional`
        (records the fast path cannot read, with their raw text) and the view `{source}_records`
        (line_no, malformed, fields) over every record, the header's included."""
        self.sql(f"""
            CREATE TEMP TABLE {source}_lines AS
            SELECT line_no,
                   CASE WHEN line_no = 1 AND starts_with(line, chr(65279)) THEN line[2:] ELSE line END AS line
            FROM (
                SELECT line_no, CASE WHEN ends_with(line, chr(13)) THEN line[1:-2] ELSE line END AS line
                FROM (
                    SELECT generate_subscripts(parts, 1)::BIGINT AS line_no, unnest(parts) AS line
                    FROM (SELECT string_split(content, chr(10)) AS parts FROM read_text({lit(str(path))}))
                )
            )
        """)
        # A line without a quote is a strict record; only quoted ones need the full grammar.
        suspicious = [
            row[0]
            for row in self.sql(f"""
                SELECT line_no FROM {source}_lines
                WHERE contains(line, '"') AND NOT regexp_full_match(line, {lit(spec_csv.STRICT_RECORD)})
                ORDER BY line_no
            """).fetchall()
        ]
        records, covered = spec_csv.exceptional_records(path, suspicious)
        self.sql(f"CREATE TEMP TABLE {source}_covered (line_no BIGINT)")
        self.sql(
            f"CREATE TEMP TABLE {source}_exceptional (line_no BIGINT, raw_line VARCHAR, malformed BOOLEAN, fields VARCHAR[])"
        )
        if records:
            self.con.executemany(f"INSERT INTO {source}_covered VALUES (?)", [(line,) for line in sorted(covered)])
            self.con.executemany(
                f"INSERT INTO {source}_exceptional VALUES (?, ?, ?, ?)",
                [(r.line_no, r.raw_line, r.malformed, r.fields) for r in records],
            )
        self.sql(f"""
            CREATE TEMP VIEW {source}_records AS
            SELECT line_no, false AS malformed,
                   CASE WHEN contains(line, '"')
                        THEN list_transform(regexp_extract_all(',' || line, {lit(spec_csv.FIELD)}, 1), {UNQUOTE})
                        ELSE string_split(line, ',') END AS fields
            FROM {source}_lines
            WHERE line <> '' AND line_no NOT IN (SELECT line_no FROM {source}_covered)
            UNION ALL
            SELECT line_no, malformed, fields FROM {source}_exceptional
        """)

    def ingest(self, source: str) -> None:
        """`{source}_parsed`: one row per record after the header with `line_no`, every column's
        value (text as read; typed columns parsed, with their text as `<column>_raw`) and the
        parse error `message` (null for a valid row); `{source}_valid`, the rows without one."""
        path = self.raw / f"{source}.csv"
        if not path.is_file():
            raise SystemExit(f"cannot read {path}: no such file")
        columns = spec_csv.SCHEMAS[source]
        self.read_records(source, path)
        header_line = self.sql(f"SELECT min(line_no) FROM {source}_records").fetchone()[0]
        if header_line is None:
            raise SystemExit(f"{path} is empty: expected a header row")
        header = self.sql(f"SELECT fields FROM {source}_records WHERE line_no = {header_line}").fetchone()[0]
        expected = [name for name, _ in columns]
        found = [name.strip(spec_csv.WHITESPACE) for name in header]
        if found != expected:
            raise SystemExit(spec_csv.header_error(path, expected, found))

        # Settled details 3-7: every field as read (null when empty), then each typed column's
        # value if its text matches the strict grammar, and the message naming every bad column.
        raw_columns = ", ".join(f"nullif(fields[{i + 1}], '') AS {name}_raw" for i, (name, _) in enumerate(columns))
        values = []
        problems = []
        for name, type_name in columns:
            if type_name == "text":
                values.append(f"{name}_raw AS {name}")
                continue
            values.append(
                f"CASE WHEN regexp_full_match({name}_raw, {lit(TYPE_GRAMMAR[type_name])}) "
                f"THEN TRY_CAST({name}_raw AS {TYPE_NAMES[type_name]}) END AS {name}, {name}_raw"
            )
            problems.append(
                f"CASE WHEN {name}_raw IS NOT NULL AND {name} IS NULL "
                f"THEN '{name}: cannot parse ''' || {name}_raw || ''' as {type_name}' END"
            )
        message = (
            f"CASE WHEN malformed THEN {lit(spec_csv.MALFORMED_QUOTING)} "
            f"WHEN n_fields <> {len(columns)} THEN 'wrong field count: expected {len(columns)}, found ' || n_fields "
            f"ELSE nullif(concat_ws('; ', {', '.join(problems) or 'NULL'}), '') END"
        )
        self.sql(f"""
            CREATE TEMP TABLE {source}_parsed AS
            SELECT * EXCLUDE (malformed, n_fields), {message} AS message
            FROM (
                SELECT line_no, malformed, n_fields, {", ".join(values)}
                FROM (
                    SELECT line_no, malformed, len(fields) AS n_fields, {raw_columns}
                    FROM {source}_records WHERE line_no > {header_line}
                )
            )
        """)
        self.sql(f"CREATE TEMP VIEW {source}_valid AS SELECT * FROM {source}_parsed WHERE message IS NULL")
        self.rejections[source].append(
            f"SELECT line_no, 'ingest_{source}' AS stage, {lit(spec_csv.PARSE_ERROR)} AS reasons, message "
            f"FROM {source}_parsed WHERE message IS NOT NULL"
        )

    # --- stages 2-3: validate, cleanse ------------------------------------------------------------

    def validate_orders(self) -> None:
        """validate_orders: the rules of config/ecommerce.yaml, before trimming (settled detail 9)."""
        low, high = spec_csv.QUANTITY_RANGE
        price_low, price_high = (f"{cents / 100:.2f}" for cents in spec_csv.UNIT_PRICE_RANGE_CENTS)
        failures = [f"CASE WHEN {c} IS NULL THEN 'not_null({c})' END" for c in spec_csv.NOT_NULL_COLUMNS]
        failures.append(
            f"CASE WHEN quantity IS NULL OR quantity < {low} OR quantity > {high} THEN 'in_range(quantity)' END"
        )
        failures.append(
            f"CASE WHEN unit_price IS NULL OR unit_price < {price_low} OR unit_price > {price_high} "
            "THEN 'in_range(unit_price)' END"
        )
        self.sql(f"""
            CREATE TEMP TABLE orders_checked AS
            SELECT line_no, order_id, customer_id, product_id, quantity, unit_price, order_date,
                   concat_ws(';', {", ".join(failures)}) AS reasons
            FROM orders_valid
        """)
        self.rejections["orders"].append(
            "SELECT line_no, 'validate_orders' AS stage, reasons, NULL AS message FROM orders_checked WHERE reasons <> ''"
        )

    def cleanse(self, source: str, rows: str) -> None:
        """Trim every text column, then keep the first row of each key in line order (the view
        `{source}_clean`); the others are rejected as duplicates of it."""
        key, stage = spec_csv.DEDUPE[source]
        selected = ", ".join(
            f"CASE WHEN regexp_matches({name}, {lit(NEEDS_TRIM)}) THEN trim({name}, {WS}) ELSE {name} END AS {name}"
            if type_name == "text"
            else name
            for name, type_name in spec_csv.SCHEMAS[source]
        )
        self.sql(f"""
            CREATE TEMP TABLE {source}_ranked AS
            SELECT *, min(line_no) OVER (PARTITION BY {key}) AS first_line
            FROM (SELECT line_no, {selected} FROM {rows})
        """)
        self.sql(f"CREATE TEMP VIEW {source}_clean AS SELECT * FROM {source}_ranked WHERE line_no = first_line")
        self.rejections[source].append(
            f"SELECT line_no, {lit(stage)} AS stage, {lit(f'duplicate({key})')} AS reasons, "
            f"'duplicate of line ' || first_line AS message FROM {source}_ranked WHERE line_no <> first_line"
        )

    # --- stages 3-4: enrich, aggregate ------------------------------------------------------------

    def enrich(self) -> None:
        """transform_orders: exact total, date parts, LEFT joins on the de-duplicated dimensions."""
        self.sql("""
            CREATE TEMP TABLE fact AS
            SELECT o.order_id, o.customer_id, o.product_id, o.quantity, o.unit_price, o.order_date,
                   CAST(o.quantity * o.unit_price AS DECIMAL(18,2)) AS total_amount,
                   year(o.order_date)::INTEGER AS order_date_year,
                   month(o.order_date)::INTEGER AS order_date_month,
                   day(o.order_date)::INTEGER AS order_date_day,
                   p.product_name, p.category, c.name, c.email, c.region
            FROM orders_clean o
            LEFT JOIN products_clean p ON p.product_id = o.product_id
            LEFT JOIN customers_clean c ON c.customer_id = o.customer_id
        """)

    def aggregate(self) -> None:
        """aggregate_sales: exact sums; the average of cents rounded half away from zero."""
        cents = "CAST(sum(total_amount) * 100 AS HUGEINT)"
        n = "count(total_amount)"
        avg = (
            f"CASE WHEN {n} > 0 THEN CAST(CAST(sign({cents}) * ((2 * abs({cents}) + {n}) // (2 * {n})) AS DECIMAL(18,0))"
            " * 0.01::DECIMAL(3,2) AS DECIMAL(18,2)) END"
        )
        self.sql(f"""
            CREATE TEMP TABLE daily_sales AS
            SELECT order_date, category,
                   CAST(sum(total_amount) AS DECIMAL(18,2)) AS total_amount_sum,
                   {avg} AS total_amount_avg,
                   count(*) AS total_amount_count,
                   CAST(sum(quantity) AS BIGINT) AS quantity_sum
            FROM fact GROUP BY order_date, category
        """)
        self.sql("""
            CREATE TEMP TABLE customer_summary AS
            SELECT customer_id, name, region,
                   CAST(sum(total_amount) AS DECIMAL(18,2)) AS total_amount_sum,
                   count(*) AS total_amount_count
            FROM fact GROUP BY customer_id, name, region
        """)

    # --- stages 5-6 and the quarantine ------------------------------------------------------------

    def copy_parquet(self, query: str, directory: Path, options: str = "") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        target = directory if options else directory / "part-0.parquet"
        self.sql(f"COPY ({query}) TO {lit(str(target))} (FORMAT parquet, COMPRESSION snappy{options})")

    def load_warehouse(self) -> None:
        warehouse = self.out / "warehouse"
        self.copy_parquet(
            "SELECT * FROM fact",
            warehouse / "sales",
            ", PARTITION_BY (order_date_year, order_date_month), OVERWRITE_OR_IGNORE",
        )
        self.copy_parquet(
            "SELECT customer_id, name, email, region, signup_date FROM customers_clean", warehouse / "customers"
        )
        self.copy_parquet(
            "SELECT product_id, product_name, category, list_price FROM products_clean", warehouse / "products"
        )
        self.copy_parquet("SELECT * FROM daily_sales", warehouse / "sales_by_category_daily")

    def reports(self) -> None:
        reports = self.out / "reports"
        reports.mkdir(parents=True, exist_ok=True)
        for table, keys, columns, file in [
            (
                "daily_sales",
                ["order_date", "category"],
                "order_date, category, total_amount_sum, total_amount_avg, total_amount_count, quantity_sum",
                "daily_sales_report.csv",
            ),
            (
                "customer_summary",
                ["customer_id", "name", "region"],
                "customer_id, name, region, total_amount_sum, total_amount_count",
                "customer_summary_report.csv",
            ),
        ]:
            order = ", ".join(f"{key} ASC NULLS LAST" for key in keys)
            self.sql(
                f"COPY (SELECT {columns} FROM {table} ORDER BY {order}) "
                f"TO {lit(str(reports / file))} (HEADER, DELIMITER ',')"
            )

    def quarantine(self) -> dict[str, int]:
        """Every rejected row with its text as read: the raw fields from `{source}_parsed` (text
        columns before trimming) and the raw line from the lines (or the exceptional records)."""
        counts = {}
        for source, rejections in self.rejections.items():
            raw = ", ".join(
                f"p.{name} AS {name}_raw" if type_name == "text" else f"p.{name}_raw"
                for name, type_name in spec_csv.SCHEMAS[source]
            )
            self.sql(f"""
                CREATE TEMP TABLE {source}_quarantine AS
                SELECT '{source}.csv' AS source_file, q.line_no AS line_number, q.stage, q.reasons,
                       q.message::VARCHAR AS message, coalesce(e.raw_line, l.line) AS raw_line, {raw}
                FROM ({" UNION ALL ".join(rejections)}) q
                JOIN {source}_parsed p USING (line_no)
                LEFT JOIN {source}_lines l USING (line_no)
                LEFT JOIN {source}_exceptional e USING (line_no)
            """)
            counts[source] = self.sql(f"SELECT count(*) FROM {source}_quarantine").fetchone()[0]
            if counts[source]:
                self.copy_parquet(
                    f"SELECT * FROM {source}_quarantine", self.out / "quarantine" / source / "run_id=duckdb"
                )
        return counts

    def checks(self, quarantined: dict[str, int]) -> None:
        """The spec's invariants: conservation of orders and equal sums."""
        raw = self.sql("SELECT count(*) FROM orders_parsed").fetchone()[0]
        fact = self.sql("SELECT count(*) FROM fact").fetchone()[0]
        if raw != fact + quarantined["orders"]:
            raise SystemExit(
                f"conservation violated: {raw} raw orders, {fact} fact rows, {quarantined['orders']} quarantined"
            )
        sums = self.sql("""
            SELECT (SELECT sum(total_amount_sum) FROM daily_sales), (SELECT sum(total_amount_sum) FROM customer_summary),
                   (SELECT sum(total_amount) FROM fact)
        """).fetchone()
        if len(set(sums)) != 1:
            raise SystemExit(f"equal sums violated: {sums}")

    def run(self) -> None:
        for source in ("orders", "customers", "products"):
            with self.step(f"ingest_{source}"):
                self.ingest(source)
        with self.step("validate_orders"):
            self.validate_orders()
        with self.step("cleanse"):
            self.cleanse("orders", "orders_checked WHERE reasons = ''")
            self.cleanse("customers", "customers_valid")
            self.cleanse("products", "products_valid")
        with self.step("transform_orders"):
            self.enrich()
        with self.step("aggregate_sales"):
            self.aggregate()
        with self.step("load_warehouse"):
            self.load_warehouse()
        with self.step("generate_reports"):
            self.reports()
        with self.step("quarantine"):
            quarantined = self.quarantine()
        with self.step("checks"):
            self.checks(quarantined)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--raw", type=Path, required=True, help="directory with orders.csv, customers.csv, products.csv"
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory (warehouse/, reports/, quarantine/)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    started = time.perf_counter()
    pipeline = Pipeline(args.raw, args.out, args.threads)
    pipeline.run()
    pipeline.timings["total"] = round(time.perf_counter() - started, 3)
    print(json.dumps(pipeline.timings))


if __name__ == "__main__":
    main()
