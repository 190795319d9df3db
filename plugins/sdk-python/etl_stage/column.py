"""One column of a batch: an Arrow array kept as its buffers, read as Python values on demand.

A decoded column borrows the bytes the host sent (no copy). Values come out as Python objects:
``int``, ``float``, ``bool``, ``str``, ``decimal.Decimal`` (decimal128, with exactly ``scale``
digits after the point), ``datetime.date`` (date32) and ``None`` for a null. They are decoded once
per column and cached, so reading a column twice costs nothing more.
"""

from __future__ import annotations

import datetime
import decimal
import re
import sys
from array import array
from itertools import accumulate, compress, islice, repeat
from operator import methodcaller, not_, rshift, sub
from typing import Any, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from . import types as t
from ._bits import pack_bits, unpack_bits
from .types import DataType

if sys.byteorder != "little":  # pragma: no cover - wasm32 and every supported host are little-endian
    raise ImportError("etl_stage reads Arrow buffers in place and needs a little-endian machine")

# Wide enough for any decimal128 (38 digits) scaled either way, so conversions never round.
_EXACT = decimal.Context(prec=100, Emin=-999999, Emax=999999)
_EPOCH = datetime.date(1970, 1, 1).toordinal()
_utf8 = bytes.decode  # utf-8 is its default
# Runs of kept rows in a mask turned into bytes (1 = keep).
_RUNS = re.compile(b"\x01+")
_span = methodcaller("span")
# Integer formats to move fixed-width values bit for bit.
_LANES = {1: "B", 2: "H", 4: "I", 8: "Q"}
_MASK64 = (1 << 64) - 1
_INT_RANGES = {
    "int8": (-(1 << 7), (1 << 7) - 1),
    "int16": (-(1 << 15), (1 << 15) - 1),
    "int32": (-(1 << 31), (1 << 31) - 1),
    "int64": (-(1 << 63), (1 << 63) - 1),
    "uint8": (0, (1 << 8) - 1),
    "uint16": (0, (1 << 16) - 1),
    "uint32": (0, (1 << 32) - 1),
    "uint64": (0, (1 << 64) - 1),
}
#: The largest offset a utf8 (int32 offsets) column can hold.
_UTF8_MAX = (1 << 31) - 1


