"""What a stage can ask of the host it runs in: logging and the run it works for.

Inside the sandbox the componentize-py glue (``etl_stage._guest``) installs a host that calls the
WIT imports; natively (``etl_stage.testing``, a REPL) a :class:`NativeHost` records the log and
answers with the run the test set, so stage code is the same in both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

LEVELS = ("trace", "debug", "info", "warn", "error")


@dataclass(frozen=True)
class RunContext:
    """The run a stage instance works for (the WIT ``context.run`` record)."""

    #: The run's id, as ``host runs show`` takes it; empty outside a run.
    run_id: str = ""
    #: The run's logical date, ``YYYY-MM-DD`` (``host run --date``); empty outside a run.
    logical_date: str = ""
    #: The stage's name in the pipeline.
    stage: str = ""
    #: 1 for the first attempt at the stage in this run, 2 for the first retry; 0 outside a run.
    attempt: int = 0


class NativeHost:
    """Collects log records and answers ``current_run`` with what a test set."""

    def __init__(self, run: Optional[RunContext] = None) -> None:
        self.run = run or RunContext()
        self.records: List[Tuple[str, str]] = []

    def log(self, level: str, message: str) -> None:
        self.records.append((level, message))

    def current_run(self) -> RunContext:
        return self.run


_current = NativeHost()


def current():
    """The host in force."""
    return _current


def install(host) -> None:
    """Makes ``host`` answer every later log and context call."""
    global _current
    _current = host
