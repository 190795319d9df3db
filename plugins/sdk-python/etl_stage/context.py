"""What a stage instance may know about the run it works for: its id, logical date, the stage's
name in the pipeline and the attempt.

A stage's outputs must depend on its inputs and config only, so that a retry or a re-run gives the
same result; use the run for logging, or to stamp rows on purpose. Natively, ``etl_stage.testing``
sets it (``run(..., context=RunContext(...))``); outside a run every field is empty or 0.
"""

from __future__ import annotations

from . import _host
from ._host import RunContext

__all__ = ["RunContext", "current_run"]


def current_run() -> RunContext:
    """The run this instance works for, as the host tells it."""
    return _host.current().current_run()
