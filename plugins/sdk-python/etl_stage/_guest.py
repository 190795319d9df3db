"""The WIT glue inside the sandbox: adapts the exported :class:`~etl_stage.Stage` to the
``etl:stage/stage`` interface as componentize-py binds it.

Only importable inside a component build (it imports the ``wit_world`` bindings componentize-py
generates). componentize-py looks for the interface's functions on a class named after the
interface in the app module, and for its resource in a module named after the interface; the two
files in ``_componentize/`` re-export :class:`EtlStageExports` and :class:`Instance` from here
under those names (build.sh maps the interface to ``etl_stage_exports``).
"""

from __future__ import annotations

import io
import sys
from typing import List

from componentize_py_types import Err
from wit_world.imports import context as wit_context
from wit_world.imports import log as wit_log
from wit_world.imports import types as wit

from . import _host
from ._driver import Driver
from ._host import RunContext
from .errors import Failed, StageError
from .stage import Port, exported

_LEVELS = {
    "trace": wit_log.Level.TRACE,
    "debug": wit_log.Level.DEBUG,
    "info": wit_log.Level.INFO,
    "warn": wit_log.Level.WARN,
    "error": wit_log.Level.ERROR,
}


class WitHost:
    """Log records and the run context through the WIT imports."""

    def log(self, level: str, message: str) -> None:
        wit_log.log(_LEVELS[level], message)

    def current_run(self) -> RunContext:
        run = wit_context.current_run()
        return RunContext(run_id=run.id, logical_date=run.logical_date, stage=run.stage, attempt=run.attempt)


class _LogLines(io.TextIOBase):
    """A text stream that sends each line written to it to the host's log (the sandbox has no
    stdout: ``print`` would otherwise vanish)."""

    def __init__(self, level: str) -> None:
        self._level = level
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        for line in lines:
            _host.current().log(self._level, line)
        return len(text)

    def flush(self) -> None:
        if self._pending:
            _host.current().log(self._level, self._pending)
            self._pending = ""


def _install_runtime() -> None:
    """Called on the first ``open`` of a run, not at import: importing happens at build time
    (componentize-py pre-initializes the app), where the WIT imports are not there to call."""
    if not isinstance(_host.current(), WitHost):
        _host.install(WitHost())
        sys.stdout = _LogLines("info")
        sys.stderr = _LogLines("warn")


def _err(error: StageError) -> Err:
    case = {"invalid-config": wit.Error_InvalidConfig, "invalid-input": wit.Error_InvalidInput}.get(error.kind, wit.Error_Failed)
    return Err(case(error.message))


def _internal(call: str, error: Exception) -> Err:
    return _err(Failed(f"{call}: internal error in the etl_stage SDK (this is a bug): {type(error).__name__}: {error}"))


def _ports(ports: List[Port]) -> List[wit.Port]:
    return [wit.Port(name=p.name, description=p.description) for p in ports]


class EtlStageExports:
    """The interface's free functions."""

    def describe(self) -> wit.Info:
        info = exported().info()
        return wit.Info(
            name=info.name,
            version=info.version,
            description=info.description,
            inputs=_ports(info.inputs),
            outputs=_ports(info.outputs),
            config_help=info.config_help,
        )


class Instance:
    """The ``instance`` resource: one run of the stage."""

    def __init__(self, driver: Driver) -> None:
        self._driver = driver

    @classmethod
    def open(cls, config: str) -> "Instance":
        _install_runtime()
        try:
            return cls(Driver.open(exported(), config))
        except StageError as error:
            raise _err(error) from None
        except Exception as error:
            raise _internal("open", error) from None

    def ports(self) -> wit.Ports:
        ports = self._driver.ports
        return wit.Ports(inputs=_ports(ports.inputs), outputs=_ports(ports.outputs))

    def push(self, port: str, batch: bytes) -> List[wit.Output]:
        try:
            outputs = self._driver.push(port, batch)
        except StageError as error:
            raise _err(error) from None
        except Exception as error:
            raise _internal("push", error) from None
        return [wit.Output(port=p, batch=b) for p, b in outputs]

    def finish(self) -> List[wit.Output]:
        try:
            outputs = self._driver.finish()
            sys.stdout.flush()
            sys.stderr.flush()
        except StageError as error:
            raise _err(error) from None
        except Exception as error:
            raise _internal("finish", error) from None
        return [wit.Output(port=p, batch=b) for p, b in outputs]

    def metrics(self) -> List[wit.Metric]:
        # The WIT call cannot fail: a bad counter is logged and the rest reported.
        try:
            return [wit.Metric(name=n, value=v) for n, v in self._driver.metrics()]
        except Exception as error:
            _host.current().log("error", f"metrics: {error}")
            return []
