"""The errors a stage raises, mirroring the WIT `error` variant.

Raise :class:`InvalidConfig` from ``open`` for a refused ``config:`` block (name the key),
:class:`InvalidInput` for a batch that does not fit the stage, :class:`Failed` for anything else.
Any other exception escaping a stage is reported to the host as ``failed`` with its type, message
and the line it came from, and its traceback goes to the host's log.
"""

from __future__ import annotations


class StageError(Exception):
    """Base of the three errors the host understands; ``kind`` is the WIT case name."""

    kind = "failed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidConfig(StageError):
    """The ``config:`` block was refused. The message names the key: ``min_amount: required``."""

    kind = "invalid-config"


class InvalidInput(StageError):
    """An input batch does not fit the stage: a missing column, a wrong type, undecodable IPC."""

    kind = "invalid-input"


class ColumnNotFound(InvalidInput, KeyError):
    """A batch has no column of the name asked for: the input does not fit the stage. Also a
    ``KeyError``, so ``except KeyError`` and ``name in batch`` idioms work as usual."""


class Failed(StageError):
    """Anything else that went wrong while processing."""

    kind = "failed"


class IpcError(ValueError):
    """An Arrow IPC stream could not be read or written; the message says where and why."""
