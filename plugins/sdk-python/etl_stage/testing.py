"""A native test harness: runs a :class:`~etl_stage.Stage` under plain CPython exactly as the host
drives it in the sandbox. Config goes in as JSON; inputs go in port by port in the order the
opened stage lists them, one push per batch, each as Arrow IPC bytes decoded by the SDK's own
reader; outputs come back as the IPC bytes the SDK's writer made. So a test exercises the codec
too, and with pyarrow inputs and :meth:`Run.table`, checks it against a second implementation.

    from etl_stage.testing import run

    result = run(HighValue, {"min_amount": "100"}, {"input": [table]})
    assert result.pydict("output")["order_id"] == ["o-2"]

Inputs may be pyarrow ``Table``\\ s (one push per record batch), ``RecordBatch``\\ es, SDK
:class:`~etl_stage.Batch`\\ es or ``{column: values}`` dicts (types inferred). pyarrow is needed
only for pyarrow inputs and :meth:`Run.table`.
"""

from __future__ import annotations

import datetime
import decimal
import json
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Type, Union

from . import _host
from ._driver import Driver
from ._host import RunContext
from .batch import Batch
from .ipc import read_stream, write_stream
from .stage import Ports, Stage

BatchLike = Any  # pyarrow.Table | pyarrow.RecordBatch | Batch | Mapping[str, list]
Inputs = Mapping[str, Union[BatchLike, Iterable[BatchLike]]]


@dataclass
class Run:
    """Everything one native run produced."""

    #: Per output port, the IPC stream of each call that emitted on it, in order.
    streams: Dict[str, List[bytes]] = field(default_factory=dict)
    metrics: Dict[str, int] = field(default_factory=dict)
    #: What the stage logged, as ``(level, message)``.
    logs: List[Tuple[str, str]] = field(default_factory=list)

    def batches(self, port: str) -> List[Batch]:
        """The batches emitted on ``port``, decoded by the SDK's reader (none if it emitted nothing)."""
        return list(chain.from_iterable(read_stream(s)[1] for s in self.streams.get(port, [])))

    def num_rows(self, port: str) -> int:
        return sum(b.num_rows for b in self.batches(port))

    def rows(self, port: str) -> List[Dict[str, Any]]:
        """The rows emitted on ``port`` as dicts of Python values."""
        return list(chain.from_iterable(b.to_pylist() for b in self.batches(port)))

    def pydict(self, port: str) -> Dict[str, List[Any]]:
        """The columns emitted on ``port`` as ``{name: values}``, all batches concatenated."""
        batches = self.batches(port)
        if not batches:
            return {}
        return {name: list(chain.from_iterable(b.column(name).to_pylist() for b in batches)) for name in batches[0].schema.names}

    def table(self, port: str):
        """The output of ``port`` read by pyarrow from the SDK's IPC bytes, as one ``pyarrow.Table``
        (``None`` if the port emitted nothing)."""
        import pyarrow as pa

        tables = [pa.ipc.open_stream(s).read_all() for s in self.streams.get(port, [])]
        return pa.concat_tables(tables) if tables else None

    def metric(self, name: str) -> Optional[int]:
        return self.metrics.get(name)


class Harness:
    """Step-by-step control over one native run, for tests that look between calls."""

    def __init__(
        self,
        stage: Type[Stage],
        config: Union[None, str, Mapping[str, Any]] = None,
        context: Optional[RunContext] = None,
    ) -> None:
        """Opens ``stage`` with ``config`` (a dict, a JSON string or ``None``) as if the host ran
        it in ``context`` (default: outside any run)."""
        self._host = _host.NativeHost(context)
        _host.install(self._host)
        self._run = Run()
        self._driver = Driver.open(stage, config_json(config))

    @property
    def ports(self) -> Ports:
        return self._driver.ports

    def push(self, port: str, batch: BatchLike) -> Dict[str, int]:
        """Pushes one batch on ``port``; returns the rows each output port received from it."""
        _host.install(self._host)
        return self._record(self._driver.push(port, to_ipc(batch)))

    def finish(self) -> Run:
        """Finishes the stage and returns the whole run."""
        _host.install(self._host)
        self._record(self._driver.finish())
        self._run.metrics = dict(self._driver.metrics())
        self._run.logs = list(self._host.records)
        return self._run

    def _record(self, outputs: List[Tuple[str, bytes]]) -> Dict[str, int]:
        counts = {}
        for port, stream in outputs:
            self._run.streams.setdefault(port, []).append(stream)
            counts[port] = sum(b.num_rows for b in read_stream(stream)[1])
        return counts


def run(
    stage: Type[Stage],
    config: Union[None, str, Mapping[str, Any]] = None,
    inputs: Optional[Inputs] = None,
    context: Optional[RunContext] = None,
) -> Run:
    """Opens ``stage`` with ``config``, feeds it ``inputs`` (``{port: batch or [batches]}``) the
    way the host does, finishes it and returns what it emitted. Stage errors are raised as the
    SDK's :class:`~etl_stage.StageError`\\ s (a bug in the stage as :class:`~etl_stage.Failed`,
    chained to the original exception)."""
    harness = Harness(stage, config, context)
    inputs = dict(inputs or {})
    order = [p.name for p in harness.ports.inputs]
    for port in sorted(inputs, key=lambda p: order.index(p) if p in order else len(order)):
        for batch in _as_list(inputs[port]):
            harness.push(port, batch)
    return harness.finish()


def _as_list(value: Any) -> List[BatchLike]:
    """The batches to push, one per push: a pyarrow Table counts as its record batches (an empty
    table as one zero-row batch)."""
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    out: List[BatchLike] = []
    for item in items:
        if _is_pyarrow_table(item):
            import pyarrow as pa

            out.extend(item.to_batches() or [pa.RecordBatch.from_pylist([], schema=item.schema)])
        else:
            out.append(item)
    return out


def _is_pyarrow_table(value: Any) -> bool:
    return type(value).__module__.startswith("pyarrow") and type(value).__name__ == "Table"


def to_ipc(batch: BatchLike) -> bytes:
    """One batch as the IPC stream the host would push: pyarrow data through pyarrow's writer,
    SDK batches and dicts through the SDK's."""
    if isinstance(batch, Batch):
        return write_stream(batch.schema, [batch])
    if isinstance(batch, Mapping):
        b = Batch.from_pydict(batch)
        return write_stream(b.schema, [b])
    module = type(batch).__module__
    if module.startswith("pyarrow"):
        import pyarrow as pa

        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            if isinstance(batch, pa.Table):
                writer.write_table(batch)
            else:
                writer.write_batch(batch)
        return sink.getvalue().to_pybytes()
    if isinstance(batch, (bytes, bytearray, memoryview)):
        return bytes(batch)
    raise TypeError(f"cannot push a {type(batch).__name__}: give a pyarrow Table or RecordBatch, a Batch or a dict")


def config_json(config: Union[None, str, Mapping[str, Any]]) -> str:
    """The JSON the host would hand ``open``: ``Decimal``\\ s and dates are written as strings."""
    if config is None:
        return ""
    if isinstance(config, str):
        return config

    def default(value: Any) -> Any:
        if isinstance(value, decimal.Decimal):
            return str(value)
        if isinstance(value, datetime.date):
            return value.isoformat()
        raise TypeError(f"config value {value!r} is not JSON")

    return json.dumps(config, default=default)