class Column(Sequence[Any]):
    """An immutable Arrow array of one supported type.

    Build one from Python values with :meth:`from_values`; read it with iteration, indexing or
    :meth:`to_pylist`. ``validity`` is a bitmap (bit ``i`` set: row ``i`` is not null) or ``None``
    when there are no nulls; ``data`` holds the values (bits for bool, bytes for the strings);
    ``offsets`` is the string types' offsets buffer.
    """

    __slots__ = ("type", "length", "null_count", "validity", "data", "offsets", "_values")

    def __init__(
        self,
        type: DataType,
        length: int,
        data,
        validity=None,
        null_count: int = 0,
        offsets=None,
    ) -> None:
        if null_count and validity is None:
            raise ValueError(f"a {type} column with {null_count} nulls needs a validity bitmap")
        self.type = type
        self.length = length
        self.null_count = null_count
        # No nulls, no bitmap: readers and the IPC writer then skip it.
        self.validity = validity if null_count else None
        self.data = data
        self.offsets = offsets
        self._values: Optional[list] = None

    # -- building ------------------------------------------------------------------------------

    @classmethod
    def from_values(cls, values: Iterable[Any], type: DataType) -> "Column":
        """A column of ``type`` holding ``values`` (``None`` for a null).

        Refuses a value that does not fit the type exactly (an int out of range, a decimal with
        more digits than the type keeps, a float for a decimal) with a ``ValueError`` or
        ``TypeError`` naming the row.
        """
        values = values if isinstance(values, list) else list(values)
        n = len(values)
        valid = [v is not None for v in values]
        null_count = n - sum(valid)
        validity = pack_bits(valid) if null_count else None
        name = type.name
        if type.is_string:
            return cls._strings(values, type, validity, null_count)
        if name == "bool":
            for i, v in enumerate(values):
                if v is not None and not isinstance(v, bool):
                    raise TypeError(f"{type} column: row {i} is {_show(v)}, not a bool")
            return cls(type, n, pack_bits([v is True for v in values]), validity, null_count)
        if name == "decimal128":
            units = [0 if v is None else _to_units(v, type, i) for i, v in enumerate(values)]
            data = b"".join([u.to_bytes(16, "little", signed=True) for u in units])
            return cls(type, n, data, validity, null_count)
        if name == "date32":
            days = [0 if v is None else _to_days(v, i) for i, v in enumerate(values)]
            return cls(type, n, array("i", days).tobytes(), validity, null_count)
        if type.is_integer:
            low, high = _INT_RANGES[name]
            for i, v in enumerate(values):
                if v is None:
                    continue
                if not isinstance(v, int) or isinstance(v, bool):
                    raise TypeError(f"{type} column: row {i} is {_show(v)}, not an int")
                if not low <= v <= high:
                    raise ValueError(f"{type} column: row {i} is {v}, outside {low}..={high}")
            return cls(type, n, array(type.format, [0 if v is None else v for v in values]).tobytes(), validity, null_count)
        # float32 / float64
        for i, v in enumerate(values):
            if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool)):
                raise TypeError(f"{type} column: row {i} is {_show(v)}, not a float")
        return cls(type, n, array(type.format, [0.0 if v is None else float(v) for v in values]).tobytes(), validity, null_count)

    @classmethod
    def _strings(cls, values: list, type: DataType, validity, null_count: int) -> "Column":
        encoded = []
        for i, v in enumerate(values):
            if v is None:
                encoded.append(b"")
            elif isinstance(v, str):
                encoded.append(v.encode("utf-8"))
            else:
                raise TypeError(f"{type} column: row {i} is {_show(v)}, not a str")
        offsets = [0]
        total = 0
        for b in encoded:
            total += len(b)
            offsets.append(total)
        if type.name == "utf8" and total > _UTF8_MAX:
            raise ValueError(f"utf8 column holds {total} bytes, more than its int32 offsets reach; use large_utf8")
        code = "i" if type.name == "utf8" else "q"
        return cls(type, len(values), b"".join(encoded), validity, null_count, array(code, offsets).tobytes())

    # -- reading -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[Any]:
        return iter(self.to_pylist())

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            start, stop, step = index.indices(self.length)
            if step != 1:
                raise ValueError("a column slice must be contiguous (step 1)")
            return self.slice(start, max(0, stop - start))
        return self.to_pylist()[index]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Column):
            return NotImplemented
        return self.type == other.type and self.to_pylist() == other.to_pylist()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        values = self.to_pylist()
        shown = ", ".join(repr(v) for v in values[:10]) + (", ..." if len(values) > 10 else "")
        return f"Column({self.type}, [{shown}])"

    def to_pylist(self) -> List[Any]:
        """The values as Python objects, ``None`` for nulls. Decoded once, then cached."""
        if self._values is None:
            values = self._decode()
            if self.null_count:
                for i in compress(range(self.length), map(not_, self.is_valid())):
                    values[i] = None
            self._values = values
        return self._values

    def is_valid(self) -> List[bool]:
        """One bool per row: ``False`` where the row is null."""
        if self.validity is None:
            return [True] * self.length
        return unpack_bits(self.validity, self.length)

    def _decode(self) -> list:
        """Every value, with whatever a null slot holds (replaced by ``None`` afterwards).
        Loops run in C (map, compress, list slicing) where they can: this is the hot path."""
        n = self.length
        name = self.type.name
        if n == 0:
            return []
        if name == "bool":
            return unpack_bits(self.data, n)
        if self.type.is_string:
            return self._decode_strings()
        if name == "decimal128":
            return _decimals(self.decimal_units(), self.type.scale)
        width = self.type.byte_width
        values = memoryview(self.data)[: n * width].cast(self.type.format).tolist()
        if name == "date32":
            try:
                return list(map(_Memo(_date_from_days).__getitem__, values))
            except (ValueError, OverflowError):
                return self._decode_valid_only(values, _date_from_days)
        return values

    def _decode_valid_only(self, raw: list, convert) -> list:
        """The slow path, when some slot does not convert: a null slot may hold anything, so
        only a valid row's value is an error."""
        out = []
        for value, ok in zip(raw, self.is_valid()):
            if not ok:
                out.append(None)
                continue
            try:
                out.append(convert(value))
            except (ValueError, OverflowError, UnicodeDecodeError) as error:
                if self.type.name == "date32":
                    raise ValueError(
                        f"date32 value {value} (days since 1970-01-01) is outside the years 1..9999 Python dates reach"
                    ) from None
                raise ValueError(f"{self.type} column holds invalid UTF-8: {error}") from None
        return out

    def decimal_units(self) -> List[int]:
        """decimal128 only: the unscaled integers (``12.50`` in ``decimal128(10, 2)`` is 1250),
        nulls included as whatever their slot holds. Faster than Decimals for arithmetic on many rows.
        """
        if not self.type.is_decimal:
            raise TypeError(f"decimal_units() needs a decimal128 column, not {self.type}")
        halves = memoryview(self.data)[: self.length * 16].cast("q").tolist()
        low, high = halves[0::2], halves[1::2]
        if high == list(map(rshift, low, repeat(63, len(low)))):
            return low  # every value fits in 64 bits: the high half only extends the sign
        return [(hi << 64) + (lo & _MASK64) for lo, hi in zip(low, high)]

    def _offsets(self) -> List[int]:
        """The string types' ``length + 1`` offsets, as stored (the first need not be 0)."""
        code, width = ("i", 4) if self.type.name == "utf8" else ("q", 8)
        return memoryview(self.offsets)[: (self.length + 1) * width].cast(code).tolist()

    def _decode_strings(self) -> List[str]:
        offsets = self._offsets()
        first, last = offsets[0], offsets[-1]
        raw = bytes(memoryview(self.data)[first:last])
        if first:
            offsets = [o - first for o in offsets]
        pieces = map(slice, offsets, islice(offsets, 1, None))
        if raw.isascii():
            # Byte offsets are character offsets: decode once, slice the str.
            return list(map(raw.decode("ascii").__getitem__, pieces))
        chunks = list(map(raw.__getitem__, pieces))
        try:
            return list(map(_utf8, chunks))
        except UnicodeDecodeError:
            return self._decode_valid_only(chunks, _utf8)

    # -- selecting -----------------------------------------------------------------------------

    def slice(self, offset: int, length: int) -> "Column":
        """Rows ``offset .. offset + length``, sharing this column's buffers where the layout
        allows (everything but bitmaps that start mid-byte)."""
        if offset < 0 or length < 0 or offset + length > self.length:
            raise IndexError(f"slice {offset}..{offset + length} is outside a column of {self.length} rows")
        if offset == 0 and length == self.length:
            return self
        validity, null_count = None, 0
        if self.null_count:
            valid = self.is_valid()[offset : offset + length]
            null_count = length - sum(valid)
            validity = pack_bits(valid) if null_count else None
        offsets = None
        name = self.type.name
        if name == "bool":
            data = pack_bits(unpack_bits(self.data, length, offset))
        elif self.type.is_string:
            width = 4 if name == "utf8" else 8
            data = self.data  # offsets may start past 0: readers and the writer allow it
            offsets = memoryview(self.offsets)[offset * width : (offset + length + 1) * width]
        else:
            width = self.type.byte_width
            data = memoryview(self.data)[offset * width : (offset + length) * width]
        column = Column(self.type, length, data, validity, null_count, offsets)
        if self._values is not None:
            column._values = self._values[offset : offset + length]
        return column

    def filter(self, mask: Union[Sequence[Any], "Selection"]) -> "Column":
        """The rows where ``mask`` (one entry per row, or a :class:`Selection`) is truthy."""
        selection = mask if isinstance(mask, Selection) else Selection(mask)
        kept = selection.kept
        if kept == self.length:
            return self
        mask = selection.mask
        validity, null_count = None, 0
        if self.null_count:
            valid = list(compress(self.is_valid(), mask))
            null_count = kept - sum(valid)
            validity = pack_bits(valid) if null_count else None
        offsets = None
        if self.type.name == "bool":
            data = pack_bits(list(compress(unpack_bits(self.data, self.length), mask)))
        elif self.type.is_string:
            data, offsets = self._filter_strings(selection)
        else:
            data = selection.gather(self.data, self.type.byte_width)
        column = Column(self.type, kept, data, validity, null_count, offsets)
        if self._values is not None:
            column._values = list(compress(self._values, mask))
        return column

    def _filter_strings(self, selection: "Selection"):
        offsets = self._offsets()
        view = memoryview(self.data)
        starts, ends = selection.runs
        byte_starts = map(offsets.__getitem__, starts)
        byte_ends = map(offsets.__getitem__, ends)
        data = b"".join(map(view.__getitem__, map(slice, byte_starts, byte_ends)))
        lengths = compress(map(sub, islice(offsets, 1, None), offsets), selection.mask)
        code = "i" if self.type.name == "utf8" else "q"
        return data, array(code, accumulate(lengths, initial=0)).tobytes()


