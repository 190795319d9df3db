"""Write a sandboxed pipeline stage in Python: one :class:`Stage` subclass, one :func:`export`.

The SDK owns the componentize-py glue, the Arrow IPC framing on both sides of the sandbox
boundary, config parsing (with errors that name the key) and error mapping. The same class runs
natively under :mod:`etl_stage.testing`, so a plugin is tested with plain pytest::

    from etl_stage import Stage, export, filter

    class HighValue(Stage):
        \"\"\"Keeps the order lines worth more than `min_amount` (quantity * unit_price).\"\"\"
        name = "high-value"
        inputs = {"input": "order lines: quantity int64, unit_price decimal"}
        outputs = {"output": "the lines worth more than min_amount"}
        config_help = "min_amount: decimal, required"

        def open(self, config):
            self.min_amount = config.decimal("min_amount")

        def push(self, port, batch):
            rows = zip(batch["quantity"], batch["unit_price"])
            keep = [q is not None and p is not None and q * p > self.min_amount for q, p in rows]
            self.emit("output", filter(batch, keep))

    export(HighValue)
"""

from . import context, log, types
from ._host import RunContext
from .batch import Batch, concat, filter
from .column import Column
from .config import Config
from .errors import ColumnNotFound, Failed, InvalidConfig, InvalidInput, IpcError, StageError
from .stage import Info, Port, Ports, Stage, export
from .types import DataType, Field, Schema, decimal128

#: The version of the ``etl:stage`` WIT contract this SDK builds plugins against.
CONTRACT_VERSION = "0.2.0"

__version__ = "0.1.0"

__all__ = [
    "Batch",
    "Column",
    "ColumnNotFound",
    "Config",
    "CONTRACT_VERSION",
    "DataType",
    "Failed",
    "Field",
    "Info",
    "InvalidConfig",
    "InvalidInput",
    "IpcError",
    "Port",
    "Ports",
    "RunContext",
    "Schema",
    "Stage",
    "StageError",
    "concat",
    "context",
    "decimal128",
    "export",
    "filter",
    "log",
    "types",
]
