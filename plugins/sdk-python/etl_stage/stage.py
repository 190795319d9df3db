"""The :class:`Stage` class a plugin subclasses, the ports it declares, and :func:`export`.

The shape is the Rust SDK's ``Stage`` trait: the class describes itself (name, version, ports,
config help) without being opened; ``open`` reads the ``config:`` block; ``push`` sees every input
batch, port by port in the declared order; ``finish`` runs once after the last one. A stage emits
with ``self.emit(port, batch)`` and counts with ``self.count(name)``.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, Iterable, List, NamedTuple, Optional, Tuple, Type, Union

from .batch import Batch
from .config import Config

# The host's name grammar (host/src/untrusted.rs): names become file names and run-store keys,
# so a name that does not fit is refused here, at build time, rather than by the host at load.
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_METRIC = re.compile(r"[A-Za-z][A-Za-z0-9_\-.:()\[\],=/]{0,127}")
_VERSION = re.compile(r"\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?")
_S64 = (-(1 << 63), (1 << 63) - 1)


class Port(NamedTuple):
    """A named input or output of a stage."""

    name: str
    description: str = ""


@dataclass
class Ports:
    """The input and output ports of one opened stage instance."""

    inputs: List[Port] = field(default_factory=list)
    outputs: List[Port] = field(default_factory=list)

    def has_input(self, name: str) -> bool:
        return any(p.name == name for p in self.inputs)

    def has_output(self, name: str) -> bool:
        return any(p.name == name for p in self.outputs)


@dataclass(frozen=True)
class Info:
    """What a plugin says about itself (the WIT ``info`` record)."""

    name: str
    version: str
    description: str
    inputs: List[Port]
    outputs: List[Port]
    config_help: str


PortsLike = Union[Dict[str, str], Iterable[Union[Port, str, Tuple[str, str]]]]


def as_ports(declared: PortsLike, what: str) -> List[Port]:
    """Ports from ``{"name": "description"}``, ``["name", ...]``, ``[("name", "desc")]`` or
    :class:`Port`\\ s, each checked against the host's name grammar."""
    if isinstance(declared, dict):
        ports = [Port(k, v) for k, v in declared.items()]
    else:
        ports = [p if isinstance(p, Port) else Port(p) if isinstance(p, str) else Port(*p) for p in declared]
    seen = set()
    for port in ports:
        if not isinstance(port.name, str) or not _NAME.fullmatch(port.name):
            raise ValueError(
                f"{what} port {port.name!r} is not allowed: it must be 1 to 64 ASCII letters, digits, "
                "`_` or `-`, starting with a letter"
            )
        if port.name in seen:
            raise ValueError(f"{what} port `{port.name}` is declared twice")
        seen.add(port.name)
    return ports


