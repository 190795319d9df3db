"""The Arrow data types the SDK reads and writes, and the schema of a batch.

Names follow pyarrow (``int64``, ``decimal128(10, 2)``, ``date32``), so a type reads the same in a
test, in an error message and in ``host plugin inspect``'s neighbourhood.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Sequence, Union

# The fixed-width primitive types: name -> (bytes per value, struct/memoryview format).
_FIXED = {
    "int8": (1, "b"),
    "int16": (2, "h"),
    "int32": (4, "i"),
    "int64": (8, "q"),
    "uint8": (1, "B"),
    "uint16": (2, "H"),
    "uint32": (4, "I"),
    "uint64": (8, "Q"),
    "float32": (4, "f"),
    "float64": (8, "d"),
    "date32": (4, "i"),
}

_INTEGERS = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}

#: Every type name the SDK supports, for error messages.
SUPPORTED = (
    "int8, int16, int32, int64, uint8, uint16, uint32, uint64, float32, float64, bool, "
    "utf8, large_utf8, date32, decimal128(p, s)"
)


@dataclass(frozen=True)
class DataType:
    """One Arrow type. Build them with the module's constants and :func:`decimal128`."""

    name: str
    #: decimal128 only: total significant digits (1..38) and digits after the point (0..precision).
    precision: int = 0
    scale: int = 0

    def __post_init__(self) -> None:
        if self.name not in _FIXED and self.name not in ("bool", "utf8", "large_utf8", "decimal128"):
            raise ValueError(f"unsupported type `{self.name}` (supported: {SUPPORTED})")
        if self.name == "decimal128":
            if not 1 <= self.precision <= 38:
                raise ValueError(f"decimal128 precision {self.precision} is outside 1..=38")
            if not 0 <= self.scale <= self.precision:
                raise ValueError(f"decimal128 scale {self.scale} is outside 0..={self.precision}")

    def __str__(self) -> str:
        if self.name == "decimal128":
            return f"decimal128({self.precision}, {self.scale})"
        return self.name

    def __repr__(self) -> str:
        return f"DataType({self})"

    @property
    def byte_width(self) -> int:
        """Bytes per value in the data buffer; 0 for bool (bits) and the string types."""
        if self.name == "decimal128":
            return 16
        return _FIXED[self.name][0] if self.name in _FIXED else 0

    @property
    def format(self) -> str:
        """The ``struct``/``memoryview.cast`` format of one value of a fixed-width type."""
        return _FIXED[self.name][1]

    @property
    def is_fixed(self) -> bool:
        """Whether values are ``byte_width`` bytes each (every type but bool and the strings)."""
        return self.name in _FIXED or self.name == "decimal128"

    @property
    def is_integer(self) -> bool:
        return self.name in _INTEGERS

    @property
    def is_string(self) -> bool:
        return self.name in ("utf8", "large_utf8")

    @property
    def is_decimal(self) -> bool:
        return self.name == "decimal128"


int8 = DataType("int8")
int16 = DataType("int16")
int32 = DataType("int32")
int64 = DataType("int64")
uint8 = DataType("uint8")
uint16 = DataType("uint16")
uint32 = DataType("uint32")
uint64 = DataType("uint64")
float32 = DataType("float32")
float64 = DataType("float64")
bool_ = DataType("bool")
utf8 = DataType("utf8")
#: Alias of :data:`utf8` (Arrow's name for it is Utf8; pyarrow calls it ``string``).
string = utf8
large_utf8 = DataType("large_utf8")
date32 = DataType("date32")


def decimal128(precision: int, scale: int) -> DataType:
    """A 128-bit decimal with ``precision`` digits, ``scale`` of them after the point."""
    return DataType("decimal128", precision, scale)


@dataclass(frozen=True)
class Field:
    """A column's name, type and whether it may hold nulls."""

    name: str
    type: DataType
    nullable: bool = True

    def __str__(self) -> str:
        return f"{self.name}: {self.type}{'' if self.nullable else ' not null'}"


class Schema(Sequence[Field]):
    """The ordered fields of a batch. Compares equal to another schema with the same fields."""

    __slots__ = ("_fields", "_index")

    def __init__(self, fields: Iterable[Field]) -> None:
        self._fields = tuple(fields)
        self._index = {}
        for i, field in enumerate(self._fields):
            if not isinstance(field, Field):
                raise TypeError(f"schema fields must be Field, got {type(field).__name__}")
            # Arrow allows repeated names; lookups by name then find the first, like pyarrow.
            self._index.setdefault(field.name, i)

    def __getitem__(self, index):  # type: ignore[override]
        return self._fields[index]

    def __len__(self) -> int:
        return len(self._fields)

    def __iter__(self) -> Iterator[Field]:
        return iter(self._fields)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and self._fields == other._fields

    def __hash__(self) -> int:
        return hash(self._fields)

    def __repr__(self) -> str:
        return f"Schema({self})"

    def __str__(self) -> str:
        return "[" + ", ".join(str(f) for f in self._fields) + "]"

    @property
    def names(self) -> list[str]:
        return [f.name for f in self._fields]

    def position(self, name: str) -> Optional[int]:
        """The position of the first column called ``name``, or ``None``."""
        return self._index.get(name)

    def field(self, key: Union[str, int]) -> Field:
        """The field at position ``key``, or the first one named ``key``."""
        if isinstance(key, int):
            return self._fields[key]
        i = self._index.get(key)
        if i is None:
            raise KeyError(f"no column `{key}` (columns: {', '.join(self.names) or 'none'})")
        return self._fields[i]
