"""A record batch: a schema and one :class:`~etl_stage.column.Column` per field, all of one length.

Batches are immutable; every operation (``filter``, ``select``, ``with_column``, ``slice``) returns
a new batch that shares the buffers it did not change.
"""

from __future__ import annotations

import builtins
from itertools import chain
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from .column import Column, Selection, infer_type
from .errors import ColumnNotFound
from .types import DataType, Field, Schema

SchemaLike = Union[Schema, Sequence[Field], Mapping[str, DataType]]


class Batch:
    """Rows of typed columns, as the host hands them to a stage and takes them back."""

    __slots__ = ("schema", "columns", "num_rows")

    def __init__(self, schema: SchemaLike, columns: Sequence[Column], num_rows: Optional[int] = None) -> None:
        schema = as_schema(schema)
        columns = tuple(columns)
        if len(columns) != len(schema):
            raise ValueError(f"{len(schema)} fields but {len(columns)} columns")
        if num_rows is None:
            num_rows = columns[0].length if columns else 0
        for field, column in zip(schema, columns):
            if column.type != field.type:
                raise TypeError(f"column `{field.name}` is declared {field.type} but holds {column.type}")
            if column.length != num_rows:
                raise ValueError(f"column `{field.name}` has {column.length} rows, the batch {num_rows}")
            if column.null_count and not field.nullable:
                # Arrow refuses such a batch; say which column before the host does.
                raise ValueError(f"column `{field.name}` is not nullable but holds {column.null_count} nulls")
        self.schema = schema
        self.columns = columns
        self.num_rows = num_rows

    @classmethod
    def from_pydict(cls, data: Mapping[str, Union[Iterable[Any], Column]], schema: Optional[SchemaLike] = None) -> "Batch":
        """A batch of ``{name: values}``. Types come from ``schema`` (a :class:`Schema`, a list of
        :class:`Field` or ``{name: type}``) where given, else from the values (see ``infer_type``).
        """
        declared = as_schema(schema) if schema is not None else None
        fields, columns = [], []
        for name, values in data.items():
            field = declared.field(name) if declared is not None and declared.position(name) is not None else None
            if isinstance(values, Column):
                column = values
            else:
                values = list(values)
                column = Column.from_values(values, field.type if field else infer_type(name, values))
            fields.append(field or Field(name, column.type))
            columns.append(column)
        if declared is not None:
            missing = [f.name for f in declared if f.name not in data]
            if missing:
                raise ValueError(f"no values for column(s) {', '.join(missing)} of the schema")
            order = {f.name: i for i, f in enumerate(declared)}
            pairs = sorted(zip(fields, columns), key=lambda p: order[p[0].name])
            fields, columns = [p[0] for p in pairs], [p[1] for p in pairs]
        num_rows = columns[0].length if columns else 0
        for field, column in zip(fields, columns):
            if column.length != num_rows:
                raise ValueError(f"column `{field.name}` has {column.length} values, `{fields[0].name}` {num_rows}")
        return cls(Schema(fields), columns, num_rows)

    # -- reading -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.num_rows

    @property
    def column_names(self) -> List[str]:
        return self.schema.names

    def column(self, key: Union[str, int]) -> Column:
        """The column at position ``key``, or the first one named ``key``."""
        if isinstance(key, int):
            return self.columns[key]
        i = self.schema.position(key)
        if i is None:
            raise ColumnNotFound(f"no column `{key}` (columns: {', '.join(self.schema.names) or 'none'})")
        return self.columns[i]

    __getitem__ = column

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.schema.position(name) is not None

    def rows(self, *names: str) -> Iterator[Tuple[Any, ...]]:
        """Tuples of the values of ``names`` (every column if none), row by row."""
        columns = [self.column(n) for n in names] if names else list(self.columns)
        return zip(*(c.to_pylist() for c in columns)) if columns else iter(() for _ in range(self.num_rows))

    def to_pydict(self) -> Dict[str, List[Any]]:
        return {f.name: c.to_pylist() for f, c in zip(self.schema, self.columns)}

    def to_pylist(self) -> List[Dict[str, Any]]:
        """The rows as dicts, for tests and small batches."""
        names = self.schema.names
        return [dict(zip(names, row)) for row in self.rows()]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Batch):
            return NotImplemented
        return self.schema == other.schema and self.num_rows == other.num_rows and self.columns == other.columns

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Batch({self.num_rows} rows, {self.schema})"

    def pretty(self, limit: int = 20) -> str:
        """The first ``limit`` rows as a text table, for test failures and logs."""
        names = self.schema.names
        rows = [["null" if v is None else str(v) for v in row] for _, row in zip(range(limit), self.rows())]
        widths = [builtins.max([len(n)] + [len(r[i]) for r in rows]) for i, n in enumerate(names)]
        line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
        out = [line, "| " + " | ".join(n.ljust(w) for n, w in zip(names, widths)) + " |", line]
        out += ["| " + " | ".join(v.ljust(w) for v, w in zip(r, widths)) + " |" for r in rows]
        out.append(line)
        if self.num_rows > limit:
            out.append(f"({self.num_rows - limit} more rows)")
        return "\n".join(out)

    # -- building ------------------------------------------------------------------------------

    def filter(self, mask: Union[Sequence[Any], Column]) -> "Batch":
        """The rows where ``mask`` is true (``None`` counts as false); see :func:`filter`."""
        return filter(self, mask)

    def slice(self, offset: int, length: Optional[int] = None) -> "Batch":
        """Rows ``offset .. offset + length`` (to the end if ``length`` is ``None``)."""
        length = self.num_rows - offset if length is None else length
        return Batch(self.schema, [c.slice(offset, length) for c in self.columns], length)

    def select(self, names: Iterable[str]) -> "Batch":
        """Only the columns ``names``, in that order."""
        names = list(names)
        return Batch(Schema(self.schema.field(n) for n in names), [self.column(n) for n in names], self.num_rows)

    def drop(self, names: Iterable[str]) -> "Batch":
        """Every column but ``names``."""
        names = set(names)
        unknown = names - set(self.schema.names)
        if unknown:
            raise KeyError(f"no column(s) {', '.join(sorted(unknown))} to drop")
        keep = [i for i, f in enumerate(self.schema) if f.name not in names]
        return Batch(Schema(self.schema[i] for i in keep), [self.columns[i] for i in keep], self.num_rows)

    def rename(self, names: Mapping[str, str]) -> "Batch":
        """The same columns, those in ``names`` renamed (``{"old": "new"}``)."""
        unknown = set(names) - set(self.schema.names)
        if unknown:
            raise KeyError(f"no column(s) {', '.join(sorted(unknown))} to rename")
        fields = [Field(names.get(f.name, f.name), f.type, f.nullable) for f in self.schema]
        return Batch(Schema(fields), self.columns, self.num_rows)

    def with_column(
        self,
        name: str,
        values: Union[Iterable[Any], Column],
        type: Optional[DataType] = None,
        nullable: bool = True,
    ) -> "Batch":
        """This batch with column ``name`` set to ``values``: replaced in place if it exists,
        appended otherwise. ``type`` defaults to the replaced column's, else to ``infer_type``.
        """
        position = self.schema.position(name)
        if isinstance(values, Column):
            column = values
        else:
            values = list(values)
            if type is None:
                type = self.schema[position].type if position is not None else infer_type(name, values)
            column = Column.from_values(values, type)
        if column.length != self.num_rows:
            raise ValueError(f"column `{name}` has {column.length} values, the batch {self.num_rows} rows")
        field = Field(name, column.type, nullable)
        fields, columns = list(self.schema), list(self.columns)
        if position is None:
            fields.append(field)
            columns.append(column)
        else:
            fields[position], columns[position] = field, column
        return Batch(Schema(fields), columns, self.num_rows)