class Stage:
    """Base class of a pipeline stage. Subclass it, set the class attributes, implement ``push``.

    Class attributes: ``name`` (required: the plugin's machine name), ``version`` (the plugin's
    semver), ``description`` (defaults to the class docstring's first paragraph), ``inputs`` and
    ``outputs`` (``{"port": "what flows there"}``), ``config_help`` (shown by ``host plugin
    inspect``). The host makes one instance per stage run: state kept on ``self`` lasts from
    ``open`` to ``finish``.
    """

    name: ClassVar[str] = ""
    version: ClassVar[str] = "0.1.0"
    description: ClassVar[str] = ""
    inputs: ClassVar[PortsLike] = {}
    outputs: ClassVar[PortsLike] = {}
    config_help: ClassVar[str] = ""

    # -- what a stage implements ---------------------------------------------------------------

    def open(self, config: Config) -> None:
        """Reads the ``config:`` block through ``config``'s typed getters. A key the stage does
        not read is refused afterwards, so a stage without config refuses any."""

    def push(self, port: str, batch: Batch) -> None:
        """Handles one input batch that arrived on ``port``; emit with :meth:`emit`."""
        raise NotImplementedError(f"{type(self).__name__} does not implement push(port, batch)")

    def finish(self) -> None:
        """Called once after the last input batch: emit what was kept (aggregates, buffers)."""

    def ports(self) -> Ports:
        """This instance's ports. The default is the class's; override when the config adds or
        renames ports. Inputs are delivered in the order listed here."""
        return Ports(as_ports(self.inputs, "input"), as_ports(self.outputs, "output"))

    def metrics(self) -> Dict[str, int]:
        """The counters the host records with the run, read after ``finish``; by default what
        :meth:`count` counted."""
        return dict(self._counters())

    # -- what a stage calls --------------------------------------------------------------------

    def emit(self, port: str, batch: Batch) -> None:
        """Emits ``batch`` on the output port ``port``; batches on one port keep one schema."""
        if not isinstance(batch, Batch):
            raise TypeError(f"emit({port!r}, ...) takes an etl_stage Batch, not {type(batch).__name__}")
        self._emitted().append((port, batch))

    def count(self, name: str, n: int = 1) -> None:
        """Adds ``n`` to the counter ``name`` (e.g. ``rows_kept``), reported by :meth:`metrics`."""
        counters = self._counters()
        if name not in counters:
            check_metric_name(name)
        counters[name] = counters.get(name, 0) + n

    # -- plumbing (the attributes are made on first use, so a subclass's __init__ needn't call
    # super().__init__()) -------------------------------------------------------------------------

    def _counters(self) -> Dict[str, int]:
        counters = self.__dict__.get("_etl_counters")
        if counters is None:
            counters = self.__dict__["_etl_counters"] = {}
        return counters

    def _emitted(self) -> List[Tuple[str, Batch]]:
        emitted = self.__dict__.get("_etl_emitted")
        if emitted is None:
            emitted = self.__dict__["_etl_emitted"] = []
        return emitted

    def _take_emitted(self) -> List[Tuple[str, Batch]]:
        emitted = self._emitted()
        self.__dict__["_etl_emitted"] = []
        return emitted

    @classmethod
    def info(cls) -> Info:
        """The class's self-description, checked (see :func:`export`)."""
        if not isinstance(cls.name, str) or not _NAME.fullmatch(cls.name):
            raise ValueError(
                f"{cls.__name__}.name = {cls.name!r} is not allowed: set it to 1 to 64 ASCII letters, "
                "digits, `_` or `-`, starting with a letter (the plugin's machine name)"
            )
        if not isinstance(cls.version, str) or not _VERSION.fullmatch(cls.version):
            raise ValueError(f"{cls.__name__}.version = {cls.version!r} is not a semver version like 0.1.0")
        description = cls.description or _first_paragraph(cls.__dict__.get("__doc__"))
        return Info(
            name=cls.name,
            version=cls.version,
            description=description,
            inputs=as_ports(cls.inputs, "input"),
            outputs=as_ports(cls.outputs, "output"),
            config_help=inspect.cleandoc(cls.config_help) if cls.config_help else "",
        )


def check_metric_name(name: str) -> None:
    if not isinstance(name, str) or not _METRIC.fullmatch(name):
        raise ValueError(
            f"metric name {name!r} is not allowed: it must be 1 to 128 ASCII letters, digits or "
            "`_-.:()[],=/`, starting with a letter"
        )


def check_metric_value(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"metric `{name}` is {value!r}, not an int")
    if not _S64[0] <= value <= _S64[1]:
        raise ValueError(f"metric `{name}` is {value}, outside a signed 64-bit integer")
    return value


def _first_paragraph(doc: Optional[str]) -> str:
    if not doc:
        return ""
    return " ".join(inspect.cleandoc(doc).split("\n\n")[0].split())


# -- the one stage a plugin exports -------------------------------------------------------------------

_exported: Optional[Type[Stage]] = None


def export(stage: Type[Stage]) -> Type[Stage]:
    """Makes ``stage`` the plugin's stage, like the Rust SDK's ``export_stage!``. Call it once
    in the plugin's module (``export(MyStage)``, or as a class decorator). Checks the class's
    description now, so a bad name or port fails the build rather than the run."""
    global _exported
    if not (isinstance(stage, type) and issubclass(stage, Stage)):
        raise TypeError(f"export() takes a Stage subclass, not {stage!r}")
    if stage.push is Stage.push:
        raise TypeError(f"{stage.__name__} must implement push(self, port, batch)")
    stage.info()
    if _exported is not None and _exported is not stage and _exported.__module__ == stage.__module__:
        # One module, two stages: a plugin has one. (Different modules do this in a test session
        # that imports several plugins; the last one wins, as a build imports only one.)
        raise RuntimeError(f"export({stage.__name__}): {_exported.__name__} is already exported; a plugin has one stage")
    _exported = stage
    return stage


def exported() -> Type[Stage]:
    """The exported stage class."""
    if _exported is None:
        raise RuntimeError(
            "no stage is exported: the plugin's module (app.py) must call etl_stage.export(YourStage)"
        )
    return _exported


def _reset_export() -> None:
    """Forgets the exported stage (tests that export more than one)."""
    global _exported
    _exported = None
