"""What the comparison pipelines share: the e-commerce spec's constants and its CSV grammar.

`bench/duckdb_pipeline.py` and `bench/polars_pipeline.py` implement /work/shared/ecommerce-spec.md
(the contract of `config/ecommerce.yaml`) in their engine. This module holds what both need and
neither engine expresses natively:

- The declared schemas, type names and messages of the spec's stage 1 and settled details 1-7.
- The regular expressions of the fast path: a physical line that fully matches `STRICT_RECORD` is
  a complete, well-quoted record on its own, and `FIELD` (applied to `"," + line`) yields its
  fields. Both engines run these vectorised over every line.
- `exceptional_records`: the RFC 4180 state machine of the host's reader (`host/src/ingest/csv.rs`,
  ported byte for byte) for the lines the fast path cannot decide: malformed quoting, and quoted
  fields holding line breaks (a record spanning several physical lines). It runs in Python, over
  those lines only; the generated sample data has none, so it costs nothing in the benchmark.

Neither engine's CSV reader can be used as is: they neither report the physical line where a
record starts nor turn a malformed record into a row with a message (DuckDB's also ends a record
at a lone CR). Reading lines and tokenising with the engine's string functions is what a team
would have to write to meet the spec with these engines.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# --- The spec's inputs (stage 1 and `config/ecommerce.yaml`) ------------------------------------

#: Declared columns of each source, in file order, with the spec's type names.
SCHEMAS: dict[str, list[tuple[str, str]]] = {
    "orders": [
        ("order_id", "text"),
        ("customer_id", "text"),
        ("product_id", "text"),
        ("quantity", "int64"),
        ("unit_price", "decimal(10,2)"),
        ("order_date", "date"),
    ],
    "customers": [
        ("customer_id", "text"),
        ("name", "text"),
        ("email", "text"),
        ("region", "text"),
        ("signup_date", "date"),
    ],
    "products": [
        ("product_id", "text"),
        ("product_name", "text"),
        ("category", "text"),
        ("list_price", "decimal(10,2)"),
    ],
}

#: The key each source is de-duplicated on, and the stage that does it (config/ecommerce.yaml).
DEDUPE: dict[str, tuple[str, str]] = {
    "orders": ("order_id", "cleanse_orders"),
    "customers": ("customer_id", "transform_customers"),
    "products": ("product_id", "transform_products"),
}

#: validate_orders' rules, in config order: not_null on these columns, then in_range on quantity
#: and on unit_price (bounds inclusive; a null fails).
NOT_NULL_COLUMNS = ["order_id", "customer_id", "product_id", "order_date"]
QUANTITY_RANGE = (1, 1000)
UNIT_PRICE_RANGE_CENTS = (1, 10_000_000)  # [0.01, 100000], compared exactly

# --- Settled details 2-7, 11-12 --------------------------------------------------------------

PARSE_ERROR = "parse_error"
MALFORMED_QUOTING = "malformed CSV quoting"
BOM = "\ufeff"

#: What Rust's `str::trim` removes: the Unicode `White_Space` characters (settled detail 12).
WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)

_QUOTED = r'"(?:[^"]|"")*"'
_UNQUOTED = r'[^,"]*'
#: A physical line that is one complete, well-formed record (no quote left open, no stray quote).
STRICT_RECORD = rf"^(?:{_QUOTED}|{_UNQUOTED})(?:,(?:{_QUOTED}|{_UNQUOTED}))*$"
#: One field with its leading comma, over `"," + line` of a `STRICT_RECORD` line (group 1: the field).
FIELD = rf",({_QUOTED}|{_UNQUOTED})"

#: Strict value grammars (settled detail 6); the engines' own casts are more lenient (they accept
#: surrounding spaces or one-digit months), so a value must match these before it is cast.
INT64_RE = r"^[+-]?[0-9]+$"
#: decimal(10,2): at most 8 significant integer digits (leading zeros don't count), 1-2 places.
DECIMAL_10_2_RE = r"^[+-]?0*[0-9]{1,8}(?:\.[0-9]{1,2})?$"
DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def wrong_field_count(expected: int, found: int) -> str:
    return f"wrong field count: expected {expected}, found {found}"


def header_error(path: Path, expected: list[str], found: list[str]) -> str:
    return f"{path}: the header does not match the declared columns: expected {expected}, found {found}"


# --- The exceptional path: the host's record reader, in Python --------------------------------


@dataclass
class Record:
    """One record read by the state machine."""

    #: The physical line where it starts (1-based).
    line_no: int
    #: The record without its line terminator, line breaks of quoted fields included.
    raw_line: str
    #: The fields, unquoted and unescaped (raw, quotes included, where the quoting is malformed).
    fields: list[str]
    malformed: bool


class _NeedMore(Exception):
    pass


def _scan(data: bytes, eof: bool) -> tuple[int, int, int, bool, list[bytes]] | None:
    """The host's `scan` (host/src/ingest/csv.rs) on a record start: None for a blank line (or
    the end of the source), else (content_end, next, newlines, malformed, fields). Raises _NeedMore if `data` ends
    inside the record and more of the source follows."""
    n = len(data)
    if n == 0:
        if not eof:
            raise _NeedMore
        return None  # the end of the source: no record
    if data[:1] == b"\n" or data[:2] == b"\r\n":
        return None
    if data == b"\r":
        if not eof:
            raise _NeedMore
        return None
    fields: list[bytes] = []
    newlines = 0
    malformed = False
    i = 0
    while True:  # one field per iteration
        field_start = i
        if i < n and data[i] == 0x22:  # a quoted field
            i += 1
            content_start = i
            escaped = False
            garbage = False
            while True:
                quote = data.find(b'"', i)
                if quote == -1:
                    if not eof:
                        raise _NeedMore
                    # Unterminated: the field and the record run to the end of the source.
                    newlines += data.count(b"\n", i)
                    fields.append(data[field_start:n])
                    return n, n, newlines, True, fields
                newlines += data.count(b"\n", i, quote)
                i = quote
                after = data[i + 1 : i + 2]
                after2 = data[i + 2 : i + 3]
                content = data[content_start:i]
                if escaped:
                    content = content.replace(b'""', b'"')
                if after == b'"':
                    escaped = True
                    i += 2
                    continue
                if after == b",":
                    fields.append(content)
                    i += 2
                    break
                if after == b"\n":
                    fields.append(content)
                    return i + 1, i + 2, newlines + 1, malformed, fields
                if after == b"\r" and after2 == b"\n":
                    fields.append(content)
                    return i + 1, i + 3, newlines + 1, malformed, fields
                if after == b"" or (after == b"\r" and after2 == b""):
                    if not eof:
                        raise _NeedMore
                    fields.append(content)  # the end of the source (a stray CR is dropped)
                    return i + 1, n, newlines, malformed, fields
                # Garbage after the closing quote: carry on as an unquoted field.
                malformed = True
                garbage = True
                i += 1
                break
            if not garbage:
                continue  # the next field
        # An unquoted field, or the rest of a malformed quoted one.
        while True:
            if i >= n:
                if not eof:
                    raise _NeedMore
                end = n - 1 if n > field_start and data[n - 1] == 0x0D else n
                fields.append(data[field_start:end])
                return end, n, newlines, malformed, fields
            byte = data[i]
            if byte == 0x2C:
                fields.append(data[field_start:i])
                i += 1
                break
            if byte == 0x0A:
                end = i - 1 if i > field_start and data[i - 1] == 0x0D else i
                fields.append(data[field_start:end])
                return end, i + 1, newlines + 1, malformed, fields
            if byte == 0x22:
                malformed = True
            i += 1


def _decode(raw: bytes, path: Path, line_no: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SystemExit(f"{path}: line {line_no}: invalid UTF-8 is not supported by this comparison ({error})")


def exceptional_records(path: Path, suspicious: list[int]) -> tuple[list[Record], set[int]]:
    """Reads the records starting at the physical lines `suspicious` (sorted, 1-based; lines the
    fast path could not decide) with the host's state machine, following them onto the lines
    they span. Returns the records and every physical line they cover, which the fast path must
    then leave out. Every line before the first suspicious one must be a complete record or blank
    (what `STRICT_RECORD` guarantees), so each suspicious line not covered by an earlier record
    starts one."""
    if not suspicious:
        return [], set()
    lines = path.read_bytes().split(b"\n")
    if lines and lines[0].startswith(b"\xef\xbb\xbf"):
        lines[0] = lines[0][3:]
    records: list[Record] = []
    covered: set[int] = set()
    for line_no in suspicious:
        if line_no in covered:
            continue
        index = line_no - 1
        taken = 1
        while True:
            eof = index + taken >= len(lines)
            chunk = b"".join(line + b"\n" for line in lines[index : index + taken])
            if eof:
                chunk = chunk[:-1]  # the last piece of the split had no line feed
            try:
                scanned = _scan(chunk, eof)
            except _NeedMore:
                taken += 1
                continue
            break
        if scanned is None:
            continue  # a blank line
        content_end, after, newlines, malformed, fields = scanned
        # Physical lines the record spans: its line breaks, plus one if it ends without one (EOF).
        spanned = newlines if chunk[after - 1 : after] == b"\n" else newlines + 1
        covered.update(range(line_no, line_no + spanned))
        records.append(
            Record(
                line_no=line_no,
                raw_line=_decode(chunk[:content_end], path, line_no),
                fields=[_decode(field, path, line_no) for field in fields],
                malformed=malformed,
            )
        )
    return records, covered
