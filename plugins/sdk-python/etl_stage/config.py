"""A stage's ``config:`` block (handed over as JSON), read through typed getters.

Each getter names the key in its error (``rules[2].max: expected an integer, got "x"``), so a
refused config says exactly what to fix. JSON numbers are parsed exactly (as ``Decimal``), so
``config.decimal("min_amount")`` keeps ``100.10`` as written whether it came as a string or a
number. After ``open``, every key the stage did not read is refused as unknown, like serde's
``deny_unknown_fields`` in the Rust SDK: a typo in a pipeline file fails loudly.
"""

from __future__ import annotations

import datetime
import decimal
import difflib
import json
import re
from typing import Any, Dict, List, Optional, Sequence

from .errors import InvalidConfig

_MISSING = object()
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse(text: str) -> "Config":
    """The config of ``text``: a JSON object; an empty string and ``null`` mean ``{}``."""
    text = (text or "").strip()
    if text in ("", "null"):
        return Config({})
    try:
        value = json.loads(text, parse_float=decimal.Decimal)
    except json.JSONDecodeError as error:
        raise InvalidConfig(f"the config is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise InvalidConfig(f"the config must be a mapping of keys to values, not {_kind(value)}")
    return Config(value)


class Config:
    """One mapping of the config (the whole block, or a nested section)."""

    def __init__(self, values: Dict[str, Any], path: str = "") -> None:
        self._values = values
        self._path = path
        self._read: set = set()
        self._children: List[Config] = []

    def __contains__(self, key: str) -> bool:
        return self._values.get(key) is not None

    def keys(self) -> List[str]:
        return list(self._values)

    @property
    def path(self) -> str:
        """Where this mapping is in the block (``""`` at the top, ``rules[2]`` in a list)."""
        return self._path

    def error(self, key: str, message: str) -> InvalidConfig:
        """An :class:`InvalidConfig` naming ``key`` under this mapping, for checks of your own:
        ``raise config.error("max", "must be at least min")``."""
        return InvalidConfig(f"{self._name(key)}: {message}")

    def _name(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key

    def _take(self, key: str, default: Any, what: str) -> Any:
        self._read.add(key)
        value = self._values.get(key)
        if value is None:
            if default is _MISSING:
                raise InvalidConfig(f"{self._name(key)}: required ({what}){_did_you_mean(key, self._values, 'the config has')}")
            return default
        return value

    # -- getters -------------------------------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        """The raw JSON value of ``key`` (numbers with a point as ``Decimal``), or ``default``."""
        return self._take(key, default, "any value")

    def text(self, key: str, default: Any = _MISSING, choices: Optional[Sequence[str]] = None) -> str:
        """A string; with ``choices``, one of them."""
        value = self._take(key, default, "a string")
        if value is default:
            return value
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {_kind(value)}")
        if choices is not None and value not in choices:
            raise self.error(key, f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    def int(self, key: str, default: Any = _MISSING, min: Optional[int] = None, max: Optional[int] = None) -> int:
        """An integer (a JSON number without a fraction)."""
        value = self._take(key, default, "an integer")
        if value is default:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, decimal.Decimal) and value == value.to_integral_value():
                value = int(value)
            else:
                raise self.error(key, f"expected an integer, got {_kind(value)}")
        return self._bounded(key, value, min, max)

    def float(self, key: str, default: Any = _MISSING, min: Optional[float] = None, max: Optional[float] = None) -> float:
        """A number, as a float."""
        value = self._take(key, default, "a number")
        if value is default:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, decimal.Decimal)):
            raise self.error(key, f"expected a number, got {_kind(value)}")
        return self._bounded(key, float(value), min, max)

    def decimal(self, key: str, default: Any = _MISSING, min: Any = None, max: Any = None) -> decimal.Decimal:
        """An exact decimal, from a JSON string (``"100.10"``) or number (``100.10``)."""
        value = self._take(key, default, 'a decimal, e.g. "100.00"')
        if value is default:
            return value
        if isinstance(value, bool):
            raise self.error(key, f"expected a decimal, got {_kind(value)}")
        if isinstance(value, str):
            try:
                value = decimal.Decimal(value.strip())
            except decimal.InvalidOperation:
                raise self.error(key, f"expected a decimal, got {value!r}") from None
        elif isinstance(value, int):
            value = decimal.Decimal(value)
        elif not isinstance(value, decimal.Decimal):
            raise self.error(key, f"expected a decimal, got {_kind(value)}")
        if not value.is_finite():
            raise self.error(key, f"expected a finite decimal, got {value}")
        return self._bounded(key, value, min, max)

    def bool(self, key: str, default: Any = _MISSING) -> bool:
        """``true`` or ``false``."""
        value = self._take(key, default, "true or false")
        if value is default:
            return value
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {_kind(value)}")
        return value

    def date(self, key: str, default: Any = _MISSING) -> datetime.date:
        """A calendar date written ``YYYY-MM-DD``."""
        value = self._take(key, default, "a date, YYYY-MM-DD")
        if value is default:
            return value
        if not isinstance(value, str) or not _DATE.fullmatch(value):
            raise self.error(key, f"expected a date written YYYY-MM-DD, got {_kind(value)}")
        try:
            return datetime.date.fromisoformat(value)
        except ValueError as error:
            raise self.error(key, f"{value!r} is not a real date ({error})") from None

    def strings(self, key: str, default: Any = _MISSING) -> List[str]:
        """A list of strings."""
        value = self._take(key, default, "a list of strings")
        if value is default:
            return value
        if not isinstance(value, list):
            raise self.error(key, f"expected a list of strings, got {_kind(value)}")
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise InvalidConfig(f"{self._name(key)}[{i}]: expected a string, got {_kind(item)}")
        return list(value)

    def section(self, key: str, required: bool = False) -> "Config":
        """A nested mapping, read with the same getters (its unknown keys are refused too). An
        absent optional section reads as an empty one, so its getters' defaults apply."""
        value = self._take(key, _MISSING if required else {}, "a mapping")
        if not isinstance(value, dict):
            raise self.error(key, f"expected a mapping, got {_kind(value)}")
        child = Config(value, self._name(key))
        self._children.append(child)
        return child

    def sections(self, key: str, default: Any = _MISSING) -> List["Config"]:
        """A list of mappings (``rules: [{...}, {...}]``), each a :class:`Config`."""
        value = self._take(key, default, "a list of mappings")
        if value is default:
            return value
        if not isinstance(value, list):
            raise self.error(key, f"expected a list of mappings, got {_kind(value)}")
        children = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise InvalidConfig(f"{self._name(key)}[{i}]: expected a mapping, got {_kind(item)}")
            children.append(Config(item, f"{self._name(key)}[{i}]"))
        self._children.extend(children)
        return children

    def _bounded(self, key: str, value, low, high):
        if low is not None and value < low:
            raise self.error(key, f"{value} is below the minimum {low}")
        if high is not None and value > high:
            raise self.error(key, f"{value} is above the maximum {high}")
        return value

    # -- the unknown-key check -----------------------------------------------------------------

    def check_unknown(self) -> None:
        """Refuses the first key nobody read, here or in a section read through this config."""
        unknown = [k for k in self._values if k not in self._read]
        if unknown:
            known = sorted(self._read)
            hint = f" (this stage reads: {', '.join(known)})" if known else " (this stage takes no config here)"
            where = f" in {self._path}" if self._path else ""
            suggestion = _did_you_mean(unknown[0], self._read, "did you mean")
            raise InvalidConfig(f"{self._name(unknown[0])}: unknown key{where}{hint}{suggestion}")
        for child in self._children:
            child.check_unknown()


def _did_you_mean(key: str, candidates, lead: str) -> str:
    """``; the config has `min_amonut`?`` when a key is close to one of ``candidates``."""
    close = difflib.get_close_matches(key, [c for c in candidates if c != key], n=1, cutoff=0.75)
    return f"; {lead} `{close[0]}`?" if close else ""


def _kind(value: Any) -> str:
    """How a JSON value reads in an error: ``a string "x"``, ``a list``, ``true``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "..."
        return f"the string {json.dumps(shown)}"
    if isinstance(value, (int, decimal.Decimal)):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
