"""Drives a :class:`~etl_stage.Stage` through one run, the same way inside the sandbox and in
native tests: config parsing, port checks, IPC decoding of inputs and encoding of outputs, one
schema per output port, and mapping of every exception to the WIT error variant.
"""

from __future__ import annotations

import os
import traceback
from typing import Callable, Dict, List, Tuple, Type, TypeVar

from . import config as config_module
from . import log
from .batch import Batch
from .errors import Failed, InvalidInput, IpcError, StageError
from .ipc import read_stream, write_stream
from .stage import Ports, Stage, as_ports, check_metric_name, check_metric_value
from .types import Schema

T = TypeVar("T")
_SDK_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class Driver:
    """One opened stage instance."""

    def __init__(self, stage: Stage, ports: Ports) -> None:
        self.stage = stage
        self.ports = ports
        self._schemas: Dict[str, Schema] = {}

    @classmethod
    def open(cls, stage_class: Type[Stage], config_json: str) -> "Driver":
        """Parses ``config_json``, makes and opens the stage, refuses unread config keys."""
        def open_stage() -> Driver:
            config = config_module.parse(config_json)
            stage = stage_class()
            stage.open(config)
            config.check_unknown()
            ports = stage.ports()
            if not isinstance(ports, Ports):
                raise Failed(f"{stage_class.__name__}.ports() returned {type(ports).__name__}, not Ports")
            ports = Ports(as_ports(ports.inputs, "input"), as_ports(ports.outputs, "output"))
            return cls(stage, ports)

        return guarded("open", open_stage)

    def push(self, port: str, ipc: bytes) -> List[Tuple[str, bytes]]:
        """Decodes the IPC stream that arrived on ``port``, pushes each batch, returns the encoded
        outputs grouped by port."""
        if not self.ports.has_input(port):
            declared = ", ".join(p.name for p in self.ports.inputs) or "none"
            raise InvalidInput(f"no input port `{port}` (declared: {declared})")
        try:
            _, batches = read_stream(ipc)
        except IpcError as error:
            raise InvalidInput(f"port `{port}`: undecodable Arrow IPC: {error}") from None
        return self.push_batches(port, batches)

    def push_batches(self, port: str, batches: List[Batch]) -> List[Tuple[str, bytes]]:
        for batch in batches:
            try:
                guarded("push", lambda: self.stage.push(port, batch))
            except InvalidInput as error:
                raise InvalidInput(f"port `{port}`: {error.message}") from error
        return self._collect("push")

    def finish(self) -> List[Tuple[str, bytes]]:
        guarded("finish", self.stage.finish)
        return self._collect("finish")

    def metrics(self) -> List[Tuple[str, int]]:
        def read() -> List[Tuple[str, int]]:
            counters = self.stage.metrics()
            items = counters.items() if isinstance(counters, dict) else counters
            out = []
            for name, value in items:
                check_metric_name(name)
                out.append((name, check_metric_value(name, value)))
            return out

        return guarded("metrics", read)

    def _collect(self, call: str) -> List[Tuple[str, bytes]]:
        """The batches emitted during one call, one IPC stream per port, in first-emission order."""
        grouped: Dict[str, List[Batch]] = {}
        for port, batch in self.stage._take_emitted():
            if port not in grouped:
                if not self.ports.has_output(port):
                    declared = ", ".join(p.name for p in self.ports.outputs) or "none"
                    raise Failed(f"{call}: the stage emitted on undeclared output port `{port}` (declared: {declared})")
                grouped[port] = []
            schema = self._schemas.setdefault(port, batch.schema)
            if batch.schema != schema:
                raise Failed(f"{call}: output port `{port}` changed schema between batches: {schema} then {batch.schema}")
            grouped[port].append(batch)
        out = []
        for port, batches in grouped.items():
            try:
                out.append((port, write_stream(batches[0].schema, batches)))
            except IpcError as error:
                raise Failed(f"{call}: output port `{port}`: cannot encode batches: {error}") from None
        return out


def guarded(call: str, body: Callable[[], T]) -> T:
    """Runs ``body``; a :class:`StageError` passes, any other exception becomes :class:`Failed`
    naming the call, the exception and where it was raised, with the traceback in the log."""
    try:
        return body()
    except StageError:
        raise
    except Exception as error:  # the stage's bug, reported rather than trapping the sandbox
        frames = traceback.extract_tb(error.__traceback__)
        # The stage's own line that led to it, rather than the SDK's that raised it.
        ours = [f for f in frames if not f.filename.startswith(_SDK_DIR)] or frames
        where = f" (at {_short(ours[-1].filename)}:{ours[-1].lineno})" if ours else ""
        log.error(f"{call} raised:\n" + "".join(traceback.format_exception(error)).rstrip())
        raise Failed(f"{call}: {type(error).__name__}: {error}{where}") from error


def _short(filename: str) -> str:
    """A frame's file without the directories the build machine or sandbox put in front."""
    return filename.replace("\\", "/").rsplit("/", 1)[-1]