class Selection:
    """The rows a mask keeps, worked out once for all the columns of a batch: the mask, how many
    rows it keeps and, on demand, the runs of consecutive kept rows."""

    __slots__ = ("mask", "kept", "_runs")

    def __init__(self, mask: Sequence[Any]) -> None:
        self.mask = mask
        self.kept = sum(map(bool, mask))
        self._runs: Optional[Tuple[Sequence[int], Sequence[int]]] = None

    @property
    def runs(self) -> Tuple[Sequence[int], Sequence[int]]:
        """The first and end rows of each run of kept rows (found by a regex over the mask as
        bytes, so the scan runs in C)."""
        if self._runs is None:
            spans = list(map(_span, _RUNS.finditer(bytes(map(bool, self.mask)))))
            self._runs = tuple(zip(*spans)) if spans else ((), ())  # type: ignore[assignment]
        return self._runs  # type: ignore[return-value]

    def gather(self, data, width: int) -> bytes:
        """The ``width``-byte values of the kept rows, bit for bit (NaN payloads included):
        copied a run at a time when runs are long, else value by value as same-width integers."""
        n = len(self.mask)
        view = memoryview(data)[: n * width]
        starts, ends = self.runs
        if len(starts) * 8 <= self.kept:  # runs of 8 rows or more on average
            return b"".join(map(view.__getitem__, map(slice, map(width.__mul__, starts), map(width.__mul__, ends))))
        lanes = _LANES.get(width)
        if lanes is not None:
            return array(lanes, compress(view.cast(lanes), self.mask)).tobytes()
        halves = view.cast("Q")  # decimal128: two 64-bit halves per value
        out = [0] * (2 * self.kept)
        out[0::2] = compress(halves[0::2], self.mask)
        out[1::2] = compress(halves[1::2], self.mask)
        return array("Q", out).tobytes()


