"""Logging from a stage into the host's log, tagged by the host with the stage that runs it.

``etl_stage.log.info("kept 12 rows")``. Inside the sandbox, ``print`` output goes there too (at
``info``; ``sys.stderr`` at ``warn``), since the sandbox has no terminal. Natively the records are
collected and returned with a test run (``Run.logs``). The host bounds how many records a stage
may write; keep logging per batch, not per row.
"""

from __future__ import annotations

from . import _host

LEVELS = _host.LEVELS


def log(level: str, message: str) -> None:
    """Writes ``message`` at ``level`` (``trace``, ``debug``, ``info``, ``warn`` or ``error``)."""
    if level not in LEVELS:
        raise ValueError(f"unknown log level {level!r} (levels: {', '.join(LEVELS)})")
    _host.current().log(level, str(message))


def trace(message: str) -> None:
    log("trace", message)


def debug(message: str) -> None:
    log("debug", message)


def info(message: str) -> None:
    log("info", message)


def warn(message: str) -> None:
    log("warn", message)


def error(message: str) -> None:
    log("error", message)