def filter(batch: Batch, mask: Union[Sequence[Any], Column]) -> Batch:
    """The rows of ``batch`` where ``mask`` is true, in order. ``mask`` has one entry per row (a
    list of bools, or a bool :class:`Column`); ``None`` and false drop the row, like SQL's WHERE.
    Returns ``batch`` itself when every row is kept.
    """
    if isinstance(mask, Column):
        if mask.type.name != "bool":
            raise TypeError(f"a filter mask column must be bool, not {mask.type}")
        mask = mask.to_pylist()
    elif not isinstance(mask, (list, tuple)):
        mask = list(mask)
    if len(mask) != batch.num_rows:
        raise ValueError(f"the mask has {len(mask)} entries but the batch {batch.num_rows} rows")
    selection = Selection(mask)
    if selection.kept == batch.num_rows:
        return batch
    return Batch(batch.schema, [c.filter(selection) for c in batch.columns], selection.kept)


def as_schema(schema: SchemaLike) -> Schema:
    """A :class:`Schema` from a schema, a list of fields or ``{name: type}``."""
    if isinstance(schema, Schema):
        return schema
    if isinstance(schema, Mapping):
        return Schema(Field(name, type) for name, type in schema.items())
    return Schema(schema)


def concat(batches: Sequence[Batch]) -> Batch:
    """One batch of the rows of ``batches`` (all with the same schema), in order."""
    if not batches:
        raise ValueError("concat needs at least one batch (for its schema)")
    schema = batches[0].schema
    for b in batches[1:]:
        if b.schema != schema:
            raise ValueError(f"cannot concatenate batches of different schemas: {schema} and {b.schema}")
    columns = []
    for i, field in enumerate(schema):
        values = list(chain.from_iterable(b.columns[i].to_pylist() for b in batches))
        columns.append(Column.from_values(values, field.type))
    return Batch(schema, columns, sum(b.num_rows for b in batches))