def _show(value: Any) -> str:
    text = repr(value)
    return (text[:60] + "...") if len(text) > 60 else text


class _Memo(dict):
    """Values made once per distinct raw value while decoding a column: prices, quantities and
    dates repeat, and a dict hit (run in C by ``map``) costs far less than a new object."""

    __slots__ = ("make",)

    def __init__(self, make) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, key):
        value = self[key] = self.make(key)
        return value


def _date_from_days(days: int) -> datetime.date:
    return datetime.date.fromordinal(_EPOCH + days)


def _decimals(units: List[int], scale: int) -> List[decimal.Decimal]:
    """Decimals with exactly ``scale`` digits after the point, never rounded."""
    exponent = -scale
    make = decimal.Decimal if scale == 0 else (lambda u: decimal.Decimal(u).scaleb(exponent, _EXACT))
    return list(map(_Memo(make).__getitem__, units))


def _to_units(value: Any, type: DataType, row: int) -> int:
    """The unscaled integer of ``value`` in ``type``, refusing anything that would be rounded."""
    if isinstance(value, bool) or not isinstance(value, (int, decimal.Decimal)):
        hint = " (floats are inexact: use decimal.Decimal or a str)" if isinstance(value, float) else ""
        raise TypeError(f"{type} column: row {row} is {_show(value)}, not a Decimal or int{hint}")
    if isinstance(value, int):
        units = value * 10**type.scale
    else:
        if not value.is_finite():
            raise ValueError(f"{type} column: row {row} is {value}, not a finite number")
        scaled = value.scaleb(type.scale, _EXACT)
        if scaled != scaled.to_integral_value(context=_EXACT):
            raise ValueError(f"{type} column: row {row} is {value}, with more than {type.scale} digits after the point")
        units = int(scaled)
    if abs(units) >= 10**type.precision:
        raise ValueError(f"{type} column: row {row} is {value}, more than {type.precision} digits")
    return units


def _to_days(value: Any, row: int) -> int:
    if isinstance(value, datetime.datetime) or not isinstance(value, datetime.date):
        raise TypeError(f"date32 column: row {row} is {_show(value)}, not a datetime.date")
    return value.toordinal() - _EPOCH


def infer_type(name: str, values: Sequence[Any]) -> DataType:
    """The type of a column of Python ``values``: the first non-null value decides, and a
    decimal gets precision 38 and the largest scale among the values."""
    sample = next((v for v in values if v is not None), None)
    if sample is None:
        raise ValueError(f"cannot infer the type of column `{name}`: every value is null (give its type)")
    if isinstance(sample, bool):
        return t.bool_
    if isinstance(sample, int):
        return t.int64
    if isinstance(sample, float):
        return t.float64
    if isinstance(sample, str):
        return t.utf8
    if isinstance(sample, decimal.Decimal):
        scale = max((-v.as_tuple().exponent for v in values if isinstance(v, decimal.Decimal) and v.is_finite()), default=0)
        return t.decimal128(38, max(0, min(38, scale)))
    if isinstance(sample, datetime.date) and not isinstance(sample, datetime.datetime):
        return t.date32
    raise TypeError(f"cannot infer an Arrow type for column `{name}` from {type(sample).__name__} values (give its type)")
